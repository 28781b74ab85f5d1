//! Criterion benchmarks of the SDK's hot paths: signing, strict and batch verification of
//! entries, Merkle proofs, selective disclosure, and checking a capture document (Event Hash
//! IDs, canonical JSON, the event model). Run: `cargo bench -p tally-sdk`.
//! Figures and the machine they ran on are recorded in `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::epcis::document::{CaptureLimits, parse_capture, standalone_event_hash_id};
use tally_sdk::event::{EpcisEvent, classify};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::LeafHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::merkle::MerkleTree;
use tally_sdk::privacy::disclosure::{CommitLimits, commit, disclose};
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;

fn setup() -> (Consortium, Vec<MemberKeys>) {
    let (signed, keys) = demo_consortium().unwrap();
    (signed.verify().unwrap(), keys)
}

fn event(i: u64) -> serde_json::Value {
    json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "assembling",
        "disposition": "in_progress",
        "eventTime": "2026-03-01T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [format!("https://id.gs1.org/01/09506000134352/21/P{i}")],
        "readPoint": {"id": "urn:epc:id:sgln:9506000.13435.1"},
    })
}

/// A chain of `n` manufacturer entries.
fn chain(genesis: &Consortium, keys: &MemberKeys, n: u64) -> Vec<SignedEntry> {
    let mut prev = None;
    (0..n)
        .map(|seq| {
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                MemberId::new("manufacturer").unwrap(),
                seq,
                prev,
                Timestamp(1_772_326_800_000 + seq),
                vec![],
                &event(seq),
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

fn entries(c: &mut Criterion) {
    let (genesis, keys) = setup();
    let manufacturer = &keys[1];
    let now = Timestamp(1_772_326_900_000);
    let verifier = Verifier::new(&genesis, now);
    let one = chain(&genesis, manufacturer, 1).remove(0);

    let mut group = c.benchmark_group("entry");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter(|| {
            one.body
                .clone()
                .sign(black_box(&manufacturer.signing))
                .unwrap()
        })
    });
    group.bench_function("verify", |b| {
        b.iter_batched(
            || one.clone(),
            |e| verifier.verify(e, None).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // What a node does with an entry's bytes from a peer before any check: decode them,
    // refusing any encoding but the canonical one (the event's JSON included).
    let bytes = one.to_bytes().unwrap();
    group.bench_function("decode", |b| {
        b.iter(|| SignedEntry::from_bytes(black_box(&bytes), 1 << 20).unwrap())
    });
    group.finish();

    for n in [64u64, 1024] {
        let batch = chain(&genesis, manufacturer, n);
        let mut group = c.benchmark_group("entry/verify_batch");
        group.throughput(Throughput::Elements(n));
        group.sample_size(20);
        group.bench_function(n.to_string(), |b| {
            b.iter_batched(
                || batch.clone(),
                |entries| {
                    let results = verifier.verify_batch(entries, |_| None);
                    assert!(results.iter().all(Result::is_ok));
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<LeafHash> = (0..1024u32)
        .map(|i| LeafHash::digest(&i.to_le_bytes()))
        .collect();
    let tree = MerkleTree::new(leaves.clone());
    let root = tree.root();
    let proof = tree.prove(&[517]).unwrap();
    let mut group = c.benchmark_group("merkle/1024_leaves");
    group.bench_function("build", |b| {
        b.iter(|| MerkleTree::new(black_box(leaves.clone())).root())
    });
    group.bench_function("prove_one", |b| {
        b.iter(|| tree.prove(black_box(&[517])).unwrap())
    });
    group.bench_function("verify_one", |b| {
        b.iter(|| {
            proof
                .verify(&root, black_box(&[(517, leaves[517])]))
                .unwrap()
        })
    });
    group.finish();
}

fn disclosure(c: &mut Criterion) {
    let mut fields = BTreeMap::new();
    for (name, value) in [
        ("consumer.name", json!("Li Wei")),
        ("consumer.phone", json!("+86 138 0000 0000")),
        ("consumer.address", json!("88 Example Road, Hangzhou")),
        (
            "order.spec",
            json!({"model": "sofa-3", "fabric": "linen", "colour": "sage"}),
        ),
        (
            "order.price",
            json!({"amount": "4999.00", "currency": "CNY"}),
        ),
    ] {
        fields.insert(
            FieldName::new(name).unwrap(),
            CanonicalJson::from_value(&value).unwrap(),
        );
    }
    let limits = CommitLimits::default();
    let (commitment, opened) = commit(fields.clone(), &limits).unwrap();
    let address = [FieldName::new("consumer.address").unwrap()];
    let one = disclose(&commitment, &opened, &address).unwrap();
    let mut group = c.benchmark_group("disclosure/5_fields");
    group.bench_function("commit", |b| {
        b.iter(|| commit(black_box(fields.clone()), &limits).unwrap())
    });
    group.bench_function("disclose_one", |b| {
        b.iter(|| disclose(&commitment, &opened, black_box(&address)).unwrap())
    });
    group.bench_function("verify_one", |b| {
        b.iter(|| one.verify(black_box(&commitment)).unwrap())
    });
    group.finish();
}

/// The capture document the node's `epcis` benchmark sends: 100 ObjectEvents with EPC URNs.
fn capture_document() -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..100u64)
        .map(|n| {
            json!({
                "type": "ObjectEvent", "action": "OBSERVE",
                "bizStep": if n.is_multiple_of(2) { "assembling" } else { "packing" },
                "disposition": "in_progress",
                "eventTime": Timestamp(1_772_323_200_000 + n * 60_000).to_rfc3339(),
                "eventTimeZoneOffset": "+08:00",
                "epcList": ["urn:epc:id:sgtin:9506000.013435.P1"],
                "readPoint": {"id": "urn:epc:id:sgln:9506000.00001.0"},
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2026-03-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }))
    .unwrap()
}

fn capture(c: &mut Criterion) {
    let document = capture_document();
    let limits = CaptureLimits {
        max_bytes: 1 << 20,
        max_events: 1_000,
    };
    let checked = parse_capture(&document, &limits).unwrap();
    let one = checked.events[0].event.clone();
    let mut group = c.benchmark_group("capture");
    group.throughput(Throughput::Elements(100));
    group.bench_function("parse_document_of_100", |b| {
        b.iter(|| parse_capture(black_box(&document), &limits).unwrap())
    });
    group.finish();
    let mut group = c.benchmark_group("capture/one_event");
    group.bench_function("event_hash_id", |b| {
        b.iter(|| standalone_event_hash_id(black_box(&one)).unwrap())
    });
    group.bench_function("canonical_json", |b| {
        b.iter(|| CanonicalJson::from_value(black_box(&one)).unwrap())
    });
    group.bench_function("parse_and_classify", |b| {
        b.iter(|| {
            let parsed = EpcisEvent::from_value(black_box(&one)).unwrap();
            classify(&one, &parsed).unwrap()
        })
    });
    group.finish();
    // What the rules spend on a stored event beyond its signature: the event as every
    // verifier reads it, from its canonical JSON (the ingest benchmark's kind of event).
    let canonical = CanonicalJson::from_value(&event(7)).unwrap();
    let mut group = c.benchmark_group("entry/event_rules");
    group.bench_function("parse_and_classify_canonical", |b| {
        b.iter(|| {
            let (parsed, value) = EpcisEvent::from_canonical(black_box(&canonical)).unwrap();
            classify(&value, &parsed).unwrap()
        })
    });
    group.bench_function("canonical_to_json_tree", |b| {
        b.iter(|| black_box(&canonical).to_value().unwrap())
    });
    group.bench_function("digital_link_of_its_product", |b| {
        b.iter(|| {
            ProductId::parse(black_box("https://id.gs1.org/01/09506000134352/21/P7")).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, entries, merkle, disclosure, capture);
criterion_main!(benches);
