//! Why a GS1 identifier was rejected: one error type for Digital Link URIs, EPC URIs, element
//! strings and product identifiers, each message saying what is wrong and where.

/// A GS1 identifier is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    /// Not an `http://` or `https://` URI (nor an EPC URN, where one is accepted).
    #[error(
        "{0:?} is not a GS1 identifier: expected an https:// Digital Link URI or an urn:epc: EPC URI"
    )]
    NotAnIdentifier(String),
    /// The URI scheme is in mixed case or not http(s).
    #[error("the URI scheme must be http or https in one case (e.g. \"https://\" or \"HTTPS://\")")]
    BadScheme,
    /// The host part is empty or has characters a domain name or IP address cannot have.
    #[error("the URI has no valid domain name or IP address ({0:?})")]
    BadHost(String),
    /// A character that may not appear in a URI.
    #[error("the URI contains {0:?}, which is not allowed in a URI (percent-encode it)")]
    BadCharacter(char),
    /// A `%` not followed by two hexadecimal digits, or escapes that are not UTF-8.
    #[error("bad percent-encoding in {0:?}")]
    BadPercentEncoding(String),
    /// No GS1 primary key AI (e.g. `/01/` for a GTIN) in the URI path.
    #[error("the URI path holds no GS1 primary key (such as /01/<GTIN> or /00/<SSCC>)")]
    NoPrimaryKey,
    /// An AI that is not in the GS1 AI table.
    #[error("({0}) is not a known GS1 Application Identifier")]
    UnknownAi(String),
    /// An AI value that does not meet its format.
    #[error("the value {value:?} of AI ({ai}) {reason}")]
    BadValue {
        /// The AI.
        ai: String,
        /// The offending value (decoded).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A path element after the primary key that is not one of its key qualifiers.
    #[error("({qualifier}) is not a key qualifier of ({key}) in a Digital Link path")]
    NotAQualifier {
        /// The primary key AI.
        key: String,
        /// The offending AI.
        qualifier: String,
    },
    /// Key qualifiers out of the order GS1 prescribes, repeated, or from two alternatives.
    #[error("the key qualifiers of ({key}) must appear in one of the orders {allowed}; got {got}")]
    QualifierOrder {
        /// The primary key AI.
        key: String,
        /// The permitted sequences, e.g. `22,10,21 or 235`.
        allowed: String,
        /// The sequence found.
        got: String,
    },
    /// A query parameter names an AI that belongs in the path (a key qualifier).
    #[error("({0}) is a key qualifier: it belongs in the URI path, not in the query string")]
    QualifierInQuery(String),
    /// A query parameter names an AI that GS1 does not permit as a data attribute.
    #[error("({0}) is not permitted as a Digital Link data attribute")]
    NotADataAttribute(String),
    /// An AI given twice.
    #[error("({0}) appears more than once")]
    DuplicateAi(String),
    /// An AI with an empty value.
    #[error("AI ({0}) has an empty value")]
    EmptyValue(String),
    /// An AI present without one it requires.
    #[error("({ai}) requires {requirement} to be present as well")]
    MissingRequiredAi {
        /// The AI.
        ai: String,
        /// The alternatives it requires, e.g. `(01) or (02)`.
        requirement: String,
    },
    /// Two AIs that may not appear together.
    #[error("({0}) and ({1}) may not appear together")]
    ExclusiveAis(String, String),
    /// An element string that cannot be read.
    #[error("bad GS1 element string: {0}")]
    BadElementString(String),
    /// An EPC URI that does not follow the EPC Tag Data Standard.
    #[error("{uri:?} is not a valid EPC URI: {reason}")]
    BadEpcUri {
        /// The URI (truncated).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Gs1Error {
    pub(crate) fn epc(uri: &str, reason: impl Into<String>) -> Self {
        Self::BadEpcUri {
            uri: truncate(uri),
            reason: reason.into(),
        }
    }

    pub(crate) fn value(ai: &str, value: &str, reason: impl Into<String>) -> Self {
        Self::BadValue {
            ai: ai.to_owned(),
            value: truncate(value),
            reason: reason.into(),
        }
    }
}

/// Inputs are echoed in messages, but never at unbounded length.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
