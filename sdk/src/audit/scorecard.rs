//! Member scorecards: each member's record of conduct as the responsibility rules find it —
//! the credit record a regulator reads.
//!
//! A scorecard is built from responsibility reports ([`crate::reports::responsibility::report`]), fork
//! proofs and rejected entries ([`crate::audit::rejection`]), never from anything a node merely asserts: each finding names the entries
//! that prove it. One finding seen from several products' reports (a late delivery of a
//! shipment naming three products, a custody violation over a lot and the product made from
//! it) counts once. A node's scorecard of one member (`GET /v1/members/{id}/scorecard`) and
//! an audit's scorecards of all members (`tally audit verify`) come from [`Scorecards`], so
//! the two agree on the same entries.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::audit::rejection::VerifiedRejection;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::reports::responsibility::{ClaimKind, Report};
use crate::witnessing::fork::ForkProof;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A defect found by inspection that arose in the member's custody.
    NonConformantInspection,
    /// A delivery after its promised date.
    LateDelivery,
    /// An item held past its promised date with no delivery.
    OverdueDelivery,
    /// A custody rule broken.
    RuleViolation,
    /// Two entries signed at one place of the member's chain.
    Fork,
    /// An entry the member signed that breaks a rule, refused by the nodes.
    RejectedEntry,
}

/// One finding against a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is.
    pub kind: FindingKind,
    /// The product it was found on (none for a fork, which is about the chain).
    pub product: Option<String>,
    /// The finding, in words.
    pub statement: String,
    /// The entries that prove it.
    pub entries: Vec<EntryHash>,
}

/// One member's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scorecard {
    /// The member.
    pub member: MemberId,
    /// Defects attributed to it.
    pub non_conformant_inspections: u64,
    /// Its late deliveries.
    pub late_deliveries: u64,
    /// Items it holds past their promised date, undelivered.
    pub overdue_deliveries: u64,
    /// Custody rules it broke.
    pub rule_violations: u64,
    /// Places of its chain where it signed two entries.
    pub forks: u64,
    /// Entries it signed that break a rule (refused).
    pub rejected_entries: u64,
    /// Every finding, ordered by kind, product and entries.
    pub findings: Vec<Finding>,
}

impl Scorecard {
    fn new(member: MemberId) -> Self {
        Self {
            member,
            non_conformant_inspections: 0,
            late_deliveries: 0,
            overdue_deliveries: 0,
            rule_violations: 0,
            forks: 0,
            rejected_entries: 0,
            findings: Vec::new(),
        }
    }

    /// Whether anything was found against the member.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn add(&mut self, finding: Finding) {
        let counter = match finding.kind {
            FindingKind::NonConformantInspection => &mut self.non_conformant_inspections,
            FindingKind::LateDelivery => &mut self.late_deliveries,
            FindingKind::OverdueDelivery => &mut self.overdue_deliveries,
            FindingKind::RuleViolation => &mut self.rule_violations,
            FindingKind::Fork => &mut self.forks,
            FindingKind::RejectedEntry => &mut self.rejected_entries,
        };
        *counter += 1;
        self.findings.push(finding);
    }
}

/// What makes two findings the same one: a defect is per product (two defective products are
/// two non-conformances even if one inspection found both); the rest are per evidence.
type FindingKey = (FindingKind, MemberId, Option<String>, Vec<EntryHash>);

/// The scorecards of a consortium's members, accumulated from reports and fork proofs.
#[derive(Debug, Clone)]
pub struct Scorecards {
    cards: BTreeMap<MemberId, Scorecard>,
    seen: BTreeSet<FindingKey>,
}

impl Scorecards {
    /// Empty scorecards of every member the genesis has had (removed members keep theirs).
    pub fn new(genesis: &Consortium) -> Self {
        Self {
            cards: genesis
                .all_members()
                .iter()
                .map(|m| (m.id.clone(), Scorecard::new(m.id.clone())))
                .collect(),
            seen: BTreeSet::new(),
        }
    }

    /// Adds the claims of one product's report (fork claims excepted: forks are counted once
    /// per proof by [`Scorecards::add_fork`], not once per product they touch).
    pub fn add_report(&mut self, report: &Report) {
        for claim in &report.claims {
            let kind = match claim.kind {
                ClaimKind::Defect => FindingKind::NonConformantInspection,
                ClaimKind::Lateness => FindingKind::LateDelivery,
                ClaimKind::Overdue => FindingKind::OverdueDelivery,
                ClaimKind::RuleViolation => FindingKind::RuleViolation,
                ClaimKind::Fork => continue,
            };
            let per_product =
                (kind == FindingKind::NonConformantInspection).then(|| report.product.clone());
            self.add(
                &claim.responsible,
                per_product,
                Finding {
                    kind,
                    product: Some(report.product.clone()),
                    statement: claim.statement.clone(),
                    entries: claim.entries.clone(),
                },
            );
        }
    }

    /// Adds a fork proof (checked by the caller).
    pub fn add_fork(&mut self, fork: &ForkProof) {
        let (Ok(first), Ok(second)) = (fork.first.hash(), fork.second.hash()) else {
            return;
        };
        let author = fork.first.body.author.clone();
        let entries = vec![first, second];
        self.add(
            &author,
            None,
            Finding {
                kind: FindingKind::Fork,
                product: None,
                statement: format!(
                    "{author} signed two different entries as number {} of its chain",
                    fork.first.body.seq
                ),
                entries,
            },
        );
    }

    /// Adds a rejected entry (checked by the caller).
    pub fn add_rejection(&mut self, rejection: &VerifiedRejection) {
        self.add(
            &rejection.author,
            None,
            Finding {
                kind: FindingKind::RejectedEntry,
                product: None,
                statement: format!(
                    "{} signed entry {} of its chain, which breaks a rule: {}",
                    rejection.author, rejection.seq, rejection.rule
                ),
                entries: vec![rejection.hash],
            },
        );
    }

    fn add(&mut self, member: &MemberId, per_product: Option<String>, finding: Finding) {
        let key = (
            finding.kind,
            member.clone(),
            per_product,
            finding.entries.clone(),
        );
        if !self.seen.insert(key) {
            return;
        }
        self.cards
            .entry(member.clone())
            .or_insert_with(|| Scorecard::new(member.clone()))
            .add(finding);
    }

    /// The scorecards, ordered by member, each with its findings in a fixed order.
    pub fn finish(self) -> Vec<Scorecard> {
        let mut cards: Vec<Scorecard> = self.cards.into_values().collect();
        for card in &mut cards {
            card.findings.sort_by(|a, b| {
                (a.kind, &a.product, &a.entries).cmp(&(b.kind, &b.product, &b.entries))
            });
        }
        cards
    }

    /// One member's scorecard (a member the genesis never had gets an empty one).
    pub fn finish_one(self, member: &MemberId) -> Scorecard {
        self.finish()
            .into_iter()
            .find(|card| &card.member == member)
            .unwrap_or_else(|| Scorecard::new(member.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::gs1::ProductId;
    use crate::membership::genesis::tests::test_consortium;
    use crate::reports::responsibility::{Claim, report};

    fn report_with(product: &str, claims: Vec<Claim>) -> Report {
        let mut found = report(
            &ProductId::parse(product).unwrap(),
            &[],
            &[],
            &crate::reports::provenance::Judging::default(),
            crate::time::Timestamp(0),
        );
        found.claims = claims;
        found
    }

    fn claim(kind: ClaimKind, member: &MemberId, entries: &[u8]) -> Claim {
        Claim {
            kind,
            responsible: member.clone(),
            statement: format!("{kind:?}"),
            entries: entries
                .iter()
                .map(|b| EntryHash::from_bytes([*b; 32]))
                .collect(),
        }
    }

    #[test]
    fn a_finding_seen_from_several_products_counts_once_but_defects_count_per_product() {
        let (genesis, _) = test_consortium();
        let member = genesis.members()[0].id.clone();
        let sofa = "https://id.gs1.org/01/09506000134352/21/A";
        let chair = "https://id.gs1.org/01/09506000134352/21/B";
        let mut cards = Scorecards::new(&genesis);
        for product in [sofa, chair] {
            cards.add_report(&report_with(
                product,
                vec![
                    // One late delivery of a shipment of both, one custody violation over
                    // both, one inspection that failed both, and a fork claim (not counted
                    // from reports).
                    claim(ClaimKind::Lateness, &member, &[1]),
                    claim(ClaimKind::RuleViolation, &member, &[2, 3]),
                    claim(ClaimKind::Defect, &member, &[4, 5]),
                    claim(ClaimKind::Fork, &member, &[6, 7]),
                ],
            ));
        }
        let card = cards.finish_one(&member);
        assert_eq!(card.late_deliveries, 1);
        assert_eq!(card.rule_violations, 1);
        assert_eq!(card.non_conformant_inspections, 2);
        assert_eq!(card.forks, 0);
        assert_eq!(card.findings.len(), 4);
        // Ordered by kind, then product.
        assert_eq!(card.findings[0].kind, FindingKind::NonConformantInspection);
        assert_eq!(card.findings[0].product.as_deref(), Some(sofa));
        assert_eq!(card.findings[1].product.as_deref(), Some(chair));
    }

    #[test]
    fn every_member_has_a_card_and_others_stay_clean() {
        let (genesis, _) = test_consortium();
        let cards = Scorecards::new(&genesis).finish();
        assert_eq!(cards.len(), genesis.all_members().len());
        assert!(cards.iter().all(Scorecard::is_clean));
    }
}
