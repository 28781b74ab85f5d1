//! `tally demo`: the demo consortium on this machine — the five members of the demo genesis as
//! five local nodes replicating to each other, a custom sofa's story from order to delivery
//! recorded on them, `DIR/demo.json` listing every node's API, token and data directory, and
//! `DIR/sofa-label.png`, the sofa's QR label.
//! Runs until Ctrl-C (or SIGTERM).

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the nodes keep their files (created if needed; run again on it, the nodes reopen
    /// their data).
    #[arg(long, value_name = "DIR", default_value = "tally-demo")]
    dir: PathBuf,
    /// What the nodes log on stderr (a tracing filter: warn, info, tally_node=debug, ...).
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    log: String,
}

pub fn run(args: Args) -> Result<()> {
    tally_node::demo::init_logging(&args.log)?;
    let label = |uri: &str| super::qr::label_png(uri, 8).map_err(|e| format!("{e:#}"));
    tally_node::demo::run(&args.dir, tally_node::run::stop_signal(), &label)?;
    Ok(())
}
