//! Split views: evidence that a signer stated two different trees for one log, and the check a
//! cosigner makes before it signs a newer head.
//!
//! # The evidence
//!
//! A [`SplitView`] is two signed checkpoint notes. It proves equivocation by the key that
//! signed both when [`SplitView::verify`] finds: both notes carry a valid signature by that key,
//! both checkpoints have the same origin and the same size, and their roots differ. Nothing
//! else is needed to check it — no leaves, no tiles, no trust in whoever presents it — so it
//! can be gossiped, stored and shown to an auditor as is.
//!
//! Heads of *different* sizes that do not extend one another are caught by the cosigner rule
//! below: a witness that holds a head of size `s1` asks for a consistency proof to the new head
//! of size `s2`, and refuses to cosign when none verifies. That refusal alone proves nothing to
//! a third party (the log may simply have sent a bad proof), so this version keeps the
//! same-size case as its only self-verifying evidence.
//!
//! A split view by a witness's key means the witness signed two trees for one chain. An honest
//! node never does — it stops taking a chain at its first fork ([`crate::witnessing::fork`]) and cosigns
//! only consistent growth ([`verify_consistent`]) — so the evidence blames the witness, whatever
//! the chain's author did.

use serde::{Deserialize, Serialize};

use crate::tlog::checkpoint::{Checkpoint, CheckpointError};
use crate::tlog::hash::{EMPTY_ROOT, LogHash};
use crate::tlog::note::{Note, NoteVerifier};
use crate::tlog::proof::{VerifyError, verify_consistency};

/// Why two checkpoints are not (yet) evidence, or why a newer head may not be cosigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EquivocationError {
    /// A note is malformed, or not validly signed by the key in question.
    #[error("checkpoint {which}: {error}")]
    Checkpoint {
        /// `first` or `second` (or `older`, `newer`).
        which: &'static str,
        /// What is wrong with it.
        error: CheckpointError,
    },
    /// The checkpoints are of different logs.
    #[error("the checkpoints are of different logs ({first:?} and {second:?})")]
    DifferentOrigins {
        /// The first origin.
        first: String,
        /// The second origin.
        second: String,
    },
    /// Different sizes: not evidence in this version (see the module documentation).
    #[error(
        "the checkpoints state different sizes ({first} and {second}); only a same-size split view is evidence"
    )]
    DifferentSizes {
        /// The first size.
        first: u64,
        /// The second size.
        second: u64,
    },
    /// Same size and same root: the two agree.
    #[error("the checkpoints agree (same size, same root)")]
    NoConflict,
    /// The newer head is smaller than the older one.
    #[error("the newer checkpoint ({newer}) is smaller than the older ({older})")]
    Shrunk {
        /// The older size.
        older: u64,
        /// The newer size.
        newer: u64,
    },
    /// A checkpoint of the empty tree with a root other than the empty tree's.
    #[error("a checkpoint of size 0 must have the empty tree's root")]
    BadEmptyRoot,
    /// The consistency proof from the older head to the newer one fails.
    #[error("the newer head does not extend the older one: {0}")]
    Inconsistent(VerifyError),
}

/// Two signed checkpoint notes that, verified, prove a split view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitView {
    /// The first signed checkpoint, as a note's text.
    pub first: String,
    /// The second signed checkpoint, as a note's text.
    pub second: String,
}

/// What a verified [`SplitView`] proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenSplitView {
    /// The log both checkpoints are of.
    pub origin: String,
    /// The size both state.
    pub size: u64,
    /// The first root.
    pub first_root: LogHash,
    /// The second root.
    pub second_root: LogHash,
    /// The key name of the signer that signed both.
    pub signer: String,
}

impl SplitView {
    /// The evidence made of two signed notes.
    pub fn new(first: &Note, second: &Note) -> Self {
        Self {
            first: first.to_string(),
            second: second.to_string(),
        }
    }

    /// Checks the evidence against `signer`'s key: both notes validly signed by it, same
    /// origin, same size, different roots.
    pub fn verify(&self, signer: &NoteVerifier) -> Result<ProvenSplitView, EquivocationError> {
        let open = |which, note: &str| {
            Checkpoint::open(note.as_bytes(), std::slice::from_ref(signer))
                .map(|(checkpoint, _)| checkpoint)
                .map_err(|error| EquivocationError::Checkpoint { which, error })
        };
        let first = open("first", &self.first)?;
        let second = open("second", &self.second)?;
        if first.origin() != second.origin() {
            return Err(EquivocationError::DifferentOrigins {
                first: first.origin().to_owned(),
                second: second.origin().to_owned(),
            });
        }
        if first.size() != second.size() {
            return Err(EquivocationError::DifferentSizes {
                first: first.size(),
                second: second.size(),
            });
        }
        if first.root() == second.root() {
            return Err(EquivocationError::NoConflict);
        }
        Ok(ProvenSplitView {
            origin: first.origin().to_owned(),
            size: first.size(),
            first_root: *first.root(),
            second_root: *second.root(),
            signer: signer.name().to_owned(),
        })
    }
}

/// The cosigner's rule: whether `newer` extends `older` (the last head it cosigned of the same
/// log), given the log's consistency proof between them. A first cosignature starts from the
/// empty tree: `older` of size 0 (root [`EMPTY_ROOT`]) is extended by every tree, with an
/// empty proof. Equal sizes need equal roots and an empty proof.
pub fn verify_consistent(
    older: &Checkpoint,
    newer: &Checkpoint,
    proof: &[LogHash],
) -> Result<(), EquivocationError> {
    if older.origin() != newer.origin() {
        return Err(EquivocationError::DifferentOrigins {
            first: older.origin().to_owned(),
            second: newer.origin().to_owned(),
        });
    }
    if newer.size() < older.size() {
        return Err(EquivocationError::Shrunk {
            older: older.size(),
            newer: newer.size(),
        });
    }
    for checkpoint in [older, newer] {
        if checkpoint.size() == 0 && *checkpoint.root() != EMPTY_ROOT {
            return Err(EquivocationError::BadEmptyRoot);
        }
    }
    if older.size() == 0 {
        if !proof.is_empty() {
            return Err(EquivocationError::Inconsistent(
                VerifyError::EqualSizesProofNotEmpty,
            ));
        }
        return Ok(());
    }
    verify_consistency(
        older.size(),
        newer.size(),
        proof,
        older.root(),
        newer.root(),
    )
    .map_err(EquivocationError::Inconsistent)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use crate::tlog::note::NoteSigner;
    use crate::tlog::proof::consistency_proof;
    use crate::tlog::tile::{MemoryTiles, RightEdge, TileHashReader};

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, &SigningKey::from_seed(&[seed; 32])).unwrap()
    }

    fn signed(signer: &NoteSigner, origin: &str, size: u64, root: LogHash) -> Note {
        Checkpoint::new(origin, size, root)
            .unwrap()
            .sign(signer)
            .unwrap()
    }

    #[test]
    fn same_size_different_roots_is_evidence() {
        let w = signer("example.com/w", 1);
        let a = signed(&w, "example.com/log", 5, LogHash::leaf(b"a"));
        let b = signed(&w, "example.com/log", 5, LogHash::leaf(b"b"));
        let evidence = SplitView::new(&a, &b);
        let proven = evidence.verify(&w.verifier()).unwrap();
        assert_eq!(proven.size, 5);
        assert_eq!(proven.signer, "example.com/w");
        // It survives JSON.
        let json = serde_json::to_string(&evidence).unwrap();
        let back: SplitView = serde_json::from_str(&json).unwrap();
        assert!(back.verify(&w.verifier()).is_ok());
    }

    #[test]
    fn what_is_not_evidence() {
        let w = signer("example.com/w", 1);
        let other = signer("example.com/other", 2);
        let a = signed(&w, "example.com/log", 5, LogHash::leaf(b"a"));
        let same = signed(&w, "example.com/log", 5, LogHash::leaf(b"a"));
        let bigger = signed(&w, "example.com/log", 6, LogHash::leaf(b"b"));
        let elsewhere = signed(&w, "example.com/log2", 5, LogHash::leaf(b"b"));
        let by_other = signed(&other, "example.com/log", 5, LogHash::leaf(b"b"));
        let key = w.verifier();
        assert_eq!(
            SplitView::new(&a, &same).verify(&key),
            Err(EquivocationError::NoConflict)
        );
        assert!(matches!(
            SplitView::new(&a, &bigger).verify(&key),
            Err(EquivocationError::DifferentSizes { .. })
        ));
        assert!(matches!(
            SplitView::new(&a, &elsewhere).verify(&key),
            Err(EquivocationError::DifferentOrigins { .. })
        ));
        assert!(matches!(
            SplitView::new(&a, &by_other).verify(&key),
            Err(EquivocationError::Checkpoint {
                which: "second",
                ..
            })
        ));
        // A forged second note: the text altered under w's signature.
        let mut forged = SplitView::new(&a, &a);
        forged.second = forged.second.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            forged.verify(&key),
            Err(EquivocationError::Checkpoint {
                which: "second",
                ..
            })
        ));
    }

    #[test]
    fn the_cosigner_rule() {
        let leaves: Vec<LogHash> = (0..20u8).map(|i| LogHash::leaf(&[i])).collect();
        let mut edge = RightEdge::new();
        let mut tiles = MemoryTiles::new();
        tiles.write(edge.append(&leaves[..7]).unwrap());
        let root7 = edge.root();
        tiles.write(edge.append(&leaves[7..]).unwrap());
        let root20 = edge.root();
        let origin = "example.com/log";
        let cp = |size, root| Checkpoint::new(origin, size, root).unwrap();
        let proof = consistency_proof(7, 20, &TileHashReader::new(20, &tiles)).unwrap();
        verify_consistent(&cp(7, root7), &cp(20, root20), &proof).unwrap();
        verify_consistent(&cp(0, EMPTY_ROOT), &cp(20, root20), &[]).unwrap();
        verify_consistent(&cp(20, root20), &cp(20, root20), &[]).unwrap();
        assert!(matches!(
            verify_consistent(&cp(7, root20), &cp(20, root20), &proof),
            Err(EquivocationError::Inconsistent(_))
        ));
        assert!(matches!(
            verify_consistent(&cp(20, root20), &cp(7, root7), &proof),
            Err(EquivocationError::Shrunk { .. })
        ));
        assert_eq!(
            verify_consistent(&cp(0, root7), &cp(20, root20), &[]),
            Err(EquivocationError::BadEmptyRoot)
        );
        assert!(verify_consistent(&cp(0, EMPTY_ROOT), &cp(20, root20), &proof).is_err());
        let elsewhere = Checkpoint::new("example.com/other", 20, root20).unwrap();
        assert!(matches!(
            verify_consistent(&cp(7, root7), &elsewhere, &proof),
            Err(EquivocationError::DifferentOrigins { .. })
        ));
    }
}
