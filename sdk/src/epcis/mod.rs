//! GS1 EPCIS 2.0 beyond the event model of [`crate::event`]: the EPCIS Event Hash ID
//! ([`event_hash`]).
//!
//! [`normalise`] is the earlier copy of the identifier normalisation, superseded by
//! [`crate::gs1::normalise_epc`] (which the Event Hash ID uses); nothing in the crate uses it.

pub mod event_hash;
pub mod normalise;
