//! The node's [`Store`] on RocksDB (bundled build, LZ4 compression).
//!
//! One column family per [`Cf`]. A [`Batch`] becomes one RocksDB `WriteBatch` written with
//! the write-ahead log synced (`WriteOptions::set_sync(true)`), so a write that returned `Ok`
//! survives a crash or power loss, and recovery (point-in-time WAL recovery) never exposes
//! part of a batch. Blocks carry checksums that are verified on every read.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamilyDescriptor, CompactOptions,
    DB, DBCompressionType, DBRecoveryMode, Direction, ErrorKind, IteratorMode, Options,
    ReadOptions, WriteBatch, WriteOptions,
};
use tally_sdk::hash::NetworkId;

use tally_sdk::tlog::tile::TileCache;

use super::check::{CheckReport, check_store};
use super::tiles::{TILE_CACHE_BYTES, forget_written};
use super::{Batch, Cf, KeyRange, Op, Row, ScanOrder, Store, StoreError, corrupted};

/// How many entries below each chain head [`RocksStore::open`] re-reads and links.
pub const CHECK_DEPTH: u64 = 64;

/// Block cache shared by every column family.
const BLOCK_CACHE_BYTES: usize = 256 << 20;

fn backend(error: rocksdb::Error) -> StoreError {
    match error.kind() {
        ErrorKind::Corruption => corrupted(format!("RocksDB reports: {error}")),
        _ => StoreError::Backend(error.to_string()),
    }
}

/// The RocksDB store.
pub struct RocksStore {
    db: DB,
    path: PathBuf,
    tile_cache: TileCache,
    /// [`Store::row_lock`].
    rows: std::sync::Mutex<()>,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish()
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_paranoid_checks(true);
    options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    options.set_max_background_jobs(2);
    options.set_keep_log_file_num(4);
    options
}

fn cf_options(cf: Cf, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_block_size(16 << 10);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    // Point lookups (by hash, by position, by member) skip files with a Bloom filter; index
    // scans do not use one.
    if matches!(
        cf,
        Cf::Entries | Cf::Chain | Cf::Heads | Cf::Private | Cf::Captures
    ) {
        table.set_bloom_filter(10.0, false);
    }
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_bottommost_compression_type(DBCompressionType::Lz4);
    options.set_level_compaction_dynamic_level_bytes(true);
    options
}

impl RocksStore {
    /// Opens (or creates) the store in `path` for `network` and checks it
    /// ([`check_store`], [`CHECK_DEPTH`] entries deep). A damaged store, or one of another
    /// network or format, is refused with the reason; a node opens through
    /// `crate::upgrade::open`, which upgrades an older format first.
    pub fn open(path: &Path, network: NetworkId) -> Result<(Self, CheckReport), StoreError> {
        Self::open_with_depth(path, network, CHECK_DEPTH)
    }

    /// [`RocksStore::open`] with another check depth.
    pub fn open_with_depth(
        path: &Path,
        network: NetworkId,
        depth: u64,
    ) -> Result<(Self, CheckReport), StoreError> {
        let store = Self::open_unchecked(path)?;
        let report = check_store(&store, network, depth)?;
        Ok((store, report))
    }

    /// Opens (or creates) the store in `path` without checking it: for what must run before
    /// the checks (an upgrade of an older format), which then runs them.
    pub fn open_unchecked(path: &Path) -> Result<Self, StoreError> {
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf, &cache)));
        let db = DB::open_cf_descriptors(&options(), path, cfs).map_err(|e| {
            let error = backend(e);
            match error {
                // RocksDB's own words ("While lock file: .../LOCK: Resource temporarily
                // unavailable") do not say what to do.
                StoreError::Backend(message) if message.contains("/LOCK") => {
                    StoreError::Backend(format!(
                        "cannot open the store in {}: it is in use (is a node running on this \
                         data directory? Stop it first; a running node makes backups itself \
                         with POST /v1/backups): {message}",
                        path.display()
                    ))
                }
                StoreError::Backend(message) => StoreError::Backend(format!(
                    "cannot open the store in {}: {message}",
                    path.display()
                )),
                other => other,
            }
        })?;
        let store = Self {
            db,
            path: path.to_owned(),
            tile_cache: TileCache::new(TILE_CACHE_BYTES),
            rows: std::sync::Mutex::new(()),
        };
        Ok(store)
    }

    /// Opens the store in `path` read-only, as it stands (a running node may hold it: a
    /// read-only open takes no lock and writes nothing). It must be of `network` and of this
    /// software's storage format; nothing is upgraded or repaired. Writes to it fail.
    pub fn open_read_only(path: &Path, network: NetworkId) -> Result<Self, StoreError> {
        if !path.join("CURRENT").is_file() {
            return Err(StoreError::Backend(format!(
                "{} holds no store (no RocksDB CURRENT file)",
                path.display()
            )));
        }
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf, &cache)));
        let mut options = options();
        options.create_if_missing(false);
        let db = DB::open_cf_descriptors_read_only(&options, path, cfs, false).map_err(|e| {
            let message = e.to_string();
            // A store of an older format lacks column families added since; read-only, they
            // cannot be created.
            if message.contains("Column family not found") {
                StoreError::Backend(format!(
                    "the store in {} is of an older storage format: start its node once to \
                     upgrade it ({message})",
                    path.display()
                ))
            } else {
                StoreError::Backend(format!(
                    "cannot open the store in {} read-only: {message}",
                    path.display()
                ))
            }
        })?;
        let store = Self {
            db,
            path: path.to_owned(),
            tile_cache: TileCache::new(TILE_CACHE_BYTES),
            rows: std::sync::Mutex::new(()),
        };
        super::check::check_read_only(&store, network)?;
        Ok(store)
    }

    /// Where the store is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| corrupted(format!("column family {} is missing", cf.name())))
    }

    /// Flushes every memtable and compacts every column family (before a backup or a disk
    /// measurement).
    pub fn compact(&self) -> Result<(), StoreError> {
        for cf in Cf::ALL {
            let handle = self.cf(cf)?;
            self.db.flush_cf(handle).map_err(backend)?;
            self.db
                .compact_range_cf(handle, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Writes a consistent copy of the store into `path`, which must not exist: a RocksDB
    /// checkpoint (see [`crate::backup`]).
    pub fn checkpoint(&self, path: &Path) -> Result<(), StoreError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(path))
            .map_err(backend)
    }

    /// Bytes of the store's files on disk (SST files, logs, manifest).
    pub fn disk_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        let entries = std::fs::read_dir(&self.path).map_err(|e| {
            StoreError::Backend(format!("cannot list {}: {e}", self.path.display()))
        })?;
        for entry in entries {
            let metadata = entry
                .and_then(|e| e.metadata())
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            if metadata.is_file() {
                total += metadata.len();
            }
        }
        Ok(total)
    }
}

impl Store for RocksStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(cf)?, key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn get_many(&self, cf: Cf, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        // Sorted keys let RocksDB skip its own sort; the tiles of a proof come sorted.
        let sorted = keys.is_sorted();
        self.db
            .batched_multi_get_cf(self.cf(cf)?, keys, sorted)
            .into_iter()
            .map(|value| Ok(value.map_err(backend)?.map(|v| v.to_vec())))
            .collect()
    }

    fn scan_ordered(
        &self,
        cf: Cf,
        range: &KeyRange,
        limit: usize,
        order: ScanOrder,
    ) -> Result<Vec<Row>, StoreError> {
        let mut read = ReadOptions::default();
        if let Some(end) = &range.end {
            if end.as_slice() <= range.start.as_slice() {
                return Ok(Vec::new());
            }
            read.set_iterate_upper_bound(end.clone());
        }
        let mut rows = Vec::new();
        if limit == 0 {
            return Ok(rows);
        }
        let mode = match order {
            ScanOrder::Ascending => IteratorMode::From(&range.start, Direction::Forward),
            ScanOrder::Descending => {
                read.set_iterate_lower_bound(range.start.clone());
                // With an upper bound set, `End` starts at the last key below it.
                IteratorMode::End
            }
        };
        for item in self.db.iterator_cf_opt(self.cf(cf)?, read, mode) {
            let (key, value) = item.map_err(backend)?;
            rows.push((key.into_vec(), value.into_vec()));
            if rows.len() == limit {
                break;
            }
        }
        Ok(rows)
    }

    fn write(&self, batch: Batch) -> Result<(), StoreError> {
        let mut write = WriteBatch::default();
        for op in batch.ops() {
            match op {
                Op::Put(cf, key, value) => write.put_cf(self.cf(*cf)?, key, value),
                Op::Delete(cf, key) => write.delete_cf(self.cf(*cf)?, key),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let written = self.db.write_opt(write, &options).map_err(backend);
        // After the write, so no reader keeps what it read before (and also after a failed
        // write, which may have landed in part of RocksDB's view: dropping is always safe).
        forget_written(&self.tile_cache, batch.ops());
        written
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

    fn erase_deleted(&self) -> Result<(), StoreError> {
        // A log file is deleted once every column family with data in it is flushed.
        for cf in Cf::ALL {
            self.db.flush_cf(self.cf(cf)?).map_err(backend)?;
        }
        let mut options = CompactOptions::default();
        options.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
        self.db.compact_range_cf_opt(
            self.cf(Cf::Private)?,
            None::<&[u8]>,
            None::<&[u8]>,
            &options,
        );
        Ok(())
    }
}
