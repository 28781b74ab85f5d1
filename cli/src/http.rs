//! A small blocking HTTP/1.1 client for a node's API (`tally audit ... --node URL`): GET with a
//! bearer token, JSON answers, the node's problem+json shown when it refuses.
//!
//! `https://` (rustls on *ring*) checks the node's certificate against the system's trust
//! anchors and, with `--ca-cert FILE`, the consortium's own CA (PEM); `http://` is for a node
//! on loopback or a trusted network: what is read is verified against the genesis whatever the
//! transport, but the token would travel in the clear.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

/// Largest answer read (a period bundle can be large).
const MAX_ANSWER_BYTES: usize = 512 << 20;

/// How long one request may take (a period bundle is put together while the client waits).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A node's API.
pub struct NodeClient {
    runtime: Runtime,
    /// With `https://`: the TLS client.
    tls: Option<TlsConnector>,
    host: String,
    port: u16,
    prefix: String,
    token: String,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// A client of the node at `url` (`http://HOST:PORT` or `https://HOST:PORT`, optionally
    /// with a path prefix); over HTTPS, `ca` names a PEM file of CA certificates to trust
    /// besides the system's.
    pub fn new(url: &str, token: String, ca: Option<&Path>) -> Result<Self> {
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("https://") {
            (rest, Some(tls_connector(ca)?), 443)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (rest, None, 80)
        } else {
            bail!("{url} is not an http:// or https:// URL of a node's API");
        };
        let (authority, prefix) = match rest.split_once('/') {
            Some((authority, path)) => (authority, format!("/{}", path.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        let prefix = if prefix == "/" { String::new() } else { prefix };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => (
                host.trim_start_matches('[').trim_end_matches(']'),
                port.parse::<u16>()
                    .map_err(|_| anyhow!("{url}: {port:?} is not a port number"))?,
            ),
            _ if !authority.is_empty() => (authority, default_port),
            _ => bail!("{url} names no host"),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP client")?;
        Ok(Self {
            runtime,
            tls,
            host: host.to_owned(),
            port,
            prefix,
            token,
            sender: None,
        })
    }

    /// GETs `path` (with its query) and reads the JSON answer into `T`.
    pub fn get_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<T> {
        let bytes = self.get(path)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("the node's answer to GET {path} is not what was expected"))
    }

    /// GETs `path` and returns the body of a 200 answer.
    pub fn get(&mut self, path: &str) -> Result<Bytes> {
        let target = format!("{}{path}", self.prefix);
        // A kept-alive connection the node closed fails the first request: retry once anew.
        match self.try_get(&target) {
            Ok(answer) => Ok(answer),
            Err(Failure::Connection(_)) => {
                self.sender = None;
                self.try_get(&target).map_err(Failure::into_error)
            }
            Err(other) => Err(other.into_error()),
        }
        .with_context(|| format!("GET {target} from {}:{}", self.host, self.port))
    }

    fn try_get(&mut self, target: &str) -> Result<Bytes, Failure> {
        let host = format!("{}:{}", self.host, self.port);
        let request = Request::get(target)
            .header(header::HOST, &host)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::Other(anyhow!("bad request: {e}")))?;
        let mut sender = self.sender.take();
        let (answer, sender) = self.runtime.block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, async {
                let mut sender = match sender.take() {
                    Some(sender) => sender,
                    None => connect(&self.host, self.port, self.tls.as_ref()).await?,
                };
                sender
                    .ready()
                    .await
                    .map_err(|e| Failure::Connection(e.into()))?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| Failure::Connection(e.into()))?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                    .collect()
                    .await
                    .map_err(|e| Failure::Other(anyhow!("reading the answer: {e}")))?
                    .to_bytes();
                Ok::<_, Failure>(((status, body), sender))
            })
            .await
            .map_err(|_| Failure::Other(anyhow!("no answer within {REQUEST_TIMEOUT:?}")))?
        })?;
        self.sender = Some(sender);
        let (status, body) = answer;
        if status.is_success() {
            return Ok(body);
        }
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        Err(Failure::Other(anyhow!(
            "the node answered {status}: {detail}"
        )))
    }
}

/// Why a request failed: the connection (worth one retry on a fresh one) or anything else.
enum Failure {
    Connection(anyhow::Error),
    Other(anyhow::Error),
}

impl Failure {
    fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Connection(e) | Failure::Other(e) => e,
        }
    }
}

async fn connect(
    host: &str,
    port: u16,
    tls: Option<&TlsConnector>,
) -> Result<SendRequest<Empty<Bytes>>, Failure> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| Failure::Other(anyhow!("cannot connect to {host}:{port}: {e}")))?;
    match tls {
        None => handshake(TokioIo::new(stream), host, port).await,
        Some(tls) => {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| Failure::Other(anyhow!("{host} is not a server name: {e}")))?;
            let stream = tls.connect(name, stream).await.map_err(|e| {
                Failure::Other(anyhow!(
                    "TLS with {host}:{port}: {e} (a node with a certificate of the consortium's own CA needs --ca-cert)"
                ))
            })?;
            handshake(TokioIo::new(stream), host, port).await
        }
    }
}

async fn handshake<I>(io: I, host: &str, port: u16) -> Result<SendRequest<Empty<Bytes>>, Failure>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io)
        .await
        .map_err(|e| Failure::Other(anyhow!("HTTP handshake with {host}:{port}: {e}")))?;
    tokio::spawn(async move {
        // The connection ends when the client drops its sender or the node closes it.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The TLS client: the system's trust anchors, and the CA certificates of `ca` (PEM).
fn tls_connector(ca: Option<&Path>) -> Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| {
                format!(
                    "--ca-cert {}: not a PEM file of certificates",
                    path.display()
                )
            })?;
        if certs.is_empty() {
            bail!(
                "--ca-cert {}: the file holds no certificate",
                path.display()
            );
        }
        for cert in certs {
            roots.add(cert).with_context(|| {
                format!(
                    "--ca-cert {}: a certificate cannot be a trust anchor",
                    path.display()
                )
            })?;
        }
    }
    if roots.is_empty() {
        bail!(
            "no trusted CA certificate: the system has none; give the consortium's CA with --ca-cert"
        );
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("the TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
