//! Checkpoints: a member's signed statement of every chain head its node holds.
//!
//! A checkpoint commits to the sorted list of chain heads (author, sequence number, entry hash)
//! as a Merkle tree, and is signed by the witness. An entry is *covered* by a checkpoint when
//! the checkpoint's head for the entry's author is at or past the entry (and the entry is on
//! that chain); it is *witnessed* once checkpoints of a quorum of members cover it. A head's
//! place in a checkpoint is shown with an inclusion proof ([`HeadInclusion`]), which anyone can
//! check with the SDK alone.
//!
//! Hashes: a head leaf is `LeafHash(HeadLeafHash(postcard(head)))`; the checkpoint hash is
//! `SHA-256("tally/v1/checkpoint\0" || postcard(body))`; the signature is over
//! `"tally/v1/sign/checkpoint\0" || checkpoint hash`.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{CryptoError, Signature, SigningKey};
use crate::domain::signing;
use crate::genesis::Genesis;
use crate::hash::{CheckpointHash, EntryHash, HeadLeafHash, LeafHash, MerkleRoot, NetworkId};
use crate::ids::MemberId;
use crate::merkle::{MerkleError, MerkleTree, MultiProof};
use crate::time::Timestamp;

/// The checkpoint format this SDK writes and reads.
pub const CHECKPOINT_FORMAT: u16 = 1;

/// The last entry of one member's chain, as a node holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain's author.
    pub author: MemberId,
    /// The head's sequence number.
    pub seq: u64,
    /// The head's entry hash.
    pub hash: EntryHash,
}

impl ChainHead {
    /// The Merkle leaf of this head.
    pub fn leaf(&self) -> Result<LeafHash, CodecError> {
        let data = HeadLeafHash::digest(&codec::encode("chain head", self)?);
        Ok(LeafHash::digest(data.as_bytes()))
    }
}

/// A checkpoint or inclusion proof is invalid.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Unknown format.
    #[error(
        "checkpoint format {0} is not supported (this software reads format {CHECKPOINT_FORMAT})"
    )]
    Format(u16),
    /// Another consortium's checkpoint.
    #[error("the checkpoint belongs to another network ({0})")]
    WrongNetwork(NetworkId),
    /// The witness is not a member.
    #[error("checkpoint witness {0} is not a member of this consortium")]
    UnknownWitness(MemberId),
    /// Bad signature.
    #[error("the checkpoint of {witness} is not validly signed: {source}")]
    Signature {
        /// The witness.
        witness: MemberId,
        /// Why.
        source: CryptoError,
    },
    /// Heads not sorted or duplicated.
    #[error("chain heads must be sorted by author with one head per author")]
    UnsortedHeads,
    /// The head is not in the checkpoint.
    #[error("the chain head of {author} at {seq} is not in the checkpoint: {source}")]
    NotIncluded {
        /// The head's author.
        author: MemberId,
        /// Its sequence number.
        seq: u64,
        /// Why.
        source: MerkleError,
    },
    /// The proof's tree size differs from the checkpoint's.
    #[error("the inclusion proof is for {proof} heads but the checkpoint has {checkpoint}")]
    SizeMismatch {
        /// Heads according to the proof.
        proof: u64,
        /// Heads according to the checkpoint.
        checkpoint: u64,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Tree construction failed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

/// The unsigned body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBody {
    /// Format number ([`CHECKPOINT_FORMAT`]).
    pub format: u16,
    /// The consortium.
    pub network: NetworkId,
    /// The member signing it.
    pub witness: MemberId,
    /// The witness's own checkpoint counter, from 0.
    pub number: u64,
    /// When it was made.
    pub timestamp: Timestamp,
    /// How many chain heads the tree has.
    pub heads_count: u64,
    /// The Merkle root over the sorted chain heads.
    pub heads_root: MerkleRoot,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The body.
    pub body: CheckpointBody,
    /// The witness's signature over the body's hash.
    pub signature: Signature,
}

/// The Merkle tree over a set of chain heads, sorted by author.
#[derive(Debug)]
pub struct HeadsTree {
    heads: Vec<ChainHead>,
    tree: MerkleTree,
}

impl HeadsTree {
    /// Builds the tree; heads must have distinct authors (they are sorted here).
    pub fn new(mut heads: Vec<ChainHead>) -> Result<Self, CheckpointError> {
        heads.sort_by(|a, b| a.author.cmp(&b.author));
        if heads.windows(2).any(|w| w[0].author == w[1].author) {
            return Err(CheckpointError::UnsortedHeads);
        }
        let leaves = heads
            .iter()
            .map(ChainHead::leaf)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            heads,
            tree: MerkleTree::new(leaves),
        })
    }

    /// The root.
    pub fn root(&self) -> MerkleRoot {
        self.tree.root()
    }

    /// The heads, sorted.
    pub fn heads(&self) -> &[ChainHead] {
        &self.heads
    }

    /// The inclusion proof of one author's head.
    pub fn prove(&self, author: &MemberId) -> Result<Option<HeadInclusion>, CheckpointError> {
        let Some(position) = self.heads.iter().position(|h| &h.author == author) else {
            return Ok(None);
        };
        let index = u32::try_from(position).map_err(|_| CheckpointError::UnsortedHeads)?;
        Ok(Some(HeadInclusion {
            head: self.heads[position].clone(),
            position: index,
            proof: self.tree.prove(&[index])?,
        }))
    }

    /// Signs a checkpoint over these heads.
    pub fn sign(
        &self,
        network: NetworkId,
        witness: MemberId,
        number: u64,
        timestamp: Timestamp,
        key: &SigningKey,
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let body = CheckpointBody {
            format: CHECKPOINT_FORMAT,
            network,
            witness,
            number,
            timestamp,
            heads_count: self.heads.len() as u64,
            heads_root: self.root(),
        };
        let hash = body.hash()?;
        Ok(SignedCheckpoint {
            body,
            signature: key.sign(signing::CHECKPOINT, hash.as_bytes()),
        })
    }
}

impl CheckpointBody {
    /// The checkpoint hash.
    pub fn hash(&self) -> Result<CheckpointHash, CodecError> {
        Ok(CheckpointHash::digest(&codec::encode("checkpoint", self)?))
    }
}

impl SignedCheckpoint {
    /// Checks format, network, witness membership and signature; returns the checkpoint hash.
    pub fn verify(&self, genesis: &Genesis) -> Result<CheckpointHash, CheckpointError> {
        let body = &self.body;
        if body.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Format(body.format));
        }
        if body.network != genesis.network_id() {
            return Err(CheckpointError::WrongNetwork(body.network));
        }
        let witness = genesis
            .member(&body.witness)
            .ok_or_else(|| CheckpointError::UnknownWitness(body.witness.clone()))?;
        let hash = body.hash()?;
        witness
            .signing_key
            .verify(signing::CHECKPOINT, hash.as_bytes(), &self.signature)
            .map_err(|source| CheckpointError::Signature {
                witness: body.witness.clone(),
                source,
            })?;
        Ok(hash)
    }
}

/// Proof that a chain head is in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadInclusion {
    /// The head.
    pub head: ChainHead,
    /// Its position among the sorted heads.
    pub position: u32,
    /// The Merkle proof.
    pub proof: MultiProof,
}

impl HeadInclusion {
    /// Checks the head is in the (already verified) checkpoint.
    pub fn verify(&self, checkpoint: &CheckpointBody) -> Result<(), CheckpointError> {
        let proof_size = u64::from(self.proof.leaf_count());
        if proof_size != checkpoint.heads_count {
            return Err(CheckpointError::SizeMismatch {
                proof: proof_size,
                checkpoint: checkpoint.heads_count,
            });
        }
        let leaf = self.head.leaf()?;
        self.proof
            .verify(&checkpoint.heads_root, &[(self.position, leaf)])
            .map_err(|source| CheckpointError::NotIncluded {
                author: self.head.author.clone(),
                seq: self.head.seq,
                source,
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::genesis::tests::test_consortium;

    fn heads() -> Vec<ChainHead> {
        ["c", "a", "b"]
            .iter()
            .enumerate()
            .map(|(i, id)| ChainHead {
                author: MemberId::new(*id).unwrap(),
                seq: i as u64 * 10,
                hash: EntryHash::digest(id.as_bytes()),
            })
            .collect()
    }

    #[test]
    fn checkpoints_sign_verify_and_prove_inclusion() {
        let (g, keys) = test_consortium();
        let tree = HeadsTree::new(heads()).unwrap();
        let a = MemberId::new("a").unwrap();
        let cp = tree
            .sign(g.network_id(), a.clone(), 0, Timestamp(5), &keys[0])
            .unwrap();
        cp.verify(&g).unwrap();
        for author in ["a", "b", "c"] {
            let inclusion = tree
                .prove(&MemberId::new(author).unwrap())
                .unwrap()
                .unwrap();
            inclusion.verify(&cp.body).unwrap();
            let mut wrong = inclusion.clone();
            wrong.head.seq += 1;
            assert!(wrong.verify(&cp.body).is_err());
        }
        assert!(tree.prove(&MemberId::new("zz").unwrap()).unwrap().is_none());
        let mut forged = cp.clone();
        forged.body.heads_count += 1;
        assert!(matches!(
            forged.verify(&g),
            Err(CheckpointError::Signature { .. })
        ));
        let by_b_with_a_key = tree
            .sign(
                g.network_id(),
                MemberId::new("b").unwrap(),
                0,
                Timestamp(5),
                &keys[0],
            )
            .unwrap();
        assert!(by_b_with_a_key.verify(&g).is_err());
        let mut dup = heads();
        dup.push(dup[0].clone());
        assert!(HeadsTree::new(dup).is_err());
    }
}
