//! GS1 Digital Link URIs, parsed and written as strictly as GS1's own Syntax Engine does:
//! any host and path prefix, then a primary key (`/01/<GTIN>`, `/00/<SSCC>`, ...), its key
//! qualifiers in the order GS1 prescribes, and AIs in the query string as data attributes.
//! Every value is percent-decoded and checked against the AI table ([`super::ai`]): length,
//! character set, check digits and the other GS1 content checks.
//!
//! The defaults are those of the current standard: numeric AIs only (no `/gtin/` aliases),
//! GTINs in their 14-digit form, no unknown AIs. [`ParseOptions`] relaxes them the way the
//! Syntax Engine's options do, for older Digital Links.

use super::Gs1Error;
use super::ai::{self, AiEntry};
use super::check_digit;

/// The host of canonical GS1 Digital Link URIs.
pub const CANONICAL_STEM: &str = "https://id.gs1.org";

/// Relaxations of the strict Digital Link syntax (all off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept the short names of Digital Link 1.x (`/gtin/`, `/ser/`, `/lot/`, ...) for AIs.
    pub permit_convenience_alphas: bool,
    /// Accept GTIN-8, -12 and -13 for AI (01), padded to 14 digits.
    pub permit_zero_suppressed_gtin: bool,
    /// Accept numeric query parameters that are not known AIs.
    pub permit_unknown_ais: bool,
    /// With `permit_unknown_ais`, still reject unknown AIs as data attributes (GS1 permits only
    /// known AIs there); turn off to accept them.
    pub validate_unknown_ai_not_dl_attribute: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::STRICT
    }
}

impl ParseOptions {
    /// The current GS1 Digital Link standard, nothing relaxed.
    pub const STRICT: Self = Self {
        permit_convenience_alphas: false,
        permit_zero_suppressed_gtin: false,
        permit_unknown_ais: false,
        validate_unknown_ai_not_dl_attribute: true,
    };

    /// Also the forms older Digital Links in circulation use: convenience alphas and
    /// zero-suppressed GTINs.
    pub const LEGACY: Self = Self {
        permit_convenience_alphas: true,
        permit_zero_suppressed_gtin: true,
        ..Self::STRICT
    };
}

/// One AI and its (decoded) value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Element {
    /// The Application Identifier, e.g. `01`.
    pub ai: String,
    /// Its value, e.g. `09506000134352`.
    pub value: String,
}

impl Element {
    /// An element from an AI and a value (not checked).
    pub fn new(ai: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            ai: ai.into(),
            value: value.into(),
        }
    }
}

/// A GS1 key: a primary key and its key qualifiers, e.g. GTIN + lot + serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gs1Key {
    /// The primary key, e.g. (01) GTIN.
    pub primary: Element,
    /// Its key qualifiers, in the order GS1 prescribes.
    pub qualifiers: Vec<Element>,
}

impl Gs1Key {
    /// The Digital Link path of the key, e.g. `/01/09506000134352/21/ABC`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for element in std::iter::once(&self.primary).chain(&self.qualifiers) {
            out.push('/');
            out.push_str(&element.ai);
            out.push('/');
            out.push_str(&percent_encode(&element.value));
        }
        out
    }
}

/// A parsed GS1 Digital Link URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalLink {
    stem: String,
    key: Gs1Key,
    attributes: Vec<Element>,
    other_parameters: Vec<String>,
}

/// Digital Link short names of AIs (Digital Link 1.x "convenience alphas").
const ALPHAS: &[(&str, &str)] = &[
    ("gtin", "01"),
    ("itip", "8006"),
    ("gmn", "8013"),
    ("cpid", "8010"),
    ("gln", "414"),
    ("party", "417"),
    ("gsrnp", "8017"),
    ("gsrn", "8018"),
    ("gcn", "255"),
    ("sscc", "00"),
    ("gdti", "253"),
    ("ginc", "401"),
    ("gsin", "402"),
    ("grai", "8003"),
    ("giai", "8004"),
    ("cpv", "22"),
    ("lot", "10"),
    ("ser", "21"),
    ("cpsn", "8011"),
    ("glnx", "254"),
    ("refno", "8020"),
    ("srin", "8019"),
];

/// The AI a path segment names: a known numeric AI, or a convenience alpha if permitted.
fn path_ai<'a>(segment: &'a str, options: &ParseOptions) -> Option<(&'a str, &'static AiEntry)> {
    if let Some(entry) = ai::lookup(segment) {
        return Some((segment, entry));
    }
    if options.permit_convenience_alphas {
        let (_, code) = ALPHAS.iter().find(|(alpha, _)| *alpha == segment)?;
        return ai::lookup(code).map(|entry| (*code, entry));
    }
    None
}

/// Characters that may appear in a URI at all (RFC 3986 unreserved, reserved and `%`).
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Percent-decodes `text`; in a query string `+` stands for a space.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, Gs1Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| Gs1Error::BadPercentEncoding(super::error::truncate(text)))?;
                out.push(byte);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Gs1Error::BadPercentEncoding(super::error::truncate(text)))
}

/// Percent-encodes every character but the URI-unreserved ones (`A-Z a-z 0-9 - . _ ~`), as
/// GS1's Syntax Engine does when it writes Digital Links: one spelling per value.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn valid_host(authority: &str) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match after {
            "" => return true,
            _ => ("x", after.strip_prefix(':')),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Checks a value for `ai`, padding zero-suppressed GTINs first if permitted.
fn checked_value(
    ai: &str,
    entry: Option<&AiEntry>,
    value: String,
    options: &ParseOptions,
) -> Result<String, Gs1Error> {
    if value.is_empty() {
        return Err(Gs1Error::EmptyValue(ai.to_owned()));
    }
    let value = if ai == "01" && options.permit_zero_suppressed_gtin && value.len() != 14 {
        check_digit::gtin14(&value).unwrap_or(value)
    } else {
        value
    };
    match entry {
        Some(entry) => ai::validate_value(entry, &value)
            .map_err(|reason| Gs1Error::value(ai, &value, reason))?,
        // An unknown AI accepted by option: GS1's widest format.
        None => {
            if value.len() > 90 || !value.bytes().all(|b| ai::Charset::Cset82.allows(b)) {
                return Err(Gs1Error::value(
                    ai,
                    &value,
                    "is not 1 to 90 characters of GS1 character set 82",
                ));
            }
        }
    }
    Ok(value)
}

fn describe_sequences(sequences: &[Vec<String>]) -> String {
    sequences
        .iter()
        .map(|s| s.join(","))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Whether `qualifiers` (AIs) follow, in order and without repetition, one of `sequences`.
fn fits_sequence(sequences: &[Vec<String>], qualifiers: &[&str]) -> bool {
    qualifiers.is_empty()
        || sequences.iter().any(|sequence| {
            let mut rest = sequence.iter();
            qualifiers.iter().all(|q| rest.any(|s| s == q))
        })
}

/// Checks the GS1 rules on which AIs require or exclude which others.
pub(crate) fn check_associations(elements: &[Element]) -> Result<(), Gs1Error> {
    let present = |pattern: &str, except: &str| {
        elements
            .iter()
            .any(|e| e.ai != except && ai::matches_pattern(&e.ai, pattern))
    };
    for element in elements {
        let Some(entry) = ai::lookup(&element.ai) else {
            continue;
        };
        for requirement in &entry.requires {
            let satisfied = requirement
                .iter()
                .any(|group| group.iter().all(|pattern| present(pattern, "")));
            if !satisfied {
                let alternatives: Vec<String> = requirement
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(|p| format!("({p})"))
                            .collect::<Vec<_>>()
                            .join("+")
                    })
                    .collect();
                return Err(Gs1Error::MissingRequiredAi {
                    ai: element.ai.clone(),
                    requirement: alternatives.join(" or "),
                });
            }
        }
        for pattern in &entry.excludes {
            if let Some(other) = elements
                .iter()
                .find(|e| e.ai != element.ai && ai::matches_pattern(&e.ai, pattern))
            {
                return Err(Gs1Error::ExclusiveAis(element.ai.clone(), other.ai.clone()));
            }
        }
    }
    Ok(())
}

impl DigitalLink {
    /// Parses a Digital Link URI by the current standard ([`ParseOptions::STRICT`]).
    pub fn parse(uri: &str) -> Result<Self, Gs1Error> {
        Self::parse_with(uri, &ParseOptions::STRICT)
    }

    /// Parses a Digital Link URI with some of the strict rules relaxed.
    pub fn parse_with(uri: &str, options: &ParseOptions) -> Result<Self, Gs1Error> {
        let rest = ["https://", "http://", "HTTPS://", "HTTP://"]
            .iter()
            .find_map(|scheme| {
                uri.strip_prefix(scheme)
                    .map(|rest| (&uri[..scheme.len()], rest))
            });
        let Some((scheme, rest)) = rest else {
            return Err(if uri.to_ascii_lowercase().starts_with("http") {
                Gs1Error::BadScheme
            } else {
                Gs1Error::NotAnIdentifier(super::error::truncate(uri))
            });
        };
        // A fragment is for the client only: not part of the identifier.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        if let Some(bad) = rest.chars().find(|&c| !is_uri_char(c)) {
            return Err(Gs1Error::BadCharacter(bad));
        }
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let Some(slash) = before_query.find('/') else {
            return Err(if valid_host(before_query) {
                Gs1Error::NoPrimaryKey
            } else {
                Gs1Error::BadHost(super::error::truncate(before_query))
            });
        };
        let (authority, path) = before_query.split_at(slash);
        if !valid_host(authority) {
            return Err(Gs1Error::BadHost(super::error::truncate(authority)));
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        // The key is the rightmost primary-key AI such that key qualifiers pair up after it;
        // anything before it is the resolver's own path.
        let mut start = None;
        let mut end = segments.len();
        while end >= 2 {
            if path_ai(segments[end - 2], options)
                .is_some_and(|(_, e)| e.dl_key_qualifiers.is_some())
            {
                start = Some(end - 2);
                break;
            }
            end -= 2;
        }
        let Some(start) = start else {
            return Err(Gs1Error::NoPrimaryKey);
        };
        let stem = format!(
            "{scheme}{authority}{}",
            segments[..start]
                .iter()
                .map(|s| format!("/{s}"))
                .collect::<String>()
        );
        let mut pairs = segments[start..].chunks(2);
        let Some(&[key_segment, key_value]) = pairs.next() else {
            return Err(Gs1Error::NoPrimaryKey);
        };
        let Some((key_ai, key_entry)) = path_ai(key_segment, options) else {
            return Err(Gs1Error::NoPrimaryKey);
        };
        let sequences = key_entry.dl_key_qualifiers.clone().unwrap_or_default();
        let primary = Element::new(
            key_ai,
            checked_value(
                key_ai,
                Some(key_entry),
                percent_decode(key_value, false)?,
                options,
            )?,
        );
        let mut qualifiers = Vec::new();
        for pair in pairs {
            let &[segment, value] = pair else {
                return Err(Gs1Error::NoPrimaryKey);
            };
            let (ai, entry) = path_ai(segment, options).ok_or_else(|| {
                if segment.bytes().all(|b| b.is_ascii_digit()) && ai::lookup(segment).is_none() {
                    Gs1Error::UnknownAi(super::error::truncate(segment))
                } else {
                    Gs1Error::NotAQualifier {
                        key: key_ai.to_owned(),
                        qualifier: super::error::truncate(segment),
                    }
                }
            })?;
            if !sequences.iter().any(|s| s.iter().any(|q| q == ai)) {
                return Err(Gs1Error::NotAQualifier {
                    key: key_ai.to_owned(),
                    qualifier: ai.to_owned(),
                });
            }
            qualifiers.push(Element::new(
                ai,
                checked_value(ai, Some(entry), percent_decode(value, false)?, options)?,
            ));
        }
        let qualifier_ais: Vec<String> = qualifiers.iter().map(|q| q.ai.clone()).collect();
        let qualifier_ais: Vec<&str> = qualifier_ais.iter().map(String::as_str).collect();
        if !fits_sequence(&sequences, &qualifier_ais) {
            return Err(Gs1Error::QualifierOrder {
                key: key_ai.to_owned(),
                allowed: describe_sequences(&sequences),
                got: qualifier_ais.join(","),
            });
        }
        let mut link = Self {
            stem,
            key: Gs1Key {
                primary,
                qualifiers,
            },
            attributes: Vec::new(),
            other_parameters: Vec::new(),
        };
        for parameter in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let Some((name, value)) = parameter.split_once('=') else {
                link.other_parameters.push(parameter.to_owned());
                continue;
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                // Not an AI (e.g. linkType): kept, but no part of the identity.
                link.other_parameters.push(parameter.to_owned());
                continue;
            }
            let entry = ai::lookup(name);
            match entry {
                Some(entry) if !entry.dl_attribute => {
                    return Err(Gs1Error::NotADataAttribute(name.to_owned()));
                }
                Some(_) => {}
                None if options.permit_unknown_ais
                    && !options.validate_unknown_ai_not_dl_attribute
                    && (2..=4).contains(&name.len()) => {}
                None if options.permit_unknown_ais => {
                    return Err(Gs1Error::NotADataAttribute(name.to_owned()));
                }
                None => return Err(Gs1Error::UnknownAi(super::error::truncate(name))),
            }
            if link.elements().any(|e| e.ai == name) {
                return Err(Gs1Error::DuplicateAi(name.to_owned()));
            }
            // A key qualifier that could have been written in the path must be written there.
            let mut with = qualifier_ais.clone();
            with.push(name);
            with.sort_by_key(|q| {
                sequences
                    .iter()
                    .flat_map(|s| s.iter().position(|x| x == q))
                    .min()
            });
            if sequences.iter().any(|s| s.iter().any(|q| q == name))
                && fits_sequence(&sequences, &with)
            {
                return Err(Gs1Error::QualifierInQuery(name.to_owned()));
            }
            let value = checked_value(name, entry, percent_decode(value, true)?, options)?;
            link.attributes.push(Element::new(name, value));
        }
        let all: Vec<Element> = link.elements().cloned().collect();
        check_associations(&all)?;
        Ok(link)
    }

    /// The primary key and its qualifiers.
    pub fn key(&self) -> &Gs1Key {
        &self.key
    }

    /// The data attributes: the AIs of the query string, in their order.
    pub fn attributes(&self) -> &[Element] {
        &self.attributes
    }

    /// Query parameters that are not AIs (e.g. `linkType=gs1:pip`), as written.
    pub fn other_parameters(&self) -> &[String] {
        &self.other_parameters
    }

    /// Scheme, host and any path before the key, e.g. `https://example.com/some/prefix`.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// Every element: primary key, qualifiers, then data attributes.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        std::iter::once(&self.key.primary)
            .chain(&self.key.qualifiers)
            .chain(&self.attributes)
    }

    /// The GS1 element string without brackets, as barcodes carry it: `^` is FNC1 (leading:
    /// FNC1 in first position), written after every AI of variable length but the last.
    pub fn element_string(&self) -> String {
        element_string(&self.elements().cloned().collect::<Vec<_>>())
    }

    /// The element string with AIs in brackets, e.g. `(01)09506000134352(21)ABC`.
    pub fn bracketed(&self) -> String {
        self.elements()
            .map(|e| format!("({}){}", e.ai, e.value))
            .collect()
    }

    /// The URI on another stem (e.g. `https://id.gs1.org`), path and query as parsed.
    pub fn with_stem(&self, stem: &str) -> String {
        render(stem, &self.key, &self.attributes)
    }

    /// The canonical URI: on `https://id.gs1.org`, AIs numeric, values in one percent-encoding,
    /// data attributes kept and other query parameters dropped.
    pub fn canonical(&self) -> String {
        self.with_stem(CANONICAL_STEM)
    }
}

impl std::fmt::Display for DigitalLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.with_stem(&self.stem))
    }
}

/// The unbracketed element string of `elements` (see [`DigitalLink::element_string`]).
pub fn element_string(elements: &[Element]) -> String {
    let mut out = String::from("^");
    for (i, element) in elements.iter().enumerate() {
        out.push_str(&element.ai);
        out.push_str(&element.value);
        let fixed = ai::lookup(&element.ai).is_some_and(|e| e.fixed_length);
        if !fixed && i + 1 < elements.len() {
            out.push('^');
        }
    }
    out
}

fn render(stem: &str, key: &Gs1Key, attributes: &[Element]) -> String {
    let mut out = format!("{}{}", stem.trim_end_matches('/'), key.path());
    for (i, attribute) in attributes.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&attribute.ai);
        out.push('=');
        out.push_str(&percent_encode(&attribute.value));
    }
    out
}

/// Reads an element string: bracketed (`(01)095...(21)ABC`) or unbracketed with FNC1 as `^`
/// (`^0109506000134352 21ABC`, a `|` separating the parts of a composite symbol).
pub fn parse_element_string(data: &str) -> Result<Vec<Element>, Gs1Error> {
    let bad = |why: &str| Gs1Error::BadElementString(why.to_owned());
    let mut out = Vec::new();
    if data.starts_with('(') {
        let mut rest = data;
        while let Some(after) = rest.strip_prefix('(') {
            let (ai, tail) = after
                .split_once(')')
                .ok_or_else(|| bad("unclosed AI bracket"))?;
            // The value runs to the next "(AI)" that names a known AI. An AI is two to four
            // digits, so only a ')' within five bytes of the '(' can close one: looking no
            // further keeps the scan linear (searching the whole rest for a ')' from every
            // '(' made a run of '(' quadratic: 0.15 s for 32 kB).
            let mut end = tail.len();
            for (i, _) in tail.match_indices('(') {
                let after = &tail[i + 1..];
                if let Some(close) = after.bytes().take(5).position(|b| b == b')')
                    && let Some(next) = after.get(..close)
                    && (ai::lookup(next).is_some()
                        || (2..=4).contains(&next.len())
                            && next.bytes().all(|b| b.is_ascii_digit()))
                {
                    end = i;
                    break;
                }
            }
            out.push(Element::new(ai, &tail[..end]));
            rest = &tail[end..];
        }
        if !rest.is_empty() {
            return Err(bad("text before the first AI bracket"));
        }
    } else {
        let mut rest = data
            .strip_prefix('^')
            .ok_or_else(|| bad("must start with ( or ^ (FNC1)"))?;
        while !rest.is_empty() {
            let (ai, entry) = ai::lookup_prefix(rest)
                .ok_or_else(|| Gs1Error::UnknownAi(super::error::truncate(rest)))?;
            let body = &rest[ai.len()..];
            let length = if entry.fixed_length {
                entry.max_length().min(body.len())
            } else {
                body.find(['^', '|']).unwrap_or(body.len())
            };
            let (value, after) = body
                .split_at_checked(length)
                .ok_or_else(|| bad("characters outside the GS1 character sets"))?;
            out.push(Element::new(ai, value));
            rest = after.trim_start_matches(['^', '|']);
        }
    }
    if out.is_empty() {
        return Err(bad("no AIs"));
    }
    Ok(out)
}

/// Writes the Digital Link URI of an element string (see [`parse_element_string`]) on `stem`
/// (the canonical `https://id.gs1.org` if `None`): the first primary-key AI in the path with
/// its key qualifiers, the other AIs as data attributes, fixed-length ones first.
pub fn digital_link_from_element_string(
    data: &str,
    stem: Option<&str>,
    options: &ParseOptions,
) -> Result<String, Gs1Error> {
    let mut elements: Vec<Element> = Vec::new();
    for element in parse_element_string(data)? {
        if let Some(seen) = elements.iter().find(|e| e.ai == element.ai) {
            if seen.value != element.value {
                return Err(Gs1Error::DuplicateAi(element.ai));
            }
            continue;
        }
        let entry = ai::lookup(&element.ai);
        if entry.is_none() && !options.permit_unknown_ais {
            return Err(Gs1Error::UnknownAi(element.ai));
        }
        let value = checked_value(&element.ai, entry, element.value, options)?;
        elements.push(Element::new(element.ai, value));
    }
    check_associations(&elements)?;
    let key_index = elements
        .iter()
        .position(|e| ai::lookup(&e.ai).is_some_and(|entry| entry.dl_key_qualifiers.is_some()))
        .ok_or(Gs1Error::NoPrimaryKey)?;
    let primary = elements.remove(key_index);
    let sequences = ai::lookup(&primary.ai)
        .and_then(|e| e.dl_key_qualifiers.clone())
        .unwrap_or_default();
    let (qualifiers, rest): (Vec<Element>, Vec<Element>) = elements
        .into_iter()
        .partition(|e| sequences.iter().any(|s| s.contains(&e.ai)));
    let no_sequence = Vec::new();
    let sequence = sequences
        .iter()
        .find(|s| qualifiers.iter().all(|q| s.contains(&q.ai)))
        .or(qualifiers.is_empty().then_some(&no_sequence))
        .ok_or_else(|| Gs1Error::QualifierOrder {
            key: primary.ai.clone(),
            allowed: describe_sequences(&sequences),
            got: qualifiers
                .iter()
                .map(|q| q.ai.clone())
                .collect::<Vec<_>>()
                .join(","),
        })?;
    let mut qualifiers = qualifiers;
    qualifiers.sort_by_key(|q| sequence.iter().position(|s| *s == q.ai));
    for attribute in &rest {
        match ai::lookup(&attribute.ai) {
            Some(entry) if entry.dl_attribute => {}
            None if !options.validate_unknown_ai_not_dl_attribute => {}
            _ => return Err(Gs1Error::NotADataAttribute(attribute.ai.clone())),
        }
    }
    // Fixed-length AIs first, as in an element string optimised for barcodes.
    let fixed = |e: &Element| ai::lookup(&e.ai).is_some_and(|entry| entry.fixed_length);
    let (mut attributes, variable): (Vec<Element>, Vec<Element>) =
        rest.into_iter().partition(fixed);
    attributes.extend(variable);
    Ok(render(
        stem.unwrap_or(CANONICAL_STEM),
        &Gs1Key {
            primary,
            qualifiers,
        },
        &attributes,
    ))
}

#[cfg(test)]
mod tests;
