//! Shared helpers of the workspace-level end-to-end tests in `tests/tests/`.
//!
//! [`DemoMembers`] plays the members of the demo consortium: it keeps each member's chain tip
//! and signs events into the right chain, so a test reads as the supply-chain story it checks.
//! [`fuzz`] is the stable mutation fuzzer of every decoder that takes outside input, run by
//! the `fuzz` binary and, briefly, by `tests/fuzz.rs`.

use std::collections::BTreeMap;

use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::privacy::disclosure::{CommitLimits, OpenedField, commit};
use tally_sdk::time::Timestamp;

pub mod fuzz;

/// The path of a file in the shared external test data, next to the repository.
pub fn shared_data(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(relative)
}

/// The demo consortium with every member's keys and chain tips.
#[derive(Debug)]
pub struct DemoMembers {
    /// The verified genesis.
    pub genesis: Consortium,
    keys: BTreeMap<MemberId, MemberKeys>,
    tips: BTreeMap<MemberId, (u64, EntryHash)>,
    clock: u64,
}

/// Why a test consortium could not act.
pub type Error = Box<dyn std::error::Error>;

impl DemoMembers {
    /// The demo consortium, with empty chains.
    pub fn demo() -> Result<Self, Error> {
        let (signed, keys) = demo_consortium()?;
        Ok(Self {
            genesis: signed.verify()?,
            keys: keys.into_iter().map(|k| (k.member.clone(), k)).collect(),
            tips: BTreeMap::new(),
            clock: 1_772_326_800_000,
        })
    }

    /// The time the next entry will carry.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.clock)
    }

    /// A member's keys.
    pub fn keys(&self, member: &str) -> Result<&MemberKeys, Error> {
        self.keys
            .get(&MemberId::new(member)?)
            .ok_or_else(|| format!("no member {member}").into())
    }

    /// Signs `event` (with optional private fields) as the next entry of `member`'s chain.
    pub fn write(
        &mut self,
        member: &str,
        event: serde_json::Value,
        private: &[(&str, serde_json::Value)],
    ) -> Result<(SignedEntry, Vec<OpenedField>), Error> {
        let author = MemberId::new(member)?;
        let (seq, prev) = match self.tips.get(&author) {
            Some((seq, hash)) => (seq + 1, Some(*hash)),
            None => (0, None),
        };
        let (commitment, opened) = if private.is_empty() {
            (None, Vec::new())
        } else {
            let mut fields = BTreeMap::new();
            for (name, value) in private {
                fields.insert(FieldName::new(*name)?, CanonicalJson::from_value(value)?);
            }
            let (commitment, opened) = commit(fields, &CommitLimits::default())?;
            (Some(commitment), opened)
        };
        self.clock += 60_000;
        let entry = UnsignedEntry::event(
            self.genesis.network_id(),
            author.clone(),
            seq,
            prev,
            Timestamp(self.clock),
            Vec::new(),
            &event,
            commitment,
        )?
        .sign(&self.keys(member)?.signing)?;
        self.tips.insert(author, (seq, entry.hash()?));
        Ok((entry, opened))
    }
}
