//! `TALLY_*` environment variables over the config file: which key each sets, and tokens
//! given as `TALLY_TOKEN_<NAME>`.

use super::*;

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
}

/// `TALLY_TOKEN_<NAME>` = `member:<secret>` or `read:<role>:<secret>`.
pub(super) fn env_token(var: &str, name: &str, value: &str) -> Result<UserToken, ConfigError> {
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
