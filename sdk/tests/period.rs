//! Period bundles with the SDK alone, over the demo's story (one entry a minute): a bundle of
//! the middle of the story verifies and says which chains' ends it proves; leaving out an
//! entry, moving the period under the entries, another consortium's bundle, and a change to
//! any value of the bundle's JSON each fail with what failed named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Chains, changed, leaves, story};
use tally_sdk::audit::period::{ChainSegment, Period, PeriodBundle, PeriodError};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::witness::WitnessEvidence;

const START: u64 = 1_772_900_000_000;
const MINUTE: u64 = 60_000;

/// The story's entries `from..to` (in signing order: the k-th entry signed is at minute k).
fn period(from: u64, to: u64) -> Period {
    Period {
        from: Timestamp(START + from * MINUTE),
        to: Timestamp(START + to * MINUTE),
    }
}

/// The bundle of `period` as a node would put it together from `chains`.
fn bundle(chains: &Chains, period: Period) -> PeriodBundle {
    let evidence: BTreeMap<EntryHash, WitnessEvidence> = chains
        .evidence()
        .into_iter()
        .map(|e| (e.entry.hash().unwrap(), e))
        .collect();
    let segments = chains
        .chains
        .iter()
        .map(|(member, chain)| {
            let before = chain
                .iter()
                .rev()
                .find(|e| e.body.timestamp < period.from)
                .cloned();
            let after = chain
                .iter()
                .find(|e| e.body.timestamp >= period.to)
                .cloned();
            let entries = chain
                .iter()
                .filter(|e| period.contains(e.body.timestamp))
                .map(|e| evidence[&e.hash().unwrap()].clone())
                .collect();
            ChainSegment {
                member: MemberId::new(member.as_str()).unwrap(),
                before,
                entries,
                after,
            }
        })
        .collect();
    let verifier = Verifier::new(&chains.genesis, Timestamp(u64::MAX / 2));
    PeriodBundle::build(
        chains.genesis.network_id(),
        period,
        segments,
        Vec::new(),
        &|e| e.verify(&verifier).unwrap().witnessed,
    )
}

#[test]
fn a_period_bundle_verifies_and_says_what_it_proves() {
    let chains = story();
    // Minutes 3 to 7: the manufacturer's whole chain (entries 0-3) and logistics' receipt.
    let bundle = bundle(&chains, period(3, 8));
    let summary = bundle.verify(&chains.genesis).unwrap();
    assert_eq!(summary, bundle.summary);
    assert_eq!(summary.entries, 5);
    assert_eq!(summary.witnessed, 5);
    let by_member: BTreeMap<&str, _> = summary
        .chains
        .iter()
        .map(|c| (c.member.as_str(), c))
        .collect();
    let manufacturer = by_member["manufacturer"];
    assert_eq!(
        (manufacturer.first_seq, manufacturer.last_seq),
        (Some(0), Some(3))
    );
    assert!(!manufacturer.end_proven);
    let logistics = by_member["logistics"];
    assert_eq!(
        (logistics.first_seq, logistics.last_seq),
        (Some(0), Some(0))
    );
    assert!(logistics.end_proven);
    assert_eq!(by_member["supplier"].entries, 0);
    // Read back from JSON, it verifies the same.
    let text = serde_json::to_string(&bundle).unwrap();
    let read: PeriodBundle = serde_json::from_str(&text).unwrap();
    assert_eq!(read.verify(&chains.genesis).unwrap(), summary);
}

#[test]
fn refusals_name_what_failed() {
    let chains = story();
    let good = bundle(&chains, period(3, 8));
    let index_of = |member: &str| {
        good.chains
            .iter()
            .position(|c| c.member.as_str() == member)
            .unwrap()
    };

    // An entry left out between the first and the last: the links break.
    let mut other = good.clone();
    other.chains[index_of("manufacturer")].entries.remove(1);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Link { .. }), "{error}");

    // The first entries of a chain left out, with no entry before them: the chain must start.
    let mut other = good.clone();
    other.chains[index_of("manufacturer")].entries.remove(0);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Link { .. }), "{error}");

    // The entry after the period left out: it verifies, but the end is no longer proven.
    let mut other = good.clone();
    other.chains[index_of("logistics")].after = None;
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Summary("chains")), "{error}");

    // The period moved so that an entry lies outside it.
    let mut other = good.clone();
    other.period.to = Timestamp(other.period.to.0 - MINUTE);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Misplaced { .. }), "{error}");
    let mut other = good.clone();
    other.period.from = Timestamp(other.period.from.0 - 2 * MINUTE);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Misplaced { .. }), "{error}");

    // Chains out of order.
    let mut other = good.clone();
    other.chains.swap(0, 1);
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Chains { .. }), "{error}");

    // Another consortium's bundle.
    let (mut another, _) = demo_consortium().unwrap();
    another.document.consortium.push('!');
    let mut other = good.clone();
    other.network = another.document.network_id().unwrap();
    let error = other.verify(&chains.genesis).unwrap_err();
    assert!(matches!(error, PeriodError::Network { .. }), "{error}");
}

#[test]
fn a_change_to_any_value_of_a_period_bundle_is_caught() {
    let chains = story();
    let bundle = bundle(&chains, period(2, 9));
    let json = serde_json::to_value(&bundle).unwrap();
    let mut pointers = Vec::new();
    leaves(&json, String::new(), &mut pointers);
    assert!(pointers.len() > 500, "{} leaves", pointers.len());
    for pointer in &pointers {
        let mut tampered = json.clone();
        let leaf = tampered.pointer_mut(pointer).unwrap();
        *leaf = changed(leaf);
        if let Ok(read) = serde_json::from_value::<PeriodBundle>(tampered) {
            assert!(
                read.verify(&chains.genesis).is_err(),
                "a change at {pointer} went unnoticed"
            );
        }
    }
}
