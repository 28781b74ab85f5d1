//! Product history and EPCIS queries on a large ledger: a store holding
//! `TALLY_BENCH_PRODUCTS` products (default 1,000,000), each with one event, except 20 traced
//! products with 50 events each, all ingested through the real pipeline (verified, durably
//! stored). Every tenth event is an OBSERVE, the rest ADDs; each member's chain records an
//! entry every 10 s (record time), and event times advance 1 s per entry of the ledger.
//!
//! Measured:
//! - the history of a traced product (50 events, each read by position, re-hashed and
//!   decoded): criterion measures the mean, and 20,000 timed queries give the p50/p99/max;
//!   the first queries after reopening the store (cold block cache) are reported apart;
//! - EPCIS queries as the node answers them (`tally_node::epcis::search::search`, no HTTP):
//!   `EQ_action=OBSERVE` (no index narrows it: the event-time index is walked) and a one-day
//!   `GE_recordTime`/`LT_recordTime` window in the middle of the ledger (the record-time
//!   index), 30 events a page: the first page and the next 50, each page's time
//!   (p50/p99/max).
//!
//! Also prints the ingest rate of the whole build and the disk bytes per entry.
//!
//! Run: `cargo bench -p tally-node --bench history` (takes a few minutes: the store is built
//! first; set `TALLY_BENCH_PRODUCTS=100000` for a quick run).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tally_node::commit::{CommitOptions, Committer};
use tally_node::epcis::search;
use tally_node::ingest::{Ledger, Pipeline};
use tally_node::store::Store;
use tally_node::store::rocks::RocksStore;
use tally_node::witness::book::Book;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::epcis::query::EventQuery;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::time::Timestamp;

const TRACED: u64 = 20;
const EVENTS: u64 = 50;
const REQUEST: usize = 1_000;
const START: u64 = 1_772_326_800_000;
/// A member's chain records an entry every 10 s: 10,000,000 entries over five chains span 231
/// days of record time, ending before today (an entry from the future is refused).
const RECORD_STEP_MS: u64 = 10_000;
const DAY_MS: u64 = 86_400_000;

fn products() -> u64 {
    std::env::var("TALLY_BENCH_PRODUCTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn traced(i: u64) -> String {
    format!("https://id.gs1.org/01/09506000134352/21/TRACED-{i}")
}

/// The product of the `n`-th entry of the whole ledger: the first `TRACED * EVENTS` entries
/// cycle through the traced products; the rest are one product each.
fn product_of(n: u64) -> String {
    if n < TRACED * EVENTS {
        traced(n % TRACED)
    } else {
        format!("https://id.gs1.org/01/09506000134352/21/P{n}")
    }
}

/// Member `m`'s entries `from..to` (the ledger's entry `n` is member `n % members`' entry
/// `n / members`), signed.
fn sign_range(
    genesis: &Consortium,
    keys: &MemberKeys,
    m: u64,
    members: u64,
    from: u64,
    to: u64,
    mut prev: Option<EntryHash>,
) -> (Vec<SignedEntry>, Option<EntryHash>) {
    let entries = (from..to)
        .map(|seq| {
            let n = seq * members + m;
            let step = ["arriving", "shipping", "receiving", "storing"][(n % 4) as usize];
            let action = if n.is_multiple_of(10) {
                "OBSERVE"
            } else {
                "ADD"
            };
            let event = json!({
                "type": "ObjectEvent", "action": action,
                "bizStep": step,
                "disposition": "in_progress",
                "eventTime": Timestamp(START + n * 1_000).to_rfc3339(),
                "eventTimeZoneOffset": "+08:00",
                "epcList": [product_of(n)],
                "readPoint": {"id": "https://id.gs1.org/414/9506000134352/254/line-1"},
            });
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                keys.member.clone(),
                seq,
                prev,
                Timestamp(START + seq * RECORD_STEP_MS),
                vec![],
                &event,
                None,
            )
            .unwrap()
            .sign(&keys.signing)
            .unwrap();
            prev = Some(entry.hash().unwrap());
            entry
        })
        .collect();
    (entries, prev)
}

/// Builds the ledger through the pipeline, one thread per member signing and submitting its
/// chain in slices.
fn build(genesis: &Arc<Consortium>, keys: &[MemberKeys], dir: &std::path::Path) -> Duration {
    let total = products() - TRACED + TRACED * EVENTS;
    let members = keys.len() as u64;
    let (store, _) = RocksStore::open(dir, genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
    let pipeline = Pipeline::new(genesis.clone(), REQUEST);
    let (committer, writer) = Committer::start(
        store,
        ledger,
        pipeline,
        None,
        CommitOptions::default(),
        None,
    )
    .unwrap();
    let start = Instant::now();
    let threads: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(m, keys)| {
            let (genesis, keys, committer) = (genesis.clone(), keys.clone(), committer.clone());
            let m = m as u64;
            let length = total / members + u64::from(m < total % members);
            std::thread::spawn(move || {
                let mut prev = None;
                let mut seq = 0;
                while seq < length {
                    let to = (seq + 10 * REQUEST as u64).min(length);
                    let (entries, last) = sign_range(&genesis, &keys, m, members, seq, to, prev);
                    for request in entries.chunks(REQUEST) {
                        committer.submit_entries(request.to_vec()).unwrap();
                    }
                    prev = last;
                    seq = to;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = start.elapsed();
    drop(committer);
    writer.join();
    eprintln!(
        "built a ledger of {total} entries ({} products) in {elapsed:.1?}: {:.0} entries/s signed, verified and stored",
        products(),
        total as f64 / elapsed.as_secs_f64()
    );
    elapsed
}

/// Times the first page and the next 50 of two EPCIS queries no index but a time index
/// narrows.
fn epcis_queries(store: &Arc<RocksStore>, genesis: &Arc<Consortium>, total: u64) {
    let book = Book::new(store.clone(), genesis.clone());
    let middle = START + total / 5 / 2 * RECORD_STEP_MS;
    let window = format!(
        "GE_recordTime={}&LT_recordTime={}",
        Timestamp(middle).to_rfc3339(),
        Timestamp(middle + DAY_MS).to_rfc3339()
    );
    for raw in ["EQ_action=OBSERVE", window.as_str()] {
        let fingerprint = search::fingerprint(raw, "/epcis/events");
        let mut query = EventQuery::parse_query_string(raw).unwrap();
        let mut first = None;
        let mut next = Vec::new();
        for page in 0..=50 {
            let start = Instant::now();
            let answer = search::search(store.as_ref(), &book, &query, None, &fingerprint).unwrap();
            let took = start.elapsed();
            assert_eq!(answer.events.len(), 30, "{raw}: page {page}");
            if page == 0 {
                first = Some(took);
            } else {
                next.push(took);
            }
            query.next_page_token = answer.next_token;
            assert!(query.next_page_token.is_some(), "{raw}: page {page}");
        }
        next.sort();
        eprintln!(
            "EPCIS query {raw:?} over {total} entries, 30 events a page: first page {:.2?}; the next 50 pages p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            first.unwrap_or_default(),
            percentile(&next, 0.5),
            percentile(&next, 0.99),
            next[next.len() - 1],
        );
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn bench(c: &mut Criterion) {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = Arc::new(signed.verify().unwrap());
    let dir = tempfile::tempdir().unwrap();
    build(&genesis, &keys, dir.path());

    let (store, report) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let total: u64 = report.heads.iter().map(|h| h.tip.seq + 1).sum();
    let ids: Vec<ProductId> = (0..TRACED)
        .map(|i| ProductId::parse(&traced(i)).unwrap())
        .collect();
    // Cold: the first query of each traced product after opening the store.
    let mut cold: Vec<Duration> = ids
        .iter()
        .map(|id| {
            let start = Instant::now();
            let page = store.history(id, None, 50).unwrap();
            let took = start.elapsed();
            assert_eq!(page.entries.len() as u64, EVENTS);
            took
        })
        .collect();
    cold.sort();
    let mut warm: Vec<Duration> = (0..20_000)
        .map(|i| {
            let start = Instant::now();
            let page = store.history(&ids[i % ids.len()], None, 50).unwrap();
            let took = start.elapsed();
            assert_eq!(page.entries.len() as u64, EVENTS);
            took
        })
        .collect();
    warm.sort();
    eprintln!(
        "history of a product with {EVENTS} events, {} products, {total} entries: p50 {:.2?}, p99 {:.2?}, max {:.2?}; first query per product after reopen: p50 {:.2?}, max {:.2?}",
        products(),
        percentile(&warm, 0.5),
        percentile(&warm, 0.99),
        warm[warm.len() - 1],
        percentile(&cold, 0.5),
        cold[cold.len() - 1],
    );
    store.compact().unwrap();
    eprintln!(
        "disk bytes per entry after compaction: {:.0}",
        store.disk_bytes().unwrap() as f64 / total as f64
    );
    let store = Arc::new(store);
    epcis_queries(&store, &genesis, total);

    let mut i = 0;
    c.bench_function(
        &format!("history_{EVENTS}_events_{}_products", products()),
        |b| {
            b.iter(|| {
                i += 1;
                store.history(&ids[i % ids.len()], None, 50).unwrap()
            });
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
