//! The HTTP API under load, through the real server (axum on 127.0.0.1, port 0) over a real
//! node (RocksDB in a temporary directory, the writer thread, synced writes), with a hyper
//! client in the same process (client and server share the machine's cores).
//!
//! - Batch ingest: five clients, one per demo member, each `POST /v1/entries` its own chain
//!   of pre-signed entries in requests of 1,000 (the SDK's JSON form, encoded beforehand),
//!   one request at a time per client; criterion measures entries per second, and one run
//!   is printed with its request rate.
//! - Single-event latency: `POST /v1/events` of one event (the node signs it), sent open-loop
//!   at a fixed rate (default 1,000 requests/s for 10 s; `TALLY_BENCH_RATE`,
//!   `TALLY_BENCH_SECONDS`) over up to 64 keep-alive connections. Each request's latency
//!   counts from when it was due, not when a connection was free, so a stalled server shows
//!   as latency rather than as a lower rate. Prints p50/p90/p99/p99.9/max and the rate
//!   achieved.
//!
//! Run: `cargo bench -p tally-node --bench http`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use common::bench::BENCH_TOKEN as TOKEN;

mod support;
use support::bench_node;
const PER_MEMBER: u64 = 8_000;
const REQUEST: usize = 1_000;
const CONNECTIONS: usize = 64;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Posts `body` and reads the whole answer; returns its status.
async fn post(sender: &mut SendRequest<Full<Bytes>>, path: &str, body: Bytes) -> StatusCode {
    sender.ready().await.unwrap();
    let request = Request::post(path)
        .header(header::HOST, "bench")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

/// A member's chain of `PER_MEMBER` arrivals (the ingest benchmark's entries), as JSON request
/// bodies of `REQUEST` entries.
fn chain_requests(genesis: &Consortium, keys: &MemberKeys) -> Vec<Bytes> {
    let entries = common::chain_of(genesis, keys, 0, PER_MEMBER, None, |seq| {
        common::arrival(&keys.member, seq)
    });
    entries
        .chunks(REQUEST)
        .map(|chunk| Bytes::from(serde_json::to_vec(chunk).unwrap()))
        .collect()
}

/// Posts every member's requests into a fresh node, one client per member; returns the
/// time taken.
fn batch_ingest(runtime: &Runtime, requests: &Arc<Vec<Vec<Bytes>>>) -> Duration {
    let node = bench_node(runtime);
    let addr = node.addr;
    let elapsed = runtime.block_on(async {
        let start = Instant::now();
        let clients: Vec<_> = (0..requests.len())
            .map(|member| {
                let requests = requests.clone();
                tokio::spawn(async move {
                    let mut sender = connect(addr).await;
                    for body in &requests[member] {
                        let status = post(&mut sender, "/v1/entries", body.clone()).await;
                        assert_eq!(status, StatusCode::CREATED);
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        start.elapsed()
    });
    node.stop(runtime).shutdown();
    elapsed
}

/// One event about product `n`.
fn event_body(n: u64) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({
            "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "assembling",
            "disposition": "in_progress",
            "eventTime": Timestamp(1_772_326_800_000 + n).to_rfc3339(),
            "eventTimeZoneOffset": "+08:00",
            "epcList": [format!("https://id.gs1.org/01/09506000134352/21/LAT-{n}")],
        }))
        .unwrap(),
    )
}

/// Sends `rate` single-event requests per second for `seconds`, open-loop; returns every
/// latency (from when the request was due) and the time the whole run took.
fn single_event_latency(runtime: &Runtime, rate: u64, seconds: u64) -> (Vec<Duration>, Duration) {
    let node = bench_node(runtime);
    let addr = node.addr;
    let total = rate * seconds;
    let bodies: Vec<Bytes> = (0..total).map(event_body).collect();
    let result = runtime.block_on(async move {
        // Due requests wait here for a free connection; the channel holds every request, so
        // the schedule never waits for the server.
        let (due_tx, due_rx) = mpsc::unbounded_channel::<(Instant, Bytes)>();
        let due_rx = Arc::new(tokio::sync::Mutex::new(due_rx));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Duration>();
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let due_rx = due_rx.clone();
            let done_tx = done_tx.clone();
            let mut sender = connect(addr).await;
            connections.push(tokio::spawn(async move {
                loop {
                    let next = due_rx.lock().await.recv().await;
                    let Some((due, body)) = next else { break };
                    let status = post(&mut sender, "/v1/events", body).await;
                    assert_eq!(status, StatusCode::CREATED);
                    let _ = done_tx.send(due.elapsed());
                }
            }));
        }
        drop(done_tx);
        let start = Instant::now();
        let period = Duration::from_secs(1) / u32::try_from(rate).unwrap();
        for (i, body) in bodies.into_iter().enumerate() {
            let due = start + period * u32::try_from(i).unwrap();
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            due_tx.send((due, body)).unwrap();
        }
        drop(due_tx);
        let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap());
        while let Some(latency) = done_rx.recv().await {
            latencies.push(latency);
        }
        let elapsed = start.elapsed();
        for connection in connections {
            connection.await.unwrap();
        }
        (latencies, elapsed)
    });
    node.stop(runtime).shutdown();
    result
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let rate = env_u64("TALLY_BENCH_RATE", 1_000);
    let seconds = env_u64("TALLY_BENCH_SECONDS", 10);
    let (mut latencies, elapsed) = single_event_latency(&runtime, rate, seconds);
    latencies.sort();
    eprintln!(
        "single-event POST /v1/events, open-loop at {rate}/s for {seconds} s: {} requests in \
         {elapsed:.2?} ({:.0}/s); latency p50 {:.2?}, p90 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, max {:.2?}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or_default(),
    );

    let (signed, keys) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let requests: Arc<Vec<Vec<Bytes>>> =
        Arc::new(keys.iter().map(|k| chain_requests(&genesis, k)).collect());
    let total = PER_MEMBER * requests.len() as u64;
    let body_bytes: usize = requests.iter().flatten().map(Bytes::len).sum();
    let elapsed = batch_ingest(&runtime, &requests);
    eprintln!(
        "one run: {total} entries in {} requests of {REQUEST} ({:.1} MB of JSON) in {elapsed:.2?}: \
         {:.0} entries/s, {:.1} requests/s",
        requests.iter().map(Vec::len).sum::<usize>(),
        body_bytes as f64 / 1e6,
        total as f64 / elapsed.as_secs_f64(),
        requests.iter().map(Vec::len).sum::<usize>() as f64 / elapsed.as_secs_f64(),
    );

    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(total));
    group.sample_size(10);
    group.bench_function(
        format!("post_entries_{total}_presigned_5_clients_requests_of_{REQUEST}"),
        |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| batch_ingest(&runtime, &requests))
                    .sum()
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
