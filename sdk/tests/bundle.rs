//! Evidence bundles end to end with the SDK alone: the demo's story signed into the members'
//! chains, witnessed by checkpoints of the other members, put in a bundle whose report
//! attributes a defect found at delivery to the logistics firm; the bundle verifies against
//! the genesis, and a change to any value in it — every leaf of its JSON, one at a time — makes
//! it fail to parse or fail to verify, with a message naming what failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tally_sdk::bundle::{BundleError, EvidenceBundle};
use tally_sdk::checkpoint::{ChainSpan, Checkpoint};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::fork::ForkProof;
use tally_sdk::genesis::Genesis;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::responsibility::ClaimKind;
use tally_sdk::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witness::{WITNESS_EVIDENCE_FORMAT, WitnessEvidence};

const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

/// The members' chains, signed as the story goes.
struct Chains {
    genesis: Genesis,
    keys: BTreeMap<String, MemberKeys>,
    chains: BTreeMap<String, Vec<SignedEntry>>,
}

impl Chains {
    fn new() -> Self {
        let (signed, keys) = demo_consortium().unwrap();
        Self {
            genesis: signed.verify().unwrap(),
            keys: keys
                .into_iter()
                .map(|k| (k.member.as_str().to_owned(), k))
                .collect(),
            chains: BTreeMap::new(),
        }
    }

    fn record(&mut self, member: &str, event: Value) -> EntryHash {
        let chain = self.chains.entry(member.to_owned()).or_default();
        let prev = chain.last().map(|e| e.hash().unwrap());
        let entry = UnsignedEntry::event(
            self.genesis.network_id(),
            MemberId::new(member).unwrap(),
            chain.len() as u64,
            prev,
            Timestamp(1_772_900_000_000 + chain.len() as u64),
            Vec::new(),
            &event,
            None,
        )
        .unwrap()
        .sign(&self.keys[member].signing)
        .unwrap();
        let hash = entry.hash().unwrap();
        chain.push(entry);
        hash
    }

    /// Every entry with the checkpoints of platform, supplier and regulator over every chain.
    fn evidence(&self) -> Vec<WitnessEvidence> {
        let spans: Vec<ChainSpan> = self
            .chains
            .iter()
            .map(|(member, chain)| {
                let hashes: Vec<EntryHash> = chain.iter().map(|e| e.hash().unwrap()).collect();
                ChainSpan::new(MemberId::new(member).unwrap(), 0, &hashes).unwrap()
            })
            .collect();
        let checkpoints: Vec<Checkpoint> = ["platform", "supplier", "regulator"]
            .into_iter()
            .map(|witness| {
                Checkpoint::sign(
                    self.genesis.network_id(),
                    MemberId::new(witness).unwrap(),
                    0,
                    Timestamp(1_773_000_000_000),
                    spans.clone(),
                    &self.keys[witness].signing,
                )
                .unwrap()
            })
            .collect();
        let mut evidence = Vec::new();
        for chain in self.chains.values() {
            let hashes: Vec<EntryHash> = chain.iter().map(|e| e.hash().unwrap()).collect();
            for entry in chain {
                let author = &entry.body.author;
                let witnesses = checkpoints
                    .iter()
                    .filter(|c| &c.body().witness != author)
                    .map(|c| c.witness(author, entry.body.seq, &hashes).unwrap())
                    .collect();
                evidence.push(WitnessEvidence {
                    format: WITNESS_EVIDENCE_FORMAT,
                    entry: entry.clone(),
                    witnesses,
                });
            }
        }
        evidence
    }
}

fn at(day: u32, hour: u32) -> String {
    format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00")
}

fn sofa_event(day: u32, hour: u32, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": at(day, hour), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// The demo's story, then logistics inspects the sofa on receipt (passed) and at delivery
/// (failed), and delivers it late.
fn story() -> Chains {
    let mut chains = Chains::new();
    let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
    chains.record("platform", sofa_event(1, 9, json!({"tally:kind": "order"})));
    chains.record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": at(2, 10), "eventTimeZoneOffset": "+08:00", "quantityList": lot}),
    );
    let lot_handed = chains.record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "eventTime": at(3, 8), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:handOverTo": "manufacturer"}),
    );
    chains.record(
        "manufacturer",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "eventTime": at(3, 16), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:receiptOf": lot_handed.to_hex()}),
    );
    chains.record(
        "manufacturer",
        json!({"type": "TransformationEvent", "bizStep": "assembling",
            "eventTime": at(4, 14), "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": LOT, "quantity": 9, "uom": "MTR"}],
            "outputEPCList": [SOFA]}),
    );
    chains.record(
        "manufacturer",
        sofa_event(
            5,
            15,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
    );
    let handed = chains.record(
        "manufacturer",
        sofa_event(
            6,
            16,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics"}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            6,
            18,
            json!({"bizStep": "receiving", "tally:receiptOf": handed.to_hex()}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            6,
            19,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            9,
            20,
            json!({"bizStep": "inspecting", "disposition": "non_conformant"}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            10,
            11,
            json!({"bizStep": "arriving", "tally:kind": "delivery",
            "tally:promisedDate": at(9, 18)}),
        ),
    );
    chains
}

fn bundle(chains: &Chains) -> EvidenceBundle {
    let evidence = chains.evidence();
    let verifier = Verifier::new(&chains.genesis, Timestamp(1_773_000_000_000));
    let witnessed: BTreeMap<EntryHash, bool> = evidence
        .iter()
        .map(|e| {
            let status = e.verify(&verifier).unwrap();
            (status.entry, status.witnessed)
        })
        .collect();
    EvidenceBundle::build(
        chains.genesis.network_id(),
        &ProductId::parse(SOFA).unwrap(),
        evidence,
        &|hash| witnessed[hash],
        Vec::new(),
    )
    .unwrap()
}

#[test]
fn a_bundle_verifies_and_attributes_the_defect() {
    let chains = story();
    let bundle = bundle(&chains);
    let verified = bundle.verify(&chains.genesis).unwrap();
    assert_eq!(verified.report, bundle.report);
    assert_eq!(verified.entries, 11);
    // Platform, supplier and regulator witness; the quorum (3 of the others) is reached for
    // the manufacturer's and logistics' entries, not for the platform's and supplier's own.
    assert_eq!(verified.witnessed, 11 - 3);
    let report = &verified.report;
    let defect = report
        .claims
        .iter()
        .find(|c| c.kind == ClaimKind::Defect)
        .unwrap();
    assert_eq!(defect.responsible.as_str(), "logistics");
    let late = report
        .claims
        .iter()
        .find(|c| c.kind == ClaimKind::Lateness)
        .unwrap();
    assert_eq!(late.responsible.as_str(), "logistics");
    assert!(report.undetermined.is_empty());
    // The same bundle read back from JSON verifies too.
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let read: EvidenceBundle = serde_json::from_str(&text).unwrap();
    assert_eq!(read, bundle);
    read.verify(&chains.genesis).unwrap();
}

/// Every leaf of a JSON value, as a JSON pointer.
fn leaves(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(
                    v,
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{pointer}/{i}"), out);
            }
        }
        _ => out.push(pointer),
    }
}

fn changed(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            // Change one character, keeping hex hex and times times where that is possible.
            let mut chars: Vec<char> = s.chars().collect();
            match chars.iter().rposition(|c| c.is_ascii_alphanumeric()) {
                Some(i) => {
                    chars[i] = match chars[i] {
                        '0' => '1',
                        '9' => '8',
                        'a' => 'b',
                        'f' => 'e',
                        'z' => 'y',
                        'Z' => 'Y',
                        c if c.is_ascii_digit() => char::from(c as u8 + 1),
                        c => char::from(c as u8 ^ 1),
                    };
                    Value::String(chars.into_iter().collect())
                }
                None => Value::String(format!("{s}x")),
            }
        }
        Value::Number(n) => match n.as_u64() {
            Some(0) => json!(1),
            Some(u) => json!(u - 1),
            None => json!(n.as_f64().unwrap() + 1.0),
        },
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => json!(0),
        other => other.clone(),
    }
}

#[test]
fn a_change_to_any_value_of_a_bundle_is_caught() {
    let chains = story();
    let bundle = bundle(&chains);
    let json = serde_json::to_value(&bundle).unwrap();
    let mut pointers = Vec::new();
    leaves(&json, String::new(), &mut pointers);
    assert!(pointers.len() > 500, "{} leaves", pointers.len());
    let mut failed_by: BTreeMap<String, usize> = BTreeMap::new();
    for pointer in &pointers {
        let mut tampered = json.clone();
        let leaf = tampered.pointer_mut(pointer).unwrap();
        *leaf = changed(leaf);
        let outcome = match serde_json::from_value::<EvidenceBundle>(tampered) {
            Err(e) => format!("unreadable: {e}"),
            Ok(read) => match read.verify(&chains.genesis) {
                Ok(_) => panic!("a change at {pointer} went unnoticed"),
                Err(e) => e.to_string(),
            },
        };
        let class = outcome.split(':').next().unwrap().to_owned();
        *failed_by.entry(class).or_default() += 1;
    }
    // The failures name what failed: the parts of the bundle all show up.
    let classes: Vec<&String> = failed_by.keys().collect();
    assert!(
        classes.iter().any(|c| c.starts_with("entry #")),
        "{failed_by:?}"
    );
    assert!(
        classes
            .iter()
            .any(|c| c.starts_with("the report does not follow")),
        "{failed_by:?}"
    );
}

#[test]
fn refusals_name_what_failed() {
    let chains = story();
    let good = bundle(&chains);

    let mut other = good.clone();
    other.format = 2;
    assert!(matches!(
        other.verify(&chains.genesis),
        Err(BundleError::Format(2))
    ));

    let (mut another, _) = demo_consortium().unwrap();
    another.document.consortium.push('!');
    let mut other = good.clone();
    other.network = another.document.network_id().unwrap();
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, BundleError::Network { .. }), "{error}");

    // A whole entry removed: the report no longer follows.
    let mut other = good.clone();
    let removed = other
        .entries
        .iter()
        .position(|e| e.entry.body.author.as_str() == "logistics")
        .unwrap();
    other.entries.remove(removed);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, BundleError::Report { .. }), "{error}");

    // An entry twice.
    let mut other = good.clone();
    other.entries.push(other.entries[0].clone());
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, BundleError::Duplicate(_)), "{error}");

    // Another product.
    let mut other = good.clone();
    other.product = LOT.to_owned();
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(
        matches!(error, BundleError::Report { field: "product" }),
        "{error}"
    );

    // A fork proof that proves nothing.
    let mut other = good.clone();
    let entry = other.entries[0].entry.clone();
    other.forks.push(ForkProof {
        first: entry.clone(),
        second: entry,
    });
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(
        matches!(error, BundleError::Fork { index: 0, .. }),
        "{error}"
    );
}
