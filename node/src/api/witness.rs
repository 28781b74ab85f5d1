//! Witnessed checkpoints in the API: `GET /v1/entries/{hash}/witness` (is the entry witnessed,
//! by whom, and the evidence, which the SDK checks offline: `WitnessEvidence::verify`),
//! `GET /v1/checkpoints` (each member's latest checkpoint this node holds) and
//! `GET /v1/witness-misconduct` (checkpoints a witness should never have signed, kept as
//! evidence when they arrived).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use super::query::entry_hash;
use crate::witness::book::Misconduct;
use crate::witness::evidence::{WitnessingError, witnessing};

/// An entry's witnessing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WitnessView {
    /// The entry hash (hex).
    pub entry: String,
    /// Its author.
    pub author: String,
    /// Its sequence number.
    pub seq: u64,
    /// Whether checkpoints of the quorum witness it.
    pub witnessed: bool,
    /// How many members other than the author must witness it.
    pub needed: usize,
    /// The members whose checkpoints witness it.
    pub witnesses: Vec<String>,
    /// Members whose checkpoints this node holds none of covering the entry yet.
    pub pending: Vec<String>,
    /// Checkpoints covering the entry's place that commit to other entries than the ones this
    /// node holds (`witness`, `number`, `reason`).
    #[schema(value_type = Vec<Object>)]
    pub disputed: Vec<crate::witness::evidence::Disputed>,
    /// `{format, entry, witnesses}`: the signed entry and, per witness, the signed checkpoint,
    /// the span's inclusion proof and the entry's inclusion proof in the span.
    #[schema(value_type = Object)]
    pub evidence: tally_sdk::witnessing::witness::WitnessEvidence,
}

/// Whether an entry is witnessed, with the evidence.
#[utoipa::path(
    get, path = "/v1/entries/{hash}/witness", tag = "read",
    params(("hash" = String, Path, description = "The entry hash, 64 hex digits")),
    responses(
        (status = 200, description = "The entry's witnessing and evidence", body = WitnessView),
        (status = 400, description = "Not an entry hash", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_witness(
    State(state): State<ApiState>,
    _caller: Caller,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Json<WitnessView>, ApiError> {
    let hash = entry_hash(hash)?;
    let book = state.book().clone();
    let store = state.store().clone();
    let found = state
        .blocking(move || {
            let genesis = book.genesis().clone();
            let verifier = Verifier::new(&genesis, Timestamp::now());
            witnessing(&book, store.as_ref(), &verifier, &hash)
        })
        .await?
        .map_err(|error| match error {
            WitnessingError::Store(error) => ApiError::from(error),
            WitnessingError::Evidence(error) => {
                tracing::error!(%error, "witness evidence put together from the store does not verify");
                ApiError::internal()
            }
        })?;
    let found = found.ok_or_else(|| ApiError::not_found(format!("no entry {hash} is stored")))?;
    let names = |ids: &[tally_sdk::ids::MemberId]| ids.iter().map(ToString::to_string).collect();
    Ok(Json(WitnessView {
        entry: found.entry.to_hex(),
        author: found.author.to_string(),
        seq: found.seq,
        witnessed: found.witnessed,
        needed: found.needed,
        witnesses: names(&found.witnesses),
        pending: names(&found.pending),
        disputed: found.disputed,
        evidence: found.evidence,
    }))
}

/// The latest checkpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checkpoints {
    /// Each member's latest checkpoint this node holds (members without one are left out),
    /// ordered by member: `{signed: {body, signature}, spans}`.
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<Checkpoint>,
}

/// Lists each member's latest checkpoint this node holds.
#[utoipa::path(
    get, path = "/v1/checkpoints", tag = "read",
    responses(
        (status = 200, description = "The latest checkpoints", body = Checkpoints),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_checkpoints(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Checkpoints>, ApiError> {
    let book = state.book().clone();
    let checkpoints = state.blocking(move || book.latest()).await??;
    Ok(Json(Checkpoints { checkpoints }))
}

/// One piece of evidence that a witness signed what an honest node never signs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MisconductView {
    /// The witness.
    pub witness: String,
    /// `conflict` (two checkpoints of the witness that contradict each other: two with one
    /// number, or two tree heads of one chain at one size with different roots) or
    /// `false_span` (a checkpoint stating entries of a chain other than the ones this node
    /// holds at those places).
    pub kind: String,
    /// The checkpoint's number.
    pub number: u64,
    /// For `false_span`: the chain it misstates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// The signed checkpoints: for `conflict` the one held and the other, for `false_span`
    /// the one (each `{signed: {body, signature}, spans}`; the SDK checks the signatures
    /// offline with the genesis).
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<Checkpoint>,
}

/// The witness misconduct the node holds evidence of.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Misconducts {
    /// By witness, then kind (the first of each kind found).
    pub misconduct: Vec<MisconductView>,
}

/// Lists the evidence of witnesses' misconduct the node keeps: checkpoints found, when
/// received, to conflict with a held one or to misstate a chain.
#[utoipa::path(
    get, path = "/v1/witness-misconduct", tag = "audit",
    responses(
        (status = 200, description = "The evidence", body = Misconducts),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_misconduct(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Misconducts>, ApiError> {
    let book = state.book().clone();
    let kept = state.blocking(move || book.misconduct()).await??;
    let misconduct = kept
        .into_iter()
        .map(|found| {
            let witness = found.witness().to_string();
            match found {
                Misconduct::Conflict { held, other } => MisconductView {
                    witness,
                    kind: "conflict".into(),
                    number: held.body().number,
                    chain: None,
                    checkpoints: vec![held, other],
                },
                Misconduct::FalseSpan { checkpoint, author } => MisconductView {
                    witness,
                    kind: "false_span".into(),
                    number: checkpoint.body().number,
                    chain: Some(author.to_string()),
                    checkpoints: vec![checkpoint],
                },
            }
        })
        .collect();
    Ok(Json(Misconducts { misconduct }))
}
