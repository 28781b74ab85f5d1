//! The node's libp2p swarm: its behaviours (admission first, gossipsub, request-response for
//! sync and private fields, ping, connection limits), its topics, and how it is built.

use super::*;

/// The node's libp2p behaviours. Public so that the adversary harness
/// (`node/tests/adversary/attacker.rs`) speaks to real nodes exactly as a member's node does.
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
pub fn entries_topic(genesis: &Consortium) -> IdentTopic {
    IdentTopic::new(format!(
        "/tally/{}/entries/1",
        genesis.network_id().to_hex()
    ))
}

/// The gossip topic of checkpoints in the consortium of `genesis`.
pub fn checkpoints_topic(genesis: &Consortium) -> IdentTopic {
    IdentTopic::new(format!(
        "/tally/{}/checkpoints/2",
        genesis.network_id().to_hex()
    ))
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
