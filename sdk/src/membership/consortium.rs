//! The consortium in force ([`Consortium`]): the signed genesis document with the governance
//! changes applied since, each member's standing over time (keys by position, removals), and
//! the lookups every rule uses. The document itself, as signed, is [`crate::membership::genesis`]'s; the
//! changes, as signed, are [`crate::membership::governance`]'s; applying them is `changes`'.

use std::collections::{BTreeMap, BTreeSet};

use crate::crypto::PublicKey;
use crate::event::KindName;
use crate::hash::{ChangeHash, NetworkId};
use crate::ids::{FieldName, MemberId, RoleName};
use crate::membership::genesis::{
    DisputeRules, GenesisDocument, GenesisError, GenesisSignature, Limits, Member, SignedGenesis,
};
use crate::membership::governance::{KeyEpoch, Removal, SignedChange};

mod changes;

impl SignedGenesis {
    /// Validates the document and checks the founders' signatures: the only way to a
    /// [`Consortium`], which the rest of the SDK trusts.
    pub fn verify(self) -> Result<Consortium, GenesisError> {
        let network_id = self.check()?;
        Consortium::new(self, network_id)
    }
}

/// A member's standing over time: the keys it signed with and, if it was removed, where its
/// record ends. Entries and checkpoints are judged by the key of their position, so history
/// stays verifiable after a rotation or a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Signing keys, oldest first; positions ascend.
    pub keys: Vec<KeyEpoch>,
    /// Set once the member is removed.
    pub removed: Option<Removal>,
}

impl Standing {
    fn new(key: PublicKey) -> Self {
        Self {
            keys: vec![KeyEpoch {
                key,
                entries_from: 0,
                checkpoints_from: 0,
            }],
            removed: None,
        }
    }

    /// The key that signs entry `seq`, or `None` if the member was removed before it.
    pub fn entry_key(&self, seq: u64) -> Option<PublicKey> {
        if self.removed.is_some_and(|r| seq >= r.entries_below) {
            return None;
        }
        self.keys
            .iter()
            .rev()
            .find(|epoch| epoch.entries_from <= seq)
            .map(|epoch| epoch.key)
    }

    /// The key that signs checkpoint `number`, or `None` if the member was removed before it.
    pub fn checkpoint_key(&self, number: u64) -> Option<PublicKey> {
        if self.removed.is_some_and(|r| number >= r.checkpoints_below) {
            return None;
        }
        self.keys
            .iter()
            .rev()
            .find(|epoch| epoch.checkpoints_from <= number)
            .map(|epoch| epoch.key)
    }
}

/// A verified consortium: a consistent genesis document with enough founder signatures, and
/// the governance changes applied to it since ([`crate::membership::governance`]).
#[derive(Debug, Clone)]
pub struct Consortium {
    pub(crate) signed: SignedGenesis,
    pub(crate) network_id: NetworkId,
    /// Every member ever admitted, in order of admission, with its current details.
    pub(crate) roster: Vec<Member>,
    /// Parallel to `roster`.
    pub(crate) standing: Vec<Standing>,
    pub(crate) index: BTreeMap<MemberId, usize>,
    /// The members not removed, in order of admission.
    pub(crate) active: Vec<Member>,
    pub(crate) may_write: BTreeMap<RoleName, BTreeSet<KindName>>,
    pub(crate) readers: BTreeMap<FieldName, BTreeSet<RoleName>>,
    pub(crate) changes: Vec<SignedChange>,
    pub(crate) last_change: Option<ChangeHash>,
}

impl Consortium {
    pub(crate) fn new(signed: SignedGenesis, network_id: NetworkId) -> Result<Self, GenesisError> {
        let doc = &signed.document;
        let roster = doc.members.clone();
        let standing = roster
            .iter()
            .map(|m| Standing::new(m.signing_key))
            .collect();
        let index = roster
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let may_write = doc
            .roles
            .iter()
            .map(|r| (r.name.clone(), r.may_write.iter().copied().collect()))
            .collect();
        let readers = doc
            .private_fields
            .iter()
            .map(|f| (f.name.clone(), f.readers.iter().cloned().collect()))
            .collect();
        Ok(Self {
            active: roster.clone(),
            signed,
            network_id,
            roster,
            standing,
            index,
            may_write,
            readers,
            changes: Vec::new(),
            last_change: None,
        })
    }

    /// Reads and verifies a signed genesis file's text.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        SignedGenesis::from_toml(text)?.verify()
    }

    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        self.network_id
    }

    /// The document.
    pub fn document(&self) -> &GenesisDocument {
        &self.signed.document
    }

    /// The founders' signatures.
    pub fn signatures(&self) -> &[GenesisSignature] {
        &self.signed.signatures
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.signed.document.limits
    }

    /// How disputes are judged: the document's section, or the defaults.
    pub fn dispute_rules(&self) -> DisputeRules {
        self.signed.document.disputes.clone().unwrap_or_default()
    }

    /// Whether `member` has a role the genesis marks as inspector.
    pub fn is_inspector(&self, member: &MemberId) -> bool {
        let Some(disputes) = &self.signed.document.disputes else {
            return false;
        };
        self.member(member).is_some_and(|m| {
            m.roles
                .iter()
                .any(|role| disputes.inspector_roles.contains(role))
        })
    }

    /// The witness quorum.
    pub fn witness_quorum(&self) -> usize {
        self.signed.document.witness_quorum as usize
    }

    /// How many founders must approve a governance change.
    pub fn founders_threshold(&self) -> usize {
        self.signed.document.founders_threshold as usize
    }

    /// The current members (not removed), in order of admission, with their current details.
    pub fn members(&self) -> &[Member] {
        &self.active
    }

    /// Every member ever admitted, removed ones included, in order of admission: the chains
    /// a node holds.
    pub fn all_members(&self) -> &[Member] {
        &self.roster
    }

    /// A member by id, current or removed (a removed member's earlier entries stay valid).
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.index.get(id).and_then(|&i| self.roster.get(i))
    }

    /// A current (not removed) member by id.
    pub fn active_member(&self, id: &MemberId) -> Option<&Member> {
        self.member(id).filter(|_| self.is_active(id))
    }

    /// Whether `id` is a member that has not been removed.
    pub fn is_active(&self, id: &MemberId) -> bool {
        self.standing(id).is_some_and(|s| s.removed.is_none())
    }

    /// A member's keys over time and removal, current or removed.
    pub fn standing(&self, id: &MemberId) -> Option<&Standing> {
        self.index.get(id).and_then(|&i| self.standing.get(i))
    }

    /// The current member whose node has this libp2p peer id.
    pub fn member_by_peer_id(&self, peer_id: &str) -> Option<&Member> {
        self.active.iter().find(|m| m.peer_id == peer_id)
    }

    /// Whether `member` may write events of `kind`.
    pub fn may_write(&self, member: &Member, kind: KindName) -> bool {
        member.roles.iter().any(|role| {
            self.may_write
                .get(role)
                .is_some_and(|kinds| kinds.contains(&kind))
        })
    }

    /// Whether the policy knows the private field.
    pub fn knows_field(&self, field: &FieldName) -> bool {
        self.readers.contains_key(field)
    }

    /// Whether `member` may read private field `field` (the field's author always may).
    pub fn may_read(&self, member: &Member, field: &FieldName) -> bool {
        self.readers
            .get(field)
            .is_some_and(|roles| member.roles.iter().any(|r| roles.contains(r)))
    }

    /// Whether holders of role `role` may read private field `field`.
    pub fn role_may_read(&self, role: &str, field: &FieldName) -> bool {
        self.readers
            .get(field)
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == role))
    }

    /// The governance changes applied, in order.
    pub fn changes(&self) -> &[SignedChange] {
        &self.changes
    }

    /// The hash of the last change applied, if any: the next change's `previous`.
    pub fn last_change(&self) -> Option<ChangeHash> {
        self.last_change
    }

    /// The roles the genesis defines.
    pub(crate) fn role_names(&self) -> BTreeSet<&RoleName> {
        self.signed.document.roles.iter().map(|r| &r.name).collect()
    }

    /// Admits a member (the caller checked it may be admitted).
    pub(crate) fn admit(&mut self, member: Member) {
        self.index.insert(member.id.clone(), self.roster.len());
        self.standing.push(Standing::new(member.signing_key));
        self.active.push(member.clone());
        self.roster.push(member);
    }

    /// Changes a member's details and standing in place, keeping the active list in step.
    pub(crate) fn update(
        &mut self,
        id: &MemberId,
        change: impl FnOnce(&mut Member, &mut Standing),
    ) {
        if let Some(&i) = self.index.get(id)
            && let (Some(member), Some(standing)) =
                (self.roster.get_mut(i), self.standing.get_mut(i))
        {
            change(member, standing);
        }
        let standing = &self.standing;
        let index = &self.index;
        self.active = self
            .roster
            .iter()
            .filter(|m| {
                index
                    .get(&m.id)
                    .and_then(|&i| standing.get(i))
                    .is_some_and(|s| s.removed.is_none())
            })
            .cloned()
            .collect();
    }

    /// Records an applied change.
    pub(crate) fn record(&mut self, change: SignedChange, hash: ChangeHash) {
        self.changes.push(change);
        self.last_change = Some(hash);
    }
}
