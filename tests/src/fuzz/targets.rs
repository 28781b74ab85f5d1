//! The fuzz targets: every decoder and parser that takes input from outside a node, each
//! called the way the node or the CLI calls it on such input, with the same size limits, and
//! followed by the checks that real use runs on what was decoded (verification code reads
//! hostile values too).
//!
//! A target's `run` returns whether the code accepted the input, so a run can tell how many
//! mutated inputs got past the parsers. Text a target reads as `&str` is made from the input
//! bytes with `String::from_utf8_lossy`, so byte mutations still give the parser a string.
//!
//! Allocation bounds, per input (see [`Bound`]; peaks are counted as the fuzz binaries'
//! allocator counts them, a reallocation holding the old and the new block at once; the
//! figures the fuzzer measured are in `docs/benchmarks.md`):
//! * **postcard** (wire messages, frames, stored entries, sealed fields): 8 MiB + 64 × input.
//!   serde preallocates at most 1 MiB for a sequence whose length prefix claims more (its
//!   "cautious" size hint), the message types nest sequences at most four deep, and each
//!   input byte decodes to at most a few dozen bytes of values (a one-byte member id becomes
//!   a 24-byte `String` and its heap byte). Measured: at most 1.01 MiB.
//! * **JSON** (entries, bundles, evidence, changes, EPCIS documents): 16 MiB + 128 × input.
//!   The node and the CLI parse a body into `serde_json::Value` first (72 bytes a value with
//!   the workspace's `preserve_order` feature), so `[0,0,…]` costs 54 bytes per input byte at
//!   the peak (36 values' worth, with the vector's last growth); typed copies and the EPCIS
//!   schema validator's structures come on top.
//! * **TOML** (genesis, key files, node configuration): 4 MiB + 128 × input: the toml crate
//!   keeps a table entry per value with its key and span; `a=[0,0,…]` costs 97 bytes per
//!   input byte.
//! * **other text** (URIs, query strings, timestamps, signed notes): 1 MiB + 64 × input;
//!   `a&a&…` as a query string, a pair of strings per two bytes, costs 36 bytes per byte.

use std::path::{Path, PathBuf};

use futures::executor::block_on;
use futures::io::Cursor;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeS, Serializable};
use libp2p::request_response::Codec as _;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use tally_node::config::UserConfig;
use tally_node::private::delivery::{self, Delivery, DeliveryAnswer};
use tally_node::replicate::codec::{
    DELIVERY_PROTOCOL, DeliveryCodec, DeliveryInbound, Inbound, PROTOCOL, SyncCodec,
};
use tally_node::replicate::wire::{
    self, CheckpointConflict, ForkPoint, GossipBatch, HeadInfo, SyncRequest, SyncResponse,
};
use tally_node::store::memory::MemoryStore;
use tally_node::store::{Batch, Cf, Store};
use tally_sdk::audit::period::PeriodBundle;
use tally_sdk::codec;
use tally_sdk::entry::SignedEntry;
use tally_sdk::epcis::document::{CaptureLimits, parse_capture, parse_event};
use tally_sdk::epcis::pattern::{EpcPattern, identity};
use tally_sdk::epcis::query::{EventQuery, Resource};
use tally_sdk::gs1::ProductId;
use tally_sdk::gs1::digital_link::{
    DigitalLink, ParseOptions, digital_link_from_element_string, parse_element_string,
};
use tally_sdk::gs1::epc_uri::parse_epc_uri;
use tally_sdk::gs1::normalise::normalise_epc;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::GenesisDocument;
use tally_sdk::membership::governance::{ChangeLog, SignedChange};
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::privacy::sealed::{SEAL_INFO, SealedFields};
use tally_sdk::reports::bundle::EvidenceBundle;
use tally_sdk::reports::disclosed::EntryDisclosure;
use tally_sdk::time::Timestamp;
use tally_sdk::tlog;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use tally_sdk::witnessing::fork::ForkProof;
use tally_sdk::witnessing::witness::WitnessEvidence;

use super::corpus::{Fixtures, SOFA};
use super::mutate::Shape;
use super::{Bound, Target};
use crate::{Error, shared_data};

const MIB: usize = 1 << 20;
const KIB: usize = 1 << 10;

const POSTCARD: Bound = Bound {
    fixed: 8 * MIB,
    per_byte: 64,
};
const JSON: Bound = Bound {
    fixed: 16 * MIB,
    per_byte: 128,
};
const TOML: Bound = Bound {
    fixed: 4 * MIB,
    per_byte: 128,
};
const TEXT: Bound = Bound {
    fixed: MIB,
    per_byte: 64,
};

/// The limits of `POST /capture` and `POST /events` with the node's default configuration
/// (`limits.max_body_bytes`, `limits.max_batch`).
const CAPTURE: CaptureLimits = CaptureLimits {
    max_bytes: 8 << 20,
    max_events: 10_000,
};

/// The longest identifier text generated: identifiers reach the GS1 parsers inside events,
/// which the demo genesis lets be 32 KiB (`max_event_bytes`), and inside query strings and
/// URL paths; twice that leaves room for the limits of other consortia.
const IDENTIFIER_LEN: usize = 64 * KIB;

/// Most items in one `POST /v1/entries` (`limits.max_batch` by default).
const MAX_BATCH: usize = 10_000;

/// Every target, in the order `--list` shows them.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "entry-postcard",
            calls: "SignedEntry::from_bytes (store's 1 MiB limit), Verifier::verify_detached",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_entry_postcard,
            run: run_entry_postcard,
        },
        Target {
            name: "entry-json",
            calls: "POST /v1/entries body: serde_json one or an array of SignedEntry, Verifier::verify_batch",
            shape: Shape::Json,
            bound: JSON,
            max_len: 256 * KIB,
            seeds: seeds_entry_json,
            run: run_entry_json,
        },
        Target {
            name: "sync-request",
            calls: "SyncCodec::read_request (frame capped at MAX_REQUEST_BYTES, wire::decode)",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 200 * KIB,
            seeds: seeds_sync_request,
            run: run_sync_request,
        },
        Target {
            name: "sync-response",
            calls: "SyncCodec::read_response (8 MiB cap), then entries, fork proofs, checkpoints, conflicts and changes verified",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 256 * KIB,
            seeds: seeds_sync_response,
            run: run_sync_response,
        },
        Target {
            name: "gossip-entries",
            calls: "wire::decode::<GossipBatch>, Verifier::verify_batch",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 256 * KIB,
            seeds: seeds_gossip_entries,
            run: run_gossip_entries,
        },
        Target {
            name: "checkpoint",
            calls: "wire::decode::<Checkpoint> (checkpoint gossip), Checkpoint::verify",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_checkpoint,
            run: run_checkpoint,
        },
        Target {
            name: "fork-proof",
            calls: "codec::decode::<ForkProof> (message limit), ForkProof::verify",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_fork_proof,
            run: run_fork_proof,
        },
        Target {
            name: "frames",
            calls: "SyncCodec and DeliveryCodec read_request/read_response on raw stream bytes (length prefix, caps)",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_frames,
            run: run_frames,
        },
        Target {
            name: "deliveries",
            calls: "DeliveryCodec::read_request (4 MiB cap), private::delivery::receive (sealed::open, commitment, policy)",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_deliveries,
            run: run_deliveries,
        },
        Target {
            name: "sealed-plaintext",
            calls: "private::delivery::receive of fields sealed from the input (sealed::open's postcard decoding of HeldFields, HeldFields::verify, policy)",
            shape: Shape::Binary,
            bound: POSTCARD,
            max_len: 64 * KIB,
            seeds: seeds_sealed_plaintext,
            run: run_sealed_plaintext,
        },
        Target {
            name: "epcis-capture",
            calls: "epcis::document::parse_capture (POST /capture, node limits)",
            shape: Shape::Json,
            bound: JSON,
            max_len: 256 * KIB,
            seeds: seeds_epcis_capture,
            run: run_epcis_capture,
        },
        Target {
            name: "epcis-event",
            calls: "epcis::document::parse_event (POST /events, node limits)",
            shape: Shape::Json,
            bound: JSON,
            max_len: 64 * KIB,
            seeds: seeds_epcis_event,
            run: run_epcis_event,
        },
        Target {
            name: "epcis-query",
            calls: "EventQuery::parse_query_string, then matches and sort over the story's events",
            shape: Shape::Text,
            bound: TEXT,
            max_len: 16 * KIB,
            seeds: seeds_epcis_query,
            run: run_epcis_query,
        },
        Target {
            name: "epc-pattern",
            calls: "EpcPattern::parse and matches, Resource::filter for every resource",
            shape: Shape::Text,
            bound: TEXT,
            max_len: IDENTIFIER_LEN,
            seeds: seeds_patterns,
            run: run_epc_pattern,
        },
        Target {
            name: "digital-link",
            calls: "DigitalLink::parse_with (strict, as the resolver; legacy), ProductId::parse",
            shape: Shape::Text,
            bound: TEXT,
            max_len: IDENTIFIER_LEN,
            seeds: seeds_digital_links,
            run: run_digital_link,
        },
        Target {
            name: "element-string",
            calls: "gs1::digital_link::parse_element_string, digital_link_from_element_string",
            shape: Shape::Text,
            bound: TEXT,
            max_len: IDENTIFIER_LEN,
            seeds: seeds_element_strings,
            run: run_element_string,
        },
        Target {
            name: "epc-uri",
            calls: "gs1::epc_uri::parse_epc_uri, gs1::normalise::normalise_epc, epcis::pattern::identity",
            shape: Shape::Text,
            bound: TEXT,
            max_len: IDENTIFIER_LEN,
            seeds: seeds_epc_uris,
            run: run_epc_uri,
        },
        Target {
            name: "timestamp",
            calls: "Timestamp::parse_rfc3339 (query bounds, periods), to_rfc3339",
            shape: Shape::Text,
            bound: TEXT,
            max_len: KIB,
            seeds: seeds_timestamp,
            run: run_timestamp,
        },
        Target {
            name: "genesis",
            calls: "Consortium::from_toml (SignedGenesis::from_toml, verify), GenesisDocument::from_toml, validate",
            shape: Shape::Text,
            bound: TOML,
            max_len: 64 * KIB,
            seeds: seeds_genesis,
            run: run_genesis,
        },
        Target {
            name: "keyfile",
            calls: "keyfile::MemberKeys::from_toml",
            shape: Shape::Text,
            bound: TOML,
            max_len: 4 * KIB,
            seeds: seeds_keyfile,
            run: run_keyfile,
        },
        Target {
            name: "node-config",
            calls: "node config::UserConfig::from_toml, with_env (none), validate",
            shape: Shape::Text,
            bound: TOML,
            max_len: 16 * KIB,
            seeds: seeds_node_config,
            run: run_node_config,
        },
        Target {
            name: "governance",
            calls: "ChangeLog::from_json and apply_to (--changes), SignedChange JSON and Consortium::apply (POST /v1/governance/changes)",
            shape: Shape::Json,
            bound: JSON,
            max_len: 64 * KIB,
            seeds: seeds_governance,
            run: run_governance,
        },
        Target {
            name: "evidence-bundle",
            calls: "tally verify: bundle kind, serde_json EvidenceBundle, EvidenceBundle::verify",
            shape: Shape::Json,
            bound: JSON,
            max_len: 512 * KIB,
            seeds: seeds_evidence_bundle,
            run: run_bundle,
        },
        Target {
            name: "period-bundle",
            calls: "tally verify: bundle kind, serde_json PeriodBundle, PeriodBundle::verify",
            shape: Shape::Json,
            bound: JSON,
            max_len: 512 * KIB,
            seeds: seeds_period_bundle,
            run: run_bundle,
        },
        Target {
            name: "witness-evidence",
            calls: "tally witness verify: the answer or its evidence, serde_json WitnessEvidence, WitnessEvidence::verify",
            shape: Shape::Json,
            bound: JSON,
            max_len: 64 * KIB,
            seeds: seeds_witness_evidence,
            run: run_witness_evidence,
        },
        Target {
            name: "entry-disclosure",
            calls: "tally disclose verify: serde_json EntryDisclosure, EntryDisclosure::verify",
            shape: Shape::Json,
            bound: JSON,
            max_len: 64 * KIB,
            seeds: seeds_entry_disclosure,
            run: run_entry_disclosure,
        },
        Target {
            name: "tlog-checkpoint",
            calls: "tlog::checkpoint::Checkpoint::open (Note::parse, verify, parse); Checkpoint::parse of the unverified text",
            shape: Shape::Text,
            bound: TEXT,
            max_len: 16 * KIB,
            seeds: seeds_tlog_checkpoint,
            run: run_tlog_checkpoint,
        },
    ]
}

/// The target called `name`.
pub fn find(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}

// ---- helpers ----

/// A verifier of the demo consortium that, like every offline check, does not hold entries'
/// timestamps against a clock.
fn verifier(f: &Fixtures) -> Verifier<'_> {
    Verifier::new(&f.genesis, Timestamp(1_772_900_000_000)).with_tolerance(u64::MAX)
}

fn encode<T: serde::Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, Error> {
    Ok(wire::encode(what, value)?)
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(serde_json::to_vec(value)?)
}

/// One frame of the request-response protocols: a 4-byte big-endian length, then the bytes.
fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

fn files(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// Verifies entries as one batch, each chain starting where the batch starts it.
fn verify_entries(f: &Fixtures, entries: Vec<SignedEntry>) -> bool {
    verifier(f)
        .verify_batch(entries, |_| None)
        .iter()
        .all(Result::is_ok)
}

// ---- entries ----

fn seeds_entry_postcard(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    f.entries.iter().map(|e| Ok(e.to_bytes()?)).collect()
}

fn run_entry_postcard(f: &Fixtures, input: &[u8]) -> bool {
    match SignedEntry::from_bytes(input, tally_node::store::MAX_STORED_ENTRY) {
        Ok(entry) => verifier(f).verify_detached(&entry).is_ok(),
        Err(_) => false,
    }
}

fn seeds_entry_json(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = vec![json(&f.entries)?];
    // Alone, only a chain's first entry verifies: the others need their chain's tip.
    for entry in f.entries.iter().filter(|e| e.body.seq == 0) {
        seeds.push(serde_json::to_vec_pretty(entry)?);
    }
    Ok(seeds)
}

fn run_entry_json(f: &Fixtures, input: &[u8]) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(input) else {
        return false;
    };
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return false;
    }
    // Like the node, every item is read, so that one refusal names all the bad ones.
    let mut entries = Vec::with_capacity(items.len());
    let mut refused = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<SignedEntry>(item) {
            Ok(entry) => entries.push(entry),
            Err(e) => refused.push(format!("item {index}: not a signed entry: {e}")),
        }
    }
    refused.is_empty() && verify_entries(f, entries)
}

// ---- wire ----

fn member(name: &str) -> Result<MemberId, Error> {
    Ok(MemberId::new(name)?)
}

fn sync_requests() -> Result<Vec<SyncRequest>, Error> {
    Ok(vec![
        SyncRequest::Heads,
        SyncRequest::Range {
            author: member("platform")?,
            from: 7,
            limit: 2_000,
        },
        SyncRequest::Fork {
            author: member("regulator")?,
        },
        SyncRequest::Checkpoints {
            from: vec![(member("platform")?, 3), (member("supplier")?, 0)],
            limit: 64,
            conflicts_held: vec![member("logistics")?],
        },
        SyncRequest::Changes { have: 1 },
    ])
}

fn sync_responses(f: &Fixtures) -> Result<Vec<SyncResponse>, Error> {
    let mut heads = Vec::new();
    for chain in f.chains.values() {
        if let Some(last) = chain.last() {
            heads.push(HeadInfo {
                author: last.body.author.clone(),
                seq: last.body.seq,
                hash: last.hash()?,
            });
        }
    }
    let held = f.checkpoints.first().cloned().ok_or("no checkpoint")?;
    Ok(vec![
        SyncResponse::Heads {
            heads,
            forks: vec![ForkPoint {
                author: member("platform")?,
                seq: 1,
            }],
        },
        SyncResponse::Range(f.chains.get("manufacturer").cloned().unwrap_or_default()),
        SyncResponse::Fork(Box::new(f.fork.clone())),
        SyncResponse::Checkpoints {
            checkpoints: f.checkpoints.clone(),
            conflicts: vec![CheckpointConflict {
                held,
                other: f.conflicting_checkpoint.clone(),
            }],
        },
        SyncResponse::Refused,
        SyncResponse::Changes(vec![f.change.clone()]),
    ])
}

fn seeds_sync_request(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    sync_requests()?
        .iter()
        .map(|r| encode("sync request", r))
        .collect()
}

fn run_sync_request(_: &Fixtures, input: &[u8]) -> bool {
    let read = block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(frame(input))));
    matches!(read, Ok(Inbound::Ok(_)))
}

fn seeds_sync_response(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    sync_responses(f)?
        .iter()
        .map(|r| encode("sync response", r))
        .collect()
}

/// Checks a conflict proof as a node does before keeping it: both checkpoints verify, are
/// the same witness's with one number, and differ.
fn conflict_holds(genesis: &Consortium, conflict: &CheckpointConflict) -> bool {
    let (a, b) = (conflict.held.body(), conflict.other.body());
    conflict.held.verify(genesis).is_ok()
        && conflict.other.verify(genesis).is_ok()
        && a.witness == b.witness
        && a.number == b.number
        && conflict.held != conflict.other
}

fn run_sync_response(f: &Fixtures, input: &[u8]) -> bool {
    let read = block_on(SyncCodec.read_response(&PROTOCOL, &mut Cursor::new(frame(input))));
    let Ok(response) = read else {
        return false;
    };
    match response {
        SyncResponse::Heads { .. } | SyncResponse::Refused => true,
        SyncResponse::Range(entries) => verify_entries(f, entries),
        SyncResponse::Fork(proof) => proof.verify(&verifier(f)).is_ok(),
        SyncResponse::Checkpoints {
            checkpoints,
            conflicts,
        } => {
            let checkpoints_hold = checkpoints.iter().all(|c| c.verify(&f.genesis).is_ok());
            let conflicts_hold = conflicts.iter().all(|c| conflict_holds(&f.genesis, c));
            checkpoints_hold && conflicts_hold
        }
        SyncResponse::Changes(changes) => f.genesis.with_changes(&changes).is_ok(),
        SyncResponse::Attestation(attestation) => attestation.verify(&f.genesis).is_ok(),
    }
}

fn seeds_gossip_entries(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = vec![encode(
        "gossip batch",
        &GossipBatch {
            entries: f.entries.clone(),
        },
    )?];
    for chain in f.chains.values() {
        seeds.push(encode(
            "gossip batch",
            &GossipBatch {
                entries: chain.clone(),
            },
        )?);
    }
    Ok(seeds)
}

fn run_gossip_entries(f: &Fixtures, input: &[u8]) -> bool {
    match wire::decode::<GossipBatch>("gossip batch", input) {
        Ok(batch) => verify_entries(f, batch.entries),
        Err(_) => false,
    }
}

fn seeds_checkpoint(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = Vec::new();
    for checkpoint in f.checkpoints.iter().chain([&f.conflicting_checkpoint]) {
        seeds.push(encode("checkpoint", checkpoint)?);
    }
    Ok(seeds)
}

fn run_checkpoint(f: &Fixtures, input: &[u8]) -> bool {
    match wire::decode::<Checkpoint>("checkpoint", input) {
        Ok(checkpoint) => checkpoint.verify(&f.genesis).is_ok(),
        Err(_) => false,
    }
}

fn seeds_fork_proof(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok(vec![codec::encode("fork proof", &f.fork)?])
}

fn run_fork_proof(f: &Fixtures, input: &[u8]) -> bool {
    match codec::decode::<ForkProof>("fork proof", input, wire::MAX_MESSAGE_BYTES) {
        Ok(proof) => proof.verify(&verifier(f)).is_ok(),
        Err(_) => false,
    }
}

fn delivery_answers() -> Vec<DeliveryAnswer> {
    vec![
        DeliveryAnswer::Stored,
        DeliveryAnswer::Later,
        DeliveryAnswer::NotHeld,
        DeliveryAnswer::Refused("the fields do not match".to_owned()),
    ]
}

fn seeds_frames(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = Vec::new();
    for request in sync_requests()? {
        seeds.push(frame(&encode("sync request", &request)?));
    }
    for response in sync_responses(f)?.iter().take(3) {
        seeds.push(frame(&encode("sync response", response)?));
    }
    seeds.push(frame(&encode("deliveries", &vec![f.delivery.clone()])?));
    seeds.push(frame(&encode("delivery answers", &delivery_answers())?));
    Ok(seeds)
}

fn run_frames(_: &Fixtures, input: &[u8]) -> bool {
    let request = block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(input)));
    let response = block_on(SyncCodec.read_response(&PROTOCOL, &mut Cursor::new(input)));
    let deliveries =
        block_on(DeliveryCodec.read_request(&DELIVERY_PROTOCOL, &mut Cursor::new(input)));
    let answers =
        block_on(DeliveryCodec.read_response(&DELIVERY_PROTOCOL, &mut Cursor::new(input)));
    matches!(request, Ok(Inbound::Ok(_)))
        || response.is_ok()
        || matches!(deliveries, Ok(DeliveryInbound::Ok(_)))
        || answers.is_ok()
}

/// The logistics firm's node's store, holding the order (replication brought it).
fn reader_store(f: &Fixtures) -> Option<MemoryStore> {
    let store = MemoryStore::new();
    let mut batch = Batch::default();
    batch.put(
        Cf::Entries,
        f.order.hash().ok()?.as_bytes().to_vec(),
        f.order.to_bytes().ok()?,
    );
    store.write(batch).ok()?;
    Some(store)
}

/// Receives deliveries on the logistics firm's node from the platform's.
fn receive_all(f: &Fixtures, deliveries: Vec<Delivery>) -> bool {
    let (Ok(me), Ok(sender), Some(store)) =
        (member("logistics"), member("platform"), reader_store(f))
    else {
        return false;
    };
    let mut all = true;
    for delivery in deliveries {
        all &=
            delivery::receive(&f.genesis, &me, &f.reader_secret, &store, &sender, delivery).is_ok();
    }
    all
}

fn seeds_deliveries(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok(vec![
        encode("deliveries", &vec![f.delivery.clone()])?,
        encode("deliveries", &vec![f.delivery.clone(), f.delivery.clone()])?,
    ])
}

fn run_deliveries(f: &Fixtures, input: &[u8]) -> bool {
    let read =
        block_on(DeliveryCodec.read_request(&DELIVERY_PROTOCOL, &mut Cursor::new(frame(input))));
    match read {
        Ok(DeliveryInbound::Ok(deliveries)) => receive_all(f, deliveries),
        _ => false,
    }
}

fn seeds_sealed_plaintext(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let me = member("logistics")?;
    let held = tally_sdk::privacy::sealed::open(
        &tally_sdk::privacy::sealed::SealContext {
            network: f.genesis.network_id(),
            entry: f.order.hash()?,
            reader: &me,
        },
        &f.reader_secret,
        &f.delivery.sealed,
    )?;
    Ok(vec![codec::encode("held private fields", &held)?])
}

/// Seals `plaintext` to the logistics firm's key for the order, as `tally_sdk::privacy::sealed::seal`
/// does with an encoded holding (the associated data is the documented one), so that any
/// plaintext reaches the reader's decoder and checks.
fn seal_raw(f: &Fixtures, plaintext: &[u8]) -> Option<SealedFields> {
    let reader = f.genesis.member(&member("logistics").ok()?)?;
    let recipient =
        <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&reader.x25519_key.to_bytes()).ok()?;
    let mut aad = SEAL_INFO.to_vec();
    aad.extend_from_slice(f.genesis.network_id().as_bytes());
    aad.extend_from_slice(f.order.hash().ok()?.as_bytes());
    aad.extend_from_slice(reader.id.as_str().as_bytes());
    let (encapsulated, ciphertext) = hpke::single_shot_seal::<
        ChaCha20Poly1305,
        HkdfSha256,
        X25519HkdfSha256,
    >(&OpModeS::Base, &recipient, SEAL_INFO, plaintext, &aad)
    .ok()?;
    Some(SealedFields {
        encapsulated: encapsulated.to_bytes().as_slice().try_into().ok()?,
        ciphertext,
    })
}

fn run_sealed_plaintext(f: &Fixtures, input: &[u8]) -> bool {
    let Some(sealed) = seal_raw(f, input) else {
        return false;
    };
    receive_all(
        f,
        vec![Delivery {
            entry: f.order.clone(),
            sealed,
        }],
    )
}

// ---- EPCIS ----

/// The `@context` of a document or event with Tally's fields.
fn tally_context() -> Value {
    serde_json::json!([
        tally_sdk::epcis::document::EPCIS_CONTEXT,
        {"tally": tally_sdk::event::TALLY_NS},
    ])
}

/// OpenEPCIS capture documents Tally refuses: their sensor report types (`EffectiveDoseRate`,
/// `Molar_concentration`) are not in the ratified EPCIS 2.0.1 schema Tally validates against.
const REFUSED_OPENEPCIS: [&str; 2] = [
    "TransactionEvent_with_userExtensions.json",
    "SensorData_with_combined_events.json",
];

/// The story's events as an EPCISDocument, the way a member system captures them.
fn story_document(f: &Fixtures) -> Result<Vec<u8>, Error> {
    let document = serde_json::json!({
        "@context": tally_context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-12T00:00:00.000Z",
        "epcisBody": {"eventList": f.events},
    });
    json(&document)
}

fn seeds_epcis_capture(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = vec![story_document(f)?];
    for path in files(
        &shared_data("epcis-openepcis/2.0/EPCIS/JSON/Capture/Documents"),
        "json",
    )? {
        if !path
            .file_name()
            .is_some_and(|name| REFUSED_OPENEPCIS.iter().any(|r| name == *r))
        {
            seeds.push(std::fs::read(path)?);
        }
    }
    Ok(seeds)
}

fn run_epcis_capture(_: &Fixtures, input: &[u8]) -> bool {
    parse_capture(input, &CAPTURE).is_ok()
}

fn seeds_epcis_event(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = Vec::new();
    for event in &f.events {
        let mut event = event.clone();
        if let Some(object) = event.as_object_mut() {
            object.insert("@context".to_owned(), tally_context());
        }
        seeds.push(json(&event)?);
    }
    for path in files(
        &shared_data("epcis-openepcis/2.0/EPCIS/JSON/Capture/Events"),
        "json",
    )? {
        seeds.push(std::fs::read(path)?);
    }
    Ok(seeds)
}

fn run_epcis_event(_: &Fixtures, input: &[u8]) -> bool {
    parse_event(input, &CAPTURE).is_ok()
}

fn seeds_epcis_query(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok([
        "",
        "EQ_bizStep=shipping&GE_eventTime=2026-03-01T00:00:00.000Z",
        "MATCH_epc=https%3A%2F%2Fid.gs1.org%2F01%2F09506000134352%2F21%2FC2M-0001",
        "MATCH_anyEPC=urn:epc:idpat:sgtin:9506000.013435.*&eventType=ObjectEvent",
        "EQ_action=OBSERVE|ADD&LT_eventTime=2026-03-10T10:00:00.001%2B08:00&perPage=30",
        "EQ_disposition=non_conformant&orderBy=eventTime&orderDirection=ASC",
        "EQ_readPoint=urn:epc:id:sgln:9506000134352.0.1&WD_bizLocation=urn:epc:id:sgln:9506000134352.0.0",
        "GE_quantity=9&LT_quantity=100.5&MATCH_epcClass=https://id.gs1.org/01/09506000134369",
        "EQ_eventID=ni:///sha-256;0f2e?ver=CBV2.0&EXISTS_errorDeclaration",
        "EQ_bizTransaction_po=urn:epcglobal:cbv:bt:0614141073467:1152&EQ_source_owning_party=urn:epc:id:pgln:9506000134352",
        "GE_recordTime=2024-05-02T00:00:00Z&eventCountLimit=5&orderBy=eventTime&EQ_type=gs1:MT-Temperature",
        "EQ_persistentDisposition_set=completeness_verified&EXISTS_sensorElementList",
        "GE_time=2026-03-01T00:00:00Z&LT_startTime=2026-03-02T00:00:00Z&EQ_stringValue=abc&EQ_booleanValue=true",
    ]
    .iter()
    .map(|q| q.as_bytes().to_vec())
    .collect())
}

fn run_epcis_query(f: &Fixtures, input: &[u8]) -> bool {
    let Ok(query) = EventQuery::parse_query_string(&text(input)) else {
        return false;
    };
    let mut events = f.events.clone();
    let matched = events.iter().filter(|e| query.matches(e)).count();
    query.sort(&mut events);
    let _ = query.check_count(matched);
    true
}

/// The parse cases of the strict Digital Link conformance set that are valid without the
/// relaxation for unknown AIs (which the node never turns on).
fn conformance_cases() -> Result<Vec<Value>, Error> {
    let vectors: Value = serde_json::from_slice(&std::fs::read(shared_data(
        "digital-link/gs1-syntax-engine/dl_uri_test_vectors.json",
    ))?)?;
    Ok(vectors["parse"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|case| {
            case["valid"] == Value::Bool(true)
                && case["parser_options"]["permitUnknownAIs"] != Value::Bool(true)
        })
        .cloned()
        .collect())
}

/// Digital Links: the story's product and lot, and the conformance set's valid URIs.
fn seeds_digital_links(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds: Vec<Vec<u8>> = vec![
        SOFA.into(),
        "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07".into(),
    ];
    for case in conformance_cases()? {
        if let Some(uri) = case["uri"].as_str() {
            seeds.push(uri.into());
        }
    }
    Ok(seeds)
}

/// EPC URIs: the EPC URNs of the event-hash normalisation vectors that normalise, and a
/// class.
fn seeds_epc_uris(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds: Vec<Vec<u8>> = vec!["urn:epc:class:lgtin:4012345.012345.998877".into()];
    let epcs: Value = serde_json::from_slice(&std::fs::read(shared_data(
        "epcis-event-hash/epc-urn-to-digital-link_normalisation_vectors.json",
    ))?)?;
    for case in epcs["cases"].as_array().into_iter().flatten() {
        if let Some(input) = case["input"].as_str()
            && input.starts_with("urn:epc:")
            && !case["expected_canonical_dl"].is_null()
        {
            seeds.push(input.into());
        }
    }
    Ok(seeds)
}

/// What a `MATCH_` parameter takes: Digital Links, EPC URIs and EPC patterns.
fn seeds_patterns(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = seeds_digital_links(f)?;
    seeds.extend(seeds_epc_uris(f)?);
    seeds.push("urn:epc:idpat:sgtin:9506000.013435.*".into());
    seeds.push("urn:epc:idpat:sscc:9506000.*".into());
    Ok(seeds)
}

fn run_epc_pattern(f: &Fixtures, input: &[u8]) -> bool {
    let value = text(input);
    for resource in [
        Resource::EventType,
        Resource::Epc,
        Resource::BizStep,
        Resource::BizLocation,
        Resource::ReadPoint,
        Resource::Disposition,
    ] {
        let _ = resource.filter(&value);
    }
    let Ok(pattern) = EpcPattern::parse(&value) else {
        return false;
    };
    for identifier in [SOFA, value.as_ref()] {
        let _ = pattern.matches(identifier);
    }
    let _ = f;
    true
}

fn run_digital_link(_: &Fixtures, input: &[u8]) -> bool {
    let uri = text(input);
    let strict = DigitalLink::parse_with(&uri, &ParseOptions::STRICT)
        .map(|link| {
            let _ = (link.element_string(), link.bracketed());
            ProductId::parse(&link.canonical()).is_ok()
        })
        .unwrap_or(false);
    let legacy = DigitalLink::parse_with(&uri, &ParseOptions::LEGACY)
        .map(|l| l.canonical())
        .is_ok();
    let product = ProductId::parse(&uri).is_ok();
    strict || legacy || product
}

fn seeds_element_strings(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds: Vec<Vec<u8>> = vec![
        "(01)09506000134352(21)C2M-0001".into(),
        "^010950600013435221C2M-0001^10LINEN".into(),
        "(01)09506000134369(10)LINEN-2026-07(17)270101".into(),
    ];
    // The element strings (FNC1 as `^`) the conformance set's valid URIs stand for.
    for case in conformance_cases()? {
        if let Some(data) = case["expected_element_string"].as_str() {
            seeds.push(data.into());
        }
    }
    Ok(seeds)
}

fn run_element_string(_: &Fixtures, input: &[u8]) -> bool {
    let data = text(input);
    // Accepted means parsed: the conformance set's `(01)…(235)…(10)…` parses, but has no
    // Digital Link by this generator (it puts (10) in the path beside (235)).
    let _ =
        digital_link_from_element_string(&data, Some("https://example.com"), &ParseOptions::STRICT);
    parse_element_string(&data).is_ok()
}

fn run_epc_uri(_: &Fixtures, input: &[u8]) -> bool {
    let uri = text(input);
    let _ = identity(&uri);
    let normalised = normalise_epc(&uri).is_some();
    parse_epc_uri(&uri).is_ok() || normalised
}

fn seeds_timestamp(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok([
        "2026-03-01T09:00:00.000+08:00",
        "2024-05-01T10:00:00.001+02:00",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999-23:59",
        "2026-02-28T23:59:60Z",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect())
}

fn run_timestamp(_: &Fixtures, input: &[u8]) -> bool {
    match Timestamp::parse_rfc3339(&text(input)) {
        Ok(t) => {
            let _ = Timestamp::parse_rfc3339(&t.to_rfc3339());
            true
        }
        Err(_) => false,
    }
}

// ---- files ----

fn seeds_genesis(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok(vec![
        std::fs::read(repo("genesis/demo/genesis.toml"))?,
        f.signed_genesis.to_toml("# fuzz seed\n")?.into_bytes(),
    ])
}

fn run_genesis(_: &Fixtures, input: &[u8]) -> bool {
    let text = text(input);
    let _ = GenesisDocument::from_toml(&text).map(|d| d.validate());
    Consortium::from_toml(&text).is_ok()
}

fn seeds_keyfile(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    files(&repo("genesis/demo/keys"), "key")?
        .into_iter()
        .map(|p| Ok(std::fs::read(p)?))
        .collect()
}

fn run_keyfile(_: &Fixtures, input: &[u8]) -> bool {
    MemberKeys::from_toml(&text(input)).is_ok()
}

fn seeds_node_config(_: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    files(&repo("node/tests/fixtures/config/good"), "toml")?
        .into_iter()
        .map(|p| Ok(std::fs::read(p)?))
        .collect()
}

fn run_node_config(_: &Fixtures, input: &[u8]) -> bool {
    let path = Path::new("node.toml");
    UserConfig::from_toml(&text(input), path)
        .and_then(|c| c.with_env(std::iter::empty::<(&str, &str)>()))
        .and_then(|c| c.validate(Path::new("/srv/tally")))
        .is_ok()
}

fn seeds_governance(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut log = ChangeLog::new();
    log.changes.push(f.change.clone());
    Ok(vec![serde_json::to_vec_pretty(&log)?, json(&f.change)?])
}

fn run_governance(f: &Fixtures, input: &[u8]) -> bool {
    if let Ok(log) = ChangeLog::from_json(input) {
        return log.apply_to(&f.genesis).is_ok();
    }
    match serde_json::from_slice::<SignedChange>(input) {
        Ok(change) => f.genesis.apply(&change).is_ok(),
        Err(_) => false,
    }
}

/// Enough of a bundle to tell which kind it is (as `tally verify` reads it).
#[derive(Deserialize)]
struct Kind {
    period: Option<IgnoredAny>,
}

fn seeds_evidence_bundle(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok(vec![serde_json::to_vec_pretty(&f.evidence_bundle)?])
}

fn seeds_period_bundle(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    Ok(vec![serde_json::to_vec_pretty(&f.period_bundle)?])
}

/// `tally verify BUNDLE`: a period bundle if it has a `period`, else an evidence bundle.
fn run_bundle(f: &Fixtures, input: &[u8]) -> bool {
    let Ok(kind) = serde_json::from_slice::<Kind>(input) else {
        return false;
    };
    if kind.period.is_some() {
        match serde_json::from_slice::<PeriodBundle>(input) {
            Ok(bundle) => bundle.verify(&f.genesis).is_ok(),
            Err(_) => false,
        }
    } else {
        match serde_json::from_slice::<EvidenceBundle>(input) {
            Ok(bundle) => bundle.verify(&f.genesis).is_ok(),
            Err(_) => false,
        }
    }
}

fn seeds_witness_evidence(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = Vec::new();
    for evidence in f.evidence.iter().take(4) {
        seeds.push(json(evidence)?);
    }
    if let Some(evidence) = f.evidence.last() {
        seeds.push(json(
            &serde_json::json!({"status": "witnessed", "evidence": evidence}),
        )?);
    }
    Ok(seeds)
}

fn run_witness_evidence(f: &Fixtures, input: &[u8]) -> bool {
    let Ok(mut json) = serde_json::from_slice::<Value>(input) else {
        return false;
    };
    if let Some(evidence) = json.get_mut("evidence") {
        json = evidence.take();
    }
    match serde_json::from_value::<WitnessEvidence>(json) {
        Ok(evidence) => evidence.verify(&verifier(f)).is_ok(),
        Err(_) => false,
    }
}

fn seeds_entry_disclosure(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let mut seeds = Vec::new();
    for fields in [
        vec![tally_sdk::ids::FieldName::new("consumer.address")?],
        f.opened.iter().map(|o| o.name.clone()).collect(),
    ] {
        let disclosure = EntryDisclosure::new(f.order.clone(), &f.opened, &fields)?;
        seeds.push(serde_json::to_vec_pretty(&disclosure)?);
    }
    Ok(seeds)
}

fn run_entry_disclosure(f: &Fixtures, input: &[u8]) -> bool {
    match serde_json::from_slice::<EntryDisclosure>(input) {
        Ok(disclosure) => disclosure.verify(&verifier(f)).is_ok(),
        Err(_) => false,
    }
}

/// The note signer of the platform's chain log, with the platform's demo key.
fn note_signer(f: &Fixtures) -> Option<tlog::note::NoteSigner> {
    let platform = member("platform").ok()?;
    let keys = f.keys.get("platform")?;
    tlog::note::NoteSigner::new(
        tlog::checkpoint::key_name(&f.genesis.network_id(), &platform),
        &keys.signing,
    )
    .ok()
}

fn seeds_tlog_checkpoint(f: &Fixtures) -> Result<Vec<Vec<u8>>, Error> {
    let signer = note_signer(f).ok_or("no note signer")?;
    let origin = tlog::checkpoint::origin(&f.genesis.network_id(), &member("platform")?);
    let mut seeds = Vec::new();
    for (size, leaf) in [(1_u64, &b"one"[..]), (7, b"seven"), (1 << 40, b"big")] {
        let checkpoint = tlog::checkpoint::Checkpoint::new(
            origin.clone(),
            size,
            tlog::hash::LogHash::leaf(leaf),
        )?;
        seeds.push(checkpoint.sign(&signer)?.to_string().into_bytes());
    }
    Ok(seeds)
}

fn run_tlog_checkpoint(f: &Fixtures, input: &[u8]) -> bool {
    let Some(signer) = note_signer(f) else {
        return false;
    };
    if let Ok(note) = tlog::note::Note::parse(input) {
        let _ = tlog::checkpoint::Checkpoint::parse(note.unverified_text());
    }
    tlog::checkpoint::Checkpoint::open(input, &[signer.verifier()]).is_ok()
}
