//! `GET /v1/governance`: the membership changes this node applies (its change log, each change
//! with its approvals, verifiable offline with the SDK) and every member's standing — so
//! operators can see that their nodes run the same consortium.
//!
//! `POST /v1/governance/changes`: applies a change the founders approved (`tally governance
//! approve`), while the node runs. The node checks it against the consortium in force, stores
//! it and puts it in force; replication then takes it to every other member's node, which
//! checks it the same way ([`crate::consortium`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Serialize;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::governance::SignedChange;
use tally_sdk::membership::governance::{KeyEpoch, Removal};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};

/// One applied change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeView {
    /// Its number (1 for the first change after the genesis).
    pub number: u64,
    /// Its hash (hex): what the founders signed.
    pub hash: String,
    /// `add_member`, `remove_member` or `rotate_keys`.
    pub action: String,
    /// The member it is about.
    pub member: String,
    /// Why it was made.
    pub reason: String,
    /// The founders who approved it.
    pub approved_by: Vec<String>,
    /// The change as signed (`tally_sdk::membership::governance::SignedChange`), for offline checks.
    #[schema(value_type = Object)]
    pub change: SignedChange,
}

/// A member as the consortium now stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberStanding {
    /// The member id.
    pub member: String,
    /// The organisation.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Whether it may approve changes.
    pub founder: bool,
    /// Whether it is a current member (not removed).
    pub active: bool,
    /// Its node's libp2p peer id.
    pub peer_id: String,
    /// Its signing keys, oldest first, each with the first entry and checkpoint it signs.
    #[schema(value_type = Vec<Object>)]
    pub signing_keys: Vec<KeyEpoch>,
    /// For a removed member, the first entry and checkpoint number no longer accepted.
    #[schema(value_type = Option<Object>)]
    pub removed: Option<Removal>,
}

/// The consortium this node runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GovernanceView {
    /// The network id (the genesis hash).
    pub network: String,
    /// The hash of the last change applied, if any.
    pub last_change: Option<String>,
    /// The changes applied, in order.
    pub changes: Vec<ChangeView>,
    /// Every member ever admitted, in order of admission.
    pub members: Vec<MemberStanding>,
}

impl GovernanceView {
    fn of(genesis: &Consortium) -> Self {
        let changes = genesis
            .changes()
            .iter()
            .map(|change| ChangeView {
                number: change.body.number,
                hash: change.body.hash().map(|h| h.to_hex()).unwrap_or_default(),
                action: change.body.action.name().to_owned(),
                member: change.body.action.member().to_string(),
                reason: change.body.reason.clone(),
                approved_by: change
                    .approvals
                    .iter()
                    .map(|a| a.member.to_string())
                    .collect(),
                change: change.clone(),
            })
            .collect();
        let members = genesis
            .all_members()
            .iter()
            .map(|m| {
                let standing = genesis.standing(&m.id);
                MemberStanding {
                    member: m.id.to_string(),
                    name: m.name.clone(),
                    roles: m.roles.iter().map(ToString::to_string).collect(),
                    founder: m.founder,
                    active: genesis.is_active(&m.id),
                    peer_id: m.peer_id.clone(),
                    signing_keys: standing.map(|s| s.keys.clone()).unwrap_or_default(),
                    removed: standing.and_then(|s| s.removed),
                }
            })
            .collect();
        Self {
            network: genesis.network_id().to_hex(),
            last_change: genesis.last_change().map(|h| h.to_hex()),
            changes,
            members,
        }
    }
}

/// Shows the membership changes this node applies and every member's standing.
#[utoipa::path(
    get, path = "/v1/governance", tag = "operations",
    responses(
        (status = 200, description = "The consortium as this node runs it", body = GovernanceView),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_governance(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<GovernanceView>, ApiError> {
    Ok(Json(GovernanceView::of(&state.genesis())))
}

/// Applies a change the founders approved: checked against the consortium in force (its
/// number and previous change, the approvals of enough current founders, the membership
/// rules), stored, and in force when the answer comes; other members' nodes get it by
/// replication. Sending a change applied already is answered `200` with nothing changed.
#[utoipa::path(
    post, path = "/v1/governance/changes", tag = "operations",
    request_body(content = Object, content_type = "application/json", description = "A signed change (`tally governance approve` writes one), as in the change log"),
    responses(
        (status = 201, description = "Applied: the consortium now in force", body = GovernanceView),
        (status = 200, description = "Applied already: nothing changed", body = GovernanceView),
        (status = 400, description = "Not a signed change", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Out of order (another change is next, or the change follows another history)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not approved by enough current founders, another network, or breaks a membership rule", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The node cannot store now (nothing applied)", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_change(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<GovernanceView>), ApiError> {
    caller.require_member()?;
    let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let change: SignedChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be one signed change, as `tally governance approve` writes it: {e}"
        ))
    })?;
    let before = state.genesis().changes().len();
    let committer = state.committer().clone();
    state
        .blocking(move || committer.submit_change(change))
        .await??;
    let after = state.genesis();
    let status = if after.changes().len() > before {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(GovernanceView::of(&after))))
}
