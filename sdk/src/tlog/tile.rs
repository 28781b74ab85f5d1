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
//! inside it. Given a [`TileCache`] ([`crate::tlog::cache`]) it keeps tiles decoded — with
//! the nodes of their 7 inner levels — between proofs, so a warm reader hashes almost nothing.
//! [`MemoryTiles`] is an in-memory tile store (tests, tools, small logs).
//!
//! Storage that keeps one row per node can key the rows by [`NodeId::stored_index`], the order
//! in which hashes become known as leaves are appended (the "stored hash index" of Go's
//! `golang.org/x/mod/sumdb/tlog`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::hash::HASH_LEN;
use crate::tlog::cache::{TileCache, TileNodes};
use crate::tlog::hash::{EMPTY_ROOT, LogHash};

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

// ---------------------------------------------------------------------------------------------
// Writing: the right edge

/// The right edge of a log: its size and its partial tiles, lowest level first — all a writer
/// needs to compute the tiles an append changes and the new root, with no reads.
///
/// What a node persists is just the tiles [`RightEdge::append`] returns (it stores them anyway,
/// to answer proofs); after a restart it reads [`RightEdge::resume_tiles`] back and calls
/// [`RightEdge::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightEdge {
    size: u64,
    /// `partial[L]`, for each of the 8 tile levels, holds the `(size >> 8L) mod 256` hashes of
    /// the last, partial level-L tile.
    partial: Vec<Vec<LogHash>>,
}

impl Default for RightEdge {
    fn default() -> Self {
        Self {
            size: 0,
            partial: vec![Vec::new(); usize::from(LOG_TILE_LEVELS)],
        }
    }
}

impl RightEdge {
    /// The right edge of the empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The log's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tiles a log of `size` has, lowest level first: what to read to resume it.
    pub fn resume_tiles(size: u64) -> Vec<Tile> {
        (0..LOG_TILE_LEVELS)
            .filter_map(|level| {
                let count = size >> (8 * u32::from(level));
                let width = (count % 256) as u16;
                (width > 0).then_some(Tile {
                    level,
                    index: count / 256,
                    width,
                })
            })
            .collect()
    }

    /// Rebuilds the right edge of a log of `size` from its partial tiles, exactly
    /// [`RightEdge::resume_tiles`]`(size)` in that order (data longer than the width is refused:
    /// a partial tile's newest version has exactly the width the size gives it).
    pub fn resume(size: u64, tiles: &[TileData]) -> Result<Self, TileError> {
        let expected = Self::resume_tiles(size);
        let mut partial = vec![Vec::new(); usize::from(LOG_TILE_LEVELS)];
        for (i, want) in expected.iter().enumerate() {
            let Some(given) = tiles.get(i) else {
                return Err(TileError::EdgeMismatch {
                    size,
                    expected: want.path(),
                    got: "nothing".to_owned(),
                });
            };
            if given.tile != *want {
                return Err(TileError::EdgeMismatch {
                    size,
                    expected: want.path(),
                    got: given.tile.path(),
                });
            }
            if given.data.len() != want.byte_len() {
                return Err(TileError::BadTileData {
                    tile: want.path(),
                    len: given.data.len(),
                    needed: want.byte_len(),
                });
            }
            partial[usize::from(want.level)] = given.hashes();
        }
        if let Some(extra) = tiles.get(expected.len()) {
            return Err(TileError::EdgeMismatch {
                size,
                expected: "nothing".to_owned(),
                got: extra.tile.path(),
            });
        }
        Ok(Self { size, partial })
    }

    /// The partial tiles this edge holds (the newest version of each), lowest level first.
    pub fn tiles(&self) -> Vec<TileData> {
        Self::resume_tiles(self.size)
            .into_iter()
            .map(|tile| TileData::from_hashes(tile, &self.partial[usize::from(tile.level)]))
            .collect()
    }

    /// The root of the log at its current size, computed from the partial tiles alone: the
    /// subtrees of the size's binary decomposition are exactly the power-of-two runs of the
    /// partial tiles, highest level first.
    pub fn root(&self) -> LogHash {
        let mut subtrees = Vec::new();
        for hashes in self.partial.iter().rev() {
            let mut start = 0;
            for k in (0..TILE_HEIGHT).rev() {
                let run = 1usize << k;
                if hashes.len() & run != 0 {
                    subtrees.push(perfect_root(&hashes[start..start + run]));
                    start += run;
                }
            }
        }
        fold_right(&subtrees)
    }

    /// Appends leaf hashes; returns the tiles that changed, with their new contents, in the
    /// order of [`tiles_for_append`]`(old size, new size)`.
    pub fn append(&mut self, leaves: &[LogHash]) -> Result<Vec<TileData>, TileError> {
        let added = u64::try_from(leaves.len()).map_err(|_| TileError::SizeOverflow)?;
        self.size
            .checked_add(added)
            .ok_or(TileError::SizeOverflow)?;
        let mut changed = Vec::new();
        let mut touched = 0u8;
        for leaf in leaves {
            self.size += 1;
            let mut hash = *leaf;
            for level in 0..LOG_TILE_LEVELS {
                touched |= 1 << level;
                let tile = &mut self.partial[usize::from(level)];
                tile.push(hash);
                if tile.len() < usize::from(TILE_WIDTH) {
                    break;
                }
                // The tile just filled: write it, and its root is the next level's new hash.
                // Level 7 never fills: that would take 2^64 leaves.
                let full = std::mem::take(tile);
                let index = (self.size >> (8 * (u32::from(level) + 1))) - 1;
                hash = perfect_root(&full);
                changed.push(TileData::from_hashes(
                    Tile {
                        level,
                        index,
                        width: TILE_WIDTH,
                    },
                    &full,
                ));
            }
        }
        for level in 0..LOG_TILE_LEVELS {
            let hashes = &self.partial[usize::from(level)];
            if touched & (1 << level) != 0 && !hashes.is_empty() {
                let tile = Tile {
                    level,
                    index: self.size >> (8 * (u32::from(level) + 1)),
                    width: hashes.len() as u16,
                };
                changed.push(TileData::from_hashes(tile, hashes));
            }
        }
        changed.sort_by_key(|t| t.tile.key());
        Ok(changed)
    }
}

/// RFC 6962's hash of consecutive subtrees listed left to right, the left ones complete and no
/// smaller than those to their right: `node(s0, node(s1, … node(sn-1, sn)))`.
pub(crate) fn fold_right(subtrees: &[LogHash]) -> LogHash {
    let mut iter = subtrees.iter().rev();
    let Some(last) = iter.next() else {
        return EMPTY_ROOT;
    };
    iter.fold(*last, |right, left| LogHash::node(left, &right))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Storage of node hashes, as proofs read them: one call per proof, with every node it needs.
pub trait HashReader {
    /// The storage's error.
    type Error: std::error::Error + 'static;

    /// The hashes of `nodes`, in the same order. Each node asked for is complete in the tree
    /// the proof is for.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<LogHash>, Self::Error>;
}

/// Storage of tiles.
pub trait TileReader {
    /// The storage's error.
    type Error: std::error::Error + 'static;

    /// The data of each tile, in the same order: at least `32 × width` bytes of it. A store
    /// holding a wider version of a partial tile (the log has grown since) may return that:
    /// only the prefix the width covers is used.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Self::Error>;
}

/// A [`TileReader`] failed, or returned data that cannot be the tiles asked for.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError<E: std::error::Error + 'static> {
    /// The store failed.
    #[error("reading tiles: {0}")]
    Storage(#[source] E),
    /// The store answered with the wrong shape of data, or a node is outside the tree.
    #[error(transparent)]
    Tile(#[from] TileError),
}

/// Reads node hashes from tiles, as they are in a tree of `size` leaves: each tile once per
/// call, nodes between tile levels recomputed from the tile's hashes.
///
/// The data is trusted as the store returns it: a node reads its own store. A client reading
/// tiles from elsewhere gets its assurance from verifying the proof against a signed root.
///
/// Without a cache it recomputes, on every call, the nodes it is asked for from the tiles'
/// hashes (up to 127 node hashes for one node, 247 for a leaf's path through a full tile).
/// [`TileHashReader::cached`] gives it a [`TileCache`]: tiles held there answer at once, and
/// the tiles it has to read are decoded whole and kept for the next call.
#[derive(Debug, Clone, Copy)]
pub struct TileHashReader<'a, R> {
    size: u64,
    tiles: &'a R,
    cache: Option<(&'a TileCache, u64)>,
}

impl<'a, R: TileReader> TileHashReader<'a, R> {
    /// A reader of the tree of `size` leaves kept in `tiles` (the size of the newest tiles the
    /// store holds, or any smaller size a checkpoint stated).
    pub fn new(size: u64, tiles: &'a R) -> Self {
        Self {
            size,
            tiles,
            cache: None,
        }
    }

    /// The same reader, looking tiles up in `cache` first and keeping there the tiles it
    /// reads, as tiles of the log `log` (a number that tells this log's tiles from the other
    /// logs' the cache holds). Whoever writes the tiles must [`TileCache::forget`] them.
    pub fn cached(self, cache: &'a TileCache, log: u64) -> Self {
        Self {
            cache: Some((cache, log)),
            ..self
        }
    }

    /// Reads `tiles` in one call and checks the data can answer for them.
    fn read_checked(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileReadError<R::Error>> {
        let data = self
            .tiles
            .read_tiles(tiles)
            .map_err(TileReadError::Storage)?;
        if data.len() != tiles.len() {
            return Err(TileError::RecordCount {
                asked: tiles.len(),
                got: data.len(),
            }
            .into());
        }
        for (tile, data) in tiles.iter().zip(&data) {
            check_tile_data(tile, data)?;
        }
        Ok(data)
    }

    /// [`HashReader::read_hashes`] through the cache: look up, read and decode what is
    /// missing, keep it, answer every node from decoded tiles.
    fn read_hashes_cached(
        &self,
        cache: &TileCache,
        log: u64,
        located: &[NodeInTile],
        tiles: &[Tile],
    ) -> Result<Vec<LogHash>, TileReadError<R::Error>> {
        let (mut found, generation) = cache.lookup(log, tiles);
        let missing: Vec<Tile> = tiles
            .iter()
            .zip(&found)
            .filter(|(_, held)| held.is_none())
            .map(|(tile, _)| *tile)
            .collect();
        if !missing.is_empty() {
            let data = self.read_checked(&missing)?;
            let decoded: Vec<(Tile, Arc<TileNodes>)> = missing
                .iter()
                .zip(&data)
                .map(|(tile, data)| (*tile, Arc::new(TileNodes::decode(data))))
                .collect();
            cache.keep(log, generation, &decoded);
            let mut decoded = decoded.into_iter();
            for slot in found.iter_mut().filter(|held| held.is_none()) {
                *slot = decoded.next().map(|(_, nodes)| nodes);
            }
        }
        located
            .iter()
            .map(|l| {
                let missing = || TileError::MissingTile(l.tile.path());
                let i = tiles.binary_search(&l.tile).map_err(|_| missing())?;
                let nodes = found.get(i).and_then(Option::as_ref).ok_or_else(missing)?;
                // `count` is a power of two up to 128: its log is the node's sub-level.
                let k = l.count.trailing_zeros() as u8;
                nodes.node(k, l.start).ok_or_else(|| missing().into())
            })
            .collect()
    }
}

impl<R: TileReader> HashReader for TileHashReader<'_, R> {
    type Error = TileReadError<R::Error>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<LogHash>, Self::Error> {
        let located = nodes
            .iter()
            .map(|node| locate(*node, self.size))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tiles: Vec<Tile> = located.iter().map(|l| l.tile).collect();
        tiles.sort_unstable();
        tiles.dedup();
        if let Some((cache, log)) = self.cache {
            return self.read_hashes_cached(cache, log, &located, &tiles);
        }
        // Without a cache: each node recomputed from the hashes it covers, nothing more.
        let data = self.read_checked(&tiles)?;
        located
            .iter()
            .map(|l| {
                let i = tiles
                    .binary_search(&l.tile)
                    .map_err(|_| TileError::MissingTile(l.tile.path()))?;
                let bytes = &data[i][l.start * HASH_LEN..(l.start + l.count) * HASH_LEN];
                Ok(perfect_root(&hashes_of(bytes)))
            })
            .collect()
    }
}

/// Tiles kept in memory, by level and index (the newest version of each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTiles {
    tiles: BTreeMap<(u8, u64), Vec<u8>>,
}

impl MemoryTiles {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores tiles, replacing earlier versions.
    pub fn write(&mut self, tiles: impl IntoIterator<Item = TileData>) {
        for tile in tiles {
            self.tiles.insert(tile.tile.key(), tile.data);
        }
    }

    /// The newest data of tile `(level, index)`.
    pub fn get(&self, level: u8, index: u64) -> Option<&[u8]> {
        self.tiles.get(&(level, index)).map(Vec::as_slice)
    }

    /// Every tile held, by level and index, at its newest width.
    pub fn all(&self) -> Vec<TileData> {
        self.tiles
            .iter()
            .filter_map(|((level, index), data)| {
                let width = u16::try_from(data.len() / HASH_LEN).ok()?;
                let tile = Tile::new(*level, *index, width).ok()?;
                Some(TileData {
                    tile,
                    data: data.clone(),
                })
            })
            .collect()
    }

    /// How many tiles are held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no tile is held.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

impl TileReader for MemoryTiles {
    type Error = TileError;

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
        tiles
            .iter()
            .map(|tile| match self.tiles.get(&tile.key()) {
                Some(data) if data.len() >= tile.byte_len() => Ok(data.clone()),
                _ => Err(TileError::MissingTile(tile.path())),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<LogHash> {
        (0..n).map(|i| LogHash::leaf(&i.to_be_bytes())).collect()
    }

    #[test]
    fn paths_follow_the_spec_examples() {
        assert_eq!(
            Tile::new(0, 1_234_067, 256).unwrap().path(),
            "tile/0/x001/x234/067"
        );
        assert_eq!(Tile::new(1, 0, 17).unwrap().path(), "tile/1/000.p/17");
        assert_eq!(Tile::new(2, 1000, 1).unwrap().path(), "tile/2/x001/000.p/1");
        for tile in [
            Tile::new(0, 0, 256).unwrap(),
            Tile::new(3, 999, 255).unwrap(),
            Tile::new(63, u64::MAX, 1).unwrap(),
            Tile::new(0, 1_000_000, 256).unwrap(),
        ] {
            assert_eq!(Tile::parse_path(&tile.path()).unwrap(), tile);
        }
    }

    #[test]
    fn non_canonical_paths_are_refused() {
        for path in [
            "tile/00/000",
            "tile/64/000",
            "tile/0/0",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/08",
            "tile/0/000.p/",
            "tile/entries/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/+1/000",
            "tiles/0/000",
            "tile/0/000/",
        ] {
            assert!(Tile::parse_path(path).is_err(), "{path} accepted");
        }
        assert_eq!(
            Tile::parse_path("tile/0/x018/x446/x744/x073/x709/x551/615")
                .unwrap()
                .index(),
            u64::MAX
        );
    }

    #[test]
    fn stored_index_round_trips_and_counts() {
        // The first hashes in storage order: leaf 0, leaf 1, node (1,0), leaf 2, leaf 3,
        // node (1,1), node (2,0), leaf 4.
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (i, (level, index)) in order.iter().enumerate() {
            let node = NodeId::new(*level, *index).unwrap();
            assert_eq!(node.stored_index(), Some(i as u64));
            assert_eq!(NodeId::from_stored_index(i as u64), node);
        }
        for i in 0..5000u64 {
            assert_eq!(NodeId::from_stored_index(i).stored_index(), Some(i));
        }
        for i in [u64::MAX, u64::MAX - 1, 1 << 62, (1 << 63) + 12345] {
            assert_eq!(NodeId::from_stored_index(i).stored_index(), Some(i));
        }
        assert_eq!(stored_hash_count(0), Some(0));
        assert_eq!(stored_hash_count(5), Some(8));
        assert_eq!(stored_hash_count(u64::MAX), None);
        assert!(NodeId::new(64, 0).is_err());
        assert!(NodeId::new(63, 1).is_err());
        assert!(NodeId::new(63, 0).is_ok());
        assert!(NodeId::new(62, 3).is_err());
        assert!(NodeId::new(62, 2).is_ok());
    }

    #[test]
    fn the_spec_example_of_70000_leaves() {
        // 273 full level-0 tiles, one partial of 112; one full level-1 tile, one partial of 17;
        // one partial level-2 tile of 1.
        let tiles = tiles_for_append(0, 70_000).unwrap();
        let level0: Vec<_> = tiles.iter().filter(|t| t.level() == 0).collect();
        assert_eq!(level0.len(), 274);
        assert_eq!(level0.iter().filter(|t| t.is_full()).count(), 273);
        assert_eq!(level0[273].width(), 112);
        let level1: Vec<_> = tiles.iter().filter(|t| t.level() == 1).collect();
        assert_eq!(
            level1.iter().map(|t| t.width()).collect::<Vec<_>>(),
            [256, 17]
        );
        let level2: Vec<_> = tiles.iter().filter(|t| t.level() == 2).collect();
        assert_eq!(level2.len(), 1);
        assert_eq!(level2[0].width(), 1);
        assert_eq!(tiles.len(), 277);
        // A tree of 256: one full level-0 tile and a level-1 tile of width 1.
        let paths: Vec<_> = tiles_for_append(0, 256)
            .unwrap()
            .iter()
            .map(Tile::path)
            .collect();
        assert_eq!(paths, ["tile/0/000", "tile/1/000.p/1"]);
        assert!(tiles_for_append(5, 4).is_err());
        assert!(tiles_for_append(5, 5).unwrap().is_empty());
    }

    #[test]
    fn right_edge_matches_tiles_for_append_and_resumes() {
        let all = leaves(70_000);
        let mut edge = RightEdge::new();
        let mut store = MemoryTiles::new();
        let mut old = 0usize;
        for new in [
            1usize, 2, 255, 256, 257, 600, 65_535, 65_536, 65_537, 70_000,
        ] {
            let changed = edge.append(&all[old..new]).unwrap();
            let addresses: Vec<Tile> = changed.iter().map(|t| t.tile).collect();
            assert_eq!(addresses, tiles_for_append(old as u64, new as u64).unwrap());
            store.write(changed);
            // Resuming from the stored partial tiles gives the same edge.
            let resume: Vec<TileData> = RightEdge::resume_tiles(new as u64)
                .into_iter()
                .map(|tile| TileData {
                    tile,
                    data: store.get(tile.level(), tile.index()).unwrap().to_vec(),
                })
                .collect();
            let resumed = RightEdge::resume(new as u64, &resume).unwrap();
            assert_eq!(resumed, edge);
            assert_eq!(resumed.tiles(), resume);
            old = new;
        }
        assert!(RightEdge::resume(70_000, &[]).is_err());
    }

    #[test]
    fn empty_edge_has_the_empty_root() {
        assert_eq!(RightEdge::new().root(), EMPTY_ROOT);
        assert!(RightEdge::new().append(&[]).unwrap().is_empty());
    }

    #[test]
    fn hash_reader_refuses_bad_tile_data() {
        struct Short;
        impl TileReader for Short {
            type Error = TileError;
            fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TileError> {
                Ok(tiles.iter().map(|_| vec![0u8; 31]).collect())
            }
        }
        let reader = TileHashReader::new(10, &Short);
        let err = reader.read_hashes(&[NodeId::leaf(3)]).unwrap_err();
        assert!(matches!(
            err,
            TileReadError::Tile(TileError::BadTileData { .. })
        ));
        let err = reader.read_hashes(&[NodeId::leaf(10)]).unwrap_err();
        assert!(matches!(
            err,
            TileReadError::Tile(TileError::NodeBeyondSize { .. })
        ));
    }
}
