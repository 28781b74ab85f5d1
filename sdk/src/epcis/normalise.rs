//! Normalisation of GS1 identifiers to the constrained canonical Digital Link form that the
//! EPCIS Event Hash ID uses (CBV 2.0): any EPC URI, EPC class or pattern URI, or GS1 Digital
//! Link URI on any host becomes `https://id.gs1.org/{primary key}/{value}` plus only its most
//! specific qualifier (a serial beats a lot; a consumer product variant is dropped), without
//! query string. Anything that is not a GS1 key URI gives `None`.

use crate::gs1::check_digit;

const HOST: &str = "https://id.gs1.org";

/// Percent-encodes the characters GS1 Digital Link requires encoded that EPC URIs allow raw.
fn web_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '!' => out.push_str("%21"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '*' => out.push_str("%2A"),
            '+' => out.push_str("%2B"),
            ',' => out.push_str("%2C"),
            ':' => out.push_str("%3A"),
            other => out.push(other),
        }
    }
    out
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn with_check(body: &str) -> Option<String> {
    check_digit(body).map(|d| format!("{body}{d}"))
}

/// EPC URI component characters (TDS "GS3A3" set, with percent escapes).
fn epc_chars(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return false;
            }
            i += 3;
        } else if bytes[i].is_ascii_alphanumeric() || b"!')(*+,.:;=_-".contains(&bytes[i]) {
            i += 1;
        } else {
            return false;
        }
        count += 1;
    }
    (1..=max).contains(&count)
}

/// Splits `cp.ref` where the company prefix has 6 to 12 digits and the two together `total`.
fn company_and_ref<'a>(
    cp: &'a str,
    reference: &'a str,
    total: usize,
) -> Option<(&'a str, &'a str)> {
    ((6..=12).contains(&cp.len())
        && digits(cp)
        && cp.len() + reference.len() == total
        && reference.bytes().all(|b| b.is_ascii_digit()))
    .then_some((cp, reference))
}

/// GTIN-14 from an EPC company prefix and item reference (indicator digit first).
fn gtin(cp: &str, item: &str) -> Option<String> {
    let (cp, item) = company_and_ref(cp, item, 13)?;
    let (indicator, rest) = item.split_at_checked(1)?;
    with_check(&format!("{indicator}{cp}{rest}"))
}

fn epc(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("urn:epc:")?;
    let (kind, body) = rest.split_once(':').and_then(|(k, r)| {
        r.split_once(':')
            .map(|(scheme, body)| (format!("{k}:{scheme}"), body))
    })?;
    let parts: Vec<&str> = body.splitn(3, '.').collect();
    match (kind.as_str(), parts.as_slice()) {
        ("id:sgtin", [cp, item, serial]) if epc_chars(serial, 20) => Some(format!(
            "{HOST}/01/{}/21/{}",
            gtin(cp, item)?,
            web_encode(serial)
        )),
        ("id:sscc", [cp, serial]) => {
            let (cp, serial) = company_and_ref(cp, serial, 17)?;
            let (ext, rest) = serial.split_at_checked(1)?;
            Some(format!(
                "{HOST}/00/{}",
                with_check(&format!("{ext}{cp}{rest}"))?
            ))
        }
        ("id:sgln", [cp, location, ext]) if epc_chars(ext, 20) => {
            let (cp, location) = company_and_ref(cp, location, 12)?;
            let gln = with_check(&format!("{cp}{location}"))?;
            if *ext == "0" {
                Some(format!("{HOST}/414/{gln}"))
            } else {
                Some(format!("{HOST}/414/{gln}/254/{}", web_encode(ext)))
            }
        }
        ("id:grai", [cp, asset, serial]) if epc_chars(serial, 16) => {
            let (cp, asset) = company_and_ref(cp, asset, 12)?;
            let grai = with_check(&format!("0{cp}{asset}"))?;
            Some(format!("{HOST}/8003/{grai}{}", web_encode(serial)))
        }
        ("id:giai", [cp, reference]) if (6..=12).contains(&cp.len()) && digits(cp) => {
            epc_chars(reference, 30 - cp.len())
                .then(|| format!("{HOST}/8004/{cp}{}", web_encode(reference)))
        }
        ("id:gsrn", [cp, service]) => {
            let (cp, service) = company_and_ref(cp, service, 17)?;
            Some(format!(
                "{HOST}/8018/{}",
                with_check(&format!("{cp}{service}"))?
            ))
        }
        ("id:gsrnp", [cp, service]) => {
            let (cp, service) = company_and_ref(cp, service, 17)?;
            Some(format!(
                "{HOST}/8017/{}",
                with_check(&format!("{cp}{service}"))?
            ))
        }
        ("id:gdti", [cp, doc, serial]) if epc_chars(serial, 17) => {
            let (cp, doc) = company_and_ref(cp, doc, 12)?;
            let gdti = with_check(&format!("{cp}{doc}"))?;
            Some(format!("{HOST}/253/{gdti}{}", web_encode(serial)))
        }
        ("id:cpi", _) => {
            let (head, serial) = body.rsplit_once('.')?;
            let (cp, reference) = head.split_once('.')?;
            let ok = (6..=12).contains(&cp.len())
                && digits(cp)
                && digits(serial)
                && serial.len() <= 12
                && !reference.is_empty()
                && reference.bytes().all(|b| {
                    b.is_ascii_digit()
                        || b.is_ascii_uppercase()
                        || b == b'-'
                        || b == b'%'
                        || b.is_ascii_hexdigit()
                });
            ok.then(|| {
                format!(
                    "{HOST}/8010/{}/8011/{serial}",
                    web_encode(&format!("{cp}{reference}"))
                )
            })
        }
        ("id:sgcn", [cp, coupon, serial]) if digits(serial) && serial.len() <= 12 => {
            let (cp, coupon) = company_and_ref(cp, coupon, 12)?;
            Some(format!(
                "{HOST}/255/{}{serial}",
                with_check(&format!("{cp}{coupon}"))?
            ))
        }
        ("id:ginc", [cp, reference]) if (6..=12).contains(&cp.len()) && digits(cp) => {
            epc_chars(reference, 30 - cp.len())
                .then(|| format!("{HOST}/401/{cp}{}", web_encode(reference)))
        }
        ("id:gsin", [cp, shipper]) => {
            let (cp, shipper) = company_and_ref(cp, shipper, 16)?;
            Some(format!(
                "{HOST}/402/{}",
                with_check(&format!("{cp}{shipper}"))?
            ))
        }
        ("id:itip", [cp, item, rest]) => {
            let mut more = rest.splitn(3, '.');
            let (piece, total, serial) = (more.next()?, more.next()?, more.next()?);
            let ok = piece.len() == 2 && digits(piece) && total.len() == 2 && digits(total);
            (ok && epc_chars(serial, 20)).then_some(())?;
            Some(format!(
                "{HOST}/8006/{}{piece}{total}/21/{}",
                gtin(cp, item)?,
                web_encode(serial)
            ))
        }
        ("id:upui", [cp, item, tpx]) if epc_chars(tpx, 28) => Some(format!(
            "{HOST}/01/{}/235/{}",
            gtin(cp, item)?,
            web_encode(tpx)
        )),
        ("id:pgln", [cp, party]) => {
            let (cp, party) = company_and_ref(cp, party, 12)?;
            Some(format!(
                "{HOST}/417/{}",
                with_check(&format!("{cp}{party}"))?
            ))
        }
        ("class:lgtin", [cp, item, lot]) if epc_chars(lot, 20) => Some(format!(
            "{HOST}/01/{}/10/{}",
            gtin(cp, item)?,
            web_encode(lot)
        )),
        ("idpat:sgtin" | "idpat:upui", [cp, item, "*"]) => {
            Some(format!("{HOST}/01/{}", gtin(cp, item)?))
        }
        ("idpat:grai", [cp, asset, "*"]) => {
            let (cp, asset) = company_and_ref(cp, asset, 12)?;
            Some(format!(
                "{HOST}/8003/{}",
                with_check(&format!("0{cp}{asset}"))?
            ))
        }
        ("idpat:gdti", [cp, doc, "*"]) => {
            let (cp, doc) = company_and_ref(cp, doc, 12)?;
            Some(format!("{HOST}/253/{}", with_check(&format!("{cp}{doc}"))?))
        }
        ("idpat:sgcn", [cp, coupon, "*"]) => {
            let (cp, coupon) = company_and_ref(cp, coupon, 12)?;
            Some(format!(
                "{HOST}/255/{}",
                with_check(&format!("{cp}{coupon}"))?
            ))
        }
        ("idpat:cpi", [cp, reference, "*"]) if (6..=12).contains(&cp.len()) && digits(cp) => Some(
            format!("{HOST}/8010/{}", web_encode(&format!("{cp}{reference}"))),
        ),
        ("idpat:itip", [cp, item, rest]) => {
            let mut more = rest.splitn(3, '.');
            let (piece, total, star) = (more.next()?, more.next()?, more.next()?);
            let ok = piece.len() == 2
                && digits(piece)
                && total.len() == 2
                && digits(total)
                && star == "*";
            ok.then_some(())?;
            Some(format!("{HOST}/8006/{}{piece}{total}", gtin(cp, item)?))
        }
        _ => None,
    }
}

/// A Digital Link primary key: its AI, accepted short names, and a check of its value.
struct PrimaryKey {
    ai: &'static str,
    names: &'static [&'static str],
    qualifiers: &'static [(&'static str, &'static [&'static str])],
    value: fn(&str) -> Option<String>,
}

fn gtin_value(v: &str) -> Option<String> {
    (digits(v) && matches!(v.len(), 8 | 12 | 13 | 14)).then(|| format!("{v:0>14}"))
}
fn fixed_digits<const N: usize>(v: &str) -> Option<String> {
    (digits(v) && v.len() == N).then(|| v.to_owned())
}
fn any_value(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

const KEYS: &[PrimaryKey] = &[
    PrimaryKey {
        ai: "01",
        names: &["01", "gtin"],
        qualifiers: &[
            ("22", &["22", "cpv"]),
            ("10", &["10", "lot"]),
            ("21", &["21", "ser"]),
            ("235", &["235", "tpx"]),
        ],
        value: gtin_value,
    },
    PrimaryKey {
        ai: "8006",
        names: &["8006", "itip"],
        qualifiers: &[
            ("22", &["22", "cpv"]),
            ("10", &["10", "lot"]),
            ("21", &["21", "ser"]),
        ],
        value: fixed_digits::<18>,
    },
    PrimaryKey {
        ai: "00",
        names: &["00", "sscc"],
        qualifiers: &[],
        value: fixed_digits::<18>,
    },
    PrimaryKey {
        ai: "414",
        names: &["414", "loc"],
        qualifiers: &[("254", &["254", "glnx"])],
        value: fixed_digits::<13>,
    },
    PrimaryKey {
        ai: "417",
        names: &["417", "party"],
        qualifiers: &[],
        value: fixed_digits::<13>,
    },
    PrimaryKey {
        ai: "8003",
        names: &["8003", "grai"],
        qualifiers: &[],
        value: any_value,
    },
    PrimaryKey {
        ai: "8004",
        names: &["8004", "giai"],
        qualifiers: &[],
        value: any_value,
    },
    PrimaryKey {
        ai: "8018",
        names: &["8018", "gsrn"],
        qualifiers: &[("8019", &["8019", "srin"])],
        value: fixed_digits::<18>,
    },
    PrimaryKey {
        ai: "8017",
        names: &["8017", "gsrnp"],
        qualifiers: &[("8019", &["8019", "srin"])],
        value: fixed_digits::<18>,
    },
    PrimaryKey {
        ai: "253",
        names: &["253", "gdti"],
        qualifiers: &[],
        value: any_value,
    },
    PrimaryKey {
        ai: "255",
        names: &["255", "gcn"],
        qualifiers: &[],
        value: any_value,
    },
    PrimaryKey {
        ai: "8010",
        names: &["8010", "cpid"],
        qualifiers: &[("8011", &["8011", "cpsn"])],
        value: any_value,
    },
    PrimaryKey {
        ai: "401",
        names: &["401", "ginc"],
        qualifiers: &[],
        value: any_value,
    },
    PrimaryKey {
        ai: "402",
        names: &["402", "gsin"],
        qualifiers: &[],
        value: fixed_digits::<17>,
    },
];

fn digital_link(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let rest = rest.split(['?', '#']).next()?;
    let (_host, path) = rest.split_once('/')?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // The key path is the tail that starts with a primary key; earlier segments are the
    // resolver's own prefix.
    for start in 0..segments.len() {
        let Some(key) = KEYS.iter().find(|k| k.names.contains(&segments[start])) else {
            continue;
        };
        let tail = &segments[start + 1..];
        if tail.len() % 2 != 1 {
            continue;
        }
        let value = (key.value)(tail[0])?;
        let mut chosen: Option<(usize, &str, &str)> = None;
        let mut last_rank = None;
        for pair in tail[1..].chunks(2) {
            let [name, qualifier_value] = pair else {
                return None;
            };
            let (rank, (ai, _)) = key
                .qualifiers
                .iter()
                .enumerate()
                .find(|(_, (_, names))| names.contains(name))?;
            if last_rank.is_some_and(|last| rank <= last) || qualifier_value.is_empty() {
                return None;
            }
            last_rank = Some(rank);
            // Only the most specific qualifier is kept; a consumer product variant (22) never.
            if *ai != "22" {
                chosen = Some((rank, ai, qualifier_value));
            }
        }
        let mut out = format!("{HOST}/{}/{value}", key.ai);
        if let Some((_, ai, qualifier_value)) = chosen {
            out.push_str(&format!("/{ai}/{qualifier_value}"));
        }
        return Some(out);
    }
    None
}

/// The canonical Digital Link form of a GS1 key URI, or `None` if `uri` is not one.
pub fn normalise(uri: &str) -> Option<String> {
    if uri.starts_with("urn:epc:") {
        epc(uri)
    } else {
        digital_link(uri)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_normalisation_vector_holds() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/epcis-event-hash/epc-urn-to-digital-link_normalisation_vectors.json"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut failures = Vec::new();
        let cases = doc["cases"].as_array().unwrap();
        for case in cases {
            let expected = case["expected_canonical_dl"].as_str();
            let got = case["input"].as_str().and_then(normalise);
            if got.as_deref() != expected {
                failures.push(format!(
                    "{} -> {:?}, expected {:?}",
                    case["input"], got, expected
                ));
            }
        }
        assert_eq!(cases.len(), 71);
        assert!(
            failures.is_empty(),
            "{} of 71 failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
