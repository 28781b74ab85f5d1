//! The EPCIS 2.0 REST binding under `/epcis`, through `app()` on a real node (RocksDB in a
//! temporary directory, the writer thread, the demo consortium; it writes as the
//! manufacturer): every example document of the standard and the Event Hash ID reference
//! suite captured and queried back by id with the same Event Hash ID, refusals that store
//! nothing, all-or-nothing capture, duplicates, private fields, every query parameter and
//! resource, paging, and the binding's headers.
//!
//! Test data: `../shared/data/epcis2/JSON/` (the 47 example documents of EPCIS 2.0),
//! `../shared/data/epcis-event-hash/` (the Event Hash ID reference suite) and
//! `../shared/data/epcis-openepcis/` (OpenEPCIS's invalid captures).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use common::percent_encode as encode;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tally_node::Node;
use tally_node::api::app;
use tally_node::config::{Config, UserConfig};
use tally_sdk::entry::{Payload, SignedEntry};
use tally_sdk::epcis::document::{CaptureLimits, parse_capture, standalone_event_hash_id};
use tally_sdk::epcis::event_hash::document_event_hash_ids;
use tower::ServiceExt;

const WRITER: &str = "0123456789abcdef0123456789abcdef-erp";
const READER: &str = "fedcba9876543210fedcba9876543210-audit";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data");
const LD_JSON: &str = "application/ld+json";

struct TestNode {
    dir: Option<tempfile::TempDir>,
    node: Option<Node>,
}

impl TestNode {
    fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = common::demo_node_dir(
            dir.path(),
            &format!(
                "{extra}\n\
                 [[tokens]]\nname = \"erp\"\nsecret = \"{WRITER}\"\nscope = \"member\"\n\
                 [[tokens]]\nname = \"audit\"\nsecret = \"{READER}\"\nscope = \"read\"\nrole = \"auditor\"\n"
            ),
        );
        let config: Config = UserConfig::from_file(&path)
            .unwrap()
            .validate(dir.path())
            .unwrap();
        Self {
            node: Some(Node::open(config).unwrap()),
            dir: Some(dir),
        }
    }

    fn app(&self) -> Router {
        app(self.node.as_ref().unwrap().api_state())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        // The store closes before its directory goes.
        if let Some(node) = self.node.take() {
            node.shutdown();
        }
        self.dir.take();
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<Vec<u8>>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let request = match body {
        Some(bytes) => request
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, Some(READER), "", None, &[]).await
}

async fn capture_bytes(app: &Router, bytes: Vec<u8>) -> Reply {
    call(
        app,
        Method::POST,
        "/epcis/capture",
        Some(WRITER),
        LD_JSON,
        Some(bytes),
        &[],
    )
    .await
}

/// Captures `document` and checks the job succeeded; returns the job.
async fn capture_ok(app: &Router, document: &Value) -> Value {
    let reply = capture_bytes(app, serde_json::to_vec(document).unwrap()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["success"], true, "{}", reply.text);
    assert_eq!(reply.body["running"], false);
    assert_eq!(reply.body["captureErrorBehaviour"], "rollback");
    let location = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "/epcis/capture/{}",
            reply.body["captureID"].as_str().unwrap()
        )
    );
    let job = call(app, Method::GET, &location, Some(WRITER), "", None, &[]).await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.text);
    assert_eq!(job.body, reply.body);
    reply.body
}

/// Checks an EPCIS refusal: problem+json, this status, the binding's exception as type.
fn epcis_problem(reply: &Reply, status: StatusCode, exception: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{}",
        reply.text
    );
    assert_eq!(
        reply.body["type"],
        format!("epcisException:{exception}"),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], status.as_u16());
    assert!(!reply.body["detail"].as_str().unwrap().is_empty());
}

/// The Event Hash ID of the event a stored entry records.
async fn stored_event_hash(app: &Router, entry: &str) -> String {
    let reply = get(app, &format!("/v1/entries/{entry}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let signed: SignedEntry = serde_json::from_value(reply.body["entry"].clone()).unwrap();
    let Payload::Event { event, .. } = &signed.body.payload else {
        panic!("an event entry")
    };
    standalone_event_hash_id(&event.to_value().unwrap()).unwrap()
}

/// Every entry count, to check a refusal stored nothing.
async fn entries(app: &Router) -> u64 {
    let reply = get(app, "/health").await;
    reply.body["entries"].as_u64().unwrap()
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The events of an answer.
fn event_list(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["type"], "EPCISQueryDocument", "{}", reply.text);
    reply.body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap()
        .clone()
}

/// An answered event's Event Hash ID, computed by the client from the event alone (the
/// context it was answered with put back).
fn hash_of_answered(document: &Value, event: &Value) -> String {
    let mut event = event.clone();
    let map = event.as_object_mut().unwrap();
    if !map.contains_key("@context") {
        map.insert("@context".to_owned(), document["@context"].clone());
    }
    standalone_event_hash_id(&event).unwrap()
}

/// Finds the event with `hash_id` (and `event_id`, if given: an error declaration has the
/// hash ID of the event it declares wrong) through `/epcis/events/{id}`, and checks its proof.
async fn find(app: &Router, id: &str, hash_id: &str, event_id: Option<&str>, at: &str) -> Value {
    let reply = get(app, &format!("/epcis/events/{}", encode(id))).await;
    assert_eq!(reply.status, StatusCode::OK, "{at}: {id}: {}", reply.text);
    let events = event_list(&reply);
    let found = events
        .iter()
        .find(|e| {
            hash_of_answered(&reply.body, e) == hash_id
                && event_id.is_none_or(|want| e["eventID"] == want)
        })
        .unwrap_or_else(|| panic!("{at}: no event with {hash_id} among {}", reply.text))
        .clone();
    let proof = &found["tally:proof"];
    assert_eq!(proof["signer"], "manufacturer", "{at}");
    assert_eq!(proof["entry"].as_str().unwrap().len(), 64, "{at}");
    assert!(proof["sequence"].is_u64(), "{at}");
    assert_eq!(
        proof["witnessed"], false,
        "{at}: a lone node has no witnesses"
    );
    assert!(found["recordTime"].is_string(), "{at}");
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_the_standard_is_captured_and_queried_back_by_id() {
    let node = TestNode::start("");
    let app = node.app();
    let examples = files(&Path::new(DATA).join("epcis2/JSON"), "jsonld");
    assert_eq!(examples.len(), 47, "the standard's example documents");
    let mut events = 0;
    let mut recorded = 0;
    let mut duplicated = 0;
    for path in &examples {
        let bytes = std::fs::read(path).unwrap();
        let document: Value = serde_json::from_slice(&bytes).unwrap();
        let job = capture_ok(&app, &document).await;
        recorded += job["tally:recorded"].as_u64().unwrap();
        assert_eq!(
            job["tally:recorded"].as_u64().unwrap() + job["tally:duplicates"].as_u64().unwrap(),
            job["tally:events"].as_u64().unwrap(),
            "{}",
            name(path)
        );
        let ids = document_event_hash_ids(&document).unwrap();
        let captured = parse_capture(&bytes, &CaptureLimits::default()).unwrap();
        let duplicates = job["tally:duplicateEvents"].as_array().unwrap();
        for (event, hash_id) in captured.events.iter().zip(&ids) {
            let at = format!("{} #{}", name(path), event.index);
            match duplicates.iter().find(|d| d["eventIndex"] == event.index) {
                // Found by its eventID (given, or the hash ID Tally set), the same event.
                None => {
                    find(&app, &event.event_id, hash_id, Some(&event.event_id), &at).await;
                }
                // Recorded earlier (an identical event of another example): the entry the job
                // names records an event with the same Event Hash ID.
                Some(duplicate) => {
                    assert_eq!(duplicate["eventID"], json!(event.event_id), "{at}");
                    let entry = duplicate["entry"].as_str().unwrap();
                    assert_eq!(&stored_event_hash(&app, entry).await, hash_id, "{at}");
                    duplicated += 1;
                }
            }
            events += 1;
        }
    }
    assert_eq!(events, 56, "every event of the 47 documents");
    assert_eq!(entries(&app).await, recorded);
    assert_eq!(recorded + duplicated, 56);
    assert!(
        duplicated < 10,
        "{duplicated} of the examples repeat others"
    );

    // Captured again, every event is recognised by its hash and nothing is stored twice.
    let before = entries(&app).await;
    for path in &examples {
        let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let job = capture_ok(&app, &document).await;
        assert_eq!(job["tally:recorded"], 0, "{}", name(path));
        assert_eq!(
            job["tally:duplicates"],
            job["tally:events"],
            "{}",
            name(path)
        );
    }
    assert_eq!(entries(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_hash_id_reference_suite_passes_through_capture_and_query() {
    let node = TestNode::start("");
    let app = node.app();
    let documents = files(&Path::new(DATA).join("epcis-event-hash"), "jsonld");
    assert_eq!(documents.len(), 18);
    let mut events = 0;
    for path in documents {
        let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if name(&path).contains("IgnoreFields") {
            // Fields the reference repository added to the events it stored and excludes.
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
        let job = capture_ok(&app, &document).await;
        let expected: Vec<String> = std::fs::read_to_string(path.with_extension("hashes"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let bytes = serde_json::to_vec(&document).unwrap();
        let captured = parse_capture(&bytes, &CaptureLimits::default()).unwrap();
        assert_eq!(captured.events.len(), expected.len(), "{}", name(&path));
        let duplicates = job["tally:duplicateEvents"].as_array().unwrap();
        for (event, hash_id) in captured.events.iter().zip(&expected) {
            let at = format!("{} #{}", name(&path), event.index);
            match duplicates.iter().find(|d| d["eventIndex"] == event.index) {
                None => {
                    find(&app, &event.event_id, hash_id, Some(&event.event_id), &at).await;
                }
                Some(duplicate) => {
                    let entry = duplicate["entry"].as_str().unwrap();
                    assert_eq!(&stored_event_hash(&app, entry).await, hash_id, "{at}");
                }
            }
            events += 1;
        }
    }
    assert_eq!(events, 27, "every event of the reference suite");
}

fn context() -> Value {
    json!([
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"tally": "https://ns.tally.dev/epcis/"}
    ])
}

fn document(events: Vec<Value>) -> Value {
    json!({
        "@context": context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T07:00:00Z",
        "epcisBody": {"eventList": events},
    })
}

fn id(n: u32) -> String {
    format!("urn:uuid:00000000-0000-4000-8000-{n:012}")
}

const A1: &str = "urn:epc:id:sgtin:9506000.013435.A1";
const A2: &str = "urn:epc:id:sgtin:9506000.013435.A2";
const A3: &str = "urn:epc:id:sgtin:9506000.013435.A3";
const SSCC: &str = "urn:epc:id:sscc:9506000.0000000001";
const LOT: &str = "urn:epc:class:lgtin:9506000.013435.L1";
const SITE_1: &str = "urn:epc:id:sgln:9506000.00001.0";
const SITE_2: &str = "urn:epc:id:sgln:9506000.00002.0";
const PARTY_1: &str = "urn:epc:id:pgln:9506000.00001";
const PARTY_2: &str = "urn:epc:id:pgln:9506000.00002";
const ORDER: &str = "urn:epcglobal:cbv:bt:9506000000004:PO1";
const TRANSFORMATION: &str = "urn:uuid:00000000-0000-4000-8000-0000000000aa";

/// Six events that tell the query parameters apart.
fn six_events() -> Vec<Value> {
    vec![
        json!({"type": "ObjectEvent", "eventID": id(1), "action": "ADD",
            "eventTime": "2026-03-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": [A1], "bizStep": "commissioning", "disposition": "active",
            "readPoint": {"id": SITE_1}, "bizLocation": {"id": SITE_1},
            "bizTransactionList": [{"type": "po", "bizTransaction": ORDER}]}),
        json!({"type": "ObjectEvent", "eventID": id(2), "action": "OBSERVE",
            "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": [A1, A2], "bizStep": "shipping", "disposition": "in_transit",
            "readPoint": {"id": SITE_2},
            "sourceList": [{"type": "owning_party", "source": PARTY_1}],
            "destinationList": [{"type": "owning_party", "destination": PARTY_2}]}),
        json!({"type": "AggregationEvent", "eventID": id(3), "action": "ADD",
            "eventTime": "2026-03-01T10:00:00Z", "eventTimeZoneOffset": "+00:00",
            "parentID": SSCC, "childEPCs": [A1], "bizStep": "packing",
            "disposition": "in_progress"}),
        json!({"type": "TransformationEvent", "eventID": id(4),
            "eventTime": "2026-03-01T11:00:00Z", "eventTimeZoneOffset": "+00:00",
            "inputEPCList": [A2], "outputEPCList": [A3],
            "transformationID": TRANSFORMATION, "bizStep": "commissioning"}),
        json!({"type": "ObjectEvent", "eventID": id(5), "action": "OBSERVE",
            "eventTime": "2026-03-01T12:00:00Z", "eventTimeZoneOffset": "+00:00",
            "quantityList": [{"epcClass": LOT, "quantity": 5, "uom": "KGM"}],
            "bizStep": "inspecting", "disposition": "conformant"}),
        json!({"type": "ObjectEvent", "eventID": id(6), "action": "DELETE",
            "eventTime": "2026-03-01T13:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": [A3], "bizStep": "receiving", "disposition": "in_progress",
            "errorDeclaration": {"declarationTime": "2026-03-01T14:00:00Z",
                "reason": "incorrect_data", "correctiveEventIDs": [id(5)]}}),
    ]
}

/// The numbers of the events (1–6) an answer holds, in its order.
fn numbers(events: &[Value]) -> Vec<u32> {
    events
        .iter()
        .map(|e| {
            let id = e["eventID"].as_str().unwrap();
            id.rsplit('-').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// The URL of the next page a reply's `Link` header names (checked to be `rel="next"`).
fn next_page(reply: &Reply) -> Option<String> {
    let link = reply.headers.get(header::LINK)?.to_str().unwrap();
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(
        link.trim_start_matches('<')
            .split(">;")
            .next()
            .unwrap()
            .to_owned(),
    )
}

/// The page token of the next page a reply names.
fn next_token(reply: &Reply) -> String {
    let next = next_page(reply).expect("a next page");
    next.split("nextPageToken=").nth(1).unwrap().to_owned()
}

async fn matching(app: &Router, uri: &str) -> BTreeSet<u32> {
    let reply = get(app, uri).await;
    numbers(&event_list(&reply)).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_parameter_and_resource_selects_its_events() {
    let node = TestNode::start("");
    let app = node.app();
    capture_ok(&app, &document(six_events())).await;
    let set = |n: &[u32]| n.iter().copied().collect::<BTreeSet<u32>>();
    let e = encode;
    let cases: Vec<(String, BTreeSet<u32>)> = vec![
        ("".into(), set(&[1, 2, 3, 4, 5, 6])),
        ("eventType=AggregationEvent".into(), set(&[3])),
        (
            "eventType=TransformationEvent|AggregationEvent".into(),
            set(&[3, 4]),
        ),
        (
            "GE_eventTime=2026-03-01T10:00:00Z".into(),
            set(&[3, 4, 5, 6]),
        ),
        ("LT_eventTime=2026-03-01T10:00:00Z".into(), set(&[1, 2])),
        (
            "GE_eventTime=2026-03-01T09:00:00Z&LT_eventTime=2026-03-01T11:00:00Z".into(),
            set(&[2, 3]),
        ),
        (
            "GE_recordTime=2000-01-01T00:00:00Z".into(),
            set(&[1, 2, 3, 4, 5, 6]),
        ),
        ("LT_recordTime=2000-01-01T00:00:00Z".into(), set(&[])),
        ("EQ_action=ADD".into(), set(&[1, 3])),
        ("EQ_action=DELETE|OBSERVE".into(), set(&[2, 5, 6])),
        ("EQ_bizStep=shipping".into(), set(&[2])),
        (
            format!(
                "EQ_bizStep={}",
                e("urn:epcglobal:cbv:bizstep:commissioning")
            ),
            set(&[1, 4]),
        ),
        ("EQ_disposition=in_progress".into(), set(&[3, 6])),
        (format!("EQ_readPoint={}", e(SITE_2)), set(&[2])),
        (format!("WD_readPoint={}", e(SITE_2)), set(&[2])),
        (format!("EQ_bizLocation={}", e(SITE_1)), set(&[1])),
        (format!("WD_bizLocation={}", e(SITE_1)), set(&[1])),
        (format!("MATCH_epc={}", e(A1)), set(&[1, 2, 3])),
        (
            format!(
                "MATCH_epc={}",
                e("https://id.gs1.org/01/09506000134352/21/A1")
            ),
            set(&[1, 2, 3]),
        ),
        (
            format!("MATCH_epc={}", e("urn:epc:idpat:sgtin:9506000.013435.*")),
            set(&[1, 2, 3, 6]),
        ),
        (format!("MATCH_anyEPC={}", e(A2)), set(&[2, 4])),
        (format!("MATCH_anyEPC={}", e(A3)), set(&[4, 6])),
        (format!("MATCH_parentID={}", e(SSCC)), set(&[3])),
        (format!("MATCH_inputEPC={}", e(A2)), set(&[4])),
        (format!("MATCH_outputEPC={}", e(A3)), set(&[4])),
        (format!("MATCH_epcClass={}", e(LOT)), set(&[5])),
        (format!("MATCH_anyEPCClass={}", e(LOT)), set(&[5])),
        ("EQ_quantity=5".into(), set(&[5])),
        ("GT_quantity=5".into(), set(&[])),
        ("GE_quantity=5".into(), set(&[5])),
        ("LT_quantity=6".into(), set(&[5])),
        (
            format!("EQ_eventID={}|{}", e(&id(1)), e(&id(5))),
            set(&[1, 5]),
        ),
        (
            format!("EQ_transformationID={}", e(TRANSFORMATION)),
            set(&[4]),
        ),
        ("EXISTS_errorDeclaration".into(), set(&[6])),
        ("EQ_errorReason=incorrect_data".into(), set(&[6])),
        (format!("EQ_correctiveEventID={}", e(&id(5))), set(&[6])),
        (
            "GE_errorDeclarationTime=2026-03-01T14:00:00Z".into(),
            set(&[6]),
        ),
        (
            "LT_errorDeclarationTime=2026-03-01T14:00:00Z".into(),
            set(&[]),
        ),
        (format!("EQ_bizTransaction_po={}", e(ORDER)), set(&[1])),
        (format!("EQ_source_owning_party={}", e(PARTY_1)), set(&[2])),
        (
            format!("EQ_destination_owning_party={}", e(PARTY_2)),
            set(&[2]),
        ),
        (
            format!("EQ_bizStep=commissioning&MATCH_anyEPC={}", e(A3)),
            set(&[4]),
        ),
    ];
    for (query, expected) in &cases {
        let got = matching(&app, &format!("/epcis/events?{query}")).await;
        assert_eq!(&got, expected, "GET /epcis/events?{query}");
    }

    // The resources that stand for a query, alone and with parameters.
    let resources: Vec<(String, BTreeSet<u32>)> = vec![
        ("eventTypes/AggregationEvent/events".into(), set(&[3])),
        (format!("epcs/{}/events", e(A2)), set(&[2, 4])),
        ("bizSteps/shipping/events".into(), set(&[2])),
        (format!("bizLocations/{}/events", e(SITE_1)), set(&[1])),
        (format!("readPoints/{}/events", e(SITE_2)), set(&[2])),
        ("dispositions/in_progress/events".into(), set(&[3, 6])),
        (
            "dispositions/in_progress/events?EQ_action=DELETE".into(),
            set(&[6]),
        ),
    ];
    for (resource, expected) in &resources {
        let got = matching(&app, &format!("/epcis/{resource}")).await;
        assert_eq!(&got, expected, "GET /epcis/{resource}");
    }

    // Order.
    let ordered = |query: &'static str| {
        let app = app.clone();
        async move {
            numbers(&event_list(
                &get(&app, &format!("/epcis/events?{query}")).await,
            ))
        }
    };
    assert_eq!(ordered("").await, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        ordered("orderBy=eventTime&orderDirection=DESC").await,
        vec![6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        ordered("orderBy=eventTime&orderDirection=ASC").await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        ordered("orderBy=eventTime&orderDirection=ASC&eventCountLimit=2").await,
        vec![1, 2]
    );
    // recordTime: every event of one capture was recorded at about the same time; the order
    // is still total and the same each time.
    assert_eq!(
        ordered("orderBy=recordTime").await,
        ordered("orderBy=recordTime").await
    );

    // Refusals in the binding's form.
    let reply = get(&app, "/epcis/events?maxEventCount=3").await;
    epcis_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "QueryTooLargeException",
    );
    assert_eq!(
        matching(&app, "/epcis/events?maxEventCount=6").await.len(),
        6
    );
    let reply = get(&app, "/epcis/events?EQ_colour=red").await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "QueryParameterException");
    let reply = get(&app, "/epcis/events?GE_eventTime=yesterday").await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "QueryParameterException");
    let reply = get(&app, "/epcis/events?EQ_value_CEL=5").await;
    epcis_problem(
        &reply,
        StatusCode::NOT_IMPLEMENTED,
        "ImplementationException",
    );
    let reply = get(&app, "/epcis/queries").await;
    epcis_problem(
        &reply,
        StatusCode::NOT_IMPLEMENTED,
        "ImplementationException",
    );
    let reply = get(&app, "/epcis/bizSteps").await;
    epcis_problem(
        &reply,
        StatusCode::NOT_IMPLEMENTED,
        "ImplementationException",
    );
    let reply = get(&app, "/epcis/nowhere").await;
    epcis_problem(&reply, StatusCode::NOT_FOUND, "NoSuchResourceException");
    let reply = get(&app, &format!("/epcis/events/{}", encode(&id(99)))).await;
    epcis_problem(&reply, StatusCode::NOT_FOUND, "NoSuchResourceException");
    let reply = get(&app, "/epcis/eventTypes/SensorEvent").await;
    epcis_problem(&reply, StatusCode::NOT_FOUND, "NoSuchResourceException");
    let reply = call(&app, Method::GET, "/epcis/events", None, "", None, &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Discovery.
    let reply = get(&app, "/epcis").await;
    assert!(
        reply.body["member"]
            .as_array()
            .unwrap()
            .contains(&json!("events"))
    );
    let reply = get(&app, "/epcis/eventTypes").await;
    assert_eq!(reply.body["member"].as_array().unwrap().len(), 5);
    assert_eq!(
        get(&app, "/epcis/eventTypes/ObjectEvent").await.body["member"],
        json!(["events"])
    );
    let reply = call(&app, Method::OPTIONS, "/epcis/capture", None, "", None, &[]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.headers[header::ALLOW], "OPTIONS, GET, POST");
    assert_eq!(reply.headers["GS1-EPCIS-Version"], "2.0.0");
    assert_eq!(reply.headers["GS1-CBV-Version"], "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_link_header_and_tokens_are_bound_to_their_query() {
    let node = TestNode::start("");
    let app = node.app();
    capture_ok(&app, &document(six_events())).await;
    let mut uri = "/epcis/events?orderBy=eventTime&orderDirection=ASC&perPage=4".to_owned();
    let mut pages = Vec::new();
    loop {
        let reply = get(&app, &uri).await;
        assert_eq!(reply.headers["GS1-EPCIS-Version"], "2.0.0");
        assert_eq!(reply.headers["GS1-CBV-Version"], "2.0.0");
        pages.push(numbers(&event_list(&reply)));
        let Some(next) = next_page(&reply) else {
            break;
        };
        uri = next;
        assert!(pages.len() < 10, "the pages must end");
    }
    assert_eq!(pages, vec![vec![1, 2, 3, 4], vec![5, 6]]);

    // The token of one query is refused for another, and a made-up one too.
    let reply = get(
        &app,
        "/epcis/events?orderBy=eventTime&orderDirection=ASC&perPage=4",
    )
    .await;
    let token = next_token(&reply);
    let reply = get(
        &app,
        &format!("/epcis/events?EQ_action=ADD&nextPageToken={token}"),
    )
    .await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "QueryParameterException");
    let reply = get(&app, "/epcis/events?nextPageToken=abc").await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "QueryParameterException");

    // Capture jobs page the same way.
    capture_ok(
        &app,
        &document(vec![json!({"type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": "2026-03-02T08:00:00Z", "eventTimeZoneOffset": "+00:00",
        "epcList": [A1], "bizStep": "shipping"})]),
    )
    .await;
    let reply = call(
        &app,
        Method::GET,
        "/epcis/capture?perPage=1",
        Some(WRITER),
        "",
        None,
        &[],
    )
    .await;
    assert_eq!(reply.body.as_array().unwrap().len(), 1, "{}", reply.text);
    let next = next_page(&reply).expect("a next page of capture jobs");
    let reply = call(&app, Method::GET, &next, Some(WRITER), "", None, &[]).await;
    assert_eq!(reply.body.as_array().unwrap().len(), 1, "{}", reply.text);
    let reply = call(
        &app,
        Method::GET,
        "/epcis/capture",
        Some(READER),
        "",
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_captures_store_nothing() {
    let node = TestNode::start("[limits]\nmax_body_bytes = 65536\nmax_batch = 8\n");
    let app = node.app();
    capture_ok(&app, &document(six_events()[..1].to_vec())).await;
    let before = entries(&app).await;

    // Not JSON.
    let reply = capture_bytes(&app, b"{\"type\": \"EPCISDocument\", ".to_vec()).await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "ValidationException");
    // Schema violations, each named with its event and path: OpenEPCIS's invalid captures.
    let invalid = files(
        &Path::new(DATA).join("epcis-openepcis/2.0/EPCIS/JSON/Capture/Invalid"),
        "json",
    );
    assert_eq!(invalid.len(), 15);
    for path in &invalid {
        let reply = capture_bytes(&app, std::fs::read(path).unwrap()).await;
        epcis_problem(&reply, StatusCode::BAD_REQUEST, "ValidationException");
        assert!(
            !reply.body["errors"].as_array().unwrap().is_empty(),
            "{}: {}",
            name(path),
            reply.text
        );
    }
    // An extension event type, valid by the schema.
    let mut custom = six_events()[0].clone();
    custom["type"] = json!("ex:CustomEvent");
    let mut doc = document(vec![custom]);
    doc["@context"]
        .as_array_mut()
        .unwrap()
        .push(json!({"ex": "https://example.org/"}));
    let reply = capture_bytes(&app, serde_json::to_vec(&doc).unwrap()).await;
    epcis_problem(&reply, StatusCode::BAD_REQUEST, "ValidationException");
    assert_eq!(reply.body["errors"][0]["eventIndex"], 0, "{}", reply.text);
    // Too many events, too many bytes.
    let many: Vec<Value> = (0..9)
        .map(|n| {
            let mut event = six_events()[1].clone();
            event["eventID"] = json!(id(100 + n));
            event
        })
        .collect();
    let reply = capture_bytes(&app, serde_json::to_vec(&document(many)).unwrap()).await;
    epcis_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "CaptureLimitExceededException",
    );
    let mut big = six_events()[1].clone();
    big["ex:note"] = json!("x".repeat(70_000));
    let reply = capture_bytes(&app, serde_json::to_vec(&document(vec![big])).unwrap()).await;
    epcis_problem(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "CaptureLimitExceededException",
    );
    // Not JSON by its media type; a read-only token; a behaviour Tally does not have.
    let body = serde_json::to_vec(&document(six_events())).unwrap();
    let reply = call(
        &app,
        Method::POST,
        "/epcis/capture",
        Some(WRITER),
        "text/plain",
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        reply.text
    );
    let reply = call(
        &app,
        Method::POST,
        "/epcis/capture",
        Some(READER),
        LD_JSON,
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let reply = call(
        &app,
        Method::POST,
        "/epcis/capture",
        Some(WRITER),
        LD_JSON,
        Some(body.clone()),
        &[("GS1-Capture-Error-Behaviour", "proceed")],
    )
    .await;
    epcis_problem(
        &reply,
        StatusCode::NOT_IMPLEMENTED,
        "ImplementationException",
    );
    // One event the member may not record (an order, which a manufacturer does not write):
    // the capture job fails, naming it, and none of the document's events is stored.
    let mut events = six_events();
    events[3]["tally:kind"] = json!("order");
    let reply = capture_bytes(&app, serde_json::to_vec(&document(events)).unwrap()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["success"], false, "{}", reply.text);
    assert_eq!(reply.body["tally:recorded"], 0);
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", reply.text);
    assert_eq!(errors[0]["eventIndex"], 3);
    assert_eq!(errors[0]["eventID"], id(4));
    assert_eq!(errors[0]["type"], "epcisException:ValidationException");
    let location = reply.headers[header::LOCATION].to_str().unwrap();
    let job = call(&app, Method::GET, location, Some(WRITER), "", None, &[]).await;
    assert_eq!(job.body, reply.body);

    assert_eq!(
        entries(&app).await,
        before,
        "nothing of a refused capture is stored"
    );
    let reply = get(&app, &format!("/epcis/events/{}", encode(&id(2)))).await;
    epcis_problem(&reply, StatusCode::NOT_FOUND, "NoSuchResourceException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_fields_and_references_are_sent_in_the_tally_namespace() {
    let node = TestNode::start("");
    let app = node.app();
    // One event, alone, to POST /epcis/events; a second referring to the first's entry.
    let mut event = six_events()[4].clone();
    event["@context"] = context();
    event["tally:private"] = json!({"order.spec": {"colour": "teal-canary-8d1f"}});
    let reply = call(
        &app,
        Method::POST,
        "/epcis/events",
        Some(WRITER),
        LD_JSON,
        Some(serde_json::to_vec(&event).unwrap()),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["success"], true, "{}", reply.text);
    let reply = get(&app, &format!("/epcis/events/{}", encode(&id(5)))).await;
    assert!(!reply.text.contains("teal-canary"), "{}", reply.text);
    let answered = event_list(&reply).pop().unwrap();
    assert!(answered.get("tally:private").is_none());
    let entry = answered["tally:proof"]["entry"]
        .as_str()
        .unwrap()
        .to_owned();

    // The values are read through the entry of the proof, by a token whose role may.
    let reply = call(
        &app,
        Method::GET,
        &format!("/v1/entries/{entry}"),
        Some(WRITER),
        "",
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.text.contains("teal-canary-8d1f"), "{}", reply.text);
    let reply = get(&app, &format!("/v1/entries/{entry}")).await;
    assert!(!reply.text.contains("teal-canary"), "{}", reply.text);

    let mut second = six_events()[5].clone();
    second["tally:refs"] = json!([entry]);
    capture_ok(&app, &document(vec![second])).await;
    let reply = get(&app, &format!("/epcis/events/{}", encode(&id(6)))).await;
    let answered = event_list(&reply).pop().unwrap();
    let second_entry = answered["tally:proof"]["entry"].as_str().unwrap();
    let reply = get(&app, &format!("/v1/entries/{second_entry}")).await;
    assert!(reply.text.contains(&entry), "{}", reply.text);

    // An unknown private field refuses the capture.
    let mut bad = six_events()[0].clone();
    bad["tally:private"] = json!({"consumer.shoe_size": 44});
    let reply = capture_bytes(&app, serde_json::to_vec(&document(vec![bad])).unwrap()).await;
    assert_eq!(reply.body["success"], false, "{}", reply.text);
}

/// Forty events for paging: event times in five hours (so eight events share each time), four
/// bizSteps, one or two of A1 and A2 each, every seventh a DELETE; eventIDs `id(first..)`.
fn forty_events(first: u32, count: u32) -> Vec<Value> {
    (first..first + count)
        .map(|n| {
            let epcs = match n % 3 {
                0 => json!([A1, A2]),
                1 => json!([A1]),
                _ => json!([A2]),
            };
            let action = if n % 7 == 0 {
                "DELETE"
            } else if n % 2 == 0 {
                "OBSERVE"
            } else {
                "ADD"
            };
            let biz_step = ["shipping", "packing", "receiving", "inspecting"][(n % 4) as usize];
            json!({"type": "ObjectEvent", "eventID": id(n), "action": action,
                "eventTime": format!("2026-04-01T{:02}:00:00Z", 8 + n % 5),
                "eventTimeZoneOffset": "+00:00", "epcList": epcs, "bizStep": biz_step})
        })
        .collect()
}

/// The events of a query page by page (following the Link header), each page checked.
async fn walked(app: &Router, query: &str, per_page: usize) -> Vec<u32> {
    let mut uri = format!("/epcis/events?{query}&perPage={per_page}");
    let mut all = Vec::new();
    for _ in 0..100 {
        let reply = get(app, &uri).await;
        let page = numbers(&event_list(&reply));
        assert!(page.len() <= per_page, "{uri}: {page:?}");
        let Some(next) = next_page(&reply) else {
            assert!(
                !page.is_empty() || all.is_empty(),
                "{uri}: an empty last page"
            );
            all.extend(page);
            return all;
        };
        assert!(!page.is_empty(), "{uri}: an empty page before the last");
        all.extend(page);
        uri = next;
    }
    panic!("{query}: the pages do not end");
}

/// Issue 23: a query an index can walk is answered a page at a time from where the last page
/// stopped, never by reading the whole answer. Read page by page, every query gives exactly
/// the events, in exactly the order, of the same query answered whole (`maxEventCount` makes
/// the node read every candidate and sort them), across ties of time, several index values,
/// both directions, recordTime windows and `eventCountLimit`; a page reads a bounded number
/// of index rows (a rare match gives short pages with a token to go on), and a walked query
/// is not refused where the whole-answer reading is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walked_pages_give_the_whole_answer_in_order_and_read_a_bounded_amount() {
    use tally_node::epcis::search::{self, Limits, SearchError};
    use tally_sdk::epcis::query::EventQuery;

    let node = TestNode::start("");
    let app = node.app();
    // Four captures: record times differ between them (and may tie within one).
    for first in [1, 11, 21, 31] {
        capture_ok(&app, &document(forty_events(first, 10))).await;
    }
    let whole = |query: String| {
        let app = app.clone();
        async move {
            let uri = format!("/epcis/events?{query}&maxEventCount=1000&perPage=1000");
            let reply = get(&app, &uri).await;
            assert!(reply.headers.get(header::LINK).is_none(), "{uri}");
            event_list(&reply)
        }
    };
    let by_record_time = whole("orderBy=recordTime&orderDirection=ASC".into()).await;
    assert_eq!(by_record_time.len(), 40);
    let record_time = |i: usize| encode(by_record_time[i]["recordTime"].as_str().unwrap());
    let queries = vec![
        String::new(),
        "EQ_action=OBSERVE".into(),
        "orderBy=eventTime".into(),
        "orderBy=eventTime&orderDirection=ASC".into(),
        "orderBy=recordTime".into(),
        "orderBy=recordTime&orderDirection=ASC".into(),
        format!("GE_recordTime={}", record_time(12)),
        format!(
            "GE_recordTime={}&LT_recordTime={}&orderBy=recordTime",
            record_time(5),
            record_time(33)
        ),
        format!("MATCH_epc={}|{}", encode(A1), encode(A2)),
        format!("MATCH_epc={}|{}&orderBy=eventTime", encode(A1), encode(A2)),
        "EQ_bizStep=shipping|packing&GE_eventTime=2026-04-01T09:00:00Z".into(),
        "EQ_bizStep=shipping|packing&orderBy=eventTime&EQ_action=ADD".into(),
        "orderBy=recordTime&orderDirection=ASC&eventCountLimit=7".into(),
        "orderBy=eventTime&eventCountLimit=11".into(),
        "EQ_action=DELETE&orderBy=recordTime&orderDirection=ASC".into(),
    ];
    for query in &queries {
        // eventCountLimit and maxEventCount exclude each other: the whole answer, cut.
        let (rest, limit) = match query.split_once("eventCountLimit=") {
            Some((rest, limit)) => (rest.trim_end_matches('&'), limit.parse().unwrap()),
            None => (query.as_str(), usize::MAX),
        };
        let mut expected = numbers(&whole(rest.to_owned()).await);
        expected.truncate(limit);
        assert!(!expected.is_empty(), "{query}");
        for per_page in [1, 3, 8] {
            assert_eq!(
                walked(&app, query, per_page).await,
                expected,
                "{query} with perPage={per_page}"
            );
        }
    }

    // A page reads at most `read_per_page` index rows: the five DELETE events among forty
    // come in pages, some short or empty, each with a token to go on.
    let store: &dyn tally_node::store::Store = node.node.as_ref().unwrap().store().as_ref();
    let book = node.node.as_ref().unwrap().book().clone();
    let limits = Limits {
        candidates: 10,
        read_per_page: 4,
    };
    let raw = "EQ_action=DELETE&perPage=2";
    let fingerprint = search::fingerprint(raw, "/epcis/events");
    let mut query = EventQuery::parse_query_string(raw).unwrap();
    let mut found = Vec::new();
    let mut pages = 0;
    let mut short_with_token = 0;
    loop {
        let page = search::search_within(store, &book, &query, None, &fingerprint, limits).unwrap();
        pages += 1;
        if page.events.len() < 2 && page.next_token.is_some() {
            short_with_token += 1;
        }
        found.extend(numbers(&page.events));
        match page.next_token {
            Some(token) => query.next_page_token = Some(token),
            None => break,
        }
        assert!(pages < 100, "the pages must end");
    }
    assert_eq!(found, numbers(&whole("EQ_action=DELETE".into()).await));
    assert_eq!(found.len(), 5);
    assert!(
        pages >= 40 / 4,
        "{pages} pages read forty rows four at a time"
    );
    assert!(short_with_token > 0);

    // Past `candidates`, a query read whole is refused; walked, the same query is not.
    let raw = "EQ_action=DELETE&maxEventCount=100";
    let query = EventQuery::parse_query_string(raw).unwrap();
    let refused = search::search_within(
        store,
        &book,
        &query,
        None,
        &search::fingerprint(raw, "/epcis/events"),
        limits,
    );
    assert!(
        matches!(refused, Err(SearchError::TooComplex)),
        "{refused:?}"
    );

    // A token of another query, or a damaged one, is refused.
    let reply = get(&app, "/epcis/events?perPage=3").await;
    let token = next_token(&reply);
    // A token is the client's to forge: one claiming a huge count returned so far is
    // answered (the count only limits eventCountLimit), not a crash.
    let (bound, _) = token.rsplit_once('.').unwrap();
    let reply = get(
        &app,
        &format!(
            "/epcis/events?perPage=3&nextPageToken={bound}.{}",
            usize::MAX
        ),
    )
    .await;
    assert_eq!(event_list(&reply).len(), 3);
    for bad in [
        format!("/epcis/events?EQ_action=ADD&nextPageToken={token}"),
        format!("/epcis/events?perPage=3&nextPageToken={token}.1"),
        format!(
            "/epcis/events?perPage=3&nextPageToken={}",
            token.replace('.', "x")
        ),
    ] {
        let reply = get(&app, &bad).await;
        epcis_problem(&reply, StatusCode::BAD_REQUEST, "QueryParameterException");
    }
}

/// Issue 23: an event captured with an `eventID` of its own is found by its Event Hash ID as
/// well, and the same event captured again under a new `eventID` (a client's system that
/// re-imports its events with fresh ids) is a duplicate, not a second record. Another
/// `errorDeclaration` is a new statement and is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_found_by_its_hash_id_and_a_renamed_copy_is_a_duplicate() {
    let node = TestNode::start("");
    let app = node.app();
    let events = six_events();
    capture_ok(&app, &document(events.clone())).await;
    let before = entries(&app).await;
    let hash_ids = document_event_hash_ids(&document(events.clone())).unwrap();
    for (n, hash_id) in hash_ids.iter().enumerate() {
        let own = id(n as u32 + 1);
        find(&app, hash_id, hash_id, Some(&own), "by its hash ID").await;
        find(&app, &own, hash_id, Some(&own), "by its eventID").await;
    }

    let renamed: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            let mut event = event.clone();
            event["eventID"] = json!(id(100 + n as u32));
            event
        })
        .collect();
    let job = capture_ok(&app, &document(renamed.clone())).await;
    assert_eq!(job["tally:recorded"], 0, "{job}");
    assert_eq!(job["tally:duplicates"], 6, "{job}");
    assert_eq!(entries(&app).await, before);
    // The renamed ids name nothing: the copies were not recorded.
    let reply = get(&app, &format!("/epcis/events/{}", encode(&id(100)))).await;
    epcis_problem(&reply, StatusCode::NOT_FOUND, "NoSuchResourceException");

    let mut declared = renamed[0].clone();
    declared["errorDeclaration"] =
        json!({"declarationTime": "2026-03-02T08:00:00Z", "reason": "incorrect_data"});
    let job = capture_ok(&app, &document(vec![declared])).await;
    assert_eq!(job["tally:recorded"], 1, "{job}");
}

/// Events `first..first + count`, no two alike (each observed at its own second).
fn distinct_events(first: u32, count: u32) -> Vec<Value> {
    (first..first + count)
        .map(|n| {
            json!({"type": "ObjectEvent", "eventID": id(n), "action": "OBSERVE",
                "eventTime": format!("2026-04-02T08:{:02}:{:02}Z", n / 60, n % 60),
                "eventTimeZoneOffset": "+00:00", "epcList": [A1], "bizStep": "inspecting"})
        })
        .collect()
}

/// Captures run side by side (`tally_node::epcis::inflight`): documents that share events,
/// sent at once, record each event once, whatever order their plans and writes take, and each
/// job counts the shared events it did not record as duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_sent_at_once_record_each_shared_event_once() {
    let node = TestNode::start("");
    let app = node.app();
    let before = entries(&app).await;
    for round in 0..4u32 {
        // Eight documents of twenty events, each sharing ten with the next: 90 events.
        let first = 1 + round * 100;
        let captures: Vec<_> = (0..8u32)
            .map(|k| {
                let app = app.clone();
                let bytes =
                    serde_json::to_vec(&document(distinct_events(first + 10 * k, 20))).unwrap();
                tokio::spawn(async move { capture_bytes(&app, bytes).await })
            })
            .collect();
        let mut recorded = 0;
        for capture in captures {
            let reply = capture.await.unwrap();
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
            let job = &reply.body;
            assert_eq!(job["success"], true, "{job}");
            let counted = job["tally:recorded"].as_u64().unwrap();
            assert_eq!(
                counted + job["tally:duplicates"].as_u64().unwrap(),
                20,
                "{job}"
            );
            recorded += counted;
        }
        assert_eq!(
            recorded, 90,
            "round {round}: events recorded by the eight jobs"
        );
    }
    assert_eq!(entries(&app).await, before + 4 * 90);
}

#[tokio::test]
async fn header_master_data_is_named_in_the_job_as_not_recorded() {
    let node = TestNode::start("");
    let app = node.app();
    let mut with_header = document(six_events());
    with_header["epcisHeader"] = json!({"epcisMasterData": {"vocabularyList": [{
        "type": "urn:epcglobal:epcis:vtype:EPCClass",
        "vocabularyElementList": [{
            "id": "urn:epc:idpat:sgtin:9506000.013435.*",
            "attributes": [{"id": "urn:epcglobal:cbv:mda#descriptionShort", "attribute": "Sofa"}]
        }]
    }]}});
    let job = capture_ok(&app, &with_header).await;
    // The events are recorded; the header's vocabulary is not, and the client is told so.
    assert_eq!(job["tally:recorded"], 6, "{job}");
    let not_recorded = job["tally:notRecorded"].as_array().expect("listed");
    assert_eq!(not_recorded.len(), 1, "{job}");
    assert_eq!(not_recorded[0]["path"], "$.epcisHeader.epcisMasterData");
    assert!(
        not_recorded[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ilmd")),
        "{job}"
    );
    // A document without one says nothing of it.
    let job = capture_ok(&app, &document(six_events())).await;
    assert_eq!(job["tally:duplicates"], 6, "{job}");
    assert!(job.get("tally:notRecorded").is_none(), "{job}");
}
