//! Ed25519 signing and verification, batch verification, and X25519 key material.
//!
//! Tally signs only `domain prefix || 32-byte hash` (see [`crate::domain::signing`]), never raw
//! content, so a signature made for one purpose cannot be replayed for another.
//!
//! **The verification rule** (one rule, for single and batch verification, so that every node
//! decides every signature the same way however it batches): the RFC 8032 group equation
//! checked with the cofactor, `[8][S]B = [8]R + [8][k]A` (RFC 8032 §5.1.7), plus the strict
//! checks on encodings: `S` canonical (`S < ℓ`), `R` a canonical encoding of a point not of
//! small order, and `A` not of small order (checked when a key is parsed). This is the ZIP 215
//! equation with libsodium's encoding checks. The cofactorless equation
//! (`verify_strict`'s) cannot be batched consistently: a signer may put a torsion component
//! in `R` that the single equation always rejects but a random-linear-combination batch
//! accepts whenever its random coefficient happens to kill the torsion (1 time in 2 to 8), so
//! two honest nodes batching differently would disagree. With the cofactor, torsion never
//! matters, and batch and single verification agree except with negligible probability.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

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

    /// Verifies `signature` over `domain || digest` (the module's rule).
    pub fn verify(
        &self,
        domain: &[u8],
        digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        verify_one(self, &[domain, digest], signature)
    }

    /// Verifies a signature over an arbitrary message: test vectors, and C2SP signed notes
    /// ([`crate::tlog::note`]), whose text can never collide with Tally's own signed messages
    /// (every one of those starts with a domain prefix holding a 0x00 byte, which no note
    /// holds).
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        verify_one(self, &[message], signature)
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

    /// The 32-byte seed (RFC 8032 private key), e.g. to build the same identity in libp2p.
    /// Secret: do not log or store it.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
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
/// is one of these is refused: with the cofactor, the equation alone would not notice it.
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

/// Whether a signature's `R` is canonically encoded and not of small order.
fn r_is_acceptable(signature: &Signature) -> bool {
    let bytes = signature.to_bytes();
    let mut r = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    if !has_canonical_y(&r) {
        return false;
    }
    r[31] &= 0x7f;
    !small_order_ys().contains(&r)
}

/// A signature's parts, once its encodings pass the checks: `R` decompressed, `S` as a
/// scalar, and `k = H(R ‖ A ‖ M) mod ℓ`.
struct Terms {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Checks the encodings of `signature` (canonical `R` not of small order, canonical `S`) and
/// computes its terms over the message `parts` (concatenated) under `key`.
fn terms(key: &PublicKey, parts: &[&[u8]], signature: &Signature) -> Option<Terms> {
    if !r_is_acceptable(signature) {
        return None;
    }
    let bytes = signature.to_bytes();
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&bytes[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&bytes[32..]);
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let mut hash = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(key.0.as_bytes());
    for part in parts {
        hash.update(part);
    }
    Some(Terms {
        r,
        s,
        k: Scalar::from_hash(hash),
    })
}

/// The module's rule for one signature: `[8]([S]B - [k]A - R) = 0`.
fn verify_one(key: &PublicKey, parts: &[&[u8]], signature: &Signature) -> Result<(), CryptoError> {
    let terms = terms(key, parts, signature).ok_or(CryptoError::BadSignature)?;
    let a = key.0.to_edwards();
    let check =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&terms.k, &-a, &terms.s) - terms.r;
    if check.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// The module's rule for every item at once: `[8]([-Σ zᵢSᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ) = 0`
/// with random 128-bit `zᵢ`, which holds for any choice of `zᵢ` when every item verifies,
/// and otherwise only with negligible probability. The terms of one key are merged into one,
/// `[Σᵢ∈key zᵢkᵢ]A` (the same point): the multiscalar multiplication, the dominant cost, then
/// has one point per distinct key instead of one per item, and a ledger's batches come from
/// a handful of members, so it has almost half the points `ed25519_dalek::verify_batch` would
/// use.
fn batch_equation_holds(items: &[BatchItem<'_>]) -> bool {
    // The zᵢ must be unknown to whoever made the signatures, or a bad pair could cancel out.
    let mut randomness = vec![0u8; 16 * items.len()];
    if os_random(&mut randomness).is_err() {
        return false;
    }
    let mut scalars = Vec::with_capacity(items.len() + 8);
    let mut points = Vec::with_capacity(items.len() + 8);
    let mut base = Scalar::ZERO;
    let mut keys: HashMap<&PublicKey, Scalar> = HashMap::new();
    for (item, z) in items.iter().zip(randomness.chunks_exact(16)) {
        let Some(terms) = terms(item.key, &[item.domain, item.digest], item.signature) else {
            return false;
        };
        let mut z_bytes = [0u8; 16];
        z_bytes.copy_from_slice(z);
        let z = Scalar::from(u128::from_le_bytes(z_bytes));
        base -= z * terms.s;
        scalars.push(z);
        points.push(terms.r);
        *keys.entry(item.key).or_insert(Scalar::ZERO) += z * terms.k;
    }
    scalars.push(base);
    points.push(ED25519_BASEPOINT_POINT);
    for (key, coefficient) in keys {
        scalars.push(coefficient);
        points.push(key.0.to_edwards());
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
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
/// The fast path is one batch equation over all items (see the module docs). If it fails, the
/// items are checked one by one so that exactly the bad ones are reported. Either way every
/// item is decided as [`PublicKey::verify`] decides it (the batch equation could accept a bad
/// item only with probability about 2⁻¹²⁵), whatever else is in the batch.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
    if items.is_empty() {
        return Vec::new();
    }
    if batch_equation_holds(items) {
        return vec![Ok(()); items.len()];
    }
    items
        .iter()
        .map(|i| verify_one(i.key, &[i.domain, i.digest], i.signature))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use proptest::prelude::*;

    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    /// A key whose secret scalar the test knows, to make signatures by hand.
    fn scalar_key(n: u8) -> (Scalar, PublicKey) {
        let a = Scalar::from_bytes_mod_order([n; 32]);
        let public = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
        (a, PublicKey::from_bytes(&public).unwrap())
    }

    /// A signature over `domain || digest` with nonce `r` and `torsion` added to `R`: what
    /// a signer who wants nodes to disagree would make. Valid under the cofactored rule;
    /// the cofactorless equation rejects it alone but a batch may accept it.
    fn sign_by_hand(
        (a, public): &(Scalar, PublicKey),
        r: u64,
        torsion: EdwardsPoint,
        domain: &[u8],
        digest: &[u8; 32],
    ) -> Signature {
        let r = Scalar::from(r) + Scalar::from_bytes_mod_order([7; 32]);
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion)
            .compress()
            .to_bytes();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(big_r)
                .chain_update(public.to_bytes())
                .chain_update(domain)
                .chain_update(digest),
        );
        let s = r + k * a;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&big_r);
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature::from_bytes(&bytes)
    }

    fn item<'a>(
        key: &'a PublicKey,
        digest: &'a [u8; 32],
        signature: &'a Signature,
    ) -> BatchItem<'a> {
        BatchItem {
            key,
            domain: b"d\0",
            digest,
            signature,
        }
    }

    #[test]
    fn the_batch_equation_accepts_good_batches_and_rejects_any_bad_item() {
        // 40 items from 3 keys: the key terms are merged.
        let keys: Vec<SigningKey> = (1..=3).map(key).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public_key).collect();
        let digests: Vec<[u8; 32]> = (0..40u8).map(|i| [i; 32]).collect();
        let signatures: Vec<Signature> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| keys[i % 3].sign(b"d\0", d))
            .collect();
        let batch = |sigs: &[Signature], digests: &[[u8; 32]], keys: &[usize]| {
            let items: Vec<BatchItem<'_>> = (0..40)
                .map(|i| item(&publics[keys[i]], &digests[i], &sigs[i]))
                .collect();
            batch_equation_holds(&items)
        };
        let owners: Vec<usize> = (0..40).map(|i| i % 3).collect();
        assert!(batch(&signatures, &digests, &owners));
        // Another item's signature; another digest; another signer; another domain.
        let mut swapped = signatures.clone();
        swapped[17] = signatures[20];
        assert!(!batch(&swapped, &digests, &owners));
        let mut other_digests = digests.clone();
        other_digests[5][0] ^= 1;
        assert!(!batch(&signatures, &other_digests, &owners));
        let mut other_owners = owners.clone();
        other_owners[9] = (owners[9] + 1) % 3;
        assert!(!batch(&signatures, &digests, &other_owners));
        let items: Vec<BatchItem<'_>> = (0..40)
            .map(|i| BatchItem {
                domain: if i == 3 { b"e\0" } else { b"d\0" },
                ..item(&publics[owners[i]], &digests[i], &signatures[i])
            })
            .collect();
        assert!(!batch_equation_holds(&items));
    }

    #[test]
    fn torsion_in_r_is_decided_the_same_alone_and_in_any_batch() {
        // Every torsion point (orders 2, 4 and 8), many nonces: alone, in a batch with honest
        // signatures, and paired with its opposite, the verdict is always the same. The
        // cofactorless equation would reject each alone yet pass some batches.
        let signer = scalar_key(5);
        let honest = key(6);
        let honest_public = honest.public_key();
        let honest_digest = [9u8; 32];
        let honest_signature = honest.sign(b"d\0", &honest_digest);
        let digest = [3u8; 32];
        for torsion in EIGHT_TORSION.iter().skip(1) {
            for r in 0..16 {
                let signature = sign_by_hand(&signer, r, *torsion, b"d\0", &digest);
                let opposite = sign_by_hand(&signer, r + 100, -torsion, b"d\0", &digest);
                assert_eq!(signer.1.verify(b"d\0", &digest, &signature), Ok(()));
                let items = [
                    item(&honest_public, &honest_digest, &honest_signature),
                    item(&signer.1, &digest, &signature),
                    item(&signer.1, &digest, &opposite),
                ];
                assert!(batch_equation_holds(&items[1..2]));
                assert!(batch_equation_holds(&items));
                assert!(verify_batch(&items).iter().all(Result::is_ok));
                // The same with a wrong S is refused alone and in every batch.
                let mut bytes = signature.to_bytes();
                bytes[32] ^= 1;
                let bad = Signature::from_bytes(&bytes);
                assert!(signer.1.verify(b"d\0", &digest, &bad).is_err());
                let with_bad = [items[0], items[2], item(&signer.1, &digest, &bad)];
                assert!(!batch_equation_holds(&with_bad));
                let verdicts = verify_batch(&with_bad);
                assert!(verdicts[0].is_ok() && verdicts[1].is_ok() && verdicts[2].is_err());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the mix of signers, messages and damage, the batch verdicts are the
        /// verdicts of verifying each item alone.
        #[test]
        fn batch_verdicts_are_single_verdicts(
            owners in proptest::collection::vec(0usize..4, 1..24),
            damaged in proptest::collection::vec(any::<bool>(), 24),
            torsion in proptest::collection::vec(0usize..8, 24),
        ) {
            let keys: Vec<(Scalar, PublicKey)> = (1..=4).map(scalar_key).collect();
            let digests: Vec<[u8; 32]> = (0..owners.len()).map(|i| [i as u8; 32]).collect();
            let signatures: Vec<Signature> = owners
                .iter()
                .enumerate()
                .map(|(i, owner)| {
                    let signature = sign_by_hand(
                        &keys[*owner], i as u64, EIGHT_TORSION[torsion[i]], b"d\0", &digests[i],
                    );
                    if damaged[i] {
                        let mut bytes = signature.to_bytes();
                        bytes[40] ^= 0x10;
                        Signature::from_bytes(&bytes)
                    } else {
                        signature
                    }
                })
                .collect();
            let items: Vec<BatchItem<'_>> = owners
                .iter()
                .enumerate()
                .map(|(i, owner)| item(&keys[*owner].1, &digests[i], &signatures[i]))
                .collect();
            let single: Vec<bool> = items
                .iter()
                .map(|i| verify_one(i.key, &[i.domain, i.digest], i.signature).is_ok())
                .collect();
            let batch: Vec<bool> = verify_batch(&items).iter().map(Result::is_ok).collect();
            prop_assert_eq!(&batch, &single);
            prop_assert_eq!(batch_equation_holds(&items), single.iter().all(|ok| *ok));
            // Exactly the damaged items fail, torsion or not.
            for (i, ok) in single.iter().enumerate() {
                prop_assert_eq!(*ok, !damaged[i]);
            }
        }
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
