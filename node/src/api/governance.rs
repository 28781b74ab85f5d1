//! `GET /v1/governance`: the membership changes this node applies (its change log, each change
//! with its approvals, verifiable offline with the SDK) and every member's standing — so
//! operators can see that their nodes run the same consortium.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tally_sdk::genesis::{Genesis, KeyEpoch, Removal};
use tally_sdk::governance::SignedChange;
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
    /// The change as signed (`tally_sdk::governance::SignedChange`), for offline checks.
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
    fn of(genesis: &Genesis) -> Self {
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
    Ok(Json(GovernanceView::of(state.genesis())))
}
