//! Running a node as a process: what `tally-node` and `tally node run` both do.
//!
//! Loads and validates the configuration (the file, then `TALLY_*` variables), starts the
//! logs, opens and checks the store (refusing a damaged one with the reason), starts
//! replication with the other members' nodes, then serves the HTTP API (HTTPS with
//! `[api.tls]`, reloaded on SIGHUP) until SIGINT or SIGTERM, stops replication, finishes the requests in flight, writes what is queued, and
//! closes the store.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, ConfigError, LogFormat};
use crate::{Node, NodeError, api};

/// How long requests still running at shutdown may take before the node closes anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The node could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The log filter is not valid.
    #[error("config key `log.level`: {level:?} is not a log filter: {reason}")]
    LogFilter {
        /// The filter.
        level: String,
        /// Why.
        reason: String,
    },
    /// Logging could not start (a logger is already installed).
    #[error("cannot start logging: {0}")]
    Logging(String),
    /// The node could not open.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// An API address cannot be bound.
    #[error("cannot listen on {address} (config key `{key}`): {source}")]
    Listen {
        /// The config key.
        key: &'static str,
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key of HTTPS cannot be used.
    #[error(transparent)]
    Tls(#[from] api::tls::TlsError),
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

fn init_logging(config: &Config) -> Result<(), RunError> {
    let filter = EnvFilter::try_new(&config.log_level).map_err(|e| RunError::LogFilter {
        level: config.log_level.clone(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| RunError::Logging(e.to_string()))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn stop_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot wait for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot wait for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: stopping"),
        () = terminate => tracing::info!("SIGTERM: stopping"),
    }
}

/// Binds `address`, the value of config key `key`; the listener and the address bound.
async fn bind(
    key: &'static str,
    address: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), RunError> {
    let listen_error = |source| RunError::Listen {
        key,
        address,
        source,
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    Ok((listener, bound))
}

/// Reads the HTTPS certificate and key again on each SIGHUP (a renewal), for as long as the
/// node runs. A renewal that cannot be used keeps the certificate served so far.
async fn reload_on_hangup(tls: Arc<api::tls::Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::error!(%error, "cannot wait for SIGHUP: the TLS certificate will not be reloaded");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(error) => tracing::error!(
                    %error,
                    "SIGHUP: the TLS certificate and key were not reloaded; the previous ones are still served"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Runs the node of the configuration file `config` until SIGINT or SIGTERM; with `check`,
/// only opens and checks everything, reports, and returns.
pub fn run(config: &Path, check: bool) -> Result<(), RunError> {
    let config = Config::load(config)?;
    init_logging(&config)?;
    let mut node = Node::open(config)?;
    let report = node.report();
    let entries: u64 = report.heads.iter().map(|h| h.tip.seq + 1).sum();
    tracing::info!(
        member = %node.keys().member,
        network = %node.genesis().network_id(),
        data_dir = %node.config().data_dir.display(),
        chains = report.heads.len(),
        entries,
        created = report.created,
        "store open, {} chains",
        report.heads.len()
    );
    if check {
        node.shutdown();
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let served = runtime.block_on(async {
        let config = node.config().clone();
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(api::tls::Tls::load(files.clone())?)),
            None => None,
        };
        let network = node.start_network()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public = match config.public_listen {
            Some(address) => {
                let (listener, bound) = bind("api.public_listen", address).await?;
                tracing::info!(
                    address = %bound,
                    "consumer page listening on {scheme}://{bound}"
                );
                Some(listener)
            }
            None => None,
        };
        let (api, bound) = bind("api.listen", config.api_listen).await?;
        if let Some(tls) = &tls {
            tokio::spawn(reload_on_hangup(tls.clone()));
        }
        // Tests and scripts wait for this line: it comes last, when every socket is bound.
        tracing::info!(address = %bound, "HTTP API listening on {scheme}://{bound}");
        let listeners = api::Listeners { api, public };
        let served = api::serve_on(listeners, node.api_state(), tls, stop_signal())
            .await
            .map_err(RunError::Serve);
        network.stop().await;
        served
    });
    // Requests still running on the blocking pool hold the writer's handle; let them finish.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    node.shutdown();
    tracing::info!("stopped; everything acknowledged is stored");
    served
}
