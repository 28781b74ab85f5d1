//! The storage and ingestion suite, on a real RocksDB in a temporary directory: entries are
//! verified, placed and acknowledged only once durable; requests are all-or-nothing; re-sent
//! entries are recognised; conflicting entries are refused; the store survives a reopen and an
//! abrupt stop; a damaged store is refused with a message, never served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tally_node::commit::{Committer, Request};
use tally_node::ingest::{EventInput, IngestError, Ledger};
use tally_node::store::{Cf, Store, StoreError, string_prefix};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::VerifyError;

const PRODUCT: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";

fn demo() -> (Genesis, Vec<MemberKeys>) {
    let (signed, keys) = demo_consortium().unwrap();
    (signed.verify().unwrap(), keys)
}

fn event(step: &str, serial: u32) -> Value {
    json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "disposition": "in_progress",
        "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
        "epcList": [if serial == 0 { PRODUCT.to_owned() } else { format!("https://id.gs1.org/01/09506000134352/21/S{serial}") }],
    })
}

/// A chain of `n` manufacturer entries, signed outside the node.
fn chain(
    genesis: &Genesis,
    keys: &MemberKeys,
    from: u64,
    n: u64,
    prev: Option<EntryHash>,
) -> Vec<SignedEntry> {
    let mut prev = prev;
    (from..from + n)
        .map(|seq| {
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                keys.member.clone(),
                seq,
                prev,
                Timestamp(1_772_326_800_000 + seq),
                vec![],
                &event("assembling", seq as u32),
                None,
            )
            .unwrap()
            .sign(&keys.signing)
            .unwrap();
            prev = Some(entry.hash().unwrap());
            entry
        })
        .collect()
}

fn open(dir: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
    Store::open(dir, genesis.network_id(), 64)
}

fn start(
    dir: &Path,
    genesis: &Genesis,
    keys: Option<MemberKeys>,
) -> (Committer, tally_node::commit::Writer, Arc<Store>) {
    let store = Arc::new(open(dir, genesis).unwrap());
    let ledger = Ledger::open(genesis.clone(), &store, 10_000).unwrap();
    let (committer, writer) = Committer::start(store.clone(), ledger, keys, 64, 20_000).unwrap();
    (committer, writer, store)
}

#[test]
fn entries_are_stored_indexed_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 50, None);
    let hashes: Vec<EntryHash> = entries.iter().map(|e| e.hash().unwrap()).collect();
    {
        let (committer, writer, _store) = start(dir.path(), &genesis, None);
        let receipts = committer
            .submit(Request::Entries(entries.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(receipts.len(), 50);
        assert!(receipts.iter().all(|r| !r.duplicate));
        drop(committer);
        writer.join();
    }
    let store = open(dir.path(), &genesis).unwrap();
    let heads = store.heads().unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].1.seq, 49);
    assert_eq!(heads[0].1.hash, hashes[49]);
    for (i, hash) in hashes.iter().enumerate() {
        assert_eq!(store.entry(hash).unwrap().unwrap(), entries[i]);
        assert_eq!(
            store.chain_hash(&keys[1].member, i as u64).unwrap(),
            Some(*hash)
        );
    }
    let (page, cursor) = store
        .scan_index(Cf::ByBizStep, &string_prefix("assembling"), None, 30)
        .unwrap();
    assert_eq!(page.len(), 30);
    let (rest, end) = store
        .scan_index(
            Cf::ByBizStep,
            &string_prefix("assembling"),
            cursor.as_deref(),
            30,
        )
        .unwrap();
    assert_eq!(rest.len(), 20);
    assert!(end.is_none());
    let one = format!("https://id.gs1.org/01/09506000134352/21/S{}", 7);
    let (by_product, _) = store
        .scan_index(Cf::ByProduct, &string_prefix(&one), None, 10)
        .unwrap();
    assert_eq!(by_product, vec![hashes[7]]);
}

#[test]
fn a_request_with_one_bad_entry_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let (committer, _writer, store) = start(dir.path(), &genesis, None);
    let mut entries = chain(&genesis, &keys[1], 0, 10, None);
    entries[6].signature = entries[5].signature;
    match committer.submit(Request::Entries(entries.clone())).unwrap() {
        Err(IngestError::Invalid {
            index: 6,
            source: VerifyError::Signature { .. },
        }) => {}
        other => panic!("expected entry 6 to be rejected, got {other:?}"),
    }
    assert!(store.heads().unwrap().is_empty());
    assert!(store.entry(&entries[0].hash().unwrap()).unwrap().is_none());
    // A member may not write kinds its role does not permit (the platform writes no production steps).
    let platform = chain(&genesis, &keys[0], 0, 1, None);
    assert!(matches!(
        committer.submit(Request::Entries(platform)).unwrap(),
        Err(IngestError::Invalid {
            source: VerifyError::NotPermitted { .. } | VerifyError::Signature { .. },
            ..
        })
    ));
}

#[test]
fn resent_entries_are_acknowledged_again_and_conflicts_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let (committer, _writer, store) = start(dir.path(), &genesis, None);
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    committer
        .submit(Request::Entries(entries.clone()))
        .unwrap()
        .unwrap();
    let again = committer
        .submit(Request::Entries(entries[2..].to_vec()))
        .unwrap()
        .unwrap();
    assert!(again.iter().all(|r| r.duplicate));
    // The author signs a different entry 3: refused, the stored one kept.
    let mut other = entries[3].body.clone();
    other.timestamp = Timestamp(other.timestamp.millis() + 1);
    let other = other.sign(&keys[1].signing).unwrap();
    assert!(matches!(
        committer.submit(Request::Entries(vec![other])).unwrap(),
        Err(IngestError::Conflict { seq: 3, .. })
    ));
    assert_eq!(
        store.chain_hash(&keys[1].member, 3).unwrap(),
        Some(entries[3].hash().unwrap())
    );
    // A gap: entry 7 before 5 and 6.
    let later = chain(&genesis, &keys[1], 7, 1, Some(entries[4].hash().unwrap()));
    assert!(matches!(
        committer.submit(Request::Entries(later)).unwrap(),
        Err(IngestError::Invalid { .. })
    ));
}

#[test]
fn the_node_signs_its_members_events_and_keeps_private_values_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let platform = keys[0].clone();
    let (committer, _writer, store) = start(dir.path(), &genesis, Some(platform.clone()));
    let mut order = event("commissioning", 0);
    order["tally:kind"] = json!("order");
    let mut private = BTreeMap::new();
    private.insert(
        FieldName::new("consumer.address").unwrap(),
        CanonicalJson::from_value(&json!("CANARY road")).unwrap(),
    );
    let receipts = committer
        .submit(Request::Events(vec![EventInput {
            event: order.clone(),
            private,
        }]))
        .unwrap()
        .unwrap();
    assert_eq!(receipts[0].seq, 0);
    assert_eq!(receipts[0].author, MemberId::new("platform").unwrap());
    let entry = store.entry(&receipts[0].hash).unwrap().unwrap();
    let public = serde_json::to_string(&entry).unwrap();
    assert!(!public.contains("CANARY"));
    assert!(entry.body.private.is_some());
    // A second event continues the chain.
    let second = committer
        .submit(Request::Events(vec![EventInput {
            event: order,
            private: BTreeMap::new(),
        }]))
        .unwrap()
        .unwrap();
    assert_eq!(second[0].seq, 1);
    // An unknown private field is refused.
    let mut bad = BTreeMap::new();
    bad.insert(
        FieldName::new("consumer.shoe_size").unwrap(),
        CanonicalJson::from_value(&json!(42)).unwrap(),
    );
    assert!(matches!(
        committer
            .submit(Request::Events(vec![EventInput {
                event: event("commissioning", 1),
                private: bad
            }]))
            .unwrap(),
        Err(IngestError::Private { .. })
    ));
}

#[test]
fn concurrent_requests_are_group_committed_in_chain_order() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let (committer, writer, store) = start(dir.path(), &genesis, None);
    // Three members' chains submitted from three threads at once.
    let writers: Vec<_> = [1usize, 2, 3]
        .into_iter()
        .map(|member| {
            let committer = committer.clone();
            let genesis = genesis.clone();
            let keys = keys[member].clone();
            std::thread::spawn(move || {
                let mut prev = None;
                for batch in 0..10 {
                    let entries = chain(&genesis, &keys, batch * 20, 20, prev);
                    prev = Some(entries[19].hash().unwrap());
                    let kind_ok = committer.submit(Request::Entries(entries)).unwrap();
                    kind_ok.map(|_| ()).map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    let results: Vec<Result<(), String>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    drop(committer);
    writer.join();
    // The manufacturer and supplier may write assembling steps; the logistics firm may not.
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(results[2].is_err());
    let heads = store.heads().unwrap();
    assert_eq!(heads.len(), 2);
    assert!(heads.iter().all(|(_, tip)| tip.seq == 199));
}

#[test]
fn a_copy_taken_while_writing_opens_with_every_entry_acknowledged_before_it() {
    // Simulates a crash: the files copied while the writer is appending are what a machine
    // that lost power would find on disk. Every entry acknowledged before the copy began must be
    // there (the WAL is synced before an acknowledgement) and the chain must be whole.
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let (committer, writer, _store) = start(dir.path(), &genesis, None);
    let entries = chain(&genesis, &keys[1], 0, 800, None);
    let (start_copy, copy_requested) = std::sync::mpsc::channel::<u64>();
    let (source, target) = (dir.path().to_owned(), copy.path().to_owned());
    let copier = std::thread::spawn(move || {
        let acknowledged_before = copy_requested.recv().unwrap();
        for file in std::fs::read_dir(&source).unwrap() {
            let file = file.unwrap();
            if file.file_type().unwrap().is_file() {
                std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
            }
        }
        acknowledged_before
    });
    for (i, batch) in entries.chunks(40).enumerate() {
        committer
            .submit(Request::Entries(batch.to_vec()))
            .unwrap()
            .unwrap();
        if i == 4 {
            // 200 entries acknowledged; the copy runs while the next batches are written.
            start_copy.send(200).unwrap();
        }
    }
    let acknowledged_before = copier.join().unwrap();
    drop(committer);
    writer.join();
    let recovered = open(copy.path(), &genesis).unwrap();
    let tip = recovered.heads().unwrap()[0].1.seq;
    assert!(
        tip + 1 >= acknowledged_before,
        "tip {tip}: acknowledged entries were lost"
    );
    for seq in 0..=tip {
        let hash = entries[seq as usize].hash().unwrap();
        assert_eq!(
            recovered.chain_hash(&keys[1].member, seq).unwrap(),
            Some(hash)
        );
        assert!(recovered.entry(&hash).unwrap().is_some());
    }
}

#[test]
fn a_damaged_store_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    {
        let (committer, writer, _store) = start(dir.path(), &genesis, None);
        committer
            .submit(Request::Entries(entries.clone()))
            .unwrap()
            .unwrap();
        drop(committer);
        writer.join();
    }
    {
        let store = open(dir.path(), &genesis).unwrap();
        // Overwrite the head entry's bytes with another (valid) entry's bytes.
        store
            .raw_put(
                Cf::Entries,
                entries[4].hash().unwrap().as_bytes(),
                &entries[3].to_bytes().unwrap(),
            )
            .unwrap();
        assert!(matches!(
            store.entry(&entries[4].hash().unwrap()),
            Err(StoreError::Corrupted(_))
        ));
    }
    let err = open(dir.path(), &genesis).unwrap_err().to_string();
    assert!(
        err.contains("corrupted") && err.contains("does not match its hash"),
        "{err}"
    );
    // Another consortium's genesis does not open this store.
    let (mut other, _) = demo_consortium().unwrap();
    other.document.consortium.push('!');
    let other_id = other.document.network_id().unwrap();
    let err = Store::open(dir.path(), other_id, 64)
        .unwrap_err()
        .to_string();
    assert!(err.contains("belongs to network"), "{err}");
}
