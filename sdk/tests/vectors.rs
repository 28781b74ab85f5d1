//! Pinned format vectors (`docs/test-vectors.json`): fixed keys and inputs → the exact bytes,
//! hashes and signatures. A failure here means the canonical encoding, a domain prefix or the
//! signing scheme changed: that is a format change, to be made deliberately (bump the format
//! number, regenerate with `TALLY_WRITE_VECTORS=1 cargo test -p tally-sdk --test vectors`,
//! and say so in `docs/formats.md`), never a way to make a test pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::crypto::SigningKey;
use tally_sdk::entry::UnsignedEntry;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::privacy::disclosure::Salt;
use tally_sdk::privacy::disclosure::commit_with_salts;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/test-vectors.json");

fn compute() -> Value {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let platform = &keys[0];
    let event = json!({
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "commissioning",
        "eventTime": "2026-01-15T09:30:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["https://id.gs1.org/01/09506000134352/21/ORDER-0001"],
        "tally:kind": "order",
    });
    let mut fields = BTreeMap::new();
    fields.insert(
        FieldName::new("consumer.address").unwrap(),
        CanonicalJson::from_value(&json!("1 Example Road")).unwrap(),
    );
    fields.insert(
        FieldName::new("order.spec").unwrap(),
        CanonicalJson::from_value(&json!({"colour": "red", "size": 42})).unwrap(),
    );
    let salts = vec![Salt::from_bytes([0x11; 16]), Salt::from_bytes([0x22; 16])];
    let (commitment, _) = commit_with_salts(fields, salts).unwrap();
    let body = UnsignedEntry::event(
        genesis.network_id(),
        MemberId::new("platform").unwrap(),
        0,
        None,
        Timestamp(1_768_440_600_000),
        vec![],
        &event,
        Some(commitment),
    )
    .unwrap();
    let body_bytes = body.to_bytes().unwrap();
    let entry = body.sign(&platform.signing).unwrap();
    Verifier::new(&genesis, Timestamp(1_768_440_600_000))
        .verify(entry.clone(), None)
        .unwrap();
    let fixed = SigningKey::from_seed(&[0x42; 32]);
    json!({
        "about": "Pinned Tally format vectors; see sdk/tests/vectors.rs and docs/formats.md.",
        "network_id_of_demo_genesis": genesis.network_id(),
        "key_from_seed_42": {
            "seed": hex::encode([0x42u8; 32]),
            "public_key": fixed.public_key(),
            "peer_id": fixed.public_key().to_peer_id(),
        },
        "entry": {
            "author": "platform (demo key)",
            "event": event,
            "private_root": entry.body.private.as_ref().map(|p| p.root),
            "body_postcard_hex": hex::encode(&body_bytes),
            "entry_hash": entry.hash().unwrap(),
            "signature": entry.signature,
            "signed_entry_postcard_hex": hex::encode(entry.to_bytes().unwrap()),
        },
    })
}

#[test]
fn pinned_vectors_hold() {
    let computed = compute();
    if std::env::var_os("TALLY_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap() + "\n";
        std::fs::write(VECTORS, text).unwrap();
        return;
    }
    let pinned: Value = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    assert_eq!(
        computed, pinned,
        "a pinned format vector changed: see the comment at the top of this file"
    );
}
