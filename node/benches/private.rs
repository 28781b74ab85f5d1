//! Private fields end to end on one machine: the figure of the selective-disclosure issue.
//!
//! The five nodes of the demo consortium run as separate processes (127.0.0.1, free ports,
//! real RocksDB, real libp2p, default pacing). The platform's node records
//! `TALLY_BENCH_ENTRIES` orders (default 20,000), each with five private fields (the consumer's
//! name, phone and address, the order's spec and price), through `POST /v1/events` in
//! requests of `TALLY_BENCH_REQUEST` events (default 500), from `TALLY_BENCH_CLIENTS` clients
//! (default 1) each sending one request at a time. The node
//! commits each field set, signs, stores, and its courier seals each reader's fields to that
//! reader's key and sends them point to point: three fields to the logistics firm's node, one
//! to the manufacturer's, one to the regulator's.
//!
//! Figures: the capture rate (orders acknowledged per second by the platform's node), and the
//! end-to-end rate: orders divided by the time from the first request until every reader's
//! node has checked and stored every field it may read (read from its
//! `tally_private_fields_received_total`, polled every 20 ms).
//!
//! Run: `cargo bench -p tally-node --bench private` (about a minute; needs an otherwise idle
//! machine: the five nodes and the client share its cores).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

use std::time::{Duration, Instant};

use common::Running;
use common::consortium::{Member, p2p_address};
use serde_json::{Value, json};

use tally_sdk::membership::template::demo_consortium;

/// How long any phase may take before the benchmark gives up (bounds a broken run only).
const GIVE_UP: Duration = Duration::from_secs(1_800);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wait_until(what: &str, every: Duration, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + GIVE_UP;
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(every);
    }
}

fn connected(node: &Running, peers: usize) -> bool {
    let (_, body) = node.request("GET", "/v1/network", None);
    body["peers"]
        .as_array()
        .is_some_and(|p| p.iter().filter(|p| p["connected"] == true).count() >= peers)
}

/// A counter of `node`'s metrics.
fn metric(node: &Running, name: &str) -> u64 {
    let (_, text) = common::request_text(node.address, "/metrics").unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn fields_received(node: &Running) -> u64 {
    metric(node, "tally_private_fields_received_total")
}

fn order(serial: u64) -> Value {
    json!({
        "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
        "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
        "epcList": [common::product(serial)], "tally:kind": "order",
        "private": {
            "consumer.name": format!("Consumer {serial}"),
            "consumer.phone": format!("+86 571 {serial:08}"),
            "consumer.address": format!("{serial} West Lake Road, Hangzhou"),
            "order.spec": {"model": "sofa-3", "fabric": "linen", "length_cm": 180 + serial % 60},
            "order.price": {"amount": "4999.00", "currency": "CNY"},
        },
    })
}

fn main() {
    let entries = env_u64("TALLY_BENCH_ENTRIES", 20_000);
    let request = env_u64("TALLY_BENCH_REQUEST", 500).max(1);
    let clients = usize::try_from(env_u64("TALLY_BENCH_CLIENTS", 1).max(1)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let (signed, keys) = demo_consortium().unwrap();
    std::fs::write(
        root.path().join("genesis.toml"),
        signed.to_toml("").unwrap(),
    )
    .unwrap();
    let mut nodes: Vec<(String, Running)> = Vec::new();
    let mut addresses = Vec::new();
    for member in &keys {
        let node = Member::for_bench(root.path(), member).start(&addresses);
        addresses.push(p2p_address(&node));
        nodes.push((member.member.to_string(), node));
    }
    for (_, node) in &nodes {
        wait_until("every node connected", Duration::from_millis(20), || {
            connected(node, keys.len() - 1)
        });
    }
    let node = |name: &str| &nodes.iter().find(|(m, _)| m == name).unwrap().1;
    let platform = node("platform");
    let readers = [
        (node("logistics"), 3 * entries),
        (node("manufacturer"), entries),
        (node("regulator"), entries),
    ];
    let bodies: Vec<Value> = (0..entries)
        .collect::<Vec<_>>()
        .chunks(request as usize)
        .map(|chunk| Value::Array(chunk.iter().map(|&s| order(s)).collect()))
        .collect();

    let start = Instant::now();
    // Each client sends every `clients`-th request, one at a time.
    std::thread::scope(|scope| {
        for client in 0..clients {
            let bodies = &bodies;
            scope.spawn(move || {
                for body in bodies.iter().skip(client).step_by(clients) {
                    let (status, answer) = platform.request("POST", "/v1/events", Some(body));
                    assert_eq!(status, 201, "{answer}");
                }
            });
        }
    });
    let captured = start.elapsed();
    wait_until(
        "every reader's node to hold its fields",
        Duration::from_millis(20),
        || {
            readers
                .iter()
                .all(|(node, expected)| fields_received(node) >= *expected)
        },
    );
    let delivered = start.elapsed();
    println!(
        "private fields: {entries} orders with 5 private fields each, requests of {request}, {clients} client(s)"
    );
    println!(
        "  capture (acknowledged by the platform's node): {:.2} s, {:.0} orders/s",
        captured.as_secs_f64(),
        entries as f64 / captured.as_secs_f64()
    );
    println!(
        "  end to end (every field checked and stored on its readers' nodes: 3 on logistics, 1 on manufacturer, 1 on regulator): {:.2} s, {:.0} orders/s",
        delivered.as_secs_f64(),
        entries as f64 / delivered.as_secs_f64()
    );
    let count = |name: &str| metric(platform, &format!("tally_private_{name}_total"));
    println!(
        "  the platform's courier: {} deliveries stored, {} not held yet by the reader (sent again), {} answered later, {} requests failed",
        count("deliveries_sent"),
        count("deliveries_not_held"),
        count("deliveries_later"),
        count("delivery_failures"),
    );
}
