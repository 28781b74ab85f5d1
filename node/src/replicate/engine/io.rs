//! What the engine takes and gives: its configuration, inputs and outputs, and its seeded
//! random numbers.

use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::MemberId;
use tally_sdk::witnessing::fork::ForkProof;

use super::super::wire::{GossipBatch, HeadInfo, SyncRequest, SyncResponse};

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
