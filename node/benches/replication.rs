//! Replication between real `tally-node` processes on one machine (127.0.0.1, free ports, real
//! RocksDB, real libp2p, default pacing): the figures of the replication issue.
//!
//! Four nodes of the demo consortium (platform, manufacturer, supplier, logistics) run as
//! separate processes. The client pre-signs every entry before it measures anything, posts
//! each member's chain to that member's own node (`POST /v1/entries`, which the node then
//! gossips), and watches every node's `GET /v1/heads` over keep-alive connections.
//!
//! 1. **Sustained throughput**: each member posts its share of `TALLY_BENCH_ENTRIES` (default
//!    1,000,000 in all) in requests of 1,000, one request at a time; the figure is the total
//!    divided by the time until every entry is stored on all four nodes.
//! 2. **Latency at a fixed offered rate**: `TALLY_BENCH_RATE` entries/s in all (default
//!    5,000, a quarter per member) for `TALLY_BENCH_SECONDS` (default 20), open-loop: entry `i`
//!    of a member is due at `i / (rate / 4)` seconds and sent in the first 5 ms tick at or
//!    after that, whether or not earlier requests were slow. An entry's latency runs from when
//!    it was due until the last of the four nodes shows it in its heads. Heads are polled every
//!    `POLL` on each node, so each figure overstates the truth by up to one poll interval plus
//!    the poll's own round trip.
//! 3. **Time to witness**: `TALLY_BENCH_WITNESS` (default 20) entries, one at a time on an
//!    otherwise quiet network: from posting the entry until its node's
//!    `GET /v1/entries/{hash}/witness` says `witnessed` (the genesis quorum of three other
//!    members signed checkpoints covering it; checkpoints at the default interval of 1 s).
//! 4. **Catch-up**: the fifth member's node (the regulator's) starts with an empty data
//!    directory, bootstrapping from the four; the figure is the time from starting the process
//!    until its heads equal the others' (everything written above: over 1,000,000 entries).
//!
//! Run: `cargo bench -p tally-node --bench replication` (about 5 minutes; needs an otherwise
//! idle machine: the four nodes, the client and the catching-up node share its cores).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::consortium::{Member, p2p_address};
use common::{Running, TOKEN};
use serde_json::Value;
use tally_sdk::entry::SignedEntry;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;

/// How often the latency phase polls each node's heads.
const POLL: Duration = Duration::from_millis(5);
/// Entries per request in the throughput phase.
const REQUEST: usize = 1_000;
/// How long any phase may take before the benchmark gives up (bounds a broken run only).
const GIVE_UP: Duration = Duration::from_secs(1_800);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection to a node (a new connection per poll would leave
/// thousands of sockets in TIME_WAIT and measure connection set-up).
struct Client {
    address: SocketAddr,
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            address,
            stream: BufReader::new(stream),
        }
    }

    /// Sends one request; the status and body of the answer. A connection the node closed
    /// while it was idle (its keep-alive timeout) is opened again, once.
    fn call(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut line = String::new();
        let sent = self.stream.get_mut().write_all(&request).is_ok();
        if !sent || self.stream.read_line(&mut line).unwrap_or(0) == 0 {
            *self = Self::connect(self.address);
            self.stream.get_mut().write_all(&request).unwrap();
            line.clear();
            self.stream.read_line(&mut line).unwrap();
        }
        let status: u16 = line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"));
        let mut length = None;
        loop {
            line.clear();
            self.stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut answer = vec![0; length.expect("the node answers with a Content-Length")];
        self.stream.read_exact(&mut answer).unwrap();
        (status, answer)
    }

    /// The node's heads: member → sequence number of its last entry.
    fn heads(&mut self) -> BTreeMap<String, u64> {
        let (status, body) = self.call("GET", "/v1/heads", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        body["heads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["member"].as_str().unwrap().to_owned(),
                    h["seq"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

/// Polls `condition` every `every` until it holds; panics after [`GIVE_UP`].
fn wait_until(what: &str, every: Duration, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + GIVE_UP;
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(every);
    }
}

/// Whether every node's heads reach `expected` (member → number of entries).
fn all_hold(clients: &mut [Client], expected: &BTreeMap<String, u64>) -> bool {
    clients.iter_mut().all(|c| {
        let heads = c.heads();
        expected
            .iter()
            .all(|(member, count)| heads.get(member).is_some_and(|seq| seq + 1 >= *count))
    })
}

/// Percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Each member's pre-signed chain, continuing from entry `from`.
struct Chains {
    entries: Vec<Vec<SignedEntry>>,
}

impl Chains {
    /// Signs `per_member` entries for each of `members`, on all cores.
    fn sign(genesis: &Consortium, members: &[MemberKeys], per_member: u64) -> Self {
        let entries = std::thread::scope(|scope| {
            let jobs: Vec<_> = members
                .iter()
                .map(|keys| {
                    scope.spawn(move || {
                        common::chain_of(genesis, keys, 0, per_member, None, |seq| {
                            common::arrival(&keys.member, seq)
                        })
                    })
                })
                .collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        Self { entries }
    }
}

/// Phase 1: every member posts `entries[from..to]` of its chain as fast as its node takes
/// them; returns the time until all four nodes hold everything.
fn throughput(
    nodes: &[Running],
    names: &[String],
    chains: &Chains,
    range: std::ops::Range<usize>,
) -> (Duration, Duration) {
    let bodies: Vec<Vec<Vec<u8>>> = chains
        .entries
        .iter()
        .map(|chain| {
            chain[range.clone()]
                .chunks(REQUEST)
                .map(|chunk| serde_json::to_vec(chunk).unwrap())
                .collect()
        })
        .collect();
    let expected: BTreeMap<String, u64> = names
        .iter()
        .map(|n| (n.clone(), range.end as u64))
        .collect();
    let start = Instant::now();
    let posted = std::thread::scope(|scope| {
        let senders: Vec<_> = nodes
            .iter()
            .zip(&bodies)
            .map(|(node, bodies)| {
                scope.spawn(move || {
                    let mut client = Client::connect(node.address);
                    for body in bodies {
                        let (status, answer) = client.call("POST", "/v1/entries", body);
                        assert!(
                            status == 200 || status == 201,
                            "{status} {}",
                            String::from_utf8_lossy(&answer)
                        );
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        start.elapsed()
    });
    let mut clients: Vec<Client> = nodes.iter().map(|n| Client::connect(n.address)).collect();
    wait_until(
        "every entry on every node",
        Duration::from_millis(20),
        || all_hold(&mut clients, &expected),
    );
    (posted, start.elapsed())
}

/// Phase 2: `count` entries of each member from entry `from`, open-loop at `per_member_rate`
/// entries/s each; every entry's latency until it is on all nodes, sorted.
fn latency(
    nodes: &[Running],
    names: &[String],
    chains: &Chains,
    from: usize,
    count: usize,
    per_member_rate: f64,
) -> Vec<Duration> {
    let start = Instant::now() + Duration::from_millis(100);
    let due = |i: usize| start + Duration::from_secs_f64(i as f64 / per_member_rate);
    let done = AtomicBool::new(false);
    let seen: Vec<BTreeMap<String, Vec<Instant>>> = std::thread::scope(|scope| {
        let watchers: Vec<_> = nodes
            .iter()
            .map(|node| {
                let done = &done;
                scope.spawn(move || {
                    let mut client = Client::connect(node.address);
                    // member → when each of its entries from `from` was first seen here.
                    let mut seen: BTreeMap<String, Vec<Instant>> =
                        names.iter().map(|n| (n.clone(), Vec::new())).collect();
                    loop {
                        let finished = done.load(Ordering::Acquire);
                        let heads = client.heads();
                        let now = Instant::now();
                        for (member, times) in &mut seen {
                            let held = heads.get(member).map_or(0, |seq| seq + 1) as usize;
                            while from + times.len() < held {
                                times.push(now);
                            }
                        }
                        if finished && seen.values().all(|t| t.len() >= count) {
                            return seen;
                        }
                        std::thread::sleep(POLL);
                    }
                })
            })
            .collect();
        let senders: Vec<_> = nodes
            .iter()
            .zip(&chains.entries)
            .map(|(node, chain)| {
                scope.spawn(move || {
                    let mut client = Client::connect(node.address);
                    let mut next = 0;
                    while next < count {
                        let now = Instant::now();
                        let mut upto = next;
                        while upto < count && due(upto) <= now {
                            upto += 1;
                        }
                        if upto > next {
                            let body =
                                serde_json::to_vec(&chain[from + next..from + upto]).unwrap();
                            let (status, answer) = client.call("POST", "/v1/entries", &body);
                            assert!(
                                status == 200 || status == 201,
                                "{status} {}",
                                String::from_utf8_lossy(&answer)
                            );
                            next = upto;
                        } else {
                            std::thread::sleep(POLL.min(due(next) - now));
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        done.store(true, Ordering::Release);
        watchers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut latencies = Vec::with_capacity(count * names.len());
    for member in names {
        for i in 0..count {
            let last = seen.iter().map(|node| node[member][i]).max().unwrap();
            latencies.push(last.saturating_duration_since(due(i)));
        }
    }
    latencies.sort();
    latencies
}

/// Phase 3: posts each entry alone and waits until its node shows it witnessed.
fn time_to_witness(node: &Running, entries: &[SignedEntry]) -> Vec<Duration> {
    let mut client = Client::connect(node.address);
    let mut times: Vec<Duration> = entries
        .iter()
        .map(|entry| {
            let hash = entry.hash().unwrap().to_hex();
            let body = serde_json::to_vec(std::slice::from_ref(entry)).unwrap();
            let start = Instant::now();
            let (status, _) = client.call("POST", "/v1/entries", &body);
            assert!(status == 200 || status == 201);
            let path = format!("/v1/entries/{hash}/witness");
            wait_until("an entry to be witnessed", Duration::from_millis(5), || {
                let (status, body) = client.call("GET", &path, b"");
                status == 200
                    && serde_json::from_slice::<Value>(&body).unwrap()["witnessed"] == true
            });
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn main() {
    // `cargo bench` passes `--bench`; a filter naming another benchmark skips this one.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|f| !"replication".contains(&f)) {
        return;
    }
    let total = env_u64("TALLY_BENCH_ENTRIES", 1_000_000) as usize;
    let rate = env_u64("TALLY_BENCH_RATE", 5_000);
    let seconds = env_u64("TALLY_BENCH_SECONDS", 20);
    let witness_samples = env_u64("TALLY_BENCH_WITNESS", 20) as usize;

    let root = tempfile::tempdir().unwrap();
    let (signed, keys) = demo_consortium().unwrap();
    std::fs::write(
        root.path().join("genesis.toml"),
        signed.to_toml("").unwrap(),
    )
    .unwrap();
    let genesis = Arc::new(signed.verify().unwrap());
    let writers = &keys[..4];
    let names: Vec<String> = writers.iter().map(|k| k.member.to_string()).collect();

    let per_member = total / writers.len();
    let per_member_rate = rate as f64 / writers.len() as f64;
    let latency_count = (per_member_rate * seconds as f64) as usize;
    let signing = Instant::now();
    let chains = Chains::sign(
        &genesis,
        writers,
        (per_member + latency_count + witness_samples) as u64,
    );
    println!(
        "signed {} entries in {:.1} s",
        chains.entries.iter().map(Vec::len).sum::<usize>(),
        signing.elapsed().as_secs_f64()
    );

    let dirs: Vec<Member> = keys
        .iter()
        .map(|k| Member::for_bench(root.path(), k))
        .collect();
    let mut nodes: Vec<Running> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    for dir in &dirs[..4] {
        let node = dir.start(&addresses);
        addresses.push(p2p_address(&node));
        nodes.push(node);
    }
    wait_until(
        "the four nodes to connect",
        Duration::from_millis(20),
        || {
            nodes.iter().all(|n| {
                let (_, body) = n.request("GET", "/v1/network", None);
                body["peers"]
                    .as_array()
                    .is_some_and(|p| p.iter().filter(|p| p["connected"] == true).count() >= 3)
            })
        },
    );

    let cpu = |nodes: &[Running]| -> Vec<f64> {
        nodes
            .iter()
            .map(|n| common::cpu_seconds(n.child.id()).unwrap_or(f64::NAN))
            .collect()
    };
    let cpu_before = cpu(&nodes);
    let (posted, replicated) = throughput(&nodes, &names, &chains, 0..per_member);
    let cpu_after = cpu(&nodes);
    let all = (per_member * writers.len()) as f64;
    println!(
        "throughput: {} entries ({} per member, requests of {REQUEST}) posted in {:.1} s, on all four nodes after {:.1} s: {:.0} entries/s replicated to all four",
        all,
        per_member,
        posted.as_secs_f64(),
        replicated.as_secs_f64(),
        all / replicated.as_secs_f64()
    );
    let per_node: Vec<String> = names
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .map(|(name, (before, after))| format!("{name} {:.1} µs", (after - before) / all * 1e6))
        .collect();
    let mean = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(before, after)| after - before)
        .sum::<f64>()
        / nodes.len() as f64;
    println!(
        "cpu per replicated entry per node (user + system, /proc): {:.1} µs on average ({})",
        mean / all * 1e6,
        per_node.join(", ")
    );

    let latencies = latency(
        &nodes,
        &names,
        &chains,
        per_member,
        latency_count,
        per_member_rate,
    );
    println!(
        "latency at {rate} entries/s offered for {seconds} s ({} entries), due → on all four nodes: p50 {} / p90 {} / p99 {} / max {} (heads polled every {})",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap()),
        ms(POLL)
    );

    // Let the latency phase's tail settle so the witness samples see a quiet network.
    let written = per_member + latency_count;
    let expected: BTreeMap<String, u64> =
        names.iter().map(|n| (n.clone(), written as u64)).collect();
    let mut clients: Vec<Client> = nodes.iter().map(|n| Client::connect(n.address)).collect();
    wait_until(
        "the latency phase to settle",
        Duration::from_millis(20),
        || all_hold(&mut clients, &expected),
    );
    let witness = time_to_witness(
        &nodes[0],
        &chains.entries[0][written..written + witness_samples],
    );
    println!(
        "time to witness ({} entries, one at a time, checkpoints every 1 s): p50 {} / max {}",
        witness.len(),
        ms(percentile(&witness, 50.0)),
        ms(*witness.last().unwrap())
    );

    let mut expected: BTreeMap<String, u64> = clients[0]
        .heads()
        .into_iter()
        .map(|(m, seq)| (m, seq + 1))
        .collect();
    let held: u64 = expected.values().sum();
    let start = Instant::now();
    let regulator = dirs[4].start(&addresses);
    let mut fresh = [Client::connect(regulator.address)];
    expected.retain(|_, count| *count > 0);
    wait_until(
        "the fresh node to catch up",
        Duration::from_millis(20),
        || all_hold(&mut fresh, &expected),
    );
    let caught_up = start.elapsed();
    println!(
        "catch-up: a fresh node (empty data directory) holds all {held} entries {:.1} s after its process started: {:.0} entries/s",
        caught_up.as_secs_f64(),
        held as f64 / caught_up.as_secs_f64()
    );
    drop(regulator);
    drop(nodes);
}
