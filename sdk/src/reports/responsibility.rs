//! The responsibility report of a product: who is answerable for a defect, for lateness and
//! for broken rules, each claim pointing to the entries that prove it, and what the evidence
//! cannot settle, with the reason.
//!
//! # Rules
//!
//! Read from the product's [`Provenance`] (custody as its module defines it) and the fork
//! proofs involving it; deterministic, so anyone with the same entries gets the same report.
//!
//! Only what an adversary cannot bend counts: a quality inspection set aside by the
//! provenance rules (backdated, or by a member that neither held the item nor inspects for
//! the consortium) is listed in `set_aside` with the reason and moves no blame; a promise
//! counts only when signed by the party it binds ([`crate::reports::provenance`]).
//!
//! 1. **Defect.** Among the inspections that count, the *first failing* inspection is the
//!    earliest one that failed; the *last passing* one is the latest that passed before it.
//!    The *window* runs from the last passing inspection (or, without one, from the start of
//!    custody) to the first failing one. If one member held the item over the whole window, it
//!    is responsible for the defect. If custody changed inside the window, responsibility is
//!    undetermined: no inspection between the hand-over and the failure says on whose watch
//!    the defect arose. Without custody before the failure, it is undetermined too. Without a
//!    failing inspection there is no defect.
//! 2. **Lateness.** A delivery after the binding promise in force makes the member that
//!    promise binds responsible for the delay (the deliverer, when it accepted the promise
//!    with the hand-over; the platform, for its own order's promise). A backdated delivery is
//!    judged at the time it was recorded.
//! 3. **Overdue.** An item whose binding promise has passed at the report's `as_of` time with
//!    no delivery recorded makes its holder responsible.
//! 4. **Rule violations.** Each custody rule broken ([`crate::reports::provenance`]) makes the member
//!    that broke it responsible.
//! 5. **Forks.** A member that signed two different entries at one place of its chain, one of
//!    them about the product, is responsible for the fork.

use serde::{Deserialize, Serialize};

use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::reports::provenance::{
    Judging, Provenance, Recorded, derive, duration_text, mark_forked,
};
use crate::time::Timestamp;
use crate::witnessing::fork::{ForkPoints, ForkProof};

/// The version of the rules; a report names the rules it follows. Version 2 sets aside
/// backdated events, inspections by non-holders and self-set promises, and reports overdue
/// items.
pub const RULES_VERSION: u16 = 2;

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A defect found by inspection.
    Defect,
    /// A late delivery.
    Lateness,
    /// A promise passed with no delivery.
    Overdue,
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

/// An entry that was read but moves no blame, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// The entry.
    pub entry: EntryHash,
    /// Why it is set aside.
    pub reason: String,
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
    /// The time the report judges at: promises passed by then with no delivery are overdue.
    pub as_of: Timestamp,
    /// The defect window, when an inspection failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defect: Option<DefectWindow>,
    /// Who is responsible for what.
    pub claims: Vec<Claim>,
    /// What remains open, and why.
    pub undetermined: Vec<Undetermined>,
    /// What was read but moves no blame, and why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub set_aside: Vec<SetAside>,
    /// The provenance the claims are read from.
    pub provenance: Provenance,
}

/// The report of `product` from `records` and the fork proofs `forks` (whose entries were
/// checked by the caller), judged by `judging` at `as_of`. Every step of a chain that forked
/// at or before it is marked `forked`; a fork claim is made for the forks that involve the
/// product.
pub fn report(
    product: &ProductId,
    records: &[Recorded],
    forks: &[ForkProof],
    judging: &Judging,
    as_of: Timestamp,
) -> Report {
    let mut provenance = derive(product, records, judging);
    mark_forked(&mut provenance, &ForkPoints::of(forks));
    let mut claims = Vec::new();
    let mut undetermined = Vec::new();
    let mut set_aside: Vec<SetAside> = provenance
        .inspections
        .iter()
        .filter_map(|i| {
            i.set_aside.as_ref().map(|why| SetAside {
                entry: i.entry,
                reason: format!("inspection by {}: {why}", i.inspector),
            })
        })
        .collect();
    let defect = defect(&provenance, &mut claims, &mut undetermined);
    for delivery in &provenance.deliveries {
        if delivery.judged_at != delivery.at {
            set_aside.push(SetAside {
                entry: delivery.entry,
                reason: format!(
                    "delivery by {} is backdated: judged at the time it was recorded, {}, not its event time {}",
                    delivery.by, delivery.judged_at, delivery.at
                ),
            });
        }
        if let Some(stated) = delivery.stated
            && delivery.promise.as_ref().is_none_or(|p| p.date != stated)
        {
            set_aside.push(SetAside {
                entry: delivery.entry,
                reason: format!(
                    "the promised date {stated} on {}'s delivery was written by {} itself and binds no one",
                    delivery.by, delivery.by
                ),
            });
        }
        if let (Some(late), Some(promise)) = (delivery.late_by_ms, &delivery.promise) {
            let bound = match promise.accepted_by {
                Some(_) => format!("which {} accepted with the hand-over", promise.binds),
                None => format!("which {} made with the order", promise.binds),
            };
            let mut entries = vec![promise.entry];
            entries.extend(promise.accepted_by);
            entries.push(delivery.entry);
            claims.push(Claim {
                kind: ClaimKind::Lateness,
                responsible: promise.binds.clone(),
                statement: format!(
                    "{} delivered at {}, {} after the promised {}, {bound}",
                    delivery.by,
                    delivery.judged_at,
                    duration_text(late),
                    promise.date
                ),
                entries,
            });
        }
    }
    if provenance.deliveries.is_empty()
        && let Some(promise) = provenance.promises.last()
        && promise.date < as_of
    {
        let holder = provenance
            .custody
            .last()
            .map_or(&promise.binds, |c| &c.holder);
        let mut entries = vec![promise.entry];
        entries.extend(promise.accepted_by);
        claims.push(Claim {
            kind: ClaimKind::Overdue,
            responsible: holder.clone(),
            // The report's `as_of` says when; the statement does not, so that two reports of
            // one ledger at different times agree wherever the facts do.
            statement: format!(
                "{holder} holds the item, promised for {} (binding {}), and no delivery is recorded",
                promise.date, promise.binds
            ),
            entries,
        });
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
        as_of,
        defect,
        claims,
        undetermined,
        set_aside,
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

fn defect(
    provenance: &Provenance,
    claims: &mut Vec<Claim>,
    undetermined: &mut Vec<Undetermined>,
) -> Option<DefectWindow> {
    // Inspections are in event-time order (ties by entry hash), as the timeline; only those
    // that count are read.
    let counted: Vec<_> = provenance
        .inspections
        .iter()
        .filter(|i| i.set_aside.is_none())
        .collect();
    let fail_index = counted.iter().position(|i| !i.passed)?;
    let first_fail = counted[fail_index];
    let last_pass = counted[..fail_index].iter().rev().find(|i| i.passed);
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
    use crate::reports::provenance::tests::{SOFA, at, observe, record, story};
    use serde_json::json;

    fn sofa() -> ProductId {
        ProductId::parse(SOFA).unwrap()
    }

    /// When the reports below are judged: a month after the story.
    fn as_of() -> Timestamp {
        Timestamp::parse_rfc3339(&at(30, 0)).unwrap()
    }

    fn judge(records: &[Recorded]) -> Report {
        report(&sofa(), records, &[], &Judging::default(), as_of())
    }

    /// `record` as its author's node recorded it at `recorded`.
    fn recorded_at(mut record: Recorded, recorded: &str) -> Recorded {
        record.recorded = Timestamp::parse_rfc3339(recorded).unwrap();
        record
    }

    fn regulator_inspects() -> Judging {
        Judging {
            inspectors: [MemberId::new("regulator").unwrap()].into(),
            ..Judging::default()
        }
    }

    fn kinds(report: &Report) -> Vec<ClaimKind> {
        report.claims.iter().map(|c| c.kind).collect()
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
        // Logistics checks the sofa on receipt (passed); the consumer's delivery check fails;
        // its chain holds the delivery after both.
        records[8].seq = 30;
        records.push(inspection(20, "logistics", 6, 19, true));
        records.push(inspection(21, "logistics", 10, 12, false));
        let report = judge(&records);
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
        let report = judge(&records);
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
        records.push(inspection(21, "logistics", 10, 12, false));
        let report = judge(&records);
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
        let report = judge(&story());
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
        let report = judge(&records);
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
        records.push(inspection(21, "logistics", 10, 12, false));
        let expected = judge(&records);
        records.reverse();
        assert_eq!(judge(&records), expected);
    }

    #[test]
    fn a_backdated_failing_inspection_by_a_non_holder_moves_no_blame() {
        // The attack: months later, logistics records a failing inspection dated inside the
        // factory's custody, when logistics never held the sofa.
        let mut records = story();
        let lie = recorded_at(
            inspection(30, "logistics", 5, 10, false),
            "2026-12-04T09:00:00.000+08:00",
        );
        records.push(lie.clone());
        let report = judge(&records);
        assert!(defects(&report).is_empty(), "{report:#?}");
        assert_eq!(report.defect, None);
        let set_aside = report
            .set_aside
            .iter()
            .find(|s| s.entry == lie.hash)
            .unwrap();
        assert!(
            set_aside.reason.contains("backdated"),
            "{}",
            set_aside.reason
        );
        assert!(
            set_aside.reason.contains("the genesis allows 3 days 0 h"),
            "{}",
            set_aside.reason
        );
        let step = report
            .provenance
            .timeline
            .iter()
            .find(|s| s.entry == lie.hash)
            .unwrap();
        assert!(step.backdated.is_some());
    }

    #[test]
    fn an_event_dated_before_its_authors_previous_entry_is_backdated() {
        // Within the reporting delay, but logistics' chain shows it recorded the delivery
        // (day 10) before this inspection, dated day 7.
        let mut records = story();
        let lie = recorded_at(
            inspection(31, "logistics", 7, 10, false),
            "2026-03-09T12:00:00.000+08:00",
        );
        records.push(lie.clone());
        let report = judge(&records);
        assert!(defects(&report).is_empty(), "{report:#?}");
        let reason = &report.set_aside[0].reason;
        assert!(reason.contains("previous entry about the item"), "{reason}");
    }

    #[test]
    fn a_receipt_dated_before_the_hand_over_it_acknowledges_is_backdated() {
        // The factory signed the hand-over's time; logistics cannot claim the sofa earlier.
        let mut records = story();
        let handed = records[6].hash.to_hex();
        records[7] = record(
            8,
            "logistics",
            observe(
                6,
                10,
                json!({"bizStep": "receiving", "tally:receiptOf": handed}),
            ),
        );
        let report = judge(&records);
        let step = report
            .provenance
            .timeline
            .iter()
            .find(|s| s.entry == records[7].hash)
            .unwrap();
        let reason = step.backdated.as_deref().unwrap();
        assert!(reason.contains("before the hand-over"), "{reason}");
    }

    #[test]
    fn an_inspection_by_a_member_not_holding_the_item_counts_only_for_an_inspector() {
        // The supplier never held the sofa: its failing inspection is set aside. The same
        // inspection by the regulator, an inspector, finds the defect on the factory's watch.
        let mut records = story();
        records.push(inspection(33, "supplier", 5, 16, false));
        let report = judge(&records);
        assert!(defects(&report).is_empty(), "{report:#?}");
        assert!(
            report.set_aside[0].reason.contains("did not hold the item"),
            "{}",
            report.set_aside[0].reason
        );
        let mut records = story();
        records.push(inspection(34, "regulator", 5, 16, false));
        let found = super::report(&sofa(), &records, &[], &regulator_inspects(), as_of());
        let claims = defects(&found);
        assert_eq!(claims.len(), 1, "{found:#?}");
        assert_eq!(claims[0].responsible.as_str(), "manufacturer");
        assert!(found.set_aside.is_empty());
    }

    #[test]
    fn a_promise_the_deliverer_sets_itself_binds_no_one() {
        let mut records = story();
        // The factory's hand-over carries no promise: only the one logistics wrote on its
        // own delivery is left.
        records[6] = record(
            7,
            "manufacturer",
            observe(
                6,
                16,
                json!({"bizStep": "shipping", "tally:handOverTo": "logistics"}),
            ),
        );
        let handed = records[6].hash.to_hex();
        records[7] = record(
            8,
            "logistics",
            observe(
                6,
                18,
                json!({"bizStep": "receiving", "tally:receiptOf": handed}),
            ),
        );
        let report = judge(&records);
        assert!(kinds(&report).is_empty(), "{report:#?}");
        assert!(
            report.set_aside[0].reason.contains("binds no one"),
            "{}",
            report.set_aside[0].reason
        );
        // The platform's order promise binds the platform, whoever delivers late.
        records[0] = record(
            1,
            "platform",
            observe(
                1,
                9,
                json!({"tally:kind": "order", "tally:promisedDate": at(9, 12)}),
            ),
        );
        let report = judge(&records);
        assert_eq!(kinds(&report), [ClaimKind::Lateness]);
        assert_eq!(report.claims[0].responsible.as_str(), "platform");
        assert!(report.claims[0].entries.contains(&records[0].hash));
    }

    #[test]
    fn a_backdated_delivery_is_judged_when_it_was_recorded() {
        let mut records = story();
        // Dated a day before the promise, recorded four days after it.
        records[8] = recorded_at(
            record(
                9,
                "logistics",
                observe(
                    8,
                    18,
                    json!({"bizStep": "arriving", "tally:kind": "delivery"}),
                ),
            ),
            "2026-03-13T18:00:00.000+08:00",
        );
        let report = judge(&records);
        assert_eq!(kinds(&report), [ClaimKind::Lateness], "{report:#?}");
        assert_eq!(report.claims[0].responsible.as_str(), "logistics");
        assert!(
            report.claims[0].statement.contains("4 days 0 h after"),
            "{}",
            report.claims[0].statement
        );
        assert!(report.set_aside[0].reason.contains("backdated"));
    }

    #[test]
    fn an_item_past_its_promise_without_delivery_is_overdue_against_its_holder() {
        let mut records = story();
        records.retain(|r| r.seq != 9);
        let report = judge(&records);
        assert_eq!(kinds(&report), [ClaimKind::Overdue], "{report:#?}");
        assert_eq!(report.claims[0].responsible.as_str(), "logistics");
        // Before the promised date, nothing is overdue.
        let early = Timestamp::parse_rfc3339(&at(9, 0)).unwrap();
        let found = super::report(&sofa(), &records, &[], &Judging::default(), early);
        assert!(found.claims.is_empty(), "{found:#?}");
    }
}
