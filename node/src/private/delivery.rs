//! Private fields between nodes: what the author's node sends a reader's node, and what the
//! reader's node checks before it keeps anything.
//!
//! A [`Delivery`] carries the signed entry and the reader's fields sealed to the reader's
//! X25519 key ([`tally_sdk::privacy::sealed`]). The reader keeps the fields only if it holds the entry
//! (replication brought it: an author cannot make readers store fields of entries it never put
//! on the ledger; until then the answer is [`DeliveryAnswer::NotHeld`] and the author's node
//! sends them again), the sender is the entry's author's node, the fields open with its key
//! for this entry, match the author's signed commitment, and are all fields its member may
//! read. Both sides run on the blocking pool ([`crate::replicate::net`] drives them).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::{Deserialize, Serialize};
use tally_sdk::crypto::X25519SecretKey;
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::Member;
use tally_sdk::privacy::disclosure::DisclosureError;
use tally_sdk::privacy::held::HeldFields;
use tally_sdk::privacy::sealed::{RoundOpener, RoundSealer, SealContext, SealError, SealedFields};
use tally_sdk::verify::VerifyError;

use super::{PrivateRow, outbox_key, row};
use crate::store::{Batch, Cf, Store, StoreError};

/// One entry's fields for one reader, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The signed entry whose commitment the fields open.
    pub entry: SignedEntry,
    /// The fields the reader may read, sealed to its key.
    pub sealed: SealedFields,
}

/// A reader's node's answer to a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryAnswer {
    /// The fields are stored (or were already): the author's node may forget them.
    Stored,
    /// The reader's node could not take them now (busy, or its store failed): send again.
    Later,
    /// The reader's node does not hold the entry yet (replication has not brought it): send
    /// again later, no fault of anyone's.
    NotHeld,
    /// The fields were not kept, and why; sending the same again is refused again unless the
    /// reader's node changes (e.g. installs a membership change).
    Refused(String),
}

/// Why a reader's node refused a delivery.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Only the author's node sends an entry's fields.
    #[error("{sender} sent private fields of {author}'s entry: only the author's node may")]
    NotTheAuthor {
        /// The node's member that sent them.
        sender: MemberId,
        /// The entry's author.
        author: MemberId,
    },
    /// The entry cannot be read.
    #[error("the entry is malformed: {0}")]
    Entry(#[from] VerifyError),
    /// This node does not hold the entry (yet).
    #[error("this node does not hold entry {0}: its fields are taken once replication brings it")]
    NotHeld(EntryHash),
    /// The entry commits to no private fields.
    #[error("the entry commits to no private fields")]
    NoCommitment,
    /// This node's member is not a current member.
    #[error("this node's member {0} is not a current member")]
    NotAMember(MemberId),
    /// The sealed fields cannot be opened.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The fields do not match the signed commitment.
    #[error("the fields do not match the entry's signed commitment: {0}")]
    Mismatch(#[from] DisclosureError),
    /// A field this node's member may not read: the author's node should not have sent it.
    #[error("private field {0} was sent, but the policy does not let this member read it")]
    NotReadable(FieldName),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReceiveError {
    /// The answer the sender gets.
    pub fn answer(&self) -> DeliveryAnswer {
        match self {
            ReceiveError::Store(_) => DeliveryAnswer::Later,
            ReceiveError::NotHeld(_) => DeliveryAnswer::NotHeld,
            refused => DeliveryAnswer::Refused(refused.to_string()),
        }
    }

    /// Whether the sender's node is at fault: it sent fields of another member's entry, of
    /// an entry with no private fields, or values that are not the ones committed. Refusals
    /// that a membership change rolled out unevenly can explain (a key or a read policy not
    /// the same on both nodes) blame no one.
    pub fn blames_sender(&self) -> bool {
        matches!(
            self,
            ReceiveError::NotTheAuthor { .. }
                | ReceiveError::Entry(_)
                | ReceiveError::NoCommitment
                | ReceiveError::Mismatch(_)
        )
    }
}

/// Why the author's node cannot seal a delivery.
#[derive(Debug, thiserror::Error)]
pub enum SealForError {
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The delivery of entry `hash`'s fields that `reader` may read, sealed alone; `None` when
/// there is nothing to send any more (the entry or its row is gone, or every such field was
/// purged), in which case the outbox key can go.
pub fn seal_for<S: Store + ?Sized>(
    genesis: &Consortium,
    store: &S,
    reader: &Member,
    hash: &EntryHash,
) -> Result<Option<Delivery>, SealForError> {
    let mut round = RoundSealer::new(&reader.x25519_key)?;
    seal_in_round(genesis, store, reader, hash, &mut round)
}

/// [`seal_for`], as the next message of a round to `reader` (one HPKE context for the round:
/// the reader opens its deliveries in this order).
pub fn seal_in_round<S: Store + ?Sized>(
    genesis: &Consortium,
    store: &S,
    reader: &Member,
    hash: &EntryHash,
    round: &mut RoundSealer,
) -> Result<Option<Delivery>, SealForError> {
    let (Some(entry), Some(row)) = (store.entry(hash)?, row(store, hash)?) else {
        return Ok(None);
    };
    let held = row.held.only(|field| genesis.may_read(reader, field));
    if held.fields.is_empty() {
        return Ok(None);
    }
    let context = SealContext {
        network: genesis.network_id(),
        entry: *hash,
        reader: &reader.id,
    };
    let sealed = round.seal(&context, &held)?;
    Ok(Some(Delivery { entry, sealed }))
}

/// The write that forgets a delivered (or moot) outbox item.
pub fn delivered(reader: &MemberId, hash: &EntryHash) -> Batch {
    let mut batch = Batch::default();
    batch.delete(Cf::Outbox, outbox_key(reader, hash));
    batch
}

/// A delivery checked, its fields opened and verified against the entry's commitment; not
/// stored yet ([`store_checked`]).
#[derive(Debug)]
pub struct Checked {
    /// The entry whose fields these are.
    pub hash: EntryHash,
    held: HeldFields,
}

/// Checks a delivery that `sender`'s node sent to `me`'s node and stores the fields; returns
/// the entry hash and how many fields were new. (A round of deliveries is stored in one write:
/// [`check`] each, then [`store_checked`].)
pub fn receive<S: Store + ?Sized>(
    genesis: &Consortium,
    me: &MemberId,
    secret: &X25519SecretKey,
    store: &S,
    sender: &MemberId,
    delivery: Delivery,
) -> Result<(EntryHash, usize), ReceiveError> {
    let checked = check(
        genesis,
        me,
        &mut RoundOpener::new(secret),
        store,
        sender,
        delivery,
    )?;
    let hash = checked.hash;
    let added = store_checked(store, vec![checked])?
        .first()
        .map_or(0, |(_, added)| *added);
    Ok((hash, added))
}

/// Checks a delivery that `sender`'s node sent to `me`'s node: the node holds the entry, the
/// sender is its author, the fields open with this node's key for this entry, match the
/// author's commitment, and are all fields `me` may read. Reads the store, writes nothing.
pub fn check<S: Store + ?Sized>(
    genesis: &Consortium,
    me: &MemberId,
    opener: &mut RoundOpener<'_>,
    store: &S,
    sender: &MemberId,
    delivery: Delivery,
) -> Result<Checked, ReceiveError> {
    let hash = delivery
        .entry
        .hash()
        .map_err(|e| ReceiveError::Entry(e.into()))?;
    // Opened first, whatever else is wrong with the delivery: the round's later deliveries
    // open only after this one.
    let context = SealContext {
        network: genesis.network_id(),
        entry: hash,
        reader: me,
    };
    let held = opener.open(&context, &delivery.sealed)?;
    let author = &delivery.entry.body.author;
    if author != sender {
        return Err(ReceiveError::NotTheAuthor {
            sender: sender.clone(),
            author: author.clone(),
        });
    }
    // The stored entry was verified when it was stored; the delivery's copy has its body,
    // so the same commitment.
    let entry = store.entry(&hash)?.ok_or(ReceiveError::NotHeld(hash))?;
    let commitment = entry
        .body
        .private
        .as_ref()
        .ok_or(ReceiveError::NoCommitment)?;
    let member = genesis
        .active_member(me)
        .ok_or_else(|| ReceiveError::NotAMember(me.clone()))?;
    held.verify(commitment)?;
    if let Some(field) = held
        .fields
        .iter()
        .find(|f| !genesis.may_read(member, &f.name))
    {
        return Err(ReceiveError::NotReadable(field.name.clone()));
    }
    Ok(Checked { hash, held })
}

/// Stores checked deliveries in one write, each merged into the row the node holds at that
/// moment: rows are read and written under the store's row lock, which purges take too, so a
/// purge that landed after the check is never undone (its field stays erased, its note stays).
/// Returns, per delivery, the entry and how many of its fields were new.
pub fn store_checked<S: Store + ?Sized>(
    store: &S,
    checked: Vec<Checked>,
) -> Result<Vec<(EntryHash, usize)>, StoreError> {
    let _rows = store.row_lock();
    // Each row with whether this round added to it; read once even if the round names its
    // entry twice.
    let mut rows: BTreeMap<EntryHash, (PrivateRow, bool)> = BTreeMap::new();
    let mut added = Vec::with_capacity(checked.len());
    for Checked { hash, held } in checked {
        let (row, changed) = match rows.entry(hash) {
            Entry::Occupied(held_row) => held_row.into_mut(),
            Entry::Vacant(slot) => {
                slot.insert((row(store, &hash)?.unwrap_or_else(PrivateRow::empty), false))
            }
        };
        let before = row.held.fields.len();
        row.merge(held);
        let new = row.held.fields.len() - before;
        *changed |= new > 0;
        added.push((hash, new));
    }
    let mut batch = Batch::default();
    for (hash, (row, changed)) in rows {
        if changed {
            let bytes = row
                .encode()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            batch.put(Cf::Private, hash.as_bytes().to_vec(), bytes);
        }
    }
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok(added)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;
    use tally_sdk::codec::CanonicalJson;
    use tally_sdk::entry::UnsignedEntry;
    use tally_sdk::membership::keyfile::MemberKeys;
    use tally_sdk::membership::template::{demo_consortium, demo_keys};
    use tally_sdk::privacy::disclosure::{CommitLimits, commit};
    use tally_sdk::privacy::held::HeldFields;
    use tally_sdk::time::Timestamp;

    use super::*;
    use crate::store::memory::MemoryStore;

    const CANARY: &str = "canary-delivery-51c2";

    struct Order {
        genesis: Consortium,
        hash: EntryHash,
        /// The platform's node, holding the order's fields.
        author: MemoryStore,
    }

    fn keys(member: &str) -> MemberKeys {
        demo_keys(member).unwrap()
    }

    fn member<'g>(genesis: &'g Consortium, id: &str) -> &'g Member {
        genesis.member(&MemberId::new(id).unwrap()).unwrap()
    }

    fn order() -> Order {
        let (signed, _) = demo_consortium().unwrap();
        let genesis = signed.verify().unwrap();
        let mut fields = BTreeMap::new();
        for (name, value) in [
            ("consumer.address", json!(format!("1 {CANARY} Road"))),
            ("order.spec", json!({"model": "sofa-3"})),
            ("order.price", json!({"amount": "4999.00"})),
        ] {
            fields.insert(
                FieldName::new(name).unwrap(),
                CanonicalJson::from_value(&value).unwrap(),
            );
        }
        let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
        let platform = keys("platform");
        let event = json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
            "epcList": ["https://id.gs1.org/01/09506000134352/21/S1"], "tally:kind": "order",
        });
        let entry = UnsignedEntry::event(
            genesis.network_id(),
            platform.member.clone(),
            0,
            None,
            Timestamp(1_000),
            vec![],
            &event,
            Some(commitment.clone()),
        )
        .unwrap()
        .sign(&platform.signing)
        .unwrap();
        let hash = entry.hash().unwrap();
        let author = MemoryStore::new();
        let row = PrivateRow {
            held: HeldFields::complete(&commitment, &opened).unwrap(),
            purged: Vec::new(),
        };
        let mut batch = Batch::default();
        batch.put(
            Cf::Entries,
            hash.as_bytes().to_vec(),
            entry.to_bytes().unwrap(),
        );
        batch.put(Cf::Private, hash.as_bytes().to_vec(), row.encode().unwrap());
        author.write(batch).unwrap();
        Order {
            genesis,
            hash,
            author,
        }
    }

    fn platform_id() -> MemberId {
        MemberId::new("platform").unwrap()
    }

    /// A reader's store holding `entry` (replication brought it).
    fn holding(entry: &SignedEntry) -> MemoryStore {
        let store = MemoryStore::new();
        let mut batch = Batch::default();
        batch.put(
            Cf::Entries,
            entry.hash().unwrap().as_bytes().to_vec(),
            entry.to_bytes().unwrap(),
        );
        store.write(batch).unwrap();
        store
    }

    #[test]
    fn each_reader_gets_only_its_fields_and_keeps_them() {
        let o = order();
        for (reader, expected) in [
            ("logistics", vec!["consumer.address"]),
            ("manufacturer", vec!["order.spec"]),
            ("regulator", vec!["order.price"]),
        ] {
            let member = member(&o.genesis, reader);
            let delivery = seal_for(&o.genesis, &o.author, member, &o.hash)
                .unwrap()
                .unwrap();
            let bytes = crate::replicate::wire::encode("delivery", &delivery).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(CANARY),
                "a delivery shows a value in clear"
            );
            let store = holding(&delivery.entry);
            let keys = keys(reader);
            let (hash, added) = receive(
                &o.genesis,
                &keys.member,
                &keys.x25519,
                &store,
                &platform_id(),
                delivery.clone(),
            )
            .unwrap();
            assert_eq!((hash, added), (o.hash, 1));
            let held = row(&store, &o.hash).unwrap().unwrap().held;
            let names: Vec<&str> = held.fields.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, expected);
            held.verify(delivery.entry.body.private.as_ref().unwrap())
                .unwrap();
            // Delivered again (the acknowledgement was lost): nothing changes.
            let again = receive(
                &o.genesis,
                &keys.member,
                &keys.x25519,
                &store,
                &platform_id(),
                delivery,
            )
            .unwrap();
            assert_eq!(again, (o.hash, 0));
        }
        // The supplier may read none of them: nothing is sealed for it.
        let supplier = member(&o.genesis, "supplier");
        assert!(
            seal_for(&o.genesis, &o.author, supplier, &o.hash)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_delivery_is_refused_unless_everything_about_it_holds() {
        let o = order();
        let logistics = keys("logistics");
        let carrier = member(&o.genesis, "logistics");
        let delivery = seal_for(&o.genesis, &o.author, carrier, &o.hash)
            .unwrap()
            .unwrap();
        let store = holding(&delivery.entry);
        let receive_as = |keys: &MemberKeys, sender: &str, delivery: Delivery| {
            receive(
                &o.genesis,
                &keys.member,
                &keys.x25519,
                &store,
                &MemberId::new(sender).unwrap(),
                delivery,
            )
        };
        // Sent on by another member's node: its fault.
        let refused = receive_as(&logistics, "manufacturer", delivery.clone()).unwrap_err();
        assert!(matches!(refused, ReceiveError::NotTheAuthor { .. }));
        assert!(refused.blames_sender());
        // Opened by a member it was not sealed to (a key change not installed everywhere
        // yet can explain it: no blame).
        let refused = receive_as(&keys("manufacturer"), "platform", delivery.clone()).unwrap_err();
        assert!(matches!(refused, ReceiveError::Seal(SealError::Open)));
        assert!(!refused.blames_sender());
        // A value that is not the committed one, sealed properly.
        let row = row(&o.author, &o.hash).unwrap().unwrap();
        let mut forged = row.held.only(|f| f.as_str() == "consumer.address");
        forged.fields[0].value = CanonicalJson::from_value(&json!("2 Other Road")).unwrap();
        let context = SealContext {
            network: o.genesis.network_id(),
            entry: o.hash,
            reader: &logistics.member,
        };
        let sealed =
            tally_sdk::privacy::sealed::seal(&context, &carrier.x25519_key, &forged).unwrap();
        let refused = receive_as(
            &logistics,
            "platform",
            Delivery {
                entry: delivery.entry.clone(),
                sealed,
            },
        )
        .unwrap_err();
        assert!(matches!(refused, ReceiveError::Mismatch(_)));
        assert!(refused.blames_sender());
        // More than the member may read (the price).
        let sealed =
            tally_sdk::privacy::sealed::seal(&context, &carrier.x25519_key, &row.held).unwrap();
        assert!(matches!(
            receive_as(&logistics, "platform", Delivery { entry: delivery.entry.clone(), sealed }),
            Err(ReceiveError::NotReadable(f)) if f.as_str() == "order.price"
        ));
        // Fields sealed for one entry, sent with another (not held here either): they do not
        // open for it (the entry's hash is bound into the seal), and nothing is kept. An entry
        // not held yet whose fields do open asks to be sent again:
        // `fields_of_entries_the_reader_does_not_hold_are_not_kept`.
        let mut tampered = delivery.clone();
        tampered.entry.body.seq = 1;
        let refused = receive_as(&logistics, "platform", tampered).unwrap_err();
        assert!(matches!(refused, ReceiveError::Seal(SealError::Open)));
        assert!(!refused.blames_sender());
        // Nothing of any refused delivery was kept.
        assert!(super::row(&store, &o.hash).unwrap().is_none());
    }

    /// A purge that lands on the reader's node while a delivery of the same field is being
    /// checked: storing the checked delivery afterwards must not bring the purged value back
    /// (the row is read again, under the store's row lock, when the delivery is stored).
    #[test]
    fn a_purge_landing_between_check_and_store_is_not_undone() {
        let o = order();
        let carrier = member(&o.genesis, "logistics");
        let delivery = seal_for(&o.genesis, &o.author, carrier, &o.hash)
            .unwrap()
            .unwrap();
        let logistics = keys("logistics");
        let store = holding(&delivery.entry);
        let checked = check(
            &o.genesis,
            &logistics.member,
            &mut RoundOpener::new(&logistics.x25519),
            &store,
            &platform_id(),
            delivery,
        )
        .unwrap();
        let address = FieldName::new("consumer.address").unwrap();
        let purge = crate::private::purge::PurgeOrder {
            by: EntryHash::digest(b"the platform's purge entry"),
            at: Timestamp(2_000),
            target: o.hash,
            fields: vec![address.clone()],
        };
        crate::private::purge::erase_rows(&store, &[purge]).unwrap();

        let stored = store_checked(&store, vec![checked]).unwrap();
        assert_eq!(stored, vec![(o.hash, 0)]);
        let row = super::row(&store, &o.hash).unwrap().unwrap();
        assert!(
            row.held.field(&address).is_none(),
            "a purged value came back"
        );
        assert!(row.purge_of(&address).is_some());
        let bytes = store.get(Cf::Private, o.hash.as_bytes()).unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "the purged value is in the stored row"
        );
    }

    /// Issue 20, item 8: an author signs entries it never puts on the ledger and sends their
    /// fields to a reader. Before, the reader stored them all, without bound.
    #[test]
    fn fields_of_entries_the_reader_does_not_hold_are_not_kept() {
        let o = order();
        let carrier = member(&o.genesis, "logistics");
        let delivery = seal_for(&o.genesis, &o.author, carrier, &o.hash)
            .unwrap()
            .unwrap();
        let logistics = keys("logistics");
        let empty = MemoryStore::new();
        let refused = receive(
            &o.genesis,
            &logistics.member,
            &logistics.x25519,
            &empty,
            &platform_id(),
            delivery,
        )
        .unwrap_err();
        assert!(matches!(refused, ReceiveError::NotHeld(hash) if hash == o.hash));
        assert!(
            empty
                .scan(Cf::Private, &crate::store::KeyRange::prefix(&[]), 10)
                .unwrap()
                .is_empty()
        );
    }
}
