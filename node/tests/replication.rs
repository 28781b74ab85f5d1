//! The node's state machines in a simulated network ([`sim`]), in one process and
//! deterministic: member nodes of the demo consortium write events at random while the
//! network loses, duplicates, delays and reorders messages, splits 2+2 and heals, and one
//! node restarts. Invariants: every node ends with the same heads, every chain verifies with
//! the SDK alone, every node holds every node's checkpoints and each checkpoint states every
//! chain up to its head, private fields reach exactly the nodes of the members that may read
//! them, and the same seed gives the same trace. A member whose node sends garbage is banned
//! and the others still converge; one that claims heads it never serves does not stall them;
//! one that shows each side of the network another checkpoint, or sends others' private
//! fields as its own, is found out by every node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tally_testkit as common;
mod sim;

use sha2::Digest;
use sim::{ADDRESS, Faults, SPEC, Sim, assert_chains_verify, stored_heads};
use tally_node::replicate::engine::SplitMix64;
use tally_node::store::Store;

/// The scenario: writes everywhere; a 2+2 partition and its heal; a crash and restart.
/// Returns the trace hash and the simulated time it took to converge.
fn scenario(seed: u64) -> ([u8; 32], u64) {
    let faults = Faults {
        loss_per_mille: 50,
        duplicate_per_mille: 50,
        max_delay_ms: 40,
    };
    let mut sim = Sim::new(seed, faults, 4);
    let mut writes = SplitMix64::new(seed ^ 0x5eed);
    for step in 0..90u64 {
        let t = step * 100;
        sim.run_until(t);
        match t {
            3_000 => {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.unlink(a, b);
                }
            }
            6_000 => {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.link(a, b);
                }
            }
            7_000 => sim.crash(3),
            8_000 => sim.restart(3, seed ^ 3),
            _ => {}
        }
        let node = writes.below(4) as usize;
        let count = 1 + writes.below(8) as usize;
        sim.write(node, count);
    }
    assert!(
        sim.settle(120_000),
        "seed {seed}: the nodes did not converge: {:?}",
        (0..4)
            .map(|i| stored_heads(sim.nodes[i].store.as_ref())
                .iter()
                .map(|h| (h.author.to_string(), h.seq))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert!(sim.written > 100);
    assert_chains_verify(&sim);
    assert!(
        sim.settle_witnessing(sim.now + 60_000),
        "seed {seed}: the nodes do not all hold every node's checkpoints of every chain"
    );
    for i in 0..4 {
        assert!(sim.nodes[i].book.conflicted().unwrap().is_empty());
        assert_eq!(sim.nodes[i].refused, 0, "seed {seed}: node {i} refused");
    }
    for node in &sim.nodes {
        let engine = node.engine.as_ref().unwrap();
        assert!(
            engine.own_chain_caught_up(),
            "seed {seed}: {} never compared its own chain with a peer",
            node.member
        );
    }
    let settled_at = sim.now;
    eprintln!(
        "seed {seed}: {} entries written, converged at {settled_at} ms",
        sim.written
    );
    (sim.trace.finalize().into(), settled_at)
}

#[test]
fn four_nodes_converge_through_loss_partition_and_restart() {
    for seed in [1, 2, 3] {
        scenario(seed);
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let (a, _) = scenario(7);
    let (b, _) = scenario(7);
    let (c, _) = scenario(8);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn a_node_that_sends_garbage_is_banned_and_the_others_converge() {
    let faults = Faults {
        loss_per_mille: 0,
        duplicate_per_mille: 0,
        max_delay_ms: 20,
    };
    // The fifth member's node (the regulator's) misbehaves.
    let mut sim = Sim::new(11, faults, 5);
    sim.byzantine.insert(4);
    let mut writes = SplitMix64::new(11);
    for step in 0..30u64 {
        sim.run_until(step * 100);
        sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
    }
    assert!(sim.settle(60_000), "the honest nodes did not converge");
    assert_chains_verify(&sim);
    let regulator = sim.nodes[4].member.clone();
    for i in sim.honest() {
        let engine = sim.nodes[i].engine.as_ref().unwrap();
        assert!(
            engine.is_banned(&regulator),
            "node {i} did not ban the regulator's node"
        );
        // Nothing forged was stored.
        for head in stored_heads(sim.nodes[i].store.as_ref()) {
            assert_ne!(head.author, regulator);
        }
    }
}

/// Stalling replication: a member's node claims every chain far ahead of what anyone holds
/// and answers every range with nothing, through loss and delay. The honest nodes still get
/// every entry from each other, and do not wait on it for ever.
#[test]
fn a_node_that_claims_heads_it_never_serves_does_not_stall_the_others() {
    let faults = Faults {
        loss_per_mille: 30,
        duplicate_per_mille: 30,
        max_delay_ms: 30,
    };
    let mut sim = Sim::new(31, faults, 5);
    sim.byzantine.insert(4);
    sim.stallers.insert(4);
    let mut writes = SplitMix64::new(31);
    for step in 0..30u64 {
        sim.run_until(step * 100);
        sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
    }
    assert!(
        sim.settle(60_000),
        "the honest nodes did not converge while one node stalled"
    );
    assert_chains_verify(&sim);
    for i in sim.honest() {
        let engine = sim.nodes[i].engine.as_ref().unwrap();
        for j in sim.honest() {
            assert!(
                !engine.is_banned(&sim.nodes[j].member),
                "node {i} banned honest node {j}"
            );
        }
    }
}

/// Issue 20, item 1, in the simulated network: the regulator (which runs no node) signs two
/// histories of its chain from entry 1 and hands each to one side of a partition, while every
/// node writes and the network loses, duplicates and delays messages. Once the partition
/// heals, every node holds the fork proof and has frozen the chain from entry 1; the other
/// chains converge and verify.
#[test]
fn a_member_signing_two_histories_is_found_by_every_node_through_loss_and_partition() {
    for seed in [21, 22, 23] {
        let faults = Faults {
            loss_per_mille: 50,
            duplicate_per_mille: 50,
            max_delay_ms: 40,
        };
        let mut sim = Sim::new(seed, faults, 4);
        let (genesis, keys) = common::demo();
        let regulator = keys[4].clone();
        sim.equivocator = Some(regulator.member.clone());
        let one = common::chain_of(&genesis, &regulator, 0, 3, None, |seq| {
            common::arrival(&regulator.member, seq)
        });
        let other = common::chain_of(
            &genesis,
            &regulator,
            1,
            2,
            Some(one[0].hash().unwrap()),
            |seq| common::arrival(&regulator.member, 100 + seq),
        );
        for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
            sim.unlink(a, b);
        }
        sim.hand(0, one);
        let mut second = vec![
            common::chain_of(&genesis, &regulator, 0, 1, None, |seq| {
                common::arrival(&regulator.member, seq)
            })
            .remove(0),
        ];
        second.extend(other);
        sim.hand(2, second);
        let mut writes = SplitMix64::new(seed);
        for step in 0..60u64 {
            sim.run_until(step * 100);
            if step == 30 {
                for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                    sim.link(a, b);
                }
            }
            sim.write(writes.below(4) as usize, 1 + writes.below(5) as usize);
        }
        sim.run_until(60_000);
        let others = |i: usize| {
            stored_heads(sim.nodes[i].store.as_ref())
                .into_iter()
                .filter(|h| h.author != regulator.member)
                .collect::<Vec<_>>()
        };
        for i in 0..4 {
            let node = &sim.nodes[i];
            let proofs = node.store.forks(10).unwrap();
            assert!(
                proofs
                    .iter()
                    .any(|p| p.first.body.author == regulator.member && p.first.body.seq == 1),
                "seed {seed}: node {i} holds no fork proof of the regulator: {proofs:?}"
            );
            let engine = node.engine.as_ref().unwrap();
            assert_eq!(
                engine.forked(),
                vec![regulator.member.clone()],
                "seed {seed}"
            );
            assert_eq!(others(i), others(0), "seed {seed}: node {i}");
        }
        assert_chains_verify(&sim);
    }
}

/// Private fields in the simulated network: the platform writes orders whose spec only the
/// manufacturer may read and whose address only logistics may, while the network loses,
/// duplicates and delays messages, splits, and logistics' node restarts. In the end each
/// reader's node holds exactly its fields of every order, the supplier's none, and the
/// platform's node has nothing left to deliver.
#[test]
fn private_fields_reach_exactly_their_readers_through_loss_partition_and_restart() {
    for seed in [41, 42] {
        let faults = Faults {
            loss_per_mille: 50,
            duplicate_per_mille: 50,
            max_delay_ms: 40,
        };
        let mut sim = Sim::new(seed, faults, 4);
        sim.private_orders = true;
        let mut writes = SplitMix64::new(seed);
        for step in 0..60u64 {
            let t = step * 100;
            sim.run_until(t);
            match t {
                1_000 => {
                    for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                        sim.unlink(a, b);
                    }
                }
                3_000 => {
                    for (a, b) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
                        sim.link(a, b);
                    }
                }
                3_500 => sim.crash(3),
                4_500 => sim.restart(3, seed ^ 3),
                _ => {}
            }
            let node = writes.below(4) as usize;
            sim.write(node, 1 + writes.below(4) as usize);
            // The platform writes an order every step.
            sim.write(0, 1);
        }
        assert!(sim.settle(120_000), "seed {seed}: no convergence");
        let deadline = sim.now + 60_000;
        while sim.now < deadline && (sim.undelivered(1) || sim.undelivered(3)) {
            sim.run_until(sim.now + 100);
        }
        assert!(
            !sim.undelivered(1) && !sim.undelivered(3),
            "seed {seed}: the platform's node still has fields to deliver"
        );
        assert!(sim.orders.len() >= 60);
        for order in &sim.orders {
            assert_eq!(sim.held_fields(0, order), [ADDRESS, SPEC], "seed {seed}");
            assert_eq!(sim.held_fields(1, order), [SPEC], "seed {seed}");
            assert_eq!(
                sim.held_fields(2, order),
                Vec::<String>::new(),
                "seed {seed}"
            );
            assert_eq!(sim.held_fields(3, order), [ADDRESS], "seed {seed}");
        }
        for i in 0..4 {
            assert_eq!(sim.nodes[i].refused, 0, "seed {seed}: node {i} refused");
        }
    }
}

/// A dishonest witness in the simulated network (the regulator's node, which runs none of
/// the node's machines): it signs two checkpoints with number 0 (even seeds), or two
/// cosigning one chain's head at one size with two roots (a split view, odd seeds), and
/// gossips one to each half of the network, and it sends the platform's private fields of an order to their readers
/// as if they were its own to send. Through loss and delay, every honest node ends holding
/// the proof that the regulator signed two checkpoints with one number, the readers' nodes
/// ban the regulator's for the fields it sent, every node holds only the fields it may read,
/// and no honest node is blamed by another.
#[test]
fn a_witness_showing_each_side_another_checkpoint_and_a_thief_of_private_fields_are_found_by_every_node()
 {
    for seed in [51, 52] {
        let faults = Faults {
            loss_per_mille: 30,
            duplicate_per_mille: 30,
            max_delay_ms: 30,
        };
        let mut sim = Sim::new(seed, faults, 5);
        sim.byzantine.insert(4);
        sim.forgers.insert(4);
        sim.split_view = seed % 2 == 1;
        sim.private_orders = true;
        let regulator = sim.nodes[4].member.clone();
        let mut writes = SplitMix64::new(seed);
        for step in 0..30u64 {
            sim.run_until(step * 100);
            sim.write(writes.below(4) as usize, 1 + writes.below(4) as usize);
        }
        assert!(sim.settle(60_000), "seed {seed}: no convergence");
        let readers = [1, 3];
        let found = |sim: &Sim| {
            sim.honest().all(|i| {
                let node = &sim.nodes[i];
                node.book.conflicted().unwrap() == [regulator.clone()]
                    && (!readers.contains(&i)
                        || node.engine.as_ref().unwrap().is_banned(&regulator))
            })
        };
        let deadline = sim.now + 60_000;
        while sim.now < deadline && !found(&sim) {
            sim.run_until(sim.now + 100);
        }
        for i in sim.honest() {
            let node = &sim.nodes[i];
            assert_eq!(
                node.book.conflicted().unwrap(),
                std::slice::from_ref(&regulator),
                "seed {seed}: node {i} holds no proof of the regulator's two checkpoints"
            );
            let engine = node.engine.as_ref().unwrap();
            assert!(
                !readers.contains(&i) || engine.is_banned(&regulator),
                "seed {seed}: node {i} did not ban the regulator's node"
            );
            for j in sim.honest() {
                assert!(
                    !engine.is_banned(&sim.nodes[j].member),
                    "seed {seed}: node {i} banned honest node {j}"
                );
            }
        }
        assert!(sim.nodes[1].refused + sim.nodes[3].refused > 0);
        for order in &sim.orders {
            assert_eq!(
                sim.held_fields(2, order),
                Vec::<String>::new(),
                "seed {seed}"
            );
            for (i, field) in [(1, SPEC), (3, ADDRESS)] {
                let held = sim.held_fields(i, order);
                assert!(
                    held.is_empty() || held == [field],
                    "seed {seed}: node {i}: {held:?}"
                );
            }
        }
        assert_chains_verify(&sim);
    }
}
