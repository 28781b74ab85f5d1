//! Tiles: how a log's interior hashes are stored, addressed and read (C2SP tlog-tiles).
//!
//! # Nodes and tiles
//!
//! A [`NodeId`] `(level h, index i)` names the complete subtree over the `2^h` leaves
//! `i·2^h .. (i+1)·2^h`. Its hash never changes once the subtree is complete, which is what
//! makes it storable. Leaf hashes are the nodes of level 0.
//!
//! A tile at *tile level* `L` and *tile index* `N` holds up to 256 consecutive node hashes of
//! tree level `8L`: hashes `N·256 ..` of that level. Level-0 tiles hold leaf hashes; a hash in a
//! level-`L+1` tile is the root of a full level-`L` tile. A node of level `8L + k` (`k < 8`) is
//! not stored: it is recomputed from the `2^k` hashes it covers in a level-`L` tile, so one tile
//! read answers every node of its 8 levels. A tile is *full* with 256 hashes (8,192 bytes) and
//! *partial* with 1 to 255; in a tree of size `s` the level-`L` tiles hold `⌊s / 256^L⌋`
//! hashes, the last of them in a partial tile when that count is not a multiple of 256. A
//! partial tile is a prefix of the full tile it becomes, so a store that has a wider version
//! of a tile can answer for a narrower one.
//!
//! Paths (for serving tiles over HTTP): `tile/<L>/<N>[.p/<W>]`, `N` in 3-digit groups of which
//! all but the last start with `x` (`1234067` → `x001/x234/067`), `.p/<W>` only on partial
//! tiles. [`Tile::path`] writes them and [`Tile::parse_path`] reads them back strictly (one
//! path per tile).
//!
//! # Writing
//!
//! When a chain grows from `old` to `new` entries, the tiles [`tiles_for_append`] lists change:
//! the node writes them in the same batch as the entries. [`RightEdge`] computes their
//! contents incrementally: its state is the log's size and its partial tiles, one per level —
//! exactly the newest version of the tiles the node has already stored, so the node keeps no
//! other state and resumes after a restart by reading [`RightEdge::resume_tiles`].
//!
//! # Reading
//!
//! Proofs ([`crate::tlog::proof`]) read node hashes through [`HashReader`], in one batched call
//! per proof. Storage that keeps tiles implements the smaller [`TileReader`] and wraps it in
//! [`TileHashReader`], which reads each tile a proof touches once and recomputes the nodes
//! inside it. Given a [`TileCache`] ([`cache`]) it keeps tiles decoded — with
//! the nodes of their 7 inner levels — between proofs, so a warm reader hashes almost nothing.
//! [`MemoryTiles`] is an in-memory tile store (tests, tools, small logs).
//!
//! Storage that keeps one row per node can key the rows by [`NodeId::stored_index`], the order
//! in which hashes become known as leaves are appended (the "stored hash index" of Go's
//! `golang.org/x/mod/sumdb/tlog`).
//!
//! The code: this module (nodes, tiles and their addresses, tile data), `write` (the right
//! edge), `read` (the readers).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::hash::HASH_LEN;
use crate::tlog::hash::{EMPTY_ROOT, LogHash};

pub mod cache;
mod read;
mod write;

use cache::TileNodes;
pub use cache::{CacheStats, FULL_TILE_CACHE_BYTES, TileCache};
pub use read::*;
pub use write::*;

/// Tree levels covered by one tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// Bytes in a full tile.
pub const FULL_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_LEN;
/// The highest level a tile path may name (C2SP: 0 to 63).
pub const MAX_PATH_LEVEL: u8 = 63;
/// Tile levels a log of at most `u64::MAX` leaves uses: 0 to 7 (`256^8 = 2^64`).
pub const LOG_TILE_LEVELS: u8 = 8;

/// Something about tiles or nodes is wrong: an address, a size, or the data a store returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A tile address outside the format's ranges.
    #[error(
        "a tile has a level of 0 to 63 and a width of 1 to 256 (got level {level}, width {width})"
    )]
    InvalidTile {
        /// The level asked for.
        level: u8,
        /// The width asked for.
        width: u16,
    },
    /// A tile path that is not `tile/<L>/<N>[.p/<W>]` in its one canonical spelling.
    #[error("bad tile path {path:?}: {reason}")]
    BadPath {
        /// The path (truncated).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A node whose leaves do not fit in 64-bit indexes.
    #[error("no node of level {level} and index {index} exists in a log of 64-bit size")]
    InvalidNode {
        /// The node's level.
        level: u8,
        /// The node's index.
        index: u64,
    },
    /// A node that is not yet complete in a tree of the given size.
    #[error("node (level {level}, index {index}) is not complete in a tree of size {size}")]
    NodeBeyondSize {
        /// The node's level.
        level: u8,
        /// The node's index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A log cannot shrink.
    #[error("a log grows from {old} to {new} leaves: it cannot shrink")]
    SizesReversed {
        /// The earlier size.
        old: u64,
        /// The later size.
        new: u64,
    },
    /// Appending would pass `u64::MAX` leaves.
    #[error("the log would pass 2^64 - 1 leaves")]
    SizeOverflow,
    /// Tile data of the wrong length for the tile asked for.
    #[error(
        "tile {tile} came back with {len} bytes; it needs a multiple of 32 bytes, at least {needed} and at most 8192"
    )]
    BadTileData {
        /// The tile's path.
        tile: String,
        /// The bytes returned.
        len: usize,
        /// The bytes the tile's width needs.
        needed: usize,
    },
    /// A reader returned a different number of records than it was asked for.
    #[error("asked for {asked} records, got {got}")]
    RecordCount {
        /// Records asked for.
        asked: usize,
        /// Records returned.
        got: usize,
    },
    /// The tiles given to rebuild a right edge are not the ones its size needs.
    #[error("to resume a log of size {size} the right edge needs tile {expected}, got {got}")]
    EdgeMismatch {
        /// The log size.
        size: u64,
        /// The path of the tile expected.
        expected: String,
        /// The path of the tile given, or `nothing`.
        got: String,
    },
    /// A tile the store does not hold (at the width asked for).
    #[error("tile {0} is not stored")]
    MissingTile(String),
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// A complete subtree: the `2^level` leaves from `index · 2^level`. Level 0 nodes are leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// The node of `level` and `index`; refused when its leaves do not fit in `u64` indexes.
    pub fn new(level: u8, index: u64) -> Result<Self, TileError> {
        let node = Self { level, index };
        match node.end() {
            Some(_) => Ok(node),
            None => Err(TileError::InvalidNode { level, index }),
        }
    }

    /// A node the caller knows to be within `u64` leaves (its end computed without overflow).
    pub(crate) fn within_u64(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The leaf `index` (a level-0 node).
    pub fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// The node's level (its height above the leaves).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The node's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The index of its first leaf.
    pub fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    /// One past its last leaf: the smallest tree size in which the node is complete. `None`
    /// for nodes that need more than `u64::MAX` leaves (never complete).
    pub fn end(&self) -> Option<u64> {
        if self.level >= 64 {
            return None;
        }
        let end = (u128::from(self.index) + 1) << self.level;
        u64::try_from(end).ok()
    }

    /// Its position in the order hashes become known as leaves are appended: leaf `n`'s hash,
    /// then the nodes it completes, lowest first. `None` past `2^63` leaves, where the index
    /// would not fit in 64 bits.
    pub fn stored_index(&self) -> Option<u64> {
        // The node is completed by its last leaf, n = end - 1; before leaf n there are
        // Σ_l ⌊n / 2^l⌋ = 2n - popcount(n) stored hashes, then leaf n, then levels 1..=level.
        let last = u128::from(self.end()?) - 1;
        let before = 2 * last - u128::from(last.count_ones());
        u64::try_from(before + u128::from(self.level)).ok()
    }

    /// The node stored at `stored_index` (the inverse of [`NodeId::stored_index`]).
    pub fn from_stored_index(stored_index: u64) -> Self {
        let target = u128::from(stored_index);
        let before = |n: u128| 2 * n - u128::from(n.count_ones());
        // 2n - 64 <= before(n) <= 2n, so the leaf whose append stored this hash is within 33
        // of target / 2.
        let mut n = target / 2;
        while before(n + 1) <= target {
            n += 1;
        }
        // `target - before(n)` is below 1 + trailing_zeros(n + 1) <= 64, and n < 2^63.
        let level = (target - before(n)) as u8;
        let index = (n >> level) as u64;
        Self { level, index }
    }
}

/// How many node hashes a log of `size` leaves has stored: `2·size − popcount(size)`. `None`
/// past `2^63` leaves.
pub fn stored_hash_count(size: u64) -> Option<u64> {
    let count = 2 * u128::from(size) - u128::from(size.count_ones());
    u64::try_from(count).ok()
}

// ---------------------------------------------------------------------------------------------
// Tiles

/// A tile address: level, index and width (256 for a full tile, 1 to 255 for a partial one).
/// The versions of one tile as the log grows share level and index ([`Tile::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// A tile address; refused outside levels 0 to 63 and widths 1 to 256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, TileError> {
        if level > MAX_PATH_LEVEL || width == 0 || width > TILE_WIDTH {
            return Err(TileError::InvalidTile { level, width });
        }
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// The tile `(level, index)` as it is in a tree of `size` leaves; `None` when the tree has
    /// no hash in it yet (empty tiles do not exist).
    pub fn in_tree(level: u8, index: u64, size: u64) -> Option<Self> {
        if level >= LOG_TILE_LEVELS {
            return None;
        }
        let hashes = size >> (8 * u32::from(level));
        let before = u128::from(index) * u128::from(TILE_WIDTH);
        let width = u128::from(hashes).checked_sub(before)?.min(256);
        if width == 0 {
            return None;
        }
        Some(Self {
            level,
            index,
            width: width as u16,
        })
    }

    /// The tile level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Hashes in the tile.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile holds all 256 hashes (and so never changes again).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Level and index: what the versions of one tile share, and what a store keys it by.
    pub fn key(&self) -> (u8, u64) {
        (self.level, self.index)
    }

    /// Bytes of tile data: `32 × width`.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_LEN
    }

    /// The C2SP path: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut path = format!("tile/{}/{}", self.level, encode_index(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a C2SP tile path strictly: decimal numbers without leading zeros, the index in
    /// its shortest 3-digit grouping, `.p/<W>` only with a width of 1 to 255.
    pub fn parse_path(path: &str) -> Result<Self, TileError> {
        let bad = |reason| TileError::BadPath {
            path: path.chars().take(80).collect(),
            reason,
        };
        if path.len() > 64 {
            return Err(bad("longer than any tile path"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("does not start with tile/"))?;
        let (level, rest) = rest
            .split_once('/')
            .ok_or_else(|| bad("no index after the level"))?;
        let level = parse_decimal(level)
            .filter(|l| *l <= u64::from(MAX_PATH_LEVEL))
            .ok_or_else(|| bad("the level is a decimal from 0 to 63 without leading zeros"))?;
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let width = parse_decimal(width)
                    .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                    .ok_or_else(|| {
                        bad("a partial width is a decimal from 1 to 255 without leading zeros")
                    })?;
                (index, width as u16)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = decode_index(index).ok_or_else(|| {
            bad("the index is 3-digit groups, all but the last starting with x, no leading x000")
        })?;
        Tile::new(level as u8, index, width)
    }
}

fn encode_index(mut index: u64) -> String {
    let mut groups = Vec::new();
    loop {
        groups.push(index % 1000);
        index /= 1000;
        if index == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn decode_index(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split('/').collect();
    let last = groups.len() - 1;
    let mut value: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i == last {
            *group
        } else {
            group.strip_prefix('x')?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let group_value: u64 = digits.parse().ok()?;
        // Only the shortest grouping is canonical: no leading all-zero group.
        if i == 0 && i != last && group_value == 0 {
            return None;
        }
        value = value.checked_mul(1000)?.checked_add(group_value)?;
    }
    Some(value)
}

/// A decimal without sign or leading zeros ("0" itself is fine).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || text.len() > 20
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// Where a node's hash comes from in a tree of `size`: its tile, and the `count` hashes from
/// position `start` in that tile whose root it is.
pub(crate) struct NodeInTile {
    pub tile: Tile,
    pub start: usize,
    pub count: usize,
}

pub(crate) fn locate(node: NodeId, size: u64) -> Result<NodeInTile, TileError> {
    let complete = node.end().is_some_and(|end| end <= size);
    if !complete {
        return Err(TileError::NodeBeyondSize {
            level: node.level,
            index: node.index,
            size,
        });
    }
    let tile_level = node.level / TILE_HEIGHT;
    let k = node.level % TILE_HEIGHT;
    // The node's first hash at tree level 8·tile_level (fits: the node is complete in `size`).
    let first = node.index << k;
    let tile_index = first >> 8;
    let tile = Tile::in_tree(tile_level, tile_index, size).ok_or(TileError::NodeBeyondSize {
        level: node.level,
        index: node.index,
        size,
    })?;
    Ok(NodeInTile {
        tile,
        start: (first & 0xff) as usize,
        count: 1 << k,
    })
}

/// The tiles that hold or derive `nodes` in a tree of `size`: what a proof needing those
/// nodes reads (sorted, each once).
pub fn tiles_for_nodes(nodes: &[NodeId], size: u64) -> Result<Vec<Tile>, TileError> {
    let mut tiles = nodes
        .iter()
        .map(|node| locate(*node, size).map(|l| l.tile))
        .collect::<Result<Vec<_>, _>>()?;
    tiles.sort_unstable();
    tiles.dedup();
    Ok(tiles)
}

/// The tiles that change when a log grows from `old_size` to `new_size` leaves, at their new
/// widths, by level then index: the full tiles completed and the partial tiles widened or
/// started. A node writes exactly these ([`RightEdge::append`] computes their contents).
pub fn tiles_for_append(old_size: u64, new_size: u64) -> Result<Vec<Tile>, TileError> {
    if new_size < old_size {
        return Err(TileError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    let mut tiles = Vec::new();
    for level in 0..LOG_TILE_LEVELS {
        let shift = 8 * u32::from(level);
        let (old_count, new_count) = (old_size >> shift, new_size >> shift);
        if new_count == old_count {
            continue;
        }
        for index in (old_count / 256)..=((new_count - 1) / 256) {
            tiles.extend(Tile::in_tree(level, index, new_size));
        }
    }
    Ok(tiles)
}

// ---------------------------------------------------------------------------------------------
// Tile data

/// A tile with its data: `32 × width` bytes, the hashes in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileData {
    /// The tile's address.
    pub tile: Tile,
    /// Its hashes, concatenated.
    pub data: Vec<u8>,
}

impl TileData {
    /// The tile's hashes.
    pub fn hashes(&self) -> Vec<LogHash> {
        hashes_of(&self.data)
    }

    fn from_hashes(tile: Tile, hashes: &[LogHash]) -> Self {
        let mut data = Vec::with_capacity(hashes.len() * HASH_LEN);
        for hash in hashes {
            data.extend_from_slice(hash.as_bytes());
        }
        Self { tile, data }
    }
}

fn hashes_of(data: &[u8]) -> Vec<LogHash> {
    data.chunks_exact(HASH_LEN)
        .map(|chunk| {
            let mut bytes = [0u8; HASH_LEN];
            bytes.copy_from_slice(chunk);
            LogHash::from_bytes(bytes)
        })
        .collect()
}

/// Checks that `data` can answer for `tile`: whole hashes, at least `tile.width()` of them, at
/// most a full tile.
fn check_tile_data(tile: &Tile, data: &[u8]) -> Result<(), TileError> {
    if !data.len().is_multiple_of(HASH_LEN)
        || data.len() < tile.byte_len()
        || data.len() > FULL_TILE_BYTES
    {
        return Err(TileError::BadTileData {
            tile: tile.path(),
            len: data.len(),
            needed: tile.byte_len(),
        });
    }
    Ok(())
}

/// The root of a perfect subtree whose `2^k` leaves (or lower nodes) are `hashes`.
pub(crate) fn perfect_root(hashes: &[LogHash]) -> LogHash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| LogHash::node(&pair[0], &pair[1]))
            .collect();
    }
    level.first().copied().unwrap_or(EMPTY_ROOT)
}

#[cfg(test)]
mod tests;
