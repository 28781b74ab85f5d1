//! When an entry is *witnessed*, and the evidence that shows it to anyone holding the genesis.
//!
//! An entry is witnessed once members other than its author — as many as the genesis's witness
//! quorum, or all the other members if there are fewer — have each signed a checkpoint that
//! witnesses it ([`crate::witnessing::checkpoint`]). The author's own checkpoints do not count: an author
//! that equivocates would happily vouch for both of its entries. With a majority quorum, two
//! conflicting entries of one author can then both be witnessed only if some other member
//! signed checkpoints of both, which an honest node never does (it stops taking a chain at a
//! fork). In a consortium of one member, its own checkpoint is the only witness there is.
//!
//! [`WitnessEvidence`] carries the signed entry and one [`EntryWitness`] per witness;
//! [`WitnessEvidence::verify`] checks it with the genesis alone and says whether the quorum is
//! reached.

use serde::{Deserialize, Serialize};

use crate::entry::SignedEntry;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::verify::{Verifier, VerifyError};
use crate::witnessing::checkpoint::{CheckpointError, EntryWitness};

/// The witness-evidence format this SDK writes and reads.
pub const WITNESS_EVIDENCE_FORMAT: u16 = 1;

/// How many members other than `author` must witness an entry of `author`'s.
pub fn witnesses_needed(genesis: &Consortium, author: &MemberId) -> usize {
    let others = genesis.members().iter().filter(|m| &m.id != author).count();
    if others == 0 {
        1
    } else {
        genesis.witness_quorum().min(others)
    }
}

/// Whether `witness`'s checkpoints count towards witnessing `author`'s entries.
pub fn counts_as_witness(genesis: &Consortium, author: &MemberId, witness: &MemberId) -> bool {
    witness != author || genesis.members().len() == 1
}

/// An entry with the checkpoints that witness it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEvidence {
    /// Format number ([`WITNESS_EVIDENCE_FORMAT`]).
    pub format: u16,
    /// The entry.
    pub entry: SignedEntry,
    /// One proof per witness, each a signed checkpoint witnessing the entry.
    pub witnesses: Vec<EntryWitness>,
}

/// What [`WitnessEvidence::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessStatus {
    /// The entry.
    pub entry: EntryHash,
    /// Whether the quorum is reached.
    pub witnessed: bool,
    /// How many witnesses the rule needs for this entry.
    pub needed: usize,
    /// The members whose checkpoints count, each once, sorted.
    pub witnesses: Vec<MemberId>,
}

/// Witness evidence is invalid.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// Unknown format.
    #[error(
        "witness evidence format {0} is not supported (this software reads format {WITNESS_EVIDENCE_FORMAT})"
    )]
    Format(u16),
    /// The entry is not validly signed by its author.
    #[error("the entry is not valid: {0}")]
    Entry(#[from] VerifyError),
    /// A witness proof does not hold.
    #[error("the proof of witness {witness} does not hold: {source}")]
    Witness {
        /// The witness the proof names.
        witness: MemberId,
        /// Why it fails.
        source: CheckpointError,
    },
}

impl WitnessEvidence {
    /// Checks the entry's signature and every witness proof (all must hold), and counts the
    /// witnesses against the rule. The entry's timestamp is not held against the clock: the
    /// evidence may be read long after.
    pub fn verify(&self, verifier: &Verifier<'_>) -> Result<WitnessStatus, WitnessError> {
        if self.format != WITNESS_EVIDENCE_FORMAT {
            return Err(WitnessError::Format(self.format));
        }
        let genesis = verifier.genesis();
        let hash = verifier
            .with_tolerance(u64::MAX)
            .verify_detached(&self.entry)?;
        let author = &self.entry.body.author;
        let seq = self.entry.body.seq;
        let mut witnesses = Vec::new();
        for proof in &self.witnesses {
            proof
                .verify(genesis, author, seq, &hash)
                .map_err(|source| WitnessError::Witness {
                    witness: proof.witness().clone(),
                    source,
                })?;
            if counts_as_witness(genesis, author, proof.witness()) {
                witnesses.push(proof.witness().clone());
            }
        }
        witnesses.sort();
        witnesses.dedup();
        let needed = witnesses_needed(genesis, author);
        Ok(WitnessStatus {
            entry: hash,
            witnessed: witnesses.len() >= needed,
            needed,
            witnesses,
        })
    }
}
