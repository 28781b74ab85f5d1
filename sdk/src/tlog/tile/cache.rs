//! A bounded, shared cache of decoded tiles, so that proofs from a warm store hash almost
//! nothing.
//!
//! # Why
//!
//! A C2SP tile stores only the hashes of its own tree level; the nodes of the 7 levels above
//! them, up to the next tile level, are recomputed from the tile on every read
//! ([`crate::tlog::tile`]). The path of one leaf through a full tile needs its siblings at
//! those 8 levels, 1 + 3 + 7 + … + 127 = 247 node hashes; an inclusion proof in a log of ten
//! million leaves crosses three tile levels (and the partial tiles of the right border), so it
//! spent most of its time hashing tiles it had hashed already, not reading them.
//!
//! # What
//!
//! [`TileCache`] keeps tiles *decoded*: each tile's hashes with every node of the 7 levels
//! above them (510 hashes for a full tile, 16,320 bytes), by log, tile level and tile index.
//! A [`crate::tlog::tile::TileHashReader`] given a cache ([`TileHashReader::cached`]) looks
//! the tiles of a proof up first, reads only the ones missing from its [`TileReader`] in one
//! call, decodes them, and keeps them for the next proof. The on-disk format is untouched: the
//! cache holds only what the tiles already determine.
//!
//! # Why it is exact
//!
//! * A full tile never changes once written.
//! * A partial tile is kept with its width, and answers only a request for that width or a
//!   narrower one: a narrower version of a tile is a prefix of the wider one, so every node
//!   complete in it has the same hash in both. A request for a wider version than the one held
//!   is a miss, and the wider version read replaces it. A partial tile is never taken for the
//!   full tile it will become.
//! * Whoever writes tiles tells the cache ([`TileCache::forget`]) after the write has landed,
//!   so a tile rewritten with other content (a store rebuilt, or damaged on purpose in a test)
//!   is read again. A reader that read a tile before such a write, and would put the old
//!   version in after the write's `forget`, does not: each `forget` moves the cache's
//!   generation on, and decoded tiles are kept only if no `forget` happened since the lookup
//!   that missed them.
//!
//! # Bound
//!
//! The cache holds at most the bytes it was made with (hashes and a fixed allowance per tile
//! for the bookkeeping) and drops the least recently used tile first. Tiles of the upper
//! levels, which every proof of a log reads, stay; leaf tiles come and go with the proofs
//! asked for. One mutex guards it: a proof takes it twice (look up, then keep what it read),
//! for well under a microsecond each, against tens of microseconds of hashing saved.
//!
//! [`TileHashReader::cached`]: crate::tlog::tile::TileHashReader::cached
//! [`TileReader`]: crate::tlog::tile::TileReader

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::{TILE_HEIGHT, TILE_WIDTH, Tile};
use crate::hash::HASH_LEN;
use crate::tlog::hash::LogHash;

/// Bytes counted for each tile held besides its hashes: its key in the map and in the
/// recency order, the shared pointer and the vector's header. An estimate that errs high.
pub const ENTRY_OVERHEAD_BYTES: usize = 160;

/// Bytes a full tile takes in the cache: 510 hashes (256 of its level and 254 nodes above
/// them) and [`ENTRY_OVERHEAD_BYTES`].
pub const FULL_TILE_CACHE_BYTES: usize = 510 * HASH_LEN + ENTRY_OVERHEAD_BYTES;

/// A tile's hashes and every node above them within the tile: sub-level `k` (tree level
/// `8L + k`, for `k` from 0 to 7) holds `width >> k` nodes, all complete at this width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TileNodes {
    width: u16,
    /// Sub-level 0, then 1, … 7, one after the other.
    hashes: Vec<LogHash>,
}

impl TileNodes {
    /// Decodes tile data (whole hashes, 1 to 256 of them, as the reader checked) and computes
    /// the nodes above them: `width - popcount(width)` hashes, 254 for a full tile.
    pub(crate) fn decode(data: &[u8]) -> Self {
        let width = (data.len() / HASH_LEN).min(usize::from(TILE_WIDTH));
        let total: usize = (0..TILE_HEIGHT).map(|k| width >> k).sum();
        let mut hashes = Vec::with_capacity(total);
        hashes.extend(data.chunks_exact(HASH_LEN).take(width).map(|chunk| {
            let mut bytes = [0u8; HASH_LEN];
            bytes.copy_from_slice(chunk);
            LogHash::from_bytes(bytes)
        }));
        let mut below = 0;
        for k in 1..TILE_HEIGHT {
            let count = width >> k;
            for i in 0..count {
                let left = hashes[below + 2 * i];
                let right = hashes[below + 2 * i + 1];
                hashes.push(LogHash::node(&left, &right));
            }
            below += width >> (k - 1);
        }
        Self {
            // At most 256: fits.
            width: width as u16,
            hashes,
        }
    }

    /// Hashes of the tile's own level held (its width).
    pub(crate) fn width(&self) -> u16 {
        self.width
    }

    /// The node of sub-level `k` whose first hash of the tile's level is `start`; `None` when
    /// it is not complete at this width.
    pub(crate) fn node(&self, k: u8, start: usize) -> Option<LogHash> {
        if k >= TILE_HEIGHT {
            return None;
        }
        let width = usize::from(self.width);
        let offset: usize = (0..k).map(|j| width >> j).sum();
        let i = start >> k;
        if i >= width >> k {
            return None;
        }
        self.hashes.get(offset + i).copied()
    }

    /// Bytes it is counted as in a cache.
    fn cost(&self) -> usize {
        self.hashes.len() * HASH_LEN + ENTRY_OVERHEAD_BYTES
    }
}

/// Where a tile is: which log (any number its user gives each log it caches, a member code
/// for a node), tile level and tile index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    log: u64,
    level: u8,
    index: u64,
}

#[derive(Debug)]
struct Slot {
    nodes: Arc<TileNodes>,
    /// Its place in [`State::recency`].
    used: u64,
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<Key, Slot>,
    /// Keys by last use, oldest first: what to drop when over the bound.
    recency: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
    /// Moved on by every [`TileCache::forget`].
    generation: u64,
    hits: u64,
    misses: u64,
}

impl State {
    fn touch(&mut self, key: Key) -> Option<Arc<TileNodes>> {
        self.clock += 1;
        let clock = self.clock;
        let slot = self.slots.get_mut(&key)?;
        self.recency.remove(&slot.used);
        slot.used = clock;
        self.recency.insert(clock, key);
        Some(Arc::clone(&slot.nodes))
    }

    fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.slots.remove(key) {
            self.recency.remove(&slot.used);
            self.bytes -= slot.nodes.cost();
        }
    }
}

/// What a cache has done since it was made (for tests and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Tiles held now.
    pub tiles: usize,
    /// Bytes they are counted as.
    pub bytes: usize,
    /// Tiles a proof found held.
    pub hits: u64,
    /// Tiles a proof had to read.
    pub misses: u64,
}

/// Decoded tiles of any number of logs, bounded by bytes, shared between threads. See the
/// module documentation for why what it answers is exact.
#[derive(Debug)]
pub struct TileCache {
    max_bytes: usize,
    state: Mutex<State>,
}

impl TileCache {
    /// A cache holding at most `max_bytes` (about `max_bytes /`
    /// [`FULL_TILE_CACHE_BYTES`] full tiles). 0 keeps nothing.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// Its bound, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// What it holds and has done.
    pub fn stats(&self) -> CacheStats {
        let state = self.lock();
        CacheStats {
            tiles: state.slots.len(),
            bytes: state.bytes,
            hits: state.hits,
            misses: state.misses,
        }
    }

    /// Drops tiles `(log, level, index)`: call it after every write of those tiles has
    /// landed, before the writer reports the write done. Decoded tiles read before it are not
    /// kept (see [`TileCache`]).
    pub fn forget(&self, tiles: impl IntoIterator<Item = (u64, u8, u64)>) {
        let mut state = self.lock();
        state.generation += 1;
        for (log, level, index) in tiles {
            state.remove(&Key { log, level, index });
        }
    }

    /// The held versions of `tiles` of `log` that answer for them (as wide or wider), and the
    /// generation to give [`TileCache::keep`] for what is read instead.
    pub(crate) fn lookup(&self, log: u64, tiles: &[Tile]) -> (Vec<Option<Arc<TileNodes>>>, u64) {
        let mut state = self.lock();
        let found: Vec<_> = tiles
            .iter()
            .map(|tile| {
                let key = Key {
                    log,
                    level: tile.level(),
                    index: tile.index(),
                };
                // A narrower version than asked for is not an answer (it lacks nodes); it is
                // left for the wider one read instead to replace.
                let held = state
                    .slots
                    .get(&key)
                    .is_some_and(|slot| slot.nodes.width() >= tile.width());
                if held { state.touch(key) } else { None }
            })
            .collect();
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        state.hits += hits;
        state.misses += tiles.len() as u64 - hits;
        (found, state.generation)
    }

    /// Keeps decoded tiles of `log`, read after a [`TileCache::lookup`] that returned
    /// `generation`, unless tiles were forgotten since; then drops the least recently used
    /// tiles until the cache is within its bound.
    pub(crate) fn keep(&self, log: u64, generation: u64, tiles: &[(Tile, Arc<TileNodes>)]) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        for (tile, nodes) in tiles {
            let cost = nodes.cost();
            if cost > self.max_bytes {
                continue;
            }
            let key = Key {
                log,
                level: tile.level(),
                index: tile.index(),
            };
            // Another reader may have kept a wider version meanwhile: keep the wider.
            if state
                .slots
                .get(&key)
                .is_some_and(|slot| slot.nodes.width() >= nodes.width())
            {
                continue;
            }
            state.remove(&key);
            state.clock += 1;
            let used = state.clock;
            state.recency.insert(used, key);
            state.slots.insert(
                key,
                Slot {
                    nodes: Arc::clone(nodes),
                    used,
                },
            );
            state.bytes += cost;
        }
        while state.bytes > self.max_bytes {
            let Some((_, oldest)) = state.recency.pop_first() else {
                break;
            };
            if let Some(slot) = state.slots.remove(&oldest) {
                state.bytes -= slot.nodes.cost();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements that can panic (none do): a poisoned
        // lock is still a usable cache.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tlog::tile::perfect_root;

    fn data(width: usize) -> Vec<u8> {
        (0..width as u64)
            .flat_map(|i| *LogHash::leaf(&i.to_be_bytes()).as_bytes())
            .collect()
    }

    fn hashes(width: usize) -> Vec<LogHash> {
        (0..width as u64)
            .map(|i| LogHash::leaf(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn decoded_nodes_are_the_subtree_roots_complete_at_the_width() {
        for width in [1usize, 2, 3, 7, 100, 128, 255, 256] {
            let nodes = TileNodes::decode(&data(width));
            let leaves = hashes(width);
            assert_eq!(usize::from(nodes.width()), width);
            for k in 0..TILE_HEIGHT {
                let run = 1usize << k;
                for start in (0..256).step_by(run) {
                    let expected =
                        (start + run <= width).then(|| perfect_root(&leaves[start..start + run]));
                    assert_eq!(
                        nodes.node(k, start),
                        expected,
                        "width {width} k {k} {start}"
                    );
                }
            }
            assert_eq!(nodes.node(TILE_HEIGHT, 0), None);
        }
        assert_eq!(TileNodes::decode(&data(256)).cost(), FULL_TILE_CACHE_BYTES);
    }

    #[test]
    fn the_cache_stays_within_its_bound_dropping_the_least_recently_used() {
        let cache = TileCache::new(3 * FULL_TILE_CACHE_BYTES);
        let full = Arc::new(TileNodes::decode(&data(256)));
        let tile = |index| Tile::new(0, index, 256).unwrap();
        for index in 0..3 {
            let (found, generation) = cache.lookup(7, &[tile(index)]);
            assert!(found[0].is_none());
            cache.keep(7, generation, &[(tile(index), Arc::clone(&full))]);
        }
        // Tile 0 used again: tile 1 is now the oldest, and goes when tile 3 comes.
        let (found, generation) = cache.lookup(7, &[tile(0)]);
        assert!(found[0].is_some());
        cache.keep(7, generation, &[(tile(3), Arc::clone(&full))]);
        let stats = cache.stats();
        assert_eq!(stats.tiles, 3);
        assert!(stats.bytes <= cache.max_bytes());
        let (found, _) = cache.lookup(7, &[tile(0), tile(1), tile(2), tile(3)]);
        let held: Vec<bool> = found.iter().map(Option::is_some).collect();
        assert_eq!(held, [true, false, true, true]);
        // Another log's tiles are apart.
        assert!(cache.lookup(8, &[tile(0)]).0[0].is_none());
        // A cache of nothing keeps nothing.
        let none = TileCache::new(0);
        let (_, generation) = none.lookup(1, &[tile(0)]);
        none.keep(1, generation, &[(tile(0), full)]);
        assert_eq!(none.stats().tiles, 0);
    }

    #[test]
    fn partial_tiles_answer_only_for_their_width_or_narrower() {
        let cache = TileCache::new(1 << 20);
        let partial = Tile::new(1, 4, 100).unwrap();
        let (_, generation) = cache.lookup(0, &[partial]);
        cache.keep(
            0,
            generation,
            &[(partial, Arc::new(TileNodes::decode(&data(100))))],
        );
        for (width, held) in [
            (1, true),
            (99, true),
            (100, true),
            (101, false),
            (256, false),
        ] {
            let tile = Tile::new(1, 4, width).unwrap();
            assert_eq!(cache.lookup(0, &[tile]).0[0].is_some(), held, "{width}");
        }
        // A narrower version kept late does not replace the wider one.
        let (_, generation) = cache.lookup(0, &[partial]);
        cache.keep(
            0,
            generation,
            &[(partial, Arc::new(TileNodes::decode(&data(50))))],
        );
        assert_eq!(
            cache.lookup(0, &[partial]).0[0].as_ref().unwrap().width(),
            100
        );
    }

    #[test]
    fn what_was_read_before_a_forget_is_not_kept() {
        let cache = TileCache::new(1 << 20);
        let tile = Tile::new(0, 0, 256).unwrap();
        let nodes = Arc::new(TileNodes::decode(&data(256)));
        let (_, before) = cache.lookup(0, &[tile]);
        cache.forget([(0, 0, 9)]);
        cache.keep(0, before, &[(tile, Arc::clone(&nodes))]);
        assert_eq!(cache.stats().tiles, 0);
        let (_, generation) = cache.lookup(0, &[tile]);
        cache.keep(0, generation, &[(tile, nodes)]);
        assert_eq!(cache.stats().tiles, 1);
        cache.forget([(0, 0, 0)]);
        assert_eq!(cache.stats().tiles, 0);
        assert_eq!(cache.stats().bytes, 0);
    }
}
