//! `GET /v1/forks`: the fork proofs this node holds, each two validly signed entries one
//! member signed at one place of its chain — proof, checkable by anyone with the genesis, that
//! the member showed different histories to different parties. Replication finds them and
//! gossips them so every node holds them (`docs/protocol.md`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tally_sdk::fork::ForkProof;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};

/// Most fork proofs listed (each is evidence of a member's misconduct: there are few).
const MAX_FORKS: usize = 1_000;

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

/// The fork proofs the node holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Forks {
    /// Ordered by member and place.
    pub forks: Vec<ForkView>,
    /// The members found equivocating (their chains take nothing after the fork).
    pub flagged: Vec<String>,
}

/// Lists the fork proofs the node holds and the members they flag.
#[utoipa::path(
    get, path = "/v1/forks", tag = "read",
    responses(
        (status = 200, description = "The fork proofs", body = Forks),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_forks(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Forks>, ApiError> {
    let store = state.store().clone();
    let proofs = state.blocking(move || store.forks(MAX_FORKS)).await??;
    let mut forks = Vec::with_capacity(proofs.len());
    for proof in proofs {
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
    let mut flagged: Vec<String> = forks.iter().map(|f| f.member.clone()).collect();
    flagged.dedup();
    Ok(Json(Forks { forks, flagged }))
}
