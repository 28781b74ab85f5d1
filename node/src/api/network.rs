//! `GET /v1/network`: this node's libp2p identity, the addresses it listens on (what other
//! members' nodes bootstrap from), and which members' nodes are connected or banned.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use crate::replicate::net::NetStatus;

/// One member's node as this node sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeerView {
    /// The member.
    pub member: String,
    /// Its node's libp2p peer id (from the genesis).
    pub peer_id: String,
    /// Whether a connection is open.
    pub connected: bool,
    /// Whether it is banned for misbehaving (its connections are refused until the ban ends).
    pub banned: bool,
}

/// The node's place in the network.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NetworkView {
    /// Whether replication runs on this node.
    pub running: bool,
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// Addresses it listens on, each ending with `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// The other members' nodes, ordered by member id.
    pub peers: Vec<PeerView>,
}

impl NetworkView {
    fn of(status: NetStatus, running: bool) -> Self {
        Self {
            running,
            peer_id: status.peer_id,
            listen: status.listen,
            peers: status
                .peers
                .into_iter()
                .map(|p| PeerView {
                    member: p.member,
                    peer_id: p.peer_id,
                    connected: p.connected,
                    banned: p.banned,
                })
                .collect(),
        }
    }
}

/// Shows the node's libp2p identity, listen addresses and peers.
#[utoipa::path(
    get, path = "/v1/network", tag = "operations",
    responses(
        (status = 200, description = "The node's network state", body = NetworkView),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_network(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<NetworkView>, ApiError> {
    let view = match state.network() {
        Some(handle) => {
            let status = handle.status();
            let running = !status.peer_id.is_empty();
            NetworkView::of(status, running)
        }
        None => NetworkView::of(NetStatus::default(), false),
    };
    Ok(Json(view))
}
