//! Provenance, responsibility and evidence bundles through the API of a real node (RocksDB in
//! a temporary directory, the writer thread; it writes as the manufacturer and stores the
//! other members' chains as signed entries): the demo's story with a defect introduced in the
//! logistics firm's custody, one present at the factory's final inspection, one that the
//! evidence cannot place; bundles that verify with the SDK alone; the custody rule the
//! node applies to its own member's hand-overs; and the auditors' routes — scorecards, rejected
//! entries, period bundles — agreeing with the whole-ledger audit of the node's store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use common::DemoMembers;
use common::percent_encode as encode;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tally_node::Node;
use tally_node::api::app;
use tally_node::config::{Config, UserConfig};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::bundle::EvidenceBundle;
use tally_sdk::time::Timestamp;
use tower::ServiceExt;

const WRITER: &str = "0123456789abcdef0123456789abcdef-erp";
const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

struct TestNode {
    dir: Option<tempfile::TempDir>,
    node: Option<Node>,
}

impl TestNode {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = common::demo_node_dir(
            dir.path(),
            &format!("[[tokens]]\nname = \"erp\"\nsecret = \"{WRITER}\"\nscope = \"member\"\n"),
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
        if let Some(node) = self.node.take() {
            node.shutdown();
        }
        self.dir.take();
    }
}

async fn call(app: &Router, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {WRITER}"));
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The members' chains, signed step by step as the story goes, in the order they happen.
struct Story {
    members: DemoMembers,
    entries: Vec<SignedEntry>,
}

impl Story {
    fn new() -> Self {
        Self {
            members: DemoMembers::demo().unwrap(),
            entries: Vec::new(),
        }
    }

    fn record(&mut self, member: &str, event: Value) -> EntryHash {
        let at = Timestamp(1_772_900_000_000 + self.entries.len() as u64);
        self.record_at(member, event, at)
    }

    /// Records `event` as `member`'s node would at `at` (its record time).
    fn record_at(&mut self, member: &str, event: Value, at: Timestamp) -> EntryHash {
        let entry = self.members.write_at(member, event, at).unwrap();
        let hash = entry.hash().unwrap();
        self.entries.push(entry);
        hash
    }
}

fn at(day: u32, hour: u32) -> String {
    format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00")
}

/// A record time an hour after the event time `at`.
fn promptly(at: String) -> Timestamp {
    Timestamp(Timestamp::parse_rfc3339(&at).unwrap().0 + 3_600_000)
}

fn sofa(day: u32, hour: u32, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": at(day, hour), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

fn inspected(passed: bool) -> Value {
    json!({"bizStep": "inspecting",
        "disposition": if passed { "conformant" } else { "non_conformant" }})
}

/// The demo's story up to the sofa's receipt by logistics; `final_inspection` is the factory's
/// verdict. Returns the story and the hand-over to logistics.
fn story(final_inspection: bool) -> (Story, EntryHash) {
    let mut story = Story::new();
    let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
    story.record("platform", sofa(1, 9, json!({"tally:kind": "order"})));
    // The lot's commissioning and the sofa's assembly name what they made; recorded
    // promptly, so their names count (a backdated step names nothing).
    story.record_at(
        "supplier",
        json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": at(2, 10), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "ilmd": {"cbvmda:descriptionShort": "Linen"}}),
        promptly(at(2, 10)),
    );
    let lot_handed = story.record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "eventTime": at(3, 8), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:handOverTo": "manufacturer"}),
    );
    story.record_at(
        "manufacturer",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "eventTime": at(3, 16), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:receiptOf": lot_handed.to_hex()}),
        promptly(at(3, 16)),
    );
    story.record_at(
        "manufacturer",
        json!({"type": "TransformationEvent", "bizStep": "assembling",
            "eventTime": at(4, 14), "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": LOT, "quantity": 9, "uom": "MTR"}],
            "outputEPCList": [SOFA], "ilmd": {"cbvmda:descriptionShort": "Three-seat sofa"}}),
        promptly(at(4, 14)),
    );
    story.record("manufacturer", sofa(5, 15, inspected(final_inspection)));
    // The delivery date the factory passes on with the sofa binds logistics once it
    // acknowledges the hand-over.
    let handed = story.record(
        "manufacturer",
        sofa(
            6,
            16,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics",
                "tally:promisedDate": at(9, 18)}),
        ),
    );
    story.record(
        "logistics",
        sofa(
            6,
            18,
            json!({"bizStep": "receiving", "tally:receiptOf": handed.to_hex()}),
        ),
    );
    (story, handed)
}

/// The story after which logistics inspects the sofa on receipt (passed), then finds it
/// defective and delivers it late; the hand-over to logistics and the failed inspection.
fn defect_in_logistics_custody() -> (Story, EntryHash, EntryHash) {
    let (mut story, handed) = story(true);
    story.record("logistics", sofa(6, 19, inspected(true)));
    let failed = story.record("logistics", sofa(9, 20, inspected(false)));
    story.record(
        "logistics",
        sofa(
            10,
            11,
            json!({"bizStep": "arriving", "tally:kind": "delivery"}),
        ),
    );
    (story, handed, failed)
}

/// Stores the story in a fresh node; returns the node.
async fn node_with(story: &Story) -> TestNode {
    let node = TestNode::start();
    let (status, body) = call(
        &node.app(),
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(&story.entries).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    node
}

async fn report(app: &Router) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/v1/products/{}/responsibility", encode(SOFA)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn claims_of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["claims"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .collect()
}

/// The bundle of the sofa verifies with the SDK and the genesis alone, and proves the report
/// the API gives.
async fn check_bundle(app: &Router, genesis: &Consortium, report: &Value) {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/v1/products/{}/evidence", encode(SOFA)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bundle: EvidenceBundle = serde_json::from_value(body).unwrap();
    let verified = bundle.verify(genesis).unwrap();
    // Each answer is judged as of the moment it was made; the rest is the same.
    let mut proven = serde_json::to_value(&verified.report).unwrap();
    assert!(proven["as_of"].as_str() >= report["as_of"].as_str());
    proven["as_of"] = report["as_of"].clone();
    assert_eq!(&proven, report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defect_in_the_logistics_firms_custody_is_attributed_to_it() {
    let (story, handed, failed) = defect_in_logistics_custody();
    let node = node_with(&story).await;
    let app = node.app();

    let (status, provenance) = call(
        &app,
        Method::GET,
        &format!("/v1/products/{}/provenance", encode(SOFA)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{provenance}");
    let holders: Vec<&str> = provenance["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["holder"].as_str().unwrap())
        .collect();
    assert_eq!(holders, ["manufacturer", "logistics"]);
    assert_eq!(provenance["custody"][1]["since"][0], handed.to_hex());
    // Order, assembly, final inspection, hand-over, receipt, two inspections, delivery.
    assert_eq!(provenance["timeline"].as_array().unwrap().len(), 8);
    assert_eq!(provenance["inputs"][0]["product"], LOT);
    let lot_holders: Vec<&str> = provenance["inputs"][0]["provenance"]["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["holder"].as_str().unwrap())
        .collect();
    assert_eq!(lot_holders, ["supplier", "manufacturer"]);
    // Each timeline item with signer and witness status (a lone node has no witnesses).
    let first = &provenance["timeline"][0];
    assert_eq!(first["signer"], "platform");
    assert_eq!(first["witnessed"], false);

    let report = report(&app).await;
    let defects = claims_of(&report, "defect");
    assert_eq!(defects.len(), 1, "{report}");
    assert_eq!(defects[0]["responsible"], "logistics");
    assert!(
        defects[0]["entries"]
            .as_array()
            .unwrap()
            .contains(&json!(failed.to_hex()))
    );
    let late = claims_of(&report, "lateness");
    assert_eq!(late.len(), 1, "{report}");
    assert_eq!(late[0]["responsible"], "logistics");
    assert!(report["undetermined"].as_array().unwrap().is_empty());
    check_bundle(&app, &story.members.genesis, &report).await;
}

/// What other members' nodes send as attestations is untrusted: the node building a bundle
/// puts in only those that hold against its entries — not one signed with another key, not
/// one of another product, not one naming another entry at a place it holds — so a peer can
/// make a bundle less complete, never invalid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_carries_only_the_attestations_that_hold() {
    use tally_node::{attest, products};
    use tally_sdk::gs1::ProductId;
    use tally_sdk::reports::attestation::Attestation;

    let (story, _, _) = defect_in_logistics_custody();
    let node = node_with(&story).await;
    let running = node.node.as_ref().unwrap();
    let store = running.store().clone();
    let genesis = running.genesis();
    let product = ProductId::parse(SOFA).unwrap();
    let now = Timestamp::now();
    let attest_as = |member: &str| {
        let keys = story.members.keys(member).unwrap();
        attest::attest(
            store.as_ref(),
            &genesis,
            &keys.member,
            &keys.signing,
            &product,
            now,
        )
        .unwrap()
    };
    let honest: Vec<Attestation> = ["platform", "supplier", "regulator"]
        .iter()
        .map(|m| attest_as(m))
        .collect();
    // Logistics' name, the supplier's key.
    let mut forged = attest_as("logistics");
    forged.signature = attest_as("supplier").signature;
    // Another product.
    let keys = story.members.keys("manufacturer").unwrap();
    let other = attest::attest(
        store.as_ref(),
        &genesis,
        &keys.member,
        &keys.signing,
        &ProductId::parse(LOT).unwrap(),
        now,
    )
    .unwrap();
    // Another entry at a place where the node holds one: a history it does not hold.
    let mut rewritten = attest_as("manufacturer").body;
    rewritten.entries[0].hash = EntryHash::digest(b"another history");
    let rewritten = Attestation::sign(rewritten, &keys.signing).unwrap();

    let mut offered = honest.clone();
    offered.extend([forged, other, rewritten]);
    let view = attest::view(store.as_ref()).unwrap();
    let bundle = products::bundle(
        store.as_ref(),
        running.book(),
        &genesis,
        &product,
        now,
        view,
        offered,
    )
    .unwrap()
    .unwrap();
    assert_eq!(bundle.attestations, honest);
    let verified = bundle.verify(&genesis).unwrap();
    // The quorum is 3 members other than a chain's author: platform, supplier and regulator
    // attest the manufacturer's and logistics' chains, but each other's only by two.
    let gaps: Vec<&str> = verified
        .completeness
        .gaps()
        .map(|c| c.author.as_str())
        .collect();
    assert_eq!(gaps, vec!["platform", "regulator", "supplier"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_defect_present_at_the_factorys_final_inspection_is_attributed_to_the_factory() {
    let (story, _) = story(false);
    let node = node_with(&story).await;
    let app = node.app();
    let report = report(&app).await;
    let defects = claims_of(&report, "defect");
    assert_eq!(defects.len(), 1, "{report}");
    assert_eq!(defects[0]["responsible"], "manufacturer");
    assert!(report["undetermined"].as_array().unwrap().is_empty());
    check_bundle(&app, &story.members.genesis, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_evidence_leaves_responsibility_undetermined_with_the_reason() {
    let (mut story, handed) = story(true);
    // No inspection by logistics on receipt: the failure cannot be placed.
    story.record("logistics", sofa(9, 20, inspected(false)));
    let node = node_with(&story).await;
    let app = node.app();
    let report = report(&app).await;
    assert!(claims_of(&report, "defect").is_empty(), "{report}");
    let open = &report["undetermined"][0];
    assert_eq!(open["candidates"], json!(["manufacturer", "logistics"]));
    assert!(
        open["reason"]
            .as_str()
            .unwrap()
            .contains("no inspection between the hand-over and the failure"),
        "{open}"
    );
    assert!(
        open["entries"]
            .as_array()
            .unwrap()
            .contains(&json!(handed.to_hex()))
    );
    check_bundle(&app, &story.members.genesis, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_refuses_a_hand_over_of_an_item_its_member_no_longer_holds() {
    let (story, _) = story(true);
    let node = node_with(&story).await;
    let app = node.app();
    let before = call(&app, Method::GET, "/v1/heads", None).await.1;
    // The manufacturer handed the sofa to logistics, which acknowledged it.
    let again = sofa(
        7,
        9,
        json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
    );
    let (status, body) = call(&app, Method::POST, "/v1/events", Some(again)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "$.tally:handOverTo");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("logistics holds it"),
        "{body}"
    );
    assert_eq!(call(&app, Method::GET, "/v1/heads", None).await.1, before);
    // Through EPCIS capture too: the job fails, naming the event.
    let document = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"tally": "https://ns.tally.dev/epcis/"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": at(7, 9),
        "epcisBody": {"eventList": [
            sofa(7, 9, json!({"bizStep": "shipping", "tally:handOverTo": "platform"}))
        ]},
    });
    let (status, job) = call(&app, Method::POST, "/epcis/capture", Some(document)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["success"], false, "{job}");
    assert_eq!(job["errors"][0]["eventIndex"], 0);
    assert_eq!(call(&app, Method::GET, "/v1/heads", None).await.1, before);
    // An item the manufacturer does hold (the lot it received) it may hand over.
    let lot = json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
        "eventTime": at(7, 10), "eventTimeZoneOffset": "+08:00",
        "quantityList": [{"epcClass": LOT, "quantity": 31, "uom": "MTR"}],
        "tally:handOverTo": "supplier"});
    let (status, body) = call(&app, Method::POST, "/v1/events", Some(lot)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_invalid_products_are_refused() {
    let node = TestNode::start();
    let app = node.app();
    for route in ["provenance", "responsibility", "evidence"] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/v1/products/{}/{route}", encode(SOFA)),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}: {body}");
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/v1/products/not-a-key/{route}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{route}: {body}");
        assert_eq!(body["status"], 400);
    }
}

async fn page(app: &Router, path: &str, accept: &str) -> (StatusCode, String, String) {
    let request = Request::builder()
        .uri(path)
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_page_resolves_digital_links() {
    let (mut story, _) = story(true);
    story.record(
        "logistics",
        sofa(
            8,
            11,
            json!({"bizStep": "arriving", "tally:kind": "delivery"}),
        ),
    );
    let node = node_with(&story).await;
    let app = node.app();

    // The page: no token needed, the timeline in order, each line signed and marked.
    let (status, content_type, html) = page(&app, "/01/09506000134352/21/C2M-0001", HTML).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let lines: Vec<&str> = html.split("<li data-kind=").skip(1).collect();
    let whats: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.split("<div class=\"what\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        whats,
        [
            "Ordered",
            "Made: assembling",
            "Inspected: passed",
            "Shipped (handed over)",
            "Received",
            "Delivered (on time)"
        ]
    );
    assert!(
        lines[1].contains("signed by DEMO Factory Ltd. (demo only)"),
        "{}",
        lines[1]
    );
    assert!(
        lines[5].contains("DEMO Logistics Ltd. (demo only)"),
        "{}",
        lines[5]
    );
    assert!(html.contains("not yet witnessed"));
    // What the product is, as its maker named it, and its input by name and maker.
    assert!(html.contains("<h1>Three-seat sofa</h1>"), "{html}");
    assert!(
        html.contains("Named by DEMO Factory Ltd. (demo only), who made it."),
        "{html}"
    );
    assert!(
        html.contains(
            "<a href=\"/01/09506000134369/10/LINEN-2026-07\">Linen lot LINEN-2026-07</a>, \
             from DEMO Materials Inc."
        ),
        "{html}"
    );
    // Where auditors get the evidence, and how they check it.
    assert!(
        html.contains(
            "<code>/v1/products/https%3A%2F%2Fid.gs1.org%2F01%2F09506000134352%2F21%2FC2M-0001/evidence</code>"
        ),
        "{html}"
    );
    assert!(html.contains("<code>tally verify</code>"), "{html}");
    // Nothing is loaded from elsewhere, and no script runs.
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://") && !html.contains("src="),
        "{html}"
    );

    // The same as JSON; an EPC URI of the same key is the same product only through the API,
    // the page's path is the Digital Link.
    let (status, content_type, body) =
        page(&app, "/01/09506000134352/21/C2M-0001", "application/json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["product"], SOFA);
    assert_eq!(json["timeline"].as_array().unwrap().len(), 6);
    assert_eq!(json["timeline"][5]["what"], "Delivered (on time)");
    assert_eq!(
        json["made_from"],
        json!(["/01/09506000134369/10/LINEN-2026-07"])
    );
    assert_eq!(json["inputs"][0]["what"], "Linen lot LINEN-2026-07");
    assert_eq!(
        json["name"],
        json!({"name": "Three-seat sofa", "by": "DEMO Factory Ltd. (demo only)"})
    );
    assert!(json.get("other_names").is_none(), "{json}");
    assert!(
        json["inputs"][0]["from"]
            .as_str()
            .unwrap()
            .starts_with("DEMO Materials Inc."),
        "{json}"
    );

    // The lot's page.
    let (status, _, html) = page(&app, "/01/09506000134369/10/LINEN-2026-07", HTML).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("GTIN 09506000134369 · lot LINEN-2026-07"),
        "{html}"
    );

    // Invalid links: a wrong check digit, qualifiers out of order, a key that does not exist.
    for path in [
        "/01/09506000134353/21/C2M-0001",
        "/01/09506000134352/21/C2M-0001/10/LOT",
        "/01/0950600013435/21/C2M-0001",
        "/99/abc",
    ] {
        let (status, content_type, html) = page(&app, path, HTML).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {html}");
        assert!(content_type.starts_with("text/html"), "{path}");
        assert!(html.contains("not a valid product link"), "{path}: {html}");
        let (status, content_type, body) = page(&app, path, "application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(content_type, "application/problem+json", "{path}");
    }
    // A valid link no entry names.
    let (status, _, html) = page(&app, "/01/09506000134352/21/NOBODY", HTML).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("No record of this product"), "{html}");
    let (status, content_type, _) =
        page(&app, "/01/09506000134352/21/NOBODY", "application/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    // Paths that are not Digital Links stay the API's.
    let (status, content_type, _) = page(&app, "/v1/nothing-here", "application/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
}

/// Names another member gives a product do not replace its maker's: a member whose role may
/// not record production steps cannot name it, a name in an observation counts for nothing,
/// and a member that may make things and names the sofa is shown beside the maker, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_maker_names_a_product_and_rival_names_are_shown_signed() {
    let named = |mut event: Value, name: &str| {
        event["ilmd"] = json!({"cbvmda:descriptionShort": name});
        event
    };
    let (mut story, _) = story(true);
    story.record(
        "logistics",
        named(sofa(7, 9, json!({"bizStep": "storing"})), "Budget sofa"),
    );
    story.record(
        "supplier",
        named(
            sofa(5, 9, json!({"action": "ADD", "bizStep": "commissioning"})),
            "Linen sofa by Materials",
        ),
    );
    let node = node_with(&story).await;
    let app = node.app();

    // Logistics may not record production steps: its commissioning of the sofa is refused.
    let refused_at = story.entries.len();
    story.record(
        "logistics",
        named(
            sofa(7, 10, json!({"action": "ADD", "bizStep": "commissioning"})),
            "Logistics' sofa",
        ),
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(&story.entries[refused_at..]).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("logistics may not write production_step events"),
        "{body}"
    );

    let (status, _, body) = page(&app, "/01/09506000134352/21/C2M-0001", "application/json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["name"]["name"], "Three-seat sofa", "{json}");
    assert_eq!(
        json["other_names"],
        json!([{"name": "Linen sofa by Materials", "by": "DEMO Materials Inc. (demo only)"}])
    );
    let (_, _, html) = page(&app, "/01/09506000134352/21/C2M-0001", HTML).await;
    assert!(html.contains("<h1>Three-seat sofa</h1>"), "{html}");
    assert!(
        html.contains("Also named “Linen sofa by Materials” by DEMO Materials Inc. (demo only)."),
        "{html}"
    );
    assert!(!html.contains("Budget sofa") && !html.contains("Logistics' sofa"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_get_scorecards_rejected_entries_and_period_bundles() {
    let (mut story, _, _) = defect_in_logistics_custody();
    let node = node_with(&story).await;
    let app = node.app();
    let stored = story.entries.len() as u64;

    // The supplier signs an order, which its role may not write: refused, and kept.
    let order = story.record("supplier", sofa(11, 9, json!({"tally:kind": "order"})));
    let signed = story.entries.last().unwrap().clone();
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(vec![signed]).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, rejected) = call(&app, Method::GET, "/v1/rejected", None).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    let listed = rejected["rejected"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{rejected}");
    assert_eq!(listed[0]["member"], "supplier");
    assert_eq!(listed[0]["hash"], order.to_hex());
    assert!(
        listed[0]["rule"]
            .as_str()
            .unwrap()
            .contains("may not write"),
        "{rejected}"
    );
    let evidence: tally_sdk::audit::rejection::RejectedEntry =
        serde_json::from_value(listed[0]["rejected"].clone()).unwrap();
    let verifier = tally_sdk::verify::Verifier::new(&story.members.genesis, Timestamp::now());
    assert_eq!(evidence.verify(&verifier).unwrap().hash, order);

    // The scorecards.
    let scorecard = |member: &'static str| {
        let app = app.clone();
        async move {
            let (status, card) = call(
                &app,
                Method::GET,
                &format!("/v1/members/{member}/scorecard"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{card}");
            card
        }
    };
    let logistics = scorecard("logistics").await;
    assert_eq!(logistics["non_conformant_inspections"], 1, "{logistics}");
    assert_eq!(logistics["late_deliveries"], 1, "{logistics}");
    assert_eq!(logistics["findings"][0]["product"], SOFA);
    let supplier = scorecard("supplier").await;
    assert_eq!(supplier["rejected_entries"], 1, "{supplier}");
    assert_eq!(supplier["findings"][0]["entries"][0], order.to_hex());
    assert_eq!(scorecard("manufacturer").await["findings"], json!([]));
    for (path, expected) in [
        ("/v1/members/courier/scorecard", StatusCode::NOT_FOUND),
        (
            "/v1/members/Not%20an%20id/scorecard",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, body) = call(&app, Method::GET, path, None).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    // The whole-ledger audit of the node's store agrees with the API.
    let state = node.node.as_ref().unwrap().api_state();
    let mut source = tally_node::audit::StoreSource::new(state.store().as_ref(), state.book());
    let summary = tally_sdk::audit::audit(
        &mut source,
        &story.members.genesis,
        Timestamp::now(),
        &mut |_| {},
    )
    .unwrap();
    assert!(summary.verified(), "{:?}", summary.failures_listed);
    assert_eq!(summary.entries, stored);
    assert_eq!(summary.rejected, 1);
    let audited = |member: &str| {
        serde_json::to_value(
            summary
                .scorecards
                .iter()
                .find(|c| c.member.as_str() == member)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(audited("logistics"), logistics);
    assert_eq!(audited("supplier"), supplier);

    // A period bundle of everything, and one of a period with nothing in it.
    let period = |from: &str, to: &str| {
        let app = app.clone();
        let uri = format!("/v1/audit/period?from={from}&to={to}");
        async move { call(&app, Method::GET, &uri, None).await }
    };
    let (status, body) = period("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bundle: tally_sdk::audit::period::PeriodBundle = serde_json::from_value(body).unwrap();
    let checked = bundle.verify(&story.members.genesis).unwrap();
    assert_eq!(checked.entries, stored);
    assert_eq!(checked.chains.len(), 4);
    assert!(bundle.chains.iter().all(|c| c.before.is_none()));
    let (status, body) = period("2100-01-01T00:00:00Z", "2100-01-02T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bundle: tally_sdk::audit::period::PeriodBundle = serde_json::from_value(body).unwrap();
    assert_eq!(bundle.verify(&story.members.genesis).unwrap().entries, 0);
    assert!(bundle.chains.iter().all(|c| c.before.is_some()));
    for (from, to) in [
        ("2026-01-01T00:00:00Z", ""),
        ("yesterday", "2026-01-01T00:00:00Z"),
        ("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ] {
        let uri = if to.is_empty() {
            format!("/v1/audit/period?from={from}")
        } else {
            format!("/v1/audit/period?from={from}&to={to}")
        };
        let (status, body) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }
}

/// Stores `entries` in a fresh node, one request each; returns the node.
async fn node_with_each(entries: &[SignedEntry]) -> TestNode {
    let node = TestNode::start();
    for entry in entries {
        let (status, body) = call(
            &node.app(),
            Method::POST,
            "/v1/entries",
            Some(serde_json::to_value(entry).unwrap()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backdated_inspection_by_a_non_holder_blames_no_one() {
    // The attack: long after the sofa was delivered, logistics signs a failing inspection
    // dated inside the factory's custody, when logistics never held it.
    let (mut story, _) = story(true);
    story.record("logistics", sofa(8, 11, json!({"tally:kind": "delivery"})));
    let lie = story.record_at("logistics", sofa(5, 17, inspected(false)), Timestamp::now());
    let node = node_with(&story).await;
    let app = node.app();
    let report = report(&app).await;
    assert!(claims_of(&report, "defect").is_empty(), "{report}");
    assert!(report["defect"].is_null(), "{report}");
    let set_aside = report["set_aside"].as_array().unwrap();
    assert_eq!(set_aside.len(), 1, "{report}");
    assert_eq!(set_aside[0]["entry"], lie.to_hex());
    let reason = set_aside[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("backdated") && reason.contains("the genesis allows 3 days 0 h"),
        "{reason}"
    );
    // The timeline shows it, flagged.
    let step = report["provenance"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["entry"] == lie.to_hex())
        .unwrap();
    assert!(step["backdated"].is_string(), "{step}");
    // The bundle proves the same report offline.
    check_bundle(&app, &story.members.genesis, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_set_promise_moves_no_blame_and_an_undelivered_item_is_overdue() {
    // The factory passed the sofa on promising delivery by day 9, 18:00; logistics accepted
    // it with its receipt. Nothing delivered a month later: overdue, against logistics.
    let (mut story, handed) = story(true);
    let node = node_with(&story).await;
    let app = node.app();
    let before = report(&app).await;
    let overdue = claims_of(&before, "overdue");
    assert_eq!(overdue.len(), 1, "{before}");
    assert_eq!(overdue[0]["responsible"], "logistics");
    assert!(
        overdue[0]["entries"]
            .as_array()
            .unwrap()
            .contains(&json!(handed.to_hex()))
    );
    check_bundle(&app, &story.members.genesis, &before).await;
    // Logistics then delivers on day 10, writing its own, later, date on the delivery: the
    // date it accepted still binds it.
    let delivered = story.record(
        "logistics",
        sofa(
            10,
            11,
            json!({"tally:kind": "delivery", "tally:promisedDate": at(10, 18)}),
        ),
    );
    let entry = story.entries.last().unwrap();
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(entry).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = report(&app).await;
    assert!(claims_of(&after, "overdue").is_empty(), "{after}");
    let late = claims_of(&after, "lateness");
    assert_eq!(late.len(), 1, "{after}");
    assert_eq!(late[0]["responsible"], "logistics");
    assert!(
        late[0]["statement"]
            .as_str()
            .unwrap()
            .contains("17 h 0 min after the promised"),
        "{after}"
    );
    let set_aside = &after["set_aside"][0];
    assert_eq!(set_aside["entry"], delivered.to_hex());
    assert!(
        set_aside["reason"]
            .as_str()
            .unwrap()
            .contains("binds no one"),
        "{after}"
    );
    check_bundle(&app, &story.members.genesis, &after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_overs_the_node_signs_are_refused_on_every_path_and_entries_signed_elsewhere_reported()
{
    // Logistics acknowledged the factory's hand-over of the sofa: the factory (this node's
    // member) no longer holds it.
    let (mut held_elsewhere, _) = story(true);
    let node = node_with(&held_elsewhere).await;
    let app = node.app();
    let before = call(&app, Method::GET, "/v1/heads", None).await.1;
    let again = sofa(
        7,
        9,
        json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
    );

    // The demo's path: the node's own committer, no HTTP handler in between.
    let input = tally_node::ingest::EventInput {
        event: again.clone(),
        refs: Vec::new(),
        private: BTreeMap::new(),
    };
    let committer = node.node.as_ref().unwrap().committer().clone();
    let refused = tokio::task::spawn_blocking(move || committer.submit_events(vec![input]))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        refused.to_string().contains("hand_over_without_custody"),
        "{refused}"
    );
    assert_eq!(call(&app, Method::GET, "/v1/heads", None).await.1, before);

    // Through POST /v1/events and EPCIS capture too: see
    // the_node_refuses_a_hand_over_of_an_item_its_member_no_longer_holds.

    // An entry the factory signed elsewhere, through POST /v1/entries, is signed already and
    // may arrive before entries it follows: never refused for custody (as replicated entries
    // are not), it is stored and reported as the violation it is.
    let signed_elsewhere = held_elsewhere.record("manufacturer", again);
    let entry = held_elsewhere.entries.last().unwrap().clone();
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(&entry).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let report = report(&app).await;
    let violations = claims_of(&report, "rule_violation");
    assert_eq!(violations.len(), 1, "{report}");
    assert_eq!(violations[0]["responsible"], "manufacturer");
    assert_eq!(violations[0]["entries"], json!([signed_elsewhere.to_hex()]));

    // One request whose first event gives the factory the item back (its receipt of
    // logistics' return) and whose second hands it on: the rule sees the receipt first.
    let (mut returned, _) = story(true);
    let back = returned.record(
        "logistics",
        sofa(
            7,
            8,
            json!({"bizStep": "shipping", "tally:handOverTo": "manufacturer"}),
        ),
    );
    let node = node_with(&returned).await;
    let events = json!([
        sofa(
            7,
            10,
            json!({"bizStep": "receiving", "tally:receiptOf": back.to_hex()})
        ),
        sofa(
            7,
            12,
            json!({"bizStep": "shipping", "tally:handOverTo": "platform"})
        ),
    ]);
    let (status, body) = call(
        &node.app(),
        Method::POST,
        "/v1/events",
        Some(events.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The hand-over alone, on a node that never saw the receipt, is refused.
    let node = node_with(&returned).await;
    let (status, body) = call(
        &node.app(),
        Method::POST,
        "/v1/events",
        Some(events[1].clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_violation_reaches_every_node_alike_whatever_the_order_of_arrival() {
    // Logistics hands the sofa over to the platform twice; the platform acknowledges the
    // second one too. Two nodes get the same entries in different orders: chain by chain in
    // opposite orders, one request each.
    let (mut story, _) = story(true);
    let first = story.record(
        "logistics",
        sofa(
            7,
            9,
            json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
        ),
    );
    story.record(
        "platform",
        sofa(7, 12, json!({"tally:receiptOf": first.to_hex()})),
    );
    let second = story.record(
        "logistics",
        sofa(
            7,
            13,
            json!({"bizStep": "shipping", "tally:handOverTo": "supplier"}),
        ),
    );
    let by_chain = |members: &[&str]| -> Vec<SignedEntry> {
        members
            .iter()
            .flat_map(|m| {
                story
                    .entries
                    .iter()
                    .filter(move |e| e.body.author.as_str() == *m)
                    .cloned()
            })
            .collect()
    };
    let members = ["platform", "supplier", "manufacturer", "logistics"];
    let forwards = node_with_each(&by_chain(&members)).await;
    let mut reversed = members;
    reversed.reverse();
    let backwards = node_with_each(&by_chain(&reversed)).await;
    let one = report(&forwards.app()).await;
    let other = report(&backwards.app()).await;
    for part in [
        "claims",
        "undetermined",
        "set_aside",
        "provenance",
        "defect",
    ] {
        assert_eq!(one[part], other[part], "{part}");
    }
    let violations = claims_of(&one, "rule_violation");
    assert_eq!(violations.len(), 1, "{one}");
    assert_eq!(violations[0]["responsible"], "logistics");
    assert!(
        violations[0]["entries"]
            .as_array()
            .unwrap()
            .contains(&json!(second.to_hex()))
    );
}

impl Story {
    /// Another entry at `seq` of `member`'s chain than the one recorded there: `member`
    /// signs a second history.
    fn conflicting(&self, member: &str, seq: u64, event: Value) -> SignedEntry {
        let chain: Vec<&SignedEntry> = self
            .entries
            .iter()
            .filter(|e| e.body.author.as_str() == member)
            .collect();
        let prev = seq
            .checked_sub(1)
            .map(|before| chain[before as usize].hash().unwrap());
        UnsignedEntry::event(
            self.members.genesis.network_id(),
            MemberId::new(member).unwrap(),
            seq,
            prev,
            Timestamp(1_772_900_000_000 + 500),
            Vec::new(),
            &event,
            None,
        )
        .unwrap()
        .sign(&self.members.keys(member).unwrap().signing)
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_chain_is_quarantined_and_every_view_says_so() {
    // Logistics signs two different entries at place 1 of its chain: the node keeps the
    // first, records the fork proof, and takes nothing after it.
    let (mut story, _) = story(true);
    let kept = story.record("logistics", sofa(6, 19, inspected(true)));
    let node = node_with(&story).await;
    let app = node.app();
    let other = story.conflicting("logistics", 1, sofa(6, 19, inspected(false)));
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(&other).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, forks) = call(&app, Method::GET, "/v1/forks", None).await;
    assert_eq!(forks["flagged"], json!(["logistics"]), "{forks}");
    // A page of one proof: the member stays flagged on a page that holds none of its proofs.
    let (_, first) = call(&app, Method::GET, "/v1/forks?limit=1", None).await;
    assert_eq!(first["forks"].as_array().unwrap().len(), 1, "{first}");
    let cursor = first["next"].as_str().unwrap();
    let (_, rest) = call(
        &app,
        Method::GET,
        &format!("/v1/forks?cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["forks"], json!([]), "{rest}");
    assert_eq!(rest["flagged"], json!(["logistics"]), "{rest}");
    assert!(rest.get("next").is_none(), "{rest}");

    // Extending the forked chain is refused, naming the fork.
    let next = story.record("logistics", sofa(7, 9, json!({"bizStep": "departing"})));
    let entry = story.entries.last().unwrap();
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(entry).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("the chain of logistics is frozen since place 1"),
        "{body}"
    );
    let (status, _) = call(&app, Method::GET, &format!("/v1/entries/{next}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The entry it kept, sent again, is acknowledged as a duplicate: nothing is extended.
    let again = story
        .entries
        .iter()
        .find(|e| e.hash().unwrap() == kept)
        .unwrap();
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(again).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"][0]["duplicate"], true, "{body}");

    // Entry views: the kept entry at the fork point is forked, the one before it is not.
    let receipt = story
        .entries
        .iter()
        .find(|e| e.body.author.as_str() == "logistics" && e.body.seq == 0)
        .unwrap()
        .hash()
        .unwrap();
    let (_, view) = call(&app, Method::GET, &format!("/v1/entries/{kept}"), None).await;
    assert_eq!(view["status"], "forked", "{view}");
    let (_, view) = call(&app, Method::GET, &format!("/v1/entries/{receipt}"), None).await;
    assert_eq!(view["status"], "verified", "{view}");
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/v1/products/{}/history", encode(SOFA)),
        None,
    )
    .await;
    let statuses: Vec<(&str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["author"] == "logistics")
        .map(|i| (i["hash"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert!(
        statuses.contains(&(kept.to_hex().as_str(), "forked")),
        "{history}"
    );
    assert!(
        statuses.contains(&(receipt.to_hex().as_str(), "verified")),
        "{history}"
    );

    // Provenance, the report and its bundle, the consumer's page, EPCIS answers.
    let forked_steps = |timeline: &Value| -> Vec<String> {
        timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["forked"] == true)
            .map(|s| s["entry"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, provenance) = call(
        &app,
        Method::GET,
        &format!("/v1/products/{}/provenance", encode(SOFA)),
        None,
    )
    .await;
    assert_eq!(forked_steps(&provenance["timeline"]), [kept.to_hex()]);
    let report = report(&app).await;
    assert_eq!(
        forked_steps(&report["provenance"]["timeline"]),
        [kept.to_hex()]
    );
    assert_eq!(claims_of(&report, "fork").len(), 1, "{report}");
    check_bundle(&app, &story.members.genesis, &report).await;
    let (_, _, json_page) = page(&app, "/01/09506000134352/21/C2M-0001", "application/json").await;
    let json_page: Value = serde_json::from_str(&json_page).unwrap();
    let forked_lines: Vec<&Value> = json_page["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["forked"] == true)
        .collect();
    assert_eq!(forked_lines.len(), 1, "{json_page}");
    assert_eq!(forked_lines[0]["entry"], kept.to_hex());
    let (_, _, html) = page(&app, "/01/09506000134352/21/C2M-0001", HTML).await;
    assert!(html.contains("signed two histories"), "{html}");
    let (status, answer) = call(
        &app,
        Method::GET,
        &format!("/epcis/events?MATCH_anyEPC={}", encode(SOFA)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let proofs: Vec<&Value> = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["tally:proof"])
        .collect();
    let forked: Vec<&Value> = proofs
        .iter()
        .filter(|p| p["forked"] == true)
        .copied()
        .collect();
    assert_eq!(forked.len(), 1, "{answer}");
    assert_eq!(forked[0]["entry"], kept.to_hex());

    // The node's own member's chain: once a fork proof of it is recorded, the node signs
    // nothing more for it.
    let own = story.conflicting(
        "manufacturer",
        3,
        sofa(6, 17, json!({"bizStep": "storing"})),
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/entries",
        Some(serde_json::to_value(&own).unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/events",
        Some(sofa(7, 9, json!({"bizStep": "storing"}))),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("the chain of manufacturer is frozen since place 3"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_fill_a_node_with_refused_entries() {
    let (story, _) = story(true);
    let node = node_with(&story).await;
    let app = node.app();
    let supplier_tip = story
        .entries
        .iter()
        .filter(|e| e.body.author.as_str() == "supplier")
        .count() as u64;
    // Entries the supplier validly signs but may not write (orders), at its next place.
    let order = |n: u64, padding: usize| {
        let mut event = sofa(
            12,
            9,
            json!({"tally:kind": "order", "eventID": format!("urn:uuid:{n}")}),
        );
        if padding > 0 {
            event["example:padding"] = json!("x".repeat(padding));
        }
        story.conflicting("supplier", supplier_tip, event)
    };
    let post = |entries: Vec<SignedEntry>| {
        let app = app.clone();
        async move {
            let (status, body) = call(
                &app,
                Method::POST,
                "/v1/entries",
                Some(serde_json::to_value(entries).unwrap()),
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
    };
    // One larger than a stored entry may be is not kept (it could not be read back), and
    // the evidence routes keep working.
    post(vec![order(0, 1_100_000)]).await;
    let (status, rejected) = call(&app, Method::GET, "/v1/rejected", None).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert!(
        rejected["rejected"].as_array().unwrap().is_empty(),
        "{rejected}"
    );

    // A flood: only the first 1,000 are kept.
    for first in (1..=1_100).step_by(100) {
        post((first..first + 100).map(|n| order(n, 0)).collect()).await;
    }
    // Listed a page at a time: every kept entry once, in order.
    let mut listed: Vec<String> = Vec::new();
    let mut path = "/v1/rejected?limit=300".to_owned();
    loop {
        let (status, page) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["rejected"].as_array().unwrap();
        assert!(items.len() <= 300);
        listed.extend(items.iter().map(|r| r["hash"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/rejected?limit=300&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1_000);
    let mut unique = listed.clone();
    unique.dedup();
    assert_eq!(unique.len(), 1_000);
    for (bad, why) in [
        ("/v1/rejected?limit=0", "limit"),
        ("/v1/rejected?limit=1001", "limit"),
        ("/v1/rejected?cursor=zz", "cursor"),
        ("/v1/forks?cursor=", "cursor"),
    ] {
        let (status, problem) = call(&app, Method::GET, bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    // The same entry sent again is not counted twice, and other members are unaffected.
    post(vec![order(1, 0)]).await;
    let (_, card) = call(&app, Method::GET, "/v1/members/supplier/scorecard", None).await;
    assert_eq!(card["rejected_entries"], 1_000, "{card}");
}
