//! What "matches" means for the `MATCH_` query parameters (EPCIS 2.0 §8.2.7.1.1): a query value
//! is an identifier, or an EPC pure-identity pattern whose trailing components may be `*`.
//!
//! An identifier may be written as an EPC URI or as a GS1 Digital Link on any host; events
//! may use either. Both sides are brought to one form before comparing, so
//! `urn:epc:id:sgtin:0614141.107346.2017` and `https://id.gs1.org/01/10614141073464/21/2017`
//! match each other. A value is read as:
//!
//! | query value | matches an identifier of an event when |
//! |---|---|
//! | a GS1 key, as EPC URI or Digital Link (`urn:epc:id:…`, `urn:epc:class:lgtin:…`, `https://…/01/…/21/…`) | it is the same key (canonical Digital Links equal) |
//! | a class pattern `urn:epc:idpat:sgtin:0614141.107346.*` (also `upui`, `grai`, `gdti`, `sgcn`, `cpi`, `itip`), or a Digital Link of a GTIN alone | it is an instance or lot of that class: same GTIN (same GRAI/GDTI/SGCN base, same CPID, same ITIP) |
//! | a pattern with more `*`, `urn:epc:idpat:sgtin:0614141.*.*`, `urn:epc:idpat:sscc:0614141.*`, `urn:epc:idpat:sgln:0614141.*.*`, … | each component that is not `*` equals the event's; `*.*.*` matches every identifier of the scheme |
//! | any other URI | it is the same string |
//!
//! `*` may only stand for trailing components (`0614141.*.*`, not `*.107346.*`), as the EPC
//! Tag Data Standard defines pure-identity patterns. Against an identifier written as an EPC
//! URI, components are compared as written. A Digital Link does not say where the GS1 Company
//! Prefix ends, so against one the pattern's company prefix is taken with its own length:
//! `0614141.*.*` matches every GTIN whose digits after the indicator start with `0614141`.

use crate::gs1::epc_uri::{escape_component, parse_epc_uri};
use crate::gs1::{Gs1Key, ProductId, normalise_epc};

/// How many components an EPC pure-identity URI of each scheme has.
const SCHEMES: &[(&str, usize)] = &[
    ("sgtin", 3),
    ("sscc", 2),
    ("sgln", 3),
    ("grai", 3),
    ("giai", 2),
    ("gsrn", 2),
    ("gsrnp", 2),
    ("gdti", 3),
    ("cpi", 3),
    ("sgcn", 3),
    ("ginc", 2),
    ("gsin", 2),
    ("itip", 5),
    ("upui", 3),
    ("pgln", 2),
];

/// GS1 keys whose serial is part of the primary key's value (a class is a prefix of it).
const SERIAL_IN_KEY: &[&str] = &["8003", "253", "255"];

/// One value of a `MATCH_` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpcPattern {
    /// One identifier: a canonical Digital Link for a GS1 key, else the URI as written.
    Exact(String),
    /// Every identifier of a class: a GS1 key's primary element (AI and value).
    Class {
        /// The Application Identifier, e.g. `01`.
        ai: String,
        /// Its value, e.g. the GTIN.
        value: String,
    },
    /// An EPC pure-identity pattern with `*` components (`None`), trailing.
    Wildcard {
        /// The EPC scheme, e.g. `sgtin`.
        scheme: String,
        /// The components; `None` for `*`.
        components: Vec<Option<String>>,
    },
}

/// A query value that is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid EPC pattern: {reason}")]
pub struct PatternError {
    /// The value.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// The one form identifiers are compared in: the canonical Digital Link of a GS1 key, or the
/// text as written.
pub fn identity(text: &str) -> String {
    match ProductId::parse(text) {
        Ok(id) => id.as_str().to_owned(),
        Err(_) => normalise_epc(text).unwrap_or_else(|| text.to_owned()),
    }
}

fn class_of(key: &Gs1Key) -> EpcPattern {
    EpcPattern::Class {
        ai: key.primary.ai.clone(),
        value: key.primary.value.clone(),
    }
}

impl EpcPattern {
    /// Reads one query value.
    pub fn parse(value: &str) -> Result<Self, PatternError> {
        let error = |reason: &str| PatternError {
            value: value.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = value.strip_prefix("urn:epc:idpat:") {
            let (scheme, body) = rest
                .split_once(':')
                .ok_or_else(|| error("expected urn:epc:idpat:<scheme>:<components>"))?;
            let count = SCHEMES
                .iter()
                .find(|(s, _)| *s == scheme)
                .map(|(_, n)| *n)
                .ok_or_else(|| error("unknown EPC scheme"))?;
            let components: Vec<Option<String>> = body
                .split('.')
                .map(|c| (c != "*").then(|| c.to_owned()))
                .collect();
            if components.len() != count {
                return Err(error(&format!(
                    "a {scheme} pattern has {count} components separated by '.'"
                )));
            }
            if components.iter().any(|c| c.as_deref() == Some("")) {
                return Err(error("a component is empty"));
            }
            let first_star = components.iter().position(Option::is_none);
            if let Some(first) = first_star
                && components[first..].iter().any(Option::is_some)
            {
                return Err(error(
                    "'*' may only stand for trailing components, as in 0614141.*.*",
                ));
            }
            // One trailing '*' is a class the GS1 key parser knows, when it knows the scheme.
            if first_star == Some(count - 1)
                && let Ok(key) = parse_epc_uri(value)
            {
                return Ok(class_of(&key));
            }
            return Ok(Self::Wildcard {
                scheme: scheme.to_owned(),
                components,
            });
        }
        if let Ok(id) = ProductId::parse(value)
            && id.key().qualifiers.is_empty()
            && id.gtin().is_some()
        {
            // A GTIN alone names the product class.
            return Ok(class_of(&id.key()));
        }
        Ok(Self::Exact(identity(value)))
    }

    /// Whether an identifier of an event matches.
    pub fn matches(&self, identifier: &str) -> bool {
        match self {
            Self::Exact(want) => identity(identifier) == *want,
            Self::Class { ai, value } => ProductId::parse(identifier).is_ok_and(|id| {
                let key = id.key();
                key.primary.ai == *ai
                    && (key.primary.value == *value
                        || (SERIAL_IN_KEY.contains(&ai.as_str())
                            && key.primary.value.starts_with(value.as_str())))
            }),
            Self::Wildcard { scheme, components } => match written_components(identifier, scheme) {
                Some(written) => components_match(components, &written),
                None => ProductId::parse(identifier).is_ok_and(|id| {
                    let key = id.key();
                    match components.first() {
                        Some(Some(prefix)) => epc_components(&key, scheme, prefix.len())
                            .is_some_and(|c| components_match(components, &c)),
                        _ => scheme_of(&key) == Some(scheme.as_str()),
                    }
                }),
            },
        }
    }
}

fn components_match(pattern: &[Option<String>], components: &[String]) -> bool {
    pattern.len() == components.len()
        && pattern
            .iter()
            .zip(components)
            .all(|(p, c)| p.as_ref().is_none_or(|p| p == c))
}

/// The components of an identifier written as an EPC URI of `scheme` (instance, class or
/// pattern); `None` if it is not one.
fn written_components(identifier: &str, scheme: &str) -> Option<Vec<String>> {
    let rest = identifier.strip_prefix("urn:epc:")?;
    let (kind, rest) = rest.split_once(':')?;
    let (written_scheme, body) = rest.split_once(':')?;
    let same = match (kind, written_scheme) {
        ("id" | "idpat", s) => s == scheme,
        ("class", "lgtin") => scheme == "sgtin",
        _ => false,
    };
    same.then(|| body.split('.').map(str::to_owned).collect())
}

/// The EPC scheme of a GS1 key.
fn scheme_of(key: &Gs1Key) -> Option<&'static str> {
    let qualifier = key.qualifiers.first().map(|q| q.ai.as_str());
    Some(match (key.primary.ai.as_str(), qualifier) {
        ("01", Some("235")) => "upui",
        ("01", _) => "sgtin",
        ("00", _) => "sscc",
        ("414", _) => "sgln",
        ("417", _) => "pgln",
        ("8003", _) => "grai",
        ("8004", _) => "giai",
        ("8018", _) => "gsrn",
        ("8017", _) => "gsrnp",
        ("253", _) => "gdti",
        ("255", _) => "sgcn",
        ("8010", _) => "cpi",
        ("8006", _) => "itip",
        ("401", _) => "ginc",
        ("402", _) => "gsin",
        _ => return None,
    })
}

/// The components of `key` as an EPC URI of `scheme` would write them, with a GS1 Company
/// Prefix of `cp_len` digits; `None` if the key is not of that scheme or too short.
pub fn epc_components(key: &Gs1Key, scheme: &str, cp_len: usize) -> Option<Vec<String>> {
    if scheme_of(key) != Some(scheme) {
        return None;
    }
    let v = key.primary.value.as_str();
    let q = |ai: &str| {
        key.qualifiers
            .iter()
            .find(|e| e.ai == ai)
            .map(|e| escape_component(&e.value))
    };
    let s = |from: usize, to: usize| v.get(from..to).map(str::to_owned);
    let n = cp_len;
    // (company prefix, reference with the indicator or extension digit first)
    let gtin_parts = |gtin: &str| -> Option<(String, String)> {
        let cp = gtin.get(1..1 + n)?;
        let item = format!("{}{}", gtin.get(..1)?, gtin.get(1 + n..13)?);
        Some((cp.to_owned(), item))
    };
    Some(match scheme {
        "sgtin" => {
            let (cp, item) = gtin_parts(v)?;
            let last = q("21")
                .or_else(|| q("10"))
                .unwrap_or_else(|| "*".to_owned());
            vec![cp, item, last]
        }
        "upui" => {
            let (cp, item) = gtin_parts(v)?;
            vec![cp, item, q("235")?]
        }
        "itip" => {
            let (cp, item) = gtin_parts(v.get(..14)?)?;
            vec![
                cp,
                item,
                s(14, 16)?,
                s(16, 18)?,
                q("21").unwrap_or_else(|| "*".to_owned()),
            ]
        }
        "sscc" => {
            let serial = format!("{}{}", v.get(..1)?, v.get(1 + n..17)?);
            vec![s(1, 1 + n)?, serial]
        }
        "sgln" => vec![
            s(0, n)?,
            s(n, 12)?,
            q("254").unwrap_or_else(|| "0".to_owned()),
        ],
        "pgln" => vec![s(0, n)?, s(n, 12)?],
        "grai" => {
            let serial = v.get(14..).filter(|t| !t.is_empty()).unwrap_or("*");
            vec![s(1, 1 + n)?, s(1 + n, 13)?, escape_component(serial)]
        }
        "gdti" | "sgcn" => {
            let serial = v.get(13..).filter(|t| !t.is_empty()).unwrap_or("*");
            vec![s(0, n)?, s(n, 12)?, escape_component(serial)]
        }
        "giai" | "ginc" => vec![s(0, n)?, escape_component(v.get(n..)?)],
        "gsrn" | "gsrnp" => vec![s(0, n)?, s(n, 17)?],
        "gsin" => vec![s(0, n)?, s(n, 16)?],
        "cpi" => vec![
            s(0, n)?,
            escape_component(v.get(n..)?),
            q("8011").unwrap_or_else(|| "*".to_owned()),
        ],
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, id: &str) -> bool {
        EpcPattern::parse(pattern).unwrap().matches(id)
    }

    const SGTIN: &str = "urn:epc:id:sgtin:0614141.107346.2017";
    const SGTIN_DL: &str = "https://id.gs1.org/01/10614141073464/21/2017";

    #[test]
    fn identifiers_match_across_spellings() {
        assert!(m(SGTIN, SGTIN_DL));
        assert!(m(SGTIN_DL, SGTIN));
        assert!(m(SGTIN, "https://example.com/01/10614141073464/21/2017"));
        assert!(!m(SGTIN, "urn:epc:id:sgtin:0614141.107346.2018"));
        assert!(m("urn:example:thing", "urn:example:thing"));
        assert!(!m("urn:example:thing", "urn:example:other"));
    }

    #[test]
    fn class_patterns_match_instances_and_lots() {
        let class = "urn:epc:idpat:sgtin:0614141.107346.*";
        assert!(matches!(
            EpcPattern::parse(class).unwrap(),
            EpcPattern::Class { .. }
        ));
        assert!(m(class, SGTIN));
        assert!(m(class, SGTIN_DL));
        assert!(m(class, "urn:epc:class:lgtin:0614141.107346.LOT1"));
        assert!(m(class, "https://id.gs1.org/01/10614141073464"));
        assert!(!m(class, "urn:epc:id:sgtin:0614141.107347.2017"));
        // A GTIN alone as a Digital Link is the same class.
        assert!(m("https://id.gs1.org/01/10614141073464", SGTIN));
        // GRAI: the serial is part of the key.
        let grai = "urn:epc:idpat:grai:0614141.12345.*";
        assert!(m(grai, "urn:epc:id:grai:0614141.12345.400"));
        assert!(!m(grai, "urn:epc:id:grai:0614141.12346.400"));
    }

    #[test]
    fn wildcards_match_per_component() {
        let cp = "urn:epc:idpat:sgtin:0614141.*.*";
        assert!(m(cp, SGTIN));
        assert!(m(cp, SGTIN_DL));
        assert!(m(cp, "urn:epc:class:lgtin:0614141.107346.L1"));
        assert!(!m(cp, "urn:epc:id:sgtin:0614142.107346.2017"));
        // Written as a URN, a longer company prefix is another company.
        assert!(!m(cp, "urn:epc:id:sgtin:06141410.10734.1"));
        assert!(m("urn:epc:idpat:sgtin:*.*.*", SGTIN_DL));
        assert!(!m(
            "urn:epc:idpat:sgtin:*.*.*",
            "urn:epc:id:sscc:0614141.1234567890"
        ));
        let sscc = "urn:epc:idpat:sscc:0614141.*";
        assert!(m(sscc, "urn:epc:id:sscc:0614141.1234567890"));
        assert!(m(sscc, "https://id.gs1.org/00/106141412345678908"));
        assert!(!m(sscc, "urn:epc:id:sscc:0614142.1234567890"));
        let sgln = "urn:epc:idpat:sgln:0614141.12345.*";
        assert!(m(sgln, "urn:epc:id:sgln:0614141.12345.400"));
        assert!(m(sgln, "urn:epc:id:sgln:0614141.12345.0"));
        assert!(!m(sgln, "urn:epc:id:sgln:0614141.12346.0"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "urn:epc:idpat:sgtin:*.107346.*",
            "urn:epc:idpat:sgtin:0614141.*",
            "urn:epc:idpat:nope:1.2",
            "urn:epc:idpat:sgtin",
            "urn:epc:idpat:sgtin:0614141..*",
        ] {
            assert!(EpcPattern::parse(bad).is_err(), "{bad}");
        }
    }

    fn digits(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, len)
            .prop_map(|d| d.into_iter().map(|x| char::from(b'0' + x)).collect())
    }

    proptest! {
        /// A key read from an EPC URI gives back the URI's components at the URI's company
        /// prefix length.
        #[test]
        fn components_invert_epc_uris(
            cp_len in 6usize..=12,
            body in digits(12),
            serial in "[A-Za-z0-9]{1,20}",
            indicator in 0u8..10,
        ) {
            let cp = &body[..cp_len];
            let item = format!("{indicator}{}", &body[cp_len..12]);
            let uri = format!("urn:epc:id:sgtin:{cp}.{item}.{serial}");
            let key = ProductId::parse(&uri).unwrap().key();
            prop_assert_eq!(
                epc_components(&key, "sgtin", cp_len).unwrap(),
                vec![cp.to_owned(), item.clone(), serial.clone()]
            );
            let gln_ref = &body[cp_len..12];
            let sgln = format!("urn:epc:id:sgln:{cp}.{gln_ref}.{serial}");
            let key = ProductId::parse(&sgln).unwrap().key();
            prop_assert_eq!(
                epc_components(&key, "sgln", cp_len).unwrap(),
                vec![cp.to_owned(), gln_ref.to_owned(), serial.clone()]
            );
            let sscc_ref = format!("{indicator}{}{}", &body[cp_len..], "12345")[..17 - cp_len].to_owned();
            let sscc = format!("urn:epc:id:sscc:{cp}.{sscc_ref}");
            let key = ProductId::parse(&sscc).unwrap().key();
            prop_assert_eq!(
                epc_components(&key, "sscc", cp_len).unwrap(),
                vec![cp.to_owned(), sscc_ref]
            );
            // And so the company-prefix pattern matches the Digital Link of each.
            let pattern = format!("urn:epc:idpat:sgtin:{cp}.*.*");
            let dl = ProductId::parse(&uri).unwrap();
            prop_assert!(m(&pattern, dl.as_str()));
        }
    }
}
