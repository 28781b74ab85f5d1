//! Private fields in the API: `POST /v1/entries/{hash}/disclosures`, which hands out chosen
//! fields with their proof, and `POST /v1/entries/{hash}/purge`, which erases them. What a
//! caller sees of an entry's private fields when it reads the entry is [`super::views`]'.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use tally_sdk::ids::FieldName;
use tally_sdk::privacy::disclosure::DisclosureError;
use tally_sdk::reports::disclosed::{EntryDisclosure, EntryDisclosureError};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::events::{answer, submit};
use super::problem::{ApiError, ProblemDetails};
use super::query::entry_hash;
use super::views::{ReadRights, WriteReceipt};
use crate::private::row;
use crate::store::StoreError;

/// Most fields named in one disclosure request (an entry commits to at most 64).
const MAX_REQUESTED_FIELDS: usize = 64;

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
