//! `tally audit verify` and `tally audit export`: the auditor's and regulator's tools, reading a
//! node over its API (`--node URL`) or a data directory or backup (`--data-dir DIR`, opened
//! read-only), and verifying everything with the SDK and the genesis alone.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use tally_node::audit::{StoreSource, period_bundle};
use tally_node::store::Store;
use tally_node::store::rocks::RocksStore;
use tally_node::witness::book::Book;
use tally_sdk::audit::period::{Period, PeriodBundle};
use tally_sdk::audit::rejection::RejectedEntry;
use tally_sdk::audit::{AuditSummary, LedgerSource, Progress, audit};
use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::governance::SignedChange;
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use tally_sdk::witnessing::fork::ForkProof;

use super::load_consortium;
use crate::files;
use crate::http::NodeClient;

/// Entries below which no progress bar is drawn.
const PROGRESS_FROM: u64 = 10_000;

/// Chain entries per page read from a node.
const CHAIN_PAGE: usize = 1_000;
/// Fork proofs or rejected entries asked for per request (the API's largest page).
const EVIDENCE_PAGE: usize = 1_000;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a whole ledger: every chain's signatures, links and rules, every checkpoint
    /// against the chains, every fork proof; print the summary and each member's scorecard.
    /// Exit 0 if everything verifies and nobody is at fault, 1 if anything fails to verify,
    /// 3 if everything verifies but forks, custody rule violations or rejected entries were
    /// found.
    Verify(VerifyArgs),
    /// Write the bundle of a period of record time: every entry recorded in it with the
    /// checkpoints witnessing it; `tally verify FILE` checks it offline.
    Export(ExportArgs),
}

/// Where the ledger is read from.
#[derive(Debug, clap::Args)]
pub struct Source {
    /// A node's API (https://HOST:PORT, or http:// on a trusted network); needs a token.
    #[arg(
        long,
        conflicts_with = "data_dir",
        required_unless_present = "data_dir"
    )]
    pub node: Option<String>,
    /// The node's API token (a read token is enough).
    #[arg(long, env = "TALLY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With an https:// node: a PEM file of CA certificates to trust besides the system's
    /// (the consortium's own CA).
    #[arg(long, env = "TALLY_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// A node's data directory or a backup of one, opened read-only (the node may be running).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The signed genesis of the consortium.
    #[arg(long)]
    pub genesis: PathBuf,
    /// The consortium's change log (JSON). Without it, the changes the node applied are taken
    /// from the node (`GET /v1/governance`) or the data directory, each checked against the
    /// genesis (the founders' approvals).
    #[arg(long)]
    pub changes: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: Source,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: Source,
    /// Start of the period, inclusive (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub from: String,
    /// End of the period, exclusive (RFC 3339).
    #[arg(long)]
    pub to: String,
    /// The bundle file to write (not replaced if it exists).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Everything verified, but members were found at fault (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error(
    "the ledger verifies, but {forks} fork proof(s), {violations} custody rule violation(s) and {rejected} rejected entr(y/ies) were found"
)]
pub struct FindingsFound {
    forks: u64,
    violations: u64,
    rejected: u64,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Verify(args) => verify(args),
        Command::Export(args) => export(args),
    }
}

/// The consortium the ledger is audited against: the genesis with the change log given, or
/// else with the changes the node or data directory holds. Either way every change is checked
/// against the genesis and the changes before it (approvals of the founders' threshold), so a
/// node cannot slip in a change of its own.
fn consortium(source: &Source) -> Result<Consortium> {
    if source.changes.is_some() {
        return load_consortium(&source.genesis, source.changes.as_deref());
    }
    let genesis = load_consortium(&source.genesis, None)?;
    let held: Vec<SignedChange> = match (&source.node, &source.data_dir) {
        (Some(url), _) => {
            #[derive(Deserialize)]
            struct Shown {
                change: SignedChange,
            }
            #[derive(Deserialize)]
            struct Governance {
                changes: Vec<Shown>,
            }
            let shown: Governance = client(url, source)?.get_json("/v1/governance")?;
            shown.changes.into_iter().map(|c| c.change).collect()
        }
        (None, Some(dir)) => {
            let store = RocksStore::open_read_only(dir, genesis.network_id())?;
            tally_node::consortium::stored_changes(&store)?
        }
        (None, None) => Vec::new(),
    };
    if held.is_empty() {
        return Ok(genesis);
    }
    let consortium = genesis
        .with_changes(held.iter())
        .context("the governance changes the node holds do not apply to the genesis")?;
    eprintln!(
        "{} governance change(s) taken from the node, each approved by the founders' threshold (give --changes to audit against your own log)",
        held.len()
    );
    Ok(consortium)
}

fn verify(args: VerifyArgs) -> Result<()> {
    let genesis = consortium(&args.source)?;
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, {eta} left)")
            .context("progress bar template")?,
    );
    let mut progress = |p: Progress| {
        if p.total >= PROGRESS_FROM && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let summary = match &args.source.node {
        Some(url) => {
            let mut source = HttpSource::new(url, &args.source)?;
            audit(&mut source, &genesis, Timestamp::now(), &mut progress)?
        }
        None => {
            let (store, book) = open_store(&args.source, &genesis)?;
            let mut source = StoreSource::new(store.as_ref(), &book);
            audit(&mut source, &genesis, Timestamp::now(), &mut progress)?
        }
    };
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).context("the summary as JSON")?
        );
    } else {
        print_summary(&summary);
    }
    if !summary.verified() {
        bail!(
            "the ledger does not verify: {} check(s) failed",
            summary.failures
        );
    }
    if summary.has_findings() {
        return Err(FindingsFound {
            forks: summary.forks,
            violations: summary.violations,
            rejected: summary.rejected,
        }
        .into());
    }
    Ok(())
}

fn export(args: ExportArgs) -> Result<()> {
    let genesis = consortium(&args.source)?;
    let time = |name: &str, text: &str| {
        Timestamp::parse_rfc3339(text)
            .with_context(|| format!("--{name} {text:?} is not an RFC 3339 time"))
    };
    let period = Period {
        from: time("from", &args.from)?,
        to: time("to", &args.to)?,
    };
    if period.to < period.from {
        bail!(
            "the period ends ({}) before it starts ({})",
            period.to,
            period.from
        );
    }
    let bundle: PeriodBundle = match &args.source.node {
        Some(url) => {
            let mut client = client(url, &args.source)?;
            client.get_json(&format!(
                "/v1/audit/period?from={}&to={}",
                query_value(&period.from.to_rfc3339()),
                query_value(&period.to.to_rfc3339())
            ))?
        }
        None => {
            let (store, book) = open_store(&args.source, &genesis)?;
            period_bundle(store.as_ref(), &book, &genesis, period)?
        }
    };
    // What is written is what verifies: a node's answer is checked before it is kept.
    let summary = bundle
        .verify(&genesis)
        .context("the period bundle the node gave does not verify")?;
    let bytes = serde_json::to_vec(&bundle).context("the bundle as JSON")?;
    files::write_new(&args.output, &bytes, false)?;
    println!(
        "wrote {}: {} entries of {} chains from {} to {}, {} witnessed by a quorum, {} fork proofs",
        args.output.display(),
        summary.entries,
        summary.chains.len(),
        period.from,
        period.to,
        summary.witnessed,
        summary.forks
    );
    Ok(())
}

fn open_store(source: &Source, genesis: &Consortium) -> Result<(Arc<dyn Store>, Book)> {
    let Some(dir) = &source.data_dir else {
        bail!("give --node URL or --data-dir DIR");
    };
    let store: Arc<dyn Store> = Arc::new(RocksStore::open_read_only(dir, genesis.network_id())?);
    let book = Book::new(store.clone(), Arc::new(genesis.clone()));
    Ok((store, book))
}

fn client(url: &str, source: &Source) -> Result<NodeClient> {
    let Some(token) = source.token.clone() else {
        bail!("--node needs an API token: --token or the TALLY_TOKEN environment variable");
    };
    NodeClient::new(url, token, source.ca_cert.as_deref())
}

/// A query value with the characters RFC 3339 times use and a query does not take as is.
fn query_value(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// A node's API as the source of an audit.
#[derive(Debug)]
struct HttpSource {
    client: NodeClient,
}

impl HttpSource {
    fn new(url: &str, source: &Source) -> Result<Self> {
        Ok(Self {
            client: client(url, source)?,
        })
    }
}

#[derive(Deserialize)]
struct HeadsAnswer {
    heads: Vec<HeadAnswer>,
}

#[derive(Deserialize)]
struct HeadAnswer {
    member: MemberId,
    seq: u64,
}

#[derive(Deserialize)]
struct CheckpointsAnswer {
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct ChainAnswer {
    items: Vec<ChainItem>,
}

#[derive(Deserialize)]
struct ChainItem {
    entry: SignedEntry,
}

#[derive(Deserialize)]
struct ForksAnswer {
    forks: Vec<ForkAnswer>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct ForkAnswer {
    proof: ForkProof,
}

#[derive(Deserialize)]
struct RejectedAnswer {
    rejected: Vec<RejectedItem>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct RejectedItem {
    rejected: RejectedEntry,
}

impl LedgerSource for HttpSource {
    type Error = anyhow::Error;

    fn heads(&mut self) -> Result<Vec<(MemberId, u64)>> {
        let answer: HeadsAnswer = self.client.get_json("/v1/heads")?;
        Ok(answer
            .heads
            .into_iter()
            .map(|h| (h.member, h.seq))
            .collect())
    }

    fn checkpoints(&mut self, witness: &MemberId, from: u64) -> Result<Vec<Checkpoint>> {
        let answer: CheckpointsAnswer = self
            .client
            .get_json(&format!("/v1/checkpoints/{witness}?from={from}"))?;
        Ok(answer.checkpoints)
    }

    fn chain(&mut self, author: &MemberId, from: u64) -> Result<Vec<SignedEntry>> {
        let answer: ChainAnswer = self.client.get_json(&format!(
            "/v1/chains/{author}?from={from}&limit={CHAIN_PAGE}"
        ))?;
        Ok(answer.items.into_iter().map(|i| i.entry).collect())
    }

    fn forks(&mut self) -> Result<Vec<ForkProof>> {
        let mut proofs = Vec::new();
        let mut path = format!("/v1/forks?limit={EVIDENCE_PAGE}");
        loop {
            let answer: ForksAnswer = self.client.get_json(&path)?;
            proofs.extend(answer.forks.into_iter().map(|f| f.proof));
            match answer.next {
                Some(next) => path = format!("/v1/forks?limit={EVIDENCE_PAGE}&cursor={next}"),
                None => return Ok(proofs),
            }
        }
    }

    fn rejected(&mut self) -> Result<Vec<RejectedEntry>> {
        let mut rejected = Vec::new();
        let mut path = format!("/v1/rejected?limit={EVIDENCE_PAGE}");
        loop {
            let answer: RejectedAnswer = self.client.get_json(&path)?;
            rejected.extend(answer.rejected.into_iter().map(|r| r.rejected));
            match answer.next {
                Some(next) => {
                    path = format!("/v1/rejected?limit={EVIDENCE_PAGE}&cursor={next}");
                }
                None => return Ok(rejected),
            }
        }
    }
}

fn print_summary(summary: &AuditSummary) {
    println!("network {}", summary.network);
    println!(
        "chains: {}, entries: {}, witnessed by a quorum: {} ({:.1}%)",
        summary.chains.len(),
        summary.entries,
        summary.witnessed,
        summary.witnessed_share() * 100.0
    );
    for chain in &summary.chains {
        println!(
            "  {}: {} entries, {} witnessed",
            chain.member, chain.entries, chain.witnessed
        );
    }
    println!(
        "checkpoints: {} ({} spans checked against the chains, {} beyond the entries held)",
        summary.checkpoints, summary.spans_checked, summary.spans_beyond
    );
    println!(
        "products: {}, forks: {}, custody rule violations: {}, rejected entries: {}",
        summary.products, summary.forks, summary.violations, summary.rejected
    );
    println!(
        "scorecards (non-conformant inspections, late deliveries, overdue deliveries, rule violations, forks, rejected entries):"
    );
    for card in &summary.scorecards {
        println!(
            "  {}: {}, {}, {}, {}, {}, {}",
            card.member,
            card.non_conformant_inspections,
            card.late_deliveries,
            card.overdue_deliveries,
            card.rule_violations,
            card.forks,
            card.rejected_entries
        );
        for finding in &card.findings {
            let entries: Vec<String> = finding.entries.iter().map(|e| e.short()).collect();
            println!(
                "    {:?}: {} [{}]",
                finding.kind,
                finding.statement,
                entries.join(", ")
            );
        }
    }
    if summary.verified() {
        println!("verified: every signature, link, rule, checkpoint and fork proof holds");
    } else {
        println!("FAILED: {} check(s)", summary.failures);
        for failure in &summary.failures_listed {
            println!("  {}: {}", failure.what, failure.detail);
        }
        if summary.failures > summary.failures_listed.len() as u64 {
            println!(
                "  ... and {} more",
                summary.failures - summary.failures_listed.len() as u64
            );
        }
    }
}
