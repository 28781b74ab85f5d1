//! Unit tests of `event`.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn unknown_tally_members_are_found_wherever_they_are() {
    let event = json!({
        "type": "ObjectEvent", "tally:kind": "order", "tally:privat": {"a": 1},
        "ilmd": {"tally:kind": "x", "list": [{"tally:consumer_name": "Ada"}]},
        "example:tally:kind": 1,
    });
    assert_eq!(
        unknown_tally_members(&event),
        [
            "$.tally:privat",
            "$.ilmd.tally:kind",
            "$.ilmd.list[0].tally:consumer_name"
        ]
    );
    let known = json!({"tally:kind": "order", "tally:promisedDate": "2026-05-03T00:00:00Z"});
    assert!(unknown_tally_members(&known).is_empty());
    // Capture asks of the event's members before it has made them an event again.
    let Value::Object(members) = &event else {
        panic!("an object")
    };
    assert_eq!(
        unknown_tally_members_in(members),
        unknown_tally_members(&event)
    );
    // Only the root object's members may be Tally's event fields.
    assert_eq!(
        unknown_tally_members(&json!([{"tally:kind": "order"}])),
        ["$[0].tally:kind"]
    );
}
use serde_json::json;

fn parse(v: &Value) -> Result<(EpcisEvent, EventKind), EventError> {
    let e = EpcisEvent::from_value(v)?;
    let k = classify(v, &e)?;
    Ok((e, k))
}

fn base() -> Value {
    json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2026-05-01T10:00:00.000+02:00",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017", "urn:example:not-gs1"],
    })
}

#[test]
fn products_are_canonical_and_deduplicated() {
    let (e, k) = parse(&base()).unwrap();
    assert_eq!(k, EventKind::Observation);
    assert_eq!(e.products.len(), 1);
    assert_eq!(
        e.products[0].as_str(),
        "https://id.gs1.org/01/10614141073464/21/2017"
    );
    assert_eq!(e.event_time.to_rfc3339(), "2026-05-01T08:00:00.000Z");
}

#[test]
fn inspection_result_comes_from_the_disposition() {
    let mut v = base();
    v["bizStep"] = json!("urn:epcglobal:cbv:bizstep:inspecting");
    v["disposition"] = json!("https://ref.gs1.org/cbv/Disp-non_conformant");
    assert_eq!(
        parse(&v).unwrap().1,
        EventKind::QualityInspection { passed: false }
    );
    v["disposition"] = json!("conformant");
    assert_eq!(
        parse(&v).unwrap().1,
        EventKind::QualityInspection { passed: true }
    );
    // Without a verdict, an inspection is an observation, unless declared one.
    v["disposition"] = json!("in_progress");
    assert_eq!(parse(&v).unwrap().1, EventKind::Observation);
    v.as_object_mut().unwrap().remove("disposition");
    assert_eq!(parse(&v).unwrap().1, EventKind::Observation);
    v["tally:inspectionResult"] = json!("fail");
    assert_eq!(
        parse(&v).unwrap().1,
        EventKind::QualityInspection { passed: false }
    );
    v["tally:inspectionResult"] = json!("maybe");
    assert_eq!(parse(&v).unwrap_err().path, "$.tally:inspectionResult");
    let mut v = base();
    v["bizStep"] = json!("inspecting");
    v["disposition"] = json!("in_progress");
    v["tally:kind"] = json!("quality_inspection");
    assert_eq!(parse(&v).unwrap_err().path, "$.disposition");
}

#[test]
fn hand_over_receipt_and_delivery_need_their_fields() {
    let mut v = base();
    v["tally:handOverTo"] = json!("logistics");
    assert!(matches!(parse(&v).unwrap().1, EventKind::HandOver { .. }));
    v["tally:handOverTo"] = json!("Not A Member");
    assert_eq!(parse(&v).unwrap_err().path, "$.tally:handOverTo");
    let mut v = base();
    v["tally:kind"] = json!("receipt");
    assert_eq!(parse(&v).unwrap_err().path, "$.tally:receiptOf");
    v["tally:receiptOf"] = json!("00".repeat(32));
    assert!(matches!(parse(&v).unwrap().1, EventKind::Receipt { .. }));
    let mut v = base();
    v["tally:kind"] = json!("delivery");
    v["tally:promisedDate"] = json!("2026-05-03T00:00:00Z");
    assert!(matches!(
        parse(&v).unwrap().1,
        EventKind::Delivery { promised: Some(_) }
    ));
    v["tally:kind"] = json!("teleport");
    assert_eq!(parse(&v).unwrap_err().path, "$.tally:kind");
}

#[test]
fn malformed_events_name_the_field() {
    for (mutate, path) in [
        (json!({"type": "Nope"}), "$.type"),
        (json!({"eventTime": "yesterday"}), "$.eventTime"),
        (
            json!({"eventTimeZoneOffset": "CET"}),
            "$.eventTimeZoneOffset",
        ),
        (json!({"action": "LOOK"}), "$.action"),
        (json!({"epcList": "x"}), "$.epcList"),
        (json!({"epcList": [1]}), "$.epcList[0]"),
        (json!({"readPoint": "x"}), "$.readPoint"),
    ] {
        let mut v = base();
        for (k, val) in mutate.as_object().unwrap() {
            v[k] = val.clone();
        }
        assert_eq!(parse(&v).unwrap_err().path, path, "{mutate}");
    }
    let mut v = base();
    v.as_object_mut().unwrap().remove("action");
    assert_eq!(parse(&v).unwrap_err().path, "$.action");
    assert_eq!(parse(&json!([1])).unwrap_err().path, "$");
}

#[test]
fn transformations_are_production_steps_with_inputs_and_outputs() {
    let v = json!({
        "type": "TransformationEvent",
        "eventTime": "2013-10-31T14:58:56.591Z",
        "eventTimeZoneOffset": "+02:00",
        "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 10}],
        "outputEPCList": ["urn:epc:id:sgtin:4012345.077889.25"],
    });
    let (e, k) = parse(&v).unwrap();
    assert_eq!(k, EventKind::ProductionStep);
    assert_eq!(e.inputs.len(), 1);
    assert_eq!(e.outputs.len(), 1);
    assert_eq!(e.products.len(), 2);
}
