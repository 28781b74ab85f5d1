//! The rules that depend on what a ledger already holds, beyond one entry and its chain
//! link: who may hand an item over, and what a purge may name. A node applies them where it
//! places entries; an audit applies the purge rule as it reads each chain, so both reach the
//! same verdict.
//!
//! * **Custody before a hand-over** ([`hand_over_refusal`]): a node refuses its own member's
//!   hand-over of an item that, by the custody rules of [`crate::reports::provenance`], another member
//!   holds at the hand-over's event time. Entries that reach a node by replication are never
//!   refused for it: whether a receipt had arrived first depends on arrival order, and
//!   refusing would split the nodes' views. There, a hand-over without custody is recorded
//!   and reported as a violation, identically on every node.
//! * **The target of a purge** ([`purge_target_refusal`]): a purge names an earlier entry of
//!   its own author's chain and only private fields that entry commits to. This depends on
//!   the chain only, so it holds wherever the purge arrives from.

use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::{FieldName, MemberId};
use crate::reports::provenance::{Judging, Recorded, derive};
use crate::time::Timestamp;

/// Why `giver` may not hand `item` over to `to` at `at`, given the `records` about the item
/// already held: another member holds it then. `None` when it may: it holds the item, or no
/// custody of it is recorded yet.
pub fn hand_over_refusal(
    records: &[Recorded],
    item: &ProductId,
    giver: &MemberId,
    to: &MemberId,
    at: Timestamp,
) -> Option<String> {
    if records.is_empty() {
        return None;
    }
    // Custody does not depend on the dispute rules (inspectors, reporting delay).
    let provenance = derive(item, records, &Judging::default());
    let holder = provenance.holder_at(at)?;
    (holder != giver).then(|| {
        format!(
            "hand_over_without_custody: {giver} may not hand {item} over to {to}: {holder} holds it at {at}"
        )
    })
}

/// What a purge's target is, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeTarget {
    /// Its author.
    pub author: MemberId,
    /// Its place in the author's chain.
    pub seq: u64,
    /// The private fields it commits to.
    pub fields: Vec<FieldName>,
}

/// Why the purge at place `seq` of `author`'s chain may not erase `fields` of entry
/// `target`, whose stored form is `found` (`None`: the ledger holds no such entry). `None`
/// when it may.
pub fn purge_target_refusal(
    author: &MemberId,
    seq: u64,
    target: &EntryHash,
    fields: &[FieldName],
    found: Option<&PurgeTarget>,
) -> Option<String> {
    let Some(found) = found else {
        return Some(format!(
            "entry {target} is not an earlier entry of {author}'s chain"
        ));
    };
    if &found.author != author || found.seq >= seq {
        return Some(format!(
            "entry {target} is not an earlier entry of {author}'s chain: only the author purges its data"
        ));
    }
    fields
        .iter()
        .find(|f| !found.fields.contains(f))
        .map(|field| format!("entry {target} commits to no private field {field}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::reports::provenance::tests::{SOFA, observe, record, story};
    use serde_json::json;

    fn member(id: &str) -> MemberId {
        MemberId::new(id).unwrap()
    }

    fn at(day: u32, hour: u32) -> Timestamp {
        Timestamp::parse_rfc3339(&crate::reports::provenance::tests::at(day, hour)).unwrap()
    }

    #[test]
    fn only_the_holder_may_hand_an_item_over() {
        let sofa = ProductId::parse(SOFA).unwrap();
        let records = story();
        // Logistics holds the sofa from its receipt (day 6, 18:00) on.
        let refusal = hand_over_refusal(
            &records,
            &sofa,
            &member("manufacturer"),
            &member("platform"),
            at(7, 9),
        );
        assert!(
            refusal
                .as_deref()
                .unwrap()
                .starts_with("hand_over_without_custody: manufacturer"),
            "{refusal:?}"
        );
        assert_eq!(
            hand_over_refusal(
                &records,
                &sofa,
                &member("logistics"),
                &member("platform"),
                at(7, 9)
            ),
            None
        );
        // Before the receipt, the factory still held it.
        assert_eq!(
            hand_over_refusal(
                &records,
                &sofa,
                &member("manufacturer"),
                &member("platform"),
                at(6, 17)
            ),
            None
        );
        // An item nobody holds yet may be handed over by anyone who has it in hand.
        let other = ProductId::parse("https://id.gs1.org/01/09506000134352/21/OTHER").unwrap();
        let about_other = vec![record(
            40,
            "platform",
            observe(1, 9, json!({"tally:kind": "order"})),
        )];
        assert_eq!(
            hand_over_refusal(
                &about_other,
                &other,
                &member("supplier"),
                &member("platform"),
                at(7, 9)
            ),
            None
        );
    }

    #[test]
    fn a_purge_names_an_earlier_entry_of_its_own_chain_and_its_fields() {
        let field = |name: &str| FieldName::new(name).unwrap();
        let target = EntryHash::digest(b"order");
        let held = PurgeTarget {
            author: member("platform"),
            seq: 3,
            fields: vec![field("consumer.name")],
        };
        let fields = [field("consumer.name")];
        let platform = member("platform");
        assert_eq!(
            purge_target_refusal(&platform, 9, &target, &fields, Some(&held)),
            None
        );
        let refused = |author: &MemberId, seq, fields: &[FieldName], found| {
            purge_target_refusal(author, seq, &target, fields, found).unwrap()
        };
        assert!(refused(&platform, 9, &fields, None).contains("not an earlier entry"));
        assert!(refused(&member("logistics"), 9, &fields, Some(&held)).contains("only the author"));
        assert!(refused(&platform, 3, &fields, Some(&held)).contains("only the author"));
        assert!(
            refused(&platform, 9, &[field("consumer.phone")], Some(&held))
                .contains("commits to no private field consumer.phone")
        );
    }
}
