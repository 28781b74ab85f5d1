//! Replication: how every member's chain reaches every member's node.
//!
//! * [`wire`] — the messages nodes exchange and their size-capped canonical encoding.
//! * [`engine`] — the replication logic without IO (heads exchange, range pulls with
//!   backpressure, gossip batching, ingestion of what peers send through the node's one
//!   pipeline, offences and bans), driven by inputs and answering with outputs, so a whole
//!   network runs deterministically in one process (`node/tests/replication.rs`).
//! * [`outcome`] — how the pipeline's answer to entries from peers reads for replication.
//!
//! The libp2p shell that connects the engine to the network is the next step (issue 4).

pub mod engine;
pub mod outcome;
pub mod wire;
