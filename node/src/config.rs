//! Node configuration in two layers: what the operator wrote (a TOML file, then `TALLY_*`
//! environment variables over it) and the validated [`Config`] the node runs with.
//!
//! Every problem names the key at fault (`config key `api.listen`: ...`), and unknown keys are
//! errors, so a typo stops the node at start instead of being silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

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
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
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

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// What the operator wrote.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Where the node keeps its data.
    pub data_dir: Option<PathBuf>,
    /// The signed genesis file.
    pub genesis: Option<PathBuf>,
    /// The member's key file.
    pub key_file: Option<PathBuf>,
    /// HTTP API settings.
    #[serde(default)]
    pub api: UserApi,
    /// Peer-to-peer settings.
    #[serde(default)]
    pub p2p: UserP2p,
    /// Limits.
    #[serde(default)]
    pub limits: UserLimits,
    /// Logging.
    #[serde(default)]
    pub log: UserLog,
    /// API tokens.
    #[serde(default)]
    pub tokens: Vec<UserToken>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserApi {
    /// Listen address, e.g. `127.0.0.1:7300` (port 0: any free port).
    pub listen: Option<String>,
}

/// `[p2p]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserP2p {
    /// libp2p listen multiaddrs.
    pub listen: Option<Vec<String>>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLimits {
    /// Largest request body in bytes.
    pub max_body_bytes: Option<usize>,
    /// Most events or entries in one request.
    pub max_batch: Option<usize>,
    /// Most entries written in one group commit.
    pub commit_max_entries: Option<usize>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLog {
    /// `human` or `json`.
    pub format: Option<String>,
    /// A tracing filter, e.g. `info` or `tally_node=debug`.
    pub level: Option<String>,
}

/// `[[tokens]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserToken {
    /// Who uses it (for logs).
    pub name: String,
    /// The secret (at least 32 characters).
    pub secret: String,
    /// `member` (may write as the node's member) or `read`.
    pub scope: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Write events as the node's member, and read.
    Member,
    /// Read only.
    Read,
}

/// An API token; only its SHA-256 is kept.
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Who uses it.
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// What it may do.
    pub scope: TokenScope,
}

/// Validated limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Most events or entries in one request.
    pub max_batch: usize,
    /// Most entries written in one group commit.
    pub commit_max_entries: usize,
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
    /// HTTP listen address.
    pub api_listen: SocketAddr,
    /// libp2p listen multiaddrs.
    pub p2p_listen: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// API tokens.
    pub tokens: Vec<ApiToken>,
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

    /// Applies `TALLY_*` overrides from `env` (a lookup, so tests need not touch the process
    /// environment).
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(v) = env("TALLY_DATA_DIR") {
            self.data_dir = Some(v.into());
        }
        if let Some(v) = env("TALLY_GENESIS") {
            self.genesis = Some(v.into());
        }
        if let Some(v) = env("TALLY_KEY_FILE") {
            self.key_file = Some(v.into());
        }
        if let Some(v) = env("TALLY_API_LISTEN") {
            self.api.listen = Some(v);
        }
        if let Some(v) = env("TALLY_LOG_FORMAT") {
            self.log.format = Some(v);
        }
        if let Some(v) = env("TALLY_LOG_LEVEL") {
            self.log.level = Some(v);
        }
        self
    }

    /// Validates everything; relative paths are resolved against `base` (the config file's
    /// directory).
    pub fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let path = |key: &str, value: Option<PathBuf>| -> Result<PathBuf, ConfigError> {
            let value = value.ok_or_else(|| invalid(key, "is required"))?;
            Ok(if value.is_absolute() {
                value
            } else {
                base.join(value)
            })
        };
        let data_dir = path("data_dir", self.data_dir)?;
        let genesis = path("genesis", self.genesis)?;
        let key_file = path("key_file", self.key_file)?;
        let listen = self.api.listen.unwrap_or_else(|| "127.0.0.1:7300".into());
        let api_listen: SocketAddr = listen.parse().map_err(|_| {
            invalid(
                "api.listen",
                format!("{listen:?} is not an address like 127.0.0.1:7300"),
            )
        })?;
        let p2p_listen = self.p2p.listen.unwrap_or_default();
        if let Some(bad) = p2p_listen.iter().find(|a| !a.starts_with('/')) {
            return Err(invalid(
                "p2p.listen",
                format!("{bad:?} is not a multiaddr like /ip4/127.0.0.1/tcp/0"),
            ));
        }
        let positive = |key: &str, value: Option<usize>, default: usize, max: usize| {
            let value = value.unwrap_or(default);
            if value == 0 || value > max {
                return Err(invalid(
                    key,
                    format!("must be between 1 and {max}, not {value}"),
                ));
            }
            Ok(value)
        };
        let limits = Limits {
            max_body_bytes: positive(
                "limits.max_body_bytes",
                self.limits.max_body_bytes,
                8 << 20,
                256 << 20,
            )?,
            max_batch: positive("limits.max_batch", self.limits.max_batch, 10_000, 1_000_000)?,
            commit_max_entries: positive(
                "limits.commit_max_entries",
                self.limits.commit_max_entries,
                20_000,
                1_000_000,
            )?,
        };
        let log_format = match self.log.format.as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?} is not human or json"),
                ));
            }
        };
        let mut tokens = Vec::new();
        for (i, token) in self.tokens.into_iter().enumerate() {
            let key = format!("tokens[{i}]");
            if token.secret.len() < 32 {
                return Err(invalid(
                    &format!("{key}.secret"),
                    "must be at least 32 characters",
                ));
            }
            let scope = match token.scope.as_str() {
                "member" => TokenScope::Member,
                "read" => TokenScope::Read,
                other => {
                    return Err(invalid(
                        &format!("{key}.scope"),
                        format!("{other:?} is not member or read"),
                    ));
                }
            };
            tokens.push(ApiToken {
                name: token.name,
                secret_sha256: Sha256::digest(token.secret.as_bytes()).into(),
                scope,
            });
        }
        Ok(Config {
            data_dir,
            genesis,
            key_file,
            api_listen,
            p2p_listen,
            limits,
            log_format,
            log_level: self.log.level.unwrap_or_else(|| "info".into()),
            tokens,
        })
    }
}

impl Config {
    /// Reads, overrides from the process environment, and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let base = path.parent().unwrap_or(Path::new("."));
        UserConfig::from_file(path)?
            .with_env(|k| std::env::var(k).ok())
            .validate(base)
    }

    /// The token with this secret, compared in constant time.
    pub fn token(&self, secret: &str) -> Option<&ApiToken> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.tokens.iter().find(|t| {
            t.secret_sha256
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
data_dir = "data"
genesis = "/etc/tally/genesis.toml"
key_file = "member.key"
[api]
listen = "127.0.0.1:0"
[[tokens]]
name = "erp"
secret = "0123456789abcdef0123456789abcdef"
scope = "member"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        UserConfig::from_toml(text, Path::new("node.toml"))?
            .with_env(|_| None)
            .validate(Path::new("/srv/tally"))
    }

    #[test]
    fn a_good_config_validates_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/tally/data"));
        assert_eq!(c.genesis, PathBuf::from("/etc/tally/genesis.toml"));
        assert_eq!(c.api_listen.port(), 0);
        assert_eq!(c.log_format, LogFormat::Human);
        assert!(c.token("0123456789abcdef0123456789abcdef").is_some());
        assert!(c.token("0123456789abcdef0123456789abcdeX").is_none());
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = UserConfig::from_toml(GOOD, Path::new("node.toml"))
            .unwrap()
            .with_env(|k| (k == "TALLY_API_LISTEN").then(|| "127.0.0.1:9999".to_owned()))
            .validate(Path::new("/"))
            .unwrap();
        assert_eq!(c.api_listen.port(), 9999);
    }

    #[test]
    fn bad_configs_name_the_bad_key() {
        for (text, needle) in [
            (GOOD.replace("127.0.0.1:0", "localhost"), "api.listen"),
            (GOOD.replace("data_dir", "data_dri"), "data_dri"),
            (
                GOOD.replace("scope = \"member\"", "scope = \"admin\""),
                "tokens[0].scope",
            ),
            (
                GOOD.replace("0123456789abcdef0123456789abcdef", "short"),
                "tokens[0].secret",
            ),
            (GOOD.replace("data_dir = \"data\"", ""), "data_dir"),
            (
                format!("{GOOD}\n[limits]\nmax_batch = 0\n"),
                "limits.max_batch",
            ),
            (format!("{GOOD}\n[log]\nformat = \"xml\"\n"), "log.format"),
            (
                format!("{GOOD}\n[p2p]\nlisten = [\"0.0.0.0:1\"]\n"),
                "p2p.listen",
            ),
            ("data_dir = 5".to_owned(), "data_dir"),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should name {needle}");
        }
    }
}
