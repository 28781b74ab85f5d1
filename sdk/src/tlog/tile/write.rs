//! Writing a log's tiles: the right edge of the tree, appended to leaf by leaf, giving the
//! tiles each append changes.

use super::*;

/// The right edge of a log: its size and its partial tiles, lowest level first — all a writer
/// needs to compute the tiles an append changes and the new root, with no reads.
///
/// What a node persists is just the tiles [`RightEdge::append`] returns (it stores them anyway,
/// to answer proofs); after a restart it reads [`RightEdge::resume_tiles`] back and calls
/// [`RightEdge::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightEdge {
    pub(super) size: u64,
    /// `partial[L]`, for each of the 8 tile levels, holds the `(size >> 8L) mod 256` hashes of
    /// the last, partial level-L tile.
    pub(super) partial: Vec<Vec<LogHash>>,
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
