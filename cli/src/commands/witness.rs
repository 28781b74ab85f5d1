//! `tally witness verify`: check offline that an entry is witnessed, from the evidence a node
//! gives (`GET /v1/entries/{hash}/witness`), with the genesis alone.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::witness::WitnessEvidence;

use super::load_consortium;
use crate::files;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify witness evidence offline: the entry's signature, every witness's signed
    /// checkpoint and inclusion proofs, and that the genesis quorum is reached. Takes the
    /// node's whole answer or its `evidence` alone.
    Verify {
        /// The evidence (JSON).
        file: PathBuf,
        /// The signed genesis of the consortium.
        #[arg(long)]
        genesis: PathBuf,
        /// The consortium's change log (JSON), if members changed since the genesis.
        #[arg(long)]
        changes: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Verify {
            file,
            genesis,
            changes,
        } => {
            let genesis = load_consortium(&genesis, changes.as_deref())?;
            let mut json: Value = files::read_json(&file)?;
            if let Some(evidence) = json.get_mut("evidence") {
                json = evidence.take();
            }
            let evidence: WitnessEvidence = serde_json::from_value(json)
                .with_context(|| format!("{} is not witness evidence", file.display()))?;
            let verifier = Verifier::new(&genesis, Timestamp::now());
            let status = evidence
                .verify(&verifier)
                .with_context(|| format!("{} does not verify", file.display()))?;
            let body = &evidence.entry.body;
            let witnesses: Vec<String> = status.witnesses.iter().map(ToString::to_string).collect();
            let entry = format!("entry {} of {} ({})", body.seq, body.author, status.entry);
            let count = format!("{} of the {}", witnesses.len(), status.needed);
            let names = witnesses.join(", ");
            if !status.witnessed {
                bail!(
                    "the evidence holds, but {entry} is not witnessed: {count} witnesses needed ({names})"
                );
            }
            println!("witnessed: {entry} by {count} members needed: {names}");
            Ok(())
        }
    }
}
