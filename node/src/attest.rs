//! What this node attests about a product when another member's node builds an evidence
//! bundle ([`tally_sdk::reports::attestation`]), and the view of its chains a bundle states.
//!
//! The attestation lists every entry the node holds about the product and its inputs (the
//! selection a bundle makes, [`crate::products::gather_within`]) within the view it takes first,
//! and that view: per chain, how many entries it holds and the last one's hash. It is signed
//! with the member's key, so a node that attests less than it holds can be shown to have.

use tally_sdk::crypto::SigningKey;
use tally_sdk::gs1::ProductId;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::attestation::{
    ATTESTATION_FORMAT, Attestation, AttestationBody, AttestationError, AttestedEntry, ChainHeld,
};
use tally_sdk::time::Timestamp;

use crate::products::{ProductError, gather_within};
use crate::store::{Store, StoreError};

/// An attestation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// Reading the store failed, or the product has more entries than a report reads.
    #[error(transparent)]
    Product(#[from] ProductError),
    /// Reading the chain heads failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed (a malformed body: a bug).
    #[error(transparent)]
    Attestation(#[from] AttestationError),
}

/// How much of each chain the node holds now, sorted by author.
pub fn view(store: &dyn Store) -> Result<Vec<ChainHeld>, StoreError> {
    let mut view: Vec<ChainHeld> = store
        .heads()?
        .into_iter()
        .map(|head| ChainHeld {
            author: head.author,
            size: head.tip.seq.saturating_add(1),
            head: Some(head.tip.hash),
        })
        .collect();
    view.sort_by(|a, b| a.author.cmp(&b.author));
    Ok(view)
}

/// The node's signed attestation of what it holds about `product`, made at `now`.
pub fn attest(
    store: &dyn Store,
    genesis: &Consortium,
    me: &MemberId,
    key: &SigningKey,
    product: &ProductId,
    now: Timestamp,
) -> Result<Attestation, AttestError> {
    let chains = view(store)?;
    let entries = gather_within(store, product, &chains)?
        .into_iter()
        .map(|(hash, entry)| AttestedEntry {
            author: entry.body.author,
            seq: entry.body.seq,
            hash,
        })
        .collect();
    Ok(Attestation::sign(
        AttestationBody {
            format: ATTESTATION_FORMAT,
            network: genesis.network_id(),
            attester: me.clone(),
            product: product.as_str().to_owned(),
            time: now,
            chains,
            entries,
        },
        key,
    )?)
}
