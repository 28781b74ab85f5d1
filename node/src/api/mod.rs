//! The HTTP API (axum): what a member's own systems, its staff and auditors talk to.
//!
//! * [`app`] builds the [`Router`] from an [`ApiState`]; tests drive it without sockets.
//! * [`serve`] runs it on a listener until a shutdown signal, finishing requests in flight.
//!
//! Routes (all under `/v1` need a bearer token, [`auth`]): `POST /v1/events`,
//! `POST /v1/entries`, `GET /v1/entries/{hash}`, `GET /v1/chains/{member}` (and its
//! verifiable log, [`log`]),
//! `GET /v1/products/{id}/history`, `GET /v1/events` (search), `GET /v1/heads`,
//! `GET /v1/forks`, `GET /v1/network`, `GET /v1/governance`, `POST /v1/governance/changes`,
//! `POST /v1/backups`, the auditors' routes
//! (`GET /v1/members/{id}/scorecard`, `GET /v1/audit/period`, `GET /v1/checkpoints/{witness}`,
//! `GET /v1/rejected`, [`audit`]); and, open,
//! `/health`, `/metrics` (Prometheus) and `/openapi.json` (OpenAPI 3.1, [`openapi`]); the
//! consumer's page at GS1 Digital Link paths (`/01/{gtin}/21/{serial}`, [`resolver`]); the
//! EPCIS 2.0 binding under `/epcis` ([`epcis`]).
//! Every refusal is RFC 9457 problem+json ([`problem`]). `docs/api.md` documents them.

pub mod audit;
pub mod auth;
pub mod backups;
pub mod epcis;
pub mod events;
pub mod forks;
pub mod governance;
pub mod log;
pub mod metrics;
pub mod network;
pub mod openapi;
pub mod private;
pub mod problem;
pub mod products;
pub mod query;
pub mod rate;
pub mod resolver;
pub mod server;
pub mod shed;
pub mod tls;

pub use server::{Listeners, serve, serve_on};
pub mod views;
pub mod witness;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;

use crate::backup::Backups;
use crate::commit::Committer;
use crate::config::Config;
use crate::epcis::capture::ExpirySweep;
use crate::epcis::inflight::InFlight;
use crate::replicate::net::NetHandle;
use crate::store::Store;
use crate::witness::book::Book;
use metrics::Metrics;
use problem::{ApiError, ProblemDetails};
use views::Health;

/// What the handlers share; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    member: MemberId,
    store: Arc<dyn Store>,
    committer: Committer,
    metrics: Metrics,
    backups: Option<Backups>,
    network: Option<NetHandle>,
    book: Arc<Book>,
    /// The Event Hash IDs that EPCIS captures in flight are recording, so that captures run
    /// side by side and still recognise duplicates ([`crate::epcis::inflight`]).
    captures: Arc<InFlight>,
    /// When captures next forget expired capture jobs.
    capture_sweep: ExpirySweep,
    /// The concurrency limits of the route classes.
    shedding: shed::Shedding,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("member", &self.inner.member)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The state of a node writing as `member`, in the consortium of `book`'s genesis;
    /// `backups`, if any, serve `POST /v1/backups`.
    pub fn new(
        config: Arc<Config>,
        member: MemberId,
        store: Arc<dyn Store>,
        committer: Committer,
        backups: Option<Backups>,
        network: Option<NetHandle>,
        book: Arc<Book>,
    ) -> Self {
        let shedding = shed::Shedding::new(&config.limits);
        Self {
            inner: Arc::new(Inner {
                config,
                member,
                store,
                committer,
                metrics: Metrics::new(network.as_ref().map(NetHandle::metrics)),
                backups,
                network,
                book,
                captures: InFlight::new(),
                capture_sweep: ExpirySweep::default(),
                shedding,
            }),
        }
    }

    /// The network's state, if this node replicates.
    pub fn network(&self) -> Option<&NetHandle> {
        self.inner.network.as_ref()
    }

    /// Backups, if this node can make them.
    pub fn backups(&self) -> Option<&Backups> {
        self.inner.backups.as_ref()
    }

    /// The checkpoints held.
    pub fn book(&self) -> &Arc<Book> {
        &self.inner.book
    }

    /// The configuration (tokens, limits).
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The consortium in force now (governance changes are applied while the node runs).
    pub fn genesis(&self) -> Arc<Consortium> {
        self.inner.book.genesis()
    }

    /// The node's member.
    pub fn member(&self) -> &MemberId {
        &self.inner.member
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The writer.
    pub fn committer(&self) -> &Committer {
        &self.inner.committer
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The concurrency limits of the route classes.
    pub fn shedding(&self) -> &shed::Shedding {
        &self.inner.shedding
    }

    /// The EPCIS captures in flight.
    pub fn captures(&self) -> &Arc<InFlight> {
        &self.inner.captures
    }

    /// When this node's captures next forget expired capture jobs.
    pub fn capture_sweep(&self) -> &ExpirySweep {
        &self.inner.capture_sweep
    }

    /// Runs blocking work (storage, verification) on the blocking pool.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            tracing::error!(error = %e, "a request's blocking task failed");
            ApiError::internal()
        })
    }
}

/// The router of every route, with body limit, metrics and problem+json fallbacks.
pub fn app(state: ApiState) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/events",
            post(events::post_events).get(query::search_events),
        )
        .route("/v1/entries", post(events::post_entries))
        .route("/v1/entries/{hash}", get(query::get_entry))
        .route("/v1/entries/{hash}/witness", get(witness::get_witness))
        .route(
            "/v1/entries/{hash}/disclosures",
            post(private::post_disclosure),
        )
        .route("/v1/entries/{hash}/purge", post(private::post_purge))
        .route("/v1/checkpoints", get(witness::list_checkpoints))
        .route("/v1/checkpoints/{witness}", get(audit::get_checkpoints))
        .route("/v1/members/{id}/scorecard", get(audit::get_scorecard))
        .route("/v1/audit/period", get(audit::get_period))
        .route("/v1/rejected", get(audit::list_rejected))
        .route("/v1/chains/{member}", get(query::get_chain))
        .route("/v1/chains/{member}/log", get(log::get_log))
        .route("/v1/chains/{member}/log/inclusion", get(log::get_inclusion))
        .route("/v1/chains/{member}/log/cosigned", get(log::get_cosigned))
        .route(
            "/v1/chains/{member}/log/consistency",
            get(log::get_consistency),
        )
        .route("/v1/products/{id}/history", get(query::product_history))
        .route(
            "/v1/products/{id}/provenance",
            get(products::get_provenance),
        )
        .route(
            "/v1/products/{id}/responsibility",
            get(products::get_responsibility),
        )
        .route("/v1/products/{id}/evidence", get(products::get_evidence))
        .route("/v1/heads", get(query::heads))
        .route("/v1/forks", get(forks::list_forks))
        .route("/v1/witness-misconduct", get(witness::list_misconduct))
        .route("/v1/network", get(network::get_network))
        .route("/v1/governance", get(governance::get_governance))
        .route("/v1/governance/changes", post(governance::post_change))
        .route("/v1/backups", post(backups::post_backup))
        .route("/health", get(health))
        .route("/metrics", get(metrics::serve))
        .route("/openapi.json", get(openapi::serve))
        .route("/{ai}/{*rest}", get(resolver::resolve))
        .nest("/epcis", epcis::router());
    limited(v1, state)
}

/// The router of the public listener (`api.public_listen`): the consumer page and resolver,
/// and `/health` for the load balancer in front of it; nothing that needs a token.
pub fn public_app(state: ApiState) -> Router {
    let public = Router::new()
        .route("/health", get(health))
        .route("/{ai}/{*rest}", get(resolver::resolve));
    limited(public, state)
}

/// `routes` with the concurrency limits, metrics, body limit and problem+json fallbacks.
fn limited(routes: Router<ApiState>, state: ApiState) -> Router {
    let max_body = state.config().limits.max_body_bytes;
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shed::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("there is no such resource; /openapi.json lists the API")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Whether the node serves, with what it holds.
#[utoipa::path(
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "The node serves", body = Health),
        (status = 500, description = "The store cannot be read", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn health(State(state): State<ApiState>) -> Result<Json<Health>, ApiError> {
    let store = state.store().clone();
    let heads = state.blocking(move || store.heads()).await??;
    Ok(Json(Health {
        status: "ok".to_owned(),
        member: state.member().to_string(),
        network: state.genesis().network_id().to_hex(),
        chains: heads.len(),
        entries: heads.iter().map(|h| h.tip.seq + 1).sum(),
    }))
}
