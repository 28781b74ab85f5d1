//! An in-memory [`Store`]: a sorted map per column family behind a lock. For tests of the
//! pipeline and the committer, and to run the storage test suite without a disk. A write is
//! atomic (applied under one lock); "durable" means only that it outlives the write call.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use tally_sdk::tlog::tile::TileCache;

use super::tiles::{TILE_CACHE_BYTES, written_tiles};
use super::{Batch, Cf, KeyRange, Op, Row, ScanOrder, Store, StoreError};

type Tables = HashMap<Cf, BTreeMap<Vec<u8>, Vec<u8>>>;

/// An in-memory store.
#[derive(Debug)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
    fail_writes: AtomicBool,
    erasures: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
    /// The same cache of decoded tiles as a RocksDB store keeps, so tests read proofs as a
    /// node does.
    tile_cache: TileCache,
    /// [`Store::row_lock`].
    rows: std::sync::Mutex<()>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            tables: RwLock::default(),
            fail_writes: AtomicBool::default(),
            erasures: std::sync::atomic::AtomicU64::default(),
            writes: std::sync::atomic::AtomicU64::default(),
            tile_cache: TileCache::new(TILE_CACHE_BYTES),
            rows: std::sync::Mutex::new(()),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the store was asked to rewrite its files ([`Store::erase_deleted`]).
    pub fn erasures(&self) -> u64 {
        self.erasures.load(Ordering::SeqCst)
    }

    /// How many batches were written ([`Store::write`] calls that succeeded): what is durable
    /// together is what one write holds.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Makes every following write fail (or succeed again), as a full disk would.
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
    }

    /// A copy of the current contents: what a restart after a crash would find.
    pub fn snapshot(&self) -> Self {
        let tables = self
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Self {
            tables: RwLock::new(tables),
            ..Self::default()
        }
    }
}

impl Store for MemoryStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        Ok(tables.get(&cf).and_then(|t| t.get(key)).cloned())
    }

    fn scan_ordered(
        &self,
        cf: Cf,
        range: &KeyRange,
        limit: usize,
        order: ScanOrder,
    ) -> Result<Vec<Row>, StoreError> {
        if range
            .end
            .as_ref()
            .is_some_and(|end| end.as_slice() <= range.start.as_slice())
        {
            return Ok(Vec::new());
        }
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let Some(table) = tables.get(&cf) else {
            return Ok(Vec::new());
        };
        let end = match &range.end {
            Some(end) => Bound::Excluded(end.clone()),
            None => Bound::Unbounded,
        };
        let rows = table.range((Bound::Included(range.start.clone()), end));
        let row = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(match order {
            ScanOrder::Ascending => rows.take(limit).map(row).collect(),
            ScanOrder::Descending => rows.rev().take(limit).map(row).collect(),
        })
    }

    fn erase_deleted(&self) -> Result<(), StoreError> {
        // Nothing is on disk; a deleted value is gone once its table entry is. Counted, so
        // tests see when a file rewrite was asked for.
        self.erasures.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("writes are failing (test)".into()));
        }
        let tiles = written_tiles(batch.ops());
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        for op in batch.into_ops() {
            match op {
                Op::Put(cf, key, value) => {
                    tables.entry(cf).or_default().insert(key, value);
                }
                Op::Delete(cf, key) => {
                    if let Some(table) = tables.get_mut(&cf) {
                        table.remove(&key);
                    }
                }
            }
        }
        drop(tables);
        self.writes.fetch_add(1, Ordering::SeqCst);
        // After the write, so no reader keeps what it read before.
        if !tiles.is_empty() {
            self.tile_cache.forget(tiles);
        }
        Ok(())
    }

    fn tile_cache(&self) -> Option<&TileCache> {
        Some(&self.tile_cache)
    }

    fn row_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data: a panic while it was held leaves nothing to distrust.
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
