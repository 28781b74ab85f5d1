//! Validation against the EPCIS 2.0 JSON Schema.
//!
//! The schema is the ratified EPCIS 2.0.1 JSON Schema in one file, embedded in the crate
//! (`schema/epcis-json-schema-2.0.1.json`; origin and licence in `schema/README.md`), so
//! validation reads no file and fetches nothing: the validator is built without remote or file
//! reference resolution, and the schema has no external references. It dispatches on `type`:
//! `EPCISDocument`, `EPCISQueryDocument` and each event type (an event on its own must carry its
//! own `@context`).
//!
//! [`validate`] reports every violation (up to [`MAX_VIOLATIONS`]) as a [`Violation`]: the JSON
//! path of the offending value, `$.epcisBody.eventList[3].eventTime`, and what is wrong with it.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

/// The embedded schema text.
const SCHEMA_TEXT: &str = include_str!("schema/epcis-json-schema-2.0.1.json");

/// SHA-256 of the embedded schema file, as published (checked by a test, so a changed copy is
/// a deliberate change).
pub const SCHEMA_SHA256: &str = "c8f315688244cb566ee8569f3fd5861bbe0af8ec532fc319cb1504ae75ec679a";

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "https://ref.gs1.org/standards/epcis/2.0.1/epcis-json-schema.json";

/// At most this many violations are reported for one document; the rest are counted.
pub const MAX_VIOLATIONS: usize = 100;

/// A violation message longer than this is cut (schema messages may quote whole values).
const MAX_MESSAGE: usize = 300;

/// One way a document or event breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Violation {
    /// JSON path of the offending value from the root of what was validated, e.g.
    /// `$.epcisBody.eventList[3].eventTime`.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// A value does not conform to the EPCIS 2.0 JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The value breaks the schema.
    #[error("{} schema violation(s); first: {}", .total, .violations.first().map(ToString::to_string).unwrap_or_default())]
    Invalid {
        /// The violations, at most [`MAX_VIOLATIONS`].
        violations: Vec<Violation>,
        /// How many there are in all.
        total: usize,
    },
    /// The embedded schema could not be compiled (a defect of this build, never of the input).
    #[error("the embedded EPCIS JSON Schema does not compile: {0}")]
    Unavailable(String),
}

fn compiled() -> Result<&'static Validator, SchemaError> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(SCHEMA_TEXT).map_err(|e| e.to_string())?;
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .should_validate_formats(true)
                .offline()
                .build(&schema)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SchemaError::Unavailable(e.clone()))
}

/// A JSON pointer (`/epcisBody/eventList/3`) as a JSON path (`$.epcisBody.eventList[3]`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::from("$");
    if pointer.is_empty() {
        return path;
    }
    for token in pointer.trim_start_matches('/').split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push('[');
            path.push_str(&token);
            path.push(']');
        } else {
            path.push('.');
            path.push_str(&token);
        }
    }
    path
}

fn cut(text: String) -> String {
    if text.len() <= MAX_MESSAGE {
        return text;
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Validates an EPCISDocument, an EPCISQueryDocument or an event with its own `@context`.
pub fn validate(value: &Value) -> Result<(), SchemaError> {
    let validator = compiled()?;
    let mut violations = Vec::new();
    let mut total = 0;
    for error in validator.iter_errors(value) {
        total += 1;
        if violations.len() < MAX_VIOLATIONS {
            violations.push(Violation {
                path: pointer_to_path(error.instance_path().as_str()),
                problem: cut(error.to_string()),
            });
        }
    }
    if total == 0 {
        Ok(())
    } else {
        Err(SchemaError::Invalid { violations, total })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_embedded_schema_is_the_published_file_and_compiles() {
        assert_eq!(
            hex::encode(Sha256::digest(SCHEMA_TEXT.as_bytes())),
            SCHEMA_SHA256
        );
        let schema: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
        assert_eq!(schema["$id"], SCHEMA_ID);
        compiled().unwrap();
    }

    #[test]
    fn pointers_become_paths() {
        assert_eq!(pointer_to_path(""), "$");
        assert_eq!(
            pointer_to_path("/epcisBody/eventList/3/epcList/0"),
            "$.epcisBody.eventList[3].epcList[0]"
        );
        assert_eq!(pointer_to_path("/a~1b/c~0d"), "$.a/b.c~d");
    }

    #[test]
    fn violations_name_the_path() {
        let doc = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2024-01-01T00:00:00Z",
            "epcisBody": {"eventList": [{
                "type": "ObjectEvent",
                "action": "OBSERVE",
                "eventTime": "yesterday",
                "eventTimeZoneOffset": "+01:00",
                "epcList": []
            }]}
        });
        let SchemaError::Invalid { violations, total } = validate(&doc).unwrap_err() else {
            panic!("expected violations")
        };
        assert!(total >= 1);
        assert!(
            violations
                .iter()
                .any(|v| v.path == "$.epcisBody.eventList[0].eventTime"),
            "{violations:?}"
        );
    }
}
