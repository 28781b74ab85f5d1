//! Merkle trees with RFC 6962 hashing, and the inclusion proofs and multi-proofs that show some
//! leaves are in a tree whose root is known (private-field commitments, checkpoint heads).
//!
//! # Definition
//!
//! * **Shape.** The complete binary Merkle tree (CBMT) of the `merkle-cbt` crate: a tree of `n`
//!   leaves has nodes `0..2n-1`, node `i` has children `2i+1` and `2i+2`, and leaf `k` is node
//!   `n-1+k`. For `n` a power of two this is RFC 6962's tree; for other sizes it is *not*
//!   (RFC 6962 splits at the largest power of two below `n`, CBMT keeps the tree complete), so
//!   an RFC 6962 verifier cannot check these proofs.
//! * **Hashing** (RFC 6962 domain separation). A leaf arrives already hashed as
//!   [`LeafHash`] `= SHA-256(0x00 || data)`; an inner node is `SHA-256(0x01 || left || right)`.
//!   merkle-cbt hashes nothing itself: the private `Rfc6962` merge adds the `0x01` prefix.
//!   Because leaves and nodes are hashed in different domains, a leaf can never be passed off
//!   as an inner node or the other way round.
//! * **One leaf.** The root is the leaf hash itself, as in RFC 6962.
//! * **No leaves.** The root is `SHA-256(0x01)` ([`empty_root`]), which no non-empty tree can
//!   have (merkle-cbt would return 32 zero bytes, which is not a hash of anything).
//!
//! For example the root of the leaves `[a, b, c]` is `H(0x01 || H(0x01 || b || c) || a)`: node 1
//! is the parent of leaves `b` and `c` (nodes 3 and 4), and `a` (node 2) is the root's right
//! child. The test `pinned_root_of_three_leaves` pins it.
//!
//! # Proofs
//!
//! A [`MultiProof`] carries the tree's leaf count, the proven leaf positions (ascending) and the
//! sibling hashes in the order merkle-cbt consumes them. One position makes an inclusion proof.
//!
//! merkle-cbt's own verifier cannot be used as is: it takes no positions with the leaves (it
//! sorts the leaves by *value* and pairs them with node indices in the proof's order), its
//! indices are tree-node numbers rather than leaf positions, and it knows nothing of the tree
//! size. [`MultiProof::verify`] therefore takes explicit `(position, leaf)` pairs, checks they
//! are exactly the proof's positions, checks the number of sibling hashes against the shape,
//! and only then hands merkle-cbt node indices in the order it pairs them.
//!
//! **The root does not commit to the tree size.** A proof for leaf `p` of an `n`-leaf tree is,
//! hash for hash, also a proof for leaf `p + n - m` of an `m`-leaf tree whenever both are leaf
//! nodes, because both are the same node. Only a verifier that knows the true size from a
//! trusted source (a signed commitment's field count, a signed checkpoint's head count) can
//! rule that out: use [`MultiProof::verify_with_size`].

use std::collections::VecDeque;
use std::fmt::Write as _;

use merkle_cbt::merkle_tree::{CBMT, Merge, MerkleProof, MerkleTree as CbmtTree};
use serde::{Deserialize, Serialize};

use crate::hash::{HASH_LEN, LeafHash, MerkleRoot};

type Node = [u8; HASH_LEN];

/// RFC 6962 inner-node hashing for merkle-cbt.
struct Rfc6962;

impl Merge for Rfc6962 {
    type Item = Node;
    fn merge(left: &Node, right: &Node) -> Node {
        // `MerkleRoot` is the node domain: its prefix is RFC 6962's 0x01.
        MerkleRoot::digest_parts(&[left, right]).to_bytes()
    }
}

/// Most leaves a tree may have. merkle-cbt numbers nodes with `u32` and computes `2n` on the
/// way, so `n` must stay below 2^31; 2^30 leaves a margin.
pub const MAX_LEAVES: usize = 1 << 30;

/// A proof cannot be made, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// No positions or no leaves were given.
    #[error("a Merkle proof needs at least one leaf, and none was given")]
    Empty,
    /// A position is past the end of the tree.
    #[error(
        "leaf position {position} is outside a tree of {leaf_count} leaves (positions count from 0)"
    )]
    OutOfRange {
        /// The position.
        position: u32,
        /// The tree's size.
        leaf_count: u32,
    },
    /// A position appears twice.
    #[error("leaf position {0} is given twice; each leaf may be proven once")]
    DuplicatePosition(u32),
    /// The tree is too large.
    #[error("a Merkle tree may have at most {MAX_LEAVES} leaves, this one has {0}")]
    TooLarge(u64),
    /// The proof's own positions are not strictly ascending, so it was not made here.
    #[error("the proof's leaf positions are not strictly ascending: the proof is malformed")]
    UnsortedPositions,
    /// The leaves given are not at the positions the proof was made for.
    #[error(
        "the proof is for leaf positions {} but leaves were given at positions {}",
        list(.proof),
        list(.given)
    )]
    PositionsDiffer {
        /// The proof's positions.
        proof: Vec<u32>,
        /// The given leaves' positions, sorted.
        given: Vec<u32>,
    },
    /// The proof has more or fewer sibling hashes than its positions and size call for.
    #[error(
        "the proof has {found} sibling hashes, but a proof of these positions in a tree of \
         {leaf_count} leaves has exactly {expected}: it was truncated or padded"
    )]
    SiblingCount {
        /// How many the shape calls for.
        expected: usize,
        /// How many the proof has.
        found: usize,
        /// The tree size the proof claims.
        leaf_count: u32,
    },
    /// The proof is for a tree of another size than the caller knows the tree has.
    #[error("the proof is for a tree of {proof} leaves, but the tree has {tree}")]
    SizeMismatch {
        /// The size the proof claims.
        proof: u32,
        /// The size the caller trusts.
        tree: u32,
    },
    /// The leaves and sibling hashes do not hash to the expected root.
    #[error(
        "the Merkle proof does not lead to the expected root: a leaf, a sibling hash or the \
         root differs from the tree the proof was made for"
    )]
    RootMismatch,
}

/// Positions for an error message, cut short: a hostile proof may carry millions.
fn list(positions: &[u32]) -> String {
    const SHOWN: usize = 8;
    let mut text = String::from("[");
    for (i, p) in positions.iter().take(SHOWN).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{p}");
    }
    if positions.len() > SHOWN {
        let _ = write!(text, ", … {} in all", positions.len());
    }
    text.push(']');
    text
}

/// The root of the tree with no leaves: `SHA-256(0x01)`.
pub fn empty_root() -> MerkleRoot {
    MerkleRoot::digest(&[])
}

/// The root of the tree over `leaves` (leaf `i` at position `i`), without keeping the tree.
pub fn root_of(leaves: &[LeafHash]) -> MerkleRoot {
    if leaves.is_empty() {
        return empty_root();
    }
    let raw: Vec<Node> = leaves.iter().map(|l| l.to_bytes()).collect();
    MerkleRoot::from_bytes(CBMT::<Node, Rfc6962>::build_merkle_root(&raw))
}

/// A Merkle tree over leaf hashes, kept whole so that proofs can be cut from it.
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

impl MerkleTree {
    /// Builds the tree; leaf `i` is at position `i`.
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

    /// The root (see the module documentation for the empty and one-leaf trees).
    pub fn root(&self) -> MerkleRoot {
        match self.tree.nodes().first() {
            Some(root) => MerkleRoot::from_bytes(*root),
            None => empty_root(),
        }
    }

    /// The leaf at `position`, if there is one.
    pub fn leaf(&self, position: u32) -> Option<LeafHash> {
        let position = position as usize;
        if position >= self.leaf_count {
            return None;
        }
        let index = self.leaf_count - 1 + position;
        self.tree
            .nodes()
            .get(index)
            .copied()
            .map(LeafHash::from_bytes)
    }

    /// A proof for the leaves at `positions`, in any order (one position: an inclusion proof).
    pub fn prove(&self, positions: &[u32]) -> Result<MultiProof, MerkleError> {
        if positions.is_empty() {
            return Err(MerkleError::Empty);
        }
        if self.leaf_count > MAX_LEAVES {
            return Err(MerkleError::TooLarge(self.leaf_count as u64));
        }
        let leaf_count = u32::try_from(self.leaf_count)
            .map_err(|_| MerkleError::TooLarge(self.leaf_count as u64))?;
        let sorted = sorted_unique(positions.iter().copied())?;
        if let Some(&position) = sorted.last().filter(|&&p| p >= leaf_count) {
            return Err(MerkleError::OutOfRange {
                position,
                leaf_count,
            });
        }
        // merkle-cbt returns None only for an empty tree, no positions or one out of range, all
        // ruled out above.
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

/// Sorts positions, refusing duplicates.
fn sorted_unique(positions: impl Iterator<Item = u32>) -> Result<Vec<u32>, MerkleError> {
    let mut sorted: Vec<u32> = positions.collect();
    sorted.sort_unstable();
    match sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(MerkleError::DuplicatePosition(pair[0])),
        None => Ok(sorted),
    }
}

/// How many sibling hashes a proof of `positions` (ascending, distinct, in range) in a tree of
/// `leaf_count` leaves has. This replays merkle-cbt's walk (`build_proof`, and `root` which
/// consumes them in the same order) on node indices alone: nodes are taken highest first, a
/// node whose sibling is next in the queue is paired with it, any other needs a sibling hash.
fn sibling_count(leaf_count: u32, positions: &[u32]) -> usize {
    let mut queue: VecDeque<u32> = positions.iter().rev().map(|p| leaf_count - 1 + p).collect();
    let mut count = 0;
    while let Some(index) = queue.pop_front() {
        if index == 0 {
            break;
        }
        let sibling = ((index + 1) ^ 1) - 1;
        if queue.front() == Some(&sibling) {
            queue.pop_front();
        } else {
            count += 1;
        }
        queue.push_back((index - 1) >> 1);
    }
    count
}

/// Proof that some leaves are at given positions of a tree with a given root.
///
/// Plain data, so postcard encodes it canonically: `varint(leaf_count) || varint(k) ||
/// k × varint(position) || varint(s) || s × 32 bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiProof {
    /// The number of leaves of the tree.
    pub leaf_count: u32,
    /// The proven positions, strictly ascending.
    pub positions: Vec<u32>,
    /// The sibling hashes (leaf or inner-node hashes), in the order merkle-cbt consumes them.
    pub siblings: Vec<MerkleRoot>,
}

impl MultiProof {
    /// The tree size the proof claims.
    pub fn leaf_count(&self) -> u32 {
        self.leaf_count
    }

    /// Checks that `leaves` — `(position, leaf hash)` pairs in any order — are exactly the
    /// proven leaves of a tree with `root` *and the size this proof claims*.
    ///
    /// A root does not commit to its tree's size (see the module documentation), so unless
    /// the caller compares [`MultiProof::leaf_count`] with a size it trusts, a position is only
    /// proven relative to the claimed size. Prefer [`MultiProof::verify_with_size`].
    pub fn verify(&self, root: &MerkleRoot, leaves: &[(u32, LeafHash)]) -> Result<(), MerkleError> {
        let leaf_count = self.leaf_count;
        if leaves.is_empty() || self.positions.is_empty() {
            return Err(MerkleError::Empty);
        }
        if leaf_count as usize > MAX_LEAVES {
            return Err(MerkleError::TooLarge(u64::from(leaf_count)));
        }
        if self.positions.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(MerkleError::UnsortedPositions);
        }
        let mut given: Vec<(u32, Node)> = leaves.iter().map(|(p, l)| (*p, l.to_bytes())).collect();
        given.sort_unstable_by_key(|(p, _)| *p);
        let given_positions = sorted_unique(given.iter().map(|(p, _)| *p))?;
        for &position in self
            .positions
            .last()
            .into_iter()
            .chain(given_positions.last())
        {
            if position >= leaf_count {
                return Err(MerkleError::OutOfRange {
                    position,
                    leaf_count,
                });
            }
        }
        if given_positions != self.positions {
            return Err(MerkleError::PositionsDiffer {
                proof: self.positions.clone(),
                given: given_positions,
            });
        }
        // merkle-cbt would also notice a wrong count (it insists every hash is consumed), but
        // only as a root mismatch; counting first says what is wrong and bounds the work.
        let expected = sibling_count(leaf_count, &self.positions);
        if self.siblings.len() != expected {
            return Err(MerkleError::SiblingCount {
                expected,
                found: self.siblings.len(),
                leaf_count,
            });
        }
        // merkle-cbt pairs its node indices, in the order given, with the leaves sorted by
        // value: hand it the indices in the order of their leaves' values. Equal leaves may be
        // paired either way, which changes nothing.
        given.sort_by_key(|(_, leaf)| *leaf);
        let indices: Vec<u32> = given.iter().map(|(p, _)| leaf_count - 1 + p).collect();
        let values: Vec<Node> = given.iter().map(|(_, l)| *l).collect();
        let lemmas: Vec<Node> = self.siblings.iter().map(|s| s.to_bytes()).collect();
        match MerkleProof::<Node, Rfc6962>::new(indices, lemmas).root(&values) {
            Some(computed) if computed == root.to_bytes() => Ok(()),
            _ => Err(MerkleError::RootMismatch),
        }
    }

    /// [`MultiProof::verify`] for a tree the caller knows has `leaf_count` leaves (from a
    /// signed commitment or checkpoint): this binds the positions absolutely.
    pub fn verify_with_size(
        &self,
        root: &MerkleRoot,
        leaf_count: u32,
        leaves: &[(u32, LeafHash)],
    ) -> Result<(), MerkleError> {
        if self.leaf_count != leaf_count {
            return Err(MerkleError::SizeMismatch {
                proof: self.leaf_count,
                tree: leaf_count,
            });
        }
        self.verify(root, leaves)
    }
}

#[cfg(test)]
mod tests;
