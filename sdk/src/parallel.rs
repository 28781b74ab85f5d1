//! CPU-bound work of one request spread over the machine's cores: signing a batch of entries,
//! checking the events of a captured document.
//!
//! A request that a node serves one at a time (a member's own entries are placed in order by
//! one writer; one capture runs at a time) would otherwise use one core of a two-core machine
//! however long it is. The work is cut into one contiguous chunk per core, each chunk run on a
//! scoped thread (the calling thread takes the first), and the results come back in the
//! items' order: the outcome is the same as a sequential map's, only sooner. Where threads
//! cannot be spawned, or the batch is too small to pay for them, the map runs on the calling
//! thread.

use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;

/// How many threads a map may use: the cores this process may run on, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

/// `items.into_iter().enumerate().map(|(i, item)| f(i, item)).collect()`, spread over the
/// cores in chunks of at least `min_chunk` items.
pub fn map<T, R, F>(items: Vec<T>, min_chunk: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, T) -> R + Sync,
{
    let threads = cores().min(items.len() / min_chunk.max(1)).max(1);
    if threads == 1 {
        return sequential(items, 0, &f);
    }
    let chunk_len = items.len().div_ceil(threads);
    // Each chunk waits in a slot its thread takes it from; a chunk whose thread could not be
    // spawned is still there for this thread to do.
    let mut slots = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > chunk_len {
        let tail = rest.split_off(chunk_len);
        slots.push(Mutex::new(Some(rest)));
        rest = tail;
    }
    slots.push(Mutex::new(Some(rest)));
    let f = &f;
    thread::scope(|scope| {
        let others: Vec<_> = slots
            .iter()
            .enumerate()
            .skip(1)
            .map(|(n, slot)| {
                let start = n * chunk_len;
                let handle = thread::Builder::new()
                    .spawn_scoped(scope, move || sequential(take(slot), start, f))
                    .ok();
                (start, slot, handle)
            })
            .collect();
        let mut results = Vec::new();
        if let Some(first) = slots.first() {
            results = sequential(take(first), 0, f);
        }
        for (start, slot, handle) in others {
            match handle.map(|h| h.join()) {
                Some(Ok(part)) => results.extend(part),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => results.extend(sequential(take(slot), start, f)),
            }
        }
        results
    })
}

/// The chunk in `slot`, taken (empty if taken already).
fn take<T>(slot: &Mutex<Option<Vec<T>>>) -> Vec<T> {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    guard.take().unwrap_or_default()
}

fn sequential<T, R>(items: Vec<T>, start: usize, f: &impl Fn(usize, T) -> R) -> Vec<R> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| f(start + i, item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_same_as_a_sequential_map(items in proptest::collection::vec(any::<u32>(), 0..300),
                                        min_chunk in 0usize..40) {
            let expected: Vec<(usize, u64)> = items
                .iter()
                .enumerate()
                .map(|(i, x)| (i, u64::from(*x) * 3))
                .collect();
            let got = map(items, min_chunk, |i, x| (i, u64::from(x) * 3));
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn a_panic_in_a_chunk_reaches_the_caller() {
        let items: Vec<u32> = (0..1_000).collect();
        let outcome = std::panic::catch_unwind(|| {
            map(items, 1, |_, x| {
                assert!(x != 999, "the last item");
                x
            })
        });
        assert!(outcome.is_err());
    }
}
