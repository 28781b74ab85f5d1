//! Tree roots, inclusion proofs and consistency proofs of a log: built from storage through a
//! [`HashReader`], and verified exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 state it.
//!
//! # Building
//!
//! A proof is a list of Merkle tree hashes of ranges of leaves (RFC 6962 §2.1.1 `PATH` and
//! §2.1.2 `SUBPROOF`, bottom-up). A range inside the tree is a complete subtree, one stored
//! node; a range on the right border (ending at the tree size) is several complete subtrees,
//! hashed together right to left. So a proof needs `O(log n)` nodes — [`inclusion_nodes`] and
//! [`consistency_nodes`] list them, [`crate::tlog::tile::tiles_for_nodes`] the tiles they are
//! in — and the builders read them all in **one** [`HashReader::read_hashes`] call, which a
//! tile-backed reader answers with at most a few tile reads per 8 tree levels.
//!
//! # Verifying
//!
//! [`verify_inclusion`] and [`verify_consistency`] follow the RFC's steps literally (the `fn`,
//! `sn`, `fr`, `sr` variables). Where the RFC says nothing:
//! * `size1 == size2 > 0`: consistent only with an empty proof and equal roots;
//! * `size1 == 0`: refused. Every tree extends the empty tree, so such a proof proves nothing;
//!   a caller that starts from nothing (a witness's first cosignature of a chain) decides that
//!   itself, as [`crate::tlog::equivocation::verify_consistent`] does.
//!
//! Both match the transparency-dev/merkle verifier on all of its published vectors
//! (`sdk/tests/tlog_vectors.rs`).

use crate::tlog::hash::LogHash;
use crate::tlog::tile::{HashReader, NodeId, fold_right};

/// A proof, or the sizes and indexes it is for, are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexBeyondSize {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has more hashes than the path from the leaf (or old tree) to the root.
    #[error("the proof has more hashes than the tree's shape allows")]
    ProofTooLong,
    /// The proof has fewer hashes than the path from the leaf (or old tree) to the root.
    #[error("the proof has fewer hashes than the tree's shape needs")]
    ProofTooShort,
    /// The proof leads to another root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    /// The second tree is smaller than the first.
    #[error("the second tree ({size2}) is smaller than the first ({size1})")]
    SizesReversed {
        /// The first size.
        size1: u64,
        /// The second size.
        size2: u64,
    },
    /// Consistency from the empty tree proves nothing.
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    /// Trees of equal size are consistent only when their roots are equal, with no proof.
    #[error("trees of equal size need an empty proof")]
    EqualSizesProofNotEmpty,
    /// Trees of equal size with different roots.
    #[error("trees of equal size have different roots")]
    EqualSizesRootsDiffer,
    /// An empty consistency proof between different sizes.
    #[error("the consistency proof is empty")]
    EmptyProof,
    /// The proof does not lead to the first root.
    #[error("the proof does not lead to the first tree's root")]
    OldRootMismatch,
    /// The proof does not lead to the second root.
    #[error("the proof does not lead to the second tree's root")]
    NewRootMismatch,
}

/// A proof could not be built: the request makes no sense, or storage failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError<E: std::error::Error + 'static> {
    /// The request itself is wrong (an index past the size, sizes reversed, size 0).
    #[error(transparent)]
    Request(#[from] VerifyError),
    /// Storage failed.
    #[error("reading the log's hashes: {0}")]
    Read(#[source] E),
    /// Storage answered with a different number of hashes than it was asked for.
    #[error("asked storage for {asked} hashes, got {got}")]
    ReadCount {
        /// Hashes asked for.
        asked: usize,
        /// Hashes returned.
        got: usize,
    },
}

/// The largest power of two strictly below `n` (`n >= 2`): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees that make up the leaves `lo..hi`, left to right, each as large as
/// its alignment allows. For the ranges proofs use (a complete subtree, or a right border
/// starting at a multiple of a power of two at least as large as the range), RFC 6962's hash
/// of the range is these nodes folded right to left.
fn range_nodes(mut lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    while lo < hi {
        let align = if lo == 0 { 63 } else { lo.trailing_zeros() };
        let fits = 63 - (hi - lo).leading_zeros();
        let level = align.min(fits);
        out.push(NodeId::within_u64(level as u8, lo >> level));
        lo += 1 << level;
    }
}

/// The ranges of an inclusion proof for leaf `index` in a tree of `size` (RFC 6962 `PATH`),
/// bottom-up.
fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0, size);
    let mut ranges = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges.reverse();
    ranges
}

/// The ranges of a consistency proof between sizes `0 < size1 < size2` (RFC 6962
/// `SUBPROOF(m, D[n], true)`), in proof order.
fn consistency_ranges(size1: u64, size2: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi, mut m) = (0, size2, size1);
    let mut complete_subtree = true; // RFC 6962's `b`
    let mut first = None;
    let mut ranges = Vec::new();
    loop {
        let n = hi - lo;
        if m == n {
            if !complete_subtree {
                first = Some((lo, hi));
            }
            break;
        }
        let k = split(n);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            m -= k;
            complete_subtree = false;
        }
    }
    ranges.reverse();
    first.into_iter().chain(ranges).collect()
}

/// The nodes to read for `ranges`, and how many belong to each range.
fn plan(ranges: &[(u64, u64)]) -> (Vec<NodeId>, Vec<usize>) {
    let mut nodes = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        let before = nodes.len();
        range_nodes(*lo, *hi, &mut nodes);
        counts.push(nodes.len() - before);
    }
    (nodes, counts)
}

/// Reads `nodes` in one call and folds them back into one hash per range.
fn execute<R: HashReader>(
    reader: &R,
    nodes: &[NodeId],
    counts: &[usize],
) -> Result<Vec<LogHash>, BuildError<R::Error>> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(nodes).map_err(BuildError::Read)?;
    if hashes.len() != nodes.len() {
        return Err(BuildError::ReadCount {
            asked: nodes.len(),
            got: hashes.len(),
        });
    }
    let mut out = Vec::with_capacity(counts.len());
    let mut at = 0;
    for count in counts {
        out.push(fold_right(&hashes[at..at + count]));
        at += count;
    }
    Ok(out)
}

/// The nodes a tree root of `size` is made of (none for the empty tree).
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    range_nodes(0, size, &mut nodes);
    nodes
}

/// The nodes an inclusion proof of leaf `index` in a tree of `size` reads.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<Vec<NodeId>, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexBeyondSize { index, size });
    }
    Ok(plan(&inclusion_ranges(index, size)).0)
}

/// The nodes a consistency proof from `size1` to `size2` reads.
pub fn consistency_nodes(size1: u64, size2: u64) -> Result<Vec<NodeId>, VerifyError> {
    check_consistency_request(size1, size2)?;
    if size1 == size2 {
        return Ok(Vec::new());
    }
    Ok(plan(&consistency_ranges(size1, size2)).0)
}

fn check_consistency_request(size1: u64, size2: u64) -> Result<(), VerifyError> {
    if size1 > size2 {
        return Err(VerifyError::SizesReversed { size1, size2 });
    }
    if size1 == 0 {
        return Err(VerifyError::EmptyOldTree);
    }
    Ok(())
}

/// The root of the tree of the first `size` leaves ([`crate::tlog::hash::EMPTY_ROOT`] for 0).
pub fn tree_root<R: HashReader>(size: u64, reader: &R) -> Result<LogHash, BuildError<R::Error>> {
    let nodes = root_nodes(size);
    let hashes = execute(reader, &nodes, &[nodes.len()])?;
    Ok(hashes
        .first()
        .copied()
        .unwrap_or(crate::tlog::hash::EMPTY_ROOT))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<R: HashReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<LogHash>, BuildError<R::Error>> {
    if index >= size {
        return Err(VerifyError::IndexBeyondSize { index, size }.into());
    }
    let (nodes, counts) = plan(&inclusion_ranges(index, size));
    execute(reader, &nodes, &counts)
}

/// The consistency proof from the tree of `size1` leaves to the tree of `size2` (empty when
/// the sizes are equal; refused for `size1 == 0`, see the module documentation).
pub fn consistency_proof<R: HashReader>(
    size1: u64,
    size2: u64,
    reader: &R,
) -> Result<Vec<LogHash>, BuildError<R::Error>> {
    check_consistency_request(size1, size2)?;
    if size1 == size2 {
        return Ok(Vec::new());
    }
    let (nodes, counts) = plan(&consistency_ranges(size1, size2));
    execute(reader, &nodes, &counts)
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1 to 5, without the final
/// comparison).
pub fn root_from_inclusion(
    leaf: &LogHash,
    index: u64,
    size: u64,
    proof: &[LogHash],
) -> Result<LogHash, VerifyError> {
    // 1. leaf_index must be below tree_size.
    if index >= size {
        return Err(VerifyError::IndexBeyondSize { index, size });
    }
    // 2., 3.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    // 4.
    for p in proof {
        // a.
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        // b.
        if fn_ & 1 == 1 || fn_ == sn {
            r = LogHash::node(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = LogHash::node(&r, p);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5. (sn; the root is compared by the caller)
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    Ok(r)
}

/// Verifies that `leaf` (a leaf hash, [`LogHash::entry_leaf`] for a Tally entry) is leaf
/// `index` of the tree of `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &LogHash,
    index: u64,
    size: u64,
    proof: &[LogHash],
    root: &LogHash,
) -> Result<(), VerifyError> {
    if root_from_inclusion(leaf, index, size, proof)? != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1`
/// leaves with root `root1` (RFC 9162 §2.1.4.2 for `0 < size1 < size2`; see the module
/// documentation for equal sizes and size 0).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[LogHash],
    root1: &LogHash,
    root2: &LogHash,
) -> Result<(), VerifyError> {
    check_consistency_request(size1, size2)?;
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(VerifyError::EqualSizesProofNotEmpty);
        }
        if root1 != root2 {
            return Err(VerifyError::EqualSizesRootsDiffer);
        }
        return Ok(());
    }
    // 1.
    if proof.is_empty() {
        return Err(VerifyError::EmptyProof);
    }
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let prepended = size1.is_power_of_two().then_some(root1);
    let mut path = prepended.into_iter().chain(proof.iter());
    // 3.
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    // 4.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // 5.
    let Some(first) = path.next() else {
        return Err(VerifyError::EmptyProof);
    };
    let (mut fr, mut sr) = (*first, *first);
    // 6.
    for c in path {
        // a.
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        // b.
        if fn_ & 1 == 1 || fn_ == sn {
            fr = LogHash::node(c, &fr);
            sr = LogHash::node(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = LogHash::node(&sr, c);
        }
        // c.
        fn_ >>= 1;
        sn >>= 1;
    }
    // 7.
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if fr != *root1 {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *root2 {
        return Err(VerifyError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tlog::hash::EMPTY_ROOT;
    use crate::tlog::tile::{MemoryTiles, RightEdge, TileHashReader};

    /// RFC 6962 §2.1's MTH, written from the definition.
    fn mth(leaves: &[LogHash]) -> LogHash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                LogHash::node(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn log(n: u64) -> (Vec<LogHash>, MemoryTiles) {
        let leaves: Vec<LogHash> = (0..n).map(|i| LogHash::leaf(&i.to_le_bytes())).collect();
        let mut edge = RightEdge::new();
        let mut tiles = MemoryTiles::new();
        tiles.write(edge.append(&leaves).unwrap());
        assert_eq!(edge.root(), mth(&leaves));
        (leaves, tiles)
    }

    #[test]
    fn rfc6962_reference_proofs() {
        // transparency-dev/merkle's reference tree: the eight leaves "", 00, 10, 2021, 3031,
        // 40414243, 5051525354555657, 606162636465666768696a6b6c6d6e6f.
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let leaves: Vec<LogHash> = data.iter().map(|d| LogHash::leaf(d)).collect();
        let mut edge = RightEdge::new();
        let mut tiles = MemoryTiles::new();
        tiles.write(edge.append(&leaves).unwrap());
        assert_eq!(
            edge.root().to_hex(),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        let reader = TileHashReader::new(8, &tiles);
        let hex = |p: Vec<LogHash>| p.iter().map(LogHash::to_hex).collect::<Vec<_>>();
        // Inclusion of leaf 5 (index 5, 1-based 6) in the tree of 8.
        assert_eq!(
            hex(inclusion_proof(5, 8, &reader).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        // Consistency 6 → 8 and 2 → 5.
        assert_eq!(
            hex(consistency_proof(6, 8, &reader).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        let reader5 = TileHashReader::new(5, &tiles);
        assert_eq!(
            hex(consistency_proof(2, 5, &reader5).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_corruptions_fail() {
        let (leaves, tiles) = log(40);
        for size in 1..=40u64 {
            let reader = TileHashReader::new(size, &tiles);
            let root = mth(&leaves[..size as usize]);
            assert_eq!(tree_root(size, &reader).unwrap(), root);
            for index in 0..size {
                let proof = inclusion_proof(index, size, &reader).unwrap();
                let leaf = leaves[index as usize];
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
                if index + 1 < size {
                    assert!(verify_inclusion(&leaf, index + 1, size, &proof, &root).is_err());
                }
                // Against the root of another size the proof fails. (Against the same root it
                // may not: the root, not the proof, commits to the size.)
                if size < 40 {
                    let other = mth(&leaves[..size as usize + 1]);
                    assert!(verify_inclusion(&leaf, index, size + 1, &proof, &other).is_err());
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    let mut bytes = bad[i].to_bytes();
                    bytes[31] ^= 1;
                    bad[i] = LogHash::from_bytes(bytes);
                    assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                }
            }
            for size1 in 1..=size {
                let root1 = mth(&leaves[..size1 as usize]);
                let proof = consistency_proof(size1, size, &reader).unwrap();
                verify_consistency(size1, size, &proof, &root1, &root).unwrap();
                if size1 < size {
                    assert!(verify_consistency(size1, size, &proof, &root, &root).is_err());
                    let mut short = proof.clone();
                    short.pop();
                    assert!(verify_consistency(size1, size, &short, &root1, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn requests_outside_the_tree_are_refused() {
        let (_, tiles) = log(10);
        let reader = TileHashReader::new(10, &tiles);
        assert!(matches!(
            inclusion_proof(10, 10, &reader),
            Err(BuildError::Request(VerifyError::IndexBeyondSize { .. }))
        ));
        assert!(matches!(
            consistency_proof(0, 10, &reader),
            Err(BuildError::Request(VerifyError::EmptyOldTree))
        ));
        assert!(matches!(
            consistency_proof(11, 10, &reader),
            Err(BuildError::Request(VerifyError::SizesReversed { .. }))
        ));
        // A reader that holds fewer leaves than the proof's tree.
        assert!(matches!(
            inclusion_proof(3, 20, &reader),
            Err(BuildError::Read(_))
        ));
        assert_eq!(tree_root(0, &reader).unwrap(), EMPTY_ROOT);
        assert!(consistency_proof(7, 7, &reader).unwrap().is_empty());
    }

    /// A tile store that counts the tiles read from it.
    struct Counting<'a> {
        tiles: &'a MemoryTiles,
        read: std::cell::Cell<usize>,
    }

    impl crate::tlog::tile::TileReader for Counting<'_> {
        type Error = crate::tlog::tile::TileError;

        fn read_tiles(
            &self,
            tiles: &[crate::tlog::tile::Tile],
        ) -> Result<Vec<Vec<u8>>, Self::Error> {
            self.read.set(self.read.get() + tiles.len());
            self.tiles.read_tiles(tiles)
        }
    }

    /// Grows a log by `appends`, and after each append asks for roots and proofs at `asks`
    /// (fractions of the size, in thousandths) through `cache` and without it: they must be
    /// the same, and verify. With `forget`, the writer tells the cache which tiles it wrote, as
    /// a node does; without, the cache must still be exact, as tiles only ever grow.
    fn cached_proofs_equal_uncached(
        appends: &[usize],
        asks: &[(u64, u64)],
        cache: &crate::tlog::tile::TileCache,
        forget: bool,
    ) {
        use crate::tlog::tile::TileReader;
        let total: usize = appends.iter().sum();
        let leaves: Vec<LogHash> = (0..total as u64)
            .map(|i| LogHash::leaf(&i.to_le_bytes()))
            .collect();
        let mut edge = RightEdge::new();
        let mut tiles = MemoryTiles::new();
        let mut at = 0;
        for append in appends {
            let written = edge.append(&leaves[at..at + append]).unwrap();
            at += append;
            if forget {
                cache.forget(written.iter().map(|t| (9, t.tile.level(), t.tile.index())));
            }
            tiles.write(written);
            let size = edge.size();
            if size == 0 {
                continue;
            }
            let plain = TileHashReader::new(size, &tiles);
            let cached = TileHashReader::new(size, &tiles).cached(cache, 9);
            let root = edge.root();
            assert_eq!(tree_root(size, &cached).unwrap(), root);
            for (a, b) in asks {
                let older = (size * a / 1000).max(1);
                let index = (size * b / 1000).min(size - 1);
                assert_eq!(
                    tree_root(older, &TileHashReader::new(older, &tiles).cached(cache, 9)).unwrap(),
                    tree_root(older, &TileHashReader::new(older, &tiles)).unwrap(),
                );
                let proof = inclusion_proof(index, size, &cached).unwrap();
                assert_eq!(proof, inclusion_proof(index, size, &plain).unwrap());
                verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
                let proof = consistency_proof(older, size, &cached).unwrap();
                assert_eq!(proof, consistency_proof(older, size, &plain).unwrap());
                let older_root = tree_root(older, &plain).unwrap();
                verify_consistency(older, size, &proof, &older_root, &root).unwrap();
            }
        }
        // Warm: the same proof again reads no tile when the cache holds what it needs.
        let size = edge.size();
        if size > 0 && cache.max_bytes() >= 64 * crate::tlog::tile::FULL_TILE_CACHE_BYTES {
            let counting = Counting {
                tiles: &tiles,
                read: std::cell::Cell::new(0),
            };
            let reader = TileHashReader::new(size, &counting).cached(cache, 9);
            let first = inclusion_proof(size / 2, size, &reader).unwrap();
            let read = counting.read.get();
            assert_eq!(inclusion_proof(size / 2, size, &reader).unwrap(), first);
            assert_eq!(counting.read.get(), read, "a warm proof read tiles");
            assert!(counting.read_tiles(&[]).unwrap().is_empty());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Proofs served through a cache — roomy, or so small it drops tiles all the time —
        /// equal the proofs computed without one, at every size a growing log passes through
        /// (partial tiles widening, filling, and read at older, narrower sizes).
        #[test]
        fn proofs_through_a_cache_equal_proofs_without(
            appends in proptest::collection::vec(
                proptest::prop_oneof![1usize..4, 1usize..300, 250usize..700],
                1..8,
            ),
            asks in proptest::collection::vec((0u64..=1000, 0u64..=1000), 1..4),
            small in proptest::bool::ANY,
            forget in proptest::bool::ANY,
        ) {
            let bytes = if small { 3 } else { 1024 } * crate::tlog::tile::FULL_TILE_CACHE_BYTES;
            let cache = crate::tlog::tile::TileCache::new(bytes);
            cached_proofs_equal_uncached(&appends, &asks, &cache, forget);
            proptest::prop_assert!(cache.stats().bytes <= bytes);
        }
    }

    /// The same across a level-2 tile (past 65,536 leaves), with one cache shared by the
    /// sizes on both sides of it.
    #[test]
    fn cached_proofs_across_three_tile_levels() {
        let cache =
            crate::tlog::tile::TileCache::new(256 * crate::tlog::tile::FULL_TILE_CACHE_BYTES);
        let asks = [(1, 999), (500, 0), (999, 500), (1000, 1000)];
        cached_proofs_equal_uncached(&[65_535, 1, 1, 254, 256, 3_000], &asks, &cache, true);
        assert!(cache.stats().hits > 0);
    }

    #[test]
    fn proofs_read_logarithmically_many_nodes() {
        for (size, index) in [(10_000_000u64, 6_543_210u64), (u64::MAX, u64::MAX / 3)] {
            let nodes = inclusion_nodes(index, size).unwrap();
            assert!(nodes.len() <= 2 * 64, "{}", nodes.len());
            let nodes = consistency_nodes(size / 3, size).unwrap();
            assert!(nodes.len() <= 2 * 64 + 1, "{}", nodes.len());
        }
    }
}
