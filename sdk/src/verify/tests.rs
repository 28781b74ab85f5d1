//! Unit tests of `verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::crypto::SigningKey;
use crate::entry::UnsignedEntry;
use crate::membership::genesis::tests::test_consortium;
use serde_json::{Value, json};

fn event(extra: Value) -> Value {
    let mut v = json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "commissioning",
        "eventTime": "2026-05-01T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
    });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

fn entry(
    g: &Consortium,
    key: &SigningKey,
    author: &str,
    seq: u64,
    prev: Option<EntryHash>,
    ev: Value,
) -> SignedEntry {
    UnsignedEntry::event(
        g.network_id(),
        MemberId::new(author).unwrap(),
        seq,
        prev,
        Timestamp(1_800_000_000_000 + seq),
        vec![],
        &ev,
        None,
    )
    .unwrap()
    .sign(key)
    .unwrap()
}

const NOW: Timestamp = Timestamp(1_800_000_001_000);

#[test]
fn a_valid_chain_verifies_alone_and_in_a_batch() {
    let (g, keys) = test_consortium();
    let v = Verifier::new(&g, NOW);
    let e0 = entry(&g, &keys[0], "a", 0, None, event(json!({})));
    let h0 = e0.hash().unwrap();
    let e1 = entry(&g, &keys[0], "a", 1, Some(h0), event(json!({})));
    // The size rule relies on this layout of the signed entry's encoding.
    assert_eq!(
        e0.to_bytes().unwrap().len(),
        e0.body.to_bytes().unwrap().len() + SIGNATURE_ENCODED_LEN
    );
    let v0 = v.verify(e0.clone(), None).unwrap();
    assert_eq!(v0.hash(), h0);
    // What the verifier hands over is what a second encoding and parse would give.
    assert_eq!(v0.encoded(), e0.to_bytes().unwrap());
    let Payload::Event { event: json, .. } = &e0.body.payload else {
        panic!("an event entry")
    };
    assert_eq!(
        v0.event(),
        Some(&EpcisEvent::from_canonical(json).unwrap().0)
    );
    assert_eq!(
        v0.event().unwrap().products.len(),
        1,
        "products are resolved for the indexes"
    );
    v.verify(e1.clone(), Some(&ChainTip::of(&v0))).unwrap();
    let results = v.verify_batch(vec![e0.clone(), e1], |_| None);
    assert!(results.iter().all(Result::is_ok));
    let batched = results.into_iter().next().unwrap().unwrap();
    assert_eq!(batched.encoded(), e0.to_bytes().unwrap());
    assert_eq!(batched.event(), v0.event());
}

#[test]
fn keys_and_removals_apply_by_chain_position() {
    use crate::membership::governance::Action;
    use crate::membership::governance::tests::{approved, newcomer};
    use crate::membership::governance::{KeyEpoch, Removal};
    let (g, keys) = test_consortium();
    let a = MemberId::new("a").unwrap();
    // A maker admitted, then removed from its entry 1 on; then a's key rotated from its
    // entry 1 on.
    let (mut member, member_key) = newcomer(60);
    member.roles = g.member(&a).unwrap().roles.clone();
    let g = g
        .apply(&approved(&g, &keys, Action::AddMember(member.clone())))
        .unwrap();
    let removal = Action::RemoveMember {
        member: member.id.clone(),
        until: Removal {
            entries_below: 1,
            checkpoints_below: 0,
        },
    };
    let g = g.apply(&approved(&g, &keys, removal)).unwrap();
    let new_key = SigningKey::from_seed(&[90; 32]);
    let rotation = Action::RotateKeys {
        member: a,
        signing: Some(KeyEpoch {
            key: new_key.public_key(),
            entries_from: 1,
            checkpoints_from: 0,
        }),
        x25519_key: None,
        peer_id: None,
        addresses: None,
    };
    let g = g.apply(&approved(&g, &keys, rotation)).unwrap();
    let v = Verifier::new(&g, NOW);

    let a0 = entry(&g, &keys[0], "a", 0, None, event(json!({})));
    let tip = ChainTip::of(&v.verify(a0.clone(), None).unwrap());
    let old = entry(&g, &keys[0], "a", 1, Some(tip.hash), event(json!({})));
    assert!(matches!(
        v.verify(old.clone(), Some(&tip)),
        Err(VerifyError::RetiredKey { seq: 1, .. })
    ));
    let forged = entry(&g, &keys[1], "a", 1, Some(tip.hash), event(json!({})));
    assert!(matches!(
        v.verify(forged, Some(&tip)),
        Err(VerifyError::Signature { seq: 1, .. })
    ));
    let new = entry(&g, &new_key, "a", 1, Some(tip.hash), event(json!({})));
    v.verify(new.clone(), Some(&tip)).unwrap();

    let c0 = entry(
        &g,
        &member_key,
        member.id.as_str(),
        0,
        None,
        event(json!({})),
    );
    let c_tip = ChainTip::of(&v.verify(c0.clone(), None).unwrap());
    let c1 = entry(
        &g,
        &member_key,
        member.id.as_str(),
        1,
        Some(c_tip.hash),
        event(json!({})),
    );
    assert!(matches!(
        v.verify(c1.clone(), Some(&c_tip)),
        Err(VerifyError::Removed {
            seq: 1,
            entries_below: 1,
            ..
        })
    ));
    // The batch path reaches the same verdicts.
    let verdicts = v.verify_batch(vec![a0, old, c0, c1], |_| None);
    let ok: Vec<bool> = verdicts.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true, false]);
    assert!(matches!(verdicts[1], Err(VerifyError::RetiredKey { .. })));
    assert!(matches!(verdicts[3], Err(VerifyError::Removed { .. })));
    let verdicts = v.verify_batch(vec![new], |_| Some(tip));
    assert!(verdicts[0].is_ok());
}

#[test]
fn purge_entries_follow_their_rules() {
    let (g, keys) = test_consortium();
    let v = Verifier::new(&g, NOW);
    let e0 = entry(&g, &keys[0], "a", 0, None, event(json!({})));
    let h0 = e0.hash().unwrap();
    let t0 = e0.body.timestamp;
    let purge = |seq: u64, fields: &[&str]| {
        let mut body = UnsignedEntry::purge(
            g.network_id(),
            MemberId::new("a").unwrap(),
            seq,
            (seq > 0).then_some(h0),
            t0,
            h0,
            fields.iter().map(|f| FieldName::new(*f).unwrap()).collect(),
        );
        if let Payload::Purge { fields: named, .. } = &mut body.payload
            && fields.is_empty()
        {
            named.clear();
        }
        body.sign(&keys[0]).unwrap()
    };
    let good = v
        .verify(
            purge(1, &["consumer.address"]),
            Some(&ChainTip::of(&v.verify(e0, None).unwrap())),
        )
        .unwrap();
    assert!(good.event().is_none(), "a purge has no event");
    assert_eq!(good.body().payload.name(), "purge");
    for (bad, why) in [
        (purge(1, &[]), "no field"),
        (purge(0, &["consumer.address"]), "nothing earlier to purge"),
    ] {
        assert!(
            matches!(v.verify_detached(&bad), Err(VerifyError::Purge(_))),
            "{why}"
        );
    }
    assert!(matches!(
        v.verify_detached(&purge(1, &["consumer.shoe_size"])),
        Err(VerifyError::UnknownPrivateField(_))
    ));
    // Unsorted names are refused, whoever built the body.
    let mut unsorted = UnsignedEntry::purge(
        g.network_id(),
        MemberId::new("a").unwrap(),
        1,
        Some(h0),
        t0,
        h0,
        vec![FieldName::new("consumer.address").unwrap()],
    );
    if let Payload::Purge { fields, .. } = &mut unsorted.payload {
        fields.push(FieldName::new("consumer.address").unwrap());
    }
    assert!(matches!(
        v.verify_detached(&unsorted.sign(&keys[0]).unwrap()),
        Err(VerifyError::Purge(_))
    ));
}

#[test]
fn each_rule_is_enforced() {
    let (g, keys) = test_consortium();
    let v = Verifier::new(&g, NOW);
    let ok = entry(&g, &keys[0], "a", 0, None, event(json!({})));
    // Wrong signer.
    let forged = entry(&g, &keys[1], "a", 0, None, event(json!({})));
    assert!(matches!(
        v.verify(forged, None),
        Err(VerifyError::Signature { .. })
    ));
    // Unknown author.
    let stranger = entry(&g, &keys[0], "zed", 0, None, event(json!({})));
    assert!(matches!(
        v.verify(stranger, None),
        Err(VerifyError::UnknownAuthor(_))
    ));
    // Not permitted: b is a carrier, which may not write production steps.
    let b = entry(&g, &keys[1], "b", 0, None, event(json!({})));
    assert!(matches!(
        v.verify(b, None),
        Err(VerifyError::NotPermitted { .. })
    ));
    // Wrong network.
    let mut other = ok.clone();
    other.body.network = crate::hash::NetworkId::digest(b"other");
    assert!(matches!(
        v.verify(other, None),
        Err(VerifyError::WrongNetwork { .. })
    ));
    // Chain: must start at 0; must link.
    let e5 = entry(
        &g,
        &keys[0],
        "a",
        5,
        Some(ok.hash().unwrap()),
        event(json!({})),
    );
    assert!(matches!(
        v.verify(e5, None),
        Err(VerifyError::Chain(ChainError::MissingStart { .. }))
    ));
    let tip = ChainTip {
        seq: 0,
        hash: EntryHash::digest(b"x"),
        timestamp: Timestamp(0),
    };
    let e1 = entry(
        &g,
        &keys[0],
        "a",
        1,
        Some(ok.hash().unwrap()),
        event(json!({})),
    );
    assert!(matches!(
        v.verify(e1, Some(&tip)),
        Err(VerifyError::Chain(ChainError::PreviousHash { .. }))
    ));
    // From the future.
    let strict = Verifier::new(&g, Timestamp(1_000));
    assert!(matches!(
        strict.verify(ok.clone(), None),
        Err(VerifyError::FromTheFuture { .. })
    ));
    // Stated kind differs from the event.
    let mut lie = ok.clone();
    lie.body.payload = Payload::Event {
        kind: EventKind::Order,
        event: match &ok.body.payload {
            Payload::Event { event, .. } => event.clone(),
            Payload::Purge { .. } => panic!("an event entry"),
        },
    };
    let lie = lie.body.sign(&keys[0]).unwrap();
    assert!(matches!(
        v.verify(lie, None),
        Err(VerifyError::KindMismatch { .. })
    ));
    // Hand-over to oneself.
    let selfish = entry(
        &g,
        &keys[0],
        "a",
        0,
        None,
        event(json!({"tally:handOverTo": "a"})),
    );
    assert!(matches!(
        v.verify(selfish, None),
        Err(VerifyError::BadHandOverTarget(_))
    ));
}

#[test]
fn batch_verdicts_equal_one_by_one_verdicts() {
    let (g, keys) = test_consortium();
    let v = Verifier::new(&g, NOW);
    let e0 = entry(&g, &keys[0], "a", 0, None, event(json!({})));
    let e1 = entry(
        &g,
        &keys[0],
        "a",
        1,
        Some(e0.hash().unwrap()),
        event(json!({})),
    );
    let mut bad = entry(
        &g,
        &keys[0],
        "a",
        2,
        Some(e1.hash().unwrap()),
        event(json!({})),
    );
    bad.signature = e1.signature;
    let e3 = entry(
        &g,
        &keys[0],
        "a",
        3,
        Some(bad.hash().unwrap()),
        event(json!({})),
    );
    let results = v.verify_batch(vec![e0, e1, bad, e3], |_| None);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(VerifyError::Signature { .. })));
    // The bad entry did not extend the chain, so the next one cannot link to the tip.
    assert!(matches!(
        results[3],
        Err(VerifyError::Chain(ChainError::Sequence { .. }))
    ));
}
