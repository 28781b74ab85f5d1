//! The chains this node holds as forked, and from which place: a fork proof shows that a
//! member signed two entries at one place of its chain, and from there on its chain is
//! quarantined. The writer refuses to extend it (`409`), and every view of its entries from
//! the fork point on says `forked`: entry views, histories, provenance, the consumer's page
//! and EPCIS answers' `tally:proof`.
//!
//! Replication asks the store here too: which proof to send a peer that asks for a chain's
//! fork proof, and whether a peer's head below the stored tip is another history.

use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::witnessing::fork::{ForkPoints, ForkProof};

use crate::store::{Store, StoreError};

/// Most fork proofs read to find the fork points (there is at most one fork point per chain
/// that matters, the earliest; proofs are rare evidence of misconduct).
pub const MAX_FORK_PROOFS_READ: usize = 10_000;

/// The fork points of the fork proofs `store` holds.
pub fn fork_points<S: Store + ?Sized>(store: &S) -> Result<ForkPoints, StoreError> {
    Ok(ForkPoints::of(&store.forks(MAX_FORK_PROOFS_READ)?))
}

/// The fork proof of `author`'s chain at its earliest place, if the store holds one.
pub fn earliest_proof<S: Store + ?Sized>(
    store: &S,
    author: &MemberId,
) -> Result<Option<ForkProof>, StoreError> {
    Ok(store
        .forks(MAX_FORK_PROOFS_READ)?
        .into_iter()
        .filter(|p| &p.first.body.author == author)
        .min_by_key(|p| p.first.body.seq))
}

/// Whether the store holds another entry than `hash` at `author`'s place `seq` (`false` if it
/// holds none there): a peer's head below the stored tip that is another history.
pub fn differs_from_stored(
    store: &dyn Store,
    author: &MemberId,
    seq: u64,
    hash: &EntryHash,
) -> Result<bool, StoreError> {
    // The chain's hash row is enough: the entry itself is not read.
    let stored = store.chain_hashes(author, seq, seq)?;
    Ok(stored.is_some_and(|hashes| hashes.first() != Some(hash)))
}
