//! RFC 6962 hashing for the verifiable logs, and what a Tally leaf is.
//!
//! * Leaf hash: `SHA-256(0x00 || leaf)`; node hash: `SHA-256(0x01 || left || right)`; the root
//!   of the empty tree: `SHA-256()` (of no bytes), as RFC 6962 §2.1 defines it. The two prefixes
//!   are the SDK's Merkle leaf and node domains ([`crate::domain`]), so a leaf can never pass
//!   for an inner node.
//! * **A Tally leaf is the 32-byte entry hash** ([`EntryHash`]) of each entry of a chain, in
//!   sequence order: the leaf at index `i` is the entry with sequence number `i` (chains start
//!   at 0), and its leaf hash is `SHA-256(0x00 || entry hash)` ([`LogHash::entry_leaf`]). The
//!   entry hash already commits to the whole signed body, so hashing it again is enough, and a
//!   verifier needs only the hash, never the entry, to check a proof.
//!
//! [`LogHash`] is one untyped 32-byte hash, unlike the SDK's domain-typed [`crate::hash::Hash`]:
//! a stored tile hash may be a leaf hash (level 0) or an inner node, and the root of a
//! one-leaf tree *is* its leaf hash, so RFC 6962 itself does not keep the two apart by type.
//! What keeps them apart is the prefix, fixed at the two constructors below.
//!
//! Text form: 64 lowercase hex digits (Display, FromStr, serde in human-readable formats);
//! base64 appears only inside checkpoints, as the C2SP format requires.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::domain::{Domain, MerkleLeafDomain, MerkleNodeDomain};
use crate::hash::{EntryHash, HASH_LEN};

/// One SHA-256 hash in a verifiable log: a leaf hash, an inner node or a root.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogHash([u8; HASH_LEN]);

/// A [`LogHash`] failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogHashError {
    /// Not 64 hex digits.
    #[error("a log hash is 64 hexadecimal digits, got {0} characters")]
    HexLength(usize),
    /// A character is not a hex digit.
    #[error("a log hash may contain only hexadecimal digits 0-9 and a-f")]
    NotHex,
    /// Not canonical base64 (RFC 4648 §4, with padding).
    #[error("a log hash in base64 must be standard base64 with padding")]
    NotBase64,
    /// Decoded to the wrong number of bytes.
    #[error("a log hash is 32 bytes, got {0}")]
    ByteLength(usize),
}

/// The root of the empty tree, `SHA-256()`:
/// `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
pub const EMPTY_ROOT: LogHash = LogHash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

impl LogHash {
    /// Wraps 32 bytes that already are a log hash (read from storage, a tile or a proof).
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// The RFC 6962 leaf hash of `leaf`: `SHA-256(0x00 || leaf)`.
    pub fn leaf(leaf: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(MerkleLeafDomain::PREFIX);
        hasher.update(leaf);
        Self(hasher.finalize().into())
    }

    /// The leaf hash of a Tally entry: `SHA-256(0x00 || entry hash)`.
    pub fn entry_leaf(entry: &EntryHash) -> Self {
        Self::leaf(entry.as_bytes())
    }

    /// The RFC 6962 inner-node hash: `SHA-256(0x01 || left || right)`.
    pub fn node(left: &LogHash, right: &LogHash) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(MerkleNodeDomain::PREFIX);
        hasher.update(left.0);
        hasher.update(right.0);
        Self(hasher.finalize().into())
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// The raw bytes, by value.
    pub const fn to_bytes(self) -> [u8; HASH_LEN] {
        self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, LogHashError> {
        if text.len() != 2 * HASH_LEN {
            return Err(LogHashError::HexLength(text.len()));
        }
        let mut bytes = [0u8; HASH_LEN];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| LogHashError::NotHex)?;
        Ok(Self(bytes))
    }

    /// Standard base64 with padding, as checkpoints carry a root.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard base64 with padding; refuses non-canonical encodings (trailing bits),
    /// so one hash has exactly one base64 text.
    pub fn from_base64(text: &str) -> Result<Self, LogHashError> {
        // 44 characters encode 32 bytes; refusing longer text first bounds the work.
        if text.len() > 44 {
            return Err(LogHashError::NotBase64);
        }
        let bytes = STANDARD.decode(text).map_err(|_| LogHashError::NotBase64)?;
        Self::try_from(bytes.as_slice())
    }
}

impl TryFrom<&[u8]> for LogHash {
    type Error = LogHashError;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        let array: [u8; HASH_LEN] = bytes
            .try_into()
            .map_err(|_| LogHashError::ByteLength(bytes.len()))?;
        Ok(Self(array))
    }
}

impl fmt::Debug for LogHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogHash({})", self.to_hex())
    }
}

impl fmt::Display for LogHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::str::FromStr for LogHash {
    type Err = LogHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl Serialize for LogHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for LogHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; HASH_LEN]>::deserialize(deserializer).map(Self)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let computed: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(EMPTY_ROOT.to_bytes(), computed);
    }

    #[test]
    fn rfc6962_leaf_and_node_prefixes() {
        // RFC 6962's test tree: the hash of the empty leaf and of the leaf 0x00.
        assert_eq!(
            LogHash::leaf(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            LogHash::leaf(&[0x00]).to_hex(),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
        // The root of those two leaves (transparency-dev's roots[1]).
        assert_eq!(
            LogHash::node(&LogHash::leaf(b""), &LogHash::leaf(&[0x00])).to_hex(),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn entry_leaf_hashes_the_entry_hash_bytes() {
        let entry = EntryHash::digest(b"some entry body");
        assert_eq!(LogHash::entry_leaf(&entry), LogHash::leaf(entry.as_bytes()));
        // The same value the checkpoint module's span trees use for an entry leaf.
        assert_eq!(
            LogHash::entry_leaf(&entry).to_bytes(),
            crate::hash::LeafHash::digest(entry.as_bytes()).to_bytes()
        );
    }

    #[test]
    fn text_forms_round_trip_and_refuse_garbage() {
        let h = LogHash::leaf(b"x");
        assert_eq!(h.to_string().parse::<LogHash>().unwrap(), h);
        assert_eq!(LogHash::from_base64(&h.to_base64()).unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<LogHash>(&json).unwrap(), h);
        assert_eq!(LogHash::from_hex("ab"), Err(LogHashError::HexLength(2)));
        assert_eq!(
            LogHash::from_hex(&"g".repeat(64)),
            Err(LogHashError::NotHex)
        );
        // Base64 of 12 bytes, unpadded, and with non-zero trailing bits.
        assert_eq!(
            LogHash::from_base64("ZG9uJ3QgY2FyZSAy"),
            Err(LogHashError::ByteLength(12))
        );
        let unpadded = h.to_base64().trim_end_matches('=').to_owned();
        assert_eq!(
            LogHash::from_base64(&unpadded),
            Err(LogHashError::NotBase64)
        );
        let mut trailing = h.to_base64();
        trailing.replace_range(42..43, "B"); // the last symbol's low bits must be zero
        assert!(LogHash::from_base64(&trailing).is_err());
        assert_eq!(
            LogHash::try_from(&[0u8; 31][..]),
            Err(LogHashError::ByteLength(31))
        );
    }
}
