//! The node's own checkpoints: what its chains grew by since its last one, signed.

use tally_sdk::checkpoint::{ChainSpan, Checkpoint, MAX_SPAN_LEN};
use tally_sdk::crypto::SigningKey;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;

use super::book::{Book, BookError, chain_hashes};
use crate::store::{Store, corrupted};

/// Signs and records the node's next checkpoint: for each chain it holds past what its
/// checkpoints have stated, a span of the new entries (at most [`MAX_SPAN_LEN`]; the rest goes
/// in later checkpoints). `None` when nothing is new. One caller at a time: the numbers come
/// from the book.
pub fn make_checkpoint(
    book: &Book,
    store: &dyn Store,
    me: &MemberId,
    key: &SigningKey,
    now: Timestamp,
) -> Result<Option<Checkpoint>, BookError> {
    let mut spans = Vec::new();
    for head in store.heads()? {
        let first = match book.stated(me, &head.author)? {
            Some(last) => last.saturating_add(1),
            None => 0,
        };
        if first > head.tip.seq {
            continue;
        }
        let last = head.tip.seq.min(first + (MAX_SPAN_LEN - 1));
        let hashes = chain_hashes(store, &head.author, first, last)?.ok_or_else(|| {
            corrupted(format!(
                "{}'s chain is shorter than its head says",
                head.author
            ))
        })?;
        spans.push(ChainSpan::new(head.author, first, &hashes)?);
    }
    if spans.is_empty() {
        return Ok(None);
    }
    let number = book.progress(me)?.next;
    let network = book.genesis().network_id();
    let checkpoint = Checkpoint::sign(network, me.clone(), number, now, spans, key)?;
    book.record(&checkpoint)?;
    Ok(Some(checkpoint))
}
