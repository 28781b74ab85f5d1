//! Tampering: any single changed byte of a signed entry, in its canonical encoding, makes it
//! either undecodable or unverifiable — never a different valid entry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::genesis::Genesis;
use tally_sdk::ids::MemberId;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;

fn setup() -> (Genesis, Vec<MemberKeys>) {
    let (signed, keys) = demo_consortium().unwrap();
    (signed.verify().unwrap(), keys)
}

fn sample(genesis: &Genesis, keys: &MemberKeys, serial: u32) -> SignedEntry {
    let event = json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": "conformant",
        "eventTime": "2026-01-15T09:30:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [format!("https://id.gs1.org/01/09506000134352/21/S{serial}")],
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    });
    UnsignedEntry::event(
        genesis.network_id(),
        MemberId::new("manufacturer").unwrap(),
        0,
        None,
        Timestamp(1_768_440_600_000),
        vec![],
        &event,
        None,
    )
    .unwrap()
    .sign(&keys.signing)
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_flipped_byte_is_caught(serial in 0u32..1000, position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (genesis, keys) = setup();
        let entry = sample(&genesis, &keys[1], serial);
        let verifier = Verifier::new(&genesis, Timestamp(1_768_440_600_000));
        prop_assert!(verifier.verify(entry.clone(), None).is_ok());
        let mut bytes = entry.to_bytes().unwrap();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = SignedEntry::from_bytes(&bytes, 1 << 20) {
            prop_assert!(verifier.verify(decoded, None).is_err(), "byte {} bit {} went unnoticed", i, bit);
        }
    }

    #[test]
    fn encoding_round_trips(serial in 0u32..1000) {
        let (genesis, keys) = setup();
        let entry = sample(&genesis, &keys[1], serial);
        let bytes = entry.to_bytes().unwrap();
        prop_assert_eq!(SignedEntry::from_bytes(&bytes, 1 << 20).unwrap(), entry.clone());
        let json = serde_json::to_string(&entry).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignedEntry>(&json).unwrap(), entry);
    }
}
