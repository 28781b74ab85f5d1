//! The auditors' and regulators' routes: a member's scorecard, the bundle of a period, every
//! checkpoint a witness signed and the entries refused as their authors' doing (what
//! `tally audit verify --node` reads besides the chains and the fork proofs). The rules are the SDK's; [`crate::audit`] reads the store for them.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tally_sdk::audit::period::{Period, PeriodBundle};
use tally_sdk::audit::rejection::RejectedEntry;
use tally_sdk::audit::scorecard::Scorecard;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use super::query::{Paging, page_limit, path, query, time};
use crate::audit::{self, AuditError};
use crate::witness::book::MAX_CHECKPOINT_BYTES;

/// Most checkpoints one page lists.
const MAX_CHECKPOINT_PAGE: usize = 256;

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Store(store) => ApiError::from(store),
            AuditError::TooManyProducts { .. } | AuditError::TooManyEntries => {
                ApiError::invalid(error.to_string(), Vec::new())
            }
            other => {
                tracing::error!(error = %other, "an audit view could not be put together");
                ApiError::internal()
            }
        }
    }
}

/// A member of the consortium (removed members included), or a 400/404 saying why not.
fn member(
    state: &ApiState,
    extracted: Result<Path<String>, PathRejection>,
) -> Result<MemberId, ApiError> {
    let text = path(extracted)?;
    let member: MemberId = text
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not a member id: {e}")))?;
    if state.genesis().standing(&member).is_none() {
        return Err(ApiError::not_found(format!(
            "{member} is not a member of this consortium"
        )));
    }
    Ok(member)
}

/// A member's scorecard.
#[utoipa::path(
    get, path = "/v1/members/{id}/scorecard", tag = "audit",
    params(("id" = String, Path, description = "A member id of the genesis")),
    responses(
        (status = 200, description = "Defects attributed to the member (non-conformant inspections), its late deliveries, custody rule violations and forks, each finding with the entries that prove it", body = Object),
        (status = 400, description = "Not a member id", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The member's entries name more products than one scorecard reads", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_scorecard(
    State(state): State<ApiState>,
    _caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Scorecard>, ApiError> {
    let member = member(&state, id)?;
    let store = state.store().clone();
    let genesis = state.genesis().clone();
    let card = state
        .blocking(move || audit::scorecard(store.as_ref(), &genesis, &member))
        .await??;
    Ok(Json(card))
}

/// A period of record time.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Start, inclusive (RFC 3339).
    pub from: Option<String>,
    /// End, exclusive (RFC 3339).
    pub to: Option<String>,
}

/// The bundle of a period.
#[utoipa::path(
    get, path = "/v1/audit/period", tag = "audit",
    params(PeriodQuery),
    responses(
        (status = 200, description = "The period bundle (format 1): for every chain, the entries recorded in the period with the checkpoints witnessing them, the entries just before and after, fork proofs and a summary; `tally verify FILE --genesis G` checks it offline", body = Object),
        (status = 400, description = "A time is missing or not RFC 3339, or the period ends before it starts", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The period holds more entries than one bundle", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_period(
    State(state): State<ApiState>,
    _caller: Caller,
    params: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<PeriodBundle>, ApiError> {
    let params = query(params)?;
    let required = |name: &str, value: Option<&str>| {
        time(name, value)?
            .ok_or_else(|| ApiError::bad_request(format!("{name} is required (an RFC 3339 time)")))
    };
    let from = required("from", params.from.as_deref())?;
    let to = required("to", params.to.as_deref())?;
    if to < from {
        return Err(ApiError::bad_request(format!(
            "the period ends ({to}) before it starts ({from})"
        )));
    }
    let store = state.store().clone();
    let book = state.book().clone();
    let genesis = state.genesis().clone();
    let bundle = state
        .blocking(move || {
            audit::period_bundle(store.as_ref(), &book, &genesis, Period { from, to })
        })
        .await??;
    Ok(Json(bundle))
}

/// Where a page of checkpoints starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointRange {
    /// First checkpoint number (default 0).
    pub from: Option<u64>,
}

/// One page of a witness's checkpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointPage {
    /// In number order, each `{signed: {body, signature}, spans}`.
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<Checkpoint>,
    /// The number to ask from for the next page (none once a page is empty: the end).
    pub next: Option<u64>,
}

/// Every checkpoint a witness signed that the node holds, in pages.
#[utoipa::path(
    get, path = "/v1/checkpoints/{witness}", tag = "audit",
    params(("witness" = String, Path, description = "A member id of the genesis"), CheckpointRange),
    responses(
        (status = 200, description = "One page of the witness's checkpoints (a gap in the numbers is a checkpoint not received yet)", body = CheckpointPage),
        (status = 400, description = "Not a member id", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_checkpoints(
    State(state): State<ApiState>,
    _caller: Caller,
    witness: Result<Path<String>, PathRejection>,
    range: Result<Query<CheckpointRange>, QueryRejection>,
) -> Result<Json<CheckpointPage>, ApiError> {
    let witness = member(&state, witness)?;
    let from = query(range)?.from.unwrap_or(0);
    let book = state.book().clone();
    let checkpoints = state
        .blocking(move || {
            book.since(
                &[(witness, from)],
                MAX_CHECKPOINT_PAGE,
                MAX_CHECKPOINT_BYTES * 4,
            )
        })
        .await??;
    let next = checkpoints
        .last()
        .map(|c| c.body().number.saturating_add(1));
    Ok(Json(CheckpointPage { checkpoints, next }))
}

/// One entry refused as its author's doing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedView {
    /// Its author.
    pub member: String,
    /// Its place in the author's chain.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// The rule it breaks.
    pub rule: String,
    /// The refused entry, as its author signed it (the SDK's `RejectedEntry`: anyone with the
    /// genesis checks it).
    #[schema(value_type = Object)]
    pub rejected: RejectedEntry,
}

/// A page of the entries refused as their authors' doing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rejected {
    /// Ordered by author and hash.
    pub rejected: Vec<RejectedView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The `next` of a page of `rows` (key first) read with `limit`: the last key, if the page is
/// full (more may follow).
pub(super) fn next_cursor<T>(rows: &[(Vec<u8>, T)], limit: usize) -> Option<String> {
    (rows.len() == limit)
        .then(|| rows.last().map(|(key, _)| hex::encode(key)))
        .flatten()
}

/// The key a page's `cursor` names: the hex of the last row's key of the page before.
pub(super) fn key_cursor(text: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    text.map(|text| {
        hex::decode(text)
            .ok()
            .filter(|key| !key.is_empty() && key.len() <= 1_024)
            .ok_or_else(|| ApiError::bad_request("the cursor is not one this list returned"))
    })
    .transpose()
}

/// Lists the entries this node refused as their authors' doing: validly signed, breaking a
/// rule (its role may not write the kind, an invalid event, a limit).
#[utoipa::path(
    get, path = "/v1/rejected", tag = "audit",
    params(Paging),
    responses(
        (status = 200, description = "A page of the rejected entries", body = Rejected),
        (status = 400, description = "A limit out of range or a cursor this list did not return", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_rejected(
    State(state): State<ApiState>,
    _caller: Caller,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<Rejected>, ApiError> {
    let paging = query(paging)?;
    let limit = page_limit(paging.limit)?;
    let after = key_cursor(paging.cursor.as_deref())?;
    let store = state.store().clone();
    let genesis = state.genesis().clone();
    let (views, next) = state
        .blocking(move || {
            let verifier = Verifier::new(&genesis, Timestamp::now());
            store.rejected_page(after.as_deref(), limit).map(|found| {
                let next = next_cursor(&found, limit);
                let views = found
                    .into_iter()
                    .filter_map(|(_, rejected)| {
                        let verified = rejected.verify(&verifier).ok()?;
                        Some(RejectedView {
                            member: verified.author.to_string(),
                            seq: verified.seq,
                            hash: verified.hash.to_hex(),
                            rule: verified.rule,
                            rejected,
                        })
                    })
                    .collect::<Vec<_>>();
                (views, next)
            })
        })
        .await??;
    Ok(Json(Rejected {
        rejected: views,
        next,
    }))
}
