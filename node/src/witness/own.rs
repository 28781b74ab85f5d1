//! The node's own checkpoints: what its chains grew by since its last one, with each chain's
//! tree head cosigned, signed.
//!
//! A tree head is cosigned only after a consistency proof from the last head of that chain
//! the node cosigned, built from its tiles and checked with the SDK: whatever happened to the
//! store (restored from another node's backup after a fork, damaged tiles), the node never
//! signs a history that rewrites one it signed. The chain is then left out, and the error
//! logged, until the store is put right.

use tally_sdk::crypto::SigningKey;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::proof::verify_consistency;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint, MAX_SPAN_LEN};

use super::book::{Book, BookError};
use crate::store::tiles::{ChainTiles, ProofError};
use crate::store::{Store, StoreError, corrupted};

/// Signs and records the node's next checkpoint: for each chain it holds past what its
/// checkpoints have stated, a span of the new entries (at most [`MAX_SPAN_LEN`]; the rest goes
/// in later checkpoints) and the chain's tree head at the span's end. `None` when nothing is
/// new. One caller at a time: the numbers come from the book.
pub fn make_checkpoint(
    book: &Book,
    store: &dyn Store,
    me: &MemberId,
    key: &SigningKey,
    now: Timestamp,
) -> Result<Option<Checkpoint>, BookError> {
    let network = book.genesis().network_id();
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
        let hashes = store
            .chain_hashes(&head.author, first, last)?
            .ok_or_else(|| {
                corrupted(format!(
                    "{}'s chain is shorter than its head says",
                    head.author
                ))
            })?;
        let size = last + 1;
        let tiles = ChainTiles::new(store, head.code);
        let root = tiles.root(size)?;
        if let Some((cosigned, cosigned_root)) = cosigned_head(book, me, &head.author)?
            && let Err(why) = consistent(&tiles, cosigned, &cosigned_root, size, &root)?
        {
            tracing::error!(
                author = %head.author, cosigned, size, why,
                "will not cosign {}'s chain at {size} entries: it is not an extension of the \
                 head at {cosigned} this node cosigned ({why}); the store holds another history \
                 than the one this node signed",
                head.author
            );
            continue;
        }
        let span =
            ChainSpan::new(head.author, first, &hashes)?.cosigned(&network, me, root, key)?;
        spans.push(span);
    }
    if spans.is_empty() {
        return Ok(None);
    }
    let number = book.progress(me)?.next;
    let checkpoint = Checkpoint::sign(network, me.clone(), number, now, spans, key)?;
    book.record(&checkpoint)?;
    Ok(Some(checkpoint))
}

/// The last tree head of `author`'s chain that `me` cosigned: its size and root (`None` if it
/// cosigned none, or stated the chain only in format-1 checkpoints).
fn cosigned_head(
    book: &Book,
    me: &MemberId,
    author: &MemberId,
) -> Result<Option<(u64, LogHash)>, StoreError> {
    let Some(last) = book.stated(me, author)? else {
        return Ok(None);
    };
    Ok(book.covering(author, me, last)?.and_then(|checkpoint| {
        let span = checkpoint.span(author)?;
        let tree = span.tree.as_ref()?;
        Some((span.tree_size(), tree.root))
    }))
}

/// Whether the log at `size` with `root` extends the one at `old_size` with `old_root`, by a
/// consistency proof from the tiles; `Err(why)` if not.
fn consistent<S: Store + ?Sized>(
    tiles: &ChainTiles<'_, S>,
    old_size: u64,
    old_root: &LogHash,
    size: u64,
    root: &LogHash,
) -> Result<Result<(), String>, StoreError> {
    let proof = match tiles.consistency(old_size, size) {
        Ok(proof) => proof,
        Err(ProofError::Store(error)) => return Err(error),
        Err(ProofError::Refused(why)) => return Ok(Err(why)),
    };
    Ok(verify_consistency(old_size, size, &proof, old_root, root).map_err(|e| e.to_string()))
}
