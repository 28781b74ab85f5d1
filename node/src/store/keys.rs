//! Key and value layouts of the column families: the node's storage format.
//!
//! Integers are big-endian so that keys sort by sequence number and time. Index keys end in
//! the entry's fixed-size [`Position`] (its author's node-local member code and its sequence
//! number, 12 bytes) rather than its 32-byte hash: an index key costs 20 bytes plus its
//! prefix, which keeps the disk cost per entry low. Strings in index prefixes are followed by a
//! 0 byte; strings that contain a 0 byte are not indexed (no CBV word or canonical Digital Link
//! path does).
//!
//! | column family | key | value |
//! |---|---|---|
//! | `entries` | entry hash (32) | signed entry, canonical encoding |
//! | `chain` | position (12) | entry hash (32) |
//! | `heads` | member id (UTF-8) | member code (4), seq (8), hash (32), timestamp (8) |
//! | `by_product` | Digital Link path, 0, event time (8), position | empty |
//! | `by_kind` | kind code (1), event time (8), position | empty |
//! | `by_biz_step` | bizStep, 0, event time (8), position | empty |
//! | `by_disposition` | disposition, 0, event time (8), position | empty |
//! | `by_time` | event time (8), position | empty |
//! | `by_record_time` | record time (the entry's timestamp, 8), position | empty |
//! | `by_event_id` | SHA-256 of the EPCIS `eventID` (32), event time (8), position; an event this node's EPCIS capture recorded also under the SHA-256 of its Event Hash ID | empty |
//! | `forks` | position, hash of the refused entry (32) | fork proof, canonical encoding |
//! | `rejected` | author's member id, 0, entry hash (32) | the refused signed entry, canonical encoding |
//! | `private` | entry hash (32) | private row: leaves, opened fields held, purge notes ([`crate::private::PrivateRow`]), canonical encoding |
//! | `outbox` | reader's member id, 0, entry hash (32) | empty |
//! | `captures` | EPCIS capture id (UTF-8) | capture job, JSON ([`crate::epcis::capture::CaptureJob`]) |
//! | `meta` | `network_id`, `format` | network id (32), format (4) |

use tally_sdk::event::KindName;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::ChainTip;

/// Longest string (bizStep, disposition, product path) that is indexed.
pub const MAX_INDEXED_STRING: usize = 512;

/// Bytes of a [`Position`] in a key.
pub const POSITION_LEN: usize = 12;

/// Bytes of an index key after its prefix: event time and position.
pub const INDEX_SUFFIX_LEN: usize = 8 + POSITION_LEN;

/// A member's number in this store. Assigned by the node when the member's first entry is
/// stored; it never leaves the node (entries name members by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberCode(pub u32);

/// Where an entry is: its author's code and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The author.
    pub member: MemberCode,
    /// The sequence number.
    pub seq: u64,
}

impl Position {
    /// The 12-byte key.
    pub fn to_key(self) -> [u8; POSITION_LEN] {
        let mut key = [0; POSITION_LEN];
        key[..4].copy_from_slice(&self.member.0.to_be_bytes());
        key[4..].copy_from_slice(&self.seq.to_be_bytes());
        key
    }

    /// Parses a 12-byte key.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        if key.len() != POSITION_LEN {
            return None;
        }
        Some(Self {
            member: MemberCode(u32::from_be_bytes(key.get(..4)?.try_into().ok()?)),
            seq: u64::from_be_bytes(key.get(4..)?.try_into().ok()?),
        })
    }
}

/// A chain head as stored: the member's code and the tip of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The member.
    pub author: MemberId,
    /// Its code in this store.
    pub code: MemberCode,
    /// The last stored entry of its chain.
    pub tip: ChainTip,
}

impl Head {
    /// The `heads` key.
    pub fn key(&self) -> Vec<u8> {
        self.author.as_str().as_bytes().to_vec()
    }

    /// The `heads` value.
    pub fn value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(52);
        value.extend_from_slice(&self.code.0.to_be_bytes());
        value.extend_from_slice(&self.tip.seq.to_be_bytes());
        value.extend_from_slice(self.tip.hash.as_bytes());
        value.extend_from_slice(&self.tip.timestamp.millis().to_be_bytes());
        value
    }

    /// Parses a `heads` row; `None` if it is damaged.
    pub fn parse(key: &[u8], value: &[u8]) -> Option<Self> {
        let author = MemberId::new(std::str::from_utf8(key).ok()?).ok()?;
        if value.len() != 52 {
            return None;
        }
        Some(Self {
            author,
            code: MemberCode(u32::from_be_bytes(value.get(0..4)?.try_into().ok()?)),
            tip: ChainTip {
                seq: u64::from_be_bytes(value.get(4..12)?.try_into().ok()?),
                hash: EntryHash::from_bytes(value.get(12..44)?.try_into().ok()?),
                timestamp: Timestamp(u64::from_be_bytes(value.get(44..52)?.try_into().ok()?)),
            },
        })
    }

    /// Where the tip is.
    pub fn position(&self) -> Position {
        Position {
            member: self.code,
            seq: self.tip.seq,
        }
    }
}

/// The one-byte code of a kind in `by_kind` keys (its place in [`KindName::ALL`]).
pub fn kind_code(kind: KindName) -> u8 {
    KindName::ALL
        .iter()
        .position(|k| *k == kind)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// The prefix of a string index: the bytes and a 0 terminator; `None` for strings that are
/// not indexed (empty, too long, or containing a 0 byte).
pub fn string_prefix(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() > MAX_INDEXED_STRING || text.as_bytes().contains(&0) {
        return None;
    }
    let mut prefix = Vec::with_capacity(text.len() + 1 + INDEX_SUFFIX_LEN);
    prefix.extend_from_slice(text.as_bytes());
    prefix.push(0);
    Some(prefix)
}

/// The prefix of an event id's `by_event_id` keys: the SHA-256 of the id, so that ids of any
/// length (EPCIS gives none) have keys of one size.
pub fn event_id_prefix(id: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(id.as_bytes()).into()
}

/// An index key: `prefix`, event time, position.
pub fn index_key(prefix: &[u8], time: Timestamp, position: Position) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + INDEX_SUFFIX_LEN);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&time.millis().to_be_bytes());
    key.extend_from_slice(&position.to_key());
    key
}

/// The position at the end of an index key.
pub fn index_position(key: &[u8]) -> Option<Position> {
    let start = key.len().checked_sub(POSITION_LEN)?;
    Position::from_key(key.get(start..)?)
}

/// The time in an index key (before its position).
pub fn index_time(key: &[u8]) -> Option<Timestamp> {
    let end = key.len().checked_sub(POSITION_LEN)?;
    let start = end.checked_sub(8)?;
    Some(Timestamp(u64::from_be_bytes(
        key.get(start..end)?.try_into().ok()?,
    )))
}

/// A `forks` key: the position and the refused entry's hash.
pub fn fork_key(position: Position, refused: &EntryHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(POSITION_LEN + 32);
    key.extend_from_slice(&position.to_key());
    key.extend_from_slice(refused.as_bytes());
    key
}

/// The smallest key greater than every key that starts with `prefix` (`None`: no such key,
/// the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The `rejected` keys of one author: its member id and a 0 byte (member ids hold none).
pub fn rejected_prefix(author: &MemberId) -> Vec<u8> {
    let mut prefix = author.as_str().as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// A `rejected` key: the author and the refused entry's hash.
pub fn rejected_key(author: &MemberId, hash: &EntryHash) -> Vec<u8> {
    let mut key = rejected_prefix(author);
    key.extend_from_slice(hash.as_bytes());
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_heads_round_trip() {
        let position = Position {
            member: MemberCode(7),
            seq: 1 << 40,
        };
        assert_eq!(Position::from_key(&position.to_key()), Some(position));
        assert_eq!(Position::from_key(&[0; 11]), None);
        let head = Head {
            author: MemberId::new("factory").unwrap(),
            code: MemberCode(3),
            tip: ChainTip {
                seq: 9,
                hash: EntryHash::from_bytes([5; 32]),
                timestamp: Timestamp(1_700_000_000_000),
            },
        };
        assert_eq!(Head::parse(&head.key(), &head.value()), Some(head.clone()));
        assert_eq!(Head::parse(&head.key(), &head.value()[1..]), None);
    }

    #[test]
    fn index_keys_sort_by_time_then_position() {
        let prefix = string_prefix("shipping").unwrap();
        let p = |member, seq| Position {
            member: MemberCode(member),
            seq,
        };
        let early = index_key(&prefix, Timestamp(10), p(9, 9));
        let late = index_key(&prefix, Timestamp(11), p(0, 0));
        assert!(early < late);
        assert_eq!(index_position(&late), Some(p(0, 0)));
        // A longer word with the same start sorts apart from the shorter word's keys.
        let other = index_key(&string_prefix("shippingX").unwrap(), Timestamp(0), p(0, 0));
        assert!(!other.starts_with(&prefix));
        assert_eq!(string_prefix("a\0b"), None);
        assert_eq!(string_prefix(""), None);
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
