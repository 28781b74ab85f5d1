//! Helpers for tests that run a consortium of real `tally-node` processes on 127.0.0.1: a
//! member's node directory, its libp2p address, its heads, waiting for convergence, and
//! reading a node's metrics and witness evidence. Every wait is on a condition, with a
//! deadline that only bounds a failing run.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::DEMO_KEY_HEADER;
use tally_sdk::verify::{ChainTip, Verifier};
use tally_sdk::witnessing::witness::WitnessEvidence;

use super::{Running, TOKEN};

/// How long a condition may take before the test fails (a bound for failures, not a timing
/// assertion: a passing run ends as soon as the condition holds).
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Polls `condition` until it holds; panics with `what` and the last state at the deadline.
pub fn wait_for<T>(what: &str, mut condition: impl FnMut() -> Result<T, String>) -> T {
    let give_up = Instant::now() + DEADLINE;
    loop {
        match condition() {
            Ok(value) => return value,
            Err(state) if Instant::now() > give_up => panic!("gave up waiting for {what}: {state}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A directory for a consortium of real nodes, with the demo genesis written as
/// `genesis.toml`; the verified genesis and every member's keys.
pub fn demo_root() -> (tempfile::TempDir, Consortium, Vec<MemberKeys>) {
    let root = tempfile::tempdir().unwrap();
    let (signed, keys) = tally_sdk::membership::template::demo_consortium().unwrap();
    std::fs::write(
        root.path().join("genesis.toml"),
        signed.to_toml("").unwrap(),
    )
    .unwrap();
    (root, signed.verify().unwrap(), keys)
}

/// The manufacturer's node restored from a backup of its first 10 entries, after it wrote
/// 15 that the supplier's node holds; both nodes were killed, and the restored one is started
/// alone. What a restored node must get back before it signs: entries 10..15.
pub fn restored_from_backup(manufacturer: &Member, supplier: &Member) -> Running {
    let factory = manufacturer.start(&[]);
    let factory_address = p2p_address(&factory);
    let other = supplier.start(std::slice::from_ref(&factory_address));
    write_events(&factory, "manufacturer", 0, 10);
    let (status, backup) = factory.request("POST", "/v1/backups", None);
    assert_eq!(status, 201, "{backup}");
    let backup = PathBuf::from(backup["path"].as_str().unwrap());
    write_events(&factory, "manufacturer", 10, 5);
    converged(&[&factory, &other], &[("manufacturer", 15)]);
    for node in [factory, other] {
        let mut node = node;
        node.child.kill().unwrap();
        drop(node.wait());
    }
    let data = manufacturer.data();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&backup, &data).unwrap();
    manufacturer.start(&[])
}

/// A member's node directory: key, config (rewritten for each start), data.
pub struct Member {
    pub name: String,
    pub config: PathBuf,
    /// Config lines beyond the common ones (top-level keys).
    pub extra: String,
    /// The log filter.
    pub log: &'static str,
    /// Lines of the `[p2p]` table beyond its listen and bootstrap addresses.
    pub p2p: &'static str,
    /// Tables after the member token's (more `[[tokens]]`).
    pub tables: String,
}

impl Member {
    /// For tests: debug logs, checkpoints every 100 ms (witnessing within a test's patience).
    pub fn new(root: &Path, keys: &MemberKeys) -> Self {
        let dir = root.join(keys.member.as_str());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("member.key"), keys.to_toml(DEMO_KEY_HEADER)).unwrap();
        Self {
            name: keys.member.to_string(),
            config: dir.join("node.toml"),
            extra: String::new(),
            log: "info,tally_node=debug",
            p2p: "checkpoint_interval_ms = 100\n",
            tables: String::new(),
        }
    }

    /// The node's data directory.
    pub fn data(&self) -> PathBuf {
        self.config.parent().unwrap().join("data")
    }

    /// For benchmarks: warnings and start-up lines only, the default pacing.
    pub fn for_bench(root: &Path, keys: &MemberKeys) -> Self {
        Self {
            log: "warn,tally_node::run=info",
            p2p: "",
            ..Self::new(root, keys)
        }
    }

    /// The same, with the consortium's change log `../changes.json`.
    pub fn with_changes(root: &Path, keys: &MemberKeys) -> Self {
        Self {
            extra: "changes = \"../changes.json\"\n".into(),
            ..Self::new(root, keys)
        }
    }

    /// Starts the node, bootstrapping from `peers` (addresses ending with /p2p/<peer id>).
    pub fn start(&self, peers: &[String]) -> Running {
        let bootstrap: Vec<String> = peers.iter().map(|p| format!("{p:?}")).collect();
        std::fs::write(
            &self.config,
            format!(
                "data_dir = \"data\"\ngenesis = \"../genesis.toml\"\nkey_file = \"member.key\"\n{}\
                 [api]\nlisten = \"127.0.0.1:0\"\n[log]\nlevel = \"{}\"\n\
                 [p2p]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nbootstrap = [{}]\n{}\
                 [[tokens]]\nname = \"erp\"\nsecret = \"{TOKEN}\"\nscope = \"member\"\n{}",
                self.extra,
                self.log,
                bootstrap.join(", "),
                self.p2p,
                self.tables
            ),
        )
        .unwrap();
        Running::start(&self.config)
    }
}

/// The node's libp2p listen address (with its peer id), once it has one.
pub fn p2p_address(node: &Running) -> String {
    wait_for("a p2p listen address", || {
        let (status, body) = node.request("GET", "/v1/network", None);
        match body["listen"].as_array().and_then(|l| l.first()) {
            Some(address) if status == 200 => Ok(address.as_str().unwrap().to_owned()),
            _ => Err(format!("{status} {body}")),
        }
    })
}

/// The node's heads: member → (seq, hash).
pub fn heads(node: &Running) -> Result<Vec<(String, u64, String)>, String> {
    let (status, body) =
        super::request(node.address, "GET", "/v1/heads", None).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status} {body}"));
    }
    Ok(body["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["member"].as_str().unwrap().to_owned(),
                h["seq"].as_u64().unwrap(),
                h["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect())
}

/// `member`'s entry `seq` on `node`: (member, hash).
pub fn heads_of_chain(node: &Running, member: &str, seq: u64) -> (String, String) {
    let (status, body) = node.request(
        "GET",
        &format!("/v1/chains/{member}?from={seq}&limit=1"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let hash = body["items"][0]["hash"].as_str().unwrap().to_owned();
    (member.to_owned(), hash)
}

/// Records `count` events as `member`'s node, from serial `first`.
pub fn write_events(node: &Running, member: &str, first: u64, count: u64) {
    let member = MemberId::new(member).unwrap();
    let events: Vec<Value> = (first..first + count)
        .map(|n| super::arrival(&member, n))
        .collect();
    let (status, body) = node.request("POST", "/v1/events", Some(&Value::Array(events)));
    assert_eq!(status, 201, "{body}");
}

/// Waits until every node holds the same heads, with `expected` entries in each named chain.
pub fn converged(nodes: &[&Running], expected: &[(&str, u64)]) -> Vec<(String, u64, String)> {
    wait_for("the nodes to converge", || {
        let all = nodes
            .iter()
            .map(|n| heads(n))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &all[0];
        let complete = expected.iter().all(|(member, count)| {
            first
                .iter()
                .any(|(m, seq, _)| m == member && seq + 1 == *count)
        });
        if complete && all.iter().all(|h| h == first) {
            Ok(first.clone())
        } else {
            Err(format!("heads {all:?}"))
        }
    })
}

/// Every entry of every chain a node holds, read over HTTP and verified with the SDK alone.
pub fn verify_all(node: &Running, genesis: &Consortium) -> u64 {
    let verifier = Verifier::new(genesis, tally_sdk::time::Timestamp::now());
    let mut total = 0;
    for (member, _, _) in heads(node).unwrap() {
        let mut tip: Option<ChainTip> = None;
        let mut path = format!("/v1/chains/{member}?limit=1000");
        loop {
            let (status, body) = node.request("GET", &path, None);
            assert_eq!(status, 200, "{body}");
            for item in body["items"].as_array().unwrap() {
                let entry: SignedEntry = serde_json::from_value(item["entry"].clone()).unwrap();
                let verified = verifier.verify(entry, tip.as_ref()).unwrap();
                tip = Some(ChainTip {
                    seq: verified.body().seq,
                    hash: verified.hash(),
                    timestamp: verified.body().timestamp,
                });
                total += 1;
            }
            match body.get("next").and_then(Value::as_str) {
                Some(next) => path = format!("/v1/chains/{member}?limit=1000&cursor={next}"),
                None => break,
            }
        }
    }
    total
}

/// Waits until `node` shows entry `hash` witnessed; checks the evidence with the SDK alone and
/// returns the witnesses.
pub fn witnessed(node: &Running, genesis: &Consortium, hash: &str) -> Vec<String> {
    let view = wait_for(&format!("entry {hash} to be witnessed"), || {
        let (status, body) = node.request("GET", &format!("/v1/entries/{hash}/witness"), None);
        if status == 200 && body["witnessed"] == true {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    });
    assert_eq!(view["disputed"], serde_json::json!([]), "{view}");
    let evidence: WitnessEvidence = serde_json::from_value(view["evidence"].clone()).unwrap();
    let verifier = Verifier::new(genesis, tally_sdk::time::Timestamp::now());
    let checked = evidence.verify(&verifier).unwrap();
    assert!(checked.witnessed);
    assert_eq!(checked.entry.to_hex(), hash);
    checked.witnesses.iter().map(ToString::to_string).collect()
}

pub fn metric(node: &Running, name: &str) -> u64 {
    let (_, text) = super::request_text(node.address, "/metrics").unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
