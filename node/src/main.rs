//! `tally-node`: runs a member's node.
//!
//! Loads and validates the configuration (`--config FILE`, then `TALLY_*` variables), opens
//! and checks the store (refusing a damaged one with the reason), then serves the HTTP API
//! until SIGINT or SIGTERM, finishes the requests in flight, writes what is queued, and
//! closes the store. `--check` stops after the checks (for scripts and probes); `--openapi`
//! prints the API's OpenAPI document.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tally_node::Node;
use tally_node::api;
use tally_node::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Runs a Tally node.
#[derive(Debug, Parser)]
#[command(name = "tally-node", version, about)]
struct Args {
    /// The configuration file (TOML); TALLY_* environment variables override it.
    #[arg(long, value_name = "FILE", required_unless_present = "openapi")]
    config: Option<PathBuf>,
    /// Check the configuration, keys and store, report, and exit.
    #[arg(long)]
    check: bool,
    /// Print the HTTP API's OpenAPI 3.1 document and exit.
    #[arg(long, conflicts_with_all = ["config", "check"])]
    openapi: bool,
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log_level).with_context(|| {
        format!(
            "config key `log.level`: {:?} is not a log filter",
            config.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
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

fn run(config: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    init_logging(&config)?;
    let node = Node::open(config)?;
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
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async {
        let listen = node.config().api_listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (config key `api.listen`)"))?;
        let address = listener
            .local_addr()
            .context("cannot read the listening address")?;
        tracing::info!(%address, "HTTP API listening on http://{address}");
        api::serve(listener, node.api_state(), stop_signal())
            .await
            .context("the HTTP server failed")
    });
    // Requests still running on the blocking pool hold the writer's handle; let them finish.
    runtime.shutdown_timeout(std::time::Duration::from_secs(30));
    node.shutdown();
    tracing::info!("stopped; everything acknowledged is stored");
    served
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match (&args.config, args.openapi) {
        (_, true) => api::openapi::document()
            .map(|text| print!("{text}"))
            .context("cannot render the OpenAPI document"),
        (Some(config), false) => run(config, args.check),
        (None, false) => Err(anyhow::anyhow!("--config is required")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tally-node: {error:#}");
            ExitCode::FAILURE
        }
    }
}
