//! What the network shows the rest of the node: each peer's status, the node's addresses,
//! and the network's metrics.

use super::*;

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
    pub(super) connected: Gauge,
    pub(super) buffered_entries: Gauge,
    pub(super) buffered_bytes: Gauge,
    pub(super) refused: Counter,
    pub(super) published: Counter,
    pub(super) publish_failed: Counter,
    pub(super) received: Counter,
    pub(super) replicated: Counter,
    pub(super) refused_entries: Counter,
    pub(super) bans: Counter,
    pub(super) forks: Counter,
    pub(super) checkpoints_made: Counter,
    pub(super) checkpoints_received: Counter,
    pub(super) checkpoints_refused: Counter,
    pub(super) private_sent: Counter,
    pub(super) private_failed: Counter,
    pub(super) private_refused: Counter,
    pub(super) private_received: Counter,
    pub(super) private_not_held: Counter,
    pub(super) private_later: Counter,
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
                "private_deliveries_not_held",
                "Entries' private fields a reader's node could not take yet, not holding the entry (sent again in a moment)",
                &self.private_not_held,
            ),
            (
                "private_deliveries_later",
                "Entries' private fields a reader's node was too busy to check (sent again after a backoff)",
                &self.private_later,
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
    pub(super) status: Arc<RwLock<NetStatus>>,
    pub(super) metrics: NetMetrics,
    /// Where attestation requests go while the network runs.
    pub(super) attest: Arc<RwLock<Option<AttestAsks>>>,
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

    /// The attestations of `product` by the members whose nodes are connected, and this
    /// node's own (`attest`), within [`ATTEST_WAIT`]; none while the network is not
    /// running.
    pub async fn attestations(&self, product: &ProductId) -> Vec<Attestation> {
        let asks = match self.attest.read() {
            Ok(asks) => asks.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(asks) = asks else {
            return Vec::new();
        };
        let (ask, answer) = AttestAsk::new(product.clone());
        if asks.send(ask).await.is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut NetStatus)) {
        match self.status.write() {
            Ok(mut status) => change(&mut status),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }
}
