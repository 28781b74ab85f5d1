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

/// The environment variables that set one key each.
const ENV_KEYS: [(&str, &str); 28] = [
    ("TALLY_DATA_DIR", "data_dir"),
    ("TALLY_GENESIS", "genesis"),
    ("TALLY_KEY_FILE", "key_file"),
    ("TALLY_CHANGES", "changes"),
    ("TALLY_BACKUP_DIR", "backup_dir"),
    ("TALLY_API_LISTEN", "api.listen"),
    ("TALLY_API_PUBLIC_LISTEN", "api.public_listen"),
    ("TALLY_API_TLS_CERT", "api.tls.cert"),
    ("TALLY_API_TLS_KEY", "api.tls.key"),
    ("TALLY_P2P_LISTEN", "p2p.listen"),
    ("TALLY_P2P_BOOTSTRAP", "p2p.bootstrap"),
    ("TALLY_CHECKPOINT_INTERVAL_MS", "p2p.checkpoint_interval_ms"),
    ("TALLY_MAX_BODY_BYTES", "limits.max_body_bytes"),
    ("TALLY_MAX_BATCH", "limits.max_batch"),
    (
        "TALLY_HEADER_READ_TIMEOUT_MS",
        "limits.header_read_timeout_ms",
    ),
    ("TALLY_REQUEST_TIMEOUT_MS", "limits.request_timeout_ms"),
    ("TALLY_MAX_CONNECTIONS", "limits.max_connections"),
    (
        "TALLY_MAX_CONCURRENT_WRITES",
        "limits.max_concurrent_writes",
    ),
    (
        "TALLY_MAX_CONCURRENT_QUERIES",
        "limits.max_concurrent_queries",
    ),
    (
        "TALLY_MAX_CONCURRENT_PUBLIC",
        "limits.max_concurrent_public",
    ),
    (
        "TALLY_MAX_BODY_BYTES_IN_FLIGHT",
        "limits.max_body_bytes_in_flight",
    ),
    (
        "TALLY_PUBLIC_RATE_PER_MINUTE",
        "limits.public_rate_per_minute",
    ),
    ("TALLY_API_RATE_PER_MINUTE", "limits.api_rate_per_minute"),
    ("TALLY_COMMIT_MAX_ENTRIES", "commit.max_entries"),
    ("TALLY_COMMIT_MAX_DELAY_MS", "commit.max_delay_ms"),
    ("TALLY_COMMIT_QUEUE", "commit.queue"),
    ("TALLY_LOG_FORMAT", "log.format"),
    ("TALLY_LOG_LEVEL", "log.level"),
];

const TOKEN_PREFIX: &str = "TALLY_TOKEN_";

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

    /// Applies `TALLY_*` variables from `vars` (the process environment, or a test's list).
    /// Variables not starting with `TALLY_` are ignored; unknown `TALLY_` ones are errors.
    pub fn with_env<K, V>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (var, value) in vars {
            let (var, value) = (var.as_ref(), value.as_ref());
            if !var.starts_with("TALLY_") {
                continue;
            }
            let env_error = |problem: &str| ConfigError::Env {
                var: var.to_owned(),
                problem: problem.to_owned(),
            };
            let number = || {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| env_error("must be a whole number"))
            };
            match var {
                "TALLY_DATA_DIR" => self.data_dir = Some(value.into()),
                "TALLY_GENESIS" => self.genesis = Some(value.into()),
                "TALLY_KEY_FILE" => self.key_file = Some(value.into()),
                "TALLY_CHANGES" => self.changes = Some(value.into()),
                "TALLY_BACKUP_DIR" => self.backup_dir = Some(value.into()),
                "TALLY_API_LISTEN" => self.api.listen = Some(value.to_owned()),
                "TALLY_API_PUBLIC_LISTEN" => self.api.public_listen = Some(value.to_owned()),
                "TALLY_API_TLS_CERT" => {
                    self.api.tls.get_or_insert_with(UserTls::default).cert = Some(value.into());
                }
                "TALLY_API_TLS_KEY" => {
                    self.api.tls.get_or_insert_with(UserTls::default).key = Some(value.into());
                }
                "TALLY_P2P_LISTEN" => self.p2p.listen = Some(list(value)),
                "TALLY_P2P_BOOTSTRAP" => self.p2p.bootstrap = Some(list(value)),
                "TALLY_CHECKPOINT_INTERVAL_MS" => self.p2p.checkpoint_interval_ms = Some(number()?),
                "TALLY_MAX_BODY_BYTES" => self.limits.max_body_bytes = Some(number()?),
                "TALLY_MAX_BATCH" => self.limits.max_batch = Some(number()?),
                "TALLY_HEADER_READ_TIMEOUT_MS" => {
                    self.limits.header_read_timeout_ms = Some(number()?);
                }
                "TALLY_REQUEST_TIMEOUT_MS" => self.limits.request_timeout_ms = Some(number()?),
                "TALLY_MAX_CONNECTIONS" => self.limits.max_connections = Some(number()?),
                "TALLY_MAX_CONCURRENT_WRITES" => {
                    self.limits.max_concurrent_writes = Some(number()?);
                }
                "TALLY_MAX_CONCURRENT_QUERIES" => {
                    self.limits.max_concurrent_queries = Some(number()?);
                }
                "TALLY_MAX_CONCURRENT_PUBLIC" => {
                    self.limits.max_concurrent_public = Some(number()?);
                }
                "TALLY_MAX_BODY_BYTES_IN_FLIGHT" => {
                    self.limits.max_body_bytes_in_flight = Some(number()?);
                }
                "TALLY_PUBLIC_RATE_PER_MINUTE" => {
                    self.limits.public_rate_per_minute = Some(number()?);
                }
                "TALLY_API_RATE_PER_MINUTE" => {
                    self.limits.api_rate_per_minute = Some(number()?);
                }
                "TALLY_COMMIT_MAX_ENTRIES" => self.commit.max_entries = Some(number()?),
                "TALLY_COMMIT_MAX_DELAY_MS" => self.commit.max_delay_ms = Some(number()?),
                "TALLY_COMMIT_QUEUE" => self.commit.queue = Some(number()?),
                "TALLY_LOG_FORMAT" => self.log.format = Some(value.to_owned()),
                "TALLY_LOG_LEVEL" => self.log.level = Some(value.to_owned()),
                _ => match var.strip_prefix(TOKEN_PREFIX) {
                    Some(name) if !name.is_empty() => {
                        self.tokens.push(env_token(var, name, value)?)
                    }
                    _ => {
                        let known: Vec<&str> = ENV_KEYS.iter().map(|(v, _)| *v).collect();
                        return Err(env_error(&format!(
                            "unknown variable; the node reads {} and {TOKEN_PREFIX}<NAME>",
                            known.join(", ")
                        )));
                    }
                },
            }
        }
        Ok(self)
    }

    /// Validates everything; relative paths are resolved against `base` (the config file's
    /// directory).
    pub fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let path = |key: &str, value: Option<PathBuf>| -> Result<PathBuf, ConfigError> {
            let value = value.ok_or_else(|| invalid(key, "is required"))?;
            if value.as_os_str().is_empty() {
                return Err(invalid(key, "must not be empty"));
            }
            Ok(if value.is_absolute() {
                value
            } else {
                base.join(value)
            })
        };
        let data_dir = path("data_dir", self.data_dir)?;
        let genesis = path("genesis", self.genesis)?;
        let key_file = path("key_file", self.key_file)?;
        let changes = match self.changes {
            Some(file) => Some(path("changes", Some(file))?),
            None => None,
        };
        let backup_dir = match self.backup_dir {
            Some(dir) => path("backup_dir", Some(dir))?,
            // Beside the data directory, on the same filesystem, so backups hard-link the
            // store's table files instead of copying them.
            None => data_dir
                .parent()
                .map_or_else(|| base.join("backups"), |parent| parent.join("backups")),
        };
        let socket = |key: &str, listen: &str| -> Result<SocketAddr, ConfigError> {
            listen.trim().parse().map_err(|_| {
                invalid(
                    key,
                    format!("invalid socket address {listen:?}: give an IP address and a port, like 127.0.0.1:7300"),
                )
            })
        };
        let api_listen = socket(
            "api.listen",
            self.api.listen.as_deref().unwrap_or("127.0.0.1:7300"),
        )?;
        let public_listen = match self.api.public_listen.as_deref() {
            Some(listen) => {
                let public = socket("api.public_listen", listen)?;
                // Port 0 asks for any free port, so two zeros never collide.
                if public == api_listen && public.port() != 0 {
                    return Err(invalid(
                        "api.public_listen",
                        format!(
                            "{public} is also api.listen; give the public page its own address"
                        ),
                    ));
                }
                Some(public)
            }
            None => None,
        };
        let tls = match self.api.tls {
            None => None,
            Some(UserTls { cert, key }) => match (cert, key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: path("api.tls.cert", Some(cert))?,
                    key: path("api.tls.key", Some(key))?,
                }),
                (None, _) => {
                    return Err(invalid(
                        "api.tls.cert",
                        "is required with api.tls.key (the certificate chain, PEM)",
                    ));
                }
                (_, None) => {
                    return Err(invalid(
                        "api.tls.key",
                        "is required with api.tls.cert (the certificate's private key, PEM)",
                    ));
                }
            },
        };
        let mut p2p_listen = Vec::new();
        for (i, address) in self.p2p.listen.unwrap_or_default().iter().enumerate() {
            p2p_listen.push(address.trim().parse::<Multiaddr>().map_err(|_| {
                invalid(
                    &format!("p2p.listen[{i}]"),
                    format!("{address:?} is not a multiaddr like /ip4/0.0.0.0/tcp/7400"),
                )
            })?);
        }
        let mut p2p_bootstrap = Vec::new();
        for (i, address) in self.p2p.bootstrap.unwrap_or_default().iter().enumerate() {
            let parsed = address.trim().parse::<Multiaddr>().ok();
            match parsed {
                Some(parsed) if matches!(parsed.iter().last(), Some(Protocol::P2p(_))) => {
                    p2p_bootstrap.push(parsed);
                }
                _ => {
                    return Err(invalid(
                        &format!("p2p.bootstrap[{i}]"),
                        format!(
                            "{address:?} is not a multiaddr ending with the node's peer id, like /ip4/10.0.0.2/tcp/7400/p2p/12D3KooW..."
                        ),
                    ));
                }
            }
        }
        let limits = Limits {
            max_body_bytes: bounded(
                "limits.max_body_bytes",
                self.limits.max_body_bytes,
                8 << 20,
                1,
                1 << 30,
            )?,
            max_batch: bounded(
                "limits.max_batch",
                self.limits.max_batch,
                10_000,
                1,
                1_000_000,
            )?,
            header_read_timeout: millis(
                "limits.header_read_timeout_ms",
                self.limits.header_read_timeout_ms,
                10_000,
                100,
                600_000,
            )?,
            request_timeout: millis(
                "limits.request_timeout_ms",
                self.limits.request_timeout_ms,
                60_000,
                100,
                3_600_000,
            )?,
            max_connections: bounded(
                "limits.max_connections",
                self.limits.max_connections,
                1_024,
                1,
                100_000,
            )?,
            max_concurrent_writes: bounded(
                "limits.max_concurrent_writes",
                self.limits.max_concurrent_writes,
                64,
                1,
                100_000,
            )?,
            max_concurrent_queries: bounded(
                "limits.max_concurrent_queries",
                self.limits.max_concurrent_queries,
                64,
                1,
                100_000,
            )?,
            max_concurrent_public: bounded(
                "limits.max_concurrent_public",
                self.limits.max_concurrent_public,
                128,
                1,
                100_000,
            )?,
            max_body_bytes_in_flight: bounded(
                "limits.max_body_bytes_in_flight",
                self.limits.max_body_bytes_in_flight,
                64 << 20,
                1,
                1 << 32,
            )?,
            public_rate_per_minute: per_minute(
                "limits.public_rate_per_minute",
                self.limits.public_rate_per_minute,
            )?,
            api_rate_per_minute: per_minute(
                "limits.api_rate_per_minute",
                self.limits.api_rate_per_minute,
            )?,
        };
        let checkpoint_interval = Duration::from_millis(bounded(
            "p2p.checkpoint_interval_ms",
            self.p2p.checkpoint_interval_ms,
            1_000,
            10,
            3_600_000,
        )? as u64);
        let commit = CommitConfig {
            max_entries: bounded(
                "commit.max_entries",
                self.commit.max_entries,
                20_000,
                1,
                1_000_000,
            )?,
            max_delay: Duration::from_millis(bounded(
                "commit.max_delay_ms",
                self.commit.max_delay_ms,
                0,
                0,
                1_000,
            )? as u64),
            queue: bounded("commit.queue", self.commit.queue, 256, 1, 65_536)?,
        };
        let log_format = match self.log.format.as_deref().map(str::trim) {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is neither \"human\" nor \"json\""),
                ));
            }
        };
        let log_level = self.log.level.unwrap_or_else(|| "info".into());
        if log_level.trim().is_empty() {
            return Err(invalid("log.level", "must not be empty (e.g. \"info\")"));
        }
        let mut tokens: Vec<ApiToken> = Vec::with_capacity(self.tokens.len());
        for (i, token) in self.tokens.into_iter().enumerate() {
            let source = token
                .origin
                .clone()
                .unwrap_or_else(|| format!("tokens[{i}]"));
            let token = validate_token(&source, token)?;
            if let Some(same) = tokens.iter().find(|t| t.name == token.name) {
                return Err(invalid(
                    &format!("{}.name", token.source),
                    format!("{:?} is also the name of {}", token.name, same.source),
                ));
            }
            if let Some(same) = tokens
                .iter()
                .find(|t| bool::from(t.digest[..].ct_eq(&token.digest[..])))
            {
                return Err(invalid(
                    &format!("{}.secret", token.source),
                    format!("is the same secret as {}", same.source),
                ));
            }
            tokens.push(token);
        }
        Ok(Config {
            data_dir,
            genesis,
            key_file,
            changes,
            backup_dir,
            api_listen,
            public_listen,
            tls,
            p2p_listen,
            p2p_bootstrap,
            checkpoint_interval,
            limits,
            commit,
            log_format,
            log_level,
            tokens,
        })
    }
}

fn bounded(
    key: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(invalid(
            key,
            format!("must be between {min} and {max}, not {value}"),
        ));
    }
    usize::try_from(value)
        .map_err(|_| invalid(key, format!("{value} is too large for this machine")))
}

/// A duration in milliseconds within bounds, as [`bounded`].
fn millis(
    key: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    bounded(key, value, default, min, max).map(|ms| Duration::from_millis(ms as u64))
}

/// An optional rate in requests per minute: 1 to 1,000,000.
fn per_minute(key: &str, value: Option<u64>) -> Result<Option<u32>, ConfigError> {
    match value {
        None => Ok(None),
        Some(rate) if (1..=1_000_000).contains(&rate) => Ok(u32::try_from(rate).ok()),
        Some(rate) => Err(invalid(
            key,
            format!(
                "must be between 1 and 1000000 requests per minute, not {rate} (leave it out for no limit)"
            ),
        )),
    }
}

/// `TALLY_TOKEN_<NAME>` = `member:<secret>` or `read:<role>:<secret>`.
fn env_token(var: &str, name: &str, value: &str) -> Result<UserToken, ConfigError> {
    let malformed = || ConfigError::Env {
        var: var.to_owned(),
        problem: "must be member:<secret> or read:<role>:<secret>".into(),
    };
    let (scope, rest) = value.split_once(':').ok_or_else(malformed)?;
    let (role, secret) = match scope {
        "member" => (None, rest),
        "read" => {
            let (role, secret) = rest.split_once(':').ok_or_else(malformed)?;
            (Some(role.to_owned()), secret)
        }
        _ => return Err(malformed()),
    };
    Ok(UserToken {
        name: name.to_ascii_lowercase(),
        secret: Some(secret.to_owned()),
        secret_sha256: None,
        scope: scope.to_owned(),
        role,
        origin: Some(var.to_owned()),
    })
}

fn validate_token(source: &str, token: UserToken) -> Result<ApiToken, ConfigError> {
    let key = |field: &str| format!("{source}.{field}");
    if token.name.trim().is_empty() {
        return Err(invalid(&key("name"), "must not be empty"));
    }
    let digest: [u8; 32] = match (token.secret, token.secret_sha256) {
        (Some(secret), None) => {
            if secret.chars().count() < MIN_SECRET_LEN {
                return Err(invalid(
                    &key("secret"),
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
            Sha256::digest(secret.as_bytes()).into()
        }
        (None, Some(digest)) => hex::decode(digest.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| invalid(&key("secret_sha256"), "must be 64 hex digits"))?,
        (Some(_), Some(_)) => {
            return Err(invalid(
                &key("secret"),
                "give either secret or secret_sha256, not both",
            ));
        }
        (None, None) => return Err(invalid(&key("secret"), "is required (or secret_sha256)")),
    };
    let scope = match (token.scope.as_str(), token.role) {
        ("member", None) => TokenScope::Member,
        ("member", Some(_)) => {
            return Err(invalid(&key("role"), "only read tokens have a role"));
        }
        ("read", Some(role)) if !role.trim().is_empty() => TokenScope::Read { role },
        ("read", _) => {
            return Err(invalid(
                &key("role"),
                "a read token needs the role whose access it has",
            ));
        }
        (other, _) => {
            return Err(invalid(
                &key("scope"),
                format!("{other:?} is neither \"member\" nor \"read\""),
            ));
        }
    };
    Ok(ApiToken {
        name: token.name,
        scope,
        source: source.to_owned(),
        digest,
    })
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

#[cfg(test)]
mod tests;
