//! The demo consortium's members as tests play them: [`DemoMembers`] keeps each member's keys
//! and chain tip and signs events into the right chain (with private fields committed), so a
//! test reads as the supply-chain story it checks.

use std::collections::BTreeMap;

use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::privacy::disclosure::{CommitLimits, OpenedField, PrivateCommitment, commit};
use tally_sdk::time::Timestamp;

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
        let (seq, prev) = self.next_place(&author);
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
        let at = Timestamp(self.clock);
        let entry = self.sign_next(&author, seq, prev, &event, commitment, at)?;
        Ok((entry, opened))
    }

    /// Signs `event` (no private fields) as the next entry of `member`'s chain with the
    /// timestamp `at` (when its node recorded it); the clock does not move.
    pub fn write_at(
        &mut self,
        member: &str,
        event: serde_json::Value,
        at: Timestamp,
    ) -> Result<SignedEntry, Error> {
        let author = MemberId::new(member)?;
        let (seq, prev) = self.next_place(&author);
        self.sign_next(&author, seq, prev, &event, None, at)
    }

    fn next_place(&self, author: &MemberId) -> (u64, Option<EntryHash>) {
        match self.tips.get(author) {
            Some((seq, hash)) => (seq + 1, Some(*hash)),
            None => (0, None),
        }
    }

    fn sign_next(
        &mut self,
        author: &MemberId,
        seq: u64,
        prev: Option<EntryHash>,
        event: &serde_json::Value,
        commitment: Option<PrivateCommitment>,
        at: Timestamp,
    ) -> Result<SignedEntry, Error> {
        let entry = UnsignedEntry::event(
            self.genesis.network_id(),
            author.clone(),
            seq,
            prev,
            at,
            Vec::new(),
            event,
            commitment,
        )?
        .sign(&self.keys(author.as_str())?.signing)?;
        self.tips.insert(author.clone(), (seq, entry.hash()?));
        Ok(entry)
    }
}
