//! SHA-256 hashes typed by what they are a hash of.
//!
//! `Hash<EntryDomain>` and `Hash<MerkleNodeDomain>` are different types, so an entry hash can
//! never be passed where a Merkle root is expected. Every hash is computed as
//! `SHA-256(domain prefix || content)` (see [`crate::domain`]).
//!
//! In JSON (and other human-readable formats) a hash is 64 lowercase hex digits; in the
//! canonical binary encoding it is its 32 raw bytes.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::domain::{
    AttestationDomain, ChangeDomain, CheckpointDomain, Domain, EntryDomain, GenesisDomain,
    MerkleLeafDomain, MerkleNodeDomain, SpanLeafDomain,
};

/// The length of a hash in bytes.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash made in domain `D`.
pub struct Hash<D: Domain> {
    bytes: [u8; HASH_LEN],
    domain: PhantomData<D>,
}

/// The identity of an entry: the hash of its unsigned body.
pub type EntryHash = Hash<EntryDomain>;
/// The identity of a checkpoint: the hash of its unsigned body.
pub type CheckpointHash = Hash<CheckpointDomain>;
/// The identity of a consortium: the hash of its genesis document.
pub type NetworkId = Hash<GenesisDomain>;
/// A Merkle tree node, and so a Merkle root.
pub type MerkleRoot = Hash<MerkleNodeDomain>;
/// A Merkle leaf hash.
pub type LeafHash = Hash<MerkleLeafDomain>;
/// The hash of a chain span as a checkpoint commits to it.
pub type SpanLeafHash = Hash<SpanLeafDomain>;
/// The identity of a governance change: the hash of its unsigned body.
pub type ChangeHash = Hash<ChangeDomain>;
/// The identity of an attestation: the hash of its unsigned body.
pub type AttestationHash = Hash<AttestationDomain>;

/// A hash failed to parse from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseHashError {
    /// Not 64 hex digits.
    #[error("a hash is 64 hexadecimal digits, got {0} characters")]
    Length(usize),
    /// A character is not a hex digit.
    #[error("a hash may contain only hexadecimal digits 0-9 and a-f")]
    NotHex,
}

impl<D: Domain> Hash<D> {
    /// Hashes `content` in domain `D`.
    pub fn digest(content: &[u8]) -> Self {
        Self::digest_parts(&[content])
    }

    /// Hashes the concatenation of `parts` in domain `D`, without building the concatenation.
    pub fn digest_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(D::PREFIX);
        for part in parts {
            hasher.update(part);
        }
        Self::from_bytes(hasher.finalize().into())
    }

    /// Wraps 32 bytes that are already a hash in domain `D` (read from storage or the wire).
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self {
            bytes,
            domain: PhantomData,
        }
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.bytes
    }

    /// The raw bytes, by value.
    pub const fn to_bytes(self) -> [u8; HASH_LEN] {
        self.bytes
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, ParseHashError> {
        if text.len() != 2 * HASH_LEN {
            return Err(ParseHashError::Length(text.len()));
        }
        let mut bytes = [0u8; HASH_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| ParseHashError::NotHex)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The first bytes as hex, for logs and short displays.
    pub fn short(&self) -> String {
        hex::encode(&self.bytes[..6])
    }
}

// Manual impls: derives would needlessly require `D` itself to implement each trait.
impl<D: Domain> Clone for Hash<D> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<D: Domain> Copy for Hash<D> {}
impl<D: Domain> PartialEq for Hash<D> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl<D: Domain> Eq for Hash<D> {}
impl<D: Domain> PartialOrd for Hash<D> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<D: Domain> Ord for Hash<D> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl<D: Domain> std::hash::Hash for Hash<D> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl<D: Domain> fmt::Debug for Hash<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash<{}>({})", D::NAME, self.to_hex())
    }
}

impl<D: Domain> fmt::Display for Hash<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl<D: Domain> std::str::FromStr for Hash<D> {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl<D: Domain> Serialize for Hash<D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.bytes.serialize(serializer)
        }
    }
}

impl<'de, D: Domain> Deserialize<'de> for Hash<D> {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; HASH_LEN]>::deserialize(deserializer).map(Self::from_bytes)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn domains_give_different_hashes_of_the_same_content() {
        let entry = EntryHash::digest(b"x");
        let checkpoint = CheckpointHash::digest(b"x");
        assert_ne!(entry.as_bytes(), checkpoint.as_bytes());
    }

    #[test]
    fn rfc6962_leaf_prefix_is_a_zero_byte() {
        // SHA-256(0x00) — the RFC 6962 hash of an empty leaf.
        assert_eq!(
            LeafHash::digest(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn hex_and_json_round_trip() {
        let h = EntryHash::digest(b"abc");
        assert_eq!(EntryHash::from_hex(&h.to_hex()).unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<EntryHash>(&json).unwrap(), h);
        assert!(EntryHash::from_hex("zz").is_err());
        assert!(EntryHash::from_hex(&"g".repeat(64)).is_err());
    }
}
