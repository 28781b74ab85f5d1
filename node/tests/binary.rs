//! The `tally-node` binary as an operator meets it: `--check` opens the store and reports;
//! a bad config, a key that is not the genesis's (or no longer is, after a change in the
//! consortium's change log), a change log that does not apply, or a damaged store stop it at
//! start with a message saying what is wrong; a running node serves HTTP on a free port, keeps
//! every event it acknowledged through `kill -9` in the middle of a stream of requests, and
//! stops cleanly on SIGTERM. `tally node run` runs the same node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Running, TOKEN, request};
use tally_sdk::entry::SignedEntry;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::verify::{ChainTip, Verifier};

fn run(config: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally-node"));
    command.arg("--config").arg(config).arg("--check");
    for (key, _) in std::env::vars() {
        if key.starts_with("TALLY_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied()).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_opens_a_new_store_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(dir.path(), "");
    let output = run(&config, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("store open, 0 chains"),
        "{}",
        stderr(&output)
    );
    assert!(dir.path().join("data").join("CURRENT").exists());
    // JSON logs, by environment.
    let output = run(&config, &[("TALLY_LOG_FORMAT", "json")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let line = stderr(&output);
    let first = line.lines().next().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(parsed["fields"]["chains"], 0);
}

#[test]
fn a_bad_config_stops_the_node_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(dir.path(), "[limits]\nmax_batch = 0\n");
    let output = run(&config, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("config key `limits.max_batch`"),
        "{}",
        stderr(&output)
    );
    let config = common::demo_node_dir(dir.path(), "");
    let output = run(&config, &[("TALLY_API_LISTEN", "everywhere")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("config key `api.listen`"),
        "{}",
        stderr(&output)
    );
    let output = run(&config, &[("TALLY_KEY_FILE", "missing.key")]);
    assert!(
        stderr(&output).contains("cannot read the key file"),
        "{}",
        stderr(&output)
    );
    let config = common::demo_node_dir(
        dir.path(),
        "[[tokens]]\nname = \"auditor\"\nsecret = \"0123456789abcdef0123456789abcdef\"\nscope = \"read\"\nrole = \"astronaut\"\n",
    );
    let output = run(&config, &[]);
    assert!(
        stderr(&output).contains("`tokens[0].role`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_key_that_is_not_the_members_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(dir.path(), "");
    let member = std::fs::read_to_string(dir.path().join("member.key")).unwrap();
    let other = std::fs::read_to_string(dir.path().join("other.key")).unwrap();
    // The manufacturer's id with the supplier's secrets.
    let secrets = other
        .lines()
        .filter(|l| l.contains("_secret"))
        .collect::<Vec<_>>()
        .join("\n");
    let id = member.lines().find(|l| l.starts_with("member")).unwrap();
    std::fs::write(dir.path().join("member.key"), format!("{id}\n{secrets}\n")).unwrap();
    let output = run(&config, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not the key the genesis lists"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_change_log_that_does_not_apply_or_rotated_the_key_away_is_refused() {
    use tally_sdk::crypto::SigningKey;
    use tally_sdk::membership::governance::KeyEpoch;
    use tally_sdk::membership::governance::{Action, ChangeBody, ChangeLog, SignedChange};
    use tally_sdk::time::Timestamp;

    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(dir.path(), "");
    let log = dir.path().join("changes.json");
    std::fs::write(&log, "{\"format\": 1, \"changes\": [{}]}").unwrap();
    let output = run(&config, &[("TALLY_CHANGES", log.to_str().unwrap())]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not apply to the genesis"),
        "{}",
        stderr(&output)
    );

    // The founders rotate the manufacturer's signing key: the node's key file is now the old
    // key, and the node says so.
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let rotation = Action::RotateKeys {
        member: keys[1].member.clone(),
        signing: Some(KeyEpoch {
            key: SigningKey::from_seed(&[7; 32]).public_key(),
            entries_from: 0,
            checkpoints_from: 0,
        }),
        x25519_key: None,
        peer_id: None,
        addresses: None,
    };
    let mut change = SignedChange::draft(ChangeBody::next(
        &genesis,
        Timestamp::now(),
        "key lost".into(),
        rotation,
    ));
    for founder in &keys[..3] {
        change
            .approve(&genesis, &founder.member, &founder.signing)
            .unwrap();
    }
    let mut changes = ChangeLog::new();
    changes.changes.push(change);
    std::fs::write(&log, serde_json::to_vec(&changes).unwrap()).unwrap();
    let output = run(&config, &[("TALLY_CHANGES", log.to_str().unwrap())]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not the key the genesis lists"),
        "{}",
        stderr(&output)
    );
    // Without the log the same node opens.
    assert!(run(&config, &[]).status.success());
}

#[test]
fn a_store_of_another_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(dir.path(), "");
    assert!(run(&config, &[]).status.success());
    let (mut other, _) = demo_consortium().unwrap();
    other.document.consortium.push_str(" (another)");
    drop(
        tally_node::store::rocks::RocksStore::open(
            &dir.path().join("data-other"),
            other.document.network_id().unwrap(),
        )
        .unwrap(),
    );
    let output = run(
        &config,
        &[(
            "TALLY_DATA_DIR",
            dir.path().join("data-other").to_str().unwrap(),
        )],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("belongs to network"),
        "{}",
        stderr(&output)
    );
}

fn inspection(n: u64) -> serde_json::Value {
    serde_json::json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting",
        "disposition": "conformant",
        "eventTime": tally_sdk::time::Timestamp(1_772_330_400_000 + n * 1_000).to_rfc3339(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["urn:epc:id:sgtin:9506000.013435.C2M-0001"],
    })
}

#[test]
fn every_acknowledged_event_survives_kill_9_mid_stream_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo_node_dir(
        dir.path(),
        &format!("[[tokens]]\nname = \"erp\"\nsecret = \"{TOKEN}\"\nscope = \"member\"\n"),
    );
    let mut node = Running::start(&config);
    // A client streams requests of 5 events and reports each acknowledged hash, until the
    // node is gone.
    let (acks, acknowledged_rx) = std::sync::mpsc::channel();
    let address = node.address;
    let client = std::thread::spawn(move || {
        for request_no in 0u64.. {
            let events: Vec<_> = (0..5).map(|i| inspection(request_no * 5 + i)).collect();
            let events = serde_json::Value::Array(events);
            match request(address, "POST", "/v1/events", Some(&events)) {
                Ok((201, body)) => {
                    for receipt in body["entries"].as_array().unwrap() {
                        let hash = receipt["hash"].as_str().unwrap().to_owned();
                        if acks.send(hash).is_err() {
                            return;
                        }
                    }
                }
                Ok((status, body)) => panic!("unexpected answer {status}: {body}"),
                Err(_) => return,
            }
        }
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 100 {
        acknowledged.push(acknowledged_rx.recv().unwrap());
    }
    // SIGKILL while the client is still sending: no chance to flush anything.
    node.child.kill().unwrap();
    let (status, _) = node.wait();
    assert!(!status.success());
    client.join().unwrap();
    acknowledged.extend(acknowledged_rx.try_iter());

    let node = Running::start(&config);
    let mut stored = Vec::new();
    let mut path = "/v1/chains/manufacturer?limit=1000".to_owned();
    loop {
        let (status, body) = node.request("GET", &path, None);
        assert_eq!(status, 200, "{body}");
        for item in body["items"].as_array().unwrap() {
            let entry: SignedEntry = serde_json::from_value(item["entry"].clone()).unwrap();
            stored.push(entry);
        }
        match body.get("next") {
            Some(next) => {
                path = format!(
                    "/v1/chains/manufacturer?limit=1000&cursor={}",
                    next.as_str().unwrap()
                )
            }
            None => break,
        }
    }
    // Every acknowledged entry is there, in order; entries written but not yet acknowledged
    // when the node died may follow them; the whole chain verifies with the SDK.
    assert!(stored.len() >= acknowledged.len());
    let genesis = demo_consortium().unwrap().0.verify().unwrap();
    let verifier = Verifier::new(&genesis, tally_sdk::time::Timestamp::now());
    let mut tip: Option<ChainTip> = None;
    for (seq, entry) in stored.into_iter().enumerate() {
        let verified = verifier.verify(entry, tip.as_ref()).unwrap();
        if let Some(expected) = acknowledged.get(seq) {
            assert_eq!(&verified.hash().to_hex(), expected);
        }
        tip = Some(ChainTip {
            seq: verified.body().seq,
            hash: verified.hash(),
            timestamp: verified.body().timestamp,
        });
    }
    let (status, body) = node.request("GET", "/health", None);
    assert_eq!(status, 200);
    assert_eq!(body["entries"], tip.map_or(0, |t| t.seq + 1));

    // SIGTERM: the node stops by itself, and says everything acknowledged is stored.
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let (status, log) = node.wait();
    assert!(status.success(), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("everything acknowledged is stored"), "{log}");
}
