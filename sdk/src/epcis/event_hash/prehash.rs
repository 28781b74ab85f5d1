//! The pre-hash string (the algorithm's steps 4 to 6): properties in the specification's
//! order, values canonicalised (numbers, times, web vocabulary), user extensions last.

use super::*;

/// A field of the canonical order and the order of its children.
#[derive(Debug)]
pub struct Property {
    /// The field name.
    pub name: &'static str,
    /// The order of its children (empty for a plain value).
    pub children: &'static [Property],
}

pub(super) const fn leaf(name: &'static str) -> Property {
    Property {
        name,
        children: &[],
    }
}

pub(super) const EPCS: &[Property] = &[leaf("epc")];
pub(super) const QUANTITY: &[Property] = &[Property {
    name: "quantityElement",
    children: &[leaf("epcClass"), leaf("quantity"), leaf("uom")],
}];
pub(super) const SENSOR_ELEMENT: &[Property] = &[Property {
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
pub(super) const IGNORED_FIELDS: &[&str] = &["recordTime", "eventID", "type", "errorDeclaration"];

/// Python's `str.strip()`: Unicode white space and the ASCII separators 0x1C to 0x1F.
pub(super) fn strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// The numeric canonical form of `text` if Python's `float()` reads it: integral values as
/// integers, others as Python writes floats. `Err` for an infinite value.
pub(super) fn canonical_number(text: &str) -> Result<Option<String>, ()> {
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
pub(super) fn python_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    // A number starts with a digit or a point, or is one of the words; most values are not.
    if !unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'i' | b'I' | b'n' | b'N'))
    {
        return None;
    }
    let word = |w: &str| unsigned.eq_ignore_ascii_case(w);
    if word("inf") || word("infinity") || word("nan") {
        let value = if word("nan") { f64::NAN } else { f64::INFINITY };
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
pub(super) fn python_float_repr(number: f64) -> String {
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
pub(super) fn canonical_time(text: &str) -> Option<String> {
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
pub(super) fn is_time_field(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.contains("time") && !lower.contains("offset")
}

/// Old CBV URNs as web-vocabulary URIs.
pub(super) fn web_vocabulary(text: &str) -> String {
    // Every URN replaced starts so: most values (EPCs, times, identifiers) hold none, and
    // one search is all they cost.
    if !text.contains("urn:epcglobal:cbv:") {
        return text.to_owned();
    }
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
pub(super) struct Writer {
    pub(super) error: Option<EventHashError>,
}

impl Writer {
    pub(super) fn canonical(&mut self, name: &str, text: &str) -> String {
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

    pub(super) fn fail(&mut self, error: EventHashError) {
        self.error.get_or_insert(error);
    }

    /// A field of the canonical order: `name=value` then its children in their order.
    pub(super) fn ordered_field(&mut self, field: &mut Node, order: &[Property]) -> String {
        let children = if order.is_empty() {
            String::new()
        } else {
            self.ordered(&mut field.children, order)
        };
        let stripped = strip(&field.text);
        let value = if stripped.is_empty() {
            String::new()
        } else if is_time_field(&field.name) {
            canonical_time(stripped).unwrap_or_else(|| {
                self.fail(EventHashError::BadTimestamp {
                    field: field.name.clone(),
                    value: stripped.to_owned(),
                });
                stripped.to_owned()
            })
        } else {
            self.canonical(&field.name, stripped)
        };
        if value.is_empty() && children.is_empty() {
            return String::new();
        }
        let mut out = String::with_capacity(field.name.len() + 1 + value.len() + children.len());
        out.push_str(&field.name);
        if !value.is_empty() {
            out.push('=');
            out.push_str(&value);
        }
        out.push_str(&children);
        out
    }

    /// The children named in `order`, in that order (several of one name sorted), consumed
    /// from `children`; then, inside a standard structure, its user extensions.
    pub(super) fn ordered(&mut self, children: &mut Vec<Item>, order: &[Property]) -> String {
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
    pub(super) fn generic(&mut self, children: &[Item]) -> String {
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

    pub(super) fn generic_in_order(&mut self, members: &[Item]) -> String {
        members
            .iter()
            .map(|m| self.generic(std::slice::from_ref(m)))
            .collect()
    }
}

/// Removes and returns the user extensions (`{namespace/}name`) of a standard structure; the
/// event's own (recognised by `eventTime` or `action`) stay for the end of the string.
pub(super) fn take_user_extensions(children: &mut Vec<Item>) -> Vec<Item> {
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
