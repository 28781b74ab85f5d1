//! The bundle of a period: every entry the consortium's members recorded between two
//! instants, checkable offline with the genesis alone — what a regulator archives.
//!
//! The period is of *record* time (the entries' timestamps, which never go back along a
//! chain), `from` inclusive, `to` exclusive. For each chain the bundle holds the entries of
//! the period in order, each with the checkpoints witnessing it ([`WitnessEvidence`]), and
//! the entries just outside it: `before`, the last entry before `from` (absent only if the
//! chain starts inside the period), and `after`, the first at or after `to` (absent if the
//! exporting node holds none yet). [`PeriodBundle::verify`] checks every signature, rule and
//! witness proof and that the entries link one to the next from `before` to `after`: so no
//! entry of the period can be left out between them, and the period's start is proven. The
//! fork proofs of the chains' authors come along, and a summary that verification recomputes.
//!
//! Product findings (custody violations, defects) are not summarised here: they depend on
//! entries outside the period. `tally audit verify` reads the whole history for those.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::entry::SignedEntry;
use crate::hash::{EntryHash, NetworkId};
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::time::Timestamp;
use crate::verify::{ChainError, ChainTip, Verifier, VerifyError, check_chain};
use crate::witnessing::fork::{ForkError, ForkProof};
use crate::witnessing::witness::{WitnessError, WitnessEvidence};

/// The period bundle format this SDK writes and reads.
pub const PERIOD_FORMAT: u16 = 1;

/// Record time from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start, inclusive.
    pub from: Timestamp,
    /// End, exclusive.
    pub to: Timestamp,
}

impl Period {
    /// Whether `t` is in the period.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}

/// One chain's part of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSegment {
    /// The chain's author.
    pub member: MemberId,
    /// The last entry before the period (none if the chain starts in it).
    pub before: Option<SignedEntry>,
    /// The entries of the period, in chain order, with their witnesses.
    pub entries: Vec<WitnessEvidence>,
    /// The first entry at or after the period's end, if the exporter holds one.
    pub after: Option<SignedEntry>,
}

/// One chain's figures in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSummary {
    /// The author.
    pub member: MemberId,
    /// Entries in the period.
    pub entries: u64,
    /// Of which witnessed by a quorum.
    pub witnessed: u64,
    /// Sequence numbers of the first and last entry in the period.
    pub first_seq: Option<u64>,
    /// See `first_seq`.
    pub last_seq: Option<u64>,
    /// Whether the bundle proves the chain's end of the period (it holds `after`).
    pub end_proven: bool,
}

/// The period's figures, as verification recomputes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodSummary {
    /// Entries in the period.
    pub entries: u64,
    /// Of which witnessed.
    pub witnessed: u64,
    /// Each chain.
    pub chains: Vec<SegmentSummary>,
    /// Fork proofs.
    pub forks: u64,
}

/// A period's bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodBundle {
    /// [`PERIOD_FORMAT`].
    pub format: u16,
    /// The consortium: the hash of its signed genesis.
    pub network: NetworkId,
    /// The period.
    pub period: Period,
    /// Each chain's part, ordered by member, each member once.
    pub chains: Vec<ChainSegment>,
    /// Fork proofs of the chains' authors.
    pub forks: Vec<ForkProof>,
    /// The figures, as the exporter computed them.
    pub summary: PeriodSummary,
}

/// A period bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    /// Unknown format.
    #[error(
        "period bundle format {0} is not supported (this software reads format {PERIOD_FORMAT})"
    )]
    Format(u16),
    /// Another consortium's bundle.
    #[error("the bundle is of network {found}, not of this genesis ({expected})")]
    Network {
        /// The genesis's network.
        expected: NetworkId,
        /// The bundle's.
        found: NetworkId,
    },
    /// The period ends before it starts.
    #[error("the period ends ({to}) before it starts ({from})")]
    EmptyPeriod {
        /// Start.
        from: Timestamp,
        /// End.
        to: Timestamp,
    },
    /// Chains out of order, repeated, or of no member.
    #[error("chain #{index} ({member}): {why}")]
    Chains {
        /// Its place.
        index: usize,
        /// Its member.
        member: MemberId,
        /// What is wrong.
        why: &'static str,
    },
    /// An entry or its witness proofs fail.
    #[error("{member}'s chain, entry #{index} of the period: {source}")]
    Entry {
        /// The chain.
        member: MemberId,
        /// Its place in the segment.
        index: usize,
        /// Why.
        source: Box<WitnessError>,
    },
    /// An entry just outside the period fails.
    #[error("{member}'s chain, the entry {which} the period: {source}")]
    Boundary {
        /// The chain.
        member: MemberId,
        /// `before` or `after`.
        which: &'static str,
        /// Why.
        source: Box<VerifyError>,
    },
    /// An entry is of another chain, or outside where it stands.
    #[error("{member}'s chain: entry {seq} {why}")]
    Misplaced {
        /// The chain.
        member: MemberId,
        /// The entry's sequence number.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// The entries do not link.
    #[error("{member}'s chain: {source}")]
    Link {
        /// The chain.
        member: MemberId,
        /// Why.
        source: ChainError,
    },
    /// A fork proof fails or is not of a chain of the bundle.
    #[error("fork proof #{index} of the bundle: {source}")]
    Fork {
        /// Its place.
        index: usize,
        /// Why.
        source: ForkError,
    },
    /// A fork proof of a member with no chain in the bundle.
    #[error("fork proof #{index} of the bundle is of {member}, which has no chain in it")]
    ForeignFork {
        /// Its place.
        index: usize,
        /// Its author.
        member: MemberId,
    },
    /// An entry is there twice.
    #[error("entry {0} is in the bundle twice")]
    Duplicate(EntryHash),
    /// The summary is not what the entries say.
    #[error(
        "the summary does not follow from the bundle's entries: its {0} differs from the recomputed one"
    )]
    Summary(&'static str),
}

impl PeriodBundle {
    /// Puts a bundle together (from a node's store), computing its summary; the caller
    /// supplies each entry's witness status as the node knows it.
    pub fn build(
        network: NetworkId,
        period: Period,
        chains: Vec<ChainSegment>,
        forks: Vec<ForkProof>,
        witnessed: &dyn Fn(&WitnessEvidence) -> bool,
    ) -> Self {
        let summary = summarise(&chains, forks.len(), |_, _, evidence| witnessed(evidence));
        Self {
            format: PERIOD_FORMAT,
            network,
            period,
            chains,
            forks,
            summary,
        }
    }

    /// Checks the bundle against the consortium `genesis` (see the module documentation) and
    /// returns the recomputed summary.
    pub fn verify(&self, genesis: &Consortium) -> Result<PeriodSummary, PeriodError> {
        if self.format != PERIOD_FORMAT {
            return Err(PeriodError::Format(self.format));
        }
        let expected = genesis.network_id();
        if self.network != expected {
            return Err(PeriodError::Network {
                expected,
                found: self.network,
            });
        }
        let period = self.period;
        if period.to < period.from {
            return Err(PeriodError::EmptyPeriod {
                from: period.from,
                to: period.to,
            });
        }
        let verifier = Verifier::new(genesis, Timestamp(0)).with_tolerance(u64::MAX);
        let mut seen = BTreeSet::new();
        let mut witnessed = Vec::with_capacity(self.chains.len());
        for (index, segment) in self.chains.iter().enumerate() {
            let chains_error = |why| PeriodError::Chains {
                index,
                member: segment.member.clone(),
                why,
            };
            if genesis.standing(&segment.member).is_none() {
                return Err(chains_error("not a member of the consortium"));
            }
            if index > 0
                && self
                    .chains
                    .get(index - 1)
                    .is_some_and(|before| before.member >= segment.member)
            {
                return Err(chains_error("chains must be ordered by member, each once"));
            }
            witnessed.push(verify_segment(&verifier, period, segment, &mut seen)?);
        }
        let members: BTreeSet<&MemberId> = self.chains.iter().map(|c| &c.member).collect();
        for (index, fork) in self.forks.iter().enumerate() {
            let verified = fork
                .verify(&verifier)
                .map_err(|source| PeriodError::Fork { index, source })?;
            if !members.contains(&verified.author) {
                return Err(PeriodError::ForeignFork {
                    index,
                    member: verified.author,
                });
            }
        }
        let recomputed = summarise(&self.chains, self.forks.len(), |chain, entry, _| {
            witnessed
                .get(chain)
                .and_then(|w: &Vec<bool>| w.get(entry))
                .copied()
                .unwrap_or(false)
        });
        if let Some(field) = first_difference(&self.summary, &recomputed) {
            return Err(PeriodError::Summary(field));
        }
        Ok(recomputed)
    }
}

/// Checks one chain's segment; returns each entry's witness status.
fn verify_segment(
    verifier: &Verifier<'_>,
    period: Period,
    segment: &ChainSegment,
    seen: &mut BTreeSet<EntryHash>,
) -> Result<Vec<bool>, PeriodError> {
    let member = &segment.member;
    let misplaced = |seq: u64, why: String| PeriodError::Misplaced {
        member: member.clone(),
        seq,
        why,
    };
    let mut tip: Option<ChainTip> = None;
    let mut link = |entry: &SignedEntry, hash: EntryHash| -> Result<(), PeriodError> {
        if &entry.body.author != member {
            return Err(misplaced(
                entry.body.seq,
                format!("is signed by {}", entry.body.author),
            ));
        }
        if !seen.insert(hash) {
            return Err(PeriodError::Duplicate(hash));
        }
        match tip {
            // The first entry read has no predecessor in the bundle: it must be the chain's
            // first unless it is `before`, whose own predecessor is outside the bundle.
            None if segment.before.is_some() => {}
            other => check_chain(entry, other.as_ref()).map_err(|source| PeriodError::Link {
                member: member.clone(),
                source,
            })?,
        }
        tip = Some(ChainTip {
            seq: entry.body.seq,
            hash,
            timestamp: entry.body.timestamp,
        });
        Ok(())
    };
    let boundary = |which, entry: &SignedEntry| {
        verifier
            .verify_detached(entry)
            .map_err(|source| PeriodError::Boundary {
                member: member.clone(),
                which,
                source: Box::new(source),
            })
    };
    if let Some(before) = &segment.before {
        let hash = boundary("before", before)?;
        if before.body.timestamp >= period.from {
            return Err(misplaced(
                before.body.seq,
                format!(
                    "is given as the last before the period but is timestamped {}",
                    before.body.timestamp
                ),
            ));
        }
        link(before, hash)?;
    }
    let mut witnessed = Vec::with_capacity(segment.entries.len());
    for (index, evidence) in segment.entries.iter().enumerate() {
        let status = evidence
            .verify(verifier)
            .map_err(|source| PeriodError::Entry {
                member: member.clone(),
                index,
                source: Box::new(source),
            })?;
        let entry = &evidence.entry;
        if !period.contains(entry.body.timestamp) {
            return Err(misplaced(
                entry.body.seq,
                format!(
                    "is timestamped {}, outside the period",
                    entry.body.timestamp
                ),
            ));
        }
        link(entry, status.entry)?;
        witnessed.push(status.witnessed);
    }
    if let Some(after) = &segment.after {
        let hash = boundary("after", after)?;
        if after.body.timestamp < period.to {
            return Err(misplaced(
                after.body.seq,
                format!(
                    "is given as the first after the period but is timestamped {}",
                    after.body.timestamp
                ),
            ));
        }
        link(after, hash)?;
    }
    Ok(witnessed)
}

fn summarise(
    chains: &[ChainSegment],
    forks: usize,
    witnessed: impl Fn(usize, usize, &WitnessEvidence) -> bool,
) -> PeriodSummary {
    let chains: Vec<SegmentSummary> = chains
        .iter()
        .enumerate()
        .map(|(c, segment)| SegmentSummary {
            member: segment.member.clone(),
            entries: segment.entries.len() as u64,
            witnessed: segment
                .entries
                .iter()
                .enumerate()
                .filter(|(e, evidence)| witnessed(c, *e, evidence))
                .count() as u64,
            first_seq: segment.entries.first().map(|e| e.entry.body.seq),
            last_seq: segment.entries.last().map(|e| e.entry.body.seq),
            end_proven: segment.after.is_some(),
        })
        .collect();
    PeriodSummary {
        entries: chains.iter().map(|c| c.entries).sum(),
        witnessed: chains.iter().map(|c| c.witnessed).sum(),
        chains,
        forks: forks as u64,
    }
}

fn first_difference(given: &PeriodSummary, recomputed: &PeriodSummary) -> Option<&'static str> {
    if given == recomputed {
        None
    } else if given.entries != recomputed.entries {
        Some("entries")
    } else if given.witnessed != recomputed.witnessed {
        Some("witnessed")
    } else if given.forks != recomputed.forks {
        Some("forks")
    } else {
        Some("chains")
    }
}
