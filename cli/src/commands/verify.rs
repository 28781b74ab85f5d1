//! `tally verify BUNDLE`: check a product's evidence bundle offline, with the SDK and the
//! genesis alone, and print the responsibility report it proves.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tally_sdk::bundle::EvidenceBundle;
use tally_sdk::responsibility::Report;

use super::load_consortium;
use crate::files;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The evidence bundle (JSON, from `GET /v1/products/{id}/evidence`).
    pub bundle: PathBuf,
    /// The signed genesis of the consortium.
    #[arg(long)]
    pub genesis: PathBuf,
    /// The consortium's change log (JSON), if members changed since the genesis.
    #[arg(long)]
    pub changes: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let genesis = load_consortium(&args.genesis, args.changes.as_deref())?;
    let bundle: EvidenceBundle = files::read_json(&args.bundle)?;
    let verified = bundle
        .verify(&genesis)
        .with_context(|| format!("{} does not verify", args.bundle.display()))?;
    println!(
        "valid: evidence bundle of {} ({} entries, {} witnessed by a quorum, {} fork proofs)",
        bundle.product, verified.entries, verified.witnessed, verified.forks
    );
    print_report(&verified.report);
    Ok(())
}

fn print_report(report: &Report) {
    let provenance = &report.provenance;
    println!("custody:");
    for interval in &provenance.custody {
        match interval.to {
            Some(to) => println!("  {} from {} to {}", interval.holder, interval.from, to),
            None => println!("  {} since {}", interval.holder, interval.from),
        }
    }
    for pending in &provenance.pending {
        println!(
            "  pending: hand-over from {} to {} at {} ({})",
            pending.from,
            pending.to,
            pending.at,
            pending.entry.short()
        );
    }
    if report.claims.is_empty() {
        println!("responsibility: no claims");
    } else {
        println!("responsibility:");
    }
    for claim in &report.claims {
        let entries: Vec<String> = claim.entries.iter().map(|e| e.short()).collect();
        println!(
            "  {:?}: {} — {} [{}]",
            claim.kind,
            claim.responsible,
            claim.statement,
            entries.join(", ")
        );
    }
    for open in &report.undetermined {
        println!("  undetermined: {} — {}", open.question, open.reason);
    }
}
