//! The whole-ledger audit with the SDK alone, over the demo's story: an honest ledger verifies
//! with the defect and the late delivery on the logistics firm's scorecard; every kind of
//! tampering — a changed byte, a dropped, repeated or reordered entry, a history the author
//! rewrote and re-signed after the witnesses' checkpoints, a source that hides entries below
//! the head it states, a bogus fork proof — fails the audit with what failed named; a second
//! hand-over, a fork and an entry signed against the rules are findings on the culprit's
//! scorecard, not failures; a "rejected entry" that is not its author's doing fails, and one
//! that breaks no rule is dismissed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Chains, SOFA, sofa_event, story};
use serde_json::json;
use tally_sdk::audit::rejection::RejectedEntry;
use tally_sdk::audit::scorecard::{FindingKind, Scorecard};
use tally_sdk::audit::{AuditSummary, LedgerSource, Progress, audit};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use tally_sdk::witnessing::fork::ForkProof;

/// A ledger held in memory, served in pages of three.
#[derive(Clone)]
struct Held {
    chains: BTreeMap<String, Vec<SignedEntry>>,
    /// Heads to state instead of the chains' own (a source hiding entries).
    heads: Option<Vec<(MemberId, u64)>>,
    checkpoints: Vec<Checkpoint>,
    forks: Vec<ForkProof>,
    rejected: Vec<RejectedEntry>,
}

impl Held {
    fn of(chains: &Chains) -> Self {
        Self {
            chains: chains.chains.clone(),
            heads: None,
            checkpoints: chains.checkpoints(),
            forks: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

const PAGE: usize = 3;

impl LedgerSource for Held {
    type Error = std::convert::Infallible;

    fn heads(&mut self) -> Result<Vec<(MemberId, u64)>, Self::Error> {
        Ok(self.heads.clone().unwrap_or_else(|| {
            self.chains
                .iter()
                .map(|(m, c)| (MemberId::new(m.as_str()).unwrap(), c.len() as u64 - 1))
                .collect()
        }))
    }

    fn checkpoints(
        &mut self,
        witness: &MemberId,
        from: u64,
    ) -> Result<Vec<Checkpoint>, Self::Error> {
        Ok(self
            .checkpoints
            .iter()
            .filter(|c| &c.body().witness == witness && c.body().number >= from)
            .take(PAGE)
            .cloned()
            .collect())
    }

    fn chain(&mut self, author: &MemberId, from: u64) -> Result<Vec<SignedEntry>, Self::Error> {
        let chain = self
            .chains
            .get(author.as_str())
            .cloned()
            .unwrap_or_default();
        Ok(chain
            .into_iter()
            .skip(usize::try_from(from).unwrap())
            .take(PAGE)
            .collect())
    }

    fn forks(&mut self) -> Result<Vec<ForkProof>, Self::Error> {
        Ok(self.forks.clone())
    }

    fn rejected(&mut self) -> Result<Vec<RejectedEntry>, Self::Error> {
        Ok(self.rejected.clone())
    }
}

fn run(chains: &Chains, held: &mut Held) -> AuditSummary {
    let mut seen = Vec::new();
    let summary = audit(
        held,
        &chains.genesis,
        Timestamp(1_773_000_000_000),
        &mut |p: Progress| seen.push(p),
    )
    .unwrap();
    // Progress only grows, and ends at what was read.
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    if let Some(last) = seen.last() {
        assert_eq!(last.done, summary.entries);
    }
    summary
}

fn card<'a>(summary: &'a AuditSummary, member: &str) -> &'a Scorecard {
    summary
        .scorecards
        .iter()
        .find(|c| c.member.as_str() == member)
        .unwrap()
}

fn failures(summary: &AuditSummary) -> String {
    summary
        .failures_listed
        .iter()
        .map(|f| format!("{}: {}", f.what, f.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_honest_ledger_verifies_with_its_findings_on_the_scorecards() {
    let chains = story();
    let summary = run(&chains, &mut Held::of(&chains));
    assert!(summary.verified(), "{}", failures(&summary));
    assert_eq!(summary.chains.len(), 4);
    assert_eq!(summary.entries, 11);
    // Platform, supplier and regulator witness: the quorum (3 others) holds for the
    // manufacturer's and logistics' entries, not for the platform's and supplier's own.
    assert_eq!(summary.witnessed, 8);
    assert_eq!(summary.checkpoints, 3);
    assert_eq!(summary.spans_checked, 12);
    assert_eq!(summary.spans_beyond, 0);
    assert_eq!(summary.products, 2);
    assert_eq!((summary.forks, summary.violations), (0, 0));
    assert!(!summary.has_findings());
    let logistics = card(&summary, "logistics");
    assert_eq!(logistics.non_conformant_inspections, 1);
    assert_eq!(logistics.late_deliveries, 1);
    assert_eq!(logistics.findings.len(), 2);
    assert!(
        logistics
            .findings
            .iter()
            .all(|f| f.product.as_deref() == Some(SOFA) && !f.entries.is_empty())
    );
    for member in ["platform", "supplier", "manufacturer", "regulator"] {
        assert!(card(&summary, member).is_clean(), "{member}");
    }
    // Every member of the genesis has a scorecard, even one with no chain.
    assert_eq!(summary.scorecards.len(), chains.genesis.all_members().len());
}

#[test]
fn a_second_hand_over_is_a_violation_on_the_culprits_scorecard() {
    let mut chains = story();
    // The manufacturer handed the sofa to logistics already, and hands it over again.
    chains.record(
        "manufacturer",
        sofa_event(
            11,
            9,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics"}),
        ),
    );
    let summary = run(&chains, &mut Held::of(&chains));
    assert!(summary.verified(), "{}", failures(&summary));
    assert_eq!(summary.violations, 1);
    assert!(summary.has_findings());
    let manufacturer = card(&summary, "manufacturer");
    assert_eq!(manufacturer.rule_violations, 1);
    assert_eq!(manufacturer.findings[0].kind, FindingKind::RuleViolation);
    assert!(
        manufacturer.findings[0]
            .statement
            .starts_with("hand_over_without_custody"),
        "{}",
        manufacturer.findings[0].statement
    );
    assert_eq!(summary.entries, 12);
    assert_eq!(summary.witnessed, 9);
}

/// Re-signs `entries` from `from` on as `member`'s chain, each linked to the one before.
fn resign(chains: &Chains, member: &str, entries: &mut [SignedEntry], from: usize) {
    for i in from..entries.len() {
        let prev = (i > 0).then(|| entries[i - 1].hash().unwrap());
        let mut body = entries[i].body.clone();
        body.seq = i as u64;
        body.prev = prev;
        entries[i] = body.sign(&chains.keys[member].signing).unwrap();
    }
}

#[test]
fn every_tampering_fails_the_audit_and_says_what_failed() {
    let chains = story();
    let honest = Held::of(&chains);
    type Tamper = Box<dyn Fn(&mut Held)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "a byte of a signature",
            Box::new(|h: &mut Held| {
                let entry = &mut h.chains.get_mut("manufacturer").unwrap()[2];
                let mut bytes = entry.signature.to_bytes();
                bytes[5] ^= 1;
                entry.signature = tally_sdk::crypto::Signature::from_bytes(&bytes);
            }),
            "entry 2 of manufacturer",
        ),
        (
            "an entry dropped",
            Box::new(|h: &mut Held| {
                h.chains.get_mut("logistics").unwrap().remove(1);
                h.heads = None;
            }),
            "entry 2 of logistics",
        ),
        (
            "an entry repeated",
            Box::new(|h: &mut Held| {
                let chain = h.chains.get_mut("logistics").unwrap();
                let again = chain[1].clone();
                chain.insert(2, again);
            }),
            "entry 1 of logistics",
        ),
        (
            "two entries swapped",
            Box::new(|h: &mut Held| h.chains.get_mut("supplier").unwrap().swap(0, 1)),
            "entry 1 of supplier",
        ),
        (
            "an entry of another chain",
            Box::new(|h: &mut Held| {
                let stranger = h.chains["platform"][0].clone();
                h.chains.get_mut("supplier").unwrap().push(stranger);
            }),
            "entry 0 of platform",
        ),
        (
            "entries hidden below the stated head",
            Box::new(|h: &mut Held| {
                let mut heads = h.heads().unwrap();
                for (member, seq) in &mut heads {
                    if member.as_str() == "logistics" {
                        *seq += 2;
                    }
                }
                h.heads = Some(heads);
            }),
            "the chain of logistics",
        ),
        (
            "a bogus fork proof",
            Box::new(|h: &mut Held| {
                let entry = h.chains["logistics"][0].clone();
                h.forks.push(ForkProof {
                    first: entry.clone(),
                    second: entry,
                });
            }),
            "fork proof of logistics at 0",
        ),
        (
            "a checkpoint's signature",
            Box::new(|h: &mut Held| {
                h.checkpoints[1].signed.body.timestamp = Timestamp(1);
            }),
            "checkpoint 0 of supplier",
        ),
    ];
    for (name, tamper, named) in cases {
        let mut held = honest.clone();
        tamper(&mut held);
        let summary = run(&chains, &mut held);
        assert!(!summary.verified(), "{name} went unnoticed");
        let listed = failures(&summary);
        assert!(
            summary.failures_listed.iter().any(|f| f.what == named),
            "{name}: expected a failure of {named:?}, got:\n{listed}"
        );
    }
}

#[test]
fn a_witnessed_tail_the_source_leaves_out_fails_the_audit_naming_it() {
    // The source serves logistics' chain without its last two entries, and states the
    // shorter head: every signature and link holds, but checkpoints cover the tail.
    let chains = story();
    let mut held = Held::of(&chains);
    let logistics = held.chains.get_mut("logistics").unwrap();
    let served = logistics.len() - 2;
    logistics.truncate(served);
    let summary = run(&chains, &mut held);
    assert!(!summary.verified());
    assert!(summary.spans_beyond > 0);
    let failure = summary
        .failures_listed
        .iter()
        .find(|f| f.what == "the chain of logistics")
        .unwrap_or_else(|| panic!("no failure names the tail:\n{}", failures(&summary)));
    assert!(
        failure
            .detail
            .contains(&format!("entries {served}..={}", served + 1)),
        "{}",
        failure.detail
    );
    assert!(
        failure.detail.contains("does not serve"),
        "{}",
        failure.detail
    );
}

#[test]
fn a_history_rewritten_after_the_checkpoints_is_caught_by_them() {
    let chains = story();
    let mut held = Held::of(&chains);
    // Logistics rewrites its failed inspection as passed and re-signs everything after it:
    // every signature and link holds, but the witnesses' checkpoints hold the original.
    let chain = held.chains.get_mut("logistics").unwrap();
    let mut body = chain[2].body.clone();
    body = UnsignedEntry::event(
        body.network,
        body.author.clone(),
        body.seq,
        body.prev,
        body.timestamp,
        Vec::new(),
        &sofa_event(
            9,
            20,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
        None,
    )
    .unwrap();
    chain[2] = body.sign(&chains.keys["logistics"].signing).unwrap();
    resign(&chains, "logistics", chain, 3);
    let summary = run(&chains, &mut held);
    assert!(!summary.verified());
    let listed = failures(&summary);
    for witness in ["platform", "supplier", "regulator"] {
        assert!(
            summary
                .failures_listed
                .iter()
                .any(|f| f.what == format!("checkpoint 0 of {witness}")
                    && f.detail.contains("logistics")),
            "{listed}"
        );
    }
    // Every entry itself verifies: only the checkpoints catch the rewrite.
    assert_eq!(summary.failures, 3, "{listed}");
}

#[test]
fn a_fork_is_a_finding_against_its_signer() {
    let chains = story();
    let mut held = Held::of(&chains);
    let original = chains.chains["platform"][0].clone();
    let mut body = original.body.clone();
    body.timestamp = Timestamp(body.timestamp.0 + 1);
    let other = body.sign(&chains.keys["platform"].signing).unwrap();
    held.forks.push(ForkProof::new(original, other).unwrap());
    let summary = run(&chains, &mut held);
    assert!(summary.verified(), "{}", failures(&summary));
    assert_eq!(summary.forks, 1);
    assert!(summary.has_findings());
    let platform = card(&summary, "platform");
    assert_eq!(platform.forks, 1);
    assert_eq!(platform.findings[0].kind, FindingKind::Fork);
    assert_eq!(platform.findings[0].entries.len(), 2);
}

/// The supplier signs an order, which its role may not write: what a node refuses and keeps.
fn supplier_order(chains: &Chains) -> SignedEntry {
    let supplier = &chains.chains["supplier"];
    let last = supplier.last().unwrap();
    UnsignedEntry::event(
        chains.genesis.network_id(),
        MemberId::new("supplier").unwrap(),
        last.body.seq + 1,
        Some(last.hash().unwrap()),
        Timestamp(last.body.timestamp.0 + 1),
        Vec::new(),
        &sofa_event(12, 9, json!({"tally:kind": "order"})),
        None,
    )
    .unwrap()
    .sign(&chains.keys["supplier"].signing)
    .unwrap()
}

#[test]
fn an_entry_signed_against_the_rules_is_a_finding_and_a_forged_one_a_failure() {
    let chains = story();
    let order = supplier_order(&chains);
    let mut held = Held::of(&chains);
    held.rejected.push(RejectedEntry {
        entry: order.clone(),
    });
    let summary = run(&chains, &mut held);
    assert!(summary.verified(), "{}", failures(&summary));
    assert_eq!(summary.rejected, 1);
    assert!(summary.has_findings());
    let supplier = card(&summary, "supplier");
    assert_eq!(supplier.rejected_entries, 1);
    assert_eq!(supplier.findings[0].kind, FindingKind::RejectedEntry);
    assert_eq!(supplier.findings[0].entries, vec![order.hash().unwrap()]);
    assert!(
        supplier.findings[0].statement.contains("may not write"),
        "{}",
        supplier.findings[0].statement
    );

    // Not the supplier's doing: signed by someone else.
    let mut forged = order.clone();
    forged.signature = chains.chains["platform"][0].signature;
    let mut held = Held::of(&chains);
    held.rejected.push(RejectedEntry { entry: forged });
    let summary = run(&chains, &mut held);
    assert!(!summary.verified(), "a forged rejection went unnoticed");
    assert_eq!(summary.rejected, 0);
    assert!(
        summary.failures_listed[0]
            .what
            .starts_with("rejected entry"),
        "{}",
        failures(&summary)
    );

    // Breaking no rule (as a node that had not yet installed a membership change might have
    // refused it): dismissed, against no one.
    let mut held = Held::of(&chains);
    held.rejected.push(RejectedEntry {
        entry: chains.chains["logistics"][0].clone(),
    });
    let summary = run(&chains, &mut held);
    assert!(summary.verified(), "{}", failures(&summary));
    assert_eq!((summary.rejected, summary.rejected_dismissed), (0, 1));
    assert_eq!(card(&summary, "logistics").rejected_entries, 0);
}
