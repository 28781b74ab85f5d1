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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::gs1::normalise_epc;

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

// ---------------------------------------------------------------------------------------------
// Bare-word expansion: the vocabulary terms of the EPCIS 2.0 JSON-LD context.

#[rustfmt::skip]
const BIZ_STEPS: &[&str] = &[
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
    "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
    "transporting", "unloading", "unpacking", "void_shipping",
];
#[rustfmt::skip]
const DISPOSITIONS: &[&str] = &[
    "active", "available", "completeness_verified", "completeness_inferred", "conformant",
    "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
    "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_instance",
    "mismatch_class", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
    "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
    "unavailable", "unknown",
];
#[rustfmt::skip]
const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
    "testprd", "testres", "upevt",
];
const SOURCE_DESTINATION_TYPES: &[&str] = &["owning_party", "possessing_party", "location"];
const ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];
#[rustfmt::skip]
const COMPONENTS: &[&str] = &[
    "x", "y", "z", "axial_distance", "azimuth", "height", "spherical_radius", "polar_angle",
    "elevation_angle", "easting", "northing", "latitude", "longitude", "altitude",
];
#[rustfmt::skip]
const MEASUREMENT_TYPES: &[&str] = &[
    "AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
    "Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
    "AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
    "Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
    "DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
    "ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force", "Frequency",
    "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length", "LinearMomentum",
    "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux", "MagneticFluxDensity",
    "MagneticVectorPotential", "Mass", "MassConcentration", "MassFlowRate", "MassPerAreaTime",
    "MemoryCapacity", "MolalityOfSolute", "MolarEnergy", "MolarMass", "MolarVolume", "Power",
    "Pressure", "RadiantFlux", "RadiantIntensity", "RelativeHumidity", "Resistance", "Resistivity",
    "SolidAngle", "SpecificVolume", "Speed", "SurfaceDensity", "SurfaceTension", "Temperature",
    "Time", "Torque", "Voltage", "Volume", "VolumeFlowRate", "VolumeFraction", "VolumetricFlux",
    "Wavenumber",
];
const SENSOR_EXCEPTIONS: &[&str] = &["ALARM_CONDITION", "ERROR_CONDITION"];

/// How JSON-LD expansion treats a value, by the position of its key.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// A plain literal: kept as written.
    Literal,
    /// An IRI (`@type: @id`): CURIEs expanded.
    Id,
    /// A vocabulary IRI (`@type: @vocab`): terms, then CURIEs expanded.
    Vocab(&'static [&'static str], &'static str),
}

/// The scoped contexts of the EPCIS context that change what `type` and a few keys mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Plain,
    BizTransactions,
    SourcesDestinations,
    PersistentDisposition,
    Sensor,
    SensorReport,
    ErrorDeclaration,
}

#[rustfmt::skip]
const ID_KEYS: &[&str] = &[
    "id", "eventID", "epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID",
    "epcClass", "readPoint", "bizLocation", "transformationID", "certificationInfo",
    "bizTransaction", "source", "destination", "deviceID", "deviceMetadata", "rawData",
    "dataProcessingMethod", "bizRules", "coordinateReferenceSystem", "microorganism",
    "chemicalSubstance", "uriValue", "correctiveEventIDs", "children", "member",
];

const CBV: &str = "https://ref.gs1.org/cbv/";
const GS1_VOC: &str = "https://gs1.org/voc/";

fn classify(scope: Scope, key: &str) -> (Scope, Position) {
    use Position::{Id, Literal, Vocab};
    match (scope, key) {
        (Scope::BizTransactions, "type") => (scope, Vocab(BIZ_TRANSACTION_TYPES, "BTT-")),
        (Scope::SourcesDestinations, "type") => (scope, Vocab(SOURCE_DESTINATION_TYPES, "SDT-")),
        (Scope::SensorReport, "type") => (scope, Vocab(MEASUREMENT_TYPES, "")),
        (Scope::SensorReport, "exception") => (scope, Vocab(SENSOR_EXCEPTIONS, "")),
        (Scope::SensorReport, "component") => (scope, Vocab(COMPONENTS, "Comp-")),
        (Scope::PersistentDisposition, "set" | "unset") => (scope, Vocab(DISPOSITIONS, "Disp-")),
        (Scope::ErrorDeclaration, "reason") => (scope, Vocab(ERROR_REASONS, "ER-")),
        // `type` elsewhere is @type: a vocabulary-relative IRI without CBV terms.
        (_, "type") => (scope, Vocab(&[], "")),
        (_, "bizStep") => (scope, Vocab(BIZ_STEPS, "BizStep-")),
        (_, "disposition") => (scope, Vocab(DISPOSITIONS, "Disp-")),
        (_, "persistentDisposition") => (Scope::PersistentDisposition, Literal),
        (_, "bizTransactionList") => (Scope::BizTransactions, Literal),
        (_, "sourceList" | "destinationList") => (Scope::SourcesDestinations, Literal),
        (_, "sensorElementList") => (Scope::Sensor, Literal),
        (Scope::Sensor | Scope::SensorReport, "sensorReport") => (Scope::SensorReport, Literal),
        (_, "errorDeclaration") => (Scope::ErrorDeclaration, Literal),
        (_, key) if ID_KEYS.contains(&key) => (scope, Id),
        _ => (scope, Literal),
    }
}

/// What JSON-LD expansion makes of `value` at `position`.
fn expand(value: &str, position: Position, prefixes: &BTreeMap<String, String>) -> String {
    if let Position::Vocab(terms, infix) = position
        && terms.contains(&value)
    {
        let base = if infix.is_empty() { GS1_VOC } else { CBV };
        return format!("{base}{infix}{value}");
    }
    if let Position::Id | Position::Vocab(..) = position
        && let Some((prefix, local)) = value.split_once(':')
        && !local.starts_with("//")
        && let Some(uri) = prefixes.get(prefix)
    {
        return format!("{uri}{local}");
    }
    value.to_owned()
}

/// The CBV and GS1 vocabulary URIs that JSON-LD expansion finds among the values of
/// `document`, the candidates of bare-word expansion.
fn vocabulary_of(document: &Value, prefixes: &BTreeMap<String, String>) -> BTreeSet<String> {
    fn walk(
        value: &Value,
        scope: Scope,
        position: Position,
        prefixes: &BTreeMap<String, String>,
        out: &mut BTreeSet<String>,
    ) {
        match value {
            Value::String(text) => {
                let expanded = expand(text, position, prefixes);
                if expanded.starts_with("https://ref.gs1.org/cbv")
                    || expanded.starts_with("https://gs1.org/voc")
                    || expanded.starts_with("https://ref.gs1.org/voc")
                {
                    out.insert(expanded);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, scope, position, prefixes, out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    if key == "@context" {
                        continue;
                    }
                    let (scope, position) = classify(scope, key);
                    walk(item, scope, position, prefixes, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(
        document,
        Scope::Plain,
        Position::Literal,
        prefixes,
        &mut out,
    );
    out
}

/// Replaces every string that is the last segment of exactly one vocabulary URI by that URI.
fn expand_bare_words(value: &Value, vocabulary: &BTreeSet<String>) -> Value {
    match value {
        Value::String(text) => {
            let dash = format!("-{text}");
            let slash = format!("/{text}");
            let mut matches = vocabulary
                .iter()
                .filter(|uri| uri.ends_with(&dash) || uri.ends_with(&slash));
            match (matches.next(), matches.next()) {
                (Some(uri), None) => Value::String(uri.clone()),
                _ => value.clone(),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_bare_words(v, vocabulary))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), expand_bare_words(v, vocabulary)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The event as a tree of named values.

/// One field: its name, its text, its children.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    text: String,
    children: Vec<Item>,
}

/// A child: a field, or the members of a business transaction, source or destination, which
/// are written in a fixed order (type first) rather than sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Node(Node),
    Group(Vec<Node>),
}

impl Item {
    fn name(&self) -> Option<&str> {
        match self {
            Self::Node(node) => Some(&node.name),
            Self::Group(_) => None,
        }
    }
}

fn node(name: impl Into<String>, text: impl Into<String>, children: Vec<Item>) -> Node {
    Node {
        name: name.into(),
        text: text.into(),
        children,
    }
}

/// Python's `str()` of a JSON number, as the reference receives it.
fn number_text(number: &serde_json::Number) -> String {
    if number.is_f64() {
        number
            .as_f64()
            .map_or_else(|| number.to_string(), python_float_repr)
    } else {
        number.to_string()
    }
}

/// The text and children of a JSON value.
fn to_tree(value: &Value, context: &HashContext, top_level: bool) -> (String, Vec<Item>) {
    match value {
        Value::Object(map) => {
            let mut children = Vec::new();
            let text = match map.get("#text") {
                Some(Value::String(text)) => text.clone(),
                _ => String::new(),
            };
            for (key, item) in map {
                if matches!(key.as_str(), "#text" | "rdfs:comment" | "comment") {
                    continue;
                }
                let name = context.key(key);
                if top_level && context.is_ignored(key, &name) {
                    continue;
                }
                let (text, grandchildren) = to_tree(item, context, false);
                if let Value::Array(_) = item {
                    // A list is its elements, each under the list's name.
                    for element in grandchildren {
                        if let Item::Node(element) = element {
                            children.push(Item::Node(node(
                                name.clone(),
                                element.text,
                                element.children,
                            )));
                        }
                    }
                } else {
                    children.push(Item::Node(node(name, text, grandchildren)));
                }
            }
            (text, children)
        }
        Value::Array(items) => {
            let children = items
                .iter()
                .map(|item| {
                    let (text, children) = to_tree(item, context, false);
                    Item::Node(node("", text, children))
                })
                .collect();
            (String::new(), children)
        }
        Value::String(text) => (context.value(text), Vec::new()),
        Value::Number(number) => (number_text(number), Vec::new()),
        Value::Bool(b) => (b.to_string(), Vec::new()),
        // What the reference writes for JSON null.
        Value::Null => ("None".to_owned(), Vec::new()),
    }
}

/// The structure corrections that make a JSON event the same tree as its XML form.
fn correct(mut target: Node) -> Node {
    let mut lists: Vec<(String, Vec<Node>)> = Vec::new();
    let mut child_epcs: Vec<Item> = Vec::new();
    let mut rest = Vec::new();
    for child in std::mem::take(&mut target.children) {
        match child {
            Item::Node(child) if child.name.ends_with("List") => {
                let element = node(
                    &child.name[..child.name.len() - 4],
                    child.text,
                    child.children,
                );
                match lists.iter_mut().find(|(name, _)| *name == child.name) {
                    Some((_, elements)) => elements.push(element),
                    None => lists.push((child.name, vec![element])),
                }
            }
            Item::Node(child) if child.name == "childEPCs" => {
                child_epcs.push(Item::Node(node("epc", child.text, Vec::new())));
            }
            other => rest.push(other),
        }
    }
    for (name, elements) in lists {
        let items = if is_typed_list(&name) {
            let id = name[..name.len() - 4].to_owned();
            elements
                .into_iter()
                .map(|e| Item::Group(typed_member_order(e, &id)))
                .collect()
        } else {
            elements.into_iter().map(Item::Node).collect()
        };
        rest.push(Item::Node(node(name, "", items)));
    }
    if !child_epcs.is_empty() {
        rest.push(Item::Node(node("childEPCs", "", child_epcs)));
    }
    target.children = rest
        .into_iter()
        .map(|item| match item {
            // Their members were put in order above; there is nothing below them to correct.
            Item::Node(n) if is_typed_list(&n.name) => Item::Node(n),
            Item::Node(n) => Item::Node(correct(n)),
            group => group,
        })
        .collect();
    rename(target)
}

/// Lists whose elements pair a type with an identifier.
fn is_typed_list(name: &str) -> bool {
    matches!(
        name,
        "bizTransactionList" | "sourceList" | "destinationList"
    )
}

/// A business transaction, source or destination: type, identifier, then anything else sorted.
fn typed_member_order(element: Node, id: &str) -> Vec<Node> {
    let mut members: Vec<Node> = element
        .children
        .into_iter()
        .filter_map(|item| match item {
            Item::Node(n) => Some(n),
            Item::Group(_) => None,
        })
        .collect();
    let mut ordered = Vec::new();
    for name in ["type", id] {
        if let Some(at) = members.iter().position(|m| m.name == name) {
            ordered.push(members.remove(at));
        }
    }
    members.sort_by(|a, b| (&a.name, &a.text).cmp(&(&b.name, &b.text)));
    ordered.extend(members);
    ordered
}

fn rename(mut n: Node) -> Node {
    match n.name.as_str() {
        "inputEPC" | "outputEPC" => n.name = "epc".into(),
        "inputQuantity" | "outputQuantity" | "childQuantity" => n.name = "quantityElement".into(),
        "quantity" if !n.children.is_empty() => n.name = "quantityElement".into(),
        // The JSON of early EPCIS 2.0 drafts wrote these as plain strings.
        "readPoint" | "bizLocation" if n.children.is_empty() && !n.text.is_empty() => {
            let id = std::mem::take(&mut n.text);
            n.children.push(Item::Node(node("id", id, Vec::new())));
        }
        _ => {}
    }
    n
}

// ---------------------------------------------------------------------------------------------
// The pre-hash string.

/// A field of the canonical order and the order of its children.
#[derive(Debug)]
pub struct Property {
    /// The field name.
    pub name: &'static str,
    /// The order of its children (empty for a plain value).
    pub children: &'static [Property],
}

const fn leaf(name: &'static str) -> Property {
    Property {
        name,
        children: &[],
    }
}

const EPCS: &[Property] = &[leaf("epc")];
const QUANTITY: &[Property] = &[Property {
    name: "quantityElement",
    children: &[leaf("epcClass"), leaf("quantity"), leaf("uom")],
}];
const SENSOR_ELEMENT: &[Property] = &[Property {
    name: "sensorElement",
    children: &[
        Property {
            name: "sensorMetadata",
            children: &[
                leaf("time"),
                leaf("startTime"),
                leaf("endTime"),
                leaf("deviceID"),
                leaf("deviceMetadata"),
                leaf("rawData"),
                leaf("dataProcessingMethod"),
                leaf("bizRules"),
            ],
        },
        Property {
            name: "sensorReport",
            children: &[
                leaf("type"),
                leaf("exception"),
                leaf("deviceID"),
                leaf("deviceMetadata"),
                leaf("rawData"),
                leaf("dataProcessingMethod"),
                leaf("time"),
                leaf("microorganism"),
                leaf("chemicalSubstance"),
                leaf("value"),
                leaf("component"),
                leaf("stringValue"),
                leaf("booleanValue"),
                leaf("hexBinaryValue"),
                leaf("uriValue"),
                leaf("minValue"),
                leaf("maxValue"),
                leaf("meanValue"),
                leaf("sDev"),
                leaf("percRank"),
                leaf("percValue"),
                leaf("uom"),
                leaf("coordinateReferenceSystem"),
            ],
        },
    ],
}];

/// The canonical order of the standard fields of an event (CBV 2.0), as the reference version
/// that produced the test data has it (`parentID` before `epcList`, `certificationInfo`
/// included). Business transactions, sources and destinations are written with the remaining
/// fields, sorted, as the reference does.
pub const PROPERTY_ORDER: &[Property] = &[
    leaf("eventTime"),
    leaf("eventTimeZoneOffset"),
    leaf("certificationInfo"),
    leaf("parentID"),
    Property {
        name: "epcList",
        children: EPCS,
    },
    Property {
        name: "inputEPCList",
        children: EPCS,
    },
    Property {
        name: "childEPCs",
        children: EPCS,
    },
    Property {
        name: "quantityList",
        children: QUANTITY,
    },
    Property {
        name: "childQuantityList",
        children: QUANTITY,
    },
    Property {
        name: "inputQuantityList",
        children: QUANTITY,
    },
    Property {
        name: "outputEPCList",
        children: EPCS,
    },
    Property {
        name: "outputQuantityList",
        children: QUANTITY,
    },
    leaf("action"),
    leaf("transformationID"),
    leaf("bizStep"),
    leaf("disposition"),
    Property {
        name: "persistentDisposition",
        children: &[leaf("set"), leaf("unset")],
    },
    Property {
        name: "readPoint",
        children: &[leaf("id")],
    },
    Property {
        name: "bizLocation",
        children: &[leaf("id")],
    },
    Property {
        name: "sensorElementList",
        children: SENSOR_ELEMENT,
    },
];

/// Fields of an event that take no part in its hash.
const IGNORED_FIELDS: &[&str] = &["recordTime", "eventID", "type", "errorDeclaration"];

/// Python's `str.strip()`: Unicode white space and the ASCII separators 0x1C to 0x1F.
fn strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// The numeric canonical form of `text` if Python's `float()` reads it: integral values as
/// integers, others as Python writes floats. `Err` for an infinite value.
fn canonical_number(text: &str) -> Result<Option<String>, ()> {
    let Some(number) = python_float(text) else {
        return Ok(None);
    };
    if number.is_nan() {
        return Ok(None);
    }
    if number.is_infinite() {
        return Err(());
    }
    if number.fract() == 0.0 {
        let integer = format!("{number:.0}");
        return Ok(Some(if integer == "-0" {
            "0".to_owned()
        } else {
            integer
        }));
    }
    Ok(Some(python_float_repr(number)))
}

/// Python's `float(text)` on stripped text: decimal or exponent notation with optional sign
/// and `_` between digits, or `inf`, `infinity`, `nan` in any case.
fn python_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let value = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if text.starts_with('-') { -value } else { value });
    }
    let bytes = unsigned.as_bytes();
    let mut cleaned = String::with_capacity(text.len());
    let mut digits = 0;
    let mut i = 0;
    let mut seen_dot = false;
    let mut seen_exp = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                cleaned.push(char::from(b));
            }
            b'_' => {
                let between = i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !between {
                    return None;
                }
            }
            b'.' if !seen_dot && !seen_exp => {
                seen_dot = true;
                cleaned.push('.');
            }
            b'e' | b'E' if !seen_exp && digits > 0 => {
                seen_exp = true;
                cleaned.push('e');
                if let Some(&sign @ (b'+' | b'-')) = bytes.get(i + 1) {
                    cleaned.push(char::from(sign));
                    i += 1;
                }
                if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let value: f64 = cleaned.parse().ok()?;
    Some(if text.starts_with('-') { -value } else { value })
}

/// Python's `repr()` of a float: the shortest text that reads back to it, in exponent form
/// below 1e-4 and from 1e16.
fn python_float_repr(number: f64) -> String {
    if number.is_nan() {
        return "nan".into();
    }
    if number.is_infinite() {
        return if number > 0.0 { "inf" } else { "-inf" }.into();
    }
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let fixed = format!("{number}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// A time stamp in UTC at millisecond precision, rounded half up on the fourth decimal.
fn canonical_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (hour, minute) = (number(11, 2)?, number(14, 2)?);
    if b.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    let mut micros = 0i64;
    if b.get(at) == Some(&b':') {
        second = number(at + 1, 2)?;
        at += 3;
        if matches!(b.get(at), Some(b'.' | b',')) {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 {
                return None;
            }
            // Microseconds, as the reference's date parser keeps them.
            let fraction = &text[at + 1..at + 1 + digits];
            micros = format!("{:0<6}", &fraction[..digits.min(6)]).parse().ok()?;
            at += 1 + digits;
        }
    }
    let offset_minutes = match &text[at..] {
        "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            let colons = zone[1..].matches(':').count();
            if !(digits.len() == 4 || digits.len() == 2)
                || colons > 1
                || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits
                .get(2..)
                .filter(|m| !m.is_empty())
                .map_or(Some(0), |m| m.parse().ok())?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    let local = time::PrimitiveDateTime::new(date, clock);
    let millis = (micros + 500) / 1000;
    let utc = local
        .checked_sub(time::Duration::minutes(offset_minutes))?
        .checked_add(time::Duration::milliseconds(millis))?;
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    ))
}

/// Whether a field name denotes a time stamp (the reference's rule).
fn is_time_field(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.contains("time") && !lower.contains("offset")
}

/// Old CBV URNs as web-vocabulary URIs.
fn web_vocabulary(text: &str) -> String {
    text.replace(
        "urn:epcglobal:cbv:bizstep:",
        "https://ref.gs1.org/cbv/BizStep-",
    )
    .replace("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-")
    .replace("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-")
    .replace("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-")
    .replace("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-")
}

/// Collects failures while writing, so that the writers stay plain string functions.
struct Writer {
    error: Option<EventHashError>,
}

impl Writer {
    fn canonical(&mut self, name: &str, text: &str) -> String {
        let text = web_vocabulary(text);
        let text = match canonical_number(&text) {
            Ok(Some(number)) => number,
            Ok(None) => text,
            Err(()) => {
                self.fail(EventHashError::InfiniteNumber {
                    field: name.to_owned(),
                    value: text.clone(),
                });
                text
            }
        };
        normalise_epc(&text).unwrap_or(text)
    }

    fn fail(&mut self, error: EventHashError) {
        self.error.get_or_insert(error);
    }

    /// A field of the canonical order: `name=value` then its children in their order.
    fn ordered_field(&mut self, field: &mut Node, order: &[Property]) -> String {
        let children = if order.is_empty() {
            String::new()
        } else {
            self.ordered(&mut field.children, order)
        };
        let mut text = String::new();
        let value = strip(&field.text);
        if !value.is_empty() {
            let value = if is_time_field(&field.name) {
                canonical_time(value).unwrap_or_else(|| {
                    self.fail(EventHashError::BadTimestamp {
                        field: field.name.clone(),
                        value: value.to_owned(),
                    });
                    value.to_owned()
                })
            } else {
                self.canonical(&field.name, value)
            };
            if !value.is_empty() {
                text = format!("={value}");
            }
        }
        if text.is_empty() && children.is_empty() {
            String::new()
        } else {
            format!("{}{text}{children}", field.name)
        }
    }

    /// The children named in `order`, in that order (several of one name sorted), consumed
    /// from `children`; then, inside a standard structure, its user extensions.
    fn ordered(&mut self, children: &mut Vec<Item>, order: &[Property]) -> String {
        let extensions = take_user_extensions(children);
        let mut out = String::new();
        for property in order {
            let mut values = Vec::new();
            let mut i = 0;
            while i < children.len() {
                let Some(Item::Node(child)) = children
                    .get_mut(i)
                    .filter(|c| c.name() == Some(property.name))
                else {
                    i += 1;
                    continue;
                };
                let text = self.ordered_field(child, property.children);
                if !text.is_empty() {
                    values.push(text);
                }
                // Fully written fields are consumed; what is left of the others is written
                // again with the remaining fields.
                if child.children.is_empty() {
                    children.remove(i);
                } else {
                    i += 1;
                }
            }
            values.sort();
            out.push_str(&values.concat());
        }
        if !extensions.is_empty() {
            out.push_str(&self.generic(&extensions));
        }
        out
    }

    /// Any fields, each `name=value` then its children, sorted (business transactions,
    /// sources and destinations keep type before identifier).
    fn generic(&mut self, children: &[Item]) -> String {
        let mut values: Vec<String> = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Item::Group(members) => {
                    let members: Vec<Item> = members.iter().cloned().map(Item::Node).collect();
                    values.push(self.generic_in_order(&members));
                }
                Item::Node(n) => {
                    let value = strip(&n.text);
                    let text = if value.is_empty() {
                        String::new()
                    } else {
                        format!("={}", self.canonical(&n.name, value))
                    };
                    values.push(format!("{}{text}{}", n.name, self.generic(&n.children)));
                }
            }
        }
        let keep_order = children
            .iter()
            .any(|c| matches!(c.name(), Some("bizTransaction" | "source" | "destination")));
        if values.len() > 1 && !keep_order {
            values.sort();
        }
        values.concat()
    }

    fn generic_in_order(&mut self, members: &[Item]) -> String {
        members
            .iter()
            .map(|m| self.generic(std::slice::from_ref(m)))
            .collect()
    }
}

/// Removes and returns the user extensions (`{namespace/}name`) of a standard structure; the
/// event's own (recognised by `eventTime` or `action`) stay for the end of the string.
fn take_user_extensions(children: &mut Vec<Item>) -> Vec<Item> {
    if children.len() <= 1
        || children
            .iter()
            .filter_map(Item::name)
            .any(|n| n.contains("eventTime") || n.contains("action"))
    {
        return Vec::new();
    }
    let (extensions, rest): (Vec<Item>, Vec<Item>) =
        std::mem::take(children).into_iter().partition(|c| {
            c.name()
                .is_some_and(|n| n.contains('{') && n.contains("/}"))
        });
    *children = rest;
    extensions
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
