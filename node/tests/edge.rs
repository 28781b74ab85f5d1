//! The node's HTTP edge against hostile clients, over real sockets to a real `tally-node`
//! process: a request whose head is never finished, more connections than the node takes,
//! more writes at once than it handles, and a body sent too slowly. Each limit is set low in
//! the node's config so that the test is quick; every wait is on a condition, with a deadline
//! that only bounds a failing run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::consortium::wait_for;
use common::{Running, TOKEN};

/// Bounds a read that a failing run would block on forever.
const READ_BOUND: Duration = Duration::from_secs(60);

/// A node of the demo consortium (no peers) with `limits` in its `[limits]` section.
fn node_with(dir: &std::path::Path, limits: &str) -> Running {
    let config = common::demo_node_dir(
        dir,
        &format!(
            "[limits]\n{limits}\n\
             [[tokens]]\nname = \"erp\"\nsecret = \"{TOKEN}\"\nscope = \"member\"\n"
        ),
    );
    Running::start(&config)
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(READ_BOUND)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept the connection open: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The head of a `POST /v1/events` with a body of `length` bytes.
fn post_head(length: usize) -> String {
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// A write of `body` whose first 10 bytes are sent, once the node counts it in progress (the
/// rest is for the test to send).
fn hold_a_write(node: &Running, body: &str) -> TcpStream {
    let mut held = connect(node.address);
    held.write_all(post_head(body.len()).as_bytes()).unwrap();
    held.write_all(&body.as_bytes()[..10]).unwrap();
    wait_for("the held write to be in progress", || {
        let (_, text) =
            common::request_text(node.address, "/metrics").map_err(|e| e.to_string())?;
        if text.contains("tally_http_requests_in_flight{class=\"write\"} 1") {
            Ok(())
        } else {
            Err(text)
        }
    });
    held
}

fn event_body(serial: u64) -> String {
    common::event("assembling", "in_progress", serial, 0).to_string()
}

/// Issue 21's third probe: a client sends half a request head and holds the connection open.
/// Before, the node kept it forever (no header-read timeout); now it drops it.
#[test]
fn a_half_sent_request_head_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(dir.path(), "header_read_timeout_ms = 300");
    let mut slow = connect(node.address);
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: tally\r\n")
        .unwrap();
    let answer = read_to_close(&mut slow);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // Other clients are served meanwhile and after.
    let (status, _) = node.request("GET", "/health", None);
    assert_eq!(status, 200);
}

/// More connections than the node takes: the one over the cap is closed at once, and a
/// connection is taken again once one closes.
#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(
        dir.path(),
        "max_connections = 2\nheader_read_timeout_ms = 600000",
    );
    let idle: Vec<TcpStream> = (0..2).map(|_| connect(node.address)).collect();
    let mut over = connect(node.address);
    assert_eq!(read_to_close(&mut over), "");
    drop(idle);
    wait_for("a connection to be taken again", || {
        match common::request(node.address, "GET", "/health", None) {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

/// More writes at once than the node handles: the one over the limit is refused at once with
/// 503 and `Retry-After` instead of waiting; a body sent too slowly gets 408.
#[test]
fn writes_over_the_limit_are_shed_and_a_slow_body_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(
        dir.path(),
        "max_concurrent_writes = 1\nrequest_timeout_ms = 600000",
    );
    // A write whose body is half sent holds the one write slot.
    let body = event_body(1);
    let mut held = hold_a_write(&node, &body);
    let mut other = connect(node.address);
    let other_body = event_body(100);
    other
        .write_all(post_head(other_body.len()).as_bytes())
        .unwrap();
    other.write_all(other_body.as_bytes()).unwrap();
    let refused = read_to_close(&mut other);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{refused}");
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{refused}"
    );
    // The held write completes once its body arrives, and writes are taken again.
    held.write_all(&body.as_bytes()[10..]).unwrap();
    let answer = read_to_close(&mut held);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (status, _) = node.request(
        "POST",
        "/v1/events",
        Some(&common::event("assembling", "in_progress", 2, 0)),
    );
    assert_eq!(status, 201);

    // A body sent too slowly, to a node with a short request timeout.
    let dir = tempfile::tempdir().unwrap();
    let node = node_with(dir.path(), "request_timeout_ms = 300");
    let mut slow = connect(node.address);
    slow.write_all(post_head(body.len()).as_bytes()).unwrap();
    slow.write_all(&body.as_bytes()[..10]).unwrap();
    let answer = read_to_close(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"status\":408"), "{answer}");
}

/// Per-client rates: one client address over its rate on the consumer page, and one API
/// token over its rate, get 429 with `Retry-After`; another token is not slowed, and routes
/// without a token (`/health`) are not counted.
#[test]
fn a_client_over_its_rate_gets_429_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let reader = "fedcba9876543210fedcba9876543210-audit";
    let node = node_with(
        dir.path(),
        &format!(
            "public_rate_per_minute = 1\napi_rate_per_minute = 2\n\
             [[tokens]]\nname = \"audit\"\nsecret = \"{reader}\"\nscope = \"read\"\nrole = \"auditor\""
        ),
    );
    // The member token: two requests a minute, the third is refused.
    let (status, _) = node.request(
        "POST",
        "/v1/events",
        Some(&common::event("assembling", "in_progress", 1, 0)),
    );
    assert_eq!(status, 201);
    let (status, _) = node.request("GET", "/v1/heads", None);
    assert_eq!(status, 200);
    let mut stream = connect(node.address);
    stream
        .write_all(
            format!(
                "GET /v1/heads HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let refused = read_to_close(&mut stream);
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: "), "{refused}");
    assert!(refused.contains("rate-limited"), "{refused}");
    // Another token has its own rate.
    let (status, _) = common::request_as(node.address, reader, "GET", "/v1/heads", None).unwrap();
    assert_eq!(status, 200);

    // The consumer page: one page a minute from this address.
    let page = common::product_path(1);
    let (status, _) = common::request_text(node.address, &page).unwrap();
    assert_eq!(status, 200);
    let (status, body) = common::request_text(node.address, &page).unwrap();
    assert_eq!(status, 429, "{body}");
    let (status, _) = common::request_text(node.address, "/health").unwrap();
    assert_eq!(status, 200);
}

/// Writes share a budget of body bytes in flight: a JSON body takes tens of times its size
/// once parsed, so many large writes at once could take the node's memory. A write whose body
/// does not fit in what is left is refused at once with 503; once the held write is done, the
/// next one fits.
#[test]
fn writes_over_the_body_bytes_in_flight_are_shed() {
    let dir = tempfile::tempdir().unwrap();
    let body = event_body(1);
    let node = node_with(
        dir.path(),
        &format!(
            "max_body_bytes_in_flight = {}\nrequest_timeout_ms = 600000",
            body.len() + body.len() / 2
        ),
    );
    let mut held = hold_a_write(&node, &body);
    let other_body = event_body(100);
    let mut other = connect(node.address);
    other
        .write_all(post_head(other_body.len()).as_bytes())
        .unwrap();
    other.write_all(other_body.as_bytes()).unwrap();
    let refused = read_to_close(&mut other);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("bytes of request bodies"), "{refused}");
    held.write_all(&body.as_bytes()[10..]).unwrap();
    let answer = read_to_close(&mut held);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (status, _) = node.request(
        "POST",
        "/v1/events",
        Some(&common::event("assembling", "in_progress", 100, 0)),
    );
    assert_eq!(status, 201);
}
