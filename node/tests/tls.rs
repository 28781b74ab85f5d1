//! HTTPS on a real `tally-node`: the member API and a second, public listener serve the
//! certificate of `[api.tls]` to a client that checks it; a renewal is served after SIGHUP
//! without a restart, and a broken renewal keeps the certificate served so far. Certificates
//! are made by the test (rcgen); every wait is on a condition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::consortium::wait_for;
use common::{Running, TOKEN};
use rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed certificate for 127.0.0.1: its PEM, its key's PEM, and its DER to trust.
fn certificate() -> (String, String, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (
        made.cert.pem(),
        made.key_pair.serialize_pem(),
        made.cert.der().clone(),
    )
}

/// One HTTPS/1.1 request to `address` by a client that trusts `trusted` only; the status and
/// body, or why the exchange failed (the handshake, most often).
fn https(
    address: SocketAddr,
    trusted: &CertificateDer<'static>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(address).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A peer that closes without close_notify: what was read is the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer:?}"))?;
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
    Ok((status, body.to_owned()))
}

/// Writes a certificate and key where the node's config points.
fn install(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}

/// The config of a node with HTTPS, a public listener and the member token.
fn tls_config() -> String {
    format!(
        "public_listen = \"127.0.0.1:0\"\n[api.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
         [[tokens]]\nname = \"erp\"\nsecret = \"{TOKEN}\"\nscope = \"member\"\n"
    )
}

fn hangup(node: &Running) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn both_listeners_serve_https_and_a_renewed_certificate_is_served_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, trusted) = certificate();
    install(dir.path(), &cert, &key);
    let config = common::demo_node_dir(dir.path(), &tls_config());
    let node = Running::start(&config);
    let public = node.public.expect("the node logs its public address");

    // The member API, over HTTPS only.
    let event = common::event("assembling", "in_progress", 1, 0).to_string();
    let (status, body) = https(node.address, &trusted, "POST", "/v1/events", &event).unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, _) = https(node.address, &trusted, "GET", "/v1/heads", "").unwrap();
    assert_eq!(status, 200);
    assert!(
        common::request_text(node.address, "/health").is_err(),
        "plain HTTP is not answered on an HTTPS listener"
    );
    let (_, _, stranger) = certificate();
    let refused = https(node.address, &stranger, "GET", "/health", "").unwrap_err();
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");

    // The public listener: the consumer page and /health, nothing that takes a token.
    let page = common::product_path(1);
    let (status, html) = https(public, &trusted, "GET", &page, "").unwrap();
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<html"), "{html}");
    let (status, _) = https(public, &trusted, "GET", "/health", "").unwrap();
    assert_eq!(status, 200);
    for path in [
        "/v1/heads",
        "/v1/events?limit=1",
        "/metrics",
        "/epcis/events",
    ] {
        let (status, body) = https(public, &trusted, "GET", path, "").unwrap();
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("\"status\":404"), "{body}");
    }
    let (status, _) = https(node.address, &trusted, "GET", &page, "").unwrap();
    assert_eq!(status, 200, "the member API serves the page too");

    // A renewal, then SIGHUP: new connections get the new certificate, on both listeners.
    let (renewed_cert, renewed_key, renewed) = certificate();
    install(dir.path(), &renewed_cert, &renewed_key);
    hangup(&node);
    wait_for("the renewed certificate to be served", || {
        https(node.address, &renewed, "GET", "/health", "").map(|_| ())
    });
    let (status, _) = https(public, &renewed, "GET", "/health", "").unwrap();
    assert_eq!(status, 200);
    assert!(https(node.address, &trusted, "GET", "/health", "").is_err());
    // The line may be logged just after the swap it reports.
    wait_for("the renewal to be logged", || {
        let log = node.log();
        if log.contains("SIGHUP: TLS certificate and key reloaded") {
            Ok(())
        } else {
            Err(log)
        }
    });

    // A broken renewal (a key that is not the certificate's) is refused and logged; the
    // certificate served so far stays.
    let (_, other_key, _) = certificate();
    install(dir.path(), &renewed_cert, &other_key);
    hangup(&node);
    wait_for("the broken renewal to be refused", || {
        let log = node.log();
        if log.contains("were not reloaded; the previous ones are still served") {
            Ok(())
        } else {
            Err(log)
        }
    });
    let (status, _) = https(node.address, &renewed, "GET", "/health", "").unwrap();
    assert_eq!(status, 200);
}

/// A certificate and key that do not belong together stop the node at start, naming the
/// config keys; so does a certificate file with no certificate in it.
#[test]
fn a_node_does_not_start_with_a_key_that_is_not_its_certificates() {
    for (cert, key) in [
        (certificate().0, certificate().1),
        ("not a certificate\n".to_owned(), certificate().1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &cert, &key);
        let config = common::demo_node_dir(dir.path(), &tls_config());
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tally-node"))
            .arg("--config")
            .arg(&config)
            .env_remove("TALLY_API_TLS_CERT")
            .env_remove("TALLY_API_TLS_KEY")
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("api.tls."), "{stderr}");
    }
}
