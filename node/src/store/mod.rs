//! The ledger's storage: a small key-value [`Store`] trait, its RocksDB implementation
//! ([`rocks::RocksStore`]) and an in-memory one ([`memory::MemoryStore`]) that runs the same
//! test suite, and the typed reads every caller uses on top of it.
//!
//! A store is a set of column families ([`Cf`]; layouts in [`keys`]). Writes go in one
//! [`Batch`], applied atomically and durably: when [`Store::write`] returns `Ok`, the whole
//! batch survives a crash, and after a crash either all of a batch is there or none of it.
//! Entries read back are re-hashed and compared with their key, so a damaged value is
//! reported as [`StoreError::Corrupted`], never served. [`check::check_store`] is what a store
//! runs when it opens.

pub mod check;
pub mod keys;
pub mod memory;
pub mod rocks;
pub mod tiles;

use std::fmt;

use tally_sdk::audit::rejection::RejectedEntry;
use tally_sdk::codec;
use tally_sdk::entry::SignedEntry;
use tally_sdk::event::KindName;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::{EntryHash, NetworkId};
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog::tile::TileCache;
use tally_sdk::witnessing::fork::ForkProof;

use keys::{Head, Position, index_position, index_time, kind_code, prefix_end, string_prefix};

/// The `meta` key marking a backup whose node must catch up with its own chain before signing.
pub const RESTORED_KEY: &[u8] = b"restored";

/// The storage format this node writes (stored in `meta`; a store of another format is
/// refused).
pub const STORE_FORMAT: u32 = 6;

/// Largest stored entry the node decodes.
pub const MAX_STORED_ENTRY: usize = 1 << 20;

/// Most entries one page of a query returns.
pub const MAX_PAGE: usize = 1_000;

/// The column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// Signed entries by hash.
    Entries,
    /// Entry hashes by position (author and sequence number): each member's chain.
    Chain,
    /// Chain heads by member id.
    Heads,
    /// Index by product (canonical GS1 Digital Link path).
    ByProduct,
    /// Index by C2M event kind.
    ByKind,
    /// Index by EPCIS bizStep.
    ByBizStep,
    /// Index by EPCIS disposition.
    ByDisposition,
    /// Index by event time.
    ByTime,
    /// Index by record time (the entry's timestamp: when its author's node recorded it).
    ByRecordTime,
    /// Index by EPCIS `eventID`.
    ByEventId,
    /// Checkpoints (written by replication).
    Checkpoints,
    /// Fork proofs: two entries one member signed at one position.
    Forks,
    /// Entries refused as their authors' doing (validly signed, breaking a rule).
    Rejected,
    /// Private fields held (leaves, values and salts, purge notes), by entry hash.
    Private,
    /// Entries whose private fields are still to be sent to a reader's node.
    Outbox,
    /// EPCIS capture jobs, by capture id.
    Captures,
    /// Network id and format.
    Meta,
    /// Each chain's log: the tiles of its Merkle tree ([`tiles`]).
    Tiles,
}

impl Cf {
    /// Every column family.
    pub const ALL: [Cf; 18] = [
        Cf::Entries,
        Cf::Chain,
        Cf::Heads,
        Cf::ByProduct,
        Cf::ByKind,
        Cf::ByBizStep,
        Cf::ByDisposition,
        Cf::ByTime,
        Cf::ByRecordTime,
        Cf::ByEventId,
        Cf::Checkpoints,
        Cf::Forks,
        Cf::Rejected,
        Cf::Private,
        Cf::Outbox,
        Cf::Captures,
        Cf::Meta,
        Cf::Tiles,
    ];

    /// Its name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Entries => "entries",
            Cf::Chain => "chain",
            Cf::Heads => "heads",
            Cf::ByProduct => "by_product",
            Cf::ByKind => "by_kind",
            Cf::ByBizStep => "by_biz_step",
            Cf::ByDisposition => "by_disposition",
            Cf::ByTime => "by_time",
            Cf::ByRecordTime => "by_record_time",
            Cf::ByEventId => "by_event_id",
            Cf::Checkpoints => "checkpoints",
            Cf::Forks => "forks",
            Cf::Rejected => "rejected",
            Cf::Private => "private",
            Cf::Outbox => "outbox",
            Cf::Captures => "captures",
            Cf::Meta => "meta",
            Cf::Tiles => "tiles",
        }
    }
}

/// Storage failed, or found the store inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("storage error: {0}")]
    Backend(String),
    /// The store belongs to another network.
    #[error(
        "the data directory belongs to network {found}, but the genesis is network {expected}: use a fresh data directory for this consortium"
    )]
    WrongNetwork {
        /// The genesis's network.
        expected: NetworkId,
        /// The store's network (hex).
        found: String,
    },
    /// The store was written by another version of the storage format.
    #[error(
        "the data directory is in storage format {found}, this node reads format {STORE_FORMAT}"
    )]
    Format {
        /// The store's format.
        found: String,
    },
    /// The store is of an older storage format: the node upgrades it when it opens it
    /// (`crate::upgrade::open`); a plain open refuses it.
    #[error(
        "the data directory is in storage format {found}, older than this node's {STORE_FORMAT}: start the node on it once to upgrade it"
    )]
    Older {
        /// The store's format.
        found: String,
    },
    /// The store is damaged.
    #[error(
        "the store is corrupted: {0}. The node will not serve damaged data: restore the data directory from a backup, or start from an empty one and let replication fetch the chains again"
    )]
    Corrupted(String),
    /// A query cursor is malformed.
    #[error("the cursor is not one this query returned")]
    BadCursor,
}

/// A [`StoreError::Corrupted`].
pub fn corrupted(what: impl Into<String>) -> StoreError {
    StoreError::Corrupted(what.into())
}

/// A key and its value, as a scan returns them.
pub type Row = (Vec<u8>, Vec<u8>);

/// One change in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets a key.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Removes a key.
    Delete(Cf, Vec<u8>),
}

/// Changes applied atomically and durably by [`Store::write`], in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// Sets `key` in `cf`.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(cf, key.into(), value.into()));
    }

    /// Removes `key` from `cf`.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(cf, key.into()));
    }

    /// Appends another batch.
    pub fn append(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    /// The changes, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Takes the changes.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The number of changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// Keys `start <= key < end` (no `end`: to the last key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// First key (inclusive).
    pub start: Vec<u8>,
    /// Upper bound (exclusive).
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self {
            start: prefix.to_vec(),
            end: prefix_end(prefix),
        }
    }

    /// Every key after `after` (every key without).
    pub fn after(after: Option<&[u8]>) -> Self {
        let start = after.map_or_else(Vec::new, |key| [key, &[0]].concat());
        Self { start, end: None }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// A key-value store with column families, atomic durable batches and ordered scans.
///
/// Implementations: [`rocks::RocksStore`] (the node's) and [`memory::MemoryStore`] (tests).
/// The typed reads ([`Store::entry`], [`Store::history`], ...) are provided on top of the
/// three raw operations, so both implementations answer them with the same code.
pub trait Store: Send + Sync {
    /// The value of `key`.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values of `keys`, in the same order: one call, which a store able to look several
    /// keys up at once (RocksDB's batched multi-get) answers faster than one `get` each.
    fn get_many(&self, cf: Cf, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(cf, key)).collect()
    }

    /// Up to `limit` keys and values in `range`, in key order or (`Descending`) the last key
    /// first.
    fn scan_ordered(
        &self,
        cf: Cf,
        range: &KeyRange,
        limit: usize,
        order: ScanOrder,
    ) -> Result<Vec<Row>, StoreError>;

    /// Up to `limit` keys and values in `range`, in key order.
    fn scan(&self, cf: Cf, range: &KeyRange, limit: usize) -> Result<Vec<Row>, StoreError> {
        self.scan_ordered(cf, range, limit, ScanOrder::Ascending)
    }

    /// Applies `batch` atomically; returns once it is durable.
    fn write(&self, batch: Batch) -> Result<(), StoreError>;

    /// Makes deleted and overwritten values unrecoverable from the store's files (a purge's
    /// erased fields): every column family is flushed, so no log file still holds them, and
    /// the private fields' files are rewritten. A store without files has nothing to do.
    fn erase_deleted(&self) -> Result<(), StoreError>;

    /// The store's cache of decoded log tiles ([`tiles`]), if it keeps one: proofs read
    /// through it, and [`Store::write`] forgets the tiles it writes, once they are written.
    fn tile_cache(&self) -> Option<&TileCache> {
        None
    }

    /// Held while a private row is read, changed and written back (a purge erasing fields, a
    /// delivery merging them in), so that neither undoes the other.
    fn row_lock(&self) -> std::sync::MutexGuard<'_, ()>;

    /// An entry by hash, checked: the stored bytes must decode and hash to `hash`.
    fn entry(&self, hash: &EntryHash) -> Result<Option<SignedEntry>, StoreError> {
        let Some(bytes) = self.get(Cf::Entries, hash.as_bytes())? else {
            return Ok(None);
        };
        decode_entry(hash, &bytes).map(Some)
    }

    /// Whether the store is a backup whose node has not yet got back from other members'
    /// nodes what it signed after the backup (see [`Store::set_restored`]).
    fn restored(&self) -> Result<bool, StoreError> {
        Ok(self.get(Cf::Meta, RESTORED_KEY)?.is_some())
    }

    /// Marks the store as such a backup (a node opening it holds signing until it caught up
    /// with its own chain), or clears the mark.
    fn set_restored(&self, restored: bool) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        if restored {
            batch.put(Cf::Meta, RESTORED_KEY.to_vec(), Vec::new());
        } else {
            batch.delete(Cf::Meta, RESTORED_KEY.to_vec());
        }
        self.write(batch)
    }

    /// The fork proofs recorded (at most `limit`), ordered by chain and place. Each is
    /// re-checked to be well formed; its signatures were checked when it was recorded.
    fn forks(&self, limit: usize) -> Result<Vec<ForkProof>, StoreError> {
        let rows = self.scan(Cf::Forks, &KeyRange::prefix(&[]), limit)?;
        rows.iter()
            .map(|(key, value)| {
                codec::decode::<ForkProof>("fork proof", value, usize::MAX).map_err(|e| {
                    corrupted(format!("the fork proof row {key:02x?} is damaged: {e}"))
                })
            })
            .collect()
    }

    /// One page of the entries refused as their authors' doing: at most `limit`, by author
    /// and hash, after the row keyed `after` (from the first without), each with its key (the
    /// next page's `after`).
    fn rejected_page(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, RejectedEntry)>, StoreError> {
        self.scan(Cf::Rejected, &KeyRange::after(after), limit)?
            .into_iter()
            .map(|(key, value)| {
                let entry = SignedEntry::from_bytes(&value, MAX_STORED_ENTRY).map_err(|e| {
                    corrupted(format!("the rejected-entry row {key:02x?} is damaged: {e}"))
                })?;
                Ok((key, RejectedEntry { entry }))
            })
            .collect()
    }

    /// One page of the fork proofs: at most `limit`, by chain and place, after the row keyed
    /// `after`, each with its key.
    fn forks_page(
        &self,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, ForkProof)>, StoreError> {
        self.scan(Cf::Forks, &KeyRange::after(after), limit)?
            .into_iter()
            .map(|(key, value)| {
                let proof =
                    codec::decode::<ForkProof>("fork proof", &value, usize::MAX).map_err(|e| {
                        corrupted(format!("the fork proof row {key:02x?} is damaged: {e}"))
                    })?;
                Ok((key, proof))
            })
            .collect()
    }

    /// The entries refused as their authors' doing (of `author`, or of everyone), at most
    /// `limit`, ordered by author and hash.
    fn rejected(
        &self,
        author: Option<&MemberId>,
        limit: usize,
    ) -> Result<Vec<RejectedEntry>, StoreError> {
        let prefix = author.map_or_else(Vec::new, keys::rejected_prefix);
        let rows = self.scan(Cf::Rejected, &KeyRange::prefix(&prefix), limit)?;
        rows.iter()
            .map(|(key, value)| {
                SignedEntry::from_bytes(value, MAX_STORED_ENTRY)
                    .map(|entry| RejectedEntry { entry })
                    .map_err(|e| {
                        corrupted(format!("the rejected-entry row {key:02x?} is damaged: {e}"))
                    })
            })
            .collect()
    }

    /// The hash of the entry at a position.
    fn chain_hash(&self, position: Position) -> Result<Option<EntryHash>, StoreError> {
        let Some(bytes) = self.get(Cf::Chain, &position.to_key())? else {
            return Ok(None);
        };
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            corrupted(format!(
                "the chain row of member code {} at {} is damaged",
                position.member.0, position.seq
            ))
        })?;
        Ok(Some(EntryHash::from_bytes(bytes)))
    }

    /// The entry at a position, checked against the hash the chain records for it.
    fn entry_at(&self, position: Position) -> Result<Option<(EntryHash, SignedEntry)>, StoreError> {
        let Some(hash) = self.chain_hash(position)? else {
            return Ok(None);
        };
        let entry = self.entry(&hash)?.ok_or_else(|| {
            corrupted(format!(
                "entry {hash} is in a chain (member code {}, seq {}) but not stored",
                position.member.0, position.seq
            ))
        })?;
        Ok(Some((hash, entry)))
    }

    /// Every chain head, ordered by member id.
    fn heads(&self) -> Result<Vec<Head>, StoreError> {
        let rows = self.scan(Cf::Heads, &KeyRange::prefix(&[]), usize::MAX)?;
        rows.iter()
            .map(|(key, value)| {
                Head::parse(key, value).ok_or_else(|| {
                    corrupted(format!(
                        "the chain head row {:?} is damaged",
                        String::from_utf8_lossy(key)
                    ))
                })
            })
            .collect()
    }

    /// One member's chain head.
    fn head(&self, author: &MemberId) -> Result<Option<Head>, StoreError> {
        let Some(value) = self.get(Cf::Heads, author.as_str().as_bytes())? else {
            return Ok(None);
        };
        Head::parse(author.as_str().as_bytes(), &value)
            .map(Some)
            .ok_or_else(|| corrupted(format!("the chain head of {author} is damaged")))
    }

    /// The hashes of `author`'s entries `first..=last` as the store holds them, or `None` if it
    /// does not hold them all.
    fn chain_hashes(
        &self,
        author: &MemberId,
        first: u64,
        last: u64,
    ) -> Result<Option<Vec<EntryHash>>, StoreError> {
        let Some(head) = self.head(author)? else {
            return Ok(None);
        };
        if last < first || head.tip.seq < last {
            return Ok(None);
        }
        let key = |seq| {
            Position {
                member: head.code,
                seq,
            }
            .to_key()
            .to_vec()
        };
        let count = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        let range = KeyRange {
            start: key(first),
            end: prefix_end(&key(last)),
        };
        let rows = self.scan(Cf::Chain, &range, count)?;
        if rows.len() != count {
            return Err(corrupted(format!(
                "{author}'s chain lacks entries between {first} and {last} below its head"
            )));
        }
        rows.iter()
            .map(|(_, value)| {
                let bytes: [u8; 32] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupted(format!("a chain row of {author} is damaged")))?;
                Ok(EntryHash::from_bytes(bytes))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Entries of `author`'s chain from sequence number `from`, at most `limit`.
    fn chain_range(
        &self,
        author: &MemberId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(EntryHash, SignedEntry)>, StoreError> {
        let Some(head) = self.head(author)? else {
            return Ok(Vec::new());
        };
        let start = Position {
            member: head.code,
            seq: from,
        };
        let end = Position {
            member: head.code,
            seq: head.tip.seq,
        };
        let range = KeyRange {
            start: start.to_key().to_vec(),
            end: prefix_end(&end.to_key()),
        };
        let rows = self.scan(Cf::Chain, &range, limit.min(MAX_PAGE))?;
        rows.iter()
            .map(|(key, value)| {
                let hash: [u8; 32] = value.as_slice().try_into().map_err(|_| {
                    corrupted(format!(
                        "the chain row of {author} at {key:02x?} is damaged"
                    ))
                })?;
                let hash = EntryHash::from_bytes(hash);
                let entry = self.entry(&hash)?.ok_or_else(|| {
                    corrupted(format!(
                        "entry {hash} is in {author}'s chain but not stored"
                    ))
                })?;
                Ok((hash, entry))
            })
            .collect()
    }

    /// One page of an index: the entries of `query` in the order of the index's time (event
    /// time, or record time for [`Index::RecordTime`]), ties in the index's order.
    fn query(
        &self,
        query: &Query,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.query_ordered(query, cursor, limit, ScanOrder::Ascending)
    }

    /// [`Store::query`] in either order (`Descending`: the latest entries first).
    fn query_ordered(
        &self,
        query: &Query,
        cursor: Option<&Cursor>,
        limit: usize,
        order: ScanOrder,
    ) -> Result<Page, StoreError> {
        let Some(mut range) = query.range() else {
            return Ok(Page::default());
        };
        if let Some(cursor) = cursor {
            if !range.contains(&cursor.0) {
                return Err(StoreError::BadCursor);
            }
            match order {
                ScanOrder::Ascending => {
                    let mut after = cursor.0.clone();
                    after.push(0);
                    range.start = after;
                }
                ScanOrder::Descending => range.end = Some(cursor.0.clone()),
            }
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = self.scan_ordered(query.cf(), &range, limit, order)?;
        index_page(self, query.cf(), rows, limit)
    }

    /// One page of a product's history, in event-time order.
    fn history(
        &self,
        product: &ProductId,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.query(
            &Query {
                index: Index::Product(product.digital_link_path().to_owned()),
                from: None,
                to: None,
            },
            cursor,
            limit,
        )
    }
}

/// The entries an index page's rows name, and the cursor after the last row if the page is
/// full.
fn index_page<S: Store + ?Sized>(
    store: &S,
    cf: Cf,
    rows: Vec<Row>,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut entries = Vec::with_capacity(rows.len());
    let mut times = Vec::with_capacity(rows.len());
    for (key, _) in &rows {
        let damaged = || corrupted(format!("an index key of {} is damaged", cf.name()));
        let position = index_position(key).ok_or_else(damaged)?;
        times.push(index_time(key).ok_or_else(damaged)?);
        let found = store.entry_at(position)?.ok_or_else(|| {
            corrupted(format!(
                "{} names an entry (member code {}, seq {}) that is not in its chain",
                cf.name(),
                position.member.0,
                position.seq
            ))
        })?;
        entries.push(found);
    }
    let next = if rows.len() == limit {
        rows.last().map(|(key, _)| Cursor(key.clone()))
    } else {
        None
    };
    Ok(Page {
        entries,
        times,
        next,
    })
}

/// Decodes stored entry bytes and checks they hash to `hash`.
pub fn decode_entry(hash: &EntryHash, bytes: &[u8]) -> Result<SignedEntry, StoreError> {
    let entry = SignedEntry::from_bytes(bytes, MAX_STORED_ENTRY)
        .map_err(|e| corrupted(format!("entry {hash} cannot be decoded: {e}")))?;
    let actual = entry
        .hash()
        .map_err(|e| corrupted(format!("entry {hash} cannot be re-encoded: {e}")))?;
    if actual != *hash {
        return Err(corrupted(format!(
            "entry {hash} does not match its hash (the stored bytes hash to {actual})"
        )));
    }
    Ok(entry)
}

/// The order of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Key order.
    Ascending,
    /// The last key first.
    Descending,
}

/// Which index a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// A product's events (by canonical Digital Link path, e.g. `/01/09506000134352/21/A1`).
    Product(String),
    /// Events of a C2M kind.
    Kind(KindName),
    /// Events with a bizStep (the bare CBV word, e.g. `shipping`, or the full URI).
    BizStep(String),
    /// Events with a disposition.
    Disposition(String),
    /// All events, by event time.
    Time,
    /// All events, by record time.
    RecordTime,
    /// Events whose EPCIS `eventID` is this.
    EventId(String),
}

/// A query on one index, over a range of the index's time: event time, or record time for
/// [`Index::RecordTime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The index.
    pub index: Index,
    /// Earliest time (inclusive).
    pub from: Option<Timestamp>,
    /// Latest time (exclusive).
    pub to: Option<Timestamp>,
}

impl Query {
    fn cf(&self) -> Cf {
        match self.index {
            Index::Product(_) => Cf::ByProduct,
            Index::Kind(_) => Cf::ByKind,
            Index::BizStep(_) => Cf::ByBizStep,
            Index::Disposition(_) => Cf::ByDisposition,
            Index::Time => Cf::ByTime,
            Index::RecordTime => Cf::ByRecordTime,
            Index::EventId(_) => Cf::ByEventId,
        }
    }

    /// The keys of the query; `None` when nothing can match (an unindexable string).
    fn range(&self) -> Option<KeyRange> {
        let prefix = match &self.index {
            Index::Product(text) | Index::BizStep(text) | Index::Disposition(text) => {
                string_prefix(text)?
            }
            Index::Kind(kind) => vec![kind_code(*kind)],
            Index::Time | Index::RecordTime => Vec::new(),
            Index::EventId(id) => keys::event_id_prefix(id).to_vec(),
        };
        let bound = |time: Timestamp| {
            let mut key = prefix.clone();
            key.extend_from_slice(&time.millis().to_be_bytes());
            key
        };
        Some(KeyRange {
            start: self.from.map_or_else(|| prefix.clone(), bound),
            end: match self.to {
                Some(to) => Some(bound(to)),
                None => prefix_end(&prefix),
            },
        })
    }
}

/// One page of query results.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries, with their hashes, in index order.
    pub entries: Vec<(EntryHash, SignedEntry)>,
    /// The index's time of each entry (event time, or record time for [`Index::RecordTime`]).
    pub times: Vec<Timestamp>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Where a query stopped: opaque to callers (hex of the last index key returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(Vec<u8>);

impl Cursor {
    /// Parses a cursor's text.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        if text.len() > 2 * (keys::MAX_INDEXED_STRING + 1 + keys::INDEX_SUFFIX_LEN) {
            return Err(StoreError::BadCursor);
        }
        hex::decode(text)
            .map(Self)
            .map_err(|_| StoreError::BadCursor)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}
