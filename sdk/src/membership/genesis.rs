//! The genesis: the signed document that defines a consortium.
//!
//! A genesis is a human-editable TOML file naming the consortium, its members (roles, Ed25519
//! signing key, X25519 key for private data, libp2p peer id and addresses), the roles and the
//! event kinds each may write, which roles may read which private field, the witness quorum and
//! limits. Founding members sign it; the hash of the document is the [`NetworkId`] that every
//! entry names.
//!
//! * The document's identity is its canonical binary encoding, not its text: comments,
//!   whitespace and key order in the TOML do not change the network id; any change of content
//!   does.
//! * The signatures sit at the end of the same file as `[[signatures]]` tables, each a founder's
//!   signature over the network id; they are not part of the hashed document (they sign it).
//! * [`SignedGenesis::verify`] (in [`crate::membership::consortium`]) is the only way to a consortium: a
//!   validated document with enough valid founder signatures, which the rest of the SDK trusts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::crypto::{PublicKey, Signature, SigningKey, X25519PublicKey};
use crate::domain::signing;
use crate::event::KindName;
use crate::hash::NetworkId;
use crate::ids::{FieldName, MemberId, RoleName};
use crate::time::Timestamp;

/// The genesis format this SDK writes. It reads format 1 too: a format-1 document has no
/// `disputes` section and is judged by [`DisputeRules::default`].
pub const GENESIS_FORMAT: u16 = 2;

/// The first genesis format, without a `disputes` section.
pub const GENESIS_FORMAT_V1: u16 = 1;

/// How long after an event it may be recorded before it is taken as backdated, unless the
/// genesis says otherwise: EPCIS events are often captured hours after they happen.
pub const DEFAULT_MAX_REPORTING_DELAY_MS: u64 = 72 * 3_600_000;

/// Most members a genesis may list.
pub const MAX_MEMBERS: usize = 1024;

/// A genesis is malformed, inconsistent or not properly signed.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file is not valid TOML or does not have the expected fields.
    #[error("the genesis file cannot be read: {0}")]
    Parse(String),
    /// The format number is not one this software reads.
    #[error(
        "genesis format {found} is not supported (this software reads formats {GENESIS_FORMAT_V1} and {GENESIS_FORMAT})"
    )]
    Format {
        /// The format found.
        found: u16,
    },
    /// A rule of consistency is broken.
    #[error("invalid genesis: {0}")]
    Invalid(String),
    /// A signature is not by a founding member.
    #[error("the genesis is signed by {0}, which is not a founding member")]
    NotAFounder(MemberId),
    /// A member signed twice.
    #[error("the genesis carries two signatures by {0}")]
    DuplicateSignature(MemberId),
    /// A signature does not verify: the document was changed after signing, or it is forged.
    #[error(
        "the signature of {0} does not match this genesis: the file was changed after it was signed, or the signature is not theirs"
    )]
    BadSignature(MemberId),
    /// Fewer valid founder signatures than the threshold.
    #[error("the genesis has {have} founder signatures but needs {need}")]
    NotEnoughSignatures {
        /// Valid signatures present.
        have: usize,
        /// Signatures required.
        need: usize,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
}

fn invalid(message: impl Into<String>) -> GenesisError {
    GenesisError::Invalid(message.into())
}

/// Limits every node enforces on every entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest encoded signed entry, in bytes.
    pub max_entry_bytes: u32,
    /// Largest canonical event JSON, in bytes.
    pub max_event_bytes: u32,
    /// Most references to other entries.
    pub max_refs: u32,
    /// Most private fields per entry.
    pub max_private_fields: u32,
    /// Largest private field value (canonical JSON), in bytes.
    pub max_private_value_bytes: u32,
    /// How far in the future an entry's timestamp may be, in milliseconds.
    pub max_clock_skew_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entry_bytes: 65_536,
            max_event_bytes: 32_768,
            max_refs: 16,
            max_private_fields: 32,
            max_private_value_bytes: 4_096,
            max_clock_skew_ms: 300_000,
        }
    }
}

/// A role and the event kinds it may write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The role's name.
    pub name: RoleName,
    /// What it is for, in words.
    pub description: String,
    /// The event kinds a member with this role may write.
    pub may_write: Vec<KindName>,
}

/// How disputes are judged ([`crate::reports::responsibility`]): which roles inspect items they do
/// not hold, and how long after an event it may be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeRules {
    /// Roles whose quality inspections count for blame even when their member does not hold
    /// the item (a regulator, an independent inspector). Any other member's inspection counts
    /// only while it holds the item.
    pub inspector_roles: Vec<RoleName>,
    /// How long after its `eventTime` an event may be recorded, in milliseconds; an event
    /// recorded later is flagged backdated and never moves blame.
    pub max_reporting_delay_ms: u64,
}

impl Default for DisputeRules {
    fn default() -> Self {
        Self {
            inspector_roles: Vec::new(),
            max_reporting_delay_ms: DEFAULT_MAX_REPORTING_DELAY_MS,
        }
    }
}

/// Which roles may read one private field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateFieldPolicy {
    /// The field.
    pub name: FieldName,
    /// What it holds, in words.
    pub description: String,
    /// The roles that may read it (besides the member that captured it).
    pub readers: Vec<RoleName>,
}

/// A member of the consortium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's id, used in entries.
    pub id: MemberId,
    /// The organisation's name.
    pub name: String,
    /// The member's roles.
    pub roles: Vec<RoleName>,
    /// Whether the member is a founder (founders sign the genesis).
    pub founder: bool,
    /// The key that signs the member's entries and checkpoints.
    pub signing_key: PublicKey,
    /// The key private field values are encrypted to.
    pub x25519_key: X25519PublicKey,
    /// The libp2p peer id of the member's node.
    pub peer_id: String,
    /// Where the member's node listens (libp2p multiaddrs), for bootstrapping.
    pub addresses: Vec<String>,
}

/// The genesis document: everything the founders agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDocument {
    /// Format number ([`GENESIS_FORMAT`]).
    pub format: u16,
    /// The consortium's name.
    pub consortium: String,
    /// When the genesis was drawn up.
    pub created: Timestamp,
    /// How many founders must sign.
    pub founders_threshold: u32,
    /// How many members' checkpoints make an entry witnessed.
    pub witness_quorum: u32,
    /// Limits on entries.
    pub limits: Limits,
    /// The roles.
    pub roles: Vec<Role>,
    /// The private fields and who may read them.
    pub private_fields: Vec<PrivateFieldPolicy>,
    /// The members.
    pub members: Vec<Member>,
    /// How disputes are judged (format 2; [`DisputeRules::default`] when absent). Last, and
    /// left out of the encoding when absent, so a format-1 document keeps its network id; a
    /// present section always adds bytes after the members, so no two documents share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disputes: Option<DisputeRules>,
}

/// One founder's signature over the network id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSignature {
    /// The signing founder.
    pub member: MemberId,
    /// Its signature over the network id.
    pub signature: Signature,
}

impl GenesisDocument {
    /// Parses a genesis document from TOML (a `signatures` array, if present, is ignored).
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        SignedGenesis::from_toml(text).map(|s| s.document)
    }

    /// The network id: the hash of the canonical encoding of the document.
    pub fn network_id(&self) -> Result<NetworkId, GenesisError> {
        let bytes = codec::encode("genesis document", self)?;
        Ok(NetworkId::digest(&bytes))
    }

    /// Checks every consistency rule that does not involve signatures.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.format != GENESIS_FORMAT && self.format != GENESIS_FORMAT_V1 {
            return Err(GenesisError::Format { found: self.format });
        }
        if self.format == GENESIS_FORMAT_V1 && self.disputes.is_some() {
            return Err(invalid(
                "a disputes section needs format 2 (format 1 predates it)",
            ));
        }
        if self.consortium.trim().is_empty() {
            return Err(invalid("the consortium needs a name"));
        }
        if self.members.is_empty() {
            return Err(invalid("the genesis lists no members"));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(invalid(format!("more than {MAX_MEMBERS} members")));
        }
        let mut roles = BTreeSet::new();
        for role in &self.roles {
            if !roles.insert(&role.name) {
                return Err(invalid(format!("role {} is defined twice", role.name)));
            }
            let mut kinds = BTreeSet::new();
            for kind in &role.may_write {
                if !kinds.insert(kind) {
                    return Err(invalid(format!("role {} lists {kind} twice", role.name)));
                }
            }
        }
        let mut fields = BTreeSet::new();
        for field in &self.private_fields {
            if !fields.insert(&field.name) {
                return Err(invalid(format!(
                    "private field {} is defined twice",
                    field.name
                )));
            }
            for reader in &field.readers {
                if !roles.contains(reader) {
                    return Err(invalid(format!(
                        "private field {} names unknown role {reader} as a reader",
                        field.name
                    )));
                }
            }
        }
        if let Some(disputes) = &self.disputes {
            let mut inspectors = BTreeSet::new();
            for role in &disputes.inspector_roles {
                if !roles.contains(role) {
                    return Err(invalid(format!(
                        "disputes: inspector role {role} is not defined"
                    )));
                }
                if !inspectors.insert(role) {
                    return Err(invalid(format!(
                        "disputes: inspector role {role} is listed twice"
                    )));
                }
            }
            if disputes.max_reporting_delay_ms == 0 {
                return Err(invalid("disputes: max_reporting_delay_ms must be positive"));
            }
        }
        let mut ids = BTreeSet::new();
        let mut signing_keys = BTreeSet::new();
        let mut x25519_keys = BTreeSet::new();
        let mut peer_ids = BTreeSet::new();
        for member in &self.members {
            if !ids.insert(&member.id) {
                return Err(invalid(format!("member {} is listed twice", member.id)));
            }
            check_member(member, &roles).map_err(GenesisError::Invalid)?;
            if !signing_keys.insert(member.signing_key.to_bytes()) {
                return Err(invalid(format!(
                    "member {} uses a signing key another member already uses",
                    member.id
                )));
            }
            if !x25519_keys.insert(member.x25519_key.to_bytes()) {
                return Err(invalid(format!(
                    "member {} uses an X25519 key another member already uses",
                    member.id
                )));
            }
            if !peer_ids.insert(member.peer_id.as_str()) {
                return Err(invalid(format!(
                    "member {} uses a peer id another member already uses",
                    member.id
                )));
            }
        }
        let founders = self.members.iter().filter(|m| m.founder).count();
        if founders == 0 {
            return Err(invalid("no member is marked as a founder"));
        }
        if self.founders_threshold == 0 || self.founders_threshold as usize > founders {
            return Err(invalid(format!(
                "founders_threshold is {} but must be between 1 and the {founders} founders",
                self.founders_threshold
            )));
        }
        if self.witness_quorum == 0 || self.witness_quorum as usize > self.members.len() {
            return Err(invalid(format!(
                "witness_quorum is {} but must be between 1 and the {} members",
                self.witness_quorum,
                self.members.len()
            )));
        }
        let l = &self.limits;
        if l.max_entry_bytes < 1024
            || l.max_event_bytes == 0
            || l.max_event_bytes >= l.max_entry_bytes
        {
            return Err(invalid(
                "limits: max_entry_bytes must be at least 1024 and larger than max_event_bytes, which must be positive",
            ));
        }
        if l.max_private_fields == 0 || l.max_private_value_bytes == 0 {
            return Err(invalid(
                "limits: max_private_fields and max_private_value_bytes must be positive",
            ));
        }
        Ok(())
    }
}

/// The rules one member's description must meet on its own: a name, known roles, a libp2p
/// peer id, multiaddr addresses. Uniqueness against the other members is the caller's.
pub(crate) fn check_member(member: &Member, roles: &BTreeSet<&RoleName>) -> Result<(), String> {
    if member.name.trim().is_empty() {
        return Err(format!("member {} needs a name", member.id));
    }
    if member.roles.is_empty() {
        return Err(format!("member {} has no role", member.id));
    }
    for role in &member.roles {
        if !roles.contains(role) {
            return Err(format!("member {} has unknown role {role}", member.id));
        }
    }
    check_peer_id(&member.id, &member.peer_id)?;
    check_addresses(&member.id, &member.addresses)
}

pub(crate) fn check_peer_id(member: &MemberId, peer_id: &str) -> Result<(), String> {
    if is_peer_id(peer_id) {
        Ok(())
    } else {
        Err(format!(
            "member {member} has peer id {peer_id:?}, which is not a libp2p Ed25519 peer id (12D3KooW...)"
        ))
    }
}

pub(crate) fn check_addresses(member: &MemberId, addresses: &[String]) -> Result<(), String> {
    match addresses.iter().find(|a| !a.starts_with('/')) {
        None => Ok(()),
        Some(address) => Err(format!(
            "member {member} has address {address:?}, which is not a multiaddr like /ip4/127.0.0.1/tcp/7000"
        )),
    }
}

/// The longest base58 text that can decode to 38 bytes, the length of an Ed25519 peer id:
/// one character per leading zero byte and about 1.37 per other byte, so 52 at most.
const MAX_PEER_ID_CHARS: usize = 52;

/// Whether `text` is the base58 form of a libp2p Ed25519 peer id (identity multihash of the
/// protobuf-encoded key).
fn is_peer_id(text: &str) -> bool {
    // Base58 decoding takes time quadratic in the text's length (a 64 kB peer id in a
    // genesis file or a membership change took about 2 s), so text too long to be a peer id
    // is refused before it is decoded.
    if text.len() > MAX_PEER_ID_CHARS {
        return false;
    }
    let Ok(bytes) = bs58::decode(text).into_vec() else {
        return false;
    };
    bytes.len() == 38 && bytes[..6] == [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]
}

/// A genesis document with its founders' signatures, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedGenesis {
    /// The document.
    pub document: GenesisDocument,
    /// The signatures, in file order.
    pub signatures: Vec<GenesisSignature>,
}

impl SignedGenesis {
    /// Parses a genesis file (document plus optional `[[signatures]]`).
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        let signatures = match table.remove("signatures") {
            None => Vec::new(),
            Some(value) => value
                .try_into()
                .map_err(|e: toml::de::Error| GenesisError::Parse(format!("signatures: {e}")))?,
        };
        let document: GenesisDocument = table
            .try_into()
            .map_err(|e: toml::de::Error| GenesisError::Parse(e.to_string()))?;
        Ok(Self {
            document,
            signatures,
        })
    }

    /// The whole file as TOML: a header comment, the document, then the signatures.
    pub fn to_toml(&self, header: &str) -> Result<String, GenesisError> {
        let mut text = String::from(header);
        text.push_str(
            &toml::to_string(&self.document).map_err(|e| GenesisError::Parse(e.to_string()))?,
        );
        for signature in &self.signatures {
            text.push_str(&Self::signature_toml(signature));
        }
        Ok(text)
    }

    /// The TOML text of one signature, to append to a genesis file.
    pub fn signature_toml(signature: &GenesisSignature) -> String {
        format!(
            "\n[[signatures]]\nmember = \"{}\"\nsignature = \"{}\"\n",
            signature.member,
            signature.signature.to_hex()
        )
    }

    /// Validates the document and checks the founders' signatures; returns its network id.
    /// `SignedGenesis::verify` (in the consortium module) builds the consortium on it.
    pub fn check(&self) -> Result<NetworkId, GenesisError> {
        self.document.validate()?;
        let network_id = self.document.network_id()?;
        let mut signed = BTreeSet::new();
        for sig in &self.signatures {
            let member = self
                .document
                .members
                .iter()
                .find(|m| m.id == sig.member && m.founder)
                .ok_or_else(|| GenesisError::NotAFounder(sig.member.clone()))?;
            if !signed.insert(&sig.member) {
                return Err(GenesisError::DuplicateSignature(sig.member.clone()));
            }
            member
                .signing_key
                .verify(signing::GENESIS, network_id.as_bytes(), &sig.signature)
                .map_err(|_| GenesisError::BadSignature(sig.member.clone()))?;
        }
        let need = self.document.founders_threshold as usize;
        if signed.len() < need {
            return Err(GenesisError::NotEnoughSignatures {
                have: signed.len(),
                need,
            });
        }
        Ok(network_id)
    }
}

/// Signs a genesis document as `member`.
pub fn sign_document(
    document: &GenesisDocument,
    member: &MemberId,
    key: &SigningKey,
) -> Result<GenesisSignature, GenesisError> {
    let listed = document
        .members
        .iter()
        .find(|m| &m.id == member)
        .ok_or_else(|| invalid(format!("{member} is not a member of this genesis")))?;
    if !listed.founder {
        return Err(GenesisError::NotAFounder(member.clone()));
    }
    if listed.signing_key != key.public_key() {
        return Err(invalid(format!(
            "the key given is not the signing key the genesis lists for {member}"
        )));
    }
    let network_id = document.network_id()?;
    Ok(GenesisSignature {
        member: member.clone(),
        signature: key.sign(signing::GENESIS, network_id.as_bytes()),
    })
}

#[cfg(test)]
pub(crate) mod tests;
