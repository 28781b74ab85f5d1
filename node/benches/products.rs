//! The consumer's page and the responsibility report on a large ledger, through the real
//! server (axum on 127.0.0.1, port 0) over a real node (the manufacturer's, RocksDB in a
//! temporary directory, the writer thread, synced writes), with a hyper client in the same
//! process (client and server share the machine's cores).
//!
//! The node first stores `TALLY_BENCH_PRODUCTS` serialised products (default 1,000,000),
//! signed by the five demo members outside the node and ingested through the real pipeline
//! (`Committer::submit_entries`, one thread per member):
//! - 1 % of them are *traced* C2M products (10,000 of 1,000,000), each with the 14 events of
//!   a custom order: the platform's order; the factory's assembly from a linen lot (a
//!   TransformationEvent), three more production steps, a passing inspection, storage and
//!   the hand-over to the logistics firm; the logistics firm's receipt, inspection on
//!   receipt, three transport observations and the delivery (on time against the
//!   `tally:promisedDate` the factory's hand-over carries and logistics accepts).
//!   Each lot (one per four products) has its own four events (the supplier's commissioning,
//!   inspection and hand-over to the factory, the factory's receipt);
//! - 100 *disputed* products with 50 events each: made, inspected twice, handed to logistics
//!   and received, inspected on receipt, ten transport observations, a failing inspection in
//!   the logistics firm's custody (a defect claim), handed back to the factory for repair,
//!   inspected, handed to logistics again and delivered late (a lateness claim);
//! - the rest one event each (an observation, as in the history benchmark).
//!
//! The stories are interleaved with the one-event products, so each product's entries lie
//! spread through the members' chains as they would in a running consortium. Then every
//! entry is witnessed: the five members' checkpoints state every chain in spans of
//! `TALLY_BENCH_SPAN` entries (default 1,000, the growth of one chain in one default
//! checkpoint interval of a consortium writing 5,000 entries a second), recorded in the
//! node's checkpoint book as replication would record them: checkpoint format 2, each span
//! with its chain's tree head cosigned (`TALLY_BENCH_FORMAT=1`: format 1, spans only, as
//! before issue 22).
//!
//! Measured:
//! - the consumer's page, `GET /01/09506000134352/21/C2M-{i}` (HTML, as a phone's browser
//!   asks for it): 20,000 timed requests, one at a time on one keep-alive connection, spread
//!   over the traced products (each asked twice, in an order that jumps through the ledger),
//!   give p50/p99/max; 2,000 more with `Accept: application/json`; criterion measures the
//!   mean of the HTML page;
//! - the responsibility report, `GET /v1/products/{id}/responsibility` (member token) of the
//!   disputed products, timed before the checkpoints are recorded (no entry witnessed: a
//!   lone node) and after (every entry with its witness proofs), p50/p99/max and the
//!   criterion mean of the witnessed case;
//! - the evidence bundle, `GET /v1/products/{id}/evidence` (member token) of the disputed
//!   products once witnessed, `TALLY_BENCH_EVIDENCE` requests (default 200), p50/p99/max:
//!   every entry's proof for each of its four witnesses;
//! - the SDK's computation alone, `tally_sdk::reports::responsibility::report` over the records of a
//!   disputed product already read from the store.
//!
//! The store is compacted before anything is measured (as a node that has run for a while
//! holds it, rather than while RocksDB compacts the bulk load in the background). Also prints
//! the build's ingest rate and the store's size on disk before and after compaction.
//!
//! Run: `cargo bench -p tally-node --bench products` (about 5 minutes: the store is built
//! first; `TALLY_BENCH_PRODUCTS=10000` for a quick run; `TALLY_BENCH_REPORTS` sets how many
//! reports are timed in each state, default 1,000; `TALLY_BENCH_SPAN` the checkpoints' span).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

use common::percent_encode;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tally_node::Node;
use tally_node::store::Store;
use tally_node::store::tiles::ChainTiles;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::reports::provenance::Recorded;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use common::bench::BENCH_TOKEN as TOKEN;

mod support;
use support::bench_node;
/// Entries per `submit_entries` call.
const REQUEST: usize = 1_000;
/// Entry timestamps: 2026-03-01T01:00:00Z plus one millisecond per entry.
const START: u64 = 1_772_326_800_000;
/// Event times of the stories: from 2026-03-01T00:00:00Z.
const EVENTS_START: u64 = 1_772_323_200_000;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
/// Products per linen lot.
const PER_LOT: u64 = 4;
/// Events about a traced product (its own 13 and the assembly from the lot).
const TRACED_EVENTS: usize = 14;
/// Events about a disputed product.
const DISPUTED_EVENTS: usize = 50;
const PAGE_REQUESTS: u64 = 20_000;
const JSON_REQUESTS: u64 = 2_000;
/// A prime: request `k` asks for product `k * JUMP mod count`, so consecutive requests are
/// about products far apart in the ledger.
const JUMP: u64 = 7_919;
const GTIN: &str = "09506000134352";

// The members, in the order of `Chains::keys`.
const PLATFORM: usize = 0;
const MANUFACTURER: usize = 1;
const SUPPLIER: usize = 2;
const LOGISTICS: usize = 3;
const REGULATOR: usize = 4;
const MEMBERS: [&str; 5] = [
    "platform",
    "manufacturer",
    "supplier",
    "logistics",
    "regulator",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How many products of each sort the ledger holds.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    products: u64,
    traced: u64,
    disputed: u64,
    filler: u64,
}

impl Sizes {
    fn from_env() -> Self {
        let products = env_u64("TALLY_BENCH_PRODUCTS", 1_000_000).max(1_000);
        let traced = products / 100;
        let disputed = 100.min(traced);
        Self {
            products,
            traced,
            disputed,
            filler: products - traced - disputed,
        }
    }
}

fn traced(i: u64) -> String {
    format!("https://id.gs1.org/01/{GTIN}/21/C2M-{i}")
}

fn traced_path(i: u64) -> String {
    format!("/01/{GTIN}/21/C2M-{i}")
}

fn disputed(r: u64) -> String {
    format!("https://id.gs1.org/01/{GTIN}/21/C2M-D{r}")
}

fn lot(j: u64) -> String {
    format!("https://id.gs1.org/01/09506000134369/10/LINEN-{j}")
}

fn read_point(site: &str) -> Value {
    json!({"id": format!("https://id.gs1.org/414/9506000134352/254/{site}")})
}

/// An ObjectEvent about `product` at `at`, with `extra` fields.
fn about(product: &str, at: u64, site: &str, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": Timestamp(at).to_rfc3339(), "eventTimeZoneOffset": "+08:00",
        "epcList": [product], "readPoint": read_point(site),
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// An ObjectEvent about `quantity` metres of a lot.
fn about_lot(lot: &str, quantity: u32, at: u64, site: &str, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": Timestamp(at).to_rfc3339(), "eventTimeZoneOffset": "+08:00",
        "quantityList": [{"epcClass": lot, "quantity": quantity, "uom": "MTR"}],
        "readPoint": read_point(site),
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

fn step(step: &str) -> Value {
    json!({"bizStep": step, "disposition": "in_progress"})
}

fn inspection(passed: bool) -> Value {
    json!({"bizStep": "inspecting",
        "disposition": if passed { "conformant" } else { "non_conformant" }})
}

fn hand_over(to: &str) -> Value {
    json!({"bizStep": "shipping", "disposition": "in_transit", "tally:handOverTo": to})
}

fn receipt(of: EntryHash) -> Value {
    json!({"bizStep": "receiving", "disposition": "in_progress", "tally:receiptOf": of.to_hex()})
}

fn moving(step: &str) -> Value {
    json!({"bizStep": step, "disposition": "in_transit"})
}

fn order() -> Value {
    json!({"action": "ADD", "bizStep": "commissioning", "tally:kind": "order"})
}

/// A hand-over with the delivery date the receiver accepts by acknowledging it.
fn hand_over_promising(to: &str, promised: u64) -> Value {
    let mut event = hand_over(to);
    event["tally:promisedDate"] = json!(Timestamp(promised).to_rfc3339());
    event
}

fn delivery() -> Value {
    json!({"bizStep": "arriving", "disposition": "in_progress", "tally:kind": "delivery"})
}

/// The five members' chains, signed in the order the events are recorded (a receipt needs
/// the hash of the hand-over it acknowledges, in another chain), and handed in requests of
/// [`REQUEST`] entries to each member's submitting thread.
struct Chains {
    genesis: Arc<Consortium>,
    keys: Vec<MemberKeys>,
    tips: Vec<(u64, Option<EntryHash>)>,
    buffers: Vec<Vec<SignedEntry>>,
    outs: Vec<SyncSender<Vec<SignedEntry>>>,
    signed: u64,
}

impl Chains {
    fn record(&mut self, member: usize, event: &Value) -> EntryHash {
        let (seq, prev) = self.tips[member];
        let entry = UnsignedEntry::event(
            self.genesis.network_id(),
            self.keys[member].member.clone(),
            seq,
            prev,
            Timestamp(START + self.signed),
            vec![],
            event,
            None,
        )
        .unwrap()
        .sign(&self.keys[member].signing)
        .unwrap();
        let hash = entry.hash().unwrap();
        self.tips[member] = (seq + 1, Some(hash));
        self.signed += 1;
        self.buffers[member].push(entry);
        if self.buffers[member].len() == REQUEST {
            let full = std::mem::take(&mut self.buffers[member]);
            self.outs[member].send(full).unwrap();
        }
        hash
    }

    fn finish(mut self) -> u64 {
        for (buffer, out) in self.buffers.iter_mut().zip(&self.outs) {
            if !buffer.is_empty() {
                out.send(std::mem::take(buffer)).unwrap();
            }
        }
        self.signed
    }

    /// Lot `j`: commissioned and inspected by the supplier, handed to the factory, received.
    fn lot_story(&mut self, j: u64, t0: u64) {
        let lot = lot(j);
        let site = "mill-1";
        self.record(
            SUPPLIER,
            &about_lot(
                &lot,
                40,
                t0,
                site,
                json!({"action": "ADD", "bizStep": "commissioning", "disposition": "active"}),
            ),
        );
        self.record(
            SUPPLIER,
            &about_lot(&lot, 40, t0 + 2 * HOUR, site, inspection(true)),
        );
        let handed = self.record(
            SUPPLIER,
            &about_lot(&lot, 40, t0 + 20 * HOUR, site, hand_over("manufacturer")),
        );
        self.record(
            MANUFACTURER,
            &about_lot(&lot, 40, t0 + 30 * HOUR, "factory-dock", receipt(handed)),
        );
    }

    /// The assembly of `product` from 9 m of lot `lot`.
    fn assembly(&mut self, product: &str, lot: &str, at: u64) {
        self.record(
            MANUFACTURER,
            &json!({
                "type": "TransformationEvent", "bizStep": "assembling",
                "disposition": "in_progress",
                "eventTime": Timestamp(at).to_rfc3339(), "eventTimeZoneOffset": "+08:00",
                "inputQuantityList": [{"epcClass": lot, "quantity": 9, "uom": "MTR"}],
                "outputEPCList": [product],
                "readPoint": read_point("factory-line-2"),
            }),
        );
    }

    /// A traced product's 14 events, from its order at `t0`.
    fn traced_story(&mut self, product: &str, lot: &str, t0: u64) {
        let line = "factory-line-2";
        self.record(PLATFORM, &about(product, t0, "shop", order()));
        self.assembly(product, lot, t0 + 20 * HOUR);
        for (h, s) in [(22, "installing"), (23, "encoding")] {
            self.record(MANUFACTURER, &about(product, t0 + h * HOUR, line, step(s)));
        }
        self.record(
            MANUFACTURER,
            &about(product, t0 + 24 * HOUR, line, inspection(true)),
        );
        self.record(
            MANUFACTURER,
            &about(product, t0 + 25 * HOUR, line, step("packing")),
        );
        self.record(
            MANUFACTURER,
            &about(product, t0 + 26 * HOUR, "factory-store", step("storing")),
        );
        let handed = self.record(
            MANUFACTURER,
            &about(
                product,
                t0 + 44 * HOUR,
                "factory-dock",
                hand_over_promising("logistics", t0 + 96 * HOUR),
            ),
        );
        self.record(
            LOGISTICS,
            &about(product, t0 + 45 * HOUR, "factory-dock", receipt(handed)),
        );
        self.record(
            LOGISTICS,
            &about(
                product,
                t0 + 45 * HOUR + 30 * MINUTE,
                "factory-dock",
                inspection(true),
            ),
        );
        for (h, s, site) in [
            (46, "departing", "factory-dock"),
            (60, "arriving", "hub-7"),
            (62, "departing", "hub-7"),
        ] {
            self.record(LOGISTICS, &about(product, t0 + h * HOUR, site, moving(s)));
        }
        self.record(
            LOGISTICS,
            &about(product, t0 + 70 * HOUR, "van-12", delivery()),
        );
    }

    /// A disputed product's 50 events, from its order at `t0`.
    fn disputed_story(&mut self, product: &str, lot: &str, t0: u64) {
        let line = "factory-line-2";
        let mut at = t0;
        let mut next = |hours: u64| {
            at += hours * HOUR;
            at
        };
        self.record(PLATFORM, &about(product, next(0), "shop", order())); // 1
        self.assembly(product, lot, next(20)); // 2
        for s in [
            "assembling",
            "installing",
            "encoding",
            "assembling",
            "installing",
            "assembling",
            "encoding",
            "installing",
        ] {
            self.record(MANUFACTURER, &about(product, next(1), line, step(s))); // 3..=10
        }
        self.record(
            MANUFACTURER,
            &about(product, next(1), line, inspection(true)),
        ); // 11
        for s in ["installing", "encoding", "packing", "storing"] {
            self.record(MANUFACTURER, &about(product, next(1), line, step(s))); // 12..=15
        }
        self.record(
            MANUFACTURER,
            &about(product, next(1), line, inspection(true)),
        ); // 16
        let handed = self.record(
            MANUFACTURER,
            &about(product, next(10), "factory-dock", hand_over("logistics")),
        ); // 17
        self.record(
            LOGISTICS,
            &about(product, next(1), "factory-dock", receipt(handed)),
        ); // 18
        self.record(
            LOGISTICS,
            &about(product, next(1), "factory-dock", inspection(true)),
        ); // 19
        let legs = [
            ("departing", "factory-dock"),
            ("arriving", "hub-7"),
            ("unloading", "hub-7"),
            ("storing", "hub-7"),
            ("loading", "hub-7"),
        ];
        for (s, site) in legs.iter().chain(&legs) {
            self.record(LOGISTICS, &about(product, next(3), site, moving(s))); // 20..=29
        }
        self.record(
            LOGISTICS,
            &about(product, next(1), "hub-7", inspection(false)),
        ); // 30: the defect
        let returned = self.record(
            LOGISTICS,
            &about(product, next(2), "hub-7", hand_over("manufacturer")),
        ); // 31
        self.record(
            MANUFACTURER,
            &about(product, next(20), "factory-dock", receipt(returned)),
        ); // 32
        for s in [
            "disassembling",
            "repairing",
            "repairing",
            "assembling",
            "installing",
            "packing",
        ] {
            self.record(MANUFACTURER, &about(product, next(2), line, step(s))); // 33..=38
        }
        self.record(
            MANUFACTURER,
            &about(product, next(1), line, inspection(true)),
        ); // 39
        self.record(
            MANUFACTURER,
            &about(product, next(1), "factory-store", step("storing")),
        ); // 40
        let promised = t0 + 96 * HOUR;
        let handed = self.record(
            MANUFACTURER,
            &about(
                product,
                next(10),
                "factory-dock",
                hand_over_promising("logistics", promised),
            ),
        ); // 41
        self.record(
            LOGISTICS,
            &about(product, next(1), "factory-dock", receipt(handed)),
        ); // 42
        self.record(
            LOGISTICS,
            &about(product, next(1), "factory-dock", inspection(true)),
        ); // 43
        for (s, site) in [
            ("departing", "factory-dock"),
            ("arriving", "hub-7"),
            ("departing", "hub-7"),
            ("arriving", "hub-9"),
            ("departing", "hub-9"),
            ("loading", "hub-9"),
        ] {
            self.record(LOGISTICS, &about(product, next(3), site, moving(s))); // 44..=49
        }
        self.record(LOGISTICS, &about(product, next(4), "van-12", delivery())); // 50: late
    }

    /// One-event product `n`, by member `n % 5`.
    fn filler(&mut self, n: u64) {
        let step = ["arriving", "shipping", "receiving", "storing"][(n % 4) as usize];
        let member = [PLATFORM, MANUFACTURER, SUPPLIER, LOGISTICS, REGULATOR][(n % 5) as usize];
        self.record(
            member,
            &json!({
                "type": "ObjectEvent", "action": "OBSERVE",
                "bizStep": step, "disposition": "in_progress",
                "eventTime": Timestamp(EVENTS_START + n * 1_000).to_rfc3339(),
                "eventTimeZoneOffset": "+08:00",
                "epcList": [format!("https://id.gs1.org/01/{GTIN}/21/P{n}")],
                "readPoint": read_point("line-1"),
            }),
        );
    }
}

/// Signs the whole ledger and stores it through the node's pipeline; returns the number of
/// entries and the time taken.
fn build(node: &Node, sizes: Sizes) -> (u64, Duration) {
    let (genesis, all_keys) = common::demo();
    let keys: Vec<MemberKeys> = MEMBERS
        .iter()
        .map(|name| {
            all_keys
                .iter()
                .find(|k| k.member.as_str() == *name)
                .unwrap()
                .clone()
        })
        .collect();
    let start = Instant::now();
    let mut outs = Vec::new();
    let submitters: Vec<_> = (0..keys.len())
        .map(|_| {
            let (out, requests) = sync_channel::<Vec<SignedEntry>>(4);
            outs.push(out);
            let committer = node.committer().clone();
            std::thread::spawn(move || {
                for request in requests {
                    let receipts = committer.submit_entries(request).unwrap();
                    assert!(receipts.iter().all(|r| !r.duplicate));
                }
            })
        })
        .collect();
    let mut chains = Chains {
        genesis,
        tips: vec![(0, None); keys.len()],
        buffers: vec![Vec::new(); keys.len()],
        keys,
        outs,
        signed: 0,
    };
    let every = (sizes.traced / sizes.disputed).max(1);
    let mut filler = 0;
    let mut disputed_done = 0;
    for i in 0..sizes.traced {
        // A new order every 10 minutes; each lot made three days before its first product.
        let t0 = EVENTS_START + i * 10 * MINUTE + 3 * 24 * HOUR;
        let j = i / PER_LOT;
        if i % PER_LOT == 0 {
            chains.lot_story(j, t0 - 3 * 24 * HOUR);
        }
        chains.traced_story(&traced(i), &lot(j), t0);
        if i % every == every - 1 && disputed_done < sizes.disputed {
            chains.disputed_story(&disputed(disputed_done), &lot(j), t0 + 5 * MINUTE);
            disputed_done += 1;
        }
        let until = sizes.filler * (i + 1) / sizes.traced;
        while filler < until {
            chains.filler(filler);
            filler += 1;
        }
    }
    assert_eq!(disputed_done, sizes.disputed);
    assert_eq!(filler, sizes.filler);
    let total = chains.finish();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    (total, start.elapsed())
}

/// Records checkpoints of every member stating every chain in spans of `span` entries, as
/// the members' nodes would have made them; returns how many.
fn witness_everything(node: &Node, span: u64) -> u64 {
    let (genesis, keys) = common::demo();
    let network = genesis.network_id();
    let cosign = env_u64("TALLY_BENCH_FORMAT", 2) == 2;
    let store = node.store().as_ref();
    let heads = store.heads().unwrap();
    let longest = heads.iter().map(|h| h.tip.seq + 1).max().unwrap();
    let mut recorded = 0;
    for round in 0..longest.div_ceil(span) {
        let first = round * span;
        let spans: Vec<(ChainSpan, LogHash)> = heads
            .iter()
            .filter(|h| h.tip.seq >= first)
            .map(|h| {
                let last = h.tip.seq.min(first + span - 1);
                let hashes = store.chain_hashes(&h.author, first, last).unwrap().unwrap();
                let root = ChainTiles::new(store, h.code).root(last + 1).unwrap();
                (
                    ChainSpan::new(h.author.clone(), first, &hashes).unwrap(),
                    root,
                )
            })
            .collect();
        for witness in &keys {
            let spans = spans
                .iter()
                .map(|(span, root)| match cosign {
                    true => span
                        .clone()
                        .cosigned(&network, &witness.member, *root, &witness.signing)
                        .unwrap(),
                    false => span.clone(),
                })
                .collect();
            let checkpoint = Checkpoint::sign(
                network,
                witness.member.clone(),
                round,
                Timestamp(START + round * 1_000),
                spans,
                &witness.signing,
            )
            .unwrap();
            node.book().record(&checkpoint).unwrap();
            recorded += 1;
        }
    }
    recorded
}

async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// `GET path` with `accept` (and the member token if `token`); the whole body, checked to be
/// a 200.
async fn get(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    accept: &str,
    token: bool,
) -> Bytes {
    sender.ready().await.unwrap();
    let mut request = Request::get(path)
        .header(header::HOST, "bench")
        .header(header::ACCEPT, accept);
    if token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let response = sender
        .send_request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{path}: {body:?}");
    body
}

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const JSON: &str = "application/json";

fn page_path(sizes: Sizes, k: u64) -> String {
    traced_path(k * JUMP % sizes.traced)
}

fn report_path(sizes: Sizes, k: u64) -> String {
    format!(
        "/v1/products/{}/responsibility",
        percent_encode(&disputed(k * JUMP % sizes.disputed))
    )
}

fn evidence_path(sizes: Sizes, k: u64) -> String {
    format!(
        "/v1/products/{}/evidence",
        percent_encode(&disputed(k * JUMP % sizes.disputed))
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn summary(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
    eprintln!(
        "{what}: {} timed, mean {mean:.2?}, p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, max {:.2?}",
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.90),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or_default(),
    );
}

/// Times `count` requests, one at a time; `check` looks at each answer.
fn timed(
    runtime: &Runtime,
    sender: &mut SendRequest<Empty<Bytes>>,
    count: u64,
    request: impl Fn(u64) -> (String, &'static str, bool),
    check: impl Fn(&Bytes),
) -> Vec<Duration> {
    runtime.block_on(async {
        let mut times = Vec::with_capacity(usize::try_from(count).unwrap());
        for k in 0..count {
            let (path, accept, token) = request(k);
            let start = Instant::now();
            let body = get(sender, &path, accept, token).await;
            times.push(start.elapsed());
            check(&body);
        }
        times
    })
}

fn check_page(body: &Bytes) {
    let html = std::str::from_utf8(body).unwrap();
    assert_eq!(
        html.matches("<li data-kind=").count(),
        TRACED_EVENTS,
        "{html}"
    );
    assert!(html.contains("Delivered (on time)"), "{html}");
}

fn check_report(body: &Bytes, witnessed: bool) {
    let report: Value = serde_json::from_slice(body).unwrap();
    let kinds: Vec<(&str, &str)> = report["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["responsible"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("defect", "logistics"), ("lateness", "logistics")],
        "{report}"
    );
    let timeline = report["provenance"]["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), DISPUTED_EVENTS);
    assert!(timeline.iter().all(|s| s["witnessed"] == witnessed));
    assert!(report["undetermined"].as_array().unwrap().is_empty());
}

fn bench(c: &mut Criterion) {
    let sizes = Sizes::from_env();
    let span = env_u64("TALLY_BENCH_SPAN", 1_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = bench_node(&runtime);
    let (total, took) = build(&node.node, sizes);
    eprintln!(
        "built a ledger of {total} entries ({} serialised products: {} traced with {TRACED_EVENTS} events, {} disputed with {DISPUTED_EVENTS}, {} with one; {} lots) in {took:.1?}: {:.0} entries/s signed, verified and stored",
        sizes.products,
        sizes.traced,
        sizes.disputed,
        sizes.filler,
        sizes.traced.div_ceil(PER_LOT),
        total as f64 / took.as_secs_f64(),
    );
    let store = node.node.store().clone();
    let stored: u64 = store.heads().unwrap().iter().map(|h| h.tip.seq + 1).sum();
    assert_eq!(stored, total);
    // Measured on the compacted store, as a node that has run for a while holds it, not
    // while RocksDB is still compacting the bulk load in the background.
    let before = store.disk_bytes().unwrap();
    let start = Instant::now();
    store.compact().unwrap();
    let after = store.disk_bytes().unwrap();
    eprintln!(
        "store on disk after the build: {:.2} GB; compacted in {:.1?}: {:.2} GB ({:.0} bytes per entry)",
        before as f64 / 1e9,
        start.elapsed(),
        after as f64 / 1e9,
        after as f64 / total as f64
    );

    let mut sender = runtime.block_on(connect(node.addr));
    let reports = env_u64("TALLY_BENCH_REPORTS", 1_000);
    let sample = runtime.block_on(get(&mut sender, &report_path(sizes, 0), JSON, true));
    eprintln!("a responsibility report is {} bytes of JSON", sample.len());
    let times = timed(
        &runtime,
        &mut sender,
        reports,
        |k| (report_path(sizes, k), JSON, true),
        |body| check_report(body, false),
    );
    summary(
        &format!("responsibility report, {DISPUTED_EVENTS}-event product, no entry witnessed"),
        times,
    );

    let start = Instant::now();
    let checkpoints = witness_everything(&node.node, span);
    eprintln!(
        "recorded {checkpoints} checkpoints (5 witnesses, spans of {span} entries) in {:.1?}",
        start.elapsed()
    );

    let page = runtime.block_on(get(&mut sender, &page_path(sizes, 0), HTML, false));
    eprintln!("a consumer page is {} bytes of HTML", page.len());
    let times = timed(
        &runtime,
        &mut sender,
        PAGE_REQUESTS,
        |k| (page_path(sizes, k), HTML, false),
        check_page,
    );
    // The first request for each product finds none of its blocks in RocksDB's cache.
    let first = usize::try_from(sizes.traced).unwrap().min(times.len());
    summary(
        "consumer page (HTML), first request for each product",
        times[..first].to_vec(),
    );
    summary(
        &format!(
            "consumer page (HTML), {TRACED_EVENTS}-event product, {} products",
            sizes.products
        ),
        times,
    );
    let times = timed(
        &runtime,
        &mut sender,
        JSON_REQUESTS,
        |k| (page_path(sizes, k + PAGE_REQUESTS), JSON, false),
        |body| {
            let page: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(page["timeline"].as_array().unwrap().len(), TRACED_EVENTS);
            assert_eq!(page["witnessed"], TRACED_EVENTS);
        },
    );
    summary("consumer page (JSON)", times);
    let times = timed(
        &runtime,
        &mut sender,
        reports,
        |k| (report_path(sizes, k), JSON, true),
        |body| check_report(body, true),
    );
    summary(
        &format!(
            "responsibility report, {DISPUTED_EVENTS}-event product, every entry witnessed (spans of {span})"
        ),
        times,
    );
    let evidence = runtime.block_on(get(&mut sender, &evidence_path(sizes, 0), JSON, true));
    eprintln!("an evidence bundle is {} bytes of JSON", evidence.len());
    let times = timed(
        &runtime,
        &mut sender,
        env_u64("TALLY_BENCH_EVIDENCE", 200),
        |k| (evidence_path(sizes, k), JSON, true),
        |_| {},
    );
    summary(
        &format!(
            "evidence bundle, {DISPUTED_EVENTS}-event product, every entry witnessed (spans of {span}, checkpoint format {})",
            env_u64("TALLY_BENCH_FORMAT", 2)
        ),
        times,
    );

    // The SDK's rules alone, over records already read.
    let inputs: Vec<(ProductId, Vec<Recorded>)> = (0..sizes.disputed)
        .map(|r| {
            let id = ProductId::parse(&disputed(r)).unwrap();
            let records = tally_node::products::gather(store.as_ref(), &id)
                .unwrap()
                .iter()
                .filter_map(|(hash, entry)| Recorded::read(*hash, entry, true).unwrap())
                .collect();
            (id, records)
        })
        .collect();
    eprintln!(
        "records read per disputed product (its own and its lot's): {}",
        inputs[0].1.len()
    );
    let judging = tally_sdk::reports::provenance::Judging::of(&node.node.genesis());
    let as_of = Timestamp::now();
    let times: Vec<Duration> = (0..10_000)
        .map(|k| {
            let (id, records) = &inputs[k % inputs.len()];
            let start = Instant::now();
            let report =
                tally_sdk::reports::responsibility::report(id, records, &[], &judging, as_of);
            let took = start.elapsed();
            assert_eq!(report.claims.len(), 2);
            took
        })
        .collect();
    summary("tally_sdk::reports::responsibility::report alone", times);

    let mut group = c.benchmark_group(format!("products_{}", sizes.products));
    let mut k = 0;
    group.bench_function("consumer_page_html", |b| {
        b.iter(|| {
            k += 1;
            runtime.block_on(get(&mut sender, &page_path(sizes, k), HTML, false))
        });
    });
    let mut k = 0;
    group.bench_function("responsibility_report_witnessed", |b| {
        b.iter(|| {
            k += 1;
            runtime.block_on(get(&mut sender, &report_path(sizes, k), JSON, true))
        });
    });
    let mut k = 0;
    group.bench_function("sdk_responsibility_report", |b| {
        b.iter(|| {
            k += 1;
            let (id, records) = &inputs[k % inputs.len()];
            tally_sdk::reports::responsibility::report(id, records, &[], &judging, as_of)
        });
    });
    group.finish();

    drop(sender);
    drop(store);
    node.stop(&runtime).shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
