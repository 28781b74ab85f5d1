//! An entry's witnessing as this node can show it: which members' checkpoints witness it, the
//! evidence (checkable with the SDK alone), whose checkpoints have not reached it yet, and any
//! checkpoint that states another history of the chain than the one held here.

use serde::Serialize;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::witness::{
    WITNESS_EVIDENCE_FORMAT, WitnessError, WitnessEvidence, counts_as_witness,
};

use super::book::Book;
use crate::store::tiles::{ChainTiles, ProofError};
use crate::store::{Store, StoreError, corrupted};

/// An entry's witnessing.
#[derive(Debug, Clone, Serialize)]
pub struct Witnessing {
    /// The entry.
    pub entry: EntryHash,
    /// Its author.
    pub author: MemberId,
    /// Its sequence number.
    pub seq: u64,
    /// Whether the quorum is reached.
    pub witnessed: bool,
    /// How many witnesses the rule needs.
    pub needed: usize,
    /// The members whose checkpoints witness it (the evidence holds one proof of each).
    pub witnesses: Vec<MemberId>,
    /// Members whose checkpoints count but that this node holds none of covering the entry yet.
    pub pending: Vec<MemberId>,
    /// Checkpoints covering the entry's place that commit to other entries than the ones held
    /// here: the witness saw another history of the chain (a fork) or signed a false one.
    pub disputed: Vec<Disputed>,
    /// The signed entry and the proofs, for [`WitnessEvidence::verify`].
    pub evidence: WitnessEvidence,
}

/// A checkpoint that disagrees with the chain held here.
#[derive(Debug, Clone, Serialize)]
pub struct Disputed {
    /// The witness.
    pub witness: MemberId,
    /// Its checkpoint's number.
    pub number: u64,
    /// What differs.
    pub reason: String,
}

/// The witnessing could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum WitnessingError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The evidence the node put together does not verify: a stored checkpoint or entry is
    /// damaged.
    #[error("the witness evidence put together from the store does not verify: {0}")]
    Evidence(#[from] WitnessError),
}

/// The witnessing of entry `hash`; `None` if the node does not hold the entry.
pub fn witnessing(
    book: &Book,
    store: &dyn Store,
    verifier: &Verifier<'_>,
    hash: &EntryHash,
) -> Result<Option<Witnessing>, WitnessingError> {
    let Some(entry) = store.entry(hash)? else {
        return Ok(None);
    };
    let author = entry.body.author.clone();
    let seq = entry.body.seq;
    let genesis = book.genesis().clone();
    // The chain as held, read once for every witness's format-2 proof.
    let held = store.head(&author)?;
    let mut proofs = Vec::new();
    let mut pending = Vec::new();
    let mut disputed = Vec::new();
    // Removed members' checkpoints from before their removal still count; a removed member
    // is never waited for.
    for member in genesis.all_members() {
        if !counts_as_witness(&genesis, &author, &member.id) {
            continue;
        }
        let Some(checkpoint) = book.covering(&author, &member.id, seq)? else {
            if genesis.is_active(&member.id) {
                pending.push(member.id.clone());
            }
            continue;
        };
        let Some(span) = checkpoint.span(&author) else {
            pending.push(member.id.clone());
            continue;
        };
        let proof = if span.tree.is_some() {
            // Format 2: an inclusion proof in the chain's log, read from the tiles in
            // O(log n), against the witness's cosigned tree head.
            match &held {
                Some(head) if head.tip.seq >= span.head.seq => {
                    let tiles = ChainTiles::new(store, head.code);
                    match tiles.inclusion(seq, span.tree_size()) {
                        Ok(inclusion) => checkpoint.witness_in_tree(&author, seq, hash, inclusion),
                        Err(ProofError::Store(error)) => return Err(error.into()),
                        // The place is below the size by construction: the log is damaged.
                        Err(ProofError::Refused(why)) => {
                            return Err(corrupted(format!("{author}'s chain log: {why}")).into());
                        }
                    }
                }
                // The head reaches past the chain held here: checkable once it is pulled.
                _ => {
                    pending.push(member.id.clone());
                    continue;
                }
            }
        } else {
            let Some(held) = store.chain_hashes(&author, span.first, span.head.seq)? else {
                pending.push(member.id.clone());
                continue;
            };
            checkpoint.witness(&author, seq, &held)
        };
        match proof {
            Ok(proof) => proofs.push(proof),
            Err(error) => disputed.push(Disputed {
                witness: member.id.clone(),
                number: checkpoint.body().number,
                reason: error.to_string(),
            }),
        }
    }
    let evidence = WitnessEvidence {
        format: WITNESS_EVIDENCE_FORMAT,
        entry,
        witnesses: proofs,
    };
    let status = evidence.verify(verifier)?;
    Ok(Some(Witnessing {
        entry: status.entry,
        author,
        seq,
        witnessed: status.witnessed,
        needed: status.needed,
        witnesses: status.witnesses,
        pending,
        disputed,
        evidence,
    }))
}
