//! The JSON shapes the API answers with.
//!
//! An entry is shown with the facts a reader wants at a glance (hash, author, place, kind,
//! status) and the whole signed entry, so that anyone can check it again with the SDK
//! (`tally entry verify`) without trusting this node.

use serde::Serialize;
use tally_sdk::entry::SignedEntry;
use tally_sdk::fork::ForkPoints;
use tally_sdk::hash::EntryHash;
use utoipa::ToSchema;

use super::private::PrivateFieldView;
use crate::ingest::Receipt;

/// What the node can say about an entry it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Every rule of the SDK's verifier passed when the entry was stored (signature,
    /// membership, permissions, chain link), and its stored bytes still hash to its hash.
    Verified,
    /// Verified as above, but its author's chain forked at or before it: a fork proof shows
    /// two entries the author signed at one place (`GET /v1/forks`), so this may not be the
    /// history it stands by.
    Forked,
}

/// One entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    /// The entry hash (hex).
    pub hash: String,
    /// The member whose chain holds it, who signed it.
    pub author: String,
    /// Its place in the author's chain, from 0.
    pub seq: u64,
    /// The C2M kind of its event (`order`, `production_step`, ...), or `purge`.
    pub kind: String,
    /// What the node can say about it.
    pub status: EntryStatus,
    /// The signed entry as the SDK reads it (JSON form).
    #[schema(value_type = Object)]
    pub entry: SignedEntry,
    /// The entry's private fields as the caller may see them (absent when it has none): a
    /// value only where the caller's token may read it and this node holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<Vec<PrivateFieldView>>,
}

impl EntryView {
    /// The view of a stored entry, given the fork points the node holds.
    pub fn new(
        hash: EntryHash,
        entry: SignedEntry,
        private: Option<Vec<PrivateFieldView>>,
        forks: &ForkPoints,
    ) -> Self {
        let kind = entry.body.payload.name().to_owned();
        let status = if forks.is_forked(&entry.body.author, entry.body.seq) {
            EntryStatus::Forked
        } else {
            EntryStatus::Verified
        };
        Self {
            hash: hash.to_hex(),
            author: entry.body.author.to_string(),
            seq: entry.body.seq,
            kind,
            status,
            entry,
            private,
        }
    }
}

/// One page of entries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryPage {
    /// The entries, in order.
    pub items: Vec<EntryView>,
    /// Give this as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The acknowledgement of one stored item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptView {
    /// The entry hash (hex).
    pub hash: String,
    /// The chain it is in.
    pub author: String,
    /// Its place in the chain.
    pub seq: u64,
    /// Whether it was stored already (a re-sent entry, acknowledged again).
    pub duplicate: bool,
}

impl From<Receipt> for ReceiptView {
    fn from(receipt: Receipt) -> Self {
        Self {
            hash: receipt.hash.to_hex(),
            author: receipt.author.to_string(),
            seq: receipt.seq,
            duplicate: receipt.duplicate,
        }
    }
}

/// The answer to a write: every item is durable.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WriteReceipt {
    /// One receipt per item, in the request's order.
    pub entries: Vec<ReceiptView>,
}

/// The node's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the node serves reads and writes.
    pub status: String,
    /// The member this node writes as.
    pub member: String,
    /// The consortium's network id (hex).
    pub network: String,
    /// Chains the node holds.
    pub chains: usize,
    /// Entries the node holds.
    pub entries: u64,
}
