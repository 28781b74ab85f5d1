//! Entries: the signed, hash-chained records of a member's chain, as typestates.
//!
//! * [`UnsignedEntry`] — the body: network, author, sequence number, previous hash, timestamp,
//!   references, the payload (a public EPCIS event with its C2M kind) and the private-field
//!   commitment. Its hash ([`EntryHash`]) is the entry's identity.
//! * [`SignedEntry`] — a body with the author's signature over its hash. Anything read from the
//!   wire or a file is a `SignedEntry`: well-formed, but trusted for nothing.
//! * [`VerifiedEntry`] — produced only by [`crate::verify`], after the signature, chain rule,
//!   membership, permissions, limits and event checks all passed.
//!
//! The hash is `SHA-256("tally/v1/entry\0" || postcard(body))`; the signature is Ed25519 over
//! `"tally/v1/sign/entry\0" || hash`. See `docs/formats.md`.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CanonicalJson, CodecError};
use crate::crypto::{Signature, SigningKey};
use crate::domain::signing;
use crate::event::{ClassifiedEvent, EpcisEvent, EventError, EventKind};
use crate::hash::{EntryHash, NetworkId};
use crate::ids::{FieldName, MemberId};
use crate::privacy::disclosure::PrivateCommitment;
use crate::time::Timestamp;

/// The entry format this SDK writes and reads.
pub const ENTRY_FORMAT: u16 = 1;

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A supply-chain event.
    Event {
        /// The C2M kind, as [`classify`] derives it from the event.
        kind: EventKind,
        /// The EPCIS 2.0 event, canonical JSON.
        event: CanonicalJson,
    },
    /// The author's order to erase the values (and salts) of private fields of one of its
    /// earlier entries. The commitment stays, so the chain still verifies; every node holding
    /// the values deletes them.
    Purge {
        /// The entry whose fields are purged: an earlier entry of the same chain.
        entry: EntryHash,
        /// The fields to erase, sorted and unique.
        fields: Vec<FieldName>,
    },
}

impl Payload {
    /// The name of what the entry records: the C2M kind of its event, or `purge`.
    pub fn name(&self) -> &'static str {
        match self {
            Payload::Event { kind, .. } => kind.name().as_str(),
            Payload::Purge { .. } => "purge",
        }
    }
}

/// The unsigned body of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedEntry {
    /// Format number ([`ENTRY_FORMAT`]).
    pub format: u16,
    /// The consortium.
    pub network: NetworkId,
    /// The member whose chain this is.
    pub author: MemberId,
    /// Position in the author's chain, from 0.
    pub seq: u64,
    /// Hash of the author's entry `seq - 1`; `None` exactly when `seq` is 0.
    pub prev: Option<EntryHash>,
    /// The author's clock when writing.
    pub timestamp: Timestamp,
    /// Entries of other chains this one refers to (e.g. the hand-over a receipt acknowledges).
    pub refs: Vec<EntryHash>,
    /// What the entry records.
    pub payload: Payload,
    /// Commitment to private fields, if the entry has any.
    pub private: Option<PrivateCommitment>,
}

/// Building an entry from an event failed.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The event is invalid.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    /// Encoding failed or the bytes are malformed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl UnsignedEntry {
    /// Builds the body of an event entry: checks the event, derives its kind, and adds the
    /// hand-over a receipt acknowledges to the references.
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        network: NetworkId,
        author: MemberId,
        seq: u64,
        prev: Option<EntryHash>,
        timestamp: Timestamp,
        refs: Vec<EntryHash>,
        event: &serde_json::Value,
        private: Option<PrivateCommitment>,
    ) -> Result<Self, EntryError> {
        let classified = ClassifiedEvent::of(event)?;
        Ok(Self::classified(
            network, author, seq, prev, timestamp, refs, classified, private,
        ))
    }

    /// [`UnsignedEntry::event`] of an event parsed and classified already.
    #[allow(clippy::too_many_arguments)]
    pub fn classified(
        network: NetworkId,
        author: MemberId,
        seq: u64,
        prev: Option<EntryHash>,
        timestamp: Timestamp,
        mut refs: Vec<EntryHash>,
        event: ClassifiedEvent,
        private: Option<PrivateCommitment>,
    ) -> Self {
        let ClassifiedEvent { event, kind } = event;
        if let EventKind::Receipt { hand_over } = &kind
            && !refs.contains(hand_over)
        {
            refs.push(*hand_over);
        }
        Self {
            format: ENTRY_FORMAT,
            network,
            author,
            seq,
            prev,
            timestamp,
            refs,
            payload: Payload::Event {
                kind,
                event: event.json,
            },
            private,
        }
    }

    /// Builds the body of a purge entry: the author's order to erase `fields` of its entry
    /// `entry` (the fields are sorted and deduplicated here).
    pub fn purge(
        network: NetworkId,
        author: MemberId,
        seq: u64,
        prev: Option<EntryHash>,
        timestamp: Timestamp,
        entry: EntryHash,
        mut fields: Vec<FieldName>,
    ) -> Self {
        fields.sort();
        fields.dedup();
        Self {
            format: ENTRY_FORMAT,
            network,
            author,
            seq,
            prev,
            timestamp,
            refs: Vec::new(),
            payload: Payload::Purge { entry, fields },
            private: None,
        }
    }

    /// The canonical encoding of the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("entry body", self)
    }

    /// The entry hash.
    pub fn hash(&self) -> Result<EntryHash, CodecError> {
        Ok(EntryHash::digest(&self.to_bytes()?))
    }

    /// Signs the body. The caller is responsible for the key being the author's.
    pub fn sign(self, key: &SigningKey) -> Result<SignedEntry, CodecError> {
        let hash = self.hash()?;
        let signature = key.sign(signing::ENTRY, hash.as_bytes());
        Ok(SignedEntry {
            body: self,
            signature,
        })
    }
}

/// An entry with its author's signature, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEntry {
    /// The body.
    pub body: UnsignedEntry,
    /// The author's signature over the body's hash.
    pub signature: Signature,
}

impl SignedEntry {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("signed entry", self)
    }

    /// Decodes a signed entry of at most `limit` bytes.
    pub fn from_bytes(bytes: &[u8], limit: usize) -> Result<Self, CodecError> {
        codec::decode("signed entry", bytes, limit)
    }

    /// The entry hash (of the body).
    pub fn hash(&self) -> Result<EntryHash, CodecError> {
        self.body.hash()
    }
}

/// An entry that passed every rule of [`crate::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    entry: SignedEntry,
    hash: EntryHash,
    encoded: Vec<u8>,
    event: Option<EpcisEvent>,
}

impl VerifiedEntry {
    /// Only the verifier makes these, from what it computed on the way.
    pub(crate) fn new(
        entry: SignedEntry,
        hash: EntryHash,
        encoded: Vec<u8>,
        event: Option<EpcisEvent>,
    ) -> Self {
        Self {
            entry,
            hash,
            encoded,
            event,
        }
    }

    /// The entry hash.
    pub fn hash(&self) -> EntryHash {
        self.hash
    }

    /// The signed entry.
    pub fn signed(&self) -> &SignedEntry {
        &self.entry
    }

    /// The body.
    pub fn body(&self) -> &UnsignedEntry {
        &self.entry.body
    }

    /// The encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    /// The signed entry's canonical encoding (as [`SignedEntry::to_bytes`] gives it).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// The entry's event, parsed, with the products it is about (`None` for a purge).
    pub fn event(&self) -> Option<&EpcisEvent> {
        self.event.as_ref()
    }

    /// Gives up the verified status.
    pub fn into_signed(self) -> SignedEntry {
        self.entry
    }
}
