//! C2SP checkpoints: a log's tree head (origin, size, root) as the text of a signed note, and
//! the origin line that names one Tally chain.
//!
//! The text is exactly: the origin line; the tree size in decimal without leading zeros; the
//! root hash in standard base64 with padding; then optional extension lines, each non-empty;
//! every line ending in a newline. [`Checkpoint::parse`] accepts exactly that (and any
//! non-empty origin, as the specification tells clients to); Tally writes no extension lines.
//!
//! This is a different object from [`crate::witnessing::checkpoint`]: that one is a member's signed
//! statement about spans of every chain it holds, in Tally's binary encoding; this one is one
//! chain's tree head in the text format outside tools read.
//!
//! # The origin of a Tally chain
//!
//! [`origin`] gives `tally.invalid/<network id, 64 hex digits>/<member id>`. The specification
//! recommends a scheme-less URL, to avoid collisions between logs; what makes this one unique
//! is the network id (the hash of the consortium's genesis) with the member id, which also
//! binds the chain to one consortium. The host is a name under `.invalid`, which RFC 6761
//! reserves for names that never resolve: no real log can have an origin under it, and no one
//! is invited to fetch anything from it (nothing is served there; origins need not be
//! reachable). Member ids are lowercase letters, digits, `-` and `_`, so the origin has no
//! space or `+`.
//!
//! The key name of a member's note key is the origin of its own chain ([`key_name`]): a member
//! is the log of its chain, and the specification recommends that a log's key name match its
//! origin. The same name identifies it when it witnesses other members' chains.

use std::fmt;

use crate::hash::NetworkId;
use crate::ids::MemberId;
use crate::tlog::hash::{LogHash, LogHashError};
use crate::tlog::note::{MAX_NOTE_BYTES, Note, NoteError, NoteSigner, NoteVerifier, VerifiedNote};
use crate::tlog::proof::{VerifyError, verify_inclusion};

/// The host part of every Tally chain origin.
pub const ORIGIN_HOST: &str = "tally.invalid";

/// The origin line of `member`'s chain in the consortium whose network id is `network`.
pub fn origin(network: &NetworkId, member: &MemberId) -> String {
    format!("{ORIGIN_HOST}/{}/{}", network.to_hex(), member.as_str())
}

/// The note key name of `member` in `network`: the origin of its own chain.
pub fn key_name(network: &NetworkId, member: &MemberId) -> String {
    origin(network, member)
}

/// A checkpoint's text is not the C2SP format, or its note does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Longer than a note may be.
    #[error("the checkpoint is {0} bytes; at most {MAX_NOTE_BYTES} are accepted")]
    TooLarge(usize),
    /// A control character other than newline.
    #[error("a checkpoint may contain no control character but newline")]
    ControlCharacter,
    /// Not ending in a newline.
    #[error("a checkpoint's text ends in a newline")]
    NoFinalNewline,
    /// Fewer than the three mandatory lines.
    #[error("a checkpoint has at least three lines: origin, size, root hash")]
    TooFewLines,
    /// An empty line (all lines, extensions included, are non-empty).
    #[error("line {0} of the checkpoint is empty")]
    EmptyLine(usize),
    /// An origin Tally would not write (empty, or with a space or `+`).
    #[error("an origin is non-empty, with no spaces or '+'")]
    BadOrigin,
    /// The size line is not a decimal without leading zeros that fits in 64 bits.
    #[error("the tree size must be a decimal number without leading zeros, below 2^64")]
    BadSize,
    /// The root line is not the base64 of 32 bytes.
    #[error("the root hash: {0}")]
    BadRoot(LogHashError),
    /// The note around the checkpoint is malformed or not signed by a trusted key.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A log's tree head: origin, size, root hash and (read, never written by Tally) extension
/// lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: LogHash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint of the tree of `size` leaves with root `root` in the log `origin`.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: LogHash,
    ) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty()
            || origin.len() > 1024
            || origin
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '+')
        {
            return Err(CheckpointError::BadOrigin);
        }
        Ok(Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Parses a checkpoint text (a note's text, without signatures) strictly.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge(text.len()));
        }
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(CheckpointError::ControlCharacter);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NoFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(empty) = lines.iter().position(|l| l.is_empty()) {
            return Err(CheckpointError::EmptyLine(empty + 1));
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines);
        };
        let size_ok =
            size.bytes().all(|b| b.is_ascii_digit()) && (*size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or(CheckpointError::BadSize)?;
        let root = LogHash::from_base64(root).map_err(CheckpointError::BadRoot)?;
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    /// Opens a signed checkpoint: parses the note, verifies it against `trusted` and parses
    /// the verified text.
    pub fn open(
        note: &[u8],
        trusted: &[NoteVerifier],
    ) -> Result<(Self, VerifiedNote), CheckpointError> {
        let verified = Note::parse(note)?.verify(trusted)?;
        let checkpoint = Self::parse(verified.text())?;
        Ok((checkpoint, verified))
    }

    /// This checkpoint as a note signed by `signer`.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, CheckpointError> {
        let mut note = Note::new(self.to_string())?;
        note.sign(signer)?;
        Ok(note)
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &LogHash {
        &self.root
    }

    /// Extension lines, if the signer wrote any (opaque; Tally writes none).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Verifies that `leaf` is leaf `index` of the tree this checkpoint states.
    pub fn verify_inclusion(
        &self,
        leaf: &LogHash,
        index: u64,
        proof: &[LogHash],
    ) -> Result<(), VerifyError> {
        verify_inclusion(leaf, index, self.size, proof, &self.root)
    }
}

/// The checkpoint's text: origin, size, base64 root, extension lines, each ending in `\n`.
impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", self.root.to_base64())?;
        for extension in &self.extensions {
            writeln!(f, "{extension}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;
    use crate::tlog::hash::EMPTY_ROOT;

    #[test]
    fn the_spec_example_parses_and_formats_back() {
        // The checkpoint text of C2SP tlog-checkpoint's example.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse(text).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), 20_852_163);
        assert_eq!(checkpoint.to_string(), text);
        let with_extension = format!("{text}ext line\n");
        let parsed = Checkpoint::parse(&with_extension).unwrap();
        assert_eq!(parsed.extensions(), ["ext line"]);
        assert_eq!(parsed.to_string(), with_extension);
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = EMPTY_ROOT.to_base64();
        for (text, want) in [
            (format!("o\n0\n{root}"), CheckpointError::NoFinalNewline),
            ("o\n0\n".to_owned(), CheckpointError::TooFewLines),
            (format!("\n0\n{root}\n"), CheckpointError::EmptyLine(1)),
            (format!("o\n0\n{root}\n\n"), CheckpointError::EmptyLine(4)),
            (format!("o\n00\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n01\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n-1\n{root}\n"), CheckpointError::BadSize),
            (format!("o\n 1\n{root}\n"), CheckpointError::BadSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::BadSize,
            ),
            (
                format!("o\r\n0\n{root}\n"),
                CheckpointError::ControlCharacter,
            ),
        ] {
            assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
        }
        assert!(matches!(
            Checkpoint::parse("o\n0\nZG9uJ3QgY2FyZSAy\n"),
            Err(CheckpointError::BadRoot(_))
        ));
        assert!(matches!(
            Checkpoint::parse(&format!("o\n0\n{}\n", EMPTY_ROOT.to_hex())),
            Err(CheckpointError::BadRoot(_))
        ));
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size(),
            u64::MAX
        );
        assert!(Checkpoint::new("has space", 0, EMPTY_ROOT).is_err());
        assert!(Checkpoint::new("a+b", 0, EMPTY_ROOT).is_err());
        assert!(Checkpoint::new("", 0, EMPTY_ROOT).is_err());
    }

    #[test]
    fn origin_of_a_chain() {
        let network = NetworkId::digest(b"genesis");
        let member = MemberId::new("platform").unwrap();
        let origin = origin(&network, &member);
        assert_eq!(
            origin,
            format!("tally.invalid/{}/platform", network.to_hex())
        );
        assert!(Checkpoint::new(origin, 0, EMPTY_ROOT).is_ok());
    }

    #[test]
    fn signed_checkpoint_round_trip() {
        let network = NetworkId::digest(b"genesis");
        let witness = MemberId::new("regulator").unwrap();
        let signer = NoteSigner::new(
            key_name(&network, &witness),
            &SigningKey::from_seed(&[9; 32]),
        )
        .unwrap();
        let checkpoint = Checkpoint::new(
            origin(&network, &MemberId::new("platform").unwrap()),
            3,
            LogHash::leaf(b"x"),
        )
        .unwrap();
        let note = checkpoint.sign(&signer).unwrap().to_string();
        let (opened, verified) = Checkpoint::open(note.as_bytes(), &[signer.verifier()]).unwrap();
        assert_eq!(opened, checkpoint);
        assert!(verified.is_signed_by(&signer.verifier()));
        let other = NoteSigner::new("someone", &SigningKey::from_seed(&[8; 32])).unwrap();
        assert_eq!(
            Checkpoint::open(note.as_bytes(), &[other.verifier()]),
            Err(CheckpointError::Note(NoteError::NoTrustedSignature))
        );
    }

    /// The example of `docs/formats.md` ("Verifiable logs"): pinned, as a format.
    #[test]
    fn pinned_example_note() {
        let network =
            NetworkId::from_hex("0428fe532cb4c767fce9d5fd69f443de5d3ed0cb45aa8b98add055a4a2260d2d")
                .unwrap();
        let signer = NoteSigner::new(
            key_name(&network, &MemberId::new("regulator").unwrap()),
            &SigningKey::from_seed(&[0x42; 32]),
        )
        .unwrap();
        let checkpoint = Checkpoint::new(
            origin(&network, &MemberId::new("platform").unwrap()),
            8,
            LogHash::from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
                .unwrap(),
        )
        .unwrap();
        let note = "tally.invalid/0428fe532cb4c767fce9d5fd69f443de5d3ed0cb45aa8b98add055a4a2260d2d/platform\n\
                    8\n\
                    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
                    \n\
                    \u{2014} tally.invalid/0428fe532cb4c767fce9d5fd69f443de5d3ed0cb45aa8b98add055a4a2260d2d/regulator veV47Oa6nPuanpSGwD2pGLvQV7lQNYPpj27Dqfd9U8qC9AzORy86kv5v0HSXTBzQWFsC2b68kt6pw0UK/ZTuKD3o9Qo=\n";
        assert_eq!(checkpoint.sign(&signer).unwrap().to_string(), note);
        assert_eq!(
            signer.verifier().vkey(),
            "tally.invalid/0428fe532cb4c767fce9d5fd69f443de5d3ed0cb45aa8b98add055a4a2260d2d/regulator+bde578ec+ASFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS"
        );
    }
}
