//! Capture: an EPCIS 2.0 document (or one event) as sent to the capture interface, checked and
//! split into events that each stand alone.
//!
//! [`parse_capture`] takes the body of `POST /capture`: an `EPCISDocument`, or an
//! `EPCISQueryDocument` (the REST binding asks capture to take both; its events are those of
//! `queryResults.resultsBody.eventList`). [`parse_event`] takes the body of `POST /events`: one
//! event with its own `@context`. Both:
//!
//! 1. refuse a body over [`CaptureLimits::max_bytes`] or with more than
//!    [`CaptureLimits::max_events`] events, before any other work;
//! 2. parse the JSON and validate it against the EPCIS 2.0 JSON Schema ([`super::schema`]);
//! 3. refuse extension event types (the schema allows them; Tally records the five standard
//!    types) and events Tally's event model refuses ([`crate::event::EpcisEvent`],
//!    [`crate::event::classify`]);
//! 4. make each event stand alone: the document's `@context` followed by the event's own
//!    (without repeats) becomes the event's `@context`, so that its namespace prefixes keep
//!    their meaning once the event is stored apart from its document;
//! 5. take off what is not part of the recorded event: `recordTime` (set by the repository;
//!    EPCIS says capture ignores it), [`PROOF_FIELD`] (proof material of an earlier answer) and
//!    Tally's capture fields [`PRIVATE_FIELD`] and [`REFS_FIELD`];
//! 6. compute each event's EPCIS Event Hash ID ([`standalone_event_hash_id`]) and keep a given
//!    `eventID`, or set `eventID` to the hash ID when there is none;
//! 7. name what is accepted and not recorded ([`NotRecorded`]: the header's
//!    `epcisMasterData`, [`MASTER_DATA_NOT_RECORDED`]).
//!
//! Every problem found is reported, per event, with the event's index, its `eventID` if it
//! has one, the JSON path inside the event and what is wrong ([`Problem`]); capture is all or
//! nothing, so one problem refuses the document.
//!
//! # Tally's capture fields
//!
//! | field | value | what Tally does with it |
//! |---|---|---|
//! | `tally:private` | object: private field name → any JSON value | committed as salted hashes in the entry, values kept apart for those allowed to read them; never in the event |
//! | `tally:refs` | array of entry hashes (hex) | the entry's references to other entries |
//!
//! The `tally` prefix names [`TALLY_NS`]. An event that keeps `tally:` fields (`tally:kind`,
//! `tally:handOverTo`, … of [`crate::event`]) must have it declared in its document's (or its
//! own) `@context`, `{"tally": "https://ns.tally.dev/epcis/"}`, so that the event means the same
//! wherever it is read; `tally` may not be bound to anything else.
//!
//! # The Event Hash ID of a stored event
//!
//! The Event Hash ID is defined on an event in a document. A stored event's is the hash ID
//! of the event as the only event of a document whose `@context` is the event's own (the
//! merged one of step 4), with [`PROOF_FIELD`] excluded: anyone can recompute it from the
//! event alone. For events without an `@context` of their own — every example of the EPCIS
//! 2.0 standard and of the Event Hash ID reference suite — it equals the hash ID of the event
//! in its original document (tested).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::event_hash::{EventHashError, HashContext, event_hash_id};
use super::exception::EpcisException;
use super::proof::PROOF_FIELD;
use super::schema::{self, SchemaError};
use crate::codec::CanonicalJson;
use crate::event::{ClassifiedEvent, EVENT_FIELDS, TALLY_NS, unknown_tally_members_in};
use crate::hash::EntryHash;
use crate::ids::FieldName;
use crate::parallel;

/// Largest capture body taken by default: 8 MiB (the node's default body limit).
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// Most events in one capture document by default: 10,000 (the node's default batch limit).
pub const MAX_DOCUMENT_EVENTS: usize = 10_000;

/// At most this many problems are listed for one document; the rest are counted.
pub const MAX_PROBLEMS: usize = 100;

/// The capture field holding an event's private fields.
pub const PRIVATE_FIELD: &str = "tally:private";

/// The capture field holding an event's references to other entries.
pub const REFS_FIELD: &str = "tally:refs";

/// The EPCIS 2.0 JSON-LD context.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// How much one capture may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Largest body, in bytes.
    pub max_bytes: usize,
    /// Most events.
    pub max_events: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_DOCUMENT_BYTES,
            max_events: MAX_DOCUMENT_EVENTS,
        }
    }
}

/// What was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// An `EPCISDocument`.
    Document,
    /// An `EPCISQueryDocument`.
    QueryDocument,
    /// One event (`POST /events`).
    Event,
}

/// A checked capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureDocument {
    /// What was sent.
    pub kind: DocumentKind,
    /// The document's `id`, if any.
    pub id: Option<String>,
    /// The document's `creationDate`, as written.
    pub creation_date: Option<String>,
    /// The document's `@context`, as a list.
    pub context: Vec<Value>,
    /// The events, in document order.
    pub events: Vec<CapturedEvent>,
    /// What the document holds that is accepted and not recorded, each with why.
    pub not_recorded: Vec<NotRecorded>,
}

/// A part of a captured document that is accepted and not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRecorded {
    /// Its JSON path in the document, e.g. `$.epcisHeader.epcisMasterData`.
    pub path: String,
    /// Why it is not recorded, and what to do instead.
    pub reason: String,
}

/// Why a document header's master data is not recorded.
pub const MASTER_DATA_NOT_RECORDED: &str = "class-level master data in a document's header is \
    signed by no one once the document is split into events, and nothing would say which \
    member vouches for it: it is not recorded. Name a product or lot in the ilmd of the \
    production step that makes it (cbvmda:descriptionShort), signed by its maker";

/// One event of a capture, ready to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedEvent {
    /// Position in the document's event list, from 0.
    pub index: usize,
    /// The event as it is recorded: standing alone (merged `@context`), with `eventID`, without
    /// `recordTime`, [`PROOF_FIELD`], [`PRIVATE_FIELD`] and [`REFS_FIELD`].
    pub event: Value,
    /// Its `eventID`: the one given, or the Event Hash ID.
    pub event_id: String,
    /// Its EPCIS Event Hash ID (`ni:///sha-256;…?ver=CBV2.0`), whatever its `eventID`.
    pub hash_id: String,
    /// Whether `eventID` was absent and set to the hash ID.
    pub id_assigned: bool,
    /// The event parsed and classified, as its entry will hold it.
    pub classified: ClassifiedEvent,
    /// The private fields sent in [`PRIVATE_FIELD`].
    pub private: BTreeMap<FieldName, CanonicalJson>,
    /// The references sent in [`REFS_FIELD`].
    pub refs: Vec<EntryHash>,
}

/// One thing wrong with a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The event's index in the document's event list; `None` for the document itself.
    pub index: Option<usize>,
    /// The event's `eventID`, if it has one.
    pub event_id: Option<String>,
    /// JSON path of the offending value: inside the event (`$.epcList[0]`) for an event, from
    /// the document's root for the document.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.index, &self.event_id) {
            (Some(index), Some(id)) => write!(f, "event #{index} ({id}): ")?,
            (Some(index), None) => write!(f, "event #{index}: ")?,
            (None, _) => f.write_str("document: ")?,
        }
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// A capture was refused; nothing of it may be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The body is larger than the limit.
    #[error("the capture is {size} bytes, more than the {limit} this node takes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document holds more events than the limit.
    #[error(
        "the document holds {count} events, more than the {limit} this node takes in one capture"
    )]
    TooManyEvents {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// The body is JSON but not what the endpoint takes.
    #[error("{0}")]
    WrongType(String),
    /// The document or some of its events are not valid.
    #[error("{total} problem(s), nothing captured; first: {}", .problems.first().map(ToString::to_string).unwrap_or_default())]
    Invalid {
        /// The problems, at most [`MAX_PROBLEMS`], in document order.
        problems: Vec<Problem>,
        /// How many there are in all.
        total: usize,
    },
    /// The schema validator is unavailable (a defect of this build).
    #[error("{0}")]
    Internal(String),
}

impl CaptureError {
    /// The binding's exception for this error.
    pub fn exception(&self) -> EpcisException {
        match self {
            Self::TooLarge { .. } | Self::TooManyEvents { .. } => {
                EpcisException::CaptureLimitExceededException
            }
            Self::Malformed(_) | Self::WrongType(_) | Self::Invalid { .. } => {
                EpcisException::ValidationException
            }
            Self::Internal(_) => EpcisException::ImplementationException,
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.exception().status()
    }
}

/// Collects problems, keeping the first [`MAX_PROBLEMS`].
#[derive(Debug, Default)]
struct Problems {
    list: Vec<Problem>,
    total: usize,
}

impl Problems {
    fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem);
        }
    }

    fn into_result(self) -> Result<(), CaptureError> {
        if self.total == 0 {
            Ok(())
        } else {
            Err(CaptureError::Invalid {
                problems: self.list,
                total: self.total,
            })
        }
    }
}

/// The items of an `@context` value (a string, an object or an array of them).
pub(crate) fn context_items(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// The prefixes the object items of a context bind, later items overriding earlier ones.
pub(crate) fn bindings(items: &[Value]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for item in items {
        if let Value::Object(map) = item {
            for (prefix, iri) in map {
                out.insert(prefix.clone(), iri.clone());
            }
        }
    }
    out
}

/// The prefix of a compact IRI `prefix:local` (a prefix starts with a letter or `_`; `//`
/// after the colon makes an absolute IRI, not a compact one).
fn prefix_of(text: &str) -> Option<&str> {
    let (prefix, rest) = text.split_once(':')?;
    let mut chars = prefix.chars();
    let first = chars.next()?;
    let ok = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !rest.starts_with("//");
    ok.then_some(prefix)
}

/// Every prefix a value may use, in keys or string values (outside `@context`).
pub(crate) fn used_prefixes(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::String(text) => {
                if let Some(prefix) = prefix_of(text) {
                    out.insert(prefix.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            Value::Object(map) => {
                for (key, item) in map {
                    if key == "@context" {
                        continue;
                    }
                    if let Some(prefix) = prefix_of(key) {
                        out.insert(prefix.to_owned());
                    }
                    walk(item, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut out);
    out
}

/// The problem with the `tally` prefix in an `@context`, if it is bound to anything but
/// [`TALLY_NS`].
fn tally_prefix_problem(items: &[Value]) -> Option<String> {
    let bound = bindings(items).remove("tally")?;
    (bound.as_str() != Some(TALLY_NS)).then(|| {
        format!("the prefix tally is Tally's namespace {TALLY_NS}; it may not be bound to {bound}")
    })
}

fn bytes_and_json(bytes: &[u8], limits: &CaptureLimits) -> Result<Value, CaptureError> {
    if bytes.len() > limits.max_bytes {
        return Err(CaptureError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| CaptureError::Malformed(e.to_string()))
}

fn type_of(value: &Value) -> Option<&str> {
    value.get("type").and_then(Value::as_str)
}

/// Where a document keeps its events, as a JSON pointer.
fn event_list_pointer(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Document => "/epcisBody/eventList",
        DocumentKind::QueryDocument => "/epcisBody/queryResults/resultsBody/eventList",
        DocumentKind::Event => "",
    }
}

/// Parses and checks the body of `POST /capture`: an `EPCISDocument` or `EPCISQueryDocument`.
pub fn parse_capture(
    bytes: &[u8],
    limits: &CaptureLimits,
) -> Result<CaptureDocument, CaptureError> {
    let document = bytes_and_json(bytes, limits)?;
    let kind = match type_of(&document) {
        Some("EPCISDocument") => DocumentKind::Document,
        Some("EPCISQueryDocument") => DocumentKind::QueryDocument,
        Some(other) => {
            return Err(CaptureError::WrongType(format!(
                "capture takes an EPCISDocument or EPCISQueryDocument, not {other:?}{}",
                if document.get("eventTime").is_some() {
                    " (send one event to /events, or wrap it in an EPCISDocument)"
                } else {
                    ""
                }
            )));
        }
        None => {
            return Err(CaptureError::WrongType(
                "the body must be a JSON object with \"type\": \"EPCISDocument\"".to_owned(),
            ));
        }
    };
    let pointer = event_list_pointer(kind);
    let count = document
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if count > limits.max_events {
        return Err(CaptureError::TooManyEvents {
            count,
            limit: limits.max_events,
        });
    }
    check(document, kind)
}

/// Parses and checks the body of `POST /events`: one EPCIS event with its own `@context`.
pub fn parse_event(bytes: &[u8], limits: &CaptureLimits) -> Result<CaptureDocument, CaptureError> {
    let event = bytes_and_json(bytes, limits)?;
    if !event.is_object() {
        return Err(CaptureError::WrongType(
            "the body must be one EPCIS event, a JSON object".to_owned(),
        ));
    }
    if let Some(kind @ ("EPCISDocument" | "EPCISQueryDocument")) = type_of(&event) {
        return Err(CaptureError::WrongType(format!(
            "this endpoint takes one event; send an {kind} to /capture"
        )));
    }
    check(event, DocumentKind::Event)
}

/// Schema violations, split into the document's and each event's (paths made relative to
/// the event).
fn schema_problems(
    value: &Value,
    kind: DocumentKind,
    problems: &mut Problems,
) -> Result<BTreeSet<usize>, CaptureError> {
    let mut failed = BTreeSet::new();
    let violations = match schema::validate(value) {
        Ok(()) => return Ok(failed),
        Err(SchemaError::Unavailable(e)) => return Err(CaptureError::Internal(e)),
        Err(SchemaError::Invalid { violations, total }) => {
            // Violations past the reported ones are counted as problems too.
            problems.total += total - violations.len();
            violations
        }
    };
    let list_path = schema::pointer_to_path(event_list_pointer(kind));
    for violation in violations {
        let (index, path) = match kind {
            DocumentKind::Event => (Some(0), violation.path),
            _ => match event_of_path(&violation.path, &list_path) {
                Some((index, rest)) => (Some(index), format!("${rest}")),
                None => (None, violation.path),
            },
        };
        if let Some(index) = index {
            failed.insert(index);
        }
        let event_id = index.and_then(|i| {
            let event = match kind {
                DocumentKind::Event => Some(value),
                _ => value.pointer(&format!("{}/{i}", event_list_pointer(kind))),
            };
            event?.get("eventID")?.as_str().map(str::to_owned)
        });
        problems.push(Problem {
            index,
            event_id,
            path,
            problem: violation.problem,
        });
    }
    Ok(failed)
}

/// `$.epcisBody.eventList[3].epcList[0]` → `(3, ".epcList[0]")` when `list` is
/// `$.epcisBody.eventList`.
fn event_of_path(path: &str, list: &str) -> Option<(usize, String)> {
    let rest = path.strip_prefix(list)?.strip_prefix('[')?;
    let (index, rest) = rest.split_once(']')?;
    Some((index.parse().ok()?, rest.to_owned()))
}

/// Fewest events worth a thread of their own (one takes ~25 µs to check and hash).
const EVENTS_PER_THREAD: usize = 8;

fn check(mut value: Value, kind: DocumentKind) -> Result<CaptureDocument, CaptureError> {
    let mut problems = Problems::default();
    let schema_failed = schema_problems(&value, kind, &mut problems)?;

    let (context, raw_events) = match kind {
        DocumentKind::Event => (Vec::new(), vec![value.take()]),
        _ => {
            let context = context_items(value.get("@context"));
            if let Some(problem) = tally_prefix_problem(&context) {
                problems.push(Problem {
                    index: None,
                    event_id: None,
                    path: "$.@context".to_owned(),
                    problem,
                });
            }
            let events = match value.pointer_mut(event_list_pointer(kind)) {
                Some(Value::Array(events)) => std::mem::take(events),
                // The schema has reported it.
                _ => Vec::new(),
            };
            (context, events)
        }
    };

    let mut events = Vec::with_capacity(raw_events.len());
    let mut ids: BTreeMap<String, (usize, String)> = BTreeMap::new();
    // Each event is checked and hashed on its own (most of a capture's parsing time), so
    // the events are shared among the cores; their verdicts are taken in order.
    let verdicts = parallel::map(raw_events, EVENTS_PER_THREAD, |index, raw| {
        (!schema_failed.contains(&index)).then(|| standalone(index, raw, &context))
    });
    for (index, verdict) in verdicts.into_iter().enumerate() {
        match verdict {
            // The schema's violations are reported already.
            None => {}
            Some(Ok(event)) => {
                if let Some((first, first_hash)) = ids.get(&event.event_id) {
                    if *first_hash != event.hash_id {
                        problems.push(Problem {
                            index: Some(index),
                            event_id: Some(event.event_id.clone()),
                            path: "$.eventID".to_owned(),
                            problem: format!(
                                "event #{first} of this capture has the same eventID and \
                                 different content"
                            ),
                        });
                    }
                } else {
                    ids.insert(event.event_id.clone(), (index, event.hash_id.clone()));
                }
                events.push(event);
            }
            Some(Err(list)) => {
                for problem in list {
                    problems.push(problem);
                }
            }
        }
    }
    problems.into_result()?;
    let mut not_recorded = Vec::new();
    if value.pointer("/epcisHeader/epcisMasterData").is_some() {
        not_recorded.push(NotRecorded {
            path: "$.epcisHeader.epcisMasterData".to_owned(),
            reason: MASTER_DATA_NOT_RECORDED.to_owned(),
        });
    }
    Ok(CaptureDocument {
        not_recorded,
        kind,
        id: value.get("id").and_then(Value::as_str).map(str::to_owned),
        creation_date: value
            .get("creationDate")
            .and_then(Value::as_str)
            .map(str::to_owned),
        context,
        events,
    })
}

fn context_binds_tally(context: Option<&Value>) -> bool {
    bindings(&context_items(context))
        .get("tally")
        .and_then(Value::as_str)
        == Some(TALLY_NS)
}

/// Reads [`PRIVATE_FIELD`].
fn private_fields(
    value: Option<Value>,
    problem: &mut impl FnMut(String, String),
) -> BTreeMap<FieldName, CanonicalJson> {
    let mut out = BTreeMap::new();
    match value {
        None => {}
        Some(Value::Object(fields)) => {
            for (name, value) in fields {
                let path = format!("$.{PRIVATE_FIELD}.{name}");
                match (name.parse::<FieldName>(), CanonicalJson::from_value(&value)) {
                    (Ok(field), Ok(json)) => {
                        out.insert(field, json);
                    }
                    (Err(e), _) => problem(path, e.to_string()),
                    (_, Err(e)) => problem(path, e.to_string()),
                }
            }
        }
        Some(_) => problem(
            format!("$.{PRIVATE_FIELD}"),
            "must be an object mapping private field names to values".to_owned(),
        ),
    }
    out
}

/// Reads [`REFS_FIELD`].
fn refs(value: Option<Value>, problem: &mut impl FnMut(String, String)) -> Vec<EntryHash> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let hash = item.as_str().and_then(|s| s.parse::<EntryHash>().ok());
                if hash.is_none() {
                    problem(
                        format!("$.{REFS_FIELD}[{i}]"),
                        "must be an entry hash (64 hex digits)".to_owned(),
                    );
                }
                hash
            })
            .collect(),
        Some(_) => {
            problem(
                format!("$.{REFS_FIELD}"),
                "must be an array of entry hashes".to_owned(),
            );
            Vec::new()
        }
    }
}

/// Makes one event stand alone and checks it; every problem found is returned.
fn standalone(index: usize, raw: Value, context: &[Value]) -> Result<CapturedEvent, Vec<Problem>> {
    let given_id = raw
        .get("eventID")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut problems = Vec::new();
    let mut problem = |path: String, problem: String| {
        problems.push(Problem {
            index: Some(index),
            event_id: given_id.clone(),
            path,
            problem,
        });
    };
    let Value::Object(mut fields) = raw else {
        problem("$".to_owned(), "an event must be a JSON object".to_owned());
        return Err(problems);
    };
    fields.remove("recordTime");
    fields.remove(PROOF_FIELD);
    let private = private_fields(fields.remove(PRIVATE_FIELD), &mut problem);
    let refs = refs(fields.remove(REFS_FIELD), &mut problem);
    for path in unknown_tally_members_in(&fields) {
        problem(
            path.clone(),
            format!(
                "{path} is not a Tally field: an event's tally: members are {} at its top level, \
                 and {PRIVATE_FIELD} and {REFS_FIELD} on capture; a misspelt field would be \
                 signed into the public event",
                EVENT_FIELDS.join(", ")
            ),
        );
    }

    let own = context_items(fields.remove("@context").as_ref());
    if let Some(message) = tally_prefix_problem(&own) {
        problem("$.@context".to_owned(), message);
    }
    let mut merged = context.to_vec();
    for item in own {
        if !merged.contains(&item) {
            merged.push(item);
        }
    }
    let mut event = Map::with_capacity(fields.len() + 1);
    event.insert("@context".to_owned(), Value::Array(merged));
    event.extend(fields);
    let mut event = Value::Object(event);
    if used_prefixes(&event).contains("tally") && !context_binds_tally(event.get("@context")) {
        problem(
            "$.@context".to_owned(),
            format!(
                "the event uses tally: fields; declare the prefix in the document's @context: \
                 {{\"tally\": \"{TALLY_NS}\"}}"
            ),
        );
    }

    // The hash ID leaves `eventID` out, so the event is parsed once, with the `eventID` it
    // is recorded with (the hash ID when none was given).
    let hash_id = standalone_event_hash_id(&event);
    let id_assigned = given_id.is_none();
    if let (true, Ok(id), Value::Object(map)) = (id_assigned, &hash_id, &mut event) {
        map.insert("eventID".to_owned(), Value::String(id.clone()));
    }
    let classified = ClassifiedEvent::of(&event).map_err(|e| problem(e.path, e.problem));
    let hash_id = hash_id.map_err(|e| problem("$".to_owned(), format!("no Event Hash ID: {e}")));
    let (Ok(classified), Ok(hash_id), true) = (classified, hash_id, problems.is_empty()) else {
        return Err(problems);
    };
    Ok(CapturedEvent {
        index,
        event,
        event_id: given_id.unwrap_or_else(|| hash_id.clone()),
        hash_id,
        id_assigned,
        classified,
        private,
        refs,
    })
}

/// The EPCIS Event Hash ID of an event that stands alone: the hash ID of the event as the only
/// event of a document whose `@context` is the event's, with [`PROOF_FIELD`] excluded.
///
/// This is how anyone checks that an event answered by a Tally node is the event captured:
/// its `eventID` (when Tally assigned it) and this hash ID agree.
pub fn standalone_event_hash_id(event: &Value) -> Result<String, EventHashError> {
    let Value::Object(fields) = event else {
        return Err(EventHashError::NotAnObject);
    };
    if let None | Some(Value::Array(_)) = fields.get("@context") {
        // The event's own `@context` (a list, as capture writes it) gives the prefixes and the
        // vocabulary the document would (the hash reads an event's own context) and is not
        // hashed itself: no document needs building.
        let hash_context = HashContext::default()
            .ignoring(PROOF_FIELD)
            .ignoring("@context");
        return event_hash_id(event, &hash_context);
    }
    let mut body = fields.clone();
    let context = context_items(body.remove("@context").as_ref());
    let document = json!({"@context": context, "epcisBody": {"eventList": [Value::Object(body)]}});
    let hash_context = HashContext::from_document(&document).ignoring(PROOF_FIELD);
    let event = document
        .pointer("/epcisBody/eventList/0")
        .ok_or(EventHashError::NoEventList)?;
    event_hash_id(event, &hash_context)
}

#[cfg(test)]
mod tests;
