//! The demo's C2M story, as the members' systems would record it: a consumer's custom sofa
//! ordered on the platform (name, phone, address and spec private), a linen lot made by the
//! supplier and handed over to the factory, the sofa assembled from it, inspected and handed to
//! the logistics firm, which receives and delivers it.
//!
//! Each step is recorded on the node of the member that does it, through the same pipeline as
//! `POST /v1/events`; receipts name the hand-over they acknowledge by its entry hash.

use serde_json::{Value, json};
use tally_sdk::hash::EntryHash;
use tally_sdk::time::Timestamp;

use crate::api::events::event_input;
use crate::commit::Committer;
use crate::ingest::EventInput;

/// The custom sofa.
pub const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
/// The linen lot it is made from.
pub const LINEN_LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

/// A step of the story could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("the demo's step \"{step}\" was refused: {reason}")]
pub struct StepError {
    /// The step.
    pub step: &'static str,
    /// Why.
    pub reason: String,
}

/// Who records what.
#[derive(Debug, Clone, Copy)]
pub struct Writers<'a> {
    /// The platform's node.
    pub platform: &'a Committer,
    /// The supplier's node.
    pub supplier: &'a Committer,
    /// The manufacturer's node.
    pub manufacturer: &'a Committer,
    /// The logistics firm's node.
    pub logistics: &'a Committer,
}

/// The time `hours` before `now`. The story happens over the three days before the demo
/// records it: within the genesis's reporting delay, so no event is taken as backdated.
fn hours_before(now: Timestamp, hours: u64) -> String {
    Timestamp(now.0.saturating_sub(hours * 3_600_000)).to_rfc3339()
}

fn lot(quantity: u32) -> Value {
    json!([{"epcClass": LINEN_LOT, "quantity": quantity, "uom": "MTR"}])
}

/// Records one event on `node`; the entry hash.
fn record(step: &'static str, node: &Committer, event: Value) -> Result<EntryHash, StepError> {
    let refused = |reason: String| StepError { step, reason };
    let input: EventInput = event_input(0, event).map_err(|e| refused(e.detail))?;
    let receipts = node
        .submit_events(vec![input])
        .map_err(|e| refused(e.to_string()))?;
    receipts
        .first()
        .map(|r| r.hash)
        .ok_or_else(|| refused("no receipt".into()))
}

/// Records the story as of `now` (blocking: call it off the async runtime); the products it
/// is about.
pub fn play(nodes: Writers<'_>, now: Timestamp) -> Result<Vec<&'static str>, StepError> {
    let at = |hours| hours_before(now, hours);
    // The delivery date the factory passes on with the sofa: binding on logistics once it
    // acknowledges the hand-over, and met.
    let promised = Timestamp(now.0.saturating_add(24 * 3_600_000)).to_rfc3339();
    record(
        "the consumer's custom order",
        nodes.platform,
        json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": at(66), "eventTimeZoneOffset": "+08:00",
            "epcList": [SOFA], "tally:kind": "order",
            "private": {
                "consumer.name": "Li Wei",
                "consumer.phone": "+86 571 0000 0000",
                "consumer.address": "88 Example Road, Hangzhou",
                "order.spec": {"model": "sofa-3", "fabric": "linen", "colour": "sage"},
                "order.price": {"amount": "4999.00", "currency": "CNY"}
            }
        }),
    )?;
    record(
        "the supplier's linen lot",
        nodes.supplier,
        json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": at(60), "eventTimeZoneOffset": "+08:00",
            "quantityList": lot(40),
            "ilmd": {"cbvmda:descriptionShort": "Linen"}
        }),
    )?;
    let lot_handed = record(
        "the lot handed over to the factory",
        nodes.supplier,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "disposition": "in_transit",
            "eventTime": at(54), "eventTimeZoneOffset": "+08:00",
            "quantityList": lot(40), "tally:handOverTo": "manufacturer"
        }),
    )?;
    record(
        "the factory receives the lot",
        nodes.manufacturer,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "disposition": "in_progress",
            "eventTime": at(48), "eventTimeZoneOffset": "+08:00",
            "quantityList": lot(40), "tally:receiptOf": lot_handed.to_hex()
        }),
    )?;
    record(
        "the sofa assembled from the lot",
        nodes.manufacturer,
        json!({
            "type": "TransformationEvent", "bizStep": "assembling",
            "disposition": "in_progress",
            "eventTime": at(40), "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": lot(9), "outputEPCList": [SOFA],
            "ilmd": {"cbvmda:descriptionShort": "Three-seat sofa"}
        }),
    )?;
    record(
        "the final inspection",
        nodes.manufacturer,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting",
            "disposition": "conformant",
            "eventTime": at(30), "eventTimeZoneOffset": "+08:00",
            "epcList": [SOFA]
        }),
    )?;
    let sofa_handed = record(
        "the sofa handed over to logistics",
        nodes.manufacturer,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "disposition": "in_transit",
            "eventTime": at(20), "eventTimeZoneOffset": "+08:00",
            "epcList": [SOFA], "tally:handOverTo": "logistics",
            "tally:promisedDate": promised
        }),
    )?;
    record(
        "logistics receives the sofa",
        nodes.logistics,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "disposition": "in_transit",
            "eventTime": at(18), "eventTimeZoneOffset": "+08:00",
            "epcList": [SOFA], "tally:receiptOf": sofa_handed.to_hex()
        }),
    )?;
    record(
        "the delivery to the consumer",
        nodes.logistics,
        json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
            "eventTime": at(2), "eventTimeZoneOffset": "+08:00",
            "epcList": [SOFA], "tally:kind": "delivery"
        }),
    )?;
    Ok(vec![SOFA, LINEN_LOT])
}
