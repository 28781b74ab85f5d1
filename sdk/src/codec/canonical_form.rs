//! RFC 8785 (JCS) canonical JSON: whether text is already in canonical form, decided in one
//! pass over the text without building a value (what a node does to every event and private
//! value a peer sends it), and writing a value in it ([`write`], what capture and the HTTP API
//! do to every event they are given).
//!
//! The rule is the one Tally has always applied to embedded JSON in binary input: the text is
//! canonical when parsing it (serde_json) and canonicalising the result
//! (serde_json_canonicalizer) gives back exactly the same text. Doing that literally built a
//! `serde_json::Value`, re-sorted every object (re-parsing each key) and wrote the text again —
//! about a tenth of a replicating node's CPU. This module reads the text once and accepts the
//! same texts: the property tests below hold it to the literal rule, so nodes of different
//! versions still agree on which entries are well formed.
//!
//! [`write`] likewise produces exactly what serde_json_canonicalizer produces, without
//! re-parsing each member name to sort the members (as that crate does); a property test
//! compares the two on arbitrary values.
//!
//! What canonical text looks like, and so what is checked here:
//! * no whitespace outside strings, nothing after the value;
//! * object members sorted by their names' UTF-16 code units, no name twice;
//! * strings escape `"`, `\` and the control characters, and nothing else: `\b \t \n \f \r`
//!   in their short forms, the other controls as `\u00xx` in lower-case hex;
//! * numbers as ECMAScript prints the double they denote (`1.5`, `100`, `1e+21`, never
//!   `1.50`, `1E2` or `-0`);
//! * at most [`MAX_DEPTH`] arrays and objects nested, serde_json's own limit.

use std::borrow::Cow;
use std::cmp::Ordering;

/// The deepest nesting serde_json parses: 127 arrays or objects inside one another (its
/// recursion limit of 128 is reached on opening the 128th).
const MAX_DEPTH: usize = 127;

/// Integers of at most this many digits are exact doubles that ECMAScript prints digit for
/// digit, so they are canonical exactly as written.
const EXACT_INTEGER_DIGITS: usize = 15;

/// Why a text is not canonical JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {at}")]
pub struct NotCanonical {
    /// Byte offset into the text where the problem was seen.
    pub at: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

/// Checks that `text` is one JSON value in canonical form.
pub fn check(text: &str) -> Result<(), NotCanonical> {
    let mut scanner = Scanner {
        text: text.as_bytes(),
        source: text,
        at: 0,
        depth: 0,
    };
    scanner.value()?;
    if scanner.at != scanner.text.len() {
        return scanner.fail("text after the value");
    }
    Ok(())
}

/// Writes `value` in canonical form.
pub fn write(value: &serde_json::Value) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &serde_json::Value, out: &mut String) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(number, out)?,
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
            out.push('{');
            for (i, (name, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write_value(member, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Integers up to 2^53 are exact doubles, which ECMAScript prints digit for digit.
const EXACT_INTEGER: u64 = 1 << 53;

fn write_number(number: &serde_json::Number, out: &mut String) -> Result<(), serde_json::Error> {
    use std::fmt::Write;
    if let Some(n) = number.as_u64().filter(|n| *n <= EXACT_INTEGER) {
        let _ = write!(out, "{n}");
    } else if let Some(n) = number
        .as_i64()
        .filter(|n| n.unsigned_abs() <= EXACT_INTEGER)
    {
        let _ = write!(out, "{n}");
    } else {
        out.push_str(&serde_json_canonicalizer::to_string(number)?);
    }
    Ok(())
}

fn write_string(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut plain_from = 0;
    for (i, byte) in text.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0a => "\\n",
            0x0c => "\\f",
            0x0d => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain_from..i]);
        plain_from = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&text[plain_from..]);
    out.push('"');
}

struct Scanner<'a> {
    text: &'a [u8],
    source: &'a str,
    at: usize,
    depth: usize,
}

/// An object member's name as it stands in the text, between its quotes.
struct Name<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Name<'a> {
    fn unescaped(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let mut out = String::with_capacity(self.raw.len());
        let mut chars = self.raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            // Only the escapes `string` accepted can be here.
            out.push(match chars.next() {
                Some('b') => '\u{8}',
                Some('t') => '\t',
                Some('n') => '\n',
                Some('f') => '\u{c}',
                Some('r') => '\r',
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                Some(other) => other,
                None => break,
            });
        }
        Cow::Owned(out)
    }
}

fn utf16_order(a: &str, b: &str) -> Ordering {
    // UTF-8 byte order is code point order, which differs from UTF-16 order only between a
    // character above U+FFFF and one in U+E000..=U+FFFF.
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

impl<'a> Scanner<'a> {
    fn fail<T>(&self, reason: &'static str) -> Result<T, NotCanonical> {
        Err(NotCanonical {
            at: self.at,
            reason,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn value(&mut self) -> Result<(), NotCanonical> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b' ' | b'\t' | b'\n' | b'\r') => self.fail("whitespace outside a string"),
            Some(_) => self.fail("not the start of a JSON value"),
            None => self.fail("a value is missing"),
        }
    }

    fn enter(&mut self) -> Result<(), NotCanonical> {
        if self.depth == MAX_DEPTH {
            return self.fail("arrays and objects nested too deeply");
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    /// Steps over the closing bracket of the array or object being read.
    fn leave(&mut self) {
        self.at += 1;
        self.depth -= 1;
    }

    fn object(&mut self) -> Result<(), NotCanonical> {
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.leave();
            return Ok(());
        }
        let mut previous: Option<Name<'a>> = None;
        loop {
            let name_at = self.at;
            if self.peek() != Some(b'"') {
                return self.fail("expected a member name");
            }
            let name = self.string()?;
            if let Some(previous) = &previous {
                let order = if previous.escaped || name.escaped {
                    utf16_order(&previous.unescaped(), &name.unescaped())
                } else {
                    utf16_order(previous.raw, name.raw)
                };
                if order != Ordering::Less {
                    self.at = name_at;
                    return self.fail(if order == Ordering::Equal {
                        "a member name appears twice"
                    } else {
                        "member names are not in UTF-16 order"
                    });
                }
            }
            previous = Some(name);
            if self.peek() != Some(b':') {
                return self.fail("expected ':' right after a member name");
            }
            self.at += 1;
            self.value()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.leave();
                    return Ok(());
                }
                _ => return self.fail("expected ',' or '}' right after a member"),
            }
        }
    }

    fn array(&mut self) -> Result<(), NotCanonical> {
        self.enter()?;
        if self.peek() == Some(b']') {
            self.leave();
            return Ok(());
        }
        loop {
            self.value()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.leave();
                    return Ok(());
                }
                _ => return self.fail("expected ',' or ']' right after an element"),
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), NotCanonical> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            self.fail("not the start of a JSON value")
        }
    }

    /// Reads a string starting at its opening quote; returns its content as written.
    fn string(&mut self) -> Result<Name<'a>, NotCanonical> {
        self.at += 1;
        let start = self.at;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return self.fail("a string is not closed"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(0..=0x1f) => return self.fail("a control character not escaped"),
                Some(_) => self.at += 1,
            }
        }
        let raw = self.source.get(start..self.at).unwrap_or_default();
        self.at += 1;
        Ok(Name { raw, escaped })
    }

    fn escape(&mut self) -> Result<(), NotCanonical> {
        let escape = self.text.get(self.at + 1).copied();
        match escape {
            Some(b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r') => {
                self.at += 2;
                Ok(())
            }
            Some(b'u') => {
                let hex = self.text.get(self.at + 2..self.at + 6).unwrap_or_default();
                let control = match hex {
                    [b'0', b'0', high @ (b'0' | b'1'), low] => {
                        let low = match low {
                            b'0'..=b'9' => low - b'0',
                            b'a'..=b'f' => low - b'a' + 10,
                            _ => return self.fail("a \\u escape of something printed as is"),
                        };
                        ((high - b'0') << 4) | low
                    }
                    _ => return self.fail("a \\u escape of something printed as is"),
                };
                if matches!(control, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                    return self.fail("a \\u escape of a character with a short escape");
                }
                self.at += 6;
                Ok(())
            }
            _ => self.fail("an escape canonical JSON does not use"),
        }
    }

    fn number(&mut self) -> Result<(), NotCanonical> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let first_digit = self.at;
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return self.fail("a number without digits"),
        }
        let digits = self.at - first_digit;
        let mut plain_integer = true;
        if self.peek() == Some(b'.') {
            plain_integer = false;
            self.at += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return self.fail("a number without digits after its '.'");
            }
            self.skip_digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            plain_integer = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return self.fail("a number without digits in its exponent");
            }
            self.skip_digits();
        }
        let token = &self.source[start..self.at];
        if plain_integer && digits <= EXACT_INTEGER_DIGITS && token != "-0" {
            return Ok(());
        }
        // Anything else is rare in events: print it as the canonicaliser does and compare.
        let reprinted = serde_json::from_str::<serde_json::Value>(token)
            .ok()
            .and_then(|value| serde_json_canonicalizer::to_string(&value).ok());
        if reprinted.as_deref() == Some(token) {
            Ok(())
        } else {
            self.at = start;
            self.fail("a number not written as ECMAScript writes it")
        }
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
