//! The subcommands and their dispatch.

mod audit;
mod demo;
mod disclose;
mod entry;
mod event_hash;
mod genesis;
mod governance;
mod keygen;
mod node;
mod qr;
mod verify;
mod witness;

use anyhow::Result;

pub use audit::FindingsFound;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a member's keys (signing, X25519, node identity) into a new key file.
    Keygen(keygen::Args),
    /// Create, sign, verify and show genesis files.
    #[command(subcommand)]
    Genesis(genesis::Command),
    /// Draft, approve and record membership changes (admit, remove, rotate keys).
    #[command(subcommand)]
    Governance(governance::Command),
    /// Sign and verify entries offline.
    #[command(subcommand)]
    Entry(entry::Command),
    /// Make and verify selective disclosures of private fields.
    #[command(subcommand)]
    Disclose(disclose::Command),
    /// Verify offline that an entry is witnessed by a quorum's checkpoints.
    #[command(subcommand)]
    Witness(witness::Command),
    /// Print the EPCIS Event Hash ID of every event in an EPCIS document.
    EventHash(event_hash::Args),
    /// Verify a product's evidence bundle or a period bundle offline and print what it proves.
    Verify(verify::Args),
    /// Audit a whole ledger (a node or a data directory) and export verifiable period bundles.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Write the QR label (PNG or SVG) of a product's GS1 Digital Link.
    Qr(qr::Args),
    /// Run a member's node (the same as the `tally-node` binary).
    #[command(subcommand)]
    Node(node::Command),
    /// Run the demo consortium: five local nodes replicating a C2M story, until Ctrl-C.
    Demo(demo::Args),
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Keygen(args) => keygen::run(args),
        Command::Genesis(command) => genesis::run(command),
        Command::Governance(command) => governance::run(command),
        Command::Entry(command) => entry::run(command),
        Command::Disclose(command) => disclose::run(command),
        Command::Witness(command) => witness::run(command),
        Command::EventHash(args) => event_hash::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Audit(command) => audit::run(command),
        Command::Qr(args) => qr::run(args),
        Command::Node(command) => node::run(command),
        Command::Demo(args) => demo::run(args),
    }
}

/// Loads and verifies a signed genesis file.
pub fn load_genesis(
    path: &std::path::Path,
) -> Result<tally_sdk::membership::consortium::Consortium> {
    use anyhow::Context;
    let text = crate::files::read_text(path)?;
    tally_sdk::membership::consortium::Consortium::from_toml(&text)
        .with_context(|| format!("{} is not a valid signed genesis", path.display()))
}

/// Loads and verifies a signed genesis file and applies the consortium's change log, if one
/// is given: the consortium as it now stands, which offline checks judge by.
pub fn load_consortium(
    genesis: &std::path::Path,
    changes: Option<&std::path::Path>,
) -> Result<tally_sdk::membership::consortium::Consortium> {
    use anyhow::Context;
    let signed = load_genesis(genesis)?;
    let Some(path) = changes else {
        return Ok(signed);
    };
    let log = tally_sdk::membership::governance::ChangeLog::from_json(&crate::files::read(path)?)
        .with_context(|| format!("{} is not a valid change log", path.display()))?;
    log.apply_to(&signed).with_context(|| {
        format!(
            "the change log {} does not apply to the genesis {}",
            path.display(),
            genesis.display()
        )
    })
}

/// Loads a member key file.
pub fn load_keys(path: &std::path::Path) -> Result<tally_sdk::membership::keyfile::MemberKeys> {
    use anyhow::Context;
    let text = crate::files::read_text(path)?;
    tally_sdk::membership::keyfile::MemberKeys::from_toml(&text)
        .with_context(|| format!("{} is not a valid key file", path.display()))
}
