//! Evidence bundles end to end with the SDK alone: the demo's story signed into the members'
//! chains, witnessed by checkpoints of the other members, put in a bundle whose report
//! attributes a defect found at delivery to the logistics firm; the bundle verifies against
//! the genesis, and a change to any value in it — every leaf of its JSON, one at a time — makes
//! it fail to parse or fail to verify, with a message naming what failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Chains, LOT, SOFA, changed, leaves, story};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::reports::bundle::{BundleError, EvidenceBundle};
use tally_sdk::reports::responsibility::ClaimKind;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::fork::ForkProof;
use tally_sdk::witnessing::witness::WitnessEvidence;

fn bundle(chains: &Chains) -> EvidenceBundle {
    bundle_as_of(chains, Timestamp(1_773_000_000_000))
}

fn bundle_as_of(chains: &Chains, as_of: Timestamp) -> EvidenceBundle {
    built(chains, chains.evidence(), as_of)
        .attested(chains.attestations(Timestamp(1_773_000_000_000)))
}

/// A bundle of the sofa built from `evidence`, as a node builds one (without attestations).
fn built(chains: &Chains, evidence: Vec<WitnessEvidence>, as_of: Timestamp) -> EvidenceBundle {
    let verifier = Verifier::new(&chains.genesis, Timestamp(1_773_000_000_000));
    let witnessed: BTreeMap<EntryHash, bool> = evidence
        .iter()
        .map(|e| {
            let status = e.verify(&verifier).unwrap();
            (status.entry, status.witnessed)
        })
        .collect();
    EvidenceBundle::build(
        &chains.genesis,
        &ProductId::parse(SOFA).unwrap(),
        evidence,
        &|hash| witnessed[hash],
        Vec::new(),
        as_of,
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
    assert!(
        verified.completeness.is_complete(),
        "{:?}",
        verified.completeness
    );
    // The same bundle read back from JSON verifies too.
    let text = serde_json::to_string_pretty(&bundle).unwrap();
    let read: EvidenceBundle = serde_json::from_str(&text).unwrap();
    assert_eq!(read, bundle);
    read.verify(&chains.genesis).unwrap();
}

#[test]
fn an_entry_left_out_is_caught_even_with_the_report_recomputed() {
    // The attack: the node building the bundle drops the failing delivery inspection that
    // blames the logistics firm, and recomputes the report from what is left. Every
    // signature, witness proof and the report hold; the attestations do not.
    let chains = story();
    let honest = bundle(&chains);
    let failing = honest
        .entries
        .iter()
        .position(|e| {
            let text = serde_json::to_string(&e.entry.body.payload).unwrap();
            text.contains("non_conformant") || text.contains("NON_CONFORMANT")
        })
        .expect("the story's failed inspection");
    let dropped = honest.entries[failing].entry.hash().unwrap();
    let mut evidence = chains.evidence();
    evidence.retain(|e| e.entry.hash().unwrap() != dropped);
    let recomputed = built(&chains, evidence, Timestamp(1_773_000_000_000));
    assert!(
        !recomputed
            .report
            .claims
            .iter()
            .any(|c| c.kind == ClaimKind::Defect),
        "without the inspection nobody is blamed for a defect"
    );
    let forged = recomputed.attested(chains.attestations(Timestamp(1_773_000_000_000)));
    let err = forged.verify(&chains.genesis).unwrap_err().to_string();
    assert!(
        err.contains(&format!("entry {dropped}")) && err.contains("was left out of the bundle"),
        "{err}"
    );
    // Without the attestations that name it, the bundle verifies but is shown incomplete,
    // chain by chain.
    let unattested = EvidenceBundle {
        attestations: Vec::new(),
        ..forged
    };
    let verified = unattested.verify(&chains.genesis).unwrap();
    assert!(!verified.completeness.is_complete());
    assert_eq!(
        verified.completeness.gaps().count(),
        chains.genesis.all_members().len()
    );
}

#[test]
fn a_bundle_is_never_judged_before_its_latest_entry() {
    // A node whose clock is behind the latest entry's timestamp (within the allowed skew)
    // still writes a bundle that verifies; one dated before its entries is refused.
    let chains = story();
    let bundle = bundle_as_of(&chains, Timestamp(0));
    let latest = bundle
        .entries
        .iter()
        .map(|e| e.entry.body.timestamp)
        .max()
        .unwrap();
    assert_eq!(bundle.report.as_of, latest);
    bundle.verify(&chains.genesis).unwrap();
    let mut early = bundle.clone();
    early.report.as_of = Timestamp(latest.0 - 1);
    assert!(matches!(
        early.verify(&chains.genesis),
        Err(BundleError::AsOf { .. })
    ));
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
    other.format = 1;
    assert!(matches!(
        other.verify(&chains.genesis),
        Err(BundleError::Format(1))
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
