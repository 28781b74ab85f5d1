//! # tally-sdk — the pure core of Tally
//!
//! Everything that decides whether a piece of Tally data is valid lives here, so that a node,
//! the `tally` CLI and an outside auditor reach the same verdict with the same code:
//! canonical encoding ([`codec`]), domain-separated hashing ([`hash`]) and signing ([`crypto`]),
//! the entry typestates ([`entry`]), the GS1 EPCIS event model ([`epcis`], [`event`]), GS1 keys
//! ([`gs1`]), the consortium definition ([`genesis`]), validation rules ([`verify`]), Merkle
//! trees ([`merkle`]), selective disclosure ([`disclosure`], [`held`], [`sealed`]), checkpoints ([`checkpoint`]), the
//! witness rule ([`witness`]), fork proofs ([`fork`]), membership changes ([`governance`]),
//! verifiable logs (RFC 6962 trees in C2SP tiles, proofs and signed-note checkpoints:
//! [`tlog`]), and
//! what the entries say about a product: its provenance and custody ([`provenance`]), who is
//! responsible for what ([`responsibility`]), and the evidence bundle that proves it offline
//! ([`bundle`]); the rules that depend on the ledger already held — custody before a
//! hand-over, the target of a purge ([`placement`]); and for auditors, the audit of a whole ledger ([`audit`]), the bundle of a
//! period ([`period`]), entries refused as their authors' doing ([`rejection`]) and the
//! members' scorecards ([`scorecard`]).
//!
//! The crate does no IO beyond reading the OS random number generator: no async runtime, no
//! database, no network.

pub mod attestation;
pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod codec;
pub mod consortium;
pub mod crypto;
pub mod disclosed;
pub mod disclosure;
pub mod domain;
pub mod entry;
pub mod epcis;
pub mod event;
pub mod fork;
pub mod genesis;
pub mod governance;
pub mod gs1;
pub mod hash;
pub mod held;
pub mod ids;
pub mod keyfile;
pub mod merkle;
pub mod period;
pub mod placement;
pub mod provenance;
pub mod rejection;
pub mod responsibility;
pub mod scorecard;
pub mod sealed;
pub mod template;
pub mod time;
pub mod tlog;
pub mod verify;
pub mod witness;
