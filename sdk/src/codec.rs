//! The canonical encodings: the one place that turns Tally's values into bytes.
//!
//! * **Binary** (entries, checkpoints, genesis documents, storage values, wire messages):
//!   [postcard] 1.x. postcard is deterministic for the plain structs, sequences and tagged
//!   enums Tally encodes (integers are varints, sequences and strings are length-prefixed,
//!   enum variants are varint indices), so one value has exactly one encoding, and what is
//!   hashed and signed is that encoding. postcard is not self-describing: types encoded here
//!   must not use `serde_json::Value`, `#[serde(flatten)]`, untagged enums or
//!   `skip_serializing_if`.
//! * **JSON content** that is open-ended by nature (an EPCIS event with its extensions, sensor
//!   data and ILMD; private field values) is kept inside binary values as RFC 8785 (JCS)
//!   canonical JSON bytes, see [`CanonicalJson`].
//!
//! Decoding always takes a size limit and rejects trailing bytes, so a peer cannot make a
//! node allocate more than it allows, and one value cannot hide a second.
//!
//! Changing anything here changes entry hashes: the pinned vectors in `docs/formats.md` and
//! the tests exist to make that a deliberate act.

mod canonical_form;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The input is larger than the caller allows.
    #[error("{what} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("{what} is not validly encoded: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's reason.
        reason: String,
    },
    /// Bytes were left after a complete value.
    #[error("{what} has {extra} unexpected bytes after its end")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A value could not be encoded (only possible for types that cannot be represented).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's reason.
        reason: String,
    },
    /// JSON content is not valid JSON or cannot be canonicalised.
    #[error("invalid JSON: {0}")]
    Json(String),
}

/// Encodes `value` canonically (postcard).
pub fn encode<T: Serialize + ?Sized>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(|e| CodecError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// The length of `value`'s canonical encoding, counted without building it.
pub fn encoded_len<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<usize, CodecError> {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).map_err(|e| {
        CodecError::Encode {
            what,
            reason: e.to_string(),
        }
    })
}

/// Decodes exactly one canonically encoded value of at most `limit` bytes. Postcard also
/// reads some non-canonical forms (an integer's varint padded with `0x80` bytes), which
/// are refused: the bytes must be exactly as long as the value's own encoding, so one value
/// has one encoding on the wire and on disk.
pub fn decode<T: DeserializeOwned + Serialize>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| CodecError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    let canonical =
        postcard::experimental::serialized_size(&value).map_err(|e| CodecError::Malformed {
            what,
            reason: e.to_string(),
        })?;
    if canonical != bytes.len() {
        return Err(CodecError::Malformed {
            what,
            reason: format!(
                "not the canonical encoding ({} bytes where the value's own encoding has {canonical})",
                bytes.len()
            ),
        });
    }
    Ok(value)
}

/// JSON text in RFC 8785 (JCS) canonical form: keys sorted by UTF-16 code units, no
/// insignificant whitespace, numbers in ECMAScript form.
///
/// Construct it only through [`CanonicalJson::from_value`] or [`CanonicalJson::from_slice`],
/// so the bytes inside are always canonical and two equal JSON values always have equal bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    /// Canonicalises a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, CodecError> {
        canonical_form::write(value)
            .map(Self)
            .map_err(|e| CodecError::Json(e.to_string()))
    }

    /// Parses JSON text of at most `limit` bytes and canonicalises it.
    pub fn from_slice(bytes: &[u8], limit: usize) -> Result<Self, CodecError> {
        if bytes.len() > limit {
            return Err(CodecError::TooLarge {
                what: "JSON content",
                size: bytes.len(),
                limit,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| CodecError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The length of the canonical text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty (never, for a valid value).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses the canonical text back into a JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, CodecError> {
        serde_json::from_str(&self.0).map_err(|e| CodecError::Json(e.to_string()))
    }
}

impl std::fmt::Debug for CanonicalJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CanonicalJson({})", self.0)
    }
}

impl Serialize for CanonicalJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // In JSON documents the content is embedded as JSON, not as an escaped string.
            let value = self.to_value().map_err(serde::ser::Error::custom)?;
            value.serialize(serializer)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let value = serde_json::Value::deserialize(deserializer)?;
            Self::from_value(&value).map_err(serde::de::Error::custom)
        } else {
            // Binary input is untrusted: accept it only if it is already canonical, so that
            // re-encoding a decoded entry gives back exactly the bytes that were signed.
            let text = String::deserialize(deserializer)?;
            canonical_form::check(&text).map_err(|e| {
                serde::de::Error::custom(format_args!(
                    "embedded JSON is not in canonical form: {e}"
                ))
            })?;
            Ok(Self(text))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn jcs_sorts_keys_and_strips_whitespace() {
        let c = CanonicalJson::from_slice(br#"{ "b": 1, "a": [true, null, 1.50] }"#, 1000).unwrap();
        assert_eq!(c.as_str(), r#"{"a":[true,null,1.5],"b":1}"#);
    }

    #[test]
    fn non_canonical_embedded_json_is_rejected_in_binary() {
        let bytes = encode("t", "{ \"a\":1}").unwrap();
        assert!(decode::<CanonicalJson>("t", &bytes, 100).is_err());
        let bytes = encode("t", "{\"a\":1}").unwrap();
        assert_eq!(
            decode::<CanonicalJson>("t", &bytes, 100).unwrap().as_str(),
            "{\"a\":1}"
        );
    }

    #[test]
    fn size_limit_and_trailing_bytes_are_enforced() {
        let mut bytes = encode("t", &(1u32, 2u64)).unwrap();
        assert!(matches!(
            decode::<(u32, u64)>("t", &bytes, 1),
            Err(CodecError::TooLarge { .. })
        ));
        bytes.push(0);
        assert!(matches!(
            decode::<(u32, u64)>("t", &bytes, 100),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
    }

    /// Postcard reads a varint padded with continuation bytes (`[0x80, 0x00]` for 0): found by
    /// the fuzzer's review. Such bytes are refused, so one value has one encoding.
    #[test]
    fn a_padded_varint_is_not_the_canonical_encoding() {
        assert_eq!(decode::<u32>("t", &[0x00], 10).unwrap(), 0);
        assert!(matches!(
            decode::<u32>("t", &[0x80, 0x00], 10),
            Err(CodecError::Malformed { .. })
        ));
        let canonical = encode("t", &(300u32, "x".to_owned())).unwrap();
        assert_eq!(canonical[..2], [0xac, 0x02]);
        let mut padded = vec![0xac, 0x82, 0x00];
        padded.extend_from_slice(&canonical[2..]);
        assert!(matches!(
            decode::<(u32, String)>("t", &padded, 100),
            Err(CodecError::Malformed { .. })
        ));
        assert_eq!(
            decode::<(u32, String)>("t", &canonical, 100).unwrap(),
            (300, "x".to_owned())
        );
    }

    proptest! {
        #[test]
        fn postcard_round_trips(a in any::<u64>(), b in ".{0,40}", c in proptest::collection::vec(any::<u8>(), 0..64)) {
            let value = (a, b.clone(), c.clone());
            let bytes = encode("t", &value).unwrap();
            let back: (u64, String, Vec<u8>) = decode("t", &bytes, 1 << 20).unwrap();
            prop_assert_eq!(encoded_len("t", &value).unwrap(), bytes.len());
            prop_assert_eq!(back, value);
        }
    }
}
