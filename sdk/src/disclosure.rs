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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    fn field(name: &str) -> FieldName {
        FieldName::new(name).unwrap()
    }

    fn value(v: serde_json::Value) -> CanonicalJson {
        CanonicalJson::from_value(&v).unwrap()
    }

    fn sample() -> BTreeMap<FieldName, CanonicalJson> {
        [
            ("consumer.name", json!("Li Wei")),
            ("consumer.address", json!("88 Example Road")),
            ("order.spec", json!({"fabric": "linen"})),
        ]
        .into_iter()
        .map(|(n, v)| (field(n), value(v)))
        .collect()
    }

    fn sha(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    /// The leaf from the documented definition, without the crate's codec or hash types.
    fn leaf_by_hand(salt: [u8; 16], name: &str, json: &str) -> [u8; 32] {
        assert!(
            name.len() < 128 && json.len() < 128,
            "one-byte varints only"
        );
        let mut data = salt.to_vec();
        data.push(name.len() as u8);
        data.extend_from_slice(name.as_bytes());
        data.push(json.len() as u8);
        data.extend_from_slice(json.as_bytes());
        let inner = sha(&[b"tally/v1/disclosure-leaf\0", &data]);
        sha(&[&[0x00], &inner])
    }

    #[test]
    fn pinned_leaf_vector() {
        const PINNED: &str = "a7368bac3dd5254dab1bb00c145e3400df5954e07c075fee6110756b69ab523c";
        let by_hand = leaf_by_hand([0x11; 16], "consumer.address", "\"1 Example Road\"");
        assert_eq!(hex::encode(by_hand), PINNED);
        let f = OpenedField {
            name: field("consumer.address"),
            value: value(json!("1 Example Road")),
            salt: Salt::from_bytes([0x11; 16]),
        };
        assert_eq!(f.leaf().unwrap().to_hex(), PINNED);
    }

    #[test]
    fn pinned_commitment_vector() {
        // The private root of the entry in docs/test-vectors.json: two leaves, so the root is
        // H(0x01 || leaf0 || leaf1).
        const PINNED: &str = "0f460b48ecb84c003df880ab5dd4ae8e2deb6deffe807e286c1bc9435ad80fe5";
        let spec = r#"{"colour":"red","size":42}"#;
        let leaf0 = leaf_by_hand([0x11; 16], "consumer.address", "\"1 Example Road\"");
        let leaf1 = leaf_by_hand([0x22; 16], "order.spec", spec);
        assert_eq!(hex::encode(sha(&[&[0x01], &leaf0, &leaf1])), PINNED);

        let fields = BTreeMap::from([
            (
                field("order.spec"),
                value(json!({"size": 42, "colour": "red"})),
            ),
            (field("consumer.address"), value(json!("1 Example Road"))),
        ]);
        let salts = vec![Salt::from_bytes([0x11; 16]), Salt::from_bytes([0x22; 16])];
        let (commitment, opened) = commit_with_salts(fields, salts).unwrap();
        assert_eq!(commitment.root.to_hex(), PINNED);
        assert_eq!(
            commitment.fields,
            vec![field("consumer.address"), field("order.spec")]
        );
        assert_eq!(opened[1].value.as_str(), spec);
        verify_complete(&commitment, &opened).unwrap();
    }

    #[test]
    fn commit_sorts_fields_and_draws_fresh_salts() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        commitment.check().unwrap();
        assert_eq!(
            commitment.fields,
            vec![
                field("consumer.address"),
                field("consumer.name"),
                field("order.spec")
            ]
        );
        let names: Vec<FieldName> = opened.iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, commitment.fields);
        verify_complete(&commitment, &opened).unwrap();

        let (again, opened_again) = commit(sample(), &CommitLimits::default()).unwrap();
        let mut salts: Vec<Salt> = opened.iter().map(|f| f.salt).collect();
        salts.extend(opened_again.iter().map(|f| f.salt));
        let distinct: BTreeSet<[u8; SALT_LEN]> = salts.iter().map(|s| s.to_bytes()).collect();
        assert_eq!(
            distinct.len(),
            6,
            "salts repeat within or between commitments"
        );
        assert_ne!(again.root, commitment.root);
        assert_eq!(again.fields, commitment.fields);
    }

    #[test]
    fn commit_with_salts_is_deterministic() {
        let salts = || (1..=3).map(|i| Salt::from_bytes([i; 16])).collect();
        let a = commit_with_salts(sample(), salts()).unwrap();
        let b = commit_with_salts(sample(), salts()).unwrap();
        assert_eq!(a, b);
        assert!(matches!(
            commit_with_salts(sample(), vec![Salt::from_bytes([1; 16])]),
            Err(DisclosureError::SaltCount {
                fields: 3,
                salts: 1
            })
        ));
        assert!(matches!(
            commit_with_salts(BTreeMap::new(), vec![]),
            Err(DisclosureError::Empty)
        ));
    }

    #[test]
    fn limits_are_enforced() {
        assert_eq!(
            CommitLimits::default(),
            CommitLimits {
                max_fields: 32,
                max_value_bytes: 4096
            }
        );
        let limits = CommitLimits {
            max_fields: 2,
            max_value_bytes: 10,
        };
        assert!(matches!(
            commit(sample(), &limits),
            Err(DisclosureError::TooManyFields { count: 3, limit: 2 })
        ));
        let mut one = BTreeMap::new();
        one.insert(field("a.b"), value(json!("a value longer than ten bytes")));
        let err = commit(one, &limits).unwrap_err();
        assert!(matches!(
            err,
            DisclosureError::ValueTooLarge { size: 31, .. }
        ));
        assert!(err.to_string().contains("private field a.b"), "{err}");
        assert!(matches!(
            commit(BTreeMap::new(), &limits),
            Err(DisclosureError::Empty)
        ));
        // Exactly at the limits is allowed: "12345678" is 10 bytes of JSON.
        let at_limit = BTreeMap::from([
            (field("a"), value(json!("12345678"))),
            (field("b"), value(json!(1))),
        ]);
        commit(at_limit, &limits).unwrap();
    }

    #[test]
    fn disclose_and_verify_subsets() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        let all = commitment.fields.clone();
        for names in [
            vec![field("consumer.address")],
            vec![field("order.spec"), field("consumer.address")],
            all.clone(),
        ] {
            let d = disclose(&commitment, &opened, &names).unwrap();
            d.verify(&commitment).unwrap();
            // Fields come out in name order, whatever order they were asked for.
            let got: Vec<FieldName> = d.fields.iter().map(|f| f.name.clone()).collect();
            let mut want = names.clone();
            want.sort();
            assert_eq!(got, want);
            // Any order of the disclosed fields verifies.
            let mut reversed = d.clone();
            reversed.fields.reverse();
            reversed.verify(&commitment).unwrap();
        }
        // The opened fields may be held in any order.
        let mut shuffled = opened.clone();
        shuffled.reverse();
        disclose(&commitment, &shuffled, &[field("consumer.name")])
            .unwrap()
            .verify(&commitment)
            .unwrap();
    }

    #[test]
    fn a_single_field_is_checked_with_its_inclusion_proof() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        let d = disclose(&commitment, &opened, &[field("consumer.name")]).unwrap();
        assert_eq!(d.proof.positions, vec![1]);
        verify_opened(&commitment, &d.fields, &d.proof).unwrap();
        let mut altered = d.fields[0].clone();
        altered.value = value(json!("Li Wei "));
        let err = verify_opened(&commitment, &[altered], &d.proof).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value of field consumer.name does not match the signed commitment (its value, \
             salt or proof was altered, or it was disclosed from another entry)"
        );
    }

    #[test]
    fn disclose_refuses_bad_requests_and_mismatched_opened_fields() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        let address = field("consumer.address");
        assert!(matches!(
            disclose(&commitment, &opened, &[]),
            Err(DisclosureError::Empty)
        ));
        assert!(matches!(
            disclose(&commitment, &opened, &[field("order.price")]),
            Err(DisclosureError::UnknownField(f)) if f.as_str() == "order.price"
        ));
        assert!(matches!(
            disclose(&commitment, &opened, &[field("order.spec"), field("order.spec")]),
            Err(DisclosureError::DuplicateField(f)) if f.as_str() == "order.spec"
        ));
        // A field the commitment names is missing from the opened fields.
        assert!(matches!(
            disclose(&commitment, &opened[1..], &[field("order.spec")]),
            Err(DisclosureError::NotOpened(f)) if f == address
        ));
        // An opened field the commitment does not name, or one held twice.
        let mut extra = opened.clone();
        extra.push(OpenedField {
            name: field("order.price"),
            ..opened[0].clone()
        });
        assert!(matches!(
            disclose(&commitment, &extra, &[field("order.spec")]),
            Err(DisclosureError::UnknownField(_))
        ));
        let mut twice = opened.clone();
        twice.push(opened[2].clone());
        assert!(matches!(
            disclose(&commitment, &twice, &[field("order.spec")]),
            Err(DisclosureError::DuplicateField(_))
        ));
        // A value that is not the committed one, even in a field not disclosed.
        let mut wrong = opened.clone();
        wrong[0].value = value(json!("1 Other Road"));
        assert!(matches!(
            disclose(&commitment, &wrong, &[field("order.spec")]),
            Err(DisclosureError::OpenedMismatch)
        ));
        assert!(matches!(
            verify_complete(&commitment, &wrong),
            Err(DisclosureError::OpenedMismatch)
        ));
        // Another entry's opened fields.
        let (_, others) = commit(sample(), &CommitLimits::default()).unwrap();
        assert!(matches!(
            disclose(&commitment, &others, &[address]),
            Err(DisclosureError::OpenedMismatch)
        ));
    }

    #[test]
    fn verification_failures_name_the_fault() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        let d = disclose(
            &commitment,
            &opened,
            &[field("consumer.address"), field("order.spec")],
        )
        .unwrap();

        let mut bad = d.clone();
        bad.fields[1].value = value(json!({"fabric": "silk"}));
        let err = bad.verify(&commitment).unwrap_err();
        assert!(
            matches!(&err, DisclosureError::FieldsMismatch(f) if f.len() == 2),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("the values of fields consumer.address, order.spec do not all match"),
            "{err}"
        );

        let mut bad = d.clone();
        bad.fields.clear();
        assert!(matches!(
            bad.verify(&commitment),
            Err(DisclosureError::Empty)
        ));

        let mut bad = d.clone();
        bad.fields[1].name = field("order.price");
        assert!(matches!(
            bad.verify(&commitment),
            Err(DisclosureError::UnknownField(_))
        ));

        let mut bad = d.clone();
        bad.fields.push(d.fields[0].clone());
        assert!(matches!(
            bad.verify(&commitment),
            Err(DisclosureError::DuplicateField(_))
        ));

        // Renamed to another committed field: the proof is for other fields.
        let mut bad = d.clone();
        bad.fields[1].name = field("consumer.name");
        let err = bad.verify(&commitment).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the proof is for fields consumer.address, order.spec but fields consumer.address, \
             consumer.name were disclosed"
        );

        // A field dropped from the disclosure.
        let mut bad = d.clone();
        bad.fields.pop();
        assert!(matches!(
            bad.verify(&commitment),
            Err(DisclosureError::ProofForOtherFields { .. })
        ));

        // A proof for another tree size.
        let mut bad = d.clone();
        bad.proof.leaf_count = 4;
        assert!(matches!(
            bad.verify(&commitment),
            Err(DisclosureError::Proof(MerkleError::SizeMismatch {
                proof: 4,
                tree: 3
            }))
        ));

        // Malformed commitments.
        let mut unsorted = commitment.clone();
        unsorted.fields.swap(0, 1);
        assert!(matches!(
            d.verify(&unsorted),
            Err(DisclosureError::UnsortedCommitment(_))
        ));
        let mut repeated = commitment.clone();
        repeated.fields[1] = repeated.fields[0].clone();
        assert!(matches!(
            d.verify(&repeated),
            Err(DisclosureError::UnsortedCommitment(_))
        ));
        let empty = PrivateCommitment {
            root: commitment.root,
            fields: vec![],
        };
        assert!(matches!(
            d.verify(&empty),
            Err(DisclosureError::EmptyCommitment)
        ));

        // Another entry's commitment to the same values (fresh salts).
        let (other, _) = commit(sample(), &CommitLimits::default()).unwrap();
        assert!(matches!(
            d.verify(&other),
            Err(DisclosureError::FieldsMismatch(_))
        ));
    }

    #[test]
    fn salts_and_values_stay_out_of_debug_output() {
        let (_, opened) = commit_with_salts(
            BTreeMap::from([(field("consumer.address"), value(json!("88 Example Road")))]),
            vec![Salt::from_bytes([0xab; 16])],
        )
        .unwrap();
        let shown = format!("{opened:?}");
        assert!(shown.contains("consumer.address"), "{shown}");
        assert!(!shown.contains("Example"), "{shown}");
        assert!(!shown.contains("ab"), "{shown}");
    }

    #[test]
    fn salts_are_hex_in_json_and_raw_in_binary() {
        let salt = Salt::from_bytes([0x5a; 16]);
        let json = serde_json::to_string(&salt).unwrap();
        assert_eq!(json, format!("\"{}\"", "5a".repeat(16)));
        assert_eq!(serde_json::from_str::<Salt>(&json).unwrap(), salt);
        assert_eq!(codec::encode("salt", &salt).unwrap(), vec![0x5a; 16]);
        assert_eq!(
            codec::decode::<Salt>("salt", &[0x5a; 16], 16).unwrap(),
            salt
        );
        let err = serde_json::from_str::<Salt>("\"abcd\"").unwrap_err();
        assert!(err.to_string().contains("32 hexadecimal digits"), "{err}");
        let err = serde_json::from_str::<Salt>(&format!("\"{}\"", "zz".repeat(16))).unwrap_err();
        assert!(err.to_string().contains("only hexadecimal"), "{err}");
        assert_ne!(Salt::random().unwrap(), Salt::random().unwrap());
    }

    #[test]
    fn commitments_and_disclosures_round_trip() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        let bytes = codec::encode("commitment", &commitment).unwrap();
        // 32 root bytes, then the names as a length-prefixed list of strings.
        assert_eq!(&bytes[..32], commitment.root.as_bytes());
        assert_eq!(bytes[32], 3);
        assert_eq!(
            codec::decode::<PrivateCommitment>("commitment", &bytes, 1 << 10).unwrap(),
            commitment
        );
        let d = disclose(&commitment, &opened, &[field("order.spec")]).unwrap();
        let bytes = codec::encode("disclosure", &d).unwrap();
        let back: Disclosure = codec::decode("disclosure", &bytes, 1 << 16).unwrap();
        assert_eq!(back, d);
        back.verify(&commitment).unwrap();
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["fields"][0]["name"], "order.spec");
        assert_eq!(json["fields"][0]["value"], json!({"fabric": "linen"}));
        assert_eq!(
            json["fields"][0]["salt"],
            hex::encode(d.fields[0].salt.to_bytes())
        );
        let back: Disclosure = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            ".{0,40}".prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ("[a-z]{1,6}", ".{0,12}").prop_map(|(k, v)| json!({ k: v })),
        ]
    }

    fn field_map() -> impl Strategy<Value = BTreeMap<FieldName, CanonicalJson>> {
        proptest::collection::btree_map(
            "[a-z0-9][a-z0-9._-]{0,15}".prop_map(|n| field(&n)),
            json_value().prop_map(value),
            1..=DEFAULT_MAX_FIELDS,
        )
    }

    proptest! {
        #[test]
        fn any_subset_discloses_and_any_change_fails(
            fields in field_map(),
            pick in proptest::collection::vec(any::<bool>(), DEFAULT_MAX_FIELDS),
            which in any::<prop::sample::Index>(),
            byte in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (commitment, opened) = commit(fields.clone(), &CommitLimits::default()).unwrap();
            let mut names: Vec<FieldName> = commitment
                .fields
                .iter()
                .zip(&pick)
                .filter(|(_, p)| **p)
                .map(|(n, _)| n.clone())
                .collect();
            if names.is_empty() {
                names.push(commitment.fields[which.index(commitment.fields.len())].clone());
            }
            let d = disclose(&commitment, &opened, &names).unwrap();
            prop_assert!(d.verify(&commitment).is_ok());
            let i = which.index(d.fields.len());

            // Any bit of any byte of a salt.
            let mut bad = d.clone();
            let mut salt = bad.fields[i].salt.to_bytes();
            salt[byte.index(SALT_LEN)] ^= 1 << bit;
            bad.fields[i].salt = Salt::from_bytes(salt);
            prop_assert!(bad.verify(&commitment).is_err());

            // Any bit of any byte of a value, whenever the result is still JSON and a
            // different value; and a value that surely differs.
            let mut text = d.fields[i].value.as_bytes().to_vec();
            let at = byte.index(text.len());
            text[at] ^= 1 << bit;
            if let Ok(changed) = CanonicalJson::from_slice(&text, 1 << 16)
                && changed != d.fields[i].value {
                    let mut bad = d.clone();
                    bad.fields[i].value = changed;
                    prop_assert!(bad.verify(&commitment).is_err());
                }
            let mut bad = d.clone();
            bad.fields[i].value = value(json!([d.fields[i].value.to_value().unwrap()]));
            prop_assert!(bad.verify(&commitment).is_err());

            // Renamed, to another committed field or to one the commitment does not name.
            if let Some(other) = commitment.fields.iter().find(|f| !names.contains(f)) {
                let mut bad = d.clone();
                bad.fields[i].name = other.clone();
                prop_assert!(bad.verify(&commitment).is_err());
            }
            let mut bad = d.clone();
            bad.fields[i].name = field(&format!("{}.x", d.fields[i].name));
            prop_assert!(bad.verify(&commitment).is_err());

            // Any bit of the proof's encoding (whenever it still decodes to another proof).
            let mut bytes = codec::encode("proof", &d.proof).unwrap();
            let at = byte.index(bytes.len());
            bytes[at] ^= 1 << bit;
            if let Ok(proof) = codec::decode::<MultiProof>("proof", &bytes, 1 << 16)
                && proof != d.proof {
                    let bad = Disclosure { proof, ..d.clone() };
                    prop_assert!(bad.verify(&commitment).is_err(), "byte {} bit {}", at, bit);
                }
            // Any bit of a sibling hash, specifically.
            if !d.proof.siblings.is_empty() {
                let mut bad = d.clone();
                let s = which.index(bad.proof.siblings.len());
                let mut hash = bad.proof.siblings[s].to_bytes();
                hash[byte.index(32)] ^= 1 << bit;
                bad.proof.siblings[s] = MerkleRoot::from_bytes(hash);
                prop_assert!(bad.verify(&commitment).is_err());
            }

            // Another entry's commitment: the same values with fresh salts, and the same
            // salts with one value changed.
            let (fresh, _) = commit(fields.clone(), &CommitLimits::default()).unwrap();
            prop_assert!(d.verify(&fresh).is_err());
            let mut changed = fields;
            let first = changed.keys().next().cloned().unwrap();
            changed.insert(first, value(json!("another value")));
            let salts = opened.iter().map(|f| f.salt).collect();
            let (neighbour, _) = commit_with_salts(changed.clone(), salts).unwrap();
            if neighbour.root != commitment.root {
                let d_for_first = disclose(&commitment, &opened, &[commitment.fields[0].clone()]).unwrap();
                prop_assert!(d_for_first.verify(&neighbour).is_err());
            }
        }
    }
}
