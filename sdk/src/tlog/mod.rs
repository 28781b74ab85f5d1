//! Verifiable logs: each member's chain as an append-only RFC 6962 Merkle log (issue 22, the
//! storage-free core).
//!
//! A chain's entries, in sequence order, are the leaves of a Merkle tree hashed as RFC 6962
//! (and RFC 9162) hash it, so any outside tool that speaks Certificate Transparency or C2SP
//! tlogs can check Tally's proofs. The tree's interior hashes are kept as C2SP *tiles*: a node
//! writes the tiles that change when its chain grows in the same batch as the entries, and later
//! answers inclusion and consistency proofs with `O(log n)` reads. A tree head is stated as a
//! C2SP checkpoint — a signed note — by a witness, which cosigns a chain's new head only after a
//! consistency proof from the last head it cosigned; two signed heads of one chain of the same
//! size with different roots are self-verifying evidence of a split view.
//!
//! * [`hash`] — leaf and node hashing, the
//!   [`LogHash`](crate::tlog::hash::LogHash) type, what a Tally leaf is.
//! * [`tile`] — tile addressing and paths, the tiles a proof reads and an
//!   append writes, and the incremental [`RightEdge`](crate::tlog::tile::RightEdge) writer; the
//!   [`HashReader`](crate::tlog::tile::HashReader) and
//!   [`TileReader`](crate::tlog::tile::TileReader) traits storage implements.
//! * [`tile::cache`] — a bounded cache of decoded tiles (each tile with the
//!   nodes of its inner levels), shared by the readers of a store.
//! * [`proof`] — tree roots, inclusion and consistency proofs built through
//!   a reader, and their verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 state it.
//! * [`note`] — C2SP signed notes with Ed25519 signatures, parsed with
//!   limits.
//! * [`checkpoint`] — the C2SP checkpoint body, and the origin line of
//!   a Tally chain.
//! * [`equivocation`] — split-view evidence and the check a cosigner
//!   makes before cosigning.
//!
//! Nothing here does IO: storage is behind the reader traits, which the node implements on
//! RocksDB and tests implement in memory. The formats are described for outside verifiers in
//! `docs/formats.md`, "Verifiable logs".

pub mod checkpoint;
pub mod equivocation;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;
