//! Applying governance changes to a consortium: the next change's draft, a founder's approval,
//! and the checks a change must pass against the consortium as it stands.

use std::collections::BTreeSet;

use crate::crypto::{PublicKey, SigningKey, X25519PublicKey};
use crate::domain::signing;
use crate::hash::ChangeHash;
use crate::ids::MemberId;
use crate::membership::genesis::{MAX_MEMBERS, check_addresses, check_member, check_peer_id};
use crate::membership::governance::{
    Action, Approval, CHANGE_FORMAT, ChangeBody, ChangeLog, GovernanceError, MAX_REASON_CHARS,
    SignedChange, invalid,
};
use crate::time::Timestamp;

use super::Consortium;

impl ChangeBody {
    /// A draft of the next change to `genesis`.
    pub fn next(
        genesis: &Consortium,
        timestamp: Timestamp,
        reason: String,
        action: Action,
    ) -> Self {
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
}

impl SignedChange {
    /// Adds `founder`'s approval, signed with `key`, replacing any earlier one of its. Checks
    /// that the key is the founder's current key in `genesis`, so a wrong key fails here and
    /// not when the change is submitted.
    pub fn approve(
        &mut self,
        genesis: &Consortium,
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

impl ChangeLog {
    /// The consortium `genesis` becomes with every change of the log applied, in order.
    pub fn apply_to(&self, genesis: &Consortium) -> Result<Consortium, GovernanceError> {
        genesis.with_changes(&self.changes)
    }
}

/// A current founder's current signing key.
fn founder_key(genesis: &Consortium, founder: &MemberId) -> Result<PublicKey, GovernanceError> {
    genesis
        .active_member(founder)
        .filter(|m| m.founder)
        .map(|m| m.signing_key)
        .ok_or_else(|| GovernanceError::NotAFounder(founder.clone()))
}

impl Consortium {
    /// Checks `change` against this consortium — its place in the order of changes, the
    /// founders' approvals and the membership rules — and returns the consortium with it
    /// applied. `self` is left as it was.
    pub fn apply(&self, change: &SignedChange) -> Result<Consortium, GovernanceError> {
        let (mut next, hash) = self.applied(&change.body)?;
        self.check_approvals(change, hash)?;
        next.record(change.clone(), hash);
        Ok(next)
    }

    /// Checks a change before approval: everything [`Consortium::apply`] checks but the
    /// approvals.
    pub fn check_draft(&self, body: &ChangeBody) -> Result<(), GovernanceError> {
        self.applied(body).map(|_| ())
    }

    /// The consortium with `body`'s action applied, after checking its place in the order of
    /// changes; and the change hash.
    fn applied(&self, body: &ChangeBody) -> Result<(Consortium, ChangeHash), GovernanceError> {
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
    ) -> Result<Consortium, GovernanceError> {
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
