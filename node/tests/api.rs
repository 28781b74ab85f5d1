//! The HTTP API through `app()`, without sockets: every route, every class of error, and the
//! rule that a refused request changes nothing. The node under test is real (RocksDB in a
//! temporary directory, the writer thread, the demo consortium); it writes as the
//! manufacturer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use common::percent_encode as encode;

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tally_node::Node;
use tally_node::api::app;
use tally_node::config::{Config, UserConfig};
use tally_node::store::Store;
use tally_node::store::rocks::RocksStore;
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tower::ServiceExt;

const WRITER: &str = "0123456789abcdef0123456789abcdef-erp";
const READER: &str = "fedcba9876543210fedcba9876543210-audit";

struct TestNode {
    _dir: tempfile::TempDir,
    node: Option<Node>,
}

impl TestNode {
    fn start(limits: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = common::demo_node_dir(
            dir.path(),
            &format!(
                "{limits}\n\
                 [[tokens]]\nname = \"erp\"\nsecret = \"{WRITER}\"\nscope = \"member\"\n\
                 [[tokens]]\nname = \"audit\"\nsecret = \"{READER}\"\nscope = \"read\"\nrole = \"auditor\"\n"
            ),
        );
        let config: Config = UserConfig::from_file(&path)
            .unwrap()
            .validate(dir.path())
            .unwrap();
        let node = Node::open(config).unwrap();
        Self {
            _dir: dir,
            node: Some(node),
        }
    }

    fn app(&self) -> Router {
        app(self.node.as_ref().unwrap().api_state())
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Closes the store on this thread, so no RocksDB handle outlives the test; returns the
    /// directory, which is deleted when dropped.
    fn stop(mut self) -> tempfile::TempDir {
        self.node.take().unwrap().shutdown();
        self._dir
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
    text: String,
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Reply {
    call_typed(app, method, uri, token, "application/json", body).await
}

async fn call_typed(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
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
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        content_type,
        body,
        text,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, Some(READER), None).await
}

async fn post(app: &Router, uri: &str, body: &Value) -> Reply {
    call(
        app,
        Method::POST,
        uri,
        Some(WRITER),
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// Checks a refusal is problem+json with this status, and returns its body.
fn problem(reply: &Reply, status: StatusCode) -> &Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], status.as_u16());
    assert!(reply.body["type"].as_str().unwrap().starts_with("https://"));
    assert!(!reply.body["detail"].as_str().unwrap().is_empty());
    &reply.body
}

fn inspection(serial: u64, minute: u64, disposition: &str) -> Value {
    common::event("inspecting", disposition, serial, minute)
}

#[tokio::test]
async fn an_event_is_recorded_and_read_back_by_every_route() {
    let node = TestNode::start("");
    let app = node.app();
    let mut event = common::event("assembling", "in_progress", 7, 0);
    event["private"] = json!({"order.spec": {"engraving": "For Ada"}});
    let reply = post(&app, "/v1/events", &event).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let receipt = &reply.body["entries"][0];
    assert_eq!(receipt["author"], "manufacturer");
    assert_eq!(receipt["seq"], 0);
    assert_eq!(receipt["duplicate"], false);
    let hash = receipt["hash"].as_str().unwrap().to_owned();

    // By hash: the signed entry verifies with the SDK alone, and carries no private value.
    let reply = get(&app, &format!("/v1/entries/{hash}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["status"], "verified");
    assert_eq!(reply.body["kind"], "production_step");
    assert!(!reply.text.contains("For Ada"));
    let entry: SignedEntry = serde_json::from_value(reply.body["entry"].clone()).unwrap();
    let genesis = node.node().genesis().clone();
    let verified = Verifier::new(&genesis, Timestamp::now())
        .verify(entry, None)
        .unwrap();
    assert_eq!(verified.hash().to_hex(), hash);
    assert!(verified.body().private.is_some());
    // The auditor's read token sees the field exists, not its value; the member's token (the
    // author's) reads it.
    assert_eq!(
        reply.body["private"],
        json!([{"name": "order.spec", "state": "withheld"}])
    );
    let mine = call(
        &app,
        Method::GET,
        &format!("/v1/entries/{hash}"),
        Some(WRITER),
        None,
    )
    .await;
    assert_eq!(
        mine.body["private"],
        json!([{"name": "order.spec", "state": "shown", "value": {"engraving": "For Ada"}}])
    );

    // The product's history, by EPC URI and by Digital Link.
    for id in [
        "urn:epc:id:sgtin:9506000.013435.C2M-7".to_owned(),
        common::product(7),
    ] {
        let reply = get(&app, &format!("/v1/products/{}/history", encode(&id))).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.text);
        let items = reply.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{id}");
        assert_eq!(items[0]["hash"], hash.as_str());
        assert!(reply.body.get("next").is_none());
    }
    let reply = get(
        &app,
        &format!("/v1/products/{}/history", encode(&common::product(8))),
    )
    .await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 0);

    // The chain, the heads, search, health and metrics.
    let reply = get(&app, "/v1/chains/manufacturer").await;
    assert_eq!(reply.body["items"][0]["hash"], hash.as_str());
    let reply = get(&app, "/v1/heads").await;
    assert_eq!(
        reply.body,
        json!({"heads": [{"member": "manufacturer", "seq": 0, "hash": hash}]})
    );
    for query in [
        "kind=production_step",
        "bizStep=assembling",
        "bizStep=urn:epcglobal:cbv:bizstep:assembling",
        "disposition=in_progress",
        "from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z",
        "kind=production_step&disposition=in_progress",
    ] {
        let reply = get(&app, &format!("/v1/events?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        assert_eq!(reply.body["items"].as_array().unwrap().len(), 1, "{query}");
    }
    for query in [
        "kind=delivery",
        "bizStep=shipping",
        "kind=production_step&disposition=damaged",
        "from=2026-03-02T00:00:00Z",
    ] {
        let reply = get(&app, &format!("/v1/events?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        assert_eq!(reply.body["items"].as_array().unwrap().len(), 0, "{query}");
    }
    let reply = call(&app, Method::GET, "/health", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["entries"], 1);
    assert_eq!(reply.body["member"], "manufacturer");
    let reply = call(&app, Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type.starts_with("text/plain"));
    assert!(
        reply.text.contains("tally_entries_stored_total 1"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("tally_entries 1"), "{}", reply.text);
    assert!(
        reply.text.contains(
            "tally_http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"201\"} 1"
        ),
        "{}",
        reply.text
    );
    drop(app);
    node.stop();
}

#[tokio::test]
async fn batches_are_acknowledged_in_order_and_every_list_pages() {
    let node = TestNode::start("");
    let app = node.app();
    let events: Vec<Value> = (0..25)
        .map(|minute| inspection(1, minute, "conformant"))
        .collect();
    let reply = post(&app, "/v1/events", &Value::Array(events)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let receipts = reply.body["entries"].as_array().unwrap();
    let seqs: Vec<u64> = receipts
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..25).collect::<Vec<_>>());
    let hashes: Vec<&str> = receipts
        .iter()
        .map(|r| r["hash"].as_str().unwrap())
        .collect();

    let product = encode(&common::product(1));
    for base in [
        format!("/v1/products/{product}/history?"),
        "/v1/events?kind=quality_inspection&".to_owned(),
        "/v1/chains/manufacturer?".to_owned(),
    ] {
        let mut seen = Vec::new();
        let mut uri = format!("{base}limit=10");
        let mut pages = 0;
        loop {
            let reply = get(&app, &uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
            pages += 1;
            for item in reply.body["items"].as_array().unwrap() {
                seen.push(item["hash"].as_str().unwrap().to_owned());
            }
            match reply.body.get("next") {
                Some(next) => uri = format!("{base}limit=10&cursor={}", next.as_str().unwrap()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{base}");
        // Event times increase with the sequence number, so every order agrees.
        assert_eq!(seen, hashes, "{base}");
    }
    drop(app);
    node.stop();
}

#[tokio::test]
async fn entries_signed_elsewhere_are_verified_stored_and_resent_safely() {
    let node = TestNode::start("");
    let app = node.app();
    let (genesis, keys) = common::demo();
    let supplier = common::chain(&genesis, &keys[2], 0, 3, None);
    let body = serde_json::to_value(&supplier).unwrap();
    let reply = post(&app, "/v1/entries", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["entries"][2]["author"], "supplier");
    // Sent again: acknowledged again, nothing new.
    let reply = post(&app, "/v1/entries", &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["duplicate"] == true)
    );

    // A different entry at a stored place is a conflict (409), and the stored one is kept.
    let other = common::chain_of(&genesis, &keys[2], 0, 1, None, |_| {
        common::event("packing", "in_progress", 99, 5)
    });
    let reply = post(&app, "/v1/entries", &serde_json::to_value(&other).unwrap()).await;
    let body = problem(&reply, StatusCode::CONFLICT);
    assert_eq!(body["errors"][0]["index"], 0);
    let stored = get(
        &app,
        &format!("/v1/entries/{}", supplier[0].hash().unwrap()),
    )
    .await;
    assert_eq!(stored.status, StatusCode::OK);

    // A forged signature is invalid (422), and nothing of its request is stored.
    let last = supplier[2].hash().unwrap();
    let mut forged = common::chain(&genesis, &keys[2], 3, 2, Some(last));
    forged[1].signature = forged[0].signature;
    let reply = post(&app, "/v1/entries", &serde_json::to_value(&forged).unwrap()).await;
    let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    assert_eq!(body["errors"][0]["index"], 1);
    let reply = get(&app, "/v1/chains/supplier").await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 3);
    // A role may only write its own kinds: logistics may not record a production step.
    let logistics = common::chain(&genesis, &keys[3], 0, 1, None);
    let reply = post(
        &app,
        "/v1/entries",
        &serde_json::to_value(&logistics).unwrap(),
    )
    .await;
    problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    drop(app);
    node.stop();
}

#[tokio::test]
async fn every_class_of_bad_request_gets_a_problem_and_changes_nothing() {
    let node = TestNode::start("[limits]\nmax_body_bytes = 4096\nmax_batch = 3\n");
    let app = node.app();
    let good = common::event("assembling", "in_progress", 1, 0);
    let reply = post(&app, "/v1/events", &good).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let heads_before = get(&app, "/v1/heads").await.body;

    // Tokens.
    let reply = call(&app, Method::GET, "/v1/heads", None, None).await;
    problem(&reply, StatusCode::UNAUTHORIZED);
    let reply = call(
        &app,
        Method::GET,
        "/v1/heads",
        Some("not-a-token-of-this-node-at-all!!"),
        None,
    )
    .await;
    problem(&reply, StatusCode::UNAUTHORIZED);
    let body = Some(good.to_string().into_bytes());
    let reply = call(&app, Method::POST, "/v1/events", Some(READER), body).await;
    problem(&reply, StatusCode::FORBIDDEN);

    // Bodies.
    let reply = call(
        &app,
        Method::POST,
        "/v1/events",
        Some(WRITER),
        Some(b"{\"type\":".to_vec()),
    )
    .await;
    problem(&reply, StatusCode::BAD_REQUEST);
    let reply = call_typed(
        &app,
        Method::POST,
        "/v1/events",
        Some(WRITER),
        "text/plain",
        Some(good.to_string().into_bytes()),
    )
    .await;
    problem(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut huge = good.clone();
    huge["example:note"] = json!("x".repeat(5000));
    let reply = post(&app, "/v1/events", &huge).await;
    problem(&reply, StatusCode::PAYLOAD_TOO_LARGE);
    let four = Value::Array(vec![good.clone(); 4]);
    let reply = post(&app, "/v1/events", &four).await;
    problem(&reply, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = post(&app, "/v1/events", &json!([])).await;
    problem(&reply, StatusCode::BAD_REQUEST);
    // The body must be JSON as a whole, whichever item breaks it, and nothing may follow it.
    for broken in [
        &b"[{\"type\":\"ObjectEvent\"}, {\"type\":"[..],
        b"{} and more",
        b"[\"\xff\"]",
    ] {
        let reply = call(
            &app,
            Method::POST,
            "/v1/events",
            Some(WRITER),
            Some(broken.to_vec()),
        )
        .await;
        problem(&reply, StatusCode::BAD_REQUEST);
    }
    // An array laid out with spaces is still split into its items, each named when refused.
    let reply = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(WRITER),
        Some(b" \n [ \"an entry?\" , 7 ] \n".to_vec()),
    )
    .await;
    let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 0);
    assert_eq!(body["errors"][1]["index"], 1);

    // Invalid events: each refused item is named with its field; the good one is not stored.
    let mut bad_time = good.clone();
    bad_time["eventTime"] = json!("yesterday");
    let mut bad_private = good.clone();
    bad_private["private"] = json!({"consumer.shoe_size": 42});
    let reply = post(&app, "/v1/events", &json!([good, bad_time, bad_private])).await;
    let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["field"], "$.eventTime");
    assert_eq!(body["errors"][1]["index"], 2);
    assert_eq!(body["errors"][1]["field"], "$.private");
    let reply = post(&app, "/v1/events", &json!("just a string")).await;
    let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "$");
    let mut not_permitted = good.clone();
    not_permitted["bizStep"] = json!("retail_selling");
    not_permitted["tally:kind"] = json!("order");
    let reply = post(&app, "/v1/events", &not_permitted).await;
    problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = post(&app, "/v1/entries", &json!([{"body": 1}])).await;
    problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);

    // Reads.
    let zero = "00".repeat(32);
    problem(
        &get(&app, &format!("/v1/entries/{zero}")).await,
        StatusCode::NOT_FOUND,
    );
    problem(&get(&app, "/v1/entries/xyz").await, StatusCode::BAD_REQUEST);
    problem(
        &get(&app, &format!("/v1/entries/{zero}/witness")).await,
        StatusCode::NOT_FOUND,
    );
    problem(
        &get(&app, "/v1/entries/xyz/witness").await,
        StatusCode::BAD_REQUEST,
    );
    problem(&get(&app, "/v1/chains/nobody").await, StatusCode::NOT_FOUND);
    problem(
        &get(&app, "/v1/chains/Not%20An%20Id").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/chains/manufacturer?cursor=abc").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/products/not-a-gtin/history").await,
        StatusCode::BAD_REQUEST,
    );
    let check_digit_wrong = encode("https://id.gs1.org/01/09506000134353/21/X");
    problem(
        &get(&app, &format!("/v1/products/{check_digit_wrong}/history")).await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?kind=lunch").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?bizstep=shipping").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?from=monday").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?limit=0").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?limit=1001").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?cursor=zz").await,
        StatusCode::BAD_REQUEST,
    );
    problem(
        &get(&app, "/v1/events?bizStep=shipping&cursor=00").await,
        StatusCode::BAD_REQUEST,
    );
    problem(&get(&app, "/v1/nothing-here").await, StatusCode::NOT_FOUND);
    let reply = call(&app, Method::DELETE, "/v1/heads", Some(WRITER), None).await;
    problem(&reply, StatusCode::METHOD_NOT_ALLOWED);

    assert_eq!(get(&app, "/v1/heads").await.body, heads_before);
    drop(app);
    node.stop();
}

#[tokio::test]
async fn a_backup_holds_what_was_stored_when_it_was_made_and_opens_as_a_checked_store() {
    let node = TestNode::start("");
    let app = node.app();
    let mut before = Vec::new();
    for serial in 0..3 {
        let reply = post(
            &app,
            "/v1/events",
            &inspection(serial, serial, "conformant"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        before.push(
            reply.body["entries"][0]["hash"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    // Only the member's token may ask for a backup.
    let reply = call(&app, Method::POST, "/v1/backups", None, None).await;
    problem(&reply, StatusCode::UNAUTHORIZED);
    let reply = call(&app, Method::POST, "/v1/backups", Some(READER), None).await;
    problem(&reply, StatusCode::FORBIDDEN);
    let reply = call(&app, Method::GET, "/v1/backups", Some(WRITER), None).await;
    problem(&reply, StatusCode::METHOD_NOT_ALLOWED);

    let reply = call(&app, Method::POST, "/v1/backups", Some(WRITER), None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["entries"], 3);
    assert_eq!(reply.body["chains"], 1);
    assert!(reply.body["bytes"].as_u64().unwrap() > 0);
    let name = reply.body["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("tally-"), "{name}");
    let path = std::path::PathBuf::from(reply.body["path"].as_str().unwrap());
    // The default backup directory is beside the data directory.
    assert_eq!(path, node.dir().join("backups").join(&name));

    // Writes after the backup are not in it.
    let reply = post(&app, "/v1/events", &inspection(3, 3, "conformant")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let network = node.node().genesis().network_id();
    drop(app);
    let _dir = node.stop();

    let (backup, report) = RocksStore::open(&path, network).unwrap();
    assert!(!report.created);
    assert_eq!(report.heads.len(), 1);
    assert_eq!(report.heads[0].tip.seq, 2);
    assert_eq!(report.heads[0].tip.hash.to_string(), before[2]);
    for hash in &before {
        let hash: EntryHash = hash.parse().unwrap();
        assert!(backup.entry(&hash).unwrap().is_some());
    }
    // A node started from it signs nothing before it has caught up with its own chain.
    assert!(backup.restored().unwrap());
    drop(backup);
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let node = TestNode::start("");
    let app = node.app();
    let reply = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/events",
        "/v1/entries",
        "/v1/entries/{hash}",
        "/v1/chains/{member}",
        "/v1/products/{id}/history",
        "/v1/heads",
        "/health",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            reply.body["paths"].get(path).is_some(),
            "{path} is not documented"
        );
    }
    let generated = tally_node::api::openapi::document().unwrap();
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/openapi.json is not the API's document: run scripts/regenerate.sh and commit it"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&generated).unwrap(),
        reply.body
    );
    drop(app);
    node.stop();
}

/// Issue 21: a consumer's name sent as `tally:private` (the spelling EPCIS capture uses) to
/// `POST /v1/events` was signed into the public entry, replicated and never purgeable; a typo
/// in a `tally:` field name did the same. Now both spellings mean private fields on this
/// route, and any other `tally:` member is refused before anything is signed.
#[tokio::test]
async fn no_spelling_of_a_private_field_ends_up_in_a_public_entry() {
    let node = TestNode::start("");
    let app = node.app();
    let canary = "Ada Canary-7f3e";
    let with = |member: &str, value: Value| {
        let mut event = common::event("assembling", "in_progress", 7, 0);
        event[member] = value;
        event
    };
    // The EPCIS spelling: taken as private fields.
    let event = with("tally:private", json!({"order.spec": {"name": canary}}));
    let reply = post(&app, "/v1/events", &event).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let hash = reply.body["entries"][0]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = get(&app, &format!("/v1/entries/{hash}")).await;
    assert!(!reply.text.contains("Canary"), "{}", reply.text);
    assert_eq!(
        reply.body["private"],
        json!([{"name": "order.spec", "state": "withheld"}])
    );
    let stored = node
        .node()
        .store()
        .entry(&hash.parse().unwrap())
        .unwrap()
        .unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("Canary"));

    // Typos and unknown members of the namespace, at the top or nested, and both spellings at
    // once: refused with 422 naming the member, nothing signed.
    let mut nested = common::event("assembling", "in_progress", 8, 0);
    nested["ilmd"] = json!({"tally:consumerName": canary});
    for (event, named) in [
        (
            with("tally:privat", json!({"order.spec": canary})),
            "tally:privat",
        ),
        (
            with("tally:consumer_name", json!(canary)),
            "tally:consumer_name",
        ),
        (nested, "tally:consumerName"),
        (
            {
                let mut both = with("private", json!({"order.spec": canary}));
                both["tally:private"] = json!({"order.spec": canary});
                both
            },
            "tally:private",
        ),
    ] {
        let reply = post(&app, "/v1/events", &event).await;
        let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.text.contains(named), "{body}");
    }
    let reply = get(&app, "/v1/chains/manufacturer").await;
    assert_eq!(
        reply.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("Canary"), "{}", reply.text);
    drop(app);
    node.stop();
}

/// Issue 21: every made-up HTTP method became a permanent metric label, so 200 requests with
/// 60 KB methods grew `/metrics` from 13 KB to 12 MB, without a token. Now labels come from a
/// closed set.
#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let node = TestNode::start("");
    let app = node.app();
    let before = call(&app, Method::GET, "/metrics", None, None)
        .await
        .text
        .len();
    for n in 0..200 {
        let method = Method::from_bytes(format!("X{n}{}", "M".repeat(2_000)).as_bytes()).unwrap();
        for uri in ["/epcis/events", "/v1/heads", &format!("/no/such/{n}")] {
            call(&app, method.clone(), uri, None, None).await;
        }
    }
    let after = call(&app, Method::GET, "/metrics", None, None).await;
    assert!(
        after.text.len() < before + 4_000,
        "{} bytes before, {} after:\n{}",
        before,
        after.text.len(),
        &after.text[..after.text.len().min(3_000)]
    );
    assert!(after.text.contains("method=\"other\""), "{}", after.text);
    drop(app);
    node.stop();
}

/// `POST /v1/governance/changes`: a change the founders approved is in force when the answer
/// comes (the consortium shown is the new one), sending it again changes nothing, and every
/// refusal is problem+json naming why: not a change (400), a read token (403), out of order
/// (409), too few founders (422).
#[tokio::test]
async fn a_governance_change_is_applied_while_the_node_runs() {
    use tally_sdk::membership::governance::{Action, ChangeBody, SignedChange};
    let node = TestNode::start("");
    let app = node.app();
    let (signed, keys) = tally_sdk::membership::template::demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let newcomer = tally_sdk::membership::keyfile::MemberKeys::generate(
        tally_sdk::ids::MemberId::new("courier").unwrap(),
    )
    .unwrap();
    let action = Action::AddMember(tally_sdk::membership::genesis::Member {
        id: newcomer.member.clone(),
        name: "Courier North Ltd.".into(),
        roles: vec![tally_sdk::ids::RoleName::new("logistics").unwrap()],
        founder: false,
        signing_key: newcomer.signing.public_key(),
        x25519_key: newcomer.x25519.public_key(),
        peer_id: newcomer.peer_id(),
        addresses: Vec::new(),
    });
    let body = ChangeBody::next(
        &genesis,
        Timestamp::now(),
        "a second carrier".into(),
        action,
    );
    let mut change = SignedChange::draft(body);
    change
        .approve(&genesis, &keys[0].member, &keys[0].signing)
        .unwrap();
    let path = "/v1/governance/changes";

    let reply = call(&app, Method::POST, path, Some(WRITER), Some(b"{}".to_vec())).await;
    problem(&reply, StatusCode::BAD_REQUEST);
    let value = serde_json::to_value(&change).unwrap();
    let reply = call(
        &app,
        Method::POST,
        path,
        Some(READER),
        Some(value.to_string().into_bytes()),
    )
    .await;
    problem(&reply, StatusCode::FORBIDDEN);
    let reply = post(&app, path, &value).await;
    let body = problem(&reply, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().contains("approv"),
        "{body}"
    );
    let mut later = change.clone();
    later.body.number = 2;
    let reply = post(&app, path, &serde_json::to_value(&later).unwrap()).await;
    problem(&reply, StatusCode::CONFLICT);

    for founder in &keys[1..3] {
        change
            .approve(&genesis, &founder.member, &founder.signing)
            .unwrap();
    }
    let value = serde_json::to_value(&change).unwrap();
    let reply = post(&app, path, &value).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["changes"][0]["member"], "courier");
    let reply = post(&app, path, &value).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let shown = get(&app, "/v1/governance").await;
    assert_eq!(shown.body["changes"].as_array().unwrap().len(), 1);
    assert_eq!(shown.body["last_change"], reply.body["last_change"]);
}

/// Issue 22: a chain's log over HTTP. The root, an inclusion proof and a consistency proof,
/// each checked with the SDK alone against what the node says; sizes and indexes outside the
/// chain are 400s, a stranger's chain a 404.
#[tokio::test]
async fn a_chains_log_proves_inclusion_and_consistency() {
    use tally_sdk::tlog::hash::LogHash;
    use tally_sdk::tlog::proof::{verify_consistency, verify_inclusion};
    let node = TestNode::start("");
    let app = node.app();
    let mut hashes = Vec::new();
    for serial in 0..5 {
        let events: Vec<Value> = (0..60)
            .map(|i| common::event("assembling", "in_progress", serial * 100 + i, i))
            .collect();
        let reply = post(&app, "/v1/events", &json!(events)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        for entry in reply.body["entries"].as_array().unwrap() {
            hashes.push(entry["hash"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(hashes.len(), 300);
    let hex = |value: &Value| LogHash::from_hex(value.as_str().unwrap()).unwrap();

    let now = get(&app, "/v1/chains/manufacturer/log").await;
    assert_eq!(now.status, StatusCode::OK, "{}", now.text);
    assert_eq!(now.body["size"], 300);
    let root = hex(&now.body["root"]);
    let older = get(&app, "/v1/chains/manufacturer/log?size=257").await;
    let older_root = hex(&older.body["root"]);

    let reply = get(&app, "/v1/chains/manufacturer/log/inclusion?index=256").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["entry"], json!(hashes[256]));
    let entry: EntryHash = hashes[256].parse().unwrap();
    let proof: Vec<LogHash> = reply.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex)
        .collect();
    verify_inclusion(&LogHash::entry_leaf(&entry), 256, 300, &proof, &root).unwrap();
    assert!(verify_inclusion(&LogHash::entry_leaf(&entry), 255, 300, &proof, &root).is_err());

    let reply = get(&app, "/v1/chains/manufacturer/log/consistency?from=257").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let proof: Vec<LogHash> = reply.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex)
        .collect();
    verify_consistency(257, 300, &proof, &older_root, &root).unwrap();

    for bad in [
        "/v1/chains/manufacturer/log?size=301",
        "/v1/chains/manufacturer/log/inclusion?index=300",
        "/v1/chains/manufacturer/log/inclusion?index=5&size=5",
        "/v1/chains/manufacturer/log/inclusion",
        "/v1/chains/manufacturer/log/consistency?from=0",
        "/v1/chains/manufacturer/log/consistency?from=20&to=10",
        "/v1/chains/platform/log/inclusion?index=0",
        "/v1/chains/Not%20A%20Member/log",
    ] {
        let reply = get(&app, bad).await;
        problem(&reply, StatusCode::BAD_REQUEST);
    }
    let reply = get(&app, "/v1/chains/mallory/log").await;
    problem(&reply, StatusCode::NOT_FOUND);
    let empty = get(&app, "/v1/chains/platform/log").await;
    assert_eq!(empty.body["size"], 0);
}
