//! Rejected entries: entries a member validly signed that break a rule needing no other entry
//! — its role may not write the event's kind, the event is not valid EPCIS, a limit is passed.
//! Nodes refuse them; the signed entry itself is the evidence that its author tried to put on
//! the ledger what the rules forbid, and anyone with the genesis checks that
//! ([`RejectedEntry::verify`]). A node keeps each one it refuses; scorecards count them.

use serde::{Deserialize, Serialize};

use crate::entry::SignedEntry;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::verify::{NotAttributable, Verifier};

/// A refused entry that is its author's doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedEntry {
    /// The entry, as its author signed it.
    pub entry: SignedEntry,
}

/// What a rejected entry proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRejection {
    /// The entry.
    pub hash: EntryHash,
    /// Its author.
    pub author: MemberId,
    /// Its place in the author's chain.
    pub seq: u64,
    /// The rule it breaks, in words.
    pub rule: String,
}

impl RejectedEntry {
    /// Checks that the entry is validly signed by its author and breaks a rule (see
    /// [`Verifier::broken_rule`]).
    pub fn verify(&self, verifier: &Verifier<'_>) -> Result<VerifiedRejection, NotAttributable> {
        let broken = verifier.broken_rule(&self.entry)?;
        let hash = self
            .entry
            .hash()
            .map_err(|e| NotAttributable::NotSigned(format!("it cannot be encoded: {e}")))?;
        Ok(VerifiedRejection {
            hash,
            author: self.entry.body.author.clone(),
            seq: self.entry.body.seq,
            rule: broken.to_string(),
        })
    }
}
