//! What the entries say about one product: `GET /v1/products/{id}/provenance` (timeline,
//! custody, inputs, inspections, deliveries, rule violations), `/responsibility` (who is
//! responsible for what, each claim with the entries that prove it) and `/evidence` (the
//! bundle that proves the report offline: `tally verify BUNDLE`). The rules are the SDK's
//! ([`tally_sdk::reports::provenance`], [`tally_sdk::reports::responsibility`]); `docs/provenance.md` documents
//! them.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use tally_sdk::gs1::ProductId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::bundle::EvidenceBundle;
use tally_sdk::reports::provenance::Provenance;
use tally_sdk::reports::responsibility::Report;
use tally_sdk::time::Timestamp;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use crate::attest;
use crate::products::{self, ProductError};
use crate::store::Store;
use crate::witness::book::Book;

impl From<ProductError> for ApiError {
    fn from(error: ProductError) -> Self {
        match error {
            ProductError::Store(store) => ApiError::from(store),
            ProductError::TooMany => ApiError::invalid(error.to_string(), Vec::new()),
            other => {
                tracing::error!(error = %other, "a product's records could not be put together");
                ApiError::internal()
            }
        }
    }
}

fn product(id: Result<Path<String>, PathRejection>) -> Result<ProductId, ApiError> {
    let Path(text) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    ProductId::parse(&text).map_err(|e| {
        ApiError::bad_request(format!("{text:?} is not a GS1 product identifier: {e}"))
    })
}

fn unknown(product: &ProductId) -> ApiError {
    ApiError::not_found(format!(
        "no entry this node holds names {}",
        product.as_str()
    ))
}

/// The provenance of a product.
#[utoipa::path(
    get, path = "/v1/products/{id}/provenance", tag = "read",
    params(("id" = String, Path, description = "A GS1 key as an EPC URI or a Digital Link URI, percent-encoded")),
    responses(
        (status = 200, description = "Timeline, custody intervals (with the entries proving each hand-over), inputs (recursively), inspections, deliveries and rule violations", body = Object),
        (status = 400, description = "Not a GS1 product identifier", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No entry names the product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "More entries than a report covers", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_provenance(
    State(state): State<ApiState>,
    _caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Provenance>, ApiError> {
    read_product(&state, id, |store, book, genesis, product| {
        products::provenance(store, book, genesis, product)
    })
    .await
    .map(Json)
}

/// Reads what `read` says of the product `id` names on the blocking pool; `404` when no
/// entry names it.
async fn read_product<T, F>(
    state: &ApiState,
    id: Result<Path<String>, PathRejection>,
    read: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store, &Book, &Consortium, &ProductId) -> Result<Option<T>, ProductError>
        + Send
        + 'static,
{
    read_parsed(state, product(id)?, read).await
}

/// As [`read_product`], of a parsed product.
async fn read_parsed<T, F>(state: &ApiState, product: ProductId, read: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store, &Book, &Consortium, &ProductId) -> Result<Option<T>, ProductError>
        + Send
        + 'static,
{
    let store = state.store().clone();
    let book = state.book().clone();
    let genesis = state.genesis().clone();
    let key = product.clone();
    let found = state
        .blocking(move || read(store.as_ref(), &book, &genesis, &key))
        .await??;
    found.ok_or_else(|| unknown(&product))
}

async fn bundle_of(
    state: &ApiState,
    id: Result<Path<String>, PathRejection>,
) -> Result<EvidenceBundle, ApiError> {
    let product = product(id)?;
    let as_of = Timestamp::now();
    // The view first, then the members' attestations, then the entries within the view:
    // each attestation made after the view covers at least what the bundle reads.
    let store = state.store().clone();
    let key = product.clone();
    let view = state
        .blocking(move || -> Result<_, ApiError> {
            if store.history(&key, None, 1)?.entries.is_empty() {
                return Ok(None);
            }
            Ok(Some(attest::view(store.as_ref())?))
        })
        .await??
        .ok_or_else(|| unknown(&product))?;
    let attestations = match state.network() {
        Some(network) => network.attestations(&product).await,
        None => Vec::new(),
    };
    read_parsed(state, product, move |store, book, genesis, product| {
        products::bundle(store, book, genesis, product, as_of, view, attestations)
    })
    .await
}

/// The responsibility report of a product.
#[utoipa::path(
    get, path = "/v1/products/{id}/responsibility", tag = "read",
    params(("id" = String, Path, description = "A GS1 key as an EPC URI or a Digital Link URI, percent-encoded")),
    responses(
        (status = 200, description = "The report as of now (`as_of`): the defect window, claims (defect, lateness, overdue, rule violations, forks) each with its entries, what is undetermined and why, what was set aside and why (backdated events, inspections by members that did not hold the item, self-set promises), and the provenance it is read from", body = Object),
        (status = 400, description = "Not a GS1 product identifier", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No entry names the product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "More entries than a report covers", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_responsibility(
    State(state): State<ApiState>,
    _caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Report>, ApiError> {
    read_product(&state, id, |store, book, genesis, product| {
        products::responsibility(store, book, genesis, product, Timestamp::now())
    })
    .await
    .map(Json)
}

/// The evidence bundle of a product's report.
#[utoipa::path(
    get, path = "/v1/products/{id}/evidence", tag = "read",
    params(("id" = String, Path, description = "A GS1 key as an EPC URI or a Digital Link URI, percent-encoded")),
    responses(
        (status = 200, description = "The evidence bundle (format 3): network, product, every entry with the checkpoints witnessing it, fork proofs, the report, and the connected members' signed attestations of what they hold about the product (gathered within 3 s); `tally verify FILE --genesis G` checks it offline, and that nothing about the product was left out", body = Object),
        (status = 400, description = "Not a GS1 product identifier", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No entry names the product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "More entries than a report covers", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_evidence(
    State(state): State<ApiState>,
    _caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<EvidenceBundle>, ApiError> {
    Ok(Json(bundle_of(&state, id).await?))
}
