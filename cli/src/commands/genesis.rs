//! `tally genesis`: draw up, sign, verify and show a consortium's genesis file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tally_sdk::ids::RoleName;
use tally_sdk::membership::genesis::{GenesisDocument, SignedGenesis, sign_document};
use tally_sdk::membership::template;
use tally_sdk::time::Timestamp;

use super::{load_genesis, load_keys};
use crate::files;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Draw up an unsigned genesis on the C2M template from members' key files.
    Init {
        /// The consortium's name.
        #[arg(long)]
        consortium: String,
        /// A member: KEYFILE:ROLE[,ROLE...] (roles: platform, manufacturer, supplier,
        /// logistics, auditor). Repeat for each member.
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// Where to write the genesis (must not exist).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Sign a genesis as a founding member (appends the signature to the file).
    Sign {
        /// The genesis file.
        file: PathBuf,
        /// The founder's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a signed genesis: consistency and enough valid founder signatures.
    Verify {
        /// The genesis file.
        file: PathBuf,
    },
    /// Show a genesis: network id, members, roles and the private-field policy.
    Show {
        /// The genesis file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the demo consortium (genesis and demo-only keys) into a new directory.
    Demo {
        /// The directory to create.
        #[arg(short, long)]
        out: PathBuf,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Init {
            consortium,
            members,
            out,
        } => init(&consortium, &members, &out),
        Command::Sign { file, key } => sign(&file, &key),
        Command::Verify { file } => {
            let genesis = load_genesis(&file)?;
            println!(
                "valid: {} — network id {}, {} members, {} founder signatures (threshold {})",
                genesis.document().consortium,
                genesis.network_id(),
                genesis.members().len(),
                genesis.signatures().len(),
                genesis.document().founders_threshold
            );
            Ok(())
        }
        Command::Show { file, json } => show(&file, json),
        Command::Demo { out } => demo(&out),
    }
}

const GENESIS_HEADER: &str = "# Tally genesis. Edit freely until the founders sign: any change of content after\n# signing invalidates every signature (comments and layout do not count).\n\n";

fn init(consortium: &str, members: &[String], out: &Path) -> Result<()> {
    let mut entries = Vec::new();
    for spec in members {
        let (key_path, roles) = spec
            .rsplit_once(':')
            .with_context(|| format!("--member {spec:?} is not KEYFILE:ROLE[,ROLE...]"))?;
        let keys = load_keys(Path::new(key_path))?;
        let roles = roles
            .split(',')
            .map(RoleName::new)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--member {spec:?}"))?;
        let name = keys.member.to_string();
        entries.push((keys, name, roles, Vec::new()));
    }
    let document = template::c2m_document(consortium, Timestamp::now(), &entries)?;
    document
        .validate()
        .context("the members given do not make a valid genesis")?;
    let text = SignedGenesis {
        document,
        signatures: Vec::new(),
    }
    .to_toml(GENESIS_HEADER)?;
    files::write_new(out, text.as_bytes(), false)?;
    println!(
        "wrote {} — review it, then each founder runs `tally genesis sign`",
        out.display()
    );
    Ok(())
}

fn sign(file: &Path, key: &Path) -> Result<()> {
    let text = files::read_text(file)?;
    let signed = SignedGenesis::from_toml(&text)?;
    signed.document.validate()?;
    let keys = load_keys(key)?;
    if signed.signatures.iter().any(|s| s.member == keys.member) {
        bail!("{} has already signed {}", keys.member, file.display());
    }
    let signature = sign_document(&signed.document, &keys.member, &keys.signing)?;
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&SignedGenesis::signature_toml(&signature));
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    let have = signed.signatures.len() + 1;
    println!(
        "signed as {}: {have} of {} founder signatures needed",
        keys.member, signed.document.founders_threshold
    );
    Ok(())
}

fn show(file: &Path, json: bool) -> Result<()> {
    let genesis = load_genesis(file)?;
    let doc: &GenesisDocument = genesis.document();
    if json {
        let value = serde_json::json!({
            "network_id": genesis.network_id(),
            "document": doc,
            "signatures": genesis.signatures(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("consortium:     {}", doc.consortium);
    println!("network id:     {}", genesis.network_id());
    println!("created:        {}", doc.created);
    println!(
        "witness quorum: {} of {} members",
        doc.witness_quorum,
        doc.members.len()
    );
    println!(
        "signatures:     {} (threshold {})",
        genesis.signatures().len(),
        doc.founders_threshold
    );
    let disputes = genesis.dispute_rules();
    let inspectors: Vec<&str> = disputes
        .inspector_roles
        .iter()
        .map(RoleName::as_str)
        .collect();
    println!(
        "disputes:       inspector roles: {}; events recorded more than {} h after they happen are backdated",
        if inspectors.is_empty() {
            "none".to_owned()
        } else {
            inspectors.join(", ")
        },
        disputes.max_reporting_delay_ms / 3_600_000
    );
    println!("\nmembers:");
    for m in &doc.members {
        let roles: Vec<&str> = m.roles.iter().map(RoleName::as_str).collect();
        println!(
            "  {:<14} {:<40} roles: {}{}",
            m.id.as_str(),
            m.name,
            roles.join(", "),
            if m.founder { " (founder)" } else { "" }
        );
    }
    println!("\nroles may write:");
    for r in &doc.roles {
        let kinds: Vec<&str> = r.may_write.iter().map(|k| k.as_str()).collect();
        println!("  {:<14} {}", r.name.as_str(), kinds.join(", "));
    }
    println!("\nprivate fields readable by:");
    for f in &doc.private_fields {
        let readers: Vec<&str> = f.readers.iter().map(RoleName::as_str).collect();
        println!("  {:<18} {}", f.name.as_str(), readers.join(", "));
    }
    Ok(())
}

fn demo(out: &Path) -> Result<()> {
    let (signed, keys) = template::demo_consortium()?;
    std::fs::create_dir(out)
        .with_context(|| format!("cannot create directory {}", out.display()))?;
    let keys_dir = out.join("keys");
    std::fs::create_dir(&keys_dir)
        .with_context(|| format!("cannot create directory {}", keys_dir.display()))?;
    let header = "# Tally DEMO genesis: five members with demo-only keys (see keys/). Not for real data.\n# Regenerate with `tally genesis demo -o DIR`; CI checks this copy is current.\n\n";
    files::write_new(
        &out.join("genesis.toml"),
        signed.to_toml(header)?.as_bytes(),
        false,
    )?;
    for member in keys {
        let path = keys_dir.join(format!("{}.key", member.member));
        files::write_new(
            &path,
            member.to_toml(template::DEMO_KEY_HEADER).as_bytes(),
            true,
        )?;
    }
    println!("wrote the demo consortium to {}", out.display());
    Ok(())
}
