//! A self-contained disclosure: a signed entry plus chosen private fields with their proof.
//!
//! This is what a member hands a consumer, a court or a regulator: the signed entry (so the
//! author and the commitment are fixed by the author's signature), the disclosed values with
//! their salts, and the Merkle multi-proof that binds them to the entry's private root. Anyone
//! with the genesis checks it offline: `tally disclose verify FILE --genesis G`.

use serde::{Deserialize, Serialize};

use crate::entry::SignedEntry;
use crate::hash::EntryHash;
use crate::ids::FieldName;
use crate::privacy::disclosure::{Disclosure, DisclosureError, OpenedField, disclose};
use crate::privacy::held::HeldFields;
use crate::verify::{Verifier, VerifyError};

/// The format of disclosure files.
pub const DISCLOSURE_FORMAT: u16 = 1;

/// A disclosure does not hold.
#[derive(Debug, thiserror::Error)]
pub enum EntryDisclosureError {
    /// Unknown format.
    #[error(
        "disclosure format {0} is not supported (this software reads format {DISCLOSURE_FORMAT})"
    )]
    Format(u16),
    /// The entry itself is invalid.
    #[error("the disclosed entry is not valid: {0}")]
    Entry(#[from] VerifyError),
    /// The entry has no private fields.
    #[error("the entry commits to no private fields, so nothing can be disclosed from it")]
    NoPrivateFields,
    /// The fields do not match the entry's commitment.
    #[error(transparent)]
    Disclosure(#[from] DisclosureError),
}

/// A signed entry with some of its private fields disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDisclosure {
    /// Format number ([`DISCLOSURE_FORMAT`]).
    pub format: u16,
    /// The signed entry.
    pub entry: SignedEntry,
    /// The disclosed fields and their proof.
    pub disclosure: Disclosure,
}

impl EntryDisclosure {
    /// Discloses `names` of an entry whose opened fields the caller holds.
    pub fn new(
        entry: SignedEntry,
        opened: &[OpenedField],
        names: &[FieldName],
    ) -> Result<Self, EntryDisclosureError> {
        let commitment = entry
            .body
            .private
            .as_ref()
            .ok_or(EntryDisclosureError::NoPrivateFields)?;
        let disclosure = disclose(commitment, opened, names)?;
        Ok(Self {
            format: DISCLOSURE_FORMAT,
            entry,
            disclosure,
        })
    }

    /// Discloses `names` of an entry of which the caller holds some fields (a reader's node
    /// holds only those its member may read).
    pub fn from_held(
        entry: SignedEntry,
        held: &HeldFields,
        names: &[FieldName],
    ) -> Result<Self, EntryDisclosureError> {
        let commitment = entry
            .body
            .private
            .as_ref()
            .ok_or(EntryDisclosureError::NoPrivateFields)?;
        let disclosure = held.disclose(commitment, names)?;
        Ok(Self {
            format: DISCLOSURE_FORMAT,
            entry,
            disclosure,
        })
    }

    /// Checks the entry (signature and rules, not its place in the chain) and the disclosed
    /// fields against its commitment; returns the entry hash and the verified fields.
    pub fn verify(
        &self,
        verifier: &Verifier<'_>,
    ) -> Result<(EntryHash, &[OpenedField]), EntryDisclosureError> {
        if self.format != DISCLOSURE_FORMAT {
            return Err(EntryDisclosureError::Format(self.format));
        }
        let hash = verifier.verify_detached(&self.entry)?;
        let commitment = self
            .entry
            .body
            .private
            .as_ref()
            .ok_or(EntryDisclosureError::NoPrivateFields)?;
        self.disclosure.verify(commitment)?;
        Ok((hash, &self.disclosure.fields))
    }
}
