//! `GET /v1/forks`: the fork proofs this node holds, a page at a time, each two validly signed
//! entries one member signed at one place of its chain — proof, checkable by anyone with the
//! genesis, that the member showed different histories to different parties. Replication
//! finds them and every node pulls them (`docs/protocol.md`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use tally_sdk::witnessing::fork::ForkProof;
use utoipa::ToSchema;

use super::ApiState;
use super::audit::{key_cursor, next_cursor};
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use super::query::{Paging, page_limit, query};
use crate::forks::fork_points;

/// One fork proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForkView {
    /// The member that signed both entries.
    pub member: String,
    /// The place in its chain.
    pub seq: u64,
    /// The two entries' hashes (hex), smaller first.
    pub hashes: [String; 2],
    /// The proof: both signed entries (`tally` and the SDK check it offline).
    #[schema(value_type = Object)]
    pub proof: ForkProof,
}

/// A page of the fork proofs the node holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Forks {
    /// Ordered by chain and place.
    pub forks: Vec<ForkView>,
    /// Every member found equivocating, whichever page its proofs are on (their chains take
    /// nothing from the fork point on).
    pub flagged: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Lists the fork proofs the node holds and the members they flag.
#[utoipa::path(
    get, path = "/v1/forks", tag = "read",
    params(Paging),
    responses(
        (status = 200, description = "A page of the fork proofs", body = Forks),
        (status = 400, description = "A limit out of range or a cursor this list did not return", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_forks(
    State(state): State<ApiState>,
    _caller: Caller,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<Forks>, ApiError> {
    let paging = query(paging)?;
    let limit = page_limit(paging.limit)?;
    let after = key_cursor(paging.cursor.as_deref())?;
    let store = state.store().clone();
    let (page, points) = state
        .blocking(move || {
            let page = store.forks_page(after.as_deref(), limit)?;
            Ok::<_, crate::store::StoreError>((page, fork_points(store.as_ref())?))
        })
        .await??;
    let next = next_cursor(&page, limit);
    let mut forks = Vec::with_capacity(page.len());
    for (_, proof) in page {
        let hashes = [proof.first.hash(), proof.second.hash()];
        let [Ok(first), Ok(second)] = hashes else {
            return Err(ApiError::internal());
        };
        forks.push(ForkView {
            member: proof.first.body.author.to_string(),
            seq: proof.first.body.seq,
            hashes: [first.to_hex(), second.to_hex()],
            proof,
        });
    }
    let flagged = points
        .iter()
        .map(|(member, _)| member.to_string())
        .collect();
    Ok(Json(Forks {
        forks,
        flagged,
        next,
    }))
}
