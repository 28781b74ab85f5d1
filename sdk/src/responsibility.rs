//! The responsibility report of a product: who is answerable for a defect, for lateness and
//! for broken rules, each claim pointing to the entries that prove it, and what the evidence
//! cannot settle, with the reason.
//!
//! # Rules
//!
//! Read from the product's [`Provenance`] (custody as its module defines it) and the fork
//! proofs involving it; deterministic, so anyone with the same entries gets the same report.
//!
//! 1. **Defect.** The *first failing* inspection is the earliest one that failed; the *last
//!    passing* one is the latest that passed before it. The *window* runs from the last passing
//!    inspection (or, without one, from the start of custody) to the first failing one. If one
//!    member held the item over the whole window, it is responsible for the defect. If custody
//!    changed inside the window, responsibility is undetermined: no inspection between the
//!    hand-over and the failure says on whose watch the defect arose. Without custody before
//!    the failure, it is undetermined too. Without a failing inspection there is no defect.
//! 2. **Lateness.** A delivery after its promised date makes the member that delivered it
//!    responsible for the delay.
//! 3. **Rule violations.** Each custody rule broken ([`crate::provenance`]) makes the member
//!    that broke it responsible.
//! 4. **Forks.** A member that signed two different entries at one place of its chain, one of
//!    them about the product, is responsible for the fork.

use serde::{Deserialize, Serialize};

use crate::fork::ForkProof;
use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::provenance::{Provenance, Recorded, derive};
use crate::time::Timestamp;

/// The version of the rules; a report names the rules it follows.
pub const RULES_VERSION: u16 = 1;

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A defect found by inspection.
    Defect,
    /// A late delivery.
    Lateness,
    /// A custody rule broken.
    RuleViolation,
    /// Two histories signed.
    Fork,
}

/// One finding of responsibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// What it is about.
    pub kind: ClaimKind,
    /// Who is responsible.
    pub responsible: MemberId,
    /// The finding, in words.
    pub statement: String,
    /// The entries that prove it.
    pub entries: Vec<EntryHash>,
}

/// A question the evidence cannot settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undetermined {
    /// What is asked.
    pub question: String,
    /// Why it cannot be answered.
    pub reason: String,
    /// Members that may be responsible.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub candidates: Vec<MemberId>,
    /// The entries involved.
    pub entries: Vec<EntryHash>,
}

/// The defect window: between the last passing and the first failing inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefectWindow {
    /// The last passing inspection before the failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<EntryHash>,
    /// The first failing inspection.
    pub first_fail: EntryHash,
    /// Start of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// End of the window (the failing inspection's time).
    pub to: Timestamp,
    /// Who held the item during it, in order.
    pub holders: Vec<MemberId>,
}

/// The attribution report of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The rules followed ([`RULES_VERSION`]).
    pub rules: u16,
    /// The product (canonical Digital Link).
    pub product: String,
    /// The defect window, when an inspection failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defect: Option<DefectWindow>,
    /// Who is responsible for what.
    pub claims: Vec<Claim>,
    /// What remains open, and why.
    pub undetermined: Vec<Undetermined>,
    /// The provenance the claims are read from.
    pub provenance: Provenance,
}

/// The report of `product` from `records` and the fork proofs `forks` (whose entries were
/// checked by the caller).
pub fn report(product: &ProductId, records: &[Recorded], forks: &[ForkProof]) -> Report {
    let provenance = derive(product, records);
    let mut claims = Vec::new();
    let mut undetermined = Vec::new();
    let defect = defect(&provenance, &mut claims, &mut undetermined);
    for delivery in &provenance.deliveries {
        if let (Some(late), Some(promised)) = (delivery.late_by_ms, delivery.promised) {
            claims.push(Claim {
                kind: ClaimKind::Lateness,
                responsible: delivery.by.clone(),
                statement: format!(
                    "{} delivered at {}, {} after the promised {}",
                    delivery.by,
                    delivery.at,
                    duration_text(late),
                    promised
                ),
                entries: vec![delivery.entry],
            });
        }
    }
    for violation in &provenance.violations {
        claims.push(Claim {
            kind: ClaimKind::RuleViolation,
            responsible: violation.member.clone(),
            statement: format!("{}: {}", violation.rule, violation.detail),
            entries: violation.entries.clone(),
        });
    }
    let mut fork_claims: Vec<Claim> = forks
        .iter()
        .filter_map(|fork| fork_claim(product, fork))
        .collect();
    fork_claims.sort_by(|a, b| a.entries.cmp(&b.entries));
    fork_claims.dedup();
    claims.extend(fork_claims);
    Report {
        rules: RULES_VERSION,
        product: provenance.product.clone(),
        defect,
        claims,
        undetermined,
        provenance,
    }
}

/// Whether either entry of a fork proof records an event about `product`.
pub fn fork_involves(fork: &ForkProof, product: &ProductId) -> bool {
    [&fork.first, &fork.second].into_iter().any(|entry| {
        entry
            .hash()
            .ok()
            .and_then(|hash| Recorded::read(hash, entry, false).ok().flatten())
            .is_some_and(|r| r.is_about(product))
    })
}

fn fork_claim(product: &ProductId, fork: &ForkProof) -> Option<Claim> {
    if !fork_involves(fork, product) {
        return None;
    }
    let author = fork.first.body.author.clone();
    let entries = vec![fork.first.hash().ok()?, fork.second.hash().ok()?];
    Some(Claim {
        kind: ClaimKind::Fork,
        responsible: author.clone(),
        statement: format!(
            "{author} signed two different entries at place {} of its chain",
            fork.first.body.seq
        ),
        entries,
    })
}

fn duration_text(ms: u64) -> String {
    let hours = ms / 3_600_000;
    if hours >= 48 {
        format!("{} days {} h", hours / 24, hours % 24)
    } else if hours >= 1 {
        format!("{hours} h {} min", (ms % 3_600_000) / 60_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

fn defect(
    provenance: &Provenance,
    claims: &mut Vec<Claim>,
    undetermined: &mut Vec<Undetermined>,
) -> Option<DefectWindow> {
    // Inspections are in event-time order (ties by entry hash), as the timeline.
    let fail_index = provenance.inspections.iter().position(|i| !i.passed)?;
    let first_fail = &provenance.inspections[fail_index];
    let last_pass = provenance.inspections[..fail_index]
        .iter()
        .rev()
        .find(|i| i.passed);
    let from = last_pass
        .map(|p| p.at)
        .or_else(|| provenance.custody.first().map(|c| c.from));
    let to = first_fail.at;
    let held: Vec<_> = provenance
        .custody
        .iter()
        .filter(|c| c.from <= to && from.is_some_and(|f| c.to.is_none_or(|end| end > f)))
        .collect();
    let mut holders: Vec<MemberId> = Vec::new();
    for interval in &held {
        if holders.last() != Some(&interval.holder) {
            holders.push(interval.holder.clone());
        }
    }
    let mut entries: Vec<EntryHash> = last_pass.map(|p| p.entry).into_iter().collect();
    entries.push(first_fail.entry);
    let window = DefectWindow {
        last_pass: last_pass.map(|p| p.entry),
        first_fail: first_fail.entry,
        from,
        to,
        holders: holders.clone(),
    };
    let question = "who is responsible for the defect found by the failing inspection".to_owned();
    match holders.as_slice() {
        [] => undetermined.push(Undetermined {
            question,
            reason: "no custody of the item is recorded before the failing inspection".to_owned(),
            candidates: Vec::new(),
            entries,
        }),
        [only] => {
            for interval in &held {
                entries.extend(interval.since.iter().copied());
            }
            let since = match last_pass {
                Some(pass) => format!("passed inspection at {} ({})", pass.at, pass.inspector),
                None => "custody began".to_owned(),
            };
            claims.push(Claim {
                kind: ClaimKind::Defect,
                responsible: only.clone(),
                statement: format!(
                    "{only} held the item from when it {since} until it failed inspection at {} ({})",
                    first_fail.at, first_fail.inspector
                ),
                entries,
            });
        }
        several => {
            for interval in held.iter().skip(1) {
                entries.extend(interval.since.iter().copied());
            }
            let names: Vec<String> = several.iter().map(ToString::to_string).collect();
            undetermined.push(Undetermined {
                question,
                reason: format!(
                    "custody passed from {} between the {} and the failing inspection at {}, with no inspection between the hand-over and the failure",
                    names.join(" to "),
                    match last_pass {
                        Some(pass) => format!("last passing inspection at {}", pass.at),
                        None => "start of custody".to_owned(),
                    },
                    first_fail.at
                ),
                candidates: several.to_vec(),
                entries,
            });
        }
    }
    Some(window)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::provenance::tests::{SOFA, observe, record, story};
    use serde_json::json;

    fn sofa() -> ProductId {
        ProductId::parse(SOFA).unwrap()
    }

    fn inspection(n: u8, by: &str, day: u32, hour: u32, passed: bool) -> Recorded {
        let disposition = if passed {
            "conformant"
        } else {
            "non_conformant"
        };
        record(
            n,
            by,
            observe(
                day,
                hour,
                json!({"bizStep": "inspecting", "disposition": disposition}),
            ),
        )
    }

    fn defects(report: &Report) -> Vec<&Claim> {
        report
            .claims
            .iter()
            .filter(|c| c.kind == ClaimKind::Defect)
            .collect()
    }

    #[test]
    fn a_defect_in_the_logistics_firms_custody_is_its_own() {
        let mut records = story();
        // Logistics checks the sofa on receipt (passed); the consumer's delivery check fails.
        records.push(inspection(20, "logistics", 6, 19, true));
        records.push(inspection(21, "logistics", 10, 10, false));
        let report = report(&sofa(), &records, &[]);
        let claims = defects(&report);
        assert_eq!(claims.len(), 1, "{report:#?}");
        assert_eq!(claims[0].responsible.as_str(), "logistics");
        let window = report.defect.as_ref().unwrap();
        assert_eq!(window.last_pass, Some(records[9].hash));
        assert_eq!(window.first_fail, records[10].hash);
        assert!(claims[0].entries.contains(&records[9].hash));
        assert!(claims[0].entries.contains(&records[10].hash));
        assert!(report.undetermined.is_empty());
    }

    #[test]
    fn a_defect_found_at_the_factorys_final_inspection_is_the_factorys() {
        let mut records = story();
        // The final inspection fails instead of passing.
        records[5] = inspection(6, "manufacturer", 5, 15, false);
        let report = report(&sofa(), &records, &[]);
        let claims = defects(&report);
        assert_eq!(claims.len(), 1, "{report:#?}");
        assert_eq!(claims[0].responsible.as_str(), "manufacturer");
        assert_eq!(report.defect.as_ref().unwrap().last_pass, None);
        // The claim shows where custody began: the assembly.
        assert!(claims[0].entries.contains(&records[4].hash));
    }

    #[test]
    fn without_an_inspection_between_hand_over_and_failure_it_is_undetermined() {
        let mut records = story();
        records.push(inspection(21, "logistics", 10, 10, false));
        let report = report(&sofa(), &records, &[]);
        assert!(defects(&report).is_empty());
        assert_eq!(report.undetermined.len(), 1);
        let open = &report.undetermined[0];
        assert_eq!(
            open.candidates,
            vec![
                MemberId::new("manufacturer").unwrap(),
                MemberId::new("logistics").unwrap()
            ]
        );
        assert!(
            open.reason.contains("no inspection between"),
            "{}",
            open.reason
        );
        // The hand-over and receipt are among the entries.
        assert!(open.entries.contains(&records[6].hash));
        assert!(open.entries.contains(&records[7].hash));
    }

    #[test]
    fn no_failing_inspection_means_no_defect_and_lateness_is_the_deliverers() {
        let report = report(&sofa(), &story(), &[]);
        assert_eq!(report.defect, None);
        assert!(report.undetermined.is_empty());
        let kinds: Vec<_> = report.claims.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ClaimKind::Lateness]);
        assert_eq!(report.claims[0].responsible.as_str(), "logistics");
        assert!(
            report.claims[0].statement.contains("17 h 0 min after"),
            "{}",
            report.claims[0].statement
        );
    }

    #[test]
    fn violations_are_claims_against_who_broke_the_rule() {
        let mut records = story();
        records.push(record(
            22,
            "manufacturer",
            observe(
                8,
                9,
                json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
            ),
        ));
        let report = report(&sofa(), &records, &[]);
        let violation = report
            .claims
            .iter()
            .find(|c| c.kind == ClaimKind::RuleViolation)
            .unwrap();
        assert_eq!(violation.responsible.as_str(), "manufacturer");
        assert!(violation.statement.starts_with("hand_over_without_custody"));
    }

    #[test]
    fn the_report_is_the_same_whatever_the_order_of_its_inputs() {
        let mut records = story();
        records.push(inspection(21, "logistics", 10, 10, false));
        let expected = report(&sofa(), &records, &[]);
        records.reverse();
        assert_eq!(report(&sofa(), &records, &[]), expected);
    }
}
