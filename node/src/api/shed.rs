//! Per-request limits: each request gets at most `request_timeout` to be answered (then
//! `408`), and each class of routes handles at most so many requests at once — writes, member
//! and auditor reads, and the public consumer page and resolver — beyond which a request is
//! refused at once with `503` and `Retry-After` instead of queueing without bound
//! ([`Limits`](crate::config::Limits)). `/health` and `/metrics` are not limited, so operators
//! see a loaded node. Writes also share a budget of body bytes in flight
//! (`limits.max_body_bytes_in_flight`): a JSON body takes tens of times its size once parsed,
//! so many large writes at once could otherwise take the node's memory. With
//! `limits.public_rate_per_minute`, each client address has its own
//! rate on the consumer page, and with `limits.api_rate_per_minute` each API token
//! ([`super::rate`], checked with the token in [`super::auth`]).
//!
//! A request that times out stops being answered, but blocking work it started (a store read,
//! a write queued to the writer) runs to its end: a write may still be stored, and sending it
//! again is safe.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::ApiState;
use super::problem::ApiError;
use super::rate::{MAX_CLIENTS, RateLimiter, client_of};

/// How long a refused client is told to wait, in seconds.
const RETRY_AFTER: u64 = 1;

/// The concurrency limits of the route classes.
#[derive(Debug)]
pub struct Shedding {
    writes: Arc<Semaphore>,
    queries: Arc<Semaphore>,
    public: Arc<Semaphore>,
    limits: [usize; 3],
    /// Bytes of write bodies being read or handled at once.
    body_bytes: Arc<Semaphore>,
    body_budget: usize,
    /// Requests per minute per client address on the consumer page, if limited.
    public_rate: Option<RateLimiter<IpAddr>>,
    /// Requests per minute per API token (by name), if limited.
    token_rate: Option<RateLimiter<String>>,
}

impl Shedding {
    /// Limits from the node's configuration.
    pub fn new(limits: &crate::config::Limits) -> Self {
        let counts = [
            limits.max_concurrent_writes,
            limits.max_concurrent_queries,
            limits.max_concurrent_public,
        ];
        Self {
            writes: Arc::new(Semaphore::new(counts[0])),
            queries: Arc::new(Semaphore::new(counts[1])),
            public: Arc::new(Semaphore::new(counts[2])),
            limits: counts,
            body_bytes: Arc::new(Semaphore::new(limits.max_body_bytes_in_flight)),
            body_budget: limits.max_body_bytes_in_flight,
            public_rate: limits
                .public_rate_per_minute
                .map(|rate| RateLimiter::new(rate, MAX_CLIENTS)),
            token_rate: limits
                .api_rate_per_minute
                .map(|rate| RateLimiter::new(rate, MAX_CLIENTS)),
        }
    }

    /// Takes one request of `token`'s rate, or refuses it with `429`.
    pub fn take_token_rate(&self, token: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.token_rate else {
            return Ok(());
        };
        limiter
            .check(&token.to_owned(), Instant::now())
            .map_err(|wait| {
                ApiError::rate_limited(
                    format!(
                        "API token {token:?} has made as many requests as its rate allows (limits.api_rate_per_minute); send again in {} s",
                        seconds(wait)
                    ),
                    seconds(wait),
                )
            })
    }

    /// Takes one request of the consumer page's rate of the client at `peer`, or refuses it
    /// with `429`.
    fn take_public_rate(&self, peer: SocketAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.public_rate else {
            return Ok(());
        };
        limiter
            .check(&client_of(peer.ip()), Instant::now())
            .map_err(|wait| {
                ApiError::rate_limited(
                    format!(
                        "this address has asked for as many pages as its rate allows; ask again in {} s",
                        seconds(wait)
                    ),
                    seconds(wait),
                )
            })
    }

    /// How many requests of each class are being handled (`write`, `read`, `public`).
    pub fn in_flight(&self) -> [(&'static str, usize); 3] {
        let [writes, queries, public] = self.limits;
        let busy = |semaphore: &Semaphore, limit: usize| {
            limit.saturating_sub(semaphore.available_permits())
        };
        [
            ("write", busy(&self.writes, writes)),
            ("read", busy(&self.queries, queries)),
            ("public", busy(&self.public, public)),
        ]
    }
}

/// Whole seconds to wait, rounded up (`Retry-After` has no fractions).
fn seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The class of a request, by its route template and method (`None`: not limited).
fn class<'a>(
    shedding: &'a Shedding,
    route: &str,
    method: &Method,
) -> Option<(&'a Arc<Semaphore>, &'static str)> {
    match route {
        "/health" | "/metrics" => None,
        "/{ai}/{*rest}" => Some((&shedding.public, "consumer page")),
        _ if *method == Method::GET || *method == Method::HEAD => Some((&shedding.queries, "read")),
        _ => Some((&shedding.writes, "write")),
    }
}

/// Middleware: the request's class admits it or it is refused at once; it is answered within
/// the request timeout or gets `408`.
pub async fn limit(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let timeout = state.config().limits.request_timeout;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let class = class(state.shedding(), &route, request.method());
    // Served without a socket (the router driven in tests), a request has no address.
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    if let (Some((_, "consumer page")), Some(ConnectInfo(peer))) = (class, peer)
        && let Err(refused) = state.shedding().take_public_rate(*peer)
    {
        return refused.into_response();
    }
    // A write's body counts against the bytes in flight for as long as the write runs: the
    // length it states, or the largest a body may be when it states none.
    let body = match class {
        Some((_, "write")) => {
            let limits = &state.config().limits;
            let stated = request
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(limits.max_body_bytes);
            let shedding = state.shedding();
            let bytes = stated
                .min(limits.max_body_bytes)
                .min(shedding.body_budget)
                .max(1);
            let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
            match shedding.body_bytes.clone().try_acquire_many_owned(bytes) {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return ApiError::busy(
                        "the node is reading as many bytes of request bodies as it takes at once; send it again shortly",
                        RETRY_AFTER,
                    )
                    .into_response();
                }
            }
        }
        _ => None,
    };
    let permit = match class {
        None => None,
        Some((semaphore, what)) => match semaphore.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return ApiError::busy(
                    format!(
                        "the node is handling as many {what} requests as it takes at once; send it again shortly"
                    ),
                    RETRY_AFTER,
                )
                .into_response();
            }
        },
    };
    let answer = tokio::time::timeout(timeout, next.run(request)).await;
    drop(permit);
    drop(body);
    match answer {
        Ok(response) => response,
        Err(_) => ApiError::timed_out(format!(
            "the request was not answered within {} ms (a body sent too slowly, or slow work); a write may still be stored, and sending it again is safe",
            timeout.as_millis()
        ))
        .into_response(),
    }
}
