//! Attacks by a dishonest member against real `tally-node` processes on 127.0.0.1 (free ports,
//! real RocksDB, real libp2p). The attacker holds a member's keys and uses them as it likes:
//! it signs two histories of its chain and hands each to different nodes, or connects as a
//! member's node ([`attacker`], built from the node's own behaviours and wire types)
//! and sends what no honest node would. Each test states the attack and what every honest node
//! must end up doing about it.
//!
//! Every wait is on a condition, with a deadline that only bounds a failing run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;

mod attacker;

use attacker::Attacker;
use common::Running;
use common::consortium::{
    Member, converged, demo_root, heads_of_chain, metric, p2p_address, restored_from_backup,
    wait_for, write_events,
};
use serde_json::Value;
use std::collections::BTreeMap;

use tally_node::private::delivery::{Delivery, DeliveryAnswer};
use tally_node::replicate::wire::{self, HeadInfo, SyncRequest, SyncResponse};
use tally_node::store::rocks::RocksStore;
use tally_node::store::{Cf, KeyRange, Store};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::entry::SignedEntry;
use tally_sdk::entry::UnsignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::FieldName;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::privacy::disclosure::{CommitLimits, commit};
use tally_sdk::privacy::held::HeldFields;
use tally_sdk::privacy::sealed::{self, SealContext};
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};
use tally_sdk::witnessing::fork::ForkProof;

/// The fork proof list of `node` once it names `member`'s chain.
fn fork_on(node: &Running, name: &str, member: &str) -> Value {
    wait_for(
        &format!("the fork proof of {member} on {name}'s node"),
        || {
            let (status, body) = node.request("GET", "/v1/forks", None);
            match body["flagged"].as_array() {
                Some(flagged) if status == 200 && flagged.iter().any(|m| m == member) => {
                    Ok(body.clone())
                }
                _ => Err(format!("{status} {body}")),
            }
        },
    )
}

/// Posts signed entries to a node's `POST /v1/entries`.
fn post_entries(node: &Running, entries: &[&SignedEntry]) -> (u16, Value) {
    node.request(
        "POST",
        "/v1/entries",
        Some(&serde_json::to_value(entries).unwrap()),
    )
}

/// The attack of issue 20, item 1: the regulator's key signs entries 0 and 1 of its chain and
/// every node stores them; then a second, different entry 0 goes to one node. That node
/// refuses it and keeps the pair as a fork proof, but the other nodes are past the fork point
/// and one of them is offline at the time. Every node must end up holding the proof (pulled
/// by sync, not only gossiped once) and treat the chain as forked from entry 0: its entries
/// shown `forked`, and nothing more taken for it.
#[test]
fn a_fork_below_every_tip_reaches_every_node_even_one_offline_when_it_was_found() {
    let (root, genesis, keys) = demo_root();
    // Platform, manufacturer and logistics run nodes; the regulator's key is the attacker's.
    let members: Vec<Member> = [0, 1, 3]
        .iter()
        .map(|i| Member::new(root.path(), &keys[*i]))
        .collect();
    let mut nodes: Vec<Running> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    for member in &members {
        let node = member.start(&addresses);
        addresses.push(p2p_address(&node));
        nodes.push(node);
    }
    let regulator = &keys[4];
    let history = common::chain_of(&genesis, regulator, 0, 2, None, |seq| {
        common::arrival(&regulator.member, seq)
    });
    let other_zero = common::chain_of(&genesis, regulator, 0, 1, None, |_| {
        common::arrival(&regulator.member, 1_000)
    })
    .remove(0);
    let (status, answer) = post_entries(&nodes[0], &[&history[0], &history[1]]);
    assert_eq!(status, 201, "{answer}");
    converged(&nodes.iter().collect::<Vec<_>>(), &[("regulator", 2)]);

    // The manufacturer's node goes down; the other entry 0 reaches the logistics node.
    let offline = 1;
    let mut down = nodes.remove(offline);
    down.child.kill().unwrap();
    drop(down.wait());
    let (status, answer) = post_entries(&nodes[1], &[&other_zero]);
    assert_eq!(status, 409, "{answer}");
    for (node, name) in nodes.iter().zip(["platform", "logistics"]) {
        fork_on(node, name, "regulator");
    }

    // It comes back, long after any gossip of the proof, and pulls the proof itself.
    let others: Vec<String> = [0, 2].iter().map(|i| addresses[*i].clone()).collect();
    nodes.insert(offline, members[offline].start(&others));

    let verifier = Verifier::new(&genesis, Timestamp::now());
    let mut both = [
        history[0].hash().unwrap().to_hex(),
        other_zero.hash().unwrap().to_hex(),
    ];
    both.sort();
    let next = common::chain_of(
        &genesis,
        regulator,
        2,
        1,
        Some(history[1].hash().unwrap()),
        |seq| common::arrival(&regulator.member, seq),
    )
    .remove(0);
    for (node, name) in nodes.iter().zip(["platform", "manufacturer", "logistics"]) {
        let forks = fork_on(node, name, "regulator");
        let fork = &forks["forks"][0];
        assert_eq!(
            (fork["member"].as_str(), fork["seq"].as_u64()),
            (Some("regulator"), Some(0)),
            "{forks}"
        );
        assert_eq!(fork["hashes"], serde_json::json!(both), "{forks}");
        let proof: ForkProof = serde_json::from_value(fork["proof"].clone()).unwrap();
        assert_eq!(proof.verify(&verifier).unwrap().author, regulator.member);
        // Entry 1, stored before the fork was known, shows as forked.
        let path = format!("/v1/entries/{}", history[1].hash().unwrap());
        let (status, view) = node.request("GET", &path, None);
        assert_eq!((status, view["status"].as_str()), (200, Some("forked")));
        // The chain takes nothing more.
        let (status, problem) = post_entries(node, &[&next]);
        assert_eq!(status, 409, "{name}: {problem}");
    }
}

/// Whether `node` lists `member`'s node as banned.
fn banned(node: &Running, member: &str) -> Result<(), String> {
    let (status, body) = node.request("GET", "/v1/network", None);
    let peer = body["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["member"] == member).cloned());
    match peer {
        Some(peer) if status == 200 && peer["banned"] == true => Ok(()),
        _ => Err(format!("{status} {body}")),
    }
}

/// The attack of issue 20, item 3: a member gossips 100,000 entries of its chain far ahead of
/// any tip (they never link, and their signatures are not even checked before they are
/// kept), then entries it forged in another member's name. Before, the far-ahead entries
/// filled the one buffer all chains share, after which no chain was pulled or taken from
/// gossip again, and nobody was blamed. Now the node keeps at most a window of them, in the
/// chain's own share, goes on replicating every chain, and bans the attacker for the forged
/// entries, which it checks as soon as they extend a chain.
#[test]
fn a_member_poisoning_the_replication_buffer_is_banned_and_replication_goes_on() {
    let (root, genesis, keys) = demo_root();
    let platform = Member::new(root.path(), &keys[0]).start(&[]);
    let platform_address = p2p_address(&platform);
    let factory = Member::new(root.path(), &keys[1]).start(std::slice::from_ref(&platform_address));
    write_events(&factory, "manufacturer", 0, 10);
    converged(&[&platform, &factory], &[("manufacturer", 10)]);

    let regulator = &keys[4];
    let attacker = Attacker::connect(&genesis, regulator, &platform_address);
    let template = common::chain_of(&genesis, regulator, 0, 1, None, |seq| {
        common::arrival(&regulator.member, seq)
    })
    .remove(0);
    let far_ahead: Vec<SignedEntry> = (10..100_010)
        .map(|seq| {
            let mut entry = template.clone();
            entry.body.seq = seq;
            entry.body.prev = Some(EntryHash::digest(&seq.to_be_bytes()));
            entry
        })
        .collect();
    let received = |node: &Running| metric(node, "tally_p2p_gossip_received_total");
    let before = received(&platform);
    let paced = |sent: usize| {
        wait_for("the node to take the attacker's gossip", || {
            let now = received(&platform);
            if now >= before + sent as u64 {
                Ok(())
            } else {
                Err(format!("{now} received, {sent} sent after {before}"))
            }
        });
    };
    let sent = attacker.gossip_entries(&far_ahead, paced);
    // Entries in the manufacturer's name at its next place, signed with the regulator's key.
    let (_, tip) = heads_of_chain(&platform, "manufacturer", 9);
    for serial in [1, 2] {
        let mut forged = common::chain_of(&genesis, regulator, 10, 1, None, |_| {
            common::arrival(&regulator.member, 50_000 + serial)
        })
        .remove(0);
        forged.body.author = keys[1].member.clone();
        forged.body.prev = Some(tip.parse().unwrap());
        attacker.gossip_entries(&[forged], |_| {});
    }
    assert!(sent >= 90, "{sent} messages");
    wait_for("the platform's node to ban the regulator's", || {
        banned(&platform, "regulator")
    });
    let buffered = metric(&platform, "tally_p2p_buffered_entries");
    assert!(buffered <= 4_000, "{buffered} entries buffered");

    // Replication goes on, for the chain under attack and every other.
    write_events(&factory, "manufacturer", 10, 10);
    converged(&[&platform, &factory], &[("manufacturer", 20)]);
    drop(attacker);
}

/// How many checkpoints of `witness` `node` holds (every page).
fn checkpoints_held(node: &Running, witness: &str) -> usize {
    let mut held = 0;
    let mut from = 0;
    loop {
        let path = format!("/v1/checkpoints/{witness}?from={from}");
        let (status, page) = node.request("GET", &path, None);
        assert_eq!(status, 200, "{page}");
        let items = page["checkpoints"].as_array().unwrap();
        if items.is_empty() {
            return held;
        }
        held += items.len();
        from = page["next"].as_u64().unwrap();
    }
}

/// The attack of issue 20, item 4: a witness signs checkpoints with numbers it never earned
/// (restating the same entries over and over, and one numbered a billion), a second
/// checkpoint with a number it used, and one stating entries of a chain that are not the
/// chain's. Before, every one was stored and pulled by every node, the second of a number was
/// ignored, and the false one only showed when someone asked about an entry. Now a node stores
/// no more checkpoints of a witness than the entries it stated, keeps the conflict and the
/// false span as evidence, and bans the witness for them.
#[test]
fn a_witness_flooding_resigning_or_misstating_checkpoints_is_bounded_recorded_and_banned() {
    let (root, genesis, keys) = demo_root();
    let platform = Member::new(root.path(), &keys[0]).start(&[]);
    let platform_address = p2p_address(&platform);
    let factory = Member::new(root.path(), &keys[1]).start(std::slice::from_ref(&platform_address));
    write_events(&factory, "manufacturer", 0, 10);
    converged(&[&platform, &factory], &[("manufacturer", 10)]);
    let hashes: Vec<EntryHash> = (0..10)
        .map(|seq| {
            heads_of_chain(&platform, "manufacturer", seq)
                .1
                .parse()
                .unwrap()
        })
        .collect();

    let regulator = &keys[4];
    let attacker = Attacker::connect(&genesis, regulator, &platform_address);
    let span = |hashes: &[EntryHash]| ChainSpan::new(keys[1].member.clone(), 0, hashes).unwrap();
    let sign = |number: u64, span: ChainSpan| {
        let checkpoint = Checkpoint::sign(
            genesis.network_id(),
            regulator.member.clone(),
            number,
            Timestamp::now(),
            vec![span],
            &regulator.signing,
        )
        .unwrap();
        wire::encode("checkpoint", &checkpoint).unwrap()
    };
    let topic = tally_node::replicate::net::checkpoints_topic(&genesis);
    let received = |node: &Running| metric(node, "tally_p2p_gossip_received_total");
    let before = received(&platform);
    for (sent, number) in (1..).zip((0..300).chain([1_000_000_000])) {
        attacker.publish(topic.clone(), sign(number, span(&hashes)));
        let expected = before + sent;
        wait_for("the node to take the attacker's checkpoint", || {
            let now = received(&platform);
            if now >= expected {
                Ok(())
            } else {
                Err(format!("{now} received of {expected}"))
            }
        });
    }
    // Ten entries stated: ten checkpoints at most.
    wait_for(
        "the regulator's first checkpoints",
        || match checkpoints_held(&platform, "regulator") {
            10 => Ok(()),
            held => Err(format!("{held} held")),
        },
    );

    // The chain's true head with a root of other entries: the head fixes every hash before
    // it, so the root is the witness's lie. (A made-up head proves nothing: the author may
    // have forked; the node asks for the entry instead.)
    let fake: Vec<EntryHash> = (0..10u8).map(|i| EntryHash::digest(&[i])).collect();
    let mut lie = span(&hashes);
    lie.entries_root = span(&fake).entries_root;
    attacker.publish(topic.clone(), sign(0, span(&hashes[..5])));
    attacker.publish(topic, sign(10, lie));
    wait_for("the platform's node to ban the regulator's", || {
        banned(&platform, "regulator")
    });
    let (status, evidence) = platform.request("GET", "/v1/witness-misconduct", None);
    assert_eq!(status, 200, "{evidence}");
    let kinds: Vec<(&str, &str, u64)> = evidence["misconduct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["witness"].as_str().unwrap(),
                m["kind"].as_str().unwrap(),
                m["number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("regulator", "conflict", 0),
            ("regulator", "false_span", 10)
        ],
        "{evidence}"
    );
    let conflict: Vec<Checkpoint> =
        serde_json::from_value(evidence["misconduct"][0]["checkpoints"].clone()).unwrap();
    for checkpoint in &conflict {
        checkpoint.verify(&genesis).unwrap();
    }
    assert_ne!(conflict[0], conflict[1]);
    assert_eq!(checkpoints_held(&platform, "regulator"), 10);
    // The conflict reaches the factory's node, which the attacker never spoke to, by pull.
    let seen = wait_for("the conflict proof on the factory's node", || {
        let (status, evidence) = factory.request("GET", "/v1/witness-misconduct", None);
        let found = evidence["misconduct"]
            .as_array()
            .is_some_and(|list| !list.is_empty());
        if status == 200 && found {
            Ok(evidence)
        } else {
            Err(format!("{status} {evidence}"))
        }
    });
    assert_eq!(seen["misconduct"][0]["kind"], "conflict", "{seen}");
    assert_eq!(seen["misconduct"][0]["witness"], "regulator", "{seen}");
    drop(attacker);
}

/// The attack of issue 20, item 7: a node is restored from a backup and must not sign until it
/// has back what it signed after the backup. A member's node claims a far higher head of the
/// restored node's own chain and refuses every range of it. Before, that claim held the node
/// back (503) for good; now a claim its maker will not back loses its weight, and the node
/// signs again, without forking its chain, as soon as an honest peer has given it back its
/// entries.
#[test]
fn a_restored_node_signs_again_once_an_honest_peer_answered_whatever_a_liar_claims() {
    let (root, genesis, keys) = demo_root();
    let manufacturer = Member::new(root.path(), &keys[1]);
    let supplier = Member::new(root.path(), &keys[2]);
    let restored = restored_from_backup(&manufacturer, &supplier);
    let restored_address = p2p_address(&restored);

    // The liar connects first: it claims entry 1,000 of the manufacturer's chain and sends
    // none of it.
    let claimed = HeadInfo {
        author: keys[1].member.clone(),
        seq: 1_000,
        hash: EntryHash::digest(b"never signed"),
    };
    let liar = Attacker::connect_answering(&genesis, &keys[4], &restored_address, move |request| {
        match request {
            SyncRequest::Heads => SyncResponse::Heads {
                heads: vec![claimed.clone()],
                forks: Vec::new(),
            },
            _ => SyncResponse::Refused,
        }
    });
    // Once the node has asked the liar for its chain and been refused, it still does not
    // sign: the liar is not an answer.
    wait_for("the node to ask the liar for its own chain", || {
        let asked = liar.seen().asked;
        let range = asked
            .iter()
            .any(|r| matches!(r, SyncRequest::Range { author, .. } if author == &keys[1].member));
        if range {
            Ok(())
        } else {
            Err(format!("{asked:?}"))
        }
    });
    let one = Value::Array(vec![common::arrival(&keys[1].member, 99)]);
    let (status, problem) = restored.request("POST", "/v1/events", Some(&one));
    assert_eq!(status, 503, "{problem}");

    // The honest supplier comes back: the node gets entries 10..15 and signs entry 15.
    let other = supplier.start(std::slice::from_ref(&restored_address));
    let receipt = wait_for("the restored node to sign again", || {
        match restored.request("POST", "/v1/events", Some(&one)) {
            (201, body) => Ok(body),
            (status, body) => Err(format!("{status} {body}")),
        }
    });
    assert_eq!(receipt["entries"][0]["seq"], 15, "{receipt}");
    converged(&[&restored, &other], &[("manufacturer", 16)]);
    let (_, forks) = restored.request("GET", "/v1/forks", None);
    assert_eq!(forks["forks"], serde_json::json!([]), "{forks}");
}

/// The attack of issue 20, item 8: the platform signs orders it never puts on the ledger and
/// sends their private fields to the regulator's node; then it sends fields of another
/// member's entry. Before, the reader stored every such row, without bound, and a refusal
/// cost the sender nothing. Now nothing is kept until the entry is on the ledger, and the
/// sender of fields it could not honestly send is banned.
#[test]
fn fields_of_entries_never_on_the_ledger_are_not_kept_and_their_sender_is_banned() {
    let (root, genesis, keys) = demo_root();
    let regulator = Member::new(root.path(), &keys[4]);
    let node = regulator.start(&[]);
    let address = p2p_address(&node);
    let platform = &keys[0];
    let attacker = Attacker::connect(&genesis, platform, &address);
    let reader = genesis.member(&keys[4].member).unwrap();
    // An order of `author`'s (signed with the platform's key) with a price only the regulator
    // may read among its readers, sealed to the regulator's node.
    let order = |author: &MemberKeys, n: u64| {
        let mut fields = BTreeMap::new();
        fields.insert(
            FieldName::new("order.price").unwrap(),
            CanonicalJson::from_value(&serde_json::json!({"amount": n})).unwrap(),
        );
        let (commitment, opened) = commit(fields, &CommitLimits::default()).unwrap();
        let mut event = common::event("commissioning", "active", n, 0);
        event["tally:kind"] = "order".into();
        let entry = UnsignedEntry::event(
            genesis.network_id(),
            author.member.clone(),
            n,
            None,
            Timestamp(1_772_326_800_000 + n),
            vec![],
            &event,
            Some(commitment.clone()),
        )
        .unwrap()
        .sign(&platform.signing)
        .unwrap();
        let held = HeldFields::complete(&commitment, &opened).unwrap();
        let context = SealContext {
            network: genesis.network_id(),
            entry: entry.hash().unwrap(),
            reader: &reader.id,
        };
        let sealed = sealed::seal(&context, &reader.x25519_key, &held).unwrap();
        Delivery { entry, sealed }
    };
    let never_stored: Vec<Delivery> = (0..50).map(|n| order(platform, n)).collect();
    let answers = attacker.deliver(never_stored).unwrap();
    assert_eq!(answers, vec![DeliveryAnswer::NotHeld; 50]);
    for n in 0..2 {
        let answers = attacker.deliver(vec![order(&keys[1], 100 + n)]);
        if let Some(answers) = answers {
            assert!(
                matches!(answers[0], DeliveryAnswer::Refused(_)),
                "{answers:?}"
            );
        }
    }
    wait_for("the regulator's node to ban the platform's", || {
        banned(&node, "platform")
    });
    drop(attacker);
    let mut node = node;
    node.child.kill().unwrap();
    drop(node.wait());
    let data = regulator.data();
    let (store, _) = RocksStore::open(&data, genesis.network_id()).unwrap();
    let rows = store
        .scan(Cf::Private, &KeyRange::prefix(&[]), 100)
        .unwrap();
    assert!(rows.is_empty(), "{} private rows kept", rows.len());
}

/// Issue 20, item 10: governance changes travel between nodes, so a member's node could try to
/// slip one in. It answers the node's governance pull with a change admitting a member of its
/// own making, approved by its own member alone (the threshold is three founders). The node
/// applies nothing, and blames the sender: only a dishonest node sends a next change the
/// founders did not approve.
#[test]
fn a_change_the_founders_did_not_approve_is_refused_and_its_sender_banned() {
    let (root, genesis, keys) = demo_root();
    let platform = Member::new(root.path(), &keys[0]).start(&[]);
    let platform_address = p2p_address(&platform);
    let regulator = &keys[4];
    let mallory = MemberKeys::generate(tally_sdk::ids::MemberId::new("mallory").unwrap()).unwrap();
    let body = tally_sdk::membership::governance::ChangeBody::next(
        &genesis,
        Timestamp::now(),
        "a member of the regulator's own".into(),
        tally_sdk::membership::governance::Action::AddMember(
            tally_sdk::membership::genesis::Member {
                id: mallory.member.clone(),
                name: "Mallory Trading".into(),
                roles: vec![tally_sdk::ids::RoleName::new("platform").unwrap()],
                founder: false,
                signing_key: mallory.signing.public_key(),
                x25519_key: mallory.x25519.public_key(),
                peer_id: mallory.peer_id(),
                addresses: Vec::new(),
            },
        ),
    );
    let mut forged = tally_sdk::membership::governance::SignedChange::draft(body);
    forged
        .approve(&genesis, &regulator.member, &regulator.signing)
        .unwrap();
    let attacker =
        Attacker::connect_answering(&genesis, regulator, &platform_address, move |request| {
            match request {
                SyncRequest::Changes { .. } => SyncResponse::Changes(vec![forged.clone()]),
                _ => SyncResponse::Refused,
            }
        });
    wait_for("the platform's node to ban the regulator's", || {
        banned(&platform, "regulator")
    });
    let (status, shown) = platform.request("GET", "/v1/governance", None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["changes"], serde_json::json!([]), "{shown}");
    assert!(
        !shown.to_string().contains("mallory"),
        "the forged member is nowhere: {shown}"
    );
    drop(attacker);
}

/// Issue 19's attestations, asked by a member that sends junk: a node asked to attest what is
/// not a product (an empty string, a word, a GTIN one digit short, an overlong serial) refuses
/// and stays up; asked for a real product, it answers an attestation its own member signed,
/// of exactly that product, naming the entry it holds about it — so a peer can neither crash
/// it with junk nor have it sign for something else.
#[test]
fn attest_requests_for_junk_are_refused_and_a_product_is_attested_by_the_node_itself() {
    let (root, genesis, keys) = demo_root();
    let manufacturer = Member::new(root.path(), &keys[1]);
    let node = manufacturer.start(&[]);
    let address = p2p_address(&node);
    write_events(&node, "manufacturer", 0, 3);
    let attacker = Attacker::connect(&genesis, &keys[0], &address);
    let long = "https://id.gs1.org/01/09506000134352/21/".to_owned() + &"9".repeat(2_000);
    for junk in [
        "",
        "not a product",
        "https://id.gs1.org/01/0950600013435",
        long.as_str(),
    ] {
        let answer = attacker.ask(SyncRequest::Attest {
            product: junk.to_owned(),
        });
        assert_eq!(
            answer,
            Some(SyncResponse::Refused),
            "{}",
            junk.chars().take(60).collect::<String>()
        );
    }
    let product = "https://id.gs1.org/01/09506000134352/21/manufacturer-1";
    let Some(SyncResponse::Attestation(attestation)) = attacker.ask(SyncRequest::Attest {
        product: product.to_owned(),
    }) else {
        panic!("no attestation of {product}");
    };
    attestation.verify(&genesis).unwrap();
    assert_eq!(attestation.body.attester, keys[1].member);
    assert_eq!(attestation.body.product, product);
    let attested: Vec<(String, u64)> = attestation
        .body
        .entries
        .iter()
        .map(|e| (e.author.to_string(), e.seq))
        .collect();
    assert_eq!(attested, vec![("manufacturer".to_owned(), 1)]);
    // Still serving its API after the junk.
    let (status, _) = node.request("GET", "/health", None);
    assert_eq!(status, 200);
}
