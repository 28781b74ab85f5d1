//! Unit tests of `merkle`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn leaves(n: usize) -> Vec<LeafHash> {
    (0..n as u32)
        .map(|i| LeafHash::digest(&i.to_le_bytes()))
        .collect()
}

/// Plain SHA-256 of the concatenation, independent of the crate's hash types.
fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn given(l: &[LeafHash], positions: &[u32]) -> Vec<(u32, LeafHash)> {
    positions.iter().map(|&p| (p, l[p as usize])).collect()
}

fn flip(bytes: [u8; 32], bit: usize) -> [u8; 32] {
    let mut bytes = bytes;
    bytes[bit / 8] ^= 1 << (bit % 8);
    bytes
}

#[test]
fn pinned_root_of_three_leaves() {
    // Written from the definition alone: CBMT of [a, b, c] puts a, b, c at nodes 2, 3, 4;
    // node 1 = H(0x01 || b || c); root = H(0x01 || node 1 || a).
    let a = sha(&[&[0x00], b"a"]);
    let b = sha(&[&[0x00], b"b"]);
    let c = sha(&[&[0x00], b"c"]);
    let bc = sha(&[&[0x01], &b, &c]);
    let root = sha(&[&[0x01], &bc, &a]);
    const PINNED: &str = "9a420893f4bb884837c92ff0e649101a23f5fe79f16dc4ad6497034a9a801280";
    assert_eq!(hex::encode(root), PINNED);

    let l = vec![
        LeafHash::digest(b"a"),
        LeafHash::digest(b"b"),
        LeafHash::digest(b"c"),
    ];
    assert_eq!(l[0].to_bytes(), a);
    assert_eq!(MerkleTree::new(l.clone()).root().to_hex(), PINNED);
    assert_eq!(root_of(&l).to_hex(), PINNED);
}

#[test]
fn powers_of_two_match_rfc6962() {
    let [a, b, c, d] = [b"a", b"b", b"c", b"d"].map(|x| sha(&[&[0x00], x]));
    let rfc6962 = sha(&[&[0x01], &sha(&[&[0x01], &a, &b]), &sha(&[&[0x01], &c, &d])]);
    let l: Vec<LeafHash> = [a, b, c, d].map(LeafHash::from_bytes).to_vec();
    assert_eq!(root_of(&l).to_bytes(), rfc6962);
    assert_eq!(root_of(&l[..2]).to_bytes(), sha(&[&[0x01], &a, &b]));
}

#[test]
fn empty_and_one_leaf_roots_are_defined() {
    // SHA-256(0x01).
    const EMPTY: &str = "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a";
    assert_eq!(empty_root().to_hex(), EMPTY);
    assert_eq!(root_of(&[]).to_hex(), EMPTY);
    let empty = MerkleTree::new(vec![]);
    assert_eq!(empty.root().to_hex(), EMPTY);
    assert!(empty.is_empty());
    assert!(matches!(
        empty.prove(&[0]),
        Err(MerkleError::OutOfRange { leaf_count: 0, .. })
    ));

    let one = leaves(1);
    let tree = MerkleTree::new(one.clone());
    assert_eq!(tree.root().to_bytes(), one[0].to_bytes());
    assert_eq!(root_of(&one).to_bytes(), one[0].to_bytes());
    let proof = tree.prove(&[0]).unwrap();
    assert!(proof.siblings.is_empty());
    proof
        .verify_with_size(&tree.root(), 1, &[(0, one[0])])
        .unwrap();
    // A one-leaf proof does not reach the root of a bigger tree.
    let two = MerkleTree::new(leaves(2));
    assert_eq!(
        proof.verify(&two.root(), &[(0, one[0])]),
        Err(MerkleError::RootMismatch)
    );
}

#[test]
fn tree_accessors() {
    let l = leaves(5);
    let tree = MerkleTree::new(l.clone());
    assert_eq!(tree.len(), 5);
    assert!(!tree.is_empty());
    assert_eq!(tree.leaf(0), Some(l[0]));
    assert_eq!(tree.leaf(4), Some(l[4]));
    assert_eq!(tree.leaf(5), None);
    assert_eq!(MerkleTree::new(vec![]).leaf(0), None);
    assert!(format!("{tree:?}").contains("leaf_count: 5"));
}

#[test]
fn bad_requests_are_refused() {
    let tree = MerkleTree::new(leaves(5));
    assert_eq!(tree.prove(&[]), Err(MerkleError::Empty));
    assert_eq!(
        tree.prove(&[3, 1, 3]),
        Err(MerkleError::DuplicatePosition(3))
    );
    assert_eq!(
        tree.prove(&[5]),
        Err(MerkleError::OutOfRange {
            position: 5,
            leaf_count: 5
        })
    );
    assert!(tree.prove(&[u32::MAX]).is_err());
    // Positions in any order give the same proof.
    assert_eq!(tree.prove(&[3, 1]).unwrap(), tree.prove(&[1, 3]).unwrap());
}

#[test]
fn verification_failures_say_what_is_wrong() {
    let l = leaves(5);
    let tree = MerkleTree::new(l.clone());
    let root = tree.root();
    let proof = tree.prove(&[1, 3]).unwrap();
    proof.verify(&root, &[(3, l[3]), (1, l[1])]).unwrap();
    proof
        .verify_with_size(&root, 5, &given(&l, &[1, 3]))
        .unwrap();

    assert_eq!(proof.verify(&root, &[]), Err(MerkleError::Empty));
    assert_eq!(
        proof.verify(&root, &[(1, l[1]), (1, l[1])]),
        Err(MerkleError::DuplicatePosition(1))
    );
    assert_eq!(
        proof.verify(&root, &[(1, l[1]), (7, l[3])]),
        Err(MerkleError::OutOfRange {
            position: 7,
            leaf_count: 5
        })
    );
    // Missing, extra and moved leaves.
    for wrong in [vec![1], vec![1, 3, 4], vec![1, 2]] {
        let leaves: Vec<(u32, LeafHash)> = wrong.iter().map(|&p| (p, l[3])).collect();
        assert_eq!(
            proof.verify(&root, &leaves),
            Err(MerkleError::PositionsDiffer {
                proof: vec![1, 3],
                given: wrong.clone()
            })
        );
    }
    // Swapped leaves.
    assert_eq!(
        proof.verify(&root, &[(1, l[3]), (3, l[1])]),
        Err(MerkleError::RootMismatch)
    );
    // The proof's own fields.
    let mut bad = proof.clone();
    bad.positions = vec![3, 1];
    assert_eq!(
        bad.verify(&root, &given(&l, &[1, 3])),
        Err(MerkleError::UnsortedPositions)
    );
    let mut bad = proof.clone();
    bad.positions = vec![];
    assert_eq!(
        bad.verify(&root, &given(&l, &[1, 3])),
        Err(MerkleError::Empty)
    );
    let mut bad = proof.clone();
    bad.leaf_count = 3;
    assert_eq!(
        bad.verify(&root, &given(&l, &[1, 3])),
        Err(MerkleError::OutOfRange {
            position: 3,
            leaf_count: 3
        })
    );
    let mut bad = proof.clone();
    bad.leaf_count = u32::MAX;
    assert_eq!(
        bad.verify(&root, &given(&l, &[1, 3])),
        Err(MerkleError::TooLarge(u64::from(u32::MAX)))
    );
    let mut bad = proof.clone();
    bad.siblings.push(root);
    assert_eq!(
        bad.verify(&root, &given(&l, &[1, 3])),
        Err(MerkleError::SiblingCount {
            expected: 3,
            found: 4,
            leaf_count: 5
        })
    );
    assert_eq!(
        proof.verify_with_size(&root, 6, &given(&l, &[1, 3])),
        Err(MerkleError::SizeMismatch { proof: 5, tree: 6 })
    );
}

#[test]
fn error_messages_are_readable_and_bounded() {
    let e = MerkleError::PositionsDiffer {
        proof: (0..100).collect(),
        given: vec![1],
    };
    assert_eq!(
        e.to_string(),
        "the proof is for leaf positions [0, 1, 2, 3, 4, 5, 6, 7, … 100 in all] but leaves \
         were given at positions [1]"
    );
    assert!(
        MerkleError::SiblingCount {
            expected: 3,
            found: 4,
            leaf_count: 5
        }
        .to_string()
        .contains("has exactly 3")
    );
}

/// A root does not bind its tree size: the same hashes prove leaf 0 of a 5-leaf tree and
/// leaf 2 of a "3-leaf tree" (both node 4). Only a trusted size tells them apart.
#[test]
fn the_root_does_not_bind_the_tree_size() {
    let l = leaves(5);
    let tree = MerkleTree::new(l.clone());
    let root = tree.root();
    let proof = tree.prove(&[0]).unwrap();
    let forged = MultiProof {
        leaf_count: 3,
        positions: vec![2],
        siblings: proof.siblings.clone(),
    };
    assert_eq!(forged.verify(&root, &[(2, l[0])]), Ok(()));
    assert_eq!(
        forged.verify_with_size(&root, 5, &[(2, l[0])]),
        Err(MerkleError::SizeMismatch { proof: 3, tree: 5 })
    );
}

/// Every bit of every sibling, leaf and root, on small trees of several shapes.
#[test]
fn every_single_bit_flip_is_caught() {
    for (n, positions) in [
        (2usize, vec![0u32]),
        (3, vec![0]),
        (3, vec![2]),
        (5, vec![1, 3]),
        (7, vec![0, 6]),
        (8, vec![2, 3, 5]),
    ] {
        let l = leaves(n);
        let tree = MerkleTree::new(l.clone());
        let root = tree.root();
        let proof = tree.prove(&positions).unwrap();
        let good = given(&l, &positions);
        proof.verify_with_size(&root, n as u32, &good).unwrap();
        for bit in 0..256 {
            let bad_root = MerkleRoot::from_bytes(flip(root.to_bytes(), bit));
            assert!(proof.verify(&bad_root, &good).is_err());
            for i in 0..good.len() {
                let mut bad = good.clone();
                bad[i].1 = LeafHash::from_bytes(flip(bad[i].1.to_bytes(), bit));
                assert!(proof.verify(&root, &bad).is_err());
            }
            for i in 0..proof.siblings.len() {
                let mut bad = proof.clone();
                bad.siblings[i] = MerkleRoot::from_bytes(flip(bad.siblings[i].to_bytes(), bit));
                assert!(bad.verify(&root, &good).is_err());
            }
        }
    }
}

struct Probe {
    desc: &'static str,
    proof: MultiProof,
    root: MerkleRoot,
    leaves: Vec<(u32, LeafHash)>,
}

/// Corrupted variants of a valid proof, in the manner of the inclusion-proof probes of
/// transparency-dev/merkle and sigstore-rs, extended to multi-proofs.
fn corruptions(
    proof: &MultiProof,
    root: MerkleRoot,
    good: &[(u32, LeafHash)],
    all: &[LeafHash],
) -> Vec<Probe> {
    let n = proof.leaf_count;
    let zero = MerkleRoot::from_bytes([0; 32]);
    let mut probes = Vec::new();
    let mut push = |desc, proof: MultiProof, root, leaves: Vec<(u32, LeafHash)>| {
        probes.push(Probe {
            desc,
            proof,
            root,
            leaves,
        });
    };
    let with_siblings = |siblings: Vec<MerkleRoot>| MultiProof {
        siblings,
        ..proof.clone()
    };
    // Wrong position for the first leaf, in the leaves alone and in the proof as well.
    let first = good[0].0;
    for (desc, moved) in [
        ("position - 1", first.wrapping_sub(1)),
        ("position + 1", first + 1),
        ("position ^ 2", first ^ 2),
        ("position + size", first + n),
    ] {
        if good.iter().any(|(p, _)| *p == moved) {
            continue;
        }
        let mut leaves = good.to_vec();
        leaves[0].0 = moved;
        let mut positions: Vec<u32> = leaves.iter().map(|(p, _)| *p).collect();
        positions.sort_unstable();
        push(desc, proof.clone(), root, leaves.clone());
        push(
            desc,
            MultiProof {
                positions,
                ..proof.clone()
            },
            root,
            leaves,
        );
    }
    // Wrong tree size, alone and with the positions shifted to the same nodes.
    for (desc, size) in [
        ("size / 2", n / 2),
        ("size * 2", n * 2),
        ("size - 1", n - 1),
        ("size + 1", n + 1),
        ("size 0", 0),
    ] {
        push(
            desc,
            MultiProof {
                leaf_count: size,
                ..proof.clone()
            },
            root,
            good.to_vec(),
        );
        if size > 0
            && good
                .iter()
                .all(|(p, _)| p + n >= size && p + n - size < size)
        {
            let shift = |p: u32| p + n - size;
            push(
                "size and positions shifted to the same nodes",
                MultiProof {
                    leaf_count: size,
                    positions: proof.positions.iter().map(|&p| shift(p)).collect(),
                    ..proof.clone()
                },
                root,
                good.iter().map(|&(p, l)| (shift(p), l)).collect(),
            );
        }
    }
    // Wrong leaf or root.
    let mut leaves = good.to_vec();
    leaves[0].1 = LeafHash::from_bytes(*b"WrongLeafWrongLeafWrongLeafWrong");
    push("wrong leaf", proof.clone(), root, leaves);
    if root.to_bytes() != good[0].1.to_bytes() {
        // (In a one-leaf tree the root is the leaf.)
        let mut leaves = good.to_vec();
        leaves[0].1 = LeafHash::from_bytes(root.to_bytes());
        push("root as leaf", proof.clone(), root, leaves);
    }
    if let Some(other) = all.iter().find(|l| !good.iter().any(|(_, g)| g == *l)) {
        let mut leaves = good.to_vec();
        leaves[0].1 = *other;
        push("another leaf of the tree", proof.clone(), root, leaves);
    }
    push("empty root", proof.clone(), empty_root(), good.to_vec());
    push("zero root", proof.clone(), zero, good.to_vec());
    push(
        "random root",
        proof.clone(),
        MerkleRoot::digest(b"random"),
        good.to_vec(),
    );
    // Leaves missing, extra or swapped.
    push("no leaves", proof.clone(), root, vec![]);
    if good.len() > 1 {
        push("a leaf missing", proof.clone(), root, good[1..].to_vec());
        let mut leaves = good.to_vec();
        let (a, b) = (leaves[0].1, leaves[1].1);
        leaves[0].1 = b;
        leaves[1].1 = a;
        push("two leaves swapped", proof.clone(), root, leaves);
    }
    let mut leaves = good.to_vec();
    leaves.push(good[0]);
    push("a leaf twice", proof.clone(), root, leaves);
    if let Some(extra) = (0..n).find(|p| !good.iter().any(|(q, _)| q == p)) {
        let mut leaves = good.to_vec();
        leaves.push((extra, all[extra as usize]));
        push("an extra true leaf", proof.clone(), root, leaves.clone());
        let mut positions: Vec<u32> = leaves.iter().map(|(p, _)| *p).collect();
        positions.sort_unstable();
        push(
            "an extra true leaf, also in the proof",
            MultiProof {
                positions,
                ..proof.clone()
            },
            root,
            leaves,
        );
    }
    // Garbage around the sibling hashes, or too few of them.
    let s = &proof.siblings;
    push(
        "trailing zero hash",
        with_siblings([s.clone(), vec![zero]].concat()),
        root,
        good.to_vec(),
    );
    push(
        "trailing root",
        with_siblings([s.clone(), vec![root]].concat()),
        root,
        good.to_vec(),
    );
    push(
        "preceding zero hash",
        with_siblings([vec![zero], s.clone()].concat()),
        root,
        good.to_vec(),
    );
    push(
        "preceding root",
        with_siblings([vec![root], s.clone()].concat()),
        root,
        good.to_vec(),
    );
    if let Some(first) = s.first() {
        push(
            "first sibling twice",
            with_siblings([vec![*first], s.clone()].concat()),
            root,
            good.to_vec(),
        );
        push(
            "last sibling dropped",
            with_siblings(s[..s.len() - 1].to_vec()),
            root,
            good.to_vec(),
        );
        push(
            "first sibling dropped",
            with_siblings(s[1..].to_vec()),
            root,
            good.to_vec(),
        );
        push(
            "first sibling replaced by the root",
            with_siblings([vec![root], s[1..].to_vec()].concat()),
            root,
            good.to_vec(),
        );
    }
    if s.len() > 1 {
        let mut swapped = s.clone();
        swapped.swap(0, s.len() - 1);
        push(
            "siblings reordered",
            with_siblings(swapped),
            root,
            good.to_vec(),
        );
    }
    for i in 0..s.len() {
        let mut flipped = s.clone();
        let mut bytes = flipped[i].to_bytes();
        bytes[i % 32] ^= 4;
        flipped[i] = MerkleRoot::from_bytes(bytes);
        push(
            "sibling with a flipped bit",
            with_siblings(flipped),
            root,
            good.to_vec(),
        );
    }
    // Positions in the proof that the leaves do not match.
    let mut reversed = proof.clone();
    reversed.positions.reverse();
    if reversed.positions.len() > 1 {
        push("positions reversed", reversed, root, good.to_vec());
    }
    let mut doubled = proof.clone();
    doubled.positions.push(proof.positions[0]);
    push("a position twice", doubled, root, good.to_vec());
    probes
}

#[test]
fn corrupted_proofs_are_rejected() {
    let mut probes_run = 0;
    for n in 1..=17usize {
        let l = leaves(n);
        let tree = MerkleTree::new(l.clone());
        let root = tree.root();
        let mut sets: Vec<Vec<u32>> = (0..n as u32).map(|p| vec![p]).collect();
        sets.extend((0..n as u32).flat_map(|a| (a + 1..n as u32).map(move |b| vec![a, b])));
        sets.push((0..n as u32).collect());
        for positions in sets {
            let proof = tree.prove(&positions).unwrap();
            let good = given(&l, &positions);
            proof.verify_with_size(&root, n as u32, &good).unwrap();
            for probe in corruptions(&proof, root, &good, &l) {
                probes_run += 1;
                let verdict = probe
                    .proof
                    .verify_with_size(&probe.root, n as u32, &probe.leaves);
                assert!(
                    verdict.is_err(),
                    "accepted a corrupted proof ({}) for positions {positions:?} of {n} leaves",
                    probe.desc
                );
            }
        }
    }
    assert!(probes_run > 10_000, "{probes_run}");
}

#[test]
fn sibling_count_matches_merkle_cbt() {
    for n in 1..=40usize {
        let raw: Vec<Node> = leaves(n).iter().map(|l| l.to_bytes()).collect();
        let tree = CBMT::<Node, Rfc6962>::build_merkle_tree(&raw);
        for a in 0..n as u32 {
            for b in a..n as u32 {
                let positions: Vec<u32> = if a == b { vec![a] } else { vec![a, b] };
                let lemmas = tree.build_proof(&positions).unwrap().lemmas().len();
                assert_eq!(
                    sibling_count(n as u32, &positions),
                    lemmas,
                    "{n} {positions:?}"
                );
            }
        }
    }
}

#[test]
fn proofs_round_trip_through_postcard_and_json() {
    let l = leaves(6);
    let tree = MerkleTree::new(l);
    let proof = tree.prove(&[4, 1]).unwrap();
    let bytes = crate::codec::encode("proof", &proof).unwrap();
    // varint(6), varint(2), 1, 4, varint(siblings), then 32 bytes each.
    assert_eq!(&bytes[..4], &[6, 2, 1, 4]);
    assert_eq!(bytes.len(), 5 + 32 * proof.siblings.len());
    let back: MultiProof = crate::codec::decode("proof", &bytes, 1 << 16).unwrap();
    assert_eq!(back, proof);
    let json = serde_json::to_value(&proof).unwrap();
    assert_eq!(json["leaf_count"], 6);
    assert_eq!(json["positions"], serde_json::json!([1, 4]));
    assert_eq!(json["siblings"][0], proof.siblings[0].to_hex());
    let back: MultiProof = serde_json::from_value(json).unwrap();
    assert_eq!(back, proof);
}

fn tree_and_subset() -> impl Strategy<Value = (usize, Vec<u32>)> {
    (1usize..200).prop_flat_map(|n| {
        let all: Vec<u32> = (0..n as u32).collect();
        (Just(n), proptest::sample::subsequence(all, 1..=n))
    })
}

proptest! {
    #[test]
    fn proofs_verify_and_every_corruption_fails(
        (n, positions) in tree_and_subset(),
        bits in proptest::collection::vec(0usize..256, 8),
        which in any::<prop::sample::Index>(),
        delta in 1u32..4,
    ) {
        let l = leaves(n);
        let tree = MerkleTree::new(l.clone());
        let root = tree.root();
        prop_assert_eq!(root, root_of(&l));
        let proof = tree.prove(&positions).unwrap();
        let good = given(&l, &positions);
        prop_assert_eq!(proof.verify(&root, &good), Ok(()));
        prop_assert_eq!(proof.verify_with_size(&root, n as u32, &good), Ok(()));
        let mut reversed = good.clone();
        reversed.reverse();
        prop_assert_eq!(proof.verify(&root, &reversed), Ok(()));

        let bit = |i: usize| bits[i % bits.len()];
        // The root.
        let bad_root = MerkleRoot::from_bytes(flip(root.to_bytes(), bit(0)));
        prop_assert!(proof.verify(&bad_root, &good).is_err());
        // Each leaf.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i].1 = LeafHash::from_bytes(flip(bad[i].1.to_bytes(), bit(i + 1)));
            prop_assert!(proof.verify(&root, &bad).is_err());
        }
        // Each sibling.
        for i in 0..proof.siblings.len() {
            let mut bad = proof.clone();
            bad.siblings[i] = MerkleRoot::from_bytes(flip(bad.siblings[i].to_bytes(), bit(i + 2)));
            prop_assert!(bad.verify(&root, &good).is_err());
        }
        // Another tree size, with the positions kept.
        for other in [n as u32 + delta, (n as u32).saturating_sub(delta)] {
            if other != n as u32 {
                let mut bad = proof.clone();
                bad.leaf_count = other;
                prop_assert!(bad.verify(&root, &good).is_err());
                prop_assert!(bad.verify_with_size(&root, n as u32, &good).is_err());
            }
        }
        // One leaf moved to a position outside the set, with or without the proof's
        // positions following it.
        let i = which.index(good.len());
        let moved = (good[i].0 + delta) % n as u32;
        if !positions.contains(&moved) {
            let mut bad = good.clone();
            bad[i].0 = moved;
            prop_assert!(proof.verify(&root, &bad).is_err());
            let mut bad_proof = proof.clone();
            bad_proof.positions = sorted_unique(bad.iter().map(|(p, _)| *p)).unwrap();
            prop_assert!(bad_proof.verify(&root, &bad).is_err());
        }
        // A position of the proof changed, the leaves kept.
        let mut bad = proof.clone();
        bad.positions[i] = bad.positions[i].wrapping_add(delta);
        prop_assert!(bad.verify(&root, &good).is_err());
    }
}
