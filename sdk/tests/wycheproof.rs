//! Project Wycheproof's Ed25519 cases (`../shared/data/ed25519/wycheproof_ed25519_test.json`):
//! single and batch verification must decide every case as the file says. And the 12 edge
//! cases of "Taming the many EdDSAs" (`../shared/data/ed25519/speccheck/cases.json`), decided
//! as Tally's rule says (cofactored equation, strict encodings; `tally_sdk::crypto`), alone and
//! in batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use tally_sdk::crypto::{BatchItem, PublicKey, Signature, verify_batch};

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/ed25519/wycheproof_ed25519_test.json"
);

struct Case {
    id: u64,
    key: Option<PublicKey>,
    msg: Vec<u8>,
    sig: Option<Signature>,
    valid: bool,
}

fn cases() -> Vec<Case> {
    let text =
        std::fs::read_to_string(CASES).expect("the shared test data is next to the repository");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let pk = hex::decode(group["publicKey"]["pk"].as_str().unwrap()).unwrap();
        let key = <[u8; 32]>::try_from(pk.as_slice())
            .ok()
            .and_then(|b| PublicKey::from_bytes(&b).ok());
        for test in group["tests"].as_array().unwrap() {
            let sig = hex::decode(test["sig"].as_str().unwrap()).unwrap();
            out.push(Case {
                id: test["tcId"].as_u64().unwrap(),
                key,
                msg: hex::decode(test["msg"].as_str().unwrap()).unwrap(),
                sig: <[u8; 64]>::try_from(sig.as_slice())
                    .ok()
                    .map(|b| Signature::from_bytes(&b)),
                valid: test["result"] == "valid",
            });
        }
    }
    out
}

#[test]
fn every_wycheproof_case_is_decided_as_the_file_says() {
    let cases = cases();
    assert_eq!(cases.len(), 151);
    let mut decided = 0;
    for case in &cases {
        let strict = match (&case.key, &case.sig) {
            (Some(key), Some(sig)) => key.verify_raw(&case.msg, sig).is_ok(),
            _ => false,
        };
        assert_eq!(strict, case.valid, "tcId {}", case.id);
        // A batch of one must agree with strict verification.
        if let (Some(key), Some(sig)) = (&case.key, &case.sig) {
            let batch = verify_batch(&[BatchItem {
                key,
                domain: b"",
                digest: &case.msg,
                signature: sig,
            }]);
            assert_eq!(batch[0].is_ok(), case.valid, "batch, tcId {}", case.id);
        }
        decided += 1;
    }
    assert_eq!(decided, 151);
}

#[test]
fn a_batch_of_all_valid_cases_passes_and_one_bad_case_is_singled_out() {
    let cases = cases();
    let valid: Vec<&Case> = cases.iter().filter(|c| c.valid).collect();
    let items: Vec<BatchItem<'_>> = valid
        .iter()
        .map(|c| BatchItem {
            key: c.key.as_ref().unwrap(),
            domain: b"",
            digest: &c.msg,
            signature: c.sig.as_ref().unwrap(),
        })
        .collect();
    assert!(verify_batch(&items).iter().all(Result::is_ok));
    let invalid: Vec<&Case> = cases
        .iter()
        .filter(|c| !c.valid && c.key.is_some() && c.sig.is_some())
        .collect();
    for bad in invalid {
        let mut mixed = items.clone();
        mixed.push(BatchItem {
            key: bad.key.as_ref().unwrap(),
            domain: b"",
            digest: &bad.msg,
            signature: bad.sig.as_ref().unwrap(),
        });
        let results = verify_batch(&mixed);
        assert!(
            results[..items.len()].iter().all(Result::is_ok),
            "tcId {}",
            bad.id
        );
        assert!(
            results[items.len()].is_err(),
            "tcId {} accepted in a batch",
            bad.id
        );
    }
}

const SPECCHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/ed25519/speccheck/cases.json"
);

/// Tally's verdict on each speccheck case, with the paper's description of the case.
const SPECCHECK_VERDICTS: [(bool, &str); 12] = [
    (false, "small-order A and R: a weak key"),
    (false, "small-order A: a weak key"),
    (false, "small-order R"),
    (true, "mixed-order A and R, both equations hold"),
    (true, "mixed-order R, only the cofactored equation holds"),
    (true, "mixed-order A, only the cofactored equation holds"),
    (false, "S > L, non-canonical"),
    (false, "S >> L, non-canonical"),
    (false, "non-canonical small-order R"),
    (false, "non-canonical R"),
    (false, "non-canonical small-order A: a weak key"),
    (false, "non-canonical small-order A: a weak key"),
];

#[test]
fn the_speccheck_edge_cases_are_decided_by_the_rule_alone_and_in_batches() {
    let text = std::fs::read_to_string(SPECCHECK).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), SPECCHECK_VERDICTS.len());
    let parsed: Vec<(Option<PublicKey>, Vec<u8>, Signature)> = cases
        .iter()
        .map(|case| {
            let key = <[u8; 32]>::try_from(hex::decode(case["pub_key"].as_str().unwrap()).unwrap())
                .unwrap();
            let sig =
                <[u8; 64]>::try_from(hex::decode(case["signature"].as_str().unwrap()).unwrap())
                    .unwrap();
            (
                PublicKey::from_bytes(&key).ok(),
                hex::decode(case["message"].as_str().unwrap()).unwrap(),
                Signature::from_bytes(&sig),
            )
        })
        .collect();
    let mut accepted = Vec::new();
    for (i, ((key, msg, sig), (verdict, what))) in parsed.iter().zip(SPECCHECK_VERDICTS).enumerate()
    {
        let Some(key) = key else {
            assert!(!verdict, "case {i} ({what}): the key is refused");
            continue;
        };
        assert_eq!(
            key.verify_raw(msg, sig).is_ok(),
            verdict,
            "case {i} ({what})"
        );
        let alone = verify_batch(&[BatchItem {
            key,
            domain: b"",
            digest: msg,
            signature: sig,
        }]);
        assert_eq!(
            alone[0].is_ok(),
            verdict,
            "case {i} ({what}) in a batch of one"
        );
        if verdict {
            accepted.push(BatchItem {
                key,
                domain: b"",
                digest: msg,
                signature: sig,
            });
        }
    }
    assert_eq!(accepted.len(), 3);
    assert!(verify_batch(&accepted).iter().all(Result::is_ok));
}
