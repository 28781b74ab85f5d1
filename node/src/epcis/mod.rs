//! GS1 EPCIS 2.0 on the node: what the `/epcis` routes ([`crate::api::epcis`]) do beyond the
//! SDK's checks and matching ([`tally_sdk::epcis`]).
//!
//! * [`capture`]: a checked document recorded whole or not at all, duplicates recognised by
//!   their Event Hash ID, and the capture jobs that report it;
//! * [`inflight`]: captures side by side, each waiting only for those recording its events;
//! * [`search`]: the event query answered from the node's indexes, in pages.
//!
//! `docs/epcis.md` documents both for EPCIS users.

pub mod capture;
pub mod inflight;
pub mod search;
