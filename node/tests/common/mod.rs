//! Helpers shared by the node's integration tests (and benchmarks): the demo consortium, a
//! node directory for it, and chains of entries signed outside the node.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::template::{DEMO_KEY_HEADER, demo_consortium};
use tally_sdk::time::Timestamp;

/// The demo consortium: platform, manufacturer, supplier, logistics, regulator.
pub fn demo() -> (Arc<Genesis>, Vec<MemberKeys>) {
    let (signed, keys) = demo_consortium().unwrap();
    (Arc::new(signed.verify().unwrap()), keys)
}

/// Writes into `dir` the demo genesis, the manufacturer's key (`member.key`), the supplier's
/// (`other.key`) and a config (`node.toml`: data in `data`, API on a free port, then
/// `extra`); returns the config's path.
pub fn demo_node_dir(dir: &Path, extra: &str) -> PathBuf {
    let (genesis, keys) = demo_consortium().unwrap();
    std::fs::write(dir.join("genesis.toml"), genesis.to_toml("").unwrap()).unwrap();
    std::fs::write(dir.join("member.key"), keys[1].to_toml(DEMO_KEY_HEADER)).unwrap();
    std::fs::write(dir.join("other.key"), keys[2].to_toml(DEMO_KEY_HEADER)).unwrap();
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\ngenesis = \"genesis.toml\"\nkey_file = \"member.key\"\n[api]\nlisten = \"127.0.0.1:0\"\n{extra}"
        ),
    )
    .unwrap();
    config
}

/// The product of entry `serial` (serial 0 is the shared product `C2M-0`).
pub fn product(serial: u64) -> String {
    format!("https://id.gs1.org/01/09506000134352/21/C2M-{serial}")
}

/// The Digital Link path of [`product`].
pub fn product_path(serial: u64) -> String {
    format!("/01/09506000134352/21/C2M-{serial}")
}

/// A production-step event about `product(serial)`, at `minute` past 09:00.
pub fn event(step: &str, disposition: &str, serial: u64, minute: u64) -> Value {
    json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "disposition": disposition,
        "eventTime": format!("2026-03-01T{:02}:{:02}:00.000+08:00", 9 + minute / 60, minute % 60),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [product(serial)],
    })
}

/// A realistic arrival of one serialised product of `member` (serial `seq`) at a dock, with
/// read point and business location (the benchmarks' entries, about 510 bytes signed).
pub fn arrival(member: &tally_sdk::ids::MemberId, seq: u64) -> Value {
    json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
        "disposition": "in_transit",
        "eventTime": Timestamp(1_772_326_800_000 + seq * 1_000).to_rfc3339(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{member}-{seq}")],
        "readPoint": {"id": "https://id.gs1.org/414/9506000134352/254/dock-3"},
        "bizLocation": {"id": "https://id.gs1.org/414/9506000134352"},
    })
}

/// `n` entries of `keys`' chain from `from`, linked to `prev`, each about its own product
/// (`serial = seq`) with bizStep `assembling`.
pub fn chain(
    genesis: &Genesis,
    keys: &MemberKeys,
    from: u64,
    n: u64,
    prev: Option<EntryHash>,
) -> Vec<SignedEntry> {
    chain_of(genesis, keys, from, n, prev, |seq| {
        event("assembling", "in_progress", seq, seq % 600)
    })
}

/// `n` entries of `keys`' chain with the events `make` gives for each sequence number.
pub fn chain_of(
    genesis: &Genesis,
    keys: &MemberKeys,
    from: u64,
    n: u64,
    prev: Option<EntryHash>,
    make: impl Fn(u64) -> Value,
) -> Vec<SignedEntry> {
    let mut prev = prev;
    (from..from + n)
        .map(|seq| {
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                keys.member.clone(),
                seq,
                prev,
                Timestamp(1_772_326_800_000 + seq),
                vec![],
                &make(seq),
                None,
            )
            .unwrap()
            .sign(&keys.signing)
            .unwrap();
            prev = Some(entry.hash().unwrap());
            entry
        })
        .collect()
}

/// The hashes of entries.
pub fn hashes(entries: &[SignedEntry]) -> Vec<EntryHash> {
    entries.iter().map(|e| e.hash().unwrap()).collect()
}
