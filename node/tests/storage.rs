//! The storage suite. One set of tests runs against both stores (RocksDB in a temporary
//! directory, and the in-memory store): entries verified, placed, indexed and acknowledged
//! only once durable; requests all or nothing; re-sent entries recognised; conflicts refused
//! and recorded; everything there after a reopen; damaged data refused with a reason, never
//! served. RocksDB alone: crash simulations (a copy of the files taken while writes are in
//! flight, and write-ahead logs cut at every record boundary and inside records) and a value
//! overwritten through raw RocksDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{chain, chain_of, demo, event, hashes, product, product_path};
use serde_json::json;
use tally_node::commit::{CommitOptions, Committer, Writer};
use tally_node::ingest::{EventInput, IngestError, Ledger, Pipeline, Problem};
use tally_node::store::check::check_store;
use tally_node::store::keys::{Head, Position};
use tally_node::store::memory::MemoryStore;
use tally_node::store::rocks::RocksStore;
use tally_node::store::{Batch, Cf, Cursor, Index, Query, Store, StoreError};
use tally_node::upgrade;
use tally_sdk::codec::{self, CanonicalJson};
use tally_sdk::event::KindName;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::NetworkId;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::{ChainError, VerifyError};
use tally_sdk::witnessing::fork::ForkProof;

/// A store under test: opened (and checked), closed and opened again.
trait Backend {
    type S: Store + std::fmt::Debug + 'static;
    fn new() -> Self;
    fn open_network(&mut self, network: NetworkId) -> Result<Arc<Self::S>, StoreError>;
    fn open(&mut self, genesis: &Consortium) -> Result<Arc<Self::S>, StoreError> {
        self.open_network(genesis.network_id())
    }
    /// Closes `store` (every other handle must be gone).
    fn close(&mut self, store: Arc<Self::S>);
}

struct Rocks {
    dir: tempfile::TempDir,
}

impl Backend for Rocks {
    type S = RocksStore;
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn open_network(&mut self, network: NetworkId) -> Result<Arc<RocksStore>, StoreError> {
        upgrade::open(self.dir.path(), network).map(|(s, _)| Arc::new(s))
    }
    fn close(&mut self, store: Arc<RocksStore>) {
        Arc::into_inner(store).expect("the store is still in use");
    }
}

struct Memory {
    data: Option<MemoryStore>,
}

impl Backend for Memory {
    type S = MemoryStore;
    fn new() -> Self {
        Self {
            data: Some(MemoryStore::new()),
        }
    }
    fn open_network(&mut self, network: NetworkId) -> Result<Arc<MemoryStore>, StoreError> {
        let store = self.data.take().expect("already open");
        let checked =
            upgrade::upgrade(&store, network).and_then(|()| check_store(&store, network, 64));
        let store = Arc::new(store);
        checked.map(|_| store.clone()).inspect_err(|_| {
            self.data = Some(store.snapshot());
        })
    }
    fn close(&mut self, store: Arc<MemoryStore>) {
        self.data = Some(Arc::into_inner(store).expect("the store is still in use"));
    }
}

fn start<S: Store + 'static>(
    store: &Arc<S>,
    genesis: &Arc<Consortium>,
    keys: Option<MemberKeys>,
) -> (Committer, Writer) {
    let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
    let pipeline = Pipeline::new(genesis.clone(), 10_000);
    Committer::start(
        store.clone(),
        ledger,
        pipeline,
        keys,
        CommitOptions::default(),
        None,
    )
    .unwrap()
}

fn stop(committer: Committer, writer: Writer) {
    drop(committer);
    writer.join();
}

fn page_all<S: Store>(
    store: &S,
    query: &Query,
    per_page: usize,
) -> Vec<tally_sdk::hash::EntryHash> {
    let mut all = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.query(query, cursor.as_ref(), per_page).unwrap();
        all.extend(page.entries.iter().map(|(h, _)| *h));
        match page.next {
            // The cursor survives a round trip through text, as an HTTP client would keep it.
            Some(next) => cursor = Some(Cursor::parse(&next.to_string()).unwrap()),
            None => return all,
        }
    }
}

fn entries_survive_a_reopen_and_are_found_by_every_index<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let manufacturer = &keys[1];
    // Entries 0..40 about products C2M-0..39; every tenth is an inspection of product C2M-0.
    let entries = chain_of(&genesis, manufacturer, 0, 40, None, |seq| {
        if seq % 10 == 0 {
            json!({
                "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting",
                "disposition": "conformant",
                "eventTime": format!("2026-03-01T10:{:02}:00.000+08:00", seq),
                "eventTimeZoneOffset": "+08:00", "epcList": [product(0)],
            })
        } else {
            event("assembling", "in_progress", seq, seq)
        }
    });
    let all = hashes(&entries);
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    for part in entries.chunks(15) {
        let receipts = committer.submit_entries(part.to_vec()).unwrap();
        assert!(receipts.iter().all(|r| !r.duplicate));
    }
    stop(committer, writer);
    backend.close(store);

    let store = backend.open(&genesis).unwrap();
    let heads = store.heads().unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!((heads[0].tip.seq, heads[0].tip.hash), (39, all[39]));
    assert_eq!(store.head(&manufacturer.member).unwrap().unwrap(), heads[0]);
    for (entry, hash) in entries.iter().zip(&all) {
        assert_eq!(store.entry(hash).unwrap().as_ref(), Some(entry));
    }
    let range = store.chain_range(&manufacturer.member, 5, 10).unwrap();
    assert_eq!(
        range.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        all[5..15]
    );
    assert!(
        store
            .chain_range(&manufacturer.member, 40, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .chain_range(&keys[2].member, 0, 10)
            .unwrap()
            .is_empty()
    );

    // Product C2M-0: its four inspections, in event-time order, over pages of 3.
    let history = page_all(
        store.as_ref(),
        &Query {
            index: Index::Product(product_path(0)),
            from: None,
            to: None,
        },
        3,
    );
    assert_eq!(history, vec![all[0], all[10], all[20], all[30]]);
    let via_id = store
        .history(&ProductId::parse(&product(0)).unwrap(), None, 50)
        .unwrap();
    assert_eq!(via_id.entries.len(), 4);
    assert!(via_id.next.is_none());
    let by = |index| {
        page_all(
            store.as_ref(),
            &Query {
                index,
                from: None,
                to: None,
            },
            7,
        )
    };
    assert_eq!(by(Index::BizStep("inspecting".into())).len(), 4);
    assert_eq!(by(Index::BizStep("assembling".into())).len(), 36);
    assert_eq!(by(Index::Disposition("conformant".into())).len(), 4);
    assert_eq!(by(Index::Kind(KindName::QualityInspection)).len(), 4);
    assert_eq!(by(Index::Kind(KindName::ProductionStep)).len(), 36);
    assert_eq!(by(Index::Kind(KindName::Order)).len(), 0);
    assert_eq!(by(Index::Time).len(), 40);
    // A time range: 09:05 (inclusive) to 09:08 (exclusive) holds entries 5, 6, 7.
    let from = Timestamp::parse_rfc3339("2026-03-01T09:05:00+08:00").unwrap();
    let to = Timestamp::parse_rfc3339("2026-03-01T09:08:00+08:00").unwrap();
    let window = page_all(
        store.as_ref(),
        &Query {
            index: Index::Time,
            from: Some(from),
            to: Some(to),
        },
        2,
    );
    assert_eq!(window, all[5..8]);
    // A cursor of another query is refused; garbage is refused.
    let page = store
        .query(
            &Query {
                index: Index::Time,
                from: None,
                to: None,
            },
            None,
            2,
        )
        .unwrap();
    let foreign = page.next.unwrap();
    assert!(matches!(
        store.query(
            &Query {
                index: Index::BizStep("inspecting".into()),
                from: None,
                to: None
            },
            Some(&foreign),
            2
        ),
        Err(StoreError::BadCursor)
    ));
    assert!(Cursor::parse("not hex").is_err());
    backend.close(store);
}

fn a_request_with_invalid_entries_stores_nothing_and_names_them<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    let mut entries = chain(&genesis, &keys[1], 0, 10, None);
    entries[6].signature = entries[5].signature;
    entries[8].body.seq = 0;
    match committer.submit_entries(entries.clone()) {
        Err(IngestError::Rejected(list)) => {
            let indexes: Vec<usize> = list.iter().map(|r| r.index).collect();
            assert_eq!(
                indexes,
                vec![8],
                "malformed entries are reported first: {list:?}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    entries[8].body.seq = 8;
    match committer.submit_entries(entries.clone()) {
        Err(IngestError::Rejected(list)) => {
            assert!(
                matches!(
                    list[0].problem,
                    Problem::Invalid(VerifyError::Signature { .. })
                ),
                "{list:?}"
            );
            assert_eq!(list[0].index, 6);
        }
        other => panic!("expected entry 6 to be refused, got {other:?}"),
    }
    assert!(store.heads().unwrap().is_empty());
    assert!(store.entry(&entries[0].hash().unwrap()).unwrap().is_none());
    // The platform's role does not permit production steps.
    let platform = chain(&genesis, &keys[0], 0, 1, None);
    match committer.submit_entries(platform) {
        Err(IngestError::Rejected(list)) => assert!(matches!(
            list[0].problem,
            Problem::Invalid(VerifyError::NotPermitted { .. })
        )),
        other => panic!("expected NotPermitted, got {other:?}"),
    }
    // A chain that does not start at 0 where the store has nothing.
    let later = chain(
        &genesis,
        &keys[1],
        3,
        2,
        Some(tally_sdk::hash::EntryHash::from_bytes([7; 32])),
    );
    match committer.submit_entries(later) {
        Err(IngestError::Rejected(list)) => assert!(matches!(
            list[0].problem,
            Problem::Invalid(VerifyError::Chain(ChainError::MissingStart { .. }))
        )),
        other => panic!("expected MissingStart, got {other:?}"),
    }
    assert!(store.heads().unwrap().is_empty());
    stop(committer, writer);
    backend.close(store);
}

fn resent_entries_are_acknowledged_again_and_conflicts_refused<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    committer.submit_entries(entries[..3].to_vec()).unwrap();
    // 1 and 2 again, with 3 and 4 new: the stored ones acknowledged, the new ones stored.
    let receipts = committer.submit_entries(entries[1..].to_vec()).unwrap();
    let duplicate: Vec<bool> = receipts.iter().map(|r| r.duplicate).collect();
    assert_eq!(duplicate, vec![true, true, false, false]);
    // The same entry twice in one request does not extend the chain: refused.
    match committer.submit_entries(vec![entries[4].clone(), entries[4].clone()]) {
        Err(IngestError::Rejected(list)) => assert_eq!(list[0].index, 1),
        other => panic!("expected the second copy to be refused, got {other:?}"),
    }
    // A gap: entry 7 when the chain ends at 4.
    let gap = chain(&genesis, &keys[1], 7, 1, Some(entries[4].hash().unwrap()));
    assert!(matches!(
        committer.submit_entries(gap),
        Err(IngestError::Rejected(list)) if matches!(
            list[0].problem,
            Problem::Invalid(VerifyError::Chain(ChainError::Sequence { .. }))
        )
    ));
    // The author signs a different entry 3: refused, the stored one kept, the fork recorded.
    let mut other = entries[3].body.clone();
    other.timestamp = Timestamp(other.timestamp.millis() + 1);
    let other = other.sign(&keys[1].signing).unwrap();
    let error = committer.submit_entries(vec![other.clone()]).unwrap_err();
    assert!(error.is_conflict(), "{error}");
    let head = store.head(&keys[1].member).unwrap().unwrap();
    let position = Position {
        member: head.code,
        seq: 3,
    };
    assert_eq!(
        store.chain_hash(position).unwrap(),
        Some(entries[3].hash().unwrap())
    );
    let forks = store
        .scan(
            Cf::Forks,
            &tally_node::store::KeyRange::prefix(&position.to_key()),
            10,
        )
        .unwrap();
    assert_eq!(forks.len(), 1);
    let proof: ForkProof = codec::decode("fork proof", &forks[0].1, 1 << 20).unwrap();
    let verified = proof
        .verify(&tally_sdk::verify::Verifier::new(
            &genesis,
            Timestamp::now(),
        ))
        .unwrap();
    assert_eq!((verified.author, verified.seq), (keys[1].member.clone(), 3));
    // The chain forked at 3 is frozen: nothing from there on is taken.
    let next = chain(&genesis, &keys[1], 5, 1, Some(entries[4].hash().unwrap()));
    assert!(matches!(
        committer.submit_entries(next),
        Err(IngestError::Rejected(list)) if matches!(
            list[0].problem,
            Problem::Frozen { seq: 5, fork_at: 3, .. }
        )
    ));
    stop(committer, writer);
    backend.close(store);
}

fn the_node_signs_its_members_events_and_keeps_private_values_apart<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let platform = keys[0].clone();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, Some(platform.clone()));
    let mut order = event("commissioning", "active", 0, 0);
    order["tally:kind"] = json!("order");
    let mut private = BTreeMap::new();
    private.insert(
        FieldName::new("consumer.address").unwrap(),
        CanonicalJson::from_value(&json!("CANARY road 1")).unwrap(),
    );
    let receipts = committer
        .submit_events(vec![EventInput {
            event: order.clone(),
            refs: vec![],
            private,
        }])
        .unwrap();
    assert_eq!(
        (receipts[0].seq, &receipts[0].author),
        (0, &MemberId::new("platform").unwrap())
    );
    let entry = store.entry(&receipts[0].hash).unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&entry.to_bytes().unwrap()).contains("CANARY"));
    assert!(entry.body.private.is_some());
    let opened = store
        .get(Cf::Private, receipts[0].hash.as_bytes())
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&opened).contains("CANARY"));
    // More events continue the chain; entries signed elsewhere by another member interleave.
    let more = committer
        .submit_events(vec![
            EventInput {
                event: order.clone(),
                refs: vec![],
                private: BTreeMap::new(),
            },
            EventInput {
                event: order,
                refs: vec![],
                private: BTreeMap::new(),
            },
        ])
        .unwrap();
    assert_eq!(more.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2]);
    committer
        .submit_entries(chain(&genesis, &keys[1], 0, 3, None))
        .unwrap();
    // An unknown private field and an invalid event are refused, with their indexes.
    let mut unknown = BTreeMap::new();
    unknown.insert(
        FieldName::new("consumer.shoe_size").unwrap(),
        CanonicalJson::from_value(&json!(42)).unwrap(),
    );
    match committer.submit_events(vec![
        EventInput {
            event: event("commissioning", "active", 1, 1),
            refs: vec![],
            private: BTreeMap::new(),
        },
        EventInput {
            event: event("commissioning", "active", 1, 1),
            refs: vec![],
            private: unknown,
        },
        EventInput {
            event: json!({"type": "NoSuchEvent"}),
            refs: vec![],
            private: BTreeMap::new(),
        },
    ]) {
        Err(IngestError::Rejected(list)) => {
            assert_eq!(list.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 2]);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(store.head(&platform.member).unwrap().unwrap().tip.seq, 2);
    stop(committer, writer);
    backend.close(store);
}

fn concurrent_requests_are_group_committed<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    // Manufacturer and supplier may write production steps; logistics may not.
    let threads: Vec<_> = [1usize, 2, 3]
        .into_iter()
        .map(|member| {
            let committer = committer.clone();
            let entries = chain(&genesis, &keys[member], 0, 200, None);
            std::thread::spawn(move || {
                entries
                    .chunks(20)
                    .try_for_each(|part| committer.submit_entries(part.to_vec()).map(|_| ()))
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(results[2].is_err());
    let stats = committer.stats();
    // The logistics firm's first request was refused before it reached the writer, which only
    // wrote its evidence: 20 entries logistics signed of a kind its role may not write.
    assert_eq!(stats.requests, 21);
    assert!(stats.groups <= 21, "{stats:?}");
    stop(committer, writer);
    assert_eq!(store.rejected(None, 100).unwrap().len(), 20);
    let heads = store.heads().unwrap();
    assert_eq!(
        heads.iter().map(|h| h.tip.seq).collect::<Vec<_>>(),
        vec![199, 199]
    );
    backend.close(store);
}

fn a_corrupted_value_is_detected_and_never_served<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    committer.submit_entries(entries.clone()).unwrap();
    stop(committer, writer);
    // Entry 2's bytes replaced by entry 1's (valid bytes, wrong hash), and entry 3's mangled.
    let mut damage = Batch::default();
    damage.put(
        Cf::Entries,
        entries[2].hash().unwrap().as_bytes().to_vec(),
        entries[1].to_bytes().unwrap(),
    );
    let mut mangled = entries[3].to_bytes().unwrap();
    mangled[40] ^= 0x55;
    damage.put(
        Cf::Entries,
        entries[3].hash().unwrap().as_bytes().to_vec(),
        mangled,
    );
    store.write(damage).unwrap();
    for i in [2, 3] {
        let error = store.entry(&entries[i].hash().unwrap()).unwrap_err();
        assert!(matches!(error, StoreError::Corrupted(_)), "{error}");
    }
    let page = store.query(
        &Query {
            index: Index::Time,
            from: None,
            to: None,
        },
        None,
        10,
    );
    assert!(matches!(page, Err(StoreError::Corrupted(_))));
    backend.close(store);
    let error = backend.open(&genesis).unwrap_err().to_string();
    assert!(
        error.contains("corrupted") && error.contains("entry"),
        "{error}"
    );
}

fn damaged_heads_and_chains_are_refused_at_open<B: Backend>() {
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    type Damage = Box<dyn Fn(&Head) -> Batch>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "past its head",
            Box::new(|head: &Head| {
                let mut b = Batch::default();
                b.put(
                    Cf::Chain,
                    Position {
                        member: head.code,
                        seq: 9,
                    }
                    .to_key()
                    .to_vec(),
                    vec![1; 32],
                );
                b
            }),
        ),
        (
            "missing from its chain",
            Box::new(|head: &Head| {
                let mut b = Batch::default();
                b.delete(
                    Cf::Chain,
                    Position {
                        member: head.code,
                        seq: 2,
                    }
                    .to_key()
                    .to_vec(),
                );
                b
            }),
        ),
        (
            "does not link",
            Box::new(|head: &Head| {
                let mut b = Batch::default();
                b.put(
                    Cf::Chain,
                    Position {
                        member: head.code,
                        seq: 3,
                    }
                    .to_key()
                    .to_vec(),
                    vec![9; 32],
                );
                b
            }),
        ),
        (
            "head of",
            Box::new(|head: &Head| {
                let mut moved = head.clone();
                moved.tip.hash = tally_sdk::hash::EntryHash::from_bytes([9; 32]);
                let mut b = Batch::default();
                b.put(Cf::Heads, moved.key(), moved.value());
                b
            }),
        ),
        (
            "is damaged",
            Box::new(|head: &Head| {
                let mut b = Batch::default();
                b.put(Cf::Heads, head.key(), vec![0; 7]);
                b
            }),
        ),
        (
            "no network id",
            Box::new(|_: &Head| {
                let mut b = Batch::default();
                b.delete(Cf::Meta, b"network_id".to_vec());
                b
            }),
        ),
        (
            "storage format 7",
            Box::new(|_: &Head| {
                let mut b = Batch::default();
                b.put(Cf::Meta, b"format".to_vec(), 7u32.to_be_bytes().to_vec());
                b
            }),
        ),
    ];
    for (needle, damage) in damages {
        let mut backend = B::new();
        let store = backend.open(&genesis).unwrap();
        let (committer, writer) = start(&store, &genesis, None);
        committer.submit_entries(entries.clone()).unwrap();
        stop(committer, writer);
        let head = store.heads().unwrap().remove(0);
        store.write(damage(&head)).unwrap();
        backend.close(store);
        let error = backend.open(&genesis).unwrap_err().to_string();
        assert!(error.contains(needle), "{needle}: {error}");
    }
    // Another consortium's genesis does not open a store.
    let mut backend = B::new();
    let store = backend.open(&genesis).unwrap();
    backend.close(store);
    let (mut other, _) = demo_consortium().unwrap();
    other.document.consortium.push('!');
    let error = backend
        .open_network(other.document.network_id().unwrap())
        .unwrap_err()
        .to_string();
    assert!(error.contains("belongs to network"), "{error}");
}

/// A format-1 store (rows of the author's opened fields) opens as format 2, rows upgraded with
/// their leaves, so the fields stay provable and deliverable.
fn a_format_1_store_is_upgraded_in_place<B: Backend>() {
    let mut backend = B::new();
    let (genesis, _) = demo();
    let mut fields = BTreeMap::new();
    fields.insert(
        FieldName::new("consumer.address").unwrap(),
        CanonicalJson::from_value(&json!("1 Format-One Road")).unwrap(),
    );
    fields.insert(
        FieldName::new("order.spec").unwrap(),
        CanonicalJson::from_value(&json!({"model": "sofa-3"})).unwrap(),
    );
    let (commitment, opened) = tally_sdk::privacy::disclosure::commit(
        fields,
        &tally_sdk::privacy::disclosure::CommitLimits::default(),
    )
    .unwrap();
    let hash = tally_sdk::hash::EntryHash::digest(b"an entry of format 1");
    let store = backend.open(&genesis).unwrap();
    let mut old = Batch::default();
    old.put(Cf::Meta, b"format".to_vec(), 1u32.to_be_bytes().to_vec());
    old.put(
        Cf::Private,
        hash.as_bytes().to_vec(),
        codec::encode("opened private fields", &opened).unwrap(),
    );
    store.write(old).unwrap();
    backend.close(store);
    let store = backend.open(&genesis).unwrap();
    assert_eq!(
        store.get(Cf::Meta, b"format").unwrap().unwrap(),
        tally_node::store::STORE_FORMAT.to_be_bytes()
    );
    let row = tally_node::private::row(store.as_ref(), &hash)
        .unwrap()
        .unwrap();
    row.held.verify(&commitment).unwrap();
    assert_eq!(row.held.fields.len(), 2);
    assert!(row.purged.is_empty());
}

/// A format-2 store (no `by_event_id` index) opens in the current format with every stored
/// event that has an eventID indexed by it, as a store written in the current format is.
fn a_format_2_store_gets_its_event_id_index<B: Backend>() {
    let (genesis, keys) = demo();
    // Four events with an eventID, one without (not indexed).
    let id = |seq: u64| format!("urn:uuid:00000000-0000-4000-8000-{seq:012}");
    let entries = chain_of(&genesis, &keys[1], 0, 5, None, |seq| {
        let mut e = event("assembling", "in_progress", seq, seq);
        if seq < 4 {
            e["eventID"] = json!(id(seq));
        }
        e
    });
    let mut backend = B::new();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    committer.submit_entries(entries.clone()).unwrap();
    stop(committer, writer);
    let all = tally_node::store::KeyRange {
        start: Vec::new(),
        end: None,
    };
    let indexed = store.scan(Cf::ByEventId, &all, 1_000).unwrap();
    assert_eq!(indexed.len(), 4);
    let mut old = Batch::default();
    for (key, _) in &indexed {
        old.delete(Cf::ByEventId, key.clone());
    }
    old.put(Cf::Meta, b"format".to_vec(), 2u32.to_be_bytes().to_vec());
    store.write(old).unwrap();
    backend.close(store);

    let store = backend.open(&genesis).unwrap();
    assert_eq!(
        store.get(Cf::Meta, b"format").unwrap().unwrap(),
        tally_node::store::STORE_FORMAT.to_be_bytes()
    );
    assert_eq!(store.scan(Cf::ByEventId, &all, 1_000).unwrap(), indexed);
    for (seq, entry) in (0..4).zip(&entries) {
        let page = store
            .query(
                &Query {
                    index: Index::EventId(id(seq)),
                    from: None,
                    to: None,
                },
                None,
                10,
            )
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].0, entry.hash().unwrap());
    }
}

/// Issue 23: events are indexed by record time (their entry's timestamp) as well as event
/// time, and the index reads forwards and backwards a page at a time. A format-5 store (no
/// `by_record_time` index) opens as format 6 with every stored event so indexed.
fn a_format_5_store_gets_its_record_time_index<B: Backend>() {
    use tally_node::store::ScanOrder;

    let (genesis, keys) = demo();
    // Record times rise with seq; event times fall.
    let entries = chain_of(&genesis, &keys[1], 0, 10, None, |seq| {
        event("assembling", "in_progress", seq, 9 - seq)
    });
    let hashes = common::hashes(&entries);
    let mut backend = B::new();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    committer.submit_entries(entries.clone()).unwrap();
    stop(committer, writer);
    let found = |page: &tally_node::store::Page| -> Vec<tally_sdk::hash::EntryHash> {
        page.entries.iter().map(|(hash, _)| *hash).collect()
    };
    let record = |from: Option<usize>, to: Option<usize>| Query {
        index: Index::RecordTime,
        from: from.map(|i| entries[i].body.timestamp),
        to: to.map(|i| entries[i].body.timestamp),
    };
    let check = |store: &B::S| {
        let forward = store.query(&record(None, None), None, 100).unwrap();
        assert_eq!(found(&forward), hashes);
        let times: Vec<_> = entries.iter().map(|e| e.body.timestamp).collect();
        assert_eq!(forward.times, times);
        let by_event_time = store
            .query(
                &Query {
                    index: Index::Time,
                    from: None,
                    to: None,
                },
                None,
                100,
            )
            .unwrap();
        let mut reversed = hashes.clone();
        reversed.reverse();
        assert_eq!(found(&by_event_time), reversed);
        // Backwards over [2, 8), four at a time.
        let first = store
            .query_ordered(&record(Some(2), Some(8)), None, 4, ScanOrder::Descending)
            .unwrap();
        assert_eq!(
            found(&first),
            vec![hashes[7], hashes[6], hashes[5], hashes[4]]
        );
        let second = store
            .query_ordered(
                &record(Some(2), Some(8)),
                first.next.as_ref(),
                4,
                ScanOrder::Descending,
            )
            .unwrap();
        assert_eq!(found(&second), vec![hashes[3], hashes[2]]);
        assert!(second.next.is_none());
    };
    check(&store);

    let all = tally_node::store::KeyRange {
        start: Vec::new(),
        end: None,
    };
    let indexed = store.scan(Cf::ByRecordTime, &all, 1_000).unwrap();
    assert_eq!(indexed.len(), 10);
    let mut old = Batch::default();
    for (key, _) in &indexed {
        old.delete(Cf::ByRecordTime, key.clone());
    }
    old.put(Cf::Meta, b"format".to_vec(), 5u32.to_be_bytes().to_vec());
    store.write(old).unwrap();
    backend.close(store);

    let store = backend.open(&genesis).unwrap();
    assert_eq!(
        store.get(Cf::Meta, b"format").unwrap().unwrap(),
        tally_node::store::STORE_FORMAT.to_be_bytes()
    );
    assert_eq!(store.scan(Cf::ByRecordTime, &all, 1_000).unwrap(), indexed);
    check(&store);
}

/// A purge must name an earlier entry of its author's own chain and fields it commits to;
/// once stored, the values are gone and the API-level note is there, and the chain verifies.
fn a_purge_erases_only_what_its_author_may_purge<B: Backend>() {
    let mut backend = B::new();
    let (genesis, keys) = demo();
    let platform = keys[0].clone();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, Some(platform.clone()));
    let mut order = event("commissioning", "active", 0, 0);
    order["tally:kind"] = json!("order");
    let mut private = BTreeMap::new();
    for (name, value) in [
        ("consumer.address", json!("PURGE-CANARY road 1")),
        ("order.spec", json!({"model": "sofa-3"})),
    ] {
        private.insert(
            FieldName::new(name).unwrap(),
            CanonicalJson::from_value(&value).unwrap(),
        );
    }
    let receipts = committer
        .submit_events(vec![EventInput {
            event: order,
            refs: vec![],
            private,
        }])
        .unwrap();
    let target = receipts[0].hash;
    // Another member's entry, and fields the entry does not commit to, are refused.
    let others = chain(&genesis, &keys[1], 0, 1, None);
    committer.submit_entries(others.clone()).unwrap();
    let foreign = others[0].hash().unwrap();
    let address = FieldName::new("consumer.address").unwrap();
    for (entry, fields) in [
        (foreign, vec![address.clone()]),
        (target, vec![FieldName::new("order.price").unwrap()]),
    ] {
        let refused = committer.submit_purge(entry, fields);
        match refused {
            Err(IngestError::Rejected(list)) => {
                assert!(
                    matches!(list[0].problem, Problem::Invalid(VerifyError::Purge(_))),
                    "{list:?}"
                );
            }
            other => panic!("a bad purge was not refused: {other:?}"),
        }
    }
    let purged = committer
        .submit_purge(target, vec![address.clone()])
        .unwrap();
    stop(committer, writer);
    let row = tally_node::private::row(store.as_ref(), &target)
        .unwrap()
        .unwrap();
    assert!(row.held.field(&address).is_none());
    assert_eq!(row.purge_of(&address).unwrap().by, purged[0].hash);
    assert!(
        row.held
            .field(&FieldName::new("order.spec").unwrap())
            .is_some()
    );
    for cf in Cf::ALL {
        for (key, value) in store
            .scan(cf, &tally_node::store::KeyRange::prefix(&[]), usize::MAX)
            .unwrap()
        {
            let text = String::from_utf8_lossy(&value);
            assert!(!text.contains("PURGE-CANARY"), "{} {key:?}", cf.name());
        }
    }
    assert_eq!(store.head(&platform.member).unwrap().unwrap().tip.seq, 1);
}

/// A refused request keeps, as evidence, each refused entry its author validly signed that
/// breaks a rule (here an order, which the manufacturer's role may not write), and nothing
/// else: not the request's valid entries, not an entry with a forged signature. The evidence
/// survives the upgrade of a format-3 store, which gains the `rejected` column family.
fn refused_entries_that_are_their_authors_doing_are_kept<B: Backend>() {
    let (genesis, keys) = demo();
    let manufacturer = &keys[1];
    let mut entries = chain(&genesis, manufacturer, 0, 3, None);
    let prev = entries.last().map(|e| e.hash().unwrap());
    let order = chain_of(&genesis, manufacturer, 3, 1, prev, |seq| {
        let mut e = event("commissioning", "active", seq, seq);
        e["tally:kind"] = json!("order");
        e
    })
    .remove(0);
    let mut forged = chain_of(&genesis, manufacturer, 3, 1, prev, |seq| {
        let mut e = event("commissioning", "active", seq + 1, seq);
        e["tally:kind"] = json!("order");
        e
    })
    .remove(0);
    forged.signature = entries[0].signature;
    let mut backend = B::new();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    entries.push(order.clone());
    let refused = committer.submit_entries(entries.clone()).unwrap_err();
    assert!(refused.to_string().contains("may not write"), "{refused}");
    entries.pop();
    entries.push(forged);
    committer.submit_entries(entries).unwrap_err();
    stop(committer, writer);
    assert!(store.heads().unwrap().is_empty());
    let kept = store.rejected(None, 100).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].entry, order);
    let member = order.body.author.clone();
    assert_eq!(store.rejected(Some(&member), 100).unwrap().len(), 1);
    assert!(
        store
            .rejected(Some(&keys[0].member), 100)
            .unwrap()
            .is_empty()
    );

    // A format-3 store opens as format 4, what it held still there.
    let mut old = Batch::default();
    old.put(Cf::Meta, b"format".to_vec(), 3u32.to_be_bytes().to_vec());
    store.write(old).unwrap();
    backend.close(store);
    let store = backend.open(&genesis).unwrap();
    assert_eq!(
        store.get(Cf::Meta, b"format").unwrap().unwrap(),
        tally_node::store::STORE_FORMAT.to_be_bytes()
    );
    assert_eq!(store.rejected(None, 100).unwrap()[0].entry, order);
}

/// Issue 22: each chain is a Merkle log whose tiles the writer stores with the entries, in
/// whatever requests they come. Its root is the RFC 6962 root of the chain's entry
/// hashes (computed here from the entries alone), proofs read from the tiles verify, a store
/// of format 4 (no logs) gets them at open, and a damaged tile stops the store at open.
fn each_chain_is_a_verifiable_log<B: Backend>() {
    use tally_node::store::tiles::ChainTiles;
    use tally_sdk::tlog::hash::LogHash;
    use tally_sdk::tlog::proof::{verify_consistency, verify_inclusion};
    use tally_sdk::tlog::tile::{MemoryTiles, RightEdge, TileHashReader};

    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 600, None);
    let leaves: Vec<LogHash> = entries
        .iter()
        .map(|e| LogHash::entry_leaf(&e.hash().unwrap()))
        .collect();
    // The reference: the whole tree built at once, in memory.
    let mut reference = RightEdge::new();
    let mut memory = MemoryTiles::new();
    memory.write(reference.append(&leaves).unwrap());
    let root_at = |size: u64| {
        tally_sdk::tlog::proof::tree_root(size, &TileHashReader::new(size, &memory)).unwrap()
    };

    let mut backend = B::new();
    let store = backend.open(&genesis).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    // Requests of uneven sizes: tiles fill across requests, and one fills within a request.
    let mut from = 0;
    for size in [1usize, 255, 1, 100, 243] {
        committer
            .submit_entries(entries[from..from + size].to_vec())
            .unwrap();
        from += size;
    }
    assert_eq!(from, 600);
    stop(committer, writer);
    let code = store.heads().unwrap()[0].code;
    let check = |store: &B::S| {
        let tiles = ChainTiles::new(store, code);
        for size in [1, 256, 257, 600] {
            assert_eq!(tiles.root(size).unwrap(), root_at(size), "root at {size}");
        }
        let root = root_at(600);
        for index in [0u64, 255, 256, 599] {
            let proof = tiles.inclusion(index, 600).unwrap();
            verify_inclusion(&leaves[index as usize], index, 600, &proof, &root).unwrap();
        }
        let proof = tiles.consistency(257, 600).unwrap();
        verify_consistency(257, 600, &proof, &root_at(257), &root).unwrap();
    };
    check(&store);

    // A store of format 4 has no logs: they are computed at open.
    let all = tally_node::store::KeyRange {
        start: Vec::new(),
        end: None,
    };
    let mut old = Batch::default();
    for (key, _) in store.scan(Cf::Tiles, &all, 10_000).unwrap() {
        old.delete(Cf::Tiles, key);
    }
    old.put(Cf::Meta, b"format".to_vec(), 4u32.to_be_bytes().to_vec());
    store.write(old).unwrap();
    backend.close(store);
    let store = backend.open(&genesis).unwrap();
    check(&store);

    // The last entry's hash in its tile changed: the store is refused at open.
    let mut damage = Batch::default();
    let tiles = store.scan(Cf::Tiles, &all, 10_000).unwrap();
    let (key, value) = tiles
        .iter()
        .find(|(key, _)| {
            key[..4] == code.0.to_be_bytes() && key[4] == 0 && key[5..] == 2u64.to_be_bytes()
        })
        .cloned()
        .unwrap();
    let mut flipped = value.clone();
    flipped[(599 - 512) * 32] ^= 1;
    damage.put(Cf::Tiles, key, flipped);
    store.write(damage).unwrap();
    backend.close(store);
    let error = backend.open(&genesis).unwrap_err().to_string();
    assert!(error.contains("log of manufacturer"), "{error}");
}

macro_rules! suite {
    ($name:ident, $backend:ty) => {
        mod $name {
            use super::*;
            #[test]
            fn entries_survive_a_reopen_and_are_found_by_every_index() {
                super::entries_survive_a_reopen_and_are_found_by_every_index::<$backend>();
            }
            #[test]
            fn a_request_with_invalid_entries_stores_nothing_and_names_them() {
                super::a_request_with_invalid_entries_stores_nothing_and_names_them::<$backend>();
            }
            #[test]
            fn resent_entries_are_acknowledged_again_and_conflicts_refused() {
                super::resent_entries_are_acknowledged_again_and_conflicts_refused::<$backend>();
            }
            #[test]
            fn the_node_signs_its_members_events_and_keeps_private_values_apart() {
                super::the_node_signs_its_members_events_and_keeps_private_values_apart::<$backend>(
                );
            }
            #[test]
            fn concurrent_requests_are_group_committed() {
                super::concurrent_requests_are_group_committed::<$backend>();
            }
            #[test]
            fn a_corrupted_value_is_detected_and_never_served() {
                super::a_corrupted_value_is_detected_and_never_served::<$backend>();
            }
            #[test]
            fn damaged_heads_and_chains_are_refused_at_open() {
                super::damaged_heads_and_chains_are_refused_at_open::<$backend>();
            }
            #[test]
            fn a_format_1_store_is_upgraded_in_place() {
                super::a_format_1_store_is_upgraded_in_place::<$backend>();
            }
            #[test]
            fn a_format_2_store_gets_its_event_id_index() {
                super::a_format_2_store_gets_its_event_id_index::<$backend>();
            }
            #[test]
            fn a_format_5_store_gets_its_record_time_index() {
                super::a_format_5_store_gets_its_record_time_index::<$backend>();
            }
            #[test]
            fn refused_entries_that_are_their_authors_doing_are_kept() {
                super::refused_entries_that_are_their_authors_doing_are_kept::<$backend>();
            }
            #[test]
            fn each_chain_is_a_verifiable_log() {
                super::each_chain_is_a_verifiable_log::<$backend>();
            }
            #[test]
            fn a_purge_erases_only_what_its_author_may_purge() {
                super::a_purge_erases_only_what_its_author_may_purge::<$backend>();
            }
        }
    };
}

suite!(rocks, Rocks);
suite!(memory, Memory);

// ---- Only the in-memory store can be made to fail writes on demand. ----

#[test]
fn a_failed_write_is_reported_and_nothing_is_acknowledged() {
    let (genesis, keys) = demo();
    let store = Arc::new(MemoryStore::new());
    check_store(store.as_ref(), genesis.network_id(), 64).unwrap();
    let (committer, writer) = start(&store, &genesis, None);
    let entries = chain(&genesis, &keys[1], 0, 6, None);
    committer.submit_entries(entries[..2].to_vec()).unwrap();
    store.fail_writes(true);
    assert!(matches!(
        committer.submit_entries(entries[2..4].to_vec()),
        Err(IngestError::WriteFailed(_))
    ));
    store.fail_writes(false);
    // The writer forgot the failed entries: they (and the next ones) go in now.
    let receipts = committer.submit_entries(entries[2..].to_vec()).unwrap();
    assert!(receipts.iter().all(|r| !r.duplicate));
    stop(committer, writer);
    assert_eq!(store.heads().unwrap()[0].tip.seq, 5);
}

/// Rows a caller stores with its events (EPCIS capture's job) go in the entries' own write:
/// stored with them, never without them, and costing no write of their own.
#[test]
fn rows_stored_with_events_share_their_write() {
    let (genesis, keys) = demo();
    let store = Arc::new(MemoryStore::new());
    check_store(store.as_ref(), genesis.network_id(), 64).unwrap();
    let (committer, writer) = start(&store, &genesis, Some(keys[1].clone()));
    let send = |serial: u64, key: &'static [u8]| {
        let input = EventInput {
            event: event("assembling", "in_progress", serial, serial),
            refs: vec![],
            private: BTreeMap::new(),
        };
        let prepared = committer
            .pipeline()
            .prepare(&keys[1].member, vec![input])
            .unwrap()
            .with_rows(move |receipts| {
                let mut rows = Batch::default();
                rows.put(
                    Cf::Captures,
                    key.to_vec(),
                    receipts[0].hash.as_bytes().to_vec(),
                );
                rows
            });
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        committer
            .send_events(prepared, move |answer| tx.send(answer).unwrap())
            .unwrap();
        rx.recv().unwrap()
    };
    store.fail_writes(true);
    assert!(matches!(
        send(1, b"failed"),
        Err(IngestError::WriteFailed(_))
    ));
    store.fail_writes(false);
    assert_eq!(store.get(Cf::Captures, b"failed").unwrap(), None);
    let before = store.writes();
    let receipts = send(1, b"stored").unwrap();
    assert_eq!(
        store.writes(),
        before + 1,
        "one write for the entry and the row"
    );
    assert_eq!(
        store.get(Cf::Captures, b"stored").unwrap(),
        Some(receipts[0].hash.as_bytes().to_vec())
    );
    stop(committer, writer);
}

// ---- RocksDB only: crashes and raw damage. ----

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        if file.file_type().unwrap().is_file() {
            std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
}

fn assert_prefix(
    store: &RocksStore,
    member: &MemberId,
    entries: &[tally_sdk::entry::SignedEntry],
) -> u64 {
    let Some(head) = store.head(member).unwrap() else {
        return 0;
    };
    for (seq, entry) in entries.iter().enumerate().take(head.tip.seq as usize + 1) {
        let position = Position {
            member: head.code,
            seq: seq as u64,
        };
        assert_eq!(
            store.entry_at(position).unwrap().map(|(_, e)| e).as_ref(),
            Some(entry)
        );
    }
    head.tip.seq + 1
}

#[test]
fn a_copy_taken_while_writing_opens_with_every_acknowledged_entry() {
    // The files copied while the writer appends are what a machine that lost power would find
    // on disk: every entry acknowledged before the copy began must be there, the chain whole.
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let (committer, writer) = start(&store, &genesis, None);
    let entries = chain(&genesis, &keys[1], 0, 600, None);
    let (go, copy_now) = std::sync::mpsc::channel::<()>();
    let (source, target) = (dir.path().to_owned(), copy.path().to_owned());
    let copier = std::thread::spawn(move || {
        copy_now.recv().unwrap();
        copy_dir(&source, &target);
    });
    let mut acknowledged_before_copy = 0;
    for (i, part) in entries.chunks(30).enumerate() {
        committer.submit_entries(part.to_vec()).unwrap();
        if i == 4 {
            acknowledged_before_copy = 150;
            go.send(()).unwrap();
        }
    }
    copier.join().unwrap();
    stop(committer, writer);
    let (recovered, _) = RocksStore::open(copy.path(), genesis.network_id()).unwrap();
    let found = assert_prefix(&recovered, &keys[1].member, &entries);
    assert!(
        found >= acknowledged_before_copy,
        "{found} entries: acknowledged entries were lost"
    );
}

#[test]
fn a_write_ahead_log_cut_anywhere_recovers_a_prefix_of_the_batches() {
    // A crash in the middle of a write leaves a torn last record in the log: recovery must
    // drop it and keep every batch before it, whole.
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 40, None);
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let (committer, writer) = start(&store, &genesis, None);
    for part in entries.chunks(4) {
        committer.submit_entries(part.to_vec()).unwrap();
    }
    stop(committer, writer);
    // Copy while the store is open: the batches are in the log, not yet in table files.
    let snapshot = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), snapshot.path());
    let log = std::fs::read_dir(snapshot.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let length = std::fs::metadata(&log).unwrap().len();
    assert!(
        length > 10_000,
        "the log holds the batches ({length} bytes)"
    );
    let mut seen = Vec::new();
    for cut in (0..=20)
        .map(|i| length * i / 20)
        .chain([length - 1, length - 7])
    {
        let trial = tempfile::tempdir().unwrap();
        copy_dir(snapshot.path(), trial.path());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(trial.path().join(log.file_name().unwrap()))
            .unwrap();
        file.set_len(cut).unwrap();
        drop(file);
        let (recovered, _) = RocksStore::open(trial.path(), genesis.network_id())
            .unwrap_or_else(|e| panic!("cut at {cut} of {length}: {e}"));
        let found = assert_prefix(&recovered, &keys[1].member, &entries);
        assert_eq!(found % 4, 0, "cut at {cut}: a batch was recovered in part");
        seen.push(found);
    }
    assert_eq!(
        seen.last(),
        Some(&36),
        "cut inside the last record: all but the last batch"
    );
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 8,
        "the cuts fell in many records: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1] || w[1] == 36),
        "{seen:?}"
    );
    drop(store);
}

fn raw_db(path: &Path) -> rocksdb::DB {
    let names: Vec<&str> = Cf::ALL.iter().map(|cf| cf.name()).collect();
    rocksdb::DB::open_cf(&rocksdb::Options::default(), path, names).unwrap()
}

#[test]
fn a_value_overwritten_in_raw_rocksdb_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 5, None);
    {
        let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
        let store = Arc::new(store);
        let (committer, writer) = start(&store, &genesis, None);
        committer.submit_entries(entries.clone()).unwrap();
        stop(committer, writer);
    }
    {
        let db = raw_db(dir.path());
        let cf = db.cf_handle("entries").unwrap();
        db.put_cf(cf, entries[4].hash().unwrap().as_bytes(), b"not an entry")
            .unwrap();
    }
    let error = RocksStore::open(dir.path(), genesis.network_id()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupted(_)), "{error}");
    assert!(error.to_string().contains("cannot be decoded"), "{error}");
    // An entry deeper than the open check reads is caught when it is read.
    let deep = tempfile::tempdir().unwrap();
    {
        let (store, _) = RocksStore::open(deep.path(), genesis.network_id()).unwrap();
        let store = Arc::new(store);
        let (committer, writer) = start(&store, &genesis, None);
        committer.submit_entries(entries.clone()).unwrap();
        stop(committer, writer);
    }
    {
        let db = raw_db(deep.path());
        let cf = db.cf_handle("entries").unwrap();
        db.put_cf(
            cf,
            entries[0].hash().unwrap().as_bytes(),
            entries[1].to_bytes().unwrap(),
        )
        .unwrap();
    }
    let (store, _) = RocksStore::open_with_depth(deep.path(), genesis.network_id(), 2).unwrap();
    let error = store.entry(&entries[0].hash().unwrap()).unwrap_err();
    assert!(
        error.to_string().contains("does not match its hash"),
        "{error}"
    );
    assert!(store.entry(&entries[1].hash().unwrap()).unwrap().is_some());
}

#[test]
fn the_store_directory_is_where_it_was_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, _) = demo();
    let (store, report) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    assert!(report.created && report.heads.is_empty());
    assert_eq!(store.path(), PathBuf::from(dir.path()).as_path());
    // While it is open, a second open is refused with what to do.
    let error = RocksStore::open(dir.path(), genesis.network_id()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is a node running on this data directory"),
        "{error}"
    );
    drop(store);
    let (_, report) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    assert!(!report.created);
}

#[test]
fn an_older_store_is_refused_by_the_store_and_upgraded_by_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, keys) = demo();
    let entries = chain(&genesis, &keys[1], 0, 3, None);
    {
        let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
        let store = Arc::new(store);
        let (committer, writer) = start(&store, &genesis, None);
        committer.submit_entries(entries.clone()).unwrap();
        drop(committer);
        writer.join();
        // As a node of storage format 4 left it: the marker says 4 (its logs are rebuilt
        // from the chains by the upgrade either way).
        let mut batch = Batch::default();
        batch.put(Cf::Meta, b"format".to_vec(), 4u32.to_be_bytes().to_vec());
        store.write(batch).unwrap();
    }
    let error = RocksStore::open(dir.path(), genesis.network_id()).unwrap_err();
    assert!(matches!(error, StoreError::Older { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("start the node on it once to upgrade it"),
        "{error}"
    );
    let (store, report) = upgrade::open(dir.path(), genesis.network_id()).unwrap();
    assert_eq!(report.heads.len(), 1);
    assert!(store.entry(&entries[2].hash().unwrap()).unwrap().is_some());
    drop(store);
    RocksStore::open(dir.path(), genesis.network_id()).unwrap();
}

#[test]
fn the_writer_tells_replication_what_it_stored_and_what_to_gossip() {
    let (genesis, keys) = demo();
    let store = Arc::new(MemoryStore::new());
    let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
    let pipeline = Pipeline::new(genesis.clone(), 10_000);
    let (feed, mut notices) = tokio::sync::mpsc::channel(1);
    let (committer, writer) = Committer::start(
        store.clone(),
        ledger,
        pipeline,
        Some(keys[1].clone()),
        CommitOptions::default(),
        Some(feed),
    )
    .unwrap();
    // The supplier's entries come from a peer: stored, not to be gossiped again.
    let supplier = chain(&genesis, &keys[2], 0, 3, None);
    committer.submit_replicated(supplier.clone()).unwrap();
    // The node's own events and entries posted to its API are new to the network.
    committer
        .submit_events(vec![EventInput {
            event: event("assembling", "in_progress", 1, 1),
            refs: vec![],
            private: BTreeMap::new(),
        }])
        .unwrap();
    let logistics = chain_of(&genesis, &keys[3], 0, 2, None, |seq| {
        common::arrival(&keys[3].member, seq)
    });
    committer.submit_entries(logistics.clone()).unwrap();
    // The feed holds one notice: the rest waited, merged, and is sent once there is room.
    let mut told = tally_node::commit::Committed::default();
    while told.heads.len() < 3 {
        let notice = notices.blocking_recv().unwrap();
        for (author, head) in notice.heads {
            told.heads.insert(author, head);
        }
        told.fresh.extend(notice.fresh);
    }
    let head = |entries: &[tally_sdk::entry::SignedEntry]| {
        let last = entries.last().unwrap();
        (last.body.seq, last.hash().unwrap())
    };
    assert_eq!(told.heads[&keys[2].member], head(&supplier));
    assert_eq!(told.heads[&keys[3].member], head(&logistics));
    assert_eq!(told.heads[&keys[1].member].0, 0);
    // The node's own new entries come with the notice, as stored, in order: replication
    // gossips them without reading them back.
    let fresh: Vec<(String, u64)> = told
        .fresh
        .iter()
        .map(|e| (e.body.author.to_string(), e.body.seq))
        .collect();
    assert_eq!(
        fresh,
        vec![
            (keys[1].member.to_string(), 0),
            (keys[3].member.to_string(), 0),
            (keys[3].member.to_string(), 1),
        ]
    );
    assert!(told.fresh.iter().skip(1).eq(logistics.iter()));
    assert_eq!(
        store
            .entry(&told.fresh[0].hash().unwrap())
            .unwrap()
            .as_ref(),
        Some(&told.fresh[0])
    );
    // A re-sent entry is no news.
    committer.submit_entries(logistics).unwrap();
    drop(committer);
    writer.join();
    assert_eq!(notices.blocking_recv(), None);
}

/// An auditor opens a running node's store read-only (`tally audit verify --data-dir`): it
/// sees every entry acknowledged, writes nothing, and refuses another network's store, a
/// directory with no store, and a store of an older format (which only its node upgrades).
#[test]
fn a_running_nodes_store_opens_read_only_for_an_audit() {
    let (genesis, keys) = demo();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = RocksStore::open(dir.path(), genesis.network_id()).unwrap();
    let store = Arc::new(store);
    let (committer, writer) = start(&store, &genesis, None);
    committer
        .submit_entries(chain(&genesis, &keys[1], 0, 5, None))
        .unwrap();
    let read = RocksStore::open_read_only(dir.path(), genesis.network_id()).unwrap();
    assert_eq!(read.heads().unwrap()[0].tip.seq, 4);
    assert_eq!(read.chain_range(&keys[1].member, 0, 10).unwrap().len(), 5);
    let mut batch = Batch::default();
    batch.put(Cf::Meta, b"x".to_vec(), b"y".to_vec());
    assert!(read.write(batch).is_err());
    drop(read);
    stop(committer, writer);

    let (mut other, _) = demo_consortium().unwrap();
    other.document.consortium.push('!');
    let error = RocksStore::open_read_only(dir.path(), other.document.network_id().unwrap())
        .unwrap_err()
        .to_string();
    assert!(error.contains("belongs to network"), "{error}");
    let empty = tempfile::tempdir().unwrap();
    let error = RocksStore::open_read_only(empty.path(), genesis.network_id())
        .unwrap_err()
        .to_string();
    assert!(error.contains("holds no store"), "{error}");

    let mut old = Batch::default();
    old.put(Cf::Meta, b"format".to_vec(), 3u32.to_be_bytes().to_vec());
    store.write(old).unwrap();
    drop(store);
    let error = RocksStore::open_read_only(dir.path(), genesis.network_id())
        .unwrap_err()
        .to_string();
    assert!(error.contains("storage format 3"), "{error}");
}
