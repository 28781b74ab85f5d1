//! `tally entry`: sign an event into an entry with a key held outside any node, and verify
//! entries against a genesis.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::FieldName;
use tally_sdk::privacy::disclosure::{CommitLimits, commit};
use tally_sdk::time::Timestamp;
use tally_sdk::verify::{ChainTip, Verifier, check_chain};

use super::{load_consortium, load_keys};
use crate::files;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign one EPCIS event (JSON) into an entry of your chain.
    Sign {
        /// The signed genesis of the consortium.
        #[arg(long)]
        genesis: PathBuf,
        /// The consortium's change log (JSON), if members changed since the genesis.
        #[arg(long)]
        changes: Option<PathBuf>,
        /// Your member key file.
        #[arg(long)]
        key: PathBuf,
        /// The EPCIS 2.0 event (JSON object, as in an EPCISDocument's eventList).
        #[arg(long)]
        event: PathBuf,
        /// The entry's sequence number in your chain.
        #[arg(long, default_value_t = 0)]
        seq: u64,
        /// The hash of your previous entry (required when --seq is above 0).
        #[arg(long)]
        prev: Option<EntryHash>,
        /// Entries of other chains this one refers to.
        #[arg(long = "ref")]
        refs: Vec<EntryHash>,
        /// The entry's timestamp (RFC 3339); default now.
        #[arg(long)]
        time: Option<String>,
        /// Private fields: a JSON object of field name → value, committed as salted hashes.
        #[arg(long)]
        private: Option<PathBuf>,
        /// Where to write the opened private fields (values and salts); required with --private.
        #[arg(long)]
        opened_out: Option<PathBuf>,
        /// Where to write the signed entry (default: standard output).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Verify a signed entry: signature, membership, permission, limits, event.
    Verify {
        /// The signed genesis of the consortium.
        #[arg(long)]
        genesis: PathBuf,
        /// The consortium's change log (JSON), if members changed since the genesis.
        #[arg(long)]
        changes: Option<PathBuf>,
        /// The signed entry (JSON).
        file: PathBuf,
        /// The author's previous entry, to check the chain link too.
        #[arg(long)]
        after: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Sign {
            genesis,
            changes,
            key,
            event,
            seq,
            prev,
            refs,
            time,
            private,
            opened_out,
            out,
        } => {
            if (seq == 0) != prev.is_none() {
                bail!(
                    "give --prev exactly when --seq is above 0 (the first entry, 0, has no previous entry)"
                );
            }
            let genesis = load_consortium(&genesis, changes.as_deref())?;
            let keys = load_keys(&key)?;
            let standing = genesis
                .standing(&keys.member)
                .with_context(|| format!("{} is not a member of this consortium", keys.member))?;
            if standing.entry_key(seq) != Some(keys.signing.public_key()) {
                bail!(
                    "the key file's signing key is not the one the genesis (with its change log, if given) lists for entry {seq} of {}",
                    keys.member
                );
            }
            let event: serde_json::Value = files::read_json(&event)?;
            let timestamp = match time {
                Some(text) => Timestamp::parse_rfc3339(&text)?,
                None => Timestamp::now(),
            };
            let (commitment, opened) = match (private, &opened_out) {
                (None, None) => (None, None),
                (Some(path), Some(_)) => {
                    let raw: BTreeMap<String, serde_json::Value> = files::read_json(&path)?;
                    let mut fields = BTreeMap::new();
                    for (name, value) in raw {
                        let name = FieldName::new(name)?;
                        if !genesis.knows_field(&name) {
                            bail!(
                                "private field {name} is not in the consortium's private-field policy"
                            );
                        }
                        fields.insert(name, CanonicalJson::from_value(&value)?);
                    }
                    let limits = CommitLimits {
                        max_fields: genesis.limits().max_private_fields as usize,
                        max_value_bytes: genesis.limits().max_private_value_bytes as usize,
                    };
                    let (commitment, opened) = commit(fields, &limits)?;
                    (Some(commitment), Some(opened))
                }
                _ => bail!("--private and --opened-out go together"),
            };
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                keys.member.clone(),
                seq,
                prev,
                timestamp,
                refs,
                &event,
                commitment,
            )?
            .sign(&keys.signing)?;
            // Refuse to hand out an entry that other members would reject.
            Verifier::new(&genesis, Timestamp::now())
                .verify_detached(&entry)
                .context("the signed entry would not be accepted")?;
            if let (Some(opened), Some(path)) = (opened, opened_out) {
                files::write_new(&path, &serde_json::to_vec_pretty(&opened)?, true)?;
            }
            let mut text = serde_json::to_vec_pretty(&entry)?;
            text.push(b'\n');
            files::write_output(out.as_deref(), &text)?;
            eprintln!("entry {} of {}: {}", seq, keys.member, entry.hash()?);
            Ok(())
        }
        Command::Verify {
            genesis,
            changes,
            file,
            after,
        } => verify(&genesis, changes.as_deref(), &file, after.as_deref()),
    }
}

fn verify(genesis: &Path, changes: Option<&Path>, file: &Path, after: Option<&Path>) -> Result<()> {
    let genesis = load_consortium(genesis, changes)?;
    let entry: SignedEntry = files::read_json(file)?;
    // Offline there is no meaningful "now": the timestamp rule is for live ingestion.
    let verifier = Verifier::new(&genesis, Timestamp::now()).with_tolerance(u64::MAX);
    let hash = verifier
        .verify_detached(&entry)
        .with_context(|| format!("{} does not verify", file.display()))?;
    if let Some(previous) = after {
        let prev: SignedEntry = files::read_json(previous)?;
        let prev_hash = verifier
            .verify_detached(&prev)
            .with_context(|| format!("{} does not verify", previous.display()))?;
        if prev.body.author != entry.body.author {
            bail!(
                "{} and {} have different authors",
                previous.display(),
                file.display()
            );
        }
        let tip = ChainTip {
            seq: prev.body.seq,
            hash: prev_hash,
            timestamp: prev.body.timestamp,
        };
        check_chain(&entry, Some(&tip))?;
    }
    println!(
        "valid: entry {} of {} ({}), hash {}",
        entry.body.seq,
        entry.body.author,
        entry.body.payload.name(),
        hash
    );
    Ok(())
}
