//! Running a node as a process: what `tally-node` and `tally node run` both do.
//!
//! Loads and validates the configuration (the file, then `TALLY_*` variables), starts the
//! logs, opens and checks the store (refusing a damaged one with the reason), starts
//! replication with the other members' nodes, then serves the HTTP API until SIGINT or
//! SIGTERM, stops replication, finishes the requests in flight, writes what is queued, and
//! closes the store.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
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
    /// The API address cannot be bound.
    #[error("cannot listen on {address} (config key `api.listen`): {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
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
        let network = node.start_network()?;
        let address = node.config().api_listen;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| RunError::Listen { address, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| RunError::Listen { address, source })?;
        tracing::info!(address = %bound, "HTTP API listening on http://{bound}");
        let served = api::serve(listener, node.api_state(), stop_signal())
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
