//! Timestamps: milliseconds since the Unix epoch, UTC.
//!
//! Entries and checkpoints carry the author's clock as an integer, which encodes canonically
//! and compares exactly. RFC 3339 text is accepted and produced at the edges (JSON, CLI).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

/// A timestamp failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not an RFC 3339 date-time with a time zone (e.g. 2026-05-01T12:00:00Z) at or after 1970"
)]
pub struct InvalidTimestamp {
    /// The rejected text (truncated).
    pub text: String,
}

impl Timestamp {
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Parses RFC 3339 text (any offset; converted to UTC; sub-millisecond digits dropped).
    pub fn parse_rfc3339(text: &str) -> Result<Self, InvalidTimestamp> {
        let invalid = || InvalidTimestamp {
            text: text.chars().take(64).collect(),
        };
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid())?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        u64::try_from(millis).map(Self).map_err(|_| invalid())
    }

    /// RFC 3339 text in UTC with milliseconds, e.g. `2026-05-01T12:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => utc_millis_text(&t),
            // Only reachable for times past year 9999; show the raw number rather than fail.
            Err(_) => format!("{}ms", self.0),
        }
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// The absolute difference in milliseconds.
    pub fn abs_diff(self, other: Self) -> u64 {
        self.0.abs_diff(other.0)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a UTC date-time (sub-millisecond digits dropped).
pub(crate) fn utc_millis_text(t: &OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_rfc3339())
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
        } else {
            u64::deserialize(deserializer).map(Self)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_offsets() {
        let t = Timestamp::parse_rfc3339("2026-05-01T14:00:00.250+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-05-01T12:00:00.250Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        assert!(Timestamp::parse_rfc3339("2026-05-01").is_err());
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }
}
