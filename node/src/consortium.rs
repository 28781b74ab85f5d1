//! The consortium in force: the genesis with the governance changes applied so far, shared by
//! every part of the node that judges by membership (the pipeline, the checkpoint book, the
//! network's admission, the courier, the API) and replaced whole when a change is applied,
//! while the node runs.
//!
//! Only the writer applies a change ([`crate::commit::Committer::submit_change`]): it checks
//! the change with the SDK's rules against the consortium in force, stores it in the same
//! synced write as nothing else, and then publishes the new consortium here, so the order of
//! changes is the order of the store and a change is never in force before it is durable.
//! Parts that must act on a change (the network admits a new member's node, drops a removed
//! one's) [`subscribe`](SharedConsortium::subscribe).
//!
//! Applied changes are kept in the `meta` column family under `change/` and the change number
//! (8 bytes, big-endian), as the JSON of the signed change; the node applies them again at
//! start.

use std::sync::Arc;

use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::governance::SignedChange;
use tokio::sync::watch;

use crate::store::{Batch, Cf, KeyRange, Store, StoreError, corrupted};

/// The key prefix of applied changes in [`Cf::Meta`].
const CHANGE_PREFIX: &[u8] = b"change/";

/// The consortium in force; cheap to clone, every clone sees each change.
#[derive(Debug, Clone)]
pub struct SharedConsortium {
    current: Arc<watch::Sender<Arc<Consortium>>>,
}

impl SharedConsortium {
    /// The consortium of `genesis` (its changes applied already).
    pub fn new(genesis: Arc<Consortium>) -> Self {
        let (current, _) = watch::channel(genesis);
        Self {
            current: Arc::new(current),
        }
    }

    /// The consortium now. A caller that judges several things by it holds the one it got,
    /// so that they are judged alike.
    pub fn current(&self) -> Arc<Consortium> {
        self.current.borrow().clone()
    }

    /// How many changes are in force.
    pub fn changes(&self) -> u64 {
        self.current.borrow().changes().len() as u64
    }

    /// A receiver told of each change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Consortium>> {
        self.current.subscribe()
    }

    /// Puts `next` in force. Only the writer calls this, after `next`'s last change is
    /// durable.
    pub(crate) fn advance(&self, next: Arc<Consortium>) {
        self.current.send_replace(next);
    }
}

/// The key of applied change `number`.
pub fn change_key(number: u64) -> Vec<u8> {
    let mut key = CHANGE_PREFIX.to_vec();
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// Adds applied `change` to `batch`.
pub fn put_change(batch: &mut Batch, change: &SignedChange) -> Result<(), StoreError> {
    let value = serde_json::to_vec(change)
        .map_err(|e| StoreError::Backend(format!("cannot encode a change: {e}")))?;
    batch.put(Cf::Meta, change_key(change.body.number), value);
    Ok(())
}

/// The changes a store holds, in order.
pub fn stored_changes<S: Store + ?Sized>(store: &S) -> Result<Vec<SignedChange>, StoreError> {
    let rows = store.scan(Cf::Meta, &KeyRange::prefix(CHANGE_PREFIX), usize::MAX)?;
    let mut changes = Vec::with_capacity(rows.len());
    for (i, (key, value)) in rows.into_iter().enumerate() {
        let change: SignedChange = serde_json::from_slice(&value)
            .map_err(|e| corrupted(format!("applied change {}: {e}", i + 1)))?;
        if key != change_key(i as u64 + 1) || change.body.number != i as u64 + 1 {
            return Err(corrupted(format!(
                "applied change {} is stored out of order",
                i + 1
            )));
        }
        changes.push(change);
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_number() {
        assert!(change_key(2) < change_key(10));
        assert!(change_key(255) < change_key(256));
    }
}
