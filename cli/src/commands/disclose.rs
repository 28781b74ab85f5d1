//! `tally disclose`: hand over chosen private fields of an entry with a proof, and check one.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::FieldName;
use tally_sdk::privacy::disclosure::OpenedField;
use tally_sdk::reports::disclosed::EntryDisclosure;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;

use super::load_consortium;
use crate::files;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Disclose chosen private fields of a signed entry, from the opened fields you hold.
    Make {
        /// The signed entry (JSON).
        #[arg(long)]
        entry: PathBuf,
        /// The opened private fields of that entry (written by `tally entry sign --opened-out`).
        #[arg(long)]
        opened: PathBuf,
        /// A field to disclose; repeat for several.
        #[arg(long = "field", required = true)]
        fields: Vec<FieldName>,
        /// Where to write the disclosure (default: standard output).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Verify a disclosure offline: the entry's signature and rules, and each disclosed value
    /// against the entry's signed commitment.
    Verify {
        /// The disclosure (JSON).
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
        Command::Make {
            entry,
            opened,
            fields,
            out,
        } => {
            let entry: SignedEntry = files::read_json(&entry)?;
            let opened: Vec<OpenedField> = files::read_json(&opened)?;
            let disclosure = EntryDisclosure::new(entry, &opened, &fields)?;
            let mut text = serde_json::to_vec_pretty(&disclosure)?;
            text.push(b'\n');
            files::write_output(out.as_deref(), &text)
        }
        Command::Verify {
            file,
            genesis,
            changes,
        } => {
            let genesis = load_consortium(&genesis, changes.as_deref())?;
            let disclosure: EntryDisclosure = files::read_json(&file)?;
            let verifier = Verifier::new(&genesis, Timestamp::now()).with_tolerance(u64::MAX);
            let (hash, fields) = disclosure
                .verify(&verifier)
                .with_context(|| format!("{} does not verify", file.display()))?;
            let body = &disclosure.entry.body;
            println!(
                "valid: entry {} of {} ({hash}) discloses {} field(s):",
                body.seq,
                body.author,
                fields.len()
            );
            for field in fields {
                println!("  {} = {}", field.name, field.value.as_str());
            }
            Ok(())
        }
    }
}
