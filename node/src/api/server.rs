//! The HTTP server: accepts connections and serves the router on each, with the limits that
//! keep a hostile or broken client from holding the node's resources
//! ([`Limits`](crate::config::Limits)):
//!
//! - a client that has not sent a request's head within `header_read_timeout` is dropped
//!   (a half-sent request held open costs nothing for long);
//! - at most `max_connections` connections are open; one more is closed as soon as it is
//!   accepted (and logged), so file descriptors and memory stay bounded;
//! - on shutdown, requests in flight finish, and no new connection is taken.
//!
//! Per-request limits (timeouts, concurrency per route class) are the router's
//! ([`super::shed`]).

use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{ApiState, app};

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config().limits;
    let router = app(state);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // the listener itself is fine.
                    tracing::warn!(%error, "cannot accept an HTTP connection");
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(
                %peer,
                limit = limits.max_connections,
                "an HTTP connection was closed at once: the node holds as many as it takes"
            );
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "an HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
