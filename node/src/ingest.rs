//! The ingestion pipeline: one path for every entry, whatever its source, as logic without IO.
//!
//! Two stages:
//!
//! 1. [`Pipeline::check`] (stateless, so any thread may run it, and many at once): every
//!    entry of a request is verified with the SDK's rules by [`Verifier::verify_batch`]
//!    (signatures in one batch equation), against the chain tip the request itself implies
//!    (the tip an entry's `prev` names). The result is a [`CheckedBatch`]: entries verified
//!    in every respect except their link to the chain as stored, with their canonical bytes
//!    and what the indexes need. Events from the member's own systems take
//!    [`Pipeline::prepare`] instead: checked and committed to their private fields here,
//!    signed in stage 2 once their place in the chain is known.
//! 2. [`Ledger::place`] (the committer's single writer thread): each entry's link to its
//!    author's chain as stored is checked with the SDK's chain rule
//!    ([`tally_sdk::verify::check_chain`]), re-sent entries are recognised by hash and
//!    acknowledged again without writing, a different entry at a stored position is a
//!    conflict (a fork: the stored entry is kept, the pair is recorded as a fork proof), and
//!    the writes for the entries, their chain positions, the new heads and every index are
//!    planned. [`Ledger::sign`] gives events their place, signs them with the member's key,
//!    verifies them like any entry and places them.
//!
//! A request is all or nothing: if any of its items is refused, none is written, and the
//! caller gets every refused item's index and reason. A request's entries of one author must
//! follow each other in chain order (authors may be interleaved); re-sent entries may open it. The two stages together apply exactly
//! the rules of [`Verifier::verify`] against the stored chain tips. The only IO is reading the
//! store (through the [`Store`] trait) to recognise re-sent entries.
//!
//! The code: this module (the requests, answers and state the stages share), `pipeline`
//! (stage 1), `ledger` (stage 2), `writes` (what a placement writes beside the entry, and the
//! rules it checks with the store).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tally_sdk::codec::{self, CanonicalJson};
use tally_sdk::entry::{EntryError, Payload, SignedEntry, UnsignedEntry, VerifiedEntry};
use tally_sdk::event::{ClassifiedEvent, EpcisEvent, EventError, EventKind, KindName};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::placement::{PurgeTarget, hand_over_refusal, purge_target_refusal};
use tally_sdk::privacy::disclosure::{CommitLimits, OpenedField, commit};
use tally_sdk::privacy::held::HeldFields;
use tally_sdk::reports::provenance::Recorded;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::tile::RightEdge;
use tally_sdk::verify::{ChainTip, Verifier, VerifyError, check_chain};
use tally_sdk::witnessing::fork::ForkProof;

use crate::consortium::SharedConsortium;
use crate::forks::fork_points;
use crate::private::purge::PurgeOrder;
use crate::private::{self, PrivateRow};
use crate::products::{ProductError, gather};
use crate::store::keys::{
    Head, MemberCode, Position, event_id_prefix, fork_key, index_key, kind_code, rejected_key,
    string_prefix,
};
use crate::store::tiles::{ChainTiles, put_tiles};
use crate::store::{Batch, Cf, MAX_STORED_ENTRY, Row, Store, StoreError, corrupted};

mod ledger;
mod pipeline;
#[cfg(test)]
mod tests;
mod writes;

use pipeline::{check_purge_target, checked_entry};
use writes::{custody, entry_writes, fork_evidence, frozen, purged_entry, rejection_evidence};

/// An event from the member's own systems, for the node to sign into the member's chain.
#[derive(Debug, Clone)]
pub struct EventInput {
    /// The EPCIS 2.0 event (JSON).
    pub event: Value,
    /// Entries of other chains the event refers to (a receipt's hand-over is added by itself).
    pub refs: Vec<EntryHash>,
    /// Private field values by name; they are committed to in the entry and stored apart.
    pub private: BTreeMap<FieldName, CanonicalJson>,
}

/// An event EPCIS capture checked already (parsed and classified once), for the node to sign
/// into the member's chain.
#[derive(Debug, Clone)]
pub struct ClassifiedInput {
    /// The event.
    pub event: ClassifiedEvent,
    /// Entries of other chains the event refers to (a receipt's hand-over is added by itself).
    pub refs: Vec<EntryHash>,
    /// Private field values by name; they are committed to in the entry and stored apart.
    pub private: BTreeMap<FieldName, CanonicalJson>,
}

/// What the node acknowledges for one item of a request, once durable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// The entry hash.
    pub hash: EntryHash,
    /// The author.
    pub author: MemberId,
    /// Its place in the author's chain.
    pub seq: u64,
    /// Whether the entry was stored already (a re-sent entry, acknowledged again).
    pub duplicate: bool,
}

/// Why one item of a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The entry breaks a rule of the SDK's verifier (or does not extend the stored chain).
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// The author already has a different entry at this place: it signed two histories.
    #[error(
        "entry {seq} of {author} conflicts with the stored entry {stored} (offered {offered}); the stored entry is kept and the pair recorded as a fork proof"
    )]
    Conflict {
        /// The author.
        author: MemberId,
        /// The place.
        seq: u64,
        /// The stored entry.
        stored: EntryHash,
        /// The offered entry.
        offered: EntryHash,
    },
    /// The entry names no previous entry but is not the first, or the other way round.
    #[error(
        "entry {seq} of {author}: the first entry (0) has no previous hash and every other entry has one"
    )]
    Malformed {
        /// The author.
        author: MemberId,
        /// The sequence number.
        seq: u64,
    },
    /// An event cannot be made into an entry.
    #[error(transparent)]
    Event(#[from] EntryError),
    /// The private fields of an event are not acceptable.
    #[error("private fields: {0}")]
    Private(String),
    /// The node's member hands over an item another member holds
    /// ([`tally_sdk::placement::hand_over_refusal`]).
    #[error("{0}")]
    Custody(String),
    /// The entry extends a chain a fork proof has frozen ([`crate::forks`]).
    #[error(
        "entry {seq} of {author}: the chain of {author} is frozen since place {fork_at}, where a fork proof shows two entries it signed (GET /v1/forks); nothing from there on is taken"
    )]
    Frozen {
        /// The author.
        author: MemberId,
        /// The entry's place.
        seq: u64,
        /// Where the chain forked.
        fork_at: u64,
    },
}

/// One refused item.
#[derive(Debug, thiserror::Error)]
#[error("item {index}: {problem}")]
pub struct Rejection {
    /// Its place in the request, from 0.
    pub index: usize,
    /// Why.
    pub problem: Problem,
}

/// A request was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// More items than one request may carry.
    #[error("{count} items in one request, more than the limit of {limit}")]
    TooMany {
        /// Items.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Some items were refused, so nothing of the request was stored.
    #[error("{} of the request's items refused, nothing stored; {}", .0.len(), FirstRejection(.0))]
    Rejected(Vec<Rejection>),
    /// The node has no key to sign its member's events with.
    #[error("this node has no member key to sign events with")]
    NoKey,
    /// The node was restored from a backup and has not yet got back from other members' nodes
    /// what it signed after the backup: signing now could fork its own chain.
    #[error(
        "this node was restored from a backup and is getting back from other members' nodes what it signed after the backup; it signs new events once it has (retry shortly)"
    )]
    CatchingUp,
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The durable write failed.
    #[error("the write to storage failed, nothing of the request was stored: {0}")]
    WriteFailed(String),
    /// The node is shutting down.
    #[error("the node is shutting down and accepts no more writes")]
    Stopped,
    /// A fork proof from a peer does not prove a fork.
    #[error("the fork proof does not hold: {0}")]
    ForkProof(#[from] tally_sdk::witnessing::fork::ForkError),
    /// A governance change does not apply to the consortium in force.
    #[error("the change does not apply to the consortium in force: {0}")]
    Governance(#[from] tally_sdk::membership::governance::GovernanceError),
    /// A governance change with a number already applied, which is not the change applied
    /// with that number: a rival history of changes.
    #[error(
        "change {number} is applied already and this is another change {number}: the founders approved two different changes with one number"
    )]
    RivalChange {
        /// The change number.
        number: u64,
    },
}

struct FirstRejection<'a>(&'a [Rejection]);

impl fmt::Display for FirstRejection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.first() {
            Some(first) => write!(f, "first: {first}"),
            None => f.write_str("no reason given"),
        }
    }
}

impl IngestError {
    /// Whether the request was refused because an item conflicts with a stored entry (a
    /// fork; HTTP 409) rather than because it is invalid.
    pub fn is_conflict(&self) -> bool {
        matches!(self, IngestError::Rejected(list)
            if list.iter().any(|r| matches!(r.problem, Problem::Conflict { .. } | Problem::Frozen { .. })))
    }

    fn rejected(index: usize, problem: impl Into<Problem>) -> Self {
        IngestError::Rejected(vec![Rejection {
            index,
            problem: problem.into(),
        }])
    }
}

/// What the indexes need to know about an entry, taken from its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFacts {
    /// The event time.
    pub event_time: Timestamp,
    /// The C2M kind.
    pub kind: KindName,
    /// The products (canonical Digital Link paths).
    pub products: Vec<String>,
    /// The bizStep.
    pub biz_step: Option<String>,
    /// The disposition.
    pub disposition: Option<String>,
    /// Its EPCIS `eventID`, if it has one. (EPCIS capture sets it to the Event Hash ID when an
    /// event has none.)
    pub event_id: Option<String>,
    /// Its Event Hash ID, when EPCIS capture computed it (on the capturing node) and the
    /// event's `eventID` is another: indexed too, so the event is found by either and a copy
    /// captured again under a new `eventID` is recognised. Not computed at ingestion: that
    /// would about double its cost.
    pub hash_id: Option<String>,
}

impl IndexFacts {
    /// The facts of an entry's event (`None` for a purge entry, which no index lists).
    pub fn of(entry: &SignedEntry) -> Result<Option<Self>, EventError> {
        match &entry.body.payload {
            Payload::Event { kind, event } => {
                let (parsed, _) = EpcisEvent::from_canonical(event)?;
                Ok(Some(Self::from_event(kind.name(), &parsed)))
            }
            Payload::Purge { .. } => Ok(None),
        }
    }

    /// The facts of a verified entry, whose event the verifier parsed already.
    pub fn of_verified(entry: &VerifiedEntry) -> Option<Self> {
        match (&entry.body().payload, entry.event()) {
            (Payload::Event { kind, .. }, Some(event)) => {
                Some(Self::from_event(kind.name(), event))
            }
            _ => None,
        }
    }

    fn from_event(kind: KindName, event: &EpcisEvent) -> Self {
        Self {
            hash_id: None,
            event_id: event.event_id.clone(),
            event_time: event.event_time,
            kind,
            products: event
                .products
                .iter()
                .map(|p| p.digital_link_path().to_owned())
                .collect(),
            biz_step: event.biz_step.clone(),
            disposition: event.disposition.clone(),
        }
    }
}

/// An entry that passed every rule except its link to the chain as stored.
#[derive(Debug)]
struct CheckedEntry {
    entry: VerifiedEntry,
    bytes: Vec<u8>,
    /// Index facts (none for a purge entry).
    facts: Option<IndexFacts>,
    /// The private row, encoded (own events only).
    private: Option<Vec<u8>>,
    /// The members whose nodes are to be sent the fields they may read (own events only).
    readers: Vec<MemberId>,
}

/// A request's entries after stage 1 ([`Pipeline::check`]), ready for [`Ledger::place`].
#[derive(Debug, Default)]
pub struct CheckedBatch {
    entries: Vec<CheckedEntry>,
}

impl CheckedBatch {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// An event checked and committed to its private fields, waiting for its place in the chain.
#[derive(Debug)]
struct PreparedEvent {
    body: UnsignedEntry,
    opened: Vec<OpenedField>,
    /// The Event Hash ID capture computed, if any.
    hash_id: Option<String>,
}

/// A request's events after [`Pipeline::prepare`], ready for [`Ledger::sign`].
#[derive(Debug, Default)]
pub struct PreparedEvents {
    events: Vec<PreparedEvent>,
    rows: Option<RowsWithEvents>,
}

/// Rows a caller stores with its events, made by the writer from their receipts: durable in
/// the same synced write as the entries, or not at all. EPCIS capture stores its capture job
/// this way, so a job never names entries that are not stored, and costs no write of its own.
pub struct RowsWithEvents(Box<MakeRows>);

type MakeRows = dyn FnOnce(&[Receipt]) -> Batch + Send;

impl RowsWithEvents {
    /// The rows for the receipts of the events, once placed.
    pub fn make(self, receipts: &[Receipt]) -> Batch {
        (self.0)(receipts)
    }
}

impl fmt::Debug for RowsWithEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RowsWithEvents(..)")
    }
}

impl PreparedEvents {
    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Stores the rows `rows` makes from the events' receipts in the same write as the
    /// events, if they are stored; nothing of them if the events are refused or the write
    /// fails.
    pub fn with_rows(mut self, rows: impl FnOnce(&[Receipt]) -> Batch + Send + 'static) -> Self {
        self.rows = Some(RowsWithEvents(Box::new(rows)));
        self
    }

    /// The rows to store with the events, taken out (the writer makes them once it has
    /// placed the events).
    pub fn take_rows(&mut self) -> Option<RowsWithEvents> {
        self.rows.take()
    }

    /// Gives the events the Event Hash IDs EPCIS capture computed, in order, to be indexed by
    /// as well as by their `eventID`s ([`IndexFacts::hash_id`]).
    pub fn with_hash_ids(mut self, hash_ids: impl IntoIterator<Item = String>) -> Self {
        for (event, hash_id) in self.events.iter_mut().zip(hash_ids) {
            event.hash_id = Some(hash_id);
        }
        self
    }
}

/// Stage 1 of the pipeline: stateless checks, safe to run on any number of threads.
#[derive(Debug, Clone)]
pub struct Pipeline {
    consortium: SharedConsortium,
    max_batch: usize,
}

/// The result of placing one request: what to write, and the answer to give once written.
#[derive(Debug)]
pub struct Placement {
    /// What to write. For a refused request this holds only evidence (fork proofs).
    pub writes: Batch,
    /// The purges to carry out once the writes are durable.
    pub purges: Vec<PurgeOrder>,
    /// The answer.
    pub result: Result<Vec<Receipt>, IngestError>,
    /// The entries placed, in order, when they came from this node's own sources (its
    /// events, entries posted to its API): replication gossips them from here once they are
    /// durable, rather than reading them back. Empty for entries from peers.
    pub fresh: Vec<SignedEntry>,
}

impl Placement {
    fn refused(error: IngestError) -> Self {
        Self::answer(Batch::default(), Err(error))
    }

    /// A placement of `writes` with `result`, no purge and nothing to gossip.
    pub fn answer(writes: Batch, result: Result<Vec<Receipt>, IngestError>) -> Self {
        Self {
            writes,
            purges: Vec::new(),
            result,
            fresh: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ChainState {
    code: MemberCode,
    tip: Option<ChainTip>,
}

/// A refused request of entries, with what of it is evidence to keep.
#[derive(Debug)]
pub struct RefusedEntries {
    /// Why it is refused.
    pub error: IngestError,
    /// The refused entries that are their authors' doing (empty if none), for the writer to
    /// keep within each author's quota ([`Ledger::keep_rejected`]).
    pub evidence: Vec<RejectedRow>,
}

impl RefusedEntries {
    fn without_evidence(error: IngestError) -> Self {
        Self {
            error,
            evidence: Vec::new(),
        }
    }
}

/// A refused entry its author validly signed, encoded, to keep as evidence.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    /// Its author.
    pub author: MemberId,
    /// Its hash.
    pub hash: EntryHash,
    /// The signed entry, encoded.
    pub bytes: Vec<u8>,
}

/// Most refused entries kept per author: evidence of its misconduct, which it could otherwise
/// send without end to fill the node's disk.
pub const MAX_REJECTED_PER_MEMBER: u64 = 1_000;

/// Most bytes of refused entries kept per author.
pub const MAX_REJECTED_BYTES_PER_MEMBER: u64 = 16 << 20;

/// How much refused-entry evidence an author has kept: rows and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RejectedQuota {
    rows: u64,
    bytes: u64,
}

impl RejectedQuota {
    fn key(author: &MemberId) -> Vec<u8> {
        let mut key = b"rejected-quota\0".to_vec();
        key.extend_from_slice(author.as_str().as_bytes());
        key
    }

    fn read<S: Store + ?Sized>(store: &S, author: &MemberId) -> Result<Self, StoreError> {
        let Some(value) = store.get(Cf::Meta, &Self::key(author))? else {
            return Ok(Self::default());
        };
        let (rows, bytes) = value
            .split_at_checked(8)
            .and_then(|(rows, bytes)| Some((rows.try_into().ok()?, bytes.try_into().ok()?)))
            .ok_or_else(|| corrupted(format!("the rejected-entry quota of {author} is damaged")))?;
        Ok(Self {
            rows: u64::from_be_bytes(rows),
            bytes: u64::from_be_bytes(bytes),
        })
    }

    fn value(self) -> Vec<u8> {
        let mut value = self.rows.to_be_bytes().to_vec();
        value.extend_from_slice(&self.bytes.to_be_bytes());
        value
    }
}

/// A fork proof from another node to keep ([`Ledger::record_fork`]).
#[derive(Debug)]
pub struct RecordedFork {
    /// The write that keeps it.
    pub writes: Batch,
    /// The chain's author.
    pub author: MemberId,
    /// The fork point.
    pub seq: u64,
}

/// Stage 2 of the pipeline: the chain heads (as stored, plus entries placed but not yet
/// written), owned by the single writer.
#[derive(Debug)]
pub struct Ledger {
    genesis: Arc<Consortium>,
    chains: HashMap<MemberId, ChainState>,
    next_code: u32,
    pending: HashMap<Position, EntryHash>,
    /// Each author's kept refused entries, as placed (written or not): read from the store
    /// once, then counted here so a group's rows count before they are written.
    rejected: HashMap<MemberId, RejectedQuota>,
    /// The right edge of each chain's log appended to (read from its tiles the first time),
    /// with what was placed but not yet written.
    edges: HashMap<MemberCode, RightEdge>,
}

/// An entry placed earlier in the same request: author, sequence number, committed private
/// fields.
type PlacedEntry = (MemberId, u64, Option<Vec<FieldName>>);
