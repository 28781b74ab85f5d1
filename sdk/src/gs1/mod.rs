//! GS1 keys of products, lots and shipments, converted to one canonical form.
//!
//! Supply-chain systems name the same item as an EPC URI (`urn:epc:id:sgtin:0614141.107346.2017`)
//! or as a GS1 Digital Link URI on any host (`https://example.com/01/10614141073464/21/2017`).
//! [`ProductId`] accepts both, validates them as GS1 prescribes (check digits, AI formats, key
//! qualifier order) and keeps the canonical Digital Link URI on `https://id.gs1.org`, so that
//! one item has one identity in indexes, URLs and reports.
//!
//! The parts, usable on their own:
//! * [`check_digit`](mod@check_digit): the GS1 mod-10 check digit;
//! * [`ai`]: the GS1 Application Identifier table (formats, Digital Link key qualifiers);
//! * [`digital_link`]: strict GS1 Digital Link parsing and writing ([`DigitalLink`]);
//! * [`epc_uri`]: EPC URIs of the EPC Tag Data Standard;
//! * [`normalise`]: the lenient canonicalisation the EPCIS Event Hash ID prescribes
//!   ([`normalise_epc`]), which must agree with its reference implementation rather than
//!   validate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub mod ai;
pub mod check_digit;
pub mod digital_link;
pub mod epc_uri;
mod error;
pub mod normalise;

pub use check_digit::check_digit;
pub use digital_link::{CANONICAL_STEM, DigitalLink, Element, Gs1Key, ParseOptions};
pub use error::Gs1Error;
pub use normalise::normalise_epc;

/// The canonical host of GS1 Digital Link URIs.
pub const CANONICAL_HOST: &str = CANONICAL_STEM;

/// Longest identifier accepted: far above any valid GS1 key, and a bound on work per input.
const MAX_INPUT: usize = 2048;

/// What a [`ProductId`] identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKind {
    /// One serialised trade item: GTIN + serial, `/01/…/21/…`.
    Item,
    /// A lot or batch of a trade item: GTIN + lot, `/01/…/10/…`.
    Lot,
    /// A product class: the GTIN alone, `/01/…`.
    Class,
    /// A logistic unit: SSCC, `/00/…`.
    Shipment,
    /// Any other GS1 key (ITIP, GRAI, GIAI, GLN, GDTI, CPID, …, or a GTIN with a TPX).
    Other,
}

/// A GS1 key in canonical Digital Link form, e.g. `https://id.gs1.org/01/09506000134352/21/ABC123`.
///
/// The canonical form keeps the primary key and only its most specific key qualifier, the
/// rule of the EPCIS Event Hash ID: a serial identifies the item, so a lot written with it is
/// dropped; a consumer product variant (22) is dropped. Values are percent-encoded in one way
/// (everything but `A-Z a-z 0-9 - . _ ~`), and query-string data attributes are not part of
/// the identity.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId {
    canonical: String,
    key: KeyParts,
}

/// The key in canonical order, kept to answer the accessors without re-parsing.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct KeyParts {
    primary: Element,
    qualifiers: Vec<Element>,
}

/// Keeps the most specific qualifier of a GTIN or ITIP; other keys keep theirs.
fn constrain(key: Gs1Key) -> Gs1Key {
    if key.primary.ai != "01" && key.primary.ai != "8006" {
        return key;
    }
    let find = |ai: &str| key.qualifiers.iter().find(|q| q.ai == ai).cloned();
    let qualifier = find("21").or_else(|| find("10")).or_else(|| find("235"));
    Gs1Key {
        primary: key.primary.clone(),
        qualifiers: qualifier.into_iter().collect(),
    }
}

impl ProductId {
    /// Parses an EPC URI (`urn:epc:id:sgtin:…`, `urn:epc:class:lgtin:…`,
    /// `urn:epc:idpat:sgtin:…:*`, SSCC and the other GS1 keys) or a GS1 Digital Link URI on
    /// any host, and returns its canonical form.
    ///
    /// Digital Links are validated strictly, except that the two legacy forms still printed on
    /// products are accepted ([`ParseOptions::LEGACY`]): `/gtin/`-style short names and
    /// GTIN-8/12/13, which become GTIN-14.
    pub fn parse(input: &str) -> Result<Self, Gs1Error> {
        match Self::canonical_item(input) {
            Some(id) => Ok(id),
            None => Self::parse_in_general(input),
        }
    }

    /// Every identifier `parse` takes, through the EPC URI and Digital Link parsers.
    fn parse_in_general(input: &str) -> Result<Self, Gs1Error> {
        if input.len() > MAX_INPUT {
            return Err(Gs1Error::NotAnIdentifier(error::truncate(input)));
        }
        let key = if input.starts_with("urn:epc:") {
            epc_uri::parse_epc_uri(input)?
        } else {
            DigitalLink::parse_with(input, &ParseOptions::LEGACY)?
                .key()
                .clone()
        };
        let key = constrain(key);
        Ok(Self {
            canonical: format!("{CANONICAL_STEM}{}", key.path()),
            key: KeyParts {
                primary: key.primary,
                qualifiers: key.qualifiers,
            },
        })
    }

    /// The commonest identifier on a ledger, a serialised item already in canonical form
    /// (`https://id.gs1.org/01/<GTIN-14>/21/<serial>`, the serial needing no escapes), taken
    /// as it is: a verifier reads one in every entry, and the general parser spends about a
    /// microsecond on it. `None` for anything else, which the general parser decides. A
    /// property test holds this to the general parser's answer.
    fn canonical_item(input: &str) -> Option<Self> {
        let rest = input.strip_prefix(CANONICAL_STEM)?.strip_prefix("/01/")?;
        let (gtin, serial) = (rest.get(..14)?, rest.get(14..)?.strip_prefix("/21/")?);
        let serial_fits = (1..=20).contains(&serial.len())
            && serial
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !serial_fits || !gtin.bytes().all(|b| b.is_ascii_digit()) || !check_digit::is_valid(gtin)
        {
            return None;
        }
        Some(Self {
            canonical: input.to_owned(),
            key: KeyParts {
                primary: Element::new("01", gtin),
                qualifiers: vec![Element::new("21", serial)],
            },
        })
    }

    /// The canonical Digital Link URI.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The path of the canonical URI, e.g. `/01/09506000134352/21/ABC123`: append it to a
    /// node's own resolver URL.
    pub fn digital_link_path(&self) -> &str {
        self.canonical
            .strip_prefix(CANONICAL_STEM)
            .unwrap_or(&self.canonical)
    }

    /// What the key identifies.
    pub fn kind(&self) -> ProductKind {
        match (
            self.key.primary.ai.as_str(),
            self.key.qualifiers.first().map(|q| q.ai.as_str()),
        ) {
            ("01", None) => ProductKind::Class,
            ("01", Some("21")) => ProductKind::Item,
            ("01", Some("10")) => ProductKind::Lot,
            ("00", _) => ProductKind::Shipment,
            _ => ProductKind::Other,
        }
    }

    /// The primary key and its qualifier as GS1 elements.
    pub fn key(&self) -> Gs1Key {
        Gs1Key {
            primary: self.key.primary.clone(),
            qualifiers: self.key.qualifiers.clone(),
        }
    }

    fn qualifier(&self, ai: &str) -> Option<&str> {
        self.key
            .qualifiers
            .iter()
            .find(|q| q.ai == ai)
            .map(|q| q.value.as_str())
    }

    /// The GTIN-14 of an item, lot or product class.
    pub fn gtin(&self) -> Option<&str> {
        (self.key.primary.ai == "01").then_some(self.key.primary.value.as_str())
    }

    /// The serial number (decoded) of an item (GTIN + serial, or ITIP + serial).
    pub fn serial(&self) -> Option<&str> {
        self.qualifier("21")
    }

    /// The lot or batch number (decoded) of a lot.
    pub fn lot(&self) -> Option<&str> {
        self.qualifier("10")
    }

    /// The SSCC of a logistic unit.
    pub fn sscc(&self) -> Option<&str> {
        (self.key.primary.ai == "00").then_some(self.key.primary.value.as_str())
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// GS1 character set 82, the characters of serials and lots.
    const CSET82: &str =
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

    proptest! {
        #[test]
        fn epc_and_digital_link_name_the_same_item(
            prefix_len in 6usize..=12,
            digits in proptest::collection::vec(0u8..10, 13),
            serial in proptest::collection::vec(proptest::sample::select(CSET82.chars().collect::<Vec<_>>()), 1..=20),
            host in "[a-z]{1,10}\\.example",
        ) {
            let body: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let gtin = check_digit::with_check_digit(&body).unwrap();
            let serial: String = serial.into_iter().collect();
            let epc = epc_uri::sgtin_uri(&gtin, prefix_len, &serial).unwrap();
            let dl = format!(
                "https://{host}/some/path/01/{gtin}/21/{}?17=251231&linkType=gs1:pip",
                digital_link::percent_encode(&serial)
            );
            let a = ProductId::parse(&epc).unwrap();
            let b = ProductId::parse(&dl).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.kind(), ProductKind::Item);
            prop_assert_eq!(a.gtin(), Some(gtin.as_str()));
            prop_assert_eq!(a.serial(), Some(serial.as_str()));
            prop_assert_eq!(ProductId::parse(a.as_str()).unwrap(), a.clone());
            prop_assert_eq!(a.as_str(), format!("https://id.gs1.org{}", a.digital_link_path()));
            let json = serde_json::to_string(&a).unwrap();
            prop_assert_eq!(serde_json::from_str::<ProductId>(&json).unwrap(), a.clone());
            // Where the serial needs no escaping, the Event Hash normaliser agrees.
            if serial.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
                let normalised = normalise_epc(&epc);
                prop_assert_eq!(normalised.as_deref(), Some(a.as_str()));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the shortcut for canonical items takes, the general parser reads the same
        /// way; the inputs are made to be near its edge (a wrong check digit, a serial too long
        /// or with characters needing escapes, other hosts and keys, trailing parts).
        #[test]
        fn the_canonical_item_shortcut_agrees_with_the_general_parser(
            stem in prop_oneof![
                3 => Just("https://id.gs1.org/01/"),
                1 => prop::sample::select(vec![
                    "https://id.gs1.org/00/", "http://id.gs1.org/01/",
                    "https://id.gs1.org//01/", "https://id.gs1.org/8006/",
                ]),
            ],
            digits in prop_oneof![
                3 => proptest::collection::vec(0u8..10, 14),
                1 => proptest::collection::vec(0u8..10, 12..=15),
            ],
            fix_check_digit in proptest::bool::weighted(0.8),
            separator in prop_oneof![
                3 => Just("/21/"),
                1 => prop::sample::select(vec!["/10/", "/22/", "/21//", "/21"]),
            ],
            serial in prop_oneof![
                3 => "[A-Za-z0-9._-]{0,22}",
                1 => "[A-Za-z0-9._~%/?#!-]{0,22}",
            ],
        ) {
            let mut gtin: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            if fix_check_digit && gtin.len() > 1 {
                gtin.pop();
                gtin = check_digit::with_check_digit(&gtin).unwrap();
            }
            let input = format!("{stem}{gtin}{separator}{serial}");
            if let Some(shortcut) = ProductId::canonical_item(&input) {
                prop_assert_eq!(ProductId::parse_in_general(&input).ok(), Some(shortcut.clone()), "{}", input);
                prop_assert_eq!(shortcut.as_str(), input.as_str());
            } else {
                prop_assert_eq!(ProductId::parse(&input).ok(), ProductId::parse_in_general(&input).ok());
            }
        }
    }

    #[test]
    fn the_shortcut_takes_the_ledgers_commonest_identifier() {
        let input = "https://id.gs1.org/01/09506000134352/21/P7";
        assert!(ProductId::canonical_item(input).is_some());
        assert!(ProductId::canonical_item("https://id.gs1.org/01/09506000134353/21/P7").is_none());
        assert!(
            ProductId::canonical_item("https://id.gs1.org/01/09506000134352/21/P%207").is_none()
        );
    }

    proptest! {
        #[test]
        fn no_input_makes_a_parser_panic(
            text in "(https?://[a-z.]{0,6}|urn:epc:(id|class|idpat):[a-z]{2,5}:|\\^|\\()?[ -~é%/0-9.]{0,60}",
        ) {
            let _ = ProductId::parse(&text);
            let _ = DigitalLink::parse_with(&text, &ParseOptions::LEGACY);
            let _ = normalise_epc(&text);
            let _ = epc_uri::parse_epc_uri(&text);
            let _ = digital_link::digital_link_from_element_string(&text, None, &ParseOptions::STRICT);
        }
    }

    #[test]
    fn the_kinds_of_key() {
        let item = ProductId::parse("urn:epc:id:sgtin:0614141.107346.2017").unwrap();
        let same =
            ProductId::parse("https://example.com/resolver/01/10614141073464/21/2017?x=1").unwrap();
        assert_eq!(item, same);
        assert_eq!(
            item.as_str(),
            "https://id.gs1.org/01/10614141073464/21/2017"
        );
        assert_eq!(item.kind(), ProductKind::Item);
        assert_eq!(item.serial(), Some("2017"));
        let lot = ProductId::parse("urn:epc:class:lgtin:4012345.011111.4444").unwrap();
        assert_eq!(lot.digital_link_path(), "/01/04012345111118/10/4444");
        assert_eq!((lot.kind(), lot.lot()), (ProductKind::Lot, Some("4444")));
        let sscc = ProductId::parse("urn:epc:id:sscc:4012345.3111111111").unwrap();
        assert_eq!(sscc.as_str(), "https://id.gs1.org/00/340123451111111111");
        assert_eq!(
            (sscc.kind(), sscc.sscc()),
            (ProductKind::Shipment, Some("340123451111111111"))
        );
        let class = ProductId::parse("urn:epc:idpat:sgtin:4012345.066666.*").unwrap();
        assert_eq!(
            (class.kind(), class.gtin()),
            (ProductKind::Class, Some("04012345666663"))
        );
        let gln = ProductId::parse("urn:epc:id:sgln:0614141.07346.1234").unwrap();
        assert_eq!(
            (gln.kind(), gln.as_str()),
            (
                ProductKind::Other,
                "https://id.gs1.org/414/0614141073467/254/1234"
            )
        );
        // Legacy forms still printed on products.
        let gtin13 = ProductId::parse("https://id.gs1.org/01/9506000134352").unwrap();
        assert_eq!(gtin13.as_str(), "https://id.gs1.org/01/09506000134352");
        let alphas =
            ProductId::parse("https://brand.example/gtin/09506000134352/lot/L1/ser/S1").unwrap();
        assert_eq!(
            alphas.as_str(),
            "https://id.gs1.org/01/09506000134352/21/S1"
        );
        let cpv = ProductId::parse("https://id.gs1.org/01/09506000134352/22/V").unwrap();
        assert_eq!(cpv.kind(), ProductKind::Class);
    }

    #[test]
    fn bad_keys_are_rejected() {
        for bad in [
            "https://id.gs1.org/01/09506000134353/21/X",
            "https://id.gs1.org/01/0950600013435/21/X",
            "https://id.gs1.org/01/09506000134352/21/",
            "https://id.gs1.org/01/09506000134352/21/X/10/L",
            "https://id.gs1.org/01/09506000134352/21/A%20B",
            "https://id.gs1.org/00/340123451111111112",
            "https://id.gs1.org/01/09506000134352?10=L",
            "urn:epc:id:sgtin:0614141.10734.2017",
            "urn:example:x",
            "ftp://id.gs1.org/01/09506000134352",
            "",
        ] {
            assert!(ProductId::parse(bad).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_str::<ProductId>("\"https://id.gs1.org/01/09506000134353\"").is_err()
        );
    }

    #[test]
    fn serials_are_percent_encoded_one_way() {
        let a = ProductId::parse("urn:epc:id:sgtin:4012345.011111.98%22").unwrap();
        assert_eq!(a.as_str(), "https://id.gs1.org/01/04012345111118/21/98%22");
        let b = ProductId::parse("https://id.gs1.org/01/04012345111118/21/98%22").unwrap();
        let c = ProductId::parse("https://id.gs1.org/01/04012345111118/21/98\"").ok();
        assert_eq!(a, b);
        assert_eq!(c, None, "a raw '\"' is not a URI character");
        let d = ProductId::parse("https://id.gs1.org/01/04012345111118/21/a%2db").unwrap();
        assert_eq!(d.as_str(), "https://id.gs1.org/01/04012345111118/21/a-b");
    }
}
