//! The node's libp2p identity and the peers it admits, both from the genesis: a node's libp2p
//! key is its member's node key, and only the peer ids the genesis lists may connect.

use std::collections::BTreeMap;

use libp2p::PeerId;
use libp2p::identity::Keypair;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;

/// The identity cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The node key is not a valid Ed25519 key for libp2p.
    #[error("the node key cannot be used as a libp2p identity: {0}")]
    Key(String),
    /// The member is not in the genesis.
    #[error("member {0} is not in the genesis")]
    NotAMember(MemberId),
    /// The node key is not the one the genesis lists.
    #[error(
        "the node key gives peer id {derived}, but the genesis lists {listed} for member {member}: use the member's key file from the genesis"
    )]
    WrongKey {
        /// The member.
        member: MemberId,
        /// From the key file.
        derived: String,
        /// From the genesis.
        listed: String,
    },
    /// A member's peer id in the genesis does not parse.
    #[error("the genesis lists an invalid peer id for member {member}: {peer_id}")]
    BadPeerId {
        /// The member.
        member: MemberId,
        /// The text.
        peer_id: String,
    },
}

/// The libp2p key pair of `keys`' node, checked against the genesis.
pub fn keypair(keys: &MemberKeys, genesis: &Consortium) -> Result<Keypair, IdentityError> {
    let keypair = Keypair::ed25519_from_bytes(keys.node.seed())
        .map_err(|e| IdentityError::Key(e.to_string()))?;
    let member = genesis
        .active_member(&keys.member)
        .ok_or_else(|| IdentityError::NotAMember(keys.member.clone()))?;
    let derived = keypair.public().to_peer_id().to_base58();
    if derived != member.peer_id {
        return Err(IdentityError::WrongKey {
            member: keys.member.clone(),
            derived,
            listed: member.peer_id.clone(),
        });
    }
    Ok(keypair)
}

/// The peer id of every current member but `me`: who may connect.
pub fn members(
    genesis: &Consortium,
    me: &MemberId,
) -> Result<BTreeMap<PeerId, MemberId>, IdentityError> {
    genesis
        .members()
        .iter()
        .filter(|m| &m.id != me)
        .map(|m| {
            m.peer_id
                .parse::<PeerId>()
                .map(|peer| (peer, m.id.clone()))
                .map_err(|_| IdentityError::BadPeerId {
                    member: m.id.clone(),
                    peer_id: m.peer_id.clone(),
                })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tally_sdk::crypto::SigningKey;
    use tally_sdk::membership::template::demo_consortium;

    use super::*;

    #[test]
    fn the_sdk_and_libp2p_agree_on_peer_ids() {
        for n in [0u8, 1, 0x42, 0xff] {
            let key = SigningKey::from_seed(&[n; 32]);
            let libp2p = Keypair::ed25519_from_bytes(key.seed()).unwrap();
            assert_eq!(
                libp2p.public().to_peer_id().to_base58(),
                key.public_key().to_peer_id()
            );
        }
    }

    #[test]
    fn a_node_key_must_be_the_one_the_genesis_lists() {
        let (signed, keys) = demo_consortium().unwrap();
        let genesis = signed.verify().unwrap();
        let identity = keypair(&keys[1], &genesis).unwrap();
        let peers = members(&genesis, &keys[1].member).unwrap();
        assert_eq!(peers.len(), 4);
        assert!(!peers.contains_key(&identity.public().to_peer_id()));
        // Another member's node key under this member's name is refused.
        let mut wrong = keys[1].clone();
        wrong.node = keys[2].node.clone();
        let error = keypair(&wrong, &genesis).unwrap_err();
        assert!(matches!(error, IdentityError::WrongKey { .. }), "{error}");
    }
}
