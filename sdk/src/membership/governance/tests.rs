//! Unit tests of `governance` (and fixtures other modules' tests use).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::crypto::{SigningKey, X25519SecretKey};
use crate::domain::signing;
use crate::ids::RoleName;
use crate::membership::consortium::Consortium;
use crate::membership::genesis::tests::test_consortium;

fn id(name: &str) -> MemberId {
    MemberId::new(name).unwrap()
}

/// A member for `test_consortium` with the carrier role and keys from `seed`.
pub(crate) fn newcomer(seed: u8) -> (Member, SigningKey) {
    let key = SigningKey::from_seed(&[seed; 32]);
    let member = Member {
        id: id(&format!("new{seed}")),
        name: format!("Newcomer {seed}"),
        roles: vec![RoleName::new("carrier").unwrap()],
        founder: false,
        signing_key: key.public_key(),
        x25519_key: X25519SecretKey::from_hex(&hex::encode([seed; 32]))
            .unwrap()
            .public_key(),
        peer_id: SigningKey::from_seed(&[seed.wrapping_add(100); 32])
            .public_key()
            .to_peer_id(),
        addresses: vec!["/ip4/127.0.0.1/tcp/7100".into()],
    };
    (member, key)
}

/// `action` as the next change, approved by founders `a` and `b` (the threshold is 2).
pub(crate) fn approved(genesis: &Consortium, keys: &[SigningKey], action: Action) -> SignedChange {
    let body = ChangeBody::next(
        genesis,
        Timestamp(1_700_000_100_000 + genesis.changes().len() as u64),
        "test".into(),
        action,
    );
    let mut change = SignedChange::draft(body);
    change.approve(genesis, &id("a"), &keys[0]).unwrap();
    change.approve(genesis, &id("b"), &keys[1]).unwrap();
    change
}

#[test]
fn an_approved_member_is_admitted_and_the_genesis_is_unchanged() {
    let (genesis, keys) = test_consortium();
    let (member, _) = newcomer(40);
    let change = approved(&genesis, &keys, Action::AddMember(member.clone()));
    let next = genesis.apply(&change).unwrap();
    assert_eq!(next.members().len(), 4);
    assert_eq!(next.member(&member.id), Some(&member));
    assert_eq!(next.member_by_peer_id(&member.peer_id), Some(&member));
    assert_eq!(next.last_change(), Some(change.body.hash().unwrap()));
    assert_eq!(next.network_id(), genesis.network_id());
    assert!(genesis.member(&member.id).is_none());
    let again = next.apply(&change).unwrap_err();
    assert!(matches!(
        again,
        GovernanceError::OutOfOrder {
            expected: 2,
            got: 1
        }
    ));
}

#[test]
fn approvals_must_reach_the_threshold_of_current_founders() {
    let (genesis, keys) = test_consortium();
    let (member, _) = newcomer(41);
    let mut change = approved(&genesis, &keys, Action::AddMember(member));
    change.approvals.pop();
    assert!(matches!(
        genesis.apply(&change),
        Err(GovernanceError::NotEnoughApprovals { have: 1, need: 2 })
    ));
    let duplicate = change.approvals[0].clone();
    change.approvals.push(duplicate);
    assert!(matches!(
        genesis.apply(&change),
        Err(GovernanceError::DuplicateApproval(_))
    ));
    change.approvals.pop();
    let mut c_signs = change.clone();
    assert!(matches!(
        c_signs.approve(&genesis, &id("c"), &keys[2]),
        Err(GovernanceError::NotAFounder(_))
    ));
    c_signs.approvals.push(Approval {
        member: id("c"),
        signature: keys[2].sign(signing::CHANGE, change.body.hash().unwrap().as_bytes()),
    });
    assert!(matches!(
        genesis.apply(&c_signs),
        Err(GovernanceError::NotAFounder(_))
    ));
    assert!(matches!(
        change.approve(&genesis, &id("b"), &keys[0]),
        Err(GovernanceError::BadApproval(_))
    ));
}

#[test]
fn an_edited_change_fails_its_approvals() {
    let (genesis, keys) = test_consortium();
    let (member, _) = newcomer(42);
    let mut change = approved(&genesis, &keys, Action::AddMember(member));
    change.body.reason.push('!');
    assert!(matches!(
        genesis.apply(&change),
        Err(GovernanceError::BadApproval(_))
    ));
}

#[test]
fn changes_follow_one_order() {
    let (genesis, keys) = test_consortium();
    let first = approved(&genesis, &keys, Action::AddMember(newcomer(43).0));
    let after_first = genesis.apply(&first).unwrap();
    // A second change drawn up against the genesis, not against change 1.
    let mut rival = approved(&genesis, &keys, Action::AddMember(newcomer(44).0));
    rival.body.number = 2;
    let hash = rival.body.hash().unwrap();
    for approval in &mut rival.approvals {
        let i = usize::from(approval.member != id("a"));
        approval.signature = keys[i].sign(signing::CHANGE, hash.as_bytes());
    }
    assert!(matches!(
        after_first.apply(&rival),
        Err(GovernanceError::WrongPrevious { number: 2 })
    ));
    let second = approved(&after_first, &keys, Action::AddMember(newcomer(44).0));
    let both = genesis.with_changes([&first, &second]).unwrap();
    assert_eq!(both.members().len(), 5);
    assert_eq!(both.changes().len(), 2);
}

#[test]
fn a_removed_member_keeps_its_earlier_record_only() {
    let (genesis, keys) = test_consortium();
    let (member, _) = newcomer(45);
    let with_new = genesis
        .apply(&approved(
            &genesis,
            &keys,
            Action::AddMember(member.clone()),
        ))
        .unwrap();
    let until = Removal {
        entries_below: 10,
        checkpoints_below: 3,
    };
    let removal = Action::RemoveMember {
        member: member.id.clone(),
        until,
    };
    let after = with_new
        .apply(&approved(&with_new, &keys, removal))
        .unwrap();
    assert!(after.active_member(&member.id).is_none());
    assert!(after.member(&member.id).is_some(), "history stays");
    assert!(after.member_by_peer_id(&member.peer_id).is_none());
    assert_eq!(after.members().len(), 3);
    assert_eq!(after.all_members().len(), 4);
    let standing = after.standing(&member.id).unwrap();
    assert_eq!(standing.entry_key(9), Some(member.signing_key));
    assert_eq!(standing.entry_key(10), None);
    assert_eq!(standing.checkpoint_key(2), Some(member.signing_key));
    assert_eq!(standing.checkpoint_key(3), None);
    let twice = Action::RemoveMember {
        member: member.id.clone(),
        until,
    };
    let err = after.apply(&approved(&after, &keys, twice)).unwrap_err();
    assert!(err.to_string().contains("not a current member"), "{err}");
    let (mut readmit, _) = newcomer(46);
    readmit.id = member.id.clone();
    let err = after
        .apply(&approved(&after, &keys, Action::AddMember(readmit)))
        .unwrap_err();
    assert!(err.to_string().contains("not reused"), "{err}");
}

#[test]
fn removals_keep_enough_founders_and_witnesses() {
    let (genesis, keys) = test_consortium();
    let founder = Action::RemoveMember {
        member: id("b"),
        until: Removal {
            entries_below: 0,
            checkpoints_below: 0,
        },
    };
    let err = genesis
        .apply(&approved(&genesis, &keys, founder))
        .unwrap_err();
    assert!(err.to_string().contains("fewer than the 2 needed"), "{err}");
}

#[test]
fn a_rotated_key_signs_from_its_positions_on() {
    let (genesis, keys) = test_consortium();
    let new_key = SigningKey::from_seed(&[77; 32]);
    let epoch = KeyEpoch {
        key: new_key.public_key(),
        entries_from: 5,
        checkpoints_from: 2,
    };
    let rotation = Action::RotateKeys {
        member: id("a"),
        signing: Some(epoch),
        x25519_key: None,
        peer_id: None,
        addresses: Some(vec!["/ip4/10.0.0.1/tcp/7000".into()]),
    };
    let after = genesis.apply(&approved(&genesis, &keys, rotation)).unwrap();
    let a = after.member(&id("a")).unwrap();
    assert_eq!(a.signing_key, new_key.public_key());
    assert_eq!(a.addresses, vec!["/ip4/10.0.0.1/tcp/7000".to_string()]);
    let standing = after.standing(&id("a")).unwrap();
    assert_eq!(standing.entry_key(4), Some(keys[0].public_key()));
    assert_eq!(standing.entry_key(5), Some(new_key.public_key()));
    assert_eq!(standing.checkpoint_key(1), Some(keys[0].public_key()));
    assert_eq!(standing.checkpoint_key(2), Some(new_key.public_key()));

    // The founder now approves with its new key only.
    let mut change = SignedChange::draft(ChangeBody::next(
        &after,
        Timestamp(1_700_000_200_000),
        "next".into(),
        Action::AddMember(newcomer(47).0),
    ));
    assert!(change.approve(&after, &id("a"), &keys[0]).is_err());
    change.approve(&after, &id("a"), &new_key).unwrap();
    change.approve(&after, &id("b"), &keys[1]).unwrap();
    after.apply(&change).unwrap();

    // Keys are never reused, and positions do not go back.
    let reuse = Action::RotateKeys {
        member: id("b"),
        signing: Some(KeyEpoch {
            key: keys[0].public_key(),
            entries_from: 0,
            checkpoints_from: 0,
        }),
        x25519_key: None,
        peer_id: None,
        addresses: None,
    };
    let mut change = SignedChange::draft(ChangeBody::next(
        &after,
        Timestamp(1_700_000_200_000),
        "reuse".into(),
        reuse,
    ));
    change.approve(&after, &id("a"), &new_key).unwrap();
    change.approve(&after, &id("b"), &keys[1]).unwrap();
    let err = after.apply(&change).unwrap_err();
    assert!(err.to_string().contains("every key must be new"), "{err}");
}

#[test]
fn checkpoints_are_judged_by_their_number() {
    use crate::hash::MerkleRoot;
    use crate::witnessing::checkpoint::{
        CHECKPOINT_FORMAT, CheckpointBody, CheckpointError, SignedCheckpoint,
    };
    let (genesis, keys) = test_consortium();
    let (member, member_key) = newcomer(51);
    let with_new = genesis
        .apply(&approved(
            &genesis,
            &keys,
            Action::AddMember(member.clone()),
        ))
        .unwrap();
    let new_key = SigningKey::from_seed(&[91; 32]);
    let rotation = Action::RotateKeys {
        member: member.id.clone(),
        signing: Some(KeyEpoch {
            key: new_key.public_key(),
            entries_from: 0,
            checkpoints_from: 2,
        }),
        x25519_key: None,
        peer_id: None,
        addresses: None,
    };
    let rotated = with_new
        .apply(&approved(&with_new, &keys, rotation))
        .unwrap();
    let removal = Action::RemoveMember {
        member: member.id.clone(),
        until: Removal {
            entries_below: 0,
            checkpoints_below: 4,
        },
    };
    let removed = rotated.apply(&approved(&rotated, &keys, removal)).unwrap();
    let checkpoint = |number: u64, key: &SigningKey| {
        let body = CheckpointBody {
            format: CHECKPOINT_FORMAT,
            network: genesis.network_id(),
            witness: member.id.clone(),
            number,
            timestamp: Timestamp(1_700_000_300_000),
            spans_count: 1,
            spans_root: MerkleRoot::digest(b"spans"),
        };
        let signature = key.sign(signing::CHECKPOINT, body.hash().unwrap().as_bytes());
        SignedCheckpoint { body, signature }
    };
    assert!(checkpoint(1, &member_key).verify(&removed).is_ok());
    assert!(matches!(
        checkpoint(2, &member_key).verify(&removed),
        Err(CheckpointError::Signature { .. })
    ));
    assert!(checkpoint(3, &new_key).verify(&removed).is_ok());
    assert!(matches!(
        checkpoint(4, &new_key).verify(&removed),
        Err(CheckpointError::Removed {
            number: 4,
            checkpoints_below: 4,
            ..
        })
    ));
    assert!(matches!(
        checkpoint(1, &member_key).verify(&genesis),
        Err(CheckpointError::UnknownWitness(_))
    ));
}

#[test]
fn bad_members_and_empty_rotations_are_refused() {
    let (genesis, keys) = test_consortium();
    let (mut member, _) = newcomer(48);
    member.roles = vec![RoleName::new("ghost").unwrap()];
    let err = genesis
        .apply(&approved(&genesis, &keys, Action::AddMember(member)))
        .unwrap_err();
    assert!(err.to_string().contains("unknown role"), "{err}");
    let (mut member, _) = newcomer(49);
    member.peer_id = genesis.members()[0].peer_id.clone();
    let err = genesis
        .apply(&approved(&genesis, &keys, Action::AddMember(member)))
        .unwrap_err();
    assert!(err.to_string().contains("peer id"), "{err}");
    let empty = Action::RotateKeys {
        member: id("c"),
        signing: None,
        x25519_key: None,
        peer_id: None,
        addresses: None,
    };
    let err = genesis
        .apply(&approved(&genesis, &keys, empty))
        .unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
}

#[test]
fn a_change_round_trips_through_json_and_postcard() {
    let (genesis, keys) = test_consortium();
    let change = approved(&genesis, &keys, Action::AddMember(newcomer(50).0));
    let json = serde_json::to_string(&change).unwrap();
    let back: SignedChange = serde_json::from_str(&json).unwrap();
    assert_eq!(back, change);
    let bytes = codec::encode("change", &change).unwrap();
    let back: SignedChange = codec::decode("change", &bytes, 1 << 16).unwrap();
    assert_eq!(back, change);
    genesis.apply(&back).unwrap();
}
