//! Tally's proof material beside each event a query answers: the extension field
//! [`PROOF_FIELD`] (`tally:proof`), holding an [`EventProof`].
//!
//! ```json
//! "tally:proof": {
//!   "entry": "5f1c…64 hex digits",
//!   "signer": "manufacturer",
//!   "sequence": 41,
//!   "witnessed": true
//! }
//! ```
//!
//! * `entry`: the hash of the signed entry that records the event; its inclusion and
//!   signature are checked with the node's entry and evidence routes, or offline with the SDK;
//! * `signer`: the member whose chain holds the entry, who signed it;
//! * `sequence`: the entry's position in that chain, from 0;
//! * `witnessed`: whether checkpoints of a quorum of members cover the entry;
//! * `forked` (present only when true): the signer's chain forked at or before the entry.
//!
//! The field is added by the repository when it answers, so it is not part of the event:
//! [`super::document::standalone_event_hash_id`] excludes it, capture drops it, and an
//! EPCIS tool that does not know the `tally` namespace can ignore it as any extension.

use serde::{Deserialize, Serialize};

use crate::hash::EntryHash;
use crate::ids::MemberId;

/// The extension field carrying an [`EventProof`] in an answered event.
pub const PROOF_FIELD: &str = "tally:proof";

/// Where an answered event is recorded and whether it is witnessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventProof {
    /// Hash of the entry that records the event.
    pub entry: EntryHash,
    /// The member whose chain holds the entry and who signed it.
    pub signer: MemberId,
    /// The entry's position in the signer's chain, from 0.
    pub sequence: u64,
    /// Whether checkpoints of a quorum of members witness the entry.
    pub witnessed: bool,
    /// Whether the signer's chain forked at or before the entry (absent when not): its
    /// author signed two histories, so the event may not be the one it stands by.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forked: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_json_shape_is_pinned() {
        let proof = EventProof {
            entry: EntryHash::digest(b"x"),
            signer: MemberId::new("manufacturer").unwrap(),
            sequence: 41,
            witnessed: true,
            forked: false,
        };
        let value = serde_json::to_value(&proof).unwrap();
        assert_eq!(
            value,
            json!({
                "entry": EntryHash::digest(b"x").to_hex(),
                "signer": "manufacturer",
                "sequence": 41,
                "witnessed": true,
            })
        );
        assert_eq!(serde_json::from_value::<EventProof>(value).unwrap(), proof);
        assert!(serde_json::from_value::<EventProof>(json!({"entry": "zz"})).is_err());
    }
}
