//! The EPCIS 2.0 event query of the REST binding: its parameters read into a typed
//! [`EventQuery`], and whether an event matches it ([`EventQuery::matches`]).
//!
//! A query comes as a URL query string (`GET /events?EQ_bizStep=shipping|receiving&…`,
//! [`EventQuery::parse_query_string`]), as name/value pairs ([`EventQuery::from_pairs`]), or as
//! the JSON object of a named query (`POST /queries`, [`EventQuery::from_json`]). Every
//! parameter restricts the answer; an event matches when it passes all of them. A parameter
//! taking a list takes its values separated by `|` (the binding's `pipeDelimited` style; in JSON,
//! an array), and is passed by an event matching any one of them. A parameter may be given
//! once.
//!
//! # Supported parameters
//!
//! | parameter | an event passes when |
//! |---|---|
//! | `eventType` | its `type` is one of the values |
//! | `GE_eventTime`, `LT_eventTime` | `eventTime` ≥ / < the value |
//! | `GE_recordTime`, `LT_recordTime` | `recordTime` ≥ / < the value (the time the node recorded the entry, see [`super::answer`]) |
//! | `EQ_action` | `action` is one of `ADD`, `OBSERVE`, `DELETE` given |
//! | `EQ_bizStep`, `EQ_disposition` | the value is one of those given; CBV values compare alike as bare word, URN or Web URI (`shipping` = `urn:epcglobal:cbv:bizstep:shipping` = `https://ref.gs1.org/cbv/BizStep-shipping`) |
//! | `EQ_persistentDisposition_set`, `_unset` | one of `persistentDisposition.set` / `.unset` is one of the values |
//! | `EQ_readPoint`, `EQ_bizLocation` | `readPoint.id` / `bizLocation.id` is one of the values (GS1 keys compared as one form, EPC URI = Digital Link) |
//! | `WD_readPoint`, `WD_bizLocation` | as `EQ_`: Tally holds no location master data, so a location has no descendants |
//! | `EQ_transformationID` | `transformationID` is one of the values |
//! | `MATCH_epc`, `MATCH_parentID`, `MATCH_inputEPC`, `MATCH_outputEPC`, `MATCH_anyEPC` | an identifier of `epcList`/`childEPCs`, `parentID`, `inputEPCList`, `outputEPCList`, or any of them, matches a value ([`super::pattern`]) |
//! | `MATCH_epcClass`, `MATCH_inputEPCClass`, `MATCH_outputEPCClass`, `MATCH_anyEPCClass` | an `epcClass` of `quantityList`/`childQuantityList`, `inputQuantityList`, `outputQuantityList`, or any of them, matches a value |
//! | `EQ_quantity`, `GT_`, `GE_`, `LT_`, `LE_quantity` | a `quantity` of any quantity list compares so with the value |
//! | `EQ_eventID` | `eventID` is one of the values |
//! | `EXISTS_errorDeclaration` | (`true`, or no value) it has an `errorDeclaration`; `false` restricts nothing |
//! | `GE_errorDeclarationTime`, `LT_errorDeclarationTime` | `errorDeclaration.declarationTime` ≥ / < the value |
//! | `EQ_errorReason` | `errorDeclaration.reason` is one of the values (CBV forms alike) |
//! | `EQ_correctiveEventID` | one of `errorDeclaration.correctiveEventIDs` is one of the values |
//! | `EQ_bizTransaction_<type>`, `EQ_source_<type>`, `EQ_destination_<type>` | an entry of `bizTransactionList` / `sourceList` / `destinationList` of that type (CBV forms alike) has one of the values |
//! | `EXISTS_sensorElementList` | it has sensor data |
//! | `GE_time`, `LT_time`, `GE_startTime`, `LT_startTime`, `GE_endTime`, `LT_endTime` | a sensor element's `time` (metadata or report) / `startTime` / `endTime` compares so |
//! | `EQ_type` | a sensor report's `type` is one of the values (`Temperature` = `gs1:Temperature` = `https://gs1.org/voc/Temperature`) |
//! | `EQ_deviceID`, `EQ_dataProcessingMethod` | the sensor metadata or a report has one of the values |
//! | `EQ_bizRules` | the sensor metadata has one of the values |
//! | `EQ_microorganism`, `EQ_chemicalSubstance`, `EQ_stringValue`, `EQ_hexBinaryValue`, `EQ_uriValue`, `EQ_booleanValue` | a sensor report has one of the values (hex compared without case) |
//! | `orderBy` (`eventTime`, `recordTime`), `orderDirection` (`ASC`, `DESC`: default) | the order of the answer ([`EventQuery::sort`]) |
//! | `eventCountLimit` | at most that many events, the first in the order (needs `orderBy`) |
//! | `maxEventCount` | more matching events is a `QueryTooLargeException` ([`EventQuery::check_count`]) |
//! | `perPage`, `nextPageToken` | pagination, carried for the node |
//!
//! Times are compared to the millisecond (finer digits are dropped on both sides). In a URL, a
//! `+` of a time's offset must be written `%2B`; a space where the offset's sign belongs is read
//! as `+`, since that is what an unescaped `+` becomes.
//!
//! # Refused parameters
//!
//! An unknown name or a bad value is a [`QueryError`] that maps to the binding's
//! `QueryParameterException` (400). Standard parameters Tally does not evaluate — those on
//! user extension fields (`EQ_ns:field`, `EXISTS_ns:field`, `GT_…`, and their `INNER_`, `ILMD_`,
//! `ERROR_DECLARATION_`, `SENSORELEMENT_`, `SENSORMETADATA_`, `SENSORREPORT_` forms),
//! `HASATTR_`, `EQATTR_`, the sensor values by unit (`EQ_value_CEL`, `GE_minValue_…`,
//! `GE_percRank`, …), quantities by unit (`EQ_quantity_KGM`), `orderBy` on an extension field
//! — are [`QueryError::Unsupported`], the binding's `ImplementationException` with status 501,
//! never silently ignored.

use std::cmp::Ordering;

use serde_json::Value;

use super::exception::EpcisException;
use super::pattern::{EpcPattern, identity};
use crate::event::{Action, normalise_biz_step, normalise_disposition};
use crate::gs1::digital_link::percent_decode;
use crate::time::Timestamp;

/// At most this many parameters in one query.
pub const MAX_PARAMETERS: usize = 64;

/// At most this many values in one parameter.
pub const MAX_VALUES: usize = 1_000;

/// A query parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The name is not a query parameter of EPCIS 2.0.
    #[error("unknown query parameter {name:?}")]
    Unknown {
        /// The name.
        name: String,
    },
    /// A standard parameter Tally does not evaluate.
    #[error("query parameter {name} is not supported by this repository: {why}")]
    Unsupported {
        /// The name.
        name: String,
        /// What is not supported.
        why: String,
    },
    /// The value is not valid for the parameter.
    #[error("query parameter {name}: {problem}")]
    Invalid {
        /// The name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The parameter is given more than once.
    #[error("query parameter {name} is given more than once; give one value list")]
    Repeated {
        /// The name.
        name: String,
    },
    /// Parameters that exclude each other, or too many.
    #[error("{0}")]
    Conflict(String),
    /// More events match than `maxEventCount` allows.
    #[error("{count} events match the query, more than its maxEventCount {limit}")]
    TooLarge {
        /// How many match.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl QueryError {
    /// The binding's exception for this error.
    pub fn exception(&self) -> EpcisException {
        match self {
            Self::Unsupported { .. } => EpcisException::ImplementationException,
            Self::TooLarge { .. } => EpcisException::QueryTooLargeException,
            _ => EpcisException::QueryParameterException,
        }
    }

    /// The HTTP status to answer with (501 for an unsupported standard parameter).
    pub fn status(&self) -> u16 {
        match self {
            Self::Unsupported { .. } => 501,
            other => other.exception().status(),
        }
    }
}

/// A time field a parameter bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    /// `eventTime`.
    EventTime,
    /// `recordTime`.
    RecordTime,
    /// `errorDeclaration.declarationTime`.
    ErrorDeclarationTime,
    /// `time` of sensor metadata or a sensor report.
    SensorTime,
    /// `startTime` of sensor metadata.
    SensorStartTime,
    /// `endTime` of sensor metadata.
    SensorEndTime,
}

/// The side of a time bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `GE_`: at or after.
    AtOrAfter,
    /// `LT_`: before.
    Before,
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `EQ_`.
    Eq,
    /// `GT_`.
    Gt,
    /// `GE_`.
    Ge,
    /// `LT_`.
    Lt,
    /// `LE_`.
    Le,
}

impl Comparison {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            Self::Lt => left < right,
            Self::Le => left <= right,
        }
    }
}

/// Where `MATCH_` looks for identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierField {
    /// `epcList` and `childEPCs` (`MATCH_epc`).
    Epc,
    /// `parentID` (`MATCH_parentID`).
    ParentId,
    /// `inputEPCList` (`MATCH_inputEPC`).
    InputEpc,
    /// `outputEPCList` (`MATCH_outputEPC`).
    OutputEpc,
    /// All of the above (`MATCH_anyEPC`).
    AnyEpc,
    /// `epcClass` of `quantityList` and `childQuantityList` (`MATCH_epcClass`).
    EpcClass,
    /// `epcClass` of `inputQuantityList` (`MATCH_inputEPCClass`).
    InputEpcClass,
    /// `epcClass` of `outputQuantityList` (`MATCH_outputEPCClass`).
    OutputEpcClass,
    /// `epcClass` of every quantity list (`MATCH_anyEPCClass`).
    AnyEpcClass,
    /// Every identifier and class of the event (the `/epcs/{epc}/events` resource).
    Any,
}

const EPC_LISTS: &[&str] = &["epcList", "childEPCs", "inputEPCList", "outputEPCList"];
const QUANTITY_LISTS: &[&str] = &[
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
];

impl IdentifierField {
    /// (lists of identifiers, whether `parentID` counts, quantity lists).
    fn sources(self) -> (&'static [&'static str], bool, &'static [&'static str]) {
        match self {
            Self::Epc => (&["epcList", "childEPCs"], false, &[]),
            Self::ParentId => (&[], true, &[]),
            Self::InputEpc => (&["inputEPCList"], false, &[]),
            Self::OutputEpc => (&["outputEPCList"], false, &[]),
            Self::AnyEpc => (EPC_LISTS, true, &[]),
            Self::EpcClass => (&[], false, &["quantityList", "childQuantityList"]),
            Self::InputEpcClass => (&[], false, &["inputQuantityList"]),
            Self::OutputEpcClass => (&[], false, &["outputQuantityList"]),
            Self::AnyEpcClass => (&[], false, QUANTITY_LISTS),
            Self::Any => (EPC_LISTS, true, QUANTITY_LISTS),
        }
    }
}

/// A vocabulary field compared in its CBV-normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabularyField {
    /// `bizStep`.
    BizStep,
    /// `disposition`.
    Disposition,
    /// `persistentDisposition.set`.
    PersistentDispositionSet,
    /// `persistentDisposition.unset`.
    PersistentDispositionUnset,
    /// `errorDeclaration.reason`.
    ErrorReason,
    /// `type` of a sensor report.
    SensorType,
}

impl VocabularyField {
    fn normalise(self, value: &str) -> String {
        match self {
            Self::BizStep => normalise_biz_step(value),
            Self::Disposition
            | Self::PersistentDispositionSet
            | Self::PersistentDispositionUnset => normalise_disposition(value),
            Self::ErrorReason => cbv_term(
                value,
                &[
                    "urn:epcglobal:cbv:er:",
                    "https://ref.gs1.org/cbv/ER-",
                    "cbv:ER-",
                ],
            ),
            Self::SensorType => cbv_term(
                value,
                &["https://gs1.org/voc/", "https://ref.gs1.org/voc/", "gs1:"],
            ),
        }
    }
}

/// A location field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationField {
    /// `readPoint.id`.
    ReadPoint,
    /// `bizLocation.id`.
    BizLocation,
}

/// A field of sensor data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorField {
    /// `deviceID` of the metadata or a report.
    DeviceId,
    /// `dataProcessingMethod` of the metadata or a report.
    DataProcessingMethod,
    /// `bizRules` of the metadata.
    BizRules,
    /// `microorganism` of a report.
    Microorganism,
    /// `chemicalSubstance` of a report.
    ChemicalSubstance,
    /// `stringValue` of a report.
    StringValue,
    /// `hexBinaryValue` of a report.
    HexBinaryValue,
    /// `uriValue` of a report.
    UriValue,
}

impl SensorField {
    fn key(self) -> &'static str {
        match self {
            Self::DeviceId => "deviceID",
            Self::DataProcessingMethod => "dataProcessingMethod",
            Self::BizRules => "bizRules",
            Self::Microorganism => "microorganism",
            Self::ChemicalSubstance => "chemicalSubstance",
            Self::StringValue => "stringValue",
            Self::HexBinaryValue => "hexBinaryValue",
            Self::UriValue => "uriValue",
        }
    }

    /// (in the metadata, in a report).
    fn places(self) -> (bool, bool) {
        match self {
            Self::DeviceId | Self::DataProcessingMethod => (true, true),
            Self::BizRules => (true, false),
            _ => (false, true),
        }
    }
}

/// A typed list of business parties or documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyField {
    /// `bizTransactionList` (`EQ_bizTransaction_<type>`).
    BizTransaction,
    /// `sourceList` (`EQ_source_<type>`).
    Source,
    /// `destinationList` (`EQ_destination_<type>`).
    Destination,
}

impl PartyField {
    /// (list, value key, CBV prefixes of its types).
    fn layout(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Self::BizTransaction => (
                "bizTransactionList",
                "bizTransaction",
                &[
                    "urn:epcglobal:cbv:btt:",
                    "https://ref.gs1.org/cbv/BTT-",
                    "cbv:BTT-",
                ],
            ),
            Self::Source => (
                "sourceList",
                "source",
                &[
                    "urn:epcglobal:cbv:sdt:",
                    "https://ref.gs1.org/cbv/SDT-",
                    "cbv:SDT-",
                ],
            ),
            Self::Destination => (
                "destinationList",
                "destination",
                &[
                    "urn:epcglobal:cbv:sdt:",
                    "https://ref.gs1.org/cbv/SDT-",
                    "cbv:SDT-",
                ],
            ),
        }
    }
}

/// One restriction of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `eventType`.
    EventType(Vec<String>),
    /// `GE_`/`LT_` on a time field.
    Time {
        /// The field.
        field: TimeField,
        /// Which side.
        bound: Bound,
        /// The bound.
        at: Timestamp,
    },
    /// `EQ_action`.
    Action(Vec<Action>),
    /// `EQ_bizStep`, `EQ_disposition`, … (values in CBV-normal form).
    Vocabulary {
        /// The field.
        field: VocabularyField,
        /// The values, normalised.
        values: Vec<String>,
    },
    /// `EQ_`/`WD_readPoint`, `EQ_`/`WD_bizLocation` (ids in identity form).
    Location {
        /// The field.
        field: LocationField,
        /// The ids, as [`identity`] writes them.
        ids: Vec<String>,
    },
    /// `MATCH_…`.
    Identifier {
        /// Where to look.
        field: IdentifierField,
        /// The values.
        patterns: Vec<EpcPattern>,
    },
    /// `EQ_`/`GT_`/`GE_`/`LT_`/`LE_quantity`.
    Quantity {
        /// The comparison.
        comparison: Comparison,
        /// The values (any one passes; one except for `EQ_`).
        values: Vec<f64>,
    },
    /// `EQ_eventID`.
    EventId(Vec<String>),
    /// `EQ_transformationID`.
    TransformationId(Vec<String>),
    /// `EXISTS_errorDeclaration`.
    HasErrorDeclaration,
    /// `EQ_correctiveEventID`.
    CorrectiveEventId(Vec<String>),
    /// `EQ_bizTransaction_<type>`, `EQ_source_<type>`, `EQ_destination_<type>`.
    Party {
        /// The list.
        field: PartyField,
        /// The type, CBV-normal.
        kind: String,
        /// The values, in identity form.
        ids: Vec<String>,
    },
    /// `EXISTS_sensorElementList`.
    HasSensorData,
    /// `EQ_deviceID`, `EQ_stringValue`, ….
    Sensor {
        /// The field.
        field: SensorField,
        /// The values.
        values: Vec<String>,
    },
    /// `EQ_booleanValue`.
    BooleanValue(bool),
}

/// What `orderBy` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBy {
    /// `eventTime`.
    EventTime,
    /// `recordTime`.
    RecordTime,
}

/// `orderDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// `ASC`.
    Ascending,
    /// `DESC`, the default.
    #[default]
    Descending,
}

/// A top-level resource of the binding whose `/{value}/events` lists that value's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/eventTypes/{eventType}/events`.
    EventType,
    /// `/epcs/{epc}/events`: events naming the identifier anywhere.
    Epc,
    /// `/bizSteps/{bizStep}/events`.
    BizStep,
    /// `/bizLocations/{bizLocation}/events`.
    BizLocation,
    /// `/readPoints/{readPoint}/events`.
    ReadPoint,
    /// `/dispositions/{disposition}/events`.
    Disposition,
}

impl Resource {
    /// The restriction the resource `/{value}/events` stands for.
    pub fn filter(self, value: &str) -> Result<Filter, QueryError> {
        let one = vec![value.to_owned()];
        Ok(match self {
            Self::EventType => Filter::EventType(one),
            Self::Epc => Filter::Identifier {
                field: IdentifierField::Any,
                patterns: vec![EpcPattern::parse(value).map_err(|e| QueryError::Invalid {
                    name: "epc".to_owned(),
                    problem: e.to_string(),
                })?],
            },
            Self::BizStep => Filter::Vocabulary {
                field: VocabularyField::BizStep,
                values: vec![normalise_biz_step(value)],
            },
            Self::Disposition => Filter::Vocabulary {
                field: VocabularyField::Disposition,
                values: vec![normalise_disposition(value)],
            },
            Self::BizLocation => Filter::Location {
                field: LocationField::BizLocation,
                ids: vec![identity(value)],
            },
            Self::ReadPoint => Filter::Location {
                field: LocationField::ReadPoint,
                ids: vec![identity(value)],
            },
        })
    }
}

/// A checked EPCIS event query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventQuery {
    /// The restrictions; an event matches when it passes every one.
    pub filters: Vec<Filter>,
    /// `orderBy`.
    pub order_by: Option<OrderBy>,
    /// `orderDirection` (default descending).
    pub order_direction: OrderDirection,
    /// `eventCountLimit`.
    pub event_count_limit: Option<usize>,
    /// `maxEventCount`.
    pub max_event_count: Option<usize>,
    /// `perPage`.
    pub per_page: Option<usize>,
    /// `nextPageToken`, as given.
    pub next_page_token: Option<String>,
}

/// A parameter's value before it is read: from a URL (text, lists split on `|`) or from JSON.
#[derive(Debug, Clone)]
enum Raw {
    Text(String),
    List(Vec<String>),
    Number(f64),
    Bool(bool),
    Null,
}

impl Raw {
    fn from_json(value: &Value) -> Result<Self, String> {
        Ok(match value {
            Value::String(s) => Self::Text(s.clone()),
            Value::Number(n) => Self::Number(n.as_f64().ok_or("the number is out of range")?),
            Value::Bool(b) => Self::Bool(*b),
            Value::Null => Self::Null,
            Value::Array(items) => Self::List(
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        _ => Err("list items must be strings"),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(_) => return Err("an object is not a parameter value".to_owned()),
        })
    }
}

fn invalid(name: &str, problem: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

fn list(name: &str, raw: &Raw) -> Result<Vec<String>, QueryError> {
    let items: Vec<String> = match raw {
        Raw::Text(text) => text.split('|').map(str::to_owned).collect(),
        Raw::List(items) => items.clone(),
        Raw::Number(n) => vec![n.to_string()],
        Raw::Bool(_) | Raw::Null => return Err(invalid(name, "expects a list of values")),
    };
    if items.is_empty() || items.iter().any(String::is_empty) {
        return Err(invalid(name, "a value is empty"));
    }
    if items.len() > MAX_VALUES {
        return Err(invalid(
            name,
            format!("{} values, more than {MAX_VALUES}", items.len()),
        ));
    }
    Ok(items)
}

fn single<'a>(name: &str, raw: &'a Raw) -> Result<std::borrow::Cow<'a, str>, QueryError> {
    match raw {
        Raw::Text(text) => Ok(text.as_str().into()),
        Raw::Number(n) => Ok(n.to_string().into()),
        Raw::List(items) if items.len() == 1 => Ok(items[0].as_str().into()),
        _ => Err(invalid(name, "expects one value")),
    }
}

fn time(name: &str, raw: &Raw) -> Result<Timestamp, QueryError> {
    let text = single(name, raw)?;
    // An unescaped '+' of the offset arrives as a space.
    let text = match text.rfind(' ') {
        Some(at) if text.len() - at == 6 => format!("{}+{}", &text[..at], &text[at + 1..]),
        _ => text.into_owned(),
    };
    Timestamp::parse_rfc3339(&text).map_err(|_| {
        invalid(
            name,
            format!(
                "{text:?} is not a date-time with an offset, e.g. 2024-05-01T12:00:00.000+02:00"
            ),
        )
    })
}

fn number(name: &str, raw: &Raw) -> Result<f64, QueryError> {
    let value = match raw {
        Raw::Number(n) => *n,
        _ => single(name, raw)?
            .trim()
            .parse::<f64>()
            .map_err(|_| invalid(name, "expects a number"))?,
    };
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(name, "expects a finite number"))
    }
}

fn count(name: &str, raw: &Raw) -> Result<usize, QueryError> {
    let value = number(name, raw)?;
    if value < 1.0 || value.fract() != 0.0 || value > 1e15 {
        return Err(invalid(name, "expects a positive whole number"));
    }
    // Exact: a whole number below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(value as usize)
}

fn boolean(name: &str, raw: &Raw) -> Result<bool, QueryError> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        // EXISTS_ parameters of the JSON query schema are integers or null; their presence
        // is what counts.
        Raw::Null | Raw::Number(_) => Ok(true),
        _ => match single(name, raw)?.as_ref() {
            "" | "true" => Ok(true),
            "false" => Ok(false),
            other => Err(invalid(name, format!("{other:?} is not true or false"))),
        },
    }
}

fn cbv_term(value: &str, prefixes: &[&str]) -> String {
    prefixes
        .iter()
        .find_map(|p| value.strip_prefix(p))
        .unwrap_or(value)
        .to_owned()
}

const TIME_PARAMETERS: &[(&str, TimeField, Bound)] = &[
    ("GE_eventTime", TimeField::EventTime, Bound::AtOrAfter),
    ("LT_eventTime", TimeField::EventTime, Bound::Before),
    ("GE_recordTime", TimeField::RecordTime, Bound::AtOrAfter),
    ("LT_recordTime", TimeField::RecordTime, Bound::Before),
    (
        "GE_errorDeclarationTime",
        TimeField::ErrorDeclarationTime,
        Bound::AtOrAfter,
    ),
    (
        "LT_errorDeclarationTime",
        TimeField::ErrorDeclarationTime,
        Bound::Before,
    ),
    // The spelling of the JSON query schema.
    (
        "GE_errorDeclaration_Time",
        TimeField::ErrorDeclarationTime,
        Bound::AtOrAfter,
    ),
    (
        "LT_errorDeclaration_Time",
        TimeField::ErrorDeclarationTime,
        Bound::Before,
    ),
    ("GE_time", TimeField::SensorTime, Bound::AtOrAfter),
    ("LT_time", TimeField::SensorTime, Bound::Before),
    ("GE_startTime", TimeField::SensorStartTime, Bound::AtOrAfter),
    ("LT_startTime", TimeField::SensorStartTime, Bound::Before),
    ("GE_endTime", TimeField::SensorEndTime, Bound::AtOrAfter),
    ("LT_endTime", TimeField::SensorEndTime, Bound::Before),
];

const MATCH_PARAMETERS: &[(&str, IdentifierField)] = &[
    ("MATCH_epc", IdentifierField::Epc),
    ("MATCH_parentID", IdentifierField::ParentId),
    ("MATCH_inputEPC", IdentifierField::InputEpc),
    ("MATCH_outputEPC", IdentifierField::OutputEpc),
    ("MATCH_anyEPC", IdentifierField::AnyEpc),
    ("MATCH_epcClass", IdentifierField::EpcClass),
    ("MATCH_inputEPCClass", IdentifierField::InputEpcClass),
    ("MATCH_outputEPCClass", IdentifierField::OutputEpcClass),
    ("MATCH_anyEPCClass", IdentifierField::AnyEpcClass),
];

const VOCABULARY_PARAMETERS: &[(&str, VocabularyField)] = &[
    ("EQ_bizStep", VocabularyField::BizStep),
    ("EQ_disposition", VocabularyField::Disposition),
    (
        "EQ_persistentDisposition_set",
        VocabularyField::PersistentDispositionSet,
    ),
    (
        "EQ_persistentDisposition_unset",
        VocabularyField::PersistentDispositionUnset,
    ),
    ("EQ_errorReason", VocabularyField::ErrorReason),
    ("EQ_type", VocabularyField::SensorType),
];

const SENSOR_PARAMETERS: &[(&str, SensorField)] = &[
    ("EQ_deviceID", SensorField::DeviceId),
    ("EQ_dataProcessingMethod", SensorField::DataProcessingMethod),
    ("EQ_bizRules", SensorField::BizRules),
    ("EQ_microorganism", SensorField::Microorganism),
    ("EQ_chemicalSubstance", SensorField::ChemicalSubstance),
    ("EQ_stringValue", SensorField::StringValue),
    ("EQ_hexBinaryValue", SensorField::HexBinaryValue),
    ("EQ_uriValue", SensorField::UriValue),
];

const QUANTITY_PARAMETERS: &[(&str, Comparison)] = &[
    ("EQ_quantity", Comparison::Eq),
    ("GT_quantity", Comparison::Gt),
    ("GE_quantity", Comparison::Ge),
    ("LT_quantity", Comparison::Lt),
    ("LE_quantity", Comparison::Le),
];

/// Why a standard parameter name is not evaluated, or `None` if it is not a standard name.
fn unsupported_reason(name: &str) -> Option<&'static str> {
    let (op, rest) = name.split_once('_')?;
    if !matches!(
        op,
        "EQ" | "GT" | "GE" | "LT" | "LE" | "EXISTS" | "HASATTR" | "EQATTR"
    ) {
        return None;
    }
    const SENSOR_VALUES: &[&str] = &[
        "value_",
        "minValue_",
        "maxValue_",
        "meanValue_",
        "sDev_",
        "percValue_",
    ];
    if op == "HASATTR" || op == "EQATTR" || rest.starts_with("ATTR_") {
        Some("Tally holds no master data, so no vocabulary attributes")
    } else if rest == "percRank" || SENSOR_VALUES.iter().any(|p| rest.starts_with(p)) {
        Some("sensor values by unit of measure are not queried")
    } else if rest.starts_with("quantity_") {
        Some("quantities by unit of measure are not queried")
    } else if rest.contains(':') || rest.contains('#') {
        Some("queries on user extension fields are not supported")
    } else {
        None
    }
}

impl EventQuery {
    /// Reads a URL query string (`a=1&b=x|y`; percent-encoded, `+` as space).
    pub fn parse_query_string(query: &str) -> Result<Self, QueryError> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let decode = |text: &str| {
                percent_decode(text, true).map_err(|e| QueryError::Invalid {
                    name: name.to_owned(),
                    problem: format!("bad percent-encoding: {e}"),
                })
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Self::from_pairs(pairs)
    }

    /// Reads decoded name/value pairs, as a URL gives them.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, QueryError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::build(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_ref().to_owned(), Raw::Text(v.as_ref().to_owned()))),
        )
    }

    /// Reads the JSON object of a query (the `query` of a `POST /queries` body), as the EPCIS
    /// 2.0 query schema writes it: lists as arrays, numbers as numbers.
    pub fn from_json(query: &Value) -> Result<Self, QueryError> {
        let Value::Object(map) = query else {
            return Err(QueryError::Conflict(
                "a query must be a JSON object of parameters".to_owned(),
            ));
        };
        let mut pairs = Vec::with_capacity(map.len());
        for (name, value) in map {
            if name == "@context" {
                continue;
            }
            pairs.push((
                name.clone(),
                Raw::from_json(value).map_err(|problem| invalid(name, problem))?,
            ));
        }
        Self::build(pairs)
    }

    fn build(pairs: impl IntoIterator<Item = (String, Raw)>) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, raw) in pairs {
            if seen.len() >= MAX_PARAMETERS {
                return Err(QueryError::Conflict(format!(
                    "more than {MAX_PARAMETERS} query parameters"
                )));
            }
            if seen.contains(&name) {
                return Err(QueryError::Repeated { name });
            }
            query.add(&name, &raw)?;
            seen.push(name);
        }
        if query.event_count_limit.is_some() && query.max_event_count.is_some() {
            return Err(QueryError::Conflict(
                "eventCountLimit and maxEventCount exclude each other".to_owned(),
            ));
        }
        if query.event_count_limit.is_some() && query.order_by.is_none() {
            return Err(QueryError::Conflict(
                "eventCountLimit needs orderBy, which says which events come first".to_owned(),
            ));
        }
        Ok(query)
    }

    fn add(&mut self, name: &str, raw: &Raw) -> Result<(), QueryError> {
        if let Some((_, field, bound)) = TIME_PARAMETERS.iter().find(|(n, ..)| *n == name) {
            let at = time(name, raw)?;
            self.filters.push(Filter::Time {
                field: *field,
                bound: *bound,
                at,
            });
            return Ok(());
        }
        if let Some((_, field)) = MATCH_PARAMETERS.iter().find(|(n, _)| *n == name) {
            let patterns = list(name, raw)?
                .iter()
                .map(|v| EpcPattern::parse(v).map_err(|e| invalid(name, e.to_string())))
                .collect::<Result<_, _>>()?;
            self.filters.push(Filter::Identifier {
                field: *field,
                patterns,
            });
            return Ok(());
        }
        if let Some((_, field)) = VOCABULARY_PARAMETERS.iter().find(|(n, _)| *n == name) {
            let values = list(name, raw)?
                .iter()
                .map(|v| field.normalise(v))
                .collect();
            self.filters.push(Filter::Vocabulary {
                field: *field,
                values,
            });
            return Ok(());
        }
        if let Some((_, field)) = SENSOR_PARAMETERS.iter().find(|(n, _)| *n == name) {
            let mut values = list(name, raw)?;
            if *field == SensorField::HexBinaryValue {
                values.iter_mut().for_each(|v| v.make_ascii_uppercase());
            }
            self.filters.push(Filter::Sensor {
                field: *field,
                values,
            });
            return Ok(());
        }
        if let Some((_, comparison)) = QUANTITY_PARAMETERS.iter().find(|(n, _)| *n == name) {
            let values = if *comparison == Comparison::Eq {
                match raw {
                    Raw::Number(n) => vec![*n],
                    _ => list(name, raw)?
                        .iter()
                        .map(|v| number(name, &Raw::Text(v.clone())))
                        .collect::<Result<_, _>>()?,
                }
            } else {
                vec![number(name, raw)?]
            };
            self.filters.push(Filter::Quantity {
                comparison: *comparison,
                values,
            });
            return Ok(());
        }
        for (prefix, field) in [
            ("EQ_bizTransaction_", PartyField::BizTransaction),
            ("EQ_source_", PartyField::Source),
            ("EQ_destination_", PartyField::Destination),
        ] {
            if let Some(kind) = name.strip_prefix(prefix).filter(|k| !k.is_empty()) {
                let (_, _, prefixes) = field.layout();
                self.filters.push(Filter::Party {
                    field,
                    kind: cbv_term(kind, prefixes),
                    ids: list(name, raw)?.iter().map(|v| identity(v)).collect(),
                });
                return Ok(());
            }
        }
        match name {
            "eventType" => self.filters.push(Filter::EventType(list(name, raw)?)),
            "EQ_action" => {
                let actions = list(name, raw)?
                    .iter()
                    .map(|v| match v.as_str() {
                        "ADD" => Ok(Action::Add),
                        "OBSERVE" => Ok(Action::Observe),
                        "DELETE" => Ok(Action::Delete),
                        other => Err(invalid(
                            name,
                            format!("{other:?} is not ADD, OBSERVE or DELETE"),
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                self.filters.push(Filter::Action(actions));
            }
            "EQ_readPoint" | "WD_readPoint" | "EQ_bizLocation" | "WD_bizLocation" => {
                let field = if name.ends_with("readPoint") {
                    LocationField::ReadPoint
                } else {
                    LocationField::BizLocation
                };
                let ids = list(name, raw)?.iter().map(|v| identity(v)).collect();
                self.filters.push(Filter::Location { field, ids });
            }
            "EQ_eventID" => self.filters.push(Filter::EventId(list(name, raw)?)),
            "EQ_transformationID" => {
                self.filters
                    .push(Filter::TransformationId(list(name, raw)?));
            }
            "EQ_correctiveEventID" => {
                self.filters
                    .push(Filter::CorrectiveEventId(list(name, raw)?));
            }
            "EXISTS_errorDeclaration" => {
                if boolean(name, raw)? {
                    self.filters.push(Filter::HasErrorDeclaration);
                }
            }
            "EXISTS_sensorElementList" => {
                if boolean(name, raw)? {
                    self.filters.push(Filter::HasSensorData);
                }
            }
            "EQ_booleanValue" => self.filters.push(Filter::BooleanValue(boolean(name, raw)?)),
            "orderBy" => {
                self.order_by = Some(match single(name, raw)?.as_ref() {
                    "eventTime" => OrderBy::EventTime,
                    "recordTime" => OrderBy::RecordTime,
                    other if other.contains(':') || other.contains('#') => {
                        return Err(QueryError::Unsupported {
                            name: name.to_owned(),
                            why: "ordering by a user extension field is not supported".to_owned(),
                        });
                    }
                    other => {
                        return Err(invalid(
                            name,
                            format!("{other:?} is not eventTime or recordTime"),
                        ));
                    }
                });
            }
            "orderDirection" => {
                self.order_direction = match single(name, raw)?.as_ref() {
                    "ASC" => OrderDirection::Ascending,
                    "DESC" => OrderDirection::Descending,
                    other => return Err(invalid(name, format!("{other:?} is not ASC or DESC"))),
                };
            }
            "eventCountLimit" => self.event_count_limit = Some(count(name, raw)?),
            "maxEventCount" => self.max_event_count = Some(count(name, raw)?),
            "perPage" => self.per_page = Some(count(name, raw)?),
            "nextPageToken" => {
                let token = single(name, raw)?;
                if token.is_empty() {
                    return Err(invalid(name, "is empty"));
                }
                self.next_page_token = Some(token.into_owned());
            }
            _ => {
                return Err(match unsupported_reason(name) {
                    Some(why) => QueryError::Unsupported {
                        name: name.to_owned(),
                        why: why.to_owned(),
                    },
                    None => QueryError::Unknown {
                        name: name.chars().take(100).collect(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Adds a restriction (e.g. that of a resource path, [`Resource::filter`]).
    pub fn restrict(&mut self, filter: Filter) {
        self.filters.push(filter);
    }

    /// The values of `EQ_eventID`, if given: a node can look these up directly.
    pub fn event_ids(&self) -> Option<&[String]> {
        self.filters.iter().find_map(|f| match f {
            Filter::EventId(ids) => Some(ids.as_slice()),
            _ => None,
        })
    }

    /// Whether `event` passes every restriction. `recordTime` is read from the event: pass
    /// events as answered ([`super::answer::answered_event`]).
    pub fn matches(&self, event: &Value) -> bool {
        self.filters
            .iter()
            .all(|filter| filter_matches(filter, event))
    }

    /// Sorts matching events by `orderBy` and `orderDirection`; events without the field come
    /// last, and the sort is stable. Without `orderBy`, the order is left as it is.
    pub fn sort(&self, events: &mut [Value]) {
        let Some(order) = self.order_by else { return };
        let field = match order {
            OrderBy::EventTime => "eventTime",
            OrderBy::RecordTime => "recordTime",
        };
        let key = |event: &Value| {
            event
                .get(field)
                .and_then(Value::as_str)
                .and_then(|t| Timestamp::parse_rfc3339(t).ok())
        };
        events.sort_by(|a, b| match (key(a), key(b)) {
            (Some(a), Some(b)) => match self.order_direction {
                OrderDirection::Ascending => a.cmp(&b),
                OrderDirection::Descending => b.cmp(&a),
            },
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
    }

    /// Checks `maxEventCount` against the number of matching events.
    pub fn check_count(&self, count: usize) -> Result<(), QueryError> {
        match self.max_event_count {
            Some(limit) if count > limit => Err(QueryError::TooLarge { count, limit }),
            _ => Ok(()),
        }
    }
}

/// Whether `event` passes the filters of `query`.
pub fn matches(query: &EventQuery, event: &Value) -> bool {
    query.matches(event)
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn time_at(value: &Value, key: &str) -> Option<Timestamp> {
    str_at(value, key).and_then(|t| Timestamp::parse_rfc3339(t).ok())
}

fn in_bound(time: Option<Timestamp>, bound: Bound, at: Timestamp) -> bool {
    time.is_some_and(|t| match bound {
        Bound::AtOrAfter => t >= at,
        Bound::Before => t < at,
    })
}

fn sensor_elements(event: &Value) -> &[Value] {
    items(event, "sensorElementList")
}

fn sensor_reports(event: &Value) -> impl Iterator<Item = &Value> {
    sensor_elements(event)
        .iter()
        .flat_map(|element| items(element, "sensorReport"))
}

fn sensor_metadata(event: &Value) -> impl Iterator<Item = &Value> {
    sensor_elements(event)
        .iter()
        .filter_map(|element| element.get("sensorMetadata"))
}

fn identifiers(event: &Value, field: IdentifierField) -> Vec<&str> {
    let (lists, parent, quantities) = field.sources();
    let mut out: Vec<&str> = lists
        .iter()
        .flat_map(|list| items(event, list))
        .filter_map(Value::as_str)
        .collect();
    if parent && let Some(parent) = str_at(event, "parentID") {
        out.push(parent);
    }
    out.extend(
        quantities
            .iter()
            .flat_map(|list| items(event, list))
            .filter_map(|q| str_at(q, "epcClass")),
    );
    out
}

fn filter_matches(filter: &Filter, event: &Value) -> bool {
    match filter {
        Filter::EventType(types) => {
            str_at(event, "type").is_some_and(|t| types.iter().any(|w| w == t))
        }
        Filter::Time { field, bound, at } => match field {
            TimeField::EventTime => in_bound(time_at(event, "eventTime"), *bound, *at),
            TimeField::RecordTime => in_bound(time_at(event, "recordTime"), *bound, *at),
            TimeField::ErrorDeclarationTime => in_bound(
                event
                    .get("errorDeclaration")
                    .and_then(|e| time_at(e, "declarationTime")),
                *bound,
                *at,
            ),
            TimeField::SensorTime => sensor_metadata(event)
                .chain(sensor_reports(event))
                .any(|m| in_bound(time_at(m, "time"), *bound, *at)),
            TimeField::SensorStartTime => {
                sensor_metadata(event).any(|m| in_bound(time_at(m, "startTime"), *bound, *at))
            }
            TimeField::SensorEndTime => {
                sensor_metadata(event).any(|m| in_bound(time_at(m, "endTime"), *bound, *at))
            }
        },
        Filter::Action(actions) => {
            let action = match str_at(event, "action") {
                Some("ADD") => Action::Add,
                Some("OBSERVE") => Action::Observe,
                Some("DELETE") => Action::Delete,
                _ => return false,
            };
            actions.contains(&action)
        }
        Filter::Vocabulary { field, values } => {
            let found: Vec<&str> = match field {
                VocabularyField::BizStep => str_at(event, "bizStep").into_iter().collect(),
                VocabularyField::Disposition => str_at(event, "disposition").into_iter().collect(),
                VocabularyField::PersistentDispositionSet
                | VocabularyField::PersistentDispositionUnset => {
                    let key = if *field == VocabularyField::PersistentDispositionSet {
                        "set"
                    } else {
                        "unset"
                    };
                    event
                        .get("persistentDisposition")
                        .map(|p| items(p, key).iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default()
                }
                VocabularyField::ErrorReason => event
                    .get("errorDeclaration")
                    .and_then(|e| str_at(e, "reason"))
                    .into_iter()
                    .collect(),
                VocabularyField::SensorType => sensor_reports(event)
                    .filter_map(|r| str_at(r, "type"))
                    .collect(),
            };
            found.iter().any(|v| values.contains(&field.normalise(v)))
        }
        Filter::Location { field, ids } => {
            let key = match field {
                LocationField::ReadPoint => "readPoint",
                LocationField::BizLocation => "bizLocation",
            };
            event
                .get(key)
                .and_then(|l| str_at(l, "id"))
                .is_some_and(|id| ids.contains(&identity(id)))
        }
        Filter::Identifier { field, patterns } => identifiers(event, *field)
            .iter()
            .any(|id| patterns.iter().any(|p| p.matches(id))),
        Filter::Quantity { comparison, values } => QUANTITY_LISTS
            .iter()
            .flat_map(|list| items(event, list))
            .filter_map(|q| q.get("quantity").and_then(Value::as_f64))
            .any(|q| values.iter().any(|v| comparison.holds(q, *v))),
        Filter::EventId(ids) => {
            str_at(event, "eventID").is_some_and(|id| ids.iter().any(|w| w == id))
        }
        Filter::TransformationId(ids) => {
            str_at(event, "transformationID").is_some_and(|id| ids.iter().any(|w| w == id))
        }
        Filter::HasErrorDeclaration => event.get("errorDeclaration").is_some_and(Value::is_object),
        Filter::CorrectiveEventId(ids) => event
            .get("errorDeclaration")
            .map(|e| items(e, "correctiveEventIDs"))
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .any(|id| ids.iter().any(|w| w == id)),
        Filter::Party { field, kind, ids } => {
            let (list, key, prefixes) = field.layout();
            items(event, list).iter().any(|entry| {
                str_at(entry, "type").is_some_and(|t| cbv_term(t, prefixes) == *kind)
                    && str_at(entry, key).is_some_and(|id| ids.contains(&identity(id)))
            })
        }
        Filter::HasSensorData => !sensor_elements(event).is_empty(),
        Filter::Sensor { field, values } => {
            let (in_metadata, in_reports) = field.places();
            let key = field.key();
            let hex = *field == SensorField::HexBinaryValue;
            let matches = |holder: &Value| {
                str_at(holder, key).is_some_and(|v| {
                    if hex {
                        values.iter().any(|w| w.eq_ignore_ascii_case(v))
                    } else {
                        values.iter().any(|w| w == v)
                    }
                })
            };
            (in_metadata && sensor_metadata(event).any(matches))
                || (in_reports && sensor_reports(event).any(matches))
        }
        Filter::BooleanValue(want) => sensor_reports(event)
            .any(|r| r.get("booleanValue").and_then(Value::as_bool) == Some(*want)),
    }
}

#[cfg(test)]
mod tests;
