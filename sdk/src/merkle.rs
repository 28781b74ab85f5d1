//! Merkle trees with RFC 6962 hashing, inclusion proofs and multi-proofs.
//!
//! The tree shape is the complete binary Merkle tree (CBMT) of the `merkle-cbt` crate: for `n`
//! leaves, nodes are numbered `0..2n-1` with children of `i` at `2i+1` and `2i+2`, and leaf `k`
//! at node `n-1+k`. Hashing follows RFC 6962: leaves arrive already hashed as
//! `SHA-256(0x00 || data)` ([`LeafHash`]); an inner node is `SHA-256(0x01 || left || right)`.
//! merkle-cbt has no domain separation of its own: [`Rfc6962`] adds the node prefix.
//!
//! Two cases are defined here rather than left to the crate: the root of a one-leaf tree is the
//! leaf hash itself (as in RFC 6962), and the root of an empty tree is `SHA-256(0x01)`, the
//! node-domain hash of nothing (the crate would return 32 zero bytes).
//!
//! A [`MultiProof`] carries the tree's leaf count, the leaf positions and the sibling hashes.
//! merkle-cbt pairs leaves with positions by sorting both by value; verification here instead
//! takes explicit `(position, leaf)` pairs and binds them: positions must be distinct, in range,
//! and exactly those the proof was made for, and every sibling hash must be consumed.

use merkle_cbt::merkle_tree::{CBMT, Merge, MerkleProof, MerkleTree as CbmtTree};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::{HASH_LEN, LeafHash, MerkleRoot};

type Node = [u8; HASH_LEN];

/// RFC 6962 inner-node hashing for merkle-cbt.
#[derive(Debug)]
pub struct Rfc6962;

impl Merge for Rfc6962 {
    type Item = Node;
    fn merge(left: &Node, right: &Node) -> Node {
        let mut hasher = Sha256::new();
        hasher.update([0x01]);
        hasher.update(left);
        hasher.update(right);
        hasher.finalize().into()
    }
}

/// Most leaves a tree may have (positions are `u32` in merkle-cbt).
pub const MAX_LEAVES: usize = 1 << 30;

/// A proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// No positions or no leaves were given.
    #[error("a Merkle proof needs at least one leaf")]
    Empty,
    /// A position is past the end of the tree.
    #[error("leaf position {position} is outside a tree of {leaf_count} leaves")]
    OutOfRange {
        /// The position.
        position: u32,
        /// The tree's size.
        leaf_count: u32,
    },
    /// A position appears twice.
    #[error("leaf position {0} appears twice")]
    DuplicatePosition(u32),
    /// The tree is too large.
    #[error("a Merkle tree may have at most {MAX_LEAVES} leaves")]
    TooLarge,
    /// The leaves given are not the leaves the proof was made for.
    #[error("the leaves given are at positions the proof does not cover")]
    PositionsDiffer,
    /// The computed root differs from the expected root.
    #[error("the Merkle proof does not lead to the expected root")]
    RootMismatch,
}

/// A Merkle tree over leaf hashes.
pub struct MerkleTree {
    leaf_count: usize,
    tree: CbmtTree<Node, Rfc6962>,
}

impl std::fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerkleTree")
            .field("leaf_count", &self.leaf_count)
            .field("root", &self.root())
            .finish()
    }
}

/// The root of a tree over `leaves`, without keeping the tree.
pub fn root_of(leaves: &[LeafHash]) -> MerkleRoot {
    if leaves.is_empty() {
        return empty_root();
    }
    let raw: Vec<Node> = leaves.iter().map(|l| l.to_bytes()).collect();
    MerkleRoot::from_bytes(CBMT::<Node, Rfc6962>::build_merkle_root(&raw))
}

/// The root of the empty tree.
pub fn empty_root() -> MerkleRoot {
    MerkleRoot::digest(&[])
}

impl MerkleTree {
    /// Builds the tree.
    pub fn new(leaves: Vec<LeafHash>) -> Self {
        let leaves: Vec<Node> = leaves.into_iter().map(LeafHash::to_bytes).collect();
        Self {
            leaf_count: leaves.len(),
            tree: CBMT::<Node, Rfc6962>::build_merkle_tree(&leaves),
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.leaf_count
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaf_count == 0
    }

    /// The root.
    pub fn root(&self) -> MerkleRoot {
        match self.tree.nodes().first() {
            Some(root) => MerkleRoot::from_bytes(*root),
            None => empty_root(),
        }
    }

    /// A proof for the leaves at `positions` (one position: an inclusion proof).
    pub fn prove(&self, positions: &[u32]) -> Result<MultiProof, MerkleError> {
        if positions.is_empty() || self.is_empty() {
            return Err(MerkleError::Empty);
        }
        let leaf_count = u32::try_from(self.leaf_count).map_err(|_| MerkleError::TooLarge)?;
        let mut sorted = positions.to_vec();
        sorted.sort_unstable();
        for pair in sorted.windows(2) {
            if pair[0] == pair[1] {
                return Err(MerkleError::DuplicatePosition(pair[0]));
            }
        }
        if let Some(&position) = sorted.iter().find(|&&p| p >= leaf_count) {
            return Err(MerkleError::OutOfRange {
                position,
                leaf_count,
            });
        }
        let proof = self.tree.build_proof(&sorted).ok_or(MerkleError::Empty)?;
        Ok(MultiProof {
            leaf_count,
            positions: sorted,
            siblings: proof
                .lemmas()
                .iter()
                .copied()
                .map(MerkleRoot::from_bytes)
                .collect(),
        })
    }
}

/// Proof that some leaves are at given positions of a tree with a given root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiProof {
    /// The number of leaves of the tree.
    pub leaf_count: u32,
    /// The proven positions, ascending.
    pub positions: Vec<u32>,
    /// The sibling hashes, in the order merkle-cbt consumes them.
    pub siblings: Vec<MerkleRoot>,
}

impl MultiProof {
    /// The tree size the proof is for.
    pub fn leaf_count(&self) -> u32 {
        self.leaf_count
    }

    /// Checks that `leaves` (position, leaf hash) are exactly the proven leaves of the tree
    /// with `root`.
    pub fn verify(&self, root: &MerkleRoot, leaves: &[(u32, LeafHash)]) -> Result<(), MerkleError> {
        if leaves.is_empty() || self.positions.is_empty() {
            return Err(MerkleError::Empty);
        }
        if self.leaf_count as usize > MAX_LEAVES {
            return Err(MerkleError::TooLarge);
        }
        let mut given: Vec<(u32, Node)> = leaves.iter().map(|(p, l)| (*p, l.to_bytes())).collect();
        given.sort_unstable_by_key(|(p, _)| *p);
        for pair in given.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(MerkleError::DuplicatePosition(pair[0].0));
            }
        }
        if let Some(&(position, _)) = given.iter().find(|(p, _)| *p >= self.leaf_count) {
            return Err(MerkleError::OutOfRange {
                position,
                leaf_count: self.leaf_count,
            });
        }
        if given.len() != self.positions.len()
            || given.iter().zip(&self.positions).any(|((p, _), q)| p != q)
        {
            return Err(MerkleError::PositionsDiffer);
        }
        // merkle-cbt pairs node indices with leaves by sorting the leaves by value, so hand it
        // the indices in the order of their leaves' values.
        let mut by_value = given;
        by_value.sort_unstable_by_key(|(_, leaf)| *leaf);
        let indices: Vec<u32> = by_value
            .iter()
            .map(|(p, _)| self.leaf_count - 1 + p)
            .collect();
        let values: Vec<Node> = by_value.iter().map(|(_, l)| *l).collect();
        let lemmas: Vec<Node> = self.siblings.iter().map(|s| s.to_bytes()).collect();
        let proof = MerkleProof::<Node, Rfc6962>::new(indices, lemmas);
        match proof.root(&values) {
            Some(computed) if computed == root.to_bytes() => Ok(()),
            _ => Err(MerkleError::RootMismatch),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<LeafHash> {
        (0..n as u32)
            .map(|i| LeafHash::digest(&i.to_le_bytes()))
            .collect()
    }

    fn sha(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    #[test]
    fn pinned_root_of_three_leaves() {
        // CBMT of [a, b, c]: nodes 0..5, leaves a,b,c at 2,3,4; node 1 = H(b,c); root = H(node1, a).
        let a = sha(&[&[0], b"a"]);
        let b = sha(&[&[0], b"b"]);
        let c = sha(&[&[0], b"c"]);
        let bc = sha(&[&[1], &b, &c]);
        let root = sha(&[&[1], &bc, &a]);
        let tree = MerkleTree::new(vec![
            LeafHash::digest(b"a"),
            LeafHash::digest(b"b"),
            LeafHash::digest(b"c"),
        ]);
        assert_eq!(tree.root().to_bytes(), root);
        assert_eq!(
            hex::encode(root),
            hex::encode(
                root_of(&[
                    LeafHash::digest(b"a"),
                    LeafHash::digest(b"b"),
                    LeafHash::digest(b"c")
                ])
                .to_bytes()
            )
        );
    }

    #[test]
    fn small_trees_are_defined() {
        assert_eq!(MerkleTree::new(vec![]).root(), empty_root());
        assert_eq!(root_of(&[]), empty_root());
        let one = leaves(1);
        let tree = MerkleTree::new(one.clone());
        assert_eq!(tree.root().to_bytes(), one[0].to_bytes());
        let proof = tree.prove(&[0]).unwrap();
        proof.verify(&tree.root(), &[(0, one[0])]).unwrap();
    }

    #[test]
    fn bad_requests_are_refused() {
        let tree = MerkleTree::new(leaves(5));
        assert_eq!(tree.prove(&[]), Err(MerkleError::Empty));
        assert_eq!(tree.prove(&[1, 1]), Err(MerkleError::DuplicatePosition(1)));
        assert!(matches!(
            tree.prove(&[5]),
            Err(MerkleError::OutOfRange { .. })
        ));
        let l = leaves(5);
        let proof = tree.prove(&[1, 3]).unwrap();
        let root = tree.root();
        proof.verify(&root, &[(3, l[3]), (1, l[1])]).unwrap();
        // Swapped leaves, a missing leaf, an extra leaf, a wrong position.
        assert!(proof.verify(&root, &[(1, l[3]), (3, l[1])]).is_err());
        assert!(proof.verify(&root, &[(1, l[1])]).is_err());
        assert!(
            proof
                .verify(&root, &[(1, l[1]), (3, l[3]), (4, l[4])])
                .is_err()
        );
        assert!(proof.verify(&root, &[(1, l[1]), (2, l[3])]).is_err());
        assert!(proof.verify(&root, &[(1, l[1]), (1, l[1])]).is_err());
        assert!(proof.verify(&root, &[]).is_err());
    }

    proptest! {
        #[test]
        fn proofs_verify_and_every_corruption_fails(
            n in 1usize..200,
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
            bit in 0usize..256,
        ) {
            let l = leaves(n);
            let tree = MerkleTree::new(l.clone());
            let root = tree.root();
            prop_assert_eq!(root, root_of(&l));
            let mut positions: Vec<u32> = picks.iter().map(|i| i.index(n) as u32).collect();
            positions.sort_unstable();
            positions.dedup();
            let proof = tree.prove(&positions).unwrap();
            let given: Vec<(u32, LeafHash)> = positions.iter().map(|&p| (p, l[p as usize])).collect();
            prop_assert!(proof.verify(&root, &given).is_ok());

            let flip = |h: [u8; 32]| { let mut h = h; h[bit / 8] ^= 1 << (bit % 8); h };
            // Root.
            prop_assert!(proof.verify(&MerkleRoot::from_bytes(flip(root.to_bytes())), &given).is_err());
            // Each leaf.
            for i in 0..given.len() {
                let mut bad = given.clone();
                bad[i].1 = LeafHash::from_bytes(flip(bad[i].1.to_bytes()));
                prop_assert!(proof.verify(&root, &bad).is_err());
            }
            // Each sibling.
            for i in 0..proof.siblings.len() {
                let mut bad = proof.clone();
                bad.siblings[i] = MerkleRoot::from_bytes(flip(bad.siblings[i].to_bytes()));
                prop_assert!(bad.verify(&root, &given).is_err());
            }
            // A missing or an extra sibling.
            if !proof.siblings.is_empty() {
                let mut bad = proof.clone();
                bad.siblings.pop();
                prop_assert!(bad.verify(&root, &given).is_err());
            }
            let mut bad = proof.clone();
            bad.siblings.push(root);
            prop_assert!(bad.verify(&root, &given).is_err());
            // Another tree size.
            for other in [proof.leaf_count + 1, proof.leaf_count.saturating_sub(1)] {
                if other != proof.leaf_count && other > 0 {
                    let mut bad = proof.clone();
                    bad.leaf_count = other;
                    prop_assert!(bad.verify(&root, &given).is_err());
                }
            }
            // A leaf moved to another position.
            if n > 1 {
                let mut bad = given.clone();
                let moved = (bad[0].0 + 1) % n as u32;
                if !positions.contains(&moved) {
                    bad[0].0 = moved;
                    prop_assert!(proof.verify(&root, &bad).is_err());
                }
            }
        }
    }
}
