//! `tally keygen`: a member's new key file, and the public half for the genesis.

use std::path::PathBuf;

use anyhow::Result;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::keyfile::MemberKeys;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The member id the keys are for (lowercase letters, digits, '-', '_').
    #[arg(long)]
    member: MemberId,
    /// Where to write the key file (must not exist; written with mode 0600).
    #[arg(short, long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let keys = MemberKeys::generate(args.member)?;
    let header = "# Tally member key file. SECRET: whoever holds it can sign as this member.\n";
    crate::files::write_new(&args.out, keys.to_toml(header).as_bytes(), true)?;
    println!("wrote {}", args.out.display());
    println!("member:      {}", keys.member);
    println!("signing_key: {}", keys.signing.public_key());
    println!("x25519_key:  {}", keys.x25519.public_key().to_hex());
    println!("peer_id:     {}", keys.peer_id());
    Ok(())
}
