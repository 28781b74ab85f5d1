//! `tally governance`: draw up, approve and record membership changes (admit, remove, rotate
//! keys) in the consortium's change log, offline.
//!
//! The flow mirrors the genesis: one founder drafts a change into a JSON file, founders
//! approve it in turn (each appends its signature), and once the threshold is reached
//! `apply` checks it against the genesis and the log and appends it to the log, which
//! operators hand to their nodes beside the genesis.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tally_sdk::crypto::{PublicKey, X25519PublicKey};
use tally_sdk::ids::{MemberId, RoleName};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::Member;
use tally_sdk::membership::governance::{Action, ChangeBody, ChangeLog, SignedChange};
use tally_sdk::membership::governance::{KeyEpoch, Removal};
use tally_sdk::time::Timestamp;

use super::{load_consortium, load_genesis, load_keys};
use crate::files;

/// The consortium a change is drawn up, approved or applied against.
#[derive(Debug, clap::Args)]
pub struct ConsortiumArgs {
    /// The signed genesis file.
    #[arg(long)]
    genesis: PathBuf,
    /// The consortium's change log (JSON), if any change was made since the genesis.
    #[arg(long)]
    changes: Option<PathBuf>,
}

impl ConsortiumArgs {
    /// The genesis with the log applied, and the log.
    fn load(&self) -> Result<(Consortium, ChangeLog)> {
        let current = load_consortium(&self.genesis, self.changes.as_deref())?;
        let log = ChangeLog {
            format: tally_sdk::membership::governance::CHANGE_FORMAT,
            changes: current.changes().to_vec(),
        };
        Ok((current, log))
    }
}

/// Where a draft goes and why it is made.
#[derive(Debug, clap::Args)]
pub struct Draft {
    #[command(flatten)]
    consortium: ConsortiumArgs,
    /// Why the change is made, for the record.
    #[arg(long)]
    reason: String,
    /// Where to write the draft (must not exist).
    #[arg(short, long)]
    out: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Draft the admission of a new member (its public keys come from its `tally keygen`).
    AddMember {
        #[command(flatten)]
        draft: Draft,
        /// The new member's id.
        #[arg(long)]
        member: MemberId,
        /// The organisation's name.
        #[arg(long)]
        name: String,
        /// A role of the new member (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<RoleName>,
        /// Make the new member a founder (it may then approve changes).
        #[arg(long)]
        founder: bool,
        /// Its signing key (hex).
        #[arg(long)]
        signing_key: String,
        /// Its X25519 key (hex).
        #[arg(long)]
        x25519_key: String,
        /// Its node's libp2p peer id.
        #[arg(long)]
        peer_id: String,
        /// Where its node listens (multiaddr; repeat for several).
        #[arg(long = "address")]
        addresses: Vec<String>,
    },
    /// Draft the removal of a member: its entries and checkpoints from the numbers given on
    /// are refused, earlier ones stay valid.
    RemoveMember {
        #[command(flatten)]
        draft: Draft,
        /// The member to remove.
        #[arg(long)]
        member: MemberId,
        /// The first entry sequence number refused (its entries below stay valid).
        #[arg(long)]
        entries_below: u64,
        /// The first checkpoint number refused.
        #[arg(long)]
        checkpoints_below: u64,
    },
    /// Draft a rotation of a member's keys or node details.
    RotateKeys {
        #[command(flatten)]
        draft: Draft,
        /// The member.
        #[arg(long)]
        member: MemberId,
        /// The new signing key (hex); needs --entries-from and --checkpoints-from.
        #[arg(long, requires_all = ["entries_from", "checkpoints_from"])]
        signing_key: Option<String>,
        /// The first entry sequence number the new signing key signs.
        #[arg(long, requires = "signing_key")]
        entries_from: Option<u64>,
        /// The first checkpoint number the new signing key signs.
        #[arg(long, requires = "signing_key")]
        checkpoints_from: Option<u64>,
        /// The new X25519 key (hex).
        #[arg(long)]
        x25519_key: Option<String>,
        /// The new libp2p peer id of the member's node.
        #[arg(long)]
        peer_id: Option<String>,
        /// The new addresses of the member's node (repeat for several).
        #[arg(long = "address")]
        addresses: Vec<String>,
    },
    /// Approve a drafted change as a founder (adds the signature to the file).
    Approve {
        /// The change file.
        file: PathBuf,
        #[command(flatten)]
        consortium: ConsortiumArgs,
        /// The founder's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check an approved change and append it to the change log (created if absent).
    Apply {
        /// The change file.
        file: PathBuf,
        /// The signed genesis file.
        #[arg(long)]
        genesis: PathBuf,
        /// The change log to append to.
        #[arg(long)]
        changes: PathBuf,
    },
    /// Check the change log against the genesis and show the consortium as it now stands.
    Show {
        #[command(flatten)]
        consortium: ConsortiumArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::AddMember {
            draft,
            member,
            name,
            roles,
            founder,
            signing_key,
            x25519_key,
            peer_id,
            addresses,
        } => {
            let member = Member {
                id: member,
                name,
                roles,
                founder,
                signing_key: PublicKey::from_hex(&signing_key).context("--signing-key")?,
                x25519_key: X25519PublicKey::from_hex(&x25519_key).context("--x25519-key")?,
                peer_id,
                addresses,
            };
            write_draft(&draft, Action::AddMember(member))
        }
        Command::RemoveMember {
            draft,
            member,
            entries_below,
            checkpoints_below,
        } => write_draft(
            &draft,
            Action::RemoveMember {
                member,
                until: Removal {
                    entries_below,
                    checkpoints_below,
                },
            },
        ),
        Command::RotateKeys {
            draft,
            member,
            signing_key,
            entries_from,
            checkpoints_from,
            x25519_key,
            peer_id,
            addresses,
        } => {
            let signing = match signing_key {
                Some(key) => Some(KeyEpoch {
                    key: PublicKey::from_hex(&key).context("--signing-key")?,
                    entries_from: entries_from.context("--entries-from is needed")?,
                    checkpoints_from: checkpoints_from.context("--checkpoints-from is needed")?,
                }),
                None => None,
            };
            let x25519_key = x25519_key
                .map(|key| X25519PublicKey::from_hex(&key))
                .transpose()
                .context("--x25519-key")?;
            let addresses = (!addresses.is_empty()).then_some(addresses);
            write_draft(
                &draft,
                Action::RotateKeys {
                    member,
                    signing,
                    x25519_key,
                    peer_id,
                    addresses,
                },
            )
        }
        Command::Approve {
            file,
            consortium,
            key,
        } => approve(&file, &consortium, &key),
        Command::Apply {
            file,
            genesis,
            changes,
        } => apply(&file, &genesis, &changes),
        Command::Show { consortium, json } => show(&consortium, json),
    }
}

fn read_log(path: &Path) -> Result<ChangeLog> {
    ChangeLog::from_json(&files::read(path)?)
        .with_context(|| format!("{} is not a valid change log", path.display()))
}

fn read_change(path: &Path) -> Result<SignedChange> {
    files::read_json(path)
}

fn change_json(change: &SignedChange) -> Result<Vec<u8>> {
    let mut text = serde_json::to_vec_pretty(change)?;
    text.push(b'\n');
    Ok(text)
}

fn write_draft(draft: &Draft, action: Action) -> Result<()> {
    let (current, _) = draft.consortium.load()?;
    let body = ChangeBody::next(&current, Timestamp::now(), draft.reason.clone(), action);
    // A draft that could never apply is refused now, not after the founders' round.
    current
        .check_draft(&body)
        .context("the change cannot be made")?;
    let number = body.number;
    files::write_new(&draft.out, &change_json(&SignedChange::draft(body))?, false)?;
    println!(
        "wrote change {number} to {} — {} founders must approve it with `tally governance approve`",
        draft.out.display(),
        current.founders_threshold()
    );
    Ok(())
}

fn approve(file: &Path, consortium: &ConsortiumArgs, key: &Path) -> Result<()> {
    let (current, _) = consortium.load()?;
    let mut change = read_change(file)?;
    current
        .check_draft(&change.body)
        .context("the change cannot be made")?;
    let keys = load_keys(key)?;
    change.approve(&current, &keys.member, &keys.signing)?;
    std::fs::write(file, change_json(&change)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!(
        "approved change {} as {}: {} of {} approvals needed",
        change.body.number,
        keys.member,
        change.approvals.len(),
        current.founders_threshold()
    );
    Ok(())
}

fn apply(file: &Path, genesis_path: &Path, log_path: &Path) -> Result<()> {
    let genesis = load_genesis(genesis_path)?;
    let mut log = if log_path.exists() {
        read_log(log_path)?
    } else {
        ChangeLog::new()
    };
    let current = log.apply_to(&genesis).with_context(|| {
        format!(
            "the change log {} does not apply to the genesis",
            log_path.display()
        )
    })?;
    let change = read_change(file)?;
    let next = current
        .apply(&change)
        .with_context(|| format!("{} cannot be applied", file.display()))?;
    log.changes.push(change.clone());
    let mut text = serde_json::to_vec_pretty(&log)?;
    text.push(b'\n');
    // Written beside and renamed over, so a crash leaves the old log or the new one.
    let partial = log_path.with_extension("json.partial");
    std::fs::write(&partial, text)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, log_path)
        .with_context(|| format!("cannot replace {}", log_path.display()))?;
    println!(
        "applied change {} ({} {}) — the consortium has {} members; give {} to every node with the genesis",
        change.body.number,
        change.body.action.name(),
        change.body.action.member(),
        next.members().len(),
        log_path.display()
    );
    Ok(())
}

fn show(consortium: &ConsortiumArgs, json: bool) -> Result<()> {
    let (current, log) = consortium.load()?;
    if json {
        let members: Vec<serde_json::Value> = current
            .all_members()
            .iter()
            .map(|m| {
                let standing = current.standing(&m.id);
                serde_json::json!({
                    "member": m,
                    "active": current.is_active(&m.id),
                    "signing_keys": standing.map(|s| s.keys.clone()).unwrap_or_default(),
                    "removed": standing.and_then(|s| s.removed),
                })
            })
            .collect();
        let value = serde_json::json!({
            "network_id": current.network_id(),
            "changes": log.changes.len(),
            "last_change": current.last_change(),
            "members": members,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("network id: {}", current.network_id());
    println!(
        "changes:    {}{}",
        log.changes.len(),
        current
            .last_change()
            .map(|h| format!(" (last {})", h.short()))
            .unwrap_or_default()
    );
    for change in &log.changes {
        println!(
            "  {:>3}  {}  {:<13} {:<14} {}",
            change.body.number,
            change.body.timestamp,
            change.body.action.name(),
            change.body.action.member().as_str(),
            change.body.reason
        );
    }
    println!("\nmembers:");
    for m in current.all_members() {
        let standing = current.standing(&m.id);
        let status = match standing.and_then(|s| s.removed) {
            Some(r) => format!(
                "removed (entries from {}, checkpoints from {} refused)",
                r.entries_below, r.checkpoints_below
            ),
            None => "active".into(),
        };
        let roles: Vec<&str> = m.roles.iter().map(RoleName::as_str).collect();
        println!(
            "  {:<14} {:<32} {:<24} {}{}",
            m.id.as_str(),
            m.name,
            roles.join(", "),
            status,
            if m.founder { ", founder" } else { "" }
        );
        if let Some(standing) = standing.filter(|s| s.keys.len() > 1) {
            for epoch in &standing.keys {
                println!(
                    "      key {} from entry {}, checkpoint {}",
                    epoch.key, epoch.entries_from, epoch.checkpoints_from
                );
            }
        }
    }
    Ok(())
}
