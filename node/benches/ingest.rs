//! Single-node ingest of pre-signed entries: verified (batch signatures), placed in their
//! chains, indexed and durably stored through the group committer. Also prints the disk bytes
//! per entry after compaction. Run: `cargo bench -p tally-node --bench ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tally_node::commit::{Committer, Request};
use tally_node::ingest::Ledger;
use tally_node::store::Store;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::genesis::Genesis;
use tally_sdk::template::demo_consortium;
use tally_sdk::time::Timestamp;

const PER_MEMBER: u64 = 4_000;
const BATCH: usize = 1_000;

fn entries(genesis: &Genesis, keys: &[tally_sdk::keyfile::MemberKeys]) -> Vec<Vec<SignedEntry>> {
    keys.iter()
        .map(|k| {
            let mut prev = None;
            (0..PER_MEMBER)
                .map(|seq| {
                    let event = json!({
                        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
                        "disposition": "in_transit",
                        "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
                        "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{}-{seq}", k.member)],
                        "readPoint": {"id": "urn:epc:id:sgln:9506000.13435.1"},
                    });
                    let e = UnsignedEntry::event(
                        genesis.network_id(), k.member.clone(), seq, prev,
                        Timestamp(1_772_326_800_000 + seq), vec![], &event, None,
                    ).unwrap().sign(&k.signing).unwrap();
                    prev = Some(e.hash().unwrap());
                    e
                })
                .collect()
        })
        .collect()
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Submits every chain in batches, the members' requests interleaved; returns the time taken.
fn ingest(genesis: &Genesis, chains: &[Vec<SignedEntry>]) -> (Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), genesis.network_id(), 64).unwrap());
    let ledger = Ledger::open(genesis.clone(), &store, 100_000).unwrap();
    let (committer, writer) = Committer::start(store, ledger, None, 64, 20_000).unwrap();
    let start = Instant::now();
    let threads: Vec<_> = chains
        .iter()
        .map(|chain| {
            let committer = committer.clone();
            let batches: Vec<Vec<SignedEntry>> = chain.chunks(BATCH).map(<[_]>::to_vec).collect();
            std::thread::spawn(move || {
                for batch in batches {
                    committer.submit(Request::Entries(batch)).unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed();
    drop(committer);
    writer.join();
    (elapsed, dir)
}

fn bench(c: &mut Criterion) {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let chains = entries(&genesis, &keys);
    let total = chains.iter().map(Vec::len).sum::<usize>() as u64;

    let (_, dir) = ingest(&genesis, &chains);
    let store = Store::open(dir.path(), genesis.network_id(), 64).unwrap();
    store.compact().unwrap();
    drop(store);
    eprintln!(
        "disk bytes per entry after compaction (entry, chain, head and indexes): {:.0}",
        dir_size(dir.path()) as f64 / total as f64
    );

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function(
        format!("{total}_presigned_entries_5_members_batches_of_{BATCH}"),
        |b| b.iter_custom(|iterations| (0..iterations).map(|_| ingest(&genesis, &chains).0).sum()),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
