//! Unit tests of `document`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::epcis::event_hash::document_event_hash_ids;
use proptest::prelude::*;

fn event(n: u32) -> Value {
    json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "eventTime": format!("2024-05-01T10:00:0{n}.000+02:00"),
        "eventTimeZoneOffset": "+02:00",
        "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{n}")],
    })
}

fn document(events: Vec<Value>) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT, {"ex": "https://ns.example.com/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T12:00:00Z",
        "epcisBody": {"eventList": events},
    })
}

fn capture(value: &Value) -> Result<CaptureDocument, CaptureError> {
    parse_capture(
        &serde_json::to_vec(value).unwrap(),
        &CaptureLimits::default(),
    )
}

fn problems(error: CaptureError) -> Vec<Problem> {
    match error {
        CaptureError::Invalid { problems, total } => {
            assert_eq!(problems.len(), total);
            problems
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn events_stand_alone_with_their_hash_ids() {
    let mut second = event(2);
    second["eventID"] = json!("urn:uuid:5a9a4b5e-8d8a-4b0e-9f3e-000000000002");
    second["recordTime"] = json!("2024-05-01T12:00:00Z");
    second["@context"] = json!([{"ex2": "https://ns.example.com/2/"}]);
    second["ex2:note"] = json!("hello");
    let doc = document(vec![event(1), second]);
    let captured = capture(&doc).unwrap();
    assert_eq!(captured.kind, DocumentKind::Document);
    assert_eq!(
        captured.creation_date.as_deref(),
        Some("2024-05-01T12:00:00Z")
    );
    assert_eq!(captured.events.len(), 2);

    let first = &captured.events[0];
    assert!(first.id_assigned);
    assert_eq!(first.event_id, first.hash_id);
    assert_eq!(first.event["eventID"], json!(first.hash_id));
    assert!(first.hash_id.starts_with("ni:///sha-256;"));
    assert_eq!(first.event["@context"], doc["@context"]);
    // The ID a client computes on its own document.
    assert_eq!(
        first.hash_id,
        document_event_hash_ids(&doc).unwrap()[0],
        "same hash as in the document"
    );
    assert_eq!(
        standalone_event_hash_id(&first.event).unwrap(),
        first.hash_id
    );

    let second = &captured.events[1];
    assert!(!second.id_assigned);
    assert_eq!(
        second.event_id,
        "urn:uuid:5a9a4b5e-8d8a-4b0e-9f3e-000000000002"
    );
    assert_ne!(second.hash_id, second.event_id);
    assert!(second.event.get("recordTime").is_none());
    assert_eq!(
        second.event["@context"],
        json!([EPCIS_CONTEXT, {"ex": "https://ns.example.com/"}, {"ex2": "https://ns.example.com/2/"}])
    );
    assert_eq!(
        standalone_event_hash_id(&second.event).unwrap(),
        second.hash_id
    );
}

#[test]
fn private_fields_and_refs_are_taken_off_before_hashing() {
    let plain = capture(&document(vec![event(1)])).unwrap().events[0].clone();
    let mut with = event(1);
    with[PRIVATE_FIELD] =
        json!({"consumer.phone": "+86 138 0000 0000", "spec": {"colour": "blue"}});
    with[REFS_FIELD] = json!([EntryHash::digest(b"x").to_hex()]);
    with[PROOF_FIELD] = json!({"entry": "00"});
    let captured = capture(&document(vec![with])).unwrap().events[0].clone();
    assert_eq!(captured.hash_id, plain.hash_id);
    assert_eq!(captured.event, plain.event);
    assert_eq!(captured.private.len(), 2);
    assert_eq!(
        captured.private[&"consumer.phone".parse::<FieldName>().unwrap()].as_str(),
        "\"+86 138 0000 0000\""
    );
    assert_eq!(captured.refs, vec![EntryHash::digest(b"x")]);

    let mut bad = event(1);
    bad[PRIVATE_FIELD] = json!({"Not A Name": 1});
    bad[REFS_FIELD] = json!(["nothex"]);
    let found = problems(capture(&document(vec![bad])).unwrap_err());
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.tally:private.Not A Name", "$.tally:refs[0]"]);
    let mut bad = event(1);
    bad[PRIVATE_FIELD] = json!(["x"]);
    assert_eq!(
        problems(capture(&document(vec![bad])).unwrap_err())[0].path,
        "$.tally:private"
    );
}

#[test]
fn limits_come_first() {
    let doc = serde_json::to_vec(&document(vec![event(1), event(2), event(3)])).unwrap();
    let tight = CaptureLimits {
        max_bytes: 100,
        max_events: 10,
    };
    let err = parse_capture(&doc, &tight).unwrap_err();
    assert!(matches!(err, CaptureError::TooLarge { limit: 100, .. }));
    assert_eq!(
        err.exception(),
        EpcisException::CaptureLimitExceededException
    );
    assert_eq!(err.status(), 413);
    let few = CaptureLimits {
        max_bytes: MAX_DOCUMENT_BYTES,
        max_events: 2,
    };
    let err = parse_capture(&doc, &few).unwrap_err();
    assert_eq!(err, CaptureError::TooManyEvents { count: 3, limit: 2 });
    assert_eq!(err.status(), 413);
    assert_eq!(
        parse_capture(&doc, &CaptureLimits::default())
            .unwrap()
            .events
            .len(),
        3
    );
}

#[test]
fn malformed_and_misdirected_bodies() {
    let err =
        parse_capture(b"{\"type\": \"EPCISDocument\",", &CaptureLimits::default()).unwrap_err();
    assert!(matches!(err, CaptureError::Malformed(_)), "{err:?}");
    assert_eq!(err.exception(), EpcisException::ValidationException);
    assert_eq!(err.status(), 400);
    let one = serde_json::to_vec(&event(1)).unwrap();
    let err = parse_capture(&one, &CaptureLimits::default()).unwrap_err();
    assert!(err.to_string().contains("/events"), "{err}");
    assert!(matches!(
        parse_capture(b"[1]", &CaptureLimits::default()),
        Err(CaptureError::WrongType(_))
    ));
    let doc = serde_json::to_vec(&document(vec![event(1)])).unwrap();
    assert!(matches!(
        parse_event(&doc, &CaptureLimits::default()),
        Err(CaptureError::WrongType(_))
    ));
}

#[test]
fn one_event_with_its_context() {
    let mut one = event(1);
    one["@context"] = json!(EPCIS_CONTEXT);
    let captured = parse_event(
        &serde_json::to_vec(&one).unwrap(),
        &CaptureLimits::default(),
    )
    .unwrap();
    assert_eq!(captured.kind, DocumentKind::Event);
    assert_eq!(captured.events.len(), 1);
    assert_eq!(captured.events[0].event["@context"], json!([EPCIS_CONTEXT]));
    // Without its context, the schema refuses it.
    let err = parse_event(
        &serde_json::to_vec(&event(1)).unwrap(),
        &CaptureLimits::default(),
    )
    .unwrap_err();
    let found = problems(err);
    assert_eq!((found[0].index, found[0].path.as_str()), (Some(0), "$"));
}

#[test]
fn an_unknown_tally_member_is_refused_so_no_typo_becomes_public_data() {
    let mut typo = event(1);
    typo["@context"] = json!([{"tally": TALLY_NS}]);
    typo["tally:privat"] = json!({"consumer.name": "Ada"});
    let mut nested = event(2);
    nested["@context"] = json!([{"tally": TALLY_NS}, {"ex": "https://ns.example.com/"}]);
    nested["ex:order"] = json!({"tally:consumerName": "Ada"});
    let err = capture(&document(vec![typo, nested])).unwrap_err();
    assert_eq!(err.exception(), EpcisException::ValidationException);
    let found = problems(err);
    let summary: Vec<(Option<usize>, &str)> =
        found.iter().map(|p| (p.index, p.path.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Some(0), "$.tally:privat"),
            (Some(1), "$.ex:order.tally:consumerName")
        ]
    );
}

#[test]
fn problems_name_the_event_and_the_path() {
    let mut bad_time = event(2);
    bad_time["eventTime"] = json!("yesterday");
    bad_time["eventID"] = json!("urn:uuid:00000000-0000-4000-8000-000000000002");
    let mut extension = event(3);
    extension["type"] = json!("https://ns.example.com/MyEvent");
    let mut bad_kind = event(4);
    bad_kind["@context"] = json!([{"tally": TALLY_NS}]);
    bad_kind["tally:kind"] = json!("teleport");
    let err = capture(&document(vec![event(1), bad_time, extension, bad_kind])).unwrap_err();
    assert_eq!(err.exception(), EpcisException::ValidationException);
    let found = problems(err);
    let summary: Vec<(Option<usize>, &str)> =
        found.iter().map(|p| (p.index, p.path.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Some(1), "$.eventTime"),
            (Some(2), "$.type"),
            (Some(3), "$.tally:kind")
        ]
    );
    assert_eq!(
        found[0].event_id.as_deref(),
        Some("urn:uuid:00000000-0000-4000-8000-000000000002")
    );
    assert!(
        found[1].problem.contains("unknown event type"),
        "{}",
        found[1]
    );
    assert!(
        found[0]
            .to_string()
            .starts_with("event #1 (urn:uuid:00000000-0000-4000-8000-000000000002): $.eventTime: ")
    );
}

#[test]
fn document_level_violations_have_no_index() {
    let mut doc = document(vec![event(1)]);
    doc.as_object_mut().unwrap().remove("creationDate");
    let found = problems(capture(&doc).unwrap_err());
    assert_eq!(found[0].index, None);
    assert_eq!(found[0].path, "$");
    assert!(found[0].problem.contains("creationDate"), "{}", found[0]);
    assert!(found[0].to_string().starts_with("document: $: "));
}

#[test]
fn the_tally_prefix_is_tallys() {
    let mut doc = document(vec![event(1)]);
    doc["@context"] = json!([EPCIS_CONTEXT, {"tally": "https://evil.example/"}]);
    let found = problems(capture(&doc).unwrap_err());
    assert_eq!(
        (found[0].index, found[0].path.as_str()),
        (None, "$.@context")
    );

    let mut uses = event(1);
    uses["tally:kind"] = json!("observation");
    let found = problems(capture(&document(vec![uses.clone()])).unwrap_err());
    assert_eq!(
        (found[0].index, found[0].path.as_str()),
        (Some(0), "$.@context")
    );
    assert!(found[0].problem.contains(TALLY_NS));

    let mut doc = document(vec![uses]);
    doc["@context"] = json!([EPCIS_CONTEXT, {"tally": TALLY_NS}]);
    let captured = capture(&doc).unwrap();
    assert_eq!(captured.events[0].event["tally:kind"], "observation");
}

#[test]
fn one_event_id_for_one_event() {
    let mut a = event(1);
    a["eventID"] = json!("urn:uuid:00000000-0000-4000-8000-000000000001");
    let mut b = event(2);
    b["eventID"] = a["eventID"].clone();
    let found = problems(capture(&document(vec![a.clone(), b])).unwrap_err());
    assert_eq!(
        (found[0].index, found[0].path.as_str()),
        (Some(1), "$.eventID")
    );
    // The same event twice is one event: the node stores it once.
    let captured = capture(&document(vec![a.clone(), a])).unwrap();
    assert_eq!(captured.events[0].hash_id, captured.events[1].hash_id);
    // Two identical events without an eventID get the same one.
    let captured = capture(&document(vec![event(1), event(1)])).unwrap();
    assert_eq!(captured.events[0].event_id, captured.events[1].event_id);
}

#[test]
fn query_documents_are_captured_too() {
    let doc = json!({
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T12:00:00Z",
        "epcisBody": {"queryResults": {
            "queryName": "SimpleEventQuery",
            "resultsBody": {"eventList": [event(1), event(2)]}
        }},
    });
    let captured = capture(&doc).unwrap();
    assert_eq!(captured.kind, DocumentKind::QueryDocument);
    assert_eq!(captured.events.len(), 2);
    assert_eq!(
        captured.events[1].hash_id,
        document_event_hash_ids(&doc).unwrap()[1]
    );
}

#[test]
fn used_prefixes_skip_absolute_iris_and_times() {
    let used = used_prefixes(&json!({
        "@context": [{"skip": "x"}],
        "ex:a": "https://ex.com/x",
        "b": ["urn:epc:id:sgtin:1.2.3", "2024-05-01T10:00:00Z", "cbv:BizStep-shipping"],
    }));
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["cbv", "ex", "urn"]);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z:#/._ -]{0,12}".prop_map(Value::String),
        Just(json!("ObjectEvent")),
        Just(json!("2024-05-01T10:00:00Z")),
        Just(json!("urn:epc:id:sgtin:0614141.107346.1")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z]{1,8}",
                    Just("type".to_owned()),
                    Just("eventTime".to_owned()),
                    Just("@context".to_owned()),
                    Just(PRIVATE_FIELD.to_owned()),
                    Just(REFS_FIELD.to_owned()),
                    Just("tally:kind".to_owned()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever the events hold, capture answers with events or problems, never a panic.
    #[test]
    fn any_event_is_captured_or_refused(events in proptest::collection::vec(any_json(), 0..4)) {
        let doc = document(events);
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = parse_capture(&bytes, &CaptureLimits::default());
        let _ = parse_event(&bytes, &CaptureLimits::default());
    }

    /// Any bytes are refused as too large, malformed or invalid, never a panic.
    #[test]
    fn any_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(parse_capture(&bytes, &CaptureLimits::default()).is_err());
    }
}
