//! GS1 EPCIS 2.0 beyond the event model of [`crate::event`].
