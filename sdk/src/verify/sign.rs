//! A member's own entries: placed at the head of its chain, held to every rule, and signed.
//!
//! A node signs the events its member records (capture, `POST /v1/events`, purges). Those
//! entries pass the same rules as any other ([`Verifier::check_rules`]), but checking their
//! signatures again would only re-prove what this function has just done: each signature is
//! made here, over the hash the rules computed, with a key checked to be the author's key for
//! that position. So the signature equation is skipped for them — it was a quarter of the
//! cost of recording an event — and everything else is not.
//!
//! The placing is sequential (each entry names its predecessor's hash); once placed, the
//! entries are checked and signed independently of one another, on all cores
//! ([`crate::parallel`]).

use super::{ChainTip, Verifier, VerifyError};
use crate::crypto::{CryptoError, SigningKey};
use crate::domain::signing;
use crate::entry::{SignedEntry, UnsignedEntry, VerifiedEntry};
use crate::hash::EntryHash;
use crate::parallel;
use crate::time::Timestamp;

/// Fewest entries worth a thread of their own (checking and signing one takes ~20 µs;
/// starting a thread ~30 µs).
const ENTRIES_PER_THREAD: usize = 16;

impl Verifier<'_> {
    /// Places `bodies` after `tip` (each body's `seq`, `prev` and `timestamp` are set: the
    /// timestamp is `now`, or the previous entry's if the clock went back), checks every rule
    /// of this verifier, and signs them with `key`. Each verdict is what
    /// [`Verifier::verify_batch`] would give the signed entries; an entry that breaks a rule
    /// still holds its place, so later entries are judged on their own.
    ///
    /// A `key` that is not the author's key for an entry's position gives that entry the
    /// verdict a wrong signature would ([`VerifyError::Signature`] or
    /// [`VerifyError::RetiredKey`]). A body that cannot be encoded has no hash for the next
    /// to link to: the verdicts end with its error, and the bodies after it get none.
    pub fn sign_batch(
        &self,
        key: &SigningKey,
        bodies: Vec<UnsignedEntry>,
        tip: Option<ChainTip>,
        now: Timestamp,
    ) -> Vec<Result<VerifiedEntry, VerifyError>> {
        let public = key.public_key();
        let mut tip = tip;
        let mut placed = Vec::with_capacity(bodies.len());
        for mut body in bodies {
            body.seq = tip.map_or(0, |t| t.seq + 1);
            body.prev = tip.map(|t| t.hash);
            body.timestamp = tip.map_or(now, |t| t.timestamp.max(now));
            let bytes = match body.to_bytes() {
                Ok(bytes) => bytes,
                Err(e) => {
                    // Without an encoding there is no hash to link the next entry to.
                    placed.push((body, Err(VerifyError::from(e))));
                    break;
                }
            };
            let hash = EntryHash::digest(&bytes);
            tip = Some(ChainTip {
                seq: body.seq,
                hash,
                timestamp: body.timestamp,
            });
            placed.push((body, Ok((bytes, hash))));
        }
        // Once placed, each entry is checked and signed on its own.
        parallel::map(placed, ENTRIES_PER_THREAD, |_, (body, encoded)| {
            let checked = self.check_body(&body, Some(encoded?))?;
            let own_key = self.author_key(&body)? == public;
            let signature = key.sign(signing::ENTRY, checked.hash.as_bytes());
            let entry = SignedEntry { body, signature };
            if !own_key {
                return Err(self.signature_error(&entry, &checked.hash, CryptoError::BadSignature));
            }
            checked.into_verified(entry)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::ids::MemberId;
    use crate::membership::genesis::tests::test_consortium;
    use serde_json::json;

    const NOW: Timestamp = Timestamp(1_800_000_001_000);

    /// An observation of product `n`, not yet placed.
    fn body(genesis: &crate::membership::consortium::Consortium, n: u64) -> UnsignedEntry {
        let event = json!({
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": "commissioning",
            "eventTime": "2026-05-01T10:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{n}")],
        });
        UnsignedEntry::event(
            genesis.network_id(),
            MemberId::new("a").unwrap(),
            0,
            None,
            Timestamp(0),
            vec![],
            &event,
            None,
        )
        .unwrap()
    }

    #[test]
    fn signing_gives_what_verifying_the_same_entries_gives() {
        let (genesis, keys) = test_consortium();
        let verifier = Verifier::new(&genesis, NOW);
        let bodies: Vec<UnsignedEntry> = (0..40).map(|n| body(&genesis, n)).collect();
        let signed = verifier.sign_batch(&keys[0], bodies.clone(), None, NOW);
        // The same bodies placed and signed by hand, through every rule and the signature.
        let mut tip: Option<ChainTip> = None;
        let mut by_hand = Vec::new();
        for mut body in bodies {
            body.seq = tip.map_or(0, |t| t.seq + 1);
            body.prev = tip.map(|t| t.hash);
            body.timestamp = NOW;
            let entry = body.sign(&keys[0]).unwrap();
            tip = Some(ChainTip {
                seq: entry.body.seq,
                hash: entry.hash().unwrap(),
                timestamp: NOW,
            });
            by_hand.push(entry);
        }
        let verified = verifier.verify_batch(by_hand, |_| None);
        assert_eq!(signed.len(), 40);
        for (a, b) in signed.iter().zip(&verified) {
            let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
            assert_eq!(a.signed(), b.signed());
            assert_eq!(a.encoded(), b.encoded());
            assert_eq!(a.hash(), b.hash());
            assert_eq!(a.event(), b.event());
        }
    }

    #[test]
    fn a_rule_broken_in_the_middle_refuses_that_entry_alone() {
        let (genesis, keys) = test_consortium();
        let mut bodies: Vec<UnsignedEntry> = (0..40).map(|n| body(&genesis, n)).collect();
        bodies[17].format += 1;
        let mut refused = bodies[17].clone();
        let verdicts = Verifier::new(&genesis, NOW).sign_batch(&keys[0], bodies, None, NOW);
        for (i, verdict) in verdicts.iter().enumerate() {
            assert_eq!(verdict.is_err(), i == 17, "entry {i}: {verdict:?}");
        }
        assert!(matches!(verdicts[17], Err(VerifyError::Format(_))));
        // The refused entry kept its place: the next one is number 18 and links to it.
        let next = verdicts[18].as_ref().unwrap();
        assert_eq!(next.body().seq, 18);
        refused.seq = 17;
        refused.prev = Some(verdicts[16].as_ref().unwrap().hash());
        refused.timestamp = NOW;
        assert_eq!(next.body().prev, Some(refused.hash().unwrap()));
    }

    #[test]
    fn another_members_key_signs_nothing() {
        let (genesis, keys) = test_consortium();
        let bodies: Vec<UnsignedEntry> = (0..20).map(|n| body(&genesis, n)).collect();
        let verdicts = Verifier::new(&genesis, NOW).sign_batch(&keys[1], bodies, None, NOW);
        assert!(
            verdicts
                .iter()
                .all(|v| matches!(v, Err(VerifyError::Signature { .. }))),
            "{verdicts:?}"
        );
    }

    #[test]
    fn timestamps_never_go_back_along_the_chain() {
        let (genesis, keys) = test_consortium();
        let earlier = Timestamp(NOW.0 - 60_000);
        let verifier = Verifier::new(&genesis, NOW);
        let first = verifier.sign_batch(&keys[0], vec![body(&genesis, 0)], None, NOW);
        let tip = first[0].as_ref().map(ChainTip::of).ok();
        let next = verifier.sign_batch(&keys[0], vec![body(&genesis, 1)], tip, earlier);
        let next = next[0].as_ref().unwrap();
        assert_eq!(next.body().timestamp, NOW);
        assert_eq!(next.body().seq, 1);
        assert_eq!(next.body().prev, tip.map(|t| t.hash));
    }
}
