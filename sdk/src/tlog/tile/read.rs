//! Reading a log's node hashes from its tiles: the readers proofs use, with or without a
//! cache of decoded tiles, and an in-memory tile store.

use super::*;

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
    pub(super) size: u64,
    pub(super) tiles: &'a R,
    pub(super) cache: Option<(&'a TileCache, u64)>,
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
    pub(super) tiles: BTreeMap<(u8, u64), Vec<u8>>,
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
