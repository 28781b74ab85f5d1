//! The consumer's page in a real browser: a node (real RocksDB, the API served on 127.0.0.1,
//! a free port) holding the demo's story of a custom sofa, and Debian's Chromium, headless,
//! opening the sofa's Digital Link as a phone would. The rendered page must show the timeline;
//! a screenshot is kept as a test artefact (`target/tmp/consumer-page.png`).
//!
//! Chromium is installed by `scripts/setup.sh`; without it this test fails and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use tally_node::Node;
use tally_node::config::{Config, UserConfig};
use tally_sdk::time::Timestamp;

const CHROMIUM: &str = "/usr/bin/chromium";
const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

/// Runs headless Chromium with the flags this closed network needs, and `args`.
fn chromium(profile: &Path, args: &[String]) -> std::process::Output {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup.sh, which installs Debian's chromium"
    );
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_consumer_page_shows_the_timeline_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::demo_node_dir(dir.path(), "");
    let config: Config = UserConfig::from_file(&path)
        .unwrap()
        .validate(dir.path())
        .unwrap();
    let node = Node::open(config).unwrap();

    // The story's sofa entries, signed by their members.
    let mut members = common::DemoMembers::demo().unwrap();
    let mut entries = Vec::new();
    let mut record = |member: &str, event: serde_json::Value| {
        let at = Timestamp(1_772_900_000_000 + entries.len() as u64);
        let entry = members.write_at(member, event, at).unwrap();
        let hash = entry.hash().unwrap();
        entries.push(entry);
        hash
    };
    let event = |day: u32, hour: u32, extra: serde_json::Value| {
        let mut event = json!({"type": "ObjectEvent", "action": "OBSERVE",
            "eventTime": format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00"),
            "eventTimeZoneOffset": "+08:00", "epcList": [SOFA]});
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    };
    record("platform", event(1, 9, json!({"tally:kind": "order"})));
    // The lot and the sofa named by the steps that made them (within the reporting delay of
    // their record times, so the names count).
    let lot = json!([{"epcClass": LOT, "quantity": 9, "uom": "MTR"}]);
    record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-03-05T02:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "quantityList": lot, "ilmd": {"cbvmda:descriptionShort": "Linen"}}),
    );
    record(
        "manufacturer",
        json!({"type": "TransformationEvent", "bizStep": "assembling",
            "eventTime": "2026-03-05T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": lot, "outputEPCList": [SOFA],
            "ilmd": {"cbvmda:descriptionShort": "Three-seat sofa"}}),
    );
    record(
        "manufacturer",
        event(
            5,
            15,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
    );
    let handed = record(
        "manufacturer",
        event(
            6,
            16,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics"}),
        ),
    );
    record(
        "logistics",
        event(
            6,
            18,
            json!({"bizStep": "receiving", "tally:receiptOf": handed.to_hex()}),
        ),
    );
    record(
        "logistics",
        event(
            8,
            11,
            json!({"bizStep": "arriving", "tally:kind": "delivery"}),
        ),
    );
    node.committer().submit_entries(entries).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(tally_node::api::serve(listener, node.api_state(), async {
        let _ = stopped.await;
    }));
    let url = format!("http://{address}/01/09506000134352/21/C2M-0001");

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom".to_owned(), url.clone()]);
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for line in [
        "Ordered",
        "Made: assembling",
        "Inspected: passed",
        "Shipped (handed over)",
        "Received",
        "Delivered",
    ] {
        assert!(html.contains(line), "{line} is not on the page: {html}");
    }
    assert!(html.contains("DEMO Factory Ltd."), "{html}");
    assert!(html.contains("<h1>Three-seat sofa</h1>"), "{html}");
    assert!(html.contains("Linen lot LINEN-2026-07"), "{html}");

    // A phone-sized screenshot, kept for people to look at.
    let artefact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("consumer-page.png");
    let _ = std::fs::remove_file(&artefact);
    let shot = chromium(
        profile.path(),
        &[
            format!("--screenshot={}", artefact.display()),
            "--window-size=412,915".to_owned(),
            url,
        ],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&artefact).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10_000, "a blank page? {} bytes", png.len());

    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
    node.shutdown();
}
