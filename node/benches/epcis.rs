//! The EPCIS 2.0 interfaces under load, through the real server (axum on 127.0.0.1, port 0)
//! over a real node (RocksDB in a temporary directory, the writer thread, synced writes), with
//! a hyper client in the same process.
//!
//! - Capture: `POST /epcis/capture` of EPCISDocuments of 100 ObjectEvents each (schema
//!   validation, Event Hash IDs, the duplicate check, signing, one durable write per
//!   document), one document at a time as the node captures them, from one client and then
//!   from two side by side; criterion measures events per second over 10,000 events into a
//!   fresh node.
//! - Query latency, over a node holding 20,000 captured events (200 products, 100 events
//!   each): one event by `eventID`; a product's 100 events (`MATCH_epc`, first page of 30);
//!   a bizStep within an hour of event time (`EQ_bizStep` + `GE_`/`LT_eventTime`); the first
//!   page of a query the indexes cannot narrow (`EQ_action=OBSERVE`, reading all 20,000).
//!
//! Run: `cargo bench -p tally-node --bench epcis`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tally_testkit as common;

// As the tally-node binary allocates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::percent_encode as urlencode;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tally_sdk::time::Timestamp;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use common::bench::BENCH_TOKEN as TOKEN;

mod support;
use support::bench_node;
const PER_DOCUMENT: u64 = 100;
const CAPTURED: u64 = 10_000;
const QUERIED: u64 = 20_000;
/// 2026-03-01T00:00:00Z.
const START: u64 = 1_772_323_200_000;

async fn connect<B>(addr: SocketAddr) -> SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// Event `n`: product `n / 100`, one minute after event `n - 1`.
fn event(n: u64) -> Value {
    json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "bizStep": if n.is_multiple_of(2) { "assembling" } else { "packing" },
        "disposition": "in_progress",
        "eventTime": Timestamp(START + n * 60_000).to_rfc3339(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [format!("urn:epc:id:sgtin:9506000.013435.P{}", n / PER_DOCUMENT)],
        "readPoint": {"id": "urn:epc:id:sgln:9506000.00001.0"},
    })
}

/// Documents of [`PER_DOCUMENT`] events, `count` events in all, encoded.
fn documents(count: u64) -> Vec<Bytes> {
    (0..count / PER_DOCUMENT)
        .map(|d| {
            let events: Vec<Value> = (d * PER_DOCUMENT..(d + 1) * PER_DOCUMENT)
                .map(event)
                .collect();
            Bytes::from(
                serde_json::to_vec(&json!({
                    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                    "type": "EPCISDocument", "schemaVersion": "2.0",
                    "creationDate": "2026-03-01T00:00:00Z",
                    "epcisBody": {"eventList": events},
                }))
                .unwrap(),
            )
        })
        .collect()
}

/// Captures every document, `clients` connections each sending its share one at a time;
/// returns the time taken.
fn capture_all(
    runtime: &Runtime,
    addr: SocketAddr,
    documents: &[Bytes],
    clients: usize,
) -> Duration {
    runtime.block_on(async {
        let mut senders = Vec::with_capacity(clients);
        for _ in 0..clients {
            senders.push(connect(addr).await);
        }
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(clients);
        for (n, sender) in senders.into_iter().enumerate() {
            let share: Vec<Bytes> = documents.iter().skip(n).step_by(clients).cloned().collect();
            tasks.push(tokio::spawn(capture_share(sender, share)));
        }
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

async fn capture_share(mut sender: SendRequest<Full<Bytes>>, documents: Vec<Bytes>) {
    for body in documents {
        sender.ready().await.unwrap();
        let request = Request::post("/epcis/capture")
            .header(header::HOST, "bench")
            .header(header::CONTENT_TYPE, "application/ld+json")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Full::new(body))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let job = response.into_body().collect().await.unwrap().to_bytes();
        let job: Value = serde_json::from_slice(&job).unwrap();
        assert_eq!(job["tally:recorded"], PER_DOCUMENT, "{job}");
    }
}

async fn query(sender: &mut SendRequest<Empty<Bytes>>, path: &str) -> usize {
    sender.ready().await.unwrap();
    let request = Request::get(path)
        .header(header::HOST, "bench")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let capture = documents(CAPTURED);
    let mut group = c.benchmark_group("epcis_capture");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CAPTURED));
    // One client sending a document at a time, then two: a factory's systems (the line's MES,
    // the quality station, the warehouse) capture side by side.
    for (name, clients) in [("documents_of_100_events", 1), ("two_clients", 2)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let node = bench_node(&runtime);
                    total += capture_all(&runtime, node.addr, &capture, clients);
                    node.stop(&runtime).shutdown();
                }
                total
            });
        });
    }
    group.finish();

    let node = bench_node(&runtime);
    capture_all(&runtime, node.addr, &documents(QUERIED), 1);
    let mut sender: SendRequest<Empty<Bytes>> = runtime.block_on(connect(node.addr));
    let from = Timestamp(START + 10_000 * 60_000).to_rfc3339();
    let to = Timestamp(START + 10_060 * 60_000).to_rfc3339();
    let by_id = format!(
        "/epcis/events?EQ_eventID={}",
        urlencode(
            &tally_sdk::epcis::document::standalone_event_hash_id(&{
                let mut e = event(12_345);
                e["@context"] =
                    json!(["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]);
                e
            })
            .unwrap()
        )
    );
    let cases: Vec<(&str, String, usize)> = vec![
        ("by_event_id", by_id, 1),
        (
            "one_product_first_page",
            format!(
                "/epcis/events?MATCH_epc={}",
                urlencode("urn:epc:id:sgtin:9506000.013435.P123")
            ),
            30,
        ),
        (
            "biz_step_in_one_hour",
            format!(
                "/epcis/events?EQ_bizStep=packing&GE_eventTime={}&LT_eventTime={}",
                urlencode(&from),
                urlencode(&to)
            ),
            30,
        ),
        (
            "unindexed_first_page",
            "/epcis/events?EQ_action=OBSERVE".to_owned(),
            30,
        ),
    ];
    let mut group = c.benchmark_group("epcis_query_20000_events");
    for (name, path, expected) in &cases {
        assert_eq!(
            runtime.block_on(query(&mut sender, path)),
            *expected,
            "{path}"
        );
        group.bench_function(*name, |b| {
            b.iter(|| runtime.block_on(query(&mut sender, path)));
        });
    }
    group.finish();
    drop(sender);
    node.stop(&runtime).shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
