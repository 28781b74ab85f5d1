//! Selective disclosure: private fields committed as salted Merkle leaves, disclosed one by one.
//!
//! This is the idea of SD-JWT (RFC 9901) — salted digests of `[salt, name, value]` — with a
//! Merkle tree instead of a digest list, so any subset is proven with one multi-proof:
//!
//! * each private field (a [`FieldName`] and a canonical-JSON value) gets a fresh 128-bit salt
//!   from the operating system's RNG;
//! * its leaf is `SHA-256(0x00 || SHA-256("tally/v1/disclosure-leaf\0" || postcard((salt, name,
//!   value))))`;
//! * fields are sorted by name, leaf `i` is field `i`, and the entry carries the
//!   [`PrivateCommitment`]: the Merkle root and the field names. Names are public (a reader
//!   sees that a field exists); values and salts never are, and without the salt a value cannot
//!   be guessed from its leaf;
//! * a [`Disclosure`] is some opened fields with a multi-proof against the root.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, CanonicalJson, CodecError};
use crate::crypto::{CryptoError, os_random};
use crate::domain::DisclosureLeafDomain;
use crate::hash::{Hash, LeafHash, MerkleRoot};
use crate::ids::FieldName;
use crate::merkle::{MerkleError, MerkleTree, MultiProof};

/// The length of a salt in bytes.
pub const SALT_LEN: usize = 16;

/// A disclosure or commitment is invalid.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    /// No fields to commit to or disclose.
    #[error("no private fields given")]
    Empty,
    /// Too many fields.
    #[error("{count} private fields, more than the limit of {limit}")]
    TooManyFields {
        /// Count.
        count: usize,
        /// Limit.
        limit: usize,
    },
    /// A value is too large.
    #[error("the value of private field {field} is {size} bytes, more than the limit of {limit}")]
    ValueTooLarge {
        /// The field.
        field: FieldName,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The number of salts differs from the number of fields.
    #[error("{fields} fields but {salts} salts")]
    SaltCount {
        /// Fields.
        fields: usize,
        /// Salts.
        salts: usize,
    },
    /// A field is not in the commitment.
    #[error("the entry has no private field {0}")]
    UnknownField(FieldName),
    /// A field is named twice.
    #[error("private field {0} is named twice")]
    DuplicateField(FieldName),
    /// The opened value the holder has does not match the commitment.
    #[error("the value of field {0} does not match the signed commitment")]
    Mismatch(FieldName),
    /// The commitment's field names are malformed.
    #[error("the commitment's field names must be sorted and unique")]
    UnsortedCommitment,
    /// The proof does not hold.
    #[error("the disclosed fields do not match the signed commitment: {0}")]
    Proof(MerkleError),
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The OS RNG failed.
    #[error(transparent)]
    Rng(#[from] CryptoError),
}

/// A salt: 16 random bytes. Hex in JSON, raw bytes in binary.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Salt([u8; SALT_LEN]);

impl Salt {
    /// A fresh salt from the operating system's RNG.
    pub fn random() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; SALT_LEN];
        os_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A given salt (for test vectors and re-derivation).
    pub const fn from_bytes(bytes: [u8; SALT_LEN]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn to_bytes(self) -> [u8; SALT_LEN] {
        self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Salts are secrets until disclosed: keep them out of logs.
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
            let mut bytes = [0u8; SALT_LEN];
            hex::decode_to_slice(&text, &mut bytes)
                .map_err(|_| serde::de::Error::custom("a salt is 32 hex digits"))?;
            Ok(Self(bytes))
        } else {
            <[u8; SALT_LEN]>::deserialize(deserializer).map(Self)
        }
    }
}

/// The public commitment to an entry's private fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateCommitment {
    /// The Merkle root over the field leaves.
    pub root: MerkleRoot,
    /// The field names, sorted; leaf `i` is field `fields[i]`.
    pub fields: Vec<FieldName>,
}

impl PrivateCommitment {
    fn position(&self, name: &FieldName) -> Result<u32, DisclosureError> {
        let index = self
            .fields
            .binary_search(name)
            .map_err(|_| DisclosureError::UnknownField(name.clone()))?;
        u32::try_from(index).map_err(|_| DisclosureError::UnknownField(name.clone()))
    }
}

/// A private field with its salt: what the data holder keeps, and what a disclosure reveals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        let data = codec::encode("disclosure leaf", &(&self.salt, &self.name, &self.value))?;
        let inner = Hash::<DisclosureLeafDomain>::digest(&data);
        Ok(LeafHash::digest(inner.as_bytes()))
    }
}

/// Limits on what may be committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitLimits {
    /// Most fields.
    pub max_fields: usize,
    /// Largest value (canonical JSON bytes).
    pub max_value_bytes: usize,
}

impl Default for CommitLimits {
    fn default() -> Self {
        Self {
            max_fields: 32,
            max_value_bytes: 4096,
        }
    }
}

/// Commits to `fields` with fresh salts.
pub fn commit(
    fields: BTreeMap<FieldName, CanonicalJson>,
    limits: &CommitLimits,
) -> Result<(PrivateCommitment, Vec<OpenedField>), DisclosureError> {
    if fields.len() > limits.max_fields {
        return Err(DisclosureError::TooManyFields {
            count: fields.len(),
            limit: limits.max_fields,
        });
    }
    for (name, value) in &fields {
        if value.len() > limits.max_value_bytes {
            return Err(DisclosureError::ValueTooLarge {
                field: name.clone(),
                size: value.len(),
                limit: limits.max_value_bytes,
            });
        }
    }
    let salts = (0..fields.len())
        .map(|_| Salt::random())
        .collect::<Result<Vec<_>, _>>()?;
    commit_with_salts(fields, salts)
}

/// Commits to `fields` with the given salts, one per field in name order (for test vectors,
/// and for a holder re-deriving a commitment).
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
        root: MerkleTree::new(leaves).root(),
        fields: opened.iter().map(|f| f.name.clone()).collect(),
    };
    Ok((commitment, opened))
}

/// Some opened fields of one commitment, with the proof that binds them to its root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// The disclosed fields.
    pub fields: Vec<OpenedField>,
    /// The multi-proof of their leaves.
    pub proof: MultiProof,
}

/// Discloses the fields `names` of a commitment, from all the opened fields the holder keeps.
pub fn disclose(
    commitment: &PrivateCommitment,
    opened: &[OpenedField],
    names: &[FieldName],
) -> Result<Disclosure, DisclosureError> {
    if names.is_empty() {
        return Err(DisclosureError::Empty);
    }
    let mut positions = Vec::with_capacity(names.len());
    let mut fields = Vec::with_capacity(names.len());
    for name in names {
        let position = commitment.position(name)?;
        if positions.contains(&position) {
            return Err(DisclosureError::DuplicateField(name.clone()));
        }
        let field = opened
            .iter()
            .find(|f| &f.name == name)
            .ok_or_else(|| DisclosureError::UnknownField(name.clone()))?;
        positions.push(position);
        fields.push(field.clone());
    }
    let leaves = commitment
        .fields
        .iter()
        .map(|name| {
            opened
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| DisclosureError::Mismatch(name.clone()))
                .and_then(|f| f.leaf().map_err(DisclosureError::from))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tree = MerkleTree::new(leaves);
    if tree.root() != commitment.root {
        // Find the culprit among the requested fields, for a useful message.
        return Err(DisclosureError::Mismatch(
            names.first().cloned().ok_or(DisclosureError::Empty)?,
        ));
    }
    let proof = tree.prove(&positions).map_err(DisclosureError::Proof)?;
    let disclosure = Disclosure { fields, proof };
    disclosure.verify(commitment)?;
    Ok(disclosure)
}

/// Checks opened fields against a commitment (what a node does with values it receives).
pub fn verify_opened(
    commitment: &PrivateCommitment,
    fields: &[OpenedField],
    proof: &MultiProof,
) -> Result<(), DisclosureError> {
    if fields.is_empty() {
        return Err(DisclosureError::Empty);
    }
    if commitment.fields.windows(2).any(|w| w[0] >= w[1]) {
        return Err(DisclosureError::UnsortedCommitment);
    }
    if proof.leaf_count() as usize != commitment.fields.len() {
        return Err(DisclosureError::Proof(MerkleError::PositionsDiffer));
    }
    let mut leaves = Vec::with_capacity(fields.len());
    for field in fields {
        let position = commitment.position(&field.name)?;
        if leaves.iter().any(|(p, _)| *p == position) {
            return Err(DisclosureError::DuplicateField(field.name.clone()));
        }
        leaves.push((position, field.leaf()?));
    }
    proof
        .verify(&commitment.root, &leaves)
        .map_err(|e| match (e, fields) {
            (MerkleError::RootMismatch, [only]) => DisclosureError::Mismatch(only.name.clone()),
            (e, _) => DisclosureError::Proof(e),
        })
}

impl Disclosure {
    /// Checks the disclosed fields against the commitment.
    pub fn verify(&self, commitment: &PrivateCommitment) -> Result<(), DisclosureError> {
        verify_opened(commitment, &self.fields, &self.proof)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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

    #[test]
    fn pinned_leaf_vector() {
        let f = OpenedField {
            name: field("consumer.address"),
            value: value(json!("1 Example Road")),
            salt: Salt::from_bytes([0x11; 16]),
        };
        // postcard((salt, name, value)) = 16 salt bytes, then length-prefixed name and JSON.
        let mut data = vec![0x11u8; 16];
        data.push(16);
        data.extend_from_slice(b"consumer.address");
        data.push(16);
        data.extend_from_slice(b"\"1 Example Road\"");
        let mut inner_input = b"tally/v1/disclosure-leaf\0".to_vec();
        inner_input.extend_from_slice(&data);
        let inner = sha2::Sha256::digest(&inner_input);
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&inner);
        let expected: [u8; 32] = sha2::Sha256::digest(&leaf_input).into();
        assert_eq!(f.leaf().unwrap().to_bytes(), expected);
        use sha2::Digest as _;
    }

    #[test]
    fn commit_disclose_verify() {
        let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
        assert_eq!(
            commitment.fields,
            vec![
                field("consumer.address"),
                field("consumer.name"),
                field("order.spec")
            ]
        );
        let d = disclose(&commitment, &opened, &[field("consumer.address")]).unwrap();
        d.verify(&commitment).unwrap();
        assert_eq!(d.fields.len(), 1);
        // A changed value names the field.
        let mut bad = d.clone();
        bad.fields[0].value = value(json!("1 Other Road"));
        assert!(
            matches!(bad.verify(&commitment), Err(DisclosureError::Mismatch(f)) if f.as_str() == "consumer.address")
        );
        // Unknown and duplicate names.
        assert!(matches!(
            disclose(&commitment, &opened, &[field("order.price")]),
            Err(DisclosureError::UnknownField(_))
        ));
        assert!(matches!(
            disclose(
                &commitment,
                &opened,
                &[field("order.spec"), field("order.spec")]
            ),
            Err(DisclosureError::DuplicateField(_))
        ));
        // Another commitment of the same values (fresh salts) does not accept this disclosure.
        let (other, _) = commit(sample(), &CommitLimits::default()).unwrap();
        assert_ne!(other.root, commitment.root);
        assert!(d.verify(&other).is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let limits = CommitLimits {
            max_fields: 2,
            max_value_bytes: 10,
        };
        assert!(matches!(
            commit(sample(), &limits),
            Err(DisclosureError::TooManyFields { .. })
        ));
        let mut one = BTreeMap::new();
        one.insert(field("a"), value(json!("a value longer than ten bytes")));
        assert!(matches!(
            commit(one, &limits),
            Err(DisclosureError::ValueTooLarge { .. })
        ));
        assert!(matches!(
            commit(BTreeMap::new(), &limits),
            Err(DisclosureError::Empty)
        ));
    }

    proptest! {
        #[test]
        fn any_subset_discloses_and_any_change_fails(
            values in proptest::collection::btree_map("[a-z]{1,8}", ".{0,24}", 1..12),
            pick in proptest::collection::vec(any::<bool>(), 12),
            byte in any::<prop::sample::Index>(),
        ) {
            let fields: BTreeMap<FieldName, CanonicalJson> = values
                .iter()
                .map(|(n, v)| (field(n), value(json!(v))))
                .collect();
            let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
            let mut names: Vec<FieldName> = commitment.fields.iter().zip(&pick).filter(|(_, p)| **p).map(|(n, _)| n.clone()).collect();
            if names.is_empty() {
                names.push(commitment.fields[0].clone());
            }
            let d = disclose(&commitment, &opened, &names).unwrap();
            prop_assert!(d.verify(&commitment).is_ok());
            // Change one byte of one salt.
            let mut bad = d.clone();
            let mut salt = bad.fields[0].salt.to_bytes();
            salt[byte.index(SALT_LEN)] ^= 1;
            bad.fields[0].salt = Salt::from_bytes(salt);
            prop_assert!(bad.verify(&commitment).is_err());
            // Change the value.
            let mut bad = d.clone();
            let changed = format!("{}x", bad.fields[0].value.as_str().trim_matches('"'));
            bad.fields[0].value = value(json!(changed));
            prop_assert!(bad.verify(&commitment).is_err());
            // Rename the field to another committed field.
            if commitment.fields.len() > 1 && names.len() < commitment.fields.len() {
                let other = commitment.fields.iter().find(|f| !names.contains(f)).unwrap().clone();
                let mut bad = d.clone();
                bad.fields[0].name = other;
                prop_assert!(bad.verify(&commitment).is_err());
            }
            // Flip a bit of a proof sibling.
            if !d.proof.siblings.is_empty() {
                let mut bad = d.clone();
                let mut s = bad.proof.siblings[0].to_bytes();
                s[byte.index(32)] ^= 0x80;
                bad.proof.siblings[0] = MerkleRoot::from_bytes(s);
                prop_assert!(bad.verify(&commitment).is_err());
            }
        }
    }
}
