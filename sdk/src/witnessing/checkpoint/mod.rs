//! Checkpoints: a member's signed statement of the entries its node stored since its previous
//! checkpoint.
//!
//! A node makes a checkpoint when chains it holds have grown. For each chain that grew it
//! records a [`ChainSpan`]: the sequence numbers `first..=head.seq` it states for the first
//! time, the Merkle root over their entry hashes, and the head it now holds. The spans, sorted
//! by author, are the leaves of a second Merkle tree, whose root the witness signs in a
//! [`SignedCheckpoint`]. Nodes exchange and store the signed checkpoint with its spans
//! ([`Checkpoint`]).
//!
//! An entry is *witnessed by* a member when one of that member's checkpoints has a span that
//! contains it. The proof ([`EntryWitness`]) is the signed checkpoint, the span's inclusion
//! proof and the entry hash's inclusion proof in the span: logarithmic in size and checkable
//! with the SDK alone. When an entry counts as witnessed (a quorum) is [`crate::witnessing::witness`].
//!
//! Why spans and not only heads: a head vouches for every earlier entry through the hash links,
//! but showing that takes every entry in between; a span's root proves any of its entries with
//! a few hashes.
//!
//! Format 2 ([`TreeHead`]) adds to each span the chain's tree head: the RFC 6962 root of the
//! chain's log at the span's head, cosigned by the witness as a C2SP signed note. One cosigned
//! head then proves any earlier entry of the chain with `O(log n)` hashes
//! ([`Checkpoint::witness_in_tree`]). Format-1 checkpoints (spans only) are still read and
//! verified.
//!
//! Hashes: a span leaf is `LeafHash(SpanLeafHash(postcard(span)))`, an entry leaf in a span is
//! `LeafHash(entry hash)`; the checkpoint hash is
//! `SHA-256("tally/v1/checkpoint\0" || postcard(body))`; the signature is over
//! `"tally/v1/sign/checkpoint\0" || checkpoint hash`. See `docs/formats.md`.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{CryptoError, Signature, SigningKey};
use crate::domain::signing;
use crate::hash::{CheckpointHash, EntryHash, LeafHash, MerkleRoot, NetworkId, SpanLeafHash};
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::membership::genesis::MAX_MEMBERS;
use crate::merkle::{MerkleError, MerkleTree, MultiProof};
use crate::time::Timestamp;
use crate::tlog::hash::LogHash;

mod encoding;
mod tree_head;

pub use tree_head::{Contradiction, TreeHead, contradiction};

/// The checkpoint format this SDK writes: spans with cosigned tree heads.
pub const CHECKPOINT_FORMAT: u16 = 2;
/// The first checkpoint format (spans only), still read and verified.
pub const SPANS_ONLY_FORMAT: u16 = 1;

/// Most entries one span may hold. A node that has more new entries of a chain (catching up)
/// states them over several checkpoints; the bound keeps the tree a proof is cut from small.
pub const MAX_SPAN_LEN: u64 = 1 << 16;

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

/// What one checkpoint states of one chain: its entries `first..=head.seq`, committed as a
/// Merkle root over their hashes, the head at their end, and (format 2) the chain's tree head
/// there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpan {
    /// The last entry of the span: the chain head the witness held.
    pub head: ChainHead,
    /// The span's first sequence number.
    pub first: u64,
    /// The Merkle root over the span's entry hashes, in chain order.
    pub entries_root: MerkleRoot,
    /// Format 2: the chain's tree head at `head`, cosigned. Absent from format-1 spans (and
    /// then from their encoding, so their leaves and signatures are as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeHead>,
}

/// A checkpoint or a witness proof is invalid.
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
    /// The witness was removed before this checkpoint number.
    #[error(
        "{witness} was removed from the consortium: its checkpoints from number {checkpoints_below} on are refused, and this is number {number}"
    )]
    Removed {
        /// The witness.
        witness: MemberId,
        /// The checkpoint's number.
        number: u64,
        /// The first refused number.
        checkpoints_below: u64,
    },
    /// Bad signature.
    #[error("the checkpoint of {witness} is not validly signed: {source}")]
    Signature {
        /// The witness.
        witness: MemberId,
        /// Why.
        source: CryptoError,
    },
    /// Spans not sorted, duplicated, or too many.
    #[error(
        "a checkpoint has at most {MAX_MEMBERS} spans, sorted by author, one per author, and at least one"
    )]
    BadSpans,
    /// A span is empty, too long, or names a non-member.
    #[error("the span of {author} ({first}..={last}) is not a valid span: {why}")]
    BadSpan {
        /// The chain.
        author: MemberId,
        /// Its first sequence number.
        first: u64,
        /// Its last.
        last: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// The spans do not hash to the signed root.
    #[error("the spans do not match the checkpoint's signed root")]
    SpansMismatch,
    /// The span is not in the checkpoint.
    #[error("the span of {author} is not in the checkpoint: {source}")]
    SpanNotIncluded {
        /// The span's author.
        author: MemberId,
        /// Why.
        source: MerkleError,
    },
    /// The entry is not in the span.
    #[error("the entry {author}/{seq} is not in the checkpoint's span of {author}: {why}")]
    EntryNotIncluded {
        /// The entry's author.
        author: MemberId,
        /// Its sequence number.
        seq: u64,
        /// Why.
        why: String,
    },
    /// A span's tree head is missing, unexpected or not validly cosigned.
    #[error("{0}")]
    TreeHead(String),
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl ChainSpan {
    /// The span of `author`'s entries `first..` with these hashes, in chain order.
    pub fn new(
        author: MemberId,
        first: u64,
        hashes: &[EntryHash],
    ) -> Result<Self, CheckpointError> {
        let bad = |why| CheckpointError::BadSpan {
            author: author.clone(),
            first,
            last: first.saturating_add(hashes.len() as u64).saturating_sub(1),
            why,
        };
        let last = hashes.last().ok_or_else(|| bad("it is empty"))?;
        if hashes.len() as u64 > MAX_SPAN_LEN {
            return Err(bad("it is longer than a span may be"));
        }
        let seq = first
            .checked_add(hashes.len() as u64 - 1)
            .ok_or_else(|| bad("it runs past the largest sequence number"))?;
        Ok(Self {
            head: ChainHead {
                author: author.clone(),
                seq,
                hash: *last,
            },
            first,
            entries_root: entries_tree(hashes).root(),
            tree: None,
        })
    }

    /// How many entries the span holds (its shape was checked: at least 1).
    pub fn len(&self) -> u64 {
        self.head.seq.saturating_sub(self.first).saturating_add(1)
    }

    /// Never true for a checked span; here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.head.seq < self.first
    }

    /// Whether sequence number `seq` is in the span.
    pub fn contains(&self, seq: u64) -> bool {
        (self.first..=self.head.seq).contains(&seq)
    }

    /// The Merkle leaf of this span.
    pub fn leaf(&self) -> Result<LeafHash, CodecError> {
        let data = SpanLeafHash::digest(&codec::encode("chain span", self)?);
        Ok(LeafHash::digest(data.as_bytes()))
    }

    fn check_shape(&self) -> Result<(), CheckpointError> {
        let why = if self.head.seq < self.first {
            Some("it ends before it starts")
        } else if self.len() > MAX_SPAN_LEN {
            Some("it is longer than a span may be")
        } else {
            None
        };
        match why {
            Some(why) => Err(CheckpointError::BadSpan {
                author: self.head.author.clone(),
                first: self.first,
                last: self.head.seq,
                why,
            }),
            None => Ok(()),
        }
    }
}

/// The Merkle tree over a span's entry hashes (leaf `i` is the span's `i`-th entry).
pub fn entries_tree(hashes: &[EntryHash]) -> MerkleTree {
    MerkleTree::new(
        hashes
            .iter()
            .map(|h| LeafHash::digest(h.as_bytes()))
            .collect(),
    )
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
    /// How many spans the tree has.
    pub spans_count: u64,
    /// The Merkle root over the spans, sorted by author.
    pub spans_root: MerkleRoot,
}

impl CheckpointBody {
    /// The checkpoint hash.
    pub fn hash(&self) -> Result<CheckpointHash, CodecError> {
        Ok(CheckpointHash::digest(&codec::encode("checkpoint", self)?))
    }
}

/// A signed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// The body.
    pub body: CheckpointBody,
    /// The witness's signature over the body's hash.
    pub signature: Signature,
}

impl SignedCheckpoint {
    /// Checks format, network, that the witness was a member at this checkpoint number, and the
    /// signature under its key for that number; returns the checkpoint hash.
    pub fn verify(&self, genesis: &Consortium) -> Result<CheckpointHash, CheckpointError> {
        self.verify_with_key(genesis).map(|(hash, _)| hash)
    }

    /// As [`SignedCheckpoint::verify`], with the witness's key that signed it.
    fn verify_with_key(
        &self,
        genesis: &Consortium,
    ) -> Result<(CheckpointHash, crate::crypto::PublicKey), CheckpointError> {
        let body = &self.body;
        if body.format != CHECKPOINT_FORMAT && body.format != SPANS_ONLY_FORMAT {
            return Err(CheckpointError::Format(body.format));
        }
        if body.network != genesis.network_id() {
            return Err(CheckpointError::WrongNetwork(body.network));
        }
        let standing = genesis
            .standing(&body.witness)
            .ok_or_else(|| CheckpointError::UnknownWitness(body.witness.clone()))?;
        let key = standing
            .checkpoint_key(body.number)
            .ok_or_else(|| CheckpointError::Removed {
                witness: body.witness.clone(),
                number: body.number,
                checkpoints_below: standing.removed.map_or(0, |r| r.checkpoints_below),
            })?;
        let hash = body.hash()?;
        key.verify(signing::CHECKPOINT, hash.as_bytes(), &self.signature)
            .map_err(|source| CheckpointError::Signature {
                witness: body.witness.clone(),
                source,
            })?;
        Ok((hash, key))
    }
}

/// A signed checkpoint with its spans: what nodes gossip, pull and store. Its binary encoding
/// depends on its format (read by `encoding`); see `docs/formats.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The signed body.
    pub signed: SignedCheckpoint,
    /// The spans the body's root commits to, sorted by author.
    pub spans: Vec<ChainSpan>,
}

impl Checkpoint {
    /// Signs a checkpoint over `spans` (sorted here; one per author, at least one): format 2
    /// if the spans state tree heads ([`ChainSpan::cosigned`]), format 1 if none does.
    pub fn sign(
        network: NetworkId,
        witness: MemberId,
        number: u64,
        timestamp: Timestamp,
        mut spans: Vec<ChainSpan>,
        key: &SigningKey,
    ) -> Result<Self, CheckpointError> {
        spans.sort_by(|a, b| a.head.author.cmp(&b.head.author));
        let tree = spans_tree(&spans)?;
        let format = if spans.iter().all(|s| s.tree.is_some()) {
            CHECKPOINT_FORMAT
        } else if spans.iter().all(|s| s.tree.is_none()) {
            SPANS_ONLY_FORMAT
        } else {
            return Err(CheckpointError::TreeHead(
                "either every span of a checkpoint states a tree head or none does".into(),
            ));
        };
        let body = CheckpointBody {
            format,
            network,
            witness,
            number,
            timestamp,
            spans_count: spans.len() as u64,
            spans_root: tree.root(),
        };
        let hash = body.hash()?;
        Ok(Self {
            signed: SignedCheckpoint {
                body,
                signature: key.sign(signing::CHECKPOINT, hash.as_bytes()),
            },
            spans,
        })
    }

    /// The body.
    pub fn body(&self) -> &CheckpointBody {
        &self.signed.body
    }

    /// Checks the signature, that the spans are well formed, name members, and are exactly
    /// what the signed root commits to. Returns the checkpoint hash.
    pub fn verify(&self, genesis: &Consortium) -> Result<CheckpointHash, CheckpointError> {
        let (hash, key) = self.signed.verify_with_key(genesis)?;
        let body = self.body();
        for span in &self.spans {
            match (&span.tree, body.format) {
                (None, SPANS_ONLY_FORMAT) | (Some(_), CHECKPOINT_FORMAT) => {}
                _ => {
                    return Err(CheckpointError::TreeHead(format!(
                        "a format-{} checkpoint's span of {} {} a tree head",
                        body.format,
                        span.head.author,
                        if span.tree.is_some() {
                            "states"
                        } else {
                            "lacks"
                        }
                    )));
                }
            }
            if genesis.member(&span.head.author).is_none() {
                return Err(CheckpointError::BadSpan {
                    author: span.head.author.clone(),
                    first: span.first,
                    last: span.head.seq,
                    why: "its author is not a member of this consortium",
                });
            }
        }
        let tree = spans_tree(&self.spans)?;
        if self.spans.len() as u64 != self.body().spans_count
            || tree.root() != self.body().spans_root
        {
            return Err(CheckpointError::SpansMismatch);
        }
        if body.format == CHECKPOINT_FORMAT {
            for span in &self.spans {
                span.check_cosignature(&body.network, &body.witness, &key)?;
            }
        }
        Ok(hash)
    }

    /// The span of `author`'s chain, if this checkpoint has one.
    pub fn span(&self, author: &MemberId) -> Option<&ChainSpan> {
        self.spans
            .binary_search_by(|s| s.head.author.cmp(author))
            .ok()
            .map(|i| &self.spans[i])
    }

    /// The proof that this checkpoint witnesses `author`'s entry `seq`, whose span's entry
    /// hashes are `span_hashes` (as the node holding the chain reads them). Fails if the
    /// checkpoint has no span containing the entry or the hashes are not the span's.
    pub fn witness(
        &self,
        author: &MemberId,
        seq: u64,
        span_hashes: &[EntryHash],
    ) -> Result<EntryWitness, CheckpointError> {
        let not_included = |why: &str| CheckpointError::EntryNotIncluded {
            author: author.clone(),
            seq,
            why: why.into(),
        };
        let position = self
            .spans
            .binary_search_by(|s| s.head.author.cmp(author))
            .map_err(|_| not_included("the checkpoint has no span of this chain"))?;
        let span = &self.spans[position];
        if !span.contains(seq) {
            return Err(not_included("the span does not contain it"));
        }
        let entries = entries_tree(span_hashes);
        if span_hashes.len() as u64 != span.len() || entries.root() != span.entries_root {
            return Err(not_included(
                "the hashes held here are not the ones the span commits to",
            ));
        }
        let spans = spans_tree(&self.spans)?;
        let to_u32 = |n: u64| u32::try_from(n).map_err(|_| CheckpointError::BadSpans);
        let span_position = to_u32(position as u64)?;
        let entry_position = to_u32(seq - span.first)?;
        let merkle = |source| CheckpointError::SpanNotIncluded {
            author: author.clone(),
            source,
        };
        Ok(EntryWitness {
            checkpoint: self.signed.clone(),
            span: span.clone(),
            span_proof: spans.prove(&[span_position]).map_err(merkle)?,
            entry_proof: Some(
                entries
                    .prove(&[entry_position])
                    .map_err(|e| not_included(&e.to_string()))?,
            ),
            inclusion: None,
        })
    }

    /// The proof that this format-2 checkpoint witnesses `author`'s entry `seq`, `entry`, at
    /// or before its span's head: `inclusion` is the entry's RFC 6962 inclusion proof in the
    /// chain's log at the head (read from the node's tiles). Checked before it is returned.
    pub fn witness_in_tree(
        &self,
        author: &MemberId,
        seq: u64,
        entry: &EntryHash,
        inclusion: Vec<LogHash>,
    ) -> Result<EntryWitness, CheckpointError> {
        let position = self
            .spans
            .binary_search_by(|s| s.head.author.cmp(author))
            .map_err(|_| CheckpointError::EntryNotIncluded {
                author: author.clone(),
                seq,
                why: "the checkpoint has no span of this chain".into(),
            })?;
        let span = &self.spans[position];
        span.verify_in_tree(seq, entry, &inclusion)?;
        let spans = spans_tree(&self.spans)?;
        let span_position = u32::try_from(position).map_err(|_| CheckpointError::BadSpans)?;
        let span_proof =
            spans
                .prove(&[span_position])
                .map_err(|source| CheckpointError::SpanNotIncluded {
                    author: author.clone(),
                    source,
                })?;
        Ok(EntryWitness {
            checkpoint: self.signed.clone(),
            span: span.clone(),
            span_proof,
            entry_proof: None,
            inclusion: Some(inclusion),
        })
    }
}

/// The Merkle tree over spans that must be sorted by author with one per author.
fn spans_tree(spans: &[ChainSpan]) -> Result<MerkleTree, CheckpointError> {
    if spans.is_empty()
        || spans.len() > MAX_MEMBERS
        || spans
            .windows(2)
            .any(|w| w[0].head.author >= w[1].head.author)
    {
        return Err(CheckpointError::BadSpans);
    }
    for span in spans {
        span.check_shape()?;
    }
    let leaves = spans
        .iter()
        .map(ChainSpan::leaf)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MerkleTree::new(leaves))
}

/// Proof that one signed checkpoint witnesses one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryWitness {
    /// The checkpoint.
    pub checkpoint: SignedCheckpoint,
    /// The span of the entry's chain in it.
    pub span: ChainSpan,
    /// The span's place among the checkpoint's spans.
    pub span_proof: MultiProof,
    /// Format 1: the entry hash's place in the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_proof: Option<MultiProof>,
    /// Format 2: the entry's RFC 6962 inclusion proof in the chain's log at the span's tree
    /// head (any entry up to the head, not only the span's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion: Option<Vec<LogHash>>,
}

impl EntryWitness {
    /// The witness.
    pub fn witness(&self) -> &MemberId {
        &self.checkpoint.body.witness
    }

    /// Checks that the checkpoint is validly signed and witnesses the entry `hash` at
    /// `author`'s sequence number `seq`: in format 1, that the span contains it; in format 2,
    /// that the span's cosigned tree head includes it. Returns the checkpoint hash.
    pub fn verify(
        &self,
        genesis: &Consortium,
        author: &MemberId,
        seq: u64,
        hash: &EntryHash,
    ) -> Result<CheckpointHash, CheckpointError> {
        let (checkpoint_hash, key) = self.checkpoint.verify_with_key(genesis)?;
        let body = &self.checkpoint.body;
        let span = &self.span;
        let not_included = |why: String| CheckpointError::EntryNotIncluded {
            author: author.clone(),
            seq,
            why,
        };
        if &span.head.author != author {
            return Err(not_included(format!(
                "the proof shows the span of {}",
                span.head.author
            )));
        }
        span.check_shape()?;
        let spans_count = u32::try_from(body.spans_count).map_err(|_| CheckpointError::BadSpans)?;
        let span_position = single_position(&self.span_proof).ok_or(CheckpointError::BadSpans)?;
        self.span_proof
            .verify_with_size(
                &body.spans_root,
                spans_count,
                &[(span_position, span.leaf()?)],
            )
            .map_err(|source| CheckpointError::SpanNotIncluded {
                author: author.clone(),
                source,
            })?;
        match (body.format, &self.entry_proof, &self.inclusion) {
            (SPANS_ONLY_FORMAT, Some(entry_proof), None) => {
                if !span.contains(seq) {
                    return Err(not_included(format!(
                        "the span holds {}..={}",
                        span.first, span.head.seq
                    )));
                }
                // The span's length is signed (through its leaf), so the entry's position is
                // bound absolutely: the same hashes cannot be passed off as another number.
                let span_len = u32::try_from(span.len()).map_err(|_| CheckpointError::BadSpans)?;
                let entry_position =
                    u32::try_from(seq - span.first).map_err(|_| CheckpointError::BadSpans)?;
                entry_proof
                    .verify_with_size(
                        &span.entries_root,
                        span_len,
                        &[(entry_position, LeafHash::digest(hash.as_bytes()))],
                    )
                    .map_err(|e| not_included(e.to_string()))?;
            }
            (CHECKPOINT_FORMAT, None, Some(inclusion)) => {
                span.check_cosignature(&body.network, &body.witness, &key)?;
                // The tree size is the head's place plus one, signed: the leaf's index is
                // bound absolutely, as in a span.
                span.verify_in_tree(seq, hash, inclusion)?;
            }
            _ => {
                return Err(not_included(format!(
                    "the proof is not of the kind its format-{} checkpoint takes",
                    body.format
                )));
            }
        }
        Ok(checkpoint_hash)
    }
}

/// The one position an inclusion proof proves.
fn single_position(proof: &MultiProof) -> Option<u32> {
    match proof.positions.as_slice() {
        [position] => Some(*position),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::membership::genesis::tests::test_consortium;

    fn member(id: &str) -> MemberId {
        MemberId::new(id).unwrap()
    }

    fn hashes(author: &str, from: u64, count: u64) -> Vec<EntryHash> {
        (from..from + count)
            .map(|seq| EntryHash::digest(format!("{author}/{seq}").as_bytes()))
            .collect()
    }

    /// A checkpoint by `a` with spans of c (10..=14), a (0..=0) and b (3..=9).
    fn checkpoint() -> (Consortium, Checkpoint) {
        let (g, keys) = test_consortium();
        let spans = vec![
            ChainSpan::new(member("c"), 10, &hashes("c", 10, 5)).unwrap(),
            ChainSpan::new(member("a"), 0, &hashes("a", 0, 1)).unwrap(),
            ChainSpan::new(member("b"), 3, &hashes("b", 3, 7)).unwrap(),
        ];
        let cp = Checkpoint::sign(
            g.network_id(),
            member("a"),
            0,
            Timestamp(5),
            spans,
            &keys[0],
        )
        .unwrap();
        (g, cp)
    }

    #[test]
    fn a_checkpoint_witnesses_every_entry_of_its_spans_and_nothing_else() {
        let (g, cp) = checkpoint();
        cp.verify(&g).unwrap();
        assert_eq!(cp.spans[0].head.author, member("a"), "spans are sorted");
        for (author, first, count) in [("a", 0, 1), ("b", 3, 7), ("c", 10, 5)] {
            let held = hashes(author, first, count);
            for (i, hash) in held.iter().enumerate() {
                let seq = first + i as u64;
                let proof = cp.witness(&member(author), seq, &held).unwrap();
                proof.verify(&g, &member(author), seq, hash).unwrap();
                // The same proof does not vouch for another hash, place or chain.
                let other = EntryHash::digest(b"other");
                assert!(proof.verify(&g, &member(author), seq, &other).is_err());
                assert!(proof.verify(&g, &member(author), seq + 1, hash).is_err());
                assert!(proof.verify(&g, &member("zz"), seq, hash).is_err());
            }
            assert!(cp.witness(&member(author), first + count, &held).is_err());
            assert!(
                cp.witness(&member(author), first, &hashes("x", first, count))
                    .is_err()
            );
        }
        assert!(cp.witness(&member("zz"), 0, &hashes("zz", 0, 1)).is_err());
    }

    #[test]
    fn altered_checkpoints_are_refused() {
        let (g, cp) = checkpoint();
        let mut forged = cp.clone();
        forged.signed.body.spans_count += 1;
        assert!(matches!(
            forged.verify(&g),
            Err(CheckpointError::Signature { .. })
        ));
        let mut other_spans = cp.clone();
        other_spans.spans[1].head.seq += 1;
        assert!(matches!(
            other_spans.verify(&g),
            Err(CheckpointError::SpansMismatch)
        ));
        let mut dropped = cp.clone();
        dropped.spans.pop();
        assert!(dropped.verify(&g).is_err());
        let (_, keys) = test_consortium();
        let by_b_with_a_key = Checkpoint::sign(
            g.network_id(),
            member("b"),
            0,
            Timestamp(5),
            cp.spans.clone(),
            &keys[0],
        )
        .unwrap();
        assert!(by_b_with_a_key.verify(&g).is_err());
    }

    #[test]
    fn malformed_spans_cannot_be_signed() {
        let (g, keys) = test_consortium();
        let sign = |spans| {
            Checkpoint::sign(
                g.network_id(),
                member("a"),
                0,
                Timestamp(5),
                spans,
                &keys[0],
            )
        };
        assert!(sign(Vec::new()).is_err(), "no span");
        let a = ChainSpan::new(member("a"), 0, &hashes("a", 0, 2)).unwrap();
        assert!(
            sign(vec![a.clone(), a.clone()]).is_err(),
            "two spans of one chain"
        );
        let mut backwards = a.clone();
        backwards.first = 5;
        assert!(sign(vec![backwards]).is_err(), "ends before it starts");
        assert!(ChainSpan::new(member("a"), 0, &[]).is_err());
        assert!(ChainSpan::new(member("a"), u64::MAX, &hashes("a", 0, 2)).is_err());
    }
}
