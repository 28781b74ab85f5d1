//! Prometheus metrics: what `/metrics` serves.
//!
//! Counted as requests are answered: requests by route and status, their durations, entries
//! stored. Every label comes from a closed set (route templates or `unmatched`, standard
//! methods or `other`, status codes), so nothing a client sends can grow the metrics. Read at scrape time: the chains and entries held and the writer's synced writes.
//! Replication's counters (peers, refused connections, gossip, bans) are registered here too.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ApiState;
use super::problem::ApiError;
use crate::ingest::Receipt;
use crate::replicate::net::NetMetrics;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

type Durations = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 100 µs to about 3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The node's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Durations,
    stored: Counter,
    chains: Gauge,
    entries: Gauge,
    synced_writes: Gauge,
    write_requests: Gauge,
    in_flight: Family<ClassLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Metrics {
    /// A fresh registry, with the network's metrics if the node replicates.
    pub fn new(network: Option<&NetMetrics>) -> Self {
        let mut registry = Registry::with_prefix("tally");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let durations: Durations = Family::new_with_constructor(duration_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            durations.clone(),
        );
        let stored = Counter::default();
        registry.register(
            "entries_stored",
            "New entries stored through the API",
            stored.clone(),
        );
        let chains = Gauge::default();
        registry.register("chains", "Member chains the node holds", chains.clone());
        let entries = Gauge::default();
        registry.register("entries", "Entries the node holds", entries.clone());
        let synced_writes = Gauge::default();
        registry.register(
            "commit_synced_writes",
            "Synced writes the writer made since start (each covers a group of requests)",
            synced_writes.clone(),
        );
        let write_requests = Gauge::default();
        registry.register(
            "commit_requests",
            "Write requests the writer answered since start",
            write_requests.clone(),
        );
        let in_flight = Family::<ClassLabels, Gauge>::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled, by class (write, read, public; each limited)",
            in_flight.clone(),
        );
        if let Some(network) = network {
            network.register(&mut registry);
        }
        Self {
            registry: Arc::new(registry),
            requests,
            durations,
            stored,
            chains,
            entries,
            synced_writes,
            write_requests,
            in_flight,
        }
    }

    /// Counts the new entries of a write.
    pub fn stored(&self, receipts: &[Receipt]) {
        let new = receipts.iter().filter(|r| !r.duplicate).count();
        self.stored.inc_by(new as u64);
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Middleware: counts and times each request of a matched route.
pub async fn track(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method()).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = state.metrics();
    metrics
        .durations
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// A method as a label: one of the standard methods or `other`. Labels come from closed sets
/// (methods, route templates, status codes): nothing a client sends becomes a label, so no
/// client can grow the metrics.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Serves the metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn serve(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let store = state.store().clone();
    let heads = state.blocking(move || store.heads()).await??;
    let metrics = state.metrics();
    metrics.chains.set(heads.len() as i64);
    let held: u64 = heads.iter().map(|h| h.tip.seq + 1).sum();
    metrics.entries.set(i64::try_from(held).unwrap_or(i64::MAX));
    let stats = state.committer().stats();
    metrics
        .synced_writes
        .set(i64::try_from(stats.groups).unwrap_or(i64::MAX));
    metrics
        .write_requests
        .set(i64::try_from(stats.requests).unwrap_or(i64::MAX));
    for (class, count) in state.shedding().in_flight() {
        metrics
            .in_flight
            .get_or_create(&ClassLabels { class })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    let text = metrics.encode().map_err(|_| ApiError::internal())?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
