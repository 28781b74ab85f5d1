//! The node's private-field records: what it holds of each entry's private fields (the
//! `private` column family), and which readers' nodes still have to be sent their fields (the
//! `outbox` column family).
//!
//! The author's node holds every field of its own entries; a reader's node holds the fields
//! the genesis policy lets its member read, received sealed from the author's node
//! ([`crate::replicate`]). Every row keeps all the leaves, so the fields held stay provable
//! after others are purged. A purge removes the values and salts and notes which entry purged
//! them and when, so the API can say a value is gone rather than never existed.
//!
//! [`delivery`] seals a reader's fields for its node and checks what a node receives;
//! [`purge`] carries out purge entries, and [`eraser`] gets purged values off the disk in the
//! background.

pub mod delivery;
pub mod eraser;
pub mod purge;

use serde::{Deserialize, Serialize};
use tally_sdk::codec;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::Member;
use tally_sdk::privacy::disclosure::{OpenedField, PrivateCommitment};
use tally_sdk::privacy::held::HeldFields;
use tally_sdk::time::Timestamp;

use crate::store::{Batch, Cf, KeyRange, Store, StoreError, corrupted};

/// Largest stored private row decoded.
const MAX_ROW_BYTES: usize = 1 << 20;

/// A field whose value was erased by a purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeNote {
    /// The field.
    pub field: FieldName,
    /// The purge entry that ordered it.
    pub by: EntryHash,
    /// When the purge entry was signed.
    pub at: Timestamp,
}

/// One entry's private fields as this node holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateRow {
    /// The leaves and the opened fields held.
    pub held: HeldFields,
    /// Fields erased by purges.
    pub purged: Vec<PurgeNote>,
}

impl PrivateRow {
    /// A row holding nothing yet: what a purge notes on, or fields merge into, when the node
    /// holds no row for the entry.
    pub fn empty() -> Self {
        Self {
            held: HeldFields {
                leaves: Vec::new(),
                fields: Vec::new(),
            },
            purged: Vec::new(),
        }
    }

    /// The stored bytes.
    pub fn encode(&self) -> Result<Vec<u8>, codec::CodecError> {
        codec::encode("private row", self)
    }

    /// Whether `field` was purged.
    pub fn purge_of(&self, field: &FieldName) -> Option<&PurgeNote> {
        self.purged.iter().find(|p| &p.field == field)
    }

    /// Adds the fields of `received` not held yet and not purged (a re-delivery, or a second
    /// author's node sending after a restore, changes nothing held).
    pub fn merge(&mut self, received: HeldFields) {
        if self.held.leaves.is_empty() {
            // A row made by a purge before any field arrived.
            self.held.leaves = received.leaves;
        }
        for field in received.fields {
            if self.held.field(&field.name).is_none() && self.purge_of(&field.name).is_none() {
                self.held.fields.push(field);
            }
        }
        self.held.fields.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// The private row of an entry, if this node holds one.
pub fn row<S: Store + ?Sized>(
    store: &S,
    hash: &EntryHash,
) -> Result<Option<PrivateRow>, StoreError> {
    let Some(bytes) = store.get(Cf::Private, hash.as_bytes())? else {
        return Ok(None);
    };
    codec::decode("private row", &bytes, MAX_ROW_BYTES)
        .map(Some)
        .map_err(|e| corrupted(format!("the private row of entry {hash} is damaged: {e}")))
}

/// The current members other than the author who may read at least one of the committed
/// fields: the nodes the author's node sends fields to.
pub fn readers<'g>(
    genesis: &'g Consortium,
    author: &MemberId,
    commitment: &PrivateCommitment,
) -> Vec<&'g Member> {
    genesis
        .members()
        .iter()
        .filter(|m| &m.id != author)
        .filter(|m| commitment.fields.iter().any(|f| genesis.may_read(m, f)))
        .collect()
}

/// An `outbox` key: the reader's member id, a 0 byte (ids never hold one), the entry hash.
pub fn outbox_key(reader: &MemberId, hash: &EntryHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(reader.as_str().len() + 33);
    key.extend_from_slice(reader.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(hash.as_bytes());
    key
}

/// The prefix of one reader's `outbox` keys.
fn outbox_prefix(reader: &MemberId) -> Vec<u8> {
    let mut prefix = reader.as_str().as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// Up to `limit` entries whose fields are still to be sent to `reader`'s node, in key order.
pub fn outbox<S: Store + ?Sized>(
    store: &S,
    reader: &MemberId,
    limit: usize,
) -> Result<Vec<EntryHash>, StoreError> {
    let prefix = outbox_prefix(reader);
    let rows = store.scan(Cf::Outbox, &KeyRange::prefix(&prefix), limit)?;
    rows.iter()
        .map(|(key, _)| {
            key.get(prefix.len()..)
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .map(EntryHash::from_bytes)
                .ok_or_else(|| corrupted(format!("an outbox key of {reader} is damaged")))
        })
        .collect()
}

/// The rows of a format-1 store (the author's opened fields only) as format-2 rows, to be
/// written in one batch with the new format marker.
pub fn upgrade_format_1<S: Store + ?Sized>(store: &S) -> Result<Batch, StoreError> {
    let rows = store.scan(Cf::Private, &KeyRange::prefix(&[]), usize::MAX)?;
    let mut batch = Batch::default();
    for (key, value) in rows {
        let damaged = |e: &dyn std::fmt::Display| {
            corrupted(format!(
                "the format-1 private row {key:02x?} is damaged: {e}"
            ))
        };
        let mut fields: Vec<OpenedField> =
            codec::decode("opened private fields", &value, MAX_ROW_BYTES)
                .map_err(|e| damaged(&e))?;
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let leaves = fields
            .iter()
            .map(OpenedField::leaf)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| damaged(&e))?;
        let row = PrivateRow {
            held: HeldFields { leaves, fields },
            purged: Vec::new(),
        };
        let bytes = row.encode().map_err(|e| damaged(&e))?;
        batch.put(Cf::Private, key, bytes);
    }
    Ok(batch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tally_sdk::membership::template::demo_consortium;

    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn outbox_keys_of_one_reader_do_not_mix_with_anothers() {
        let store = MemoryStore::default();
        let carrier = MemberId::new("carrier").unwrap();
        let carrier2 = MemberId::new("carrier2").unwrap();
        let mut batch = Batch::default();
        for (reader, seed) in [(&carrier, b"a"), (&carrier2, b"b"), (&carrier, b"c")] {
            batch.put(
                Cf::Outbox,
                outbox_key(reader, &EntryHash::digest(seed)),
                Vec::new(),
            );
        }
        store.write(batch).unwrap();
        let mut due = outbox(&store, &carrier, 10).unwrap();
        due.sort();
        let mut expected = vec![EntryHash::digest(b"a"), EntryHash::digest(b"c")];
        expected.sort();
        assert_eq!(due, expected);
        assert_eq!(outbox(&store, &carrier2, 10).unwrap().len(), 1);
        assert_eq!(outbox(&store, &carrier, 1).unwrap().len(), 1);
    }

    #[test]
    fn readers_are_the_members_the_policy_lets_read_a_committed_field() {
        let (signed, _) = demo_consortium().unwrap();
        let genesis = &signed.verify().unwrap();
        for field in &genesis.document().private_fields {
            let commitment = PrivateCommitment {
                root: tally_sdk::hash::MerkleRoot::digest(b"root"),
                fields: vec![field.name.clone()],
            };
            let author = &genesis.members()[0].id;
            let readers = readers(genesis, author, &commitment);
            for member in genesis.members() {
                let expected =
                    &member.id != author && member.roles.iter().any(|r| field.readers.contains(r));
                assert_eq!(readers.iter().any(|r| r.id == member.id), expected);
            }
        }
    }
}
