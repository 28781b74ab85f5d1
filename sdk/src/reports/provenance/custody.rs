//! Custody of one item, built event by event from the records about it: the first holder,
//! hand-overs acknowledged by receipts, pending hand-overs, and the custody rules broken (the
//! rules are the parent module's documentation).

use std::collections::{BTreeMap, BTreeSet};

use super::{CustodyInterval, PendingHandOver, Recorded, Violation};
use crate::event::EventKind;
use crate::hash::EntryHash;
use crate::ids::MemberId;

/// The custody of one item, built event by event.
#[derive(Default)]
pub(super) struct Custody {
    pub(super) intervals: Vec<CustodyInterval>,
    pub(super) pending: BTreeMap<EntryHash, PendingHandOver>,
    acknowledged: BTreeSet<EntryHash>,
    pub(super) violations: Vec<Violation>,
}

impl Custody {
    fn holder(&self) -> Option<&MemberId> {
        self.intervals.last().map(|i| &i.holder)
    }

    fn violation(
        &mut self,
        rule: &str,
        member: &MemberId,
        detail: String,
        entries: Vec<EntryHash>,
    ) {
        self.violations.push(Violation {
            rule: rule.to_owned(),
            member: member.clone(),
            detail,
            entries,
        });
    }

    pub(super) fn derive(about: &[&Recorded]) -> Self {
        let mut custody = Self::default();
        let position: BTreeMap<EntryHash, usize> =
            about.iter().enumerate().map(|(i, r)| (r.hash, i)).collect();
        for (index, record) in about.iter().enumerate() {
            if custody.intervals.is_empty() && record.kind != EventKind::Order {
                custody.intervals.push(CustodyInterval {
                    holder: record.author.clone(),
                    from: record.event.event_time,
                    to: None,
                    since: vec![record.hash],
                    until: Vec::new(),
                });
            }
            match &record.kind {
                EventKind::HandOver { to } => custody.hand_over(record, to),
                EventKind::Receipt { hand_over } => {
                    let offered = position.get(hand_over).map(|&i| (i, about[i]));
                    custody.receipt(record, *hand_over, index, offered);
                }
                EventKind::Delivery { .. } if custody.holder() != Some(&record.author) => {
                    let detail = format!(
                        "{} delivered the item at {} without holding it (held by {})",
                        record.author,
                        record.event.event_time,
                        custody
                            .holder()
                            .map_or("no one".to_owned(), ToString::to_string)
                    );
                    custody.violation(
                        "delivery_without_custody",
                        &record.author,
                        detail,
                        vec![record.hash],
                    );
                }
                _ => {}
            }
        }
        custody
    }

    fn hand_over(&mut self, record: &Recorded, to: &MemberId) {
        if self.holder() != Some(&record.author) {
            let detail = format!(
                "{} handed the item over to {to} at {} without holding it (held by {})",
                record.author,
                record.event.event_time,
                self.holder()
                    .map_or("no one".to_owned(), ToString::to_string)
            );
            self.violation(
                "hand_over_without_custody",
                &record.author,
                detail,
                vec![record.hash],
            );
            return;
        }
        self.pending.insert(
            record.hash,
            PendingHandOver {
                entry: record.hash,
                from: record.author.clone(),
                to: to.clone(),
                at: record.event.event_time,
            },
        );
    }

    fn receipt(
        &mut self,
        record: &Recorded,
        hand_over: EntryHash,
        index: usize,
        offered: Option<(usize, &Recorded)>,
    ) {
        let author = &record.author;
        let entries = vec![hand_over, record.hash];
        let Some((offered_at, offered)) = offered else {
            let detail = format!(
                "{author} acknowledged hand-over {} which is not recorded for this item",
                hand_over.short()
            );
            self.violation(
                "receipt_of_unknown_hand_over",
                author,
                detail,
                vec![record.hash],
            );
            return;
        };
        if offered_at > index {
            let detail = format!(
                "{author} acknowledged at {} a hand-over made later, at {}",
                record.event.event_time, offered.event.event_time
            );
            self.violation("receipt_before_hand_over", author, detail, entries);
            return;
        }
        let EventKind::HandOver { to } = &offered.kind else {
            let detail = format!(
                "{author} acknowledged entry {} as a hand-over, but it is a {}",
                hand_over.short(),
                offered.kind
            );
            self.violation("receipt_of_unknown_hand_over", author, detail, entries);
            return;
        };
        if to != author {
            let detail = format!(
                "{author} acknowledged a hand-over that {} made to {to}",
                offered.author
            );
            self.violation("receipt_by_other_member", author, detail, entries);
            return;
        }
        if self.acknowledged.contains(&hand_over) {
            let detail = format!("{author} acknowledged the same hand-over again");
            self.violation("receipt_already_given", author, detail, entries);
            return;
        }
        if self.pending.remove(&hand_over).is_none() {
            // The hand-over itself broke the rules (reported with it), or its giver had lost
            // custody by the time it was acknowledged.
            let detail = format!(
                "{author} acknowledged a hand-over from {}, who no longer held the item (held by {})",
                offered.author,
                self.holder()
                    .map_or("no one".to_owned(), ToString::to_string)
            );
            self.violation("receipt_from_former_holder", author, detail, entries);
            return;
        }
        if self.holder() != Some(&offered.author) {
            let detail = format!(
                "{author} acknowledged a hand-over from {}, who no longer held the item",
                offered.author
            );
            self.violation("receipt_from_former_holder", author, detail, entries);
            return;
        }
        self.acknowledged.insert(hand_over);
        let at = record.event.event_time;
        if let Some(last) = self.intervals.last_mut() {
            last.to = Some(at);
            last.until = entries.clone();
        }
        self.intervals.push(CustodyInterval {
            holder: author.clone(),
            from: at,
            to: None,
            since: entries,
            until: Vec::new(),
        });
        // Hand-overs the old holder left pending can no longer be acknowledged.
        let stale: Vec<EntryHash> = self
            .pending
            .iter()
            .filter(|(_, p)| p.from != *author)
            .map(|(h, _)| *h)
            .collect();
        for hash in stale {
            self.pending.remove(&hash);
        }
    }
}
