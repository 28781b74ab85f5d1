//! GS1 keys of products, lots and shipments, in one canonical form.
//!
//! Supply-chain systems name the same item as an EPC URI (`urn:epc:id:sgtin:0614141.107346.2017`)
//! or as a GS1 Digital Link URI on any host (`https://example.com/01/10614141073464/21/2017`).
//! [`ProductId`] accepts both and keeps the canonical Digital Link URI on `https://id.gs1.org`,
//! so that one item has one identity in indexes, URLs and reports.
//!
//! Supported keys: GTIN + serial (`01`/`21`), GTIN + lot (`01`/`10`), GTIN alone (a product
//! class), SSCC (`00`). Check digits are verified; GTIN-8/12/13 are padded to GTIN-14; a
//! Digital Link with both a lot and a serial names the item (the serial).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The canonical host of GS1 Digital Link URIs.
pub const CANONICAL_HOST: &str = "https://id.gs1.org";

/// An identifier is not a supported GS1 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a supported GS1 key: {reason}")]
pub struct Gs1Error {
    /// The rejected input (truncated).
    pub input: String,
    /// Why.
    pub reason: String,
}

fn error(input: &str, reason: impl Into<String>) -> Gs1Error {
    Gs1Error {
        input: input.chars().take(120).collect(),
        reason: reason.into(),
    }
}

/// The GS1 mod-10 check digit of `digits` (all but the check digit).
pub fn check_digit(digits: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

fn has_valid_check_digit(number: &str) -> bool {
    let Some((body, last)) = number.split_at_checked(number.len().saturating_sub(1)) else {
        return false;
    };
    !body.is_empty()
        && last.bytes().all(|c| c.is_ascii_digit())
        && check_digit(body).map(|d| d + b'0') == last.bytes().next()
}

/// GS1 AI 82 character set (used by serials and lots), after percent-decoding.
fn is_ai82(text: &str) -> bool {
    text.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"!\"%&'()*+,-./:;<=>?_".contains(&c))
}

fn percent_decode(input: &str, text: &str) -> Result<String, Gs1Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| error(input, "bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| error(input, "percent-encoding is not UTF-8"))
}

/// What a key identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKind {
    /// One serialised item (GTIN + serial).
    Item,
    /// A lot or batch (GTIN + lot).
    Lot,
    /// A product class (GTIN alone).
    Class,
    /// A logistic unit (SSCC).
    Shipment,
}

/// A GS1 key in canonical Digital Link form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId {
    canonical: String,
}

impl ProductId {
    /// Parses an EPC URI or a Digital Link URI (on any host).
    ///
    /// The conversion to the canonical form is the one the EPCIS Event Hash ID uses
    /// ([`crate::epcis::normalise`]), so a product has the same identity in Tally's indexes and
    /// in event hashes; on top of it, only product keys are accepted and check digits and
    /// serial/lot characters are verified.
    pub fn parse(input: &str) -> Result<Self, Gs1Error> {
        if input.len() > 512 {
            return Err(error(input, "too long"));
        }
        let canonical = crate::epcis::normalise::normalise(input).ok_or_else(|| {
            error(
                input,
                "expected an EPC URI (urn:epc:...) or a GS1 Digital Link URI of a GS1 key",
            )
        })?;
        let path = canonical.strip_prefix(CANONICAL_HOST).unwrap_or(&canonical);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["00", sscc] if has_valid_check_digit(sscc) => {}
            ["00", _] => return Err(error(input, "the SSCC's check digit is wrong")),
            ["01", gtin, rest @ ..] => {
                if !has_valid_check_digit(gtin) {
                    return Err(error(input, "the GTIN's check digit is wrong"));
                }
                match rest {
                    [] => {}
                    ["21" | "10", value] => {
                        let decoded = percent_decode(input, value)?;
                        if decoded.is_empty() || decoded.len() > 20 || !is_ai82(&decoded) {
                            return Err(error(
                                input,
                                "a serial or lot is 1 to 20 GS1 AI-82 characters",
                            ));
                        }
                    }
                    _ => {
                        return Err(error(
                            input,
                            "not a product key (GTIN, GTIN + lot, GTIN + serial)",
                        ));
                    }
                }
            }
            _ => {
                return Err(error(
                    input,
                    "not a product key: Tally tracks GTINs (with serial or lot) and SSCCs",
                ));
            }
        }
        Ok(Self { canonical })
    }

    /// The canonical Digital Link URI.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The path part, e.g. `/01/09506000134352/21/ABC123`.
    pub fn digital_link_path(&self) -> &str {
        &self.canonical[CANONICAL_HOST.len()..]
    }

    /// What the key identifies.
    pub fn kind(&self) -> ProductKind {
        let path = self.digital_link_path();
        if path.starts_with("/00/") {
            ProductKind::Shipment
        } else if path.contains("/21/") {
            ProductKind::Item
        } else if path.contains("/10/") {
            ProductKind::Lot
        } else {
            ProductKind::Class
        }
    }
}

impl fmt::Debug for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductId({})", self.canonical)
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl std::str::FromStr for ProductId {
    type Err = Gs1Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ProductId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for ProductId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn epc_and_digital_link_name_the_same_item(
            prefix_len in 6usize..=12,
            digits in proptest::collection::vec(0u8..10, 13),
            serial in "[A-Za-z0-9_-]{1,20}",
        ) {
            let digits: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let (indicator, rest) = digits.split_at(1);
            let (prefix, item) = rest.split_at(prefix_len);
            let epc = format!("urn:epc:id:sgtin:{prefix}.{indicator}{item}.{serial}");
            let body = format!("{indicator}{prefix}{item}");
            let gtin = format!("{body}{}", check_digit(&body).unwrap());
            let dl = format!("https://brand.example/01/{gtin}/21/{serial}?linkType=gs1:pip");
            let a = ProductId::parse(&epc).unwrap();
            let b = ProductId::parse(&dl).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(ProductId::parse(a.as_str()).unwrap(), a.clone());
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<ProductId>(&json).unwrap(), a);
        }
    }

    #[test]
    fn epc_and_digital_link_agree() {
        let a = ProductId::parse("urn:epc:id:sgtin:0614141.107346.2017").unwrap();
        let b =
            ProductId::parse("https://example.com/resolver/01/10614141073464/21/2017?x=1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "https://id.gs1.org/01/10614141073464/21/2017");
        assert_eq!(a.kind(), ProductKind::Item);
        let lot = ProductId::parse("urn:epc:class:lgtin:4012345.011111.4444").unwrap();
        assert_eq!(lot.digital_link_path(), "/01/04012345111118/10/4444");
        assert_eq!(lot.kind(), ProductKind::Lot);
        let sscc = ProductId::parse("urn:epc:id:sscc:4012345.3111111111").unwrap();
        assert_eq!(sscc.as_str(), "https://id.gs1.org/00/340123451111111111");
        assert_eq!(sscc.kind(), ProductKind::Shipment);
        let class = ProductId::parse("urn:epc:idpat:sgtin:4012345.066666.*").unwrap();
        assert_eq!(class.kind(), ProductKind::Class);
        let gtin13 = ProductId::parse("https://id.gs1.org/01/9506000134352").unwrap();
        assert_eq!(gtin13.as_str(), "https://id.gs1.org/01/09506000134352");
    }

    #[test]
    fn bad_keys_are_rejected() {
        for bad in [
            "https://id.gs1.org/01/09506000134353/21/X", // check digit
            "https://id.gs1.org/01/0950600013435/21/X",  // 13 digits, wrong check
            "https://id.gs1.org/01/09506000134352/21/",  // empty serial
            "https://id.gs1.org/01/09506000134352/21/X/10/L", // qualifier order
            "https://id.gs1.org/00/340123451111111112",  // SSCC check digit
            "urn:epc:id:sgtin:0614141.10734.2017",       // 12 digits
            "urn:epc:id:sgln:0614141.07346.1234",        // a location, not a product
            "urn:example:x",
            "ftp://id.gs1.org/01/09506000134352",
        ] {
            assert!(ProductId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serials_are_percent_encoded_canonically() {
        let a = ProductId::parse("urn:epc:id:sgtin:4012345.011111.98%22").unwrap();
        assert_eq!(a.as_str(), "https://id.gs1.org/01/04012345111118/21/98%22");
        let b = ProductId::parse("https://id.gs1.org/01/04012345111118/21/98%22").unwrap();
        assert_eq!(a, b);
    }
}
