//! A log of 10 million leaves: what appending costs and how long building a proof from tiles
//! held in memory takes. Ignored by default — it hashes about 20 million times and holds
//! about 330 MB of tiles. Run it in release:
//! `cargo test --release -p tally-sdk --test tlog_scale -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::proof::{
    consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
};
use tally_sdk::tlog::tile::{MemoryTiles, RightEdge, Tile, TileError, TileHashReader, TileReader};

const LEAVES: u64 = 10_000_000;
const PROOFS: u32 = 2_000;

struct Counting<'a> {
    inner: &'a MemoryTiles,
    tiles: Cell<usize>,
}

impl TileReader for Counting<'_> {
    type Error = TileError;
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
        self.tiles.set(self.tiles.get() + tiles.len());
        self.inner.read_tiles(tiles)
    }
}

/// xorshift64*: reproducible indexes without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// The most tiles one of the `PROOFS` proofs `build` makes reads.
fn most_tiles(counting: &Counting<'_>, build: impl Fn(usize)) -> usize {
    (0..PROOFS as usize)
        .map(|i| {
            counting.tiles.set(0);
            build(i);
            counting.tiles.get()
        })
        .max()
        .unwrap_or(0)
}

fn per(total: Duration, count: u32) -> String {
    format!("{:.1} µs", total.as_secs_f64() * 1e6 / f64::from(count))
}

#[test]
#[ignore = "10 million leaves: run in release with --ignored"]
fn ten_million_leaves() {
    let started = Instant::now();
    let mut edge = RightEdge::new();
    let mut store = MemoryTiles::new();
    let mut batch = Vec::with_capacity(1 << 16);
    let mut first = 0;
    while first < LEAVES {
        let end = (first + (1 << 16)).min(LEAVES);
        batch.clear();
        batch.extend((first..end).map(|i| LogHash::leaf(&i.to_be_bytes())));
        store.write(edge.append(&batch).unwrap());
        first = end;
    }
    let appended = started.elapsed();
    let root = edge.root();
    println!(
        "appended {LEAVES} leaves in {:.2} s ({} per leaf, leaf hashing included), {} tiles",
        appended.as_secs_f64(),
        per(appended, LEAVES as u32),
        store.len()
    );

    let counting = Counting {
        inner: &store,
        tiles: Cell::new(0),
    };
    let reader = TileHashReader::new(LEAVES, &counting);
    assert_eq!(tree_root(LEAVES, &reader).unwrap(), root);

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let indexes: Vec<u64> = (0..PROOFS).map(|_| next(&mut rng) % LEAVES).collect();
    counting.tiles.set(0);
    let timer = Instant::now();
    let proofs: Vec<Vec<LogHash>> = indexes
        .iter()
        .map(|index| inclusion_proof(*index, LEAVES, &reader).unwrap())
        .collect();
    let built = timer.elapsed();
    let tiles_read = counting.tiles.get();
    let most = most_tiles(&counting, |i| {
        inclusion_proof(indexes[i], LEAVES, &reader).unwrap();
    });
    let timer = Instant::now();
    for (index, proof) in indexes.iter().zip(&proofs) {
        let leaf = LogHash::leaf(&index.to_be_bytes());
        verify_inclusion(&leaf, *index, LEAVES, proof, &root).unwrap();
    }
    let verified = timer.elapsed();
    println!(
        "inclusion proofs in a tree of {LEAVES}: built in {} each ({:.1} tiles read, at most \
         {most}; {} hashes long), verified in {} each",
        per(built, PROOFS),
        tiles_read as f64 / f64::from(PROOFS),
        proofs[0].len(),
        per(verified, PROOFS)
    );

    // Consistency from random older sizes to the full tree.
    let sizes: Vec<u64> = (0..PROOFS)
        .map(|_| 1 + next(&mut rng) % (LEAVES - 1))
        .collect();
    counting.tiles.set(0);
    let timer = Instant::now();
    let proofs: Vec<Vec<LogHash>> = sizes
        .iter()
        .map(|size| consistency_proof(*size, LEAVES, &reader).unwrap())
        .collect();
    let built = timer.elapsed();
    let tiles_read = counting.tiles.get();
    let most = most_tiles(&counting, |i| {
        consistency_proof(sizes[i], LEAVES, &reader).unwrap();
    });
    for (size, proof) in sizes.iter().zip(&proofs).take(20) {
        let old = tree_root(*size, &TileHashReader::new(*size, &store)).unwrap();
        verify_consistency(*size, LEAVES, proof, &old, &root).unwrap();
    }
    println!(
        "consistency proofs to {LEAVES}: built in {} each ({:.1} tiles read, at most {most})",
        per(built, PROOFS),
        tiles_read as f64 / f64::from(PROOFS)
    );
}
