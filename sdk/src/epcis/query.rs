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
//!
//! The code: this module (the query's filters and order), `params` (reading the parameters),
//! `eval` (the filters against an event).

use std::cmp::Ordering;

use serde_json::Value;

use super::exception::EpcisException;
use super::pattern::{EpcPattern, identity};
use crate::event::{Action, normalise_biz_step, normalise_disposition};
use crate::gs1::digital_link::percent_decode;
use crate::time::Timestamp;

mod eval;
mod params;

use eval::filter_matches;
pub use eval::matches;
use params::cbv_term;

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

impl EventQuery {
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

#[cfg(test)]
mod tests;
