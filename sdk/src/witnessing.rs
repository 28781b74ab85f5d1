//! What nodes sign about what they hold, and the proofs when a member signs two histories: signed
//! checkpoints of each node's chains ([`checkpoint`]), the witness quorum and its evidence
//! ([`witness`]), fork proofs of equivocation ([`fork`]).

pub mod checkpoint;
pub mod fork;
pub mod witness;
