//! Member key files: the secrets one member's node (or signing tool) holds.
//!
//! A key file is TOML with the member id and three secrets: the Ed25519 key that signs the
//! member's entries, the X25519 key private data is encrypted to, and the Ed25519 key of the
//! node's libp2p identity (kept apart from the signing key so that a node's transport identity
//! can be replaced without touching the member's chain). The CLI writes key files with mode
//! 0600 and never overwrites one.

use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, SigningKey, X25519SecretKey};
use crate::ids::MemberId;

/// A key file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not valid TOML or missing fields.
    #[error("the key file cannot be read: {0}")]
    Parse(String),
    /// A secret is malformed.
    #[error("the key file's {field} is invalid: {source}")]
    Key {
        /// Which secret.
        field: &'static str,
        /// Why.
        source: CryptoError,
    },
}

fn key_error(field: &'static str) -> impl Fn(CryptoError) -> KeyFileError {
    move |source| KeyFileError::Key { field, source }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileText {
    member: MemberId,
    signing_secret: String,
    x25519_secret: String,
    node_secret: String,
}

/// One member's secrets.
#[derive(Debug, Clone)]
pub struct MemberKeys {
    /// The member.
    pub member: MemberId,
    /// Signs the member's entries and checkpoints.
    pub signing: SigningKey,
    /// Decrypts private data sent to the member.
    pub x25519: X25519SecretKey,
    /// The node's libp2p identity.
    pub node: SigningKey,
}

impl MemberKeys {
    /// Fresh keys from the OS random number generator.
    pub fn generate(member: MemberId) -> Result<Self, CryptoError> {
        Ok(Self {
            member,
            signing: SigningKey::generate()?,
            x25519: X25519SecretKey::generate()?,
            node: SigningKey::generate()?,
        })
    }

    /// Parses a key file.
    pub fn from_toml(text: &str) -> Result<Self, KeyFileError> {
        let raw: KeyFileText =
            toml::from_str(text).map_err(|e| KeyFileError::Parse(e.to_string()))?;
        Ok(Self {
            member: raw.member,
            signing: SigningKey::from_hex(&raw.signing_secret)
                .map_err(key_error("signing_secret"))?,
            x25519: X25519SecretKey::from_hex(&raw.x25519_secret)
                .map_err(key_error("x25519_secret"))?,
            node: SigningKey::from_hex(&raw.node_secret).map_err(key_error("node_secret"))?,
        })
    }

    /// The key file text, with a warning header.
    pub fn to_toml(&self, header: &str) -> String {
        format!(
            "{header}member = \"{}\"\nsigning_secret = \"{}\"\nx25519_secret = \"{}\"\nnode_secret = \"{}\"\n",
            self.member,
            self.signing.seed_hex(),
            self.x25519.secret_hex(),
            self.node.seed_hex()
        )
    }

    /// The libp2p peer id of the node key.
    pub fn peer_id(&self) -> String {
        self.node.public_key().to_peer_id()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip() {
        let keys = MemberKeys::generate(MemberId::new("platform").unwrap()).unwrap();
        let text = keys.to_toml("# secret\n");
        let back = MemberKeys::from_toml(&text).unwrap();
        assert_eq!(back.signing.public_key(), keys.signing.public_key());
        assert_eq!(back.x25519.public_key(), keys.x25519.public_key());
        assert_eq!(back.peer_id(), keys.peer_id());
        let err =
            MemberKeys::from_toml(&text.replace("signing_secret = \"", "signing_secret = \"zz"))
                .unwrap_err();
        assert!(err.to_string().contains("signing_secret"));
        assert!(MemberKeys::from_toml("member = 1").is_err());
    }
}
