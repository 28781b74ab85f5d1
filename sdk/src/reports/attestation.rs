//! Attestations: a member's signed statement of which entries about one product it holds, so
//! that an evidence bundle shows nothing about the product was left out.
//!
//! A bundle's entries are signed and witnessed, but that proves only what the bundle holds: a
//! node could drop a failing inspection and recompute the report. Nothing signed lets an
//! offline reader tell that an entry it has not seen is *not* about the product, short of
//! reading every entry of every chain. So the node building a bundle asks the other members'
//! nodes, each of which holds every chain, what *they* hold about the product: each answers
//! with an [`Attestation`], signed with its member key, listing the entries about the product
//! and its inputs it holds (the same selection the bundle makes) and, per chain, how many
//! entries it holds and the hash of the last. [`check`] then holds the bundle to them:
//!
//! - an attested entry missing from the bundle is an error ([`CompletenessError::LeftOut`])
//!   when the bundle holds a later entry of its chain, and leaves the chain not shown complete
//!   when it does not (left out, or newer than what the bundle's builder held): one member's
//!   word is enough to catch an omission, because the entry it names is signed by its author
//!   and can be produced;
//! - a chain counts as complete up to the size that as many attesters other than its author
//!   as the witness quorum hold ([`crate::witnessing::witness::witnesses_needed`]), and only if that covers
//!   every entry of the chain the bundle reads; attestations made before the report's `as_of`
//!   (less the genesis's clock skew) do not count;
//! - whatever is not shown complete is said, chain by chain, with the range and why
//!   ([`ChainCompleteness::gap`]).
//!
//! An attestation is accountable: one that omits an entry its attester held is contradicted by
//! that entry (signed by its author, at a place below the attested size, with a hash chain to
//! the attested head). What it cannot prove is the attester's honesty at the moment it
//! answered: completeness holds against fewer dishonest members than the witness quorum, the
//! same assumption witnessing rests on (docs/provenance.md).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{CryptoError, Signature, SigningKey};
use crate::domain::signing;
use crate::gs1::ProductId;
use crate::hash::{AttestationHash, EntryHash, NetworkId};
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::time::Timestamp;
use crate::witnessing::witness::{counts_as_witness, witnesses_needed};

/// The attestation format this SDK writes and reads.
pub const ATTESTATION_FORMAT: u16 = 1;

/// Most entries one attestation lists (a report reads at most this many).
pub const MAX_ATTESTED_ENTRIES: usize = 10_000;

/// How much of one chain a member holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHeld {
    /// The chain's author.
    pub author: MemberId,
    /// How many of its entries are held, from the first, without a gap.
    pub size: u64,
    /// The hash of the last of them (entry `size - 1`); `None` when none is held.
    pub head: Option<EntryHash>,
}

/// An entry about the product or its inputs, by place and hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestedEntry {
    /// The chain.
    pub author: MemberId,
    /// Its place in the chain.
    pub seq: u64,
    /// Its hash.
    pub hash: EntryHash,
}

/// What an attester signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationBody {
    /// [`ATTESTATION_FORMAT`].
    pub format: u16,
    /// The consortium.
    pub network: NetworkId,
    /// The member attesting.
    pub attester: MemberId,
    /// The product (canonical Digital Link).
    pub product: String,
    /// When it was made, by the attester's clock.
    pub time: Timestamp,
    /// Every chain the attester holds entries of, by author.
    pub chains: Vec<ChainHeld>,
    /// Every entry it holds about the product and, through the transformations that made it,
    /// about its inputs, by author and place.
    pub entries: Vec<AttestedEntry>,
}

impl AttestationBody {
    /// The attestation hash (the canonical encoding, hashed in its own domain).
    pub fn hash(&self) -> Result<AttestationHash, CodecError> {
        Ok(AttestationHash::digest(&codec::encode(
            "attestation",
            self,
        )?))
    }

    /// The size held of `author`'s chain (0 if none).
    pub fn size_of(&self, author: &MemberId) -> u64 {
        self.chains
            .binary_search_by(|c| c.author.cmp(author))
            .ok()
            .and_then(|i| self.chains.get(i))
            .map_or(0, |c| c.size)
    }

    fn well_formed(&self) -> Result<(), AttestationError> {
        let malformed = |why: String| Err(AttestationError::Malformed(why));
        if !self.chains.windows(2).all(|w| w[0].author < w[1].author) {
            return malformed("its chains are not sorted by author, each once".into());
        }
        if self.entries.len() > MAX_ATTESTED_ENTRIES {
            return malformed(format!(
                "it lists {} entries, more than {MAX_ATTESTED_ENTRIES}",
                self.entries.len()
            ));
        }
        if !self
            .entries
            .windows(2)
            .all(|w| (&w[0].author, w[0].seq) < (&w[1].author, w[1].seq))
        {
            return malformed("its entries are not sorted by chain and place, each once".into());
        }
        for chain in &self.chains {
            if (chain.size == 0) != chain.head.is_none() {
                return malformed(format!(
                    "its head of {}'s chain does not match the size it holds ({})",
                    chain.author, chain.size
                ));
            }
        }
        for entry in &self.entries {
            if entry.seq >= self.size_of(&entry.author) {
                return malformed(format!(
                    "it lists {}'s entry #{} but holds {} of that chain",
                    entry.author,
                    entry.seq,
                    self.size_of(&entry.author)
                ));
            }
        }
        Ok(())
    }
}

/// A signed attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// What is attested.
    pub body: AttestationBody,
    /// The attester's signature over the body's hash.
    pub signature: Signature,
}

/// An attestation does not hold.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// Unknown format.
    #[error(
        "attestation format {0} is not supported (this software reads format {ATTESTATION_FORMAT})"
    )]
    Format(u16),
    /// Another consortium's.
    #[error("it is of network {0}, not of this genesis")]
    Network(NetworkId),
    /// Not a current member.
    #[error("its attester {0} is not a current member")]
    NotMember(MemberId),
    /// The signature does not verify.
    #[error("the signature of {attester} does not verify: {source}")]
    Signature {
        /// Who it claims to be from.
        attester: MemberId,
        /// Why.
        source: CryptoError,
    },
    /// Not well formed.
    #[error("it is malformed: {0}")]
    Malformed(String),
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl Attestation {
    /// Signs `body` (its chains and entries sorted here) with `key`.
    pub fn sign(mut body: AttestationBody, key: &SigningKey) -> Result<Self, AttestationError> {
        body.chains.sort_by(|a, b| a.author.cmp(&b.author));
        body.entries.sort();
        body.well_formed()?;
        let hash = body.hash()?;
        Ok(Self {
            signature: key.sign(signing::ATTESTATION, hash.as_bytes()),
            body,
        })
    }

    /// Checks format, network, that the attester is a current member, the signature under
    /// its current key, and that the body is well formed.
    pub fn verify(&self, genesis: &Consortium) -> Result<AttestationHash, AttestationError> {
        let body = &self.body;
        if body.format != ATTESTATION_FORMAT {
            return Err(AttestationError::Format(body.format));
        }
        if body.network != genesis.network_id() {
            return Err(AttestationError::Network(body.network));
        }
        let key = genesis
            .standing(&body.attester)
            .filter(|s| s.removed.is_none())
            .and_then(|s| s.keys.last())
            .map(|epoch| epoch.key)
            .ok_or_else(|| AttestationError::NotMember(body.attester.clone()))?;
        body.well_formed()?;
        let hash = body.hash()?;
        key.verify(signing::ATTESTATION, hash.as_bytes(), &self.signature)
            .map_err(|source| AttestationError::Signature {
                attester: body.attester.clone(),
                source,
            })?;
        Ok(hash)
    }
}

/// What a bundle's attestations show of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCompleteness {
    /// The chain's author.
    pub author: MemberId,
    /// The bundle reads the chain from its first entry up to this place (exclusive): just
    /// past its last entry of the chain in the bundle.
    pub reads: u64,
    /// Entries from the first up to this place (exclusive) are shown to hold nothing more
    /// about the product than the bundle: as many attesters as needed hold at least this many.
    pub proven: u64,
    /// The attesters whose statements count for this chain, in order.
    pub attesters: Vec<MemberId>,
    /// How many are needed.
    pub needed: usize,
    /// Why the chain is not shown complete, if it is not.
    pub gap: Option<String>,
}

/// What a bundle's attestations show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completeness {
    /// Every chain of the consortium, by author.
    pub chains: Vec<ChainCompleteness>,
    /// Attestations that count for no chain, and why.
    pub not_counted: Vec<(MemberId, String)>,
}

impl Completeness {
    /// Whether every chain is shown complete.
    pub fn is_complete(&self) -> bool {
        self.chains.iter().all(|c| c.gap.is_none())
    }

    /// The chains not shown complete.
    pub fn gaps(&self) -> impl Iterator<Item = &ChainCompleteness> {
        self.chains.iter().filter(|c| c.gap.is_some())
    }
}

/// A bundle's attestations contradict it.
#[derive(Debug, thiserror::Error)]
pub enum CompletenessError {
    /// An attestation does not hold.
    #[error("attestation #{index} of the bundle: {source}")]
    Attestation {
        /// Its place.
        index: usize,
        /// Why.
        source: AttestationError,
    },
    /// Two attestations of one member.
    #[error("the bundle holds two attestations of {0}")]
    Twice(MemberId),
    /// An attestation of another product.
    #[error("attestation #{index} is about {found:?}, not the bundle's product")]
    Product {
        /// Its place.
        index: usize,
        /// Its product.
        found: String,
    },
    /// An attested entry is missing from what the bundle reads.
    #[error(
        "entry {hash} ({author} #{seq}), which {attester} attests is about the product or its inputs, was left out of the bundle"
    )]
    LeftOut {
        /// Who attests it.
        attester: MemberId,
        /// The chain.
        author: MemberId,
        /// The place.
        seq: u64,
        /// The entry.
        hash: EntryHash,
    },
    /// An attestation names another entry at a place the bundle holds: two histories.
    #[error(
        "{attester} attests entry {attested} at {author} #{seq}, but the bundle holds {held} there: the chain is forked"
    )]
    Contradiction {
        /// Who attests it.
        attester: MemberId,
        /// The chain.
        author: MemberId,
        /// The place.
        seq: u64,
        /// The attested hash.
        attested: EntryHash,
        /// The bundle's.
        held: EntryHash,
    },
}

/// Holds a bundle to its attestations (see the module documentation). `held` is every entry
/// the bundle holds by chain and place, `as_of` its report's time.
pub fn check(
    genesis: &Consortium,
    product: &ProductId,
    as_of: Timestamp,
    attestations: &[Attestation],
    held: &BTreeMap<(MemberId, u64), EntryHash>,
) -> Result<Completeness, CompletenessError> {
    let mut attesters = BTreeSet::new();
    let mut fresh = Vec::new();
    let mut not_counted = Vec::new();
    let mut late = BTreeMap::<MemberId, Vec<String>>::new();
    // How far into each chain the bundle reads: just past its last entry of the chain.
    let mut reads_of = BTreeMap::<&MemberId, u64>::new();
    for (author, seq) in held.keys() {
        reads_of.insert(author, seq.saturating_add(1));
    }
    let reads = |author: &MemberId| reads_of.get(author).copied().unwrap_or(0);
    for (index, attestation) in attestations.iter().enumerate() {
        attestation
            .verify(genesis)
            .map_err(|source| CompletenessError::Attestation { index, source })?;
        let body = &attestation.body;
        if !attesters.insert(&body.attester) {
            return Err(CompletenessError::Twice(body.attester.clone()));
        }
        if body.product != product.as_str() {
            return Err(CompletenessError::Product {
                index,
                found: body.product.chars().take(200).collect(),
            });
        }
        for chain in &body.chains {
            if let (Some(last), Some(head)) = (chain.size.checked_sub(1), chain.head)
                && let Some(found) = held.get(&(chain.author.clone(), last))
                && *found != head
            {
                return Err(contradiction(body, &chain.author, last, head, *found));
            }
        }
        for entry in &body.entries {
            match held.get(&(entry.author.clone(), entry.seq)) {
                Some(found) if *found == entry.hash => {}
                Some(found) => {
                    return Err(contradiction(
                        body,
                        &entry.author,
                        entry.seq,
                        entry.hash,
                        *found,
                    ));
                }
                None if entry.seq < reads(&entry.author) => {
                    return Err(CompletenessError::LeftOut {
                        attester: body.attester.clone(),
                        author: entry.author.clone(),
                        seq: entry.seq,
                        hash: entry.hash,
                    });
                }
                None => late.entry(entry.author.clone()).or_default().push(format!(
                    "{} holds entry {} (#{}) about the product, which the bundle lacks (left out, or newer than what its builder held)",
                    body.attester,
                    entry.hash.short(),
                    entry.seq
                )),
            }
        }
        let skew = genesis.limits().max_clock_skew_ms;
        if body.time.0.saturating_add(skew) < as_of.0 {
            not_counted.push((
                body.attester.clone(),
                format!(
                    "made at {}, before the report's time {} (less the clock skew allowed)",
                    body.time, as_of
                ),
            ));
        } else {
            fresh.push(body);
        }
    }
    let mut authors: BTreeSet<MemberId> =
        genesis.all_members().iter().map(|m| m.id.clone()).collect();
    authors.extend(held.keys().map(|(author, _)| author.clone()));
    let chains = authors
        .into_iter()
        .map(|author| {
            let reads = reads(&author);
            let needed = witnesses_needed(genesis, &author);
            let mut counting: Vec<(u64, &MemberId)> = fresh
                .iter()
                .filter(|b| counts_as_witness(genesis, &author, &b.attester))
                .map(|b| (b.size_of(&author), &b.attester))
                .collect();
            counting.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let proven = counting
                .get(needed.saturating_sub(1))
                .map_or(0, |(size, _)| *size);
            let gap = if counting.len() < needed {
                Some(format!(
                    "attested by {} of the {needed} members other than its author needed",
                    counting.len()
                ))
            } else if proven < reads {
                Some(format!(
                    "entries #{proven} to #{} are held by fewer than the {needed} attesters needed",
                    reads - 1
                ))
            } else {
                late.get(&author).map(|why| why.join("; "))
            };
            let mut attesters: Vec<MemberId> =
                counting.into_iter().map(|(_, m)| m.clone()).collect();
            attesters.sort();
            ChainCompleteness {
                author,
                reads,
                proven,
                attesters,
                needed,
                gap,
            }
        })
        .collect();
    Ok(Completeness {
        chains,
        not_counted,
    })
}

fn contradiction(
    body: &AttestationBody,
    author: &MemberId,
    seq: u64,
    attested: EntryHash,
    held: EntryHash,
) -> CompletenessError {
    CompletenessError::Contradiction {
        attester: body.attester.clone(),
        author: author.clone(),
        seq,
        attested,
        held,
    }
}

#[cfg(test)]
mod tests;
