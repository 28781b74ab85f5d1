//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every refusal the API gives is an [`ApiError`]: a status, a stable `type` URI naming the
//! class of problem, a human `detail`, and, for refused items, which item and which field.
//! Failures of the node itself (storage) are logged in full and answered with a bare 500 or
//! 503: a reply never carries internal details.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ingest::{IngestError, Problem as ItemProblem};
use crate::store::StoreError;

/// Where the problem types are documented (`docs/api.md`, section "Errors").
const TYPE_BASE: &str = "https://tally.dev/problems/";

/// One refused item of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemError {
    /// The item's place in the request, from 0 (a single event is item 0).
    pub index: usize,
    /// JSON path of the offending field within the item, when one is known (e.g.
    /// `$.eventTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub detail: String,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// A URI naming the class of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the class.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The refused items, for a refused batch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
}

/// A refusal, rendered as problem+json.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<ItemError>,
    challenge: bool,
    /// Seconds to send as `Retry-After`.
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: String) -> Self {
        Self {
            status,
            slug,
            title,
            detail,
            errors: Vec::new(),
            challenge: false,
            retry_after: None,
        }
    }

    /// 503 with `Retry-After`: as many requests of this kind as the node handles at once are
    /// in progress; the request was not started.
    pub fn busy(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many requests at once",
            detail.into(),
        );
        error.retry_after = Some(retry_after_seconds);
        error
    }

    /// 429 with `Retry-After`: the client has made as many requests as its rate allows; it
    /// may send again after the given time.
    pub fn rate_limited(detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail.into(),
        );
        error.retry_after = Some(retry_after_seconds);
        error
    }

    /// 408: the request was not answered in time (a slow client, or slow work); a write may
    /// still complete, and sending it again is safe (a stored entry is acknowledged again).
    pub fn timed_out(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "Request timeout",
            detail.into(),
        )
    }

    /// 400: the request is malformed (syntax, a bad parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail.into(),
        )
    }

    /// 401: no token, or a token the node does not know.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or unknown API token",
            detail.into(),
        );
        error.challenge = true;
        error
    }

    /// 403: the token may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed for this token",
            detail.into(),
        )
    }

    /// 404: nothing at this address.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            detail.into(),
        )
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this resource does not support the request's method".into(),
        )
    }

    /// 409: the request conflicts with what the node holds (another entry at a sequence
    /// number, a backup of the same name).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflict with the node's state",
            detail.into(),
        )
    }

    /// 413: the body or the batch is larger than the node takes.
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request too large",
            detail.into(),
        )
    }

    /// 415: not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail.into(),
        )
    }

    /// 422: well-formed, but some items are invalid.
    pub fn invalid(detail: impl Into<String>, errors: Vec<ItemError>) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-item",
            "Invalid event or entry",
            detail.into(),
        );
        error.errors = errors;
        error
    }

    /// 500: the node failed; the cause is logged, not told.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the node could not complete the request; its log says why".into(),
        )
    }

    /// 503: the node cannot take the request now (storage failing, shutting down).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail.into(),
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn details(&self) -> ProblemDetails {
        ProblemDetails {
            kind: format!("{TYPE_BASE}{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.details())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tally\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::BadCursor => ApiError::bad_request(error.to_string()),
            other => {
                tracing::error!(error = %other, "storage failed while answering a request");
                ApiError::internal()
            }
        }
    }
}

fn item_error(index: usize, problem: &ItemProblem) -> ItemError {
    use crate::ingest::Problem;
    use tally_sdk::entry::EntryError;
    use tally_sdk::verify::VerifyError;
    let field = match problem {
        Problem::Event(EntryError::Event(event)) | Problem::Invalid(VerifyError::Event(event)) => {
            Some(event.path.clone())
        }
        Problem::Private(_) => Some("$.private".to_owned()),
        Problem::Custody(_) => Some("$.tally:handOverTo".to_owned()),
        _ => None,
    };
    let detail = match problem {
        Problem::Event(EntryError::Event(event)) | Problem::Invalid(VerifyError::Event(event)) => {
            event.problem.clone()
        }
        other => other.to_string(),
    };
    ItemError {
        index,
        field,
        detail,
    }
}

use tally_sdk::membership::governance::GovernanceError;

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match &error {
            IngestError::TooMany { .. } => ApiError::too_large(error.to_string()),
            IngestError::Rejected(list) => {
                let errors = list
                    .iter()
                    .map(|r| item_error(r.index, &r.problem))
                    .collect();
                if error.is_conflict() {
                    let mut conflict = ApiError::conflict(error.to_string());
                    conflict.errors = errors;
                    conflict
                } else {
                    ApiError::invalid(error.to_string(), errors)
                }
            }
            IngestError::NoKey | IngestError::CatchingUp => {
                ApiError::unavailable(error.to_string())
            }
            IngestError::Stopped => ApiError::unavailable(error.to_string()),
            IngestError::ForkProof(_) => ApiError::invalid(error.to_string(), Vec::new()),
            // Another change holds its place: the change was drawn up against another history.
            IngestError::RivalChange { .. }
            | IngestError::Governance(
                GovernanceError::OutOfOrder { .. } | GovernanceError::WrongPrevious { .. },
            ) => ApiError::conflict(error.to_string()),
            IngestError::Governance(_) => ApiError::invalid(error.to_string(), Vec::new()),
            IngestError::WriteFailed(reason) => {
                tracing::error!(%reason, "a durable write failed; nothing of the request was stored");
                ApiError::unavailable(
                    "the node could not store the request durably; nothing of it was stored, and it may be sent again",
                )
            }
            IngestError::Store(store) => {
                tracing::error!(error = %store, "storage failed while ingesting");
                ApiError::internal()
            }
        }
    }
}
