//! The write routes: `POST /v1/events` (events from the member's own systems, which the node
//! signs into its member's chain) and `POST /v1/entries` (entries signed elsewhere).
//!
//! Both take one item or an array of items and answer only once every item is durable. The
//! request is all or nothing: if any item is refused, nothing of it is stored and the answer
//! names each refused item and, where known, the offending field.
//!
//! An event is an EPCIS 2.0 event as it stands in an EPCISDocument's `eventList`. Two extra
//! top-level members are taken off before it is recorded (neither is an EPCIS field, and
//! EPCIS extensions are always namespaced, so neither can clash with one):
//! * `private`: an object mapping private field names of the genesis's policy to values; the
//!   entry commits to them with salted hashes, and the values are stored apart;
//! * `refs`: hashes of other entries the event refers to.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use serde_json::value::RawValue;
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::SignedEntry;
use tally_sdk::event::{EVENT_FIELDS, unknown_tally_members};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::FieldName;
use tokio::sync::oneshot;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ItemError, ProblemDetails};
use super::views::{ReceiptView, WriteReceipt};
use crate::commit::{Answer, Committer, Reply};
use crate::ingest::{EventInput, IngestError, Receipt};

/// Refuses a body whose media type is not JSON (`application/json` or any `+json`);
/// `expected` says in the refusal what to send.
pub(super) fn require_json_media(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = media.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json");
    if !is_json {
        return Err(ApiError::unsupported_media_type(format!(
            "the body must be {expected}, not {media:?}"
        )));
    }
    Ok(())
}

/// Reads a JSON body: checks the media type and size.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    require_json_media(headers, "JSON (Content-Type: application/json)")?;
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the body is larger than this node takes: {}",
                e.body_text()
            ))
        } else {
            ApiError::bad_request(e.body_text())
        }
    })
}

fn not_json(error: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not valid JSON: {error}"))
}

/// The items of a write: the body is one item or an array of them, at most `max_batch`; each
/// is parsed by `parse`, and every item that fails is named in one refusal. The body is
/// checked as JSON whole, then each item is parsed once, from its own text, straight into
/// what it is (not first into a JSON tree of the whole request).
fn read_items<T>(
    state: &ApiState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
    parse: impl Fn(usize, &str) -> Result<T, ItemError>,
) -> Result<Vec<T>, ApiError> {
    let bytes = json_body(headers, body)?;
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let items: Vec<&RawValue> = if is_array {
        serde_json::from_slice(&bytes).map_err(not_json)?
    } else {
        vec![serde_json::from_slice(&bytes).map_err(not_json)?]
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(format!("the array holds no {what}")));
    }
    let limit = state.config().limits.max_batch;
    if items.len() > limit {
        return Err(ApiError::from(IngestError::TooMany {
            count: items.len(),
            limit,
        }));
    }
    let mut parsed = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match parse(index, item.get()) {
            Ok(value) => parsed.push(value),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(refused_items(errors));
    }
    Ok(parsed)
}

fn refused_items(errors: Vec<ItemError>) -> ApiError {
    let detail = match errors.first() {
        Some(first) => format!(
            "{} of the request's items refused, nothing stored; first: item {}: {}",
            errors.len(),
            first.index,
            first.detail
        ),
        None => "the request was refused".to_owned(),
    };
    ApiError::invalid(detail, errors)
}

fn item_error(index: usize, field: impl Into<String>, detail: impl Into<String>) -> ItemError {
    ItemError {
        index,
        field: Some(field.into()),
        detail: detail.into(),
    }
}

/// Splits one posted event into the EPCIS event and its Tally members.
pub(crate) fn event_input(index: usize, item: Value) -> Result<EventInput, ItemError> {
    let Value::Object(mut object) = item else {
        return Err(item_error(index, "$", "an event must be a JSON object"));
    };
    let mut private = BTreeMap::new();
    match one_of(index, &mut object, "private", "tally:private")? {
        None => {}
        Some(Value::Object(fields)) => {
            for (name, value) in fields {
                let field = name
                    .parse::<FieldName>()
                    .map_err(|e| item_error(index, format!("$.private.{name}"), e.to_string()))?;
                let value = CanonicalJson::from_value(&value)
                    .map_err(|e| item_error(index, format!("$.private.{name}"), e.to_string()))?;
                private.insert(field, value);
            }
        }
        Some(_) => {
            return Err(item_error(
                index,
                "$.private",
                "must be an object mapping private field names to values",
            ));
        }
    }
    let refs = match one_of(index, &mut object, "refs", "tally:refs")? {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .and_then(|s| s.parse::<EntryHash>().ok())
                    .ok_or_else(|| {
                        item_error(index, format!("$.refs[{i}]"), "must be an entry hash (hex)")
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(item_error(
                index,
                "$.refs",
                "must be an array of entry hashes",
            ));
        }
    };
    let event = Value::Object(object);
    if let Some(path) = unknown_tally_members(&event).into_iter().next() {
        let known = EVENT_FIELDS.join(", ");
        return Err(item_error(
            index,
            path.clone(),
            format!(
                "{path} is not a Tally field: an event's tally: members are {known} at its top                  level; private fields go in \"private\" (or \"tally:private\"), never in the                  public event"
            ),
        ));
    }
    Ok(EventInput {
        event,
        refs,
        private,
    })
}

/// Takes the member spelt `plain` or `namespaced` (the EPCIS capture spelling) off a posted
/// event; both at once is refused, naming them.
fn one_of(
    index: usize,
    object: &mut serde_json::Map<String, Value>,
    plain: &str,
    namespaced: &str,
) -> Result<Option<Value>, ItemError> {
    match (object.remove(plain), object.remove(namespaced)) {
        (Some(_), Some(_)) => Err(item_error(
            index,
            format!("$.{namespaced}"),
            format!("give {plain} or {namespaced}, not both"),
        )),
        (one, None) | (None, one) => Ok(one),
    }
}

pub(super) fn answer(receipts: Vec<Receipt>) -> (StatusCode, Json<WriteReceipt>) {
    let created = receipts.iter().any(|r| !r.duplicate);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(WriteReceipt {
            entries: receipts.into_iter().map(ReceiptView::from).collect(),
        }),
    )
}

/// Runs `send` (stage 1 of the pipeline, then queueing for the writer) on the blocking pool,
/// and waits for the writer's answer.
pub(super) async fn submit<F>(state: &ApiState, send: F) -> Result<Vec<Receipt>, ApiError>
where
    F: FnOnce(&Committer, Reply) -> Result<(), IngestError> + Send + 'static,
{
    Ok(submit_for_answer(state, send).await??)
}

/// [`submit`], answering the pipeline's refusal apart from failures of the API itself.
pub(super) async fn submit_for_answer<F>(
    state: &ApiState,
    send: F,
) -> Result<Result<Vec<Receipt>, IngestError>, ApiError>
where
    F: FnOnce(&Committer, Reply) -> Result<(), IngestError> + Send + 'static,
{
    let committer = state.committer().clone();
    let receiver = state
        .blocking(move || {
            let (tx, rx) = oneshot::channel();
            send(
                &committer,
                Box::new(move |answer| {
                    // The client may have gone; what was written stays written.
                    let _ = tx.send(answer);
                }),
            )?;
            Ok::<_, IngestError>(rx)
        })
        .await?;
    let receiver = match receiver {
        Ok(receiver) => receiver,
        Err(refused) => return Ok(Err(refused)),
    };
    let answer: Answer = receiver.await.unwrap_or(Err(IngestError::Stopped));
    if let Ok(receipts) = &answer {
        state.metrics().stored(receipts);
    }
    Ok(answer)
}

/// Records events as the node's member: the node signs them into its member's chain.
#[utoipa::path(
    post, path = "/v1/events", tag = "write",
    request_body(
        content = Object, content_type = "application/json",
        description = "One EPCIS 2.0 event (as in an EPCISDocument's eventList), or an array of them; each may carry `private` (field name → value) and `refs` (entry hashes)"
    ),
    responses(
        (status = 201, description = "Every event is signed and durable", body = WriteReceipt),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid events (nothing stored); each named with its field", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The node cannot store now (nothing stored)", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_events(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteReceipt>), ApiError> {
    caller.require_member()?;
    let inputs = read_items(&state, &headers, body, "events", |index, item| {
        let value = serde_json::from_str(item).map_err(|e| ItemError {
            index,
            field: None,
            detail: format!("not valid JSON: {e}"),
        })?;
        event_input(index, value)
    })?;
    let member = state.member().clone();
    let receipts = submit(&state, move |committer, reply| {
        let prepared = committer.pipeline().prepare(&member, inputs)?;
        committer.send_events(prepared, reply)
    })
    .await?;
    tracing::debug!(token = %caller.name, count = receipts.len(), "events recorded");
    Ok(answer(receipts))
}

/// Stores entries signed elsewhere (by a member's own signing system): each is verified with
/// the SDK's rules, in one batch verification.
#[utoipa::path(
    post, path = "/v1/entries", tag = "write",
    request_body(
        content = Object, content_type = "application/json",
        description = "One signed entry in the SDK's JSON form (as `tally entry sign` writes it), or an array of them"
    ),
    responses(
        (status = 201, description = "Every entry is durable", body = WriteReceipt),
        (status = 200, description = "Every entry was stored already", body = WriteReceipt),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "An entry conflicts with a stored one at its place (a fork)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Items that are not signed entries, or fail verification (nothing stored)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The node cannot store now (nothing stored)", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_entries(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WriteReceipt>), ApiError> {
    caller.require_member()?;
    let entries = read_items(&state, &headers, body, "entries", |index, item| {
        serde_json::from_str::<SignedEntry>(item).map_err(|e| ItemError {
            index,
            field: None,
            detail: format!("not a signed entry: {e}"),
        })
    })?;
    let receipts = submit(&state, move |committer, reply| {
        let checked = committer.check_entries(entries)?;
        committer.send_entries(checked, reply)
    })
    .await?;
    tracing::debug!(token = %caller.name, count = receipts.len(), "entries stored");
    Ok(answer(receipts))
}
