//! The error types of the EPCIS 2.0 REST binding, so that capture and query errors map to the
//! binding's problem+json answers (`type: epcisException:QueryParameterException`, …) without
//! the node inventing names.
//!
//! | exception | HTTP status | raised for |
//! |---|---|---|
//! | `ValidationException` | 400 | a capture document or event that is malformed or breaks the schema or Tally's rules |
//! | `QueryParameterException` | 400 | an unknown query parameter, a bad value, parameters that exclude each other |
//! | `CaptureLimitExceededException` | 413 | a capture document over the size or event-count limit |
//! | `QueryTooLargeException` | 413 | more events match than `maxEventCount` allows |
//! | `QueryTooComplexException` | 413 | a query the node refuses to run for its cost |
//! | `NoSuchResourceException` | 404 | an event, EPC, capture job, … that does not exist |
//! | `NoSuchNameException` | 404 | a named query that does not exist |
//! | `ImplementationException` | 500, or 501 for a standard feature Tally does not implement | anything else |

use std::fmt;

/// An exception type of the EPCIS 2.0 REST binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpcisException {
    /// The request body is malformed or not valid EPCIS.
    ValidationException,
    /// A query parameter is unknown, has a bad value, or conflicts with another.
    QueryParameterException,
    /// A capture exceeds the capture limits.
    CaptureLimitExceededException,
    /// A query would return more events than allowed.
    QueryTooLargeException,
    /// A query is too costly to execute.
    QueryTooComplexException,
    /// A resource does not exist.
    NoSuchResourceException,
    /// A named query does not exist.
    NoSuchNameException,
    /// An implementation-specific failure, or a standard feature not implemented.
    ImplementationException,
}

impl EpcisException {
    /// The bare name, e.g. `QueryParameterException`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ValidationException => "ValidationException",
            Self::QueryParameterException => "QueryParameterException",
            Self::CaptureLimitExceededException => "CaptureLimitExceededException",
            Self::QueryTooLargeException => "QueryTooLargeException",
            Self::QueryTooComplexException => "QueryTooComplexException",
            Self::NoSuchResourceException => "NoSuchResourceException",
            Self::NoSuchNameException => "NoSuchNameException",
            Self::ImplementationException => "ImplementationException",
        }
    }

    /// The problem+json `type` the binding uses, e.g. `epcisException:QueryParameterException`.
    pub fn type_uri(self) -> String {
        format!("epcisException:{}", self.name())
    }

    /// A short title for the problem+json `title`.
    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationException => "The EPCIS document or event is not valid",
            Self::QueryParameterException => "Invalid query parameter",
            Self::CaptureLimitExceededException => "Capture payload too large",
            Self::QueryTooLargeException => "Query result too large",
            Self::QueryTooComplexException => "Query too complex",
            Self::NoSuchResourceException | Self::NoSuchNameException => "Resource not found",
            Self::ImplementationException => "Implementation exception",
        }
    }

    /// The HTTP status the binding gives it (an unimplemented feature answers 501 instead of
    /// 500; the errors that mean that say so in their own `status`).
    pub fn status(self) -> u16 {
        match self {
            Self::ValidationException | Self::QueryParameterException => 400,
            Self::CaptureLimitExceededException
            | Self::QueryTooLargeException
            | Self::QueryTooComplexException => 413,
            Self::NoSuchResourceException | Self::NoSuchNameException => 404,
            Self::ImplementationException => 500,
        }
    }
}

impl fmt::Display for EpcisException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_binding() {
        assert_eq!(
            EpcisException::QueryParameterException.type_uri(),
            "epcisException:QueryParameterException"
        );
        assert_eq!(EpcisException::CaptureLimitExceededException.status(), 413);
        assert_eq!(EpcisException::NoSuchNameException.status(), 404);
        assert_eq!(EpcisException::ImplementationException.status(), 500);
        assert_eq!(
            EpcisException::ValidationException.to_string(),
            "ValidationException"
        );
    }
}
