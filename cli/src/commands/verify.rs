//! `tally verify BUNDLE`: check a product's evidence bundle or a period bundle offline, with
//! the SDK and the genesis alone, and print what it proves: the responsibility report of the
//! product, or the entries of the period.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tally_sdk::audit::period::PeriodBundle;
use tally_sdk::reports::attestation::Completeness;
use tally_sdk::reports::bundle::EvidenceBundle;
use tally_sdk::reports::responsibility::Report;

use super::load_consortium;
use crate::files;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle (JSON): a product's evidence bundle (`GET /v1/products/{id}/evidence`) or
    /// a period bundle (`tally audit export`, `GET /v1/audit/period`).
    pub bundle: PathBuf,
    /// The signed genesis of the consortium.
    #[arg(long)]
    pub genesis: PathBuf,
    /// The consortium's change log (JSON), if members changed since the genesis.
    #[arg(long)]
    pub changes: Option<PathBuf>,
    /// Accept an evidence bundle whose attestations do not show every chain complete (the
    /// chains and ranges not shown are printed either way).
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// Enough of a bundle to tell which kind it is.
#[derive(Deserialize)]
struct Kind {
    period: Option<IgnoredAny>,
}

pub fn run(args: Args) -> Result<()> {
    let genesis = load_consortium(&args.genesis, args.changes.as_deref())?;
    let bytes = files::read_limited(&args.bundle, files::MAX_BUNDLE_BYTES)?;
    let not_a_bundle = || format!("{} is not a bundle", args.bundle.display());
    let kind: Kind = serde_json::from_slice(&bytes).with_context(not_a_bundle)?;
    if kind.period.is_some() {
        let bundle: PeriodBundle = serde_json::from_slice(&bytes).with_context(not_a_bundle)?;
        let summary = bundle
            .verify(&genesis)
            .with_context(|| format!("{} does not verify", args.bundle.display()))?;
        println!(
            "valid: period bundle from {} to {} ({} entries, {} witnessed by a quorum, {} fork proofs)",
            bundle.period.from, bundle.period.to, summary.entries, summary.witnessed, summary.forks
        );
        for chain in &summary.chains {
            let range = match (chain.first_seq, chain.last_seq) {
                (Some(first), Some(last)) => format!("entries {first}..={last}"),
                _ => "no entries".to_owned(),
            };
            let end = if chain.end_proven {
                "complete"
            } else {
                "complete up to the exporter's head"
            };
            println!(
                "  {}: {range} ({} witnessed), {end}",
                chain.member, chain.witnessed
            );
        }
        return Ok(());
    }
    let bundle: EvidenceBundle = serde_json::from_slice(&bytes).with_context(not_a_bundle)?;
    let verified = bundle
        .verify(&genesis)
        .with_context(|| format!("{} does not verify", args.bundle.display()))?;
    println!(
        "valid: evidence bundle of {} ({} entries, {} witnessed by a quorum, {} fork proofs)",
        bundle.product, verified.entries, verified.witnessed, verified.forks
    );
    print_report(&verified.report);
    print_completeness(&verified.completeness);
    let gaps: Vec<String> = verified
        .completeness
        .gaps()
        .map(|c| c.author.to_string())
        .collect();
    if gaps.is_empty() || args.allow_incomplete {
        return Ok(());
    }
    anyhow::bail!(
        "{} does not show that nothing about the product was left out of the chains of {} (see above; --allow-incomplete accepts it as it is)",
        args.bundle.display(),
        gaps.join(", ")
    )
}

fn print_completeness(completeness: &Completeness) {
    println!("completeness (members' attestations of what they hold about the product):");
    for chain in &completeness.chains {
        let attesters: Vec<&str> = chain.attesters.iter().map(|m| m.as_str()).collect();
        match &chain.gap {
            None => {
                let range = match chain.proven {
                    0 => "no entry".to_owned(),
                    size => format!("entries #0 to #{}", size - 1),
                };
                println!(
                    "  {}: complete, {range} attested by {} ({} needed)",
                    chain.author,
                    attesters.join(", "),
                    chain.needed
                );
            }
            Some(gap) => println!("  {}: NOT shown complete: {gap}", chain.author),
        }
    }
    for (attester, why) in &completeness.not_counted {
        println!("  attestation of {attester} not counted: {why}");
    }
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
    for set_aside in &report.set_aside {
        println!(
            "  set aside: {} [{}]",
            set_aside.reason,
            set_aside.entry.short()
        );
    }
    println!(
        "judged as of {} (rules version {})",
        report.as_of, report.rules
    );
}
