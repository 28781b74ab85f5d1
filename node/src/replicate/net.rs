//! The network shell: runs the replication [`Engine`] on libp2p (TCP, Noise, Yamux; gossipsub
//! for new entries and checkpoints, request-response for sync and for private fields), the
//! node's checkpoint work ([`checkpoints`]) and the private-field courier ([`courier`]).
//!
//! One tokio task owns the swarm and the engine. It turns libp2p events, the writer's
//! [`Committed`] notices and the answers of blocking work into engine inputs, and carries out
//! the engine's outputs. Nothing CPU-heavy runs on it: verifying entries from peers (the
//! node's one pipeline, then the writer) and reading ranges from the store run on the blocking
//! pool and report back on bounded channels.
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
use tally_sdk::genesis::Genesis;
use tally_sdk::ids::MemberId;
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
use crate::consortium::Consortium;
use crate::ingest::IngestError;
use crate::store::Store;
use crate::witness::book::Book;

mod checkpoints;
mod courier;
mod governance;

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
/// Most of a chain's new local entries gossiped from one writer notice.
const MAX_FRESH_GOSSIP: u64 = 20_000;
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

/// One member's node as the network sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// The member.
    pub member: String,
    /// Its node's peer id.
    pub peer_id: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// Whether it is banned for misbehaving.
    pub banned: bool,
}

/// The network's state, for the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses it listens on, each with `/p2p/<peer id>` (what other nodes bootstrap from).
    pub listen: Vec<String>,
    /// The other members' nodes.
    pub peers: Vec<PeerStatus>,
}

/// The network's metrics (registered with the API's).
#[derive(Debug, Clone, Default)]
pub struct NetMetrics {
    connected: Gauge,
    buffered_entries: Gauge,
    buffered_bytes: Gauge,
    refused: Counter,
    published: Counter,
    publish_failed: Counter,
    received: Counter,
    replicated: Counter,
    refused_entries: Counter,
    bans: Counter,
    forks: Counter,
    checkpoints_made: Counter,
    checkpoints_received: Counter,
    checkpoints_refused: Counter,
    private_sent: Counter,
    private_failed: Counter,
    private_refused: Counter,
    private_received: Counter,
}

impl NetMetrics {
    /// Registers the metrics with `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "p2p_peers_connected",
            "Members' nodes with an open connection",
            self.connected.clone(),
        );
        registry.register(
            "p2p_buffered_entries",
            "Entries from peers waiting in the replication buffer to extend their chains",
            self.buffered_entries.clone(),
        );
        registry.register(
            "p2p_buffered_bytes",
            "Bytes of entries waiting in the replication buffer",
            self.buffered_bytes.clone(),
        );
        let counters = [
            (
                "p2p_refused_connections",
                "Connections refused because the peer is not a member of the genesis (or is banned)",
                &self.refused,
            ),
            (
                "p2p_gossip_published",
                "Gossip messages of new entries published",
                &self.published,
            ),
            (
                "p2p_gossip_publish_failed",
                "Gossip messages that could not be published (no peer yet, queues full); sync repairs them",
                &self.publish_failed,
            ),
            (
                "p2p_gossip_received",
                "Gossip messages received",
                &self.received,
            ),
            (
                "replicated_entries",
                "New entries stored from other members' nodes",
                &self.replicated,
            ),
            (
                "replication_refused_entries",
                "Ingest requests of entries from peers refused by the pipeline",
                &self.refused_entries,
            ),
            (
                "forks_found",
                "Members found signing two entries at one place (fork proofs stored)",
                &self.forks,
            ),
            (
                "p2p_bans",
                "Bans of members' nodes for misbehaving",
                &self.bans,
            ),
            (
                "checkpoints_made",
                "Checkpoints this node signed",
                &self.checkpoints_made,
            ),
            (
                "checkpoints_received",
                "New checkpoints of other members recorded (gossiped or pulled)",
                &self.checkpoints_received,
            ),
            (
                "checkpoints_refused",
                "Invalid checkpoints received from peers",
                &self.checkpoints_refused,
            ),
            (
                "private_deliveries_sent",
                "Entries whose private fields a reader's node acknowledged",
                &self.private_sent,
            ),
            (
                "private_delivery_failures",
                "Requests of private fields that failed to reach a reader's node (sent again later)",
                &self.private_failed,
            ),
            (
                "private_deliveries_refused",
                "Entries' private fields refused, by a reader's node or by this node",
                &self.private_refused,
            ),
            (
                "private_fields_received",
                "Private fields received from authors' nodes, checked and stored",
                &self.private_received,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }
}

/// A view of the running network, for the API.
#[derive(Debug, Clone, Default)]
pub struct NetHandle {
    status: Arc<RwLock<NetStatus>>,
    metrics: NetMetrics,
}

impl NetHandle {
    /// The network's state now.
    pub fn status(&self) -> NetStatus {
        self.status
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The metrics.
    pub fn metrics(&self) -> &NetMetrics {
        &self.metrics
    }

    fn update(&self, change: impl FnOnce(&mut NetStatus)) {
        match self.status.write() {
            Ok(mut status) => change(&mut status),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}

/// The node's libp2p behaviours. Public so that the adversary harness
/// (`node/tests/common/attacker.rs`) speaks to real nodes exactly as a member's node does.
#[allow(missing_debug_implementations)] // libp2p's behaviours are not Debug.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    // First: refused peers never reach the other behaviours.
    /// Admission: the genesis members' peer ids, less the banned.
    pub allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    /// Connection limits.
    pub limits: connection_limits::Behaviour,
    /// New entries and checkpoints.
    pub gossip: gossipsub::Behaviour,
    /// Sync requests.
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Private-field deliveries.
    pub private: request_response::Behaviour<DeliveryCodec>,
    /// Liveness.
    pub ping: ping::Behaviour,
}

/// The gossip topic of new entries in the consortium of `genesis`.
pub fn entries_topic(genesis: &Genesis) -> IdentTopic {
    IdentTopic::new(format!(
        "/tally/{}/entries/1",
        genesis.network_id().to_hex()
    ))
}

/// The gossip topic of checkpoints in the consortium of `genesis`.
pub fn checkpoints_topic(genesis: &Genesis) -> IdentTopic {
    IdentTopic::new(format!(
        "/tally/{}/checkpoints/2",
        genesis.network_id().to_hex()
    ))
}

/// What the parts of the node the network works with.
pub struct NetParts {
    /// The consortium in force, followed as governance changes are applied.
    pub consortium: Consortium,
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
        let shell = Shell {
            swarm,
            engine,
            topic,
            checkpoints,
            courier,
            governance,
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
                .run(parts.feed, done_rx, back_rx, stopped)
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

/// The node's swarm for `keypair`, admitting only `peers` ([`identity::members`]).
pub fn build_swarm(
    keypair: Keypair,
    peers: &BTreeMap<PeerId, MemberId>,
) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(|message: &gossipsub::Message| {
            MessageId::new(&Sha256::digest(&message.data)[..20])
        })
        .max_transmit_size(GOSSIP_MAX_TRANSMIT)
        .heartbeat_initial_delay(Duration::from_millis(500))
        // A consortium is small: every member's node is a mesh peer.
        .mesh_n_low(2)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .build()
        .map_err(|e| setup(&e))?;
    let allowed: Vec<PeerId> = peers.keys().copied().collect();
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let mut allow = allow_block_list::Behaviour::default();
            for peer in allowed {
                allow.allow_peer(peer);
            }
            let limits = connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_pending_incoming(Some(16))
                    // Two, not one: when two nodes dial each other at once, each keeps one.
                    .with_max_established_per_peer(Some(2))
                    .with_max_established(Some(64)),
            );
            let gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            let sync = request_response::Behaviour::with_codec(
                SyncCodec,
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(16),
            );
            let private = request_response::Behaviour::with_codec(
                DeliveryCodec,
                [(DELIVERY_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(60))
                    .with_max_concurrent_streams(8),
            );
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Behaviour {
                allow,
                limits,
                gossip,
                sync,
                private,
                ping: ping::Behaviour::new(ping::Config::new()),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    Ok(swarm)
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
    /// The node's own new entries, read to be gossiped.
    Fresh(Vec<SignedEntry>),
    /// An answer for the engine.
    Input(Input),
    /// Checkpoint work.
    Checkpoint(CheckpointDone),
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

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address
                    .clone()
                    .with(Protocol::P2p(*self.swarm.local_peer_id()));
                tracing::info!(address = %full, "p2p listening on {full}");
                self.handle
                    .update(|status| status.listen.push(full.to_string()));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address
                    .with(Protocol::P2p(*self.swarm.local_peer_id()))
                    .to_string();
                self.handle
                    .update(|status| status.listen.retain(|a| a != &full));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let Some(member) = self.peers.get(&peer_id).cloned() else {
                    return;
                };
                if endpoint.is_dialer() {
                    let address = endpoint.get_remote_address().clone();
                    let known = self.addresses.entry(peer_id).or_default();
                    if !known.contains(&address) {
                        known.push(address);
                    }
                }
                if let Some(redial) = self.redial.get_mut(&peer_id) {
                    redial.connected_at = Some(Instant::now());
                }
                if num_established.get() == 1 {
                    tracing::info!(%member, peer = %peer_id, "connected to {member}'s node");
                    self.handle.metrics.connected.inc();
                    self.set_peer(&peer_id, |p| p.connected = true);
                    self.checkpoint_input(CheckpointInput::PeerUp {
                        peer: member.clone(),
                    });
                    self.pull_changes(member.clone());
                    self.courier_input(CourierInput::PeerUp {
                        peer: member.clone(),
                    });
                    self.inputs.push_back(Input::PeerUp { peer: member });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                if let Some(redial) = self.redial.get_mut(&peer_id)
                    && redial
                        .connected_at
                        .take()
                        .is_some_and(|at| at.elapsed() >= STABLE_CONNECTION)
                {
                    *redial = Redial::default();
                }
                let Some(member) = self.peers.get(&peer_id).cloned() else {
                    return;
                };
                match cause {
                    Some(cause) => {
                        tracing::info!(%member, %cause, "disconnected from {member}'s node")
                    }
                    None => tracing::info!(%member, "disconnected from {member}'s node"),
                }
                self.handle.metrics.connected.dec();
                self.set_peer(&peer_id, |p| p.connected = false);
                self.checkpoint_input(CheckpointInput::PeerDown {
                    peer: member.clone(),
                });
                self.courier_input(CourierInput::PeerDown {
                    peer: member.clone(),
                });
                self.inputs.push_back(Input::PeerDown { peer: member });
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error: ListenError::Denied { cause },
                peer_id,
                ..
            } => {
                if cause
                    .downcast_ref::<allow_block_list::NotAllowed>()
                    .is_some()
                {
                    self.handle.metrics.refused.inc();
                    match peer_id.and_then(|p| self.peers.get(&p)) {
                        Some(member) => tracing::info!(
                            %member, address = %send_back_addr,
                            "refused a connection from {member}'s node: it is banned"
                        ),
                        None => tracing::warn!(
                            peer = ?peer_id, address = %send_back_addr,
                            "refused a connection from a peer that is not a member of the genesis"
                        ),
                    }
                } else {
                    tracing::debug!(%cause, address = %send_back_addr, "refused a connection");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.handle.metrics.received.inc();
                let Some(from) = self.peers.get(&propagation_source).cloned() else {
                    self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
                    return;
                };
                if message.topic == self.checkpoints.topic.hash() {
                    self.on_checkpoint_gossip(from, message_id, propagation_source, &message.data);
                    return;
                }
                if self.verdicts.len() >= MAX_OPEN_VERDICTS {
                    self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                    return;
                }
                let batch = wire::decode::<GossipBatch>("gossip batch", &message.data).ok();
                tracing::debug!(
                    %from,
                    entries = batch.as_ref().map(|b| b.entries.len()),
                    "gossip message"
                );
                // The publisher, whose signature gossipsub checked (strict validation),
                // answers for the entries; the relay only passed them on.
                let origin = message
                    .source
                    .and_then(|source| self.peers.get(&source).cloned())
                    .unwrap_or_else(|| from.clone());
                let token = self.token();
                self.verdicts
                    .insert(token, (message_id, propagation_source));
                self.inputs.push_back(Input::Gossip {
                    from,
                    origin,
                    token,
                    batch,
                });
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let from = self.peers.get(&peer).cloned();
                        let Some(from) = from.filter(|_| self.replies.len() < MAX_OPEN_REPLIES)
                        else {
                            // Not a member (cannot happen past the allow list), or too many
                            // requests waiting: refused at once.
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .sync
                                .send_response(channel, SyncResponse::Refused);
                            return;
                        };
                        let token = self.token();
                        self.replies.insert(token, channel);
                        let request = match request {
                            Inbound::Ok(SyncRequest::Checkpoints {
                                from,
                                limit,
                                conflicts_held,
                            }) => {
                                self.checkpoint_input(CheckpointInput::Request {
                                    token,
                                    from,
                                    limit,
                                    conflicts_held,
                                });
                                return;
                            }
                            Inbound::Ok(SyncRequest::Changes { have }) => {
                                self.governance.peer_has(&from, have);
                                if have > self.governance.applied() {
                                    self.pull_changes(from);
                                }
                                self.serve_changes(token, have);
                                return;
                            }
                            Inbound::Ok(request) => Some(request),
                            Inbound::Invalid(why) => {
                                tracing::info!(%from, why, "an invalid sync request from {from}");
                                None
                            }
                        };
                        self.inputs.push_back(Input::Request {
                            from,
                            token,
                            request,
                        });
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(peer) = self.checkpoints.take_request(&request_id) {
                            self.checkpoint_input(CheckpointInput::Answer {
                                peer,
                                response: Some(response),
                            });
                        } else if let Some(from) = self.governance.take_request(&request_id) {
                            self.on_changes(from, response);
                        } else if let Some((id, from)) = self.requests.remove(&request_id) {
                            self.inputs.push_back(Input::Response {
                                from,
                                id,
                                response: Some(response),
                            });
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                if let Some(peer) = self.checkpoints.take_request(&request_id) {
                    tracing::debug!(%peer, %error, "a checkpoint pull failed");
                    self.checkpoint_input(CheckpointInput::Answer {
                        peer,
                        response: None,
                    });
                } else if let Some(to) = self.governance.take_request(&request_id) {
                    tracing::debug!(%to, %error, "a governance pull failed");
                } else if let Some((id, to)) = self.requests.remove(&request_id) {
                    tracing::debug!(%to, %error, "a sync request failed");
                    self.inputs.push_back(Input::RequestFailed { to, id });
                }
            }
            BehaviourEvent::Private(event) => self.on_delivery(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error),
            }) => {
                tracing::debug!(%peer, %error, "ping failed: closing the connection");
                self.swarm.close_connection(connection);
            }
            _ => {}
        }
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
        self.inputs.push_back(Input::Committed {
            heads,
            own: Vec::new(),
        });
        if committed.fresh.is_empty() {
            return;
        }
        if committed.fresh.contains_key(&self.me) {
            self.courier_input(CourierInput::OwnCommitted);
        }
        let store = self.store.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let mut entries = Vec::new();
            for (author, (first, last)) in committed.fresh {
                // Gossip is best effort: of a long span (replication lagged), only the newest
                // entries go out; peers pull the rest.
                let first = first.max(last.saturating_sub(MAX_FRESH_GOSSIP - 1));
                let count = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
                match store.chain_range(&author, first, count) {
                    Ok(rows) => entries.extend(rows.into_iter().map(|(_, e)| e)),
                    Err(error) => {
                        tracing::error!(%error, "cannot read new entries to gossip them");
                    }
                }
            }
            let _ = back.blocking_send(Back::Fresh(entries));
        });
    }

    fn on_back(&mut self, answer: Back) {
        match answer {
            Back::Served { token, response } => self.respond(token, response),
            Back::Fresh(own) => self.inputs.push_back(Input::Committed {
                heads: Vec::new(),
                own,
            }),
            Back::Input(input) => self.inputs.push_back(input),
            Back::Checkpoint(done) => self.checkpoint_input(CheckpointInput::Done(done)),
            Back::Courier(done) => self.courier_input(CourierInput::Done(done)),
            Back::Governance(answer) => self.on_governance_back(answer),
        }
    }

    /// Answers a peer's request (if the connection is gone, the answer has nowhere to go).
    fn respond(&mut self, token: ReplyToken, response: SyncResponse) {
        if let Some(channel) = self.replies.remove(&token) {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, response);
        }
    }

    fn execute(&mut self, output: Output) {
        match output {
            Output::Send { to, id, request } => {
                let connected = self
                    .members
                    .get(&to)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                match connected {
                    Some(peer) => {
                        let request_id = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_request(&peer, Inbound::Ok(request));
                        self.requests.insert(request_id, (id, to));
                    }
                    None => self.inputs.push_back(Input::RequestFailed { to, id }),
                }
            }
            Output::Reply { token, response } => self.respond(token, response),
            Output::ServeRange {
                token,
                author,
                from,
                limit,
            } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = read_range(store.as_ref(), &author, from, limit);
                    let _ = back.blocking_send(Back::Served { token, response });
                });
            }
            Output::Publish(batch) => self.publish(batch),
            Output::Verdict { token, acceptance } => self.verdict(token, acceptance),
            Output::Ingest { ticket, entries } => self.ingest(ticket, entries),
            Output::Ban { peer, until } => {
                if let Some(id) = self.members.get(&peer).copied() {
                    let seconds = until.saturating_sub(self.now()) / 1000;
                    tracing::warn!(member = %peer, seconds, "banned {peer}'s node for misbehaving");
                    self.handle.metrics.bans.inc();
                    self.swarm.behaviour_mut().allow.disallow_peer(id);
                    self.set_peer(&id, |p| p.banned = true);
                }
            }
            Output::OwnChainCaughtUp => {
                if self.committer.signing_held() {
                    let store = self.store.clone();
                    let committer = self.committer.clone();
                    tokio::task::spawn_blocking(move || {
                        release_signing(store.as_ref(), &committer);
                    });
                }
            }
            Output::ForkFound { author, seq } => {
                tracing::warn!(
                    member = %author, seq,
                    "{author} signed two different entries at sequence number {seq}: the fork proof is stored, and {author}'s chain takes nothing from there on on this node"
                );
                self.handle.metrics.forks.inc();
            }
            Output::ServeFork { token, author } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = match crate::forks::earliest_proof(store.as_ref(), &author) {
                        Ok(Some(proof)) => SyncResponse::Fork(Box::new(proof)),
                        Ok(None) => SyncResponse::Refused,
                        Err(error) => {
                            tracing::error!(%error, "cannot read a fork proof for a peer");
                            SyncResponse::Refused
                        }
                    };
                    let _ = back.blocking_send(Back::Served { token, response });
                });
            }
            Output::RecordFork { from, proof } => {
                let committer = self.committer.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || match committer.submit_fork(*proof) {
                    Ok(_) => {}
                    Err(IngestError::ForkProof(error)) => {
                        tracing::warn!(member = %from, %error, "{from}'s node sent a fork proof that does not hold");
                        let _ = back.blocking_send(Back::Input(Input::Misbehaved { peer: from }));
                    }
                    Err(error) => tracing::error!(%error, "cannot store a fork proof from a peer"),
                });
            }
            Output::CompareHead { peer, head } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    match crate::forks::differs_from_stored(store.as_ref(), &head) {
                        Ok(false) => {}
                        Ok(true) => {
                            let _ = back.blocking_send(Back::Input(Input::HeadDiffers {
                                peer,
                                author: head.author,
                                seq: head.seq,
                            }));
                        }
                        Err(error) => tracing::error!(%error, "cannot compare a peer's head"),
                    }
                });
            }
            Output::Unban { peer } => {
                if let Some(id) = self.members.get(&peer).copied() {
                    tracing::info!(member = %peer, "the ban of {peer}'s node is over");
                    self.swarm.behaviour_mut().allow.allow_peer(id);
                    self.set_peer(&id, |p| p.banned = false);
                }
            }
        }
    }

    /// Publishes the node's new entries, split into messages under the gossip size cap.
    fn publish(&mut self, batch: GossipBatch) {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for entry in batch.entries {
            let size = codec::encoded_len("entry", &entry).unwrap_or(GOSSIP_BYTES);
            if !chunk.is_empty() && bytes + size > GOSSIP_BYTES {
                self.publish_one(std::mem::take(&mut chunk));
                bytes = 0;
            }
            bytes += size;
            chunk.push(entry);
        }
        if !chunk.is_empty() {
            self.publish_one(chunk);
        }
    }

    fn publish_one(&mut self, entries: Vec<SignedEntry>) {
        let message = match wire::encode("gossip batch", &GossipBatch { entries }) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "cannot encode a gossip batch");
                return;
            }
        };
        let topic = self.topic.clone();
        match self.swarm.behaviour_mut().gossip.publish(topic, message) {
            Ok(_) => self.handle.metrics.published.inc(),
            Err(error) => {
                // No peer yet, or queues full: heads polling and range pulls repair it.
                tracing::debug!(%error, "gossip not published");
                self.handle.metrics.publish_failed.inc()
            }
        };
    }

    /// Verifies entries from peers on the blocking pool, then queues them for the writer.
    fn ingest(&mut self, ticket: Ticket, entries: Vec<SignedEntry>) {
        // Behind a peer's governance, an entry signed with a key this node does not know
        // yet may be valid: nobody is blamed for it until the node has caught up.
        let behind = self.governance.behind();
        let committer = self.committer.clone();
        let done = self.done_tx.clone();
        let metrics = self.handle.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let answer = committer.submit_replicated(entries);
            match &answer {
                Ok(receipts) => {
                    let new = receipts.iter().filter(|r| !r.duplicate).count();
                    metrics.replicated.inc_by(new as u64);
                }
                Err(error) => {
                    metrics.refused_entries.inc();
                    tracing::debug!(%error, "entries from a peer were refused");
                }
            }
            let outcome = classify(&answer, behind);
            // The engine keeps few ingest requests in flight, fewer than the channel holds.
            if done.try_send(Done { ticket, outcome }).is_err() {
                tracing::error!("the network stopped before an ingest answer reached it");
            }
        });
    }

    /// Dials members' nodes that are not connected, not banned, and due (backing off after
    /// failures).
    fn dial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .redial
            .iter()
            .filter(|(peer, r)| {
                r.next.is_none_or(|next| next <= now)
                    && !self.swarm.is_connected(peer)
                    && self.swarm.behaviour().allow.allowed_peers().contains(peer)
                    && self.addresses.get(peer).is_some_and(|a| !a.is_empty())
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let addresses = self.addresses.get(&peer).cloned().unwrap_or_default();
            let options = DialOpts::peer_id(peer)
                .addresses(addresses)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(options) {
                tracing::debug!(%peer, %error, "cannot dial");
            }
            if let Some(redial) = self.redial.get_mut(&peer) {
                let wait = REDIAL_MIN
                    .saturating_mul(1 << redial.failures.min(5))
                    .min(REDIAL_MAX);
                redial.failures = redial.failures.saturating_add(1);
                redial.next = Some(now + wait);
            }
        }
    }
}

/// Reads a range for a peer, at most [`RANGE_BYTES`] of entries (at least one entry).
/// A count as a gauge's value.
fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn read_range(store: &dyn Store, author: &MemberId, from: u64, limit: u32) -> SyncResponse {
    let rows = match store.chain_range(author, from, limit as usize) {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(%error, "cannot read a range for a peer");
            return SyncResponse::Refused;
        }
    };
    let mut entries = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for (_, entry) in rows {
        let size = codec::encoded_len("entry", &entry).unwrap_or(RANGE_BYTES);
        if !entries.is_empty() && bytes + size > RANGE_BYTES {
            break;
        }
        bytes += size;
        entries.push(entry);
    }
    SyncResponse::Range(entries)
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
