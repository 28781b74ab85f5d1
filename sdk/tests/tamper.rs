//! Tampering: any single changed byte of a signed entry, a disclosure (entry, values, salts and
//! Merkle proof), a checkpoint's proof that it witnesses an entry, or an approved governance
//! change, in its canonical encoding, makes it either undecodable or unverifiable — never a
//! different valid object.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use tally_sdk::codec::{self, CanonicalJson};
use tally_sdk::crypto::{SigningKey, X25519PublicKey};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId, RoleName};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::Member;
use tally_sdk::membership::governance::{Action, ChangeBody, SignedChange};
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::privacy::disclosure::{CommitLimits, commit};
use tally_sdk::reports::disclosed::EntryDisclosure;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint, EntryWitness};

fn setup() -> (Consortium, Vec<MemberKeys>) {
    let (signed, keys) = demo_consortium().unwrap();
    (signed.verify().unwrap(), keys)
}

fn sample(genesis: &Consortium, keys: &MemberKeys, serial: u32) -> SignedEntry {
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

    #[test]
    fn any_flipped_byte_of_a_disclosure_is_caught(position in any::<prop::sample::Index>(), bit in 0u8..8, pick in 0usize..3) {
        let (genesis, keys) = setup();
        let mut fields = BTreeMap::new();
        for (name, value) in [("consumer.address", json!("88 Example Road")), ("consumer.name", json!("Li Wei")), ("order.spec", json!({"fabric": "linen"}))] {
            fields.insert(FieldName::new(name).unwrap(), CanonicalJson::from_value(&value).unwrap());
        }
        let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
        let event = json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-01-15T09:30:00.000Z", "eventTimeZoneOffset": "+00:00",
            "epcList": ["https://id.gs1.org/01/09506000134352/21/ORDER-1"], "tally:kind": "order",
        });
        let entry = UnsignedEntry::event(
            genesis.network_id(), MemberId::new("platform").unwrap(), 0, None,
            Timestamp(1_768_440_600_000), vec![], &event, Some(commitment.clone()),
        ).unwrap().sign(&keys[0].signing).unwrap();
        let name = commitment.fields[pick].clone();
        let disclosure = EntryDisclosure::new(entry, &opened, &[name]).unwrap();
        let verifier = Verifier::new(&genesis, Timestamp(1_768_440_600_000));
        prop_assert!(disclosure.verify(&verifier).is_ok());
        let mut bytes = codec::encode("disclosure", &disclosure).unwrap();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = codec::decode::<EntryDisclosure>("disclosure", &bytes, 1 << 20) {
            prop_assert!(decoded.verify(&verifier).is_err(), "byte {} bit {} went unnoticed", i, bit);
        }
    }

    #[test]
    fn any_flipped_byte_of_a_witness_proof_is_caught(position in any::<prop::sample::Index>(), bit in 0u8..8, which in 0usize..5) {
        let (genesis, keys) = setup();
        let chain = |i: usize| -> Vec<EntryHash> {
            (0..=i as u64 * 7).map(|seq| EntryHash::digest(format!("{i}/{seq}").as_bytes())).collect()
        };
        let spans: Vec<ChainSpan> = keys.iter().enumerate()
            .map(|(i, k)| ChainSpan::new(k.member.clone(), 0, &chain(i)).unwrap())
            .collect();
        let checkpoint = Checkpoint::sign(genesis.network_id(), keys[0].member.clone(), 3, Timestamp(5), spans, &keys[0].signing).unwrap();
        let author = keys[which].member.clone();
        let held = chain(which);
        let seq = which as u64 * 5;
        let hash = held[seq as usize];
        let proof = checkpoint.witness(&author, seq, &held).unwrap();
        let check = |proof: &EntryWitness| proof.verify(&genesis, &author, seq, &hash).is_ok();
        prop_assert!(check(&proof));
        let mut bytes = codec::encode("witness proof", &proof).unwrap();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = codec::decode::<EntryWitness>("witness proof", &bytes, 1 << 20) {
            prop_assert!(!check(&decoded), "byte {} bit {} went unnoticed", i, bit);
        }
    }

    #[test]
    fn any_flipped_byte_of_an_approved_change_is_caught(seed in 1u8..200, position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (genesis, keys) = setup();
        let newcomer = SigningKey::from_seed(&[seed; 32]);
        let member = Member {
            id: MemberId::new(format!("courier{seed}")).unwrap(),
            name: "Courier".into(),
            roles: vec![RoleName::new("logistics").unwrap()],
            founder: false,
            signing_key: newcomer.public_key(),
            x25519_key: X25519PublicKey::from_bytes([seed; 32]),
            peer_id: SigningKey::from_seed(&[seed.wrapping_add(1); 32]).public_key().to_peer_id(),
            addresses: vec!["/ip4/127.0.0.1/tcp/7400".into()],
        };
        let body = ChangeBody::next(&genesis, Timestamp(1_768_440_600_000), "admit".into(), Action::AddMember(member));
        let mut change = SignedChange::draft(body);
        for founder in &keys[..3] {
            change.approve(&genesis, &founder.member, &founder.signing).unwrap();
        }
        prop_assert!(genesis.apply(&change).is_ok());
        let mut bytes = codec::encode("change", &change).unwrap();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = codec::decode::<SignedChange>("change", &bytes, 1 << 20) {
            prop_assert!(genesis.apply(&decoded).is_err(), "byte {} bit {} went unnoticed", i, bit);
        }
    }
}
