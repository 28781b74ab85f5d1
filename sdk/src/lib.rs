//! # tally-sdk — the pure core of Tally
//!
//! Everything that decides whether a piece of Tally data is valid lives here, so that a node,
//! the `tally` CLI and an outside auditor reach the same verdict with the same code. The
//! modules, as docs/architecture.md draws them:
//!
//! * The ground floor: canonical encoding ([`codec`]), domain-separated hashing ([`domain`],
//!   [`hash`]) and signing ([`crypto`]), validated names and times ([`ids`], [`time`]), and
//!   one request's CPU-bound work spread over the cores ([`parallel`]).
//! * Events and entries: GS1 keys ([`gs1`]), the GS1 EPCIS 2.0 model, hash IDs and queries
//!   ([`epcis`]), the typed event and its C2M kind ([`event`]), the entry typestates
//!   ([`entry`]), the validation rules ([`verify`]) and those that depend on the ledger
//!   already held — custody before a hand-over, the target of a purge ([`placement`]).
//! * [`membership`]: the genesis document, membership changes, the consortium in force, the
//!   C2M template and member key files.
//! * [`privacy`]: field commitments and disclosure, held and sealed fields, over the Merkle
//!   trees of [`merkle`].
//! * [`witnessing`]: checkpoints, the witness rule and its evidence, fork proofs; verifiable
//!   logs (RFC 6962 trees in C2SP tiles, proofs and signed-note checkpoints: [`tlog`]).
//! * [`reports`]: what the entries say about a product — its provenance and custody, who is
//!   responsible for what, the evidence bundle that proves it offline, the attestations
//!   that it leaves nothing out, and disclosure files.
//! * [`audit`]: the audit of a whole ledger, the bundle of a period, entries refused as their
//!   authors' doing, and the members' scorecards.
//!
//! The crate does no IO beyond reading the OS random number generator: no async runtime, no
//! database, no network. Its only threads are [`parallel`]'s scoped ones, joined before the
//! call that spawned them returns.

pub mod audit;
pub mod codec;
pub mod crypto;
pub mod domain;
pub mod entry;
pub mod epcis;
pub mod event;
pub mod gs1;
pub mod hash;
pub mod ids;
pub mod membership;
pub mod merkle;
pub mod parallel;
pub mod placement;
pub mod privacy;
pub mod reports;
pub mod time;
pub mod tlog;
pub mod verify;
pub mod witnessing;
