//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations (utoipa).
//!
//! The server serves it at `/openapi.json`; `tally-node --openapi` prints it; a copy is
//! committed as `docs/openapi.json`, and a test fails when the two differ.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::audit::{CheckpointPage, Rejected, RejectedView};
use super::backups::BackupView;
use super::epcis::EpcisProblem;
use super::forks::{ForkView, Forks};
use super::governance::{ChangeView, GovernanceView, MemberStanding};
use super::log::{ConsistencyProof, CosignedHead, CosignedHeads, InclusionProof, LogRoot};
use super::network::{NetworkView, PeerView};
use super::private::FieldsRequest;
use super::problem::{ApiError, ItemError, ProblemDetails};
use super::query::{HeadView, Heads};
use super::views::{EntryPage, EntryStatus, EntryView, Health, ReceiptView, WriteReceipt};
use super::views::{FieldState, PrivateFieldView};
use super::witness::{Checkpoints, MisconductView, Misconducts, WitnessView};
use super::{
    audit, backups, epcis, events, forks, governance, log, metrics, network, private, products,
    query, witness,
};
use crate::epcis::capture::{CaptureJob, EventProblem};

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from the node's configuration ([[tokens]])",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tally node API",
        description = "Record and query a C2M supply chain's signed, hash-chained events. Errors are RFC 9457 problem+json. Any route but /health and /metrics may also answer 408 (not answered within the request timeout), 429 (the client's address or token over its rate, with Retry-After; only when the node sets rates) or 503 busy (too many requests of its class at once, with Retry-After); docs/api.md lists every problem type.",
        license(name = "Apache-2.0")
    ),
    paths(
        events::post_events,
        events::post_entries,
        query::get_entry,
        witness::get_witness,
        private::post_disclosure,
        private::post_purge,
        witness::list_checkpoints,
        audit::get_checkpoints,
        audit::get_scorecard,
        audit::get_period,
        audit::list_rejected,
        query::get_chain,
        log::get_log,
        log::get_inclusion,
        log::get_consistency,
        log::get_cosigned,
        query::product_history,
        products::get_provenance,
        products::get_responsibility,
        products::get_evidence,
        query::search_events,
        query::heads,
        forks::list_forks,
        witness::list_misconduct,
        network::get_network,
        governance::get_governance,
        governance::post_change,
        backups::post_backup,
        super::health,
        metrics::serve,
        serve,
        epcis::top_level,
        epcis::captures::post_capture,
        epcis::captures::list_capture_jobs,
        epcis::captures::get_capture_job,
        epcis::query_events,
        epcis::captures::post_event,
        epcis::event_by_id,
        epcis::events_of_event_type,
        epcis::events_of_epc,
        epcis::events_of_biz_step,
        epcis::events_of_biz_location,
        epcis::events_of_read_point,
        epcis::events_of_disposition,
    ),
    components(schemas(
        LogRoot,
        InclusionProof,
        ConsistencyProof,
        CosignedHead,
        CosignedHeads,
        ProblemDetails, ItemError, EntryView, EntryPage, EntryStatus, ReceiptView, WriteReceipt,
        Health, Heads, HeadView, BackupView, NetworkView, PeerView, Forks, ForkView,
        WitnessView, Checkpoints, GovernanceView, ChangeView, MemberStanding, PrivateFieldView,
        FieldState, FieldsRequest, CaptureJob, EventProblem, EpcisProblem,
        CheckpointPage, Rejected, RejectedView, Misconducts, MisconductView
    )),
    modifiers(&BearerToken),
    tags(
        (name = "write", description = "Recording events and entries"),
        (name = "read", description = "Entries, chains, product histories, search"),
        (name = "operations", description = "Health, metrics, network, governance, backups, this document"),
        (name = "audit", description = "For auditors and regulators: member scorecards, period bundles, every checkpoint"),
        (name = "epcis", description = "GS1 EPCIS 2.0 REST binding: capture and event query (docs/epcis.md)"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, pretty-printed JSON with a final newline (as committed).
pub fn document() -> Result<String, serde_json::Error> {
    let mut text = ApiDoc::openapi().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}

/// Serves the OpenAPI document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn serve() -> Result<Json<serde_json::Value>, ApiError> {
    serde_json::to_value(ApiDoc::openapi())
        .map(Json)
        .map_err(|_| ApiError::internal())
}
