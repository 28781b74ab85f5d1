//! The one-pass check against the rule it replaces: parse, canonicalise, compare.

use super::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The rule as it was applied before: canonical when canonicalising the parsed text gives the
/// text back.
fn by_reparsing(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| serde_json_canonicalizer::to_string(&value).ok())
        .is_some_and(|canonical| canonical == text)
}

fn agree(text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        check(text).is_ok(),
        by_reparsing(text),
        "the check and the rule disagree on {:?}",
        text
    );
    Ok(())
}

/// Characters that exercise escaping and the UTF-16 order of names.
fn arb_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'b', 'B', '1', ' ', '/']),
        2 => prop::sample::select(vec!['"', '\\', '\u{7f}', '\u{2028}', 'é']),
        2 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('?')),
        2 => prop::sample::select(vec!['\u{e000}', '\u{ffff}', '\u{10000}', '\u{1f600}']),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_char(), 0..5).prop_map(|chars| chars.into_iter().collect())
}

fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-1000i64..1000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        (-1000i32..1000, 0u32..4)
            .prop_map(|(m, scale)| { Value::from(f64::from(m) / f64::from(10u32.pow(scale))) }),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            // Names in the order generated (serde_json keeps insertion order here), so
            // `to_string` gives texts whose members are out of order.
            prop::collection::vec((arb_text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn canonical(value: &Value) -> String {
    serde_json_canonicalizer::to_string(value).unwrap()
}

/// Number tokens in every shape JSON allows, canonical or not.
fn arb_number_token() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?"
}

/// Escapes, valid JSON or not, canonical or not.
fn arb_escape() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\\\u[0-9a-fA-F]{4}",
        "\\\\u00[01][0-9a-fA-F]",
        "\\\\[\"\\\\/bfnrtux0]",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn canonical_text_of_any_value_passes(value in arb_json()) {
        let text = canonical(&value);
        prop_assert_eq!(check(&text), Ok(()), "{}", text);
    }

    #[test]
    fn writes_what_the_canonicaliser_writes(value in arb_json()) {
        prop_assert_eq!(write(&value).unwrap(), canonical(&value));
    }

    #[test]
    fn agrees_on_texts_as_serde_json_writes_them(value in arb_json()) {
        agree(&serde_json::to_string(&value).unwrap())?;
        agree(&serde_json::to_string_pretty(&value).unwrap())?;
    }

    #[test]
    fn agrees_on_canonical_text_with_a_character_inserted_or_removed(
        value in arb_json(),
        at in any::<prop::sample::Index>(),
        inserted in prop::sample::select(vec![
            ' ', ',', ':', '"', '\\', '0', '1', '.', 'e', 'E', '+', '-', '{', '}', '[', ']',
            'u', 'n', '\n', '\u{1}', '\u{1f}', 'é',
        ]),
    ) {
        let text = canonical(&value);
        let boundaries: Vec<usize> =
            (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        let i = boundaries[at.index(boundaries.len())];
        let mut longer = text.clone();
        longer.insert(i, inserted);
        agree(&longer)?;
        if let Some(c) = text[i..].chars().next() {
            let mut shorter = text.clone();
            shorter.replace_range(i..i + c.len_utf8(), "");
            agree(&shorter)?;
        }
    }

    #[test]
    fn agrees_on_every_way_of_writing_a_number(token in arb_number_token()) {
        agree(&token)?;
        agree(&format!("[{token}]"))?;
        agree(&format!("{{\"n\":{token}}}"))?;
    }

    #[test]
    fn agrees_on_every_escape(escape in arb_escape(), before in arb_text()) {
        let before = canonical(&Value::String(before));
        let inner = &before[1..before.len() - 1];
        agree(&format!("\"{inner}{escape}\""))?;
        agree(&format!("{{\"{escape}\":1,\"a\":2}}"))?;
        agree(&format!("{{\"a\":1,\"{escape}\":2}}"))?;
    }

    #[test]
    fn agrees_on_pairs_of_names(first in arb_text(), second in arb_text()) {
        let first = canonical(&Value::String(first));
        let second = canonical(&Value::String(second));
        agree(&format!("{{{first}:1,{second}:2}}"))?;
    }
}

#[test]
fn nesting_is_limited_where_serde_json_limits_it() {
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        for text in [arrays, objects] {
            assert_eq!(check(&text).is_ok(), by_reparsing(&text), "depth {depth}");
            assert_eq!(check(&text).is_ok(), depth <= MAX_DEPTH, "depth {depth}");
        }
    }
}

#[test]
fn each_departure_from_canonical_form_is_named() {
    let cases = [
        (r#"{"a":1} "#, "text after the value"),
        (r#"{"a": 1}"#, "whitespace outside a string"),
        (r#"{"b":1,"a":2}"#, "member names are not in UTF-16 order"),
        (r#"{"a":1,"a":2}"#, "a member name appears twice"),
        (r#"["\/"]"#, "an escape canonical JSON does not use"),
        (r#"["\u0041"]"#, "a \\u escape of something printed as is"),
        (r#"["\u001F"]"#, "a \\u escape of something printed as is"),
        (
            r#"["\u000a"]"#,
            "a \\u escape of a character with a short escape",
        ),
        ("[\"\u{1}\"]", "a control character not escaped"),
        ("[\"\u{1f}\"]", "a control character not escaped"),
        ("[1.50]", "a number not written as ECMAScript writes it"),
        ("[1E2]", "a number not written as ECMAScript writes it"),
        ("[-0]", "a number not written as ECMAScript writes it"),
        (
            "[9007199254740993]",
            "a number not written as ECMAScript writes it",
        ),
        ("[01]", "expected ',' or ']' right after an element"),
        ("[tru]", "not the start of a JSON value"),
        (r#"{"a":1"#, "expected ',' or '}' right after a member"),
        ("", "a value is missing"),
    ];
    for (text, reason) in cases {
        assert!(!by_reparsing(text), "{text:?} is canonical after all");
        assert_eq!(check(text).map_err(|e| e.reason), Err(reason), "{text:?}");
    }
}

#[test]
fn canonical_forms_that_look_unusual_pass() {
    for value in [
        json!({"\u{1f600}": 1, "\u{e000}": 2}),
        json!([
            "\u{7f}\u{2028}/",
            "\u{1f}\u{8}",
            1e21,
            1e-7,
            123456789012345u64,
            -0.5
        ]),
        json!({"": [], "a": {}, "b": null}),
    ] {
        let text = canonical(&value);
        assert_eq!(check(&text), Ok(()), "{text}");
        assert_eq!(write(&value).unwrap(), text);
    }
}

#[test]
fn integers_at_the_edge_of_exact_doubles_are_written_as_the_canonicaliser_writes_them() {
    let edge = 1i64 << 53;
    for n in [
        edge - 1,
        edge,
        edge + 1,
        edge + 2,
        -edge - 1,
        -edge,
        i64::MIN,
        i64::MAX,
    ] {
        assert_eq!(write(&json!(n)).unwrap(), canonical(&json!(n)), "{n}");
    }
    assert_eq!(
        write(&json!(u64::MAX)).unwrap(),
        canonical(&json!(u64::MAX))
    );
}
