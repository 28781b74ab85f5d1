//! Unit tests of `event_hash`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use serde_json::json;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/epcis-event-hash"
);
/// These `.prehashes` files are out of date upstream (their `.hashes` are right).
const STALE_PREHASHES: &[&str] = &[
    "epcisDocWithAllGS1Keys",
    "epcisDocWithCustomSchemaInContext",
    "epcisDocWithDefaultSchemaInContext",
];

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every reference document with its context; the two "IgnoreFields" cases are run with
/// the fields their repository added excluded, as the reference runs them.
fn reference_cases() -> Vec<(String, Value, HashContext)> {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".jsonld")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = std::path::Path::new(DIR).join(format!("{name}.jsonld"));
            let document: Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let mut context = HashContext::from_document(&document);
            if name.contains("IgnoreFields") {
                context = context
                    .ignoring("example:captureID")
                    .ignoring("repository-x:hash");
            }
            (name, document, context)
        })
        .collect()
}

#[test]
fn every_reference_document_gives_the_reference_ids() {
    let mut failures = Vec::new();
    let (mut events, mut documents) = (0, 0);
    for (name, document, context) in reference_cases() {
        documents += 1;
        let expected = lines(&std::path::Path::new(DIR).join(format!("{name}.hashes")));
        let got = document_event_hash_ids_with(&document, &context).unwrap();
        if got.len() != expected.len() {
            failures.push(format!(
                "{name}: {} events, expected {}",
                got.len(),
                expected.len()
            ));
            continue;
        }
        for (i, (id, want)) in got.iter().zip(&expected).enumerate() {
            events += 1;
            if &id.hash_id != want {
                failures.push(format!(
                    "{name} #{i}: got {}\n  pre-hash {}",
                    id.hash_id, id.pre_hash
                ));
            }
        }
        if !name.contains("IgnoreFields") {
            let ids = document_event_hash_ids(&document).unwrap();
            assert_eq!(
                ids,
                got.iter().map(|i| i.hash_id.clone()).collect::<Vec<_>>()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        (documents, events),
        (18, 27),
        "every event of the suite was checked"
    );
}

#[test]
fn current_pre_hash_strings_match() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, document, context) in reference_cases() {
        let path = std::path::Path::new(DIR).join(format!("{name}.prehashes"));
        if STALE_PREHASHES.contains(&name.as_str()) || !path.exists() {
            continue;
        }
        let expected = lines(&path);
        let got = document_event_hash_ids_with(&document, &context).unwrap();
        assert_eq!(got.len(), expected.len(), "{name}");
        for (i, (id, want)) in got.iter().zip(&expected).enumerate() {
            compared += 1;
            if &id.pre_hash != want {
                failures.push(format!(
                    "{name} #{i}:\n  got  {}\n  want {want}",
                    id.pre_hash
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(compared, 21);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~é]{0,12}".prop_map(Value::String),
        proptest::sample::select(vec![
            "shipping",
            "po",
            "2020-01-01T00:00:00.99999+01:00",
            "urn:epc:id:sgtin:0614141.107346.2017",
            "https://example.com/01/9506000134352/10/L/21/S",
            "cbv:BizStep-shipping",
            "1e-7",
            "NaN",
        ])
        .prop_map(|s| json!(s)),
    ];
    let keys = proptest::sample::select(vec![
        "epcList",
        "quantityList",
        "epcClass",
        "quantity",
        "bizTransactionList",
        "type",
        "bizTransaction",
        "sourceList",
        "source",
        "sensorElementList",
        "sensorReport",
        "sensorMetadata",
        "readPoint",
        "id",
        "example:ext",
        "ilmd",
        "childEPCs",
        "set",
        "persistentDisposition",
        "time",
        "rdfs:comment",
        "action",
    ]);
    leaf.prop_recursive(4, 40, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn no_event_makes_hashing_panic(fields in proptest::collection::btree_map("[a-zA-Z:]{1,12}|epcList|ilmd|bizStep|sensorElementList|bizTransactionList", any_json(), 0..6)) {
        let mut event: Map<String, Value> = fields.into_iter().collect();
        event.insert("type".into(), json!("ObjectEvent"));
        let event = Value::Object(event);
        let context = HashContext::from_document(&json!({"@context": [{"example": "https://ns.example.com/"}], "epcisBody": {"eventList": [event.clone()]}}));
        if let Ok(pre) = pre_hash_string(&event, &context) {
            prop_assert!(pre.starts_with("eventType=ObjectEvent"));
            prop_assert_eq!(pre_hash_string(&event, &context), Ok(pre));
        }
    }
}

#[test]
fn numbers_as_python_writes_them() {
    assert_eq!(canonical_number("452.0"), Ok(Some("452".into())));
    assert_eq!(canonical_number("0.1"), Ok(Some("0.1".into())));
    assert_eq!(canonical_number("+007"), Ok(Some("7".into())));
    assert_eq!(canonical_number("-0.0"), Ok(Some("0".into())));
    assert_eq!(canonical_number("1_000"), Ok(Some("1000".into())));
    assert_eq!(canonical_number("0.00001"), Ok(Some("1e-05".into())));
    assert_eq!(canonical_number("1.5E-7"), Ok(Some("1.5e-07".into())));
    assert_eq!(canonical_number("0.0001"), Ok(Some("0.0001".into())));
    assert_eq!(
        canonical_number("1e16"),
        Ok(Some("10000000000000000".into()))
    );
    assert_eq!(canonical_number("NaN"), Ok(None));
    assert_eq!(canonical_number("inf"), Err(()));
    for not_a_number in ["abc", "urn:x", "1__0", "_1", "1e", ".", "", "0x10", "1.2.3"] {
        assert_eq!(canonical_number(not_a_number), Ok(None), "{not_a_number}");
    }
    assert_eq!(python_float_repr(26.0), "26.0");
    assert_eq!(python_float_repr(12.1), "12.1");
}

#[test]
fn times_in_utc_milliseconds() {
    let t = |s: &str| canonical_time(s);
    assert_eq!(
        t("2023-02-02T11:04:03.1415Z").as_deref(),
        Some("2023-02-02T11:04:03.142Z")
    );
    assert_eq!(
        t("2023-02-02T11:04:03.1414Z").as_deref(),
        Some("2023-02-02T11:04:03.141Z")
    );
    assert_eq!(
        t("2020-04-01T15:00:00+01:00").as_deref(),
        Some("2020-04-01T14:00:00.000Z")
    );
    assert_eq!(
        t("2005-04-03T20:33:31.116000-06:00").as_deref(),
        Some("2005-04-04T02:33:31.116Z")
    );
    assert_eq!(
        t("2023-12-31T23:59:59.9996Z").as_deref(),
        Some("2024-01-01T00:00:00.000Z")
    );
    assert_eq!(
        t("2023-01-01T00:00Z").as_deref(),
        Some("2023-01-01T00:00:00.000Z")
    );
    for bad in [
        "2023-02-30T00:00:00Z",
        "2023-01-01T00:00:00",
        "yesterday",
        "2023-01-01T24:00:00Z",
        "2023-01-01T00:00:60Z",
    ] {
        assert_eq!(t(bad), None, "{bad}");
    }
}

#[test]
fn errors_and_edge_cases() {
    let context = HashContext::default();
    assert_eq!(
        pre_hash_string(&json!([]), &context),
        Err(EventHashError::NotAnObject)
    );
    assert_eq!(
        pre_hash_string(&json!({"action": "ADD"}), &context),
        Err(EventHashError::MissingType)
    );
    assert!(matches!(
        pre_hash_string(
            &json!({"type": "ObjectEvent", "eventTime": "soon"}),
            &context
        ),
        Err(EventHashError::BadTimestamp { .. })
    ));
    assert!(matches!(
        pre_hash_string(
            &json!({"type": "ObjectEvent", "example": "Infinity"}),
            &context
        ),
        Err(EventHashError::InfiniteNumber { .. })
    ));
    assert_eq!(
        document_events(&json!({"epcisBody": {}})),
        Err(EventHashError::NoEventList)
    );
    // A standalone event expands its own bare words; the key order of a business
    // transaction does not matter.
    let a = json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:x:1"}]});
    let b = json!({"bizTransactionList": [{"bizTransaction": "urn:x:1", "type": "po"}],
        "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping", "action": "OBSERVE", "type": "ObjectEvent"});
    let pre = pre_hash_string(&a, &context).unwrap();
    assert_eq!(
        pre,
        "eventType=ObjectEventaction=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingbizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=urn:x:1"
    );
    assert_eq!(pre_hash_string(&b, &context).unwrap(), pre);
    assert_eq!(event_hash_id(&a, &context).unwrap(), hash_of(&pre));
    // The parent comes before the children, as in the reference that made the test data.
    let transaction = json!({"type": "TransactionEvent", "epcList": ["urn:x:child"],
        "parentID": "urn:x:parent", "action": "ADD"});
    assert_eq!(
        pre_hash_string(&transaction, &context).unwrap(),
        "eventType=TransactionEventparentID=urn:x:parentepcListepc=urn:x:childaction=ADD"
    );
}
