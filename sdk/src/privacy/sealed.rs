//! Private fields sealed to one reader: HPKE (RFC 9180) in base mode with
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305, to the reader's X25519 key
//! from the genesis.
//!
//! The plaintext is the [`HeldFields`] the reader may read (postcard). The associated data
//! binds the ciphertext to one consortium, one entry and one reader, so a sealed message
//! cannot be replayed for another entry or opened as meant for another member:
//!
//! ```text
//! info = "tally/v1/sealed-fields\0"
//! aad  = info || network id (32) || entry hash (32) || reader's member id (UTF-8)
//! ```
//!
//! A round of messages to one reader shares one HPKE context ([`RoundSealer`],
//! [`RoundOpener`]): one encapsulation, and message *k* of the round sealed with the context's
//! *k*-th nonce (RFC 9180 §5.2), each with its own entry's associated data. The reader opens
//! them in the order they were sealed. One X25519 operation per round on each side, instead of
//! one per entry, was most of the CPU of delivering private fields. A lone message ([`seal`],
//! [`open`]) is a round of one: HPKE's single-shot API.
//!
//! Base mode does not authenticate the sender, and need not: the author's signature over the
//! entry's commitment does. A reader checks what it opens with [`HeldFields::verify`] before
//! keeping any of it, so a value that is not the one the author committed to is refused
//! whoever sent it.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::crypto::{X25519PublicKey, X25519SecretKey};
use crate::hash::{EntryHash, NetworkId};
use crate::ids::MemberId;
use crate::privacy::held::HeldFields;

/// The HPKE `info` string, and the start of the associated data.
pub const SEAL_INFO: &[u8] = b"tally/v1/sealed-fields\0";

/// Largest plaintext a sealed message may open to.
pub const MAX_SEALED_BYTES: usize = 1 << 20;

type SealKem = X25519HkdfSha256;

/// Sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The recipient's public key is not a usable X25519 key.
    #[error("the reader's X25519 key cannot be used: {0}")]
    Key(String),
    /// Encryption failed.
    #[error("cannot seal the private fields: {0}")]
    Seal(String),
    /// The message was not sealed to this key for this entry and reader, or was altered.
    #[error(
        "the sealed private fields cannot be opened: they were sealed to another key, for another \
         entry or reader, or were altered on the way"
    )]
    Open,
    /// The plaintext is not a holding of private fields.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Private fields sealed to one reader.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedFields {
    /// The HPKE encapsulated key.
    pub encapsulated: [u8; 32],
    /// The ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedFields({} bytes)", self.ciphertext.len())
    }
}

/// Who a sealed message is for, and what it is about: bound into its associated data.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    /// The consortium.
    pub network: NetworkId,
    /// The entry whose private fields are sealed.
    pub entry: EntryHash,
    /// The member who may open it.
    pub reader: &'a MemberId,
}

impl SealContext<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(SEAL_INFO.len() + 64 + self.reader.as_str().len());
        aad.extend_from_slice(SEAL_INFO);
        aad.extend_from_slice(self.network.as_bytes());
        aad.extend_from_slice(self.entry.as_bytes());
        aad.extend_from_slice(self.reader.as_str().as_bytes());
        aad
    }
}

/// Seals a round of messages to one reader: one encapsulation, the messages in order.
pub struct RoundSealer {
    encapsulated: [u8; 32],
    context: hpke::aead::AeadCtxS<ChaCha20Poly1305, HkdfSha256, SealKem>,
}

impl std::fmt::Debug for RoundSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundSealer").finish_non_exhaustive()
    }
}

impl RoundSealer {
    /// A round to the reader's `key`. Draws the ephemeral key from the OS RNG.
    pub fn new(key: &X25519PublicKey) -> Result<Self, SealError> {
        let recipient = <SealKem as Kem>::PublicKey::from_bytes(&key.to_bytes())
            .map_err(|e| SealError::Key(format!("{e:?}")))?;
        let (encapsulated, context) = hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, SealKem>(
            &OpModeS::Base,
            &recipient,
            SEAL_INFO,
        )
        .map_err(|e| SealError::Seal(format!("{e:?}")))?;
        let encapsulated: [u8; 32] =
            encapsulated.to_bytes().as_slice().try_into().map_err(|_| {
                SealError::Seal("an X25519 encapsulated key is not 32 bytes".into())
            })?;
        Ok(Self {
            encapsulated,
            context,
        })
    }

    /// Seals the round's next message: `held`, about the entry and reader of `context`.
    pub fn seal(
        &mut self,
        context: &SealContext<'_>,
        held: &HeldFields,
    ) -> Result<SealedFields, SealError> {
        let plaintext = codec::encode("held private fields", held)?;
        let ciphertext = self
            .context
            .seal(&plaintext, &context.associated_data())
            .map_err(|e| SealError::Seal(format!("{e:?}")))?;
        Ok(SealedFields {
            encapsulated: self.encapsulated,
            ciphertext,
        })
    }
}

/// Opens a round of messages sealed to this reader, in the order they were sealed. A message
/// of another round (another encapsulated key) starts a new one.
pub struct RoundOpener<'k> {
    key: &'k X25519SecretKey,
    round: Option<(
        [u8; 32],
        hpke::aead::AeadCtxR<ChaCha20Poly1305, HkdfSha256, SealKem>,
    )>,
}

impl std::fmt::Debug for RoundOpener<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundOpener").finish_non_exhaustive()
    }
}

impl<'k> RoundOpener<'k> {
    /// An opener with the reader's secret `key`.
    pub fn new(key: &'k X25519SecretKey) -> Self {
        Self { key, round: None }
    }

    /// Opens the next message. A message that fails to open leaves the round where it was, so
    /// the round's later messages fail too: a round is opened whole or from its first bad
    /// message on not at all. The holding still has to be checked against the entry's
    /// commitment ([`HeldFields::verify`]).
    pub fn open(
        &mut self,
        context: &SealContext<'_>,
        sealed: &SealedFields,
    ) -> Result<HeldFields, SealError> {
        let current = self
            .round
            .as_ref()
            .is_some_and(|(encapsulated, _)| *encapsulated == sealed.encapsulated);
        if !current {
            let secret = <SealKem as Kem>::PrivateKey::from_bytes(&self.key.to_bytes())
                .map_err(|e| SealError::Key(format!("{e:?}")))?;
            let encapsulated = <SealKem as Kem>::EncappedKey::from_bytes(&sealed.encapsulated)
                .map_err(|_| SealError::Open)?;
            let round = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, SealKem>(
                &OpModeR::Base,
                &secret,
                &encapsulated,
                SEAL_INFO,
            )
            .map_err(|_| SealError::Open)?;
            self.round = Some((sealed.encapsulated, round));
        }
        let Some((_, round)) = self.round.as_mut() else {
            return Err(SealError::Open);
        };
        let plaintext = round
            .open(&sealed.ciphertext, &context.associated_data())
            .map_err(|_| SealError::Open)?;
        Ok(codec::decode(
            "held private fields",
            &plaintext,
            MAX_SEALED_BYTES,
        )?)
    }
}

/// Seals `held` to the reader's key, alone (a round of one: HPKE's single-shot message).
/// Draws the ephemeral key from the OS RNG.
pub fn seal(
    context: &SealContext<'_>,
    key: &X25519PublicKey,
    held: &HeldFields,
) -> Result<SealedFields, SealError> {
    RoundSealer::new(key)?.seal(context, held)
}

/// Opens a message sealed alone with the reader's secret key. The holding still has to be
/// checked against the entry's commitment ([`HeldFields::verify`]).
pub fn open(
    context: &SealContext<'_>,
    key: &X25519SecretKey,
    sealed: &SealedFields,
) -> Result<HeldFields, SealError> {
    RoundOpener::new(key).open(context, sealed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::codec::CanonicalJson;
    use crate::ids::FieldName;
    use crate::privacy::disclosure::{CommitLimits, commit};

    const CANARY: &str = "canary-7f3a9c";

    fn holding() -> (crate::privacy::disclosure::PrivateCommitment, HeldFields) {
        let mut fields = BTreeMap::new();
        fields.insert(
            FieldName::new("consumer.address").unwrap(),
            CanonicalJson::from_slice(format!("\"1 {CANARY} Road\"").as_bytes(), 1 << 20).unwrap(),
        );
        fields.insert(
            FieldName::new("order.spec").unwrap(),
            CanonicalJson::from_slice(b"{\"size\":42}", 1 << 20).unwrap(),
        );
        let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
        let held = HeldFields::complete(&commitment, &opened).unwrap();
        (commitment, held)
    }

    fn context(reader: &MemberId) -> SealContext<'_> {
        SealContext {
            network: NetworkId::digest(b"network"),
            entry: EntryHash::digest(b"entry"),
            reader,
        }
    }

    #[test]
    fn only_the_reader_opens_what_was_sealed_to_it() {
        let (commitment, held) = holding();
        let carrier = MemberId::new("carrier").unwrap();
        let secret = X25519SecretKey::generate().unwrap();
        let sealed = seal(&context(&carrier), &secret.public_key(), &held).unwrap();
        let text = String::from_utf8_lossy(&sealed.ciphertext);
        assert!(!text.contains(CANARY), "the ciphertext shows the value");
        let opened = open(&context(&carrier), &secret, &sealed).unwrap();
        assert_eq!(opened, held);
        opened.verify(&commitment).unwrap();

        let stranger = X25519SecretKey::generate().unwrap();
        assert!(matches!(
            open(&context(&carrier), &stranger, &sealed),
            Err(SealError::Open)
        ));
        let factory = MemberId::new("factory").unwrap();
        assert!(matches!(
            open(&context(&factory), &secret, &sealed),
            Err(SealError::Open)
        ));
        let other_entry = SealContext {
            entry: EntryHash::digest(b"another entry"),
            ..context(&carrier)
        };
        assert!(matches!(
            open(&other_entry, &secret, &sealed),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn a_round_opens_in_order_and_only_in_order() {
        let (commitment, held) = holding();
        let carrier = MemberId::new("carrier").unwrap();
        let secret = X25519SecretKey::generate().unwrap();
        let entry = |n: u8| SealContext {
            entry: EntryHash::digest(&[n]),
            ..context(&carrier)
        };
        let mut sealer = RoundSealer::new(&secret.public_key()).unwrap();
        let round: Vec<SealedFields> = (0..4u8)
            .map(|n| sealer.seal(&entry(n), &held).unwrap())
            .collect();
        assert!(
            round
                .iter()
                .all(|s| s.encapsulated == round[0].encapsulated)
        );
        // The first message of a round is a lone message: the single-shot open reads it.
        assert_eq!(open(&entry(0), &secret, &round[0]).unwrap(), held);

        let mut opener = RoundOpener::new(&secret);
        for (n, sealed) in round.iter().enumerate() {
            let opened = opener.open(&entry(n as u8), sealed).unwrap();
            opened.verify(&commitment).unwrap();
        }
        // Out of order, or bound to another entry, a message does not open; nor do the ones
        // after it.
        let mut opener = RoundOpener::new(&secret);
        assert!(matches!(
            opener.open(&entry(1), &round[1]),
            Err(SealError::Open)
        ));
        let mut opener = RoundOpener::new(&secret);
        opener.open(&entry(0), &round[0]).unwrap();
        assert!(matches!(
            opener.open(&entry(9), &round[1]),
            Err(SealError::Open)
        ));
        assert!(matches!(
            opener.open(&entry(2), &round[2]),
            Err(SealError::Open)
        ));
        // A new round starts with its own encapsulated key.
        let lone = seal(&entry(7), &secret.public_key(), &held).unwrap();
        assert_eq!(opener.open(&entry(7), &lone).unwrap(), held);
        // Another reader's key opens nothing.
        let stranger = X25519SecretKey::generate().unwrap();
        assert!(
            RoundOpener::new(&stranger)
                .open(&entry(0), &round[0])
                .is_err()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_altered_byte_fails_to_open(index in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (_, held) = holding();
            let carrier = MemberId::new("carrier").unwrap();
            let secret = X25519SecretKey::generate().unwrap();
            let mut sealed = seal(&context(&carrier), &secret.public_key(), &held).unwrap();
            let total = sealed.encapsulated.len() + sealed.ciphertext.len();
            let at = index.index(total);
            if at < 32 {
                sealed.encapsulated[at] ^= 1 << bit;
            } else {
                sealed.ciphertext[at - 32] ^= 1 << bit;
            }
            prop_assert!(open(&context(&carrier), &secret, &sealed).is_err());
        }
    }
}
