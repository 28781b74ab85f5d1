//! The network shell: runs the replication [`Engine`] on libp2p (TCP, Noise, Yamux; gossipsub
//! for new entries and checkpoints, request-response for sync and for private fields), the
//! node's checkpoint work (`checkpoints`) and the private-field courier (`courier`).
//!
//! One tokio task owns the swarm and the engine. It turns libp2p events, the writer's
//! [`Committed`] notices and the answers of blocking work into engine inputs, and carries out
//! the engine's outputs. Nothing CPU-heavy runs on it: verifying entries from peers (the
//! node's one pipeline, then the writer) and reading ranges from the store run on the blocking
//! pool and report back on bounded channels.
//!
//! The code: this module (the network's start, the shell's state and loop), `swarm` (the
//! behaviours and topics), `status` (peers' status and metrics), `events` (the swarm's
//! events), `outputs` (the engine's outputs carried out), and the shell's sides of the
//! checkpoint exchange, the courier and governance.
//!
//! Admission: only the peer ids the genesis lists may connect (the allow list is the first
//! behaviour, so no other protocol sees a refused peer); refusals are logged and counted. Bans
//! decided by the engine take a member off the allow list, which closes its connections, until
//! the ban ends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, allow_block_list, connection_limits, noise, ping, tcp,
    yamux,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tally_sdk::codec;
use tally_sdk::crypto::{SigningKey, X25519SecretKey};
use tally_sdk::entry::SignedEntry;
use tally_sdk::gs1::ProductId;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::attestation::Attestation;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::checkpoint_sync::{CheckpointDone, CheckpointInput, CheckpointWorker};
use super::codec::{DELIVERY_PROTOCOL, DeliveryCodec, Inbound, PROTOCOL, SyncCodec};
use super::courier::{Courier, CourierDone, CourierInput, CourierWorker};
use super::engine::{
    Acceptance, Engine, EngineConfig, GossipToken, IngestOutcome, Input, Output, ReplyToken,
    RequestId, Ticket,
};
use super::identity::{self, IdentityError};
use super::outcome::classify;
use super::wire::{self, GossipBatch, HeadInfo, SyncRequest, SyncResponse};
use crate::commit::{Committed, Committer};
use crate::consortium::SharedConsortium;
use crate::ingest::IngestError;
use crate::store::Store;
use crate::witness::book::Book;

mod attest;
mod checkpoints;
mod courier;
mod events;
mod governance;
mod outputs;
mod status;
mod swarm;

pub use status::{NetHandle, NetMetrics, NetStatus, PeerStatus};
pub use swarm::{Behaviour, BehaviourEvent, build_swarm, checkpoints_topic, entries_topic};

pub use attest::{ATTEST_WAIT, AttestAsk, AttestAsks};
use attest::{AttestBack, Attesting};
use checkpoints::Checkpoints;
use courier::Delivering;
use governance::{GovernanceBack, GovernanceSync};

/// Most bytes of entries in one range answer (the message cap is larger).
const RANGE_BYTES: usize = 4 << 20;
/// Most bytes of entries in one gossip message.
pub const GOSSIP_BYTES: usize = 512 << 10;
/// Largest gossip message accepted (a batch, with room for its envelope).
const GOSSIP_MAX_TRANSMIT: usize = GOSSIP_BYTES + (128 << 10);
/// Peer requests waiting for an answer; beyond, requests are refused at once.
const MAX_OPEN_REPLIES: usize = 256;
/// Gossip messages waiting for a verdict; beyond, messages are ignored at once.
const MAX_OPEN_VERDICTS: usize = 1024;
/// How often the engine is ticked.
const TICK: Duration = Duration::from_millis(10);
/// Shortest and longest wait before dialing a member again.
const REDIAL_MIN: Duration = Duration::from_secs(1);
const REDIAL_MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long was a good one: once it closes, the node dials again at
/// once. One closed sooner (a node that lets the handshake through and then drops the
/// connection, as one does after a governance change ended this node's admission) counts as a
/// failed dial, so the node backs off instead of dialling in a loop.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);
/// How long an idle connection stays open (gossipsub keeps only mesh peers alive by itself).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The network cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node's identity does not match the genesis.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A bootstrap address names a peer that is not another member's node.
    #[error(
        "config key `p2p.bootstrap`: {address} names a peer that is not another member's node in the genesis"
    )]
    NotAMember {
        /// The address.
        address: Multiaddr,
    },
    /// libp2p could not be set up.
    #[error("cannot set up libp2p: {0}")]
    Setup(String),
    /// A listen address cannot be bound.
    #[error("cannot listen on {address} (config key `p2p.listen`): {reason}")]
    Listen {
        /// The address.
        address: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// What the network needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// Where to listen.
    pub listen: Vec<Multiaddr>,
    /// Where to find members' nodes beyond the genesis addresses; each ends with
    /// `/p2p/<peer id>` of a member.
    pub bootstrap: Vec<Multiaddr>,
    /// The engine's pacing and bounds.
    pub engine: EngineConfig,
    /// Shortest time between two of the node's checkpoints.
    pub checkpoint_interval: Duration,
}

impl NetConfig {
    /// The network settings of a node's configuration.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            listen: config.p2p_listen.clone(),
            bootstrap: config.p2p_bootstrap.clone(),
            engine: EngineConfig::default(),
            checkpoint_interval: config.checkpoint_interval,
        }
    }
}

/// Clears a restored store's mark and lets the node sign again, once it holds its own chain
/// as far as the other members' nodes do.
fn release_signing(store: &dyn Store, committer: &Committer) {
    match store.set_restored(false) {
        Ok(()) => {
            committer.release_signing();
            tracing::info!(
                "got back from other members' nodes what this node signed after its backup: signing new events again"
            );
        }
        Err(error) => {
            tracing::error!(%error, "cannot clear the store's backup mark: signing stays held");
        }
    }
}

/// The peer id an address ends with, if any.
fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// What the parts of the node the network works with.
pub struct NetParts {
    /// The consortium in force, followed as governance changes are applied.
    pub consortium: SharedConsortium,
    /// This node's member.
    pub me: MemberId,
    /// The node's libp2p identity ([`identity::keypair`]).
    pub keypair: Keypair,
    /// The store, for reads.
    pub store: Arc<dyn Store>,
    /// The writer, for entries from peers.
    pub committer: Committer,
    /// The checkpoints held.
    pub book: Arc<Book>,
    /// The member's signing key, for the node's checkpoints.
    pub signing: SigningKey,
    /// The member's X25519 key, to open the private fields sent to it.
    pub x25519: X25519SecretKey,
    /// The writer's notices.
    pub feed: mpsc::Receiver<Committed>,
    /// Seeds the engine's random choices.
    pub seed: u64,
}

impl std::fmt::Debug for NetParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetParts")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

/// The running network.
#[derive(Debug)]
pub struct Network {
    handle: NetHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Network {
    /// Builds the swarm, starts listening and dialing, and runs the network on the current
    /// tokio runtime. `handle` is where its state and metrics are shown.
    pub fn start(parts: NetParts, config: NetConfig, handle: NetHandle) -> Result<Self, NetError> {
        let genesis = parts.consortium.current();
        let peers = identity::members(&genesis, &parts.me)?;
        let topic = entries_topic(&genesis);
        let checkpoint_topic = checkpoints_topic(&genesis);
        let mut swarm = build_swarm(parts.keypair.clone(), &peers)?;
        for topic in [&topic, &checkpoint_topic] {
            swarm
                .behaviour_mut()
                .gossip
                .subscribe(topic)
                .map_err(|e| NetError::Setup(e.to_string()))?;
        }
        for address in &config.listen {
            swarm
                .listen_on(address.clone())
                .map_err(|e| NetError::Listen {
                    address: address.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut addresses: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
        for member in genesis.members() {
            let Ok(peer) = member.peer_id.parse::<PeerId>() else {
                continue;
            };
            let known = addresses.entry(peer).or_default();
            known.extend(member.addresses.iter().filter_map(|a| a.parse().ok()));
        }
        for address in &config.bootstrap {
            if let Some(peer) = peer_of(address) {
                if !peers.contains_key(&peer) {
                    return Err(NetError::NotAMember {
                        address: address.clone(),
                    });
                }
                addresses.entry(peer).or_default().push(address.clone());
            }
        }
        let stored: Vec<HeadInfo> = parts
            .store
            .heads()
            .map_err(|e| NetError::Setup(format!("cannot read the chain heads: {e}")))?
            .into_iter()
            .map(|h| HeadInfo {
                author: h.author,
                seq: h.tip.seq,
                hash: h.tip.hash,
            })
            .collect();
        // Every chain ever admitted is kept in sync, removed members' included (their entries
        // before the removal stay valid); only current members may connect.
        let members = genesis.all_members().iter().map(|m| m.id.clone());
        let mut engine = Engine::new(config.engine, parts.me.clone(), members, stored, parts.seed);
        let forks = crate::forks::fork_points(parts.store.as_ref())
            .map_err(|e| NetError::Setup(format!("cannot read the fork proofs: {e}")))?;
        for (author, seq) in forks.iter() {
            engine.remember_fork(author, seq);
        }
        if engine.own_chain_caught_up() && parts.committer.signing_held() {
            // No other member to get anything back from.
            release_signing(parts.store.as_ref(), &parts.committer);
        }
        let local = *swarm.local_peer_id();
        handle.update(|status| {
            status.peer_id = local.to_base58();
            status.peers = peers
                .iter()
                .map(|(peer, member)| PeerStatus {
                    member: member.to_string(),
                    peer_id: peer.to_base58(),
                    connected: false,
                    banned: false,
                })
                .collect();
            status.peers.sort_by(|a, b| a.member.cmp(&b.member));
        });
        let (done_tx, done_rx) = mpsc::channel(config.engine.max_ingesting * 2 + 4);
        let (back_tx, back_rx) = mpsc::channel(64);
        let redial = peers
            .keys()
            .map(|p| (*p, Redial::default()))
            .collect::<HashMap<_, _>>();
        let attesting = Attesting::new(parts.signing.clone());
        let worker = CheckpointWorker::new(
            parts.book,
            parts.store.clone(),
            parts.me.clone(),
            parts.signing,
            RANGE_BYTES,
        );
        let checkpoints = Checkpoints::new(
            checkpoint_topic,
            worker,
            config.checkpoint_interval,
            peers.is_empty(),
        );
        let courier = Delivering::new(
            Courier::new(genesis.clone(), parts.me.clone()),
            CourierWorker::new(parts.store.clone(), parts.me.clone(), parts.x25519),
        );
        let governance = GovernanceSync::new(parts.consortium.clone());
        let (asks_tx, asks) = mpsc::channel(64);
        // A network started again on the same handle replaces the sender of the one before.
        match handle.attest.write() {
            Ok(mut asks) => *asks = Some(asks_tx),
            Err(poisoned) => *poisoned.into_inner() = Some(asks_tx),
        }
        let shell = Shell {
            swarm,
            engine,
            topic,
            checkpoints,
            courier,
            governance,
            attesting,
            me: parts.me.clone(),
            members: peers.iter().map(|(p, m)| (m.clone(), *p)).collect(),
            peers,
            addresses,
            redial,
            store: parts.store,
            committer: parts.committer,
            handle: handle.clone(),
            started: Instant::now(),
            inputs: VecDeque::new(),
            outputs: Vec::new(),
            requests: HashMap::new(),
            replies: HashMap::new(),
            verdicts: HashMap::new(),
            next_token: 0,
            done_tx,
            back_tx,
        };
        let (stop, stopped) = oneshot::channel();
        let span = tracing::info_span!("p2p", member = %parts.me);
        let task = tokio::spawn(
            shell
                .run(parts.feed, done_rx, back_rx, asks, stopped)
                .instrument(span),
        );
        Ok(Self { handle, stop, task })
    }

    /// The network's state and metrics.
    pub fn handle(&self) -> &NetHandle {
        &self.handle
    }

    /// Stops the network and waits until its task has ended.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the network task failed");
        }
    }
}

/// When to dial a member's node again.
#[derive(Debug, Default)]
struct Redial {
    failures: u32,
    next: Option<Instant>,
    /// When the current connection was established.
    connected_at: Option<Instant>,
}

/// Answers of blocking work.
enum Back {
    /// A range read for a peer.
    Served {
        token: ReplyToken,
        response: SyncResponse,
    },
    /// An answer for the engine.
    Input(Input),
    /// Checkpoint work.
    Checkpoint(CheckpointDone),
    /// Attestation work.
    Attest(AttestBack),
    /// Private-field deliveries.
    Courier(CourierDone),
    /// Governance changes from peers.
    Governance(GovernanceBack),
}

/// An ingest request's answer.
struct Done {
    ticket: Ticket,
    outcome: IngestOutcome,
}

struct Shell {
    swarm: Swarm<Behaviour>,
    engine: Engine,
    topic: IdentTopic,
    checkpoints: Checkpoints,
    courier: Delivering,
    governance: GovernanceSync,
    attesting: Attesting,
    me: MemberId,
    peers: BTreeMap<PeerId, MemberId>,
    members: BTreeMap<MemberId, PeerId>,
    addresses: BTreeMap<PeerId, Vec<Multiaddr>>,
    redial: HashMap<PeerId, Redial>,
    store: Arc<dyn Store>,
    committer: Committer,
    handle: NetHandle,
    started: Instant,
    inputs: VecDeque<Input>,
    outputs: Vec<Output>,
    requests: HashMap<OutboundRequestId, (RequestId, MemberId)>,
    replies: HashMap<ReplyToken, ResponseChannel<SyncResponse>>,
    verdicts: HashMap<GossipToken, (MessageId, PeerId)>,
    next_token: u64,
    done_tx: mpsc::Sender<Done>,
    back_tx: mpsc::Sender<Back>,
}

impl Shell {
    async fn run(
        mut self,
        mut feed: mpsc::Receiver<Committed>,
        mut done: mpsc::Receiver<Done>,
        mut back: mpsc::Receiver<Back>,
        mut asks: mpsc::Receiver<AttestAsk>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut feed_open = true;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                event = self.swarm.select_next_some() => self.on_swarm(event),
                notice = feed.recv(), if feed_open => match notice {
                    Some(committed) => self.on_committed(committed),
                    None => feed_open = false,
                },
                Some(answer) = done.recv() => self.inputs.push_back(Input::IngestDone {
                    ticket: answer.ticket,
                    outcome: answer.outcome,
                }),
                Some(answer) = back.recv() => self.on_back(answer),
                Some(ask) = asks.recv() => self.on_attest_ask(ask),
                Ok(()) = self.governance.updates.changed() => {
                    let genesis = self.governance.updates.borrow_and_update().clone();
                    self.on_consortium(genesis);
                }
                _ = tick.tick() => {
                    let now = self.now();
                    self.inputs.push_back(Input::Tick { now });
                    let metrics = &self.handle.metrics;
                    metrics.buffered_entries.set(gauge_value(self.engine.buffered()));
                    metrics.buffered_bytes.set(gauge_value(self.engine.buffered_bytes()));
                    self.dial_due();
                    self.checkpoint_input(CheckpointInput::Tick { now });
                    self.governance_tick();
                    self.courier_input(CourierInput::Tick { now });
                    self.attest_due(Instant::now());
                }
            }
            self.drive();
        }
        tracing::info!("replication stopped");
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Feeds queued inputs to the engine and carries out what it answers, until both are done.
    fn drive(&mut self) {
        while let Some(input) = self.inputs.pop_front() {
            let mut outputs = std::mem::take(&mut self.outputs);
            self.engine.handle(input, &mut outputs);
            for output in outputs.drain(..) {
                self.execute(output);
            }
            self.outputs = outputs;
        }
    }

    /// The members whose nodes are connected now.
    fn connected_members(&self) -> Vec<MemberId> {
        self.members
            .iter()
            .filter(|(_, peer)| self.swarm.is_connected(peer))
            .map(|(member, _)| member.clone())
            .collect()
    }

    fn set_peer(&self, peer: &PeerId, change: impl FnOnce(&mut PeerStatus)) {
        let id = peer.to_base58();
        self.handle.update(|status| {
            if let Some(p) = status.peers.iter_mut().find(|p| p.peer_id == id) {
                change(p);
            }
        });
    }

    /// Gives gossipsub the verdict on the gossip message of `token`.
    fn verdict(&mut self, token: GossipToken, acceptance: Acceptance) {
        if let Some((id, source)) = self.verdicts.remove(&token) {
            let acceptance = match acceptance {
                Acceptance::Accept => MessageAcceptance::Accept,
                Acceptance::Reject => MessageAcceptance::Reject,
                Acceptance::Ignore => MessageAcceptance::Ignore,
            };
            self.report(&id, &source, acceptance);
        }
    }

    fn report(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_committed(&mut self, committed: Committed) {
        // A recorded fork settles checkpoints that stated the other branch's head.
        if !committed.heads.is_empty() || !committed.forks.is_empty() {
            self.checkpoint_input(CheckpointInput::ChainsGrew);
        }
        for (author, seq) in committed.forks {
            self.inputs.push_back(Input::ForkRecorded { author, seq });
        }
        let heads = committed
            .heads
            .into_iter()
            .map(|(author, (seq, hash))| HeadInfo { author, seq, hash })
            .collect();
        if committed.fresh.iter().any(|e| e.body.author == self.me) {
            self.courier_input(CourierInput::OwnCommitted);
        }
        // The writer hands over the node's own new entries as it stored them: gossip needs
        // no read of the store.
        self.inputs.push_back(Input::Committed {
            heads,
            own: committed.fresh.into(),
        });
    }

    fn on_back(&mut self, answer: Back) {
        match answer {
            Back::Served { token, response } => self.respond(token, response),
            Back::Input(input) => self.inputs.push_back(input),
            Back::Checkpoint(done) => self.checkpoint_input(CheckpointInput::Done(done)),
            Back::Courier(done) => self.courier_input(CourierInput::Done(done)),
            Back::Governance(answer) => self.on_governance_back(answer),
            Back::Attest(answer) => self.on_attest_back(answer),
        }
    }
}

/// Reads a range for a peer, at most [`RANGE_BYTES`] of entries (at least one entry).
/// A count as a gauge's value.
fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_its_peer_only_at_its_end() {
        let peer = "12D3KooWGLRC1NoAvNVCGVND99iCUovzn6YngxNZveQ7PzASNCsX";
        let address: Multiaddr = format!("/ip4/127.0.0.1/tcp/7401/p2p/{peer}")
            .parse()
            .unwrap();
        assert_eq!(peer_of(&address).unwrap().to_base58(), peer);
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/7401".parse().unwrap();
        assert_eq!(peer_of(&bare), None);
    }
}
