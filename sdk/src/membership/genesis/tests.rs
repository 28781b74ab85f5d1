//! Unit tests of `genesis` (and fixtures other modules' tests use).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::crypto::X25519SecretKey;
use crate::membership::consortium::Consortium;

/// A small valid consortium for tests: members `a` (founder, maker), `b` (founder, carrier),
/// `c` (auditor), keys from fixed seeds.
pub(crate) fn test_consortium() -> (Consortium, Vec<SigningKey>) {
    let keys: Vec<SigningKey> = (1..=3u8).map(|n| SigningKey::from_seed(&[n; 32])).collect();
    let node_keys: Vec<SigningKey> = (11..=13u8)
        .map(|n| SigningKey::from_seed(&[n; 32]))
        .collect();
    let role = |name: &str, kinds: &[KindName]| Role {
        name: RoleName::new(name).unwrap(),
        description: name.into(),
        may_write: kinds.to_vec(),
    };
    let member = |i: usize, id: &str, role: &str, founder: bool| Member {
        id: MemberId::new(id).unwrap(),
        name: format!("Member {id}"),
        roles: vec![RoleName::new(role).unwrap()],
        founder,
        signing_key: keys[i].public_key(),
        x25519_key: X25519SecretKey::from_hex(&hex::encode([i as u8 + 21; 32]))
            .unwrap()
            .public_key(),
        peer_id: node_keys[i].public_key().to_peer_id(),
        addresses: vec!["/ip4/127.0.0.1/tcp/7000".into()],
    };
    let document = GenesisDocument {
        format: GENESIS_FORMAT,
        consortium: "Test consortium".into(),
        created: Timestamp(1_700_000_000_000),
        founders_threshold: 2,
        witness_quorum: 2,
        limits: Limits::default(),
        roles: vec![
            role(
                "maker",
                &[
                    KindName::Order,
                    KindName::ProductionStep,
                    KindName::QualityInspection,
                    KindName::HandOver,
                    KindName::Observation,
                ],
            ),
            role(
                "carrier",
                &[KindName::Receipt, KindName::Delivery, KindName::HandOver],
            ),
            role("auditor", &[]),
        ],
        private_fields: vec![PrivateFieldPolicy {
            name: FieldName::new("consumer.address").unwrap(),
            description: "where to deliver".into(),
            readers: vec![RoleName::new("carrier").unwrap()],
        }],
        members: vec![
            member(0, "a", "maker", true),
            member(1, "b", "carrier", true),
            member(2, "c", "auditor", false),
        ],
        disputes: None,
    };
    let signatures = vec![
        sign_document(&document, &MemberId::new("a").unwrap(), &keys[0]).unwrap(),
        sign_document(&document, &MemberId::new("b").unwrap(), &keys[1]).unwrap(),
    ];
    let genesis = SignedGenesis {
        document,
        signatures,
    }
    .verify()
    .expect("test consortium is valid");
    (genesis, keys)
}

fn signed() -> SignedGenesis {
    test_consortium().0.signed.clone()
}

#[test]
fn a_disputes_section_changes_the_network_id_and_its_absence_keeps_the_old_one() {
    let mut document = signed().document;
    let without = document.network_id().unwrap();
    // The encoding without the section is the format-1 encoding: the same fields in the
    // same order, nothing after the members.
    let v1 = codec::encode("genesis document", &document).unwrap();
    let members = codec::encode("members", &document.members).unwrap();
    assert!(v1.ends_with(&members));
    document.disputes = Some(DisputeRules::default());
    assert_ne!(document.network_id().unwrap(), without);
    document.disputes.as_mut().unwrap().max_reporting_delay_ms += 1;
    let other = document.network_id().unwrap();
    document.disputes = Some(DisputeRules::default());
    assert_ne!(document.network_id().unwrap(), other);
}

#[test]
fn inspectors_are_the_members_with_an_inspector_role() {
    let mut s = signed();
    s.document.disputes = Some(DisputeRules {
        inspector_roles: vec![RoleName::new("auditor").unwrap()],
        ..DisputeRules::default()
    });
    let genesis = Consortium::new(s.clone(), s.document.network_id().unwrap()).unwrap();
    assert!(genesis.is_inspector(&MemberId::new("c").unwrap()));
    assert!(!genesis.is_inspector(&MemberId::new("a").unwrap()));
    assert_eq!(
        genesis.dispute_rules().max_reporting_delay_ms,
        DEFAULT_MAX_REPORTING_DELAY_MS
    );
}

#[test]
fn a_long_peer_id_is_refused_without_decoding_it() {
    // Found by the fuzzer (`tests/src/fuzz`, target `genesis`): a peer id of 18,760
    // base58 digits kept one genesis check busy for 0.15 s, and decoding grows with the
    // square of the length, so a membership change could hold a node for minutes.
    // (Speed is not asserted here: the fuzz runs bound it. The length check is what keeps
    // such text from being decoded at all.)
    let peer_id = format!("12D3KooW{}", "9".repeat(200_000));
    assert!(!is_peer_id(&peer_id));
    let one_too_long = format!("1{}", "2".repeat(MAX_PEER_ID_CHARS));
    assert!(!is_peer_id(&one_too_long));
    // Every real peer id is within the limit.
    let (genesis, _) = test_consortium();
    for member in genesis.members() {
        assert!(member.peer_id.len() <= MAX_PEER_ID_CHARS);
        assert!(is_peer_id(&member.peer_id));
    }
    let longest = SigningKey::from_seed(&[0xff; 32]).public_key().to_peer_id();
    assert!(is_peer_id(&longest), "{longest}");
}

fn expect_invalid(mutate: impl Fn(&mut GenesisDocument), needle: &str) {
    let mut s = signed();
    mutate(&mut s.document);
    let err = s.verify().unwrap_err().to_string();
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

#[test]
fn consistency_rules_are_enforced() {
    expect_invalid(
        |d| d.members[1].id = d.members[0].id.clone(),
        "listed twice",
    );
    expect_invalid(
        |d| d.members[1].signing_key = d.members[0].signing_key,
        "signing key",
    );
    expect_invalid(
        |d| d.members[1].x25519_key = d.members[0].x25519_key,
        "X25519",
    );
    expect_invalid(
        |d| d.members[1].peer_id = d.members[0].peer_id.clone(),
        "peer id",
    );
    expect_invalid(|d| d.members[0].peer_id = "nope".into(), "peer id");
    expect_invalid(
        |d| d.members[0].peer_id = format!("{}1", d.members[0].peer_id),
        "peer id",
    );
    expect_invalid(
        |d| d.members[0].roles = vec![RoleName::new("ghost").unwrap()],
        "unknown role",
    );
    expect_invalid(|d| d.witness_quorum = 4, "witness_quorum");
    expect_invalid(|d| d.founders_threshold = 3, "founders_threshold");
    expect_invalid(
        |d| {
            d.private_fields[0]
                .readers
                .push(RoleName::new("ghost").unwrap())
        },
        "unknown role",
    );
    expect_invalid(|d| d.roles.push(d.roles[0].clone()), "defined twice");
    expect_invalid(|d| d.format = 3, "format 3");
    expect_invalid(
        |d| {
            d.format = GENESIS_FORMAT_V1;
            d.disputes = Some(DisputeRules::default());
        },
        "needs format 2",
    );
    expect_invalid(
        |d| {
            d.disputes = Some(DisputeRules {
                inspector_roles: vec![RoleName::new("ghost").unwrap()],
                ..DisputeRules::default()
            })
        },
        "inspector role ghost is not defined",
    );
    expect_invalid(
        |d| {
            d.disputes = Some(DisputeRules {
                inspector_roles: Vec::new(),
                max_reporting_delay_ms: 0,
            })
        },
        "max_reporting_delay_ms must be positive",
    );
    expect_invalid(|d| d.members.clear(), "no members");
}

#[test]
fn tampering_and_missing_signatures_are_detected() {
    let mut s = signed();
    s.document.consortium.push('!');
    assert!(matches!(s.verify(), Err(GenesisError::BadSignature(_))));
    let mut s = signed();
    s.signatures.pop();
    assert!(matches!(
        s.verify(),
        Err(GenesisError::NotEnoughSignatures { have: 1, need: 2 })
    ));
    let mut s = signed();
    s.signatures.push(s.signatures[0].clone());
    assert!(matches!(
        s.verify(),
        Err(GenesisError::DuplicateSignature(_))
    ));
    let mut s = signed();
    s.signatures[0].member = MemberId::new("c").unwrap();
    assert!(matches!(s.verify(), Err(GenesisError::NotAFounder(_))));
}

#[test]
fn toml_round_trip_keeps_the_network_id() {
    let s = signed();
    let mut text = toml::to_string(&s.document).unwrap();
    for sig in &s.signatures {
        text.push_str(&SignedGenesis::signature_toml(sig));
    }
    let back = Consortium::from_toml(&text).unwrap();
    assert_eq!(back.network_id(), s.document.network_id().unwrap());
    let typo = text.replace("witness_quorum", "witness_qorum");
    let err = Consortium::from_toml(&typo).unwrap_err().to_string();
    assert!(err.contains("witness_qorum"), "{err}");
}

#[test]
fn permissions_follow_roles() {
    let (g, _) = test_consortium();
    let a = g.member(&MemberId::new("a").unwrap()).unwrap();
    let b = g.member(&MemberId::new("b").unwrap()).unwrap();
    assert!(g.may_write(a, KindName::Order));
    assert!(!g.may_write(b, KindName::Order));
    let address = FieldName::new("consumer.address").unwrap();
    assert!(g.may_read(b, &address));
    assert!(!g.may_read(a, &address));
}
