//! Single-node ingest of pre-signed entries: verified with the SDK's rules (batch signatures),
//! placed in their chains, indexed and durably stored (synced write-ahead log) through the
//! pipeline and the group committer, on RocksDB in a temporary directory. The five demo
//! members each submit their chain in requests of 1,000 entries from their own thread, as
//! five busy clients would. Prints the disk bytes per entry after compaction and how many
//! synced writes the run took.
//!
//! Second group, `ingest_during_purges`: four members' chains ingested as above into a store
//! whose platform node holds `PURGED` orders with private fields, once alone and once while
//! the platform purges one field of each order, one purge request after the other, from a
//! thread of its own, for as long as the ingestion runs. Purges must not stall ingestion: a
//! purge's flush and compaction run on the eraser thread, not the writer.
//!
//! Third group, `ingest_one_at_a_time`: one member's chain of `ONE_BY_ONE` entries submitted
//! one entry per request, each durably stored before the next is sent (a client that waits
//! for every entry: what `scripts/bench-peers.sh` sets beside Hypercore's awaited appends).
//!
//! Run: `cargo bench -p tally-node --bench ingest` (`TALLY_BENCH_EVENT_IDS=1`: every event
//! with an `eventID` of its own; `TALLY_BENCH_PER_MEMBER=N`: chains of `N` entries instead of
//! 8,000, e.g. 200,000 for the one timed run at the replication benchmark's 1,000,000 entries,
//! with `-- ingest_one_at_a_time` so criterion does not repeat it).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

// As the tally-node binary allocates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tally_node::commit::{CommitOptions, CommitStats, Committer};
use tally_node::ingest::{EventInput, Ledger, Pipeline};
use tally_node::store::rocks::RocksStore;
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::FieldName;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;

/// Entries in each member's chain, unless `TALLY_BENCH_PER_MEMBER` says otherwise.
const PER_MEMBER: u64 = 8_000;
const REQUEST: usize = 1_000;
/// Orders with private fields stored before the purge runs (more than a run purges).
const PURGED: usize = 5_000;
/// Entries of the one-at-a-time group.
const ONE_BY_ONE: u64 = 2_000;

/// A member's chain of `PER_MEMBER` arrivals (or `TALLY_BENCH_PER_MEMBER`), signed; with
/// `TALLY_BENCH_EVENT_IDS` set, each event has an `eventID` of its own (so the node also
/// computes and indexes its Event Hash ID).
fn signed_chain(genesis: &Consortium, keys: &MemberKeys) -> Vec<SignedEntry> {
    let with_ids = std::env::var_os("TALLY_BENCH_EVENT_IDS").is_some();
    let per_member = std::env::var("TALLY_BENCH_PER_MEMBER")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(PER_MEMBER);
    common::chain_of(genesis, keys, 0, per_member, None, |seq| {
        let mut event = common::arrival(&keys.member, seq);
        if with_ids {
            event["eventID"] = format!("urn:tally:bench:{}:{seq}", keys.member).into();
        }
        event
    })
}

/// Submits each chain from a thread of its own, in requests of `REQUEST` entries, as busy
/// clients would; returns once every request is stored.
fn submit_chains(committer: &Committer, chains: &[Vec<SignedEntry>]) {
    let threads: Vec<_> = chains
        .iter()
        .map(|chain| {
            let committer = committer.clone();
            let requests: Vec<Vec<SignedEntry>> =
                chain.chunks(REQUEST).map(<[_]>::to_vec).collect();
            std::thread::spawn(move || {
                for request in requests {
                    committer.submit_entries(request).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Ingests every chain into a fresh store; returns the time taken, the writer's counters and
/// the store.
fn ingest(
    genesis: &Arc<Consortium>,
    chains: &[Vec<SignedEntry>],
) -> (Duration, CommitStats, Arc<RocksStore>, tempfile::TempDir) {
    let (committer, writer, store, dir) = fresh_committer(genesis, None);
    let start = Instant::now();
    submit_chains(&committer, chains);
    let elapsed = start.elapsed();
    let stats = committer.stats();
    drop(committer);
    writer.join();
    (elapsed, stats, store, dir)
}

fn bench(c: &mut Criterion) {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = Arc::new(signed.verify().unwrap());
    let chains: Vec<Vec<SignedEntry>> = keys.iter().map(|k| signed_chain(&genesis, k)).collect();
    let total = chains.iter().map(Vec::len).sum::<usize>() as u64;
    let encoded: usize = chains
        .iter()
        .flatten()
        .map(|e| e.to_bytes().unwrap().len())
        .sum();

    let cpu_before = common::cpu_seconds(std::process::id());
    let (elapsed, stats, store, _dir) = ingest(&genesis, &chains);
    let cpu_after = common::cpu_seconds(std::process::id());
    store.compact().unwrap();
    eprintln!(
        "one run: {total} entries in {elapsed:.2?} ({:.0}/s), {} synced writes ({:.0} entries each)",
        total as f64 / elapsed.as_secs_f64(),
        stats.groups,
        total as f64 / stats.groups.max(1) as f64
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        eprintln!(
            "cpu per entry (user + system, the whole process, /proc): {:.1} µs",
            (after - before) / total as f64 * 1e6
        );
    }
    eprintln!(
        "disk bytes per entry after compaction (entry, chain, head and five indexes): {:.0} (entries average {:.0} bytes encoded)",
        store.disk_bytes().unwrap() as f64 / total as f64,
        encoded as f64 / total as f64
    );
    drop(store);

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function(
        format!("{total}_presigned_entries_5_members_requests_of_{REQUEST}"),
        |b| {
            b.iter_custom(|iterations| (0..iterations).map(|_| ingest(&genesis, &chains).0).sum());
        },
    );
    group.finish();

    let chain: Vec<SignedEntry> =
        common::chain_of(&genesis, &keys[0], 0, ONE_BY_ONE, None, |seq| {
            common::arrival(&keys[0].member, seq)
        });
    let mut group = c.benchmark_group("ingest_one_at_a_time");
    group.throughput(Throughput::Elements(ONE_BY_ONE));
    group.sample_size(10);
    group.bench_function(format!("{ONE_BY_ONE}_entries_one_per_request"), |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    let (committer, writer, _store, _dir) = fresh_committer(&genesis, None);
                    let start = Instant::now();
                    for entry in &chain {
                        committer.submit_entries(vec![entry.clone()]).unwrap();
                    }
                    let elapsed = start.elapsed();
                    drop(committer);
                    writer.join();
                    elapsed
                })
                .sum()
        });
    });
    group.finish();
}

/// A committer over a fresh store (signing as `member`, if any), its writer, the store and
/// its directory.
fn fresh_committer(
    genesis: &Arc<Consortium>,
    member: Option<&MemberKeys>,
) -> (
    Committer,
    tally_node::commit::Writer,
    Arc<RocksStore>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
    let pipeline = Pipeline::new(genesis.clone(), REQUEST);
    let (committer, writer) = Committer::start(
        store.clone(),
        ledger,
        pipeline,
        member.cloned(),
        CommitOptions::default(),
        None,
    )
    .unwrap();
    (committer, writer, store, dir)
}

/// A store whose platform chain holds `PURGED` orders, each with two private fields, written
/// by the platform's node; the committer (signing as the platform) and the orders' hashes.
fn store_with_orders(
    genesis: &Arc<Consortium>,
    platform: &MemberKeys,
) -> (
    Committer,
    tally_node::commit::Writer,
    Vec<EntryHash>,
    tempfile::TempDir,
) {
    let (committer, writer, _, dir) = fresh_committer(genesis, Some(platform));
    let mut hashes = Vec::with_capacity(PURGED);
    let orders: Vec<EventInput> = (0..PURGED)
        .map(|n| {
            let mut event = common::event("commissioning", "active", n as u64, 0);
            event["tally:kind"] = "order".into();
            let mut private = BTreeMap::new();
            for (name, value) in [
                ("consumer.address", format!("{n} Purge Road")),
                ("order.spec", format!("spec-{n}")),
            ] {
                private.insert(
                    FieldName::new(name).unwrap(),
                    CanonicalJson::from_value(&value.into()).unwrap(),
                );
            }
            EventInput {
                event,
                refs: Vec::new(),
                private,
            }
        })
        .collect();
    for request in orders.chunks(REQUEST) {
        let receipts = committer.submit_events(request.to_vec()).unwrap();
        hashes.extend(receipts.iter().map(|r| r.hash));
    }
    (committer, writer, hashes, dir)
}

/// Ingests `chains` into a store holding orders; with `purging`, the platform purges one
/// field of one order after the other meanwhile. Returns the ingestion time and the purges
/// done during it.
fn ingest_with_purges(
    genesis: &Arc<Consortium>,
    platform: &MemberKeys,
    chains: &[Vec<SignedEntry>],
    purging: bool,
) -> (Duration, u64) {
    let (committer, writer, orders, _dir) = store_with_orders(genesis, platform);
    let done = Arc::new(AtomicBool::new(false));
    let purged = Arc::new(AtomicU64::new(0));
    let purger = purging.then(|| {
        let (committer, done, purged) = (committer.clone(), done.clone(), purged.clone());
        std::thread::spawn(move || {
            let field = vec![FieldName::new("consumer.address").unwrap()];
            for target in orders {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                committer.submit_purge(target, field.clone()).unwrap();
                purged.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    let start = Instant::now();
    submit_chains(&committer, chains);
    let elapsed = start.elapsed();
    let during = purged.load(Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    if let Some(purger) = purger {
        purger.join().unwrap();
    }
    drop(committer);
    writer.join();
    (elapsed, during)
}

fn bench_purges(c: &mut Criterion) {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = Arc::new(signed.verify().unwrap());
    // Every member but the platform, whose node signs the orders and purges.
    let chains: Vec<Vec<SignedEntry>> = keys[1..]
        .iter()
        .map(|k| signed_chain(&genesis, k))
        .collect();
    let total = chains.iter().map(Vec::len).sum::<usize>() as u64;
    let platform = &keys[0];
    for purging in [false, true] {
        let (elapsed, purges) = ingest_with_purges(&genesis, platform, &chains, purging);
        eprintln!(
            "one run{}: {total} entries in {elapsed:.2?} ({:.0}/s), {purges} purges meanwhile ({:.0}/s)",
            if purging { " during purges" } else { "" },
            total as f64 / elapsed.as_secs_f64(),
            purges as f64 / elapsed.as_secs_f64()
        );
    }
    let mut group = c.benchmark_group("ingest_during_purges");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    for purging in [false, true] {
        let name = if purging {
            format!("{total}_entries_4_members_while_purging")
        } else {
            format!("{total}_entries_4_members_alone")
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| ingest_with_purges(&genesis, platform, &chains, purging).0)
                    .sum()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_purges);
criterion_main!(benches);
