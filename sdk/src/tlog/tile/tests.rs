//! Unit tests of `tile`.

#![allow(clippy::unwrap_used)]

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
