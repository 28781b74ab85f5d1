//! Purges: carrying out a signed purge entry on this node's private rows, so the purged values
//! and salts are gone from its disk while the chain still verifies.
//!
//! The writer stores a purge entry together with a marker (`meta` key `purge/` + the purge
//! entry's hash, holding its [`PurgeOrder`]) in one atomic batch. Right after that write,
//! [`erase_rows`] erases the fields from the purged entry's row (leaving a [`PurgeNote`] so
//! the API can say when and by what the value went): from then on no read shows them. Getting
//! the bytes off the disk — flushing every column family so no log file holds them, and
//! compacting the private rows — is slow, so it is not done on the writer: the
//! [`eraser`](super::eraser) thread does it in the background. The row rewrite turns the
//! purge's marker into a disk marker in the same batch, and a run of the eraser covers the disk
//! markers present when it starts ([`erase_from_disk`]), then deletes them: a marker is never
//! cleared by a run that began before its row was rewritten. However many purges arrive (from
//! any member, repeated on one field), ingestion does not wait for a flush, and one flush and
//! compaction covers every purge stored meanwhile. A node that stops in between finds the
//! markers at its next start and finishes the job ([`finish`]); applying an order twice
//! changes nothing.
//!
//! A node that does not hold the row (it may read none of the fields) still records the notes,
//! so a delivery sealed before the purge and arriving after it is not kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tally_sdk::codec;
use tally_sdk::entry::{Payload, VerifiedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::FieldName;
use tally_sdk::time::Timestamp;

use super::{PrivateRow, PurgeNote, row};
use crate::store::{Batch, Cf, KeyRange, Store, StoreError, corrupted};

/// The `meta` key prefix of purges stored but not yet carried out.
const MARKER_PREFIX: &[u8] = b"purge/";
/// The `meta` key prefix of purges whose rows are erased but whose values may still be in the
/// store's files (written with the row rewrite, in one batch).
const DISK_PREFIX: &[u8] = b"purge-disk/";
/// Largest marker value decoded.
const MAX_ORDER_BYTES: usize = 64 << 10;

/// What a purge entry orders, as the node keeps it until it is carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeOrder {
    /// The purge entry.
    pub by: EntryHash,
    /// When it was signed.
    pub at: Timestamp,
    /// The entry whose fields go.
    pub target: EntryHash,
    /// The fields.
    pub fields: Vec<FieldName>,
}

impl PurgeOrder {
    /// The order of a verified purge entry (`None` for other entries).
    pub fn of(entry: &VerifiedEntry) -> Option<Self> {
        match &entry.body().payload {
            Payload::Purge {
                entry: target,
                fields,
            } => Some(Self {
                by: entry.hash(),
                at: entry.body().timestamp,
                target: *target,
                fields: fields.clone(),
            }),
            Payload::Event { .. } => None,
        }
    }

    /// The marker written with the purge entry.
    pub fn marker(&self) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let value = codec::encode("purge order", self)
            .map_err(|e| StoreError::Backend(format!("cannot encode a purge order: {e}")))?;
        Ok((marker_key(&self.by), value))
    }
}

fn disk_key(by: &EntryHash) -> Vec<u8> {
    let mut key = DISK_PREFIX.to_vec();
    key.extend_from_slice(by.as_bytes());
    key
}

fn marker_key(by: &EntryHash) -> Vec<u8> {
    let mut key = MARKER_PREFIX.to_vec();
    key.extend_from_slice(by.as_bytes());
    key
}

/// The purges stored but not carried out (after a stop between the two steps).
pub fn pending<S: Store + ?Sized>(store: &S) -> Result<Vec<PurgeOrder>, StoreError> {
    store
        .scan(Cf::Meta, &KeyRange::prefix(MARKER_PREFIX), usize::MAX)?
        .into_iter()
        .map(|(_, value)| {
            codec::decode("purge order", &value, MAX_ORDER_BYTES)
                .map_err(|e| corrupted(format!("a stored purge order is damaged: {e}")))
        })
        .collect()
}

impl PrivateRow {
    /// Erases the ordered fields' values and salts and notes the purge (once per field).
    pub fn erase(&mut self, order: &PurgeOrder) {
        self.held.fields.retain(|f| !order.fields.contains(&f.name));
        for field in &order.fields {
            if self.purge_of(field).is_none() {
                self.purged.push(PurgeNote {
                    field: field.clone(),
                    by: order.by,
                    at: order.at,
                });
            }
        }
        self.purged.sort_by(|a, b| a.field.cmp(&b.field));
    }
}

/// Carries out purge orders at once: erases the fields from the rows, then has the store
/// rewrite its files so the erased bytes are gone from disk.
pub fn apply<S: Store + ?Sized>(store: &S, orders: &[PurgeOrder]) -> Result<(), StoreError> {
    erase_rows(store, orders)?;
    erase_from_disk(store)?;
    Ok(())
}

/// At start, finishes what a stop interrupted: the rows of purges stored but not carried out,
/// then the files of purges whose rows were erased. Returns how many purges it finished.
pub fn finish<S: Store + ?Sized>(store: &S) -> Result<usize, StoreError> {
    let orders = pending(store)?;
    erase_rows(store, &orders)?;
    erase_from_disk(store)
}

/// Erases the ordered fields from their rows (no read shows them from now on). In the same
/// batch each order's marker becomes a disk marker, which [`erase_from_disk`] clears once the
/// files are rewritten; an order that erases nothing new (the fields were purged already, or
/// the node holds none of them) leaves none: there is nothing to get off the disk. Returns
/// whether some disk marker waits.
pub fn erase_rows<S: Store + ?Sized>(store: &S, orders: &[PurgeOrder]) -> Result<bool, StoreError> {
    if orders.is_empty() {
        return Ok(false);
    }
    // Read, changed and written under the row lock, so that a delivery being stored meanwhile
    // cannot write back a value erased here.
    let _rows = store.row_lock();
    let mut rows: BTreeMap<EntryHash, PrivateRow> = BTreeMap::new();
    let mut batch = Batch::default();
    let mut waiting = false;
    for order in orders {
        let current = match rows.remove(&order.target) {
            Some(current) => current,
            None => row(store, &order.target)?.unwrap_or_else(PrivateRow::empty),
        };
        let mut updated = current;
        let held_before = updated.held.fields.len();
        updated.erase(order);
        batch.delete(Cf::Meta, marker_key(&order.by));
        if updated.held.fields.len() != held_before {
            batch.put(Cf::Meta, disk_key(&order.by), Vec::new());
            waiting = true;
        }
        rows.insert(order.target, updated);
    }
    for (hash, updated) in rows {
        let bytes = updated
            .encode()
            .map_err(|e| StoreError::Backend(format!("cannot encode a private row: {e}")))?;
        batch.put(Cf::Private, hash.as_bytes().to_vec(), bytes);
    }
    store.write(batch)?;
    Ok(waiting)
}

/// Rewrites the store's files so that values erased by the purges whose disk markers are
/// present now are gone from disk, then deletes those markers (a marker written meanwhile
/// waits for the next run). Returns how many it covered.
pub fn erase_from_disk<S: Store + ?Sized>(store: &S) -> Result<usize, StoreError> {
    let keys: Vec<Vec<u8>> = store
        .scan(Cf::Meta, &KeyRange::prefix(DISK_PREFIX), usize::MAX)?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    store.erase_deleted()?;
    let mut batch = Batch::default();
    for key in &keys {
        batch.delete(Cf::Meta, key.clone());
    }
    store.write(batch)?;
    tracing::info!(
        purges = keys.len(),
        "purged private fields are gone from the store's files"
    );
    Ok(keys.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tally_sdk::codec::CanonicalJson;
    use tally_sdk::privacy::disclosure::{CommitLimits, commit};
    use tally_sdk::privacy::held::HeldFields;

    use super::*;
    use crate::store::memory::MemoryStore;

    fn name(text: &str) -> FieldName {
        FieldName::new(text).unwrap()
    }

    fn held_row() -> (EntryHash, PrivateRow) {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            name("consumer.address"),
            CanonicalJson::from_value(&serde_json::json!("1 canary-purge Road")).unwrap(),
        );
        fields.insert(
            name("order.spec"),
            CanonicalJson::from_value(&serde_json::json!({"size": 3})).unwrap(),
        );
        let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
        let held = HeldFields::complete(&commitment, &opened).unwrap();
        (
            EntryHash::digest(b"target"),
            PrivateRow {
                held,
                purged: Vec::new(),
            },
        )
    }

    fn order(target: EntryHash, fields: &[&str]) -> PurgeOrder {
        PurgeOrder {
            by: EntryHash::digest(b"purge"),
            at: Timestamp(42),
            target,
            fields: fields.iter().map(|f| name(f)).collect(),
        }
    }

    #[test]
    fn a_purge_erases_only_the_named_fields_and_notes_it_once() {
        let (hash, mut row) = held_row();
        let leaves = row.held.leaves.clone();
        let purge = order(hash, &["consumer.address"]);
        row.erase(&purge);
        row.erase(&purge);
        assert!(row.held.field(&name("consumer.address")).is_none());
        assert!(row.held.field(&name("order.spec")).is_some());
        assert_eq!(
            row.held.leaves, leaves,
            "the leaves stay: the rest stays provable"
        );
        assert_eq!(row.purged.len(), 1);
        assert_eq!(
            row.purge_of(&name("consumer.address")).unwrap().at,
            Timestamp(42)
        );
        let encoded = row.encode().unwrap();
        assert!(!String::from_utf8_lossy(&encoded).contains("canary-purge"));
    }

    #[test]
    fn a_stored_order_is_pending_until_applied_and_a_late_delivery_is_not_kept() {
        let store = MemoryStore::new();
        let (hash, full) = held_row();
        let purge = order(hash, &["consumer.address"]);
        let mut batch = Batch::default();
        let (key, value) = purge.marker().unwrap();
        batch.put(Cf::Meta, key, value);
        store.write(batch).unwrap();
        assert_eq!(pending(&store).unwrap(), vec![purge.clone()]);
        apply(&store, std::slice::from_ref(&purge)).unwrap();
        assert!(pending(&store).unwrap().is_empty());
        // This node held nothing: it keeps the note, and a late delivery adds only the rest.
        let mut stored = row(&store, &hash).unwrap().unwrap();
        assert!(stored.purge_of(&name("consumer.address")).is_some());
        stored.merge(full.held);
        assert!(stored.held.field(&name("consumer.address")).is_none());
        assert!(stored.held.field(&name("order.spec")).is_some());
        assert_eq!(stored.held.leaves.len(), 2);
    }

    #[test]
    fn a_purge_interrupted_after_its_rows_were_erased_still_rewrites_the_files_at_start() {
        let store = MemoryStore::new();
        let (hash, row) = held_row();
        let purge = order(hash, &["consumer.address"]);
        let mut batch = Batch::default();
        batch.put(Cf::Private, hash.as_bytes().to_vec(), row.encode().unwrap());
        let (key, value) = purge.marker().unwrap();
        batch.put(Cf::Meta, key, value);
        store.write(batch).unwrap();
        // The writer erased the row; the node stopped before the eraser ran.
        assert!(erase_rows(&store, std::slice::from_ref(&purge)).unwrap());
        assert_eq!(store.erasures(), 0);
        assert!(pending(&store).unwrap().is_empty());
        // At start the rows show nothing left to erase, yet the files are rewritten.
        assert_eq!(finish(&store).unwrap(), 1);
        assert_eq!(store.erasures(), 1);
        assert_eq!(finish(&store).unwrap(), 0);
        assert_eq!(store.erasures(), 1);
        // A purge of a field already purged leaves no work for the eraser.
        let again = PurgeOrder {
            by: EntryHash::digest(b"again"),
            ..purge
        };
        let mut batch = Batch::default();
        let (key, value) = again.marker().unwrap();
        batch.put(Cf::Meta, key, value);
        store.write(batch).unwrap();
        assert!(!erase_rows(&store, std::slice::from_ref(&again)).unwrap());
        assert!(pending(&store).unwrap().is_empty());
        assert_eq!(finish(&store).unwrap(), 0);
    }
}
