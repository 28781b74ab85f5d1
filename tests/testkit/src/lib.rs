//! What the node's integration tests and benchmarks share: the demo consortium, a node
//! directory for it, chains of entries signed outside the node ([`DemoMembers`] plays the
//! members), real `tally-node` processes ([`Running`]; a consortium of them in
//! [`consortium`]), and the benchmarks' in-process node ([`bench`]).
//!
//! It depends on no Tally crate but the SDK, so that the node package can take it as a
//! dev-dependency without a cycle in `cargo tree`: what needs the node's library (the hostile
//! peer of `node/tests/adversary/`, opening the in-process node) stays with the node's tests
//! and benchmarks.
//!
//! A test harness, not a library for production: it panics on any failure, which is how a
//! test reports one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    missing_debug_implementations
)]

pub mod bench;
pub mod consortium;
pub mod members;

pub use members::DemoMembers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::{DEMO_KEY_HEADER, demo_consortium};
use tally_sdk::time::Timestamp;

/// The demo consortium: platform, manufacturer, supplier, logistics, regulator.
pub fn demo() -> (Arc<Consortium>, Vec<MemberKeys>) {
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
    genesis: &Consortium,
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
    genesis: &Consortium,
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

/// The member token of the configs the process tests write.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef-erp";

/// The `tally-node` binary the tests and benchmarks run: `TALLY_TESTKIT_NODE` if set, else the
/// one Cargo built beside the running test or benchmark (Cargo builds a package's binaries
/// for its integration tests and benchmarks, into the directory above theirs).
pub fn node_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TALLY_TESTKIT_NODE") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let binary = deps
        .parent()
        .unwrap()
        .join(format!("tally-node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is not built: run the tests through cargo (or set TALLY_TESTKIT_NODE)",
        binary.display()
    );
    binary
}

/// A `tally-node` process serving HTTP (its stderr collected).
pub struct Running {
    pub child: std::process::Child,
    pub address: std::net::SocketAddr,
    /// The address of `api.public_listen`, if the node has one.
    pub public: Option<std::net::SocketAddr>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts the node and waits for the line saying where it listens (it binds port 0).
    pub fn start(config: &Path) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new(node_binary());
        command
            .arg("--config")
            .arg(config)
            .stderr(std::process::Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("TALLY_") {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = String::new();
        let mut public = None;
        let address = loop {
            let Some(line) = lines.next() else {
                panic!("the node stopped before listening:\n{log}");
            };
            let line = line.unwrap();
            log.push_str(&line);
            log.push('\n');
            // "listening on http://ADDR" or "https://ADDR"; the public page's line comes first.
            let bound = |rest: &str| -> std::net::SocketAddr {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let (_, address) = url.split_once("://").unwrap();
                address.parse().unwrap()
            };
            if let Some((_, rest)) = line.split_once("consumer page listening on ") {
                public = Some(bound(rest));
            }
            if let Some((_, rest)) = line.split_once("HTTP API listening on ") {
                break bound(rest);
            }
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(log));
        let sink = log.clone();
        // Keep reading, so that the node never blocks on a full pipe.
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self {
            child,
            address,
            public,
            log,
            drain: Some(drain),
        }
    }

    /// One HTTP/1.1 request; the status and body of the answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        request(self.address, method, path, body).unwrap()
    }

    /// What the node has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the process to end; its exit status and whole log.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        self.drain.take().unwrap().join().unwrap();
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Running {
    /// A failed test must not leave a node running, and shows what the node logged.
    fn drop(&mut self) {
        if self.drain.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if std::thread::panicking() {
                let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
                eprintln!("--- log of the node at {} ---\n{log}", self.address);
            }
        }
    }
}

/// One HTTP/1.1 request over a new connection; the status and body of the answer, or the
/// error if the connection fails (the node was killed).
pub fn request(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> std::io::Result<(u16, serde_json::Value)> {
    request_as(address, TOKEN, method, path, body)
}

/// [`request`] with another bearer token.
pub fn request_as(
    address: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> std::io::Result<(u16, serde_json::Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, text) = exchange(address, token, method, path, &body)?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    ))
}

/// `GET path` with the member token; the status and the body as text.
pub fn request_text(address: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    exchange(address, TOKEN, "GET", path, "")
}

/// One HTTP/1.1 exchange with bearer `token`; the status and the body as text.
pub fn exchange(
    address: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let broken = || std::io::Error::other(format!("not an HTTP answer: {answer:?}"));
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(broken)?;
    let (_, body) = answer.split_once("\r\n\r\n").ok_or_else(broken)?;
    Ok((status, body.to_owned()))
}

/// Percent-encodes everything but `A-Z a-z 0-9 - . _ ~`, for a path segment or query value.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// CPU seconds (user and system) process `pid` has used so far, from `/proc/PID/stat` (Linux;
/// clock ticks of 1/100 s, the kernel's `USER_HZ`); `None` where that cannot be read.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // Fields 14 (utime) and 15 (stime), counting from 1; `rest` starts at field 3.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}
