//! Evaluating a query's filters against an event's JSON.

use super::*;

/// Whether `event` passes the filters of `query`.
pub fn matches(query: &EventQuery, event: &Value) -> bool {
    query.matches(event)
}

pub(super) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

pub(super) fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(super) fn time_at(value: &Value, key: &str) -> Option<Timestamp> {
    str_at(value, key).and_then(|t| Timestamp::parse_rfc3339(t).ok())
}

pub(super) fn in_bound(time: Option<Timestamp>, bound: Bound, at: Timestamp) -> bool {
    time.is_some_and(|t| match bound {
        Bound::AtOrAfter => t >= at,
        Bound::Before => t < at,
    })
}

pub(super) fn sensor_elements(event: &Value) -> &[Value] {
    items(event, "sensorElementList")
}

pub(super) fn sensor_reports(event: &Value) -> impl Iterator<Item = &Value> {
    sensor_elements(event)
        .iter()
        .flat_map(|element| items(element, "sensorReport"))
}

pub(super) fn sensor_metadata(event: &Value) -> impl Iterator<Item = &Value> {
    sensor_elements(event)
        .iter()
        .filter_map(|element| element.get("sensorMetadata"))
}

pub(super) fn identifiers(event: &Value, field: IdentifierField) -> Vec<&str> {
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

pub(super) fn filter_matches(filter: &Filter, event: &Value) -> bool {
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
