//! GS1 EPCIS 2.0 beyond the event model of [`crate::event`]:
//!
//! * [`event_hash`]: the EPCIS Event Hash ID, whose identifier normalisation is
//!   [`crate::gs1::normalise_epc`];
//! * [`schema`]: validation against the EPCIS 2.0 JSON Schema;
//! * [`document`]: capture, an EPCIS document checked and split into events that stand alone,
//!   each with its Event Hash ID, and Tally's capture fields (private fields, references);
//! * [`query`]: the event query of the REST binding, its parameters and what matches them,
//!   with [`pattern`] for EPC matching;
//! * [`answer`]: answered events and the `EPCISQueryDocument` of an answer, with Tally's proof
//!   material ([`proof`]);
//! * [`exception`]: the binding's error types, which every error here maps to.
//!
//! None of it does IO: a node serves it over HTTP, a client or auditor runs it offline.

pub mod answer;
pub mod document;
pub mod event_hash;
pub mod exception;
pub mod pattern;
pub mod proof;
pub mod query;
pub mod schema;
