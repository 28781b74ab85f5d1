//! Private fields: salted field commitments and field-by-field disclosure ([`disclosure`]), the
//! fields a node holds of an entry ([`held`]), and fields sealed to a reader's X25519 key
//! ([`sealed`]). The Merkle trees under the commitments are [`crate::merkle`]'s; a disclosure file
//! anyone checks offline is [`crate::reports::disclosed`].

pub mod disclosure;
pub mod held;
pub mod sealed;
