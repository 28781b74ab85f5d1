//! # tally-node — a member's node
//!
//! The parts built so far: the validated configuration ([`config`]), the durable RocksDB
//! ledger ([`store`]), the ingestion pipeline that verifies and places every entry whatever its
//! source ([`ingest`]), and group commit, which acknowledges entries only once durable
//! ([`commit`]). The HTTP API and the `tally-node` binary build on these next.

pub mod commit;
pub mod config;
pub mod ingest;
pub mod store;
