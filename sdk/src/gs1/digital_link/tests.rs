//! Unit tests of `digital_link`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::Value;

#[test]
fn a_long_run_of_brackets_in_an_element_string_is_read_in_linear_time() {
    // Found while sizing the fuzz targets (`tests/src/fuzz`): every '(' searched the rest
    // of the text for a ')', so 200,000 of them ran past the fuzzer's 1 s (release build);
    // now milliseconds. (Speed is not asserted here: the fuzz runs bound it.)
    let data = format!("(01)09506000134352(21){}", "(".repeat(200_000));
    let elements = parse_element_string(&data).unwrap();
    assert_eq!(elements.len(), 2);
    assert_eq!(elements[1].value.len(), 200_000);
    // A value holding brackets that close no AI stays whole; a real AI still splits.
    let data = "(01)09506000134352(21)a(b)c(12345)d(10)LOT";
    let elements = parse_element_string(data).unwrap();
    assert_eq!(elements[1].value, "a(b)c(12345)d");
    assert_eq!(elements[2], Element::new("10", "LOT"));
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/digital-link/gs1-syntax-engine/dl_uri_test_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn options(case: &Value, key: &str) -> ParseOptions {
    let mut options = ParseOptions::STRICT;
    if let Some(o) = case.get(key) {
        let flag =
            |name: &str, default: bool| o.get(name).and_then(Value::as_bool).unwrap_or(default);
        options.permit_convenience_alphas = flag("permitConvenienceAlphas", false);
        options.permit_zero_suppressed_gtin = flag("permitZeroSuppressedGTINinDLuris", false);
        options.permit_unknown_ais = flag("permitUnknownAIs", false);
        options.validate_unknown_ai_not_dl_attribute = flag("validate_unknownAInotDLattr", true);
    }
    options
}

#[test]
fn every_strict_parse_vector() {
    let vectors = vectors();
    let cases = vectors["parse"].as_array().unwrap();
    assert_eq!(cases.len(), 120);
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for case in cases {
        let uri = case["uri"].as_str().unwrap();
        let got = DigitalLink::parse_with(uri, &options(case, "parser_options"));
        let want_valid = case["valid"].as_bool().unwrap();
        match (&got, want_valid) {
            (Ok(link), true) => {
                valid += 1;
                if let Some(want) = case["expected_element_string"].as_str()
                    && link.element_string() != want
                {
                    failures.push(format!(
                        "{uri}: element string {} want {want}",
                        link.element_string()
                    ));
                }
            }
            (Err(_), false) => invalid += 1,
            (Ok(link), false) => failures.push(format!(
                "{uri} ({:?}): accepted as {}",
                case.get("parser_options"),
                link.element_string()
            )),
            (Err(e), true) => failures.push(format!(
                "{uri} ({:?}): rejected: {e}",
                case.get("parser_options")
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!((valid, invalid), (74, 46));
}

#[test]
fn every_generate_vector() {
    let vectors = vectors();
    let cases = vectors["generate"].as_array().unwrap();
    assert_eq!(cases.len(), 25);
    let mut failures = Vec::new();
    for case in cases {
        let stem = case["stem"].as_str();
        let options = options(case, "encoder_options");
        let got = if let Some(uri) = case["input_dl_uri"].as_str() {
            DigitalLink::parse_with(uri, &options)
                .map(|l| l.with_stem(stem.unwrap_or(CANONICAL_STEM)))
        } else {
            let data = case["ai_element_string"]
                .as_str()
                .or(case["ai_element_string_unbracketed"].as_str())
                .unwrap();
            digital_link_from_element_string(data, stem, &options)
        };
        let want = case["expected_uri"].as_str();
        let ok = match (&got, case["should_succeed"].as_bool().unwrap()) {
            (Ok(uri), true) => Some(uri.as_str()) == want,
            (Err(_), false) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{case}: got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parts_of_a_link() {
    let link = DigitalLink::parse("https://example.com/some/prefix/01/09506000134352/10/L%2F1/21/ABC?17=251231&linkType=gs1:pip#x").unwrap();
    assert_eq!(link.stem(), "https://example.com/some/prefix");
    assert_eq!(link.key().primary, Element::new("01", "09506000134352"));
    assert_eq!(
        link.key().qualifiers,
        vec![Element::new("10", "L/1"), Element::new("21", "ABC")]
    );
    assert_eq!(link.attributes(), &[Element::new("17", "251231")]);
    assert_eq!(link.other_parameters(), &["linkType=gs1:pip".to_owned()]);
    assert_eq!(
        link.canonical(),
        "https://id.gs1.org/01/09506000134352/10/L%2F1/21/ABC?17=251231"
    );
    assert_eq!(
        link.bracketed(),
        "(01)09506000134352(10)L/1(21)ABC(17)251231"
    );
    assert_eq!(
        link.to_string(),
        "https://example.com/some/prefix/01/09506000134352/10/L%2F1/21/ABC?17=251231"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |uri: &str| DigitalLink::parse(uri).unwrap_err().to_string();
    assert!(err("https://a/01/09506000134353").contains("csum"));
    assert!(err("https://a/01/09506000134352/21/A/10/B").contains("order"));
    assert!(err("https://a/01/09506000134352?10=B").contains("path"));
    assert!(err("https://a/01/09506000134352?21=B").contains("data attribute"));
    assert!(err("https://a/x/y").contains("primary key"));
    assert!(err("https://a/01/09506000134352?3103=000195&3103=000195").contains("more than once"));
}
