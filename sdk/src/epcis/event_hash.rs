//! The EPCIS Event Hash ID (CBV 2.0): a serialisation-independent identifier of an EPCIS
//! event, `ni:///sha-256;{hex}?ver=CBV2.0`, the SHA-256 of the event's canonical *pre-hash
//! string*.
//!
//! The pre-hash string is built as the reference implementation
//! (RalphTro/epcis-event-hash-generator) builds it, because an Event Hash ID is only useful
//! if every party computes the same one:
//!
//! 1. Bare CBV words are expanded to their web-vocabulary URIs the way the reference's JSON-LD
//!    pass does: every string value of the document that is the last segment of exactly one
//!    CBV or GS1 vocabulary URI used in the document (`shipping` for
//!    `https://ref.gs1.org/cbv/BizStep-shipping`) is replaced by it.
//! 2. The event becomes a tree: lists become repeated children (`epcList` → `epc`,
//!    `quantityList` → `quantityElement`, …), keys with a namespace prefix declared in the
//!    document's `@context` become `{namespace}local`, GS1 CURIEs in values (`cbv:…`, `gs1:…`)
//!    are expanded, comments are dropped.
//! 3. The standard fields are written in the CBV order ([`PROPERTY_ORDER`]) as `name=value`
//!    (structures: the name then their children), several values of one field sorted; user
//!    extensions inside a standard structure follow its standard children. Then every other
//!    field (ILMD, business transactions, sources and destinations, event-level extensions) is
//!    written sorted. `eventID`, `recordTime`, `errorDeclaration` and `type` take no part.
//! 4. Values are canonical: time stamps of the ordered time fields in UTC at millisecond
//!    precision (rounded half up), old CBV URNs as web URIs, numbers without superfluous
//!    zeros or signs, GS1 identifiers (EPC URIs, Digital Links on any host) as constrained
//!    canonical Digital Links ([`crate::gs1::normalise_epc`]).
//!
//! Where the reference fails on an input (an infinite number, a business transaction without a
//! type) or depends on the machine it runs on (a time stamp without a UTC offset), this module
//! returns an [`EventHashError`] or, for the business transaction, writes the type (if any),
//! the identifier, then any further fields sorted — the order CBV 2.0 prescribes, whatever the
//! order of the JSON keys.
//!
//! The code, by the algorithm's steps: `expand` (bare words and compact IRIs expanded),
//! `tree` (the event as a tree of named values), `prehash` (the pre-hash string), and this
//! module (the context, the hash, documents).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::gs1::normalise_epc;

mod expand;
mod prehash;
mod tree;

use expand::*;
use prehash::*;
pub use prehash::{PROPERTY_ORDER, Property};
use tree::*;

/// An Event Hash ID could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventHashError {
    /// The event is not a JSON object.
    #[error("an EPCIS event must be a JSON object")]
    NotAnObject,
    /// The event has no (string) `type`.
    #[error("the event has no \"type\" (ObjectEvent, AggregationEvent, ...)")]
    MissingType,
    /// The document has no event list.
    #[error(
        "the document has no event list (epcisBody.eventList or epcisBody.queryResults.resultsBody.eventList)"
    )]
    NoEventList,
    /// An event of a document could not be hashed.
    #[error("event #{index} of the document: {error}")]
    InDocument {
        /// Position of the event in the list, from 0.
        index: usize,
        /// Why.
        error: Box<EventHashError>,
    },
    /// A time stamp field that is not an ISO 8601 date-time with a UTC offset.
    #[error(
        "{field} is {value:?}, not a date-time with a UTC offset such as 2024-05-01T12:00:00.000+02:00"
    )]
    BadTimestamp {
        /// The field, e.g. `eventTime`.
        field: String,
        /// Its value.
        value: String,
    },
    /// A number too large to have a canonical form (the reference cannot hash it either).
    #[error("{field} is {value:?}, a number without a finite value")]
    InfiniteNumber {
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
}

/// An event's Event Hash ID and the pre-hash string it was computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHashId {
    /// `ni:///sha-256;...?ver=CBV2.0`.
    pub hash_id: String,
    /// The canonical pre-hash string.
    pub pre_hash: String,
}

/// What hashing an event needs from its document: the namespace prefixes its `@context`
/// declares, the vocabulary URIs the document uses (for bare-word expansion), and fields the
/// caller excludes.
#[derive(Debug, Clone)]
pub struct HashContext {
    prefixes: BTreeMap<String, String>,
    vocabulary: BTreeSet<String>,
    ignored: Vec<String>,
}

/// The name the CLI knows [`HashContext`] by.
pub type Namespaces = HashContext;

/// Namespaces of the EPCIS 2.0 JSON-LD context, in force in every EPCIS document.
const CONTEXT_PREFIXES: &[(&str, &str)] = &[
    ("epcis", "https://ref.gs1.org/epcis/"),
    ("cbv", "https://ref.gs1.org/cbv/"),
    ("cbvmda", "urn:epcglobal:cbv:mda:"),
    ("gs1", "https://gs1.org/voc/"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("owl", "http://www.w3.org/2002/07/owl#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dcterms", "http://purl.org/dc/terms/"),
];

/// The prefixes the reference knows without a declaration (for keys and values).
const WELL_KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("gs1", "https://gs1.org/voc/"),
    ("cbv", "https://ref.gs1.org/cbv/"),
    ("epcis", "https://ref.gs1.org/epcis/"),
    // As the XML namespace, so that JSON and XML events hash alike.
    ("cbvmda", "urn:epcglobal:cbv:mda"),
];

impl Default for HashContext {
    fn default() -> Self {
        Self {
            prefixes: WELL_KNOWN_PREFIXES
                .iter()
                .map(|(p, u)| ((*p).to_owned(), (*u).to_owned()))
                .collect(),
            vocabulary: BTreeSet::new(),
            ignored: Vec::new(),
        }
    }
}

impl HashContext {
    /// The context of a whole EPCISDocument or EPCISQueryDocument (or of a single event with
    /// its own `@context`).
    pub fn from_document(document: &Value) -> Self {
        let mut context = Self::default();
        context.add_prefixes(document);
        context.vocabulary = vocabulary_of(document, &context.curie_prefixes());
        context
    }

    /// Also excludes the field `name` (as written, e.g. `example:captureID`, or expanded) from
    /// hashing: for fields a repository adds to the events it stores, which are not part of
    /// the event (CBV 2.0 leaves which those are to the application).
    pub fn ignoring(mut self, name: &str) -> Self {
        self.ignored.push(name.to_owned());
        self
    }

    fn add_prefixes(&mut self, document: &Value) {
        if let Some(Value::Array(items)) = document.get("@context") {
            for item in items {
                if let Value::Object(map) = item {
                    for (prefix, uri) in map {
                        if let Value::String(uri) = uri {
                            self.prefixes.insert(prefix.clone(), uri.clone());
                        }
                    }
                }
            }
        }
    }

    /// The prefixes JSON-LD expansion uses: the EPCIS context's, then the document's.
    fn curie_prefixes(&self) -> BTreeMap<String, String> {
        let mut prefixes: BTreeMap<String, String> = CONTEXT_PREFIXES
            .iter()
            .map(|(p, u)| ((*p).to_owned(), (*u).to_owned()))
            .collect();
        for (prefix, uri) in &self.prefixes {
            if !WELL_KNOWN_PREFIXES
                .iter()
                .any(|(p, u)| p == prefix && u == uri)
            {
                prefixes.insert(prefix.clone(), uri.clone());
            }
        }
        prefixes
    }

    /// `prefix:local` → `{namespace}local` for a declared prefix.
    fn key(&self, key: &str) -> String {
        match key.split_once(':') {
            Some((prefix, local)) => match self.prefixes.get(prefix) {
                Some(uri) => format!("{{{uri}}}{local}"),
                None => key.to_owned(),
            },
            None => key.to_owned(),
        }
    }

    /// A CURIE value whose prefix is a GS1 vocabulary, expanded; other values unchanged.
    fn value(&self, value: &str) -> String {
        if let Some((prefix, local)) = value.split_once(':')
            && let Some(uri) = self.prefixes.get(prefix)
            && (uri.starts_with("https://ref.gs1.org") || uri.starts_with("https://gs1.org"))
        {
            return format!("{uri}{local}");
        }
        value.to_owned()
    }

    fn is_ignored(&self, key: &str, expanded: &str) -> bool {
        self.ignored.iter().any(|i| i == key || i == expanded)
    }
}

/// The pre-hash string of one event with the context of its document.
pub fn pre_hash_string(event: &Value, context: &HashContext) -> Result<String, EventHashError> {
    let map: &Map<String, Value> = event.as_object().ok_or(EventHashError::NotAnObject)?;
    let event_type = map
        .get("type")
        .and_then(Value::as_str)
        .ok_or(EventHashError::MissingType)?;
    // A standalone event may carry its own @context; its own vocabulary always counts.
    let mut context = context.clone();
    context.add_prefixes(event);
    context
        .vocabulary
        .extend(vocabulary_of(event, &context.curie_prefixes()));
    let event = expand_bare_words(event, &context.vocabulary);
    let (_, children) = to_tree(&event, &context, true);
    let mut root = correct(node(event_type, "", children));
    let mut writer = Writer { error: None };
    let ordered = writer.ordered(&mut root.children, PROPERTY_ORDER);
    root.children
        .retain(|c| !c.name().is_some_and(|n| IGNORED_FIELDS.contains(&n)));
    let rest = writer.generic(&root.children);
    match writer.error {
        Some(error) => Err(error),
        None => Ok(format!("eventType={event_type}{ordered}{rest}")),
    }
}

/// The Event Hash ID (`ni:///sha-256;…?ver=CBV2.0`) of one event with the context of its
/// document (use `HashContext::default()` for an event on its own).
pub fn event_hash_id(event: &Value, context: &HashContext) -> Result<String, EventHashError> {
    pre_hash_string(event, context).map(|pre_hash| hash_of(&pre_hash))
}

fn hash_of(pre_hash: &str) -> String {
    format!(
        "ni:///sha-256;{}?ver=CBV2.0",
        hex::encode(Sha256::digest(pre_hash.as_bytes()))
    )
}

/// The events of an EPCISDocument or EPCISQueryDocument, in order.
pub fn document_events(document: &Value) -> Result<&[Value], EventHashError> {
    let body = document
        .get("epcisBody")
        .ok_or(EventHashError::NoEventList)?;
    if let Some(events) = body
        .get("eventList")
        .or_else(|| body.pointer("/queryResults/resultsBody/eventList"))
    {
        return events
            .as_array()
            .map(Vec::as_slice)
            .ok_or(EventHashError::NoEventList);
    }
    // A capture document may carry one event instead of a list.
    body.get("event")
        .map(std::slice::from_ref)
        .ok_or(EventHashError::NoEventList)
}

/// The Event Hash IDs of every event of a document, in order.
pub fn document_event_hash_ids(document: &Value) -> Result<Vec<String>, EventHashError> {
    Ok(
        document_event_hash_ids_with(document, &HashContext::from_document(document))?
            .into_iter()
            .map(|id| id.hash_id)
            .collect(),
    )
}

/// Hash IDs and pre-hash strings of every event of a document, with a given context (e.g.
/// with fields excluded by [`HashContext::ignoring`]).
pub fn document_event_hash_ids_with(
    document: &Value,
    context: &HashContext,
) -> Result<Vec<EventHashId>, EventHashError> {
    document_events(document)?
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let pre_hash =
                pre_hash_string(event, context).map_err(|error| EventHashError::InDocument {
                    index,
                    error: Box::new(error),
                })?;
            Ok(EventHashId {
                hash_id: hash_of(&pre_hash),
                pre_hash,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
