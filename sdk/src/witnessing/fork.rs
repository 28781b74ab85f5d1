//! Fork proofs: evidence that a member signed two different entries at one position.
//!
//! A member is the only writer of its chain, so two validly signed, different entries with the
//! same author and sequence number can only mean the author equivocated (showed different
//! histories to different parties). The pair is self-contained proof of it: anyone with the
//! genesis can check it, and it is kept and shown forever.

use serde::{Deserialize, Serialize};

use crate::entry::SignedEntry;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::verify::{Verifier, VerifyError};

/// Two signed entries claimed to conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkProof {
    /// One entry (the one with the smaller hash, so a proof has one canonical form).
    pub first: SignedEntry,
    /// The other entry.
    pub second: SignedEntry,
}

/// Where each forked chain forked: the earliest place of a fork proof per author. An entry
/// of such a chain from that place on is **forked**: its author signed two histories, and no
/// one can tell which it will stand by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForkPoints(std::collections::BTreeMap<MemberId, u64>);

impl ForkPoints {
    /// The fork points of `proofs` (checked by the caller).
    pub fn of<'a>(proofs: impl IntoIterator<Item = &'a ForkProof>) -> Self {
        let mut points = std::collections::BTreeMap::new();
        for proof in proofs {
            let seq = proof.first.body.seq;
            points
                .entry(proof.first.body.author.clone())
                .and_modify(|at: &mut u64| *at = (*at).min(seq))
                .or_insert(seq);
        }
        Self(points)
    }

    /// Where `author`'s chain forked, if it did.
    pub fn of_chain(&self, author: &MemberId) -> Option<u64> {
        self.0.get(author).copied()
    }

    /// Whether entry `seq` of `author`'s chain is at or after its chain's fork point.
    pub fn is_forked(&self, author: &MemberId, seq: u64) -> bool {
        self.of_chain(author).is_some_and(|at| seq >= at)
    }

    /// Each forked chain's author and fork point, by author.
    pub fn iter(&self) -> impl Iterator<Item = (&MemberId, u64)> {
        self.0.iter().map(|(author, at)| (author, *at))
    }

    /// Whether no chain forked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A fork proof does not prove a fork.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The entries have different authors.
    #[error("the two entries have different authors ({0} and {1}), so they do not conflict")]
    DifferentAuthors(MemberId, MemberId),
    /// The entries have different sequence numbers.
    #[error(
        "the two entries have different sequence numbers ({0} and {1}), so they do not conflict"
    )]
    DifferentPositions(u64, u64),
    /// The entries are the same entry.
    #[error("the two entries are the same entry")]
    SameEntry,
    /// The entries are not in canonical order.
    #[error("the entries of a fork proof must be ordered by hash, smaller first")]
    NotCanonical,
    /// One of the entries is not validly signed by its author.
    #[error("{which} entry of the fork proof is not valid: {source}")]
    InvalidEntry {
        /// `first` or `second`.
        which: &'static str,
        /// Why.
        source: VerifyError,
    },
}

/// A checked fork proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFork {
    /// The equivocating member.
    pub author: MemberId,
    /// The position signed twice.
    pub seq: u64,
    /// The two entry hashes, smaller first.
    pub hashes: [EntryHash; 2],
}

impl ForkProof {
    /// Orders two conflicting entries into a proof (does not check it).
    pub fn new(a: SignedEntry, b: SignedEntry) -> Result<Self, ForkError> {
        let hash = |e: &SignedEntry, which| {
            e.hash().map_err(|e| ForkError::InvalidEntry {
                which,
                source: e.into(),
            })
        };
        if hash(&a, "first")? <= hash(&b, "second")? {
            Ok(Self {
                first: a,
                second: b,
            })
        } else {
            Ok(Self {
                first: b,
                second: a,
            })
        }
    }

    /// Checks that both entries are validly signed by one member at one position and differ.
    /// Entry rules other than the chain rule apply too, with no limit on the timestamp.
    pub fn verify(&self, verifier: &Verifier<'_>) -> Result<VerifiedFork, ForkError> {
        let (a, b) = (&self.first.body, &self.second.body);
        if a.author != b.author {
            return Err(ForkError::DifferentAuthors(
                a.author.clone(),
                b.author.clone(),
            ));
        }
        if a.seq != b.seq {
            return Err(ForkError::DifferentPositions(a.seq, b.seq));
        }
        let verifier = verifier.with_tolerance(u64::MAX);
        let first =
            verifier
                .verify_detached(&self.first)
                .map_err(|source| ForkError::InvalidEntry {
                    which: "first",
                    source,
                })?;
        let second =
            verifier
                .verify_detached(&self.second)
                .map_err(|source| ForkError::InvalidEntry {
                    which: "second",
                    source,
                })?;
        match first.cmp(&second) {
            std::cmp::Ordering::Equal => Err(ForkError::SameEntry),
            std::cmp::Ordering::Greater => Err(ForkError::NotCanonical),
            std::cmp::Ordering::Less => Ok(VerifiedFork {
                author: a.author.clone(),
                seq: a.seq,
                hashes: [first, second],
            }),
        }
    }
}
