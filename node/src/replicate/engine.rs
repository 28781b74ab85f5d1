//! The replication logic without IO: it takes inputs (peers coming and going, messages,
//! ingestion results, the time) and returns outputs (messages to send, entries to ingest,
//! verdicts, bans). The network shell feeds it real libp2p events; the simulation in
//! `node/tests/replication.rs` feeds it a whole network in one process, deterministically,
//! from a seed.
//!
//! What it does:
//! - **Heads**: asks each connected peer for its chain heads when it connects and then every
//!   [`EngineConfig::heads_interval_ms`] (with jitter), and answers such requests from what the
//!   node has stored.
//! - **Pull**: for each chain where a peer holds more than this node, asks one peer (chosen at
//!   random among those that have it) for the next range, one range per chain at a time, at
//!   most [`EngineConfig::max_in_flight`] requests per peer, each with a deadline; the next
//!   range is asked for as soon as one arrives, so catching up is pipelined.
//! - **Gossip**: batches the node's own new entries into one message per
//!   [`EngineConfig::flush_ms`] (or [`EngineConfig::flush_entries`]).
//! - **Ingest**: entries from peers wait in a per-chain buffer and go to the node's pipeline
//!   (the same verification as every other input) as contiguous runs that extend the stored
//!   chain, one request per chain at a time. Each chain has an equal share of the buffer, in
//!   entries and in bytes; a gossiped entry further than [`EngineConfig::gossip_window`] past
//!   the tip is not kept, and when a chain's share is full the entries furthest ahead give way
//!   to nearer ones. So entries that may never link (a member gossiping far ahead) can neither
//!   fill memory nor stall any chain, and those that get near enough are checked and blamed on
//!   whoever published them.
//! - **Forks**: an entry at the place of the last stored entry of its chain but with another
//!   hash, a peer's head with another hash at the same place or at a place below the stored
//!   tip (the shell compares those with the store: [`Output::CompareHead`]), or a range that
//!   does not link to the stored chain, is a suspected fork. The suspect entry (fetched from
//!   the peer when only its hash is known) goes to the pipeline alone; if the pipeline finds
//!   the author signed two entries at one place, it stores the fork proof, and the engine
//!   freezes the author's chain from that place on this node (quarantine: nothing from the
//!   fork point on is fetched or accepted; nothing stored is deleted).
//! - **Fork evidence reaches every node**: each heads answer also lists the chains the node
//!   holds as forked and where; a node that holds no fork proof of such a chain as early pulls
//!   the proof ([`SyncRequest::Fork`]) and hands it to the node to check and store
//!   ([`Output::RecordFork`]). A node that was offline when the fork was found, or is already
//!   past the fork point, thus learns of it within one heads round of meeting any node that
//!   knows; a peer that advertises a fork it cannot prove is blamed.
//! - **Offences**: a peer that sends malformed messages, invalid entries, or answers that do not
//!   match the request is scored; past [`EngineConfig::ban_threshold`] it is banned for
//!   [`EngineConfig::ban_ms`]. Nothing a peer sends can make the engine wait forever: every
//!   request has a deadline and every buffer a bound.
//!
//! Everything is ordered (`BTreeMap`) and every random choice comes from the seeded
//! [`SplitMix64`], so the same inputs give the same outputs.

use std::collections::{BTreeMap, BTreeSet};

use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;

use tally_sdk::fork::ForkProof;

use super::wire::{ForkPoint, GossipBatch, HeadInfo, SyncRequest, SyncResponse};

/// How the engine paces itself and what it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// How often each peer is asked for its heads.
    pub heads_interval_ms: u64,
    /// How long a request may go unanswered.
    pub request_timeout_ms: u64,
    /// Most entries asked for in one range.
    pub range_limit: u32,
    /// Most requests in flight to one peer.
    pub max_in_flight: usize,
    /// Most entries waiting in the buffer, all chains together; each chain has an equal
    /// share, so that no chain's entries can crowd out another's.
    pub max_buffered: usize,
    /// Most bytes of entries (canonical encoding) waiting in the buffer, all chains
    /// together, shared alike.
    pub max_buffered_bytes: usize,
    /// How far past a chain's stored tip a gossiped entry may be and still be kept; further
    /// ones are dropped unchecked (sync pulls them when the chain gets there).
    pub gossip_window: u64,
    /// Most entries in one ingest request.
    pub max_ingest: usize,
    /// Most ingest requests in flight (one per chain at most).
    pub max_ingesting: usize,
    /// How long the node's own entries wait to be gossiped together.
    pub flush_ms: u64,
    /// How many of the node's own entries make a gossip message at once.
    pub flush_entries: usize,
    /// Score at which a peer is banned.
    pub ban_threshold: u32,
    /// How long a ban lasts.
    pub ban_ms: u64,
    /// Every this long, each peer's offence score drops by one (so that rare mishaps of an
    /// honest peer do not add up to a ban over months).
    pub forgive_ms: u64,
    /// How long an entry refused for a time reason (ahead of the clock) waits to be retried.
    pub retry_ms: u64,
    /// How long a gossip message may wait for its verdict before it is ignored.
    pub verdict_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            heads_interval_ms: 2_000,
            request_timeout_ms: 10_000,
            range_limit: 2_000,
            max_in_flight: 2,
            max_buffered: 100_000,
            max_buffered_bytes: 256 << 20,
            gossip_window: 4_000,
            max_ingest: 2_000,
            max_ingesting: 4,
            flush_ms: 10,
            flush_entries: 1_000,
            ban_threshold: 10,
            ban_ms: 60_000,
            forgive_ms: 60_000,
            retry_ms: 1_000,
            verdict_ms: 2_000,
        }
    }
}

/// Identifies a request this node sent.
pub type RequestId = u64;
/// Identifies a request a peer sent, to answer it.
pub type ReplyToken = u64;
/// Identifies a gossip message received, to give its verdict.
pub type GossipToken = u64;
/// Identifies an ingest request.
pub type Ticket = u64;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; `now` is milliseconds on any monotonic clock.
    Tick {
        /// Now.
        now: u64,
    },
    /// A connection to a member's node is up.
    PeerUp {
        /// The member.
        peer: MemberId,
    },
    /// The last connection to a member's node is down.
    PeerDown {
        /// The member.
        peer: MemberId,
    },
    /// A gossip message arrived (`None`: it did not decode).
    Gossip {
        /// The peer that passed it on.
        from: MemberId,
        /// The member whose node published it (gossipsub signs the source), blamed for bad
        /// entries in it: a relay passes on a message whose entries it held already without
        /// checking them again, so it is not the one to blame.
        origin: MemberId,
        /// To give the verdict with.
        token: GossipToken,
        /// The batch.
        batch: Option<GossipBatch>,
    },
    /// A peer asks something (`None`: the request did not decode).
    Request {
        /// The peer.
        from: MemberId,
        /// To answer with.
        token: ReplyToken,
        /// The request.
        request: Option<SyncRequest>,
    },
    /// A peer answered (`None`: the answer did not decode).
    Response {
        /// The peer.
        from: MemberId,
        /// The request answered.
        id: RequestId,
        /// The answer.
        response: Option<SyncResponse>,
    },
    /// A request failed (timeout, connection closed).
    RequestFailed {
        /// The peer.
        to: MemberId,
        /// The request.
        id: RequestId,
    },
    /// The node stored entries (from any source): its new heads, and its own new entries to
    /// gossip.
    Committed {
        /// The heads that moved.
        heads: Vec<HeadInfo>,
        /// The node's own new entries.
        own: Vec<SignedEntry>,
    },
    /// The node stored a fork proof (found by any path: an entry from a peer or one posted to
    /// the API that conflicts with the stored one).
    ForkRecorded {
        /// The member that signed two entries at one place.
        author: MemberId,
        /// The place.
        seq: u64,
    },
    /// The node's entry at `seq` of `author`'s chain differs from the one a peer reported as
    /// its head (the answer to an [`Output::CompareHead`]): the peer's entry is fetched and
    /// checked as a possible fork.
    HeadDiffers {
        /// The peer.
        peer: MemberId,
        /// The chain.
        author: MemberId,
        /// The place.
        seq: u64,
    },
    /// A peer sent something invalid that the shell checked itself (a checkpoint, a fork
    /// proof): it counts as an offence like an invalid entry.
    Misbehaved {
        /// The peer.
        peer: MemberId,
    },
    /// The answer to an [`Output::Ingest`].
    IngestDone {
        /// The request.
        ticket: Ticket,
        /// What became of it.
        outcome: IngestOutcome,
    },
}

/// What became of an ingest request (the node's pipeline stores all of a request or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Every entry is stored (or was already).
    Stored,
    /// The entry at `index` was refused, so nothing was stored.
    Refused {
        /// Its place in the request.
        index: usize,
        /// Why, as far as replication cares.
        fault: Fault,
    },
    /// The node could not store the request (storage failing, shutting down): try later.
    Failed,
}

/// Why an entry from a peer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It breaks a rule (signature, permission, shape...): whoever sent it misbehaved.
    Invalid,
    /// It does not extend the stored chain (another history, or a broken link).
    Unlinked,
    /// It is valid but not yet acceptable (timestamped ahead of this node's clock).
    NotYet,
    /// Its author signed another entry at its place: the pipeline kept the stored one and
    /// recorded the fork proof. Not the sender's fault.
    Fork,
    /// Whether it is valid depends on membership changes this node and the sender may not
    /// share yet (an author this node does not know, or removed before the entry's place, or
    /// a key rotated out before it): dropped without blame, and the sender's claim to hold
    /// more of that chain is forgotten until its next heads.
    Membership,
}

/// Gossip verdicts (what gossipsub does with the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid: pass it on.
    Accept,
    /// Invalid: drop it and hold it against its sender.
    Reject,
    /// Drop it without blame.
    Ignore,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a request.
    Send {
        /// The peer.
        to: MemberId,
        /// The request's id, for its answer.
        id: RequestId,
        /// The request.
        request: SyncRequest,
    },
    /// Answer a peer's request.
    Reply {
        /// The request.
        token: ReplyToken,
        /// The answer.
        response: SyncResponse,
    },
    /// Answer a peer's request with `author`'s stored entries from `from`, at most `limit`
    /// (read from the store by the shell).
    ServeRange {
        /// The request.
        token: ReplyToken,
        /// The chain.
        author: MemberId,
        /// The first sequence number.
        from: u64,
        /// The most entries.
        limit: u32,
    },
    /// Gossip a batch to every node.
    Publish(GossipBatch),
    /// The verdict on a gossip message.
    Verdict {
        /// The message.
        token: GossipToken,
        /// The verdict.
        acceptance: Acceptance,
    },
    /// Verify and store entries through the node's pipeline; answer with
    /// [`Input::IngestDone`].
    Ingest {
        /// The request.
        ticket: Ticket,
        /// Consecutive entries of one chain, extending what is stored.
        entries: Vec<SignedEntry>,
    },
    /// Stop talking to a peer until `until`.
    Ban {
        /// The peer.
        peer: MemberId,
        /// Until when.
        until: u64,
    },
    /// A ban is over.
    Unban {
        /// The peer.
        peer: MemberId,
    },
    /// Answer a peer's request for the fork proof of `author`'s chain (the earliest the store
    /// holds) with [`SyncResponse::Fork`], or [`SyncResponse::Refused`] if none.
    ServeFork {
        /// To answer with.
        token: ReplyToken,
        /// The chain.
        author: MemberId,
    },
    /// Check a fork proof a peer sent and store it; if it does not hold, answer with
    /// [`Input::Misbehaved`] (the node's writer tells [`Input::ForkRecorded`] once it is
    /// stored).
    RecordFork {
        /// The peer that sent it.
        from: MemberId,
        /// The proof.
        proof: Box<ForkProof>,
    },
    /// A peer reported `head` as its last entry of a chain where the node holds more: compare
    /// it with the node's entry at that place, and answer [`Input::HeadDiffers`] if they
    /// differ.
    CompareHead {
        /// The peer.
        peer: MemberId,
        /// Its head.
        head: HeadInfo,
    },
    /// `author` signed two different entries at `seq`: the node stored the fork proof (said
    /// when the chain freezes, or its fork point moves earlier).
    ForkFound {
        /// The member that signed both.
        author: MemberId,
        /// The place.
        seq: u64,
    },
    /// The node holds its own chain as far as the first peer that answered (and every peer
    /// since) holds it: it may sign new entries without forking its own history (said once).
    OwnChainCaughtUp,
}

/// A small, stable pseudo-random generator (SplitMix64): the engine's choices must not change
/// with a dependency's version, or simulations would not replay.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 if `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

/// Offence weights: how much each kind of misbehaviour counts towards a ban.
const MALFORMED: u32 = 5;
const INVALID_ENTRY: u32 = 5;
const WRONG_ANSWER: u32 = 3;
const UNLINKED_ENTRY: u32 = 1;

/// Most suspected fork entries waiting to be checked, and most bytes of them.
const MAX_SUSPECTS: usize = 64;
const MAX_SUSPECT_BYTES: usize = 16 << 20;

/// What became of an entry offered to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    New,
    /// Stored, being ingested or waiting already; or after the fork of a frozen chain.
    Known,
    /// At the place of the stored tip, with another hash: checked alone as a possible fork.
    Suspect,
    NoRoom,
}

#[derive(Debug, Clone)]
struct Buffered {
    entry: SignedEntry,
    /// Its canonical encoding's length.
    bytes: usize,
    from: MemberId,
    /// Who answers for it: the peer that sent a range, or the member that published a
    /// gossip message.
    blame: MemberId,
    token: Option<GossipToken>,
}

/// A chain's entries waiting to be ingested, by sequence number, with their total size.
#[derive(Debug, Default)]
struct Waiting {
    entries: BTreeMap<u64, Buffered>,
    bytes: usize,
}

impl Waiting {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn contains_key(&self, seq: &u64) -> bool {
        self.entries.contains_key(seq)
    }

    fn get(&self, seq: &u64) -> Option<&Buffered> {
        self.entries.get(seq)
    }

    fn insert(&mut self, seq: u64, buffered: Buffered) {
        self.bytes += buffered.bytes;
        if let Some(old) = self.entries.insert(seq, buffered) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
    }

    fn remove(&mut self, seq: &u64) -> Option<Buffered> {
        let removed = self.entries.remove(seq)?;
        self.bytes = self.bytes.saturating_sub(removed.bytes);
        Some(removed)
    }

    /// Drops the entries up to `seq` (stored now).
    fn drop_through(&mut self, seq: u64) {
        let rest = match seq.checked_add(1) {
            Some(next) => self.entries.split_off(&next),
            None => BTreeMap::new(),
        };
        for buffered in std::mem::replace(&mut self.entries, rest).values() {
            self.bytes = self.bytes.saturating_sub(buffered.bytes);
        }
    }

    /// Drops the entries from `seq` on.
    fn drop_from(&mut self, seq: u64) {
        for buffered in self.entries.split_off(&seq).values() {
            self.bytes = self.bytes.saturating_sub(buffered.bytes);
        }
    }

    /// Drops the entry furthest ahead if it is past `seq`; whether one was dropped.
    fn evict_past(&mut self, seq: u64) -> bool {
        match self.entries.last_key_value() {
            Some((&last, _)) if last > seq => self.remove(&last).is_some(),
            _ => false,
        }
    }
}

#[derive(Debug, Default)]
struct Chain {
    /// The last stored entry's sequence number (`None`: nothing stored).
    stored: Option<u64>,
    /// Entries after `stored`, waiting.
    waiting: Waiting,
    /// The ingest request in flight, if any, and the last sequence number in it.
    ingesting: Option<(Ticket, u64)>,
    /// The range request in flight, if any.
    wanted: Option<RequestId>,
    /// Entries from this sequence number are not ingested before this time (after a "not
    /// yet" or a failed store).
    hold: Option<(u64, u64)>,
    /// The author signed two entries at this place (the earliest known): nothing of this
    /// chain from here on is taken.
    fork_at: Option<u64>,
}

impl Chain {
    /// The sequence number the next ingest request must start with.
    fn next_seq(&self) -> u64 {
        self.stored.map_or(0, |s| s + 1)
    }

    /// The first sequence number not stored, not being ingested and not waiting in a run
    /// after those: where the next range starts.
    fn next_unknown(&self) -> u64 {
        let mut next = self.next_seq();
        if let Some((_, last)) = self.ingesting {
            next = next.max(last + 1);
        }
        while self.waiting.contains_key(&next) {
            next += 1;
        }
        next
    }

    /// Whether `seq` is at or after the chain's fork point.
    fn frozen_at(&self, seq: u64) -> bool {
        self.fork_at.is_some_and(|at| seq >= at)
    }

    /// Whether an entry at `seq` is stored, being ingested or waiting already.
    fn has(&self, seq: u64) -> bool {
        seq < self.next_seq()
            || self.ingesting.is_some_and(|(_, last)| seq <= last)
            || self.waiting.contains_key(&seq)
    }
}

#[derive(Debug, Default)]
struct Peer {
    connected: bool,
    heads: BTreeMap<MemberId, u64>,
    /// The heads below the node's tips it reported last, compared with the store already.
    compared: BTreeMap<MemberId, HeadInfo>,
    /// It answered with its heads since it connected.
    answered: bool,
    /// It claimed more of this node's own chain than it would send (until it reconnects).
    discredited: bool,
    in_flight: usize,
    score: u32,
    banned_until: Option<u64>,
    next_heads: u64,
}

impl Peer {
    fn usable(&self) -> bool {
        self.connected && self.banned_until.is_none()
    }
}

#[derive(Debug)]
enum Pending {
    Heads,
    Range {
        author: MemberId,
        from: u64,
        limit: u32,
    },
    /// The peer's entry at `seq`, which may be a fork of the stored one.
    Probe {
        author: MemberId,
        seq: u64,
    },
    /// The peer's fork proof of `author`'s chain, which it said forked at `seq`.
    Fork {
        author: MemberId,
        seq: u64,
    },
}

#[derive(Debug)]
struct Sent {
    to: MemberId,
    what: Pending,
    deadline: u64,
}

#[derive(Debug)]
struct InFlightIngest {
    author: MemberId,
    entries: Vec<Buffered>,
    /// A suspected fork checked alone (it does not extend the chain).
    probe: bool,
}

#[derive(Debug)]
struct Verdicts {
    /// The entries (author, seq) the message brought that are not stored yet.
    open: BTreeSet<(MemberId, u64)>,
    deadline: u64,
}

/// The replication engine of one node.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    now: u64,
    rng: SplitMix64,
    chains: BTreeMap<MemberId, Chain>,
    peers: BTreeMap<MemberId, Peer>,
    heads: BTreeMap<MemberId, HeadInfo>,
    sent: BTreeMap<RequestId, Sent>,
    next_id: u64,
    ingesting: BTreeMap<Ticket, InFlightIngest>,
    /// Each chain's share of the buffer: entries and bytes.
    share: (usize, usize),
    outbox: Vec<SignedEntry>,
    outbox_since: u64,
    verdicts: BTreeMap<GossipToken, Verdicts>,
    suspects: BTreeMap<(MemberId, u64), Buffered>,
    forgiven_at: u64,
    me: MemberId,
    /// [`Output::OwnChainCaughtUp`] was said (or there is no peer to ask).
    own_caught_up: bool,
}

impl Engine {
    /// The engine of `me`'s node in a consortium of `members`, whose store holds `stored`.
    /// Every chain is pulled from peers, `me`'s own too: a node restored from a backup gets
    /// back what it wrote after the backup.
    pub fn new(
        config: EngineConfig,
        me: MemberId,
        members: impl IntoIterator<Item = MemberId>,
        stored: Vec<HeadInfo>,
        seed: u64,
    ) -> Self {
        let mut chains = BTreeMap::new();
        let mut peers = BTreeMap::new();
        for member in members {
            chains.insert(member.clone(), Chain::default());
            if member != me {
                peers.insert(member, Peer::default());
            }
        }
        let alone = peers.is_empty();
        let count = chains.len().max(1);
        let share = (
            (config.max_buffered / count).max(1),
            (config.max_buffered_bytes / count).max(1),
        );
        let mut engine = Self {
            config,
            now: 0,
            rng: SplitMix64::new(seed),
            chains,
            peers,
            heads: BTreeMap::new(),
            sent: BTreeMap::new(),
            next_id: 0,
            ingesting: BTreeMap::new(),
            share,
            outbox: Vec::new(),
            outbox_since: 0,
            verdicts: BTreeMap::new(),
            suspects: BTreeMap::new(),
            forgiven_at: 0,
            own_caught_up: alone,
            me,
        };
        for head in stored {
            engine.stored(head);
        }
        engine
    }

    /// Keeps `member`'s chain in sync from now on (a governance change admitted it; a member
    /// followed already is left as it is).
    pub fn follow_chain(&mut self, member: &MemberId) {
        if self.chains.contains_key(member) {
            return;
        }
        self.chains.insert(member.clone(), Chain::default());
        if *member != self.me {
            self.peers.insert(member.clone(), Peer::default());
        }
        let count = self.chains.len().max(1);
        self.share = (
            (self.config.max_buffered / count).max(1),
            (self.config.max_buffered_bytes / count).max(1),
        );
    }

    /// The heads the node has stored, as far as the engine knows.
    pub fn heads(&self) -> Vec<HeadInfo> {
        self.heads.values().cloned().collect()
    }

    /// Entries waiting in the buffer.
    pub fn buffered(&self) -> usize {
        self.chains.values().map(|c| c.waiting.len()).sum()
    }

    /// Bytes of entries waiting in the buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.chains.values().map(|c| c.waiting.bytes).sum()
    }

    /// Whether the node holds its own chain as far as its peers do
    /// ([`Output::OwnChainCaughtUp`] was said, or there is no peer).
    pub fn own_chain_caught_up(&self) -> bool {
        self.own_caught_up
    }

    /// The members this node found signing two entries at one place (their chains are frozen
    /// here).
    pub fn forked(&self) -> Vec<MemberId> {
        self.forks().into_iter().map(|f| f.author).collect()
    }

    /// The chains this node holds as forked, and from where.
    pub fn forks(&self) -> Vec<ForkPoint> {
        self.chains
            .iter()
            .filter_map(|(author, c)| {
                c.fork_at.map(|seq| ForkPoint {
                    author: author.clone(),
                    seq,
                })
            })
            .collect()
    }

    /// Whether a peer is banned now.
    pub fn is_banned(&self, peer: &MemberId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.banned_until.is_some())
    }

    /// Handles one input; appends what to do to `out`.
    pub fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Tick { now } => self.tick(now, out),
            Input::PeerUp { peer } => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.connected = true;
                    state.next_heads = self.now;
                }
            }
            Input::PeerDown { peer } => self.peer_down(&peer),
            Input::Gossip {
                from,
                origin,
                token,
                batch,
            } => self.gossip(from, origin, token, batch, out),
            Input::Request {
                from,
                token,
                request,
            } => self.request(&from, token, request, out),
            Input::Response { from, id, response } => self.response(&from, id, response, out),
            Input::RequestFailed { to, id } => {
                if let Some(sent) = self.sent.remove(&id)
                    && sent.to == to
                {
                    self.forget(&sent);
                }
            }
            Input::Committed { heads, own } => {
                for head in heads {
                    self.stored(head);
                }
                if self.outbox.is_empty() {
                    self.outbox_since = self.now;
                }
                self.outbox.extend(own);
            }
            Input::IngestDone { ticket, outcome } => self.ingest_done(ticket, outcome, out),
            Input::ForkRecorded { author, seq } => self.fork_found(author, seq, out),
            Input::HeadDiffers { peer, author, seq } => self.probe(peer, author, seq, out),
            Input::Misbehaved { peer } => self.offence(&peer, INVALID_ENTRY, out),
        }
        self.pump(out);
        self.check_own_chain(out);
    }

    /// Says [`Output::OwnChainCaughtUp`] once a peer in good standing has answered with its
    /// heads and the node stores its own chain as far as every such peer reported it.
    ///
    /// A peer that claimed more of the node's own chain than it would send (an empty range, or
    /// `Refused`) is discredited until it reconnects: its claim neither holds the node back
    /// (a liar could keep it from signing forever) nor counts as an answer (alone, a liar
    /// would have it sign again before an honest peer gave back what it signed after its
    /// backup: a fork of its own chain). A banned peer does not count either.
    fn check_own_chain(&mut self, out: &mut Vec<Output>) {
        if self.own_caught_up {
            return;
        }
        let confirmers: Vec<&Peer> = self
            .peers
            .values()
            .filter(|p| p.usable() && p.answered && !p.discredited)
            .collect();
        if confirmers.is_empty() {
            return;
        }
        let target = confirmers
            .iter()
            .filter_map(|p| p.heads.get(&self.me).copied())
            .max();
        let stored = self.chains.get(&self.me).and_then(|c| c.stored);
        if target.is_none_or(|t| stored.is_some_and(|s| s >= t)) {
            self.own_caught_up = true;
            out.push(Output::OwnChainCaughtUp);
        }
    }

    fn tick(&mut self, now: u64, out: &mut Vec<Output>) {
        self.now = self.now.max(now);
        let now = self.now;
        let forgive_ms = self.config.forgive_ms.max(1);
        let steps = now.saturating_sub(self.forgiven_at) / forgive_ms;
        if steps > 0 {
            self.forgiven_at += steps * forgive_ms;
            let steps = u32::try_from(steps).unwrap_or(u32::MAX);
            for peer in self.peers.values_mut() {
                peer.score = peer.score.saturating_sub(steps);
            }
        }
        let expired: Vec<RequestId> = self
            .sent
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(sent) = self.sent.remove(&id) {
                self.forget(&sent);
            }
        }
        let late: Vec<GossipToken> = self
            .verdicts
            .iter()
            .filter(|(_, v)| v.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            self.verdicts.remove(&token);
            out.push(Output::Verdict {
                token,
                acceptance: Acceptance::Ignore,
            });
        }
        for (member, peer) in &mut self.peers {
            if peer.banned_until.is_some_and(|until| until <= now) {
                peer.banned_until = None;
                peer.score = 0;
                out.push(Output::Unban {
                    peer: member.clone(),
                });
            }
        }
        let interval = self.config.heads_interval_ms;
        let due: Vec<MemberId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.usable() && p.next_heads <= now)
            .map(|(m, _)| m.clone())
            .collect();
        for member in due {
            let jitter = self.rng.below(interval / 4 + 1);
            if let Some(peer) = self.peers.get_mut(&member) {
                peer.next_heads = now + interval + jitter;
            }
            self.send(member, Pending::Heads, SyncRequest::Heads, out);
        }
    }

    fn peer_down(&mut self, member: &MemberId) {
        if let Some(peer) = self.peers.get_mut(member) {
            peer.connected = false;
            peer.heads.clear();
            peer.compared.clear();
            peer.answered = false;
            peer.discredited = false;
        }
        let lost: Vec<RequestId> = self
            .sent
            .iter()
            .filter(|(_, s)| &s.to == member)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(sent) = self.sent.remove(&id) {
                self.forget(&sent);
            }
        }
    }

    /// A request is over without a useful answer: free its peer slot and its chain's want.
    fn forget(&mut self, sent: &Sent) {
        if let Some(peer) = self.peers.get_mut(&sent.to) {
            peer.in_flight = peer.in_flight.saturating_sub(1);
        }
        if let Pending::Range { author, .. } = &sent.what
            && let Some(chain) = self.chains.get_mut(author)
        {
            chain.wanted = None;
        }
    }

    fn offence(&mut self, member: &MemberId, weight: u32, out: &mut Vec<Output>) {
        let now = self.now;
        let (threshold, ban_ms) = (self.config.ban_threshold, self.config.ban_ms);
        let Some(peer) = self.peers.get_mut(member) else {
            return;
        };
        peer.score = peer.score.saturating_add(weight);
        if peer.score >= threshold && peer.banned_until.is_none() {
            let until = now + ban_ms;
            peer.banned_until = Some(until);
            out.push(Output::Ban {
                peer: member.clone(),
                until,
            });
            self.peer_down(member);
        }
    }

    fn stored(&mut self, head: HeadInfo) {
        let Some(chain) = self.chains.get_mut(&head.author) else {
            return;
        };
        if chain.stored.is_some_and(|s| s >= head.seq) {
            return;
        }
        chain.stored = Some(head.seq);
        chain.waiting.drop_through(head.seq);
        let author = head.author.clone();
        self.heads.insert(author.clone(), head.clone());
        // Gossip messages whose entries are now all stored are good.
        for verdict in self.verdicts.values_mut() {
            verdict
                .open
                .retain(|(a, seq)| !(a == &author && *seq <= head.seq));
        }
    }

    fn gossip(
        &mut self,
        from: MemberId,
        origin: MemberId,
        token: GossipToken,
        batch: Option<GossipBatch>,
        out: &mut Vec<Output>,
    ) {
        let usable = self.peers.get(&from).is_some_and(Peer::usable);
        let Some(batch) = batch.filter(|_| usable) else {
            out.push(Output::Verdict {
                token,
                acceptance: if usable {
                    Acceptance::Reject
                } else {
                    Acceptance::Ignore
                },
            });
            if usable {
                self.offence(&from, MALFORMED, out);
            }
            return;
        };
        let mut open = BTreeSet::new();
        let mut no_room = false;
        for entry in batch.entries {
            let author = entry.body.author.clone();
            let seq = entry.body.seq;
            if !self.chains.contains_key(&author) {
                out.push(Output::Verdict {
                    token,
                    acceptance: Acceptance::Reject,
                });
                self.offence(&from, INVALID_ENTRY, out);
                return;
            }
            match self.keep(entry, &from, &origin, Some(token)) {
                Kept::New => {
                    open.insert((author, seq));
                }
                Kept::Known | Kept::Suspect => {}
                Kept::NoRoom => no_room = true,
            }
        }
        if open.is_empty() || no_room {
            // Nothing new was checked here (all known, or no room to check it): do not pass
            // on what this node has not verified. The entries kept are still ingested.
            out.push(Output::Verdict {
                token,
                acceptance: Acceptance::Ignore,
            });
        } else {
            self.verdicts.insert(
                token,
                Verdicts {
                    open,
                    deadline: self.now + self.config.verdict_ms,
                },
            );
        }
    }

    /// Puts an entry in the buffer if it is new and there is room; `blame` answers for it if
    /// it turns out bad.
    fn keep(
        &mut self,
        entry: SignedEntry,
        from: &MemberId,
        blame: &MemberId,
        token: Option<GossipToken>,
    ) -> Kept {
        let author = entry.body.author.clone();
        let seq = entry.body.seq;
        let Some(chain) = self.chains.get(&author) else {
            return Kept::Known;
        };
        let (held, forked) = (chain.has(seq), chain.frozen_at(seq));
        if held && !forked && chain.stored.is_none_or(|s| seq >= s) {
            // Held already, unless it is another entry at that place: then it is checked alone,
            // as a possible fork (entries below the stored tip are not compared here; a range
            // that does not link finds those).
            let ours = self.held_hash(&author, seq);
            if ours.is_some_and(|h| entry.hash().is_ok_and(|e| e != h)) {
                self.suspect(entry, from, blame, token);
                return Kept::Suspect;
            }
        }
        if held || forked {
            return Kept::Known;
        }
        if token.is_some() && seq >= chain.next_seq().saturating_add(self.config.gossip_window) {
            return Kept::NoRoom;
        }
        let Ok(bytes) = tally_sdk::codec::encoded_len("entry", &entry) else {
            return Kept::NoRoom;
        };
        let (max_entries, max_bytes) = self.share;
        let Some(chain) = self.chains.get_mut(&author) else {
            return Kept::Known;
        };
        // The entries furthest ahead give way to nearer ones: those are needed first.
        while chain.waiting.len() >= max_entries || chain.waiting.bytes + bytes > max_bytes {
            if !chain.waiting.evict_past(seq) {
                return Kept::NoRoom;
            }
        }
        chain.waiting.insert(
            seq,
            Buffered {
                entry,
                bytes,
                from: from.clone(),
                blame: blame.clone(),
                token,
            },
        );
        Kept::New
    }

    /// Queues an entry to be checked alone as a possible fork of the stored chain (if there
    /// is room, and none at that place waits already).
    fn suspect(
        &mut self,
        entry: SignedEntry,
        from: &MemberId,
        blame: &MemberId,
        token: Option<GossipToken>,
    ) {
        let key = (entry.body.author.clone(), entry.body.seq);
        let Ok(bytes) = tally_sdk::codec::encoded_len("entry", &entry) else {
            return;
        };
        let held: usize = self.suspects.values().map(|b| b.bytes).sum();
        if self.suspects.len() < MAX_SUSPECTS
            && held + bytes <= MAX_SUSPECT_BYTES
            && !self.suspects.contains_key(&key)
        {
            self.suspects.insert(
                key,
                Buffered {
                    entry,
                    bytes,
                    from: from.clone(),
                    blame: blame.clone(),
                    token,
                },
            );
        }
    }

    fn request(
        &mut self,
        from: &MemberId,
        token: ReplyToken,
        request: Option<SyncRequest>,
        out: &mut Vec<Output>,
    ) {
        if !self.peers.get(from).is_some_and(Peer::usable) {
            out.push(Output::Reply {
                token,
                response: SyncResponse::Refused,
            });
            return;
        }
        match request {
            Some(SyncRequest::Heads) => out.push(Output::Reply {
                token,
                response: SyncResponse::Heads {
                    heads: self.heads(),
                    forks: self.forks(),
                },
            }),
            Some(SyncRequest::Fork { author }) if self.chains.contains_key(&author) => {
                out.push(Output::ServeFork { token, author });
            }
            Some(SyncRequest::Range {
                author,
                from: first,
                limit,
            }) if self.chains.contains_key(&author) => out.push(Output::ServeRange {
                token,
                author,
                from: first,
                limit: limit.min(self.config.range_limit),
            }),
            _ => {
                out.push(Output::Reply {
                    token,
                    response: SyncResponse::Refused,
                });
                self.offence(from, MALFORMED, out);
            }
        }
    }

    fn response(
        &mut self,
        from: &MemberId,
        id: RequestId,
        response: Option<SyncResponse>,
        out: &mut Vec<Output>,
    ) {
        let Some(sent) = self.sent.remove(&id) else {
            return;
        };
        if &sent.to != from {
            self.sent.insert(id, sent);
            return;
        }
        self.forget(&sent);
        match (sent.what, response) {
            (Pending::Heads, Some(SyncResponse::Heads { heads, forks })) => {
                self.heads_answer(from, heads, out);
                self.forks_answer(from, forks, out);
            }
            (Pending::Fork { author, seq }, Some(SyncResponse::Fork(proof))) => {
                // A proof of an earlier place than advertised is as good (the peer may have
                // found it since).
                let (first, second) = (&proof.first.body, &proof.second.body);
                let matches = first.author == author
                    && second.author == author
                    && first.seq <= seq
                    && second.seq == first.seq;
                if !matches {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                out.push(Output::RecordFork {
                    from: from.clone(),
                    proof,
                });
            }
            (Pending::Probe { author, seq }, Some(SyncResponse::Range(entries))) => {
                if entries.len() > 1
                    || entries
                        .iter()
                        .any(|e| e.body.author != author || e.body.seq != seq)
                {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                // Asked for because it may differ from ours, below the tip too: the pipeline
                // compares it with the stored entry.
                for entry in entries {
                    self.suspect(entry, from, from, None);
                }
            }
            (
                Pending::Range {
                    author,
                    from: first,
                    limit,
                },
                Some(SyncResponse::Range(entries)),
            ) => {
                let well_formed = entries.len() <= limit as usize
                    && entries
                        .iter()
                        .zip(first..)
                        .all(|(entry, seq)| entry.body.author == author && entry.body.seq == seq);
                if !well_formed {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                if entries.is_empty() {
                    // It has less than it said: ask it for its heads again before trusting them.
                    let me = author == self.me;
                    if let Some(peer) = self.peers.get_mut(from) {
                        peer.heads.remove(&author);
                        peer.discredited |= me;
                    }
                }
                for entry in entries {
                    self.keep(entry, from, from, None);
                }
            }
            // A peer that will not send a range of a chain it claimed to hold loses that
            // claim, as one that sends nothing does: otherwise it could claim a higher head
            // of this node's own chain and refuse every request, keeping a restored node from
            // ever signing again.
            (Pending::Range { author, .. }, Some(SyncResponse::Refused)) => {
                let me = author == self.me;
                if let Some(peer) = self.peers.get_mut(from) {
                    peer.discredited |= me;
                    peer.heads.remove(&author);
                }
            }
            (_, Some(SyncResponse::Refused)) => {}
            _ => self.offence(from, WRONG_ANSWER, out),
        }
    }

    /// A peer's heads: what it may be asked for, and where its history may differ from ours.
    fn heads_answer(&mut self, from: &MemberId, heads: Vec<HeadInfo>, out: &mut Vec<Output>) {
        let mut known = BTreeMap::new();
        let mut below = Vec::new();
        for head in heads {
            let Some(chain) = self.chains.get(&head.author) else {
                continue;
            };
            if !chain.frozen_at(head.seq) {
                let ours = self.heads.get(&head.author).map(|h| h.hash);
                if chain.stored == Some(head.seq) && ours.is_some_and(|h| h != head.hash) {
                    self.probe(from.clone(), head.author.clone(), head.seq, out);
                } else if chain.stored.is_some_and(|s| head.seq < s) {
                    below.push(head.clone());
                }
            }
            known.insert(head.author, head.seq);
        }
        let Some(peer) = self.peers.get_mut(from) else {
            return;
        };
        peer.answered = true;
        peer.heads = known;
        // A head below our tip is compared with the store once per head the peer reports: a
        // peer lagging behind reports the same head over and over.
        for head in below {
            if peer.compared.get(&head.author) != Some(&head) {
                peer.compared.insert(head.author.clone(), head.clone());
                out.push(Output::CompareHead {
                    peer: from.clone(),
                    head,
                });
            }
        }
    }

    /// The chains a peer holds as forked: pull the proof of each this node does not hold as
    /// early (one request per chain at a time).
    fn forks_answer(&mut self, from: &MemberId, forks: Vec<ForkPoint>, out: &mut Vec<Output>) {
        for fork in forks {
            let Some(chain) = self.chains.get(&fork.author) else {
                continue;
            };
            if chain.frozen_at(fork.seq) {
                continue;
            }
            let room = self
                .peers
                .get(from)
                .is_some_and(|p| p.usable() && p.in_flight < self.config.max_in_flight);
            let asked = self
                .sent
                .values()
                .any(|s| matches!(&s.what, Pending::Fork { author, .. } if author == &fork.author));
            if room && !asked {
                self.send(
                    from.clone(),
                    Pending::Fork {
                        author: fork.author.clone(),
                        seq: fork.seq,
                    },
                    SyncRequest::Fork {
                        author: fork.author,
                    },
                    out,
                );
            }
        }
    }

    fn ingest_done(&mut self, ticket: Ticket, outcome: IngestOutcome, out: &mut Vec<Output>) {
        let Some(done) = self.ingesting.remove(&ticket) else {
            return;
        };
        let author = done.author;
        if done.probe {
            self.probe_done(author, done.entries, outcome, out);
            return;
        }
        if let Some(chain) = self.chains.get_mut(&author) {
            chain.ingesting = None;
        }
        match outcome {
            IngestOutcome::Stored => {
                if let Some(last) = done.entries.last()
                    && let Ok(hash) = last.entry.hash()
                {
                    self.stored(HeadInfo {
                        author: author.clone(),
                        seq: last.entry.body.seq,
                        hash,
                    });
                }
            }
            IngestOutcome::Failed => {
                let retry_at = self.now + self.config.retry_ms;
                self.put_back(&author, done.entries, Some(retry_at));
            }
            IngestOutcome::Refused { index, fault } => {
                let mut entries = done.entries;
                let rest = entries.split_off(index.min(entries.len()));
                let mut rest = rest.into_iter();
                let bad = rest.next();
                // Entries before the refused one are fine; those after it follow a bad link
                // and are fetched again once the gap is filled.
                self.put_back(&author, entries, None);
                let Some(bad) = bad else { return };
                match fault {
                    Fault::NotYet => {
                        let retry_at = self.now + self.config.retry_ms;
                        let mut again = vec![bad];
                        again.extend(rest);
                        self.put_back(&author, again, Some(retry_at));
                    }
                    Fault::Fork => {
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Ignore,
                            });
                        }
                    }
                    Fault::Membership => {
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Ignore,
                            });
                        }
                        if let Some(peer) = self.peers.get_mut(&bad.from) {
                            peer.heads.remove(&author);
                        }
                    }
                    Fault::Invalid | Fault::Unlinked => {
                        let weight = if fault == Fault::Invalid {
                            INVALID_ENTRY
                        } else {
                            UNLINKED_ENTRY
                        };
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Reject,
                            });
                        }
                        // Another history of this chain may sit behind a broken link: compare
                        // the sender's entry at the stored tip with ours.
                        if fault == Fault::Unlinked
                            && let Some(tip) = self.chains.get(&author).and_then(|c| c.stored)
                        {
                            self.probe(bad.from.clone(), author.clone(), tip, out);
                        }
                        self.offence(&bad.blame, weight, out);
                    }
                }
            }
        }
    }

    /// The hash of the entry this node holds at `author`'s `seq`, if it is the stored tip,
    /// being ingested, or waiting.
    fn held_hash(&self, author: &MemberId, seq: u64) -> Option<EntryHash> {
        let chain = self.chains.get(author)?;
        if chain.stored == Some(seq) {
            return self.heads.get(author).map(|h| h.hash);
        }
        let held = chain.waiting.get(&seq).map(|b| &b.entry).or_else(|| {
            let (ticket, _) = chain.ingesting?;
            let run = self.ingesting.get(&ticket)?;
            run.entries
                .iter()
                .map(|b| &b.entry)
                .find(|e| e.body.seq == seq)
        })?;
        held.hash().ok()
    }

    /// Asks `peer` for its entry of `author`'s chain at `seq`, which may differ from ours.
    fn probe(&mut self, peer: MemberId, author: MemberId, seq: u64, out: &mut Vec<Output>) {
        let usable = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.usable() && p.in_flight < self.config.max_in_flight);
        let asked = self.sent.values().any(|s| {
            matches!(&s.what, Pending::Probe { author: a, seq: q } if a == &author && *q == seq)
        });
        if !usable || asked {
            return;
        }
        self.send(
            peer,
            Pending::Probe {
                author: author.clone(),
                seq,
            },
            SyncRequest::Range {
                author,
                from: seq,
                limit: 1,
            },
            out,
        );
    }

    /// The pipeline's verdict on a suspected fork.
    fn probe_done(
        &mut self,
        author: MemberId,
        entries: Vec<Buffered>,
        outcome: IngestOutcome,
        out: &mut Vec<Output>,
    ) {
        let Some(suspect) = entries.into_iter().next() else {
            return;
        };
        if let Some(token) = suspect.token {
            self.verdicts.remove(&token);
        }
        match outcome {
            IngestOutcome::Refused {
                fault: Fault::Fork, ..
            } => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
                let seq = suspect.entry.body.seq;
                self.fork_found(author.clone(), seq, out);
                // The two histories may part earlier: the entry before is compared too, and so
                // on back while they differ, so the fork point is where they part.
                if let Some(before) = seq.checked_sub(1) {
                    self.probe(suspect.from, author, before, out);
                }
            }
            IngestOutcome::Refused {
                fault: Fault::Invalid,
                ..
            } => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Reject,
                    });
                }
                self.offence(&suspect.from, INVALID_ENTRY, out);
            }
            _ => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
            }
        }
    }

    /// A fork proof of `author` at `seq` is stored: freeze the chain from there (if it was
    /// not frozen as early already) and say so.
    fn fork_found(&mut self, author: MemberId, seq: u64, out: &mut Vec<Output>) {
        if self.freeze(&author, seq) {
            out.push(Output::ForkFound { author, seq });
        }
    }

    /// A fork proof of `author` at `seq` the store held when the node started: the chain
    /// stays frozen across restarts.
    pub fn remember_fork(&mut self, author: &MemberId, seq: u64) {
        self.freeze(author, seq);
    }

    /// Freezes `author`'s chain from `seq` on (unless it is frozen as early already), and
    /// drops what waits of it from there: nothing from the fork point on is taken on this
    /// node. Whether the fork point moved.
    fn freeze(&mut self, author: &MemberId, seq: u64) -> bool {
        let Some(chain) = self.chains.get_mut(author) else {
            return false;
        };
        if chain.frozen_at(seq) {
            return false;
        }
        chain.fork_at = Some(seq);
        chain.waiting.drop_from(seq);
        if chain.hold.is_some_and(|(from, _)| from >= seq) {
            chain.hold = None;
        }
        for verdict in self.verdicts.values_mut() {
            verdict.open.retain(|(a, q)| a != author || *q < seq);
        }
        true
    }

    /// Returns entries to the buffer; with `retry_at`, the first of them waits until then.
    fn put_back(&mut self, author: &MemberId, entries: Vec<Buffered>, retry_at: Option<u64>) {
        let Some(chain) = self.chains.get_mut(author) else {
            return;
        };
        if let (Some(first), Some(time)) = (entries.first(), retry_at) {
            chain.hold = Some((first.entry.body.seq, time));
        }
        for buffered in entries {
            let seq = buffered.entry.body.seq;
            if !chain.has(seq) && !chain.frozen_at(seq) {
                chain.waiting.insert(seq, buffered);
            }
        }
    }

    fn send(&mut self, to: MemberId, what: Pending, request: SyncRequest, out: &mut Vec<Output>) {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.in_flight += 1;
        }
        self.sent.insert(
            id,
            Sent {
                to: to.clone(),
                what,
                deadline: self.now + self.config.request_timeout_ms,
            },
        );
        out.push(Output::Send { to, id, request });
    }

    /// Starts whatever can start: ingest requests, range requests, the gossip flush; settles
    /// gossip verdicts.
    fn pump(&mut self, out: &mut Vec<Output>) {
        self.start_ingests(out);
        self.start_ranges(out);
        let settled: Vec<GossipToken> = self
            .verdicts
            .iter()
            .filter(|(_, v)| v.open.is_empty())
            .map(|(t, _)| *t)
            .collect();
        for token in settled {
            self.verdicts.remove(&token);
            out.push(Output::Verdict {
                token,
                acceptance: Acceptance::Accept,
            });
        }
        let full = self.outbox.len() >= self.config.flush_entries;
        let old = self.now >= self.outbox_since + self.config.flush_ms;
        if !self.outbox.is_empty() && (full || old) {
            let take = self.outbox.len().min(self.config.flush_entries);
            let entries: Vec<SignedEntry> = self.outbox.drain(..take).collect();
            self.outbox_since = self.now;
            out.push(Output::Publish(GossipBatch { entries }));
        }
    }

    fn start_ingests(&mut self, out: &mut Vec<Output>) {
        while self.ingesting.len() < self.config.max_ingesting {
            let Some(((author, _), suspect)) = self.suspects.pop_first() else {
                break;
            };
            let seq = suspect.entry.body.seq;
            if self.chains.get(&author).is_none_or(|c| c.frozen_at(seq)) {
                if let Some(token) = suspect.token {
                    self.verdicts.remove(&token);
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
                continue;
            }
            let ticket = self.next_id;
            self.next_id += 1;
            out.push(Output::Ingest {
                ticket,
                entries: vec![suspect.entry.clone()],
            });
            self.ingesting.insert(
                ticket,
                InFlightIngest {
                    author,
                    entries: vec![suspect],
                    probe: true,
                },
            );
        }
        let now = self.now;
        for (author, chain) in &mut self.chains {
            if self.ingesting.len() >= self.config.max_ingesting {
                break;
            }
            if chain.ingesting.is_some() {
                continue;
            }
            let held_from = match chain.hold {
                Some((seq, until)) if until > now => Some(seq),
                _ => None,
            };
            let mut run = Vec::new();
            let mut next = chain.next_seq();
            while run.len() < self.config.max_ingest && Some(next) != held_from {
                let Some(buffered) = chain.waiting.remove(&next) else {
                    break;
                };
                run.push(buffered);
                next += 1;
            }
            if run.is_empty() {
                continue;
            }
            let ticket = self.next_id;
            self.next_id += 1;
            chain.ingesting = Some((ticket, next - 1));
            out.push(Output::Ingest {
                ticket,
                entries: run.iter().map(|b| b.entry.clone()).collect(),
            });
            self.ingesting.insert(
                ticket,
                InFlightIngest {
                    author: author.clone(),
                    entries: run,
                    probe: false,
                },
            );
        }
    }

    fn start_ranges(&mut self, out: &mut Vec<Output>) {
        let authors: Vec<MemberId> = self.chains.keys().cloned().collect();
        let (max_entries, _) = self.share;
        let max_in_flight = self.config.max_in_flight;
        for author in authors {
            let Some(chain) = self.chains.get(&author) else {
                continue;
            };
            if chain.wanted.is_some() {
                continue;
            }
            let from = chain.next_unknown();
            // Entries before a fork point are history both sides share: they are taken.
            let limit = match chain.fork_at {
                Some(at) if from >= at => continue,
                Some(at) => u32::try_from(at - from).map_or(self.config.range_limit, |left| {
                    left.min(self.config.range_limit)
                }),
                None => self.config.range_limit,
            };
            let candidates: Vec<MemberId> = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.usable()
                        && p.in_flight < max_in_flight
                        && p.heads.get(&author).is_some_and(|seq| *seq >= from)
                })
                .map(|(m, _)| m.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let Some(chain) = self.chains.get_mut(&author) else {
                continue;
            };
            // Room in the chain's share: entries waiting further ahead than the range give
            // way (they are pulled again when the chain gets there).
            let end = from.saturating_add(u64::from(limit));
            while chain.waiting.len() + limit as usize > max_entries
                && chain.waiting.evict_past(end)
            {}
            let room = max_entries.saturating_sub(chain.waiting.len());
            let limit = limit.min(u32::try_from(room).unwrap_or(u32::MAX));
            if limit == 0 {
                continue;
            }
            let pick = self.rng.below(candidates.len() as u64) as usize;
            let Some(to) = candidates.get(pick).cloned() else {
                continue;
            };
            chain.wanted = Some(self.next_id);
            self.send(
                to,
                Pending::Range {
                    author: author.clone(),
                    from,
                    limit,
                },
                SyncRequest::Range {
                    author,
                    from,
                    limit,
                },
                out,
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;
    use tally_sdk::entry::UnsignedEntry;
    use tally_sdk::template::demo_consortium;
    use tally_sdk::time::Timestamp;

    use super::*;

    fn member(name: &str) -> MemberId {
        MemberId::new(name).unwrap()
    }

    /// `count` entries of the supplier's chain from 0.
    fn chain(count: u64) -> Vec<SignedEntry> {
        chain_about(count, "S")
    }

    /// `count` entries of the supplier's chain from 0, about products `{tag}{seq}` (another
    /// tag: another history of the same chain).
    fn chain_about(count: u64, tag: &str) -> Vec<SignedEntry> {
        let (signed, keys) = demo_consortium().unwrap();
        let genesis = signed.verify().unwrap();
        let supplier = keys
            .iter()
            .find(|k| k.member.as_str() == "supplier")
            .unwrap();
        let mut prev = None;
        (0..count)
            .map(|seq| {
                let event = json!({
                    "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
                    "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
                    "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{tag}{seq}")],
                });
                let entry = UnsignedEntry::event(
                    genesis.network_id(),
                    supplier.member.clone(),
                    seq,
                    prev,
                    Timestamp(1_772_326_800_000),
                    vec![],
                    &event,
                    None,
                )
                .unwrap()
                .sign(&supplier.signing)
                .unwrap();
                prev = Some(entry.hash().unwrap());
                entry
            })
            .collect()
    }

    fn engine(config: EngineConfig) -> Engine {
        let members = ["platform", "manufacturer", "supplier"].map(member);
        Engine::new(config, member("platform"), members, Vec::new(), 1)
    }

    fn run(engine: &mut Engine, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        engine.handle(input, &mut out);
        out
    }

    /// Connects `peer`, which says it holds the supplier's chain up to `seq`; returns what the
    /// engine then asks.
    fn peer_with(engine: &mut Engine, peer: &str, seq: u64) -> Vec<Output> {
        run(engine, Input::PeerUp { peer: member(peer) });
        let out = run(engine, Input::Tick { now: 1 });
        let id = out
            .iter()
            .find_map(|o| match o {
                Output::Send {
                    id,
                    request: SyncRequest::Heads,
                    to,
                } if to == &member(peer) => Some(*id),
                _ => None,
            })
            .expect("a new peer is asked for its heads");
        let head = HeadInfo {
            author: member("supplier"),
            seq,
            hash: tally_sdk::hash::EntryHash::digest(b"h"),
        };
        run(
            engine,
            Input::Response {
                from: member(peer),
                id,
                response: Some(SyncResponse::Heads {
                    heads: vec![head],
                    forks: Vec::new(),
                }),
            },
        )
    }

    /// The ingest requests among `out`.
    fn ingests(out: &[Output]) -> Vec<(Ticket, &[SignedEntry])> {
        out.iter()
            .filter_map(|o| match o {
                Output::Ingest { ticket, entries } => Some((*ticket, entries.as_slice())),
                _ => None,
            })
            .collect()
    }

    /// Connects the supplier's node, then it passes on gossip message `token` of `entries`.
    fn gossip_from_supplier(
        engine: &mut Engine,
        token: GossipToken,
        entries: Vec<SignedEntry>,
    ) -> Vec<Output> {
        run(
            engine,
            Input::PeerUp {
                peer: member("supplier"),
            },
        );
        run(
            engine,
            Input::Gossip {
                from: member("supplier"),
                origin: member("supplier"),
                token,
                batch: Some(GossipBatch { entries }),
            },
        )
    }

    fn range_request(out: &[Output]) -> (RequestId, u64, u32) {
        out.iter()
            .find_map(|o| match o {
                Output::Send {
                    id,
                    request: SyncRequest::Range { from, limit, .. },
                    ..
                } => Some((*id, *from, *limit)),
                _ => None,
            })
            .expect("a range request")
    }

    #[test]
    fn a_missing_range_is_pulled_ingested_in_order_and_the_next_asked_at_once() {
        let mut engine = engine(EngineConfig {
            range_limit: 3,
            ..EngineConfig::default()
        });
        let entries = chain(5);
        let out = peer_with(&mut engine, "manufacturer", 4);
        let (id, from, limit) = range_request(&out);
        assert_eq!((from, limit), (0, 3));
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(entries[..3].to_vec())),
            },
        );
        let (ticket, _) = *ingests(&out)
            .iter()
            .find(|(_, e)| *e == &entries[..3])
            .expect("the range is ingested");
        // Pipelined: the next range is asked for before the first is stored.
        assert_eq!(range_request(&out).1, 3);
        run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Stored,
            },
        );
        assert_eq!(engine.heads()[0].seq, 2);
    }

    #[test]
    fn wrong_answers_and_garbage_get_a_peer_banned_and_no_more_requests() {
        let mut engine = engine(EngineConfig::default());
        let entries = chain(2);
        let out = peer_with(&mut engine, "manufacturer", 1);
        let (id, _, _) = range_request(&out);
        // Entries that do not start where asked.
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(entries[1..].to_vec())),
            },
        );
        assert!(ingests(&out).is_empty());
        assert!(!engine.is_banned(&member("manufacturer")));
        let mut banned = false;
        for token in 0..5 {
            let out = run(
                &mut engine,
                Input::Gossip {
                    from: member("manufacturer"),
                    origin: member("manufacturer"),
                    token,
                    batch: None,
                },
            );
            banned |= out
                .iter()
                .any(|o| matches!(o, Output::Ban { peer, .. } if peer == &member("manufacturer")));
        }
        assert!(banned && engine.is_banned(&member("manufacturer")));
        // Nothing more is asked of it, and its requests are refused.
        let out = run(&mut engine, Input::Tick { now: 10_000 });
        assert!(!out.iter().any(|o| matches!(o, Output::Send { .. })));
        let out = run(
            &mut engine,
            Input::Request {
                from: member("manufacturer"),
                token: 1,
                request: Some(SyncRequest::Heads),
            },
        );
        assert_eq!(
            out,
            vec![Output::Reply {
                token: 1,
                response: SyncResponse::Refused
            }]
        );
        // The ban ends.
        let out = run(&mut engine, Input::Tick { now: 1_000_000 });
        assert!(out.contains(&Output::Unban {
            peer: member("manufacturer")
        }));
    }

    #[test]
    fn an_invalid_entry_is_rejected_in_gossip_and_a_not_yet_is_retried_later() {
        let mut engine = engine(EngineConfig::default());
        let out = gossip_from_supplier(&mut engine, 7, chain(2));
        let (ticket, _) = ingests(&out)[0];
        // Entry 1 is ahead of this node's clock: entry 0 is stored now, entry 1 later.
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Refused {
                    index: 1,
                    fault: Fault::NotYet,
                },
            },
        );
        let again = ingests(&out);
        assert_eq!(again.len(), 1, "entry 0 goes again at once");
        let (ticket, e) = again[0];
        assert_eq!(e.len(), 1);
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Stored,
            },
        );
        assert!(ingests(&out).is_empty());
        let out = run(&mut engine, Input::Tick { now: 999 });
        assert!(ingests(&out).is_empty());
        let out = run(&mut engine, Input::Tick { now: 1_000 });
        let (ticket, _) = *ingests(&out)
            .iter()
            .find(|(_, e)| e.len() == 1)
            .expect("entry 1 is retried after retry_ms");
        // Now it is invalid after all: the gossip message is rejected.
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Invalid,
                },
            },
        );
        assert!(out.contains(&Output::Verdict {
            token: 7,
            acceptance: Acceptance::Reject
        }));
    }

    #[test]
    fn own_entries_are_gossiped_in_batches_by_count_and_by_age() {
        let mut engine = engine(EngineConfig {
            flush_entries: 3,
            flush_ms: 10,
            ..EngineConfig::default()
        });
        let entries = chain(4);
        let out = run(
            &mut engine,
            Input::Committed {
                heads: vec![],
                own: entries[..1].to_vec(),
            },
        );
        assert!(!out.iter().any(|o| matches!(o, Output::Publish(_))));
        let out = run(
            &mut engine,
            Input::Committed {
                heads: vec![],
                own: entries[1..].to_vec(),
            },
        );
        assert!(out.contains(&Output::Publish(GossipBatch {
            entries: entries[..3].to_vec()
        })));
        assert!(
            !run(&mut engine, Input::Tick { now: 9 })
                .iter()
                .any(|o| matches!(o, Output::Publish(_)))
        );
        let out = run(&mut engine, Input::Tick { now: 10 });
        assert!(out.contains(&Output::Publish(GossipBatch {
            entries: entries[3..].to_vec()
        })));
    }

    #[test]
    fn the_buffer_is_bounded_and_unchecked_gossip_is_not_passed_on() {
        // Three chains: a share of two entries each.
        let mut engine = engine(EngineConfig {
            max_buffered: 6,
            max_ingesting: 0,
            ..EngineConfig::default()
        });
        let out = gossip_from_supplier(&mut engine, 1, chain(4));
        assert_eq!(engine.buffered(), 2);
        assert!(out.contains(&Output::Verdict {
            token: 1,
            acceptance: Acceptance::Ignore
        }));
    }

    /// Issue 20, item 3: a member gossips entries far ahead of a chain's tip, which may never
    /// link. Before, they filled the one shared buffer unchecked, and a full buffer stopped
    /// range pulls of every chain for good.
    #[test]
    fn a_member_gossiping_far_ahead_neither_fills_the_buffer_nor_stalls_any_chain() {
        let mut engine = engine(EngineConfig {
            max_buffered: 30,
            max_ingesting: 0,
            range_limit: 5,
            gossip_window: 100,
            ..EngineConfig::default()
        });
        let entries = chain(160);
        // Past the window: not kept at all.
        gossip_from_supplier(&mut engine, 1, entries[100..160].to_vec());
        assert_eq!(engine.buffered(), 0);
        // Inside it but far ahead: kept up to the chain's share (10 of 30, three chains), in
        // entries and in bytes.
        gossip_from_supplier(&mut engine, 2, entries[50..100].to_vec());
        assert_eq!(engine.buffered(), 10);
        let bytes: usize = entries[50..60]
            .iter()
            .map(|e| tally_sdk::codec::encoded_len("entry", e).unwrap())
            .sum();
        assert_eq!(engine.buffered_bytes(), bytes);
        // Every chain is still pulled: the poisoned one from its tip (what waits furthest
        // ahead gives way), and the others as before.
        let head = |name: &str| HeadInfo {
            author: member(name),
            seq: 20,
            hash: tally_sdk::hash::EntryHash::digest(b"h"),
        };
        let out = peer_answers(
            &mut engine,
            "manufacturer",
            vec![head("supplier"), head("platform")],
            Vec::new(),
        );
        let ranges: Vec<(MemberId, u64, u32)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    request:
                        SyncRequest::Range {
                            author,
                            from,
                            limit,
                        },
                    ..
                } => Some((author.clone(), *from, *limit)),
                _ => None,
            })
            .collect();
        assert_eq!(
            ranges,
            vec![(member("platform"), 0, 5), (member("supplier"), 0, 5)],
            "{out:?}"
        );
        assert!(engine.buffered() <= 10);
        // What the range brings is kept: nearer entries evict those furthest ahead.
        let id = out
            .iter()
            .find_map(|o| match o {
                Output::Send {
                    id,
                    request: SyncRequest::Range { author, .. },
                    ..
                } if author == &member("supplier") => Some(*id),
                _ => None,
            })
            .unwrap();
        run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(entries[..5].to_vec())),
            },
        );
        assert!(engine.buffered() <= 10);
        let waiting = &engine.chains[&member("supplier")].waiting;
        assert!((0..5).all(|seq| waiting.contains_key(&seq)), "{waiting:?}");
    }

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // The first outputs for seed 0, as the reference implementation gives them.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    fn stored_tip(entry: &SignedEntry) -> Engine {
        let members = ["platform", "manufacturer", "supplier"].map(member);
        let head = HeadInfo {
            author: member("supplier"),
            seq: entry.body.seq,
            hash: entry.hash().unwrap(),
        };
        Engine::new(
            EngineConfig::default(),
            member("platform"),
            members,
            vec![head],
            1,
        )
    }

    #[test]
    fn another_entry_at_the_stored_tip_is_checked_alone_and_a_fork_freezes_the_chain() {
        let ours = chain(1);
        let theirs = chain_about(3, "T");
        let mut engine = stored_tip(&ours[0]);
        let out = gossip_from_supplier(&mut engine, 7, theirs.clone());
        let probe = ingests(&out)
            .into_iter()
            .find(|(_, entries)| entries == &[theirs[0].clone()])
            .map(|(ticket, _)| ticket)
            .expect("the conflicting entry is checked alone");
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket: probe,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Fork,
                },
            },
        );
        assert!(out.contains(&Output::ForkFound {
            author: member("supplier"),
            seq: 0,
        }));
        assert_eq!(engine.forked(), vec![member("supplier")]);
        // Nothing more of the forked chain is taken, and it is not announced twice.
        let out = gossip_from_supplier(&mut engine, 8, theirs[1..].to_vec());
        assert!(ingests(&out).is_empty(), "{out:?}");
        assert!(out.contains(&Output::Verdict {
            token: 8,
            acceptance: Acceptance::Ignore
        }));
        let out = gossip_from_supplier(&mut engine, 9, theirs[..1].to_vec());
        assert!(ingests(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn the_own_chain_is_caught_up_once_a_peer_answered_and_what_it_holds_is_stored() {
        let caught_up = |out: &[Output]| out.contains(&Output::OwnChainCaughtUp);
        // The platform's node: the manufacturer holds nothing of the platform's chain.
        let mut engine = engine(EngineConfig::default());
        assert!(!engine.own_chain_caught_up());
        let out = peer_with(&mut engine, "manufacturer", 4);
        assert!(caught_up(&out) && engine.own_chain_caught_up());
        let out = run(&mut engine, Input::Tick { now: 100_000 });
        assert!(!caught_up(&out), "said once");

        // The supplier's node, restored from a backup that holds none of its chain, while
        // the manufacturer holds entries 0..=4 of it: caught up once they are stored here.
        let members = ["platform", "manufacturer", "supplier"].map(member);
        let mut engine = Engine::new(
            EngineConfig::default(),
            member("supplier"),
            members,
            Vec::new(),
            1,
        );
        let entries = chain(5);
        let out = peer_with(&mut engine, "manufacturer", 4);
        assert!(!caught_up(&out));
        let (id, from, _) = range_request(&out);
        assert_eq!(from, 0);
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(entries.clone())),
            },
        );
        assert!(!caught_up(&out));
        let (ticket, _) = ingests(&out)[0];
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Stored,
            },
        );
        assert!(caught_up(&out));

        // A peer that claims more than it can send does not hold the node back.
        let mut engine = Engine::new(
            EngineConfig::default(),
            member("supplier"),
            ["platform", "manufacturer", "supplier"].map(member),
            Vec::new(),
            1,
        );
        let out = peer_with(&mut engine, "manufacturer", 4);
        let (id, _, _) = range_request(&out);
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(Vec::new())),
            },
        );
        // Nor does it count as an answer: alone with it, the node would sign before an
        // honest peer gave back what it signed after the backup.
        assert!(!caught_up(&out), "{out:?}");
        let out = peer_answers(&mut engine, "platform", Vec::new(), Vec::new());
        assert!(caught_up(&out), "{out:?}");

        // Nor does one that claims more and refuses to send it (the restored node held
        // hostage): it loses the claim, and the node signs again once an honest peer
        // answered.
        let mut engine = Engine::new(
            EngineConfig::default(),
            member("supplier"),
            ["platform", "manufacturer", "supplier"].map(member),
            Vec::new(),
            1,
        );
        let out = peer_with(&mut engine, "manufacturer", 4);
        assert!(!caught_up(&out));
        let (id, _, _) = range_request(&out);
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Refused),
            },
        );
        assert!(!caught_up(&out), "{out:?}");
        let out = peer_answers(&mut engine, "platform", Vec::new(), Vec::new());
        assert!(caught_up(&out), "{out:?}");
    }

    #[test]
    fn entries_refused_for_membership_are_dropped_without_blame() {
        let refuse = |fault: Fault| {
            let mut engine = engine(EngineConfig::default());
            let mut banned = false;
            for token in 0..20 {
                let out = gossip_from_supplier(&mut engine, token, chain(1));
                let Some((ticket, _)) = ingests(&out).first().copied() else {
                    continue;
                };
                let out = run(
                    &mut engine,
                    Input::IngestDone {
                        ticket,
                        outcome: IngestOutcome::Refused { index: 0, fault },
                    },
                );
                if fault == Fault::Membership {
                    assert!(out.contains(&Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore
                    }));
                }
                banned |= out.iter().any(|o| matches!(o, Output::Ban { .. }));
            }
            banned
        };
        assert!(!refuse(Fault::Membership));
        assert!(
            refuse(Fault::Invalid),
            "the same entries, invalid, get the sender banned"
        );
    }

    #[test]
    fn bad_gossip_is_blamed_on_its_publisher_never_on_the_relay() {
        // The supplier publishes entries that turn out invalid; the manufacturer's node, an
        // honest relay that held them already, passes the message on. Each time this node
        // refuses them, the supplier is blamed: it ends up banned, the relay never is.
        let mut engine = engine(EngineConfig::default());
        for peer in ["manufacturer", "supplier"] {
            run(&mut engine, Input::PeerUp { peer: member(peer) });
        }
        let mut bans = Vec::new();
        for token in 0..20 {
            let out = run(
                &mut engine,
                Input::Gossip {
                    from: member("manufacturer"),
                    origin: member("supplier"),
                    token,
                    batch: Some(GossipBatch { entries: chain(1) }),
                },
            );
            let Some((ticket, _)) = ingests(&out).first().copied() else {
                continue;
            };
            let out = run(
                &mut engine,
                Input::IngestDone {
                    ticket,
                    outcome: IngestOutcome::Refused {
                        index: 0,
                        fault: Fault::Invalid,
                    },
                },
            );
            bans.extend(out.into_iter().filter_map(|o| match o {
                Output::Ban { peer, .. } => Some(peer),
                _ => None,
            }));
        }
        assert_eq!(bans, [member("supplier")]);
    }

    /// Connects `peer` and answers the engine's heads request with `heads` and `forks`.
    fn peer_answers(
        engine: &mut Engine,
        peer: &str,
        heads: Vec<HeadInfo>,
        forks: Vec<ForkPoint>,
    ) -> Vec<Output> {
        run(engine, Input::PeerUp { peer: member(peer) });
        heads_round(engine, peer, 1, heads, forks)
    }

    /// At `now`, the engine asks `peer` for its heads (it must be due) and the peer answers
    /// with `heads` and `forks`.
    fn heads_round(
        engine: &mut Engine,
        peer: &str,
        now: u64,
        heads: Vec<HeadInfo>,
        forks: Vec<ForkPoint>,
    ) -> Vec<Output> {
        let out = run(engine, Input::Tick { now });
        let Some(Output::Send { id, .. }) = out.first().cloned() else {
            panic!("heads are asked: {out:?}");
        };
        run(
            engine,
            Input::Response {
                from: member(peer),
                id,
                response: Some(SyncResponse::Heads { heads, forks }),
            },
        )
    }

    #[test]
    fn a_peer_head_below_the_stored_tip_is_compared_once_and_fetched_if_it_differs() {
        let ours = chain(3);
        let theirs = chain_about(1, "T");
        let mut engine = stored_tip(&ours[2]);
        let head = HeadInfo {
            author: member("supplier"),
            seq: 0,
            hash: theirs[0].hash().unwrap(),
        };
        let out = peer_answers(&mut engine, "manufacturer", vec![head.clone()], Vec::new());
        assert!(
            out.contains(&Output::CompareHead {
                peer: member("manufacturer"),
                head: head.clone(),
            }),
            "{out:?}"
        );
        // The next heads round reports the same head: it was compared already.
        let out = heads_round(&mut engine, "manufacturer", 10_000, vec![head], Vec::new());
        assert!(
            !out.iter().any(|o| matches!(o, Output::CompareHead { .. })),
            "{out:?}"
        );
        // The store holds another entry there: the peer's is fetched and checked alone,
        // below the tip.
        let out = run(
            &mut engine,
            Input::HeadDiffers {
                peer: member("manufacturer"),
                author: member("supplier"),
                seq: 0,
            },
        );
        let (id, from, limit) = range_request(&out);
        assert_eq!((from, limit), (0, 1));
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(theirs.clone())),
            },
        );
        let checked = ingests(&out);
        assert_eq!(checked.len(), 1, "{out:?}");
        assert_eq!(checked[0].1, theirs.as_slice());
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket: checked[0].0,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Fork,
                },
            },
        );
        assert!(out.contains(&Output::ForkFound {
            author: member("supplier"),
            seq: 0,
        }));
        assert_eq!(
            engine.forks(),
            vec![ForkPoint {
                author: member("supplier"),
                seq: 0
            }]
        );
    }

    #[test]
    fn a_fork_found_from_a_peers_entry_is_followed_back_to_where_the_histories_part() {
        let ours = chain(3);
        let theirs = chain_about(3, "T");
        let mut engine = stored_tip(&ours[2]);
        // The peer's head at our tip has another hash: its entry 2 is fetched and checked.
        let head = HeadInfo {
            author: member("supplier"),
            seq: 2,
            hash: theirs[2].hash().unwrap(),
        };
        let out = peer_answers(&mut engine, "manufacturer", vec![head], Vec::new());
        let (id, from, _) = range_request(&out);
        assert_eq!(from, 2);
        let mut seq = 2;
        let mut out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(vec![theirs[2].clone()])),
            },
        );
        // Each entry that proves a fork has the one before fetched too, back to entry 0.
        loop {
            let (ticket, _) = ingests(&out)[0];
            let after = run(
                &mut engine,
                Input::IngestDone {
                    ticket,
                    outcome: IngestOutcome::Refused {
                        index: 0,
                        fault: Fault::Fork,
                    },
                },
            );
            assert_eq!(engine.forks()[0].seq, seq);
            if seq == 0 {
                assert!(
                    !after.iter().any(|o| matches!(o, Output::Send { .. })),
                    "{after:?}"
                );
                break;
            }
            let (id, from, limit) = range_request(&after);
            assert_eq!((from, limit), (seq - 1, 1));
            seq -= 1;
            out = run(
                &mut engine,
                Input::Response {
                    from: member("manufacturer"),
                    id,
                    response: Some(SyncResponse::Range(vec![theirs[seq as usize].clone()])),
                },
            );
        }
        // Where the peer's entry is ours, the walk stops (the pipeline finds a duplicate).
        let mut engine = stored_tip(&ours[2]);
        let head = HeadInfo {
            author: member("supplier"),
            seq: 2,
            hash: theirs[2].hash().unwrap(),
        };
        let out = peer_answers(&mut engine, "manufacturer", vec![head], Vec::new());
        let (id, _, _) = range_request(&out);
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(vec![theirs[2].clone()])),
            },
        );
        let (ticket, _) = ingests(&out)[0];
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Fork,
                },
            },
        );
        let (id, from, _) = range_request(&out);
        assert_eq!(from, 1);
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(vec![ours[1].clone()])),
            },
        );
        let (ticket, _) = ingests(&out)[0];
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Stored,
            },
        );
        assert!(
            !out.iter().any(|o| matches!(o, Output::Send { .. })),
            "{out:?}"
        );
        assert_eq!(engine.forks()[0].seq, 2);
    }

    #[test]
    fn a_fork_a_peer_advertises_is_pulled_and_handed_over_and_a_wrong_proof_blamed() {
        let ours = chain(3);
        let theirs = chain_about(2, "T");
        let mut engine = stored_tip(&ours[2]);
        let fork = ForkPoint {
            author: member("supplier"),
            seq: 1,
        };
        let out = peer_answers(&mut engine, "manufacturer", Vec::new(), vec![fork]);
        let id = out
            .iter()
            .find_map(|o| match o {
                Output::Send {
                    id,
                    request: SyncRequest::Fork { author },
                    ..
                } if author == &member("supplier") => Some(*id),
                _ => None,
            })
            .expect("the proof is asked for");
        let proof = ForkProof::new(ours[1].clone(), theirs[1].clone()).unwrap();
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Fork(Box::new(proof.clone()))),
            },
        );
        assert!(
            out.contains(&Output::RecordFork {
                from: member("manufacturer"),
                proof: Box::new(proof),
            }),
            "{out:?}"
        );
        // A proof of another place than the one advertised is a wrong answer.
        let mut engine = stored_tip(&ours[2]);
        let fork = ForkPoint {
            author: member("supplier"),
            seq: 0,
        };
        let out = peer_answers(&mut engine, "manufacturer", Vec::new(), vec![fork.clone()]);
        let Some(Output::Send { id, .. }) = out.first().cloned() else {
            panic!("{out:?}");
        };
        let elsewhere = ForkProof::new(ours[1].clone(), theirs[1].clone()).unwrap();
        let out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Fork(Box::new(elsewhere))),
            },
        );
        assert!(
            !out.iter().any(|o| matches!(o, Output::RecordFork { .. })),
            "{out:?}"
        );
        // Once this node holds a proof as early, an advertised fork is not asked for.
        run(
            &mut engine,
            Input::ForkRecorded {
                author: member("supplier"),
                seq: 0,
            },
        );
        let out = heads_round(&mut engine, "manufacturer", 10_000, Vec::new(), vec![fork]);
        assert!(
            !out.iter().any(|o| matches!(
                o,
                Output::Send {
                    request: SyncRequest::Fork { .. },
                    ..
                }
            )),
            "{out:?}"
        );
    }

    #[test]
    fn entries_before_a_fork_point_are_still_pulled_and_none_from_it() {
        let mut engine = engine(EngineConfig {
            range_limit: 10,
            ..EngineConfig::default()
        });
        engine.remember_fork(&member("supplier"), 4);
        let out = peer_with(&mut engine, "manufacturer", 20);
        let (_, from, limit) = range_request(&out);
        assert_eq!((from, limit), (0, 4));
        // Gossip from the fork point on is not kept.
        let theirs = chain_about(6, "T");
        let out = gossip_from_supplier(&mut engine, 3, theirs[4..].to_vec());
        assert!(ingests(&out).is_empty(), "{out:?}");
        assert_eq!(engine.buffered(), 0);
    }

    #[test]
    fn a_fork_remembered_at_start_keeps_the_chain_frozen() {
        let ours = chain(1);
        let theirs = chain_about(3, "T");
        let mut engine = stored_tip(&ours[0]);
        engine.remember_fork(&member("supplier"), 0);
        assert_eq!(engine.forked(), vec![member("supplier")]);
        let out = gossip_from_supplier(&mut engine, 7, theirs[1..].to_vec());
        assert!(ingests(&out).is_empty(), "{out:?}");
        assert!(
            !out.iter().any(|o| matches!(o, Output::ForkFound { .. })),
            "a remembered fork is not announced again: {out:?}"
        );
    }

    #[test]
    fn a_peer_head_with_another_hash_at_the_stored_tip_is_fetched_to_compare() {
        let ours = chain(1);
        let mut engine = stored_tip(&ours[0]);
        // peer_with advertises seq 0 with a hash that is not ours.
        let out = peer_with(&mut engine, "manufacturer", 0);
        let (_, from, limit) = range_request(&out);
        assert_eq!((from, limit), (0, 1));
        // The same head as ours is no news.
        let mut engine = stored_tip(&ours[0]);
        let same = HeadInfo {
            author: member("supplier"),
            seq: 0,
            hash: ours[0].hash().unwrap(),
        };
        let out = peer_answers(&mut engine, "manufacturer", vec![same], Vec::new());
        assert!(
            !out.iter().any(|o| matches!(o, Output::Send { .. })),
            "{out:?}"
        );
    }

    #[test]
    fn another_entry_at_a_place_being_ingested_is_checked_too() {
        let ours = chain(1);
        let theirs = chain_about(1, "T");
        let mut engine = engine(EngineConfig::default());
        let out = gossip_from_supplier(&mut engine, 1, ours.clone());
        assert_eq!(ingests(&out).len(), 1);
        // The announcement of the fork arrives before ours is stored.
        let out = gossip_from_supplier(&mut engine, 2, vec![ours[0].clone(), theirs[0].clone()]);
        let checked: Vec<&[SignedEntry]> = ingests(&out).into_iter().map(|(_, e)| e).collect();
        assert_eq!(checked, vec![&theirs[..]]);
    }

    #[test]
    fn offences_are_forgiven_over_time_but_not_a_burst() {
        let mut engine = engine(EngineConfig::default());
        run(
            &mut engine,
            Input::PeerUp {
                peer: member("manufacturer"),
            },
        );
        let garbage = |engine: &mut Engine, token| {
            run(
                engine,
                Input::Gossip {
                    from: member("manufacturer"),
                    origin: member("manufacturer"),
                    token,
                    batch: None,
                },
            )
        };
        // One malformed message (5) now, another after the score has had time to fall: no ban.
        garbage(&mut engine, 1);
        run(&mut engine, Input::Tick { now: 5 * 60_000 });
        garbage(&mut engine, 2);
        assert!(!engine.is_banned(&member("manufacturer")));
        // Two at once reach the threshold (10).
        garbage(&mut engine, 3);
        assert!(engine.is_banned(&member("manufacturer")));
    }
}
