//! What a store checks when it opens, so that a damaged store is refused with a reason instead
//! of being served: the network id and format in `meta`, and for every chain head that its
//! entry exists, decodes and hashes right, that nothing is stored past it, that the last
//! entries of the chain link to each other, and that the chain's log holds its head. A store
//! of an older format is refused here ([`StoreError::Older`]); upgrading it is the node's
//! (`crate::upgrade`), which knows what each format's rows mean.

use std::collections::HashSet;

use tally_sdk::hash::NetworkId;

use tally_sdk::hash::EntryHash;

use super::keys::{Head, Position};
use super::{Batch, Cf, KeyRange, STORE_FORMAT, Store, StoreError, corrupted};

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The chain heads.
    pub heads: Vec<Head>,
    /// Whether the store was empty and has just been initialised.
    pub created: bool,
}

/// Checks `store` (initialising an empty one for `network`); `depth` is how many entries
/// below each head are re-read and linked.
pub fn check_store<S: Store + ?Sized>(
    store: &S,
    network: NetworkId,
    depth: u64,
) -> Result<CheckReport, StoreError> {
    let created = check_meta(store, network)?;
    let heads = store.heads()?;
    let mut codes = HashSet::new();
    for head in &heads {
        if !codes.insert(head.code) {
            return Err(corrupted(format!(
                "two chain heads share member code {} ({} is one of them)",
                head.code.0, head.author
            )));
        }
        check_chain(store, head, depth)?;
        check_log(store, head, depth)?;
    }
    Ok(CheckReport { heads, created })
}

fn check_meta<S: Store + ?Sized>(store: &S, network: NetworkId) -> Result<bool, StoreError> {
    match store.get(Cf::Meta, b"network_id")? {
        None => {
            let any_head = !store.scan(Cf::Heads, &KeyRange::prefix(&[]), 1)?.is_empty();
            let any_entry = !store
                .scan(Cf::Entries, &KeyRange::prefix(&[]), 1)?
                .is_empty();
            if any_head || any_entry {
                return Err(corrupted("the store holds entries but no network id"));
            }
            let mut batch = Batch::default();
            batch.put(
                Cf::Meta,
                b"network_id".to_vec(),
                network.as_bytes().to_vec(),
            );
            batch.put(
                Cf::Meta,
                b"format".to_vec(),
                STORE_FORMAT.to_be_bytes().to_vec(),
            );
            store.write(batch)?;
            Ok(true)
        }
        Some(found) if found.as_slice() == network.as_bytes() => {
            match store.get(Cf::Meta, b"format")? {
                Some(format) if format.as_slice() == STORE_FORMAT.to_be_bytes() => Ok(false),
                Some(format)
                    if format_number(&format).is_some_and(|n| (1..STORE_FORMAT).contains(&n)) =>
                {
                    Err(StoreError::Older {
                        found: format_text(&format),
                    })
                }
                Some(format) => Err(StoreError::Format {
                    found: format_text(&format),
                }),
                None => Err(corrupted("the storage format marker is missing")),
            }
        }
        Some(found) => Err(StoreError::WrongNetwork {
            expected: network,
            found: hex::encode(found),
        }),
    }
}

/// The number a stored format marker holds (four bytes, big-endian), if it holds one.
pub fn format_number(format: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(format).ok().map(u32::from_be_bytes)
}

/// A stored format marker as text: its number, or its bytes in hex if it is not one.
fn format_text(format: &[u8]) -> String {
    format_number(format).map_or_else(|| hex::encode(format), |n| n.to_string())
}

/// The checks of a store opened read-only: of `network`, in this software's format (an older
/// store is upgraded by the node when it next opens it, not here).
pub fn check_read_only<S: Store + ?Sized>(store: &S, network: NetworkId) -> Result<(), StoreError> {
    match store.get(Cf::Meta, b"network_id")? {
        None => Err(corrupted("the store has no network id")),
        Some(found) if found.as_slice() != network.as_bytes() => Err(StoreError::WrongNetwork {
            expected: network,
            found: hex::encode(found),
        }),
        Some(_) => match store.get(Cf::Meta, b"format")? {
            Some(format) if format.as_slice() == STORE_FORMAT.to_be_bytes() => Ok(()),
            Some(format) => Err(StoreError::Format {
                found: format_text(&format),
            }),
            None => Err(corrupted("the storage format marker is missing")),
        },
    }
}

/// Walks every chain row of `store` (by member code, then sequence number) in chunks of
/// `chunk` rows, each given to `each` as positions and entry hashes.
pub fn for_each_chain_chunk<S: Store + ?Sized>(
    store: &S,
    chunk: usize,
    mut each: impl FnMut(&[(Position, EntryHash)]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut start = Vec::new();
    loop {
        let rows = store.scan(
            Cf::Chain,
            &KeyRange {
                start: start.clone(),
                end: None,
            },
            chunk,
        )?;
        let mut parsed = Vec::with_capacity(rows.len());
        for (key, value) in &rows {
            let position =
                Position::from_key(key).ok_or_else(|| corrupted("a chain key is damaged"))?;
            let hash = EntryHash::from_bytes(
                value
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupted("a chain row is damaged"))?,
            );
            parsed.push((position, hash));
        }
        each(&parsed)?;
        match rows.last() {
            Some((key, _)) if rows.len() == chunk => {
                start = key.clone();
                start.push(0);
            }
            _ => return Ok(()),
        }
    }
}

/// The chain's log holds its last `depth + 1` entries (as the chain rows name them) where the
/// chain has them: each one's inclusion proof, read from the tiles, leads to the root of the
/// log's right edge. (Damage deeper in the log shows when a proof made from it fails against a
/// witnessed root.)
fn check_log<S: Store + ?Sized>(store: &S, head: &Head, depth: u64) -> Result<(), StoreError> {
    let author = &head.author;
    let size = head.tip.seq.saturating_add(1);
    let tiles = super::tiles::ChainTiles::new(store, head.code);
    let root = tiles.edge(size)?.root();
    for seq in head.tip.seq.saturating_sub(depth)..size {
        let hash = store
            .chain_hash(Position {
                member: head.code,
                seq,
            })?
            .ok_or_else(|| {
                corrupted(format!("entry {seq} of {author} is missing from its chain"))
            })?;
        let proof = tiles
            .inclusion(seq, size)
            .map_err(|e| corrupted(format!("the log of {author}'s chain: {e}")))?;
        let leaf = tally_sdk::tlog::hash::LogHash::entry_leaf(&hash);
        tally_sdk::tlog::proof::verify_inclusion(&leaf, seq, size, &proof, &root).map_err(|e| {
            corrupted(format!(
                "the log of {author}'s chain does not hold its entry {seq}: {e}"
            ))
        })?;
    }
    Ok(())
}

fn check_chain<S: Store + ?Sized>(store: &S, head: &Head, depth: u64) -> Result<(), StoreError> {
    let author = &head.author;
    // Nothing may be stored past the head: the head and the chain are written in one batch.
    let after = Position {
        member: head.code,
        seq: head.tip.seq.saturating_add(1),
    };
    let end = Position {
        member: head.code,
        seq: u64::MAX,
    };
    if head.tip.seq < u64::MAX {
        let beyond = store.scan(
            Cf::Chain,
            &KeyRange {
                start: after.to_key().to_vec(),
                end: Some(end.to_key().to_vec()),
            },
            1,
        )?;
        if !beyond.is_empty() {
            return Err(corrupted(format!(
                "the chain of {author} has entries past its head ({})",
                head.tip.seq
            )));
        }
    }
    let lowest = head.tip.seq.saturating_sub(depth);
    let mut expected = head.tip.hash;
    let mut seq = head.tip.seq;
    loop {
        let position = Position {
            member: head.code,
            seq,
        };
        let hash = store.chain_hash(position)?.ok_or_else(|| {
            corrupted(format!("entry {seq} of {author} is missing from its chain"))
        })?;
        if hash != expected {
            return Err(corrupted(if seq == head.tip.seq {
                format!(
                    "the head of {author} names entry {expected}, but its chain has {hash} at {seq}"
                )
            } else {
                format!(
                    "entry {} of {author} does not link to entry {seq} as stored",
                    seq + 1
                )
            }));
        }
        let entry = store
            .entry(&hash)?
            .ok_or_else(|| corrupted(format!("entry {seq} of {author} ({hash}) is missing")))?;
        let body = &entry.body;
        if &body.author != author || body.seq != seq {
            return Err(corrupted(format!(
                "entry {hash} is stored as entry {seq} of {author} but is entry {} of {}",
                body.seq, body.author
            )));
        }
        if seq == head.tip.seq && body.timestamp != head.tip.timestamp {
            return Err(corrupted(format!(
                "the head of {author} records another timestamp than its entry"
            )));
        }
        match body.prev {
            None if seq == 0 => return Ok(()),
            None => {
                return Err(corrupted(format!(
                    "entry {seq} of {author} has no previous hash"
                )));
            }
            Some(_) if seq == 0 => {
                return Err(corrupted(format!(
                    "entry 0 of {author} names a previous entry"
                )));
            }
            Some(prev) => {
                if seq <= lowest {
                    return Ok(());
                }
                expected = prev;
                seq -= 1;
            }
        }
    }
}
