//! Private fields in the API: what a caller sees of an entry's private fields,
//! `POST /v1/entries/{hash}/disclosures`, which hands out chosen fields with their proof, and
//! `POST /v1/entries/{hash}/purge`, which erases them.
//!
//! A caller sees a field's value only when its token may read it and this node holds it: a
//! `member` token reads what the node's member may read (all fields of the member's own
//! entries, and the fields the genesis policy grants its roles); a `read` token reads what the
//! policy grants the token's role. Every other caller sees the field's name and whether it is
//! withheld, not held here, or purged — the value's commitment is the entry's signed private
//! root, which everyone sees.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tally_sdk::disclosed::{EntryDisclosure, EntryDisclosureError};
use tally_sdk::disclosure::DisclosureError;
use tally_sdk::entry::SignedEntry;
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::events::{answer, submit};
use super::problem::{ApiError, ProblemDetails};
use super::query::entry_hash;
use super::views::{EntryView, WriteReceipt};
use crate::config::TokenScope;
use crate::private::{PrivateRow, row};
use crate::store::{Store, StoreError};

/// Most fields named in one disclosure request (an entry commits to at most 64).
const MAX_REQUESTED_FIELDS: usize = 64;

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
    pub fn may_read(&self, genesis: &Genesis, author: &MemberId, field: &FieldName) -> bool {
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
    genesis: &Genesis,
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
    genesis: &Genesis,
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

/// A request naming private fields of an entry: to disclose them, or to purge them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsRequest {
    /// The private fields (at least one).
    pub fields: Vec<String>,
}

/// The field names a `{"fields": [...]}` body asks for.
fn requested_fields(body: Result<Bytes, BytesRejection>) -> Result<Vec<FieldName>, ApiError> {
    let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request: FieldsRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"fields\": [\"name\", ...]}}: {e}"
        ))
    })?;
    field_names(&request.fields)
}

/// Discloses chosen private fields of an entry, with the proof binding them to the signed
/// entry; anyone with the genesis checks it offline (`tally disclose verify`).
#[utoipa::path(
    post, path = "/v1/entries/{hash}/disclosures", tag = "read",
    params(("hash" = String, Path, description = "The entry hash, 64 hex digits")),
    request_body(content = FieldsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The disclosure: `{format, entry, disclosure: {fields: [{name, value, salt}], proof}}`", body = Object),
        (status = 400, description = "Not an entry hash, malformed body, no or repeated fields, or a field the entry does not commit to", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The token may not read a named field", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A named field's value is not held here (not delivered, or purged)", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_disclosure(
    State(state): State<ApiState>,
    caller: Caller,
    hash: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EntryDisclosure>, ApiError> {
    let hash = entry_hash(hash)?;
    let names = requested_fields(body)?;
    let rights = ReadRights::of(&caller, state.member());
    let genesis = state.genesis().clone();
    let store = state.store().clone();
    let found = state
        .blocking(move || -> Result<_, StoreError> {
            Ok((store.entry(&hash)?, row(store.as_ref(), &hash)?))
        })
        .await??;
    let (Some(entry), held) = found else {
        return Err(ApiError::not_found(format!("no entry {hash} is stored")));
    };
    let Some(commitment) = entry.body.private.as_ref() else {
        return Err(ApiError::bad_request(format!(
            "entry {hash} commits to no private fields"
        )));
    };
    for name in &names {
        if commitment.position(name).is_none() {
            return Err(ApiError::bad_request(format!(
                "entry {hash} commits to no private field {name}"
            )));
        }
        if !rights.may_read(&genesis, &entry.body.author, name) {
            return Err(ApiError::forbidden(format!(
                "token {:?} may not read private field {name}",
                caller.name
            )));
        }
        if let Some(note) = held.as_ref().and_then(|r| r.purge_of(name)) {
            return Err(ApiError::conflict(format!(
                "private field {name} of entry {hash} was purged by entry {} at {}",
                note.by,
                note.at.to_rfc3339()
            )));
        }
    }
    let Some(held) = held else {
        return Err(ApiError::conflict(format!(
            "this node holds no private field values of entry {hash}"
        )));
    };
    let disclosure =
        EntryDisclosure::from_held(entry, &held.held, &names).map_err(|e| match &e {
            EntryDisclosureError::Disclosure(DisclosureError::DuplicateField(_)) => {
                ApiError::bad_request(e.to_string())
            }
            EntryDisclosureError::Disclosure(DisclosureError::NotHeld(_)) => {
                ApiError::conflict(e.to_string())
            }
            _ => {
                tracing::error!(error = %e, entry = %hash, "cannot disclose held private fields");
                ApiError::internal()
            }
        })?;
    tracing::info!(token = %caller.name, entry = %hash, fields = names.len(), "private fields disclosed");
    Ok(Json(disclosure))
}

/// Purges private fields of one of the node's member's entries: signs a purge entry naming
/// them; every node holding their values deletes values and salts and rewrites its files. The
/// entry's commitment stays, so the chain still verifies.
#[utoipa::path(
    post, path = "/v1/entries/{hash}/purge", tag = "write",
    params(("hash" = String, Path, description = "The entry hash, 64 hex digits")),
    request_body(content = FieldsRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The purge entry is durable and this node's copies are erased", body = WriteReceipt),
        (status = 400, description = "Not an entry hash, malformed body, no fields, or a field the entry does not commit to", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token, or an entry of another member", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The node cannot store now (nothing stored)", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_purge(
    State(state): State<ApiState>,
    caller: Caller,
    hash: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteReceipt>), ApiError> {
    caller.require_member()?;
    let hash = entry_hash(hash)?;
    let names = requested_fields(body)?;
    let store = state.store().clone();
    let entry = state
        .blocking(move || store.entry(&hash))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("no entry {hash} is stored")))?;
    if &entry.body.author != state.member() {
        return Err(ApiError::forbidden(format!(
            "entry {hash} is {}'s: only its author's node may purge its fields",
            entry.body.author
        )));
    }
    let commitment = entry.body.private.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!("entry {hash} commits to no private fields"))
    })?;
    if let Some(name) = names.iter().find(|n| commitment.position(n).is_none()) {
        return Err(ApiError::bad_request(format!(
            "entry {hash} commits to no private field {name}"
        )));
    }
    let member = state.member().clone();
    let count = names.len();
    let receipts = submit(&state, move |committer, reply| {
        let prepared = committer.pipeline().prepare_purge(&member, hash, names);
        committer.send_events(prepared, reply)
    })
    .await?;
    tracing::info!(token = %caller.name, entry = %hash, fields = count, "private fields purged");
    Ok(answer(receipts))
}

/// The named fields of a request, parsed: 1 to [`MAX_REQUESTED_FIELDS`], each a field name.
fn field_names(fields: &[String]) -> Result<Vec<FieldName>, ApiError> {
    if fields.is_empty() || fields.len() > MAX_REQUESTED_FIELDS {
        return Err(ApiError::bad_request(format!(
            "name 1 to {MAX_REQUESTED_FIELDS} private fields"
        )));
    }
    fields
        .iter()
        .map(|name| {
            FieldName::new(name).map_err(|e| {
                ApiError::bad_request(format!("{name:?} is not a private field name: {e}"))
            })
        })
        .collect()
}
