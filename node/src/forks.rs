//! The chains this node holds as forked, and from which place: a fork proof shows that a
//! member signed two entries at one place of its chain, and from there on its chain is
//! quarantined. The writer refuses to extend it (`409`), and every view of its entries from
//! the fork point on says `forked`: entry views, histories, provenance, the consumer's page
//! and EPCIS answers' `tally:proof`.

use tally_sdk::fork::ForkPoints;

use crate::store::{Store, StoreError};

/// Most fork proofs read to find the fork points (there is at most one fork point per chain
/// that matters, the earliest; proofs are rare evidence of misconduct).
pub const MAX_FORK_PROOFS_READ: usize = 10_000;

/// The fork points of the fork proofs `store` holds.
pub fn fork_points<S: Store + ?Sized>(store: &S) -> Result<ForkPoints, StoreError> {
    Ok(ForkPoints::of(&store.forks(MAX_FORK_PROOFS_READ)?))
}
