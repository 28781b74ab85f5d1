//! Query answers: events as a repository returns them, in an `EPCISQueryDocument`.
//!
//! [`answered_event`] turns a recorded event (as [`super::document`] made it: standing alone,
//! with its own `@context`) into the event a query returns: with `recordTime`, the time the
//! node recorded it, and Tally's proof material in [`PROOF_FIELD`]. Queries match against
//! that form ([`super::query::EventQuery::matches`] reads `recordTime` from it).
//!
//! [`QueryDocumentBuilder`] gathers answered events into an `EPCISQueryDocument`
//! (`schemaVersion` 2.0, `epcisBody.queryResults{queryName, resultsBody.eventList}`). The
//! events' contexts move up to the document's `@context` (the EPCIS context, the `tally`
//! prefix, then each event's in turn, without repeats), as EPCIS documents are written and as
//! tools that compute Event Hash IDs over a whole document expect. An event keeps its own
//! `@context` when moving it up would change what a prefix means for it or for another event
//! (two events binding one prefix differently, one using a prefix unbound that another
//! binds); the `tally` binding is in the document's context unless an event uses `tally:`
//! fields unbound.
//!
//! Capturing such a document again gives back the same events with the same Event Hash IDs:
//! capture drops `recordTime` and [`PROOF_FIELD`] and puts the document's context back into
//! each event (tested). A tool that computes Event Hash IDs over the whole answer document
//! gets the same IDs for the events whose context moved up, when it excludes [`PROOF_FIELD`]
//! as a field the repository added (`HashContext::from_document(&doc).ignoring(PROOF_FIELD)`;
//! `recordTime` is never hashed).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::document::{EPCIS_CONTEXT, bindings, context_items, used_prefixes};
use super::proof::{EventProof, PROOF_FIELD};
use crate::event::TALLY_NS;
use crate::time::Timestamp;

/// The `queryName` of the standard event query, which the REST query resources answer.
pub const SIMPLE_EVENT_QUERY: &str = "SimpleEventQuery";

/// The `schemaVersion` of the documents Tally writes.
pub const SCHEMA_VERSION: &str = "2.0";

/// The value of the binding's `GS1-EPCIS-Version` header on Tally's answers.
pub const GS1_EPCIS_VERSION: &str = "2.0.0";

/// The value of the binding's `GS1-CBV-Version` header on Tally's answers.
pub const GS1_CBV_VERSION: &str = "2.0.0";

/// A recorded event as a query returns it: with `recordTime` and, when given, `tally:proof`.
pub fn answered_event(
    event: &Value,
    record_time: Option<Timestamp>,
    proof: Option<&EventProof>,
) -> Value {
    let mut event = event.clone();
    if let Value::Object(map) = &mut event {
        if let Some(time) = record_time {
            map.insert("recordTime".to_owned(), Value::String(time.to_rfc3339()));
        }
        if let Some(proof) = proof
            && let Ok(value) = serde_json::to_value(proof)
        {
            map.insert(PROOF_FIELD.to_owned(), value);
        }
    }
    event
}

/// Builds an `EPCISQueryDocument`.
#[derive(Debug, Clone)]
pub struct QueryDocumentBuilder {
    query_name: String,
    subscription_id: Option<String>,
    creation_date: Timestamp,
    events: Vec<Value>,
}

impl QueryDocumentBuilder {
    /// An empty answer to the query `query_name`, created at `creation_date`.
    pub fn new(query_name: impl Into<String>, creation_date: Timestamp) -> Self {
        Self {
            query_name: query_name.into(),
            subscription_id: None,
            creation_date,
            events: Vec::new(),
        }
    }

    /// Sets the `subscriptionID` (answers to a subscription).
    pub fn subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = Some(id.into());
        self
    }

    /// Adds an answered event ([`answered_event`]).
    pub fn push(&mut self, event: Value) {
        self.events.push(event);
    }

    /// How many events were added.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event was added.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The document.
    pub fn build(self) -> Value {
        let (context, events) = shared_context(self.events);
        let mut results = Map::new();
        if let Some(id) = self.subscription_id {
            results.insert("subscriptionID".to_owned(), Value::String(id));
        }
        results.insert("queryName".to_owned(), Value::String(self.query_name));
        results.insert(
            "resultsBody".to_owned(),
            json!({"eventList": Value::Array(events)}),
        );
        json!({
            "@context": Value::Array(context),
            "type": "EPCISQueryDocument",
            "schemaVersion": SCHEMA_VERSION,
            "creationDate": self.creation_date.to_rfc3339(),
            "epcisBody": {"queryResults": Value::Object(results)},
        })
    }
}

/// What one event's context binds and what the event uses.
struct EventContext {
    items: Vec<Value>,
    bindings: BTreeMap<String, Value>,
    used: BTreeSet<String>,
}

fn event_context(event: &Value) -> EventContext {
    let items = context_items(event.get("@context"));
    let mut without_proof = event.clone();
    if let Value::Object(map) = &mut without_proof {
        // The proof is the repository's, read under the document's `tally` binding, and takes
        // no part in the Event Hash ID.
        map.remove(PROOF_FIELD);
    }
    EventContext {
        bindings: bindings(&items),
        used: used_prefixes(&without_proof),
        items,
    }
}

/// The document's `@context` and the events, each without its `@context` where that moved up.
///
/// A prefix is shared when no event uses it without binding it and every event that binds it
/// binds it alike: the document may then bind it for all. An event's context moves up when
/// every prefix it binds is shared; otherwise the event keeps it. Either way, every prefix an
/// event uses means for it what it meant alone, so its Event Hash ID does not change.
fn shared_context(events: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let contexts: Vec<EventContext> = events.iter().map(event_context).collect();
    let mut unbound_use: BTreeSet<String> = BTreeSet::new();
    let mut bound_to: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for context in &contexts {
        for prefix in &context.used {
            if !context.bindings.contains_key(prefix) {
                unbound_use.insert(prefix.clone());
            }
        }
        for (prefix, iri) in &context.bindings {
            bound_to
                .entry(prefix.clone())
                .or_default()
                .insert(iri.to_string());
        }
    }
    let shared = |prefix: &str| {
        !unbound_use.contains(prefix) && bound_to.get(prefix).is_none_or(|iris| iris.len() == 1)
    };
    let mut items = vec![Value::String(EPCIS_CONTEXT.to_owned())];
    if shared("tally") {
        items.push(json!({"tally": TALLY_NS}));
    }
    let tally = Value::String(TALLY_NS.to_owned());
    let events = events
        .into_iter()
        .zip(contexts)
        .map(|(event, context)| {
            let moves_up = context
                .bindings
                .iter()
                .all(|(prefix, iri)| shared(prefix) && (prefix != "tally" || *iri == tally));
            let Value::Object(mut map) = event else {
                return event;
            };
            if moves_up {
                map.remove("@context");
                for item in context.items {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
            Value::Object(map)
        })
        .collect();
    (items, events)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::epcis::document::{CaptureLimits, parse_capture, standalone_event_hash_id};
    use crate::epcis::event_hash::{
        HashContext, document_event_hash_ids, document_event_hash_ids_with,
    };
    use crate::epcis::schema;
    use crate::hash::EntryHash;
    use crate::ids::MemberId;

    fn event(context: Value, extra: (&str, &str)) -> Value {
        let mut event = json!({
            "@context": context,
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "eventTime": "2024-05-01T10:00:00.000+02:00",
            "eventTimeZoneOffset": "+02:00",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        });
        event[extra.0] = json!(extra.1);
        event
    }

    fn proof() -> EventProof {
        EventProof {
            entry: EntryHash::digest(b"entry"),
            signer: MemberId::new("manufacturer").unwrap(),
            sequence: 7,
            witnessed: false,
            forked: false,
        }
    }

    #[test]
    fn answered_events_carry_record_time_and_proof() {
        let stored = event(json!([EPCIS_CONTEXT]), ("bizStep", "shipping"));
        let time = Timestamp::parse_rfc3339("2024-05-02T00:00:00Z").unwrap();
        let answered = answered_event(&stored, Some(time), Some(&proof()));
        assert_eq!(answered["recordTime"], "2024-05-02T00:00:00.000Z");
        assert_eq!(answered[PROOF_FIELD]["sequence"], 7);
        assert_eq!(
            serde_json::from_value::<EventProof>(answered[PROOF_FIELD].clone()).unwrap(),
            proof()
        );
        // Neither changes the Event Hash ID.
        assert_eq!(
            standalone_event_hash_id(&answered).unwrap(),
            standalone_event_hash_id(&stored).unwrap()
        );
        assert_eq!(answered_event(&stored, None, None), stored);
    }

    #[test]
    fn contexts_move_up_unless_a_prefix_would_change_meaning() {
        let ex = json!({"ex": "https://ns.example.com/"});
        let other_ex = json!({"ex": "https://other.example.com/"});
        let a = event(json!([EPCIS_CONTEXT, ex]), ("ex:note", "a"));
        // Binds ex otherwise.
        let b = event(json!([EPCIS_CONTEXT, other_ex]), ("ex:note", "b"));
        // Uses ex without binding it.
        let c = event(json!([EPCIS_CONTEXT]), ("ex:note", "c"));
        // Uses nothing.
        let d = event(json!([EPCIS_CONTEXT]), ("bizStep", "shipping"));
        let build = |events: &[&Value]| {
            let mut builder = QueryDocumentBuilder::new(SIMPLE_EVENT_QUERY, Timestamp(0));
            for e in events {
                builder.push(answered_event(e, Some(Timestamp(1)), Some(&proof())));
            }
            assert_eq!(builder.len(), events.len());
            builder.build()
        };
        let own_contexts = |doc: &Value| -> Vec<bool> {
            doc.pointer("/epcisBody/queryResults/resultsBody/eventList")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.get("@context").is_some())
                .collect()
        };

        // ex is shared by a and d: a's context moves up.
        let doc = build(&[&a, &d]);
        assert_eq!(
            doc["@context"],
            json!([EPCIS_CONTEXT, {"tally": TALLY_NS}, ex])
        );
        assert_eq!(own_contexts(&doc), [false, false]);
        assert_eq!(doc["type"], "EPCISQueryDocument");
        assert_eq!(doc["schemaVersion"], "2.0");
        assert_eq!(doc["creationDate"], "1970-01-01T00:00:00.000Z");
        assert_eq!(
            doc["epcisBody"]["queryResults"]["queryName"],
            SIMPLE_EVENT_QUERY
        );
        schema::validate(&doc).unwrap();

        // b binds ex otherwise and c uses it unbound: a and b keep their contexts.
        let all = [&a, &b, &c, &d];
        let doc = build(&all);
        assert_eq!(doc["@context"], json!([EPCIS_CONTEXT, {"tally": TALLY_NS}]));
        assert_eq!(own_contexts(&doc), [true, true, false, false]);
        schema::validate(&doc).unwrap();

        // Every event keeps its Event Hash ID through capture of the answer.
        let recaptured = parse_capture(
            &serde_json::to_vec(&doc).unwrap(),
            &CaptureLimits::default(),
        )
        .unwrap();
        for (before, after) in all.iter().zip(&recaptured.events) {
            assert_eq!(
                standalone_event_hash_id(before).unwrap(),
                after.hash_id,
                "{before}"
            );
        }
        // Events whose context moved up hash alike in the whole document, the proof excluded
        // as a field the repository added.
        let context = HashContext::from_document(&doc).ignoring(PROOF_FIELD);
        let whole: Vec<String> = document_event_hash_ids_with(&doc, &context)
            .unwrap()
            .into_iter()
            .map(|id| id.hash_id)
            .collect();
        assert_eq!(whole[2], recaptured.events[2].hash_id);
        assert_eq!(whole[3], recaptured.events[3].hash_id);
        assert_ne!(document_event_hash_ids(&doc).unwrap()[3], whole[3]);

        // An event using tally: unbound keeps the document from binding tally.
        let unbound_tally = event(json!([EPCIS_CONTEXT]), ("tally:kind", "observation"));
        let doc = build(&[&d, &unbound_tally]);
        assert_eq!(doc["@context"], json!([EPCIS_CONTEXT]));
    }

    #[test]
    fn subscription_answers_name_the_subscription() {
        let doc = QueryDocumentBuilder::new("q", Timestamp(0))
            .subscription_id("s1")
            .build();
        assert_eq!(doc["epcisBody"]["queryResults"]["subscriptionID"], "s1");
        assert_eq!(
            doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"],
            json!([])
        );
        schema::validate(&doc).unwrap();
        assert!(QueryDocumentBuilder::new("q", Timestamp(0)).is_empty());
    }
}
