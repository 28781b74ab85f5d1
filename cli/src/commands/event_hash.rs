//! `tally event-hash`: the EPCIS Event Hash ID (CBV 2.0) of every event in a document.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tally_sdk::epcis::event_hash::{Namespaces, document_event_hash_ids_with};

use crate::files;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An EPCISDocument or EPCISQueryDocument (JSON-LD), or `-` for standard input.
    file: PathBuf,
    /// Also print each event's canonical pre-hash string.
    #[arg(long)]
    prehash: bool,
    /// Exclude a field from hashing (as written, e.g. `example:captureID`), for fields a
    /// repository added to the events; repeat for several.
    #[arg(long = "ignore")]
    ignore: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let document: serde_json::Value = files::read_json(&args.file)?;
    let mut namespaces = Namespaces::from_document(&document);
    for field in &args.ignore {
        namespaces = namespaces.ignoring(field);
    }
    let ids = document_event_hash_ids_with(&document, &namespaces).with_context(|| {
        format!(
            "cannot compute the event hash ids of {}",
            args.file.display()
        )
    })?;
    for id in ids {
        println!("{}", id.hash_id);
        if args.prehash {
            println!("  {}", id.pre_hash);
        }
    }
    Ok(())
}
