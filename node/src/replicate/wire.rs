//! What nodes send each other, and its encoding: the SDK's canonical postcard encoding
//! ([`tally_sdk::codec`]), decoded with a size cap, so a peer's bytes are never trusted for
//! more than [`MAX_MESSAGE_BYTES`].
//!
//! Two channels: gossip carries batches of new entries, and checkpoints, to every node; sync is
//! request-response (a peer's chain heads and the chains it holds as forked, a range of one
//! chain, the fork proof of one chain, the checkpoints it holds past given numbers, the
//! governance changes it applied, its attestation of what it holds about a product). Entries,
//! fork proofs and checkpoints travel in their signed form and are verified by the receiver
//! like any other input.

use serde::{Deserialize, Serialize};
use tally_sdk::codec::{self, CodecError};
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::governance::SignedChange;
use tally_sdk::reports::attestation::Attestation;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use tally_sdk::witnessing::fork::ForkProof;

/// Largest message a node sends or accepts (a range of entries at most this size).
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// The last entry a node holds of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// The chain's author.
    pub author: MemberId,
    /// The sequence number of its last entry.
    pub seq: u64,
    /// That entry's hash.
    pub hash: EntryHash,
}

/// A chain the node holds a fork proof of: its author signed two entries at `seq`, and
/// nothing of the chain from there on is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkPoint {
    /// The chain's author.
    pub author: MemberId,
    /// The earliest place where the node holds two entries the author signed.
    pub seq: u64,
}

/// Two different checkpoints one witness signed with one number: proof, checkable with the
/// genesis alone, that it showed different statements to different nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointConflict {
    /// The one the sender held first.
    pub held: Checkpoint,
    /// The other.
    pub other: Checkpoint,
}

/// New entries, as one gossip message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipBatch {
    /// The entries, in chain order per author.
    pub entries: Vec<SignedEntry>,
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "Which chain heads do you hold?"
    Heads,
    /// "Send `author`'s entries from sequence number `from`, at most `limit` of them."
    Range {
        /// The chain.
        author: MemberId,
        /// The first sequence number wanted.
        from: u64,
        /// The most entries wanted.
        limit: u32,
    },
    /// "Send the fork proof you hold of `author`'s chain (the one at its earliest place)."
    Fork {
        /// The chain.
        author: MemberId,
    },
    /// "Send the checkpoints you hold of each of these witnesses, from these numbers on, at
    /// most `limit` in all, and the proofs you hold of witnesses that signed two checkpoints
    /// with one number, but for these witnesses'."
    Checkpoints {
        /// Witness and first checkpoint number wanted.
        from: Vec<(MemberId, u64)>,
        /// The most checkpoints wanted.
        limit: u32,
        /// The witnesses the asker holds such a proof of already.
        conflicts_held: Vec<MemberId>,
    },
    /// "Send the governance changes you applied after the first `have`."
    Changes {
        /// How many changes the asker has applied.
        have: u64,
    },
    /// "Attest what you hold about this product" (for an evidence bundle the asker builds;
    /// [`tally_sdk::reports::attestation`]).
    Attest {
        /// The product, as a Digital Link URI.
        product: String,
    },
}

/// The answer to a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The chain heads the node holds, and the chains it holds as forked (each with a fork
    /// proof the asker pulls with [`SyncRequest::Fork`] unless it holds one as early).
    Heads {
        /// The last entry of each chain.
        heads: Vec<HeadInfo>,
        /// The forked chains.
        forks: Vec<ForkPoint>,
    },
    /// Consecutive entries of the chain asked for, from the sequence number asked for (fewer
    /// than asked, or none, when the node holds fewer or the size cap is reached).
    Range(Vec<SignedEntry>),
    /// The fork proof asked for.
    Fork(Box<ForkProof>),
    /// Checkpoints asked for, by witness in the order asked and by number (fewer than asked
    /// when the node holds fewer or the size cap is reached), and the conflict proofs asked
    /// for (within the size cap).
    Checkpoints {
        /// The checkpoints.
        checkpoints: Vec<Checkpoint>,
        /// Proofs that a witness signed two checkpoints with one number.
        conflicts: Vec<CheckpointConflict>,
    },
    /// The request was malformed or refused.
    Refused,
    /// Governance changes asked for, in order from the one after the asker's (fewer than it
    /// lacks when there are more than [`MAX_CHANGES`]; none when it has them all).
    Changes(Vec<SignedChange>),
    /// The node's signed attestation of what it holds about the product asked for.
    Attestation(Box<Attestation>),
}

/// Most governance changes in one answer.
pub const MAX_CHANGES: usize = 16;

/// Encodes a message.
pub fn encode<T: Serialize>(what: &'static str, message: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = codec::encode(what, message)?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            what,
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(bytes)
}

/// Decodes a message of at most [`MAX_MESSAGE_BYTES`].
pub fn decode<T: serde::de::DeserializeOwned + Serialize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    codec::decode(what, bytes, MAX_MESSAGE_BYTES)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn member(name: &str) -> MemberId {
        MemberId::new(name).unwrap()
    }

    #[test]
    fn every_message_round_trips() {
        let head = HeadInfo {
            author: member("supplier"),
            seq: 41,
            hash: EntryHash::digest(b"x"),
        };
        let heads = SyncResponse::Heads {
            heads: vec![head.clone()],
            forks: vec![ForkPoint {
                author: member("regulator"),
                seq: 3,
            }],
        };
        let bytes = encode("heads", &heads).unwrap();
        assert_eq!(decode::<SyncResponse>("heads", &bytes).unwrap(), heads);
        for request in [
            SyncRequest::Heads,
            SyncRequest::Range {
                author: member("platform"),
                from: 7,
                limit: 2_000,
            },
            SyncRequest::Checkpoints {
                from: vec![(member("platform"), 3), (member("regulator"), 0)],
                limit: 64,
                conflicts_held: vec![member("supplier")],
            },
            SyncRequest::Fork {
                author: member("regulator"),
            },
            SyncRequest::Changes { have: 3 },
            SyncRequest::Attest {
                product: "https://id.gs1.org/01/09506000134352/21/SOFA-1".into(),
            },
        ] {
            let bytes = encode("request", &request).unwrap();
            assert_eq!(decode::<SyncRequest>("request", &bytes).unwrap(), request);
        }
    }

    #[test]
    fn a_checkpoint_pull_naming_every_member_of_the_largest_consortium_twice_fits_a_request_frame()
    {
        let from = (0..tally_sdk::membership::genesis::MAX_MEMBERS)
            .map(|i| (member(&format!("{i:0>64}")), u64::MAX))
            .collect();
        let conflicts_held = (0..tally_sdk::membership::genesis::MAX_MEMBERS)
            .map(|i| member(&format!("{i:0>64}")))
            .collect();
        let request = SyncRequest::Checkpoints {
            from,
            limit: 64,
            conflicts_held,
        };
        let bytes = encode("request", &request).unwrap();
        assert!(
            bytes.len() <= super::super::codec::MAX_REQUEST_BYTES,
            "{}",
            bytes.len()
        );
    }

    #[test]
    fn the_largest_attestation_round_trips_within_a_message() {
        use tally_sdk::reports::attestation::{
            ATTESTATION_FORMAT, Attestation, AttestationBody, AttestedEntry, ChainHeld,
            MAX_ATTESTED_ENTRIES,
        };
        let members: Vec<MemberId> = (0..tally_sdk::membership::genesis::MAX_MEMBERS)
            .map(|i| member(&format!("{i:0>64}")))
            .collect();
        let body = AttestationBody {
            format: ATTESTATION_FORMAT,
            network: tally_sdk::hash::NetworkId::digest(b"network"),
            attester: members[0].clone(),
            product: "https://id.gs1.org/01/09506000134352/21/SOFA-1".into(),
            time: tally_sdk::time::Timestamp(1_800_000_000_000),
            chains: members
                .iter()
                .map(|m| ChainHeld {
                    author: m.clone(),
                    size: u64::MAX,
                    head: Some(EntryHash::digest(m.as_str().as_bytes())),
                })
                .collect(),
            entries: (0..MAX_ATTESTED_ENTRIES as u64)
                .map(|seq| AttestedEntry {
                    author: members[1].clone(),
                    seq,
                    hash: EntryHash::digest(&seq.to_be_bytes()),
                })
                .collect(),
        };
        let key = tally_sdk::crypto::SigningKey::from_seed(&[7; 32]);
        let response = SyncResponse::Attestation(Box::new(Attestation::sign(body, &key).unwrap()));
        let bytes = encode("response", &response).unwrap();
        assert!(bytes.len() <= MAX_MESSAGE_BYTES, "{}", bytes.len());
        assert_eq!(
            decode::<SyncResponse>("response", &bytes).unwrap(),
            response
        );
    }

    #[test]
    fn garbage_truncation_and_trailing_bytes_are_refused() {
        let request = SyncRequest::Range {
            author: member("platform"),
            from: 7,
            limit: 2_000,
        };
        let bytes = encode("request", &request).unwrap();
        assert!(decode::<SyncRequest>("request", &bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<SyncRequest>("request", &longer).is_err());
        assert!(decode::<SyncRequest>("request", &[9, 9, 9]).is_err());
        // A member id that breaks the id rules is refused while decoding.
        let mut bad_id = bytes;
        bad_id[2] = b'P';
        assert!(decode::<SyncRequest>("request", &bad_id).is_err());
    }

    #[test]
    fn oversized_messages_are_refused_both_ways() {
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            decode::<SyncRequest>("request", &big),
            Err(CodecError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<SyncRequest>("request", &bytes);
            let _ = decode::<SyncResponse>("response", &bytes);
            let _ = decode::<GossipBatch>("gossip", &bytes);
        }

        #[test]
        fn ranges_round_trip(from in any::<u64>(), limit in any::<u32>(), which in 0usize..5) {
            let names = ["platform", "manufacturer", "supplier", "logistics", "regulator"];
            let request = SyncRequest::Range { author: member(names[which]), from, limit };
            let bytes = encode("request", &request).unwrap();
            prop_assert_eq!(decode::<SyncRequest>("request", &bytes).unwrap(), request);
        }
    }
}
