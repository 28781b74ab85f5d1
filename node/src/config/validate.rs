//! The config file's values checked and resolved into a [`Config`]: required keys, bounds,
//! paths against the file's directory, tokens.

use super::*;

impl UserConfig {
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

pub(super) fn bounded(
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
pub(super) fn millis(
    key: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    bounded(key, value, default, min, max).map(|ms| Duration::from_millis(ms as u64))
}

/// An optional rate in requests per minute: 1 to 1,000,000.
pub(super) fn per_minute(key: &str, value: Option<u64>) -> Result<Option<u32>, ConfigError> {
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

pub(super) fn validate_token(source: &str, token: UserToken) -> Result<ApiToken, ConfigError> {
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
