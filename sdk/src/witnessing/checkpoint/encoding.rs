//! The binary encoding of a [`Checkpoint`] depends on its format, which comes first in it:
//! a format-1 span is `(head, first, entries_root)`, a format-2 span adds its tree head as a
//! present option. Reading the body first tells which spans follow, so checkpoints stored or
//! sent in format 1 still decode (and verify: their leaves are encoded as they were). The
//! JSON form (evidence, API answers) names its fields, and a format-1 span simply has no
//! `tree`.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{ChainHead, ChainSpan, Checkpoint, SPANS_ONLY_FORMAT, SignedCheckpoint};
use crate::hash::MerkleRoot;

#[derive(Deserialize)]
struct SpanOnly {
    head: ChainHead,
    first: u64,
    entries_root: MerkleRoot,
}

#[derive(Deserialize)]
#[serde(rename = "Checkpoint")]
struct Named {
    signed: SignedCheckpoint,
    spans: Vec<ChainSpan>,
}

impl<'de> Deserialize<'de> for Checkpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let Named { signed, spans } = Named::deserialize(deserializer)?;
            return Ok(Self { signed, spans });
        }
        deserializer.deserialize_struct("Checkpoint", &["signed", "spans"], ByFormat)
    }
}

struct ByFormat;

impl<'de> Visitor<'de> for ByFormat {
    type Value = Checkpoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a signed checkpoint and its spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checkpoint, A::Error> {
        let signed: SignedCheckpoint = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let spans = if signed.body.format == SPANS_ONLY_FORMAT {
            seq.next_element::<Vec<SpanOnly>>()?
                .ok_or_else(|| de::Error::invalid_length(1, &self))?
                .into_iter()
                .map(|s| ChainSpan {
                    head: s.head,
                    first: s.first,
                    entries_root: s.entries_root,
                    tree: None,
                })
                .collect()
        } else {
            // A span's own derived layout reads its tree head as a present option.
            seq.next_element::<Vec<ChainSpan>>()?
                .ok_or_else(|| de::Error::invalid_length(1, &self))?
        };
        Ok(Checkpoint { signed, spans })
    }
}
