//! Ed25519 signing and strict verification, batch verification, and X25519 key material.
//!
//! Tally signs only `domain prefix || 32-byte hash` (see [`crate::domain::signing`]), never raw
//! content, so a signature made for one purpose cannot be replayed for another.
//!
//! Verification is **strict** (RFC 8032 with the malleability checks of
//! `ed25519-dalek::VerifyingKey::verify_strict`): non-canonical `S`, small-order `R` or keys,
//! and non-canonical encodings are rejected, so every node decides every signature the same
//! way. The batch verifier makes the same decisions: before the batch equation it rejects the
//! `R` encodings that only strict verification would catch (non-canonical `y`, small-order
//! points); member keys are checked against small order when a genesis is validated.

use std::fmt;
use std::sync::OnceLock;

use ed25519_dalek::Signer as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signature did not verify, or key material is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The signature does not verify under the key.
    #[error("the signature does not verify under the signer's public key")]
    BadSignature,
    /// Key bytes are not a valid Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The key is of small order, which would let anyone forge signatures under it.
    #[error("the Ed25519 public key is a weak (small-order) key")]
    WeakPublicKey,
    /// Text is not the hex of the expected number of bytes.
    #[error("expected {expected} bytes as {digits} hex digits")]
    BadHex {
        /// Bytes expected.
        expected: usize,
        /// Hex digits expected.
        digits: usize,
    },
    /// A batch had different numbers of messages, signatures and keys.
    #[error("batch verification needs one message, signature and key per item")]
    BatchShape,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

fn decode_hex<const N: usize>(text: &str) -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    if text.len() != 2 * N || hex::decode_to_slice(text, &mut out).is_err() {
        return Err(CryptoError::BadHex {
            expected: N,
            digits: 2 * N,
        });
    }
    Ok(out)
}

/// Fills `buf` from the operating system's random number generator.
pub fn os_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Rng(e.to_string()))
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses 32 key bytes; rejects invalid encodings and weak keys.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(CryptoError::WeakPublicKey);
        }
        Ok(Self(key))
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        Self::from_bytes(&decode_hex::<32>(text)?)
    }

    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lowercase hex of the key bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Strictly verifies `signature` over `domain || digest`.
    pub fn verify(
        &self,
        domain: &[u8],
        digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let message = signed_message(domain, digest);
        self.0
            .verify_strict(&message, &signature.0)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Strictly verifies a signature over an arbitrary message (used for test vectors only;
    /// Tally itself always signs domain-prefixed hashes).
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.0
            .verify_strict(message, &signature.0)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The libp2p peer id of this key, as libp2p prints it (base58btc of the identity
    /// multihash of the protobuf-encoded Ed25519 public key).
    pub fn to_peer_id(&self) -> String {
        // protobuf PublicKey { KeyType Type = 1 (Ed25519 = 1); bytes Data = 2 (32 bytes) },
        // wrapped in an identity multihash (code 0x00, length 0x24).
        let mut bytes = Vec::with_capacity(38);
        bytes.extend_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        bytes.extend_from_slice(self.0.as_bytes());
        bs58::encode(bytes).into_string()
    }
}

fn signed_message(domain: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(domain.len() + digest.len());
    message.extend_from_slice(domain);
    message.extend_from_slice(digest);
    message
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            self.to_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            let bytes = <[u8; 32]>::deserialize(deserializer)?;
            Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// Wraps 64 signature bytes (validity is decided at verification).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// Parses 128 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(&decode_hex::<64>(text)?))
    }

    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            // ed25519's own serde impl encodes the 64 bytes as a fixed-size tuple.
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            ed25519_dalek::Signature::deserialize(deserializer).map(Self)
        }
    }
}

/// An Ed25519 signing key. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut seed = [0u8; 32];
        os_random(&mut seed)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a 32-byte secret seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// Parses the seed from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        Ok(Self::from_seed(&decode_hex::<32>(text)?))
    }

    /// The secret seed as hex (for writing key files only).
    pub fn seed_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `domain || digest`.
    pub fn sign(&self, domain: &[u8], digest: &[u8; 32]) -> Signature {
        Signature(self.0.sign(&signed_message(domain, digest)))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().to_hex())
    }
}

/// An X25519 public key, to which private field values are encrypted for a member.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct X25519PublicKey(#[serde(with = "hex_or_bytes32")] [u8; 32]);

impl X25519PublicKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        Ok(Self(decode_hex::<32>(text)?))
    }
    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for X25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X25519PublicKey({})", self.to_hex())
    }
}

/// An X25519 secret key. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct X25519SecretKey([u8; 32]);

impl X25519SecretKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 32];
        os_random(&mut bytes)?;
        Ok(Self(bytes))
    }
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        Ok(Self(decode_hex::<32>(text)?))
    }
    /// The secret as hex (for writing key files only).
    pub fn secret_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// The secret bytes (for the encryption layer).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
    /// The public key (RFC 7748: the clamped scalar times the base point).
    pub fn public_key(&self) -> X25519PublicKey {
        X25519PublicKey(curve25519_dalek::MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }
}

impl fmt::Debug for X25519SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X25519SecretKey(public {})", self.public_key().to_hex())
    }
}

mod hex_or_bytes32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(bytes))
        } else {
            serde::Serialize::serialize(bytes, serializer)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(&text, &mut out)
                .map_err(|_| serde::de::Error::custom("expected 64 hex digits"))?;
            Ok(out)
        } else {
            <[u8; 32]>::deserialize(deserializer)
        }
    }
}

/// The `y` coordinates (sign bit cleared) of the eight small-order points. An `R` whose `y`
/// is one of these is rejected by strict verification; the batch equation alone would not.
fn small_order_ys() -> &'static [[u8; 32]; 8] {
    static YS: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    YS.get_or_init(|| {
        curve25519_dalek::constants::EIGHT_TORSION.map(|point| {
            let mut y = point.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
    })
}

/// Whether a 32-byte point encoding has a canonical `y` (less than p = 2^255 - 19).
fn has_canonical_y(encoding: &[u8; 32]) -> bool {
    let mut y = *encoding;
    y[31] &= 0x7f;
    // y >= p exactly when y is p..=2^255-1: the top 30 bytes... all 0xff, last 0x7f, first >= 0xed.
    let all_high = y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    !(all_high && y[0] >= 0xed)
}

/// Whether a signature's `R` passes the checks strict verification makes beyond the equation.
fn r_is_strictly_acceptable(signature: &Signature) -> bool {
    let bytes = signature.to_bytes();
    let mut r = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    if !has_canonical_y(&r) {
        return false;
    }
    r[31] &= 0x7f;
    !small_order_ys().contains(&r)
}

/// One item of a batch: a key, the domain and digest it signed, and the signature.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// The signature domain.
    pub domain: &'a [u8],
    /// The signed content after the domain (a 32-byte digest everywhere in Tally; any bytes
    /// for test vectors).
    pub digest: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// Verifies many signatures at once; returns, per item, whether it verified.
///
/// The fast path is one ed25519 batch equation over all items. If it fails, the items are
/// checked one by one with strict verification so that exactly the bad ones are reported. Either
/// way every item is decided exactly as [`PublicKey::verify`] decides it.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
    if items.is_empty() {
        return Vec::new();
    }
    let all_r_acceptable = items.iter().all(|i| r_is_strictly_acceptable(i.signature));
    if all_r_acceptable {
        let messages: Vec<Vec<u8>> = items
            .iter()
            .map(|i| signed_message(i.domain, i.digest))
            .collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<ed25519_dalek::Signature> =
            items.iter().map(|i| i.signature.0).collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> = items.iter().map(|i| i.key.0).collect();
        if ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok() {
            return vec![Ok(()); items.len()];
        }
    }
    items
        .iter()
        .map(|i| {
            i.key
                .verify_raw(&signed_message(i.domain, i.digest), i.signature)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    #[test]
    fn sign_and_verify_with_domain() {
        let k = key(1);
        let digest = [7u8; 32];
        let sig = k.sign(b"a\0", &digest);
        assert!(k.public_key().verify(b"a\0", &digest, &sig).is_ok());
        assert_eq!(
            k.public_key().verify(b"b\0", &digest, &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn batch_reports_exactly_the_bad_items() {
        let keys: Vec<SigningKey> = (1..=5).map(key).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        let digests: Vec<[u8; 32]> = (0..5u8).map(|i| [i; 32]).collect();
        let mut sigs: Vec<Signature> = keys
            .iter()
            .zip(&digests)
            .map(|(k, d)| k.sign(b"d\0", d))
            .collect();
        let items = |sigs: &[Signature]| -> Vec<Result<(), CryptoError>> {
            let batch: Vec<BatchItem<'_>> = (0..5)
                .map(|i| BatchItem {
                    key: &publics[i],
                    domain: b"d\0",
                    digest: &digests[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_batch(&batch)
        };
        assert!(items(&sigs).iter().all(Result::is_ok));
        sigs[3] = sigs[2];
        let results = items(&sigs);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert!(results[3].is_err());
    }

    #[test]
    fn small_order_ys_include_the_identity() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(small_order_ys().contains(&identity));
    }

    #[test]
    fn peer_id_matches_libp2p_format() {
        // libp2p prints Ed25519 peer ids as base58 of an identity multihash: they start "12D3KooW".
        assert!(key(9).public_key().to_peer_id().starts_with("12D3KooW"));
    }

    #[test]
    fn x25519_public_key_matches_rfc7748_vector() {
        // RFC 7748 section 6.1, Alice.
        let secret = X25519SecretKey::from_hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        )
        .unwrap();
        assert_eq!(
            secret.public_key().to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }
}
