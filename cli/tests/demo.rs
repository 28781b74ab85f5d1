//! `tally demo`, the README's main command, as a user runs it: five nodes start, the story is
//! recorded and replicated to all of them and witnessed (the evidence checked offline by
//! `tally witness verify`), `DIR/demo.json` says where everything is, Ctrl-C
//! stops them cleanly, and a second run on the same directory reopens the data without
//! recording the story twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A bound for a failing run only: a passing one goes on as soon as the demo is ready.
const DEADLINE: Duration = Duration::from_secs(180);

struct Demo {
    child: Child,
    out: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Demo {
    /// Starts `tally demo --dir dir` and waits until it says it runs.
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["demo", "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let demo = Self {
            child,
            out,
            reader: Some(reader),
        };
        let give_up = Instant::now() + DEADLINE;
        while !demo.output().contains("lists every node") {
            assert!(
                Instant::now() < give_up,
                "the demo did not start:\n{}",
                demo.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        demo
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Ctrl-C; waits for the process to end; its output.
    fn interrupt(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        let output = self.output();
        assert!(exit.success(), "{exit}:\n{output}");
        output
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` with a bearer token; the body as text.
fn get(api_url: &str, token: &str, path: &str) -> String {
    request(api_url, token, "GET", path, "")
}

/// A request with a bearer token (and a JSON body, if any) that must succeed; the body.
fn request(api_url: &str, token: &str, method: &str, path: &str, body: &str) -> String {
    let address = api_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 201"),
        "{answer}"
    );
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes the QR code in a greyscale PNG.
fn read_label(path: &Path) -> String {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

/// The attack on a bundle: its builder drops an entry about the sofa and recomputes the
/// report from what is left, so every signature, proof and the report hold. The members'
/// attestations name the entry, and `tally verify` refuses the bundle; without the
/// attestations it is shown incomplete and refused unless `--allow-incomplete`.
fn left_out_entries_are_caught(bundle: &str, genesis_file: &Path, dir: &Path) {
    use tally_sdk::gs1::ProductId;
    use tally_sdk::membership::genesis::SignedGenesis;
    use tally_sdk::reports::bundle::EvidenceBundle;
    use tally_sdk::verify::Verifier;

    let genesis = SignedGenesis::from_toml(&std::fs::read_to_string(genesis_file).unwrap())
        .unwrap()
        .verify()
        .unwrap();
    let honest: EvidenceBundle = serde_json::from_str(bundle).unwrap();
    // The manufacturer's first entry about the sofa (it has later ones).
    let dropped = honest
        .entries
        .iter()
        .filter(|e| e.entry.body.author.as_str() == "manufacturer")
        .min_by_key(|e| e.entry.body.seq)
        .unwrap()
        .entry
        .hash()
        .unwrap();
    let mut evidence = honest.entries.clone();
    evidence.retain(|e| e.entry.hash().unwrap() != dropped);
    let verifier = Verifier::new(&genesis, honest.report.as_of).with_tolerance(u64::MAX);
    let witnessed: std::collections::BTreeMap<_, _> = evidence
        .iter()
        .map(|e| {
            let status = e.verify(&verifier).unwrap();
            (status.entry, status.witnessed)
        })
        .collect();
    let recomputed = EvidenceBundle::build(
        &genesis,
        &ProductId::parse(&honest.product).unwrap(),
        evidence,
        &|hash| witnessed[hash],
        honest.forks.clone(),
        honest.report.as_of,
    )
    .unwrap()
    .attested(honest.attestations.clone());
    let run = |bundle: &EvidenceBundle, extra: &[&str]| {
        let file = dir.join("recomputed.json");
        std::fs::write(&file, serde_json::to_string(bundle).unwrap()).unwrap();
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .arg("verify")
            .arg(&file)
            .arg("--genesis")
            .arg(genesis_file)
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = run(&recomputed, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("entry {dropped} (manufacturer #"))
            && stderr.contains("was left out of the bundle"),
        "{stderr}"
    );

    let unattested = recomputed.attested(Vec::new());
    let refused = run(&unattested, &[]);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stdout.contains("  manufacturer: NOT shown complete: attested by 0 of the"),
        "{stdout}"
    );
    assert!(
        stderr.contains("does not show that nothing about the product was left out"),
        "{stderr}"
    );
    let accepted = run(&unattested, &["--allow-incomplete"]);
    assert!(accepted.status.success(), "{accepted:?}");
}

/// Runs, with `sh` in `dir`, every command of the demo's guide (its indented lines that are
/// not a node's line or a file), in order: each must succeed. The consumer's page is fetched;
/// the last history must show the event the walk recorded.
fn walk_the_guide(output: &str, dir: &Path) {
    let guide = &output[output.find("1. The consumer's page").expect(output)..];
    let mut ran = 0;
    let mut last = String::new();
    for line in guide.lines().filter_map(|l| l.strip_prefix("  ")) {
        let command = if line.starts_with("http://") {
            format!("curl -fsS '{line}'")
        } else if line.starts_with("curl ") || line.contains("/tally ") {
            line.to_owned()
        } else {
            continue;
        };
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if command.contains("/history") {
            last = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        ran += 1;
    }
    assert_eq!(ran, 9, "{guide}");
    assert!(
        last.contains("C2M-0002") && last.contains("commissioning"),
        "{last}"
    );
}

/// `DIR/demo.json`: where the demo's nodes are.
fn demo_file(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("demo.json")).unwrap()).unwrap()
}

fn heads_of(node: &Value) -> Value {
    let body = get(
        node["api_url"].as_str().unwrap(),
        node["api_token"].as_str().unwrap(),
        "/v1/heads",
    );
    serde_json::from_str(&body).unwrap()
}

/// Waits until `ready` holds, looking every 50 ms; fails the test, naming `what`, past
/// [`DEADLINE`]. The demo's own wait gives up after a minute and goes on, which a loaded
/// machine can exceed: a test waits for the state it asserts on instead of trusting that.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let give_up = Instant::now() + DEADLINE;
    while !ready() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `node` holds a quorum of witnesses for the tip of every chain it holds (a
/// witness's checkpoints cover a chain contiguously, so then every entry is witnessed).
fn every_tip_witnessed(node: &Value) -> bool {
    let (url, token) = (
        node["api_url"].as_str().unwrap(),
        node["api_token"].as_str().unwrap(),
    );
    heads_of(node)["heads"]
        .as_array()
        .unwrap()
        .iter()
        .all(|head| {
            let hash = head["hash"].as_str().unwrap();
            let view: Value =
                serde_json::from_str(&get(url, token, &format!("/v1/entries/{hash}/witness")))
                    .unwrap();
            view["witnessed"] == true
        })
}

#[test]
fn the_demo_consortium_runs_records_the_story_everywhere_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let file = demo_file(dir.path());
    let nodes = file["nodes"].as_array().unwrap();
    let members: Vec<&str> = nodes
        .iter()
        .map(|n| n["member"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        [
            "platform",
            "manufacturer",
            "supplier",
            "logistics",
            "regulator"
        ]
    );
    for node in nodes {
        assert_eq!(node["roles"].as_array().unwrap().len(), 1, "{node}");
        assert!(
            Path::new(node["data_dir"].as_str().unwrap()).is_dir(),
            "{node}"
        );
    }
    let products: Vec<&str> = file["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["digital_link"].as_str().unwrap())
        .collect();
    assert_eq!(
        products,
        [
            "https://id.gs1.org/01/09506000134352/21/C2M-0001",
            "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07"
        ]
    );
    // Each product's page is on the platform's node, and the sofa's label opens it.
    let platform_url = nodes[0]["api_url"].as_str().unwrap();
    let sofa_page = file["products"][0]["page"].as_str().unwrap();
    assert_eq!(
        sofa_page,
        format!("{platform_url}/01/09506000134352/21/C2M-0001")
    );
    assert_eq!(read_label(&dir.path().join("sofa-label.png")), sofa_page);

    // Every node holds every chain of the story, the same.
    wait_for("every node holds the story's four chains alike", || {
        let first = heads_of(&nodes[0]);
        first["heads"].as_array().unwrap().len() == 4
            && nodes[1..].iter().all(|node| heads_of(node) == first)
    });
    let heads = heads_of(&nodes[0]);
    let chains: Vec<(&str, u64)> = heads["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["member"].as_str().unwrap(), h["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        chains,
        [
            ("logistics", 1),
            ("manufacturer", 3),
            ("platform", 0),
            ("supplier", 1)
        ]
    );
    for node in &nodes[1..] {
        assert_eq!(heads_of(node), heads, "{}", node["member"]);
    }

    // The consumer's order is witnessed; the regulator's node gives the evidence, which
    // `tally witness verify` checks offline, and a changed signature is caught.
    let regulator = &nodes[4];
    wait_for("the regulator's node sees every entry witnessed", || {
        every_tip_witnessed(regulator)
    });
    let order = heads["heads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["member"] == "platform")
        .unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = get(
        regulator["api_url"].as_str().unwrap(),
        regulator["api_token"].as_str().unwrap(),
        &format!("/v1/entries/{order}/witness"),
    );
    let view: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(view["witnessed"], true, "{view}");
    assert_eq!(view["needed"], 3, "{view}");
    let witness_file = dir.path().join("witness.json");
    std::fs::write(&witness_file, &answer).unwrap();
    let genesis_file = dir.path().join("genesis.toml");
    let verify = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["witness", "verify"])
            .arg(file)
            .arg("--genesis")
            .arg(&genesis_file)
            .output()
            .unwrap()
    };
    let checked = verify(&witness_file);
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{stdout} {checked:?}");
    assert!(
        stdout.starts_with(&format!("witnessed: entry 0 of platform ({order})")),
        "{stdout}"
    );
    let mut tampered = view.clone();
    let signature = &mut tampered["evidence"]["witnesses"][0]["checkpoint"]["signature"];
    let text = signature.as_str().unwrap();
    let flipped = if text.starts_with('0') { "1" } else { "0" };
    *signature = Value::String(format!("{flipped}{}", &text[1..]));
    std::fs::write(&witness_file, tampered.to_string()).unwrap();
    let refused = verify(&witness_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("does not verify") && stderr.contains("not validly signed"),
        "{stderr}"
    );

    // The regulator's node answers the sofa's whole history; no consumer data is in it, only
    // the private field its role may read.
    // The price reaches the regulator's node point to point, maybe after the entries.
    let give_up = Instant::now() + DEADLINE;
    let history = loop {
        let history = get(
            regulator["api_url"].as_str().unwrap(),
            regulator["api_token"].as_str().unwrap(),
            &format!("/v1/products/{}/history", percent_encode(products[0])),
        );
        if history.contains("4999") || Instant::now() > give_up {
            break history;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let page: Value = serde_json::from_str(&history).unwrap();
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "order",
            "production_step",
            "quality_inspection",
            "hand_over",
            "receipt",
            "delivery"
        ]
    );
    for secret in ["Li Wei", "Example Road", "+86 571", "sage"] {
        assert!(!history.contains(secret), "{secret} leaked: {history}");
    }
    // The genesis policy lets the regulator's auditor role read the price, and its node was
    // sent it.
    assert!(history.contains("4999"), "{history}");

    // The sofa's evidence bundle from the regulator's node: `tally verify` checks it offline
    // and prints the custody it proves; a changed claim is caught.
    let bundle = get(
        regulator["api_url"].as_str().unwrap(),
        regulator["api_token"].as_str().unwrap(),
        &format!("/v1/products/{}/evidence", percent_encode(products[0])),
    );
    let bundle_file = dir.path().join("evidence.json");
    std::fs::write(&bundle_file, &bundle).unwrap();
    let verify_bundle = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .arg("verify")
            .arg(file)
            .arg("--genesis")
            .arg(&genesis_file)
            .output()
            .unwrap()
    };
    let checked = verify_bundle(&bundle_file);
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{stdout} {checked:?}");
    assert!(stdout.starts_with("valid: evidence bundle of"), "{stdout}");
    assert!(stdout.contains("manufacturer from"), "{stdout}");
    assert!(stdout.contains("logistics since"), "{stdout}");
    // The other members' nodes attested what they hold about the sofa: every chain is shown
    // complete.
    for member in [
        "platform",
        "manufacturer",
        "supplier",
        "logistics",
        "regulator",
    ] {
        assert!(
            stdout.contains(&format!("  {member}: complete,")),
            "{member}: {stdout}"
        );
    }
    left_out_entries_are_caught(&bundle, &genesis_file, dir.path());
    let mut tampered: Value = serde_json::from_str(&bundle).unwrap();
    tampered["report"]["provenance"]["custody"][0]["holder"] = Value::String("platform".into());
    std::fs::write(&bundle_file, tampered.to_string()).unwrap();
    let refused = verify_bundle(&bundle_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("does not verify") && stderr.contains("report does not follow"),
        "{stderr}"
    );

    // Every command the demo printed works when pasted, in the order printed.
    walk_the_guide(&demo.output(), dir.path());
    // The walk's event reached every node; those are the heads a restart must find.
    wait_for("every node holds the walk's event", || {
        let first = heads_of(&nodes[0]);
        first["heads"][1]["seq"] == 4 && nodes[1..].iter().all(|node| heads_of(node) == first)
    });
    let heads = heads_of(&nodes[0]);

    let output = demo.interrupt();
    assert!(
        output.contains("stopped; everything acknowledged is stored"),
        "{output}"
    );

    // Again on the same directory: the data is there, the story is not recorded twice.
    std::fs::remove_file(dir.path().join("demo.json")).unwrap();
    let demo = Demo::start(dir.path());
    assert!(demo.output().contains("the story is recorded already"));
    let file = demo_file(dir.path());
    for node in file["nodes"].as_array().unwrap() {
        assert_eq!(heads_of(node), heads, "{}", node["member"]);
    }
    demo.interrupt();
}

#[test]
fn a_directory_of_another_consortium_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.toml");
    std::fs::write(&genesis, "format = 1\n# not the demo's\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("holds a genesis that is not the demo consortium's"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&genesis).unwrap(),
        "format = 1\n# not the demo's\n"
    );
    assert!(!dir.path().join("demo.json").exists());
}

/// `tally` with `args` (and the token in `TALLY_TOKEN`): exit code, stdout, stderr.
fn tally(args: &[&str], token: &str) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_TOKEN", token)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_auditor_verifies_the_ledger_scores_the_members_and_exports_a_period() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path());
    let file = demo_file(dir.path());
    let nodes = file["nodes"].as_array().unwrap();
    let node = |member: &str| {
        nodes
            .iter()
            .find(|n| n["member"] == member)
            .unwrap()
            .clone()
    };
    let (regulator, logistics) = (node("regulator"), node("logistics"));
    let url = regulator["api_url"].as_str().unwrap().to_owned();
    let token = regulator["api_token"].as_str().unwrap().to_owned();
    let genesis = dir.path().join("genesis.toml");
    let genesis = genesis.to_str().unwrap();

    // Logistics acknowledges the sofa's hand-over a second time, now: a custody rule broken.
    let sofa = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
    let history: Value = serde_json::from_str(&get(
        &url,
        &token,
        &format!("/v1/products/{}/history", percent_encode(sofa)),
    ))
    .unwrap();
    let hand_over = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "hand_over")
        .unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_receipt = json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
        "eventTime": tally_sdk::time::Timestamp::now().to_rfc3339(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [sofa], "tally:receiptOf": hand_over
    });
    request(
        logistics["api_url"].as_str().unwrap(),
        logistics["api_token"].as_str().unwrap(),
        "POST",
        "/v1/events",
        &second_receipt.to_string(),
    );
    wait_for("the receipt reaches the regulator", || {
        heads_of(&regulator)
            .to_string()
            .contains(r#""member":"logistics","seq":2"#)
    });

    // Checkpoints witnessing the new receipt may still be on their way; the audit over HTTP
    // below is compared with the audit of the stopped node's directory, so both must see
    // the same, complete set: every entry witnessed.
    wait_for("the regulator's node sees every entry witnessed", || {
        every_tip_witnessed(&regulator)
    });

    // The audit over the regulator's API: everything verifies, the violation is a finding
    // (exit 3) on logistics' scorecard.
    let (code, stdout, stderr) = tally(
        &["audit", "verify", "--node", &url, "--genesis", genesis],
        &token,
    );
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("chains: 4, entries: 10"), "{stdout}");
    assert!(stdout.contains("verified: every signature"), "{stdout}");
    assert!(stdout.contains("receipt_already_given"), "{stdout}");
    assert!(stderr.contains("1 custody rule violation(s)"), "{stderr}");
    let (code, json_out, _) = tally(
        &[
            "audit",
            "verify",
            "--node",
            &url,
            "--genesis",
            genesis,
            "--json",
        ],
        &token,
    );
    assert_eq!(code, Some(3));
    let over_http: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(over_http["failures"], 0, "{over_http}");
    for chain in over_http["chains"].as_array().unwrap() {
        assert_eq!(chain["witnessed"], chain["entries"], "{over_http}");
    }
    let card_of = |summary: &Value, member: &str| {
        summary["scorecards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["member"] == member)
            .unwrap()
            .clone()
    };
    assert_eq!(card_of(&over_http, "logistics")["rule_violations"], 1);
    assert_eq!(card_of(&over_http, "manufacturer")["findings"], json!([]));

    // The node's scorecard of logistics is the audit's.
    let card: Value =
        serde_json::from_str(&get(&url, &token, "/v1/members/logistics/scorecard")).unwrap();
    assert_eq!(card, card_of(&over_http, "logistics"));

    // A period bundle of everything, checked by `tally verify`; a changed entry is caught.
    let period = dir.path().join("period.json");
    let period = period.to_str().unwrap();
    let (code, stdout, stderr) = tally(
        &[
            "audit",
            "export",
            "--node",
            &url,
            "--genesis",
            genesis,
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "-o",
            period,
        ],
        &token,
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("10 entries of 4 chains"), "{stdout}");
    let (code, stdout, stderr) = tally(&["verify", period, "--genesis", genesis], "");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("valid: period bundle from"), "{stdout}");
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(period).unwrap()).unwrap();
    tampered["chains"][0]["entries"][0]["entry"]["body"]["seq"] = json!(7);
    std::fs::write(period, tampered.to_string()).unwrap();
    let (code, _, stderr) = tally(&["verify", period, "--genesis", genesis], "");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("does not verify"), "{stderr}");

    demo.interrupt();

    // The regulator's data directory, read from disk, gives the same audit.
    let data_dir = regulator["data_dir"].as_str().unwrap();
    let (code, json_out, stderr) = tally(
        &[
            "audit",
            "verify",
            "--data-dir",
            data_dir,
            "--genesis",
            genesis,
            "--json",
        ],
        "",
    );
    assert_eq!(code, Some(3), "{stderr}");
    let on_disk: Value = serde_json::from_str(&json_out).unwrap();
    for field in [
        "entries",
        "chains",
        "products",
        "violations",
        "scorecards",
        "failures",
    ] {
        assert_eq!(on_disk[field], over_http[field], "{field}");
    }

    // Bad sources are refused with a reason.
    let (code, _, stderr) = tally(
        &[
            "audit",
            "verify",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--genesis",
            genesis,
        ],
        "",
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("holds no store"), "{stderr}");
    let (code, _, stderr) = tally(
        &[
            "audit",
            "verify",
            "--node",
            "https://127.0.0.1:1",
            "--genesis",
            genesis,
        ],
        "x",
    );
    // HTTPS is spoken now (cli/tests/cli.rs); nothing listens there.
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot connect to 127.0.0.1:1"), "{stderr}");
    let (code, _, _) = tally(&["audit", "verify", "--genesis", genesis], "");
    assert_eq!(code, Some(2));
}
