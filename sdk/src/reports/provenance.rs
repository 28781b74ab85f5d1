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
//! * more than the genesis's reporting delay ([`crate::membership::genesis::DisputeRules`], 72 h by
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
//!
//! # Names
//!
//! A product's name is what its maker says in the event that made it: the instance/lot master
//! data (`ilmd`, CBV `descriptionShort`) of a production step that is an `ObjectEvent` `ADD`
//! about the product or a `TransformationEvent` with the product among its outputs, and that
//! is not backdated. Every such name is kept, in event-time order, with the member that
//! signed it; the first is the one a page shows first. So a member whose role may not record
//! production steps cannot name a product at all, a name in an observation, an order or a
//! step that only handled the product counts for nothing, and a member that may make things
//! and names another's product is shown beside the maker's name, signed, not instead of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::entry::{Payload, SignedEntry};
use crate::event::{Action, EpcisEvent, EpcisEventType, EventError, EventKind};
use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::membership::genesis::DEFAULT_MAX_REPORTING_DELAY_MS;
use crate::time::Timestamp;
use crate::witnessing::fork::ForkPoints;

use custody::Custody;

/// How deep the inputs of inputs are followed.
pub const MAX_INPUT_DEPTH: usize = 8;

/// What the rules need to know of the consortium: who inspects and how late an event may
/// be recorded ([`crate::membership::genesis::DisputeRules`]).
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
    pub fn of(genesis: &Consortium) -> Self {
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

/// A name a production step gave the product it made (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductName {
    /// The name.
    pub name: String,
    /// The member that signed it.
    pub by: MemberId,
    /// The production step.
    pub entry: EntryHash,
}

/// What the entries say about one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The product (canonical Digital Link).
    pub product: String,
    /// The names its production steps gave it, in event-time order (see the module
    /// documentation).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub names: Vec<ProductName>,
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
    let names = about
        .iter()
        .filter(|r| !backdated.contains_key(&r.hash) && made(r, product))
        .filter_map(|r| {
            Some(ProductName {
                name: r.event.product_name.clone()?,
                by: r.author.clone(),
                entry: r.hash,
            })
        })
        .collect();
    let mut provenance = Provenance {
        product: product.as_str().to_owned(),
        names,
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

/// Whether `record` is a production step that made `product`: an `ObjectEvent` `ADD` about it,
/// or a transformation with it among the outputs.
fn made(record: &Recorded, product: &ProductId) -> bool {
    let event = &record.event;
    record.kind == EventKind::ProductionStep
        && (event.outputs.contains(product)
            || (event.event_type == EpcisEventType::ObjectEvent
                && event.action == Some(Action::Add)
                && event.products.contains(product)))
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

mod custody;

#[cfg(test)]
pub(crate) mod tests;
