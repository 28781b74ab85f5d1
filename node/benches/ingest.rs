//! Single-node ingest of pre-signed entries: verified with the SDK's rules (batch signatures),
//! placed in their chains, indexed and durably stored (synced write-ahead log) through the
//! pipeline and the group committer, on RocksDB in a temporary directory. The five demo
//! members each submit their chain in requests of 1,000 entries from their own thread, as
//! five busy clients would. Prints the disk bytes per entry after compaction and how many
//! synced writes the run took.
//!
//! Run: `cargo bench -p tally-node --bench ingest`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally_node::commit::{CommitOptions, CommitStats, Committer};
use tally_node::ingest::{Ledger, Pipeline};
use tally_node::store::rocks::RocksStore;
use tally_sdk::entry::SignedEntry;
use tally_sdk::genesis::Genesis;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::template::demo_consortium;

const PER_MEMBER: u64 = 8_000;
const REQUEST: usize = 1_000;

/// A member's chain of `PER_MEMBER` arrivals, signed.
fn signed_chain(genesis: &Genesis, keys: &MemberKeys) -> Vec<SignedEntry> {
    common::chain_of(genesis, keys, 0, PER_MEMBER, None, |seq| {
        common::arrival(&keys.member, seq)
    })
}

/// Ingests every chain into a fresh store; returns the time taken, the writer's counters and
/// the store.
fn ingest(
    genesis: &Arc<Genesis>,
    chains: &[Vec<SignedEntry>],
) -> (Duration, CommitStats, Arc<RocksStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
    let pipeline = Pipeline::new(genesis.clone(), REQUEST);
    let (committer, writer) = Committer::start(
        store.clone(),
        ledger,
        pipeline,
        None,
        CommitOptions::default(),
        None,
    )
    .unwrap();
    let start = Instant::now();
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

    let (elapsed, stats, store, _dir) = ingest(&genesis, &chains);
    store.compact().unwrap();
    eprintln!(
        "one run: {total} entries in {elapsed:.2?} ({:.0}/s), {} synced writes ({:.0} entries each)",
        total as f64 / elapsed.as_secs_f64(),
        stats.groups,
        total as f64 / stats.groups.max(1) as f64
    );
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
