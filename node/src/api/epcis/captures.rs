//! Capture under `/epcis`: `POST /capture` (a document), `POST /events` (one event) and the
//! capture jobs that say what became of each (`GET /capture`, `GET /capture/{captureID}`).
//!
//! The SDK checks the document ([`tally_sdk::epcis::document`]); [`crate::epcis::inflight`]
//! lets captures that share no event run side by side; [`crate::epcis::capture`] plans what is
//! new and keeps the jobs; the committer signs and writes.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tally_sdk::epcis::document::{CaptureLimits, parse_capture, parse_event};
use tally_sdk::epcis::exception::EpcisException;
use tally_sdk::time::Timestamp;

use super::{EpcisError, EpcisProblem, add_next_link, path_value};
use crate::api::ApiState;
use crate::api::auth::Caller;
use crate::api::events::{require_json_media, submit_for_answer};
use crate::api::problem::ApiError;
use crate::epcis::capture::{self, CaptureJob, CapturePlan, ROLLBACK};
use crate::epcis::inflight::EventKey;
use crate::epcis::search;
use crate::ingest::IngestError;
use crate::store::Batch;

/// Refuses what the binding lets a client ask for and Tally does not do.
fn check_capture_headers(headers: &HeaderMap) -> Result<(), EpcisError> {
    if let Some(value) = headers.get("gs1-capture-error-behaviour") {
        let behaviour = value.to_str().unwrap_or("");
        if !behaviour.eq_ignore_ascii_case(ROLLBACK) {
            return Err(EpcisError::not_implemented(format!(
                "GS1-Capture-Error-Behaviour {behaviour:?} is not implemented: Tally captures a document whole or not at all (rollback)"
            )));
        }
    }
    require_json_media(
        headers,
        "JSON-LD (Content-Type: application/ld+json or application/json)",
    )?;
    Ok(())
}

/// What is captured.
#[derive(Debug, Clone, Copy)]
enum Capture {
    /// An EPCISDocument or EPCISQueryDocument (`POST /capture`).
    Document,
    /// One event (`POST /events`).
    Event,
}

async fn capture(
    state: ApiState,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: Capture,
) -> Result<Response, EpcisError> {
    caller.require_member()?;
    check_capture_headers(&headers)?;
    let limits = CaptureLimits {
        max_bytes: state.config().limits.max_body_bytes,
        max_events: state.config().limits.max_batch,
    };
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            EpcisError::new(
                EpcisException::CaptureLimitExceededException,
                format!(
                    "the body is larger than the {} bytes this node takes",
                    limits.max_bytes
                ),
            )
        } else {
            EpcisError::new(EpcisException::ValidationException, e.body_text())
        }
    })?;
    let created = Timestamp::now();
    let document = state
        .blocking(move || match what {
            Capture::Document => parse_capture(&bytes, &limits),
            Capture::Event => parse_event(&bytes, &limits),
        })
        .await??;
    let events = document.events.len();
    let not_recorded = document.not_recorded.into_iter().map(Into::into).collect();
    let capture_id = capture::new_capture_id(created).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a capture id");
        ApiError::internal()
    })?;
    let keys: Vec<EventKey> = document
        .events
        .iter()
        .map(|e| EventKey::of(&e.hash_id))
        .collect();
    let turn = state.captures().turn(&keys).await;
    let store = state.store().clone();
    let mut plan = state
        .blocking(move || capture::plan(store.as_ref(), document.events))
        .await??;
    // Released by the writer once it has answered: see `crate::epcis::inflight`.
    let claim = turn.claim(plan.hash_ids.iter().map(|id| EventKey::of(id)));
    let mut job = CaptureJob {
        capture_id,
        created_at: created.to_rfc3339(),
        finished_at: None,
        running: false,
        success: true,
        capture_error_behaviour: ROLLBACK.to_owned(),
        errors: Vec::new(),
        events,
        recorded: 0,
        duplicates: plan.duplicates,
        duplicate_events: plan.duplicate_events(None),
        not_recorded,
    };
    let inputs = std::mem::take(&mut plan.inputs);
    let mut stored_with_entries = false;
    if !inputs.is_empty() {
        let member = state.member().clone();
        let hash_ids = std::mem::take(&mut plan.hash_ids);
        // The job is made by the writer from the receipts and stored in the entries' write.
        let finished = Arc::new(OnceLock::new());
        let made = finished.clone();
        let pending = job.clone();
        let listed = CapturePlan {
            duplicate_events: plan.duplicate_events.clone(),
            ..CapturePlan::default()
        };
        let answer = submit_for_answer(&state, move |committer, reply| {
            let prepared = committer
                .pipeline()
                .prepare_classified(&member, inputs)?
                .with_hash_ids(hash_ids)
                .with_rows(move |receipts| {
                    let done = capture::finished_job(pending, &listed, receipts, Timestamp::now());
                    match capture::job_row(&done) {
                        Ok(rows) => {
                            let _ = made.set(done);
                            rows
                        }
                        // Stored on its own below instead.
                        Err(_) => Batch::default(),
                    }
                });
            committer.send_events(prepared, move |answer| {
                drop(claim);
                reply(answer);
            })
        })
        .await?;
        match answer {
            Ok(receipts) => match finished.get() {
                Some(done) => {
                    job = done.clone();
                    stored_with_entries = true;
                }
                None => job = capture::finished_job(job, &plan, &receipts, Timestamp::now()),
            },
            Err(refused @ IngestError::Rejected(_)) => {
                job.success = false;
                job.errors = capture::ingest_problems(&plan, &refused);
            }
            // The node cannot record now: nothing was stored, and the client may retry.
            Err(other) => return Err(ApiError::from(other).into()),
        }
    }
    if !stored_with_entries {
        if job.finished_at.is_none() {
            job.finished_at = Some(Timestamp::now().to_rfc3339());
        }
        let saved = job.clone();
        let store = state.store().clone();
        state
            .blocking(move || capture::save_job(store.as_ref(), &saved))
            .await??;
    }
    let now = Timestamp::now();
    if state.capture_sweep().due(now) {
        // The job is durable; what is left is housekeeping, which must not turn a recorded
        // capture into an error.
        let store = state.store().clone();
        let forgotten = state
            .blocking(move || capture::forget_expired_jobs(store.as_ref(), now))
            .await;
        if let Ok(Err(error)) = forgotten {
            tracing::warn!(%error, "expired capture jobs not forgotten; tried again in a minute");
        }
    }
    tracing::debug!(
        token = %caller.name,
        capture = %job.capture_id,
        events,
        recorded = job.recorded,
        duplicates = job.duplicates,
        success = job.success,
        "EPCIS capture"
    );
    let location = format!("/epcis/capture/{}", job.capture_id);
    let mut response = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Captures an EPCISDocument (or EPCISQueryDocument): every event becomes a signed entry of
/// the member's chain, or none does.
#[utoipa::path(
    post, path = "/epcis/capture", tag = "epcis",
    request_body(content = Object, content_type = "application/ld+json", description = "An EPCIS 2.0 EPCISDocument; events may carry `tally:private` and `tally:refs` (docs/epcis.md)"),
    params(("GS1-Capture-Error-Behaviour" = Option<String>, Header, description = "Only `rollback` (the default)")),
    responses(
        (status = 202, description = "Captured, or refused whole: the capture job says which (Location: its URL)", body = CaptureJob),
        (status = 400, description = "Not JSON, not valid EPCIS 2.0 (schema), or events Tally cannot record; nothing stored", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "More bytes or events than the node takes", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 501, description = "A capture error behaviour other than rollback", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 503, description = "The node cannot record now (nothing stored)", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_capture(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, EpcisError> {
    capture(state, caller, headers, body, Capture::Document).await
}

/// Captures one event (with its own `@context`).
#[utoipa::path(
    post, path = "/epcis/events", tag = "epcis",
    request_body(content = Object, content_type = "application/ld+json", description = "One EPCIS 2.0 event with its @context"),
    responses(
        (status = 202, description = "Captured, or refused: the capture job says which", body = CaptureJob),
        (status = 400, description = "Not a valid event; nothing stored", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = crate::api::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = EpcisProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_event(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, EpcisError> {
    capture(state, caller, headers, body, Capture::Event).await
}

/// A capture job.
#[utoipa::path(
    get, path = "/epcis/capture/{captureID}", tag = "epcis",
    params(("captureID" = String, Path, description = "The id of the capture's Location")),
    responses(
        (status = 200, description = "The job", body = CaptureJob),
        (status = 404, description = "No such job (or older than 30 days)", body = EpcisProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_capture_job(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CaptureJob>, EpcisError> {
    caller.require_member()?;
    let id = path_value(id)?;
    let missing = || {
        EpcisError::new(
            EpcisException::NoSuchResourceException,
            format!("no capture job {id:?} is kept on this node"),
        )
    };
    if !capture::is_capture_id(&id) {
        return Err(missing());
    }
    let store = state.store().clone();
    let key = id.clone();
    let found = state
        .blocking(move || capture::job(store.as_ref(), &key))
        .await??;
    found.map(Json).ok_or_else(missing)
}

/// Paging of the capture jobs.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPaging {
    /// Jobs per page.
    #[serde(rename = "perPage")]
    pub per_page: Option<usize>,
    /// The capture id to continue after.
    #[serde(rename = "nextPageToken")]
    pub next_page_token: Option<String>,
}

/// The capture jobs kept (30 days), oldest first.
#[utoipa::path(
    get, path = "/epcis/capture", tag = "epcis",
    params(
        ("perPage" = Option<usize>, Query, description = "Jobs per page (default 30, at most 1,000)"),
        ("nextPageToken" = Option<String>, Query, description = "From the previous page's Link"),
    ),
    responses(
        (status = 200, description = "The jobs; a Link header (rel=\"next\") names the next page", body = [CaptureJob]),
        (status = 400, description = "A bad parameter", body = EpcisProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_capture_jobs(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<JobPaging>, QueryRejection>,
) -> Result<Response, EpcisError> {
    caller.require_member()?;
    let Query(paging) = paging
        .map_err(|e| EpcisError::new(EpcisException::QueryParameterException, e.body_text()))?;
    let per_page = match paging.per_page {
        None => search::DEFAULT_PER_PAGE,
        Some(0) => {
            return Err(EpcisError::new(
                EpcisException::QueryParameterException,
                "perPage must be at least 1",
            ));
        }
        Some(n) => n.min(search::MAX_PER_PAGE),
    };
    if let Some(token) = &paging.next_page_token
        && !capture::is_capture_id(token)
    {
        return Err(EpcisError::new(
            EpcisException::QueryParameterException,
            format!("nextPageToken {token:?} was not issued by this node"),
        ));
    }
    let store = state.store().clone();
    let after = paging.next_page_token.clone();
    let (jobs, next) = state
        .blocking(move || capture::jobs(store.as_ref(), after.as_deref(), per_page))
        .await??;
    let mut response = Json(jobs).into_response();
    if let Some(next) = next {
        add_next_link(
            &mut response,
            &format!("/epcis/capture?perPage={per_page}&nextPageToken={next}"),
        );
    }
    Ok(response)
}
