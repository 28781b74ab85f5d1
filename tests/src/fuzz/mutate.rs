//! How the fuzzer makes inputs: a seeded PRNG and mutations of valid corpus members.
//!
//! Every input is a pure function of the run's seed, the target's name and the input's index,
//! so a finding is reproduced by running the same command again. The mutations are the classic
//! byte-level ones (bit flips, interesting byte values, inserted, deleted, duplicated and
//! overwritten ranges, truncation, splices of two corpus members), text-level ones for the
//! targets that read text (tokens a parser reacts to: brackets, quotes, escapes, percent
//! signs, separators, digits, long repeats), and JSON-level ones for targets that read JSON
//! (one node of the parsed document changed, removed, duplicated or swapped, then written
//! back), which keep the input well-formed so it reaches the checks behind the parser.

use serde_json::Value;

/// SplitMix64: small, fast and good enough to drive mutations; deterministic for a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The modulo bias is irrelevant for choosing mutations.
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

/// A stable 64-bit hash of a target's name (FNV-1a), mixed into the run's seed so every
/// target has its own input stream whatever order targets run in.
pub fn name_hash(name: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// What a target reads, which decides the mutations that make sense for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Binary (postcard, frames): byte-level mutations only.
    Binary,
    /// Text (TOML, URIs, query strings, timestamps): byte- and token-level mutations.
    Text,
    /// JSON documents: byte-, token- and JSON-level mutations.
    Json,
}

/// Byte values that make decoders take edge paths: zero, all ones, the sign bits, and the
/// varint continuation bit postcard length prefixes use.
const INTERESTING: &[u8] = &[0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x40, 0x20];

/// Byte strings inserted into binary inputs: postcard varints of large lengths and counts
/// (u32 and u64 maxima, 2^31), an option tag, an enum variant index past the last.
const BINARY_TOKENS: &[&[u8]] = &[
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x80, 0x80, 0x80, 0x80, 0x08],
    &[0x80, 0x80, 0x04],
    &[0x01],
    &[0x00],
    &[0x7f],
];

/// Tokens a text parser reacts to.
const TEXT_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "'",
    "%",
    "%00",
    "%zz",
    "%2F",
    "%25",
    "%C3%A9",
    "%FF",
    "/",
    "//",
    ":",
    "=",
    "&",
    "|",
    ".",
    "..",
    "*",
    ",",
    ";",
    "#",
    "?",
    "+",
    "-",
    "0",
    "1",
    "9",
    "00",
    "-1",
    "1e999",
    "-0",
    "0.5",
    "18446744073709551616",
    "9223372036854775808",
    "4294967296",
    "null",
    "true",
    "false",
    "\\u0000",
    "\\ud800",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\u{0}",
    "é",
    "\u{1d11e}",
    "\u{feff}",
    "\u{202e}",
    "[[",
    "]]",
    "'''",
    "\"\"\"",
    "{{",
    "T",
    "Z",
    "+14:00",
    "24:00",
    "60",
    "urn:epc:id:",
    "urn:epc:idpat:",
    "https://id.gs1.org/",
    "01/",
    "/21/",
    "(01)",
    "(21)",
    "\u{1d}",
    "MATCH_",
    "EQ_",
    "GE_",
    "LT_",
];

/// Characters repeated into long runs (deep nesting, long numbers, long names).
const REPEATED: &[char] = &['[', '{', 'a', '9', '0', '%', '/', '\\', '"', ' ', '.', '-'];

/// Makes inputs for one target from its corpus.
#[derive(Debug)]
pub struct Mutator<'c> {
    corpus: &'c [Vec<u8>],
    shape: Shape,
    max_len: usize,
}

impl<'c> Mutator<'c> {
    /// A mutator over `corpus` (valid inputs; at least one), for inputs of `shape`, none
    /// longer than `max_len` bytes.
    pub fn new(corpus: &'c [Vec<u8>], shape: Shape, max_len: usize) -> Self {
        Self {
            corpus,
            shape,
            max_len,
        }
    }

    /// Writes the next input into `out`.
    pub fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        out.clear();
        self.fill(rng, out);
        out.truncate(self.max_len);
    }

    fn fill(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        // A few inputs are raw random bytes (or printable noise for text), which no corpus
        // member leads to.
        if self.corpus.is_empty() || rng.one_in(32) {
            let longest = if rng.one_in(4) { 4096 } else { 64 };
            let len = rng.below(longest);
            let printable = self.shape != Shape::Binary && !rng.one_in(4);
            for _ in 0..len {
                let byte = rng.byte();
                out.push(if printable { 0x20 + byte % 0x5f } else { byte });
            }
            return;
        }
        let base = self.corpus.get(rng.below(self.corpus.len()));
        out.extend_from_slice(base.map_or(&[][..], Vec::as_slice));
        if self.shape == Shape::Json && rng.one_in(2) {
            self.mutate_json(rng, out);
            // Sometimes the structured change is all; sometimes bytes change as well.
            if rng.one_in(2) {
                return;
            }
        }
        // Stacked mutations, mostly one or two: few changes keep most of the input valid, so
        // the input gets past the first checks.
        let mut rounds = 1;
        while rounds < 8 && rng.one_in(2) {
            rounds += 1;
        }
        for _ in 0..rounds {
            if self.shape != Shape::Binary && rng.one_in(2) {
                self.mutate_text(rng, out);
            } else {
                self.mutate_bytes(rng, out);
            }
        }
    }

    fn other(&self, rng: &mut Rng) -> &'c [u8] {
        self.corpus
            .get(rng.below(self.corpus.len()))
            .map_or(&[][..], Vec::as_slice)
    }

    /// One byte-level mutation.
    fn mutate_bytes(&self, rng: &mut Rng, data: &mut Vec<u8>) {
        let len = data.len();
        match rng.below(11) {
            // Flip one bit.
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            // Set a byte to an interesting value.
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = INTERESTING
                    .get(rng.below(INTERESTING.len()))
                    .copied()
                    .unwrap_or(0);
            }
            // Set a byte to a random value.
            2 if len > 0 => {
                let at = rng.below(len);
                data[at] = rng.byte();
            }
            // Insert random bytes.
            3 => {
                let at = rng.below(len + 1);
                let count = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..count).map(|_| rng.byte()).collect();
                data.splice(at..at, bytes);
            }
            // Delete a range.
            4 if len > 0 => {
                let at = rng.below(len);
                let count = 1 + rng.below((len - at).min(64));
                data.drain(at..at + count);
            }
            // Duplicate a range somewhere else.
            5 if len > 0 => {
                let from = rng.below(len);
                let count = 1 + rng.below((len - from).min(256));
                let copy = data[from..from + count].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            // Truncate.
            6 if len > 0 => data.truncate(rng.below(len)),
            // Splice: a prefix of this input and a suffix of another corpus member.
            7 => {
                let other = self.other(rng);
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            // Overwrite a range with bytes from another corpus member.
            8 if len > 0 => {
                let other = self.other(rng);
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let count = 1 + rng.below((other.len() - from).min(64));
                    let at = rng.below(len);
                    let end = (at + count).min(len);
                    data[at..end].copy_from_slice(&other[from..from + (end - at)]);
                }
            }
            // Insert a length or tag a binary decoder trusts.
            9 => {
                let token = BINARY_TOKENS
                    .get(rng.below(BINARY_TOKENS.len()))
                    .copied()
                    .unwrap_or(&[]);
                let at = rng.below(len + 1);
                if rng.one_in(2) || len == 0 {
                    data.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    data.splice(at..end, token.iter().copied());
                }
            }
            // Add or subtract a small number from a byte (off-by-one lengths and counts).
            _ if len > 0 => {
                let at = rng.below(len);
                let delta = 1 + rng.below(4) as u8;
                data[at] = if rng.one_in(2) {
                    data[at].wrapping_add(delta)
                } else {
                    data[at].wrapping_sub(delta)
                };
            }
            _ => data.push(rng.byte()),
        }
    }

    /// One token-level mutation of text.
    fn mutate_text(&self, rng: &mut Rng, data: &mut Vec<u8>) {
        let len = data.len();
        match rng.below(5) {
            // Insert a token.
            0 | 1 => {
                let token = TEXT_TOKENS
                    .get(rng.below(TEXT_TOKENS.len()))
                    .copied()
                    .unwrap_or("");
                let at = rng.below(len + 1);
                data.splice(at..at, token.bytes());
            }
            // Insert a long run of one character.
            2 => {
                let c = REPEATED
                    .get(rng.below(REPEATED.len()))
                    .copied()
                    .unwrap_or('a');
                let longest = if rng.one_in(8) { 20_000 } else { 300 };
                let count = 1 + rng.below(longest);
                let run: String = std::iter::repeat_n(c, count).collect();
                let at = rng.below(len + 1);
                data.splice(at..at, run.bytes());
            }
            // Replace a word (a run of letters or digits) with a token, a number or a word
            // from another corpus member.
            3 if len > 0 => {
                let at = rng.below(len);
                let (start, end) = word_around(data, at);
                let replacement: Vec<u8> = match rng.below(3) {
                    0 => TEXT_TOKENS
                        .get(rng.below(TEXT_TOKENS.len()))
                        .map(|t| t.as_bytes().to_vec())
                        .unwrap_or_default(),
                    1 => rng.next_u64().to_string().into_bytes(),
                    _ => {
                        let other = self.other(rng);
                        if other.is_empty() {
                            Vec::new()
                        } else {
                            let (s, e) = word_around(other, rng.below(other.len()));
                            other[s..e].to_vec()
                        }
                    }
                };
                data.splice(start..end, replacement);
            }
            // Swap two lines (or cut one out).
            _ => {
                let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
                if lines.len() > 1 {
                    let mut lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
                    let a = rng.below(lines.len());
                    if rng.one_in(3) {
                        lines.remove(a);
                    } else {
                        let b = rng.below(lines.len());
                        lines.swap(a, b);
                    }
                    *data = lines.join(&b'\n');
                }
            }
        }
    }

    /// One JSON-level mutation: parses `data`, changes one node and writes it back. Input that
    /// is not JSON is left as it is.
    fn mutate_json(&self, rng: &mut Rng, data: &mut Vec<u8>) {
        let Ok(mut document) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let mut pointers = Vec::new();
        collect_pointers(&document, String::new(), &mut pointers);
        let Some(pointer) = pointers.get(rng.below(pointers.len())).cloned() else {
            return;
        };
        // A node of the document, to put elsewhere: a value of the right shape in the wrong
        // place reaches deeper than noise.
        let donor = pointers
            .get(rng.below(pointers.len()))
            .and_then(|p| document.pointer(p))
            .cloned();
        if let Some(node) = document.pointer_mut(&pointer) {
            mutate_node(rng, node, donor);
        }
        // The parent-level changes: remove the node or duplicate it in its container.
        if rng.one_in(4)
            && let Some((parent, key)) = pointer.rsplit_once('/')
            && let Some(container) = document.pointer_mut(parent)
        {
            let key = key.replace("~1", "/").replace("~0", "~");
            match container {
                Value::Object(map) => {
                    if rng.one_in(2) {
                        map.shift_remove(&key);
                    } else if let Some(value) = map.get(&key).cloned() {
                        map.insert(format!("{key}_"), value);
                    }
                }
                Value::Array(items) => {
                    if let Ok(index) = key.parse::<usize>()
                        && index < items.len()
                    {
                        if rng.one_in(2) {
                            items.remove(index);
                        } else {
                            let copy = items[index].clone();
                            items.insert(index, copy);
                        }
                    }
                }
                _ => {}
            }
        }
        let written = if rng.one_in(4) {
            serde_json::to_vec_pretty(&document)
        } else {
            serde_json::to_vec(&document)
        };
        if let Ok(written) = written {
            *data = written;
        }
    }
}

/// The bounds of the run of letters and digits around `at` (an empty range if there is none).
fn word_around(data: &[u8], at: usize) -> (usize, usize) {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut start = at.min(data.len());
    while start > 0 && data.get(start - 1).is_some_and(|b| is_word(*b)) {
        start -= 1;
    }
    let mut end = at.min(data.len());
    while data.get(end).is_some_and(|b| is_word(*b)) {
        end += 1;
    }
    (start, end)
}

/// The JSON pointer of every node of `value`, the root included.
fn collect_pointers(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_pointers(child, format!("{here}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{here}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// Changes one JSON node in place.
fn mutate_node(rng: &mut Rng, node: &mut Value, donor: Option<Value>) {
    match rng.below(6) {
        // Another node of the document in its place.
        0 => {
            if let Some(donor) = donor {
                *node = donor;
            }
        }
        // A value of another type, or an extreme of its own.
        1 => {
            *node = match rng.below(12) {
                0 => Value::Null,
                1 => Value::Bool(rng.one_in(2)),
                2 => Value::from(0),
                3 => Value::from(-1),
                4 => Value::from(u64::MAX),
                5 => Value::from(i64::MIN),
                6 => serde_json::Number::from_f64(1e300).map_or(Value::Null, Value::Number),
                7 => Value::from(""),
                8 => Value::from("x".repeat(1 + rng.below(70_000))),
                9 => Value::Array(Vec::new()),
                10 => Value::Object(serde_json::Map::new()),
                _ => Value::from("\u{0}é\u{1d11e}"),
            };
        }
        // A nearby number.
        2 => {
            if let Some(n) = node.as_u64() {
                let delta = 1 + rng.below(3) as u64;
                *node = Value::from(if rng.one_in(2) {
                    n.wrapping_add(delta)
                } else {
                    n.wrapping_sub(delta)
                });
            } else if let Some(n) = node.as_i64() {
                *node = Value::from(n.wrapping_neg());
            } else if node.is_f64() {
                *node = Value::from(0);
            } else {
                *node = Value::from(rng.next_u64());
            }
        }
        // A changed string: one character changed, cut short, or with a token added.
        3 => {
            if let Some(text) = node.as_str() {
                let mut bytes = text.as_bytes().to_vec();
                match rng.below(4) {
                    0 if !bytes.is_empty() => {
                        let at = rng.below(bytes.len());
                        bytes[at] = if bytes[at].is_ascii_digit() {
                            b'0' + (bytes[at] - b'0' + 1) % 10
                        } else {
                            bytes[at] ^ 0x01
                        };
                    }
                    1 => bytes.truncate(rng.below(bytes.len() + 1)),
                    _ => {
                        let token = TEXT_TOKENS
                            .get(rng.below(TEXT_TOKENS.len()))
                            .copied()
                            .unwrap_or("");
                        let at = rng.below(bytes.len() + 1);
                        bytes.splice(at..at, token.bytes());
                    }
                }
                *node = Value::from(String::from_utf8_lossy(&bytes).into_owned());
            } else {
                *node = Value::from(rng.next_u64().to_string());
            }
        }
        // An array emptied, reversed or grown with copies of one element.
        4 => match node {
            Value::Array(items) if !items.is_empty() => match rng.below(3) {
                0 => items.clear(),
                1 => items.reverse(),
                _ => {
                    let copy = items[rng.below(items.len())].clone();
                    let most = if rng.one_in(8) { 2_000 } else { 4 };
                    let count = 1 + rng.below(most);
                    items.extend(std::iter::repeat_n(copy, count));
                }
            },
            other => *other = Value::Array(vec![other.clone()]),
        },
        // A member added to an object, or the node wrapped in one.
        _ => match node {
            Value::Object(map) => {
                let key = TEXT_TOKENS
                    .get(rng.below(TEXT_TOKENS.len()))
                    .copied()
                    .unwrap_or("x");
                map.insert(key.to_owned(), Value::Null);
            }
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".to_owned(), other.clone());
                *other = Value::Object(map);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs_and_another_seed_others() {
        let corpus = vec![
            br#"{"a":[1,2,{"b":"c"}],"d":"e"}"#.to_vec(),
            b"x=1&y=2".to_vec(),
        ];
        let mutator = Mutator::new(&corpus, Shape::Json, 1 << 20);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            (0..200)
                .map(|_| {
                    mutator.generate(&mut rng, &mut out);
                    out.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // Mutations change inputs, and most stay close to the corpus (same first byte).
        let inputs = run(7);
        assert!(inputs.iter().filter(|i| !corpus.contains(i)).count() > 150);
        assert!(inputs.iter().filter(|i| i.first() == Some(&b'{')).count() > 60);
    }

    #[test]
    fn json_mutations_keep_most_inputs_json() {
        let corpus = vec![br#"{"a":[1,2,{"b":"c"}],"d":"e","f":true}"#.to_vec()];
        let mutator = Mutator::new(&corpus, Shape::Json, 1 << 20);
        let mut rng = Rng::new(1);
        let mut out = Vec::new();
        let mut parsed = 0;
        for _ in 0..1_000 {
            mutator.generate(&mut rng, &mut out);
            parsed += usize::from(serde_json::from_slice::<Value>(&out).is_ok());
        }
        assert!(parsed > 300, "{parsed} of 1,000 mutated inputs parse");
    }

    #[test]
    fn inputs_never_exceed_the_length_cap() {
        let corpus = vec![vec![7u8; 100]];
        let mutator = Mutator::new(&corpus, Shape::Text, 128);
        let mut rng = Rng::new(3);
        let mut out = Vec::new();
        for _ in 0..2_000 {
            mutator.generate(&mut rng, &mut out);
            assert!(out.len() <= 128, "{}", out.len());
        }
    }
}
