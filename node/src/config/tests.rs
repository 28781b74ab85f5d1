//! Unit tests of `config`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    UserConfig::from_toml(text, Path::new("node.toml"))?
        .with_env(env.iter().copied())?
        .validate(Path::new("/srv/tally"))
}

#[test]
fn a_good_config_validates_with_defaults() {
    let c = parse(GOOD, &[]).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/srv/tally/data"));
    assert_eq!(c.genesis, PathBuf::from("/etc/tally/genesis.toml"));
    assert_eq!(c.api_listen.port(), 0);
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.commit.max_delay, Duration::ZERO);
    assert_eq!(c.checkpoint_interval, Duration::from_secs(1));
    assert_eq!(c.limits.max_batch, 10_000);
    assert_eq!(c.limits.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.limits.request_timeout, Duration::from_secs(60));
    assert_eq!(
        (
            c.limits.max_connections,
            c.limits.max_concurrent_writes,
            c.limits.max_concurrent_queries,
            c.limits.max_concurrent_public
        ),
        (1_024, 64, 64, 128)
    );
    assert_eq!(c.changes, None);
    let c = parse(GOOD, &[("TALLY_CHANGES", "changes.json")]).unwrap();
    assert_eq!(c.changes, Some(PathBuf::from("/srv/tally/changes.json")));
    let c = parse(
        &format!("changes = \"/etc/tally/changes.json\"\n{GOOD}"),
        &[],
    )
    .unwrap();
    assert_eq!(c.changes, Some(PathBuf::from("/etc/tally/changes.json")));
    let erp = c.token("0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(
        (erp.name.as_str(), &erp.scope),
        ("erp", &TokenScope::Member)
    );
    assert!(c.token("0123456789abcdef0123456789abcdeX").is_none());
    assert!(!format!("{erp:?}").contains("digest"));
}

#[test]
fn the_environment_overrides_the_file_and_adds_tokens() {
    let c = parse(
        GOOD,
        &[
            ("TALLY_API_LISTEN", "127.0.0.1:9999"),
            ("TALLY_COMMIT_MAX_DELAY_MS", "2"),
            ("TALLY_CHECKPOINT_INTERVAL_MS", "250"),
            ("TALLY_P2P_LISTEN", "/ip4/0.0.0.0/tcp/1, /ip4/0.0.0.0/tcp/2"),
            (
                "TALLY_P2P_BOOTSTRAP",
                "/ip4/10.0.0.2/tcp/7400/p2p/12D3KooWGLRC1NoAvNVCGVND99iCUovzn6YngxNZveQ7PzASNCsX",
            ),
            (
                "TALLY_TOKEN_AUDIT",
                "read:regulator:abcdefghijklmnopqrstuvwxyz0123456789",
            ),
            ("HOME", "/root"),
        ],
    )
    .unwrap();
    assert_eq!(c.api_listen.port(), 9999);
    assert_eq!(c.commit.max_delay, Duration::from_millis(2));
    assert_eq!(c.checkpoint_interval, Duration::from_millis(250));
    assert_eq!(c.p2p_listen.len(), 2);
    assert_eq!(c.p2p_bootstrap.len(), 1);
    let audit = c.token("abcdefghijklmnopqrstuvwxyz0123456789").unwrap();
    assert_eq!(audit.name, "audit");
    assert_eq!(
        audit.scope,
        TokenScope::Read {
            role: "regulator".into()
        }
    );
}

#[test]
fn https_a_public_listener_and_rates_are_off_unless_set() {
    let c = parse(GOOD, &[]).unwrap();
    assert_eq!(c.tls, None);
    assert_eq!(c.public_listen, None);
    assert_eq!(c.limits.public_rate_per_minute, None);
    assert_eq!(c.limits.api_rate_per_minute, None);
    let c = parse(
        GOOD,
        &[
            ("TALLY_API_PUBLIC_LISTEN", "0.0.0.0:443"),
            ("TALLY_API_TLS_CERT", "tls/cert.pem"),
            ("TALLY_API_TLS_KEY", "/etc/tally/key.pem"),
            ("TALLY_PUBLIC_RATE_PER_MINUTE", "120"),
            ("TALLY_API_RATE_PER_MINUTE", "6000"),
        ],
    )
    .unwrap();
    assert_eq!(c.public_listen, Some("0.0.0.0:443".parse().unwrap()));
    assert_eq!(
        c.tls,
        Some(TlsFiles {
            cert: PathBuf::from("/srv/tally/tls/cert.pem"),
            key: PathBuf::from("/etc/tally/key.pem"),
        })
    );
    assert_eq!(c.limits.public_rate_per_minute, Some(120));
    assert_eq!(c.limits.api_rate_per_minute, Some(6000));
}

#[test]
fn a_token_may_be_given_by_its_digest() {
    let digest = hex::encode(Sha256::digest(b"a secret of thirty-two characters!"));
    let text = format!(
        "{GOOD}\n[[tokens]]\nname = \"auditor\"\nsecret_sha256 = \"{digest}\"\nscope = \"read\"\nrole = \"regulator\"\n"
    );
    let c = parse(&text, &[]).unwrap();
    assert_eq!(
        c.token("a secret of thirty-two characters!").unwrap().name,
        "auditor"
    );
}

#[test]
fn bad_values_name_the_bad_key() {
    let token = "[[tokens]]\nname = \"erp\"\nsecret = \"0123456789abcdef0123456789abcdef\"\nscope = \"member\"";
    for (text, env, needle) in [
        (
            GOOD.replace("127.0.0.1:0", "localhost"),
            vec![],
            "config key `api.listen`: invalid socket address",
        ),
        (GOOD.replace("data_dir", "data_dri"), vec![], "data_dri"),
        (
            GOOD.replace("scope = \"member\"", "scope = \"admin\""),
            vec![],
            "`tokens[0].scope`",
        ),
        (
            GOOD.replace("scope = \"member\"", "scope = \"read\""),
            vec![],
            "`tokens[0].role`",
        ),
        (
            GOOD.replace("0123456789abcdef0123456789abcdef", "short"),
            vec![],
            "`tokens[0].secret`",
        ),
        (
            GOOD.replace("data_dir = \"data\"", ""),
            vec![],
            "`data_dir`: is required",
        ),
        (
            format!("{GOOD}\n[limits]\nmax_batch = 0\n"),
            vec![],
            "`limits.max_batch`",
        ),
        (
            format!("{GOOD}\n[commit]\nmax_delay_ms = 5000\n"),
            vec![],
            "`commit.max_delay_ms`",
        ),
        (
            format!("{GOOD}\n[p2p]\ncheckpoint_interval_ms = 5\n"),
            vec![],
            "`p2p.checkpoint_interval_ms`: must be between 10 and 3600000, not 5",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_CHECKPOINT_INTERVAL_MS", "soon")],
            "TALLY_CHECKPOINT_INTERVAL_MS",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_API_TLS_CERT", "cert.pem")],
            "`api.tls.key`: is required with api.tls.cert",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_API_TLS_KEY", "key.pem")],
            "`api.tls.cert`: is required with api.tls.key",
        ),
        (
            GOOD.to_owned(),
            vec![
                ("TALLY_API_LISTEN", "127.0.0.1:7300"),
                ("TALLY_API_PUBLIC_LISTEN", "127.0.0.1:7300"),
            ],
            "`api.public_listen`: 127.0.0.1:7300 is also api.listen",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_PUBLIC_RATE_PER_MINUTE", "0")],
            "`limits.public_rate_per_minute`: must be between 1 and 1000000",
        ),
        (
            format!("{GOOD}\n[limits]\napi_rate_per_minute = 2000000\n"),
            vec![],
            "`limits.api_rate_per_minute`",
        ),
        (
            format!("{GOOD}\n[log]\nformat = \"xml\"\n"),
            vec![],
            "`log.format`",
        ),
        (
            format!("{GOOD}\n[p2p]\nlisten = [\"0.0.0.0:1\"]\n"),
            vec![],
            "`p2p.listen[0]`",
        ),
        (
            format!("{GOOD}\n[p2p]\nbootstrap = [\"/ip4/10.0.0.2/tcp/7400\"]\n"),
            vec![],
            "`p2p.bootstrap[0]`: \"/ip4/10.0.0.2/tcp/7400\" is not a multiaddr ending with the node's peer id",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_P2P_BOOTSTRAP", "/ip4/10.0.0.2/tcp/7400/p2p/nonsense")],
            "`p2p.bootstrap[0]`",
        ),
        (
            format!("{GOOD}\n{}", token.replace("0123", "9123")),
            vec![],
            "`tokens[1].name`",
        ),
        (
            format!("{GOOD}\n{}", token.replace("erp", "pos")),
            vec![],
            "`tokens[1].secret`: is the same secret",
        ),
        ("data_dir = 5".to_owned(), vec![], "data_dir"),
        (
            GOOD.to_owned(),
            vec![("TALLY_API_LISTN", "1.2.3.4:5")],
            "`TALLY_API_LISTN`: unknown variable",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_MAX_BATCH", "lots")],
            "`TALLY_MAX_BATCH`: must be a whole number",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_TOKEN_X", "admin:secret")],
            "`TALLY_TOKEN_X`",
        ),
        (
            GOOD.to_owned(),
            vec![("TALLY_API_LISTEN", "nowhere")],
            "`api.listen`",
        ),
    ] {
        let err = parse(&text, &env).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should contain {needle:?}");
    }
}
