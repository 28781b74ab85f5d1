//! A chain's verifiable log over HTTP: its root at any size it has had, the inclusion proof
//! of any entry, and the consistency proof between any two sizes, each read from the chain's
//! tiles in `O(log n)` reads ([`crate::store::tiles`]). Anyone holding a root they trust (a
//! witness's signed head) checks the proofs with `tally_sdk::tlog::proof` or any RFC 9162
//! verifier: hashes are hex, leaf `i` is `SHA-256(0x00 || hash of entry i)`.
//!
//! `GET /v1/chains/{member}/log` (the root at `size`, by default the chain's length),
//! `GET /v1/chains/{member}/log/inclusion?index=&size=`,
//! `GET /v1/chains/{member}/log/consistency?from=&to=`, and
//! `GET /v1/chains/{member}/log/cosigned`: each witness's latest cosigned tree head of the
//! chain as a C2SP signed note, with the witness's verifier key, so that any C2SP tool checks
//! the heads and, with the proofs above, any entry.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tally_sdk::ids::MemberId;
use tally_sdk::tlog::checkpoint::{key_name, origin};
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::note::NoteVerifier;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use super::query::{consortium_member, query};
use crate::store::tiles::{ChainTiles, ProofError};
use crate::store::{Store, StoreError, corrupted};

/// `?size=`: a size of the chain's log (default: its length now).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SizeParam {
    /// Entries in the log, 0 to the chain's length.
    pub size: Option<u64>,
}

/// `?index=&size=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The entry's sequence number.
    pub index: u64,
    /// The size of the log the proof is for (default: the chain's length now).
    pub size: Option<u64>,
}

/// `?from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older size, at least 1.
    pub from: u64,
    /// The newer size (default: the chain's length now).
    pub to: Option<u64>,
}

/// A chain's log at one size.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogRoot {
    /// The chain's member.
    pub member: String,
    /// Entries in the log.
    pub size: u64,
    /// The RFC 6962 root (hex).
    pub root: String,
    /// The chain's length now.
    pub length: u64,
}

/// An inclusion proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The chain's member.
    pub member: String,
    /// The entry's sequence number: the leaf's index.
    pub index: u64,
    /// The entry's hash (hex).
    pub entry: String,
    /// The leaf hash, `SHA-256(0x00 || entry hash)` (hex).
    pub leaf: String,
    /// The size of the log.
    pub size: u64,
    /// The root at that size (hex).
    pub root: String,
    /// The proof's hashes, from the leaf up (hex).
    pub proof: Vec<String>,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The chain's member.
    pub member: String,
    /// The older size.
    pub from: u64,
    /// The root at the older size (hex).
    pub from_root: String,
    /// The newer size.
    pub to: u64,
    /// The root at the newer size (hex).
    pub to_root: String,
    /// The proof's hashes (hex), as RFC 9162 §2.1.4 gives them.
    pub proof: Vec<String>,
}

/// The chain's code and length (`None`: the chain is empty here).
fn chain<S: Store + ?Sized>(
    store: &S,
    member: &MemberId,
) -> Result<Option<(crate::store::keys::MemberCode, u64)>, StoreError> {
    Ok(store
        .head(member)?
        .map(|head| (head.code, head.tip.seq.saturating_add(1))))
}

/// A size asked for, within the chain's length.
fn within(size: Option<u64>, length: u64, what: &str) -> Result<u64, ApiError> {
    let size = size.unwrap_or(length);
    if size > length {
        return Err(ApiError::bad_request(format!(
            "{what} {size} is more than the {length} entries of the chain this node holds"
        )));
    }
    Ok(size)
}

fn hexes(hashes: &[LogHash]) -> Vec<String> {
    hashes.iter().map(LogHash::to_hex).collect()
}

fn proof_problem(error: ProofError) -> ApiError {
    match error {
        ProofError::Refused(why) => ApiError::bad_request(why),
        ProofError::Store(store) => store.into(),
    }
}

/// The root of a member's chain log.
#[utoipa::path(
    get, path = "/v1/chains/{member}/log", tag = "read",
    params(("member" = String, Path, description = "A member id of the genesis"), SizeParam),
    responses(
        (status = 200, description = "The root at that size", body = LogRoot),
        (status = 400, description = "Bad member id, or a size past the chain", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_log(
    State(state): State<ApiState>,
    _caller: Caller,
    member: Result<Path<String>, PathRejection>,
    params: Result<Query<SizeParam>, QueryRejection>,
) -> Result<Json<LogRoot>, ApiError> {
    let member = consortium_member(&state, member)?;
    let params = query(params)?;
    let store = state.store().clone();
    let asked = member.clone();
    let (size, length, root) = state
        .blocking(move || -> Result<_, ApiError> {
            let found = chain(store.as_ref(), &asked)?;
            let length = found.map_or(0, |(_, length)| length);
            let size = within(params.size, length, "size")?;
            let root = match found {
                Some((code, _)) => ChainTiles::new(store.as_ref(), code).root(size)?,
                None => tally_sdk::tlog::hash::EMPTY_ROOT,
            };
            Ok((size, length, root))
        })
        .await??;
    Ok(Json(LogRoot {
        member: member.to_string(),
        size,
        root: root.to_hex(),
        length,
    }))
}

/// The inclusion proof of a member's entry in its chain log.
#[utoipa::path(
    get, path = "/v1/chains/{member}/log/inclusion", tag = "read",
    params(("member" = String, Path, description = "A member id of the genesis"), InclusionParams),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 400, description = "Bad member id, an index not below the size, or a size past the chain", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_inclusion(
    State(state): State<ApiState>,
    _caller: Caller,
    member: Result<Path<String>, PathRejection>,
    params: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Json<InclusionProof>, ApiError> {
    let member = consortium_member(&state, member)?;
    let params = query(params)?;
    let store = state.store().clone();
    let asked = member.clone();
    let answer = state
        .blocking(move || -> Result<_, ApiError> {
            let (code, length) = chain(store.as_ref(), &asked)?
                .ok_or_else(|| ApiError::bad_request(format!("{asked}'s chain is empty here")))?;
            let size = within(params.size, length, "size")?;
            let tiles = ChainTiles::new(store.as_ref(), code);
            let proof = tiles.inclusion(params.index, size).map_err(proof_problem)?;
            let root = tiles.root(size)?;
            let entry = store
                .chain_hash(crate::store::keys::Position {
                    member: code,
                    seq: params.index,
                })?
                .ok_or_else(|| {
                    ApiError::from(crate::store::corrupted(format!(
                        "entry {} of {asked} is in its log but not its chain",
                        params.index
                    )))
                })?;
            Ok((size, root, proof, entry))
        })
        .await??;
    let (size, root, proof, entry) = answer;
    Ok(Json(InclusionProof {
        member: member.to_string(),
        index: params.index,
        entry: entry.to_hex(),
        leaf: LogHash::entry_leaf(&entry).to_hex(),
        size,
        root: root.to_hex(),
        proof: hexes(&proof),
    }))
}

/// The consistency proof between two sizes of a member's chain log.
#[utoipa::path(
    get, path = "/v1/chains/{member}/log/consistency", tag = "read",
    params(("member" = String, Path, description = "A member id of the genesis"), ConsistencyParams),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 400, description = "Bad member id, `from` 0 or past `to`, or a size past the chain", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_consistency(
    State(state): State<ApiState>,
    _caller: Caller,
    member: Result<Path<String>, PathRejection>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let member = consortium_member(&state, member)?;
    let params = query(params)?;
    let store = state.store().clone();
    let asked = member.clone();
    let (to, from_root, to_root, proof) = state
        .blocking(move || -> Result<_, ApiError> {
            let (code, length) = chain(store.as_ref(), &asked)?
                .ok_or_else(|| ApiError::bad_request(format!("{asked}'s chain is empty here")))?;
            let to = within(params.to, length, "to")?;
            let tiles = ChainTiles::new(store.as_ref(), code);
            let proof = tiles.consistency(params.from, to).map_err(proof_problem)?;
            Ok((to, tiles.root(params.from)?, tiles.root(to)?, proof))
        })
        .await??;
    Ok(Json(ConsistencyProof {
        member: member.to_string(),
        from: params.from,
        from_root: from_root.to_hex(),
        to,
        to_root: to_root.to_hex(),
        proof: hexes(&proof),
    }))
}

/// One witness's latest cosigned tree head of a chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CosignedHead {
    /// The witness.
    pub witness: String,
    /// The number of the witness's checkpoint that cosigned it.
    pub checkpoint: u64,
    /// The log's size at the head.
    pub size: u64,
    /// Its root, hex.
    pub root: String,
    /// The chain's C2SP checkpoint, signed by the witness: a C2SP signed note.
    pub note: String,
    /// The witness's C2SP verifier key (`name+keyid+base64`), for any note tool.
    pub verifier_key: String,
}

/// Every witness's latest cosigned head of a chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CosignedHeads {
    /// The chain's member.
    pub member: String,
    /// The chain's C2SP origin.
    pub origin: String,
    /// One per member whose checkpoints cosigned the chain (format 2), by member id.
    pub heads: Vec<CosignedHead>,
}

/// The latest tree head of a member's chain that each witness cosigned, as C2SP signed notes.
#[utoipa::path(
    get, path = "/v1/chains/{member}/log/cosigned", tag = "read",
    params(("member" = String, Path, description = "A member id of the genesis")),
    responses(
        (status = 200, description = "The cosigned heads", body = CosignedHeads),
        (status = 400, description = "Bad member id", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_cosigned(
    State(state): State<ApiState>,
    _caller: Caller,
    member: Result<Path<String>, PathRejection>,
) -> Result<Json<CosignedHeads>, ApiError> {
    let member = consortium_member(&state, member)?;
    let book = state.book().clone();
    let asked = member.clone();
    let heads = state
        .blocking(move || -> Result<_, StoreError> {
            let genesis = book.genesis();
            let network = genesis.network_id();
            let mut heads = Vec::new();
            for witness in genesis.all_members() {
                let Some(stated) = book.stated(&witness.id, &asked)? else {
                    continue;
                };
                let Some(checkpoint) = book.covering(&asked, &witness.id, stated)? else {
                    continue;
                };
                let number = checkpoint.body().number;
                let key = genesis
                    .standing(&witness.id)
                    .and_then(|s| s.checkpoint_key(number));
                let (Some(span), Some(key)) = (checkpoint.span(&asked), key) else {
                    continue;
                };
                let (Some(tree), Some(note)) = (
                    span.tree.as_ref(),
                    span.cosigned_note(&network, &witness.id, &key),
                ) else {
                    continue;
                };
                let verifier = NoteVerifier::new(key_name(&network, &witness.id), key)
                    .map_err(|e| corrupted(format!("a witness's note key: {e}")))?;
                heads.push(CosignedHead {
                    witness: witness.id.to_string(),
                    checkpoint: number,
                    size: span.tree_size(),
                    root: tree.root.to_hex(),
                    note,
                    verifier_key: verifier.vkey(),
                });
            }
            Ok(heads)
        })
        .await??;
    let network = state.book().genesis().network_id();
    Ok(Json(CosignedHeads {
        origin: origin(&network, &member),
        member: member.to_string(),
        heads,
    }))
}
