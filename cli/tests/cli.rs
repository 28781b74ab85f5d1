//! End-to-end tests of the `tally` binary: the offline workflow of a consortium, and clean
//! failures (a message on stderr, exit code 1, no panic) on bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .expect("the tally binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = tally(args);
    assert!(
        out.status.success(),
        "tally {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail cleanly; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = tally(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "tally {args:?} should fail with 1: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const EVENT: &str = r#"{
  "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting", "disposition": "conformant",
  "eventTime": "2026-03-05T15:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
  "epcList": ["urn:epc:id:sgtin:9506000.013435.C2M-0001"]
}"#;

#[test]
fn a_consortium_is_drawn_up_signed_and_used_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shop = d.join("shop.key");
    let factory = d.join("factory.key");
    let out = ok(&["keygen", "--member", "shop", "-o", p(&shop)]);
    assert!(out.contains("peer_id:     12D3KooW"), "{out}");
    ok(&["keygen", "--member", "factory", "-o", p(&factory)]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&shop).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Key files are never overwritten.
    let before = std::fs::read(&shop).unwrap();
    assert!(
        fails(&["keygen", "--member", "shop", "-o", p(&shop)]).contains("refusing to overwrite")
    );
    assert_eq!(std::fs::read(&shop).unwrap(), before);

    let genesis = d.join("genesis.toml");
    let shop_spec = format!("{}:platform", p(&shop));
    let factory_spec = format!("{}:manufacturer", p(&factory));
    ok(&[
        "genesis",
        "init",
        "--consortium",
        "Test C2M",
        "--member",
        &shop_spec,
        "--member",
        &factory_spec,
        "-o",
        p(&genesis),
    ]);
    // Unsigned: not yet valid.
    assert!(fails(&["genesis", "verify", p(&genesis)]).contains("founder signatures"));
    ok(&["genesis", "sign", p(&genesis), "--key", p(&shop)]);
    assert!(fails(&["genesis", "sign", p(&genesis), "--key", p(&shop)]).contains("already signed"));
    ok(&["genesis", "sign", p(&genesis), "--key", p(&factory)]);
    let verified = ok(&["genesis", "verify", p(&genesis)]);
    assert!(
        verified.starts_with("valid: Test C2M — network id "),
        "{verified}"
    );
    let shown = ok(&["genesis", "show", p(&genesis)]);
    assert!(
        shown.contains("consumer.address") && shown.contains("factory"),
        "{shown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["genesis", "show", "--json", p(&genesis)])).unwrap();
    assert_eq!(json["document"]["members"].as_array().unwrap().len(), 2);

    // A change after signing is caught.
    let text = std::fs::read_to_string(&genesis).unwrap();
    let tampered = write(d, "tampered.toml", &text.replace("Test C2M", "Test C2M!"));
    assert!(fails(&["genesis", "verify", p(&tampered)]).contains("changed after it was signed"));

    // The factory signs an inspection; the shop may not (its role does not permit it).
    let event = write(d, "event.json", EVENT);
    let entry = d.join("entry.json");
    ok(&[
        "entry",
        "sign",
        "--genesis",
        p(&genesis),
        "--key",
        p(&factory),
        "--event",
        p(&event),
        "-o",
        p(&entry),
    ]);
    assert!(
        ok(&["entry", "verify", "--genesis", p(&genesis), p(&entry)])
            .contains("quality_inspection")
    );
    assert!(
        fails(&[
            "entry",
            "sign",
            "--genesis",
            p(&genesis),
            "--key",
            p(&shop),
            "--event",
            p(&event)
        ])
        .contains("may not write")
    );
    let text = std::fs::read_to_string(&entry).unwrap();
    let edited = write(
        d,
        "edited.json",
        &text.replace("\"conformant\"", "\"non_conformant\""),
    );
    assert_ne!(text, std::fs::read_to_string(&edited).unwrap());
    fails(&["entry", "verify", "--genesis", p(&genesis), p(&edited)]);

    // The next entry links to the first.
    let hash = entry_hash(&entry);
    let second = d.join("second.json");
    ok(&[
        "entry",
        "sign",
        "--genesis",
        p(&genesis),
        "--key",
        p(&factory),
        "--event",
        p(&event),
        "--seq",
        "1",
        "--prev",
        &hash,
        "-o",
        p(&second),
    ]);
    ok(&[
        "entry",
        "verify",
        "--genesis",
        p(&genesis),
        p(&second),
        "--after",
        p(&entry),
    ]);
    assert!(
        fails(&[
            "entry",
            "verify",
            "--genesis",
            p(&genesis),
            p(&entry),
            "--after",
            p(&second)
        ])
        .contains("next entry is number 2")
    );
}

/// The hash of a signed entry file, computed with the SDK.
fn entry_hash(entry: &Path) -> String {
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
    let signed: tally_sdk::entry::SignedEntry = serde_json::from_value(entry).unwrap();
    signed.hash().unwrap().to_hex()
}

#[test]
fn private_fields_are_committed_and_disclosed_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = d.join("demo");
    ok(&["genesis", "demo", "-o", p(&demo)]);
    let genesis = demo.join("genesis.toml");
    let platform = demo.join("keys/platform.key");
    let order = write(
        d,
        "order.json",
        &EVENT.replace(
            "\"inspecting\", \"disposition\": \"conformant\"",
            "\"commissioning\", \"tally:kind\": \"order\"",
        ),
    );
    let private = write(
        d,
        "private.json",
        r#"{"consumer.address": "CANARY-7f3a Road", "order.spec": {"colour": "sage"}}"#,
    );
    let entry = d.join("entry.json");
    let opened = d.join("opened.json");
    ok(&[
        "entry",
        "sign",
        "--genesis",
        p(&genesis),
        "--key",
        p(&platform),
        "--event",
        p(&order),
        "--private",
        p(&private),
        "--opened-out",
        p(&opened),
        "-o",
        p(&entry),
    ]);
    // The public entry holds no private value.
    let public = std::fs::read_to_string(&entry).unwrap();
    assert!(
        !public.contains("CANARY") && !public.contains("sage"),
        "{public}"
    );
    ok(&["entry", "verify", "--genesis", p(&genesis), p(&entry)]);

    let disclosure = d.join("disclosure.json");
    ok(&[
        "disclose",
        "make",
        "--entry",
        p(&entry),
        "--opened",
        p(&opened),
        "--field",
        "consumer.address",
        "-o",
        p(&disclosure),
    ]);
    let text = std::fs::read_to_string(&disclosure).unwrap();
    assert!(text.contains("CANARY-7f3a") && !text.contains("sage"));
    let verified = ok(&[
        "disclose",
        "verify",
        p(&disclosure),
        "--genesis",
        p(&genesis),
    ]);
    assert!(
        verified.contains("consumer.address = \"CANARY-7f3a Road\""),
        "{verified}"
    );
    let forged = write(
        d,
        "forged.json",
        &text.replace("CANARY-7f3a Road", "CANARY-7f3a Street"),
    );
    assert!(
        fails(&["disclose", "verify", p(&forged), "--genesis", p(&genesis)])
            .contains("does not verify")
    );
    // Unknown field names are refused when signing and when disclosing.
    let bad = write(d, "bad.json", r#"{"consumer.shoe_size": 42}"#);
    assert!(
        fails(&[
            "entry",
            "sign",
            "--genesis",
            p(&genesis),
            "--key",
            p(&platform),
            "--event",
            p(&order),
            "--private",
            p(&bad),
            "--opened-out",
            p(&d.join("o2.json"))
        ])
        .contains("consumer.shoe_size")
    );
    fails(&[
        "disclose",
        "make",
        "--entry",
        p(&entry),
        "--opened",
        p(&opened),
        "--field",
        "order.price",
    ]);
}

#[test]
fn event_hash_ids_match_the_reference_for_gs1_examples() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/epcis-event-hash");
    for name in [
        "epcisDocWithSingleEvent",
        "epcisDocWithSensorDataObjectEvent",
        "epcisQueryDocument",
    ] {
        let doc = data.join(format!("{name}.jsonld"));
        let expected = std::fs::read_to_string(data.join(format!("{name}.hashes"))).unwrap();
        let out = ok(&["event-hash", p(&doc)]);
        let got: Vec<&str> = out.lines().collect();
        let want: Vec<&str> = expected
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let with_prehash = ok(&[
        "event-hash",
        "--prehash",
        p(&data.join("epcisDocWithSingleEvent.jsonld")),
    ]);
    assert!(
        with_prehash.contains("  eventType=ObjectEventeventTime=2022-02-17T02:33:31.116Z"),
        "{with_prehash}"
    );
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(&["genesis", "verify", p(&d.join("missing.toml"))]);
    let junk = write(d, "junk.toml", "this is = = not toml");
    assert!(fails(&["genesis", "verify", p(&junk)]).contains("cannot be read"));
    let not_json = write(d, "x.json", "{not json");
    fails(&["event-hash", p(&not_json)]);
    let no_events = write(d, "empty.json", r#"{"type": "EPCISDocument"}"#);
    assert!(fails(&["event-hash", p(&no_events)]).contains("eventList"));
    let demo = d.join("demo");
    ok(&["genesis", "demo", "-o", p(&demo)]);
    let genesis = demo.join("genesis.toml");
    let bad_event = write(
        d,
        "bad-event.json",
        r#"{"type": "ObjectEvent", "eventTime": "yesterday"}"#,
    );
    assert!(
        fails(&[
            "entry",
            "sign",
            "--genesis",
            p(&genesis),
            "--key",
            p(&demo.join("keys/manufacturer.key")),
            "--event",
            p(&bad_event)
        ])
        .contains("$.eventTime")
    );
    fails(&["entry", "verify", "--genesis", p(&genesis), p(&not_json)]);
    fails(&["disclose", "verify", p(&not_json), "--genesis", p(&genesis)]);
    // Usage errors come from clap with code 2.
    assert_eq!(tally(&["genesis", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn tally_node_run_opens_and_checks_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let consortium = dir.path().join("consortium");
    ok(&["genesis", "demo", "-o", p(&consortium)]);
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\ngenesis = \"consortium/genesis.toml\"\nkey_file = \"consortium/keys/logistics.key\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let output = tally(&["node", "run", "--config", p(&config), "--check"]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("store open, 0 chains"), "{log}");
    assert!(dir.path().join("data").join("CURRENT").exists());
    // A stopped node is backed up into `backups` beside its data directory, and the backup
    // is a data directory a node starts from.
    let output = ok(&["node", "backup", "--config", p(&config)]);
    assert!(
        output.contains("written and checked: 0 entries in 0 chains"),
        "{output}"
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(backups[0].starts_with("tally-"), "{backups:?}");
    let restored = dir.path().join("restored.toml");
    std::fs::write(
        &restored,
        format!(
            "data_dir = \"backups/{}\"\ngenesis = \"consortium/genesis.toml\"\nkey_file = \"consortium/keys/logistics.key\"\n",
            backups[0]
        ),
    )
    .unwrap();
    let output = tally(&["node", "run", "--config", p(&restored), "--check"]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("store open, 0 chains"), "{log}");
    // A bad config is refused, naming the key.
    std::fs::write(&config, "data_dir = 5\n").unwrap();
    let message = fails(&["node", "run", "--config", p(&config)]);
    assert!(message.contains("data_dir"), "{message}");
}

/// The value after `label` on a line of `tally keygen`'s output.
fn keygen_value(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} in {output}"))
}

#[test]
fn membership_changes_are_drafted_approved_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = d.join("demo");
    ok(&["genesis", "demo", "-o", p(&demo)]);
    let genesis = demo.join("genesis.toml");
    let key = |member: &str| demo.join("keys").join(format!("{member}.key"));
    let log = d.join("changes.json");

    let newcomer = d.join("courier.key");
    let keys = ok(&["keygen", "--member", "courier", "-o", p(&newcomer)]);
    let add = d.join("add.json");
    let signing = keygen_value(&keys, "signing_key:");
    let x25519 = keygen_value(&keys, "x25519_key:");
    let peer = keygen_value(&keys, "peer_id:");
    let add_args = |out: &Path| -> Vec<String> {
        [
            "governance",
            "add-member",
            "--genesis",
            p(&genesis),
            "--reason",
            "a second logistics firm for the north",
            "-o",
            p(out),
            "--member",
            "courier",
            "--name",
            "Courier North Ltd.",
            "--role",
            "logistics",
            "--signing-key",
            &signing,
            "--x25519-key",
            &x25519,
            "--peer-id",
            &peer,
            "--address",
            "/ip4/127.0.0.1/tcp/7400",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = add_args(&add);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(ok(&args).contains("wrote change 1"));

    let apply = |change: &Path| {
        [
            "governance",
            "apply",
            p(change),
            "--genesis",
            p(&genesis),
            "--changes",
            p(&log),
        ]
        .map(str::to_string)
    };
    let run = |args: &[String]| tally(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let approve = |change: &Path, member: &str, with_log: bool| {
        let mut args = vec![
            "governance".to_string(),
            "approve".into(),
            p(change).into(),
            "--genesis".into(),
            p(&genesis).into(),
            "--key".into(),
            p(&key(member)).into(),
        ];
        if with_log {
            args.extend(["--changes".into(), p(&log).into()]);
        }
        run(&args)
    };

    // Too few approvals: refused, and no log is written.
    assert!(approve(&add, "platform", false).status.success());
    assert!(approve(&add, "manufacturer", false).status.success());
    let out = run(&apply(&add));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has 2 founder approvals but needs 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.exists());

    // The third founder approves; an edit after approval breaks the approvals.
    let out = approve(&add, "supplier", false);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 of 3 approvals"));
    let approved = std::fs::read_to_string(&add).unwrap();
    let edited = write(
        d,
        "edited.json",
        &approved.replace("for the north", "for the south"),
    );
    let out = run(&apply(&edited));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match this change"));

    let out = run(&apply(&add));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied change 1 (add_member courier)"));
    // The same change again is out of order.
    let out = run(&apply(&add));
    assert!(String::from_utf8_lossy(&out.stderr).contains("next change is number 2, not 1"));

    let shown = ok(&[
        "governance",
        "show",
        "--genesis",
        p(&genesis),
        "--changes",
        p(&log),
    ]);
    assert!(
        shown.contains("courier") && shown.contains("Courier North Ltd."),
        "{shown}"
    );

    // The new member signs with the log; its entry verifies against the genesis with the
    // log, and not against the genesis alone.
    let event = write(
        d,
        "arrival.json",
        r#"{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
            "eventTime": "2026-03-05T15:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "epcList": ["urn:epc:id:sgtin:9506000.013435.C2M-0001"]}"#,
    );
    let entry = d.join("courier-entry.json");
    let with_log = ["--genesis", p(&genesis), "--changes", p(&log)];
    let mut sign = vec![
        "entry",
        "sign",
        "--key",
        p(&newcomer),
        "--event",
        p(&event),
        "-o",
        p(&entry),
    ];
    sign.extend(with_log);
    ok(&sign);
    let mut verify = vec!["entry", "verify", p(&entry)];
    verify.extend(with_log);
    assert!(ok(&verify).contains("valid"));
    let err = fails(&["entry", "verify", p(&entry), "--genesis", p(&genesis)]);
    assert!(err.contains("courier is not a member"), "{err}");

    // A node started with the log stores the change; an audit of its data directory takes the
    // change from there (checked against the genesis), without being given the log.
    let config = write(
        d,
        "courier-node.toml",
        &format!(
            "data_dir = \"courier-data\"\ngenesis = {:?}\nkey_file = {:?}\nchanges = {:?}\n",
            p(&genesis),
            p(&newcomer),
            p(&log)
        ),
    );
    let output = tally(&["node", "run", "--config", p(&config), "--check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let audit = tally(&[
        "audit",
        "verify",
        "--data-dir",
        p(&d.join("courier-data")),
        "--genesis",
        p(&genesis),
    ]);
    let stderr = String::from_utf8_lossy(&audit.stderr);
    assert!(audit.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 governance change(s) taken from the node"),
        "{stderr}"
    );

    // Removal: drafted against the log; a non-founder's approval is refused.
    let remove = d.join("remove.json");
    let draft = |member: &str, out: &Path| {
        tally(&[
            "governance",
            "remove-member",
            "--genesis",
            p(&genesis),
            "--changes",
            p(&log),
            "--reason",
            "contract ended",
            "-o",
            p(out),
            "--member",
            member,
            "--entries-below",
            "0",
            "--checkpoints-below",
            "0",
        ])
    };
    let out = draft("nobody", &d.join("never.json"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody is not a current member"));
    assert!(!d.join("never.json").exists());
    assert!(draft("courier", &remove).status.success());
    let out = run(&[
        "governance".into(),
        "approve".into(),
        p(&remove).into(),
        "--genesis".into(),
        p(&genesis).into(),
        "--changes".into(),
        p(&log).into(),
        "--key".into(),
        p(&newcomer).into(),
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("courier is not a current founding member")
    );
    for founder in ["platform", "logistics", "regulator"] {
        assert!(approve(&remove, founder, true).status.success());
    }
    assert!(run(&apply(&remove)).status.success());
    let shown = ok(&[
        "governance",
        "show",
        "--genesis",
        p(&genesis),
        "--changes",
        p(&log),
        "--json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let courier = shown["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"]["id"] == "courier")
        .unwrap();
    assert_eq!(courier["active"], false);
    assert_eq!(shown["changes"], 2);

    // A log that does not apply to the genesis is reported as such.
    let broken = std::fs::read_to_string(&log)
        .unwrap()
        .replace("contract ended", "contract over");
    let broken = write(d, "broken.json", &broken);
    let err = fails(&[
        "governance",
        "show",
        "--genesis",
        p(&genesis),
        "--changes",
        p(&broken),
    ]);
    assert!(err.contains("does not apply to the genesis"), "{err}");
}

/// `tally audit verify --node https://...`: the CLI checks the node's certificate, trusting
/// the consortium's CA given with `--ca-cert`; without it, a certificate no system CA signed is
/// refused, and the message says what to give.
#[test]
fn an_audit_reads_a_node_over_https_checking_its_certificate() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let consortium = d.join("consortium");
    ok(&["genesis", "demo", "-o", p(&consortium)]);
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = write(d, "cert.pem", &made.cert.pem());
    write(d, "key.pem", &made.key_pair.serialize_pem());
    let token = "0123456789abcdef0123456789abcdef-audit";
    let config = write(
        d,
        "node.toml",
        &format!(
            "data_dir = \"data\"\ngenesis = \"consortium/genesis.toml\"\nkey_file = \"consortium/keys/logistics.key\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\n[api.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [[tokens]]\nname = \"audit\"\nsecret = \"{token}\"\nscope = \"read\"\nrole = \"auditor\"\n"
        ),
    );
    let mut node = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["node", "run", "--config", p(&config)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(node.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the node logs where it listens")
            .unwrap();
        if let Some((_, rest)) = line.split_once("HTTP API listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading, so that the node never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    assert!(url.starts_with("https://"), "{url}");
    let genesis = consortium.join("genesis.toml");
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "verify",
            "--node",
            &url,
            "--genesis",
            p(&genesis),
            "--token",
            token,
        ];
        args.extend_from_slice(extra);
        tally(&args)
    };
    let trusted = audit(&["--ca-cert", p(&cert)]);
    let refused = audit(&[]);
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("--ca-cert"), "{stderr}");
}
