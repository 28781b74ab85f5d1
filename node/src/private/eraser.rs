//! The eraser: a background thread that gets purged values off the disk
//! ([`purge::erase_from_disk`]: flush every column family, compact the private rows, delete the
//! markers covered), so that the writer never waits for it.
//!
//! The writer erases the fields from their rows itself (a small write: from then on no read
//! shows them) and then wakes the eraser ([`EraserHandle::wake`]). Wake-ups while a run is in
//! progress fold into one more run, which covers every purge stored meanwhile: however fast
//! purges come, the disk is rewritten at most back to back, never once per purge. The eraser
//! stops when every handle is gone, after finishing what it was woken for.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use super::purge;
use crate::store::Store;

/// Wakes the eraser; cheap to clone.
#[derive(Debug, Clone)]
pub struct EraserHandle(SyncSender<()>);

impl EraserHandle {
    /// Asks for a run (folded into the pending one if there is one).
    pub fn wake(&self) {
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::error!(
                    "the eraser has stopped; purged values leave the disk at the next start"
                );
            }
        }
    }
}

/// Starts the eraser over `store`.
pub fn start<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) -> std::io::Result<(EraserHandle, JoinHandle<()>)> {
    let (wake, woken) = sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("tally-eraser".into())
        .spawn(move || run(store.as_ref(), &woken))?;
    Ok((EraserHandle(wake), thread))
}

fn run<S: Store + ?Sized>(store: &S, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        if let Err(error) = purge::erase_from_disk(store) {
            tracing::error!(%error, "cannot rewrite the store's files after a purge; the next purge or start will");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::{Batch, Cf, KeyRange};

    #[test]
    fn a_wake_up_erases_every_marker_present_and_the_eraser_stops_with_its_handles() {
        let store = Arc::new(MemoryStore::new());
        let mut batch = Batch::default();
        for i in 0..3u8 {
            batch.put(
                Cf::Meta,
                [b"purge-disk/".as_slice(), &[i]].concat(),
                Vec::new(),
            );
        }
        store.write(batch).unwrap();
        let (handle, thread) = start(store.clone()).unwrap();
        handle.wake();
        handle.wake();
        drop(handle);
        thread.join().unwrap();
        assert!((1..=2).contains(&store.erasures()), "{}", store.erasures());
        let left = store
            .scan(Cf::Meta, &KeyRange::prefix(b"purge-disk/"), 10)
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
