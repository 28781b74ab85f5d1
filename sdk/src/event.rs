//! The public event of an entry: a GS1 EPCIS 2.0 event, and the C2M kind Tally reads in it.
//!
//! The event itself is kept losslessly as RFC 8785 canonical JSON ([`CanonicalJson`]) — every
//! standard field, sensor report, ILMD and user extension survives. [`EpcisEvent`] is a typed
//! view of the fields Tally reasons about, parsed and checked from that JSON.
//!
//! On top of EPCIS, Tally knows six C2M kinds ([`EventKind`]): order, production step, quality
//! inspection, hand-over, receipt and delivery, plus plain observations. The kind is derived
//! from the event by [`classify`], deterministically, from CBV fields and Tally's extension
//! fields in the namespace [`TALLY_NS`] (prefix `tally:`):
//!
//! | field | meaning |
//! |---|---|
//! | `tally:kind` | explicit kind: `order`, `production_step`, `quality_inspection`, `hand_over`, `receipt`, `delivery`, `observation` |
//! | `tally:handOverTo` | the member id custody is offered to (makes the event a hand-over) |
//! | `tally:receiptOf` | the entry hash of the hand-over this event acknowledges (makes it a receipt) |
//! | `tally:promisedDate` | a promised delivery date-time: on an order (the platform's promise), on a hand-over (binding on the receiver once it acknowledges it), or on a delivery (stated by the deliverer, binding no one) |
//! | `tally:inspectionResult` | `pass` or `fail`, when the disposition does not say |
//!
//! Without `tally:kind`: a hand-over or receipt field decides; otherwise CBV `bizStep`
//! `inspecting` with a verdict is a quality inspection (passed if the disposition is
//! `conformant` or `tally:inspectionResult` is `pass`, failed if `non_conformant` or `fail`;
//! an inspection without a verdict, `in_progress` say, is an observation); a
//! TransformationEvent or a making bizStep (commissioning, assembling, packing, …) is a
//! production step; anything else is an observation. An order is always explicit, and an
//! explicit `quality_inspection` needs a verdict.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::CanonicalJson;
use crate::gs1::ProductId;
use crate::hash::EntryHash;
use crate::ids::MemberId;
use crate::time::Timestamp;

/// The `tally:` members an event may carry, at its top level: Tally's event fields above.
pub const EVENT_FIELDS: [&str; 5] = [
    "tally:kind",
    "tally:handOverTo",
    "tally:receiptOf",
    "tally:promisedDate",
    "tally:inspectionResult",
];

/// The JSON paths of the `tally:` members of `event` that are not Tally's event fields at its
/// top level ([`EVENT_FIELDS`]), or that sit anywhere below it. Whoever signs an event refuses
/// such members: a misspelt field (`tally:privat`, `tally:consumer_name`) would otherwise be
/// signed into the public entry as an extension, replicated to every node and never purgeable.
pub fn unknown_tally_members(event: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk_for_tally_members(event, &mut Vec::new(), &mut found);
    found
}

/// [`unknown_tally_members`] of the event whose top-level members are `members`.
pub fn unknown_tally_members_in(members: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    walk_members_for_tally_members(members, &mut Vec::new(), &mut found);
    found
}

/// A step of a JSON path; the path is written out only for a member that is reported.
enum Step<'a> {
    Member(&'a str),
    Index(usize),
}

fn walk_for_tally_members<'a>(value: &'a Value, path: &mut Vec<Step<'a>>, found: &mut Vec<String>) {
    match value {
        Value::Object(members) => walk_members_for_tally_members(members, path, found),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk_for_tally_members(item, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

fn walk_members_for_tally_members<'a>(
    members: &'a Map<String, Value>,
    path: &mut Vec<Step<'a>>,
    found: &mut Vec<String>,
) {
    let top = path.is_empty();
    for (name, member) in members {
        path.push(Step::Member(name));
        if name.starts_with("tally:") && !(top && EVENT_FIELDS.contains(&name.as_str())) {
            found.push(json_path(path));
        }
        walk_for_tally_members(member, path, found);
        path.pop();
    }
}

fn json_path(path: &[Step<'_>]) -> String {
    let mut out = String::from("$");
    for step in path {
        match step {
            Step::Member(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// The JSON-LD namespace of Tally's EPCIS extension fields (prefix `tally:`).
pub const TALLY_NS: &str = "https://ns.tally.dev/epcis/";

/// An event is not a valid EPCIS event, or its Tally fields are inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct EventError {
    /// JSON path of the offending field, e.g. `$.eventTime`.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

impl EventError {
    fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// The five EPCIS 2.0 event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EpcisEventType {
    /// Observations of objects.
    ObjectEvent,
    /// Packing objects into a container (parent) and unpacking.
    AggregationEvent,
    /// Inputs consumed, outputs produced.
    TransformationEvent,
    /// Objects associated with a business transaction.
    TransactionEvent,
    /// Assets associated with a parent (e.g. sensors with a vehicle).
    AssociationEvent,
}

impl EpcisEventType {
    /// The name as EPCIS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ObjectEvent => "ObjectEvent",
            Self::AggregationEvent => "AggregationEvent",
            Self::TransformationEvent => "TransformationEvent",
            Self::TransactionEvent => "TransactionEvent",
            Self::AssociationEvent => "AssociationEvent",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ObjectEvent" => Self::ObjectEvent,
            "AggregationEvent" => Self::AggregationEvent,
            "TransformationEvent" => Self::TransformationEvent,
            "TransactionEvent" => Self::TransactionEvent,
            "AssociationEvent" => Self::AssociationEvent,
            _ => return None,
        })
    }
}

/// EPCIS `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Objects come into being or are added.
    Add,
    /// Objects are observed.
    Observe,
    /// Objects cease to exist or are removed.
    Delete,
}

/// The names of the kinds, as role permissions in the genesis name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// A consumer's custom order.
    Order,
    /// A step of making the product (or a material lot).
    ProductionStep,
    /// A quality inspection with a pass or fail result.
    QualityInspection,
    /// Custody offered to another member.
    HandOver,
    /// A receiver's acknowledgement of a hand-over.
    Receipt,
    /// Delivery to the consumer, with the promised date.
    Delivery,
    /// Any other EPCIS event.
    Observation,
}

impl KindName {
    /// All kinds.
    pub const ALL: [KindName; 7] = [
        Self::Order,
        Self::ProductionStep,
        Self::QualityInspection,
        Self::HandOver,
        Self::Receipt,
        Self::Delivery,
        Self::Observation,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::ProductionStep => "production_step",
            Self::QualityInspection => "quality_inspection",
            Self::HandOver => "hand_over",
            Self::Receipt => "receipt",
            Self::Delivery => "delivery",
            Self::Observation => "observation",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The C2M kind of an event, with what Tally needs to reason about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A consumer's custom order; the consumer's data and spec are private fields.
    Order,
    /// A production step.
    ProductionStep,
    /// A quality inspection.
    QualityInspection {
        /// Whether the inspected items conformed.
        passed: bool,
    },
    /// Custody offered to a member, until that member's receipt.
    HandOver {
        /// The receiving member.
        to: MemberId,
    },
    /// Acknowledgement of a hand-over.
    Receipt {
        /// The hand-over entry acknowledged.
        hand_over: EntryHash,
    },
    /// Delivery to the consumer; the actual date is the event time.
    Delivery {
        /// The promised date, when one was made.
        promised: Option<Timestamp>,
    },
    /// Any other event.
    Observation,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::QualityInspection { passed: true } => f.write_str("quality_inspection (passed)"),
            Self::QualityInspection { passed: false } => f.write_str("quality_inspection (failed)"),
            Self::HandOver { to } => write!(f, "hand_over to {to}"),
            Self::Receipt { hand_over } => write!(f, "receipt of hand-over {}", hand_over.short()),
            Self::Delivery {
                promised: Some(date),
            } => write!(f, "delivery promised for {date}"),
            other => f.write_str(other.name().as_str()),
        }
    }
}

impl EventKind {
    /// The kind's name, as permissions name it.
    pub fn name(&self) -> KindName {
        match self {
            Self::Order => KindName::Order,
            Self::ProductionStep => KindName::ProductionStep,
            Self::QualityInspection { .. } => KindName::QualityInspection,
            Self::HandOver { .. } => KindName::HandOver,
            Self::Receipt { .. } => KindName::Receipt,
            Self::Delivery { .. } => KindName::Delivery,
            Self::Observation => KindName::Observation,
        }
    }
}

/// A typed view of a checked EPCIS event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcisEvent {
    /// The event type.
    pub event_type: EpcisEventType,
    /// When the event happened.
    pub event_time: Timestamp,
    /// The local offset at the event, e.g. `+02:00`.
    pub event_time_zone_offset: String,
    /// The action (absent for TransformationEvent).
    pub action: Option<Action>,
    /// The business step: the bare CBV word (`shipping`) for CBV steps, else the full URI.
    pub biz_step: Option<String>,
    /// The disposition: the bare CBV word (`conformant`) for CBV values, else the full URI.
    pub disposition: Option<String>,
    /// The read point id.
    pub read_point: Option<String>,
    /// The business location id.
    pub biz_location: Option<String>,
    /// The GS1 keys the event is about (epcList, parentID, childEPCs, quantities, and the
    /// inputs and outputs of a transformation), canonical and without duplicates.
    pub products: Vec<ProductId>,
    /// The inputs of a transformation.
    pub inputs: Vec<ProductId>,
    /// The outputs of a transformation.
    pub outputs: Vec<ProductId>,
    /// The EPCIS `eventID`, if it has one.
    pub event_id: Option<String>,
    /// `tally:promisedDate`: the delivery date promised, on an order, a hand-over or a
    /// delivery ([`crate::reports::provenance`] says which promise binds whom).
    pub promised: Option<Timestamp>,
    /// The name its instance/lot master data (`ilmd`) gives the objects the event is about
    /// (CBV `descriptionShort`): what a consumer reads on the product's page, when the event
    /// made the product ([`crate::reports::provenance`] says which names count). `None` when
    /// absent, not a string, empty, longer than [`MAX_PRODUCT_NAME_CHARS`] or holding control
    /// characters: such a name is not shown, and the event stays valid.
    pub product_name: Option<String>,
    /// The event as JSON, canonical.
    pub json: CanonicalJson,
}

fn field_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(EventError::new(format!("$.{key}"), "must be a string")),
    }
}

fn id_of(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => match inner.get("id") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(EventError::new(format!("$.{key}.id"), "must be a string")),
        },
        Some(_) => Err(EventError::new(
            format!("$.{key}"),
            "must be an object with an id",
        )),
    }
}

/// Strips the CBV prefixes of a vocabulary value so all spellings of a CBV word compare equal.
fn cbv_word(value: &str, urn_prefix: &str, web_prefix: &str, curie_prefix: &str) -> String {
    for prefix in [urn_prefix, web_prefix, curie_prefix] {
        if let Some(word) = value.strip_prefix(prefix) {
            return word.to_owned();
        }
    }
    value.to_owned()
}

/// The CBV word of a bizStep in any of its spellings (URN, Web URI, CURIE, bare word): what
/// indexes and queries compare.
pub fn normalise_biz_step(value: &str) -> String {
    cbv_word(
        value,
        "urn:epcglobal:cbv:bizstep:",
        "https://ref.gs1.org/cbv/BizStep-",
        "cbv:BizStep-",
    )
}

/// The CBV word of a disposition in any of its spellings: what indexes and queries compare.
pub fn normalise_disposition(value: &str) -> String {
    cbv_word(
        value,
        "urn:epcglobal:cbv:disp:",
        "https://ref.gs1.org/cbv/Disp-",
        "cbv:Disp-",
    )
}

/// `path` names the value in an error; it is only formatted then (this runs for every
/// identifier of every entry verified).
fn push_product(
    out: &mut Vec<ProductId>,
    value: &Value,
    path: impl FnOnce() -> String,
) -> Result<(), EventError> {
    let text = value
        .as_str()
        .ok_or_else(|| EventError::new(path(), "must be a string (an EPC URI or Digital Link)"))?;
    // EPCIS allows identifiers that are not GS1 keys (any URI); they stay in the event but are
    // not indexed as products.
    if let Ok(id) = ProductId::parse(text)
        && !out.contains(&id)
    {
        out.push(id);
    }
    Ok(())
}

fn collect_list(
    obj: &Map<String, Value>,
    key: &str,
    out: &mut Vec<ProductId>,
) -> Result<(), EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                push_product(out, item, || format!("$.{key}[{i}]"))?;
            }
            Ok(())
        }
        Some(_) => Err(EventError::new(format!("$.{key}"), "must be an array")),
    }
}

fn collect_quantities(
    obj: &Map<String, Value>,
    key: &str,
    out: &mut Vec<ProductId>,
) -> Result<(), EventError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let class = item.get("epcClass").ok_or_else(|| {
                    EventError::new(format!("$.{key}[{i}].epcClass"), "is required")
                })?;
                push_product(out, class, || format!("$.{key}[{i}].epcClass"))?;
            }
            Ok(())
        }
        Some(_) => Err(EventError::new(format!("$.{key}"), "must be an array")),
    }
}

fn is_offset(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
}

impl EpcisEvent {
    /// Parses and checks an EPCIS 2.0 event given as a JSON value.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let json =
            CanonicalJson::from_value(value).map_err(|e| EventError::new("$", e.to_string()))?;
        Self::parse(value, json)
    }

    /// Parses canonical event JSON (as stored in an entry); returns the parsed value too, for
    /// [`classify`].
    pub fn from_canonical(json: &CanonicalJson) -> Result<(Self, Value), EventError> {
        let value = json
            .to_value()
            .map_err(|e| EventError::new("$", e.to_string()))?;
        // The text is canonical already: no need to canonicalise it again.
        let event = Self::parse(&value, json.clone())?;
        Ok((event, value))
    }

    fn parse(value: &Value, json: CanonicalJson) -> Result<Self, EventError> {
        let obj = value
            .as_object()
            .ok_or_else(|| EventError::new("$", "an EPCIS event must be a JSON object"))?;
        let type_text =
            field_str(obj, "type")?.ok_or_else(|| EventError::new("$.type", "is required"))?;
        let event_type = EpcisEventType::parse(type_text).ok_or_else(|| {
            EventError::new(
                "$.type",
                format!(
                    "unknown event type {type_text:?}; expected ObjectEvent, AggregationEvent, \
                     TransformationEvent, TransactionEvent or AssociationEvent"
                ),
            )
        })?;
        let time_text = field_str(obj, "eventTime")?
            .ok_or_else(|| EventError::new("$.eventTime", "is required"))?;
        let event_time = Timestamp::parse_rfc3339(time_text)
            .map_err(|e| EventError::new("$.eventTime", e.to_string()))?;
        let offset = field_str(obj, "eventTimeZoneOffset")?
            .ok_or_else(|| EventError::new("$.eventTimeZoneOffset", "is required"))?;
        if !is_offset(offset) {
            return Err(EventError::new(
                "$.eventTimeZoneOffset",
                format!("{offset:?} is not an offset like +02:00"),
            ));
        }
        let action = match field_str(obj, "action")? {
            None => None,
            Some("ADD") => Some(Action::Add),
            Some("OBSERVE") => Some(Action::Observe),
            Some("DELETE") => Some(Action::Delete),
            Some(other) => {
                return Err(EventError::new(
                    "$.action",
                    format!("{other:?} is not ADD, OBSERVE or DELETE"),
                ));
            }
        };
        if action.is_none() && event_type != EpcisEventType::TransformationEvent {
            return Err(EventError::new(
                "$.action",
                format!("is required for a {}", event_type.as_str()),
            ));
        }
        let mut products = Vec::new();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        if let Some(parent) = obj.get("parentID").filter(|v| !v.is_null()) {
            push_product(&mut products, parent, || "$.parentID".to_owned())?;
        }
        for key in ["epcList", "childEPCs"] {
            collect_list(obj, key, &mut products)?;
        }
        for key in ["quantityList", "childQuantityList"] {
            collect_quantities(obj, key, &mut products)?;
        }
        collect_list(obj, "inputEPCList", &mut inputs)?;
        collect_quantities(obj, "inputQuantityList", &mut inputs)?;
        collect_list(obj, "outputEPCList", &mut outputs)?;
        collect_quantities(obj, "outputQuantityList", &mut outputs)?;
        for id in inputs.iter().chain(&outputs) {
            if !products.contains(id) {
                products.push(id.clone());
            }
        }
        Ok(Self {
            event_type,
            event_time,
            event_time_zone_offset: offset.to_owned(),
            action,
            biz_step: field_str(obj, "bizStep")?.map(normalise_biz_step),
            disposition: field_str(obj, "disposition")?.map(normalise_disposition),
            read_point: id_of(obj, "readPoint")?,
            biz_location: id_of(obj, "bizLocation")?,
            products,
            inputs,
            outputs,
            // Read leniently: the event model has never checked eventID, and entries already
            // signed must stay valid.
            event_id: obj
                .get("eventID")
                .and_then(Value::as_str)
                .map(str::to_owned),
            // Lenient for the same reason; `classify` refuses a malformed date on new events.
            promised: obj
                .get("tally:promisedDate")
                .and_then(Value::as_str)
                .and_then(|text| Timestamp::parse_rfc3339(text).ok()),
            product_name: product_name(obj),
            json,
        })
    }
}

/// Longest product name shown, in characters.
pub const MAX_PRODUCT_NAME_CHARS: usize = 200;

/// The keys of CBV's `descriptionShort` master data attribute in an `ilmd` object: the compact
/// form of the EPCIS 2.0 JSON-LD context and the full URN.
const DESCRIPTION_SHORT: [&str; 2] = [
    "cbvmda:descriptionShort",
    "urn:epcglobal:cbv:mda#descriptionShort",
];

fn product_name(obj: &Map<String, Value>) -> Option<String> {
    let ilmd = obj.get("ilmd")?.as_object()?;
    let name = DESCRIPTION_SHORT
        .iter()
        .find_map(|key| ilmd.get(*key))?
        .as_str()?
        .trim();
    let fits = !name.is_empty()
        && name.chars().count() <= MAX_PRODUCT_NAME_CHARS
        && !name.chars().any(char::is_control);
    fits.then(|| name.to_owned())
}

const MAKING_STEPS: &[&str] = &[
    "commissioning",
    "assembling",
    "packing",
    "repackaging",
    "repairing",
    "encoding",
    "installing",
    "creating_class_instance",
    "disassembling",
    "unpacking",
];

fn tally_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, EventError> {
    field_str(obj, &format!("tally:{name}"))
}

/// An event parsed and classified once, to build its entry from
/// ([`crate::entry::UnsignedEntry::classified`]) without doing either again: what capture
/// hands on for each event it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedEvent {
    /// The event, with its canonical JSON.
    pub event: EpcisEvent,
    /// Its C2M kind.
    pub kind: EventKind,
}

impl ClassifiedEvent {
    /// Parses and classifies `value`.
    pub fn of(value: &Value) -> Result<Self, EventError> {
        let event = EpcisEvent::from_value(value)?;
        let kind = classify(value, &event)?;
        Ok(Self { event, kind })
    }
}

/// Derives the C2M kind of an event (see the module documentation for the rules).
pub fn classify(value: &Value, event: &EpcisEvent) -> Result<EventKind, EventError> {
    let obj = value
        .as_object()
        .ok_or_else(|| EventError::new("$", "an EPCIS event must be a JSON object"))?;
    let explicit = tally_field(obj, "kind")?
        .map(|text| {
            KindName::parse(text).ok_or_else(|| {
                EventError::new(
                    "$.tally:kind",
                    format!(
                        "unknown kind {text:?}; expected one of order, production_step, \
                         quality_inspection, hand_over, receipt, delivery, observation"
                    ),
                )
            })
        })
        .transpose()?;
    let hand_over_to = tally_field(obj, "handOverTo")?;
    let receipt_of = tally_field(obj, "receiptOf")?;
    let name = match explicit {
        Some(name) => name,
        None if hand_over_to.is_some() => KindName::HandOver,
        None if receipt_of.is_some() => KindName::Receipt,
        // An inspection is a quality inspection when it gives a verdict; without one (the
        // EPCIS examples record inspections `in_progress`, `needs_replacement`, or with sensor
        // readings only) it is an observation.
        None if event.biz_step.as_deref() == Some("inspecting")
            && (obj.contains_key("tally:inspectionResult")
                || matches!(
                    event.disposition.as_deref(),
                    Some("conformant" | "non_conformant")
                )) =>
        {
            KindName::QualityInspection
        }
        None if event.event_type == EpcisEventType::TransformationEvent
            || event
                .biz_step
                .as_deref()
                .is_some_and(|s| MAKING_STEPS.contains(&s)) =>
        {
            KindName::ProductionStep
        }
        None => KindName::Observation,
    };
    if hand_over_to.is_some() && name != KindName::HandOver {
        return Err(EventError::new(
            "$.tally:handOverTo",
            format!("is only allowed on a hand_over, not on a {name}"),
        ));
    }
    if receipt_of.is_some() && name != KindName::Receipt {
        return Err(EventError::new(
            "$.tally:receiptOf",
            format!("is only allowed on a receipt, not on a {name}"),
        ));
    }
    if matches!(name, KindName::Order | KindName::HandOver) {
        // A promise made by the platform's order or offered with a hand-over; checked here
        // so a malformed date is refused, not silently ignored.
        tally_field(obj, "promisedDate")?
            .map(Timestamp::parse_rfc3339)
            .transpose()
            .map_err(|e| EventError::new("$.tally:promisedDate", e.to_string()))?;
    }
    Ok(match name {
        KindName::Order => EventKind::Order,
        KindName::ProductionStep => EventKind::ProductionStep,
        KindName::Observation => EventKind::Observation,
        KindName::QualityInspection => {
            let explicit = tally_field(obj, "inspectionResult")?;
            let passed = match (explicit, event.disposition.as_deref()) {
                (Some("pass"), _) => true,
                (Some("fail"), _) => false,
                (Some(other), _) => {
                    return Err(EventError::new(
                        "$.tally:inspectionResult",
                        format!("{other:?} is not pass or fail"),
                    ));
                }
                (None, Some("conformant")) => true,
                (None, Some("non_conformant")) => false,
                (None, _) => {
                    return Err(EventError::new(
                        "$.disposition",
                        "a quality inspection needs disposition conformant or non_conformant, \
                         or tally:inspectionResult pass or fail",
                    ));
                }
            };
            EventKind::QualityInspection { passed }
        }
        KindName::HandOver => {
            let to = hand_over_to.ok_or_else(|| {
                EventError::new(
                    "$.tally:handOverTo",
                    "a hand_over must name the receiving member",
                )
            })?;
            let to = MemberId::new(to)
                .map_err(|e| EventError::new("$.tally:handOverTo", e.to_string()))?;
            EventKind::HandOver { to }
        }
        KindName::Receipt => {
            let of = receipt_of.ok_or_else(|| {
                EventError::new(
                    "$.tally:receiptOf",
                    "a receipt must name the hand-over entry it acknowledges",
                )
            })?;
            let hand_over = EntryHash::from_hex(of)
                .map_err(|e| EventError::new("$.tally:receiptOf", e.to_string()))?;
            EventKind::Receipt { hand_over }
        }
        KindName::Delivery => {
            let promised = tally_field(obj, "promisedDate")?
                .map(Timestamp::parse_rfc3339)
                .transpose()
                .map_err(|e| EventError::new("$.tally:promisedDate", e.to_string()))?;
            EventKind::Delivery { promised }
        }
    })
}

#[cfg(test)]
mod tests;
