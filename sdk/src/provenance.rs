//! The provenance of a product, derived from verified entries: its timeline, who held custody
//! when (and the entries proving each hand-over), what it was made from, its inspections and
//! deliveries, and the custody rules broken on the way.
//!
//! # Custody rules
//!
//! 1. Custody of an item (a product, lot or shipment) starts with the first event about it
//!    that is not an order, in event-time order: its author holds it from that event's time.
//!    An order is a promise about a product, not possession of it.
//! 2. Custody moves only by a hand-over (`tally:handOverTo`) in the giver's chain acknowledged
//!    by a receipt (`tally:receiptOf`) in the receiver's chain. From the receipt's event time the
//!    receiver holds it; until then the giver keeps it, and an unacknowledged hand-over is
//!    listed as pending.
//! 3. It is a rule violation, reported with the entries that show it:
//!    * a hand-over by a member that does not hold the item at that time (a second hand-over
//!      by someone who handed it on already);
//!    * a receipt of a hand-over that was made to another member, that was acknowledged
//!      already, whose giver no longer held the item, that is not recorded for this item, or
//!      that comes before the hand-over it acknowledges;
//!    * a delivery to the consumer by a member that does not hold the item.
//!
//! Events are taken in event-time order, ties broken by entry hash, so the derivation is
//! deterministic: a node, the CLI and an auditor with the same entries get the same answer.
//! A receipt must name the item (in `epcList` or a quantity list) to be found with it.
//!
//! # Times the ledger bounds
//!
//! An `eventTime` is its author's word. An event is flagged **backdated** (the step says why)
//! when its event time lies
//! * more than the genesis's reporting delay ([`crate::genesis::DisputeRules`], 72 h by
//!   default) before the time its author's node recorded it;
//! * before the event time of its author's previous entry about the item (chain order is
//!   what the ledger proves);
//! * before the hand-over that gave its author the item (the latest hand-over its author
//!   acknowledged, up to and including this entry): the giver signed that time, not the
//!   author.
//!
//! # Inspections and promises that count
//!
//! A quality inspection counts for blame only when it is not backdated and its author held
//! the item at its event time or has a role the genesis marks as inspector; otherwise it
//! is kept with the reason it is set aside. A delivery promise binds only the party that
//! signed it: an order's `tally:promisedDate` binds the order's author (the platform); a
//! hand-over's binds its receiver once the receiver acknowledged it. A promise the deliverer
//! writes on its own delivery binds no one. A backdated delivery is judged at the time it was
//! recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::entry::{Payload, SignedEntry};
use crate::event::{EpcisEvent, EventError, EventKind};
use crate::fork::ForkPoints;
use crate::genesis::{DEFAULT_MAX_REPORTING_DELAY_MS, Genesis};
use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::time::Timestamp;

/// How deep the inputs of inputs are followed.
pub const MAX_INPUT_DEPTH: usize = 8;

/// What the rules need to know of the consortium: who inspects and how late an event may
/// be recorded ([`crate::genesis::DisputeRules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judging {
    /// Members with a role the genesis marks as inspector.
    pub inspectors: BTreeSet<MemberId>,
    /// How long after its event time an event may be recorded, in milliseconds.
    pub max_reporting_delay_ms: u64,
}

impl Default for Judging {
    fn default() -> Self {
        Self {
            inspectors: BTreeSet::new(),
            max_reporting_delay_ms: DEFAULT_MAX_REPORTING_DELAY_MS,
        }
    }
}

impl Judging {
    /// The rules of `genesis`, for every member ever admitted.
    pub fn of(genesis: &Genesis) -> Self {
        Self {
            inspectors: genesis
                .all_members()
                .iter()
                .filter(|m| genesis.is_inspector(&m.id))
                .map(|m| m.id.clone())
                .collect(),
            max_reporting_delay_ms: genesis.dispute_rules().max_reporting_delay_ms,
        }
    }
}

/// An event entry as provenance reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The entry's hash.
    pub hash: EntryHash,
    /// Its author (signer).
    pub author: MemberId,
    /// Its place in the author's chain.
    pub seq: u64,
    /// When the author's node recorded it.
    pub recorded: Timestamp,
    /// Its C2M kind.
    pub kind: EventKind,
    /// Its event.
    pub event: EpcisEvent,
    /// Whether checkpoints of a quorum of members witness it.
    pub witnessed: bool,
}

impl Recorded {
    /// Reads an entry (whose signature and rules were checked); `None` for a purge entry.
    pub fn read(
        hash: EntryHash,
        entry: &SignedEntry,
        witnessed: bool,
    ) -> Result<Option<Self>, EventError> {
        let Payload::Event { kind, event } = &entry.body.payload else {
            return Ok(None);
        };
        let (event, _) = EpcisEvent::from_canonical(event)?;
        Ok(Some(Self {
            hash,
            author: entry.body.author.clone(),
            seq: entry.body.seq,
            recorded: entry.body.timestamp,
            kind: kind.clone(),
            event,
            witnessed,
        }))
    }

    /// Whether its event names `product` (in any identifier list, quantity list, input or
    /// output).
    pub fn is_about(&self, product: &ProductId) -> bool {
        self.event.products.contains(product)
    }

    fn order_key(&self) -> (Timestamp, EntryHash) {
        (self.event.event_time, self.hash)
    }
}

/// One event of a product's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The entry recording it.
    pub entry: EntryHash,
    /// Who signed it.
    pub signer: MemberId,
    /// Its place in the signer's chain.
    pub seq: u64,
    /// When it happened.
    pub event_time: Timestamp,
    /// When the signer's node recorded it.
    pub recorded: Timestamp,
    /// Its C2M kind.
    pub kind: EventKind,
    /// The EPCIS bizStep (CBV word or URI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_step: Option<String>,
    /// The EPCIS disposition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// Whether checkpoints of a quorum of members witness it.
    pub witnessed: bool,
    /// Why its event time cannot be taken at its author's word, when it cannot (see the
    /// module documentation).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub backdated: Option<String>,
    /// Whether its signer's chain forked at or before it ([`mark_forked`]).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub forked: bool,
}

/// A span of time one member held an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyInterval {
    /// The holder.
    pub holder: MemberId,
    /// From when (an event time).
    pub from: Timestamp,
    /// Until when; none while it still holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// The entries that gave it custody: its first event, or the hand-over and the receipt.
    pub since: Vec<EntryHash>,
    /// The hand-over and receipt that ended it.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub until: Vec<EntryHash>,
}

/// A hand-over not (yet) acknowledged: the giver keeps custody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingHandOver {
    /// The hand-over entry.
    pub entry: EntryHash,
    /// The giver.
    pub from: MemberId,
    /// The member it was offered to.
    pub to: MemberId,
    /// When.
    pub at: Timestamp,
}

/// A quality inspection of the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    /// The entry.
    pub entry: EntryHash,
    /// Who inspected.
    pub inspector: MemberId,
    /// When.
    pub at: Timestamp,
    /// Whether the item conformed.
    pub passed: bool,
    /// Why it does not count for blame, when it does not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub set_aside: Option<String>,
}

/// A delivery date promised, and whom it binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    /// The entry that states it: an order, or a hand-over.
    pub entry: EntryHash,
    /// The date promised.
    pub date: Timestamp,
    /// The member it binds: the order's author, or the receiver of the hand-over.
    pub binds: MemberId,
    /// The receipt by which the receiver accepted a hand-over's promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<EntryHash>,
}

/// A delivery to the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The entry.
    pub entry: EntryHash,
    /// Who delivered.
    pub by: MemberId,
    /// When (the event time).
    pub at: Timestamp,
    /// The time lateness is judged at: the event time, or the record time of a backdated
    /// delivery.
    pub judged_at: Timestamp,
    /// The binding promise in force at the delivery, if one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promise: Option<Promise>,
    /// The date the deliverer itself wrote on the delivery, which binds no one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stated: Option<Timestamp>,
    /// How late, in milliseconds, when after the binding promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by_ms: Option<u64>,
}

/// A custody rule broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which rule (`hand_over_without_custody`, `receipt_by_other_member`,
    /// `receipt_already_given`, `receipt_from_former_holder`, `receipt_of_unknown_hand_over`,
    /// `receipt_before_hand_over`, `delivery_without_custody`).
    pub rule: String,
    /// The member that broke it.
    pub member: MemberId,
    /// What happened.
    pub detail: String,
    /// The entries that show it.
    pub entries: Vec<EntryHash>,
}

/// An input an item was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputOrigin {
    /// The input (canonical Digital Link).
    pub product: String,
    /// The transformation (production step) that consumed it.
    pub via: EntryHash,
    /// The input's own provenance, when within [`MAX_INPUT_DEPTH`] (and not already followed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Box<Provenance>>,
}

/// What the entries say about one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The product (canonical Digital Link).
    pub product: String,
    /// Every event about it, in event-time order.
    pub timeline: Vec<Step>,
    /// Who held it when, in order.
    pub custody: Vec<CustodyInterval>,
    /// Hand-overs not acknowledged.
    pub pending: Vec<PendingHandOver>,
    /// What it was made from.
    pub inputs: Vec<InputOrigin>,
    /// Its quality inspections.
    pub inspections: Vec<Inspection>,
    /// Its deliveries to the consumer.
    pub deliveries: Vec<Delivery>,
    /// The binding delivery promises made for it, in the order they took effect.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub promises: Vec<Promise>,
    /// Custody rules broken.
    pub violations: Vec<Violation>,
}

impl Provenance {
    /// Who held the item at `at`, by the custody intervals.
    pub fn holder_at(&self, at: Timestamp) -> Option<&MemberId> {
        self.custody
            .iter()
            .rev()
            .find(|c| c.from <= at && c.to.is_none_or(|end| at < end))
            .map(|c| &c.holder)
    }
}

/// Derives the provenance of `product` from `records` (which may hold entries about other
/// products: the inputs are found among them), judged by `judging`.
pub fn derive(product: &ProductId, records: &[Recorded], judging: &Judging) -> Provenance {
    let mut followed = BTreeSet::new();
    derive_at(product, records, judging, 0, &mut followed)
}

fn derive_at(
    product: &ProductId,
    records: &[Recorded],
    judging: &Judging,
    depth: usize,
    followed: &mut BTreeSet<ProductId>,
) -> Provenance {
    followed.insert(product.clone());
    let mut about: Vec<&Recorded> = records.iter().filter(|r| r.is_about(product)).collect();
    about.sort_by_key(|r| r.order_key());
    about.dedup_by_key(|r| r.hash);
    let backdated = backdating(&about, judging);
    let timeline = about
        .iter()
        .map(|r| Step {
            entry: r.hash,
            signer: r.author.clone(),
            seq: r.seq,
            event_time: r.event.event_time,
            recorded: r.recorded,
            kind: r.kind.clone(),
            biz_step: r.event.biz_step.clone(),
            disposition: r.event.disposition.clone(),
            witnessed: r.witnessed,
            backdated: backdated.get(&r.hash).cloned(),
            forked: false,
        })
        .collect();
    let custody = Custody::derive(&about);
    let promised = promises(&about, &custody.intervals);
    let mut provenance = Provenance {
        product: product.as_str().to_owned(),
        timeline,
        custody: custody.intervals,
        pending: custody.pending.into_values().collect(),
        inputs: Vec::new(),
        inspections: Vec::new(),
        deliveries: Vec::new(),
        promises: promised.iter().map(|(_, p)| p.clone()).collect(),
        violations: custody.violations,
    };
    for r in &about {
        if let EventKind::QualityInspection { passed } = r.kind {
            let at = r.event.event_time;
            let set_aside = if let Some(why) = backdated.get(&r.hash) {
                Some(format!("backdated: {why}"))
            } else if judging.inspectors.contains(&r.author)
                || provenance.holder_at(at) == Some(&r.author)
            {
                None
            } else {
                Some(format!(
                    "{} did not hold the item at {at} (held by {}) and has no inspector role",
                    r.author,
                    provenance
                        .holder_at(at)
                        .map_or("no one".to_owned(), ToString::to_string)
                ))
            };
            provenance.inspections.push(Inspection {
                entry: r.hash,
                inspector: r.author.clone(),
                at,
                passed,
                set_aside,
            });
        }
    }
    for (index, r) in about.iter().enumerate() {
        let EventKind::Delivery { promised: stated } = r.kind else {
            continue;
        };
        let judged_at = if backdated.contains_key(&r.hash) {
            r.recorded
        } else {
            r.event.event_time
        };
        // The promise in force: the last one that took effect before the delivery.
        let promise = promised
            .iter()
            .rev()
            .find(|(took_effect, _)| *took_effect < index)
            .map(|(_, p)| p.clone());
        let late_by_ms = promise
            .as_ref()
            .filter(|p| judged_at > p.date)
            .map(|p| judged_at.0 - p.date.0);
        provenance.deliveries.push(Delivery {
            entry: r.hash,
            by: r.author.clone(),
            at: r.event.event_time,
            judged_at,
            promise,
            stated,
            late_by_ms,
        });
    }
    for r in &about {
        if !r.event.outputs.contains(product) {
            continue;
        }
        for input in &r.event.inputs {
            let origin = (depth + 1 < MAX_INPUT_DEPTH && !followed.contains(input))
                .then(|| Box::new(derive_at(input, records, judging, depth + 1, followed)));
            provenance.inputs.push(InputOrigin {
                product: input.as_str().to_owned(),
                via: r.hash,
                provenance: origin,
            });
        }
    }
    provenance
}

/// Marks the steps of `provenance` (and of its inputs') whose signer's chain forked at or
/// before them.
pub fn mark_forked(provenance: &mut Provenance, points: &ForkPoints) {
    if points.is_empty() {
        return;
    }
    for step in &mut provenance.timeline {
        step.forked = points.is_forked(&step.signer, step.seq);
    }
    for input in &mut provenance.inputs {
        if let Some(inner) = input.provenance.as_mut() {
            mark_forked(inner, points);
        }
    }
}

/// Why each backdated event of `about` (in event-time order) is (see the module
/// documentation), by entry.
fn backdating(about: &[&Recorded], judging: &Judging) -> BTreeMap<EntryHash, String> {
    let by_hash: BTreeMap<EntryHash, &Recorded> = about.iter().map(|r| (r.hash, *r)).collect();
    let mut found = BTreeMap::new();
    for r in about {
        let at = r.event.event_time;
        let delay = r.recorded.0.saturating_sub(at.0);
        if delay > judging.max_reporting_delay_ms {
            found.insert(
                r.hash,
                format!(
                    "recorded at {}, {} after its event time; the genesis allows {}",
                    r.recorded,
                    duration_text(delay),
                    duration_text(judging.max_reporting_delay_ms)
                ),
            );
            continue;
        }
        // The author's earlier entries about the item, by chain order.
        let earlier = about
            .iter()
            .filter(|o| o.author == r.author && o.seq < r.seq);
        if let Some(previous) = earlier.max_by_key(|o| o.seq)
            && at < previous.event.event_time
        {
            found.insert(
                r.hash,
                format!(
                    "its event time {at} is before that of {}'s previous entry about the item (place {}, at {})",
                    r.author, previous.seq, previous.event.event_time
                ),
            );
            continue;
        }
        // The receipt itself included: a receipt dated before its hand-over is backdated too.
        let gave = about
            .iter()
            .filter(|o| o.author == r.author && o.seq <= r.seq)
            .filter_map(|o| match &o.kind {
                EventKind::Receipt { hand_over } => by_hash.get(hand_over).map(|h| (o.seq, *h)),
                _ => None,
            })
            .max_by_key(|(seq, _)| *seq)
            .map(|(_, hand_over)| hand_over);
        if let Some(hand_over) = gave
            && at < hand_over.event.event_time
        {
            found.insert(
                r.hash,
                format!(
                    "its event time {at} is before the hand-over {} that gave {} the item (at {})",
                    hand_over.hash.short(),
                    r.author,
                    hand_over.event.event_time
                ),
            );
        }
    }
    found
}

/// The binding promises of `about`, each with the index in `about` from which it is in force:
/// an order's from the order, a hand-over's from the receipt that accepted it (found in the
/// custody `intervals`, so only a receipt that moved custody accepts a promise).
fn promises(about: &[&Recorded], intervals: &[CustodyInterval]) -> Vec<(usize, Promise)> {
    let index: BTreeMap<EntryHash, usize> =
        about.iter().enumerate().map(|(i, r)| (r.hash, i)).collect();
    let mut found = Vec::new();
    for (i, r) in about.iter().enumerate() {
        if let (EventKind::Order, Some(date)) = (&r.kind, r.event.promised) {
            found.push((
                i,
                Promise {
                    entry: r.hash,
                    date,
                    binds: r.author.clone(),
                    accepted_by: None,
                },
            ));
        }
    }
    for interval in intervals {
        let [hand_over, receipt] = interval.since.as_slice() else {
            continue;
        };
        let (Some(&offered), Some(&accepted)) = (index.get(hand_over), index.get(receipt)) else {
            continue;
        };
        if let Some(date) = about[offered].event.promised {
            found.push((
                accepted,
                Promise {
                    entry: *hand_over,
                    date,
                    binds: interval.holder.clone(),
                    accepted_by: Some(*receipt),
                },
            ));
        }
    }
    found.sort_by_key(|(i, _)| *i);
    found
}

/// A duration in words: `3 days 4 h`, `5 h 12 min`, `7 min`.
pub fn duration_text(ms: u64) -> String {
    let hours = ms / 3_600_000;
    if hours >= 48 {
        format!("{} days {} h", hours / 24, hours % 24)
    } else if hours >= 1 {
        format!("{hours} h {} min", (ms % 3_600_000) / 60_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// The custody of one item, built event by event.
#[derive(Default)]
struct Custody {
    intervals: Vec<CustodyInterval>,
    pending: BTreeMap<EntryHash, PendingHandOver>,
    acknowledged: BTreeSet<EntryHash>,
    violations: Vec<Violation>,
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

    fn derive(about: &[&Recorded]) -> Self {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::event::classify;
    use serde_json::{Value, json};

    pub(crate) const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
    pub(crate) const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

    /// A record of `event` by `author`, its hash made from `n`.
    pub(crate) fn record(n: u8, author: &str, event: Value) -> Recorded {
        let parsed = EpcisEvent::from_value(&event).unwrap();
        let kind = classify(&event, &parsed).unwrap();
        Recorded {
            hash: EntryHash::digest(&[n]),
            author: MemberId::new(author).unwrap(),
            seq: u64::from(n),
            recorded: Timestamp(parsed.event_time.0 + 1),
            kind,
            event: parsed,
            witnessed: n.is_multiple_of(2),
        }
    }

    pub(crate) fn at(day: u32, hour: u32) -> String {
        format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00")
    }

    pub(crate) fn observe(day: u32, hour: u32, extra: Value) -> Value {
        let mut event = json!({
            "type": "ObjectEvent", "action": "OBSERVE",
            "eventTime": at(day, hour), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
        });
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    /// The demo's story: order, lot made and handed to the factory, sofa assembled from it,
    /// inspected, handed to logistics, received, delivered late.
    pub(crate) fn story() -> Vec<Recorded> {
        let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
        let lot_handed = record(
            3,
            "supplier",
            json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
                "eventTime": at(3, 8), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
                "tally:handOverTo": "manufacturer"}),
        );
        let sofa_handed = record(
            7,
            "manufacturer",
            observe(
                6,
                16,
                json!({"bizStep": "shipping", "tally:handOverTo": "logistics",
                    "tally:promisedDate": at(9, 18)}),
            ),
        );
        vec![
            record(1, "platform", observe(1, 9, json!({"tally:kind": "order"}))),
            record(
                2,
                "supplier",
                json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                    "eventTime": at(2, 10), "eventTimeZoneOffset": "+08:00", "quantityList": lot}),
            ),
            lot_handed.clone(),
            record(
                4,
                "manufacturer",
                json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                    "eventTime": at(3, 16), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
                    "tally:receiptOf": lot_handed.hash.to_hex()}),
            ),
            record(
                5,
                "manufacturer",
                json!({"type": "TransformationEvent", "bizStep": "assembling",
                    "eventTime": at(4, 14), "eventTimeZoneOffset": "+08:00",
                    "inputQuantityList": [{"epcClass": LOT, "quantity": 9, "uom": "MTR"}],
                    "outputEPCList": [SOFA]}),
            ),
            record(
                6,
                "manufacturer",
                observe(
                    5,
                    15,
                    json!({"bizStep": "inspecting", "disposition": "conformant"}),
                ),
            ),
            sofa_handed.clone(),
            record(
                8,
                "logistics",
                observe(
                    6,
                    18,
                    json!({"bizStep": "receiving",
                    "tally:receiptOf": sofa_handed.hash.to_hex()}),
                ),
            ),
            record(
                9,
                "logistics",
                observe(
                    10,
                    11,
                    json!({"bizStep": "arriving", "tally:kind": "delivery",
                    "tally:promisedDate": at(9, 18)}),
                ),
            ),
        ]
    }

    fn sofa() -> ProductId {
        ProductId::parse(SOFA).unwrap()
    }

    fn member(id: &str) -> MemberId {
        MemberId::new(id).unwrap()
    }

    #[test]
    fn the_story_gives_custody_inputs_inspections_and_lateness() {
        let records = story();
        let p = derive(&sofa(), &records, &Judging::default());
        assert_eq!(p.product, SOFA);
        // Order, assembly, inspection, hand-over, receipt, delivery.
        assert_eq!(p.timeline.len(), 6);
        let holders: Vec<_> = p.custody.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(holders, ["manufacturer", "logistics"]);
        assert_eq!(p.custody[0].since, vec![records[4].hash]);
        assert_eq!(p.custody[0].until, vec![records[6].hash, records[7].hash]);
        assert_eq!(p.custody[1].since, p.custody[0].until);
        assert_eq!(p.custody[1].to, None);
        assert!(p.pending.is_empty());
        assert!(p.violations.is_empty(), "{:?}", p.violations);
        assert_eq!(p.inspections.len(), 1);
        assert!(p.inspections[0].passed);
        assert_eq!(p.deliveries[0].late_by_ms, Some(17 * 3_600_000));
        // The promise logistics accepted with the sofa's hand-over binds it.
        let promise = p.deliveries[0].promise.as_ref().unwrap();
        assert_eq!(promise.binds, member("logistics"));
        assert_eq!(promise.entry, records[6].hash);
        assert_eq!(promise.accepted_by, Some(records[7].hash));
        // The lot it was made of, with its own custody: supplier, then the factory.
        assert_eq!(p.inputs.len(), 1);
        assert_eq!(p.inputs[0].product, LOT);
        assert_eq!(p.inputs[0].via, records[4].hash);
        let lot = p.inputs[0].provenance.as_ref().unwrap();
        let holders: Vec<_> = lot.custody.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(holders, ["supplier", "manufacturer"]);
    }

    #[test]
    fn the_order_of_the_records_given_does_not_matter() {
        let mut records = story();
        let expected = derive(&sofa(), &records, &Judging::default());
        records.reverse();
        assert_eq!(derive(&sofa(), &records, &Judging::default()), expected);
        records.swap(0, 4);
        assert_eq!(derive(&sofa(), &records, &Judging::default()), expected);
    }

    #[test]
    fn until_the_receipt_the_giver_keeps_custody() {
        let mut records = story();
        records.retain(|r| r.seq != 8 && r.seq != 9);
        let p = derive(&sofa(), &records, &Judging::default());
        let holders: Vec<_> = p.custody.iter().map(|c| c.holder.as_str()).collect();
        assert_eq!(holders, ["manufacturer"]);
        assert_eq!(p.pending.len(), 1);
        assert_eq!(p.pending[0].to, member("logistics"));
    }

    #[test]
    fn a_second_hand_over_by_the_former_holder_is_a_violation() {
        let mut records = story();
        let again = record(
            10,
            "manufacturer",
            observe(
                7,
                9,
                json!({"bizStep": "shipping", "tally:handOverTo": "platform"}),
            ),
        );
        records.push(again.clone());
        records.push(record(
            11,
            "platform",
            observe(
                7,
                12,
                json!({"bizStep": "receiving", "tally:receiptOf": again.hash.to_hex()}),
            ),
        ));
        let p = derive(&sofa(), &records, &Judging::default());
        let rules: Vec<_> = p.violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(
            rules,
            ["hand_over_without_custody", "receipt_from_former_holder"]
        );
        assert_eq!(p.violations[0].member, member("manufacturer"));
        assert_eq!(p.violations[0].entries, vec![again.hash]);
        // Custody did not move.
        assert_eq!(p.custody.last().unwrap().holder, member("logistics"));
    }

    #[test]
    fn receipts_that_do_not_fit_are_violations() {
        let records = story();
        let handed = records[6].clone();
        let cases = [
            (
                record(
                    12,
                    "platform",
                    observe(6, 19, json!({"tally:receiptOf": handed.hash.to_hex()})),
                ),
                "receipt_by_other_member",
            ),
            (
                record(
                    13,
                    "logistics",
                    observe(
                        6,
                        19,
                        json!({"tally:receiptOf": EntryHash::digest(b"x").to_hex()}),
                    ),
                ),
                "receipt_of_unknown_hand_over",
            ),
            (
                record(
                    14,
                    "logistics",
                    observe(6, 20, json!({"tally:receiptOf": handed.hash.to_hex()})),
                ),
                "receipt_already_given",
            ),
            (
                record(
                    15,
                    "logistics",
                    observe(6, 10, json!({"tally:receiptOf": handed.hash.to_hex()})),
                ),
                "receipt_before_hand_over",
            ),
            (
                record(
                    16,
                    "platform",
                    observe(10, 12, json!({"tally:kind": "delivery"})),
                ),
                "delivery_without_custody",
            ),
        ];
        for (extra, rule) in cases {
            let mut with = records.clone();
            with.push(extra);
            let p = derive(&sofa(), &with, &Judging::default());
            let rules: Vec<_> = p.violations.iter().map(|v| v.rule.as_str()).collect();
            assert_eq!(rules, [rule]);
        }
    }

    #[test]
    fn inputs_that_loop_are_followed_once() {
        // A lot made from the sofa made from the lot: each is followed once.
        let mut records = story();
        records.push(record(
            17,
            "manufacturer",
            json!({"type": "TransformationEvent", "bizStep": "repairing",
                "eventTime": at(11, 9), "eventTimeZoneOffset": "+08:00",
                "inputEPCList": [SOFA],
                "outputQuantityList": [{"epcClass": LOT, "quantity": 1, "uom": "MTR"}]}),
        ));
        let p = derive(&sofa(), &records, &Judging::default());
        let lot = p.inputs[0].provenance.as_ref().unwrap();
        assert_eq!(lot.inputs.len(), 1);
        assert_eq!(lot.inputs[0].product, SOFA);
        assert!(lot.inputs[0].provenance.is_none());
    }
}
