//! Names chosen by people: member ids, role names, event kind names and private field names.
//!
//! Each is a validated string type, so a name that reached a `MemberId` is known to be
//! well-formed everywhere it is used (storage keys, URLs, log lines). The rules are
//! deliberately narrow — ASCII, short, no spaces — because these names appear in URLs and
//! keys and must compare byte for byte.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A name failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {rule}")]
pub struct InvalidName {
    /// Which kind of name.
    pub what: &'static str,
    /// The rejected text (truncated).
    pub value: String,
    /// The rule it broke.
    pub rule: &'static str,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $max:literal, $extra:literal, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Validates and wraps a name.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidName> {
                let value = value.into();
                let first_ok = value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                let rest_ok = value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || $extra.contains(c));
                if !first_ok || !rest_ok || value.len() > $max {
                    let shown: String = value.chars().take(80).collect();
                    return Err(InvalidName { what: $what, value: shown, rule: $rule });
                }
                Ok(Self(value))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A member of the consortium, as the genesis names it (e.g. `platform`).
    MemberId, "member id", 64, "-_",
    "1 to 64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"
);
name_type!(
    /// A role (e.g. `manufacturer`), which grants permissions.
    RoleName, "role name", 64, "-_",
    "1 to 64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"
);
name_type!(
    /// A private field (e.g. `consumer.address`).
    FieldName, "private field name", 128, "-_.",
    "1 to 128 characters: lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(MemberId::new("platform").is_ok());
        assert!(MemberId::new("logistics-2").is_ok());
        assert!(MemberId::new("").is_err());
        assert!(MemberId::new("Platform").is_err());
        assert!(MemberId::new("-x").is_err());
        assert!(MemberId::new("a b").is_err());
        assert!(MemberId::new("x".repeat(65)).is_err());
        assert!(FieldName::new("consumer.address").is_ok());
        assert!(MemberId::new("consumer.address").is_err());
        let err = serde_json::from_str::<MemberId>("\"A\"").unwrap_err();
        assert!(err.to_string().contains("member id"));
    }
}
