//! Each member's chain as a verifiable log in the store: the C2SP tiles of its RFC 6962 tree
//! ([`tally_sdk::tlog`]), written by the writer in the same synced batch as the entries they
//! cover, and read back to answer a chain's root, inclusion proofs and consistency proofs with
//! `O(log n)` reads, whatever the chain's length.
//!
//! Leaf `i` of a chain's log is the hash of its entry `i`. The `tiles` column family keys a
//! tile by the chain's member code (4 bytes), the tile's level (1 byte) and index (8 bytes),
//! all big-endian, and holds the newest version of the tile: a partial tile is overwritten as
//! the chain grows until it is full (a proof for an older size reads the prefix it needs).
//!
//! A store keeps the tiles it reads decoded, with the nodes of their inner levels, in a
//! [`TileCache`] of at most [`TILE_CACHE_BYTES`] shared by all chains ([`Store::tile_cache`]):
//! a tile stores only the hashes of its own level, and recomputing the 7 levels above them
//! was most of a proof's time. Every write forgets the tiles it wrote once they are written
//! ([`forget_written`]). Nothing of the cache is stored: the format is the tiles alone.

use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::proof::{self, BuildError};
use tally_sdk::tlog::tile::TileCache;
use tally_sdk::tlog::tile::{RightEdge, Tile, TileData, TileHashReader, TileReadError, TileReader};

use super::keys::MemberCode;
use super::{Batch, Cf, Op, Store, StoreError, corrupted};

/// Length of a tile key.
const TILE_KEY_LEN: usize = 13;

/// Bytes of decoded tiles a store keeps (see [`TileCache`]): about 4,100 full tiles of
/// 16,320 bytes. That is every tile of a chain of a million entries, or the upper levels of
/// any number of chains (a chain of ten million entries has 153 tiles above its leaf tiles)
/// with room for the leaf tiles recent proofs read.
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// The key of `tile` of chain `code`.
pub fn tile_key(code: MemberCode, tile: &Tile) -> [u8; TILE_KEY_LEN] {
    let mut key = [0; TILE_KEY_LEN];
    key[..4].copy_from_slice(&code.0.to_be_bytes());
    key[4] = tile.level();
    key[5..].copy_from_slice(&tile.index().to_be_bytes());
    key
}

/// The tiles a batch writes or deletes, as `(member code, level, index)`: what a store's
/// [`TileCache`] forgets once the batch is written.
pub fn written_tiles(ops: &[Op]) -> Vec<(u64, u8, u64)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Put(Cf::Tiles, key, _) | Op::Delete(Cf::Tiles, key) => parse_tile_key(key),
            _ => None,
        })
        .collect()
}

/// Makes `cache` forget the tiles `ops` wrote (nothing when they wrote none).
pub fn forget_written(cache: &TileCache, ops: &[Op]) {
    let tiles = written_tiles(ops);
    if !tiles.is_empty() {
        cache.forget(tiles);
    }
}

/// Member code, level and index of a tile key; `None` for a key of another length (which no
/// reader asks for, so no cached tile can be its).
fn parse_tile_key(key: &[u8]) -> Option<(u64, u8, u64)> {
    let key: &[u8; TILE_KEY_LEN] = key.try_into().ok()?;
    let (code, rest) = key.split_first_chunk::<4>()?;
    let (level, index) = rest.split_first()?;
    let index: [u8; 8] = index.try_into().ok()?;
    Some((
        u64::from(u32::from_be_bytes(*code)),
        *level,
        u64::from_be_bytes(index),
    ))
}

/// Adds `tiles` of chain `code` to `batch`.
pub fn put_tiles(batch: &mut Batch, code: MemberCode, tiles: Vec<TileData>) {
    for TileData { tile, data } in tiles {
        batch.put(Cf::Tiles, tile_key(code, &tile).to_vec(), data);
    }
}

/// The tiles of one chain in a store.
#[derive(Debug, Clone, Copy)]
pub struct ChainTiles<'a, S: ?Sized> {
    store: &'a S,
    code: MemberCode,
}

impl<'a, S: Store + ?Sized> ChainTiles<'a, S> {
    /// The tiles of chain `code` in `store`.
    pub fn new(store: &'a S, code: MemberCode) -> Self {
        Self { store, code }
    }

    /// The right edge of the chain's log at `size` leaves (the writer appends to it).
    pub fn edge(&self, size: u64) -> Result<RightEdge, StoreError> {
        let wanted = RightEdge::resume_tiles(size);
        let mut tiles = Vec::with_capacity(wanted.len());
        for (tile, data) in wanted.iter().zip(self.read_tiles(&wanted)?) {
            // A wider version is the same tile later on; the edge at `size` is its prefix.
            let data = data
                .get(..tile.byte_len())
                .map(<[u8]>::to_vec)
                .ok_or_else(|| {
                    corrupted(format!(
                        "tile {} of member code {} is short",
                        tile.path(),
                        self.code.0
                    ))
                })?;
            tiles.push(TileData { tile: *tile, data });
        }
        RightEdge::resume(size, &tiles).map_err(|e| corrupted(format!("a chain's log: {e}")))
    }

    /// The root of the chain's log at `size` leaves.
    pub fn root(&self, size: u64) -> Result<LogHash, StoreError> {
        proof::tree_root(size, &self.reader(size)).map_err(proof_error)
    }

    /// The inclusion proof of entry `index` in the log at `size` leaves.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<LogHash>, ProofError> {
        proof::inclusion_proof(index, size, &self.reader(size)).map_err(refusal)
    }

    /// The consistency proof from the log at `older` leaves to the log at `newer`.
    pub fn consistency(&self, older: u64, newer: u64) -> Result<Vec<LogHash>, ProofError> {
        proof::consistency_proof(older, newer, &self.reader(newer)).map_err(refusal)
    }

    /// The node hashes of the log at `size`, through the store's tile cache if it has one.
    fn reader(&self, size: u64) -> TileHashReader<'_, Self> {
        let reader = TileHashReader::new(size, self);
        match self.store.tile_cache() {
            Some(cache) => reader.cached(cache, u64::from(self.code.0)),
            None => reader,
        }
    }
}

impl<S: Store + ?Sized> TileReader for ChainTiles<'_, S> {
    type Error = StoreError;

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = tiles
            .iter()
            .map(|tile| tile_key(self.code, tile).to_vec())
            .collect();
        let values = self.store.get_many(Cf::Tiles, &keys)?;
        if values.len() != tiles.len() {
            return Err(corrupted(format!(
                "asked the store for {} tiles, got {}",
                tiles.len(),
                values.len()
            )));
        }
        tiles
            .iter()
            .zip(values)
            .map(|(tile, value)| {
                value.ok_or_else(|| {
                    corrupted(format!(
                        "tile {} of member code {} is missing",
                        tile.path(),
                        self.code.0
                    ))
                })
            })
            .collect()
    }
}

/// A proof cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The sizes or index asked for are not a proof of this log (beyond its size, or an
    /// empty older tree).
    #[error("{0}")]
    Refused(String),
    /// The store failed, or holds damaged tiles.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn proof_error(error: BuildError<TileReadError<StoreError>>) -> StoreError {
    match error {
        BuildError::Read(TileReadError::Storage(store)) => store,
        other => corrupted(format!("a chain's log: {other}")),
    }
}

fn refusal(error: BuildError<TileReadError<StoreError>>) -> ProofError {
    match error {
        BuildError::Request(why) => ProofError::Refused(why.to_string()),
        other => ProofError::Store(proof_error(other)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tally_sdk::hash::EntryHash;
    use tally_sdk::tlog::proof::{verify_consistency, verify_inclusion};

    use super::*;
    use crate::store::memory::MemoryStore;

    fn hashes(count: u64) -> Vec<EntryHash> {
        (0..count)
            .map(|i| EntryHash::digest(&i.to_be_bytes()))
            .collect()
    }

    /// Tiles written in batches of any size give the roots and proofs of the whole tree, and
    /// the right edge read back from the store continues it.
    #[test]
    fn proofs_from_stored_tiles_verify_and_the_edge_resumes() {
        let store = MemoryStore::new();
        let code = MemberCode(3);
        let all = hashes(1_000);
        let mut edge = RightEdge::new();
        let mut roots = Vec::new();
        for chunk in all.chunks(37) {
            let leaves: Vec<LogHash> = chunk.iter().map(LogHash::entry_leaf).collect();
            let mut batch = Batch::default();
            put_tiles(&mut batch, code, edge.append(&leaves).unwrap());
            store.write(batch).unwrap();
            roots.push((edge.size(), edge.root()));
        }
        let tiles = ChainTiles::new(&store, code);
        for (size, root) in &roots {
            assert_eq!(tiles.root(*size).unwrap(), *root);
            assert_eq!(tiles.edge(*size).unwrap().root(), *root);
        }
        let (size, root) = roots[roots.len() - 1];
        for index in [0, 1, 255, 256, 511, 999] {
            let proof = tiles.inclusion(index, size).unwrap();
            let leaf = LogHash::entry_leaf(&all[index as usize]);
            verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        }
        let (older, older_root) = roots[3];
        let proof = tiles.consistency(older, size).unwrap();
        verify_consistency(older, size, &proof, &older_root, &root).unwrap();
        assert!(matches!(
            tiles.inclusion(1_000, 1_000),
            Err(ProofError::Refused(_))
        ));
        assert!(matches!(
            tiles.consistency(0, 10),
            Err(ProofError::Refused(_))
        ));
    }

    /// Proofs served through the store's tile cache equal those computed from the tiles
    /// alone, while the chain grows after proofs were served (partial tiles cached at one
    /// width, then widened and filled by later writes), at the newest size and older ones.
    #[test]
    fn proofs_through_the_cache_equal_proofs_without_as_the_chain_grows() {
        let store = MemoryStore::new();
        let code = MemberCode(5);
        let all = hashes(2_000);
        let mut edge = RightEdge::new();
        let tiles = ChainTiles::new(&store, code);
        let mut at = 0;
        for step in [1usize, 254, 1, 1, 300, 7, 256, 600, 580] {
            let leaves: Vec<LogHash> = all[at..at + step].iter().map(LogHash::entry_leaf).collect();
            at += step;
            let mut batch = Batch::default();
            put_tiles(&mut batch, code, edge.append(&leaves).unwrap());
            store.write(batch).unwrap();
            let size = edge.size();
            for older in [1, (size / 3).max(1), size.saturating_sub(1).max(1), size] {
                let plain = TileHashReader::new(older, &tiles);
                assert_eq!(
                    tiles.root(older).unwrap(),
                    proof::tree_root(older, &plain).unwrap()
                );
                for index in [0, older / 2, older - 1] {
                    assert_eq!(
                        tiles.inclusion(index, older).unwrap(),
                        proof::inclusion_proof(index, older, &plain).unwrap()
                    );
                }
                let plain = TileHashReader::new(size, &tiles);
                assert_eq!(
                    tiles.consistency(older, size).unwrap(),
                    proof::consistency_proof(older, size, &plain).unwrap()
                );
            }
            assert_eq!(tiles.root(size).unwrap(), edge.root());
        }
        let stats = store.tile_cache().unwrap().stats();
        assert!(stats.hits > 0 && stats.tiles > 0, "{stats:?}");
    }

    /// A tile rewritten with other content (as a rebuilt or damaged store has) is read again:
    /// the write makes the cache forget it.
    #[test]
    fn a_rewritten_tile_is_read_again() {
        let store = MemoryStore::new();
        let code = MemberCode(1);
        let leaves: Vec<LogHash> = hashes(600).iter().map(LogHash::entry_leaf).collect();
        let mut edge = RightEdge::new();
        let mut batch = Batch::default();
        put_tiles(&mut batch, code, edge.append(&leaves).unwrap());
        store.write(batch).unwrap();
        let tiles = ChainTiles::new(&store, code);
        let before = tiles.root(600).unwrap();
        assert_eq!(before, edge.root());
        // The partial leaf tile, which the root reads (the full ones are summed up above).
        let key = tile_key(code, &Tile::new(0, 2, 88).unwrap());
        let mut data = store.get(Cf::Tiles, &key).unwrap().unwrap();
        data[0] ^= 1;
        let mut batch = Batch::default();
        batch.put(Cf::Tiles, key.to_vec(), data);
        store.write(batch).unwrap();
        let after = tiles.root(600).unwrap();
        assert_ne!(after, before);
        assert_eq!(
            after,
            proof::tree_root(600, &TileHashReader::new(600, &tiles)).unwrap()
        );
    }

    #[test]
    fn tile_keys_parse_back() {
        let tile = Tile::new(3, 0x0102_0304_0506_0708, 17).unwrap();
        let key = tile_key(MemberCode(0xdead_beef), &tile);
        assert_eq!(
            parse_tile_key(&key),
            Some((0xdead_beef, 3, 0x0102_0304_0506_0708))
        );
        assert_eq!(parse_tile_key(&key[..12]), None);
        let mut batch = Batch::default();
        batch.put(Cf::Tiles, key.to_vec(), vec![0; 32]);
        batch.put(Cf::Chain, key.to_vec(), vec![0; 32]);
        batch.delete(Cf::Tiles, key.to_vec());
        assert_eq!(written_tiles(batch.ops()).len(), 2);
    }
}
