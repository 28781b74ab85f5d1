//! EPCIS 2.0 capture and query (`tally_sdk::epcis`) against real documents from
//! `../shared/data/`: every example document of the EPCIS 2.0 standard, OpenEPCIS's valid and
//! invalid captures and queries, the Event Hash ID reference suite, files that are not JSON,
//! and the standard's own multi-file JSON Schema, which must agree with the embedded one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::epcis::answer::{QueryDocumentBuilder, SIMPLE_EVENT_QUERY, answered_event};
use tally_sdk::epcis::document::{
    CaptureDocument, CaptureError, CaptureLimits, DocumentKind, parse_capture, parse_event,
    standalone_event_hash_id,
};
use tally_sdk::epcis::event_hash::{
    HashContext, document_event_hash_ids, document_event_hash_ids_with, document_events,
};
use tally_sdk::epcis::exception::EpcisException;
use tally_sdk::epcis::proof::{EventProof, PROOF_FIELD};
use tally_sdk::epcis::query::{EventQuery, QueryError};
use tally_sdk::epcis::schema;
use tally_sdk::event::{EpcisEvent, classify};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::genesis::Limits;
use tally_sdk::time::Timestamp;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data");

fn data(path: &str) -> PathBuf {
    Path::new(DATA).join(path)
}

/// The files under `dir` (recursively) whose names end in one of `extensions`, sorted.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&read(path)).unwrap()
}

fn capture(path: &Path) -> Result<CaptureDocument, CaptureError> {
    parse_capture(&read(path), &CaptureLimits::default())
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The 47 example documents of the EPCIS 2.0 standard.
fn standard_examples() -> Vec<PathBuf> {
    let examples = files(&data("epcis2/JSON"), &["jsonld"]);
    assert_eq!(examples.len(), 47, "the standard's example documents");
    examples
}

/// The EPCIS 2.0 JSON Schema of the standard (`epcis2/JSON-Schema/`, many files), read from
/// `../shared/data` and resolved locally.
fn standard_schema() -> jsonschema::Validator {
    let dir = data("epcis2/JSON-Schema");
    let mut paths = files(&dir.join("schemas"), &["json"]);
    for top in [
        "EPCIS-JSON-Schema-root.json",
        "EPCIS-Document-JSON-Schema.json",
        "EPCIS-Event-JSON-Schema.json",
    ] {
        paths.push(dir.join(top));
    }
    let mut registry = jsonschema::Registry::new();
    for path in &paths {
        let schema = json_of(path);
        let id = schema["$id"].as_str().unwrap().to_owned();
        registry = registry.add(id, schema).unwrap();
    }
    let registry = registry.prepare().unwrap();
    let root = json_of(&dir.join("EPCIS-JSON-Schema-root.json"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .offline()
        .with_registry(&registry)
        .build(&root)
        .unwrap()
}

fn proof(sequence: u64) -> EventProof {
    EventProof {
        entry: EntryHash::digest(&sequence.to_be_bytes()),
        signer: MemberId::new("manufacturer").unwrap(),
        sequence,
        witnessed: sequence.is_multiple_of(2),
        forked: false,
    }
}

#[test]
fn every_example_of_the_standard_is_captured_with_its_event_hash_ids() {
    let mut events = 0;
    for path in standard_examples() {
        let document = json_of(&path);
        let captured = capture(&path).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        let expected_kind = if document["type"] == "EPCISQueryDocument" {
            DocumentKind::QueryDocument
        } else {
            DocumentKind::Document
        };
        assert_eq!(captured.kind, expected_kind, "{}", name(&path));
        let originals = document_events(&document).unwrap();
        assert_eq!(captured.events.len(), originals.len(), "{}", name(&path));
        assert!(!captured.events.is_empty(), "{}", name(&path));
        // The Event Hash ID a client computes on its own document.
        let in_document = document_event_hash_ids(&document).unwrap();
        for ((event, original), hash_id) in captured.events.iter().zip(originals).zip(&in_document)
        {
            let at = format!("{} #{}", name(&path), event.index);
            assert_eq!(&event.hash_id, hash_id, "{at}");
            assert_eq!(
                standalone_event_hash_id(&event.event).unwrap(),
                event.hash_id,
                "{at}"
            );
            match original.get("eventID").and_then(Value::as_str) {
                Some(id) => {
                    assert_eq!(event.event_id, id, "{at}");
                    assert!(!event.id_assigned, "{at}");
                }
                None => {
                    assert_eq!(&event.event_id, hash_id, "{at}");
                    assert!(event.id_assigned, "{at}");
                }
            }
            assert_eq!(event.event["eventID"], json!(event.event_id), "{at}");
            // What the node's verifier will do with it: within the default event size, its
            // kind derived.
            let canonical = CanonicalJson::from_value(&event.event).unwrap();
            assert!(
                canonical.len() <= Limits::default().max_event_bytes as usize,
                "{at}"
            );
            let (parsed, value) = EpcisEvent::from_canonical(&canonical).unwrap();
            classify(&value, &parsed).unwrap();
            // The document's context is the event's now.
            let context = event.event["@context"].as_array().unwrap();
            match &document["@context"] {
                Value::Array(items) => assert!(context.starts_with(items), "{at}"),
                item => assert_eq!(&context[0], item, "{at}"),
            }
            events += 1;
        }
    }
    assert_eq!(events, 56, "every event of the 47 documents");
}

#[test]
fn the_standards_multi_file_schema_agrees_with_the_embedded_one() {
    let standard = standard_schema();
    let mut documents: Vec<PathBuf> = standard_examples();
    documents.extend(files(
        &data("epcis-openepcis/2.0/EPCIS/JSON/Capture"),
        &["json"],
    ));
    documents.extend(files(
        &data("epcis-openepcis/2.0/EPCIS/JSON/Query"),
        &["json"],
    ));
    let mut rejected = Vec::new();
    let mut disagree = Vec::new();
    for path in &documents {
        let value = json_of(path);
        let embedded = schema::validate(&value).is_ok();
        if embedded != standard.is_valid(&value) {
            disagree.push((name(path), embedded));
        }
        if !embedded {
            rejected.push(name(path));
        }
    }
    // EPCIS 2.0.1 corrected the 2.0 schema, which forgot persistentDisposition on
    // AggregationEvent: the one document where the two disagree.
    assert_eq!(
        disagree,
        [(
            "AggregationEvent_with_persistentDisposition.json".to_owned(),
            true
        )]
    );
    // The standard's examples are all valid. Refused: OpenEPCIS's 15 invalid captures and 2
    // invalid query documents, 2 capture and 2 query documents with measurement types that
    // are not in EPCIS (see openepcis_captures), and 3 files that are queries, not documents.
    assert!(
        standard_examples()
            .iter()
            .all(|p| !rejected.contains(&name(p)))
    );
    assert_eq!(rejected.len(), 15 + 2 + 2 + 2 + 3, "{rejected:#?}");
}

#[test]
fn openepcis_captures() {
    let dir = data("epcis-openepcis/2.0/EPCIS/JSON/Capture");
    // Two documents OpenEPCIS counts as valid use measurement types the EPCIS 2.0 schema
    // does not have (bare words that are neither GS1 terms nor URIs).
    let non_standard = [
        (
            "SensorData_with_combined_events.json",
            "Molar_concentration",
        ),
        (
            "TransactionEvent_with_userExtensions.json",
            "EffectiveDoseRate",
        ),
    ];
    let documents = files(&dir.join("Documents"), &["json"]);
    assert_eq!(documents.len(), 38);
    for path in &documents {
        let result = capture(path);
        match non_standard.iter().find(|(n, _)| *n == name(path)) {
            None => {
                let captured = result.unwrap_or_else(|e| panic!("{}: {e}", name(path)));
                assert!(!captured.events.is_empty());
            }
            Some((_, word)) => {
                let CaptureError::Invalid { problems, .. } = result.unwrap_err() else {
                    panic!("{}: expected problems", name(path))
                };
                assert!(problems.iter().any(|p| {
                    p.index.is_some()
                        && p.path.contains("sensorReport")
                        && p.path.ends_with(".type")
                        && p.problem.contains(word)
                }));
            }
        }
    }

    let events = files(&dir.join("Events"), &["json"]);
    assert_eq!(events.len(), 5);
    for path in &events {
        let captured = parse_event(&read(path), &CaptureLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", name(path)));
        assert_eq!(captured.kind, DocumentKind::Event);
        assert_eq!(captured.events.len(), 1);
        // Its own context stays with it.
        assert_eq!(
            standalone_event_hash_id(&captured.events[0].event).unwrap(),
            captured.events[0].hash_id
        );
    }

    let invalid = files(&dir.join("Invalid"), &["json"]);
    assert_eq!(
        invalid.len(),
        15,
        "OpenEPCIS's captures that must be refused"
    );
    for path in &invalid {
        let error = capture(path).expect_err(&name(path));
        assert_eq!(
            error.exception(),
            EpcisException::ValidationException,
            "{}",
            name(path)
        );
        assert_eq!(error.status(), 400);
        let CaptureError::Invalid { problems, total } = &error else {
            panic!("{}: {error:?}", name(path))
        };
        assert!(*total >= problems.len() && !problems.is_empty());
        let document_level = name(path) == "EPCISDocument_without_context.json";
        assert_eq!(
            problems.iter().all(|p| p.index.is_none()),
            document_level,
            "{}: {problems:#?}",
            name(path)
        );
        assert!(problems.iter().all(|p| p.path.starts_with('$')));
    }
    // The second event is the wrong one.
    let CaptureError::Invalid { problems, .. } =
        capture(&dir.join("Invalid/ObjectEvent_with_non_standard_bizStep_in_second_event.json"))
            .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.index, p.path.as_str()))
            .collect::<Vec<_>>(),
        [(Some(1), "$.bizStep")]
    );

    for query_document in files(
        &data("epcis-openepcis/2.0/EPCIS/JSON/Query/Invalid"),
        &["json"],
    ) {
        let error = capture(&query_document).expect_err(&name(&query_document));
        assert_eq!(error.exception(), EpcisException::ValidationException);
    }
}

#[test]
fn the_event_hash_id_reference_suite_passes_through_capture() {
    let dir = data("epcis-event-hash");
    let documents = files(&dir, &["jsonld"]);
    assert_eq!(documents.len(), 18);
    let mut events = 0;
    for path in documents {
        let mut document = json_of(&path);
        if name(&path).contains("IgnoreFields") {
            // Fields the reference's repository added to the events it stores and excludes;
            // captured, they are not there.
            let pointer = if document["type"] == "EPCISQueryDocument" {
                "/epcisBody/queryResults/resultsBody/eventList"
            } else {
                "/epcisBody/eventList"
            };
            for event in document
                .pointer_mut(pointer)
                .unwrap()
                .as_array_mut()
                .unwrap()
            {
                let map = event.as_object_mut().unwrap();
                map.remove("example:captureID");
                map.remove("repository-x:hash");
            }
        }
        let captured = parse_capture(
            &serde_json::to_vec(&document).unwrap(),
            &CaptureLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        let expected: Vec<String> = std::fs::read_to_string(path.with_extension("hashes"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let got: Vec<&str> = captured.events.iter().map(|e| e.hash_id.as_str()).collect();
        assert_eq!(got, expected, "{}", name(&path));
        events += got.len();
    }
    assert_eq!(events, 27, "every event of the reference suite");
}

#[test]
fn what_is_not_json_is_refused_as_malformed() {
    let files = files(
        &data("epcis-opentraceability/invalid-json"),
        &["json", "jsonld"],
    );
    assert_eq!(files.len(), 3);
    for path in files {
        let error = capture(&path).expect_err(&name(&path));
        assert!(
            matches!(error, CaptureError::Malformed(_)),
            "{}: {error:?}",
            name(&path)
        );
        assert_eq!(error.status(), 400);
    }
    let whole = read(&data("epcis2/JSON/Example_9.6.1-ObjectEvent.jsonld"));
    let error = parse_capture(&whole[..whole.len() / 2], &CaptureLimits::default()).unwrap_err();
    assert!(matches!(error, CaptureError::Malformed(_)));
}

#[test]
fn oversized_captures_are_refused_before_parsing() {
    let path = data("epcis2/JSON/Example_9.6.1-ObjectEvent.jsonld");
    let bytes = read(&path);
    let limits = CaptureLimits {
        max_bytes: bytes.len() - 1,
        max_events: 100,
    };
    let error = parse_capture(&bytes, &limits).unwrap_err();
    assert_eq!(
        error.exception(),
        EpcisException::CaptureLimitExceededException
    );
    assert_eq!(error.status(), 413);
    // Garbage over the limit is refused for its size, not parsed.
    let garbage = vec![b'x'; limits.max_bytes + 1];
    assert!(matches!(
        parse_capture(&garbage, &limits),
        Err(CaptureError::TooLarge { .. })
    ));
}

/// Captured events, answered in one query document, captured again: the same events with the
/// same Event Hash IDs, and a document valid under both schemas.
#[test]
fn answers_round_trip_through_capture() {
    let standard = standard_schema();
    let mut all_events = Vec::new();
    let mut all_ids = Vec::new();
    for path in standard_examples() {
        let captured = capture(&path).unwrap();
        let mut builder =
            QueryDocumentBuilder::new(SIMPLE_EVENT_QUERY, Timestamp(1_700_000_000_000));
        for (i, event) in captured.events.iter().enumerate() {
            let answered = answered_event(
                &event.event,
                Some(Timestamp(1_700_000_000_000 + i as u64)),
                Some(&proof(i as u64)),
            );
            all_events.push(answered.clone());
            builder.push(answered);
        }
        all_ids.extend(
            captured
                .events
                .iter()
                .map(|e| (e.event_id.clone(), e.hash_id.clone())),
        );
        let answer = builder.build();
        check_answer(&standard, &answer, &captured, &name(&path));
    }
    // Every example's events in one answer: contexts from many documents meet. (Examples reuse
    // some eventIDs for different events; one of each is answered, as a repository would
    // hold one.)
    let mut builder = QueryDocumentBuilder::new(SIMPLE_EVENT_QUERY, Timestamp(0));
    let mut seen = std::collections::BTreeSet::new();
    let mut answered_ids = Vec::new();
    for (event, ids) in all_events.into_iter().zip(all_ids) {
        if seen.insert(ids.0.clone()) {
            builder.push(event);
            answered_ids.push(ids);
        }
    }
    assert!(answered_ids.len() > 40);
    let answer = builder.build();
    schema::validate(&answer).unwrap();
    assert!(standard.is_valid(&answer));
    let recaptured = parse_capture(
        &serde_json::to_vec(&answer).unwrap(),
        &CaptureLimits::default(),
    )
    .unwrap();
    let got: Vec<(String, String)> = recaptured
        .events
        .iter()
        .map(|e| (e.event_id.clone(), e.hash_id.clone()))
        .collect();
    assert_eq!(got, answered_ids);
}

fn check_answer(
    standard: &jsonschema::Validator,
    answer: &Value,
    captured: &CaptureDocument,
    at: &str,
) {
    schema::validate(answer).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert!(standard.is_valid(answer), "{at}");
    let recaptured = parse_capture(
        &serde_json::to_vec(answer).unwrap(),
        &CaptureLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{at}: {e}"));
    assert_eq!(recaptured.kind, DocumentKind::QueryDocument);
    assert_eq!(recaptured.events.len(), captured.events.len());
    let whole = document_event_hash_ids_with(
        answer,
        &HashContext::from_document(answer).ignoring(PROOF_FIELD),
    )
    .unwrap();
    let list = answer
        .pointer("/epcisBody/queryResults/resultsBody/eventList")
        .unwrap()
        .as_array()
        .unwrap();
    for (((before, after), whole), listed) in captured
        .events
        .iter()
        .zip(&recaptured.events)
        .zip(whole)
        .zip(list)
    {
        assert_eq!(before.hash_id, after.hash_id, "{at}");
        assert_eq!(before.event_id, after.event_id, "{at}");
        assert!(!after.id_assigned, "{at}: the answer carries the eventID");
        let strip = |event: &Value| {
            let mut event = event.clone();
            event.as_object_mut().unwrap().remove("@context");
            event
        };
        assert_eq!(strip(&before.event), strip(&after.event), "{at}");
        // Tools hashing the whole answer agree, where the event's context moved up.
        if listed.get("@context").is_none() {
            assert_eq!(before.hash_id, whole.hash_id, "{at}");
        }
        assert!(listed.get("recordTime").is_some());
        assert!(serde_json::from_value::<EventProof>(listed[PROOF_FIELD].clone()).is_ok());
    }
}

#[test]
fn queries_select_the_same_events_whatever_the_identifier_spelling() {
    let mut events = Vec::new();
    for path in standard_examples() {
        for event in capture(&path).unwrap().events {
            events.push(answered_event(&event.event, Some(Timestamp(0)), None));
        }
    }
    let select = |query: &str| -> Vec<usize> {
        let query = EventQuery::parse_query_string(query).unwrap();
        (0..events.len())
            .filter(|&i| query.matches(&events[i]))
            .collect()
    };
    let pairs = [
        (
            "MATCH_epc=urn:epc:id:sgtin:0614141.107346.2017",
            "MATCH_epc=https://id.gs1.org/01/10614141073464/21/2017",
        ),
        (
            "MATCH_anyEPC=urn:epc:idpat:sgtin:0614141.107346.*",
            "MATCH_anyEPC=https://id.gs1.org/01/10614141073464",
        ),
        (
            "EQ_bizStep=shipping",
            "EQ_bizStep=https://ref.gs1.org/cbv/BizStep-shipping",
        ),
        (
            "EQ_disposition=in_transit",
            "EQ_disposition=urn:epcglobal:cbv:disp:in_transit",
        ),
        (
            "EQ_readPoint=urn:epc:id:sgln:0614141.07346.1234",
            "EQ_readPoint=https://id.gs1.org/414/0614141073467/254/1234",
        ),
    ];
    for (urn, web) in pairs {
        let selected = select(urn);
        assert!(!selected.is_empty(), "{urn}");
        assert!(selected.len() < events.len(), "{urn}");
        assert_eq!(selected, select(web), "{urn} / {web}");
    }
    let types = [
        "ObjectEvent",
        "AggregationEvent",
        "TransformationEvent",
        "TransactionEvent",
        "AssociationEvent",
    ];
    let by_type: usize = types
        .iter()
        .map(|t| select(&format!("eventType={t}")).len())
        .sum();
    assert_eq!(by_type, events.len());
    let declared = events
        .iter()
        .filter(|e| e.get("errorDeclaration").is_some())
        .count();
    assert!(declared > 0);
    assert_eq!(select("EXISTS_errorDeclaration").len(), declared);
}

#[test]
fn openepcis_queries() {
    let dir = data("epcis-openepcis/2.0/EPCIS/JSON/Query/Queries");
    let query = EventQuery::from_json(&json_of(&dir.join("SimpleEventQuery.json"))).unwrap();
    assert_eq!(query.filters.len(), 10);
    assert_eq!(query.event_count_limit, Some(100));
    let matching = json!({
        "type": "ObjectEvent",
        "action": "ADD",
        "eventTime": "2026-06-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "bizStep": "shipping",
        "disposition": "in_transit",
        // As the query writes it: not a valid GLN (its check digit is wrong), so compared as
        // written.
        "bizLocation": {"id": "https://id.gs1.org/414/9521141123452"},
        "epcList": ["https://id.gs1.org/01/09521141012345/21/2017"],
        "quantityList": [{"epcClass": "https://id.gs1.org/01/09521141012345", "quantity": 10}],
    });
    assert!(query.matches(&matching));
    let mut late = matching.clone();
    late["eventTime"] = json!("2027-01-01T00:00:00Z");
    assert!(!query.matches(&late));

    let invalid = EventQuery::from_json(&json_of(
        &dir.join("Invalid/Query_with_invalid_values.json"),
    ));
    assert!(
        matches!(invalid, Err(QueryError::Invalid { .. })),
        "{invalid:?}"
    );
    let unknown = EventQuery::from_json(&json_of(
        &dir.join("Invalid/Query_with_unknown_parameter.json"),
    ));
    assert!(
        matches!(&unknown, Err(QueryError::Unknown { name }) if name == "GE_eventDate"),
        "{unknown:?}"
    );
    assert_eq!(
        unknown.unwrap_err().exception(),
        EpcisException::QueryParameterException
    );
}

/// The event samples beside the standard's schema: the standard types are captured one by one;
/// the extension event type, valid for the schema, is refused because Tally records the five
/// EPCIS event types only.
#[test]
fn the_schema_samples_one_event_at_a_time() {
    let dir = data("epcis2/JSON-Schema/test");
    let samples = files(&dir, &["json"])
        .into_iter()
        .filter(|p| p.parent() == Some(dir.as_path()))
        .collect::<Vec<_>>();
    assert_eq!(samples.len(), 5);
    for path in samples {
        let value = json_of(&path);
        schema::validate(&value).unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
        let result = parse_event(&read(&path), &CaptureLimits::default());
        if name(&path) == "Extended-Event.json" {
            let error = result.unwrap_err();
            assert_eq!(error.exception(), EpcisException::ValidationException);
            let CaptureError::Invalid { problems, .. } = error else {
                panic!("{error:?}")
            };
            assert_eq!(problems.len(), 1);
            assert_eq!(
                (problems[0].index, problems[0].path.as_str()),
                (Some(0), "$.type")
            );
            assert!(problems[0].problem.contains("example:CustomEvent"));
        } else {
            let captured = result.unwrap_or_else(|e| panic!("{}: {e}", name(&path)));
            let event = &captured.events[0];
            assert_eq!(event.event["type"], value["type"]);
            assert_eq!(
                standalone_event_hash_id(&event.event).unwrap(),
                event.hash_id
            );
        }
    }
}
