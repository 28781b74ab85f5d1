//! `tally node run`: runs a member's node in this process, exactly as `tally-node` does.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: open and check its store, serve the HTTP API until SIGINT or SIGTERM.
    Run {
        /// The node's configuration file (TOML); TALLY_* environment variables override it.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Check the configuration, keys and store, report, and exit.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Run { config, check } => Ok(tally_node::run::run(&config, check)?),
    }
}
