//! `tally`: the command-line tool of Tally.
//!
//! Offline commands — keys, genesis, signing and verifying entries and disclosures, EPCIS
//! Event Hash IDs — use only the SDK, so an auditor can run them without any node; `tally node
//! run` runs a member's node. Errors go to stderr with exit code 1 (2 for usage errors, from
//! clap); nothing panics on bad input.

mod commands;
mod files;
mod http;

use std::process::ExitCode;

use clap::Parser;

/// Tally: a permissioned traceability ledger for consumer-to-manufacturer supply chains.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<commands::FindingsFound>().is_some() => {
            eprintln!("{error}");
            ExitCode::from(3)
        }
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
