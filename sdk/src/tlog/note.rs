//! C2SP signed notes: text signed by one or more keys, with Ed25519 signatures.
//!
//! A note is its text (UTF-8, ending in a newline, no control characters but newline), a blank
//! line, and one or more signature lines `— <key name> <base64(key ID || signature)>`, the key
//! ID being the first 4 bytes, big-endian, of `SHA-256(key name || 0x0A || 0x01 || public key)`
//! for Ed25519 (signature type `0x01`). A verifier key is written
//! `<name>+<hex key ID>+<base64(0x01 || public key)>`.
//!
//! Notes arrive from peers, so [`Note::parse`] bounds what it accepts ([`MAX_NOTE_BYTES`],
//! [`MAX_SIGNATURES`]) before looking at signatures. Its text is reachable only through
//! [`Note::unverified_text`] until [`Note::verify`] has checked it against trusted keys: as the
//! specification says, signatures by unknown keys are ignored, a signature by a known key that
//! fails rejects the whole note, and a note with no valid signature by a known key is rejected.
//!
//! **Signing raw text.** Everywhere else Tally signs `domain prefix || 32-byte hash`; a note is
//! signed over its text, as the C2SP format requires. The two cannot be confused even under one
//! key: every Tally signing prefix ([`crate::domain::signing`]) contains a 0x00 byte, which no
//! note text may contain. Signatures are checked with the SDK's one verification rule
//! ([`crate::crypto`]: cofactored equation, strict encodings).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

use crate::crypto::{PublicKey, Signature, SigningKey};

/// Largest note accepted, signatures included. The specification asks verifiers to accept at
/// least 16 signatures of up to ~5 kB (post-quantum); 16 × 7 kB of base64 fits with room.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;
/// Most signature lines accepted (the specification's floor is 16).
pub const MAX_SIGNATURES: usize = 64;
/// The signature type byte of Ed25519 note signatures.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A note, a key or a signature is malformed, or the note is not signed by a trusted key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {0} bytes; at most {MAX_NOTE_BYTES} are accepted")]
    TooLarge(usize),
    /// Not valid UTF-8.
    #[error("a note must be valid UTF-8")]
    NotUtf8,
    /// Contains an ASCII control character other than newline.
    #[error("a note may contain no control character but newline (found U+{0:04X})")]
    ControlCharacter(u32),
    /// The text is empty or does not end in a newline.
    #[error("a note's text must be non-empty and end in a newline")]
    BadText,
    /// No blank line separates the text from signatures, or no signature follows it.
    #[error("a note needs a blank line then at least one signature line")]
    NoSignatures,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("the note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature line is not `— <name> <base64>`.
    #[error("signature line {line} is not \"\u{2014} <key name> <base64 signature>\"")]
    BadSignatureLine {
        /// The 1-based signature line.
        line: usize,
    },
    /// A key name is empty or contains a space or `+`.
    #[error("a key name must be non-empty, with no spaces, '+' or control characters")]
    BadKeyName,
    /// A verifier key is not `<name>+<8 hex digits>+<base64>`.
    #[error("a verifier key is <name>+<8 lowercase hex digits>+<base64(type || key)>")]
    BadVerifierKey,
    /// A verifier key of a signature type this SDK does not verify.
    #[error("signature type 0x{0:02x} is not supported (only Ed25519, 0x01)")]
    UnsupportedKeyType(u8),
    /// A verifier key whose ID is not the one its name and key give.
    #[error("the verifier key's ID does not match its name and public key")]
    KeyIdMismatch,
    /// The key bytes are not a usable Ed25519 public key.
    #[error("not a usable Ed25519 public key: {0}")]
    BadPublicKey(crate::crypto::CryptoError),
    /// A signature by a trusted key does not verify.
    #[error("the signature of trusted key {0} does not verify")]
    BadSignature(String),
    /// No signature by a trusted key.
    #[error("the note has no signature by a trusted key")]
    NoTrustedSignature,
}

/// Whether `name` may name a key: non-empty, no Unicode space, no `+`, no control character.
fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The key ID of an Ed25519 key: `SHA-256(name || 0x0A || 0x01 || key)[..4]`, big-endian.
pub fn key_id(name: &str, key: &PublicKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_SIGNATURE_TYPE]);
    hasher.update(key.to_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks a note text: non-empty, ends in newline, no control character but newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if let Some(c) = text.chars().find(|c| *c < ' ' && *c != '\n') {
        return Err(NoteError::ControlCharacter(u32::from(c)));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

/// One signature line: the signer's key name, key ID and signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID (the first 4 bytes of the decoded signature).
    pub key_id: u32,
    /// The signature proper (the bytes after the key ID).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(bytes)
        )
    }
}

/// A signed note, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// A note of `text` with no signature yet (sign it with [`Note::sign`]).
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        if text.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(text.len()));
        }
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a note's bytes, refusing anything the format forbids and anything past the limits.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let note = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_text(note)?;
        // The text ends at the last blank line; what follows are the signatures.
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let (text, lines) = (&note[..split + 1], &note[split + 2..]);
        if lines.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let mut signatures = Vec::new();
        for (i, line) in lines.split_terminator('\n').enumerate() {
            if i == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line, i + 1)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The text, **not verified**: for logging or diagnosis only. Use [`Note::verify`].
    pub fn unverified_text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds `signer`'s signature (replacing an earlier one by the same name and key ID), unless
    /// the note would pass the limits a verifier applies.
    pub fn sign(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let signature = signer.sign_text(&self.text);
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(signature);
        let len = self.to_string().len();
        if len > MAX_NOTE_BYTES {
            self.signatures.pop();
            return Err(NoteError::TooLarge(len));
        }
        Ok(())
    }

    /// Verifies the note against trusted keys: ignores signatures by unknown keys (name and
    /// key ID not both matching a trusted key), rejects the note if any signature by a trusted
    /// key fails, and requires at least one to succeed.
    pub fn verify(&self, trusted: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
        let mut signed_by: Vec<NoteVerifier> = Vec::new();
        for line in &self.signatures {
            for key in trusted
                .iter()
                .filter(|k| k.name == line.name && k.key_id == line.key_id)
            {
                let bytes: [u8; 64] = line
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| NoteError::BadSignature(key.name.clone()))?;
                key.key
                    .verify_raw(self.text.as_bytes(), &Signature::from_bytes(&bytes))
                    .map_err(|_| NoteError::BadSignature(key.name.clone()))?;
                if !signed_by.contains(key) {
                    signed_by.push(key.clone());
                }
            }
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(VerifiedNote {
            text: self.text.clone(),
            signed_by,
        })
    }
}

fn parse_signature_line(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
    let bad = NoteError::BadSignatureLine { line: number };
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(bad.clone())?;
    let (name, encoded) = rest.split_once(' ').ok_or(bad.clone())?;
    if !valid_key_name(name) {
        return Err(NoteError::BadKeyName);
    }
    let bytes = STANDARD.decode(encoded).map_err(|_| bad.clone())?;
    if bytes.len() < 5 {
        return Err(bad);
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        signature: bytes[4..].to_vec(),
    })
}

/// The note as it is written: text, blank line, signature lines.
impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for signature in &self.signatures {
            f.write_str(&signature.line())?;
        }
        Ok(())
    }
}

/// A note whose text at least one trusted key has signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    signed_by: Vec<NoteVerifier>,
}

impl VerifiedNote {
    /// The verified text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The trusted keys whose signatures verified, each once, in the note's order.
    pub fn signed_by(&self) -> &[NoteVerifier] {
        &self.signed_by
    }

    /// Whether `key` is among them.
    pub fn is_signed_by(&self, key: &NoteVerifier) -> bool {
        self.signed_by.contains(key)
    }
}

/// A trusted Ed25519 key of a note signer: name, key ID and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: PublicKey,
}

impl NoteVerifier {
    /// The verifier of `key` under `name`.
    pub fn new(name: impl Into<String>, key: PublicKey) -> Result<Self, NoteError> {
        let name = name.into();
        if !valid_key_name(&name) {
            return Err(NoteError::BadKeyName);
        }
        let key_id = key_id(&name, &key);
        Ok(Self { name, key_id, key })
    }

    /// Parses a verifier key `<name>+<hex key ID>+<base64(0x01 || key)>` and checks that the
    /// ID is the one the name and key give.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        if vkey.len() > 1024 {
            return Err(NoteError::BadVerifierKey);
        }
        let (name, rest) = vkey.split_once('+').ok_or(NoteError::BadVerifierKey)?;
        let (id_hex, encoded) = rest.split_once('+').ok_or(NoteError::BadVerifierKey)?;
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(NoteError::BadVerifierKey);
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::BadVerifierKey)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| NoteError::BadVerifierKey)?;
        let (&kind, key) = bytes.split_first().ok_or(NoteError::BadVerifierKey)?;
        if kind != ED25519_SIGNATURE_TYPE {
            return Err(NoteError::UnsupportedKeyType(kind));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| NoteError::BadVerifierKey)?;
        let key = PublicKey::from_bytes(&key).map_err(NoteError::BadPublicKey)?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(verifier)
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        let mut bytes = vec![ED25519_SIGNATURE_TYPE];
        bytes.extend_from_slice(&self.key.to_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(bytes)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

/// An Ed25519 key that signs notes under a name. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl NoteSigner {
    /// `key` signing as `name`.
    pub fn new(name: impl Into<String>, key: &SigningKey) -> Result<Self, NoteError> {
        let name = name.into();
        if !valid_key_name(&name) {
            return Err(NoteError::BadKeyName);
        }
        let public = key.public_key();
        Ok(Self {
            key_id: key_id(&name, &public),
            key: ed25519_dalek::SigningKey::from_bytes(&key.seed()),
            public,
            name,
        })
    }

    /// The verifier that checks this signer's notes.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.public,
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn sign_text(&self, text: &str) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.key_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, &SigningKey::from_seed(&[seed; 32])).unwrap()
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let alice = signer("example.com/alice", 1);
        let bob = signer("example.com/bob", 2);
        let mut note = Note::new("hello\n\nworld\n").unwrap();
        note.sign(&alice).unwrap();
        note.sign(&bob).unwrap();
        note.sign(&alice).unwrap(); // re-signing replaces, never duplicates
        assert_eq!(note.signatures().len(), 2);
        let text = note.to_string();
        let parsed = Note::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, note);
        let verified = parsed.verify(&[alice.verifier()]).unwrap();
        assert_eq!(verified.text(), "hello\n\nworld\n");
        assert!(verified.is_signed_by(&alice.verifier()));
        assert!(!verified.is_signed_by(&bob.verifier()));
        let both = parsed.verify(&[bob.verifier(), alice.verifier()]).unwrap();
        assert_eq!(both.signed_by().len(), 2);
        // The vkey round-trips.
        let vkey = alice.verifier().vkey();
        assert_eq!(NoteVerifier::from_vkey(&vkey).unwrap(), alice.verifier());
    }

    #[test]
    fn unknown_keys_are_ignored_but_bad_known_signatures_reject() {
        let alice = signer("example.com/alice", 1);
        let mallory = signer("example.com/alice", 3); // same name, other key: other ID
        let mut note = Note::new("text\n").unwrap();
        note.sign(&mallory).unwrap();
        assert_eq!(
            note.verify(&[alice.verifier()]),
            Err(NoteError::NoTrustedSignature)
        );
        note.sign(&alice).unwrap();
        assert!(note.verify(&[alice.verifier()]).is_ok());
        // Alter the text under the signatures: alice's signature now fails, the note is
        // rejected even though mallory's (unknown) line is ignored.
        let forged = note.to_string().replacen("text", "test", 1);
        assert_eq!(
            Note::parse(forged.as_bytes())
                .unwrap()
                .verify(&[alice.verifier()]),
            Err(NoteError::BadSignature("example.com/alice".to_owned()))
        );
    }

    #[test]
    fn hostile_notes_are_refused() {
        let alice = signer("a", 1);
        let mut ok = Note::new("x\n").unwrap();
        ok.sign(&alice).unwrap();
        let line = ok.signatures()[0].line();
        let cases: Vec<(Vec<u8>, NoteError)> = vec![
            (b"x\n".to_vec(), NoteError::NoSignatures),
            (b"x\n\n".to_vec(), NoteError::NoSignatures),
            (
                format!("x\n\n{}", line.trim_end()).into_bytes(),
                NoteError::BadText,
            ),
            (
                format!("x\r\n\n{line}").into_bytes(),
                NoteError::ControlCharacter(13),
            ),
            (
                format!("x\t\n\n{line}").into_bytes(),
                NoteError::ControlCharacter(9),
            ),
            (vec![b'x', 0xff, b'\n', b'\n'], NoteError::NotUtf8),
            (
                format!("x\n\n- a {}\n", "AAAAAAAA").into_bytes(),
                NoteError::BadSignatureLine { line: 1 },
            ),
            (
                format!("x\n\n{SIGNATURE_PREFIX}a AAAA\n").into_bytes(),
                NoteError::BadSignatureLine { line: 1 },
            ),
            (
                format!("x\n\n{SIGNATURE_PREFIX}a+b AAAAAAAA\n").into_bytes(),
                NoteError::BadKeyName,
            ),
            (
                format!("x\n\n{SIGNATURE_PREFIX}a\u{a0}b AAAAAAAA\n").into_bytes(),
                NoteError::BadKeyName,
            ),
            (
                format!("x\n\n{SIGNATURE_PREFIX} AAAAAAAA\n").into_bytes(),
                NoteError::BadKeyName,
            ),
            (
                format!("x\n\n{SIGNATURE_PREFIX}a AAAAAAA\n").into_bytes(),
                NoteError::BadSignatureLine { line: 1 },
            ),
            (
                format!("x\n\n{}", line.repeat(MAX_SIGNATURES + 1)).into_bytes(),
                NoteError::TooManySignatures,
            ),
            (
                vec![b'x'; MAX_NOTE_BYTES + 1],
                NoteError::TooLarge(MAX_NOTE_BYTES + 1),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                Note::parse(&bytes),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        // Exactly MAX_SIGNATURES lines are fine.
        let many = format!("x\n\n{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(
            Note::parse(many.as_bytes()).unwrap().signatures().len(),
            MAX_SIGNATURES
        );
        assert_eq!(Note::new("no newline"), Err(NoteError::BadText));
        assert_eq!(Note::new(""), Err(NoteError::BadText));
        assert!(NoteSigner::new("has space", &SigningKey::from_seed(&[1; 32])).is_err());
    }

    #[test]
    fn verifier_keys_are_parsed_strictly() {
        let vkey = signer("example.com/a", 1).verifier().vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        for bad in [
            format!("{name}+{}+{key}", id.to_uppercase()),
            format!("{name}+0{id}+{key}"),
            format!("{name}+00000000+{key}"),
            format!("{name}+{id}"),
            format!("{name}+{id}+{}", &key[..key.len() - 4]),
            format!("+{id}+{key}"),
        ] {
            if bad == vkey {
                continue; // an ID of digits only has no upper case
            }
            assert!(NoteVerifier::from_vkey(&bad).is_err(), "{bad}");
        }
        let mut other_type = STANDARD.decode(key).unwrap();
        other_type[0] = 0x04;
        assert_eq!(
            NoteVerifier::from_vkey(&format!("{name}+{id}+{}", STANDARD.encode(&other_type))),
            Err(NoteError::UnsupportedKeyType(4))
        );
    }
}
