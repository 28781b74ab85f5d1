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
//!
//! The code: `io` (configuration, inputs, outputs), this module (the state, `handle`, the
//! clock), `peers` (offences and bans), `gossip`, `pull` (requests, answers, ranges),
//! `ingest` and `forks`.

use std::collections::{BTreeMap, BTreeSet};

use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;

use super::wire::{ForkPoint, GossipBatch, HeadInfo, SyncRequest, SyncResponse};

mod forks;
mod gossip;
mod ingest;
mod io;
mod peers;
mod pull;
#[cfg(test)]
mod tests;

pub use io::*;

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

    /// A fork proof of `author` at `seq` the store held when the node started: the chain
    /// stays frozen across restarts.
    pub fn remember_fork(&mut self, author: &MemberId, seq: u64) {
        self.freeze(author, seq);
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
}
