//! Governance: membership changes after the genesis — admitting a member, removing one,
//! rotating a member's keys — each approved by as many founders as the genesis's
//! `founders_threshold`.
//!
//! Changes are numbered from 1 and hash-chained (each names the hash of the one before), so
//! there is one order of changes and every node that applies the same changes reaches the same
//! consortium: [`Consortium::apply`](crate::membership::consortium::Consortium::apply) takes the consortium as it stands and returns the next one.
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

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{PublicKey, Signature, X25519PublicKey};
use crate::hash::{ChangeHash, NetworkId};
use crate::ids::MemberId;
use crate::membership::genesis::Member;
use crate::time::Timestamp;

/// The change format this SDK writes and reads.
pub const CHANGE_FORMAT: u16 = 1;

/// Longest reason a change may give, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;

/// The signing key a member used from one point of its chain on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEpoch {
    /// The key.
    pub key: PublicKey,
    /// The first entry sequence number this key signs.
    pub entries_from: u64,
    /// The first checkpoint number this key signs.
    pub checkpoints_from: u64,
}

/// Where a removed member's record ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    /// Entries with a smaller sequence number stay valid; none from this one on is.
    pub entries_below: u64,
    /// Checkpoints with a smaller number stay valid; none from this one on is.
    pub checkpoints_below: u64,
}

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

pub(crate) fn invalid(message: impl Into<String>) -> GovernanceError {
    GovernanceError::Invalid(message.into())
}

#[cfg(test)]
pub(crate) mod tests;
