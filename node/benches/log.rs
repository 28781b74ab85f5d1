//! A chain's verifiable log in a warm RocksDB store: the root, an inclusion proof and a
//! consistency proof of a chain of `TALLY_BENCH_LOG` entries (default 1,000,000), each read
//! from the chain's tiles (`node/src/store/tiles.rs`). The tiles are written as the writer
//! writes them (the right edge appended in groups of 2,000 leaves, one batch each); the
//! leaves are made-up entry hashes, as the log reads no entry.
//!
//! Run: `cargo bench -p tally-node --bench log` (`TALLY_BENCH_LOG=10000000` for a chain of
//! ten million entries: about 320 MB of tiles).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tally_node::store::keys::MemberCode;
use tally_node::store::rocks::RocksStore;
use tally_node::store::tiles::{ChainTiles, put_tiles};
use tally_node::store::{Batch, Store};
use tally_sdk::hash::EntryHash;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::tile::RightEdge;

const GROUP: u64 = 2_000;

fn size() -> u64 {
    std::env::var("TALLY_BENCH_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn bench(c: &mut Criterion) {
    let (signed, _) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let code = MemberCode(0);
    let size = size();
    let started = std::time::Instant::now();
    let mut edge = RightEdge::new();
    let mut next = 0u64;
    while next < size {
        let end = (next + GROUP).min(size);
        let leaves: Vec<LogHash> = (next..end)
            .map(|i| LogHash::entry_leaf(&EntryHash::digest(&i.to_be_bytes())))
            .collect();
        let mut batch = Batch::default();
        put_tiles(&mut batch, code, edge.append(&leaves).unwrap());
        store.write(batch).unwrap();
        next = end;
    }
    eprintln!(
        "log of {size} entries written in {:.2?}; root {}",
        started.elapsed(),
        edge.root().to_hex()
    );
    let tiles = ChainTiles::new(&store, code);
    assert_eq!(tiles.root(size).unwrap(), edge.root());
    let mut group = c.benchmark_group("log");
    let mut index = 0u64;
    group.bench_function(format!("inclusion_proof_of_{size}"), |b| {
        b.iter(|| {
            // A different leaf each time, spread over the whole chain.
            index = (index + 7_919_993) % size;
            black_box(tiles.inclusion(index, size).unwrap())
        })
    });
    let mut older = 1u64;
    group.bench_function(format!("consistency_proof_to_{size}"), |b| {
        b.iter(|| {
            older = (older + 7_919_993) % (size - 1) + 1;
            black_box(tiles.consistency(older, size).unwrap())
        })
    });
    group.bench_function(format!("root_of_{size}"), |b| {
        b.iter(|| black_box(tiles.root(size).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
