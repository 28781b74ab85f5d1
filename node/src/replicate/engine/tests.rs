//! The engine's unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tally_sdk::entry::UnsignedEntry;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::fork::ForkProof;

use super::*;

fn member(name: &str) -> MemberId {
    MemberId::new(name).unwrap()
}

/// `count` entries of the supplier's chain from 0.
fn chain(count: u64) -> Vec<SignedEntry> {
    chain_about(count, "S")
}

/// `count` entries of the supplier's chain from 0, about products `{tag}{seq}` (another
/// tag: another history of the same chain).
fn chain_about(count: u64, tag: &str) -> Vec<SignedEntry> {
    let (signed, keys) = demo_consortium().unwrap();
    let genesis = signed.verify().unwrap();
    let supplier = keys
        .iter()
        .find(|k| k.member.as_str() == "supplier")
        .unwrap();
    let mut prev = None;
    (0..count)
        .map(|seq| {
            let event = json!({
                "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "arriving",
                "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
                "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{tag}{seq}")],
            });
            let entry = UnsignedEntry::event(
                genesis.network_id(),
                supplier.member.clone(),
                seq,
                prev,
                Timestamp(1_772_326_800_000),
                vec![],
                &event,
                None,
            )
            .unwrap()
            .sign(&supplier.signing)
            .unwrap();
            prev = Some(entry.hash().unwrap());
            entry
        })
        .collect()
}

fn engine(config: EngineConfig) -> Engine {
    let members = ["platform", "manufacturer", "supplier"].map(member);
    Engine::new(config, member("platform"), members, Vec::new(), 1)
}

fn run(engine: &mut Engine, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    engine.handle(input, &mut out);
    out
}

/// Connects `peer`, which says it holds the supplier's chain up to `seq`; returns what the
/// engine then asks.
fn peer_with(engine: &mut Engine, peer: &str, seq: u64) -> Vec<Output> {
    run(engine, Input::PeerUp { peer: member(peer) });
    let out = run(engine, Input::Tick { now: 1 });
    let id = out
        .iter()
        .find_map(|o| match o {
            Output::Send {
                id,
                request: SyncRequest::Heads,
                to,
            } if to == &member(peer) => Some(*id),
            _ => None,
        })
        .expect("a new peer is asked for its heads");
    let head = HeadInfo {
        author: member("supplier"),
        seq,
        hash: tally_sdk::hash::EntryHash::digest(b"h"),
    };
    run(
        engine,
        Input::Response {
            from: member(peer),
            id,
            response: Some(SyncResponse::Heads {
                heads: vec![head],
                forks: Vec::new(),
            }),
        },
    )
}

/// The ingest requests among `out`.
fn ingests(out: &[Output]) -> Vec<(Ticket, &[SignedEntry])> {
    out.iter()
        .filter_map(|o| match o {
            Output::Ingest { ticket, entries } => Some((*ticket, entries.as_slice())),
            _ => None,
        })
        .collect()
}

/// Connects the supplier's node, then it passes on gossip message `token` of `entries`.
fn gossip_from_supplier(
    engine: &mut Engine,
    token: GossipToken,
    entries: Vec<SignedEntry>,
) -> Vec<Output> {
    run(
        engine,
        Input::PeerUp {
            peer: member("supplier"),
        },
    );
    run(
        engine,
        Input::Gossip {
            from: member("supplier"),
            origin: member("supplier"),
            token,
            batch: Some(GossipBatch { entries }),
        },
    )
}

fn range_request(out: &[Output]) -> (RequestId, u64, u32) {
    out.iter()
        .find_map(|o| match o {
            Output::Send {
                id,
                request: SyncRequest::Range { from, limit, .. },
                ..
            } => Some((*id, *from, *limit)),
            _ => None,
        })
        .expect("a range request")
}

#[test]
fn a_missing_range_is_pulled_ingested_in_order_and_the_next_asked_at_once() {
    let mut engine = engine(EngineConfig {
        range_limit: 3,
        ..EngineConfig::default()
    });
    let entries = chain(5);
    let out = peer_with(&mut engine, "manufacturer", 4);
    let (id, from, limit) = range_request(&out);
    assert_eq!((from, limit), (0, 3));
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(entries[..3].to_vec())),
        },
    );
    let (ticket, _) = *ingests(&out)
        .iter()
        .find(|(_, e)| *e == &entries[..3])
        .expect("the range is ingested");
    // Pipelined: the next range is asked for before the first is stored.
    assert_eq!(range_request(&out).1, 3);
    run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Stored,
        },
    );
    assert_eq!(engine.heads()[0].seq, 2);
}

#[test]
fn wrong_answers_and_garbage_get_a_peer_banned_and_no_more_requests() {
    let mut engine = engine(EngineConfig::default());
    let entries = chain(2);
    let out = peer_with(&mut engine, "manufacturer", 1);
    let (id, _, _) = range_request(&out);
    // Entries that do not start where asked.
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(entries[1..].to_vec())),
        },
    );
    assert!(ingests(&out).is_empty());
    assert!(!engine.is_banned(&member("manufacturer")));
    let mut banned = false;
    for token in 0..5 {
        let out = run(
            &mut engine,
            Input::Gossip {
                from: member("manufacturer"),
                origin: member("manufacturer"),
                token,
                batch: None,
            },
        );
        banned |= out
            .iter()
            .any(|o| matches!(o, Output::Ban { peer, .. } if peer == &member("manufacturer")));
    }
    assert!(banned && engine.is_banned(&member("manufacturer")));
    // Nothing more is asked of it, and its requests are refused.
    let out = run(&mut engine, Input::Tick { now: 10_000 });
    assert!(!out.iter().any(|o| matches!(o, Output::Send { .. })));
    let out = run(
        &mut engine,
        Input::Request {
            from: member("manufacturer"),
            token: 1,
            request: Some(SyncRequest::Heads),
        },
    );
    assert_eq!(
        out,
        vec![Output::Reply {
            token: 1,
            response: SyncResponse::Refused
        }]
    );
    // The ban ends.
    let out = run(&mut engine, Input::Tick { now: 1_000_000 });
    assert!(out.contains(&Output::Unban {
        peer: member("manufacturer")
    }));
}

#[test]
fn an_invalid_entry_is_rejected_in_gossip_and_a_not_yet_is_retried_later() {
    let mut engine = engine(EngineConfig::default());
    let out = gossip_from_supplier(&mut engine, 7, chain(2));
    let (ticket, _) = ingests(&out)[0];
    // Entry 1 is ahead of this node's clock: entry 0 is stored now, entry 1 later.
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Refused {
                index: 1,
                fault: Fault::NotYet,
            },
        },
    );
    let again = ingests(&out);
    assert_eq!(again.len(), 1, "entry 0 goes again at once");
    let (ticket, e) = again[0];
    assert_eq!(e.len(), 1);
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Stored,
        },
    );
    assert!(ingests(&out).is_empty());
    let out = run(&mut engine, Input::Tick { now: 999 });
    assert!(ingests(&out).is_empty());
    let out = run(&mut engine, Input::Tick { now: 1_000 });
    let (ticket, _) = *ingests(&out)
        .iter()
        .find(|(_, e)| e.len() == 1)
        .expect("entry 1 is retried after retry_ms");
    // Now it is invalid after all: the gossip message is rejected.
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Refused {
                index: 0,
                fault: Fault::Invalid,
            },
        },
    );
    assert!(out.contains(&Output::Verdict {
        token: 7,
        acceptance: Acceptance::Reject
    }));
}

#[test]
fn own_entries_are_gossiped_in_batches_by_count_and_by_age() {
    let mut engine = engine(EngineConfig {
        flush_entries: 3,
        flush_ms: 10,
        ..EngineConfig::default()
    });
    let entries = chain(4);
    let out = run(
        &mut engine,
        Input::Committed {
            heads: vec![],
            own: entries[..1].to_vec(),
        },
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Publish(_))));
    let out = run(
        &mut engine,
        Input::Committed {
            heads: vec![],
            own: entries[1..].to_vec(),
        },
    );
    assert!(out.contains(&Output::Publish(GossipBatch {
        entries: entries[..3].to_vec()
    })));
    assert!(
        !run(&mut engine, Input::Tick { now: 9 })
            .iter()
            .any(|o| matches!(o, Output::Publish(_)))
    );
    let out = run(&mut engine, Input::Tick { now: 10 });
    assert!(out.contains(&Output::Publish(GossipBatch {
        entries: entries[3..].to_vec()
    })));
}

#[test]
fn the_buffer_is_bounded_and_unchecked_gossip_is_not_passed_on() {
    // Three chains: a share of two entries each.
    let mut engine = engine(EngineConfig {
        max_buffered: 6,
        max_ingesting: 0,
        ..EngineConfig::default()
    });
    let out = gossip_from_supplier(&mut engine, 1, chain(4));
    assert_eq!(engine.buffered(), 2);
    assert!(out.contains(&Output::Verdict {
        token: 1,
        acceptance: Acceptance::Ignore
    }));
}

/// Issue 20, item 3: a member gossips entries far ahead of a chain's tip, which may never
/// link. Before, they filled the one shared buffer unchecked, and a full buffer stopped
/// range pulls of every chain for good.
#[test]
fn a_member_gossiping_far_ahead_neither_fills_the_buffer_nor_stalls_any_chain() {
    let mut engine = engine(EngineConfig {
        max_buffered: 30,
        max_ingesting: 0,
        range_limit: 5,
        gossip_window: 100,
        ..EngineConfig::default()
    });
    let entries = chain(160);
    // Past the window: not kept at all.
    gossip_from_supplier(&mut engine, 1, entries[100..160].to_vec());
    assert_eq!(engine.buffered(), 0);
    // Inside it but far ahead: kept up to the chain's share (10 of 30, three chains), in
    // entries and in bytes.
    gossip_from_supplier(&mut engine, 2, entries[50..100].to_vec());
    assert_eq!(engine.buffered(), 10);
    let bytes: usize = entries[50..60]
        .iter()
        .map(|e| tally_sdk::codec::encoded_len("entry", e).unwrap())
        .sum();
    assert_eq!(engine.buffered_bytes(), bytes);
    // Every chain is still pulled: the poisoned one from its tip (what waits furthest
    // ahead gives way), and the others as before.
    let head = |name: &str| HeadInfo {
        author: member(name),
        seq: 20,
        hash: tally_sdk::hash::EntryHash::digest(b"h"),
    };
    let out = peer_answers(
        &mut engine,
        "manufacturer",
        vec![head("supplier"), head("platform")],
        Vec::new(),
    );
    let ranges: Vec<(MemberId, u64, u32)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                request:
                    SyncRequest::Range {
                        author,
                        from,
                        limit,
                    },
                ..
            } => Some((author.clone(), *from, *limit)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ranges,
        vec![(member("platform"), 0, 5), (member("supplier"), 0, 5)],
        "{out:?}"
    );
    assert!(engine.buffered() <= 10);
    // What the range brings is kept: nearer entries evict those furthest ahead.
    let id = out
        .iter()
        .find_map(|o| match o {
            Output::Send {
                id,
                request: SyncRequest::Range { author, .. },
                ..
            } if author == &member("supplier") => Some(*id),
            _ => None,
        })
        .unwrap();
    run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(entries[..5].to_vec())),
        },
    );
    assert!(engine.buffered() <= 10);
    let waiting = &engine.chains[&member("supplier")].waiting;
    assert!((0..5).all(|seq| waiting.contains_key(&seq)), "{waiting:?}");
}

#[test]
fn splitmix_is_the_reference_sequence() {
    // The first outputs for seed 0, as the reference implementation gives them.
    let mut rng = SplitMix64::new(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
}

fn stored_tip(entry: &SignedEntry) -> Engine {
    let members = ["platform", "manufacturer", "supplier"].map(member);
    let head = HeadInfo {
        author: member("supplier"),
        seq: entry.body.seq,
        hash: entry.hash().unwrap(),
    };
    Engine::new(
        EngineConfig::default(),
        member("platform"),
        members,
        vec![head],
        1,
    )
}

#[test]
fn another_entry_at_the_stored_tip_is_checked_alone_and_a_fork_freezes_the_chain() {
    let ours = chain(1);
    let theirs = chain_about(3, "T");
    let mut engine = stored_tip(&ours[0]);
    let out = gossip_from_supplier(&mut engine, 7, theirs.clone());
    let probe = ingests(&out)
        .into_iter()
        .find(|(_, entries)| entries == &[theirs[0].clone()])
        .map(|(ticket, _)| ticket)
        .expect("the conflicting entry is checked alone");
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket: probe,
            outcome: IngestOutcome::Refused {
                index: 0,
                fault: Fault::Fork,
            },
        },
    );
    assert!(out.contains(&Output::ForkFound {
        author: member("supplier"),
        seq: 0,
    }));
    assert_eq!(engine.forked(), vec![member("supplier")]);
    // Nothing more of the forked chain is taken, and it is not announced twice.
    let out = gossip_from_supplier(&mut engine, 8, theirs[1..].to_vec());
    assert!(ingests(&out).is_empty(), "{out:?}");
    assert!(out.contains(&Output::Verdict {
        token: 8,
        acceptance: Acceptance::Ignore
    }));
    let out = gossip_from_supplier(&mut engine, 9, theirs[..1].to_vec());
    assert!(ingests(&out).is_empty(), "{out:?}");
}

#[test]
fn the_own_chain_is_caught_up_once_a_peer_answered_and_what_it_holds_is_stored() {
    let caught_up = |out: &[Output]| out.contains(&Output::OwnChainCaughtUp);
    // The platform's node: the manufacturer holds nothing of the platform's chain.
    let mut engine = engine(EngineConfig::default());
    assert!(!engine.own_chain_caught_up());
    let out = peer_with(&mut engine, "manufacturer", 4);
    assert!(caught_up(&out) && engine.own_chain_caught_up());
    let out = run(&mut engine, Input::Tick { now: 100_000 });
    assert!(!caught_up(&out), "said once");

    // The supplier's node, restored from a backup that holds none of its chain, while
    // the manufacturer holds entries 0..=4 of it: caught up once they are stored here.
    let members = ["platform", "manufacturer", "supplier"].map(member);
    let mut engine = Engine::new(
        EngineConfig::default(),
        member("supplier"),
        members,
        Vec::new(),
        1,
    );
    let entries = chain(5);
    let out = peer_with(&mut engine, "manufacturer", 4);
    assert!(!caught_up(&out));
    let (id, from, _) = range_request(&out);
    assert_eq!(from, 0);
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(entries.clone())),
        },
    );
    assert!(!caught_up(&out));
    let (ticket, _) = ingests(&out)[0];
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Stored,
        },
    );
    assert!(caught_up(&out));

    // A peer that claims more than it can send does not hold the node back.
    let mut engine = Engine::new(
        EngineConfig::default(),
        member("supplier"),
        ["platform", "manufacturer", "supplier"].map(member),
        Vec::new(),
        1,
    );
    let out = peer_with(&mut engine, "manufacturer", 4);
    let (id, _, _) = range_request(&out);
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(Vec::new())),
        },
    );
    // Nor does it count as an answer: alone with it, the node would sign before an
    // honest peer gave back what it signed after the backup.
    assert!(!caught_up(&out), "{out:?}");
    let out = peer_answers(&mut engine, "platform", Vec::new(), Vec::new());
    assert!(caught_up(&out), "{out:?}");

    // Nor does one that claims more and refuses to send it (the restored node held
    // hostage): it loses the claim, and the node signs again once an honest peer
    // answered.
    let mut engine = Engine::new(
        EngineConfig::default(),
        member("supplier"),
        ["platform", "manufacturer", "supplier"].map(member),
        Vec::new(),
        1,
    );
    let out = peer_with(&mut engine, "manufacturer", 4);
    assert!(!caught_up(&out));
    let (id, _, _) = range_request(&out);
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Refused),
        },
    );
    assert!(!caught_up(&out), "{out:?}");
    let out = peer_answers(&mut engine, "platform", Vec::new(), Vec::new());
    assert!(caught_up(&out), "{out:?}");
}

#[test]
fn entries_refused_for_membership_are_dropped_without_blame() {
    let refuse = |fault: Fault| {
        let mut engine = engine(EngineConfig::default());
        let mut banned = false;
        for token in 0..20 {
            let out = gossip_from_supplier(&mut engine, token, chain(1));
            let Some((ticket, _)) = ingests(&out).first().copied() else {
                continue;
            };
            let out = run(
                &mut engine,
                Input::IngestDone {
                    ticket,
                    outcome: IngestOutcome::Refused { index: 0, fault },
                },
            );
            if fault == Fault::Membership {
                assert!(out.contains(&Output::Verdict {
                    token,
                    acceptance: Acceptance::Ignore
                }));
            }
            banned |= out.iter().any(|o| matches!(o, Output::Ban { .. }));
        }
        banned
    };
    assert!(!refuse(Fault::Membership));
    assert!(
        refuse(Fault::Invalid),
        "the same entries, invalid, get the sender banned"
    );
}

#[test]
fn bad_gossip_is_blamed_on_its_publisher_never_on_the_relay() {
    // The supplier publishes entries that turn out invalid; the manufacturer's node, an
    // honest relay that held them already, passes the message on. Each time this node
    // refuses them, the supplier is blamed: it ends up banned, the relay never is.
    let mut engine = engine(EngineConfig::default());
    for peer in ["manufacturer", "supplier"] {
        run(&mut engine, Input::PeerUp { peer: member(peer) });
    }
    let mut bans = Vec::new();
    for token in 0..20 {
        let out = run(
            &mut engine,
            Input::Gossip {
                from: member("manufacturer"),
                origin: member("supplier"),
                token,
                batch: Some(GossipBatch { entries: chain(1) }),
            },
        );
        let Some((ticket, _)) = ingests(&out).first().copied() else {
            continue;
        };
        let out = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Invalid,
                },
            },
        );
        bans.extend(out.into_iter().filter_map(|o| match o {
            Output::Ban { peer, .. } => Some(peer),
            _ => None,
        }));
    }
    assert_eq!(bans, [member("supplier")]);
}

/// Connects `peer` and answers the engine's heads request with `heads` and `forks`.
fn peer_answers(
    engine: &mut Engine,
    peer: &str,
    heads: Vec<HeadInfo>,
    forks: Vec<ForkPoint>,
) -> Vec<Output> {
    run(engine, Input::PeerUp { peer: member(peer) });
    heads_round(engine, peer, 1, heads, forks)
}

/// At `now`, the engine asks `peer` for its heads (it must be due) and the peer answers
/// with `heads` and `forks`.
fn heads_round(
    engine: &mut Engine,
    peer: &str,
    now: u64,
    heads: Vec<HeadInfo>,
    forks: Vec<ForkPoint>,
) -> Vec<Output> {
    let out = run(engine, Input::Tick { now });
    let Some(Output::Send { id, .. }) = out.first().cloned() else {
        panic!("heads are asked: {out:?}");
    };
    run(
        engine,
        Input::Response {
            from: member(peer),
            id,
            response: Some(SyncResponse::Heads { heads, forks }),
        },
    )
}

#[test]
fn a_peer_head_below_the_stored_tip_is_compared_once_and_fetched_if_it_differs() {
    let ours = chain(3);
    let theirs = chain_about(1, "T");
    let mut engine = stored_tip(&ours[2]);
    let head = HeadInfo {
        author: member("supplier"),
        seq: 0,
        hash: theirs[0].hash().unwrap(),
    };
    let out = peer_answers(&mut engine, "manufacturer", vec![head.clone()], Vec::new());
    assert!(
        out.contains(&Output::CompareHead {
            peer: member("manufacturer"),
            head: head.clone(),
        }),
        "{out:?}"
    );
    // The next heads round reports the same head: it was compared already.
    let out = heads_round(&mut engine, "manufacturer", 10_000, vec![head], Vec::new());
    assert!(
        !out.iter().any(|o| matches!(o, Output::CompareHead { .. })),
        "{out:?}"
    );
    // The store holds another entry there: the peer's is fetched and checked alone,
    // below the tip.
    let out = run(
        &mut engine,
        Input::HeadDiffers {
            peer: member("manufacturer"),
            author: member("supplier"),
            seq: 0,
        },
    );
    let (id, from, limit) = range_request(&out);
    assert_eq!((from, limit), (0, 1));
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(theirs.clone())),
        },
    );
    let checked = ingests(&out);
    assert_eq!(checked.len(), 1, "{out:?}");
    assert_eq!(checked[0].1, theirs.as_slice());
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket: checked[0].0,
            outcome: IngestOutcome::Refused {
                index: 0,
                fault: Fault::Fork,
            },
        },
    );
    assert!(out.contains(&Output::ForkFound {
        author: member("supplier"),
        seq: 0,
    }));
    assert_eq!(
        engine.forks(),
        vec![ForkPoint {
            author: member("supplier"),
            seq: 0
        }]
    );
}

#[test]
fn a_fork_found_from_a_peers_entry_is_followed_back_to_where_the_histories_part() {
    let ours = chain(3);
    let theirs = chain_about(3, "T");
    let mut engine = stored_tip(&ours[2]);
    // The peer's head at our tip has another hash: its entry 2 is fetched and checked.
    let head = HeadInfo {
        author: member("supplier"),
        seq: 2,
        hash: theirs[2].hash().unwrap(),
    };
    let out = peer_answers(&mut engine, "manufacturer", vec![head], Vec::new());
    let (id, from, _) = range_request(&out);
    assert_eq!(from, 2);
    let mut seq = 2;
    let mut out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(vec![theirs[2].clone()])),
        },
    );
    // Each entry that proves a fork has the one before fetched too, back to entry 0.
    loop {
        let (ticket, _) = ingests(&out)[0];
        let after = run(
            &mut engine,
            Input::IngestDone {
                ticket,
                outcome: IngestOutcome::Refused {
                    index: 0,
                    fault: Fault::Fork,
                },
            },
        );
        assert_eq!(engine.forks()[0].seq, seq);
        if seq == 0 {
            assert!(
                !after.iter().any(|o| matches!(o, Output::Send { .. })),
                "{after:?}"
            );
            break;
        }
        let (id, from, limit) = range_request(&after);
        assert_eq!((from, limit), (seq - 1, 1));
        seq -= 1;
        out = run(
            &mut engine,
            Input::Response {
                from: member("manufacturer"),
                id,
                response: Some(SyncResponse::Range(vec![theirs[seq as usize].clone()])),
            },
        );
    }
    // Where the peer's entry is ours, the walk stops (the pipeline finds a duplicate).
    let mut engine = stored_tip(&ours[2]);
    let head = HeadInfo {
        author: member("supplier"),
        seq: 2,
        hash: theirs[2].hash().unwrap(),
    };
    let out = peer_answers(&mut engine, "manufacturer", vec![head], Vec::new());
    let (id, _, _) = range_request(&out);
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(vec![theirs[2].clone()])),
        },
    );
    let (ticket, _) = ingests(&out)[0];
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Refused {
                index: 0,
                fault: Fault::Fork,
            },
        },
    );
    let (id, from, _) = range_request(&out);
    assert_eq!(from, 1);
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Range(vec![ours[1].clone()])),
        },
    );
    let (ticket, _) = ingests(&out)[0];
    let out = run(
        &mut engine,
        Input::IngestDone {
            ticket,
            outcome: IngestOutcome::Stored,
        },
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send { .. })),
        "{out:?}"
    );
    assert_eq!(engine.forks()[0].seq, 2);
}

#[test]
fn a_fork_a_peer_advertises_is_pulled_and_handed_over_and_a_wrong_proof_blamed() {
    let ours = chain(3);
    let theirs = chain_about(2, "T");
    let mut engine = stored_tip(&ours[2]);
    let fork = ForkPoint {
        author: member("supplier"),
        seq: 1,
    };
    let out = peer_answers(&mut engine, "manufacturer", Vec::new(), vec![fork]);
    let id = out
        .iter()
        .find_map(|o| match o {
            Output::Send {
                id,
                request: SyncRequest::Fork { author },
                ..
            } if author == &member("supplier") => Some(*id),
            _ => None,
        })
        .expect("the proof is asked for");
    let proof = ForkProof::new(ours[1].clone(), theirs[1].clone()).unwrap();
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Fork(Box::new(proof.clone()))),
        },
    );
    assert!(
        out.contains(&Output::RecordFork {
            from: member("manufacturer"),
            proof: Box::new(proof),
        }),
        "{out:?}"
    );
    // A proof of another place than the one advertised is a wrong answer.
    let mut engine = stored_tip(&ours[2]);
    let fork = ForkPoint {
        author: member("supplier"),
        seq: 0,
    };
    let out = peer_answers(&mut engine, "manufacturer", Vec::new(), vec![fork.clone()]);
    let Some(Output::Send { id, .. }) = out.first().cloned() else {
        panic!("{out:?}");
    };
    let elsewhere = ForkProof::new(ours[1].clone(), theirs[1].clone()).unwrap();
    let out = run(
        &mut engine,
        Input::Response {
            from: member("manufacturer"),
            id,
            response: Some(SyncResponse::Fork(Box::new(elsewhere))),
        },
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::RecordFork { .. })),
        "{out:?}"
    );
    // Once this node holds a proof as early, an advertised fork is not asked for.
    run(
        &mut engine,
        Input::ForkRecorded {
            author: member("supplier"),
            seq: 0,
        },
    );
    let out = heads_round(&mut engine, "manufacturer", 10_000, Vec::new(), vec![fork]);
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::Send {
                request: SyncRequest::Fork { .. },
                ..
            }
        )),
        "{out:?}"
    );
}

#[test]
fn entries_before_a_fork_point_are_still_pulled_and_none_from_it() {
    let mut engine = engine(EngineConfig {
        range_limit: 10,
        ..EngineConfig::default()
    });
    engine.remember_fork(&member("supplier"), 4);
    let out = peer_with(&mut engine, "manufacturer", 20);
    let (_, from, limit) = range_request(&out);
    assert_eq!((from, limit), (0, 4));
    // Gossip from the fork point on is not kept.
    let theirs = chain_about(6, "T");
    let out = gossip_from_supplier(&mut engine, 3, theirs[4..].to_vec());
    assert!(ingests(&out).is_empty(), "{out:?}");
    assert_eq!(engine.buffered(), 0);
}

#[test]
fn a_fork_remembered_at_start_keeps_the_chain_frozen() {
    let ours = chain(1);
    let theirs = chain_about(3, "T");
    let mut engine = stored_tip(&ours[0]);
    engine.remember_fork(&member("supplier"), 0);
    assert_eq!(engine.forked(), vec![member("supplier")]);
    let out = gossip_from_supplier(&mut engine, 7, theirs[1..].to_vec());
    assert!(ingests(&out).is_empty(), "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, Output::ForkFound { .. })),
        "a remembered fork is not announced again: {out:?}"
    );
}

#[test]
fn a_peer_head_with_another_hash_at_the_stored_tip_is_fetched_to_compare() {
    let ours = chain(1);
    let mut engine = stored_tip(&ours[0]);
    // peer_with advertises seq 0 with a hash that is not ours.
    let out = peer_with(&mut engine, "manufacturer", 0);
    let (_, from, limit) = range_request(&out);
    assert_eq!((from, limit), (0, 1));
    // The same head as ours is no news.
    let mut engine = stored_tip(&ours[0]);
    let same = HeadInfo {
        author: member("supplier"),
        seq: 0,
        hash: ours[0].hash().unwrap(),
    };
    let out = peer_answers(&mut engine, "manufacturer", vec![same], Vec::new());
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send { .. })),
        "{out:?}"
    );
}

#[test]
fn another_entry_at_a_place_being_ingested_is_checked_too() {
    let ours = chain(1);
    let theirs = chain_about(1, "T");
    let mut engine = engine(EngineConfig::default());
    let out = gossip_from_supplier(&mut engine, 1, ours.clone());
    assert_eq!(ingests(&out).len(), 1);
    // The announcement of the fork arrives before ours is stored.
    let out = gossip_from_supplier(&mut engine, 2, vec![ours[0].clone(), theirs[0].clone()]);
    let checked: Vec<&[SignedEntry]> = ingests(&out).into_iter().map(|(_, e)| e).collect();
    assert_eq!(checked, vec![&theirs[..]]);
}

#[test]
fn offences_are_forgiven_over_time_but_not_a_burst() {
    let mut engine = engine(EngineConfig::default());
    run(
        &mut engine,
        Input::PeerUp {
            peer: member("manufacturer"),
        },
    );
    let garbage = |engine: &mut Engine, token| {
        run(
            engine,
            Input::Gossip {
                from: member("manufacturer"),
                origin: member("manufacturer"),
                token,
                batch: None,
            },
        )
    };
    // One malformed message (5) now, another after the score has had time to fall: no ban.
    garbage(&mut engine, 1);
    run(&mut engine, Input::Tick { now: 5 * 60_000 });
    garbage(&mut engine, 2);
    assert!(!engine.is_banned(&member("manufacturer")));
    // Two at once reach the threshold (10).
    garbage(&mut engine, 3);
    assert!(engine.is_banned(&member("manufacturer")));
}
