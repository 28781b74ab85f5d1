//! `tally node run`: runs a member's node in this process, exactly as `tally-node` does.
//! `tally node backup`: backs up a stopped node's store (a running node makes backups itself:
//! `POST /v1/backups`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use tally_node::Node;
use tally_node::config::Config;

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
    /// Back up a stopped node's store into its backup directory (`backup_dir`), checked as at
    /// start. For a running node use `POST /v1/backups` instead.
    Backup {
        /// The node's configuration file (TOML); TALLY_* environment variables override it.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Run { config, check } => Ok(tally_node::run::run(&config, check)?),
        Command::Backup { config } => {
            let config = Config::load(&config)?;
            let node = Node::open(config)?;
            let made = node.backups().create();
            node.shutdown();
            let report = made?;
            println!(
                "backup {} written and checked: {} entries in {} chains, {} bytes, in {}",
                report.name,
                report.entries,
                report.chains,
                report.bytes,
                report.path.display()
            );
            Ok(())
        }
    }
}
