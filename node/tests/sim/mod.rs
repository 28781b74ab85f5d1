//! The simulated network of the replication tests, in one process and deterministic: member
//! nodes, each with a real pipeline, ledger and checkpoint book over an in-memory store,
//! running the node's three state machines without IO (the replication engine, the
//! checkpoint exchange and the private-field courier) and doing their work at once, joined
//! by links that lose, duplicate, delay and reorder messages, all on one seeded clock.
//! Requests that get no answer fail after [`REQUEST_TIMEOUT_MS`], as libp2p's
//! request-response does. Byzantine nodes run none of the machines and send what the test
//! scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use tally_node::forks;
use tally_node::ingest::{EventInput, IngestError, Ledger, Pipeline, Problem};
use tally_node::private::delivery::{DeliveryAnswer, seal_for};
use tally_node::replicate::checkpoint_sync::{
    CheckpointInput, CheckpointOutput, CheckpointSync, CheckpointWork, CheckpointWorker,
};
use tally_node::replicate::courier::{
    Courier, CourierInput, CourierOutput, CourierWork, CourierWorker,
};
use tally_node::replicate::engine::{
    Acceptance, Engine, EngineConfig, Input, Output, RequestId, SplitMix64,
};
use tally_node::replicate::outcome::classify;
use tally_node::replicate::wire::{GossipBatch, HeadInfo, SyncRequest, SyncResponse};
use tally_node::store::Store;
use tally_node::store::check::check_store;
use tally_node::store::memory::MemoryStore;
use tally_node::witness::book::Book;
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::verify::{ChainTip, Verifier};
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};

use tally_testkit as common;

/// Simulated milliseconds are added to this (2026-03-01) for entry timestamps.
pub const EPOCH: u64 = 1_772_326_800_000;
const TICK_MS: u64 = 10;
/// How long a pull or a round of private fields waits for its answer before it fails.
pub const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Shortest time between two checkpoints of one node.
const CHECKPOINT_INTERVAL_MS: u64 = 1_000;
/// The private fields of the platform's orders, when it writes orders, and who reads each
/// (of the four first members): the manufacturer the spec, logistics the address.
pub const SPEC: &str = "order.spec";
pub const ADDRESS: &str = "consumer.address";

/// What goes wrong on the network, per message.
#[derive(Clone, Copy)]
pub struct Faults {
    pub loss_per_mille: u64,
    pub duplicate_per_mille: u64,
    pub max_delay_ms: u64,
}

pub struct SimNode {
    pub member: MemberId,
    pub keys: MemberKeys,
    pub store: Arc<MemoryStore>,
    ledger: Ledger,
    pipeline: Pipeline,
    pub engine: Option<Engine>,
    pub book: Arc<Book>,
    checkpoints: CheckpointSync,
    checkpoint_worker: CheckpointWorker,
    courier: Courier,
    courier_worker: CourierWorker,
    /// Gossip messages waiting for their verdict: the batch, the peer it came from, and the
    /// member whose node published it.
    gossip: BTreeMap<u64, (GossipBatch, usize, MemberId)>,
    /// Gossip message ids seen (gossipsub drops repeats).
    seen: BTreeSet<[u8; 32]>,
    /// Requests from peers waiting for this node's answer: token -> (peer, its request id).
    asked: BTreeMap<u64, (usize, RequestId)>,
    /// Gossiped checkpoints waiting for their verdict, and the peer each came from.
    checkpoint_gossip: BTreeMap<u64, (Checkpoint, usize)>,
    /// Pulls and rounds this node sent, not answered yet, by request id.
    pending: BTreeMap<u64, Pending>,
    /// Peers' pulls and rounds waiting for this node's answer: token -> (peer, request id).
    asked_checkpoints: BTreeMap<u64, (usize, u64)>,
    asked_deliveries: BTreeMap<u64, (usize, u64)>,
    /// Checkpoints and deliveries this node refused.
    pub refused: u64,
}

/// A request of the checkpoint exchange or the courier waiting for its answer.
enum Pending {
    Pull(MemberId),
    Round(MemberId),
}

/// The answer to a pull or a round.
enum Answer {
    Checkpoints(SyncResponse),
    Deliveries(Vec<DeliveryAnswer>),
}

/// Something that happens to a node at a time.
enum Event {
    Input(Input),
    Checkpoint(CheckpointInput),
    Courier(CourierInput),
    /// The answer to request `id` of this node.
    Answer(u64, Answer),
    /// Request `id` of this node fails if it is still unanswered.
    Timeout(u64),
    Tick,
}

pub struct Sim {
    pub genesis: Arc<Consortium>,
    pub nodes: Vec<SimNode>,
    pub now: u64,
    queue: BTreeMap<(u64, u64), (usize, Event)>,
    order: u64,
    rng: SplitMix64,
    faults: Faults,
    links: BTreeSet<(usize, usize)>,
    next_token: u64,
    pub trace: Sha256,
    pub written: u64,
    /// Nodes that send garbage instead of running the node's machines.
    pub byzantine: BTreeSet<usize>,
    /// Of those, the ones that stall instead: they claim every chain far ahead of what
    /// anyone holds, and answer every range with nothing.
    pub stallers: BTreeSet<usize>,
    /// Of those, the ones that sign two checkpoints with one number, a different one for
    /// each side (or, with `split_view`, two tree heads of one chain at one size), and send
    /// other members' private fields as their own.
    pub forgers: BTreeSet<usize>,
    /// Forgers show a split view instead of one number twice.
    pub split_view: bool,
    /// The member that signs two histories of its chain, if one does: only it may be found
    /// forking.
    pub equivocator: Option<MemberId>,
    /// The platform (node 0) writes orders with private fields for the manufacturer and
    /// logistics instead of plain observations.
    pub private_orders: bool,
    /// Entries of the platform's orders.
    pub orders: Vec<tally_sdk::hash::EntryHash>,
}

fn config() -> EngineConfig {
    EngineConfig {
        heads_interval_ms: 300,
        request_timeout_ms: 500,
        range_limit: 50,
        flush_ms: 20,
        flush_entries: 25,
        ban_ms: 600_000,
        verdict_ms: 1_000,
        retry_ms: 100,
        ..EngineConfig::default()
    }
}

fn checkpoint_id(checkpoint: &Checkpoint) -> [u8; 32] {
    let bytes = tally_sdk::codec::encode("checkpoint", checkpoint).unwrap();
    Sha256::digest(bytes).into()
}

fn message_id(batch: &GossipBatch) -> [u8; 32] {
    let bytes = tally_node::replicate::wire::encode("gossip", batch).unwrap();
    Sha256::digest(bytes).into()
}

impl SimNode {
    /// The node's state machines as at a start from its store.
    fn start(&mut self, genesis: &Arc<Consortium>, engine: Engine) {
        let store: Arc<dyn Store> = self.store.clone();
        self.book = Arc::new(Book::new(store.clone(), genesis.clone()));
        self.checkpoints = CheckpointSync::new(CHECKPOINT_INTERVAL_MS, false);
        self.checkpoint_worker = CheckpointWorker::new(
            self.book.clone(),
            store.clone(),
            self.member.clone(),
            self.keys.signing.clone(),
            4 << 20,
        );
        self.courier = Courier::new(genesis.clone(), self.member.clone());
        self.courier_worker =
            CourierWorker::new(store, self.member.clone(), self.keys.x25519.clone());
        self.engine = Some(engine);
    }
}

impl Sim {
    pub fn new(seed: u64, faults: Faults, nodes: usize) -> Self {
        let (genesis, keys) = common::demo();
        let members: Vec<MemberId> = genesis.members().iter().map(|m| m.id.clone()).collect();
        let nodes = keys
            .into_iter()
            .take(nodes)
            .enumerate()
            .map(|(i, keys)| {
                let store = Arc::new(MemoryStore::new());
                check_store(store.as_ref(), genesis.network_id(), 64).unwrap();
                let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
                let engine = Engine::new(
                    config(),
                    keys.member.clone(),
                    members.clone(),
                    Vec::new(),
                    seed.wrapping_add(i as u64),
                );
                let dyn_store: Arc<dyn Store> = store.clone();
                let book = Arc::new(Book::new(dyn_store.clone(), genesis.clone()));
                let mut node = SimNode {
                    member: keys.member.clone(),
                    checkpoints: CheckpointSync::new(CHECKPOINT_INTERVAL_MS, false),
                    checkpoint_worker: CheckpointWorker::new(
                        book.clone(),
                        dyn_store.clone(),
                        keys.member.clone(),
                        keys.signing.clone(),
                        4 << 20,
                    ),
                    courier: Courier::new(genesis.clone(), keys.member.clone()),
                    courier_worker: CourierWorker::new(
                        dyn_store,
                        keys.member.clone(),
                        keys.x25519.clone(),
                    ),
                    book,
                    keys,
                    store,
                    ledger,
                    pipeline: Pipeline::new(genesis.clone(), 10_000),
                    engine: None,
                    gossip: BTreeMap::new(),
                    seen: BTreeSet::new(),
                    asked: BTreeMap::new(),
                    checkpoint_gossip: BTreeMap::new(),
                    pending: BTreeMap::new(),
                    asked_checkpoints: BTreeMap::new(),
                    asked_deliveries: BTreeMap::new(),
                    refused: 0,
                };
                node.start(&genesis, engine);
                node
            })
            .collect();
        let mut sim = Self {
            genesis,
            nodes,
            now: 0,
            queue: BTreeMap::new(),
            order: 0,
            rng: SplitMix64::new(seed),
            faults,
            links: BTreeSet::new(),
            next_token: 0,
            trace: Sha256::new(),
            written: 0,
            byzantine: BTreeSet::new(),
            stallers: BTreeSet::new(),
            forgers: BTreeSet::new(),
            split_view: false,
            equivocator: None,
            private_orders: false,
            orders: Vec::new(),
        };
        for i in 0..sim.nodes.len() {
            sim.at(0, i, Event::Tick);
        }
        for a in 0..sim.nodes.len() {
            for b in a + 1..sim.nodes.len() {
                sim.link(a, b);
            }
        }
        sim
    }

    fn at(&mut self, time: u64, node: usize, event: Event) {
        self.order += 1;
        self.queue.insert((time, self.order), (node, event));
    }

    /// Sends a network message: maybe lost, maybe twice, after a random delay.
    fn send(&mut self, from: usize, to: usize, message: impl Fn(&mut Self) -> Event) {
        if !self.links.contains(&(from.min(to), from.max(to))) {
            return;
        }
        if self.rng.below(1000) < self.faults.loss_per_mille {
            return;
        }
        let copies = if self.rng.below(1000) < self.faults.duplicate_per_mille {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = 1 + self.rng.below(self.faults.max_delay_ms);
            let message = message(self);
            self.at(self.now + delay, to, message);
        }
    }

    pub fn link(&mut self, a: usize, b: usize) {
        if self.links.insert((a.min(b), a.max(b))) {
            self.peer_event(a, b, true);
            self.peer_event(b, a, true);
        }
    }

    pub fn unlink(&mut self, a: usize, b: usize) {
        if self.links.remove(&(a.min(b), a.max(b))) {
            self.peer_event(a, b, false);
            self.peer_event(b, a, false);
        }
    }

    /// Tells each of node `i`'s machines that `j`'s node connected (`up`) or disconnected.
    fn peer_event(&mut self, i: usize, j: usize, up: bool) {
        let peer = self.nodes[j].member.clone();
        let (engine, checkpoints, courier) = if up {
            (
                Input::PeerUp { peer: peer.clone() },
                CheckpointInput::PeerUp { peer: peer.clone() },
                CourierInput::PeerUp { peer },
            )
        } else {
            (
                Input::PeerDown { peer: peer.clone() },
                CheckpointInput::PeerDown { peer: peer.clone() },
                CourierInput::PeerDown { peer },
            )
        };
        self.at(self.now, i, Event::Input(engine));
        self.at(self.now, i, Event::Checkpoint(checkpoints));
        self.at(self.now, i, Event::Courier(courier));
    }

    pub fn index_of(&self, member: &MemberId) -> usize {
        self.nodes.iter().position(|n| &n.member == member).unwrap()
    }

    /// Node `i` records `count` events as its member (signed by the node, as from its own
    /// systems).
    pub fn write(&mut self, i: usize, count: usize) {
        if self.nodes[i].engine.is_none() || self.byzantine.contains(&i) {
            return;
        }
        let now = Timestamp(EPOCH + self.now);
        let orders = self.private_orders && i == 0;
        let node = &mut self.nodes[i];
        let events = (0..count)
            .map(|n| {
                let epc = format!(
                    "https://id.gs1.org/01/09506000134352/21/{}-{}-{n}",
                    node.member, self.now
                );
                let time = Timestamp(EPOCH + self.now).to_rfc3339();
                if orders {
                    let mut private = BTreeMap::new();
                    for (field, value) in [(SPEC, "linen, 3 seats"), (ADDRESS, "1 Sim Road")] {
                        private.insert(
                            FieldName::new(field).unwrap(),
                            CanonicalJson::from_value(&json!(format!("{value} #{n}"))).unwrap(),
                        );
                    }
                    return EventInput {
                        event: json!({
                            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                            "disposition": "active", "eventTime": time,
                            "eventTimeZoneOffset": "+08:00", "epcList": [epc],
                            "tally:kind": "order",
                        }),
                        refs: Vec::new(),
                        private,
                    };
                }
                EventInput {
                    event: json!({
                        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
                        "disposition": "in_transit", "eventTime": time,
                        "eventTimeZoneOffset": "+08:00", "epcList": [epc],
                    }),
                    refs: Vec::new(),
                    private: BTreeMap::new(),
                }
            })
            .collect();
        let prepared = node.pipeline.prepare(&node.member, events).unwrap();
        let placement = node
            .ledger
            .sign(node.store.as_ref(), &node.keys, prepared, now);
        node.store.write(placement.writes).unwrap();
        node.ledger.committed();
        let receipts = placement.result.unwrap();
        if orders {
            self.orders.extend(receipts.iter().map(|r| r.hash));
        }
        let node = &mut self.nodes[i];
        let member = node.member.clone();
        let own: Vec<SignedEntry> = receipts
            .iter()
            .map(|r| node.store.entry(&r.hash).unwrap().unwrap())
            .collect();
        let last = receipts.last().unwrap();
        self.written += receipts.len() as u64;
        let head = HeadInfo {
            author: member,
            seq: last.seq,
            hash: last.hash,
        };
        self.at(
            self.now,
            i,
            Event::Input(Input::Committed {
                heads: vec![head],
                own,
            }),
        );
        self.at(self.now, i, Event::Checkpoint(CheckpointInput::ChainsGrew));
        self.at(self.now, i, Event::Courier(CourierInput::OwnCommitted));
    }

    /// Entries signed elsewhere, posted to node `i`'s API: stored, then gossiped by it.
    pub fn hand(&mut self, i: usize, entries: Vec<SignedEntry>) {
        let now = Timestamp(EPOCH + self.now);
        let node = &mut self.nodes[i];
        let checked = node.pipeline.check(entries.clone(), now).unwrap();
        let placement = node.ledger.place(node.store.as_ref(), checked);
        node.store.write(placement.writes).unwrap();
        node.ledger.committed();
        let receipts = placement.result.unwrap();
        let last = receipts.last().unwrap();
        let head = HeadInfo {
            author: last.author.clone(),
            seq: last.seq,
            hash: last.hash,
        };
        self.at(
            self.now,
            i,
            Event::Input(Input::Committed {
                heads: vec![head],
                own: entries,
            }),
        );
        self.at(self.now, i, Event::Checkpoint(CheckpointInput::ChainsGrew));
    }

    /// Stops node `i` (its store survives) and disconnects it.
    pub fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.engine = None;
        node.gossip.clear();
        node.asked.clear();
        node.checkpoint_gossip.clear();
        node.pending.clear();
        node.asked_checkpoints.clear();
        node.asked_deliveries.clear();
        for j in 0..self.nodes.len() {
            self.unlink(i, j);
        }
    }

    /// Starts node `i` again from its store, and reconnects it.
    pub fn restart(&mut self, i: usize, seed: u64) {
        let members: Vec<MemberId> = self
            .genesis
            .members()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        let node = &mut self.nodes[i];
        node.ledger = Ledger::load(self.genesis.clone(), node.store.as_ref()).unwrap();
        let stored = stored_heads(node.store.as_ref());
        let engine = Engine::new(config(), node.member.clone(), members, stored, seed);
        node.start(&self.genesis, engine);
        self.at(self.now, i, Event::Tick);
        for j in 0..self.nodes.len() {
            if j != i {
                self.link(i, j);
            }
        }
    }

    /// Runs every event up to `until`.
    pub fn run_until(&mut self, until: u64) {
        while let Some(entry) = self.queue.first_entry() {
            let (time, _) = *entry.key();
            if time > until {
                break;
            }
            let (node, event) = entry.remove();
            self.now = time;
            self.step(node, event);
        }
        self.now = until;
    }

    fn step(&mut self, i: usize, event: Event) {
        if self.byzantine.contains(&i) {
            self.misbehave(i, event);
            return;
        }
        if self.nodes[i].engine.is_none() {
            return;
        }
        match event {
            Event::Tick => {
                self.at(self.now + TICK_MS, i, Event::Tick);
                self.engine_input(i, Input::Tick { now: self.now });
                self.checkpoint_input(i, CheckpointInput::Tick { now: self.now });
                self.courier_input(i, CourierInput::Tick { now: self.now });
            }
            Event::Input(input) => self.engine_input(i, input),
            Event::Checkpoint(input) => self.checkpoint_input(i, input),
            Event::Courier(input) => self.courier_input(i, input),
            Event::Answer(id, answer) => match (self.nodes[i].pending.remove(&id), answer) {
                (Some(Pending::Pull(peer)), Answer::Checkpoints(response)) => {
                    let answer = CheckpointInput::Answer {
                        peer,
                        response: Some(response),
                    };
                    self.checkpoint_input(i, answer);
                }
                (Some(Pending::Round(reader)), Answer::Deliveries(answers)) => {
                    let answers = CourierInput::Answers {
                        reader,
                        answers: Some(answers),
                    };
                    self.courier_input(i, answers);
                }
                // A second copy, or an answer after the timeout: dropped, as libp2p does.
                _ => {}
            },
            Event::Timeout(id) => match self.nodes[i].pending.remove(&id) {
                Some(Pending::Pull(peer)) => {
                    let failed = CheckpointInput::Answer {
                        peer,
                        response: None,
                    };
                    self.checkpoint_input(i, failed);
                }
                Some(Pending::Round(reader)) => {
                    let failed = CourierInput::Answers {
                        reader,
                        answers: None,
                    };
                    self.courier_input(i, failed);
                }
                None => {}
            },
        }
    }

    fn engine_input(&mut self, i: usize, input: Input) {
        if let Input::Gossip {
            from,
            origin,
            token,
            batch: Some(batch),
        } = &input
        {
            // gossipsub drops a message it has seen, and remembers the rest to pass on.
            if !self.nodes[i].seen.insert(message_id(batch)) {
                return;
            }
            let source = self.index_of(from);
            self.nodes[i]
                .gossip
                .insert(*token, (batch.clone(), source, origin.clone()));
        }
        let Some(engine) = self.nodes[i].engine.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        engine.handle(input, &mut out);
        for output in out {
            self.trace.update(trace_line(self.now, i, &output));
            self.perform(i, output);
        }
    }

    fn perform(&mut self, i: usize, output: Output) {
        match output {
            Output::Send { to, id, request } => {
                let j = self.index_of(&to);
                let from = self.nodes[i].member.clone();
                self.send(i, j, |sim| {
                    sim.next_token += 1;
                    let token = sim.next_token;
                    sim.nodes[j].asked.insert(token, (i, id));
                    Event::Input(Input::Request {
                        from: from.clone(),
                        token,
                        request: Some(request.clone()),
                    })
                });
            }
            Output::Reply { token, response } => self.reply(i, token, response),
            Output::ServeRange {
                token,
                author,
                from,
                limit,
            } => {
                let entries = self.nodes[i]
                    .store
                    .chain_range(&author, from, limit as usize)
                    .unwrap()
                    .into_iter()
                    .map(|(_, e)| e)
                    .collect();
                self.reply(i, token, SyncResponse::Range(entries));
            }
            Output::Publish(batch) => {
                let me = self.nodes[i].member.clone();
                self.flood(i, None, &batch, &me);
            }
            Output::Verdict { token, acceptance } => {
                if let Some((batch, source, origin)) = self.nodes[i].gossip.remove(&token)
                    && acceptance == Acceptance::Accept
                {
                    self.flood(i, Some(source), &batch, &origin);
                }
            }
            Output::Ingest { ticket, entries } => {
                let node = &mut self.nodes[i];
                let now = Timestamp(EPOCH + self.now);
                let answer = node.pipeline.check(entries, now).and_then(|checked| {
                    let placement = node.ledger.place(node.store.as_ref(), checked);
                    node.store.write(placement.writes).unwrap();
                    node.ledger.committed();
                    placement.result
                });
                let outcome = classify(&answer, false);
                // The node's writer tells replication of a fork proof the pipeline stored.
                if let Err(IngestError::Rejected(list)) = &answer {
                    for rejection in list {
                        if let Problem::Conflict { author, seq, .. } = &rejection.problem {
                            let recorded = Input::ForkRecorded {
                                author: author.clone(),
                                seq: *seq,
                            };
                            self.at(self.now, i, Event::Input(recorded));
                            self.at(self.now, i, Event::Checkpoint(CheckpointInput::ChainsGrew));
                        }
                    }
                }
                let heads: Vec<HeadInfo> = answer
                    .iter()
                    .flatten()
                    .last()
                    .map(|r| HeadInfo {
                        author: r.author.clone(),
                        seq: r.seq,
                        hash: r.hash,
                    })
                    .into_iter()
                    .collect();
                self.at(
                    self.now,
                    i,
                    Event::Input(Input::IngestDone { ticket, outcome }),
                );
                if !heads.is_empty() {
                    self.at(
                        self.now,
                        i,
                        Event::Input(Input::Committed {
                            heads,
                            own: Vec::new(),
                        }),
                    );
                    self.at(self.now, i, Event::Checkpoint(CheckpointInput::ChainsGrew));
                }
            }
            Output::Ban { peer, .. } => {
                let j = self.index_of(&peer);
                self.unlink(i, j);
            }
            Output::Unban { .. } | Output::OwnChainCaughtUp => {}
            Output::ServeFork { token, author } => {
                let proof = forks::earliest_proof(self.nodes[i].store.as_ref(), &author).unwrap();
                let response =
                    proof.map_or(SyncResponse::Refused, |p| SyncResponse::Fork(Box::new(p)));
                self.reply(i, token, response);
            }
            // As the node's shell and writer do: check the proof with the genesis, keep it
            // unless one as early is held, and tell the engine.
            Output::RecordFork { from, proof } => {
                let verifier = Verifier::new(&self.genesis, Timestamp(EPOCH + self.now));
                if proof.verify(&verifier).is_err() {
                    self.at(self.now, i, Event::Input(Input::Misbehaved { peer: from }));
                    return;
                }
                let node = &mut self.nodes[i];
                if let Some(recorded) = node
                    .ledger
                    .record_fork(node.store.as_ref(), &proof)
                    .unwrap()
                {
                    node.store.write(recorded.writes).unwrap();
                    node.ledger.committed();
                    let input = Input::ForkRecorded {
                        author: recorded.author,
                        seq: recorded.seq,
                    };
                    self.at(self.now, i, Event::Input(input));
                    self.at(self.now, i, Event::Checkpoint(CheckpointInput::ChainsGrew));
                }
            }
            Output::CompareHead { peer, head } => {
                if forks::differs_from_stored(
                    self.nodes[i].store.as_ref(),
                    &head.author,
                    head.seq,
                    &head.hash,
                )
                .unwrap()
                {
                    self.at(
                        self.now,
                        i,
                        Event::Input(Input::HeadDiffers {
                            peer,
                            author: head.author,
                            seq: head.seq,
                        }),
                    );
                }
            }
            // Only the equivocator, if there is one, signs two histories: any other fork found
            // here would be a false accusation.
            Output::ForkFound { author, seq, .. } => {
                assert!(
                    self.equivocator.as_ref() == Some(&author),
                    "node {i} accuses {author} of a fork at {seq}, but it did not fork"
                );
            }
        }
    }

    fn reply(&mut self, i: usize, token: u64, response: SyncResponse) {
        let Some((j, id)) = self.nodes[i].asked.remove(&token) else {
            return;
        };
        let from = self.nodes[i].member.clone();
        self.send(i, j, |_| {
            Event::Input(Input::Response {
                from: from.clone(),
                id,
                response: Some(response.clone()),
            })
        });
    }

    /// Passes a gossip message to every linked peer but `except`, as gossipsub floods it.
    fn flood(&mut self, i: usize, except: Option<usize>, batch: &GossipBatch, origin: &MemberId) {
        self.nodes[i].seen.insert(message_id(batch));
        let from = self.nodes[i].member.clone();
        for j in 0..self.nodes.len() {
            if j == i || Some(j) == except {
                continue;
            }
            self.send(i, j, |sim| {
                sim.next_token += 1;
                let token = sim.next_token;
                Event::Input(Input::Gossip {
                    from: from.clone(),
                    origin: origin.clone(),
                    token,
                    batch: Some(batch.clone()),
                })
            });
        }
    }

    /// Gives node `i`'s checkpoint exchange an input and carries out what it answers.
    fn checkpoint_input(&mut self, i: usize, input: CheckpointInput) {
        if let CheckpointInput::Gossip {
            from,
            token,
            checkpoint: Some(checkpoint),
        } = &input
        {
            // gossipsub drops a message it has seen, and remembers the rest to pass on.
            if !self.nodes[i].seen.insert(checkpoint_id(checkpoint)) {
                return;
            }
            let source = self.index_of(from);
            self.nodes[i]
                .checkpoint_gossip
                .insert(*token, ((**checkpoint).clone(), source));
        }
        let mut out = Vec::new();
        self.nodes[i].checkpoints.handle(input, &mut out);
        for output in out {
            self.trace
                .update(checkpoint_trace_line(self.now, i, &output));
            self.perform_checkpoint(i, output);
        }
    }

    fn perform_checkpoint(&mut self, i: usize, output: CheckpointOutput) {
        match output {
            // The work is done at once; its answer comes a moment later, as from a thread.
            CheckpointOutput::Work(work) => {
                let now = Timestamp(EPOCH + self.now);
                let done = self.nodes[i].checkpoint_worker.run(work, now);
                self.at(
                    self.now + 1,
                    i,
                    Event::Checkpoint(CheckpointInput::Done(done)),
                );
            }
            CheckpointOutput::Publish(checkpoint) => {
                self.flood_checkpoint(i, None, &checkpoint);
            }
            CheckpointOutput::Pull { peer, request } => {
                let SyncRequest::Checkpoints {
                    from,
                    limit,
                    conflicts_held,
                } = request
                else {
                    panic!("a checkpoint pull that is not one: {request:?}");
                };
                let j = self.index_of(&peer);
                let id = self.request(i, Pending::Pull(peer));
                self.send(i, j, |sim| {
                    sim.next_token += 1;
                    let token = sim.next_token;
                    sim.nodes[j].asked_checkpoints.insert(token, (i, id));
                    Event::Checkpoint(CheckpointInput::Request {
                        token,
                        from: from.clone(),
                        limit,
                        conflicts_held: conflicts_held.clone(),
                    })
                });
            }
            CheckpointOutput::Reply { token, response } => {
                if let Some((j, id)) = self.nodes[i].asked_checkpoints.remove(&token) {
                    self.send(i, j, |_| {
                        Event::Answer(id, Answer::Checkpoints(response.clone()))
                    });
                }
            }
            CheckpointOutput::Verdict { token, acceptance } => {
                if let Some((checkpoint, source)) = self.nodes[i].checkpoint_gossip.remove(&token)
                    && acceptance == Acceptance::Accept
                {
                    self.flood_checkpoint(i, Some(source), &checkpoint);
                }
            }
            CheckpointOutput::HeadDiffers { peer, author, seq } => {
                let input = Input::HeadDiffers { peer, author, seq };
                self.at(self.now, i, Event::Input(input));
            }
            CheckpointOutput::Misbehaved { peer } => {
                self.assert_dishonest(i, &peer);
                self.at(self.now, i, Event::Input(Input::Misbehaved { peer }));
            }
            CheckpointOutput::Count(count) => {
                if count == tally_node::replicate::checkpoint_sync::CheckpointCount::Refused {
                    self.nodes[i].refused += 1;
                }
            }
        }
    }

    /// Gives node `i`'s courier an input and carries out what it answers.
    fn courier_input(&mut self, i: usize, input: CourierInput) {
        let mut out = Vec::new();
        self.nodes[i].courier.handle(input, &mut out);
        for output in out {
            self.trace.update(courier_trace_line(self.now, i, &output));
            self.perform_courier(i, output);
        }
    }

    fn perform_courier(&mut self, i: usize, output: CourierOutput) {
        match output {
            CourierOutput::Work(work) => {
                let done = self.nodes[i].courier_worker.run(work);
                self.at(self.now + 1, i, Event::Courier(CourierInput::Done(done)));
            }
            CourierOutput::Send { reader, deliveries } => {
                let j = self.index_of(&reader);
                let id = self.request(i, Pending::Round(reader));
                let sender = self.nodes[i].member.clone();
                self.send(i, j, |sim| {
                    sim.next_token += 1;
                    let token = sim.next_token;
                    sim.nodes[j].asked_deliveries.insert(token, (i, id));
                    Event::Courier(CourierInput::Deliveries {
                        token,
                        sender: Some(sender.clone()),
                        deliveries: Some(deliveries.clone()),
                    })
                });
            }
            CourierOutput::Reply { token, answers } => {
                if let Some((j, id)) = self.nodes[i].asked_deliveries.remove(&token) {
                    self.send(i, j, |_| {
                        Event::Answer(id, Answer::Deliveries(answers.clone()))
                    });
                }
            }
            CourierOutput::Misbehaved { peer } => {
                self.assert_dishonest(i, &peer);
                self.at(self.now, i, Event::Input(Input::Misbehaved { peer }));
            }
            CourierOutput::Count(count) => {
                if let tally_node::replicate::courier::CourierCount::Refused(n) = count {
                    self.nodes[i].refused += n;
                }
            }
        }
    }

    /// Checkpoints and private fields are only ever blamed on a member whose node misbehaves.
    fn assert_dishonest(&self, i: usize, peer: &MemberId) {
        let honest = self.honest().any(|j| &self.nodes[j].member == peer);
        assert!(!honest, "node {i} blames honest {peer} at {} ms", self.now);
    }

    /// A request of node `i` waiting for its answer until [`REQUEST_TIMEOUT_MS`]; its id.
    fn request(&mut self, i: usize, pending: Pending) -> u64 {
        self.next_token += 1;
        let id = self.next_token;
        self.nodes[i].pending.insert(id, pending);
        self.at(self.now + REQUEST_TIMEOUT_MS, i, Event::Timeout(id));
        id
    }

    /// Passes a checkpoint to every linked peer but `except`, as gossipsub floods it.
    fn flood_checkpoint(&mut self, i: usize, except: Option<usize>, checkpoint: &Checkpoint) {
        self.nodes[i].seen.insert(checkpoint_id(checkpoint));
        let from = self.nodes[i].member.clone();
        for j in 0..self.nodes.len() {
            if j == i || Some(j) == except {
                continue;
            }
            self.send(i, j, |sim| {
                sim.next_token += 1;
                Event::Checkpoint(CheckpointInput::Gossip {
                    from: from.clone(),
                    token: sim.next_token,
                    checkpoint: Some(Box::new(checkpoint.clone())),
                })
            });
        }
    }

    /// A byzantine node answers every request with entries of the wrong chain and gossips
    /// garbage and forged entries.
    fn misbehave(&mut self, i: usize, event: Event) {
        if self.stallers.contains(&i) {
            self.stall(i, event);
            return;
        }
        if self.forgers.contains(&i) {
            self.forge(i, event);
            return;
        }
        match event {
            Event::Tick => {
                self.at(self.now + 50, i, Event::Tick);
                let member = self.nodes[i].member.clone();
                let forged = self.forged_entry(i);
                for j in 0..self.nodes.len() {
                    if j == i {
                        continue;
                    }
                    let from = member.clone();
                    let choice = self.rng.below(2);
                    let batch = if choice == 0 {
                        None
                    } else {
                        Some(GossipBatch {
                            entries: vec![forged.clone()],
                        })
                    };
                    self.send(i, j, |sim| {
                        sim.next_token += 1;
                        Event::Input(Input::Gossip {
                            from: from.clone(),
                            origin: from.clone(),
                            token: sim.next_token,
                            batch: batch.clone(),
                        })
                    });
                }
            }
            Event::Input(Input::Request { token, .. }) => {
                if let Some((j, id)) = self.nodes[i].asked.remove(&token) {
                    let from = self.nodes[i].member.clone();
                    let forged = self.forged_entry(i);
                    self.send(i, j, |_| {
                        Event::Input(Input::Response {
                            from: from.clone(),
                            id,
                            response: Some(SyncResponse::Range(vec![forged.clone()])),
                        })
                    });
                }
            }
            _ => {}
        }
    }

    /// A forger signs, as witness, two checkpoints over the platform's first entry that cannot
    /// both be honest, and gossips one to nodes 0 and 1 and the other to nodes 2 and 3;
    /// and it sends the manufacturer's and logistics' nodes the platform's private fields of
    /// an order as if they were its own to send. It answers nothing.
    fn forge(&mut self, i: usize, event: Event) {
        if !matches!(event, Event::Tick) {
            return;
        }
        self.at(self.now + 200, i, Event::Tick);
        let platform = self.nodes[0].member.clone();
        let Some(first) = self.nodes[0]
            .store
            .chain_range(&platform, 0, 1)
            .unwrap()
            .pop()
        else {
            return;
        };
        let member = self.nodes[i].member.clone();
        // Either one number twice (another time in each), or a split view: numbers 0 and 1,
        // the true tree head of the platform's chain at one entry and another root.
        let network = self.genesis.network_id();
        let key = &self.nodes[i].keys.signing;
        let true_root = LogHash::entry_leaf(&first.0);
        let views: Vec<Checkpoint> = (0..2u64)
            .map(|k| {
                let (number, root) = if self.split_view {
                    let other = LogHash::leaf(b"another history");
                    (k, if k == 0 { true_root } else { other })
                } else {
                    (0, true_root)
                };
                let span = ChainSpan::new(platform.clone(), 0, &[first.0])
                    .unwrap()
                    .cosigned(&network, &member, root, key)
                    .unwrap();
                Checkpoint::sign(
                    network,
                    member.clone(),
                    number,
                    Timestamp(EPOCH + k),
                    vec![span],
                    key,
                )
                .unwrap()
            })
            .collect();
        for j in 0..4 {
            let view = views[j / 2].clone();
            let from = member.clone();
            self.send(i, j, |sim| {
                sim.next_token += 1;
                Event::Checkpoint(CheckpointInput::Gossip {
                    from: from.clone(),
                    token: sim.next_token,
                    checkpoint: Some(Box::new(view.clone())),
                })
            });
        }
        let Some(order) = self.orders.first().copied() else {
            return;
        };
        for j in [1, 3] {
            let reader = self.genesis.active_member(&self.nodes[j].member).unwrap();
            let store = self.nodes[0].store.clone();
            let Some(delivery) = seal_for(&self.genesis, store.as_ref(), reader, &order).unwrap()
            else {
                continue;
            };
            let from = member.clone();
            self.send(i, j, |sim| {
                sim.next_token += 1;
                let token = sim.next_token;
                sim.nodes[j].asked_deliveries.insert(token, (i, 0));
                Event::Courier(CourierInput::Deliveries {
                    token,
                    sender: Some(from.clone()),
                    deliveries: Some(vec![delivery.clone()]),
                })
            });
        }
    }

    /// A staller answers heads with every chain a million entries ahead (hashes made up) and
    /// every range with nothing, to keep honest nodes waiting on it.
    fn stall(&mut self, i: usize, event: Event) {
        let Event::Input(Input::Request { token, request, .. }) = event else {
            return;
        };
        let Some((j, id)) = self.nodes[i].asked.remove(&token) else {
            return;
        };
        let from = self.nodes[i].member.clone();
        let response = match request {
            Some(tally_node::replicate::wire::SyncRequest::Heads) => SyncResponse::Heads {
                heads: self
                    .genesis
                    .members()
                    .iter()
                    .map(|m| HeadInfo {
                        author: m.id.clone(),
                        seq: 1_000_000,
                        hash: tally_sdk::hash::EntryHash::digest(m.id.as_str().as_bytes()),
                    })
                    .collect(),
                forks: Vec::new(),
            },
            _ => SyncResponse::Range(Vec::new()),
        };
        self.send(i, j, |_| {
            Event::Input(Input::Response {
                from: from.clone(),
                id,
                response: Some(response.clone()),
            })
        });
    }

    /// An entry of another member's chain signed with the byzantine member's key.
    fn forged_entry(&self, i: usize) -> SignedEntry {
        let victim = &self.nodes[(i + 1) % self.nodes.len()].member;
        let event = common::event("assembling", "in_progress", 1, 0);
        tally_sdk::entry::UnsignedEntry::event(
            self.genesis.network_id(),
            victim.clone(),
            0,
            None,
            Timestamp(EPOCH),
            vec![],
            &event,
            None,
        )
        .unwrap()
        .sign(&self.nodes[i].keys.signing)
        .unwrap()
    }

    pub fn honest(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|i| !self.byzantine.contains(i))
    }

    pub fn converged(&self) -> bool {
        let mut heads = self
            .honest()
            .map(|i| stored_heads(self.nodes[i].store.as_ref()));
        let Some(first) = heads.next() else {
            return true;
        };
        let total: u64 = first.iter().map(|h| h.seq + 1).sum();
        total == self.written && heads.all(|h| h == first)
    }

    /// Runs until every honest node holds every entry written, or `deadline`.
    pub fn settle(&mut self, deadline: u64) -> bool {
        while self.now < deadline {
            if self.converged() {
                return true;
            }
            self.run_until(self.now + 100);
        }
        self.converged()
    }
}

impl Sim {
    /// Whether every honest node holds every honest witness's checkpoints without a gap, and
    /// each such witness has stated every chain it holds up to its head.
    pub fn witnessed_everywhere(&self) -> bool {
        self.honest().all(|w| {
            let witness = &self.nodes[w].member;
            let book = &self.nodes[w].book;
            let made = book.progress(witness).unwrap().next;
            let stated_all = stored_heads(self.nodes[w].store.as_ref())
                .iter()
                .all(|head| book.stated(witness, &head.author).unwrap() == Some(head.seq));
            made > 0
                && stated_all
                && self
                    .honest()
                    .all(|i| self.nodes[i].book.progress(witness).unwrap().contiguous == made)
        })
    }

    /// Runs until [`Sim::witnessed_everywhere`], or `deadline`.
    pub fn settle_witnessing(&mut self, deadline: u64) -> bool {
        while self.now < deadline {
            if self.witnessed_everywhere() {
                return true;
            }
            self.run_until(self.now + 100);
        }
        self.witnessed_everywhere()
    }

    /// The private field names node `i` holds of order `hash`.
    pub fn held_fields(&self, i: usize, hash: &tally_sdk::hash::EntryHash) -> Vec<String> {
        let store = self.nodes[i].store.as_ref();
        tally_node::private::row(store, hash)
            .unwrap()
            .map(|row| row.held.fields.iter().map(|f| f.name.to_string()).collect())
            .unwrap_or_default()
    }

    /// Whether the platform's node still has private fields to deliver to `reader`'s node.
    pub fn undelivered(&self, reader: usize) -> bool {
        let reader = &self.nodes[reader].member;
        !tally_node::private::outbox(self.nodes[0].store.as_ref(), reader, 1)
            .unwrap()
            .is_empty()
    }
}

pub fn stored_heads(store: &MemoryStore) -> Vec<HeadInfo> {
    store
        .heads()
        .unwrap()
        .into_iter()
        .map(|h| HeadInfo {
            author: h.author,
            seq: h.tip.seq,
            hash: h.tip.hash,
        })
        .collect()
}

fn trace_line(now: u64, node: usize, output: &Output) -> Vec<u8> {
    let what = match output {
        Output::Send { to, id, request } => format!("send {to} {id} {request:?}"),
        Output::Reply { token, response } => match response {
            SyncResponse::Heads { heads, forks } => {
                format!("heads {token} {} {}", heads.len(), forks.len())
            }
            other => format!("reply {token} {other:?}"),
        },
        Output::ServeRange {
            token,
            author,
            from,
            limit,
        } => format!("serve {token} {author} {from} {limit}"),
        Output::Publish(batch) => format!("publish {:?}", message_id(batch)),
        Output::Verdict { token, acceptance } => format!("verdict {token} {acceptance:?}"),
        Output::Ingest { ticket, entries } => format!("ingest {ticket} {}", entries.len()),
        Output::Ban { peer, until } => format!("ban {peer} {until}"),
        Output::Unban { peer } => format!("unban {peer}"),
        Output::ForkFound { author, seq, .. } => format!("fork {author} {seq}"),
        Output::ServeFork { token, author } => format!("serve fork {token} {author}"),
        Output::RecordFork { from, proof } => {
            format!("record fork {from} {}", proof.first.body.author)
        }
        Output::CompareHead { peer, head } => {
            format!("compare {peer} {} {}", head.author, head.seq)
        }
        Output::OwnChainCaughtUp => "own chain caught up".to_owned(),
    };
    format!("{now} {node} {what}\n").into_bytes()
}

fn checkpoint_trace_line(now: u64, node: usize, output: &CheckpointOutput) -> Vec<u8> {
    let what = match output {
        CheckpointOutput::Work(work) => match work {
            CheckpointWork::Make => "make".to_owned(),
            CheckpointWork::Check { token, from, .. } => format!("check {token} {from}"),
            CheckpointWork::Recheck(waiting) => format!("recheck {}", waiting.len()),
            CheckpointWork::Progress { peer } => format!("progress {peer}"),
            CheckpointWork::Record {
                peer,
                checkpoints,
                conflicts,
            } => format!("record {peer} {} {}", checkpoints.len(), conflicts.len()),
            CheckpointWork::Serve { token, from, .. } => format!("serve {token} {from:?}"),
        },
        CheckpointOutput::Publish(checkpoint) => {
            format!("publish checkpoint {:?}", checkpoint_id(checkpoint))
        }
        CheckpointOutput::Pull { peer, request } => format!("pull {peer} {request:?}"),
        CheckpointOutput::Reply { token, response } => match response {
            SyncResponse::Checkpoints {
                checkpoints,
                conflicts,
            } => format!(
                "checkpoints {token} {} {}",
                checkpoints.len(),
                conflicts.len()
            ),
            other => format!("checkpoints {token} {other:?}"),
        },
        CheckpointOutput::Verdict { token, acceptance } => {
            format!("checkpoint verdict {token} {acceptance:?}")
        }
        CheckpointOutput::HeadDiffers { peer, author, seq } => {
            format!("checkpoint head differs {peer} {author} {seq}")
        }
        CheckpointOutput::Misbehaved { peer } => format!("checkpoint offence {peer}"),
        CheckpointOutput::Count(count) => format!("{count:?}"),
    };
    format!("{now} {node} {what}\n").into_bytes()
}

/// Sealed fields are encrypted to a fresh key each time: only what does not vary is traced.
fn courier_trace_line(now: u64, node: usize, output: &CourierOutput) -> Vec<u8> {
    let what = match output {
        CourierOutput::Work(work) => match work {
            CourierWork::Seal { reader, parked, .. } => {
                format!("seal {reader} {}", parked.len())
            }
            CourierWork::Forget { reader, stored, ok } => {
                format!("forget {reader} {} {ok}", stored.len())
            }
            CourierWork::Receive {
                token,
                sender,
                deliveries,
                ..
            } => format!("receive {token} {sender} {}", deliveries.len()),
        },
        CourierOutput::Send { reader, deliveries } => {
            format!("deliver {reader} {}", deliveries.len())
        }
        CourierOutput::Reply { token, answers } => format!("answers {token} {answers:?}"),
        CourierOutput::Misbehaved { peer } => format!("delivery offence {peer}"),
        CourierOutput::Count(count) => format!("{count:?}"),
    };
    format!("{now} {node} {what}\n").into_bytes()
}

/// Every chain each honest node holds verifies from its first entry, with the SDK alone.
pub fn assert_chains_verify(sim: &Sim) {
    let verifier = Verifier::new(&sim.genesis, Timestamp(EPOCH + sim.now));
    for i in sim.honest() {
        let store = sim.nodes[i].store.as_ref();
        for head in stored_heads(store) {
            let entries = store.chain_range(&head.author, 0, usize::MAX).unwrap();
            assert_eq!(entries.len() as u64, head.seq + 1);
            let mut tip: Option<ChainTip> = None;
            for (_, entry) in entries {
                let verified = verifier.verify(entry, tip.as_ref()).unwrap();
                tip = Some(ChainTip::of(&verified));
            }
        }
    }
}
