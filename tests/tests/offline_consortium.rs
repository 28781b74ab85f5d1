//! A whole C2M story played by the five demo members with the SDK alone, as an outside auditor
//! would check it: every entry verifies in one batch across all chains; the consumer's address
//! can be disclosed alone and a changed address is caught; an equivocating member is convicted
//! by a fork proof; every entry is witnessed once checkpoints of a quorum of the other members
//! cover it, shown by evidence checked with the SDK alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::{Payload, SignedEntry};
use tally_sdk::event::EventKind;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::reports::disclosed::EntryDisclosure;
use tally_sdk::verify::{Verifier, VerifyError};
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};
use tally_sdk::witnessing::fork::ForkProof;
use tally_sdk::witnessing::witness::{WITNESS_EVIDENCE_FORMAT, WitnessError, WitnessEvidence};
use tally_tests::DemoMembers;

const PRODUCT: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";

fn event(kind: &str, biz_step: &str, extra: Value) -> Value {
    let mut v = json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": biz_step,
        "eventTime": "2026-03-01T09:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [PRODUCT],
    });
    if !kind.is_empty() {
        v["tally:kind"] = json!(kind);
    }
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

struct Story {
    consortium: DemoMembers,
    entries: Vec<SignedEntry>,
    order_opened: Vec<tally_sdk::privacy::disclosure::OpenedField>,
}

fn play() -> Story {
    let mut c = DemoMembers::demo().unwrap();
    let mut entries = Vec::new();
    let (order, order_opened) = c
        .write(
            "platform",
            event("order", "commissioning", json!({"action": "ADD"})),
            &[
                ("consumer.name", json!("Li Wei")),
                ("consumer.address", json!("88 Example Road, Hangzhou")),
                ("order.spec", json!({"model": "sofa-3", "fabric": "linen"})),
            ],
        )
        .unwrap();
    entries.push(order);
    let (lot, _) = c
        .write(
            "supplier",
            json!({
                "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "eventTime": "2026-03-02T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
                "quantityList": [{"epcClass": "urn:epc:class:lgtin:9506000.013435.LINEN-7", "quantity": 12, "uom": "MTR"}],
            }),
            &[],
        )
        .unwrap();
    entries.push(lot);
    let (made, _) = c
        .write(
            "manufacturer",
            json!({
                "type": "TransformationEvent", "bizStep": "commissioning",
                "eventTime": "2026-03-03T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
                "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:9506000.013435.LINEN-7", "quantity": 4, "uom": "MTR"}],
                "outputEPCList": [PRODUCT],
            }),
            &[],
        )
        .unwrap();
    entries.push(made);
    let (inspected, _) = c
        .write(
            "manufacturer",
            event("", "inspecting", json!({"disposition": "conformant"})),
            &[],
        )
        .unwrap();
    entries.push(inspected);
    let (hand_over, _) = c
        .write(
            "manufacturer",
            event("", "shipping", json!({"tally:handOverTo": "logistics"})),
            &[],
        )
        .unwrap();
    let hand_over_hash = hand_over.hash().unwrap();
    entries.push(hand_over);
    let (receipt, _) = c
        .write(
            "logistics",
            event(
                "",
                "receiving",
                json!({"tally:receiptOf": hand_over_hash.to_hex()}),
            ),
            &[],
        )
        .unwrap();
    entries.push(receipt);
    let (delivered, _) = c
        .write(
            "logistics",
            event(
                "delivery",
                "retail_selling",
                json!({"tally:promisedDate": "2026-03-10T18:00:00Z"}),
            ),
            &[],
        )
        .unwrap();
    entries.push(delivered);
    Story {
        consortium: c,
        entries,
        order_opened,
    }
}

#[test]
fn every_entry_of_the_story_verifies_in_one_batch() {
    let story = play();
    let verifier = Verifier::new(&story.consortium.genesis, story.consortium.now());
    let results = verifier.verify_batch(story.entries.clone(), |_| None);
    for (entry, result) in story.entries.iter().zip(&results) {
        assert!(
            result.is_ok(),
            "entry {} of {}: {:?}",
            entry.body.seq,
            entry.body.author,
            result
        );
    }
    let kinds: Vec<&'static str> = story
        .entries
        .iter()
        .map(|e| e.body.payload.name())
        .collect();
    assert_eq!(
        kinds,
        [
            "order",
            "production_step",
            "production_step",
            "quality_inspection",
            "hand_over",
            "receipt",
            "delivery"
        ]
    );
    let receipt = &story.entries[5];
    assert!(matches!(
        &receipt.body.payload,
        Payload::Event {
            kind: EventKind::Receipt { .. },
            ..
        }
    ));
    assert!(
        receipt
            .body
            .refs
            .contains(&story.entries[4].hash().unwrap())
    );
}

#[test]
fn the_address_alone_is_disclosed_and_a_changed_address_is_caught() {
    let story = play();
    let verifier = Verifier::new(&story.consortium.genesis, story.consortium.now());
    let address = FieldName::new("consumer.address").unwrap();
    let disclosure =
        EntryDisclosure::new(story.entries[0].clone(), &story.order_opened, &[address]).unwrap();
    let (_, fields) = disclosure.verify(&verifier).unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].value.as_str(), "\"88 Example Road, Hangzhou\"");
    // The disclosure carries nothing of the other fields.
    let text = serde_json::to_string(&disclosure).unwrap();
    assert!(!text.contains("Li Wei") && !text.contains("linen"));
    let mut forged = disclosure.clone();
    forged.disclosure.fields[0].value =
        CanonicalJson::from_value(&json!("1 Other Street")).unwrap();
    assert!(forged.verify(&verifier).is_err());
}

#[test]
fn a_member_that_signs_two_histories_is_convicted_by_a_fork_proof() {
    let story = play();
    let c = &story.consortium;
    let verifier = Verifier::new(&c.genesis, c.now());
    let honest = story.entries[3].clone();
    // The manufacturer signs a second, different entry at the same position: a failed inspection.
    let mut other = honest.body.clone();
    other.payload = match &honest.body.payload {
        Payload::Event { event, .. } => {
            let mut value = event.to_value().unwrap();
            value["disposition"] = json!("non_conformant");
            Payload::Event {
                kind: EventKind::QualityInspection { passed: false },
                event: CanonicalJson::from_value(&value).unwrap(),
            }
        }
        Payload::Purge { .. } => panic!("an event entry"),
    };
    let other = other
        .sign(&c.keys("manufacturer").unwrap().signing)
        .unwrap();
    let proof = ForkProof::new(honest.clone(), other.clone()).unwrap();
    let fork = proof.verify(&verifier).unwrap();
    assert_eq!(fork.author, MemberId::new("manufacturer").unwrap());
    assert_eq!(fork.seq, honest.body.seq);
    // The same entry twice is no fork; nor are entries of different members.
    assert!(
        ForkProof::new(honest.clone(), honest.clone())
            .unwrap()
            .verify(&verifier)
            .is_err()
    );
    assert!(
        ForkProof::new(honest, story.entries[0].clone())
            .unwrap()
            .verify(&verifier)
            .is_err()
    );
    // A forged second entry (not signed by the manufacturer) proves nothing.
    let framed = other
        .body
        .sign(&c.keys("platform").unwrap().signing)
        .unwrap();
    let proof = ForkProof::new(story.entries[3].clone(), framed).unwrap();
    assert!(matches!(
        proof.verify(&verifier),
        Err(tally_sdk::witnessing::fork::ForkError::InvalidEntry {
            source: VerifyError::Signature { .. },
            ..
        })
    ));
}

#[test]
fn an_entry_is_witnessed_once_a_quorum_of_other_members_checkpoints_cover_it() {
    let story = play();
    let c = &story.consortium;
    let verifier = Verifier::new(&c.genesis, c.now());
    let mut chains: std::collections::BTreeMap<MemberId, Vec<tally_sdk::hash::EntryHash>> =
        Default::default();
    for entry in &story.entries {
        chains
            .entry(entry.body.author.clone())
            .or_default()
            .push(entry.hash().unwrap());
    }
    let spans: Vec<ChainSpan> = chains
        .iter()
        .map(|(author, hashes)| ChainSpan::new(author.clone(), 0, hashes).unwrap())
        .collect();
    let checkpoints: Vec<Checkpoint> = c
        .genesis
        .members()
        .iter()
        .map(|m| {
            let checkpoint = Checkpoint::sign(
                c.genesis.network_id(),
                m.id.clone(),
                0,
                c.now(),
                spans.clone(),
                &c.keys(m.id.as_str()).unwrap().signing,
            )
            .unwrap();
            checkpoint.verify(&c.genesis).unwrap();
            checkpoint
        })
        .collect();
    let quorum = c.genesis.witness_quorum();
    for entry in &story.entries {
        let author = &entry.body.author;
        let seq = entry.body.seq;
        let held = &chains[author];
        let proof = |checkpoint: &Checkpoint| checkpoint.witness(author, seq, held).unwrap();
        // The author's own checkpoint first: it never counts.
        let mut by: Vec<_> = checkpoints
            .iter()
            .filter(|cp| &cp.body().witness == author)
            .map(proof)
            .collect();
        let others: Vec<_> = checkpoints
            .iter()
            .filter(|cp| &cp.body().witness != author)
            .collect();
        for (count, checkpoint) in others.iter().enumerate() {
            let evidence = WitnessEvidence {
                format: WITNESS_EVIDENCE_FORMAT,
                entry: entry.clone(),
                witnesses: by.clone(),
            };
            let status = evidence.verify(&verifier).unwrap();
            assert_eq!(status.needed, quorum);
            assert_eq!(status.witnesses.len(), count);
            assert_eq!(status.witnessed, count >= quorum, "{count} witnesses");
            by.push(proof(checkpoint));
        }
        // A proof for another entry of the chain is refused, not ignored.
        let mut wrong = WitnessEvidence {
            format: WITNESS_EVIDENCE_FORMAT,
            entry: entry.clone(),
            witnesses: by.clone(),
        };
        if held.len() > 1 {
            let other_seq = if seq == 0 { 1 } else { 0 };
            wrong.witnesses[0] = checkpoints[0].witness(author, other_seq, held).unwrap();
            assert!(matches!(
                wrong.verify(&verifier),
                Err(WitnessError::Witness { .. })
            ));
        }
    }
}
