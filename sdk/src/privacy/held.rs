//! What a node holds of one entry's private fields: the Merkle leaves of every field, and the
//! opened fields (value and salt) it may read.
//!
//! The author's node holds every field; a reader's node holds only the fields the genesis
//! policy lets its member read ([`crate::privacy::sealed`] carries them there). Both keep all the
//! leaves, which are salted hashes and so reveal nothing of the values they commit to: with
//! them a holder rebuilds the commitment's whole Merkle tree, and can prove any subset of the
//! fields it holds ([`HeldFields::disclose`]) without ever having seen the others. A purge
//! removes opened fields and keeps their leaves, so the fields that remain stay provable.

use serde::{Deserialize, Serialize};

use crate::hash::LeafHash;
use crate::ids::FieldName;
use crate::merkle::{MerkleTree, root_of};
use crate::privacy::disclosure::{Disclosure, DisclosureError, OpenedField, PrivateCommitment};

/// One entry's private fields as a node holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFields {
    /// The leaf of every field of the commitment, in leaf (field-name) order.
    pub leaves: Vec<LeafHash>,
    /// The opened fields held, in field-name order.
    pub fields: Vec<OpenedField>,
}

impl HeldFields {
    /// Everything the author holds: every opened field of the commitment (in any order).
    pub fn complete(
        commitment: &PrivateCommitment,
        opened: &[OpenedField],
    ) -> Result<Self, DisclosureError> {
        crate::privacy::disclosure::verify_complete(commitment, opened)?;
        let mut fields = opened.to_vec();
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let leaves = fields
            .iter()
            .map(OpenedField::leaf)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { leaves, fields })
    }

    /// The same leaves with only the opened fields `keep` accepts: what one reader may get,
    /// or what remains after a purge.
    pub fn only(&self, mut keep: impl FnMut(&FieldName) -> bool) -> Self {
        Self {
            leaves: self.leaves.clone(),
            fields: self
                .fields
                .iter()
                .filter(|f| keep(&f.name))
                .cloned()
                .collect(),
        }
    }

    /// The opened field `name`, if held.
    pub fn field(&self, name: &FieldName) -> Option<&OpenedField> {
        self.fields.iter().find(|f| &f.name == name)
    }

    /// Checks the holding against the signed commitment: the leaves reproduce its root, and
    /// every opened field is one of its fields, once, and hashes to that field's leaf.
    pub fn verify(&self, commitment: &PrivateCommitment) -> Result<(), DisclosureError> {
        commitment.check()?;
        if self.leaves.len() != commitment.fields.len() || root_of(&self.leaves) != commitment.root
        {
            return Err(DisclosureError::LeavesMismatch);
        }
        let mut seen = vec![false; self.leaves.len()];
        for field in &self.fields {
            let position = commitment
                .position(&field.name)
                .ok_or_else(|| DisclosureError::UnknownField(field.name.clone()))?
                as usize;
            match seen.get_mut(position) {
                Some(slot) if !*slot => *slot = true,
                _ => return Err(DisclosureError::DuplicateField(field.name.clone())),
            }
            if self.leaves.get(position) != Some(&field.leaf()?) {
                return Err(DisclosureError::Mismatch(field.name.clone()));
            }
        }
        Ok(())
    }

    /// A disclosure of the held fields `names`, with the multi-proof binding them to the
    /// commitment's root.
    pub fn disclose(
        &self,
        commitment: &PrivateCommitment,
        names: &[FieldName],
    ) -> Result<Disclosure, DisclosureError> {
        if names.is_empty() {
            return Err(DisclosureError::Empty);
        }
        self.verify(commitment)?;
        let mut chosen: Vec<(u32, OpenedField)> = Vec::with_capacity(names.len());
        for name in names {
            let position = commitment
                .position(name)
                .ok_or_else(|| DisclosureError::UnknownField(name.clone()))?;
            if chosen.iter().any(|(p, _)| *p == position) {
                return Err(DisclosureError::DuplicateField(name.clone()));
            }
            let field = self
                .field(name)
                .ok_or_else(|| DisclosureError::NotHeld(name.clone()))?;
            chosen.push((position, field.clone()));
        }
        chosen.sort_by_key(|(p, _)| *p);
        let positions: Vec<u32> = chosen.iter().map(|(p, _)| *p).collect();
        let proof = MerkleTree::new(self.leaves.clone())
            .prove(&positions)
            .map_err(DisclosureError::Proof)?;
        let disclosure = Disclosure {
            fields: chosen.into_iter().map(|(_, f)| f).collect(),
            proof,
        };
        // Cheap, and a disclosure that does not verify must never leave the holder.
        disclosure.verify(commitment)?;
        Ok(disclosure)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::codec::CanonicalJson;
    use crate::privacy::disclosure::{CommitLimits, commit};

    fn name(text: &str) -> FieldName {
        FieldName::new(text).unwrap()
    }

    fn order() -> (PrivateCommitment, Vec<OpenedField>) {
        let mut fields = BTreeMap::new();
        for (field, value) in [
            ("consumer.address", "\"12 Canary Wharf\""),
            ("consumer.name", "\"Ada\""),
            ("consumer.phone", "\"+44 20 0000 0000\""),
            ("order.price", "129.5"),
            ("order.spec", "{\"size\":42}"),
        ] {
            fields.insert(
                name(field),
                CanonicalJson::from_slice(value.as_bytes(), 1 << 20).unwrap(),
            );
        }
        commit(fields, &CommitLimits::default()).unwrap()
    }

    #[test]
    fn a_reader_holding_some_fields_proves_any_subset_of_them() {
        let (commitment, opened) = order();
        let all = HeldFields::complete(&commitment, &opened).unwrap();
        all.verify(&commitment).unwrap();
        let carrier = all.only(|n| n.as_str().starts_with("consumer."));
        carrier.verify(&commitment).unwrap();
        for names in [
            vec![name("consumer.address")],
            vec![name("consumer.phone"), name("consumer.address")],
        ] {
            let disclosure = carrier.disclose(&commitment, &names).unwrap();
            disclosure.verify(&commitment).unwrap();
            assert_eq!(disclosure.fields.len(), names.len());
        }
        assert!(matches!(
            carrier.disclose(&commitment, &[name("order.spec")]),
            Err(DisclosureError::NotHeld(n)) if n == name("order.spec")
        ));
        assert!(matches!(
            carrier.disclose(&commitment, &[name("order.colour")]),
            Err(DisclosureError::UnknownField(_))
        ));
        assert!(matches!(
            carrier.disclose(&commitment, &[name("consumer.name"), name("consumer.name")]),
            Err(DisclosureError::DuplicateField(_))
        ));
    }

    #[test]
    fn a_purged_field_leaves_the_others_provable() {
        let (commitment, opened) = order();
        let all = HeldFields::complete(&commitment, &opened).unwrap();
        let purged = all.only(|n| n.as_str() != "consumer.address");
        purged.verify(&commitment).unwrap();
        assert!(purged.field(&name("consumer.address")).is_none());
        let disclosure = purged.disclose(&commitment, &[name("order.spec")]).unwrap();
        disclosure.verify(&commitment).unwrap();
    }

    #[test]
    fn a_holding_that_is_not_the_commitments_is_refused() {
        let (commitment, opened) = order();
        let all = HeldFields::complete(&commitment, &opened).unwrap();
        let mut changed = all.clone();
        changed.fields[0].value = CanonicalJson::from_slice(b"\"elsewhere\"", 1 << 20).unwrap();
        assert!(matches!(
            changed.verify(&commitment),
            Err(DisclosureError::Mismatch(n)) if n == name("consumer.address")
        ));
        let mut short = all.clone();
        short.leaves.pop();
        assert!(matches!(
            short.verify(&commitment),
            Err(DisclosureError::LeavesMismatch)
        ));
        let (other, _) = order();
        assert!(matches!(
            all.verify(&other),
            Err(DisclosureError::LeavesMismatch)
        ));
        let mut twice = all.clone();
        twice.fields.push(twice.fields[0].clone());
        assert!(matches!(
            twice.verify(&commitment),
            Err(DisclosureError::DuplicateField(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever byte of an encoded holding is flipped, it either fails to decode or fails
        /// to verify against the commitment; it never passes with a changed value.
        #[test]
        fn any_flipped_byte_is_caught(index in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (commitment, opened) = order();
            let all = HeldFields::complete(&commitment, &opened).unwrap();
            let mut bytes = crate::codec::encode("held fields", &all).unwrap();
            let at = index.index(bytes.len());
            bytes[at] ^= 1 << bit;
            if let Ok(changed) = crate::codec::decode::<HeldFields>("held fields", &bytes, 1 << 20) {
                prop_assert!(changed == all || changed.verify(&commitment).is_err());
            }
        }
    }
}
