//! Replication between real `tally-node` processes on 127.0.0.1 (free ports, real RocksDB,
//! real libp2p): four members' nodes converge on the same chains; one killed with `kill -9`
//! while the others go on writing catches up by itself when it restarts; entries written
//! before, during and after its absence end up witnessed on every node, with evidence the SDK
//! checks alone; a peer whose key is
//! not in the genesis is refused at connection time; a member that signs two entries at one
//! place (handing each to a different node) leaves a fork proof on every node.
//!
//! Nodes listen on port 0 and report their address on `GET /v1/network`; each node
//! bootstraps from those started before it. Every wait is on a condition, with a deadline
//! that only bounds a failing run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

use std::time::Duration;

use common::Running;
use common::consortium::{
    DEADLINE, Member, converged, demo_root, heads, heads_of_chain, metric, p2p_address,
    restored_from_backup, verify_all, wait_for, witnessed, write_events,
};
use futures::StreamExt;
use serde_json::Value;
use tally_sdk::ids::{MemberId, RoleName};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::governance::Removal;
use tally_sdk::membership::governance::{Action, ChangeBody, ChangeLog, SignedChange};
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::fork::ForkProof;

#[test]
fn four_nodes_converge_catch_up_refuse_outsiders_and_all_prove_a_fork() {
    let (root, genesis, keys) = demo_root();
    // Platform, manufacturer, supplier, logistics; the regulator's node is not run.
    let members: Vec<Member> = keys[..4]
        .iter()
        .map(|k| Member::new(root.path(), k))
        .collect();
    let mut nodes: Vec<Running> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    for member in &members {
        let node = member.start(&addresses);
        addresses.push(p2p_address(&node));
        nodes.push(node);
    }

    // Writes on all four converge.
    for (node, member) in nodes.iter().zip(&members) {
        write_events(node, &member.name, 0, 30);
    }
    let all: Vec<&Running> = nodes.iter().collect();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let expected: Vec<(&str, u64)> = names.iter().map(|n| (*n, 30)).collect();
    converged(&all, &expected);

    // The supplier's node is killed; the others go on writing.
    let supplier = 2;
    let mut killed = nodes.remove(supplier);
    killed.child.kill().unwrap();
    drop(killed.wait());
    for (i, node) in nodes.iter().enumerate() {
        let name = names[if i < supplier { i } else { i + 1 }];
        write_events(node, name, 30, 40);
    }
    let survivors: Vec<&Running> = nodes.iter().collect();
    let mut expected: Vec<(&str, u64)> = names.iter().map(|n| (*n, 70)).collect();
    expected[supplier].1 = 30;
    converged(&survivors, &expected);
    // The survivors witness what was written meanwhile. The supplier stays down until
    // gossipsub has forgotten those checkpoints (its message cache spans 5 heartbeats of 1 s),
    // so that it can only get them by pulling: this wait sets up the case, nothing waits on it.
    let (_, written_meanwhile) = heads_of_chain(&nodes[0], "manufacturer", 50);
    for node in &nodes {
        wait_for("the survivors' checkpoints", || {
            let path = format!("/v1/entries/{written_meanwhile}/witness");
            let (status, body) = node.request("GET", &path, None);
            if status == 200 && body["witnesses"] == serde_json::json!(["logistics", "platform"]) {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        });
    }
    std::thread::sleep(Duration::from_secs(7));

    // It restarts (on a new port, knowing where the others are) and catches up by itself.
    let others: Vec<String> = addresses
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != supplier)
        .map(|(_, a)| a.clone())
        .collect();
    let restarted = members[supplier].start(&others);
    nodes.insert(supplier, restarted);
    write_events(&nodes[supplier], names[supplier], 30, 10);
    expected[supplier].1 = 40;
    let all: Vec<&Running> = nodes.iter().collect();
    let heads = converged(&all, &expected);
    assert_eq!(heads.len(), 4);
    for node in &nodes {
        assert_eq!(verify_all(node, &genesis), 70 * 3 + 40);
    }

    // Entries from before, during and after the supplier's absence are witnessed on every
    // node by the three other running members (the quorum is 3; the regulator runs no node).
    let hash_at = |member: &str, seq: u64| heads_of_chain(&nodes[0], member, seq);
    let samples = [
        hash_at("platform", 0),
        hash_at("manufacturer", 50),
        hash_at("supplier", 35),
        hash_at("logistics", 69),
    ];
    for node in &nodes {
        for (author, hash) in &samples {
            let witnesses = witnessed(node, &genesis, hash);
            let mut expected: Vec<String> = names
                .iter()
                .filter(|n| *n != author)
                .map(|n| n.to_string())
                .collect();
            expected.sort();
            assert_eq!(witnesses, expected, "{author}'s entry {hash}");
        }
    }
    cosigned_heads_check_with_c2sp_tools_alone(&nodes[0], &genesis);

    // A peer whose key the genesis does not list is refused at connection time.
    let target = &nodes[0];
    let before = metric(target, "tally_p2p_refused_connections_total");
    let address: libp2p::Multiaddr = addresses[0].parse().unwrap();
    let outsider_saw = outsider_dial(address);
    assert!(
        outsider_saw.contains("closed") || outsider_saw.contains("error"),
        "the outsider's connection was not refused: {outsider_saw}"
    );
    wait_for("the refusal to be counted", || {
        let now = metric(target, "tally_p2p_refused_connections_total");
        if now > before {
            Ok(())
        } else {
            Err(format!("refused {now}"))
        }
    });
    let (_, network) = target.request("GET", "/v1/network", None);
    let peers = network["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 4, "{network}");
    assert!(
        peers
            .iter()
            .filter(|p| p["connected"] == true)
            .all(|p| names.contains(&p["member"].as_str().unwrap())),
        "{network}"
    );

    // A member equivocates: the regulator (whose node is not running) signs two different
    // entries at sequence number 0. It hands one to the platform's node; once every node holds
    // it, it hands the other to the manufacturer's node, which refuses it (409) and records the
    // pair as a fork proof. Replication gets the proof to every node.
    let regulator = &keys[4];
    let signed_as_regulator = |serial: u64| {
        common::chain_of(&genesis, regulator, 0, 1, None, |_| {
            common::arrival(&regulator.member, serial)
        })
        .remove(0)
    };
    let (one, other) = (signed_as_regulator(1), signed_as_regulator(2));
    let body = serde_json::to_value([&one]).unwrap();
    let (status, answer) = nodes[0].request("POST", "/v1/entries", Some(&body));
    assert_eq!(status, 201, "{answer}");
    expected.push(("regulator", 1));
    converged(&all, &expected);
    let body = serde_json::to_value([&other]).unwrap();
    let (status, answer) = nodes[1].request("POST", "/v1/entries", Some(&body));
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("fork proof"),
        "{answer}"
    );
    let mut both = [one.hash().unwrap().to_hex(), other.hash().unwrap().to_hex()];
    both.sort();
    let verifier = Verifier::new(&genesis, tally_sdk::time::Timestamp::now());
    for (node, name) in nodes.iter().zip(&names) {
        let forks = wait_for(&format!("the fork proof on {name}'s node"), || {
            let (status, body) = node.request("GET", "/v1/forks", None);
            match body["forks"].as_array() {
                Some(forks) if status == 200 && !forks.is_empty() => Ok(body.clone()),
                _ => Err(format!("{status} {body}")),
            }
        });
        assert_eq!(
            forks["flagged"],
            serde_json::json!(["regulator"]),
            "{forks}"
        );
        let fork = &forks["forks"][0];
        assert_eq!(
            (fork["member"].as_str(), fork["seq"].as_u64()),
            (Some("regulator"), Some(0))
        );
        assert_eq!(fork["hashes"], serde_json::json!(both));
        let proof: ForkProof = serde_json::from_value(fork["proof"].clone()).unwrap();
        let checked = proof.verify(&verifier).unwrap();
        assert_eq!(checked.author, regulator.member);
    }
    for node in nodes {
        drop(node);
    }
}

/// Dials `address` from a fresh libp2p identity that is not a member; says how it ended.
fn outsider_dial(address: libp2p::Multiaddr) -> String {
    use libp2p::swarm::SwarmEvent;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|_| libp2p::ping::Behaviour::default())
            .unwrap()
            .build();
        swarm.dial(address).unwrap();
        let deadline = tokio::time::sleep(DEADLINE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionClosed { cause, .. } => {
                        return format!("closed: {cause:?}");
                    }
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        return format!("error: {error}");
                    }
                    _ => {}
                },
                () = &mut deadline => return "still connected at the deadline".to_owned(),
            }
        }
    })
}

/// `action` as the next change of `genesis`, approved by the demo's first three founders
/// (platform, manufacturer, supplier: the threshold).
fn approved(genesis: &Consortium, keys: &[MemberKeys], action: Action) -> SignedChange {
    let body = ChangeBody::next(genesis, Timestamp::now(), "test".into(), action);
    let mut change = SignedChange::draft(body);
    for founder in &keys[..3] {
        change
            .approve(genesis, &founder.member, &founder.signing)
            .unwrap();
    }
    change
}

#[test]
fn a_member_admitted_by_governance_replicates_and_a_removed_one_may_not_run() {
    let (root, genesis, keys) = demo_root();
    let courier = MemberKeys::generate(MemberId::new("courier").unwrap()).unwrap();
    let admission = approved(
        &genesis,
        &keys,
        Action::AddMember(tally_sdk::membership::genesis::Member {
            id: courier.member.clone(),
            name: "Courier North Ltd.".into(),
            roles: vec![RoleName::new("logistics").unwrap()],
            founder: false,
            signing_key: courier.signing.public_key(),
            x25519_key: courier.x25519.public_key(),
            peer_id: courier.peer_id(),
            addresses: Vec::new(),
        }),
    );
    let mut log = ChangeLog::new();
    log.changes.push(admission);
    let write_log = |log: &ChangeLog| {
        std::fs::write(
            root.path().join("changes.json"),
            serde_json::to_vec_pretty(log).unwrap(),
        )
        .unwrap()
    };
    write_log(&log);

    // The manufacturer's node knows the change; the courier's node, admitted by it, connects
    // and the two replicate both ways.
    let manufacturer = Member::with_changes(root.path(), &keys[1]);
    let courier_member = Member::with_changes(root.path(), &courier);
    let factory = manufacturer.start(&[]);
    let factory_address = p2p_address(&factory);
    let courier_node = courier_member.start(std::slice::from_ref(&factory_address));
    write_events(&factory, "manufacturer", 0, 5);
    write_events(&courier_node, "courier", 0, 5);
    converged(
        &[&factory, &courier_node],
        &[("manufacturer", 5), ("courier", 5)],
    );
    let current = log.apply_to(&genesis).unwrap();
    assert_eq!(verify_all(&factory, &current), 10);
    // The node shows the change it applies, which the SDK checks against the genesis alone.
    let (status, shown) = factory.request("GET", "/v1/governance", None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["changes"][0]["approved_by"],
        serde_json::json!(["platform", "manufacturer", "supplier"])
    );
    let served: SignedChange =
        serde_json::from_value(shown["changes"][0]["change"].clone()).unwrap();
    assert_eq!(
        genesis.apply(&served).unwrap().last_change(),
        current.last_change()
    );
    let standing = |shown: &Value| {
        shown["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["member"] == "courier")
            .cloned()
            .unwrap()
    };
    assert_eq!(standing(&shown)["active"], true);

    // The supplier's node starts with no change log: it gets the admission from the factory
    // by replication, while it runs, and then takes the courier's node as a member's.
    let supplier = Member::new(root.path(), &keys[2]);
    let supplier_node = supplier.start(std::slice::from_ref(&factory_address));
    wait_for("the admission to reach the supplier's node", || {
        changes_applied(&supplier_node, 1)
    });
    converged(
        &[&factory, &courier_node, &supplier_node],
        &[("manufacturer", 5), ("courier", 5)],
    );

    // The founders remove the courier from its entry 5 on and give the removal to the
    // supplier's node, which applies it at once; replication takes it to the factory's, and
    // both drop the courier's node and let it in no more.
    let removal = approved(
        &current,
        &keys,
        Action::RemoveMember {
            member: courier.member.clone(),
            until: Removal {
                entries_below: 5,
                checkpoints_below: 1_000,
            },
        },
    );
    let body = serde_json::to_value(&removal).unwrap();
    let (status, shown) = supplier_node.request("POST", "/v1/governance/changes", Some(&body));
    assert_eq!(status, 201, "{shown}");
    assert_eq!(standing(&shown)["active"], false);
    let (status, again) = supplier_node.request("POST", "/v1/governance/changes", Some(&body));
    assert_eq!(status, 200, "applied already: {again}");
    wait_for("the removal to reach the factory's node", || {
        changes_applied(&factory, 2)
    });
    for node in [&factory, &supplier_node] {
        wait_for("the courier's node to be let in nowhere", || {
            let (_, network) = node.request("GET", "/v1/network", None);
            let listed = network["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["member"] == "courier");
            if listed {
                Err(network.to_string())
            } else {
                Ok(())
            }
        });
    }
    // Cut off, the courier's node does not learn of the removal from its peers; what it signs
    // now reaches no one.
    write_events(&courier_node, "courier", 5, 1);
    let (_, shown) = factory.request("GET", "/v1/governance", None);
    assert_eq!(standing(&shown)["active"], false);
    assert_eq!(standing(&shown)["removed"]["entries_below"], 5);

    // The courier's operator installs the log with the removal: its node may no longer run.
    // The factory keeps the courier's chain (entries 0 to 4) and the removal across a
    // restart, with no change log configured: the change is stored.
    log.changes.push(removal);
    write_log(&log);
    let mut courier_node = courier_node;
    courier_node.child.kill().unwrap();
    drop(courier_node.wait());
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_tally-node"))
        .arg("--config")
        .arg(&courier_member.config)
        .env_remove("TALLY_LOG_LEVEL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("removed"), "{stderr}");
    let mut factory = factory;
    factory.child.kill().unwrap();
    drop(factory.wait());
    let factory = Member::new(root.path(), &keys[1]).start(&[]);
    let heads = heads(&factory).unwrap();
    assert!(
        heads.iter().any(|(m, seq, _)| m == "courier" && *seq == 4),
        "{heads:?}"
    );
    let (_, shown) = factory.request("GET", "/v1/governance", None);
    assert_eq!(shown["changes"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(standing(&shown)["active"], false);
}

/// Waits-for condition: `node` has applied `count` governance changes.
fn changes_applied(node: &Running, count: usize) -> Result<(), String> {
    let (status, shown) = node.request("GET", "/v1/governance", None);
    match shown["changes"].as_array() {
        Some(changes) if status == 200 && changes.len() == count => Ok(()),
        _ => Err(format!("{status} {shown}")),
    }
}

#[test]
fn a_node_restored_from_a_backup_signs_nothing_until_it_has_its_own_later_entries_back() {
    let (root, _, keys) = demo_root();
    let manufacturer = Member::new(root.path(), &keys[1]);
    let supplier = Member::new(root.path(), &keys[2]);
    // The factory's disk is lost; the backup (10 entries) takes its place while the
    // supplier's node, which holds all 15, is down.
    let restored = restored_from_backup(&manufacturer, &supplier);
    let one = Value::Array(vec![common::arrival(
        &MemberId::new("manufacturer").unwrap(),
        99,
    )]);
    let (status, problem) = restored.request("POST", "/v1/events", Some(&one));
    assert_eq!(status, 503, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("restored from a backup"),
        "{problem}"
    );

    // Once the supplier's node is back, the factory gets entries 10..15 back and only then
    // signs, as entry 15: no second history of its chain.
    let restored_address = p2p_address(&restored);
    let other = supplier.start(std::slice::from_ref(&restored_address));
    let receipt = wait_for("the restored node to sign again", || {
        match restored.request("POST", "/v1/events", Some(&one)) {
            (201, body) => Ok(body),
            (status, body) => Err(format!("{status} {body}")),
        }
    });
    assert_eq!(receipt["entries"][0]["seq"], 15, "{receipt}");
    converged(&[&restored, &other], &[("manufacturer", 16)]);
    for node in [&restored, &other] {
        let (_, forks) = node.request("GET", "/v1/forks", None);
        assert_eq!(forks["forks"], serde_json::json!([]), "{forks}");
    }
}

/// Issue 22: an outside verifier with only the genesis and C2SP tools. Each witness's latest
/// cosigned head of the manufacturer's chain is a signed note that opens with the witness's
/// key from the genesis (not the one the node serves beside it), its root is the node's root
/// at that size, and an inclusion proof from the node checks against it.
fn cosigned_heads_check_with_c2sp_tools_alone(node: &Running, genesis: &Consortium) {
    use tally_sdk::tlog::checkpoint::{Checkpoint as TreeCheckpoint, key_name};
    use tally_sdk::tlog::hash::LogHash;
    use tally_sdk::tlog::note::NoteVerifier;

    let (status, body) = node.request("GET", "/v1/chains/manufacturer/log/cosigned", None);
    assert_eq!(status, 200, "{body}");
    let witnesses: Vec<&str> = body["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["witness"].as_str().unwrap())
        .collect();
    assert!(
        ["logistics", "platform", "supplier"]
            .iter()
            .all(|w| witnesses.contains(w)),
        "{body}"
    );
    for head in body["heads"].as_array().unwrap() {
        let witness = MemberId::new(head["witness"].as_str().unwrap()).unwrap();
        let key = genesis.member(&witness).unwrap().signing_key;
        let verifier = NoteVerifier::new(key_name(&genesis.network_id(), &witness), key).unwrap();
        assert_eq!(head["verifier_key"].as_str().unwrap(), verifier.vkey());
        let note = head["note"].as_str().unwrap();
        let (checkpoint, _) = TreeCheckpoint::open(note.as_bytes(), &[verifier]).unwrap();
        assert_eq!(checkpoint.origin(), body["origin"].as_str().unwrap());
        let size = checkpoint.size();
        let (status, root) = node.request(
            "GET",
            &format!("/v1/chains/manufacturer/log?size={size}"),
            None,
        );
        assert_eq!(status, 200, "{root}");
        assert_eq!(root["root"].as_str().unwrap(), checkpoint.root().to_hex());
        let index = size / 2;
        let (status, proof) = node.request(
            "GET",
            &format!("/v1/chains/manufacturer/log/inclusion?index={index}&size={size}"),
            None,
        );
        assert_eq!(status, 200, "{proof}");
        let leaf = LogHash::from_hex(proof["leaf"].as_str().unwrap()).unwrap();
        let hashes: Vec<LogHash> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| LogHash::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        checkpoint.verify_inclusion(&leaf, index, &hashes).unwrap();
    }
}
