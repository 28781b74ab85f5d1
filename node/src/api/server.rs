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
//! - with `[api.tls]`, every connection is HTTPS ([`super::tls`]); a handshake not finished
//!   within `header_read_timeout` is dropped too;
//! - with `api.public_listen`, a second socket serves the consumer page and resolver only,
//!   so that the member API need not face the internet.
//!
//! Per-request limits (timeouts, concurrency per route class) are the router's
//! ([`super::shed`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::tls::Tls;
use super::{ApiState, app, public_app};

/// The sockets the API is served on.
#[derive(Debug)]
pub struct Listeners {
    /// Every route: the member API, the auditors' routes, and the consumer page.
    pub api: TcpListener,
    /// The consumer page and resolver only (`api.public_listen`), if any.
    pub public: Option<TcpListener>,
}

/// Serves `app(state)` on `listener`, plain HTTP, until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listeners = Listeners {
        api: listener,
        public: None,
    };
    serve_on(listeners, state, None, shutdown).await
}

/// Serves the API on `listeners`, over HTTPS when `tls` is given, until `shutdown`
/// completes, then lets requests in flight finish. The connection cap counts the
/// connections of both listeners.
pub async fn serve_on(
    listeners: Listeners,
    state: ApiState,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config().limits;
    let routers = [app(state.clone()), public_app(state)];
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (accepted, router) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listeners.api.accept() => (accepted, &routers[0]),
            accepted = accept(listeners.public.as_ref()) => (accepted, &routers[1]),
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was taken:
                // the listener itself is fine.
                tracing::warn!(%error, "cannot accept an HTTP connection");
                continue;
            }
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
        let connection = Connection {
            router: router.clone(),
            peer,
            builder: builder.clone(),
            watcher: graceful.watcher(),
            permit,
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(stream));
            }
            Some(tls) => {
                let acceptor = tls.acceptor();
                let handshake_timeout = limits.header_read_timeout;
                tokio::spawn(async move {
                    // A client that never finishes its handshake is dropped like one that
                    // never finishes its request head.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "a TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "a TLS handshake was not finished in time");
                        }
                    }
                });
            }
        }
    }
    drop(listeners);
    graceful.shutdown().await;
    Ok(())
}

/// The next connection of `listener`; never, without one.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    router: Router,
    peer: SocketAddr,
    builder: Arc<http1::Builder>,
    watcher: Watcher,
    /// Counts the connection against the cap until it closes.
    permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        // Handlers that limit by client address (the public page's rate) read it here.
        let router = self
            .router
            .map_request(move |mut request: axum::extract::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(router);
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        if let Err(error) = self.watcher.watch(connection).await {
            tracing::debug!(%peer, %error, "an HTTP connection ended with an error");
        }
        drop(self.permit);
    }
}
