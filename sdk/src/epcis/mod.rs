//! GS1 EPCIS 2.0 beyond the event model of [`crate::event`]: the EPCIS Event Hash ID
//! ([`event_hash`]) and the identifier normalisation it uses ([`normalise`]).

pub mod event_hash;
pub mod normalise;
