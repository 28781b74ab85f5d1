//! The replication engine in a simulated network, in one process and deterministic: four
//! member nodes of the demo consortium, each with a real pipeline and ledger over an in-memory
//! store, write events at random while the network loses, duplicates, delays and reorders
//! messages, splits 2+2 and heals, and one node restarts. Invariant: every node ends with the
//! same heads, every chain verifies with the SDK alone, and the same seed gives the same trace.
//! A member whose node sends garbage is banned and the others still converge; one that claims
//! heads it never serves does not stall them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use tally_node::forks;
use tally_node::ingest::{EventInput, IngestError, Ledger, Pipeline, Problem};
use tally_node::replicate::engine::{
    Acceptance, Engine, EngineConfig, Input, Output, RequestId, SplitMix64,
};
use tally_node::replicate::outcome::classify;
use tally_node::replicate::wire::{GossipBatch, HeadInfo, SyncResponse};
use tally_node::store::Store;
use tally_node::store::check::check_store;
use tally_node::store::memory::MemoryStore;
use tally_sdk::entry::SignedEntry;
use tally_sdk::genesis::Genesis;
use tally_sdk::ids::MemberId;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::{ChainTip, Verifier};

/// Simulated milliseconds are added to this (2026-03-01) for entry timestamps.
const EPOCH: u64 = 1_772_326_800_000;
const TICK_MS: u64 = 10;

/// What goes wrong on the network, per message.
#[derive(Clone, Copy)]
struct Faults {
    loss_per_mille: u64,
    duplicate_per_mille: u64,
    max_delay_ms: u64,
}

struct SimNode {
    member: MemberId,
    keys: MemberKeys,
    store: Arc<MemoryStore>,
    ledger: Ledger,
    pipeline: Pipeline,
    engine: Option<Engine>,
    /// Gossip messages received, by token: the batch and who passed it on (to relay on
    /// Accept, as gossipsub does).
    /// Gossip messages waiting for their verdict: the batch, the peer it came from, and the
    /// member whose node published it.
    gossip: BTreeMap<u64, (GossipBatch, usize, MemberId)>,
    /// Gossip message ids seen (gossipsub drops repeats).
    seen: BTreeSet<[u8; 32]>,
    /// Requests from peers waiting for this node's answer: token -> (peer, its request id).
    asked: BTreeMap<u64, (usize, RequestId)>,
}

/// Something that happens to a node at a time.
enum Event {
    Input(Input),
    Tick,
}

struct Sim {
    genesis: Arc<Genesis>,
    nodes: Vec<SimNode>,
    now: u64,
    queue: BTreeMap<(u64, u64), (usize, Event)>,
    order: u64,
    rng: SplitMix64,
    faults: Faults,
    links: BTreeSet<(usize, usize)>,
    next_token: u64,
    trace: Sha256,
    written: u64,
    /// Nodes that send garbage instead of running an engine.
    byzantine: BTreeSet<usize>,
    /// Of those, the ones that stall instead: they claim every chain far ahead of what
    /// anyone holds, and answer every range with nothing.
    stallers: BTreeSet<usize>,
    /// The member that signs two histories of its chain, if one does: only it may be found
    /// forking.
    equivocator: Option<MemberId>,
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

fn message_id(batch: &GossipBatch) -> [u8; 32] {
    let bytes = tally_node::replicate::wire::encode("gossip", batch).unwrap();
    Sha256::digest(bytes).into()
}

impl Sim {
    fn new(seed: u64, faults: Faults, nodes: usize) -> Self {
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
                SimNode {
                    member: keys.member.clone(),
                    keys,
                    store,
                    ledger,
                    pipeline: Pipeline::new(genesis.clone(), 10_000),
                    engine: Some(engine),
                    gossip: BTreeMap::new(),
                    seen: BTreeSet::new(),
                    asked: BTreeMap::new(),
                }
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
            equivocator: None,
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
    fn send(&mut self, from: usize, to: usize, input: impl Fn(&mut Self) -> Input) {
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
            let message = input(self);
            self.at(self.now + delay, to, Event::Input(message));
        }
    }

    fn link(&mut self, a: usize, b: usize) {
        if self.links.insert((a.min(b), a.max(b))) {
            let (ma, mb) = (self.nodes[a].member.clone(), self.nodes[b].member.clone());
            self.at(self.now, a, Event::Input(Input::PeerUp { peer: mb }));
            self.at(self.now, b, Event::Input(Input::PeerUp { peer: ma }));
        }
    }

    fn unlink(&mut self, a: usize, b: usize) {
        if self.links.remove(&(a.min(b), a.max(b))) {
            let (ma, mb) = (self.nodes[a].member.clone(), self.nodes[b].member.clone());
            self.at(self.now, a, Event::Input(Input::PeerDown { peer: mb }));
            self.at(self.now, b, Event::Input(Input::PeerDown { peer: ma }));
        }
    }

    fn index_of(&self, member: &MemberId) -> usize {
        self.nodes.iter().position(|n| &n.member == member).unwrap()
    }

    /// Node `i` records `count` events as its member (signed by the node, as from its own
    /// systems).
    fn write(&mut self, i: usize, count: usize) {
        if self.nodes[i].engine.is_none() || self.byzantine.contains(&i) {
            return;
        }
        let now = Timestamp(EPOCH + self.now);
        let node = &mut self.nodes[i];
        let events = (0..count)
            .map(|n| EventInput {
                event: json!({
                    "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
                    "disposition": "in_transit",
                    "eventTime": Timestamp(EPOCH + self.now).to_rfc3339(),
                    "eventTimeZoneOffset": "+08:00",
                    "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{}-{}-{n}", node.member, self.now)],
                }),
                refs: Vec::new(),
                private: BTreeMap::new(),
            })
            .collect();
        let prepared = node.pipeline.prepare(&node.member, events).unwrap();
        let placement = node
            .ledger
            .sign(node.store.as_ref(), &node.keys, prepared, now);
        node.store.write(placement.writes).unwrap();
        node.ledger.committed();
        let receipts = placement.result.unwrap();
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
    }

    /// Entries signed elsewhere, posted to node `i`'s API: stored, then gossiped by it.
    fn hand(&mut self, i: usize, entries: Vec<SignedEntry>) {
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
    }

    /// Stops node `i` (its store survives) and disconnects it.
    fn crash(&mut self, i: usize) {
        self.nodes[i].engine = None;
        self.nodes[i].gossip.clear();
        self.nodes[i].asked.clear();
        for j in 0..self.nodes.len() {
            self.unlink(i, j);
        }
    }

    /// Starts node `i` again from its store, and reconnects it.
    fn restart(&mut self, i: usize, seed: u64) {
        let members: Vec<MemberId> = self
            .genesis
            .members()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        let node = &mut self.nodes[i];
        node.ledger = Ledger::load(self.genesis.clone(), node.store.as_ref()).unwrap();
        let stored = stored_heads(node.store.as_ref());
        node.engine = Some(Engine::new(
            config(),
            node.member.clone(),
            members,
            stored,
            seed,
        ));
        self.at(self.now, i, Event::Tick);
        for j in 0..self.nodes.len() {
            if j != i {
                self.link(i, j);
            }
        }
    }

    /// Runs every event up to `until`.
    fn run_until(&mut self, until: u64) {
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
        let input = match event {
            Event::Tick => {
                if self.nodes[i].engine.is_none() {
                    return;
                }
                self.at(self.now + TICK_MS, i, Event::Tick);
                Input::Tick { now: self.now }
            }
            Event::Input(input) => input,
        };
        if self.nodes[i].engine.is_none() {
            return;
        }
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
                    Input::Request {
                        from: from.clone(),
                        token,
                        request: Some(request.clone()),
                    }
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
                }
            }
            Output::CompareHead { peer, head } => {
                if forks::differs_from_stored(self.nodes[i].store.as_ref(), &head).unwrap() {
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
        self.send(i, j, |_| Input::Response {
            from: from.clone(),
            id,
            response: Some(response.clone()),
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
                Input::Gossip {
                    from: from.clone(),
                    origin: origin.clone(),
                    token,
                    batch: Some(batch.clone()),
                }
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
        let Event::Input(input) = event else {
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
                    Input::Gossip {
                        from: from.clone(),
                        origin: from.clone(),
                        token: sim.next_token,
                        batch: batch.clone(),
                    }
                });
            }
            return;
        };
        if let Input::Request { token, .. } = input
            && let Some((j, id)) = self.nodes[i].asked.remove(&token)
        {
            let from = self.nodes[i].member.clone();
            let forged = self.forged_entry(i);
            self.send(i, j, |_| Input::Response {
                from: from.clone(),
                id,
                response: Some(SyncResponse::Range(vec![forged.clone()])),
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
        self.send(i, j, |_| Input::Response {
            from: from.clone(),
            id,
            response: Some(response.clone()),
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

    fn honest(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|i| !self.byzantine.contains(i))
    }

    fn converged(&self) -> bool {
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
    fn settle(&mut self, deadline: u64) -> bool {
        while self.now < deadline {
            if self.converged() {
                return true;
            }
            self.run_until(self.now + 100);
        }
        self.converged()
    }
}

fn stored_heads(store: &MemoryStore) -> Vec<HeadInfo> {
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

/// Every chain each honest node holds verifies from its first entry, with the SDK alone.
fn assert_chains_verify(sim: &Sim) {
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

/// The scenario: writes everywhere; a 2+2 partition and its heal; a crash and restart.
/// Returns the trace hash and the simulated time it took to converge.
fn scenario(seed: u64) -> ([u8; 32], u64) {
    let faults = Faults {
        loss_per_mille: 50,
        duplicate_per_mille: 50,
        max_delay_ms: 40,
    };
    let mut sim = Sim::new(seed, faults, 4);
    let mut writes = SplitMix64::new(seed ^ 0x5eed);
    for step in 0..90u64 {
        let t = step * 100;
        sim.run_until(t);
        match t {
            3_000 => {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.unlink(a, b);
                }
            }
            6_000 => {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.link(a, b);
                }
            }
            7_000 => sim.crash(3),
            8_000 => sim.restart(3, seed ^ 3),
            _ => {}
        }
        let node = writes.below(4) as usize;
        let count = 1 + writes.below(8) as usize;
        sim.write(node, count);
    }
    assert!(
        sim.settle(120_000),
        "seed {seed}: the nodes did not converge: {:?}",
        (0..4)
            .map(|i| stored_heads(sim.nodes[i].store.as_ref())
                .iter()
                .map(|h| (h.author.to_string(), h.seq))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert!(sim.written > 100);
    assert_chains_verify(&sim);
    for node in &sim.nodes {
        let engine = node.engine.as_ref().unwrap();
        assert!(
            engine.own_chain_caught_up(),
            "seed {seed}: {} never compared its own chain with a peer",
            node.member
        );
    }
    let settled_at = sim.now;
    eprintln!(
        "seed {seed}: {} entries written, converged at {settled_at} ms",
        sim.written
    );
    (sim.trace.finalize().into(), settled_at)
}

#[test]
fn four_nodes_converge_through_loss_partition_and_restart() {
    for seed in [1, 2, 3] {
        scenario(seed);
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let (a, _) = scenario(7);
    let (b, _) = scenario(7);
    let (c, _) = scenario(8);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn a_node_that_sends_garbage_is_banned_and_the_others_converge() {
    let faults = Faults {
        loss_per_mille: 0,
        duplicate_per_mille: 0,
        max_delay_ms: 20,
    };
    // The fifth member's node (the regulator's) misbehaves.
    let mut sim = Sim::new(11, faults, 5);
    sim.byzantine.insert(4);
    let mut writes = SplitMix64::new(11);
    for step in 0..30u64 {
        sim.run_until(step * 100);
        sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
    }
    assert!(sim.settle(60_000), "the honest nodes did not converge");
    assert_chains_verify(&sim);
    let regulator = sim.nodes[4].member.clone();
    for i in sim.honest() {
        let engine = sim.nodes[i].engine.as_ref().unwrap();
        assert!(
            engine.is_banned(&regulator),
            "node {i} did not ban the regulator's node"
        );
        // Nothing forged was stored.
        for head in stored_heads(sim.nodes[i].store.as_ref()) {
            assert_ne!(head.author, regulator);
        }
    }
}

/// Stalling replication: a member's node claims every chain far ahead of what anyone holds
/// and answers every range with nothing, through loss and delay. The honest nodes still get
/// every entry from each other, and do not wait on it for ever.
#[test]
fn a_node_that_claims_heads_it_never_serves_does_not_stall_the_others() {
    let faults = Faults {
        loss_per_mille: 30,
        duplicate_per_mille: 30,
        max_delay_ms: 30,
    };
    let mut sim = Sim::new(31, faults, 5);
    sim.byzantine.insert(4);
    sim.stallers.insert(4);
    let mut writes = SplitMix64::new(31);
    for step in 0..30u64 {
        sim.run_until(step * 100);
        sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
    }
    assert!(
        sim.settle(60_000),
        "the honest nodes did not converge while one node stalled"
    );
    assert_chains_verify(&sim);
    for i in sim.honest() {
        let engine = sim.nodes[i].engine.as_ref().unwrap();
        for j in sim.honest() {
            assert!(
                !engine.is_banned(&sim.nodes[j].member),
                "node {i} banned honest node {j}"
            );
        }
    }
}

/// Issue 20, item 1, in the simulated network: the regulator (which runs no node) signs two
/// histories of its chain from entry 1 and hands each to one side of a partition, while every
/// node writes and the network loses, duplicates and delays messages. Once the partition
/// heals, every node holds the fork proof and has frozen the chain from entry 1; the other
/// chains converge and verify.
#[test]
fn a_member_signing_two_histories_is_found_by_every_node_through_loss_and_partition() {
    for seed in [21, 22, 23] {
        let faults = Faults {
            loss_per_mille: 50,
            duplicate_per_mille: 50,
            max_delay_ms: 40,
        };
        let mut sim = Sim::new(seed, faults, 4);
        let (genesis, keys) = common::demo();
        let regulator = keys[4].clone();
        sim.equivocator = Some(regulator.member.clone());
        let one = common::chain_of(&genesis, &regulator, 0, 3, None, |seq| {
            common::arrival(&regulator.member, seq)
        });
        let other = common::chain_of(
            &genesis,
            &regulator,
            1,
            2,
            Some(one[0].hash().unwrap()),
            |seq| common::arrival(&regulator.member, 100 + seq),
        );
        for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
            sim.unlink(a, b);
        }
        sim.hand(0, one);
        let mut second = vec![
            common::chain_of(&genesis, &regulator, 0, 1, None, |seq| {
                common::arrival(&regulator.member, seq)
            })
            .remove(0),
        ];
        second.extend(other);
        sim.hand(2, second);
        let mut writes = SplitMix64::new(seed);
        for step in 0..60u64 {
            sim.run_until(step * 100);
            if step == 30 {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.link(a, b);
                }
            }
            sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
        }
        sim.run_until(60_000);
        let others = |i: usize| {
            stored_heads(sim.nodes[i].store.as_ref())
                .into_iter()
                .filter(|h| h.author != regulator.member)
                .collect::<Vec<_>>()
        };
        for i in 0..4 {
            let node = &sim.nodes[i];
            let proofs = node.store.forks(10).unwrap();
            assert!(
                proofs
                    .iter()
                    .any(|p| p.first.body.author == regulator.member && p.first.body.seq == 1),
                "seed {seed}: node {i} holds no fork proof of the regulator: {proofs:?}"
            );
            let engine = node.engine.as_ref().unwrap();
            assert_eq!(
                engine.forked(),
                vec![regulator.member.clone()],
                "seed {seed}"
            );
            assert_eq!(others(i), others(0), "seed {seed}: node {i}");
        }
        assert_chains_verify(&sim);
    }
}
