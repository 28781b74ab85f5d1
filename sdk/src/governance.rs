//! Governance: membership changes after the genesis — admitting a member, removing one,
//! rotating a member's keys — each approved by as many founders as the genesis's
//! `founders_threshold`.
//!
//! Changes are numbered from 1 and hash-chained (each names the hash of the one before), so
//! there is one order of changes and every node that applies the same changes reaches the same
//! consortium: [`Genesis::apply`] takes the consortium as it stands and returns the next one.
//! Approvals are checked against the consortium *before* the change: the founders current
//! then, with their keys current then.
//!
//! Rotations and removals take effect at a position in the member's records, not at a time,
//! because positions are what every node agrees on: a rotation names the first entry sequence
//! number and the first checkpoint number the new key signs (earlier ones stay valid under the
//! old key); a removal names the first entry and checkpoint number that is no longer accepted
//! (earlier ones stay valid). A removed member's chain stays in every node and verifies; its
//! node may no longer connect.
//!
//! Hashes: the change hash is `SHA-256("tally/v1/change\0" || postcard(body))`; a founder's
//! approval is its signature over `"tally/v1/sign/change\0" || change hash`. See
//! `docs/formats.md` and `docs/protocol.md`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{PublicKey, Signature, SigningKey, X25519PublicKey};
use crate::domain::signing;
use crate::genesis::{
    Genesis, KeyEpoch, MAX_MEMBERS, Member, Removal, check_addresses, check_member, check_peer_id,
};
use crate::hash::{ChangeHash, NetworkId};
use crate::ids::MemberId;
use crate::time::Timestamp;

/// The change format this SDK writes and reads.
pub const CHANGE_FORMAT: u16 = 1;

/// Longest reason a change may give, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Admits a new member. Its chain starts empty; its node may connect once the change is
    /// applied.
    AddMember(Member),
    /// Removes a member: its entries from `entries_below` on and its checkpoints from
    /// `checkpoints_below` on are refused; earlier ones stay valid.
    RemoveMember {
        /// The member.
        member: MemberId,
        /// Where its record ends.
        until: Removal,
    },
    /// Replaces some of a member's keys and node details. At least one is given.
    RotateKeys {
        /// The member.
        member: MemberId,
        /// A new signing key and the first entry and checkpoint it signs.
        signing: Option<KeyEpoch>,
        /// A new X25519 key for private data sent to the member from now on.
        x25519_key: Option<X25519PublicKey>,
        /// A new libp2p peer id for the member's node.
        peer_id: Option<String>,
        /// New addresses of the member's node.
        addresses: Option<Vec<String>>,
    },
}

impl Action {
    /// The member the change is about.
    pub fn member(&self) -> &MemberId {
        match self {
            Action::AddMember(member) => &member.id,
            Action::RemoveMember { member, .. } | Action::RotateKeys { member, .. } => member,
        }
    }

    /// A short name for logs and listings.
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddMember(_) => "add_member",
            Action::RemoveMember { .. } => "remove_member",
            Action::RotateKeys { .. } => "rotate_keys",
        }
    }
}

/// What the founders approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// Format number ([`CHANGE_FORMAT`]).
    pub format: u16,
    /// The consortium.
    pub network: NetworkId,
    /// The change's number: 1 for the first change after the genesis.
    pub number: u64,
    /// The hash of change `number - 1`; `None` for the first.
    pub previous: Option<ChangeHash>,
    /// When the change was drawn up.
    pub timestamp: Timestamp,
    /// Why, in words, for the record.
    pub reason: String,
    /// What it does.
    pub action: Action,
}

impl ChangeBody {
    /// A draft of the next change to `genesis`.
    pub fn next(genesis: &Genesis, timestamp: Timestamp, reason: String, action: Action) -> Self {
        Self {
            format: CHANGE_FORMAT,
            network: genesis.network_id(),
            number: genesis.changes().len() as u64 + 1,
            previous: genesis.last_change(),
            timestamp,
            reason,
            action,
        }
    }

    /// The change hash, which the founders sign.
    pub fn hash(&self) -> Result<ChangeHash, CodecError> {
        Ok(ChangeHash::digest(&codec::encode("change body", self)?))
    }
}

/// One founder's approval of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The founder.
    pub member: MemberId,
    /// Its signature over the change hash.
    pub signature: Signature,
}

/// A change with its approvals, not yet checked: what nodes exchange and store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedChange {
    /// The change.
    pub body: ChangeBody,
    /// The founders' approvals.
    pub approvals: Vec<Approval>,
}

impl SignedChange {
    /// A change with no approvals yet.
    pub fn draft(body: ChangeBody) -> Self {
        Self {
            body,
            approvals: Vec::new(),
        }
    }

    /// Adds `founder`'s approval, signed with `key`, replacing any earlier one of its. Checks
    /// that the key is the founder's current key in `genesis`, so a wrong key fails here and
    /// not when the change is submitted.
    pub fn approve(
        &mut self,
        genesis: &Genesis,
        founder: &MemberId,
        key: &SigningKey,
    ) -> Result<(), GovernanceError> {
        let current = founder_key(genesis, founder)?;
        if current != key.public_key() {
            return Err(GovernanceError::BadApproval(founder.clone()));
        }
        let hash = self.body.hash()?;
        self.approvals.retain(|a| &a.member != founder);
        self.approvals.push(Approval {
            member: founder.clone(),
            signature: key.sign(signing::CHANGE, hash.as_bytes()),
        });
        Ok(())
    }
}

/// The changes made to a consortium, in order: the file (JSON) operators keep beside the
/// genesis and a node applies at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeLog {
    /// Format number ([`CHANGE_FORMAT`]).
    pub format: u16,
    /// The changes, from number 1 on.
    pub changes: Vec<SignedChange>,
}

impl ChangeLog {
    /// A log with no changes.
    pub fn new() -> Self {
        Self {
            format: CHANGE_FORMAT,
            changes: Vec::new(),
        }
    }

    /// Reads a log from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GovernanceError> {
        let log: Self =
            serde_json::from_slice(bytes).map_err(|e| GovernanceError::Parse(e.to_string()))?;
        if log.format != CHANGE_FORMAT {
            return Err(GovernanceError::Format(log.format));
        }
        Ok(log)
    }

    /// The consortium `genesis` becomes with every change of the log applied, in order.
    pub fn apply_to(&self, genesis: &Genesis) -> Result<Genesis, GovernanceError> {
        genesis.with_changes(&self.changes)
    }
}

impl Default for ChangeLog {
    fn default() -> Self {
        Self::new()
    }
}

/// A change cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// The JSON is not a change or change log.
    #[error("not a valid change or change log: {0}")]
    Parse(String),
    /// Unknown format.
    #[error("change format {0} is not supported (this software reads format {CHANGE_FORMAT})")]
    Format(u16),
    /// Another consortium's change.
    #[error("the change belongs to network {got}, not this network {expected}")]
    WrongNetwork {
        /// This network.
        expected: NetworkId,
        /// The change's network.
        got: NetworkId,
    },
    /// Not the next change.
    #[error("this consortium's next change is number {expected}, not {got}")]
    OutOfOrder {
        /// The next number.
        expected: u64,
        /// The change's number.
        got: u64,
    },
    /// Does not follow the last change applied.
    #[error(
        "change {number} does not follow the last change applied here (its previous hash differs): it was drawn up against another history"
    )]
    WrongPrevious {
        /// The change's number.
        number: u64,
    },
    /// Timestamped before what it follows.
    #[error(
        "change {number} is timestamped {got}, before the change or genesis it follows ({after})"
    )]
    TimeGoesBack {
        /// The change's number.
        number: u64,
        /// Its timestamp.
        got: Timestamp,
        /// The timestamp it follows.
        after: Timestamp,
    },
    /// The reason is too long.
    #[error("a change's reason is at most {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    /// An approver is not a current founder.
    #[error("{0} is not a current founding member, so it cannot approve changes")]
    NotAFounder(MemberId),
    /// A founder approved twice.
    #[error("the change carries two approvals by {0}")]
    DuplicateApproval(MemberId),
    /// An approval does not verify.
    #[error(
        "the approval of {0} does not match this change: the change was edited after approval, or the signature is not by the founder's current key"
    )]
    BadApproval(MemberId),
    /// Too few approvals.
    #[error("the change has {have} founder approvals but needs {need}")]
    NotEnoughApprovals {
        /// Valid approvals.
        have: usize,
        /// Required.
        need: usize,
    },
    /// The action breaks a membership rule.
    #[error("the change cannot be applied: {0}")]
    Invalid(String),
    /// A change of a sequence failed.
    #[error("change {number}: {source}")]
    InChange {
        /// The change's number as it states it.
        number: u64,
        /// Why.
        source: Box<GovernanceError>,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

fn invalid(message: impl Into<String>) -> GovernanceError {
    GovernanceError::Invalid(message.into())
}

/// A current founder's current signing key.
fn founder_key(genesis: &Genesis, founder: &MemberId) -> Result<PublicKey, GovernanceError> {
    genesis
        .active_member(founder)
        .filter(|m| m.founder)
        .map(|m| m.signing_key)
        .ok_or_else(|| GovernanceError::NotAFounder(founder.clone()))
}

impl Genesis {
    /// Checks `change` against this consortium — its place in the order of changes, the
    /// founders' approvals and the membership rules — and returns the consortium with it
    /// applied. `self` is left as it was.
    pub fn apply(&self, change: &SignedChange) -> Result<Genesis, GovernanceError> {
        let (mut next, hash) = self.applied(&change.body)?;
        self.check_approvals(change, hash)?;
        next.record(change.clone(), hash);
        Ok(next)
    }

    /// Checks a change before approval: everything [`Genesis::apply`] checks but the
    /// approvals.
    pub fn check_draft(&self, body: &ChangeBody) -> Result<(), GovernanceError> {
        self.applied(body).map(|_| ())
    }

    /// The consortium with `body`'s action applied, after checking its place in the order of
    /// changes; and the change hash.
    fn applied(&self, body: &ChangeBody) -> Result<(Genesis, ChangeHash), GovernanceError> {
        if body.format != CHANGE_FORMAT {
            return Err(GovernanceError::Format(body.format));
        }
        if body.network != self.network_id() {
            return Err(GovernanceError::WrongNetwork {
                expected: self.network_id(),
                got: body.network,
            });
        }
        let expected = self.changes().len() as u64 + 1;
        if body.number != expected {
            return Err(GovernanceError::OutOfOrder {
                expected,
                got: body.number,
            });
        }
        if body.previous != self.last_change() {
            return Err(GovernanceError::WrongPrevious {
                number: body.number,
            });
        }
        let after = self
            .changes()
            .last()
            .map_or(self.document().created, |c| c.body.timestamp);
        if body.timestamp < after {
            return Err(GovernanceError::TimeGoesBack {
                number: body.number,
                got: body.timestamp,
                after,
            });
        }
        if body.reason.chars().count() > MAX_REASON_CHARS {
            return Err(GovernanceError::ReasonTooLong);
        }
        let hash = body.hash()?;
        let mut next = self.clone();
        next.apply_action(&body.action)?;
        Ok((next, hash))
    }

    /// Applies changes in order, stopping at the first that fails (the error names its
    /// number).
    pub fn with_changes<'c>(
        &self,
        changes: impl IntoIterator<Item = &'c SignedChange>,
    ) -> Result<Genesis, GovernanceError> {
        let mut consortium = self.clone();
        for change in changes {
            consortium = consortium
                .apply(change)
                .map_err(|source| GovernanceError::InChange {
                    number: change.body.number,
                    source: Box::new(source),
                })?;
        }
        Ok(consortium)
    }

    fn check_approvals(
        &self,
        change: &SignedChange,
        hash: ChangeHash,
    ) -> Result<(), GovernanceError> {
        let mut approved = BTreeSet::new();
        for approval in &change.approvals {
            let key = founder_key(self, &approval.member)?;
            if !approved.insert(&approval.member) {
                return Err(GovernanceError::DuplicateApproval(approval.member.clone()));
            }
            key.verify(signing::CHANGE, hash.as_bytes(), &approval.signature)
                .map_err(|_| GovernanceError::BadApproval(approval.member.clone()))?;
        }
        let need = self.founders_threshold();
        if approved.len() < need {
            return Err(GovernanceError::NotEnoughApprovals {
                have: approved.len(),
                need,
            });
        }
        Ok(())
    }

    fn apply_action(&mut self, action: &Action) -> Result<(), GovernanceError> {
        match action {
            Action::AddMember(member) => {
                if self.member(&member.id).is_some() {
                    return Err(invalid(format!(
                        "{} is or was a member already; a removed member's id is not reused",
                        member.id
                    )));
                }
                if self.all_members().len() >= MAX_MEMBERS {
                    return Err(invalid(format!(
                        "the consortium has had {MAX_MEMBERS} members, the most it may"
                    )));
                }
                check_member(member, &self.role_names()).map_err(GovernanceError::Invalid)?;
                self.check_signing_key_unused(&member.signing_key)?;
                self.check_x25519_key_unused(&member.x25519_key, None)?;
                self.check_peer_id_unused(&member.peer_id, None)?;
                self.admit(member.clone());
            }
            Action::RemoveMember { member, until } => {
                let removed = self
                    .active_member(member)
                    .ok_or_else(|| invalid(format!("{member} is not a current member")))?;
                let founders_left = self
                    .members()
                    .iter()
                    .filter(|m| m.founder && &m.id != member)
                    .count();
                if removed.founder && founders_left < self.founders_threshold() {
                    return Err(invalid(format!(
                        "removing {member} would leave {founders_left} founders, fewer than the {} needed to approve changes",
                        self.founders_threshold()
                    )));
                }
                let members_left = self.members().len() - 1;
                if members_left < self.witness_quorum() {
                    return Err(invalid(format!(
                        "removing {member} would leave {members_left} members, fewer than the witness quorum of {}",
                        self.witness_quorum()
                    )));
                }
                let until = *until;
                self.update(member, |_, standing| standing.removed = Some(until));
            }
            Action::RotateKeys {
                member,
                signing,
                x25519_key,
                peer_id,
                addresses,
            } => {
                let current = self
                    .active_member(member)
                    .ok_or_else(|| invalid(format!("{member} is not a current member")))?;
                if signing.is_none()
                    && x25519_key.is_none()
                    && peer_id.is_none()
                    && addresses.is_none()
                {
                    return Err(invalid(
                        "a rotation must replace at least one key or detail",
                    ));
                }
                if let Some(epoch) = signing {
                    self.check_signing_key_unused(&epoch.key)?;
                    let last = self
                        .standing(member)
                        .and_then(|s| s.keys.last().copied())
                        .ok_or_else(|| invalid(format!("{member} has no signing key")))?;
                    if epoch.entries_from < last.entries_from
                        || epoch.checkpoints_from < last.checkpoints_from
                    {
                        return Err(invalid(format!(
                            "the new key of {member} must take over at or after entry {} and checkpoint {}, where its current key took over",
                            last.entries_from, last.checkpoints_from
                        )));
                    }
                }
                if let Some(key) = x25519_key
                    && key != &current.x25519_key
                {
                    self.check_x25519_key_unused(key, Some(member))?;
                }
                if let Some(peer_id) = peer_id {
                    check_peer_id(member, peer_id).map_err(GovernanceError::Invalid)?;
                    self.check_peer_id_unused(peer_id, Some(member))?;
                }
                if let Some(addresses) = addresses {
                    check_addresses(member, addresses).map_err(GovernanceError::Invalid)?;
                }
                self.update(member, |details, standing| {
                    if let Some(epoch) = signing {
                        details.signing_key = epoch.key;
                        standing.keys.push(*epoch);
                    }
                    if let Some(key) = x25519_key {
                        details.x25519_key = *key;
                    }
                    if let Some(peer_id) = peer_id {
                        details.peer_id.clone_from(peer_id);
                    }
                    if let Some(addresses) = addresses {
                        details.addresses.clone_from(addresses);
                    }
                });
            }
        }
        Ok(())
    }

    /// A signing key may serve one member once: a key any member ever used (a retired one
    /// included) could otherwise make old signatures count for someone else.
    fn check_signing_key_unused(&self, key: &PublicKey) -> Result<(), GovernanceError> {
        let used = self.all_members().iter().any(|m| {
            self.standing(&m.id)
                .is_some_and(|s| s.keys.iter().any(|epoch| &epoch.key == key))
        });
        if used {
            Err(invalid(
                "the signing key is one a member uses or used; every key must be new",
            ))
        } else {
            Ok(())
        }
    }

    fn check_x25519_key_unused(
        &self,
        key: &X25519PublicKey,
        except: Option<&MemberId>,
    ) -> Result<(), GovernanceError> {
        if self
            .all_members()
            .iter()
            .any(|m| Some(&m.id) != except && &m.x25519_key == key)
        {
            Err(invalid("the X25519 key is one another member uses or used"))
        } else {
            Ok(())
        }
    }

    fn check_peer_id_unused(
        &self,
        peer_id: &str,
        except: Option<&MemberId>,
    ) -> Result<(), GovernanceError> {
        if self
            .all_members()
            .iter()
            .any(|m| Some(&m.id) != except && m.peer_id == peer_id)
        {
            Err(invalid("the peer id is one another member uses or used"))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
