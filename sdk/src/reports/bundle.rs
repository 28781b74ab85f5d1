//! The evidence bundle of a product: everything needed to check its responsibility report
//! offline, with the genesis alone.
//!
//! A bundle (JSON, format [`BUNDLE_FORMAT`]) holds the consortium's network id (the hash of
//! its signed genesis), the product, every entry the report reads — each with the signed
//! checkpoints that witness it and their inclusion proofs ([`WitnessEvidence`]) — the fork
//! proofs involving the product, the report, and, to show that nothing was left out, members'
//! signed attestations of what they hold about the product ([`crate::reports::attestation`]). [`EvidenceBundle::verify`] checks every
//! signature, rule, checkpoint and proof, then recomputes the report from the checked entries
//! with [`crate::reports::responsibility::report`] and requires it to be the one in the bundle, and
//! holds the entries to the attestations. Any change to the bundle makes one of these checks
//! fail, and the error names which; what the attestations cannot show complete is returned,
//! chain by chain ([`VerifiedBundle::completeness`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::gs1::{Gs1Error, ProductId};
use crate::hash::{EntryHash, NetworkId};
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::reports::attestation::{self, Attestation, Completeness, CompletenessError};
use crate::reports::provenance::{Judging, Recorded};
use crate::reports::responsibility::{Report, report};
use crate::time::Timestamp;
use crate::verify::Verifier;
use crate::witnessing::fork::{ForkError, ForkProof};
use crate::witnessing::witness::{WitnessError, WitnessEvidence};

/// The bundle format this SDK writes. Format 3 adds the attestations;
/// format 2 (without them) is still read, and shows no chain complete. Both carry reports of
/// rules version 2 (backdating, inspectors, binding promises; [`crate::reports::responsibility`]) with
/// their `as_of` time; a format-1 bundle was judged by rules this SDK no longer applies.
pub const BUNDLE_FORMAT: u16 = 3;

/// The earlier format this SDK still reads.
pub const BUNDLE_FORMAT_WITHOUT_ATTESTATIONS: u16 = 2;

/// A product's evidence bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: u16,
    /// The consortium: the hash of its signed genesis.
    pub network: NetworkId,
    /// The product (canonical Digital Link).
    pub product: String,
    /// The entries, each with the checkpoints that witness it.
    pub entries: Vec<WitnessEvidence>,
    /// Fork proofs involving the product.
    pub forks: Vec<ForkProof>,
    /// The report, as the node computed it.
    pub report: Report,
    /// Members' signed statements of what they hold about the product (format 3).
    #[serde(default)]
    pub attestations: Vec<Attestation>,
}

/// What a bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The report, recomputed.
    pub report: Report,
    /// How many entries it holds.
    pub entries: usize,
    /// How many of them a quorum witnesses.
    pub witnessed: usize,
    /// How many fork proofs.
    pub forks: usize,
    /// What the attestations show complete, chain by chain.
    pub completeness: Completeness,
}

/// A bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Unknown format.
    #[error(
        "bundle format {0} is not supported (this software reads formats {BUNDLE_FORMAT_WITHOUT_ATTESTATIONS} and {BUNDLE_FORMAT})"
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
    /// The product is not a GS1 key.
    #[error("the bundle's product {product:?} is not a GS1 identifier: {source}")]
    Product {
        /// The text.
        product: String,
        /// Why.
        source: Gs1Error,
    },
    /// An entry or its witness proofs fail.
    #[error("entry #{index} of the bundle: {source}")]
    Entry {
        /// Its place in `entries`.
        index: usize,
        /// Why.
        source: WitnessError,
    },
    /// An entry's event cannot be read.
    #[error("entry #{index} of the bundle: its event: {detail}")]
    Event {
        /// Its place in `entries`.
        index: usize,
        /// Why.
        detail: String,
    },
    /// An entry is there twice.
    #[error("entry {0} is in the bundle twice")]
    Duplicate(EntryHash),
    /// A fork proof fails.
    #[error("fork proof #{index} of the bundle: {source}")]
    Fork {
        /// Its place in `forks`.
        index: usize,
        /// Why.
        source: ForkError,
    },
    /// The report is dated before the entries it reads were recorded.
    #[error("the report is judged as of {as_of}, before its latest entry was recorded ({latest})")]
    AsOf {
        /// The report's time.
        as_of: Timestamp,
        /// The latest entry's record time.
        latest: Timestamp,
    },
    /// The attestations contradict the entries, or do not hold.
    #[error(transparent)]
    Completeness(#[from] CompletenessError),
    /// The report is not what the entries say.
    #[error(
        "the report does not follow from the bundle's entries: its {field} differs from the recomputed one"
    )]
    Report {
        /// The first part that differs.
        field: &'static str,
    },
}

impl EvidenceBundle {
    /// Puts a bundle together, computing the report from `entries` (checked by the caller:
    /// a node builds it from its store) and `forks`, judged by `genesis`'s rules at `as_of`.
    /// The attestations are added by the caller ([`EvidenceBundle::attested`]).
    pub fn build(
        genesis: &Consortium,
        product: &ProductId,
        entries: Vec<WitnessEvidence>,
        witnessed: &dyn Fn(&EntryHash) -> bool,
        forks: Vec<ForkProof>,
        as_of: Timestamp,
    ) -> Result<Self, BundleError> {
        let records = records(&entries, |_, hash| Ok(witnessed(hash)))?;
        // An entry may be timestamped a little ahead of the clock that reads it (within the
        // genesis's skew): the report is never judged before its latest entry.
        let latest = entries.iter().map(|e| e.entry.body.timestamp).max();
        let as_of = latest.map_or(as_of, |latest| as_of.max(latest));
        let report = report(product, &records, &forks, &Judging::of(genesis), as_of);
        Ok(Self {
            format: BUNDLE_FORMAT,
            network: genesis.network_id(),
            product: product.as_str().to_owned(),
            entries,
            forks,
            report,
            attestations: Vec::new(),
        })
    }

    /// The bundle with members' `attestations`.
    pub fn attested(mut self, attestations: Vec<Attestation>) -> Self {
        self.attestations = attestations;
        self
    }

    /// The bundle's entries by chain and place: what its attestations are held to
    /// ([`attestation::check`]), by [`EvidenceBundle::verify`] and by a node choosing which
    /// attestations to put in.
    pub fn held(&self) -> Result<BTreeMap<(MemberId, u64), EntryHash>, BundleError> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, evidence)| {
                let body = &evidence.entry.body;
                let hash = evidence.entry.hash().map_err(|e| BundleError::Event {
                    index,
                    detail: e.to_string(),
                })?;
                Ok(((body.author.clone(), body.seq), hash))
            })
            .collect()
    }

    /// Checks the bundle against the consortium `genesis` (see the module documentation).
    pub fn verify(&self, genesis: &Consortium) -> Result<VerifiedBundle, BundleError> {
        match self.format {
            BUNDLE_FORMAT => {}
            BUNDLE_FORMAT_WITHOUT_ATTESTATIONS if self.attestations.is_empty() => {}
            other => return Err(BundleError::Format(other)),
        }
        let expected = genesis.network_id();
        if self.network != expected {
            return Err(BundleError::Network {
                expected,
                found: self.network,
            });
        }
        let product = ProductId::parse(&self.product).map_err(|source| BundleError::Product {
            product: self.product.chars().take(200).collect(),
            source,
        })?;
        // Entries are checked as of the latest of them: a bundle is read long after.
        let latest = self
            .entries
            .iter()
            .map(|e| e.entry.body.timestamp)
            .max()
            .unwrap_or_default();
        if self.report.as_of < latest {
            return Err(BundleError::AsOf {
                as_of: self.report.as_of,
                latest,
            });
        }
        let verifier = Verifier::new(genesis, latest).with_tolerance(u64::MAX);
        let mut statuses = Vec::with_capacity(self.entries.len());
        for (index, evidence) in self.entries.iter().enumerate() {
            let status = evidence
                .verify(&verifier)
                .map_err(|source| BundleError::Entry { index, source })?;
            statuses.push(status);
        }
        for (index, fork) in self.forks.iter().enumerate() {
            fork.verify(&verifier)
                .map_err(|source| BundleError::Fork { index, source })?;
        }
        let records = records(&self.entries, |index, hash| {
            statuses
                .get(index)
                .filter(|s| s.entry == *hash)
                .map(|s| s.witnessed)
                .ok_or(BundleError::Event {
                    index,
                    detail: "its witness status is missing".to_owned(),
                })
        })?;
        let recomputed = report(
            &product,
            &records,
            &self.forks,
            &Judging::of(genesis),
            self.report.as_of,
        );
        if let Some(field) = first_difference(&self.report, &recomputed) {
            return Err(BundleError::Report { field });
        }
        let completeness = attestation::check(
            genesis,
            &product,
            self.report.as_of,
            &self.attestations,
            &self.held()?,
        )?;
        Ok(VerifiedBundle {
            completeness,
            entries: self.entries.len(),
            witnessed: statuses.iter().filter(|s| s.witnessed).count(),
            forks: self.forks.len(),
            report: recomputed,
        })
    }
}

/// The event entries of a bundle, each once, with its witness status from `witnessed`.
fn records(
    entries: &[WitnessEvidence],
    witnessed: impl Fn(usize, &EntryHash) -> Result<bool, BundleError>,
) -> Result<Vec<Recorded>, BundleError> {
    let mut seen = BTreeSet::new();
    let mut records = Vec::with_capacity(entries.len());
    for (index, evidence) in entries.iter().enumerate() {
        let hash = evidence.entry.hash().map_err(|e| BundleError::Event {
            index,
            detail: e.to_string(),
        })?;
        if !seen.insert(hash) {
            return Err(BundleError::Duplicate(hash));
        }
        let read =
            Recorded::read(hash, &evidence.entry, witnessed(index, &hash)?).map_err(|e| {
                BundleError::Event {
                    index,
                    detail: e.to_string(),
                }
            })?;
        records.extend(read);
    }
    Ok(records)
}

/// The first top-level part of the report that differs, if any.
fn first_difference(given: &Report, recomputed: &Report) -> Option<&'static str> {
    if given == recomputed {
        return None;
    }
    Some(if given.rules != recomputed.rules {
        "rules"
    } else if given.product != recomputed.product {
        "product"
    } else if given.defect != recomputed.defect {
        "defect"
    } else if given.claims != recomputed.claims {
        "claims"
    } else if given.undetermined != recomputed.undetermined {
        "undetermined"
    } else if given.set_aside != recomputed.set_aside {
        "set_aside"
    } else if given.provenance.timeline != recomputed.provenance.timeline {
        "provenance.timeline"
    } else if given.provenance.custody != recomputed.provenance.custody {
        "provenance.custody"
    } else if given.provenance.inputs != recomputed.provenance.inputs {
        "provenance.inputs"
    } else {
        "provenance"
    })
}
