//! Properties of the verifiable logs (`tally_sdk::tlog`), against oracles written from the
//! definitions: RFC 6962 §2.1's `MTH` for roots, C2SP tlog-tiles' formula for tile contents.
//!
//! For logs of up to a few thousand leaves appended in random batches: the tiles written
//! incrementally are the tiles computed from scratch, the right edge resumes from them, every
//! proof built from them verifies against the root computed directly, and a proof with one
//! flipped bit, a wrong index, a wrong size, a wrong leaf or root, or a hash too few or too many
//! is refused. One more test counts the reads a proof makes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use tally_sdk::tlog::hash::{EMPTY_ROOT, LogHash};
use tally_sdk::tlog::proof::{
    consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof, tree_root,
    verify_consistency, verify_inclusion,
};
use tally_sdk::tlog::tile::{
    MemoryTiles, RightEdge, Tile, TileData, TileError, TileHashReader, TileReader,
    tiles_for_append, tiles_for_nodes,
};

fn leaves(n: usize) -> Vec<LogHash> {
    (0..n as u64)
        .map(|i| LogHash::leaf(&i.to_be_bytes()))
        .collect()
}

/// RFC 6962 §2.1, from the definition.
fn mth(leaves: &[LogHash]) -> LogHash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            LogHash::node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// C2SP tlog-tiles: the n-th tile at level l holds, for i in 0..256,
/// `MTH(D[(n·256 + i)·256^l .. (n·256 + i + 1)·256^l])`, for the hashes that are complete.
fn tiles_from_scratch(leaves: &[LogHash]) -> Vec<TileData> {
    let mut tiles = Vec::new();
    let mut span = 1usize; // 256^l
    for level in 0u8.. {
        let hashes = leaves.len() / span;
        if hashes == 0 {
            break;
        }
        for n in 0..hashes.div_ceil(256) {
            let width = (hashes - n * 256).min(256);
            let mut data = Vec::new();
            for i in 0..width {
                let start = (n * 256 + i) * span;
                data.extend_from_slice(mth(&leaves[start..start + span]).as_bytes());
            }
            tiles.push(TileData {
                tile: Tile::new(level, n as u64, width as u16).unwrap(),
                data,
            });
        }
        span *= 256;
    }
    tiles
}

/// Appends `all` in batches of the given sizes (cycled), checking each append; returns the
/// store and the edge.
fn build(all: &[LogHash], batches: &[usize]) -> (MemoryTiles, RightEdge) {
    let mut store = MemoryTiles::new();
    let mut edge = RightEdge::new();
    let mut at = 0;
    for batch in batches.iter().cycle() {
        if at == all.len() {
            break;
        }
        let end = (at + batch).min(all.len());
        let changed = edge.append(&all[at..end]).unwrap();
        let addresses: Vec<Tile> = changed.iter().map(|t| t.tile).collect();
        assert_eq!(addresses, tiles_for_append(at as u64, end as u64).unwrap());
        store.write(changed);
        at = end;
    }
    (store, edge)
}

fn flip(proof: &[LogHash], which: Index, bit: u8) -> Vec<LogHash> {
    let mut bad = proof.to_vec();
    let i = which.index(bad.len());
    let mut bytes = bad[i].to_bytes();
    bytes[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    bad[i] = LogHash::from_bytes(bytes);
    bad
}

/// Another value in `lo..=hi` than `not` (None if there is none).
fn other(lo: u64, hi: u64, not: u64, pick: Index) -> Option<u64> {
    let count = hi - lo; // values other than `not` in lo..=hi
    if count == 0 {
        return None;
    }
    let v = lo + pick.index(count as usize) as u64;
    Some(if v >= not { v + 1 } else { v })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_tiles_equal_tiles_from_scratch(
        n in 1usize..3000,
        batches in vec(1usize..700, 1..12),
    ) {
        let all = leaves(n);
        let (store, edge) = build(&all, &batches);
        prop_assert_eq!(store.all(), tiles_from_scratch(&all));
        prop_assert_eq!(edge.root(), mth(&all));
        // The right edge resumes from the stored partial tiles.
        let partial: Vec<TileData> = RightEdge::resume_tiles(n as u64)
            .into_iter()
            .map(|tile| TileData {
                tile,
                data: store.get(tile.level(), tile.index()).unwrap().to_vec(),
            })
            .collect();
        prop_assert_eq!(RightEdge::resume(n as u64, &partial).unwrap(), edge);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inclusion_proofs_verify_and_corruptions_are_refused(
        n in 1usize..3000,
        batches in vec(1usize..700, 1..12),
        size in any::<Index>(),
        index in any::<Index>(),
        read_at_size in any::<bool>(),
        which in any::<Index>(),
        bit in any::<u8>(),
        pick in any::<Index>(),
    ) {
        let all = leaves(n);
        let (store, _) = build(&all, &batches);
        let size = 1 + size.index(n) as u64;
        let index = index.index(size as usize) as u64;
        // A reader of the store as it is now, or of the tree the proof is for.
        let reader = TileHashReader::new(if read_at_size { size } else { n as u64 }, &store);
        let root = mth(&all[..size as usize]);
        prop_assert_eq!(tree_root(size, &reader).unwrap(), root);
        let leaf = all[index as usize];
        let proof = inclusion_proof(index, size, &reader).unwrap();
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_ok());

        if !proof.is_empty() {
            let bad = flip(&proof, which, bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
            let short = &proof[..proof.len() - 1];
            prop_assert!(verify_inclusion(&leaf, index, size, short, &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        if let Some(wrong) = other(0, size - 1, index, pick) {
            prop_assert!(verify_inclusion(&leaf, wrong, size, &proof, &root).is_err());
            let other_leaf = all[wrong as usize];
            prop_assert!(verify_inclusion(&other_leaf, index, size, &proof, &root).is_err());
        }
        // Another size, checked against that size's root (the root commits to the size).
        if let Some(wrong) = other(index + 1, n as u64, size, pick) {
            let wrong_root = mth(&all[..wrong as usize]);
            prop_assert!(verify_inclusion(&leaf, index, wrong, &proof, &wrong_root).is_err());
        }
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &LogHash::leaf(b"x")).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_corruptions_are_refused(
        n in 1usize..3000,
        batches in vec(1usize..700, 1..12),
        size2 in any::<Index>(),
        size1 in any::<Index>(),
        read_at_size in any::<bool>(),
        which in any::<Index>(),
        bit in any::<u8>(),
        pick in any::<Index>(),
    ) {
        let all = leaves(n);
        let (store, _) = build(&all, &batches);
        let size2 = 1 + size2.index(n) as u64;
        let size1 = 1 + size1.index(size2 as usize) as u64;
        let reader = TileHashReader::new(if read_at_size { size2 } else { n as u64 }, &store);
        let root1 = mth(&all[..size1 as usize]);
        let root2 = mth(&all[..size2 as usize]);
        let proof = consistency_proof(size1, size2, &reader).unwrap();
        prop_assert!(verify_consistency(size1, size2, &proof, &root1, &root2).is_ok());

        if !proof.is_empty() {
            let bad = flip(&proof, which, bit);
            prop_assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
            prop_assert!(verify_consistency(size1, size2, &proof[1..], &root1, &root2).is_err());
            let short = &proof[..proof.len() - 1];
            prop_assert!(verify_consistency(size1, size2, short, &root1, &root2).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root2);
        prop_assert!(verify_consistency(size1, size2, &longer, &root1, &root2).is_err());
        if size1 != size2 {
            prop_assert!(verify_consistency(size1, size2, &proof, &root2, &root1).is_err());
        }
        if let Some(wrong) = other(1, size2, size1, pick) {
            let wrong_root = mth(&all[..wrong as usize]);
            prop_assert!(verify_consistency(wrong, size2, &proof, &wrong_root, &root2).is_err());
        }
        if let Some(wrong) = other(size1, n as u64, size2, pick) {
            let wrong_root = mth(&all[..wrong as usize]);
            prop_assert!(verify_consistency(size1, wrong, &proof, &root1, &wrong_root).is_err());
        }
        let random = LogHash::leaf(b"x");
        prop_assert!(verify_consistency(size1, size2, &proof, &root1, &random).is_err());
    }
}

/// A tile store that counts what is read from it.
struct Counting<'a> {
    inner: &'a MemoryTiles,
    calls: Cell<usize>,
    tiles: Cell<usize>,
}

impl TileReader for Counting<'_> {
    type Error = TileError;
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
        self.calls.set(self.calls.get() + 1);
        self.tiles.set(self.tiles.get() + tiles.len());
        self.inner.read_tiles(tiles)
    }
}

#[test]
fn proofs_read_few_tiles_in_one_call() {
    let n = 70_000usize; // three tile levels, as in the tlog-tiles example
    let all = leaves(n);
    let (store, _) = build(&all, &[4096, 1, 255, 10_000]);
    let counting = Counting {
        inner: &store,
        calls: Cell::new(0),
        tiles: Cell::new(0),
    };
    let (mut max_tiles, mut max_nodes) = ((0, 0), (0, 0));
    let reset = || {
        let seen = (counting.calls.get(), counting.tiles.get());
        counting.calls.set(0);
        counting.tiles.set(0);
        seen
    };
    let mut step = 0u64;
    for size in [
        1u64, 2, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, 70_000,
    ] {
        let reader = TileHashReader::new(n as u64, &counting);
        for index in [0, size / 3, size / 2, size - 1] {
            inclusion_proof(index, size, &reader).unwrap();
            let (calls, tiles) = reset();
            let nodes = inclusion_nodes(index, size).unwrap();
            // One call, none for a one-leaf tree (its proof is empty).
            assert_eq!(calls, usize::from(!nodes.is_empty()));
            assert_eq!(tiles, tiles_for_nodes(&nodes, n as u64).unwrap().len());
            max_tiles.0 = max_tiles.0.max(tiles);
            max_nodes.0 = max_nodes.0.max(nodes.len());
        }
        for size1 in [1, size / 3 + 1, size - 1 + u64::from(size == 1)] {
            if size1 == size {
                continue;
            }
            consistency_proof(size1, size, &reader).unwrap();
            let (calls, tiles) = reset();
            assert_eq!(calls, 1);
            let nodes = consistency_nodes(size1, size).unwrap();
            max_tiles.1 = max_tiles.1.max(tiles);
            max_nodes.1 = max_nodes.1.max(nodes.len());
        }
        step += 1;
    }
    println!(
        "log of {n} leaves, {step} sizes: inclusion proofs read at most {} tiles ({} nodes), \
         consistency proofs at most {} tiles ({} nodes), each in one call",
        max_tiles.0, max_nodes.0, max_tiles.1, max_nodes.1
    );
    // Three tile levels: at most a leaf's tile and the right border's tile on each.
    assert!(max_tiles.0 <= 6 && max_tiles.1 <= 6);
    assert!(max_nodes.0 <= 2 * 17 && max_nodes.1 <= 2 * 17 + 1);
}
