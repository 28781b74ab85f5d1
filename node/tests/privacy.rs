//! The privacy promise, with the five real `tally-node` processes of the demo consortium on
//! 127.0.0.1 (free ports, real RocksDB, real libp2p, every log at trace level): the platform
//! captures an order whose consumer address holds a unique canary string.
//!
//! - The address reaches the logistics firm's node only (sealed to its key, point to point),
//!   also when that node was down at capture time; the spec reaches the manufacturer's, the
//!   price the regulator's.
//! - The canary is in no byte of an unauthorised node's data directory (raw file bytes after
//!   flush and compaction, and every key and value of every column family read through
//!   RocksDB), in no public entry (what gossip carries), in no API answer to a token that may
//!   not read it, and in no log line of any node.
//! - A disclosure of just the address verifies with the SDK alone; one with a changed value
//!   does not.
//! - After the platform purges the address, the canary is in no byte of any node's data
//!   directory, the chains still verify, and the API says the field was purged.
//!
//! Every wait is on a condition, with a deadline that only bounds a failing run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::path::{Path, PathBuf};

use common::consortium::{Member, p2p_address, wait_for};
use common::{Running, TOKEN};
use serde_json::{Value, json};
use tally_node::store::rocks::RocksStore;
use tally_node::store::{Cf, KeyRange, Store};
use tally_sdk::entry::SignedEntry;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::reports::disclosed::EntryDisclosure;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::{ChainTip, Verifier};

/// The unique string in the consumer's address.
const CANARY: &str = "CANARY-7f3a9c2e-privacy";
/// A read token with the supplier's role, on every node.
const SUPPLIER_TOKEN: &str = "fedcba9876543210fedcba9876543210-supplier";
/// A read token with the logistics role, on every node.
const LOGISTICS_TOKEN: &str = "0011223344556677889900112233445566-logistics";

/// A member's node with every log at trace level (the canary must be in none) and read
/// tokens with the supplier's and the logistics firm's roles.
fn member(root: &Path, keys: &MemberKeys) -> Member {
    Member {
        log: "trace",
        p2p: "",
        tables: format!(
            "[[tokens]]\nname = \"supplier-desk\"\nsecret = \"{SUPPLIER_TOKEN}\"\nscope = \"read\"\nrole = \"supplier\"\n\
             [[tokens]]\nname = \"courier-desk\"\nsecret = \"{LOGISTICS_TOKEN}\"\nscope = \"read\"\nrole = \"logistics\"\n"
        ),
        ..Member::new(root, keys)
    }
}

/// The state and value of private field `field` of entry `hash` as `token` sees it on `node`.
fn field(node: &Running, token: &str, hash: &str, field: &str) -> (String, Value, String) {
    let (status, text) = common::exchange(
        node.address,
        token,
        "GET",
        &format!("/v1/entries/{hash}"),
        "",
    )
    .unwrap();
    if status != 200 {
        return (format!("http {status}"), Value::Null, text);
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let view = body["private"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["name"] == field))
        .cloned()
        .unwrap_or(Value::Null);
    (
        view["state"].as_str().unwrap_or("absent").to_owned(),
        view["value"].clone(),
        text,
    )
}

/// Waits until `node` shows `field` of `hash` in `state` to its member token.
fn wait_field(node: &Running, hash: &str, name: &str, state: &str) -> Value {
    wait_for(&format!("{name} of {hash} to be {state}"), || {
        let (found, value, text) = field(node, TOKEN, hash, name);
        if found == state { Ok(value) } else { Err(text) }
    })
}

fn heads(node: &Running) -> Result<Vec<(String, u64)>, String> {
    let (status, body) =
        common::request(node.address, "GET", "/v1/heads", None).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status} {body}"));
    }
    Ok(body["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["member"].as_str().unwrap().to_owned(),
                h["seq"].as_u64().unwrap(),
            )
        })
        .collect())
}

/// Waits until every node holds `count` entries of the platform's chain.
fn replicated(nodes: &[&Running], count: u64) {
    wait_for("the platform's chain to reach every node", || {
        for node in nodes {
            let heads = heads(node)?;
            if !heads
                .iter()
                .any(|(m, seq)| m == "platform" && seq + 1 == count)
            {
                return Err(format!("{heads:?}"));
            }
        }
        Ok(())
    });
}

/// Every entry of every chain on `node`, verified with the SDK alone.
fn verified_entries(node: &Running, genesis: &Consortium) -> Vec<SignedEntry> {
    let verifier = Verifier::new(genesis, Timestamp::now());
    let mut all = Vec::new();
    for (member, _) in heads(node).unwrap() {
        let (status, body) = node.request("GET", &format!("/v1/chains/{member}?limit=1000"), None);
        assert_eq!(status, 200, "{body}");
        let mut tip: Option<ChainTip> = None;
        for item in body["items"].as_array().unwrap() {
            let entry: SignedEntry = serde_json::from_value(item["entry"].clone()).unwrap();
            let verified = verifier.verify(entry.clone(), tip.as_ref()).unwrap();
            tip = Some(ChainTip::of(&verified));
            all.push(entry);
        }
    }
    all
}

/// Where `canary` is in a stopped node's data directory: raw file bytes, and every key and
/// value of every column family read through RocksDB (block compression can hide a string
/// from a raw scan). With `compact`, the store is flushed and compacted first.
fn canary_in_store(data: &Path, genesis: &Consortium, compact: bool, canary: &str) -> Vec<String> {
    let mut found = Vec::new();
    {
        let (store, _) = RocksStore::open(data, genesis.network_id()).unwrap();
        if compact {
            store.compact().unwrap();
        }
        for cf in Cf::ALL {
            for (key, value) in store.scan(cf, &KeyRange::prefix(&[]), usize::MAX).unwrap() {
                if contains(&key, canary) || contains(&value, canary) {
                    found.push(format!("column family {}", cf.name()));
                }
            }
        }
    }
    for file in files(data) {
        if contains(&std::fs::read(&file).unwrap(), canary) {
            found.push(file.display().to_string());
        }
    }
    found
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else {
            all.push(path);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Stops a node with SIGTERM and returns its whole log.
fn stop(node: Running) -> String {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let (exit, log) = node.wait();
    assert!(exit.success(), "{log}");
    log
}

#[test]
fn private_fields_reach_only_their_readers_are_provable_and_purge_leaves_no_trace() {
    let root = tempfile::tempdir().unwrap();
    let (signed, keys) = demo_consortium().unwrap();
    std::fs::write(
        root.path().join("genesis.toml"),
        signed.to_toml("").unwrap(),
    )
    .unwrap();
    let genesis = signed.verify().unwrap();
    let members: Vec<Member> = keys.iter().map(|k| member(root.path(), k)).collect();
    let index = |name: &str| members.iter().position(|m| m.name == name).unwrap();
    let (platform, manufacturer, supplier, logistics, regulator) = (
        index("platform"),
        index("manufacturer"),
        index("supplier"),
        index("logistics"),
        index("regulator"),
    );

    // Everyone but the logistics firm is up: its fields wait for it.
    let mut nodes: Vec<Option<Running>> = (0..members.len()).map(|_| None).collect();
    let mut addresses = Vec::new();
    for i in [platform, manufacturer, supplier, regulator] {
        let node = members[i].start(&addresses);
        addresses.push(p2p_address(&node));
        nodes[i] = Some(node);
    }
    let address = format!("1 {CANARY} Road, Hangzhou");
    let capture = json!({
        "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
        "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
        "epcList": [common::product(1)], "tally:kind": "order",
        "private": {
            "consumer.name": "Li Wei",
            "consumer.phone": "+86 571 0000 0000",
            "consumer.address": address,
            "order.spec": {"model": "sofa-3", "fabric": "linen", "length_cm": 212},
            "order.price": {"amount": "4999.00", "currency": "CNY"},
        },
    });
    let (status, body) =
        nodes[platform]
            .as_ref()
            .unwrap()
            .request("POST", "/v1/events", Some(&capture));
    assert_eq!(status, 201, "{body}");
    let hash = body["entries"][0]["hash"].as_str().unwrap().to_owned();

    // Bad input: unknown field, oversized value; nothing is stored.
    let (status, body) = nodes[platform].as_ref().unwrap().request(
        "POST",
        "/v1/events",
        Some(&json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "epcList": [common::product(2)], "tally:kind": "order",
            "private": {"consumer.shoe_size": 42},
        })),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].to_string().contains("consumer.shoe_size")
            || body.to_string().contains("consumer.shoe_size"),
        "{body}"
    );
    let (status, body) = nodes[platform].as_ref().unwrap().request(
        "POST",
        "/v1/events",
        Some(&json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "epcList": [common::product(3)], "tally:kind": "order",
            "private": {"order.spec": "x".repeat(70_000)},
        })),
    );
    assert!(matches!(status, 413 | 422), "{status} {body}");
    assert_eq!(
        heads(nodes[platform].as_ref().unwrap()).unwrap(),
        vec![("platform".to_owned(), 0)]
    );

    // The manufacturer gets the spec, the regulator the price; nobody else anything.
    let spec = wait_field(
        nodes[manufacturer].as_ref().unwrap(),
        &hash,
        "order.spec",
        "shown",
    );
    assert_eq!(spec["model"], "sofa-3");
    let price = wait_field(
        nodes[regulator].as_ref().unwrap(),
        &hash,
        "order.price",
        "shown",
    );
    assert_eq!(price["amount"], "4999.00");
    let (state, _, text) = field(
        nodes[manufacturer].as_ref().unwrap(),
        TOKEN,
        &hash,
        "consumer.address",
    );
    assert_eq!(state, "withheld", "{text}");
    assert!(!text.contains(CANARY));

    // The logistics firm's node starts late and still gets the address.
    let node = members[logistics].start(&addresses);
    addresses.push(p2p_address(&node));
    nodes[logistics] = Some(node);
    let shown = wait_field(
        nodes[logistics].as_ref().unwrap(),
        &hash,
        "consumer.address",
        "shown",
    );
    assert_eq!(shown, json!(address));
    assert_eq!(
        field(
            nodes[logistics].as_ref().unwrap(),
            TOKEN,
            &hash,
            "order.spec"
        )
        .0,
        "withheld"
    );
    let all: Vec<&Running> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    replicated(&all, 1);

    // What a token may not read is never in an answer: on every node (the platform's holds
    // everything) to the supplier's read token; a logistics read token reads the address.
    for node in &all {
        for path in [
            format!("/v1/entries/{hash}"),
            "/v1/chains/platform".to_owned(),
            format!("/v1/products/{}/history", urlencode(&common::product(1))),
            "/v1/events?kind=order".to_owned(),
        ] {
            let (status, text) =
                common::exchange(node.address, SUPPLIER_TOKEN, "GET", &path, "").unwrap();
            assert_eq!(status, 200, "{path}: {text}");
            assert!(
                !text.contains(CANARY),
                "{path} leaks to the supplier's token: {text}"
            );
        }
    }
    let platform_node = all[platform];
    let (state, value, _) = field(platform_node, LOGISTICS_TOKEN, &hash, "consumer.address");
    assert_eq!((state.as_str(), value), ("shown", json!(address)));
    let (state, _, _) = field(platform_node, LOGISTICS_TOKEN, &hash, "order.price");
    assert_eq!(state, "withheld");
    let (status, text) = common::exchange(
        platform_node.address,
        SUPPLIER_TOKEN,
        "POST",
        &format!("/v1/entries/{hash}/disclosures"),
        r#"{"fields":["consumer.address"]}"#,
    )
    .unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("application/problem+json") || text.contains("\"status\":403"),
        "{text}"
    );
    assert!(!text.contains(CANARY));
    for (body, expected) in [
        (r#"{"fields":["consumer.shoe_size"]}"#, 400),
        (r#"{"fields":[]}"#, 400),
        (r#"{"fields":"consumer.address"}"#, 400),
        (r#"not json"#, 400),
    ] {
        let (status, text) = common::exchange(
            platform_node.address,
            TOKEN,
            "POST",
            &format!("/v1/entries/{hash}/disclosures"),
            body,
        )
        .unwrap();
        assert_eq!(status, expected, "{body}: {text}");
    }

    // A disclosure of just the address verifies offline, from the author's node and from the
    // reader's; a changed value does not.
    let verifier = Verifier::new(&genesis, Timestamp::now());
    for node in [all[platform], all[logistics]] {
        let (status, body) = node.request(
            "POST",
            &format!("/v1/entries/{hash}/disclosures"),
            Some(&json!({"fields": ["consumer.address"]})),
        );
        assert_eq!(status, 200, "{body}");
        let disclosure: EntryDisclosure = serde_json::from_value(body).unwrap();
        let (checked, fields) = disclosure.verify(&verifier).unwrap();
        assert_eq!(checked.to_hex(), hash);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].value.to_value().unwrap(), json!(address));
        let mut changed = disclosure.clone();
        changed.disclosure.fields[0].value =
            tally_sdk::codec::CanonicalJson::from_value(&json!("2 Other Road")).unwrap();
        assert!(changed.verify(&verifier).is_err());
    }
    let (status, body) = all[logistics].request(
        "POST",
        &format!("/v1/entries/{hash}/disclosures"),
        Some(&json!({"fields": ["order.spec"]})),
    );
    assert_eq!(
        status, 403,
        "the logistics firm's member may not read the spec: {body}"
    );

    // The public entries (all that gossip carries) hold no private value.
    for entry in verified_entries(all[supplier], &genesis) {
        assert!(!serde_json::to_string(&entry).unwrap().contains(CANARY));
        assert!(!contains(&entry.to_bytes().unwrap(), CANARY));
    }

    // Stop everyone; check disks and logs.
    drop(all);
    let mut logs = Vec::new();
    for (i, slot) in nodes.iter_mut().enumerate() {
        logs.push((i, stop(slot.take().unwrap())));
    }
    for (i, log) in &logs {
        assert!(
            !log.contains(CANARY),
            "{}'s log holds the canary",
            members[*i].name
        );
        assert!(log.lines().count() > 100, "trace logging is on");
    }
    for i in [manufacturer, supplier, regulator] {
        let found = canary_in_store(&members[i].data(), &genesis, true, CANARY);
        assert!(
            found.is_empty(),
            "{}'s node holds the canary: {found:?}",
            members[i].name
        );
    }
    for i in [platform, logistics] {
        let found = canary_in_store(&members[i].data(), &genesis, false, CANARY);
        assert!(
            found.iter().any(|f| f == "column family private"),
            "the authorised {}'s node holds the address (the scan can fail): {found:?}",
            members[i].name
        );
    }

    // The platform purges the address; every node erases it; the chains still verify.
    let mut addresses = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let node = member.start(&addresses);
        addresses.push(p2p_address(&node));
        nodes[i] = Some(node);
    }
    let all: Vec<&Running> = nodes.iter().map(|n| n.as_ref().unwrap()).collect();
    let (status, body) = all[logistics].request(
        "POST",
        &format!("/v1/entries/{hash}/purge"),
        Some(&json!({"fields": ["consumer.address"]})),
    );
    assert_eq!(status, 403, "only the author purges: {body}");
    let (status, body) = all[platform].request(
        "POST",
        &format!("/v1/entries/{hash}/purge"),
        Some(&json!({"fields": ["consumer.address"]})),
    );
    assert_eq!(status, 201, "{body}");
    replicated(&all, 2);
    for node in &all {
        wait_for("the purge to be carried out", || {
            let (state, _, text) = field(node, TOKEN, &hash, "consumer.address");
            if state == "purged" { Ok(()) } else { Err(text) }
        });
        assert_eq!(verified_entries(node, &genesis).len(), 2);
    }
    let (status, body) = all[platform].request(
        "POST",
        &format!("/v1/entries/{hash}/disclosures"),
        Some(&json!({"fields": ["consumer.address"]})),
    );
    assert_eq!(status, 409, "{body}");
    let spec = wait_field(all[manufacturer], &hash, "order.spec", "shown");
    assert_eq!(spec["model"], "sofa-3", "other fields stay");
    drop(all);
    for (i, slot) in nodes.iter_mut().enumerate() {
        let log = stop(slot.take().unwrap());
        assert!(
            !log.contains(CANARY),
            "{}'s log holds the canary",
            members[i].name
        );
    }
    for member in &members {
        let found = canary_in_store(&member.data(), &genesis, false, CANARY);
        assert!(
            found.is_empty(),
            "{}'s node still holds the canary after the purge: {found:?}",
            member.name
        );
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Issue 21: every spelling of private fields, on both routes that sign events, keeps the
/// value off every other node. The platform records three orders whose consumer address holds
/// a canary: `private` and `tally:private` on `/v1/events`, and `tally:private` on
/// `/epcis/capture`; a fourth capture spells it `private`, which EPCIS does not know. No node
/// but the platform's may read the address (the logistics firm's is not running), so the
/// canary must be in no answer of any other node, and in no byte of its data directory once
/// the orders have reached it.
#[test]
fn each_spelling_of_private_fields_keeps_the_value_off_every_other_node() {
    const SPELLED: &str = "CANARY-5be1d04a-spelling";
    let root = tempfile::tempdir().unwrap();
    let (signed, keys) = demo_consortium().unwrap();
    std::fs::write(
        root.path().join("genesis.toml"),
        signed.to_toml("").unwrap(),
    )
    .unwrap();
    let genesis = signed.verify().unwrap();
    let members: Vec<Member> = keys
        .iter()
        .filter(|k| k.member.as_str() != "logistics")
        .map(|k| member(root.path(), k))
        .collect();
    let mut nodes = Vec::new();
    let mut addresses = Vec::new();
    for member in &members {
        let node = member.start(&addresses);
        addresses.push(p2p_address(&node));
        nodes.push(node);
    }
    let platform = members.iter().position(|m| m.name == "platform").unwrap();
    let address = |n: u32| format!("{n} {SPELLED} Road, Hangzhou");
    let order = |serial: u64, spelling: &str, n: u32| {
        let mut event = json!({
            "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
            "epcList": [common::product(serial)], "tally:kind": "order",
        });
        event[spelling] = json!({"consumer.address": address(n)});
        event
    };
    let capture = |event: Value| {
        json!({
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"tally": "https://ns.tally.dev/epcis/"}
            ],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-03-01T07:00:00Z",
            "epcisBody": {"eventList": [event]},
        })
        .to_string()
    };
    let author = &nodes[platform];
    let mut recorded = Vec::new();
    for (serial, spelling) in [(11, "private"), (12, "tally:private")] {
        let (status, body) =
            author.request("POST", "/v1/events", Some(&order(serial, spelling, 1)));
        assert_eq!(status, 201, "{spelling}: {body}");
        recorded.push(body["entries"][0]["hash"].as_str().unwrap().to_owned());
    }
    let (status, text) = common::exchange(
        author.address,
        TOKEN,
        "POST",
        "/epcis/capture",
        &capture(order(13, "tally:private", 3)),
    )
    .unwrap();
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("\"success\":true"), "{text}");
    // `private` is not an EPCIS member: the capture is refused whole, nothing signed.
    let (status, text) = common::exchange(
        author.address,
        TOKEN,
        "POST",
        "/epcis/capture",
        &capture(order(14, "private", 4)),
    )
    .unwrap();
    assert!(
        (400..500).contains(&status) || text.contains("\"success\":false"),
        "{status} {text}"
    );
    let all: Vec<&Running> = nodes.iter().collect();
    replicated(&all, 3);
    // Every order holds the address, withheld from the author's own read of other nodes.
    for (i, node) in nodes.iter().enumerate() {
        for hash in &recorded {
            let (state, _, text) = field(node, TOKEN, hash, "consumer.address");
            let expected = if i == platform { "shown" } else { "withheld" };
            assert_eq!(state, expected, "{}: {text}", members[i].name);
        }
    }

    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != platform) {
        let mut paths = vec![
            "/v1/chains/platform".to_owned(),
            "/v1/events?kind=order".to_owned(),
            "/epcis/events".to_owned(),
        ];
        paths.extend(recorded.iter().map(|hash| format!("/v1/entries/{hash}")));
        for serial in 11..=14 {
            paths.push(format!(
                "/v1/products/{}/history",
                urlencode(&common::product(serial))
            ));
            paths.push(common::product_path(serial));
        }
        for path in paths {
            let (status, text) = common::request_text(node.address, &path).unwrap();
            assert!(status < 500, "{path}: {status} {text}");
            assert!(
                !text.contains(SPELLED),
                "{}'s node answers {path} with the canary: {text}",
                members[i].name
            );
        }
    }
    for node in &nodes {
        for entry in verified_entries(node, &genesis) {
            assert!(!contains(&entry.to_bytes().unwrap(), SPELLED));
        }
    }

    drop(all);
    for node in nodes {
        stop(node);
    }
    for (i, member) in members.iter().enumerate() {
        let found = canary_in_store(&member.data(), &genesis, i != platform, SPELLED);
        if i == platform {
            // The author keeps the values: the scan finds them where they are.
            assert!(!found.is_empty(), "the scan can fail");
        } else {
            assert!(
                found.is_empty(),
                "{}'s node holds the canary: {found:?}",
                member.name
            );
        }
    }
}
