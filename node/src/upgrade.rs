//! Storage format upgrades: an older store turned into this software's format when the node
//! opens it, before the store's own checks run ([`open`]).
//!
//! The store (`crate::store`) knows keys and rows; what an older format's rows mean, and what
//! a newer one adds, is known above it: the private-field rows of format 1
//! ([`crate::private::upgrade_format_1`]), the `by_event_id` index of format 3 (the index facts
//! of [`crate::ingest::IndexFacts`]), the logs of format 5 (`build_all_logs`), the
//! `by_record_time` index of format 6. So the
//! upgrades live here, and `store/` imports nothing above it. Each step writes the next
//! format's marker last, in the same or a later write than its rows, and is idempotent: a
//! crash part-way leaves a store of the older format that upgrades again at the next open.

use std::collections::HashMap;
use std::path::Path;

use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::NetworkId;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::tile::RightEdge;

use crate::ingest::IndexFacts;
use crate::store::check::{self, CheckReport, check_store};
use crate::store::keys::{MemberCode, Position, event_id_prefix, index_key};
use crate::store::rocks::{CHECK_DEPTH, RocksStore};
use crate::store::{Batch, Cf, STORE_FORMAT, Store, StoreError, corrupted, decode_entry, tiles};

/// Opens (or creates) the store in `path` for `network`, upgrades it if it is of an older
/// format, and checks it ([`check_store`], [`CHECK_DEPTH`] entries deep).
pub fn open(path: &Path, network: NetworkId) -> Result<(RocksStore, CheckReport), StoreError> {
    open_with_depth(path, network, CHECK_DEPTH)
}

/// [`open`] with another check depth.
pub fn open_with_depth(
    path: &Path,
    network: NetworkId,
    depth: u64,
) -> Result<(RocksStore, CheckReport), StoreError> {
    let store = RocksStore::open_unchecked(path)?;
    upgrade(&store, network)?;
    let report = check_store(&store, network, depth)?;
    Ok((store, report))
}

/// Upgrades `store` to [`STORE_FORMAT`] if it is a store of `network` in an older format;
/// leaves anything else (an empty store, another network's, an unknown format) to the checks,
/// which initialise or refuse it.
pub fn upgrade<S: Store + ?Sized>(store: &S, network: NetworkId) -> Result<(), StoreError> {
    if store.get(Cf::Meta, b"network_id")?.as_deref() != Some(network.as_bytes().as_slice()) {
        return Ok(());
    }
    let Some(format) = store
        .get(Cf::Meta, b"format")?
        .as_deref()
        .and_then(check::format_number)
    else {
        return Ok(());
    };
    if format == 1 {
        // Format 1 kept only the author's opened fields; one atomic batch turns every row
        // into a format-2 row and moves the marker, so a crash leaves the store wholly in one
        // format or the other.
        let mut batch = crate::private::upgrade_format_1(store)?;
        batch.put(Cf::Meta, b"format".to_vec(), 2u32.to_be_bytes().to_vec());
        store.write(batch)?;
        tracing::info!("upgraded the store from storage format 1 to 2");
    }
    if (1..=2).contains(&format) {
        upgrade_format_2(store)?;
    }
    if (1..=3).contains(&format) {
        upgrade_format_3(store)?;
    }
    if (1..=4).contains(&format) {
        upgrade_format_4(store)?;
    }
    if (1..=5).contains(&format) {
        upgrade_format_5(store)?;
    }
    Ok(())
}

/// Entries read per batch while upgrading.
const UPGRADE_CHUNK: usize = 10_000;

/// Format 3 added the `by_event_id` index (and the `captures` column family, which starts
/// empty): every stored event is indexed, chunk by chunk, and the marker moves last. The
/// writes are idempotent, so a crash part-way leaves a format-2 store that upgrades again.
fn upgrade_format_2<S: Store + ?Sized>(store: &S) -> Result<(), StoreError> {
    let indexed = index_every_event(store, |batch, position, _, facts| {
        if let Some(id) = &facts.event_id {
            batch.put(
                Cf::ByEventId,
                index_key(&event_id_prefix(id), facts.event_time, position),
                Vec::new(),
            );
        }
    })?;
    let mut batch = Batch::default();
    batch.put(Cf::Meta, b"format".to_vec(), 3u32.to_be_bytes().to_vec());
    store.write(batch)?;
    tracing::info!(
        events = indexed,
        "upgraded the store from storage format 2 to 3"
    );
    Ok(())
}

/// Calls `rows` for every stored event (its position, entry and index facts), chunk by chunk,
/// and writes the rows it puts in the batch; returns how many events there were.
fn index_every_event<S: Store + ?Sized>(
    store: &S,
    mut rows: impl FnMut(&mut Batch, Position, &SignedEntry, &IndexFacts),
) -> Result<u64, StoreError> {
    let mut events = 0_u64;
    check::for_each_chain_chunk(store, UPGRADE_CHUNK, |chunk| {
        let hashes: Vec<Vec<u8>> = chunk
            .iter()
            .map(|(_, hash)| hash.as_bytes().to_vec())
            .collect();
        let stored = store.get_many(Cf::Entries, &hashes)?;
        let mut batch = Batch::default();
        for (&(position, hash), bytes) in chunk.iter().zip(stored) {
            let bytes = bytes
                .ok_or_else(|| corrupted(format!("entry {hash} is in a chain but not stored")))?;
            let entry = decode_entry(&hash, &bytes)?;
            let facts = IndexFacts::of(&entry).map_err(|e| {
                corrupted(format!("the event of stored entry {hash} is invalid: {e}"))
            })?;
            if let Some(facts) = facts {
                rows(&mut batch, position, &entry, &facts);
                events += 1;
            }
        }
        if !batch.is_empty() {
            store.write(batch)?;
        }
        Ok(())
    })?;
    Ok(events)
}

/// Format 4 added the `rejected` column family, which starts empty (the store creates it at
/// open): only the marker moves.
fn upgrade_format_3<S: Store + ?Sized>(store: &S) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    batch.put(Cf::Meta, b"format".to_vec(), 4u32.to_be_bytes().to_vec());
    store.write(batch)?;
    tracing::info!("upgraded the store from storage format 3 to 4");
    Ok(())
}

/// Format 5 added each chain's log (the `tiles` column family): the tiles of every stored
/// chain are computed from its entry hashes, with progress logged, and the marker moves last.
fn upgrade_format_4<S: Store + ?Sized>(store: &S) -> Result<(), StoreError> {
    let entries = build_all_logs(store)?;
    let mut batch = Batch::default();
    batch.put(Cf::Meta, b"format".to_vec(), 5u32.to_be_bytes().to_vec());
    store.write(batch)?;
    tracing::info!(
        entries,
        "upgraded the store from storage format 4 to 5: every chain's log computed"
    );
    Ok(())
}

/// Format 6 added the `by_record_time` index (EPCIS queries by and ordered by `recordTime`):
/// every stored event is indexed by its entry's timestamp, chunk by chunk, and the marker
/// moves last. (Format 6 also lists an event EPCIS capture records under its Event Hash ID
/// as well as its own `eventID`; events captured before are found by `eventID` only.)
fn upgrade_format_5<S: Store + ?Sized>(store: &S) -> Result<(), StoreError> {
    let indexed = index_every_event(store, |batch, position, entry, _| {
        batch.put(
            Cf::ByRecordTime,
            index_key(&[], entry.body.timestamp, position),
            Vec::new(),
        );
    })?;
    let mut batch = Batch::default();
    batch.put(
        Cf::Meta,
        b"format".to_vec(),
        STORE_FORMAT.to_be_bytes().to_vec(),
    );
    store.write(batch)?;
    tracing::info!(
        events = indexed,
        "upgraded the store from storage format 5 to {STORE_FORMAT}: every event indexed by record time"
    );
    Ok(())
}

/// Computes and stores the tiles of every chain the store holds (a store of a format before
/// the logs), chunk by chunk; the writes are idempotent, so a crash part-way starts again.
/// Progress is logged every chunk.
fn build_all_logs<S: Store + ?Sized>(store: &S) -> Result<u64, StoreError> {
    let mut edges: HashMap<MemberCode, RightEdge> = HashMap::new();
    let mut done = 0u64;
    check::for_each_chain_chunk(store, UPGRADE_CHUNK, |rows| {
        // Rows come by member code, then sequence number: each chain's run is appended at
        // once, so each tile is written once per chunk.
        let mut batch = Batch::default();
        for run in rows.chunk_by(|a, b| a.0.member == b.0.member) {
            let Some(&(first, _)) = run.first() else {
                continue;
            };
            let edge = edges.entry(first.member).or_default();
            if run
                .iter()
                .zip(edge.size()..)
                .any(|((position, _), expected)| position.seq != expected)
            {
                return Err(corrupted(format!(
                    "member code {} has a gap in its chain",
                    first.member.0
                )));
            }
            let leaves: Vec<LogHash> = run
                .iter()
                .map(|(_, hash)| LogHash::entry_leaf(hash))
                .collect();
            let tiles = edge
                .append(&leaves)
                .map_err(|e| corrupted(format!("a chain's log: {e}")))?;
            tiles::put_tiles(&mut batch, first.member, tiles);
        }
        done += rows.len() as u64;
        if !batch.is_empty() {
            store.write(batch)?;
            tracing::info!(entries = done, "computing the chains' logs: {done} entries");
        }
        Ok(())
    })?;
    Ok(done)
}
