//! The validation rules every node, the CLI and outside verifiers apply to entries.
//!
//! An entry is accepted when, in this order:
//! 1. its format is known and it names this consortium's network id;
//! 2. its encoding is within the genesis size limit;
//! 3. its author is a member, not removed before the entry's position, whose roles permit the
//!    entry's event kind;
//! 4. its event is a valid EPCIS event within the size limit, whose derived kind is exactly
//!    the kind the entry states, and whose references and private fields are within limits
//!    and known to the genesis policy;
//! 5. its timestamp is not further in the future than the caller's tolerance;
//! 6. its signature verifies strictly under the author's key for that position (a rotated key
//!    signs from the position its rotation names, see [`crate::membership::governance`]);
//! 7. it extends the author's chain: sequence number one past the tip, previous hash equal to
//!    the tip's hash, timestamp not before the tip's.
//!
//! [`Verifier::verify_batch`] applies the same rules to many entries, checking signatures with
//! one batch equation; its verdicts are identical to calling [`Verifier::verify`] in order.

use std::collections::HashMap;

use crate::codec::{self, CanonicalJson, CodecError};
use crate::crypto::{self, BatchItem, CryptoError};
use crate::domain::signing;
use crate::entry::{ENTRY_FORMAT, Payload, SignedEntry, UnsignedEntry, VerifiedEntry};
use crate::event::{EpcisEvent, EventError, EventKind, KindName, classify};
use crate::hash::{EntryHash, NetworkId};
use crate::ids::{FieldName, MemberId};
use crate::membership::consortium::Consortium;
use crate::membership::genesis::Member;
use crate::time::Timestamp;

/// Bytes a signature takes in the canonical encoding: a length byte (64) and 64 bytes.
const SIGNATURE_ENCODED_LEN: usize = 65;

/// The last entry of a chain, as far as the caller has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: EntryHash,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

impl ChainTip {
    /// The tip a verified entry makes.
    pub fn of(entry: &VerifiedEntry) -> Self {
        Self {
            seq: entry.body().seq,
            hash: entry.hash(),
            timestamp: entry.body().timestamp,
        }
    }
}

/// Why an entry does not extend its author's chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The chain is empty but the entry is not the first.
    #[error("the chain of {author} is empty here, so the next entry is number 0, not {got}")]
    MissingStart {
        /// The author.
        author: MemberId,
        /// The entry's sequence number.
        got: u64,
    },
    /// The sequence number is not the next one.
    #[error("the chain of {author} is at {tip}, so the next entry is number {expected}, not {got}")]
    Sequence {
        /// The author.
        author: MemberId,
        /// The tip's sequence number.
        tip: u64,
        /// The expected number.
        expected: u64,
        /// The entry's number.
        got: u64,
    },
    /// The previous hash is not the tip's hash.
    #[error(
        "entry {seq} of {author} does not link to the entry before it (previous hash mismatch)"
    )]
    PreviousHash {
        /// The author.
        author: MemberId,
        /// The entry's sequence number.
        seq: u64,
    },
    /// The timestamp goes backwards.
    #[error("entry {seq} of {author} is timestamped {got}, before the entry before it ({tip})")]
    TimeGoesBack {
        /// The author.
        author: MemberId,
        /// The entry's sequence number.
        seq: u64,
        /// The entry's timestamp.
        got: Timestamp,
        /// The tip's timestamp.
        tip: Timestamp,
    },
}

/// An entry broke a rule.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Unknown format.
    #[error("entry format {0} is not supported (this software reads format {ENTRY_FORMAT})")]
    Format(u16),
    /// Another consortium's entry.
    #[error("the entry belongs to network {got}, not this network {expected}")]
    WrongNetwork {
        /// This network.
        expected: NetworkId,
        /// The entry's network.
        got: NetworkId,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Too large.
    #[error("the entry is {size} bytes, more than the consortium's limit of {limit}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The author is not a member.
    #[error("{0} is not a member of this consortium")]
    UnknownAuthor(MemberId),
    /// The author was removed before this position of its chain.
    #[error(
        "{author} was removed from the consortium: its entries from number {entries_below} on are refused, and this is number {seq}"
    )]
    Removed {
        /// The author.
        author: MemberId,
        /// The entry's sequence number.
        seq: u64,
        /// The first refused sequence number.
        entries_below: u64,
    },
    /// The author's roles do not permit the kind.
    #[error("{author} may not write {kind} events: none of its roles permits it")]
    NotPermitted {
        /// The author.
        author: MemberId,
        /// The kind.
        kind: KindName,
    },
    /// The event is invalid.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    /// The stated kind is not what the event says.
    #[error("the entry says it is a {stated} but its event is a {derived}")]
    KindMismatch {
        /// The kind in the entry.
        stated: EventKind,
        /// The kind derived from the event.
        derived: EventKind,
    },
    /// The event is too large.
    #[error("the event is {size} bytes of JSON, more than the consortium's limit of {limit}")]
    EventTooLarge {
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Too many references.
    #[error("the entry refers to {count} entries, more than the consortium's limit of {limit}")]
    TooManyRefs {
        /// Count.
        count: usize,
        /// Limit.
        limit: usize,
    },
    /// A receipt does not reference its hand-over.
    #[error("a receipt must list the hand-over it acknowledges among its references")]
    ReceiptWithoutRef,
    /// A hand-over to a non-member or to oneself.
    #[error("a hand-over must go to another member of the consortium, not to {0}")]
    BadHandOverTarget(MemberId),
    /// A purge entry breaks a purge rule.
    #[error("purge: {0}")]
    Purge(String),
    /// Private-field rules.
    #[error("private fields: {0}")]
    PrivateFields(String),
    /// The field is not in the genesis policy.
    #[error("private field {0} is not in the consortium's private-field policy")]
    UnknownPrivateField(FieldName),
    /// Timestamp too far ahead.
    #[error("the entry is timestamped {got}, more than {tolerance_ms} ms after now ({now})")]
    FromTheFuture {
        /// The entry's timestamp.
        got: Timestamp,
        /// Now.
        now: Timestamp,
        /// Allowed skew.
        tolerance_ms: u64,
    },
    /// Bad signature.
    #[error("entry {seq} of {author}: {source}")]
    Signature {
        /// The author.
        author: MemberId,
        /// The sequence number.
        seq: u64,
        /// The failure.
        source: CryptoError,
    },
    /// Signed with a key of the author that does not sign this position: one a rotation
    /// retired before it (or one that took over only after it).
    #[error(
        "entry {seq} of {author} is signed with a key of {author} that does not sign entry {seq} (a key rotation took effect before it)"
    )]
    RetiredKey {
        /// The author.
        author: MemberId,
        /// The sequence number.
        seq: u64,
    },
    /// Chain rule broken.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What [`Verifier::verify_batch_keeping_refused`] found.
#[derive(Debug)]
pub struct BatchVerdicts {
    /// Each entry's verdict, in order.
    pub results: Vec<Result<VerifiedEntry, VerifyError>>,
    /// The refused entries, each with its place.
    pub refused: Vec<(usize, SignedEntry)>,
}

/// An entry is not evidence of its author breaking a rule ([`Verifier::broken_rule`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAttributable {
    /// Its signature does not verify under the author's key, or it has no author to verify
    /// it with: anyone could have made it.
    #[error("not its author's doing: {0}")]
    NotSigned(String),
    /// Of another network or format: not this consortium's rules.
    #[error("not under this consortium's rules: {0}")]
    Foreign(String),
    /// It breaks no rule (as the consortium now stands: a role may have been granted since).
    #[error("it breaks no rule")]
    BreaksNoRule,
}

/// Applies the rules against one genesis, at one time.
#[derive(Debug, Clone, Copy)]
pub struct Verifier<'g> {
    genesis: &'g Consortium,
    now: Timestamp,
    tolerance_ms: u64,
}

/// What the rules found out about an entry, kept so that nothing is encoded or parsed twice.
struct Checked {
    hash: EntryHash,
    /// The body's canonical encoding; the signed entry's is this followed by the signature's.
    body_bytes: Vec<u8>,
    event: Option<EpcisEvent>,
}

impl Checked {
    fn into_verified(self, entry: SignedEntry) -> Result<VerifiedEntry, VerifyError> {
        let mut encoded = self.body_bytes;
        encoded.extend_from_slice(&codec::encode("signature", &entry.signature)?);
        Ok(VerifiedEntry::new(entry, self.hash, encoded, self.event))
    }
}

impl<'g> Verifier<'g> {
    /// A verifier at time `now`, with the genesis's clock-skew tolerance.
    pub fn new(genesis: &'g Consortium, now: Timestamp) -> Self {
        Self {
            genesis,
            now,
            tolerance_ms: genesis.limits().max_clock_skew_ms,
        }
    }

    /// Sets how far in the future a timestamp may be (e.g. `u64::MAX` for offline audits of
    /// old data, where "now" means nothing).
    pub fn with_tolerance(mut self, tolerance_ms: u64) -> Self {
        self.tolerance_ms = tolerance_ms;
        self
    }

    /// The genesis.
    pub fn genesis(&self) -> &'g Consortium {
        self.genesis
    }

    /// Every rule except the signature and the chain rule.
    fn check_rules(&self, entry: &SignedEntry) -> Result<Checked, VerifyError> {
        self.check_body(&entry.body, None)
    }

    /// [`Verifier::check_rules`] of a body, given its canonical encoding and hash if the
    /// caller has them.
    fn check_body(
        &self,
        body: &UnsignedEntry,
        encoded: Option<(Vec<u8>, EntryHash)>,
    ) -> Result<Checked, VerifyError> {
        if body.format != ENTRY_FORMAT {
            return Err(VerifyError::Format(body.format));
        }
        let expected = self.genesis.network_id();
        if body.network != expected {
            return Err(VerifyError::WrongNetwork {
                expected,
                got: body.network,
            });
        }
        let limits = self.genesis.limits();
        // One encoding of the body serves the size check and the hash; the signed entry's
        // encoding is the body's followed by the signature's.
        let (body_bytes, hash) = match encoded {
            Some((bytes, hash)) => (bytes, Some(hash)),
            None => (body.to_bytes()?, None),
        };
        let encoded_len = body_bytes.len() + SIGNATURE_ENCODED_LEN;
        if encoded_len > limits.max_entry_bytes as usize {
            return Err(VerifyError::TooLarge {
                size: encoded_len,
                limit: limits.max_entry_bytes as usize,
            });
        }
        let author = self
            .genesis
            .member(&body.author)
            .ok_or_else(|| VerifyError::UnknownAuthor(body.author.clone()))?;
        if let Some(removal) = self
            .genesis
            .standing(&body.author)
            .and_then(|s| s.removed)
            .filter(|r| body.seq >= r.entries_below)
        {
            return Err(VerifyError::Removed {
                author: body.author.clone(),
                seq: body.seq,
                entries_below: removal.entries_below,
            });
        }
        if body.refs.len() > limits.max_refs as usize {
            return Err(VerifyError::TooManyRefs {
                count: body.refs.len(),
                limit: limits.max_refs as usize,
            });
        }
        let parsed = match &body.payload {
            Payload::Event { kind, event } => Some(self.check_event(author, body, kind, event)?),
            Payload::Purge { entry, fields } => {
                self.check_purge(body, entry, fields)?;
                None
            }
        };
        if let Some(private) = &body.private {
            if private.fields.is_empty() {
                return Err(VerifyError::PrivateFields(
                    "a private commitment must name at least one field".into(),
                ));
            }
            if private.fields.len() > limits.max_private_fields as usize {
                return Err(VerifyError::PrivateFields(format!(
                    "{} fields, more than the consortium's limit of {}",
                    private.fields.len(),
                    limits.max_private_fields
                )));
            }
            if private.fields.windows(2).any(|w| w[0] >= w[1]) {
                return Err(VerifyError::PrivateFields(
                    "field names must be sorted and unique".into(),
                ));
            }
            if let Some(unknown) = private.fields.iter().find(|f| !self.genesis.knows_field(f)) {
                return Err(VerifyError::UnknownPrivateField(unknown.clone()));
            }
        }
        if body.timestamp.millis() > self.now.millis().saturating_add(self.tolerance_ms) {
            return Err(VerifyError::FromTheFuture {
                got: body.timestamp,
                now: self.now,
                tolerance_ms: self.tolerance_ms,
            });
        }
        Ok(Checked {
            hash: hash.unwrap_or_else(|| EntryHash::digest(&body_bytes)),
            body_bytes,
            event: parsed,
        })
    }

    /// The rules of an event entry: the author's roles permit its kind, the event is a valid
    /// EPCIS event of that kind, and a receipt or hand-over names what it must.
    fn check_event(
        &self,
        author: &Member,
        body: &UnsignedEntry,
        kind: &EventKind,
        event: &CanonicalJson,
    ) -> Result<EpcisEvent, VerifyError> {
        let limits = self.genesis.limits();
        if !self.genesis.may_write(author, kind.name()) {
            return Err(VerifyError::NotPermitted {
                author: body.author.clone(),
                kind: kind.name(),
            });
        }
        if event.len() > limits.max_event_bytes as usize {
            return Err(VerifyError::EventTooLarge {
                size: event.len(),
                limit: limits.max_event_bytes as usize,
            });
        }
        let (parsed, value) = EpcisEvent::from_canonical(event)?;
        let derived = classify(&value, &parsed)?;
        if &derived != kind {
            return Err(VerifyError::KindMismatch {
                stated: kind.clone(),
                derived,
            });
        }
        match kind {
            EventKind::Receipt { hand_over } if !body.refs.contains(hand_over) => {
                return Err(VerifyError::ReceiptWithoutRef);
            }
            EventKind::HandOver { to }
                if to == &body.author || self.genesis.member(to).is_none() =>
            {
                return Err(VerifyError::BadHandOverTarget(to.clone()));
            }
            _ => {}
        }
        Ok(parsed)
    }

    /// The rules of a purge entry that need no other entry: it names at least one field, sorted
    /// and unique, each of the consortium's policy, and commits to no private fields itself.
    /// That the purged entry is an earlier entry of the same chain that commits to the fields
    /// is checked where the chain is held ([`Verifier`] sees one entry).
    fn check_purge(
        &self,
        body: &UnsignedEntry,
        entry: &EntryHash,
        fields: &[FieldName],
    ) -> Result<(), VerifyError> {
        let purge = |why: String| Err(VerifyError::Purge(why));
        if body.private.is_some() {
            return purge("a purge entry commits to no private fields".into());
        }
        if fields.is_empty() {
            return purge("a purge must name at least one field".into());
        }
        let limit = self.genesis.limits().max_private_fields as usize;
        if fields.len() > limit {
            return purge(format!(
                "{} fields, more than an entry can commit to ({limit})",
                fields.len()
            ));
        }
        if fields.windows(2).any(|w| w[0] >= w[1]) {
            return purge("field names must be sorted and unique".into());
        }
        if let Some(unknown) = fields.iter().find(|f| !self.genesis.knows_field(f)) {
            return Err(VerifyError::UnknownPrivateField(unknown.clone()));
        }
        if body.seq == 0 {
            return purge(format!(
                "the first entry of a chain has no earlier entry to purge (it names {entry})"
            ));
        }
        Ok(())
    }

    fn author_key(&self, body: &UnsignedEntry) -> Result<crate::crypto::PublicKey, VerifyError> {
        let standing = self
            .genesis
            .standing(&body.author)
            .ok_or_else(|| VerifyError::UnknownAuthor(body.author.clone()))?;
        standing
            .entry_key(body.seq)
            .ok_or_else(|| VerifyError::Removed {
                author: body.author.clone(),
                seq: body.seq,
                entries_below: standing.removed.map_or(0, |r| r.entries_below),
            })
    }

    /// Every rule and the signature, not the chain rule.
    fn check_signed(&self, entry: &SignedEntry) -> Result<Checked, VerifyError> {
        let checked = self.check_rules(entry)?;
        self.author_key(&entry.body)?
            .verify(signing::ENTRY, checked.hash.as_bytes(), &entry.signature)
            .map_err(|source| self.signature_error(entry, &checked.hash, source))?;
        Ok(checked)
    }

    /// Why a signature failed: [`VerifyError::RetiredKey`] if another key the author has had
    /// signed it (someone who has not seen the rotation may have passed it on in good faith),
    /// else [`VerifyError::Signature`]. Only failures pay for the extra checks.
    fn signature_error(
        &self,
        entry: &SignedEntry,
        hash: &EntryHash,
        source: CryptoError,
    ) -> VerifyError {
        let body = &entry.body;
        let keys = self
            .genesis
            .standing(&body.author)
            .map(|s| s.keys.as_slice());
        let by_another_key = keys.is_some_and(|keys| {
            keys.len() > 1
                && keys.iter().any(|epoch| {
                    epoch
                        .key
                        .verify(signing::ENTRY, hash.as_bytes(), &entry.signature)
                        .is_ok()
                })
        });
        if by_another_key {
            VerifyError::RetiredKey {
                author: body.author.clone(),
                seq: body.seq,
            }
        } else {
            VerifyError::Signature {
                author: body.author.clone(),
                seq: body.seq,
                source,
            }
        }
    }

    /// Checks a signed entry against its author's chain tip (`None`: the chain is empty here).
    pub fn verify(
        &self,
        entry: SignedEntry,
        tip: Option<&ChainTip>,
    ) -> Result<VerifiedEntry, VerifyError> {
        let checked = self.check_signed(&entry)?;
        check_chain(&entry, tip)?;
        checked.into_verified(entry)
    }

    /// Checks the signature and every rule except the chain rule: for an entry whose place in
    /// its chain is checked elsewhere (one half of a fork proof, an entry in an evidence bundle).
    pub fn verify_detached(&self, entry: &SignedEntry) -> Result<EntryHash, VerifyError> {
        self.check_signed(entry).map(|checked| checked.hash)
    }

    /// The rule a validly signed entry breaks, for an entry that is its author's doing: signed
    /// under the author's key for its position, and breaking a rule that needs no other entry
    /// (its role may not write the kind, its event is not valid EPCIS, a limit, ...). Not
    /// attributable — `Err` with why — are entries whose signature does not verify (anyone
    /// could have made them), of no member or signed after the author's removal, of another
    /// network or format (not this consortium's rules), and entries that break no such rule.
    /// The timestamp is not held against the clock.
    pub fn broken_rule(&self, entry: &SignedEntry) -> Result<VerifyError, NotAttributable> {
        let body = &entry.body;
        let hash = body
            .to_bytes()
            .map(|bytes| EntryHash::digest(&bytes))
            .map_err(|e| NotAttributable::NotSigned(format!("it cannot be encoded: {e}")))?;
        let key = self
            .author_key(&entry.body)
            .map_err(|e| NotAttributable::NotSigned(e.to_string()))?;
        key.verify(signing::ENTRY, hash.as_bytes(), &entry.signature)
            .map_err(|_| {
                NotAttributable::NotSigned(format!(
                    "its signature does not verify under {}'s key",
                    body.author
                ))
            })?;
        match self.with_tolerance(u64::MAX).check_rules(entry) {
            Ok(_) => Err(NotAttributable::BreaksNoRule),
            Err(error @ (VerifyError::Format(_) | VerifyError::WrongNetwork { .. })) => {
                Err(NotAttributable::Foreign(error.to_string()))
            }
            Err(
                error @ (VerifyError::Codec(_)
                | VerifyError::UnknownAuthor(_)
                | VerifyError::Removed { .. }),
            ) => Err(NotAttributable::NotSigned(error.to_string())),
            Err(broken) => Ok(broken),
        }
    }

    /// Checks many entries, in order, as [`Verifier::verify`] would one by one, with the
    /// signatures checked in one batch. `tip_of` gives each author's tip before the batch;
    /// entries earlier in the batch extend it for later ones.
    pub fn verify_batch(
        &self,
        entries: Vec<SignedEntry>,
        tip_of: impl FnMut(&MemberId) -> Option<ChainTip>,
    ) -> Vec<Result<VerifiedEntry, VerifyError>> {
        self.verify_batch_keeping_refused(entries, tip_of).results
    }

    /// [`Verifier::verify_batch`], also giving back each refused entry with its place in
    /// `entries` (to keep as evidence, [`Verifier::broken_rule`]).
    pub fn verify_batch_keeping_refused(
        &self,
        entries: Vec<SignedEntry>,
        mut tip_of: impl FnMut(&MemberId) -> Option<ChainTip>,
    ) -> BatchVerdicts {
        let checked: Vec<Result<(Checked, crate::crypto::PublicKey), VerifyError>> = entries
            .iter()
            .map(|e| Ok((self.check_rules(e)?, self.author_key(&e.body)?)))
            .collect();
        let signature_results = {
            let items: Vec<(usize, BatchItem<'_>)> = checked
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().ok().map(|c| (i, c)))
                .filter_map(|(i, (c, key))| {
                    entries.get(i).map(|e| {
                        (
                            i,
                            BatchItem {
                                key,
                                domain: signing::ENTRY,
                                digest: c.hash.as_bytes(),
                                signature: &e.signature,
                            },
                        )
                    })
                })
                .collect();
            let batch: Vec<BatchItem<'_>> = items.iter().map(|(_, item)| *item).collect();
            let verdicts = crypto::verify_batch(&batch);
            let mut by_index: HashMap<usize, Result<(), CryptoError>> = HashMap::new();
            for ((i, _), verdict) in items.iter().zip(verdicts) {
                by_index.insert(*i, verdict);
            }
            by_index
        };
        let mut tips: HashMap<MemberId, Option<ChainTip>> = HashMap::new();
        let mut signature_results = signature_results;
        let mut refused = Vec::new();
        let results = entries
            .into_iter()
            .zip(checked)
            .enumerate()
            .map(|(i, (entry, checked))| {
                let checked = match checked {
                    Ok((checked, _)) => checked,
                    Err(error) => {
                        refused.push((i, entry));
                        return Err(error);
                    }
                };
                if let Some(Err(source)) = signature_results.remove(&i) {
                    let error = self.signature_error(&entry, &checked.hash, source);
                    refused.push((i, entry));
                    return Err(error);
                }
                let author = entry.body.author.clone();
                let tip = *tips
                    .entry(author)
                    .or_insert_with_key(|author| tip_of(author));
                if let Err(error) = check_chain(&entry, tip.as_ref()) {
                    refused.push((i, entry));
                    return Err(error.into());
                }
                let verified = checked.into_verified(entry)?;
                tips.insert(
                    verified.body().author.clone(),
                    Some(ChainTip::of(&verified)),
                );
                Ok(verified)
            })
            .collect();
        BatchVerdicts { results, refused }
    }
}

/// The chain rule alone.
pub fn check_chain(entry: &SignedEntry, tip: Option<&ChainTip>) -> Result<(), ChainError> {
    let body = &entry.body;
    match tip {
        None => {
            if body.seq != 0 || body.prev.is_some() {
                return Err(ChainError::MissingStart {
                    author: body.author.clone(),
                    got: body.seq,
                });
            }
        }
        Some(tip) => {
            let expected = tip.seq.saturating_add(1);
            if body.seq != expected {
                return Err(ChainError::Sequence {
                    author: body.author.clone(),
                    tip: tip.seq,
                    expected,
                    got: body.seq,
                });
            }
            if body.prev != Some(tip.hash) {
                return Err(ChainError::PreviousHash {
                    author: body.author.clone(),
                    seq: body.seq,
                });
            }
            if body.timestamp < tip.timestamp {
                return Err(ChainError::TimeGoesBack {
                    author: body.author.clone(),
                    seq: body.seq,
                    got: body.timestamp,
                    tip: tip.timestamp,
                });
            }
        }
    }
    Ok(())
}

mod sign;
#[cfg(test)]
mod tests;
