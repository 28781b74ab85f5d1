//! Checkpoint format 2: each span also states the chain's **tree head** — the RFC 6962 root
//! of the chain's log ([`crate::tlog`]) at the span's head, that is over entries
//! `0..=head.seq` — with the witness's **cosignature**: its Ed25519 signature of the chain's
//! C2SP checkpoint text (origin [`crate::tlog::checkpoint::origin`], size, base64 root), as a
//! C2SP signed note under the witness's key name ([`crate::tlog::checkpoint::key_name`]).
//!
//! So a witness's statement about a chain can be checked by any C2SP tool
//! ([`ChainSpan::cosigned_note`] rebuilds the note), and one cosigned head proves any entry
//! of the chain up to it with an inclusion proof of `O(log n)` hashes, not only the entries
//! its span first stated. A witness cosigns a chain's head only after checking a consistency
//! proof from the last head of that chain it cosigned (the node does that: it never signs a
//! history that rewrites one it signed).

use serde::{Deserialize, Serialize};

use super::{ChainSpan, CheckpointError};
use crate::crypto::{PublicKey, Signature, SigningKey};
use crate::hash::NetworkId;
use crate::ids::MemberId;
use crate::tlog::checkpoint::{Checkpoint as TreeCheckpoint, key_name, origin};
use crate::tlog::hash::LogHash;
use crate::tlog::note::{Note, NoteSigner, NoteVerifier};
use crate::tlog::proof::verify_inclusion;

/// What a format-2 span states of its chain beyond its own entries: the log's root at the
/// span's head, cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// The RFC 6962 root of the chain's log at `head.seq + 1` entries.
    pub root: LogHash,
    /// The witness's note signature of the chain's C2SP checkpoint at that size and root.
    pub cosignature: Signature,
}

impl ChainSpan {
    /// The size of the chain's log at the span's head.
    pub fn tree_size(&self) -> u64 {
        self.head.seq.saturating_add(1)
    }

    /// The chain's C2SP checkpoint at the span's head (format 2 spans only).
    pub fn tree_checkpoint(&self, network: &NetworkId) -> Option<TreeCheckpoint> {
        let tree = self.tree.as_ref()?;
        let origin = origin(network, &self.head.author);
        TreeCheckpoint::new(origin, self.tree_size(), tree.root).ok()
    }

    /// This span with the chain's tree head at its head, whose root is `root`, cosigned by
    /// `witness` with `key`.
    pub fn cosigned(
        mut self,
        network: &NetworkId,
        witness: &MemberId,
        root: LogHash,
        key: &SigningKey,
    ) -> Result<Self, CheckpointError> {
        let checkpoint =
            TreeCheckpoint::new(origin(network, &self.head.author), self.tree_size(), root)
                .map_err(|e| CheckpointError::TreeHead(e.to_string()))?;
        let signer = NoteSigner::new(key_name(network, witness), key)
            .map_err(|e| CheckpointError::TreeHead(e.to_string()))?;
        let note = checkpoint
            .sign(&signer)
            .map_err(|e| CheckpointError::TreeHead(e.to_string()))?;
        let signature: [u8; 64] = note
            .signatures()
            .first()
            .and_then(|s| s.signature.as_slice().try_into().ok())
            .ok_or_else(|| CheckpointError::TreeHead("the note was not signed".into()))?;
        self.tree = Some(TreeHead {
            root,
            cosignature: Signature::from_bytes(&signature),
        });
        Ok(self)
    }

    /// The chain's C2SP checkpoint as a note signed by `witness`: what outside tools read.
    pub fn cosigned_note(
        &self,
        network: &NetworkId,
        witness: &MemberId,
        key: &PublicKey,
    ) -> Option<String> {
        let tree = self.tree.as_ref()?;
        let checkpoint = self.tree_checkpoint(network)?;
        let verifier = NoteVerifier::new(key_name(network, witness), *key).ok()?;
        let mut text = checkpoint.to_string();
        let mut signed = Vec::with_capacity(68);
        signed.extend_from_slice(&verifier.key_id().to_be_bytes());
        signed.extend_from_slice(&tree.cosignature.to_bytes());
        text.push('\n');
        text.push_str(&format!(
            "\u{2014} {} {}\n",
            verifier.name(),
            base64_standard(&signed)
        ));
        Some(text)
    }

    /// Checks the cosignature of a format-2 span with the witness's key.
    pub(super) fn check_cosignature(
        &self,
        network: &NetworkId,
        witness: &MemberId,
        key: &PublicKey,
    ) -> Result<(), CheckpointError> {
        let bad = |why: String| {
            CheckpointError::TreeHead(format!(
                "the tree head of {}'s chain at {}: {why}",
                self.head.author,
                self.tree_size()
            ))
        };
        let note = self
            .cosigned_note(network, witness, key)
            .ok_or_else(|| bad("the span states no tree head".into()))?;
        let verifier =
            NoteVerifier::new(key_name(network, witness), *key).map_err(|e| bad(e.to_string()))?;
        Note::parse(note.as_bytes())
            .and_then(|n| n.verify(&[verifier]))
            .map_err(|e| bad(format!("the cosignature does not verify: {e}")))?;
        Ok(())
    }

    /// Verifies that `entry` (its leaf hash) is entry `seq` of the chain whose tree head this
    /// span states, with an RFC 6962 inclusion proof. Any entry up to the head is provable.
    pub fn verify_in_tree(
        &self,
        seq: u64,
        entry: &crate::hash::EntryHash,
        proof: &[LogHash],
    ) -> Result<(), CheckpointError> {
        let not_included = |why: String| CheckpointError::EntryNotIncluded {
            author: self.head.author.clone(),
            seq,
            why,
        };
        let tree = self
            .tree
            .as_ref()
            .ok_or_else(|| not_included("the span states no tree head".into()))?;
        if seq > self.head.seq {
            return Err(not_included(format!(
                "the tree head is at {}, before it",
                self.head.seq
            )));
        }
        verify_inclusion(
            &LogHash::entry_leaf(entry),
            seq,
            self.tree_size(),
            proof,
            &tree.root,
        )
        .map_err(|e| not_included(format!("its inclusion proof does not verify: {e}")))
    }
}

/// Why two checkpoints of one witness cannot both be honest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contradiction {
    /// Two different checkpoints with one number.
    OneNumber {
        /// The number.
        number: u64,
    },
    /// Two tree heads of one chain at one size with different roots: the witness cosigned two
    /// histories of the chain (a split view), which an honest witness, stopping at a fork,
    /// never does.
    SplitView {
        /// The chain.
        author: MemberId,
        /// The size.
        size: u64,
    },
}

/// Whether `a` and `b`, both verified, are one witness's in one network and contradict each
/// other: self-verifying evidence against the witness, needing no chain to check.
pub fn contradiction(a: &super::Checkpoint, b: &super::Checkpoint) -> Option<Contradiction> {
    let (x, y) = (a.body(), b.body());
    if x.witness != y.witness || x.network != y.network || a == b {
        return None;
    }
    if x.number == y.number {
        return Some(Contradiction::OneNumber { number: x.number });
    }
    a.spans.iter().find_map(|span| {
        let other = b.span(&span.head.author)?;
        let (mine, theirs) = (span.tree.as_ref()?, other.tree.as_ref()?);
        (span.tree_size() == other.tree_size() && mine.root != theirs.root).then(|| {
            Contradiction::SplitView {
                author: span.head.author.clone(),
                size: span.tree_size(),
            }
        })
    })
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::hash::{EntryHash, MerkleRoot};
    use crate::membership::consortium::Consortium;
    use crate::membership::genesis::tests::test_consortium;
    use crate::time::Timestamp;
    use crate::tlog::proof::{inclusion_proof, tree_root};
    use crate::tlog::tile::{MemoryTiles, RightEdge, TileHashReader};
    use crate::witnessing::checkpoint::{Checkpoint, EntryWitness, SignedCheckpoint};

    fn member(id: &str) -> MemberId {
        MemberId::new(id).unwrap()
    }

    /// Chain `b` of 20 entries: its hashes and its log's tiles.
    fn chain() -> (Vec<EntryHash>, MemoryTiles) {
        let hashes: Vec<EntryHash> = (0..20)
            .map(|seq| EntryHash::digest(format!("b/{seq}").as_bytes()))
            .collect();
        let leaves: Vec<LogHash> = hashes.iter().map(LogHash::entry_leaf).collect();
        let mut tiles = MemoryTiles::new();
        tiles.write(RightEdge::new().append(&leaves).unwrap());
        (hashes, tiles)
    }

    /// Witness `a`'s format-2 checkpoint stating b's entries 12..=19 and the tree head at 19.
    fn cosigned() -> (Consortium, Checkpoint, Vec<EntryHash>, MemoryTiles) {
        let (g, keys) = test_consortium();
        let (hashes, log) = chain();
        let root = tree_root(20, &TileHashReader::new(20, &log)).unwrap();
        let span = ChainSpan::new(member("b"), 12, &hashes[12..])
            .unwrap()
            .cosigned(&g.network_id(), &member("a"), root, &keys[0])
            .unwrap();
        let cp = Checkpoint::sign(
            g.network_id(),
            member("a"),
            0,
            Timestamp(5),
            vec![span],
            &keys[0],
        )
        .unwrap();
        (g, cp, hashes, log)
    }

    #[test]
    fn a_cosigned_tree_head_is_a_c2sp_checkpoint_any_tool_can_check() {
        let (g, cp, _, log) = cosigned();
        assert_eq!(cp.body().format, super::super::CHECKPOINT_FORMAT);
        cp.verify(&g).unwrap();
        let span = &cp.spans[0];
        let key = g.member(&member("a")).unwrap().signing_key;
        let note = span
            .cosigned_note(&g.network_id(), &member("a"), &key)
            .unwrap();
        let verifier = NoteVerifier::new(key_name(&g.network_id(), &member("a")), key).unwrap();
        let (opened, _) = TreeCheckpoint::open(note.as_bytes(), &[verifier]).unwrap();
        assert_eq!(opened.origin(), origin(&g.network_id(), &member("b")));
        assert_eq!(opened.size(), 20);
        assert_eq!(
            opened.root(),
            &tree_root(20, &TileHashReader::new(20, &log)).unwrap()
        );
    }

    #[test]
    fn one_tree_head_proves_every_earlier_entry_and_nothing_else() {
        let (g, cp, hashes, log) = cosigned();
        // Entry 3 is before the span's own entries: the head proves it all the same.
        for seq in [0, 3, 12, 19] {
            let proof = inclusion_proof(seq, 20, &TileHashReader::new(20, &log)).unwrap();
            let witness = cp
                .witness_in_tree(&member("b"), seq, &hashes[seq as usize], proof)
                .unwrap();
            witness
                .verify(&g, &member("b"), seq, &hashes[seq as usize])
                .unwrap();
            // The same proof does not pass off another entry or another place.
            let other = &hashes[(seq as usize + 1) % 20];
            assert!(witness.verify(&g, &member("b"), seq, other).is_err());
            assert!(
                witness
                    .verify(&g, &member("b"), (seq + 1) % 20, &hashes[seq as usize])
                    .is_err()
            );
            // A JSON round trip keeps it checkable (evidence travels as JSON).
            let json = serde_json::to_string(&witness).unwrap();
            let back: EntryWitness = serde_json::from_str(&json).unwrap();
            back.verify(&g, &member("b"), seq, &hashes[seq as usize])
                .unwrap();
        }
        let proof = inclusion_proof(5, 20, &TileHashReader::new(20, &log)).unwrap();
        assert!(
            cp.witness_in_tree(&member("b"), 5, &hashes[6], proof)
                .is_err()
        );
    }

    #[test]
    fn a_changed_root_or_cosignature_is_refused() {
        let (g, cp, hashes, log) = cosigned();
        let mut other_root = cp.clone();
        other_root.spans[0].tree.as_mut().unwrap().root = LogHash::leaf(b"other");
        assert!(other_root.verify(&g).is_err());
        // A cosignature by another member's key over the right head.
        let (_, keys) = test_consortium();
        let forged = ChainSpan::new(member("b"), 12, &hashes[12..])
            .unwrap()
            .cosigned(
                &g.network_id(),
                &member("a"),
                tree_root(20, &TileHashReader::new(20, &log)).unwrap(),
                &keys[1],
            )
            .unwrap();
        let checkpoint = Checkpoint::sign(
            g.network_id(),
            member("a"),
            0,
            Timestamp(5),
            vec![forged],
            &keys[0],
        )
        .unwrap();
        assert!(matches!(
            checkpoint.verify(&g),
            Err(CheckpointError::TreeHead(_))
        ));
        // A format-2 checkpoint whose span lacks its head.
        let mut bare = cp;
        bare.spans[0].tree = None;
        assert!(bare.verify(&g).is_err());
    }

    /// The format-1 layout, as checkpoints were stored and sent before format 2.
    #[derive(serde::Serialize)]
    struct OldSpan {
        head: crate::witnessing::checkpoint::ChainHead,
        first: u64,
        entries_root: MerkleRoot,
    }

    #[derive(serde::Serialize)]
    struct OldCheckpoint {
        signed: SignedCheckpoint,
        spans: Vec<OldSpan>,
    }

    #[test]
    fn format_one_checkpoints_still_decode_and_verify_and_format_two_round_trips() {
        let (g, keys) = test_consortium();
        let (hashes, _) = chain();
        let span = ChainSpan::new(member("b"), 0, &hashes).unwrap();
        let old = Checkpoint::sign(
            g.network_id(),
            member("a"),
            3,
            Timestamp(5),
            vec![span],
            &keys[0],
        )
        .unwrap();
        assert_eq!(old.body().format, super::super::SPANS_ONLY_FORMAT);
        let bytes = codec::encode(
            "checkpoint",
            &OldCheckpoint {
                signed: old.signed.clone(),
                spans: old
                    .spans
                    .iter()
                    .map(|s| OldSpan {
                        head: s.head.clone(),
                        first: s.first,
                        entries_root: s.entries_root,
                    })
                    .collect(),
            },
        )
        .unwrap();
        assert_eq!(codec::encode("checkpoint", &old).unwrap(), bytes);
        let decoded: Checkpoint = codec::decode("checkpoint", &bytes, 1 << 20).unwrap();
        assert_eq!(decoded, old);
        decoded.verify(&g).unwrap();
        let (_, new, _, _) = cosigned();
        let bytes = codec::encode("checkpoint", &new).unwrap();
        let decoded: Checkpoint = codec::decode("checkpoint", &bytes, 1 << 20).unwrap();
        assert_eq!(decoded, new);
        let json: Checkpoint = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(json, new);
        // A format-2 body over format-1 spans does not decode (or verify).
        let mut mixed = old;
        mixed.signed.body.format = super::super::CHECKPOINT_FORMAT;
        let bytes = codec::encode("checkpoint", &mixed).unwrap();
        assert!(codec::decode::<Checkpoint>("checkpoint", &bytes, 1 << 20).is_err());
    }

    #[test]
    fn contradictions_are_one_number_twice_or_two_roots_at_one_size() {
        let (g, keys) = test_consortium();
        let (hashes, log) = chain();
        let root = tree_root(20, &TileHashReader::new(20, &log)).unwrap();
        let sign = |number: u64, root: LogHash, len: usize, key: usize, witness: &str| {
            let span = ChainSpan::new(member("b"), 0, &hashes[..len])
                .unwrap()
                .cosigned(&g.network_id(), &member(witness), root, &keys[key])
                .unwrap();
            Checkpoint::sign(
                g.network_id(),
                member(witness),
                number,
                Timestamp(5),
                vec![span],
                &keys[key],
            )
            .unwrap()
        };
        let other_root = LogHash::leaf(b"x");
        let held = sign(0, root, 20, 0, "a");
        assert_eq!(
            contradiction(&held, &sign(1, other_root, 20, 0, "a")),
            Some(Contradiction::SplitView {
                author: member("b"),
                size: 20
            })
        );
        assert_eq!(
            contradiction(&held, &sign(0, root, 19, 0, "a")),
            Some(Contradiction::OneNumber { number: 0 })
        );
        // Other sizes, agreeing heads, another witness, or the same checkpoint: no proof.
        assert_eq!(contradiction(&held, &sign(1, other_root, 19, 0, "a")), None);
        assert_eq!(contradiction(&held, &sign(1, root, 20, 0, "a")), None);
        assert_eq!(contradiction(&held, &sign(1, other_root, 20, 2, "c")), None);
        assert_eq!(contradiction(&held, &held), None);
    }
}
