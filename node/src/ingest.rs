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

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tally_sdk::codec::{self, CanonicalJson};
use tally_sdk::disclosure::{CommitLimits, OpenedField, commit};
use tally_sdk::entry::{EntryError, Payload, SignedEntry, UnsignedEntry, VerifiedEntry};
use tally_sdk::event::{EpcisEvent, EventError, EventKind, KindName};
use tally_sdk::fork::ForkProof;
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::held::HeldFields;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::placement::{PurgeTarget, hand_over_refusal, purge_target_refusal};
use tally_sdk::provenance::Recorded;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::tile::RightEdge;
use tally_sdk::verify::{ChainTip, Verifier, VerifyError, check_chain};

use crate::consortium::Consortium;
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
    ForkProof(#[from] tally_sdk::fork::ForkError),
    /// A governance change does not apply to the consortium in force.
    #[error("the change does not apply to the consortium in force: {0}")]
    Governance(#[from] tally_sdk::governance::GovernanceError),
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
    /// Its EPCIS `eventID`, if it has one. (Not its Event Hash ID: computing that for every
    /// entry would cost more than the rest of ingestion; EPCIS capture sets `eventID` to it
    /// when an event has none.)
    pub event_id: Option<String>,
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
}

/// A request's events after [`Pipeline::prepare`], ready for [`Ledger::sign`].
#[derive(Debug, Default)]
pub struct PreparedEvents {
    events: Vec<PreparedEvent>,
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
}

/// Stage 1 of the pipeline: stateless checks, safe to run on any number of threads.
#[derive(Debug, Clone)]
pub struct Pipeline {
    consortium: Consortium,
    max_batch: usize,
}

impl Pipeline {
    /// A pipeline for the consortium of `genesis` (as it stands: no change applied later),
    /// taking at most `max_batch` items per request.
    pub fn new(genesis: Arc<Genesis>, max_batch: usize) -> Self {
        Self::following(Consortium::new(genesis), max_batch)
    }

    /// A pipeline that judges by the consortium in force at each request.
    pub fn following(consortium: Consortium, max_batch: usize) -> Self {
        Self {
            consortium,
            max_batch,
        }
    }

    /// The consortium now.
    pub fn genesis(&self) -> Arc<Genesis> {
        self.consortium.current()
    }

    /// The consortium, followed as changes are applied.
    pub fn consortium(&self) -> &Consortium {
        &self.consortium
    }

    fn check_count(&self, count: usize) -> Result<(), IngestError> {
        if count > self.max_batch {
            return Err(IngestError::TooMany {
                count,
                limit: self.max_batch,
            });
        }
        Ok(())
    }

    /// Verifies entries signed elsewhere with every rule but the link to the stored chain
    /// (which [`Ledger::place`] checks), at time `now`.
    pub fn check(
        &self,
        entries: Vec<SignedEntry>,
        now: Timestamp,
    ) -> Result<CheckedBatch, IngestError> {
        self.check_keeping_evidence(entries, now)
            .map_err(|refused| refused.error)
    }

    /// [`Pipeline::check`]; a refused request comes back with the writes that keep, as
    /// evidence, each refused entry that is its author's doing (validly signed, breaking a
    /// rule: [`tally_sdk::rejection`]).
    pub fn check_keeping_evidence(
        &self,
        entries: Vec<SignedEntry>,
        now: Timestamp,
    ) -> Result<CheckedBatch, RefusedEntries> {
        self.check_count(entries.len())
            .map_err(RefusedEntries::without_evidence)?;
        let mut rejections = Vec::new();
        // The tip each author's first entry in the request names: the chain rule then checks
        // the request's own entries link to each other, and stage 2 checks the first one
        // against the stored tip.
        let mut implied: HashMap<MemberId, Option<ChainTip>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let body = &entry.body;
            let tip = match (body.seq, body.prev) {
                (0, None) => None,
                (seq, Some(prev)) if seq > 0 => Some(ChainTip {
                    seq: seq - 1,
                    hash: prev,
                    timestamp: Timestamp(0),
                }),
                _ => {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Malformed {
                            author: body.author.clone(),
                            seq: body.seq,
                        },
                    });
                    continue;
                }
            };
            implied.entry(body.author.clone()).or_insert(tip);
        }
        if !rejections.is_empty() {
            return Err(RefusedEntries::without_evidence(IngestError::Rejected(
                rejections,
            )));
        }
        let genesis = self.genesis();
        let verifier = Verifier::new(&genesis, now);
        let verdicts = verifier
            .verify_batch_keeping_refused(entries, |author| implied.get(author).copied().flatten());
        let (results, refused) = (verdicts.results, verdicts.refused);
        let mut checked = Vec::with_capacity(results.len());
        for (index, result) in results.into_iter().enumerate() {
            match result
                .map_err(Problem::from)
                .and_then(|entry| checked_entry(&genesis, entry, Vec::new()))
            {
                Ok(entry) => checked.push(entry),
                Err(problem) => rejections.push(Rejection { index, problem }),
            }
        }
        if !rejections.is_empty() {
            return Err(RefusedEntries {
                error: IngestError::Rejected(rejections),
                evidence: rejection_evidence(&verifier, refused),
            });
        }
        Ok(CheckedBatch { entries: checked })
    }

    /// Checks events from the member's own systems and commits to their private fields (with
    /// fresh salts); [`Ledger::sign`] then places and signs them.
    pub fn prepare(
        &self,
        member: &MemberId,
        events: Vec<EventInput>,
    ) -> Result<PreparedEvents, IngestError> {
        self.check_count(events.len())?;
        let genesis = self.genesis();
        let limits = genesis.limits();
        let commit_limits = CommitLimits {
            max_fields: limits.max_private_fields as usize,
            max_value_bytes: limits.max_private_value_bytes as usize,
        };
        let mut prepared = Vec::with_capacity(events.len());
        let mut rejections = Vec::new();
        for (index, input) in events.into_iter().enumerate() {
            if let Some(unknown) = input.private.keys().find(|f| !genesis.knows_field(f)) {
                rejections.push(Rejection {
                    index,
                    problem: Problem::Private(format!(
                        "{unknown} is not in the consortium's private-field policy"
                    )),
                });
                continue;
            }
            let (commitment, opened) = if input.private.is_empty() {
                (None, Vec::new())
            } else {
                match commit(input.private, &commit_limits) {
                    Ok((commitment, opened)) => (Some(commitment), opened),
                    Err(e) => {
                        rejections.push(Rejection {
                            index,
                            problem: Problem::Private(e.to_string()),
                        });
                        continue;
                    }
                }
            };
            // Place and time are set when the entry is signed.
            match UnsignedEntry::event(
                genesis.network_id(),
                member.clone(),
                0,
                None,
                Timestamp(0),
                input.refs,
                &input.event,
                commitment,
            ) {
                Ok(body) => prepared.push(PreparedEvent { body, opened }),
                Err(e) => rejections.push(Rejection {
                    index,
                    problem: e.into(),
                }),
            }
        }
        if !rejections.is_empty() {
            return Err(IngestError::Rejected(rejections));
        }
        Ok(PreparedEvents { events: prepared })
    }

    /// Prepares `member`'s purge of `fields` of its entry `target`; where the entry is placed,
    /// the target is checked to be an earlier entry of the member's chain that commits to them.
    pub fn prepare_purge(
        &self,
        member: &MemberId,
        target: EntryHash,
        fields: Vec<FieldName>,
    ) -> PreparedEvents {
        // Place and time are set when the entry is signed.
        let body = UnsignedEntry::purge(
            self.consortium.current().network_id(),
            member.clone(),
            0,
            None,
            Timestamp(0),
            target,
            fields,
        );
        PreparedEvents {
            events: vec![PreparedEvent {
                body,
                opened: Vec::new(),
            }],
        }
    }
}

fn checked_entry(
    genesis: &Genesis,
    entry: VerifiedEntry,
    opened: Vec<OpenedField>,
) -> Result<CheckedEntry, Problem> {
    let bytes = entry.encoded().to_vec();
    let facts = IndexFacts::of_verified(&entry);
    let body = entry.body();
    let (private, readers) = match (&body.private, opened.is_empty()) {
        (Some(commitment), false) => {
            let held = HeldFields::complete(commitment, &opened)
                .map_err(|e| Problem::Private(e.to_string()))?;
            let row = PrivateRow {
                held,
                purged: Vec::new(),
            };
            let readers = private::readers(genesis, &body.author, commitment)
                .into_iter()
                .map(|m| m.id.clone())
                .collect();
            let row = row.encode().map_err(|e| Problem::Private(e.to_string()))?;
            (Some(row), readers)
        }
        _ => (None, Vec::new()),
    };
    Ok(CheckedEntry {
        entry,
        bytes,
        facts,
        private,
        readers,
    })
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
}

impl Placement {
    fn refused(error: IngestError) -> Self {
        Self {
            writes: Batch::default(),
            purges: Vec::new(),
            result: Err(error),
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

/// The refused entries of `refused` that their authors validly signed and that break a rule
/// ([`Verifier::broken_rule`]); the rest (bad signatures, broken links) prove nothing
/// against anyone. One larger than a stored entry may be ([`MAX_STORED_ENTRY`]) is not kept:
/// it could not be read back.
fn rejection_evidence(
    verifier: &Verifier<'_>,
    refused: Vec<(usize, SignedEntry)>,
) -> Vec<RejectedRow> {
    let mut evidence = Vec::new();
    for (_, entry) in refused {
        if verifier.broken_rule(&entry).is_err() {
            continue;
        }
        let (Ok(hash), Ok(bytes)) = (entry.hash(), entry.to_bytes()) else {
            continue;
        };
        if bytes.len() > MAX_STORED_ENTRY {
            tracing::warn!(
                author = %entry.body.author,
                bytes = bytes.len(),
                "a refused entry is too large to keep as evidence"
            );
            continue;
        }
        evidence.push(RejectedRow {
            author: entry.body.author.clone(),
            hash,
            bytes,
        });
    }
    evidence
}

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
    genesis: Arc<Genesis>,
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

impl Ledger {
    /// The consortium the ledger judges by.
    pub fn genesis(&self) -> &Arc<Genesis> {
        &self.genesis
    }

    /// Judges by `genesis` from now on (a governance change was applied).
    pub fn set_genesis(&mut self, genesis: Arc<Genesis>) {
        self.genesis = genesis;
    }

    /// The ledger state of a store.
    pub fn load<S: Store + ?Sized>(genesis: Arc<Genesis>, store: &S) -> Result<Self, StoreError> {
        let mut ledger = Self {
            genesis,
            chains: HashMap::new(),
            next_code: 0,
            pending: HashMap::new(),
            rejected: HashMap::new(),
            edges: HashMap::new(),
        };
        ledger.reload(store)?;
        Ok(ledger)
    }

    /// Re-reads the heads from the store, forgetting what was placed but not written (after a
    /// failed write).
    pub fn reload<S: Store + ?Sized>(&mut self, store: &S) -> Result<(), StoreError> {
        self.rejected.clear();
        self.edges.clear();
        let heads = store.heads()?;
        self.next_code = heads
            .iter()
            .map(|h| h.code.0.saturating_add(1))
            .max()
            .unwrap_or(0);
        self.chains = heads
            .into_iter()
            .map(|h| {
                (
                    h.author,
                    ChainState {
                        code: h.code,
                        tip: Some(h.tip),
                    },
                )
            })
            .collect();
        self.pending.clear();
        Ok(())
    }

    /// Whether `hash` was placed in chain `code` by an earlier request of the group being
    /// written.
    fn pending_in(&self, code: MemberCode, hash: &EntryHash) -> bool {
        self.pending
            .iter()
            .any(|(position, pending)| position.member == code && pending == hash)
    }

    /// Appends the entries a request placed to their chains' logs, and adds the tiles that
    /// changed to `writes`: the log is written in the same synced batch as the entries.
    fn log_writes<S: Store + ?Sized>(
        &mut self,
        store: &S,
        placed: &HashMap<Position, EntryHash>,
        writes: &mut Batch,
    ) -> Result<(), StoreError> {
        let mut ordered: Vec<(Position, EntryHash)> =
            placed.iter().map(|(p, h)| (*p, *h)).collect();
        ordered.sort_unstable_by_key(|(position, _)| *position);
        for run in ordered.chunk_by(|a, b| a.0.member == b.0.member) {
            let Some(&(first, _)) = run.first() else {
                continue;
            };
            let edge = match self.edges.entry(first.member) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(ChainTiles::new(store, first.member).edge(first.seq)?)
                }
            };
            if edge.size() != first.seq {
                return Err(corrupted(format!(
                    "the log of member code {} holds {} entries, not {}",
                    first.member.0,
                    edge.size(),
                    first.seq
                )));
            }
            let leaves: Vec<LogHash> = run
                .iter()
                .map(|(_, hash)| LogHash::entry_leaf(hash))
                .collect();
            let tiles = edge
                .append(&leaves)
                .map_err(|e| corrupted(format!("a chain's log: {e}")))?;
            put_tiles(writes, first.member, tiles);
        }
        Ok(())
    }

    /// Marks everything placed so far as written.
    pub fn committed(&mut self) {
        self.pending.clear();
    }

    /// The writes that keep `rows` as evidence, each author within its quota
    /// ([`MAX_REJECTED_PER_MEMBER`] rows, [`MAX_REJECTED_BYTES_PER_MEMBER`] bytes); a row
    /// kept already is not counted again, and rows past the quota are dropped (logged).
    pub fn keep_rejected<S: Store + ?Sized>(
        &mut self,
        store: &S,
        rows: Vec<RejectedRow>,
    ) -> Result<Batch, StoreError> {
        let mut writes = Batch::default();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let key = rejected_key(&row.author, &row.hash);
            if !seen.insert(key.clone()) || store.get(Cf::Rejected, &key)?.is_some() {
                continue;
            }
            let quota = match self.rejected.get(&row.author) {
                Some(quota) => *quota,
                None => RejectedQuota::read(store, &row.author)?,
            };
            let size = row.bytes.len() as u64;
            if quota.rows >= MAX_REJECTED_PER_MEMBER
                || quota.bytes.saturating_add(size) > MAX_REJECTED_BYTES_PER_MEMBER
            {
                tracing::warn!(
                    author = %row.author,
                    kept = quota.rows,
                    bytes = quota.bytes,
                    "a refused entry is not kept: its author's evidence quota is full"
                );
                continue;
            }
            let quota = RejectedQuota {
                rows: quota.rows + 1,
                bytes: quota.bytes + size,
            };
            writes.put(Cf::Meta, RejectedQuota::key(&row.author), quota.value());
            writes.put(Cf::Rejected, key, row.bytes);
            self.rejected.insert(row.author, quota);
        }
        Ok(writes)
    }

    /// The write that keeps a fork proof received from another node (checked by the caller),
    /// unless the store holds one of the author's chain at or before its place already; and
    /// the place, to tell replication. A proof is evidence on its own: it is kept whether or
    /// not this node holds either entry.
    pub fn record_fork<S: Store + ?Sized>(
        &mut self,
        store: &S,
        proof: &ForkProof,
    ) -> Result<Option<RecordedFork>, StoreError> {
        let (author, seq) = (&proof.first.body.author, proof.first.body.seq);
        if fork_points(store)?.is_forked(author, seq) {
            return Ok(None);
        }
        // The row's key starts with the chain's place so that proofs list in chain order; a
        // chain this node holds nothing of yet gets its code now, as its first entry would.
        let code = match self.chains.get(author) {
            Some(state) => state.code,
            None => {
                let code = MemberCode(self.next_code);
                self.next_code = self.next_code.saturating_add(1);
                self.chains
                    .insert(author.clone(), ChainState { code, tip: None });
                code
            }
        };
        let second = proof
            .second
            .hash()
            .map_err(|e| corrupted(format!("a checked fork proof cannot be encoded: {e}")))?;
        let value = codec::encode("fork proof", proof)
            .map_err(|e| corrupted(format!("a checked fork proof cannot be encoded: {e}")))?;
        let mut writes = Batch::default();
        writes.put(
            Cf::Forks,
            fork_key(Position { member: code, seq }, &second),
            value,
        );
        Ok(Some(RecordedFork {
            writes,
            author: author.clone(),
            seq,
        }))
    }

    /// The tip of a chain, including entries placed but not yet written.
    pub fn tip(&self, author: &MemberId) -> Option<ChainTip> {
        self.chains.get(author).and_then(|c| c.tip)
    }

    /// How many chains the ledger holds.
    pub fn chains(&self) -> usize {
        self.chains.len()
    }

    /// Places checked entries in their chains and plans their writes. The ledger changes only
    /// if the whole request is accepted.
    pub fn place<S: Store + ?Sized>(&mut self, store: &S, batch: CheckedBatch) -> Placement {
        let mut local: HashMap<MemberId, ChainState> = HashMap::new();
        let mut local_pending: HashMap<Position, EntryHash> = HashMap::new();
        let mut next_code = self.next_code;
        let mut writes = Batch::default();
        let mut evidence = Batch::default();
        let mut rejections = Vec::new();
        let mut receipts = Vec::with_capacity(batch.entries.len());
        let mut purges = Vec::new();
        // This request's entries so far: author, place, committed private fields.
        let mut placed: HashMap<EntryHash, PlacedEntry> = HashMap::new();
        for (index, item) in batch.entries.into_iter().enumerate() {
            let body = item.entry.body();
            let hash = item.entry.hash();
            let state = match local.get(&body.author) {
                Some(state) => *state,
                None => {
                    let state = match self.chains.get(&body.author) {
                        Some(state) => *state,
                        None => {
                            let code = MemberCode(next_code);
                            next_code = next_code.saturating_add(1);
                            ChainState { code, tip: None }
                        }
                    };
                    local.insert(body.author.clone(), state);
                    state
                }
            };
            let position = Position {
                member: state.code,
                seq: body.seq,
            };
            if state.tip.is_some_and(|tip| body.seq <= tip.seq) {
                let stored = match local_pending
                    .get(&position)
                    .or_else(|| self.pending.get(&position))
                {
                    Some(hash) => Some(*hash),
                    None => match store.chain_hash(position) {
                        Ok(found) => found,
                        Err(e) => return Placement::refused(e.into()),
                    },
                };
                match stored {
                    Some(stored) if stored == hash => receipts.push(Receipt {
                        hash,
                        author: body.author.clone(),
                        seq: body.seq,
                        duplicate: true,
                    }),
                    Some(stored) => {
                        match fork_evidence(store, position, stored, item.entry.signed()) {
                            Ok(Some((key, value))) => evidence.put(Cf::Forks, key, value),
                            Ok(None) => {}
                            Err(e) => return Placement::refused(e.into()),
                        }
                        rejections.push(Rejection {
                            index,
                            problem: Problem::Conflict {
                                author: body.author.clone(),
                                seq: body.seq,
                                stored,
                                offered: hash,
                            },
                        });
                    }
                    None => {
                        return Placement::refused(
                            corrupted(format!(
                                "entry {} of {} is below its chain head but missing",
                                body.seq, body.author
                            ))
                            .into(),
                        );
                    }
                }
                continue;
            }
            if let Err(e) = check_chain(item.entry.signed(), state.tip.as_ref()) {
                rejections.push(Rejection {
                    index,
                    problem: Problem::Invalid(VerifyError::Chain(e)),
                });
                continue;
            }
            if let Some(order) = PurgeOrder::of(&item.entry) {
                let target = placed
                    .get(&order.target)
                    .map(|(author, seq, fields)| Ok(Some((author.clone(), *seq, fields.clone()))))
                    .unwrap_or_else(|| purged_entry(store, &order.target));
                let target = match target {
                    Ok(target) => target,
                    Err(e) => return Placement::refused(e.into()),
                };
                if let Err(why) = check_purge_target(
                    &order,
                    body,
                    target,
                    self.pending_in(state.code, &order.target),
                ) {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Invalid(VerifyError::Purge(why)),
                    });
                    continue;
                }
                match order.marker() {
                    Ok((key, value)) => writes.put(Cf::Meta, key, value),
                    Err(e) => return Placement::refused(e.into()),
                }
                purges.push(order);
            }
            placed.insert(
                hash,
                (
                    body.author.clone(),
                    body.seq,
                    body.private.as_ref().map(|p| p.fields.clone()),
                ),
            );
            let tip = ChainTip::of(&item.entry);
            let author = body.author.clone();
            receipts.push(Receipt {
                hash,
                author: author.clone(),
                seq: tip.seq,
                duplicate: false,
            });
            local.insert(
                author,
                ChainState {
                    code: state.code,
                    tip: Some(tip),
                },
            );
            local_pending.insert(position, hash);
            entry_writes(&mut writes, position, item);
        }
        if !rejections.is_empty() {
            return Placement {
                writes: evidence,
                purges: Vec::new(),
                result: Err(IngestError::Rejected(rejections)),
            };
        }
        if let Err(error) = self.log_writes(store, &local_pending, &mut writes) {
            self.edges.clear();
            return Placement::refused(error.into());
        }
        for (author, state) in local {
            let Some(tip) = state.tip else { continue };
            if self.tip(&author) == Some(tip) {
                continue;
            }
            let head = Head {
                author: author.clone(),
                code: state.code,
                tip,
            };
            writes.put(Cf::Heads, head.key(), head.value());
            self.chains.insert(author, state);
        }
        self.next_code = next_code;
        self.pending.extend(local_pending);
        Placement {
            writes,
            purges,
            result: Ok(receipts),
        }
    }

    /// Gives the member's events their places at the head of its chain, signs them with
    /// `keys`, verifies them like any entry and places them. Timestamps are `now`, or the
    /// chain's last timestamp if the clock went back.
    pub fn sign<S: Store + ?Sized>(
        &mut self,
        store: &S,
        keys: &MemberKeys,
        events: PreparedEvents,
        now: Timestamp,
    ) -> Placement {
        let start = self.tip(&keys.member);
        let next = start.map_or(0, |t| t.seq + 1);
        match fork_points(store) {
            Ok(forks) => {
                if let Some(fork_at) = forks.of_chain(&keys.member).filter(|at| next >= *at) {
                    return Placement::refused(IngestError::rejected(
                        0,
                        Problem::Frozen {
                            author: keys.member.clone(),
                            seq: next,
                            fork_at,
                        },
                    ));
                }
            }
            Err(e) => return Placement::refused(e.into()),
        }
        let mut tip = start;
        let mut entries = Vec::with_capacity(events.events.len());
        let mut opened = Vec::with_capacity(events.events.len());
        for (index, event) in events.events.into_iter().enumerate() {
            let mut body = event.body;
            body.seq = tip.map_or(0, |t| t.seq + 1);
            body.prev = tip.map(|t| t.hash);
            body.timestamp = tip.map_or(now, |t| t.timestamp.max(now));
            let signed = match body.sign(&keys.signing) {
                Ok(signed) => signed,
                Err(e) => {
                    return Placement::refused(IngestError::rejected(index, EntryError::from(e)));
                }
            };
            let hash = match signed.hash() {
                Ok(hash) => hash,
                Err(e) => {
                    return Placement::refused(IngestError::rejected(index, EntryError::from(e)));
                }
            };
            tip = Some(ChainTip {
                seq: signed.body.seq,
                hash,
                timestamp: signed.body.timestamp,
            });
            entries.push(signed);
            opened.push(event.opened);
        }
        let verifier = Verifier::new(&self.genesis, now);
        let results = verifier.verify_batch(entries, |_| start);
        let mut checked = Vec::with_capacity(results.len());
        let mut rejections = Vec::new();
        for (index, (result, opened)) in results.into_iter().zip(opened).enumerate() {
            match result
                .map_err(Problem::from)
                .and_then(|entry| checked_entry(&self.genesis, entry, opened))
            {
                Ok(entry) => checked.push(entry),
                Err(problem) => rejections.push(Rejection { index, problem }),
            }
        }
        if !rejections.is_empty() {
            // The node links these entries itself, so a broken link can only follow an
            // earlier event's refusal: that refusal is what the caller needs to hear.
            let consequence =
                |r: &Rejection| matches!(r.problem, Problem::Invalid(VerifyError::Chain(_)));
            if !rejections.iter().all(consequence) {
                rejections.retain(|r| !consequence(r));
            }
            return Placement::refused(IngestError::Rejected(rejections));
        }
        let batch = CheckedBatch { entries: checked };
        if let Err(error) = custody(store, &keys.member, &batch) {
            return Placement::refused(error);
        }
        self.place(store, batch)
    }

    /// [`Ledger::place`] for entries from this node's own sources (`POST /v1/entries`):
    /// nothing extends a chain a fork proof froze. These entries are signed already (by the
    /// member's own signing system, or another member's) and may arrive before entries of
    /// other chains they follow, so like replicated entries they are never refused for
    /// custody: a hand-over without custody among them is recorded and reported as a
    /// violation.
    pub fn place_local<S: Store + ?Sized>(&mut self, store: &S, batch: CheckedBatch) -> Placement {
        let tips = |author: &MemberId| self.tip(author).map(|t| t.seq);
        if let Err(error) = frozen(store, &batch, tips) {
            return Placement::refused(error);
        }
        self.place(store, batch)
    }
}

/// The fork proof for an offered entry that conflicts with the stored one (none if the stored
/// one is not written yet).
fn fork_evidence<S: Store + ?Sized>(
    store: &S,
    position: Position,
    stored: EntryHash,
    offered: &SignedEntry,
) -> Result<Option<Row>, StoreError> {
    let Some(stored_entry) = store.entry(&stored)? else {
        return Ok(None);
    };
    let offered_hash = offered
        .hash()
        .map_err(|e| corrupted(format!("an accepted entry cannot be encoded: {e}")))?;
    let Ok(proof) = ForkProof::new(stored_entry, offered.clone()) else {
        return Ok(None);
    };
    let Ok(value) = codec::encode("fork proof", &proof) else {
        return Ok(None);
    };
    Ok(Some((fork_key(position, &offered_hash), value)))
}

/// The writes of one accepted entry: the entry, its chain position, every index, and its
/// private values.
fn entry_writes(writes: &mut Batch, position: Position, item: CheckedEntry) {
    let hash = item.entry.hash();
    writes.put(Cf::Entries, hash.as_bytes().to_vec(), item.bytes);
    writes.put(
        Cf::Chain,
        position.to_key().to_vec(),
        hash.as_bytes().to_vec(),
    );
    if let Some(private) = item.private {
        writes.put(Cf::Private, hash.as_bytes().to_vec(), private);
    }
    for reader in &item.readers {
        writes.put(Cf::Outbox, private::outbox_key(reader, &hash), Vec::new());
    }
    let Some(facts) = &item.facts else {
        return;
    };
    let time = facts.event_time;
    for product in &facts.products {
        if let Some(prefix) = string_prefix(product) {
            writes.put(
                Cf::ByProduct,
                index_key(&prefix, time, position),
                Vec::new(),
            );
        }
    }
    writes.put(
        Cf::ByKind,
        index_key(&[kind_code(facts.kind)], time, position),
        Vec::new(),
    );
    if let Some(prefix) = facts.biz_step.as_deref().and_then(string_prefix) {
        writes.put(
            Cf::ByBizStep,
            index_key(&prefix, time, position),
            Vec::new(),
        );
    }
    if let Some(prefix) = facts.disposition.as_deref().and_then(string_prefix) {
        writes.put(
            Cf::ByDisposition,
            index_key(&prefix, time, position),
            Vec::new(),
        );
    }
    writes.put(Cf::ByTime, index_key(&[], time, position), Vec::new());
    if let Some(id) = &facts.event_id {
        writes.put(
            Cf::ByEventId,
            index_key(&event_id_prefix(id), time, position),
            Vec::new(),
        );
    }
}

/// An entry placed earlier in the same request: author, sequence number, committed private
/// fields.
type PlacedEntry = (MemberId, u64, Option<Vec<FieldName>>);

/// The stored entry a purge names, as [`PlacedEntry`].
fn purged_entry<S: Store + ?Sized>(
    store: &S,
    hash: &EntryHash,
) -> Result<Option<PlacedEntry>, StoreError> {
    Ok(store.entry(hash)?.map(|entry| {
        let body = entry.body;
        (body.author, body.seq, body.private.map(|p| p.fields))
    }))
}

impl PreparedEvents {
    /// Whether it holds a hand-over: signing it needs the custody rule, which reads what the
    /// store holds, so it is placed after everything before it is written.
    pub fn hands_over(&self) -> bool {
        self.events.iter().any(|e| is_hand_over(&e.body.payload))
    }
}

fn is_hand_over(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Event {
            kind: EventKind::HandOver { .. },
            ..
        }
    )
}

/// Refuses the entries of `batch` that would extend a chain a fork proof froze: at or after
/// its fork point and past the stored tip (`tip` of an author). An entry sent again that is
/// stored already is left to placement, which acknowledges it as a duplicate.
fn frozen<S: Store + ?Sized>(
    store: &S,
    batch: &CheckedBatch,
    tip: impl Fn(&MemberId) -> Option<u64>,
) -> Result<(), IngestError> {
    let forks = fork_points(store)?;
    if forks.is_empty() {
        return Ok(());
    }
    let rejections: Vec<Rejection> = batch
        .entries
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let body = item.entry.body();
            let fork_at = forks.of_chain(&body.author).filter(|at| body.seq >= *at)?;
            if tip(&body.author).is_some_and(|stored| body.seq <= stored) {
                return None;
            }
            Some(Rejection {
                index,
                problem: Problem::Frozen {
                    author: body.author.clone(),
                    seq: body.seq,
                    fork_at,
                },
            })
        })
        .collect();
    if rejections.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Rejected(rejections))
    }
}

/// The custody rule ([`tally_sdk::placement::hand_over_refusal`]) for the hand-overs the
/// node signs for its `member` in `batch`, against what the store holds about each item and
/// the batch's entries before it (a receipt earlier in the request gives custody to hand on
/// later in it). The writer calls it with nothing of its group unwritten, so no two requests
/// pass it on one state.
fn custody<S: Store + ?Sized>(
    store: &S,
    member: &MemberId,
    batch: &CheckedBatch,
) -> Result<(), IngestError> {
    let mut rejections = Vec::new();
    let mut earlier: Vec<Recorded> = Vec::new();
    for (index, item) in batch.entries.iter().enumerate() {
        let body = item.entry.body();
        let record = match Recorded::read(item.entry.hash(), item.entry.signed(), false) {
            Ok(Some(record)) => record,
            // Purges, and events the verifier read already: nothing about custody.
            Ok(None) | Err(_) => continue,
        };
        if let (true, EventKind::HandOver { to }) = (&body.author == member, &record.kind) {
            for product in &record.event.products {
                let mut records = match gather(store, product) {
                    Ok(entries) => entries
                        .iter()
                        .filter_map(|(hash, entry)| Recorded::read(*hash, entry, false).ok())
                        .flatten()
                        .collect::<Vec<_>>(),
                    Err(ProductError::Store(e)) => return Err(IngestError::Store(e)),
                    Err(other) => {
                        rejections.push(Rejection {
                            index,
                            problem: Problem::Custody(format!(
                                "cannot check custody of {product}: {other}"
                            )),
                        });
                        break;
                    }
                };
                records.extend(earlier.iter().filter(|r| r.is_about(product)).cloned());
                if let Some(why) =
                    hand_over_refusal(&records, product, member, to, record.event.event_time)
                {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Custody(why),
                    });
                    break;
                }
            }
        }
        earlier.push(record);
    }
    if rejections.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Rejected(rejections))
    }
}

/// The SDK's purge-target rule ([`tally_sdk::placement::purge_target_refusal`]).
/// `pending`: the entry is in the group being written, so only its chain is known.
fn check_purge_target(
    order: &PurgeOrder,
    purge: &UnsignedEntry,
    target: Option<PlacedEntry>,
    pending: bool,
) -> Result<(), String> {
    if target.is_none() && pending {
        return Ok(());
    }
    let found = target.map(|(author, seq, fields)| PurgeTarget {
        author,
        seq,
        fields: fields.unwrap_or_default(),
    });
    match purge_target_refusal(
        &purge.author,
        purge.seq,
        &order.target,
        &order.fields,
        found.as_ref(),
    ) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
