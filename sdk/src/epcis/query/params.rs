//! Reading a query's parameters (a query string, pairs, or the JSON of a query): each
//! parameter's value checked and turned into filters, unsupported ones refused with why.

use super::*;

/// A parameter's value before it is read: from a URL (text, lists split on `|`) or from JSON.
#[derive(Debug, Clone)]
pub(super) enum Raw {
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

pub(super) fn invalid(name: &str, problem: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

pub(super) fn list(name: &str, raw: &Raw) -> Result<Vec<String>, QueryError> {
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

pub(super) fn single<'a>(
    name: &str,
    raw: &'a Raw,
) -> Result<std::borrow::Cow<'a, str>, QueryError> {
    match raw {
        Raw::Text(text) => Ok(text.as_str().into()),
        Raw::Number(n) => Ok(n.to_string().into()),
        Raw::List(items) if items.len() == 1 => Ok(items[0].as_str().into()),
        _ => Err(invalid(name, "expects one value")),
    }
}

pub(super) fn time(name: &str, raw: &Raw) -> Result<Timestamp, QueryError> {
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

pub(super) fn number(name: &str, raw: &Raw) -> Result<f64, QueryError> {
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

pub(super) fn count(name: &str, raw: &Raw) -> Result<usize, QueryError> {
    let value = number(name, raw)?;
    if value < 1.0 || value.fract() != 0.0 || value > 1e15 {
        return Err(invalid(name, "expects a positive whole number"));
    }
    // Exact: a whole number below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(value as usize)
}

pub(super) fn boolean(name: &str, raw: &Raw) -> Result<bool, QueryError> {
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

pub(super) fn cbv_term(value: &str, prefixes: &[&str]) -> String {
    prefixes
        .iter()
        .find_map(|p| value.strip_prefix(p))
        .unwrap_or(value)
        .to_owned()
}

pub(super) const TIME_PARAMETERS: &[(&str, TimeField, Bound)] = &[
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

pub(super) const MATCH_PARAMETERS: &[(&str, IdentifierField)] = &[
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

pub(super) const VOCABULARY_PARAMETERS: &[(&str, VocabularyField)] = &[
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

pub(super) const SENSOR_PARAMETERS: &[(&str, SensorField)] = &[
    ("EQ_deviceID", SensorField::DeviceId),
    ("EQ_dataProcessingMethod", SensorField::DataProcessingMethod),
    ("EQ_bizRules", SensorField::BizRules),
    ("EQ_microorganism", SensorField::Microorganism),
    ("EQ_chemicalSubstance", SensorField::ChemicalSubstance),
    ("EQ_stringValue", SensorField::StringValue),
    ("EQ_hexBinaryValue", SensorField::HexBinaryValue),
    ("EQ_uriValue", SensorField::UriValue),
];

pub(super) const QUANTITY_PARAMETERS: &[(&str, Comparison)] = &[
    ("EQ_quantity", Comparison::Eq),
    ("GT_quantity", Comparison::Gt),
    ("GE_quantity", Comparison::Ge),
    ("LT_quantity", Comparison::Lt),
    ("LE_quantity", Comparison::Le),
];

/// Why a standard parameter name is not evaluated, or `None` if it is not a standard name.
pub(super) fn unsupported_reason(name: &str) -> Option<&'static str> {
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

    pub(super) fn build(
        pairs: impl IntoIterator<Item = (String, Raw)>,
    ) -> Result<Self, QueryError> {
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

    pub(super) fn add(&mut self, name: &str, raw: &Raw) -> Result<(), QueryError> {
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
}
