//! Durable storage of the ledger on RocksDB.
//!
//! Column families and their keys (all integers big-endian, so keys sort in time/sequence
//! order; strings are followed by a 0 byte, which no member id, product id or CBV word
//! contains):
//!
//! | column family | key | value |
//! |---|---|---|
//! | `entries` | entry hash (32) | signed entry (canonical encoding) |
//! | `chains` | author, 0, seq (8) | entry hash |
//! | `heads` | author | seq (8), hash (32), timestamp (8) |
//! | `by_product` | product id, 0, event time (8), hash | — |
//! | `by_kind` | kind (1), event time (8), hash | — |
//! | `by_biz_step` | bizStep, 0, event time (8), hash | — |
//! | `by_disposition` | disposition, 0, event time (8), hash | — |
//! | `by_time` | event time (8), hash | — |
//! | `checkpoints`, `forks`, `private` | (replication and disclosure) | |
//! | `meta` | `network_id`, `format` | |
//!
//! Every write is one atomic `WriteBatch` written with the WAL synced, so what [`Store::write`]
//! returned `Ok` for survives a crash, and a batch is either wholly there or not at all.
//! Reads of entries re-hash the bytes and compare with the key: a corrupted value is reported,
//! never served.

use std::path::Path;

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::{EntryHash, NetworkId};
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::ChainTip;

/// The storage format this node writes.
pub const STORE_FORMAT: u32 = 1;

/// Largest stored entry the node will decode.
pub const MAX_STORED_ENTRY: usize = 1 << 20;

/// The column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// Entries by hash.
    Entries,
    /// Entry hashes by author and sequence number.
    Chains,
    /// Chain heads by author.
    Heads,
    /// Index by product.
    ByProduct,
    /// Index by C2M kind.
    ByKind,
    /// Index by bizStep.
    ByBizStep,
    /// Index by disposition.
    ByDisposition,
    /// Index by event time.
    ByTime,
    /// Checkpoints.
    Checkpoints,
    /// Fork proofs.
    Forks,
    /// Private field values.
    Private,
    /// Store metadata.
    Meta,
}

impl Cf {
    /// All column families.
    pub const ALL: [Cf; 12] = [
        Cf::Entries,
        Cf::Chains,
        Cf::Heads,
        Cf::ByProduct,
        Cf::ByKind,
        Cf::ByBizStep,
        Cf::ByDisposition,
        Cf::ByTime,
        Cf::Checkpoints,
        Cf::Forks,
        Cf::Private,
        Cf::Meta,
    ];

    /// The RocksDB name.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Entries => "entries",
            Cf::Chains => "chains",
            Cf::Heads => "heads",
            Cf::ByProduct => "by_product",
            Cf::ByKind => "by_kind",
            Cf::ByBizStep => "by_biz_step",
            Cf::ByDisposition => "by_disposition",
            Cf::ByTime => "by_time",
            Cf::Checkpoints => "checkpoints",
            Cf::Forks => "forks",
            Cf::Private => "private",
            Cf::Meta => "meta",
        }
    }
}

/// Storage failed or found the store inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("storage error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// The store belongs to another network.
    #[error(
        "the data directory belongs to network {found}, but the genesis is network {expected}: use a fresh data directory for this consortium"
    )]
    WrongNetwork {
        /// The genesis's network.
        expected: NetworkId,
        /// The store's network.
        found: String,
    },
    /// The store is damaged.
    #[error(
        "the store is corrupted: {0}. Restore the data directory from a backup (see docs/operations.md); the node will not serve damaged data"
    )]
    Corrupted(String),
}

fn corrupted(what: impl Into<String>) -> StoreError {
    StoreError::Corrupted(what.into())
}

/// Writes to make atomically.
#[derive(Debug, Default)]
pub struct WritePlan {
    puts: Vec<(Cf, Vec<u8>, Vec<u8>)>,
}

impl WritePlan {
    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.puts.push((cf, key, value));
    }

    /// Appends another plan.
    pub fn extend(&mut self, other: WritePlan) {
        self.puts.extend(other.puts);
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }
}

/// Key of a chain position.
pub fn chain_key(author: &MemberId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(author.as_str().len() + 9);
    key.extend_from_slice(author.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Value of a chain head.
pub fn head_value(tip: &ChainTip) -> Vec<u8> {
    let mut value = Vec::with_capacity(48);
    value.extend_from_slice(&tip.seq.to_be_bytes());
    value.extend_from_slice(tip.hash.as_bytes());
    value.extend_from_slice(&tip.timestamp.millis().to_be_bytes());
    value
}

fn parse_head(value: &[u8]) -> Option<ChainTip> {
    let seq = u64::from_be_bytes(value.get(0..8)?.try_into().ok()?);
    let hash = EntryHash::from_bytes(value.get(8..40)?.try_into().ok()?);
    let timestamp = Timestamp(u64::from_be_bytes(value.get(40..48)?.try_into().ok()?));
    (value.len() == 48).then_some(ChainTip {
        seq,
        hash,
        timestamp,
    })
}

/// An index key: `prefix` (already 0-terminated if a string), event time, entry hash.
pub fn index_key(prefix: &[u8], time: Timestamp, hash: &EntryHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 40);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&time.millis().to_be_bytes());
    key.extend_from_slice(hash.as_bytes());
    key
}

/// A string index prefix: the bytes and a 0 terminator.
pub fn string_prefix(text: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(text.len() + 1);
    prefix.extend_from_slice(text.as_bytes());
    prefix.push(0);
    prefix
}

/// The RocksDB store.
pub struct Store {
    db: DB,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the store for `network` and checks it: the network matches, and every
    /// chain head's entry is present, undamaged and linked to the entries before it (the last
    /// `check_depth` of them).
    pub fn open(path: &Path, network: NetworkId, check_depth: u64) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_paranoid_checks(true);
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(cf.name(), cf_options)
        });
        let db = DB::open_cf_descriptors(&options, path, cfs)?;
        let store = Self { db };
        store.check_meta(network)?;
        store.check_chains(check_depth)?;
        Ok(store)
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| corrupted(format!("column family {} is missing", cf.name())))
    }

    fn check_meta(&self, network: NetworkId) -> Result<(), StoreError> {
        let meta = self.cf(Cf::Meta)?;
        match self.db.get_cf(meta, b"network_id")? {
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, b"network_id", network.as_bytes());
                batch.put_cf(meta, b"format", STORE_FORMAT.to_be_bytes());
                let mut options = WriteOptions::default();
                options.set_sync(true);
                self.db.write_opt(batch, &options)?;
                Ok(())
            }
            Some(found) if found.as_slice() == network.as_bytes() => {
                let format = self.db.get_cf(meta, b"format")?;
                if format.as_deref() != Some(&STORE_FORMAT.to_be_bytes()[..]) {
                    return Err(corrupted("the store format marker is missing or unknown"));
                }
                Ok(())
            }
            Some(found) => Err(StoreError::WrongNetwork {
                expected: network,
                found: hex::encode(found),
            }),
        }
    }

    fn check_chains(&self, depth: u64) -> Result<(), StoreError> {
        for (author, tip) in self.heads()? {
            let mut expected = tip.hash;
            let lowest = tip.seq.saturating_sub(depth);
            let mut seq = tip.seq;
            loop {
                let hash = self.chain_hash(&author, seq)?.ok_or_else(|| {
                    corrupted(format!(
                        "entry {seq} of {author} is missing from the chain index"
                    ))
                })?;
                if hash != expected {
                    return Err(corrupted(format!(
                        "entry {seq} of {author} does not link to the entry after it"
                    )));
                }
                let entry = self.entry(&hash)?.ok_or_else(|| {
                    corrupted(format!("entry {seq} of {author} ({hash}) is missing"))
                })?;
                if entry.body.author != author || entry.body.seq != seq {
                    return Err(corrupted(format!(
                        "entry {hash} is stored at the wrong place"
                    )));
                }
                match (entry.body.prev, seq) {
                    (None, 0) => break,
                    (Some(prev), s) if s > lowest => {
                        expected = prev;
                        seq -= 1;
                    }
                    (Some(_), _) => break,
                    (None, _) => {
                        return Err(corrupted(format!(
                            "entry {seq} of {author} has no previous hash"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes a plan atomically and durably (the WAL is synced before this returns).
    pub fn write(&self, plan: &WritePlan) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (cf, key, value) in &plan.puts {
            batch.put_cf(self.cf(*cf)?, key, value);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// An entry by hash, checked against its hash.
    pub fn entry(&self, hash: &EntryHash) -> Result<Option<SignedEntry>, StoreError> {
        let Some(bytes) = self.db.get_cf(self.cf(Cf::Entries)?, hash.as_bytes())? else {
            return Ok(None);
        };
        let entry = SignedEntry::from_bytes(&bytes, MAX_STORED_ENTRY)
            .map_err(|e| corrupted(format!("entry {hash} cannot be decoded: {e}")))?;
        let actual = entry
            .hash()
            .map_err(|e| corrupted(format!("entry {hash} cannot be encoded: {e}")))?;
        if actual != *hash {
            return Err(corrupted(format!("entry {hash} does not match its hash")));
        }
        Ok(Some(entry))
    }

    /// The hash at a chain position.
    pub fn chain_hash(&self, author: &MemberId, seq: u64) -> Result<Option<EntryHash>, StoreError> {
        let Some(bytes) = self
            .db
            .get_cf(self.cf(Cf::Chains)?, chain_key(author, seq))?
        else {
            return Ok(None);
        };
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| corrupted(format!("chain index of {author} at {seq} is damaged")))?;
        Ok(Some(EntryHash::from_bytes(bytes)))
    }

    /// Every chain head.
    pub fn heads(&self) -> Result<Vec<(MemberId, ChainTip)>, StoreError> {
        let mut heads = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(Cf::Heads)?, IteratorMode::Start)
        {
            let (key, value) = item?;
            let author = std::str::from_utf8(&key)
                .ok()
                .and_then(|s| MemberId::new(s).ok())
                .ok_or_else(|| corrupted("a chain head has an invalid member id"))?;
            let tip = parse_head(&value)
                .ok_or_else(|| corrupted(format!("the chain head of {author} is damaged")))?;
            heads.push((author, tip));
        }
        Ok(heads)
    }

    /// Entries of an index under `prefix`, after the key `after` (exclusive), at most `limit`.
    /// Returns the hashes and the last key seen (the cursor for the next page).
    pub fn scan_index(
        &self,
        cf: Cf,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<EntryHash>, Option<Vec<u8>>), StoreError> {
        let start = after.unwrap_or(prefix);
        let mut hashes = Vec::new();
        let mut last = None;
        for item in self
            .db
            .iterator_cf(self.cf(cf)?, IteratorMode::From(start, Direction::Forward))
        {
            let (key, _) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|a| a == &key[..]) {
                continue;
            }
            if hashes.len() == limit {
                break;
            }
            let hash: [u8; 32] = key
                .get(key.len().saturating_sub(32)..)
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| corrupted(format!("an index key of {} is damaged", cf.name())))?;
            hashes.push(EntryHash::from_bytes(hash));
            last = Some(key.to_vec());
        }
        let more = hashes.len() == limit;
        Ok((hashes, if more { last } else { None }))
    }

    /// Flushes memtables and compacts every column family (for backups and disk measurements).
    pub fn compact(&self) -> Result<(), StoreError> {
        for cf in Cf::ALL {
            let handle = self.cf(cf)?;
            self.db.flush_cf(handle)?;
            self.db
                .compact_range_cf(handle, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// The raw database, for tests that damage it on purpose.
    #[doc(hidden)]
    pub fn raw_put(&self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db.put_cf(self.cf(cf)?, key, value)?;
        Ok(())
    }
}
