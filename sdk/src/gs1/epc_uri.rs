//! EPC URIs of the EPC Tag Data Standard (pure identities `urn:epc:id:...`, the lot-level
//! class `urn:epc:class:lgtin:...` and the product-class patterns `urn:epc:idpat:...:*`),
//! read into the GS1 key they encode: company prefix and reference become the key with its
//! indicator or extension digit moved to the front and the check digit computed, the serial or
//! lot becomes its key qualifier.
//!
//! Serials are checked as the standard says: at most the AI's length, GS1 character set 82,
//! and the characters `" % & / < > ?` only percent-escaped.

use super::Gs1Error;
use super::check_digit::with_check_digit;
use super::digital_link::{Element, Gs1Key};

/// Characters an EPC URI component may hold unescaped.
fn is_raw_epc_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_!'()*+,.:;=".contains(&b)
}

/// Decodes an EPC URI serial-like component: unescaped characters and `%XX` escapes of GS1
/// character set 82, at most `max` characters once decoded.
fn component(uri: &str, what: &str, text: &str, max: usize) -> Result<String, Gs1Error> {
    component_of(uri, what, text, max, is_cset82)
}

fn is_cset82(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!\"%&'()*+,-./:;<=>?_".contains(&c)
}

/// [`component`] for a character set other than CSET 82.
fn component_of(
    uri: &str,
    what: &str,
    text: &str,
    max: usize,
    allowed: fn(u8) -> bool,
) -> Result<String, Gs1Error> {
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|&c| allowed(c))
                .ok_or_else(|| Gs1Error::epc(uri, format!("the {what} has a bad %-escape")))?;
            out.push(char::from(decoded));
            i += 3;
        } else if is_raw_epc_char(b) && allowed(b) {
            out.push(char::from(b));
            i += 1;
        } else {
            return Err(Gs1Error::epc(
                uri,
                format!("the {what} may not hold {:?} unescaped", char::from(b)),
            ));
        }
    }
    let count = out.chars().count();
    if count == 0 || count > max {
        return Err(Gs1Error::epc(
            uri,
            format!("the {what} must be 1 to {max} characters"),
        ));
    }
    Ok(out)
}

fn digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// The company prefix (6 to 12 digits) and a numeric reference that make `total` digits.
fn company_and_reference<'a>(
    uri: &str,
    cp: &'a str,
    reference: &'a str,
    total: usize,
) -> Result<(&'a str, &'a str), Gs1Error> {
    if !(6..=12).contains(&cp.len()) || !digits(cp) {
        return Err(Gs1Error::epc(
            uri,
            "the GS1 Company Prefix must be 6 to 12 digits",
        ));
    }
    if cp.len() + reference.len() != total || !digits(reference) {
        return Err(Gs1Error::epc(
            uri,
            format!("company prefix and reference must be {total} digits together"),
        ));
    }
    Ok((cp, reference))
}

fn check(uri: &str, body: &str) -> Result<String, Gs1Error> {
    with_check_digit(body).ok_or_else(|| Gs1Error::epc(uri, "not numeric"))
}

/// GTIN-14 from company prefix and indicator digit + item reference.
fn gtin(uri: &str, cp: &str, item: &str) -> Result<String, Gs1Error> {
    let (cp, item) = company_and_reference(uri, cp, item, 13)?;
    let (indicator, rest) = item.split_at(1);
    check(uri, &format!("{indicator}{cp}{rest}"))
}

fn parts<'a, const N: usize>(uri: &str, body: &'a str) -> Result<[&'a str; N], Gs1Error> {
    let parts: Vec<&str> = body.splitn(N, '.').collect();
    parts
        .try_into()
        .map_err(|_| Gs1Error::epc(uri, format!("expected {N} parts separated by '.'")))
}

fn key(primary: (&str, String), qualifiers: Vec<(&str, String)>) -> Gs1Key {
    Gs1Key {
        primary: Element::new(primary.0, primary.1),
        qualifiers: qualifiers
            .into_iter()
            .map(|(ai, v)| Element::new(ai, v))
            .collect(),
    }
}

/// Reads an EPC URI into the GS1 key it encodes.
///
/// Supported: `id:` sgtin, sscc, sgln, grai, giai, gsrn, gsrnp, gdti, cpi, sgcn, ginc, gsin,
/// itip, upui, pgln; `class:lgtin`; `idpat:` sgtin, upui, grai, gdti, sgcn, cpi, itip with
/// the serial as `*`.
pub fn parse_epc_uri(uri: &str) -> Result<Gs1Key, Gs1Error> {
    let rest = uri
        .strip_prefix("urn:epc:")
        .ok_or_else(|| Gs1Error::NotAnIdentifier(super::error::truncate(uri)))?;
    let (kind, body) = rest
        .split_once(':')
        .and_then(|(kind, r)| {
            r.split_once(':')
                .map(|(scheme, body)| ((kind, scheme), body))
        })
        .ok_or_else(|| Gs1Error::epc(uri, "expected urn:epc:<id|class|idpat>:<scheme>:<fields>"))?;
    Ok(match kind {
        ("id", "sgtin") => {
            let [cp, item, serial] = parts(uri, body)?;
            key(
                ("01", gtin(uri, cp, item)?),
                vec![("21", component(uri, "serial", serial, 20)?)],
            )
        }
        ("class", "lgtin") => {
            let [cp, item, lot] = parts(uri, body)?;
            key(
                ("01", gtin(uri, cp, item)?),
                vec![("10", component(uri, "lot", lot, 20)?)],
            )
        }
        ("idpat", "sgtin" | "upui") => {
            let [cp, item, star] = parts(uri, body)?;
            if star != "*" {
                return Err(Gs1Error::epc(uri, "a product-class pattern ends in .*"));
            }
            key(("01", gtin(uri, cp, item)?), vec![])
        }
        ("id", "sscc") => {
            let [cp, serial] = parts(uri, body)?;
            let (cp, serial) = company_and_reference(uri, cp, serial, 17)?;
            let (extension, rest) = serial.split_at(1);
            key(
                ("00", check(uri, &format!("{extension}{cp}{rest}"))?),
                vec![],
            )
        }
        ("id", "sgln") => {
            let [cp, location, extension] = parts(uri, body)?;
            let (cp, location) = company_and_reference(uri, cp, location, 12)?;
            let gln = check(uri, &format!("{cp}{location}"))?;
            // Extension "0" is the GLN without extension.
            if extension == "0" {
                key(("414", gln), vec![])
            } else {
                key(
                    ("414", gln),
                    vec![("254", component(uri, "extension", extension, 20)?)],
                )
            }
        }
        ("id", "pgln") => {
            let [cp, party] = parts(uri, body)?;
            let (cp, party) = company_and_reference(uri, cp, party, 12)?;
            key(("417", check(uri, &format!("{cp}{party}"))?), vec![])
        }
        ("id" | "idpat", "grai" | "gdti" | "sgcn") => {
            let scheme = kind.1;
            let [cp, reference, serial] = parts(uri, body)?;
            let (cp, reference) = company_and_reference(uri, cp, reference, 12)?;
            let body = check(uri, &format!("{cp}{reference}"))?;
            let (ai, body) = match scheme {
                "grai" => ("8003", format!("0{body}")),
                "gdti" => ("253", body),
                _ => ("255", body),
            };
            let serial = match (kind.0, serial) {
                ("idpat", "*") => String::new(),
                ("idpat", _) => return Err(Gs1Error::epc(uri, "a class pattern ends in .*")),
                (_, serial) if scheme == "sgcn" => {
                    if serial.is_empty() || serial.len() > 12 || !digits(serial) {
                        return Err(Gs1Error::epc(
                            uri,
                            "the coupon serial must be 1 to 12 digits",
                        ));
                    }
                    serial.to_owned()
                }
                (_, serial) => component(
                    uri,
                    "serial",
                    serial,
                    if scheme == "grai" { 16 } else { 17 },
                )?,
            };
            key((ai, format!("{body}{serial}")), vec![])
        }
        ("id", "giai" | "ginc") => {
            let [cp, reference] = parts(uri, body)?;
            if !(6..=12).contains(&cp.len()) || !digits(cp) {
                return Err(Gs1Error::epc(
                    uri,
                    "the GS1 Company Prefix must be 6 to 12 digits",
                ));
            }
            let what = if kind.1 == "giai" {
                "asset reference"
            } else {
                "consignment reference"
            };
            let reference = component(uri, what, reference, 30 - cp.len())?;
            key(
                (
                    if kind.1 == "giai" { "8004" } else { "401" },
                    format!("{cp}{reference}"),
                ),
                vec![],
            )
        }
        ("id", "gsrn" | "gsrnp") => {
            let [cp, service] = parts(uri, body)?;
            let (cp, service) = company_and_reference(uri, cp, service, 17)?;
            let ai = if kind.1 == "gsrn" { "8018" } else { "8017" };
            key((ai, check(uri, &format!("{cp}{service}"))?), vec![])
        }
        ("id", "gsin") => {
            let [cp, shipper] = parts(uri, body)?;
            let (cp, shipper) = company_and_reference(uri, cp, shipper, 16)?;
            key(("402", check(uri, &format!("{cp}{shipper}"))?), vec![])
        }
        ("id" | "idpat", "cpi") => {
            // The component reference may hold '.', escaped or not, so the serial is the last part.
            let (head, serial) = body.rsplit_once('.').ok_or_else(|| {
                Gs1Error::epc(uri, "expected <company prefix>.<reference>.<serial>")
            })?;
            let (cp, reference) = head.split_once('.').ok_or_else(|| {
                Gs1Error::epc(uri, "expected <company prefix>.<reference>.<serial>")
            })?;
            if !(6..=12).contains(&cp.len()) || !digits(cp) {
                return Err(Gs1Error::epc(
                    uri,
                    "the GS1 Company Prefix must be 6 to 12 digits",
                ));
            }
            // CSET 39: 0-9, A-Z, '-', and '#' and '/' escaped.
            let cset39 =
                |b: u8| b.is_ascii_digit() || b.is_ascii_uppercase() || b"-#/".contains(&b);
            let reference = component_of(
                uri,
                "component/part reference",
                reference,
                30 - cp.len(),
                cset39,
            )?;
            let cpid = format!("{cp}{reference}");
            match (kind.0, serial) {
                ("idpat", "*") => key(("8010", cpid), vec![]),
                ("idpat", _) => return Err(Gs1Error::epc(uri, "a class pattern ends in .*")),
                (_, serial) if !serial.is_empty() && serial.len() <= 12 && digits(serial) => {
                    key(("8010", cpid), vec![("8011", serial.to_owned())])
                }
                _ => return Err(Gs1Error::epc(uri, "the CPI serial must be 1 to 12 digits")),
            }
        }
        ("id" | "idpat", "itip") => {
            let [cp, item, piece, total, serial] = parts(uri, body)?;
            let pair = |t: &str| t.len() == 2 && digits(t);
            if !pair(piece) || !pair(total) {
                return Err(Gs1Error::epc(
                    uri,
                    "piece and total must be two digits each",
                ));
            }
            let itip = format!("{}{piece}{total}", gtin(uri, cp, item)?);
            match (kind.0, serial) {
                ("idpat", "*") => key(("8006", itip), vec![]),
                ("idpat", _) => return Err(Gs1Error::epc(uri, "a class pattern ends in .*")),
                (_, serial) => key(
                    ("8006", itip),
                    vec![("21", component(uri, "serial", serial, 20)?)],
                ),
            }
        }
        ("id", "upui") => {
            let [cp, item, tpx] = parts(uri, body)?;
            key(
                ("01", gtin(uri, cp, item)?),
                vec![("235", component(uri, "TPX", tpx, 28)?)],
            )
        }
        _ => {
            return Err(Gs1Error::epc(
                uri,
                "this EPC scheme is not a GS1 key Tally supports",
            ));
        }
    })
}

/// Escapes a serial for an EPC URI: the characters the EPC Tag Data Standard reserves.
pub fn escape_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '%' | '&' | '/' | '<' | '>' | '?' => {
                out.push_str(&format!("%{:02X}", u32::from(c)))
            }
            other => out.push(other),
        }
    }
    out
}

/// The SGTIN EPC URI of a GTIN-14 and serial, the company prefix being the first
/// `company_prefix_len` digits after the indicator digit. `None` if the GTIN is not 14
/// digits or the length is not 6 to 12.
pub fn sgtin_uri(gtin14: &str, company_prefix_len: usize, serial: &str) -> Option<String> {
    if gtin14.len() != 14 || !digits(gtin14) || !(6..=12).contains(&company_prefix_len) {
        return None;
    }
    let (indicator, rest) = gtin14.split_at(1);
    let (cp, item) = rest.split_at(company_prefix_len);
    let item = &item[..item.len() - 1];
    Some(format!(
        "urn:epc:id:sgtin:{cp}.{indicator}{item}.{}",
        escape_component(serial)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn path(uri: &str) -> String {
        parse_epc_uri(uri).unwrap().path()
    }

    #[test]
    fn keys_of_epc_uris() {
        assert_eq!(
            path("urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()"),
            "/01/80614141123458/21/6789%2F%26%25%22%21%3F%28%29"
        );
        assert_eq!(
            path("urn:epc:id:sscc:4012345.3111111111"),
            "/00/340123451111111111"
        );
        assert_eq!(
            path("urn:epc:id:sgln:4012345.00005.0"),
            "/414/4012345000054"
        );
        assert_eq!(
            path("urn:epc:id:sgln:4012345.00005.122"),
            "/414/4012345000054/254/122"
        );
        assert_eq!(
            path("urn:epc:id:grai:4012345.00022.334455"),
            "/8003/04012345000221334455"
        );
        assert_eq!(
            path("urn:epc:id:giai:4012345.ABC345"),
            "/8004/4012345ABC345"
        );
        assert_eq!(
            path("urn:epc:id:gsrn:4012345.0000006765"),
            "/8018/401234500000067657"
        );
        assert_eq!(
            path("urn:epc:id:gsrnp:4012345.0000000007"),
            "/8017/401234500000000074"
        );
        assert_eq!(
            path("urn:epc:id:gdti:4012345.00009.PO-4711"),
            "/253/4012345000092PO-4711"
        );
        assert_eq!(
            path("urn:epc:id:gdti:987659999999..9"),
            "/253/98765999999929"
        );
        assert_eq!(
            path("urn:epc:id:cpi:0614141.11111111111111-A%23%2F.1234"),
            "/8010/061414111111111111111-A%23%2F/8011/1234"
        );
        assert_eq!(
            path("urn:epc:id:sgcn:4012345.67890.04711"),
            "/255/401234567890104711"
        );
        assert_eq!(
            path("urn:epc:id:ginc:0614141.xyz47%2F11"),
            "/401/0614141xyz47%2F11"
        );
        assert_eq!(
            path("urn:epc:id:gsin:4012345.222333444"),
            "/402/40123452223334442"
        );
        assert_eq!(
            path("urn:epc:id:itip:4012345.011111.01.02.987"),
            "/8006/040123451111180102/21/987"
        );
        assert_eq!(
            path("urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7SDB"),
            "/01/01234567987651/235/51qIgY%29%3C%26Jp3%2Aj7SDB"
        );
        assert_eq!(path("urn:epc:id:pgln:999999999999."), "/417/9999999999994");
        assert_eq!(
            path("urn:epc:class:lgtin:4012345.012345.Lot987"),
            "/01/04012345123456/10/Lot987"
        );
        assert_eq!(
            path("urn:epc:idpat:sgtin:4012345.012345.*"),
            "/01/04012345123456"
        );
        assert_eq!(
            path("urn:epc:idpat:grai:4012345.99999.*"),
            "/8003/04012345999990"
        );
        assert_eq!(
            path("urn:epc:idpat:itip:4012345.012345.01.02.*"),
            "/8006/040123451234560102"
        );
    }

    #[test]
    fn bad_epc_uris() {
        for bad in [
            "urn:epc:id:sgtin:0614141.10734.2017",
            "urn:epc:id:sgtin:06141.1073467.2017",
            "urn:epc:id:sgtin:0614141.107346.",
            "urn:epc:id:sgtin:0614141.107346.123456789012345678901",
            "urn:epc:id:sgtin:0614141.107346.a/b",
            "urn:epc:id:sgtin:0614141.107346.%G1",
            "urn:epc:id:sscc:4012345.311111111",
            "urn:epc:idpat:sgtin:4012345.*.*",
            "urn:epc:id:gid:95100000.12345.400",
            "urn:epc:id:cpi:0614141.abc.1",
            "urn:example:x",
        ] {
            assert!(parse_epc_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sgtin_rendering() {
        assert_eq!(
            sgtin_uri("10614141073464", 7, "20/17").as_deref(),
            Some("urn:epc:id:sgtin:0614141.107346.20%2F17")
        );
        assert_eq!(
            path(&sgtin_uri("10614141073464", 7, "a\"%&/<>?b").unwrap()),
            "/01/10614141073464/21/a%22%25%26%2F%3C%3E%3Fb"
        );
    }
}
