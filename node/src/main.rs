//! `tally-node`: runs a member's node ([`tally_node::run`]). `--check` stops after the checks
//! (for scripts and probes); `--openapi` prints the API's OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tally_node::api;

/// mimalloc rather than the system allocator: a profile of EPCIS capture spent a fifth of its
/// time in glibc's malloc and free (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match (&args.config, args.openapi) {
        (_, true) => api::openapi::document()
            .map(|text| print!("{text}"))
            .context("cannot render the OpenAPI document"),
        (Some(config), false) => tally_node::run::run(config, args.check).map_err(Into::into),
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
