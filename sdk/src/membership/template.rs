//! The standard C2M consortium template: the roles, permissions and private-field policy of a
//! consumer-to-manufacturer supply chain, and the deterministic demo consortium built on it.
//!
//! `tally genesis init` starts from this template; `genesis/demo/` is [`demo_consortium`]
//! written out (CI regenerates it and diffs it against the committed copy).

use crate::crypto::{SigningKey, X25519SecretKey};
use crate::event::KindName;
use crate::hash::Hash;
use crate::ids::{FieldName, InvalidName, MemberId, RoleName};
use crate::membership::genesis::{
    DisputeRules, GENESIS_FORMAT, GenesisDocument, GenesisError, Limits, Member,
    PrivateFieldPolicy, Role, SignedGenesis, sign_document,
};
use crate::membership::keyfile::MemberKeys;
use crate::time::Timestamp;

fn role_name(text: &str) -> Result<RoleName, InvalidName> {
    RoleName::new(text)
}

/// The C2M roles and what each may write.
pub fn c2m_roles() -> Result<Vec<Role>, InvalidName> {
    use KindName::*;
    let role = |name: &str, description: &str, kinds: &[KindName]| -> Result<Role, InvalidName> {
        Ok(Role {
            name: role_name(name)?,
            description: description.into(),
            may_write: kinds.to_vec(),
        })
    };
    Ok(vec![
        role(
            "platform",
            "E-commerce platform: takes consumers' custom orders and hands them on",
            &[Order, HandOver, Receipt, Delivery, Observation],
        )?,
        role(
            "manufacturer",
            "Factory: builds to order, inspects, hands over to logistics",
            &[
                ProductionStep,
                QualityInspection,
                HandOver,
                Receipt,
                Observation,
            ],
        )?,
        role(
            "supplier",
            "Supplies material lots to the manufacturer",
            &[
                ProductionStep,
                QualityInspection,
                HandOver,
                Receipt,
                Observation,
            ],
        )?,
        role(
            "logistics",
            "Carries products and delivers them to consumers",
            &[HandOver, Receipt, Delivery, QualityInspection, Observation],
        )?,
        role(
            "auditor",
            "Regulator or auditor: reads and verifies; may record its own inspections",
            &[QualityInspection, Observation],
        )?,
    ])
}

/// The C2M private fields and who may read them (the capturing member always holds its own).
pub fn c2m_private_fields() -> Result<Vec<PrivateFieldPolicy>, InvalidName> {
    let field = |name: &str,
                 description: &str,
                 readers: &[&str]|
     -> Result<PrivateFieldPolicy, InvalidName> {
        Ok(PrivateFieldPolicy {
            name: FieldName::new(name)?,
            description: description.into(),
            readers: readers
                .iter()
                .map(|r| role_name(r))
                .collect::<Result<_, _>>()?,
        })
    };
    Ok(vec![
        field(
            "consumer.name",
            "The consumer's name",
            &["platform", "logistics"],
        )?,
        field(
            "consumer.phone",
            "The consumer's phone number",
            &["platform", "logistics"],
        )?,
        field(
            "consumer.address",
            "The delivery address",
            &["platform", "logistics"],
        )?,
        field(
            "order.spec",
            "The custom specification",
            &["platform", "manufacturer"],
        )?,
        field("order.price", "The price paid", &["platform", "auditor"])?,
    ])
}

/// The members of the demo consortium: id, organisation name, role.
pub const DEMO_MEMBERS: [(&str, &str, &str); 5] = [
    ("platform", "DEMO Platform Co. (demo only)", "platform"),
    (
        "manufacturer",
        "DEMO Factory Ltd. (demo only)",
        "manufacturer",
    ),
    ("supplier", "DEMO Materials Inc. (demo only)", "supplier"),
    ("logistics", "DEMO Logistics Ltd. (demo only)", "logistics"),
    ("regulator", "DEMO Market Regulator (demo only)", "auditor"),
];

/// The warning at the top of every demo key file.
pub const DEMO_KEY_HEADER: &str = "# DEMO KEY — FOR THE LOCAL DEMO CONSORTIUM ONLY.\n# It is derived from a public constant: anyone can recompute it. Never use it for real data.\n";

/// The demo keys of a member: derived from a fixed public label, so the demo is reproducible.
/// They protect nothing.
pub fn demo_keys(member: &str) -> Result<MemberKeys, InvalidName> {
    let seed = |purpose: &str| {
        Hash::<crate::domain::GenesisDomain>::digest(
            format!("tally demo key/{member}/{purpose}").as_bytes(),
        )
        .to_bytes()
    };
    Ok(MemberKeys {
        member: MemberId::new(member)?,
        signing: SigningKey::from_seed(&seed("signing")),
        x25519: X25519SecretKey::from_hex(&hex::encode(seed("x25519"))).map_err(|_| {
            InvalidName {
                what: "demo key",
                value: member.into(),
                rule: "unreachable",
            }
        })?,
        node: SigningKey::from_seed(&seed("node")),
    })
}

/// A genesis document for members with the given keys, roles and listen addresses, on the
/// C2M template. Every member is a founder; the threshold and quorum are a majority.
pub fn c2m_document(
    consortium: &str,
    created: Timestamp,
    members: &[(MemberKeys, String, Vec<RoleName>, Vec<String>)],
) -> Result<GenesisDocument, GenesisError> {
    let invalid = |e: InvalidName| GenesisError::Invalid(e.to_string());
    let majority = u32::try_from(members.len() / 2 + 1).unwrap_or(u32::MAX);
    Ok(GenesisDocument {
        format: GENESIS_FORMAT,
        consortium: consortium.into(),
        created,
        founders_threshold: majority,
        witness_quorum: majority,
        limits: Limits::default(),
        roles: c2m_roles().map_err(invalid)?,
        private_fields: c2m_private_fields().map_err(invalid)?,
        members: members
            .iter()
            .map(|(keys, name, roles, addresses)| Member {
                id: keys.member.clone(),
                name: name.clone(),
                roles: roles.clone(),
                founder: true,
                signing_key: keys.signing.public_key(),
                x25519_key: keys.x25519.public_key(),
                peer_id: keys.peer_id(),
                addresses: addresses.clone(),
            })
            .collect(),
        // The regulator's (auditor's) inspections count wherever the item is; everyone
        // else's only while it holds the item.
        disputes: Some(DisputeRules {
            inspector_roles: vec![role_name("auditor").map_err(invalid)?],
            ..DisputeRules::default()
        }),
    })
}

/// The demo consortium: its signed genesis and every member's keys.
pub fn demo_consortium() -> Result<(SignedGenesis, Vec<MemberKeys>), GenesisError> {
    let invalid = |e: InvalidName| GenesisError::Invalid(e.to_string());
    let mut members = Vec::new();
    for (id, name, role) in DEMO_MEMBERS {
        members.push((
            demo_keys(id).map_err(invalid)?,
            name.to_string(),
            vec![role_name(role).map_err(invalid)?],
            Vec::new(),
        ));
    }
    let document = c2m_document(
        "Tally DEMO consortium (demo keys, not for real data)",
        Timestamp(1_764_547_200_000), // 2025-12-01T00:00:00Z
        &members,
    )?;
    let signatures = members
        .iter()
        .map(|(keys, ..)| sign_document(&document, &keys.member, &keys.signing))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = members.into_iter().map(|(keys, ..)| keys).collect();
    Ok((
        SignedGenesis {
            document,
            signatures,
        },
        keys,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn demo_consortium_is_valid_and_reproducible() {
        let (a, _) = demo_consortium().unwrap();
        let (b, _) = demo_consortium().unwrap();
        assert_eq!(a, b);
        let genesis = a.verify().unwrap();
        assert_eq!(genesis.members().len(), 5);
    }
}
