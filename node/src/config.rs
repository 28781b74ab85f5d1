//! Node configuration in two layers, as the operator wrote it ([`UserConfig`]: a TOML file,
//! then `TALLY_*` environment variables over it) and as the node uses it ([`Config`],
//! validated, paths resolved, defaults filled in).
//!
//! Unknown keys and unknown `TALLY_*` variables are errors, and every error names the key at
//! fault (``config key `api.listen`: ...``), so a typo stops the node at start instead of
//! being ignored. API token secrets are kept only as SHA-256 digests and compared in constant
//! time.
//!
//! | key | environment | default |
//! |---|---|---|
//! | `data_dir` | `TALLY_DATA_DIR` | required |
//! | `genesis` | `TALLY_GENESIS` | required |
//! | `key_file` | `TALLY_KEY_FILE` | required |
//! | `changes` | `TALLY_CHANGES` | none (the genesis as signed: no membership changes) |
//! | `backup_dir` | `TALLY_BACKUP_DIR` | `backups` beside `data_dir` |
//! | `api.listen` | `TALLY_API_LISTEN` | `127.0.0.1:7300` (port 0: any free port) |
//! | `api.public_listen` | `TALLY_API_PUBLIC_LISTEN` | none (a second address serving only the consumer page and resolver) |
//! | `api.tls.cert`, `api.tls.key` | `TALLY_API_TLS_CERT`, `TALLY_API_TLS_KEY` | none (plain HTTP); PEM files, read again on SIGHUP |
//! | `p2p.listen` | `TALLY_P2P_LISTEN` (comma-separated) | none (the node only dials out) |
//! | `p2p.bootstrap` | `TALLY_P2P_BOOTSTRAP` (comma-separated) | none (the genesis addresses) |
//! | `p2p.checkpoint_interval_ms` | `TALLY_CHECKPOINT_INTERVAL_MS` | 1,000 (a checkpoint at most this often, only when chains grew) |
//! | `limits.max_body_bytes` | `TALLY_MAX_BODY_BYTES` | 8 MiB |
//! | `limits.max_batch` | `TALLY_MAX_BATCH` | 10,000 items per request |
//! | `limits.header_read_timeout_ms` | `TALLY_HEADER_READ_TIMEOUT_MS` | 10,000 (a client that has not sent a request's head by then is dropped) |
//! | `limits.request_timeout_ms` | `TALLY_REQUEST_TIMEOUT_MS` | 60,000 (a request not answered by then gets 408) |
//! | `limits.max_connections` | `TALLY_MAX_CONNECTIONS` | 1,024 HTTP connections (more are closed at once) |
//! | `limits.max_concurrent_writes` | `TALLY_MAX_CONCURRENT_WRITES` | 64 write requests at once (more get 503 with `Retry-After`) |
//! | `limits.max_concurrent_queries` | `TALLY_MAX_CONCURRENT_QUERIES` | 64 member and auditor reads at once (likewise) |
//! | `limits.max_concurrent_public` | `TALLY_MAX_CONCURRENT_PUBLIC` | 128 consumer page and resolver requests at once (likewise) |
//! | `limits.max_body_bytes_in_flight` | `TALLY_MAX_BODY_BYTES_IN_FLIGHT` | 64 MiB of write bodies at once, all writes together (a write past it gets 503 with `Retry-After`) |
//! | `limits.public_rate_per_minute` | `TALLY_PUBLIC_RATE_PER_MINUTE` | none (requests per minute per client address on the consumer page; more get 429 with `Retry-After`) |
//! | `limits.api_rate_per_minute` | `TALLY_API_RATE_PER_MINUTE` | none (requests per minute per API token; likewise) |
//! | `commit.max_entries` | `TALLY_COMMIT_MAX_ENTRIES` | 20,000 per synced write |
//! | `commit.max_delay_ms` | `TALLY_COMMIT_MAX_DELAY_MS` | 0 |
//! | `commit.queue` | `TALLY_COMMIT_QUEUE` | 256 requests |
//! | `log.format` | `TALLY_LOG_FORMAT` | `human` (or `json`) |
//! | `log.level` | `TALLY_LOG_LEVEL` | `info` |
//! | `[[tokens]]` | `TALLY_TOKEN_<NAME>` = `member:<secret>` or `read:<role>:<secret>` | none |
//!
//! Relative paths are relative to the config file's directory.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod env;
#[cfg(test)]
mod tests;
mod validate;

/// Shortest accepted token secret.
pub const MIN_SECRET_LEN: usize = 32;

/// The configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has unknown or mistyped keys.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// An environment variable is unknown or malformed.
    #[error("environment variable `{var}`: {problem}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        problem: String,
    },
    /// A value is invalid.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// The key, dotted.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// A comma-separated list from an environment variable.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// The configuration as the operator wrote it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Where the node keeps its data.
    pub data_dir: Option<PathBuf>,
    /// The signed genesis file.
    pub genesis: Option<PathBuf>,
    /// The member's key file.
    pub key_file: Option<PathBuf>,
    /// The consortium's change log (membership changes since the genesis).
    pub changes: Option<PathBuf>,
    /// Where backups are written.
    pub backup_dir: Option<PathBuf>,
    /// `[api]`.
    #[serde(default)]
    pub api: UserApi,
    /// `[p2p]`.
    #[serde(default)]
    pub p2p: UserP2p,
    /// `[limits]`.
    #[serde(default)]
    pub limits: UserLimits,
    /// `[commit]`.
    #[serde(default)]
    pub commit: UserCommit,
    /// `[log]`.
    #[serde(default)]
    pub log: UserLog,
    /// `[[tokens]]`.
    #[serde(default)]
    pub tokens: Vec<UserToken>,
}

/// `[api]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserApi {
    /// Listen address, e.g. `127.0.0.1:7300`.
    pub listen: Option<String>,
    /// A second address that serves the consumer page and resolver only, e.g. `0.0.0.0:443`.
    pub public_listen: Option<String>,
    /// `[api.tls]`: serve HTTPS on every listener.
    pub tls: Option<UserTls>,
}

/// `[api.tls]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserTls {
    /// PEM file of the certificate chain, the node's certificate first.
    pub cert: Option<PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// `[p2p]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserP2p {
    /// libp2p listen multiaddrs, e.g. `/ip4/0.0.0.0/tcp/7400`.
    pub listen: Option<Vec<String>>,
    /// Members' node addresses beyond the genesis ones, each ending with `/p2p/<peer id>`.
    pub bootstrap: Option<Vec<String>>,
    /// Shortest time between two of the node's checkpoints, in milliseconds.
    pub checkpoint_interval_ms: Option<u64>,
}

/// `[limits]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: Option<u64>,
    /// Most events or entries in one request.
    pub max_batch: Option<u64>,
    /// How long a client may take to send a request's head, in milliseconds.
    pub header_read_timeout_ms: Option<u64>,
    /// How long a request may take to be answered, in milliseconds.
    pub request_timeout_ms: Option<u64>,
    /// Most HTTP connections open at once.
    pub max_connections: Option<u64>,
    /// Most write requests handled at once.
    pub max_concurrent_writes: Option<u64>,
    /// Most member and auditor reads handled at once.
    pub max_concurrent_queries: Option<u64>,
    /// Most consumer page and resolver requests handled at once.
    pub max_concurrent_public: Option<u64>,
    /// Bytes of request bodies the node reads at once, all writes together.
    pub max_body_bytes_in_flight: Option<u64>,
    /// Requests per minute one client address may make of the consumer page (off if unset).
    pub public_rate_per_minute: Option<u64>,
    /// Requests per minute one API token may make (off if unset).
    pub api_rate_per_minute: Option<u64>,
}

/// `[commit]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCommit {
    /// Most entries one synced write covers.
    pub max_entries: Option<u64>,
    /// How long the writer waits for more requests, in milliseconds.
    pub max_delay_ms: Option<u64>,
    /// Requests that may wait for the writer.
    pub queue: Option<u64>,
}

/// `[log]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLog {
    /// `human` or `json`.
    pub format: Option<String>,
    /// A tracing filter, e.g. `info` or `tally_node=debug`.
    pub level: Option<String>,
}

/// `[[tokens]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserToken {
    /// Who uses it (for logs).
    pub name: String,
    /// The secret, at least 32 characters (or give `secret_sha256` instead).
    pub secret: Option<String>,
    /// The SHA-256 of the secret, hex, so the file need not hold the secret itself.
    pub secret_sha256: Option<String>,
    /// `member` (may write as the node's member, and read) or `read`.
    pub scope: String,
    /// For `read`: the role whose read access the token has (a role of the genesis).
    pub role: Option<String>,
    /// Where the token came from, if not the file (an environment variable).
    #[serde(skip)]
    pub origin: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// Record events as the node's member, and read.
    Member,
    /// Read, with the access of a role.
    Read {
        /// The role.
        role: String,
    },
}

/// An API token. Only the SHA-256 of its secret is kept.
#[derive(Clone)]
pub struct ApiToken {
    /// Who uses it.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// Where it was configured, e.g. `tokens[2]` or `TALLY_TOKEN_ERP` (for messages).
    pub source: String,
    digest: [u8; 32],
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Validated limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events or entries in one request.
    pub max_batch: usize,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// How long a request may take to be answered.
    pub request_timeout: Duration,
    /// Most HTTP connections open at once.
    pub max_connections: usize,
    /// Most write requests handled at once.
    pub max_concurrent_writes: usize,
    /// Most member and auditor reads handled at once.
    pub max_concurrent_queries: usize,
    /// Most consumer page and resolver requests handled at once.
    pub max_concurrent_public: usize,
    /// Bytes of request bodies read at once, all writes together (a JSON body takes tens of
    /// times its size once parsed, so this bounds the node's memory under large writes).
    pub max_body_bytes_in_flight: usize,
    /// Requests per minute one client address may make of the consumer page, if limited.
    pub public_rate_per_minute: Option<u32>,
    /// Requests per minute one API token may make, if limited.
    pub api_rate_per_minute: Option<u32>,
}

/// Validated group-commit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitConfig {
    /// Most entries one synced write covers.
    pub max_entries: usize,
    /// How long the writer waits for more requests.
    pub max_delay: Duration,
    /// Requests that may wait for the writer.
    pub queue: usize,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the node keeps its data.
    pub data_dir: PathBuf,
    /// The signed genesis file.
    pub genesis: PathBuf,
    /// The member's key file.
    pub key_file: PathBuf,
    /// The consortium's change log, if there is one.
    pub changes: Option<PathBuf>,
    /// Where backups are written.
    pub backup_dir: PathBuf,
    /// HTTP listen address.
    pub api_listen: SocketAddr,
    /// The address that serves the consumer page and resolver only, if any.
    pub public_listen: Option<SocketAddr>,
    /// The certificate and key of HTTPS, if the API serves it.
    pub tls: Option<TlsFiles>,
    /// libp2p listen multiaddrs.
    pub p2p_listen: Vec<Multiaddr>,
    /// Members' node addresses to dial beyond the genesis ones (each ends with `/p2p/<peer
    /// id>`).
    pub p2p_bootstrap: Vec<Multiaddr>,
    /// Shortest time between two of the node's checkpoints.
    pub checkpoint_interval: Duration,
    /// Limits.
    pub limits: Limits,
    /// Group commit.
    pub commit: CommitConfig,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// API tokens.
    pub tokens: Vec<ApiToken>,
}

/// The PEM files of the API's HTTPS (`[api.tls]`), read at start and again on SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl UserConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses TOML text (`path` is for messages).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }
}

impl Config {
    /// Reads the file, applies the process environment over it, and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let base = path.parent().unwrap_or(Path::new("."));
        UserConfig::from_file(path)?
            .with_env(std::env::vars())?
            .validate(base)
    }

    /// The token with this secret. Every token is compared, in constant time.
    pub fn token(&self, secret: &str) -> Option<&ApiToken> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.digest[..].ct_eq(&digest[..])) {
                found = Some(token);
            }
        }
        found
    }
}
