//! What the ledger proves to someone who does not trust the node, offline: a product's timeline and
//! custody ([`provenance`]), who is responsible for a defect ([`responsibility`]), the evidence
//! bundle that proves it ([`bundle`]), members' attestations that a bundle leaves nothing out
//! ([`attestation`]), and an entry's private fields disclosed one by one with their proof
//! ([`disclosed`]).

pub mod attestation;
pub mod bundle;
pub mod disclosed;
pub mod provenance;
pub mod responsibility;
