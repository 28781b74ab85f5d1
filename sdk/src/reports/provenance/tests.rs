//! Unit tests of `provenance` (and fixtures other modules' tests use).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::event::classify;
use serde_json::{Value, json};

pub(crate) const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
pub(crate) const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

/// A record of `event` by `author`, its hash made from `n`.
pub(crate) fn record(n: u8, author: &str, event: Value) -> Recorded {
    let parsed = EpcisEvent::from_value(&event).unwrap();
    let kind = classify(&event, &parsed).unwrap();
    Recorded {
        hash: EntryHash::digest(&[n]),
        author: MemberId::new(author).unwrap(),
        seq: u64::from(n),
        recorded: Timestamp(parsed.event_time.0 + 1),
        kind,
        event: parsed,
        witnessed: n.is_multiple_of(2),
    }
}

pub(crate) fn at(day: u32, hour: u32) -> String {
    format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00")
}

pub(crate) fn observe(day: u32, hour: u32, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": at(day, hour), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// The demo's story: order, lot made and handed to the factory, sofa assembled from it,
/// inspected, handed to logistics, received, delivered late.
pub(crate) fn story() -> Vec<Recorded> {
    let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
    let lot_handed = record(
        3,
        "supplier",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "eventTime": at(3, 8), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:handOverTo": "manufacturer"}),
    );
    let sofa_handed = record(
        7,
        "manufacturer",
        observe(
            6,
            16,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics",
                "tally:promisedDate": at(9, 18)}),
        ),
    );
    vec![
        record(1, "platform", observe(1, 9, json!({"tally:kind": "order"}))),
        record(
            2,
            "supplier",
            json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "eventTime": at(2, 10), "eventTimeZoneOffset": "+08:00", "quantityList": lot}),
        ),
        lot_handed.clone(),
        record(
            4,
            "manufacturer",
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                "eventTime": at(3, 16), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
                "tally:receiptOf": lot_handed.hash.to_hex()}),
        ),
        record(
            5,
            "manufacturer",
            json!({"type": "TransformationEvent", "bizStep": "assembling",
                "eventTime": at(4, 14), "eventTimeZoneOffset": "+08:00",
                "inputQuantityList": [{"epcClass": LOT, "quantity": 9, "uom": "MTR"}],
                "outputEPCList": [SOFA]}),
        ),
        record(
            6,
            "manufacturer",
            observe(
                5,
                15,
                json!({"bizStep": "inspecting", "disposition": "conformant"}),
            ),
        ),
        sofa_handed.clone(),
        record(
            8,
            "logistics",
            observe(
                6,
                18,
                json!({"bizStep": "receiving",
                "tally:receiptOf": sofa_handed.hash.to_hex()}),
            ),
        ),
        record(
            9,
            "logistics",
            observe(
                10,
                11,
                json!({"bizStep": "arriving", "tally:kind": "delivery",
                "tally:promisedDate": at(9, 18)}),
            ),
        ),
    ]
}

fn sofa() -> ProductId {
    ProductId::parse(SOFA).unwrap()
}

fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

#[test]
fn the_story_gives_custody_inputs_inspections_and_lateness() {
    let records = story();
    let p = derive(&sofa(), &records, &Judging::default());
    assert_eq!(p.product, SOFA);
    // Order, assembly, inspection, hand-over, receipt, delivery.
    assert_eq!(p.timeline.len(), 6);
    let holders: Vec<_> = p.custody.iter().map(|c| c.holder.as_str()).collect();
    assert_eq!(holders, ["manufacturer", "logistics"]);
    assert_eq!(p.custody[0].since, vec![records[4].hash]);
    assert_eq!(p.custody[0].until, vec![records[6].hash, records[7].hash]);
    assert_eq!(p.custody[1].since, p.custody[0].until);
    assert_eq!(p.custody[1].to, None);
    assert!(p.pending.is_empty());
    assert!(p.violations.is_empty(), "{:?}", p.violations);
    assert_eq!(p.inspections.len(), 1);
    assert!(p.inspections[0].passed);
    assert_eq!(p.deliveries[0].late_by_ms, Some(17 * 3_600_000));
    // The promise logistics accepted with the sofa's hand-over binds it.
    let promise = p.deliveries[0].promise.as_ref().unwrap();
    assert_eq!(promise.binds, member("logistics"));
    assert_eq!(promise.entry, records[6].hash);
    assert_eq!(promise.accepted_by, Some(records[7].hash));
    // The lot it was made of, with its own custody: supplier, then the factory.
    assert_eq!(p.inputs.len(), 1);
    assert_eq!(p.inputs[0].product, LOT);
    assert_eq!(p.inputs[0].via, records[4].hash);
    let lot = p.inputs[0].provenance.as_ref().unwrap();
    let holders: Vec<_> = lot.custody.iter().map(|c| c.holder.as_str()).collect();
    assert_eq!(holders, ["supplier", "manufacturer"]);
}

#[test]
fn the_order_of_the_records_given_does_not_matter() {
    let mut records = story();
    let expected = derive(&sofa(), &records, &Judging::default());
    records.reverse();
    assert_eq!(derive(&sofa(), &records, &Judging::default()), expected);
    records.swap(0, 4);
    assert_eq!(derive(&sofa(), &records, &Judging::default()), expected);
}

#[test]
fn until_the_receipt_the_giver_keeps_custody() {
    let mut records = story();
    records.retain(|r| r.seq != 8 && r.seq != 9);
    let p = derive(&sofa(), &records, &Judging::default());
    let holders: Vec<_> = p.custody.iter().map(|c| c.holder.as_str()).collect();
    assert_eq!(holders, ["manufacturer"]);
    assert_eq!(p.pending.len(), 1);
    assert_eq!(p.pending[0].to, member("logistics"));
}

#[test]
fn a_second_hand_over_by_the_former_holder_is_a_violation() {
    let mut records = story();
    let again = record(
        10,
        "manufacturer",
        observe(
            7,
            9,
            json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
        ),
    );
    records.push(again.clone());
    records.push(record(
        11,
        "platform",
        observe(
            7,
            12,
            json!({"bizStep": "receiving", "tally:receiptOf": again.hash.to_hex()}),
        ),
    ));
    let p = derive(&sofa(), &records, &Judging::default());
    let rules: Vec<_> = p.violations.iter().map(|v| v.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["hand_over_without_custody", "receipt_from_former_holder"]
    );
    assert_eq!(p.violations[0].member, member("manufacturer"));
    assert_eq!(p.violations[0].entries, vec![again.hash]);
    // Custody did not move.
    assert_eq!(p.custody.last().unwrap().holder, member("logistics"));
}

#[test]
fn receipts_that_do_not_fit_are_violations() {
    let records = story();
    let handed = records[6].clone();
    let cases = [
        (
            record(
                12,
                "platform",
                observe(6, 19, json!({"tally:receiptOf": handed.hash.to_hex()})),
            ),
            "receipt_by_other_member",
        ),
        (
            record(
                13,
                "logistics",
                observe(
                    6,
                    19,
                    json!({"tally:receiptOf": EntryHash::digest(b"x").to_hex()}),
                ),
            ),
            "receipt_of_unknown_hand_over",
        ),
        (
            record(
                14,
                "logistics",
                observe(6, 20, json!({"tally:receiptOf": handed.hash.to_hex()})),
            ),
            "receipt_already_given",
        ),
        (
            record(
                15,
                "logistics",
                observe(6, 10, json!({"tally:receiptOf": handed.hash.to_hex()})),
            ),
            "receipt_before_hand_over",
        ),
        (
            record(
                16,
                "platform",
                observe(10, 12, json!({"tally:kind": "delivery"})),
            ),
            "delivery_without_custody",
        ),
    ];
    for (extra, rule) in cases {
        let mut with = records.clone();
        with.push(extra);
        let p = derive(&sofa(), &with, &Judging::default());
        let rules: Vec<_> = p.violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, [rule]);
    }
}

#[test]
fn inputs_that_loop_are_followed_once() {
    // A lot made from the sofa made from the lot: each is followed once.
    let mut records = story();
    records.push(record(
        17,
        "manufacturer",
        json!({"type": "TransformationEvent", "bizStep": "repairing",
            "eventTime": at(11, 9), "eventTimeZoneOffset": "+08:00",
            "inputEPCList": [SOFA],
            "outputQuantityList": [{"epcClass": LOT, "quantity": 1, "uom": "MTR"}]}),
    ));
    let p = derive(&sofa(), &records, &Judging::default());
    let lot = p.inputs[0].provenance.as_ref().unwrap();
    assert_eq!(lot.inputs.len(), 1);
    assert_eq!(lot.inputs[0].product, SOFA);
    assert!(lot.inputs[0].provenance.is_none());
}

fn named(mut event: Value, name: &str) -> Value {
    event["ilmd"] = json!({"cbvmda:descriptionShort": name});
    event
}

#[test]
fn only_the_steps_that_made_a_product_name_it() {
    let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
    let mut records = story();
    // The maker's names: the supplier's commissioning of the lot, the factory's assembly of
    // the sofa (ILMD in the events that made them).
    records[1] = record(
        2,
        "supplier",
        named(records[1].event.json.to_value().unwrap(), "Linen"),
    );
    records[4] = record(
        5,
        "manufacturer",
        named(records[4].event.json.to_value().unwrap(), "Three-seat sofa"),
    );
    // Names that must not count: in an order, in an observation, in a production step that
    // only handled the sofa, in a transformation that consumed the lot, in a backdated
    // commissioning, and one too long to show.
    records.extend([
        record(
            20,
            "platform",
            named(observe(1, 10, json!({"tally:kind": "order"})), "Order name"),
        ),
        record(
            21,
            "logistics",
            named(observe(11, 9, json!({"bizStep": "receiving"})), "Seen name"),
        ),
        record(
            22,
            "manufacturer",
            named(
                observe(7, 9, json!({"bizStep": "repairing"})),
                "Repaired name",
            ),
        ),
        record(
            23,
            "manufacturer",
            named(
                json!({"type": "TransformationEvent", "bizStep": "assembling",
                    "eventTime": at(7, 10), "eventTimeZoneOffset": "+08:00",
                    "inputQuantityList": lot, "outputEPCList": [SOFA]}),
                &"x".repeat(crate::event::MAX_PRODUCT_NAME_CHARS + 1),
            ),
        ),
    ]);
    let mut backdated = record(
        24,
        "supplier",
        named(
            json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "eventTime": at(1, 1), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA]}),
            "Backdated name",
        ),
    );
    backdated.recorded = Timestamp(backdated.event.event_time.0 + 30 * 24 * 3_600_000);
    records.push(backdated);
    assert_eq!(records[1].kind, EventKind::ProductionStep);
    assert_eq!(records.last().unwrap().kind, EventKind::ProductionStep);
    // Only the backdated commissioning is backdated: the others are set aside by the rule.
    let provenance = derive(&sofa(), &records, &Judging::default());
    let flagged: Vec<u64> = provenance
        .timeline
        .iter()
        .filter(|s| s.backdated.is_some())
        .map(|s| s.seq)
        .collect();
    assert_eq!(flagged, [24]);

    let provenance = derive(&sofa(), &records, &Judging::default());
    let names: Vec<(&str, &str)> = provenance
        .names
        .iter()
        .map(|n| (n.name.as_str(), n.by.as_str()))
        .collect();
    assert_eq!(names, [("Three-seat sofa", "manufacturer")]);
    assert_eq!(provenance.names[0].entry, records[4].hash);
    let lot_names: Vec<&str> = provenance.inputs[0]
        .provenance
        .as_ref()
        .unwrap()
        .names
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(lot_names, ["Linen"]);

    // Another member that may make things and names the sofa too is listed after the maker,
    // signed, not instead of it.
    records.push(record(
        25,
        "supplier",
        named(
            json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "eventTime": at(4, 20), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA]}),
            "Rival name",
        ),
    ));
    let names: Vec<(String, String)> = derive(&sofa(), &records, &Judging::default())
        .names
        .into_iter()
        .map(|n| (n.name, n.by.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            ("Three-seat sofa".to_owned(), "manufacturer".to_owned()),
            ("Rival name".to_owned(), "supplier".to_owned())
        ]
    );
}

#[test]
fn a_name_is_read_from_either_spelling_and_only_when_it_can_be_shown() {
    let name_of = |ilmd: Value| {
        let mut event = observe(1, 1, json!({"action": "ADD"}));
        event["ilmd"] = ilmd;
        EpcisEvent::from_value(&event).unwrap().product_name
    };
    assert_eq!(
        name_of(json!({"cbvmda:descriptionShort": " Linen "})),
        Some("Linen".into())
    );
    assert_eq!(
        name_of(json!({"urn:epcglobal:cbv:mda#descriptionShort": "Linen"})),
        Some("Linen".into())
    );
    assert_eq!(name_of(json!({"cbvmda:descriptionShort": ""})), None);
    assert_eq!(name_of(json!({"cbvmda:descriptionShort": 7})), None);
    assert_eq!(name_of(json!({"cbvmda:descriptionShort": "a\u{7}b"})), None);
    assert_eq!(name_of(json!({"cbvmda:lotNumber": "L1"})), None);
    assert_eq!(name_of(json!("not an object")), None);
}
