//! Replication: how every member's chain reaches every member's node.
//!
//! * [`wire`] — the messages nodes exchange and their size-capped canonical encoding.
//! * [`engine`] — the replication logic without IO (heads exchange, range pulls with
//!   backpressure, gossip batching, ingestion of what peers send through the node's one
//!   pipeline, offences and bans), driven by inputs and answering with outputs, so a whole
//!   network runs deterministically in one process (`node/tests/replication.rs`).
//! * [`checkpoint_sync`] — the checkpoint exchange without IO (own checkpoints, pulls,
//!   checking what peers send, conflict proofs reaching every node), beside the engine and
//!   driven the same way.
//! * [`courier`] — private fields to the nodes of the members that may read them, without IO.
//! * [`outcome`] — how the pipeline's answer to entries from peers reads for replication.
//! * [`identity`] — the node's libp2p identity and the peers it admits, from the genesis.
//! * [`codec`] — the sync protocol's framing for libp2p request-response.
//! * [`net`] — the libp2p shell: the swarm (TCP, Noise, Yamux, gossipsub, request-response,
//!   admission of genesis members only) running the engine, with the node's pipeline, writer
//!   and store.

pub mod checkpoint_sync;
pub mod codec;
pub mod courier;
pub mod engine;
pub mod identity;
pub mod net;
pub mod outcome;
pub mod wire;
