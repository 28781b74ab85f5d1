//! Unit tests of `disclosure`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn field(name: &str) -> FieldName {
    FieldName::new(name).unwrap()
}

fn value(v: serde_json::Value) -> CanonicalJson {
    CanonicalJson::from_value(&v).unwrap()
}

fn sample() -> BTreeMap<FieldName, CanonicalJson> {
    [
        ("consumer.name", json!("Li Wei")),
        ("consumer.address", json!("88 Example Road")),
        ("order.spec", json!({"fabric": "linen"})),
    ]
    .into_iter()
    .map(|(n, v)| (field(n), value(v)))
    .collect()
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The leaf from the documented definition, without the crate's codec or hash types.
fn leaf_by_hand(salt: [u8; 16], name: &str, json: &str) -> [u8; 32] {
    assert!(
        name.len() < 128 && json.len() < 128,
        "one-byte varints only"
    );
    let mut data = salt.to_vec();
    data.push(name.len() as u8);
    data.extend_from_slice(name.as_bytes());
    data.push(json.len() as u8);
    data.extend_from_slice(json.as_bytes());
    let inner = sha(&[b"tally/v1/disclosure-leaf\0", &data]);
    sha(&[&[0x00], &inner])
}

#[test]
fn pinned_leaf_vector() {
    const PINNED: &str = "a7368bac3dd5254dab1bb00c145e3400df5954e07c075fee6110756b69ab523c";
    let by_hand = leaf_by_hand([0x11; 16], "consumer.address", "\"1 Example Road\"");
    assert_eq!(hex::encode(by_hand), PINNED);
    let f = OpenedField {
        name: field("consumer.address"),
        value: value(json!("1 Example Road")),
        salt: Salt::from_bytes([0x11; 16]),
    };
    assert_eq!(f.leaf().unwrap().to_hex(), PINNED);
}

#[test]
fn pinned_commitment_vector() {
    // The private root of the entry in docs/test-vectors.json: two leaves, so the root is
    // H(0x01 || leaf0 || leaf1).
    const PINNED: &str = "0f460b48ecb84c003df880ab5dd4ae8e2deb6deffe807e286c1bc9435ad80fe5";
    let spec = r#"{"colour":"red","size":42}"#;
    let leaf0 = leaf_by_hand([0x11; 16], "consumer.address", "\"1 Example Road\"");
    let leaf1 = leaf_by_hand([0x22; 16], "order.spec", spec);
    assert_eq!(hex::encode(sha(&[&[0x01], &leaf0, &leaf1])), PINNED);

    let fields = BTreeMap::from([
        (
            field("order.spec"),
            value(json!({"size": 42, "colour": "red"})),
        ),
        (field("consumer.address"), value(json!("1 Example Road"))),
    ]);
    let salts = vec![Salt::from_bytes([0x11; 16]), Salt::from_bytes([0x22; 16])];
    let (commitment, opened) = commit_with_salts(fields, salts).unwrap();
    assert_eq!(commitment.root.to_hex(), PINNED);
    assert_eq!(
        commitment.fields,
        vec![field("consumer.address"), field("order.spec")]
    );
    assert_eq!(opened[1].value.as_str(), spec);
    verify_complete(&commitment, &opened).unwrap();
}

#[test]
fn commit_sorts_fields_and_draws_fresh_salts() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    commitment.check().unwrap();
    assert_eq!(
        commitment.fields,
        vec![
            field("consumer.address"),
            field("consumer.name"),
            field("order.spec")
        ]
    );
    let names: Vec<FieldName> = opened.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, commitment.fields);
    verify_complete(&commitment, &opened).unwrap();

    let (again, opened_again) = commit(sample(), &CommitLimits::default()).unwrap();
    let mut salts: Vec<Salt> = opened.iter().map(|f| f.salt).collect();
    salts.extend(opened_again.iter().map(|f| f.salt));
    let distinct: BTreeSet<[u8; SALT_LEN]> = salts.iter().map(|s| s.to_bytes()).collect();
    assert_eq!(
        distinct.len(),
        6,
        "salts repeat within or between commitments"
    );
    assert_ne!(again.root, commitment.root);
    assert_eq!(again.fields, commitment.fields);
}

#[test]
fn commit_with_salts_is_deterministic() {
    let salts = || (1..=3).map(|i| Salt::from_bytes([i; 16])).collect();
    let a = commit_with_salts(sample(), salts()).unwrap();
    let b = commit_with_salts(sample(), salts()).unwrap();
    assert_eq!(a, b);
    assert!(matches!(
        commit_with_salts(sample(), vec![Salt::from_bytes([1; 16])]),
        Err(DisclosureError::SaltCount {
            fields: 3,
            salts: 1
        })
    ));
    assert!(matches!(
        commit_with_salts(BTreeMap::new(), vec![]),
        Err(DisclosureError::Empty)
    ));
}

#[test]
fn limits_are_enforced() {
    assert_eq!(
        CommitLimits::default(),
        CommitLimits {
            max_fields: 32,
            max_value_bytes: 4096
        }
    );
    let limits = CommitLimits {
        max_fields: 2,
        max_value_bytes: 10,
    };
    assert!(matches!(
        commit(sample(), &limits),
        Err(DisclosureError::TooManyFields { count: 3, limit: 2 })
    ));
    let mut one = BTreeMap::new();
    one.insert(field("a.b"), value(json!("a value longer than ten bytes")));
    let err = commit(one, &limits).unwrap_err();
    assert!(matches!(
        err,
        DisclosureError::ValueTooLarge { size: 31, .. }
    ));
    assert!(err.to_string().contains("private field a.b"), "{err}");
    assert!(matches!(
        commit(BTreeMap::new(), &limits),
        Err(DisclosureError::Empty)
    ));
    // Exactly at the limits is allowed: "12345678" is 10 bytes of JSON.
    let at_limit = BTreeMap::from([
        (field("a"), value(json!("12345678"))),
        (field("b"), value(json!(1))),
    ]);
    commit(at_limit, &limits).unwrap();
}

#[test]
fn disclose_and_verify_subsets() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    let all = commitment.fields.clone();
    for names in [
        vec![field("consumer.address")],
        vec![field("order.spec"), field("consumer.address")],
        all.clone(),
    ] {
        let d = disclose(&commitment, &opened, &names).unwrap();
        d.verify(&commitment).unwrap();
        // Fields come out in name order, whatever order they were asked for.
        let got: Vec<FieldName> = d.fields.iter().map(|f| f.name.clone()).collect();
        let mut want = names.clone();
        want.sort();
        assert_eq!(got, want);
        // Any order of the disclosed fields verifies.
        let mut reversed = d.clone();
        reversed.fields.reverse();
        reversed.verify(&commitment).unwrap();
    }
    // The opened fields may be held in any order.
    let mut shuffled = opened.clone();
    shuffled.reverse();
    disclose(&commitment, &shuffled, &[field("consumer.name")])
        .unwrap()
        .verify(&commitment)
        .unwrap();
}

#[test]
fn a_single_field_is_checked_with_its_inclusion_proof() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    let d = disclose(&commitment, &opened, &[field("consumer.name")]).unwrap();
    assert_eq!(d.proof.positions, vec![1]);
    verify_opened(&commitment, &d.fields, &d.proof).unwrap();
    let mut altered = d.fields[0].clone();
    altered.value = value(json!("Li Wei "));
    let err = verify_opened(&commitment, &[altered], &d.proof).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the value of field consumer.name does not match the signed commitment (its value, \
         salt or proof was altered, or it was disclosed from another entry)"
    );
}

#[test]
fn disclose_refuses_bad_requests_and_mismatched_opened_fields() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    let address = field("consumer.address");
    assert!(matches!(
        disclose(&commitment, &opened, &[]),
        Err(DisclosureError::Empty)
    ));
    assert!(matches!(
        disclose(&commitment, &opened, &[field("order.price")]),
        Err(DisclosureError::UnknownField(f)) if f.as_str() == "order.price"
    ));
    assert!(matches!(
        disclose(&commitment, &opened, &[field("order.spec"), field("order.spec")]),
        Err(DisclosureError::DuplicateField(f)) if f.as_str() == "order.spec"
    ));
    // A field the commitment names is missing from the opened fields.
    assert!(matches!(
        disclose(&commitment, &opened[1..], &[field("order.spec")]),
        Err(DisclosureError::NotOpened(f)) if f == address
    ));
    // An opened field the commitment does not name, or one held twice.
    let mut extra = opened.clone();
    extra.push(OpenedField {
        name: field("order.price"),
        ..opened[0].clone()
    });
    assert!(matches!(
        disclose(&commitment, &extra, &[field("order.spec")]),
        Err(DisclosureError::UnknownField(_))
    ));
    let mut twice = opened.clone();
    twice.push(opened[2].clone());
    assert!(matches!(
        disclose(&commitment, &twice, &[field("order.spec")]),
        Err(DisclosureError::DuplicateField(_))
    ));
    // A value that is not the committed one, even in a field not disclosed.
    let mut wrong = opened.clone();
    wrong[0].value = value(json!("1 Other Road"));
    assert!(matches!(
        disclose(&commitment, &wrong, &[field("order.spec")]),
        Err(DisclosureError::OpenedMismatch)
    ));
    assert!(matches!(
        verify_complete(&commitment, &wrong),
        Err(DisclosureError::OpenedMismatch)
    ));
    // Another entry's opened fields.
    let (_, others) = commit(sample(), &CommitLimits::default()).unwrap();
    assert!(matches!(
        disclose(&commitment, &others, &[address]),
        Err(DisclosureError::OpenedMismatch)
    ));
}

#[test]
fn verification_failures_name_the_fault() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    let d = disclose(
        &commitment,
        &opened,
        &[field("consumer.address"), field("order.spec")],
    )
    .unwrap();

    let mut bad = d.clone();
    bad.fields[1].value = value(json!({"fabric": "silk"}));
    let err = bad.verify(&commitment).unwrap_err();
    assert!(
        matches!(&err, DisclosureError::FieldsMismatch(f) if f.len() == 2),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the values of fields consumer.address, order.spec do not all match"),
        "{err}"
    );

    let mut bad = d.clone();
    bad.fields.clear();
    assert!(matches!(
        bad.verify(&commitment),
        Err(DisclosureError::Empty)
    ));

    let mut bad = d.clone();
    bad.fields[1].name = field("order.price");
    assert!(matches!(
        bad.verify(&commitment),
        Err(DisclosureError::UnknownField(_))
    ));

    let mut bad = d.clone();
    bad.fields.push(d.fields[0].clone());
    assert!(matches!(
        bad.verify(&commitment),
        Err(DisclosureError::DuplicateField(_))
    ));

    // Renamed to another committed field: the proof is for other fields.
    let mut bad = d.clone();
    bad.fields[1].name = field("consumer.name");
    let err = bad.verify(&commitment).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the proof is for fields consumer.address, order.spec but fields consumer.address, \
         consumer.name were disclosed"
    );

    // A field dropped from the disclosure.
    let mut bad = d.clone();
    bad.fields.pop();
    assert!(matches!(
        bad.verify(&commitment),
        Err(DisclosureError::ProofForOtherFields { .. })
    ));

    // A proof for another tree size.
    let mut bad = d.clone();
    bad.proof.leaf_count = 4;
    assert!(matches!(
        bad.verify(&commitment),
        Err(DisclosureError::Proof(MerkleError::SizeMismatch {
            proof: 4,
            tree: 3
        }))
    ));

    // Malformed commitments.
    let mut unsorted = commitment.clone();
    unsorted.fields.swap(0, 1);
    assert!(matches!(
        d.verify(&unsorted),
        Err(DisclosureError::UnsortedCommitment(_))
    ));
    let mut repeated = commitment.clone();
    repeated.fields[1] = repeated.fields[0].clone();
    assert!(matches!(
        d.verify(&repeated),
        Err(DisclosureError::UnsortedCommitment(_))
    ));
    let empty = PrivateCommitment {
        root: commitment.root,
        fields: vec![],
    };
    assert!(matches!(
        d.verify(&empty),
        Err(DisclosureError::EmptyCommitment)
    ));

    // Another entry's commitment to the same values (fresh salts).
    let (other, _) = commit(sample(), &CommitLimits::default()).unwrap();
    assert!(matches!(
        d.verify(&other),
        Err(DisclosureError::FieldsMismatch(_))
    ));
}

#[test]
fn salts_and_values_stay_out_of_debug_output() {
    let (_, opened) = commit_with_salts(
        BTreeMap::from([(field("consumer.address"), value(json!("88 Example Road")))]),
        vec![Salt::from_bytes([0xab; 16])],
    )
    .unwrap();
    let shown = format!("{opened:?}");
    assert!(shown.contains("consumer.address"), "{shown}");
    assert!(!shown.contains("Example"), "{shown}");
    assert!(!shown.contains("ab"), "{shown}");
}

#[test]
fn salts_are_hex_in_json_and_raw_in_binary() {
    let salt = Salt::from_bytes([0x5a; 16]);
    let json = serde_json::to_string(&salt).unwrap();
    assert_eq!(json, format!("\"{}\"", "5a".repeat(16)));
    assert_eq!(serde_json::from_str::<Salt>(&json).unwrap(), salt);
    assert_eq!(codec::encode("salt", &salt).unwrap(), vec![0x5a; 16]);
    assert_eq!(
        codec::decode::<Salt>("salt", &[0x5a; 16], 16).unwrap(),
        salt
    );
    let err = serde_json::from_str::<Salt>("\"abcd\"").unwrap_err();
    assert!(err.to_string().contains("32 hexadecimal digits"), "{err}");
    let err = serde_json::from_str::<Salt>(&format!("\"{}\"", "zz".repeat(16))).unwrap_err();
    assert!(err.to_string().contains("only hexadecimal"), "{err}");
    assert_ne!(Salt::random().unwrap(), Salt::random().unwrap());
}

#[test]
fn commitments_and_disclosures_round_trip() {
    let (commitment, opened) = commit(sample(), &CommitLimits::default()).unwrap();
    let bytes = codec::encode("commitment", &commitment).unwrap();
    // 32 root bytes, then the names as a length-prefixed list of strings.
    assert_eq!(&bytes[..32], commitment.root.as_bytes());
    assert_eq!(bytes[32], 3);
    assert_eq!(
        codec::decode::<PrivateCommitment>("commitment", &bytes, 1 << 10).unwrap(),
        commitment
    );
    let d = disclose(&commitment, &opened, &[field("order.spec")]).unwrap();
    let bytes = codec::encode("disclosure", &d).unwrap();
    let back: Disclosure = codec::decode("disclosure", &bytes, 1 << 16).unwrap();
    assert_eq!(back, d);
    back.verify(&commitment).unwrap();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["fields"][0]["name"], "order.spec");
    assert_eq!(json["fields"][0]["value"], json!({"fabric": "linen"}));
    assert_eq!(
        json["fields"][0]["salt"],
        hex::encode(d.fields[0].salt.to_bytes())
    );
    let back: Disclosure = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        ".{0,40}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ("[a-z]{1,6}", ".{0,12}").prop_map(|(k, v)| json!({ k: v })),
    ]
}

fn field_map() -> impl Strategy<Value = BTreeMap<FieldName, CanonicalJson>> {
    proptest::collection::btree_map(
        "[a-z0-9][a-z0-9._-]{0,15}".prop_map(|n| field(&n)),
        json_value().prop_map(value),
        1..=DEFAULT_MAX_FIELDS,
    )
}

proptest! {
    #[test]
    fn any_subset_discloses_and_any_change_fails(
        fields in field_map(),
        pick in proptest::collection::vec(any::<bool>(), DEFAULT_MAX_FIELDS),
        which in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let (commitment, opened) = commit(fields.clone(), &CommitLimits::default()).unwrap();
        let mut names: Vec<FieldName> = commitment
            .fields
            .iter()
            .zip(&pick)
            .filter(|(_, p)| **p)
            .map(|(n, _)| n.clone())
            .collect();
        if names.is_empty() {
            names.push(commitment.fields[which.index(commitment.fields.len())].clone());
        }
        let d = disclose(&commitment, &opened, &names).unwrap();
        prop_assert!(d.verify(&commitment).is_ok());
        let i = which.index(d.fields.len());

        // Any bit of any byte of a salt.
        let mut bad = d.clone();
        let mut salt = bad.fields[i].salt.to_bytes();
        salt[byte.index(SALT_LEN)] ^= 1 << bit;
        bad.fields[i].salt = Salt::from_bytes(salt);
        prop_assert!(bad.verify(&commitment).is_err());

        // Any bit of any byte of a value, whenever the result is still JSON and a
        // different value; and a value that surely differs.
        let mut text = d.fields[i].value.as_bytes().to_vec();
        let at = byte.index(text.len());
        text[at] ^= 1 << bit;
        if let Ok(changed) = CanonicalJson::from_slice(&text, 1 << 16)
            && changed != d.fields[i].value {
                let mut bad = d.clone();
                bad.fields[i].value = changed;
                prop_assert!(bad.verify(&commitment).is_err());
            }
        let mut bad = d.clone();
        bad.fields[i].value = value(json!([d.fields[i].value.to_value().unwrap()]));
        prop_assert!(bad.verify(&commitment).is_err());

        // Renamed, to another committed field or to one the commitment does not name.
        if let Some(other) = commitment.fields.iter().find(|f| !names.contains(f)) {
            let mut bad = d.clone();
            bad.fields[i].name = other.clone();
            prop_assert!(bad.verify(&commitment).is_err());
        }
        let mut bad = d.clone();
        bad.fields[i].name = field(&format!("{}.x", d.fields[i].name));
        prop_assert!(bad.verify(&commitment).is_err());

        // Any bit of the proof's encoding (whenever it still decodes to another proof).
        let mut bytes = codec::encode("proof", &d.proof).unwrap();
        let at = byte.index(bytes.len());
        bytes[at] ^= 1 << bit;
        if let Ok(proof) = codec::decode::<MultiProof>("proof", &bytes, 1 << 16)
            && proof != d.proof {
                let bad = Disclosure { proof, ..d.clone() };
                prop_assert!(bad.verify(&commitment).is_err(), "byte {} bit {}", at, bit);
            }
        // Any bit of a sibling hash, specifically.
        if !d.proof.siblings.is_empty() {
            let mut bad = d.clone();
            let s = which.index(bad.proof.siblings.len());
            let mut hash = bad.proof.siblings[s].to_bytes();
            hash[byte.index(32)] ^= 1 << bit;
            bad.proof.siblings[s] = MerkleRoot::from_bytes(hash);
            prop_assert!(bad.verify(&commitment).is_err());
        }

        // Another entry's commitment: the same values with fresh salts, and the same
        // salts with one value changed.
        let (fresh, _) = commit(fields.clone(), &CommitLimits::default()).unwrap();
        prop_assert!(d.verify(&fresh).is_err());
        let mut changed = fields;
        let first = changed.keys().next().cloned().unwrap();
        changed.insert(first, value(json!("another value")));
        let salts = opened.iter().map(|f| f.salt).collect();
        let (neighbour, _) = commit_with_salts(changed.clone(), salts).unwrap();
        if neighbour.root != commitment.root {
            let d_for_first = disclose(&commitment, &opened, &[commitment.fields[0].clone()]).unwrap();
            prop_assert!(d_for_first.verify(&neighbour).is_err());
        }
    }
}
