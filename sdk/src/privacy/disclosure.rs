//! Selective disclosure: an entry commits to its private fields (a consumer's address, an
//! order's specification) without revealing them, and the holder of the values can later
//! prove any chosen subset to anyone who has the signed entry.
//!
//! This is the idea of SD-JWT (RFC 9901) — salted digests of `[salt, name, value]` — with a
//! Merkle tree ([`crate::merkle`]) in place of SD-JWT's list of digests, so that any subset is
//! proven with one multi-proof.
//!
//! * Each private field is a [`FieldName`] and a value in canonical JSON ([`CanonicalJson`],
//!   usually a JSON string), and gets a fresh 128-bit [`Salt`] from the operating system's
//!   RNG. The salt is what keeps a guessable value (a postcode, a size) from being confirmed
//!   by hashing candidates against the public commitment.
//! * The leaf of a field is [`field_leaf`]:
//!
//!   ```text
//!   data  = postcard((salt, name, value))
//!         = salt (16 raw bytes)
//!           || varint(len(name))  || name  (UTF-8)
//!           || varint(len(value)) || value (canonical JSON, UTF-8)
//!   inner = SHA-256("tally/v1/disclosure-leaf\0" || data)     -- DisclosureLeafDomain
//!   leaf  = SHA-256(0x00 || inner)                             -- RFC 6962 leaf, LeafHash
//!   ```
//!
//! * The fields are sorted by name and leaf `i` is field `i`. The signed entry carries the
//!   [`PrivateCommitment`]: the Merkle root and the sorted field names. The names are public
//!   (a reader learns that an entry has a `consumer.address`); values and salts never are.
//! * The author keeps every [`OpenedField`] (name, value, salt). A [`Disclosure`] is a chosen
//!   subset of them with the multi-proof that binds them to the root; [`Disclosure::verify`]
//!   (the same check as [`verify_opened`], which a node applies to values it receives) needs
//!   only the commitment from the signed entry.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, CanonicalJson, CodecError};
use crate::crypto::{CryptoError, os_random};
use crate::domain::DisclosureLeafDomain;
use crate::hash::{Hash, LeafHash, MerkleRoot};
use crate::ids::FieldName;
use crate::merkle::{MAX_LEAVES, MerkleError, MerkleTree, MultiProof, root_of};

/// The length of a salt in bytes.
pub const SALT_LEN: usize = 16;

/// The default for [`CommitLimits::max_fields`].
pub const DEFAULT_MAX_FIELDS: usize = 32;

/// The default for [`CommitLimits::max_value_bytes`].
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4096;

/// A commitment cannot be made, or a disclosure does not hold.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    /// No fields to commit to or disclose.
    #[error("no private fields given: a commitment or a disclosure needs at least one")]
    Empty,
    /// More fields than the limits allow.
    #[error("{count} private fields given, but at most {limit} may be committed in one entry")]
    TooManyFields {
        /// How many were given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A value is larger than the limits allow.
    #[error(
        "the value of private field {field} is {size} bytes of canonical JSON, more than the \
         limit of {limit} bytes"
    )]
    ValueTooLarge {
        /// The field.
        field: FieldName,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// `commit_with_salts` was given a different number of salts than fields.
    #[error(
        "{fields} private fields but {salts} salts were given: give one salt per field, in \
         field-name order"
    )]
    SaltCount {
        /// Fields.
        fields: usize,
        /// Salts.
        salts: usize,
    },
    /// A field is not in the commitment.
    #[error("the commitment has no private field {0}")]
    UnknownField(FieldName),
    /// A field is named twice.
    #[error("private field {0} is given more than once")]
    DuplicateField(FieldName),
    /// The holder's opened fields lack a field the commitment names.
    #[error(
        "no opened value is held for private field {0}, which the commitment names: these \
         opened fields are not this entry's"
    )]
    NotOpened(FieldName),
    /// The holder's opened fields do not hash to the commitment's root.
    #[error(
        "the opened fields do not reproduce the commitment's root: a value or salt differs \
         from the ones committed, or they are another entry's"
    )]
    OpenedMismatch,
    /// A disclosed field does not match the commitment.
    #[error(
        "the value of field {0} does not match the signed commitment (its value, salt or proof \
         was altered, or it was disclosed from another entry)"
    )]
    Mismatch(FieldName),
    /// Disclosed fields do not match the commitment; with one proof for all of them, which one
    /// is wrong cannot be told.
    #[error(
        "the values of fields {} do not all match the signed commitment (a value, salt or the \
         proof was altered, or they were disclosed from another entry)",
        names(.0)
    )]
    FieldsMismatch(Vec<FieldName>),
    /// The proof was made for other fields than those disclosed.
    #[error("the proof is for fields {} but fields {} were disclosed", names(.proof), names(.disclosed))]
    ProofForOtherFields {
        /// The fields the proof covers.
        proof: Vec<FieldName>,
        /// The fields disclosed.
        disclosed: Vec<FieldName>,
    },
    /// A holding's leaves are not the commitment's.
    #[error(
        "the held leaves do not reproduce the commitment's root: these private fields are \
         another entry's, or were altered"
    )]
    LeavesMismatch,
    /// A field of the commitment whose value the holder does not have (never received, or
    /// purged).
    #[error("the value of private field {0} is not held here (never received, or purged)")]
    NotHeld(FieldName),
    /// The commitment names no fields.
    #[error("the commitment names no private fields, so nothing can be disclosed from it")]
    EmptyCommitment,
    /// The commitment's names are not sorted and unique, so positions are ambiguous.
    #[error(
        "the commitment is malformed: its field names must be sorted and unique, and {0} is \
         out of order or repeated"
    )]
    UnsortedCommitment(FieldName),
    /// The proof is malformed or for another tree.
    #[error("the disclosure's Merkle proof is invalid: {0}")]
    Proof(#[source] MerkleError),
    /// A field could not be encoded.
    #[error("could not encode a private field: {0}")]
    Codec(#[from] CodecError),
    /// The OS RNG failed, so no salts could be drawn.
    #[error("could not draw salts for the private fields: {0}")]
    Rng(#[from] CryptoError),
}

/// Field names for an error message, cut short.
fn names(fields: &[FieldName]) -> String {
    const SHOWN: usize = 8;
    let mut text: Vec<&str> = fields.iter().take(SHOWN).map(FieldName::as_str).collect();
    let more = format!("… {} in all", fields.len());
    if fields.len() > SHOWN {
        text.push(&more);
    }
    text.join(", ")
}

/// A salt: 16 random bytes. Hex in JSON (and other human-readable formats), raw bytes in
/// binary. Its `Debug` output never shows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Salt([u8; SALT_LEN]);

impl Salt {
    /// A fresh salt from the operating system's RNG.
    pub fn random() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; SALT_LEN];
        os_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A given salt (for test vectors, and for a holder restoring opened fields).
    pub const fn from_bytes(bytes: [u8; SALT_LEN]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn to_bytes(self) -> [u8; SALT_LEN] {
        self.0
    }

    /// The bytes, borrowed.
    pub const fn as_bytes(&self) -> &[u8; SALT_LEN] {
        &self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A salt is as secret as the value it protects until disclosed: keep it out of logs.
        f.write_str("Salt(..)")
    }
}

impl Serialize for Salt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.0))
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Salt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            if text.len() != 2 * SALT_LEN {
                return Err(serde::de::Error::custom(format_args!(
                    "a salt is {} hexadecimal digits, got {} characters",
                    2 * SALT_LEN,
                    text.len()
                )));
            }
            let mut bytes = [0u8; SALT_LEN];
            hex::decode_to_slice(&text, &mut bytes).map_err(|_| {
                serde::de::Error::custom("a salt may contain only hexadecimal digits 0-9 and a-f")
            })?;
            Ok(Self(bytes))
        } else {
            <[u8; SALT_LEN]>::deserialize(deserializer).map(Self)
        }
    }
}

/// The Merkle leaf of a private field (the exact bytes are in the module documentation).
pub fn field_leaf(
    salt: &Salt,
    name: &FieldName,
    value: &CanonicalJson,
) -> Result<LeafHash, CodecError> {
    let data = codec::encode("private field", &(salt, name, value))?;
    let inner = Hash::<DisclosureLeafDomain>::digest(&data);
    Ok(LeafHash::digest(inner.as_bytes()))
}

/// The public commitment to an entry's private fields, carried in the signed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateCommitment {
    /// The Merkle root over the field leaves.
    pub root: MerkleRoot,
    /// The field names, sorted ascending and unique; leaf `i` is field `fields[i]`.
    pub fields: Vec<FieldName>,
}

impl PrivateCommitment {
    /// Checks the commitment is well formed: at least one field, names sorted and unique.
    pub fn check(&self) -> Result<(), DisclosureError> {
        if self.fields.is_empty() {
            return Err(DisclosureError::EmptyCommitment);
        }
        if let Some(pair) = self.fields.windows(2).find(|pair| pair[0] >= pair[1]) {
            return Err(DisclosureError::UnsortedCommitment(pair[1].clone()));
        }
        if self.fields.len() > MAX_LEAVES {
            return Err(DisclosureError::Proof(MerkleError::TooLarge(
                self.fields.len() as u64,
            )));
        }
        Ok(())
    }

    /// The leaf position of a field (meaningful only if [`PrivateCommitment::check`] passes).
    pub fn position(&self, name: &FieldName) -> Option<u32> {
        let index = self.fields.binary_search(name).ok()?;
        u32::try_from(index).ok()
    }

    /// The number of leaves, after [`PrivateCommitment::check`].
    fn leaf_count(&self) -> Result<u32, DisclosureError> {
        u32::try_from(self.fields.len())
            .map_err(|_| DisclosureError::Proof(MerkleError::TooLarge(self.fields.len() as u64)))
    }
}

/// A private field with its salt: what the data holder keeps, and what a disclosure reveals.
/// Its `Debug` output shows the name only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedField {
    /// The field.
    pub name: FieldName,
    /// Its value.
    pub value: CanonicalJson,
    /// Its salt.
    pub salt: Salt,
}

impl OpenedField {
    /// The field's Merkle leaf.
    pub fn leaf(&self) -> Result<LeafHash, CodecError> {
        field_leaf(&self.salt, &self.name, &self.value)
    }
}

impl fmt::Debug for OpenedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are personal data (addresses, names): keep them out of logs and panics.
        f.debug_struct("OpenedField")
            .field("name", &self.name)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("salt", &self.salt)
            .finish()
    }
}

/// Limits on what may be committed (a consortium sets its own in the genesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitLimits {
    /// Most fields in one commitment.
    pub max_fields: usize,
    /// Largest value, in bytes of canonical JSON.
    pub max_value_bytes: usize,
}

impl Default for CommitLimits {
    fn default() -> Self {
        Self {
            max_fields: DEFAULT_MAX_FIELDS,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

/// Commits to `fields` with fresh salts from the OS RNG. Returns the public commitment and
/// the opened fields (in name order) that the caller must keep to disclose anything later.
pub fn commit(
    fields: BTreeMap<FieldName, CanonicalJson>,
    limits: &CommitLimits,
) -> Result<(PrivateCommitment, Vec<OpenedField>), DisclosureError> {
    if fields.is_empty() {
        return Err(DisclosureError::Empty);
    }
    if fields.len() > limits.max_fields {
        return Err(DisclosureError::TooManyFields {
            count: fields.len(),
            limit: limits.max_fields,
        });
    }
    if let Some((name, value)) = fields
        .iter()
        .find(|(_, value)| value.len() > limits.max_value_bytes)
    {
        return Err(DisclosureError::ValueTooLarge {
            field: name.clone(),
            size: value.len(),
            limit: limits.max_value_bytes,
        });
    }
    let salts = (0..fields.len())
        .map(|_| Salt::random())
        .collect::<Result<Vec<_>, _>>()?;
    commit_with_salts(fields, salts)
}

/// Commits to `fields` with the given salts, one per field in name order: deterministic, for
/// test vectors and for a holder re-deriving a commitment. Applies no limits; never reuse
/// salts across commitments.
pub fn commit_with_salts(
    fields: BTreeMap<FieldName, CanonicalJson>,
    salts: Vec<Salt>,
) -> Result<(PrivateCommitment, Vec<OpenedField>), DisclosureError> {
    if fields.is_empty() {
        return Err(DisclosureError::Empty);
    }
    if salts.len() != fields.len() {
        return Err(DisclosureError::SaltCount {
            fields: fields.len(),
            salts: salts.len(),
        });
    }
    let opened: Vec<OpenedField> = fields
        .into_iter()
        .zip(salts)
        .map(|((name, value), salt)| OpenedField { name, value, salt })
        .collect();
    let leaves = opened
        .iter()
        .map(OpenedField::leaf)
        .collect::<Result<Vec<_>, _>>()?;
    let commitment = PrivateCommitment {
        root: root_of(&leaves),
        fields: opened.iter().map(|f| f.name.clone()).collect(),
    };
    Ok((commitment, opened))
}

/// Some opened fields of one commitment, with the multi-proof that binds them to its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// The disclosed fields (`disclose` lists them in name order; any order verifies).
    pub fields: Vec<OpenedField>,
    /// The multi-proof of their leaves.
    pub proof: MultiProof,
}

impl Disclosure {
    /// Checks the disclosed fields against the commitment from the signed entry.
    pub fn verify(&self, commitment: &PrivateCommitment) -> Result<(), DisclosureError> {
        verify_opened(commitment, &self.fields, &self.proof)
    }
}

/// The holder's opened fields in the commitment's leaf order, each checked to be named by the
/// commitment exactly once.
fn in_leaf_order<'a>(
    commitment: &PrivateCommitment,
    opened: &'a [OpenedField],
) -> Result<Vec<&'a OpenedField>, DisclosureError> {
    commitment.check()?;
    let mut slots: Vec<Option<&OpenedField>> = vec![None; commitment.fields.len()];
    for field in opened {
        let slot = commitment
            .position(&field.name)
            .and_then(|p| slots.get_mut(p as usize))
            .ok_or_else(|| DisclosureError::UnknownField(field.name.clone()))?;
        if slot.replace(field).is_some() {
            return Err(DisclosureError::DuplicateField(field.name.clone()));
        }
    }
    slots
        .into_iter()
        .zip(&commitment.fields)
        .map(|(slot, name)| slot.ok_or_else(|| DisclosureError::NotOpened(name.clone())))
        .collect()
}

/// Checks that `opened` is the complete set of a commitment's fields and reproduces its root
/// (for a holder or node that has every value, and so needs no proof).
pub fn verify_complete(
    commitment: &PrivateCommitment,
    opened: &[OpenedField],
) -> Result<(), DisclosureError> {
    let ordered = in_leaf_order(commitment, opened)?;
    let leaves = ordered
        .iter()
        .map(|f| f.leaf())
        .collect::<Result<Vec<_>, _>>()?;
    if root_of(&leaves) == commitment.root {
        Ok(())
    } else if let [only] = ordered.as_slice() {
        Err(DisclosureError::Mismatch(only.name.clone()))
    } else {
        Err(DisclosureError::OpenedMismatch)
    }
}

/// Discloses the fields `names` of a commitment, from all the opened fields the holder keeps
/// for it (as `commit` returned them, in any order).
pub fn disclose(
    commitment: &PrivateCommitment,
    opened_all: &[OpenedField],
    names: &[FieldName],
) -> Result<Disclosure, DisclosureError> {
    if names.is_empty() {
        return Err(DisclosureError::Empty);
    }
    let ordered = in_leaf_order(commitment, opened_all)?;
    let mut positions = BTreeSet::new();
    for name in names {
        let position = commitment
            .position(name)
            .ok_or_else(|| DisclosureError::UnknownField(name.clone()))?;
        if !positions.insert(position) {
            return Err(DisclosureError::DuplicateField(name.clone()));
        }
    }
    let leaves = ordered
        .iter()
        .map(|f| f.leaf())
        .collect::<Result<Vec<_>, _>>()?;
    let tree = MerkleTree::new(leaves);
    if tree.root() != commitment.root {
        return Err(DisclosureError::OpenedMismatch);
    }
    let positions: Vec<u32> = positions.into_iter().collect();
    let proof = tree.prove(&positions).map_err(DisclosureError::Proof)?;
    let fields = positions
        .iter()
        .filter_map(|&p| ordered.get(p as usize).map(|f| (*f).clone()))
        .collect();
    let disclosure = Disclosure { fields, proof };
    // Cheap, and a disclosure that does not verify must never leave the holder.
    disclosure.verify(commitment)?;
    Ok(disclosure)
}

/// Checks opened fields against a commitment with the proof that binds them to its root: what
/// [`Disclosure::verify`] does, and what a node does with a field it receives (one field and
/// its inclusion proof).
///
/// Each field must be named by the commitment, once; its position is the commitment's, and the
/// proof must be for exactly those positions in a tree of the commitment's size.
pub fn verify_opened(
    commitment: &PrivateCommitment,
    fields: &[OpenedField],
    proof: &MultiProof,
) -> Result<(), DisclosureError> {
    if fields.is_empty() {
        return Err(DisclosureError::Empty);
    }
    commitment.check()?;
    let leaf_count = commitment.leaf_count()?;
    let mut seen = BTreeSet::new();
    let mut leaves = Vec::with_capacity(fields.len());
    for field in fields {
        let position = commitment
            .position(&field.name)
            .ok_or_else(|| DisclosureError::UnknownField(field.name.clone()))?;
        if !seen.insert(position) {
            return Err(DisclosureError::DuplicateField(field.name.clone()));
        }
        leaves.push((position, field.leaf()?));
    }
    let named = |positions: &[u32]| -> Vec<FieldName> {
        positions
            .iter()
            .filter_map(|&p| commitment.fields.get(p as usize).cloned())
            .collect()
    };
    proof
        .verify_with_size(&commitment.root, leaf_count, &leaves)
        .map_err(|e| match (e, fields) {
            (MerkleError::RootMismatch, [only]) => DisclosureError::Mismatch(only.name.clone()),
            (MerkleError::RootMismatch, _) => {
                DisclosureError::FieldsMismatch(fields.iter().map(|f| f.name.clone()).collect())
            }
            (MerkleError::PositionsDiffer { proof, given }, _) => {
                DisclosureError::ProofForOtherFields {
                    proof: named(&proof),
                    disclosed: named(&given),
                }
            }
            (e, _) => DisclosureError::Proof(e),
        })
}

#[cfg(test)]
mod tests;
