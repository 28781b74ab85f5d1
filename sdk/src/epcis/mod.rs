//! GS1 EPCIS 2.0 beyond the event model of [`crate::event`]: the EPCIS Event Hash ID
//! ([`event_hash`]), whose identifier normalisation is [`crate::gs1::normalise_epc`].

pub mod event_hash;
