//! The JSON shapes the API answers with.
//!
//! An entry is shown with the facts a reader wants at a glance (hash, author, place, kind,
//! status) and the whole signed entry, so that anyone can check it again with the SDK
//! (`tally entry verify`) without trusting this node.
//!
//! A caller sees a private field's value only when its token may read it and this node holds
//! it: a `member` token reads what the node's member may read (all fields of the member's own
//! entries, and the fields the genesis policy grants its roles); a `read` token reads what the
//! policy grants the token's role. Every other caller sees the field's name and whether it is
//! withheld, not held here, or purged — the value's commitment is the entry's signed private
//! root, which everyone sees.

use serde::Serialize;
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::witnessing::fork::ForkPoints;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::ApiError;
use crate::config::TokenScope;
use crate::ingest::Receipt;
use crate::private::{PrivateRow, row};
use crate::store::{Store, StoreError};

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

/// What a caller may read, resolved once per request.
#[derive(Debug, Clone)]
pub enum ReadRights {
    /// The node's member: its own entries' fields, and what the policy grants its roles.
    Member(MemberId),
    /// What the policy grants a role.
    Role(String),
}

impl ReadRights {
    /// The rights of a caller on this node.
    pub fn of(caller: &Caller, member: &MemberId) -> Self {
        match &caller.scope {
            TokenScope::Member => ReadRights::Member(member.clone()),
            TokenScope::Read { role } => ReadRights::Role(role.clone()),
        }
    }

    /// Whether the caller may read `field` of an entry by `author`.
    pub fn may_read(&self, genesis: &Consortium, author: &MemberId, field: &FieldName) -> bool {
        match self {
            ReadRights::Member(me) => {
                me == author
                    || genesis
                        .member(me)
                        .is_some_and(|member| genesis.may_read(member, field))
            }
            ReadRights::Role(role) => genesis.role_may_read(role, field),
        }
    }
}

/// Whether a private field's value is in this answer, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldState {
    /// The value is shown.
    Shown,
    /// The caller's token may not read this field.
    Withheld,
    /// The caller may read it, but this node does not hold the value (not delivered yet, or
    /// the node's member may not read it).
    NotHeld,
    /// The value was erased by a purge.
    Purged,
}

/// One private field of an entry, as the caller may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivateFieldView {
    /// The field's name (e.g. `consumer.address`).
    pub name: String,
    /// Whether the value is shown.
    pub state: FieldState,
    /// The value, when `state` is `shown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
    /// When `state` is `purged`: the purge entry (hex hash) and when it was signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_by: Option<String>,
    /// When `state` is `purged`: when the purge entry was signed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_at: Option<String>,
}

/// What `rights` see of an entry's private fields, given the row this node holds.
pub fn field_views(
    genesis: &Consortium,
    rights: &ReadRights,
    entry: &SignedEntry,
    held: Option<&PrivateRow>,
) -> Option<Vec<PrivateFieldView>> {
    let commitment = entry.body.private.as_ref()?;
    let views = commitment
        .fields
        .iter()
        .map(|name| {
            let mut view = PrivateFieldView {
                name: name.to_string(),
                state: FieldState::Withheld,
                value: None,
                purged_by: None,
                purged_at: None,
            };
            if let Some(note) = held.and_then(|row| row.purge_of(name)) {
                view.state = FieldState::Purged;
                view.purged_by = Some(note.by.to_hex());
                view.purged_at = Some(note.at.to_rfc3339());
            } else if rights.may_read(genesis, &entry.body.author, name) {
                let value = held
                    .and_then(|row| row.held.field(name))
                    .and_then(|field| field.value.to_value().ok());
                view.state = if value.is_some() {
                    FieldState::Shown
                } else {
                    FieldState::NotHeld
                };
                view.value = value;
            }
            view
        })
        .collect();
    Some(views)
}

/// The private views of entries, reading the rows of those with private fields.
pub fn entries_private(
    store: &dyn Store,
    genesis: &Consortium,
    rights: &ReadRights,
    entries: &[(EntryHash, SignedEntry)],
) -> Result<Vec<Option<Vec<PrivateFieldView>>>, StoreError> {
    entries
        .iter()
        .map(|(hash, entry)| {
            if entry.body.private.is_none() {
                return Ok(None);
            }
            let held = row(store, hash)?;
            Ok(field_views(genesis, rights, entry, held.as_ref()))
        })
        .collect()
}

/// The views of entries as `caller` may see them (private fields resolved on the blocking
/// pool).
pub async fn entry_views(
    state: &ApiState,
    caller: &Caller,
    entries: Vec<(EntryHash, SignedEntry)>,
) -> Result<Vec<EntryView>, ApiError> {
    let rights = ReadRights::of(caller, state.member());
    let genesis = state.genesis().clone();
    let store = state.store().clone();
    let views = state
        .blocking(move || -> Result<_, StoreError> {
            let forks = crate::forks::fork_points(store.as_ref())?;
            let private = entries_private(store.as_ref(), &genesis, &rights, &entries)?;
            Ok(entries
                .into_iter()
                .zip(private)
                .map(|((hash, entry), private)| EntryView::new(hash, entry, private, &forks))
                .collect())
        })
        .await??;
    Ok(views)
}
