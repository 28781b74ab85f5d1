//! Domain separation: the distinct prefix of every hash and signature Tally makes.
//!
//! A hash or signature made for one purpose must never be mistaken for one made for another
//! (an entry hash for a checkpoint hash, a Merkle leaf for an inner node). Each purpose has a
//! zero-sized marker type implementing [`Domain`]; [`crate::hash::Hash`] is generic over it,
//! so the compiler keeps the purposes apart, and the prefix is fed to SHA-256 first.
//!
//! The Merkle leaf and node prefixes are the single bytes `0x00` and `0x01` of RFC 6962; the
//! others are ASCII labels ending in a NUL byte, which no label contains, so no prefix is a
//! prefix of another.

/// A purpose of a hash or signature, with the bytes hashed before the content.
pub trait Domain: Copy + Eq + Ord + std::hash::Hash + Default + std::fmt::Debug + 'static {
    /// The prefix fed to the hash before the content.
    const PREFIX: &'static [u8];
    /// A short human name, used in error messages and debug output.
    const NAME: &'static str;
}

macro_rules! domains {
    ($($(#[$doc:meta])* $ty:ident = $name:literal, $prefix:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $ty;
        impl Domain for $ty {
            const PREFIX: &'static [u8] = $prefix;
            const NAME: &'static str = $name;
        }
    )*};
}

domains! {
    /// The hash of an entry's unsigned body: its identity on every node.
    EntryDomain = "entry", b"tally/v1/entry\0";
    /// The hash of a checkpoint's unsigned body.
    CheckpointDomain = "checkpoint", b"tally/v1/checkpoint\0";
    /// The network id: the hash of the genesis document.
    GenesisDomain = "genesis", b"tally/v1/genesis\0";
    /// A leaf of a Merkle tree (RFC 6962: `0x00 || leaf data`).
    MerkleLeafDomain = "merkle leaf", &[0x00];
    /// An inner node of a Merkle tree (RFC 6962: `0x01 || left || right`).
    MerkleNodeDomain = "merkle node", &[0x01];
    /// The data of a selective-disclosure leaf (salt, field name, value), hashed before it
    /// becomes a Merkle leaf.
    DisclosureLeafDomain = "disclosure leaf", b"tally/v1/disclosure-leaf\0";
    /// The data of a chain-span leaf in a checkpoint's Merkle tree.
    SpanLeafDomain = "chain span leaf", b"tally/v1/span-leaf\0";
    /// The hash of a governance change's unsigned body.
    ChangeDomain = "governance change", b"tally/v1/change\0";
    /// The hash of an attestation's unsigned body ([`crate::reports::attestation`]).
    AttestationDomain = "attestation", b"tally/v1/attestation\0";
}

/// The prefixes of signatures. A signature is always over `prefix || 32-byte hash`, never over
/// raw content, so one signed message can never be replayed as another kind.
pub mod signing {
    /// An entry author's signature over the entry hash.
    pub const ENTRY: &[u8] = b"tally/v1/sign/entry\0";
    /// A witness's signature over a checkpoint hash.
    pub const CHECKPOINT: &[u8] = b"tally/v1/sign/checkpoint\0";
    /// A founder's signature over the network id (the genesis document hash).
    pub const GENESIS: &[u8] = b"tally/v1/sign/genesis\0";
    /// A founder's approval of a governance change, over the change hash.
    pub const CHANGE: &[u8] = b"tally/v1/sign/change\0";
    /// A member's signature over an attestation hash.
    pub const ATTESTATION: &[u8] = b"tally/v1/sign/attestation\0";
}
