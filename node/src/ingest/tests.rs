//! Unit tests of `ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;
use tally_sdk::membership::template::demo_consortium;

use super::*;
use crate::store::memory::MemoryStore;

struct Fixture {
    genesis: Arc<Consortium>,
    /// The manufacturer's chain 0..8, the supplier's 0..3, then odd entries: a second
    /// entry 3 of the manufacturer (a fork), entry 5 with another entry's signature, and
    /// a platform entry the platform may not write.
    pool: Vec<SignedEntry>,
}

fn signed(
    genesis: &Consortium,
    keys: &MemberKeys,
    seq: u64,
    prev: Option<EntryHash>,
    minute: u64,
) -> SignedEntry {
    let event = json!({
        "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "assembling",
        "eventTime": format!("2026-03-01T09:{minute:02}:00Z"), "eventTimeZoneOffset": "+00:00",
        "epcList": [format!("https://id.gs1.org/01/09506000134352/21/P{seq}")],
    });
    UnsignedEntry::event(
        genesis.network_id(),
        keys.member.clone(),
        seq,
        prev,
        Timestamp(1_000 + minute),
        vec![],
        &event,
        None,
    )
    .unwrap()
    .sign(&keys.signing)
    .unwrap()
}

fn fixture() -> Fixture {
    let (signed_genesis, keys) = demo_consortium().unwrap();
    let genesis = Arc::new(signed_genesis.verify().unwrap());
    let mut pool = Vec::new();
    for (member, length) in [(1usize, 8u64), (2, 3)] {
        let mut prev = None;
        for seq in 0..length {
            let entry = signed(&genesis, &keys[member], seq, prev, seq);
            prev = Some(entry.hash().unwrap());
            pool.push(entry);
        }
    }
    let fork = signed(&genesis, &keys[1], 3, Some(pool[2].hash().unwrap()), 30);
    let mut bad_signature = pool[5].clone();
    bad_signature.signature = pool[4].signature;
    let not_permitted = signed(&genesis, &keys[0], 0, None, 0);
    pool.extend([fork, bad_signature, not_permitted]);
    Fixture { genesis, pool }
}

/// The reference: each entry in order, re-sent ones recognised by hash, the others
/// verified one by one against the stored tips; the request fails if any entry does, or
/// if an author's entries in it do not follow each other.
fn reference(
    f: &Fixture,
    stored: &HashMap<(MemberId, u64), EntryHash>,
    tips: &HashMap<MemberId, ChainTip>,
    request: &[SignedEntry],
) -> Option<Vec<(EntryHash, bool)>> {
    let verifier = Verifier::new(&f.genesis, Timestamp(10_000_000));
    let mut tips = tips.clone();
    let mut placed: HashMap<(MemberId, u64), EntryHash> = HashMap::new();
    // A request's entries of one author follow each other in chain order.
    let mut in_request: HashMap<MemberId, ChainTip> = HashMap::new();
    let mut out = Vec::new();
    for entry in request {
        let body = &entry.body;
        let hash = entry.hash().unwrap();
        if let Some(last) = in_request.get(&body.author) {
            check_chain(entry, Some(last)).ok()?;
        }
        in_request.insert(
            body.author.clone(),
            ChainTip {
                seq: body.seq,
                hash,
                timestamp: body.timestamp,
            },
        );
        if tips.get(&body.author).is_some_and(|t| body.seq <= t.seq) {
            let key = (body.author.clone(), body.seq);
            let at = placed.get(&key).or_else(|| stored.get(&key))?;
            if *at != hash {
                return None;
            }
            // A re-sent entry still has to be a valid entry.
            verifier.verify_detached(entry).ok()?;
            out.push((hash, true));
            continue;
        }
        let verified = verifier
            .verify(entry.clone(), tips.get(&body.author))
            .ok()?;
        tips.insert(body.author.clone(), ChainTip::of(&verified));
        placed.insert((body.author.clone(), body.seq), hash);
        out.push((hash, false));
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The two stages accept exactly the requests the one-by-one reference accepts, with
    /// the same receipts.
    #[test]
    fn the_two_stages_agree_with_verifying_one_by_one(
        stored_manufacturer in 0usize..5,
        stored_supplier in 0usize..2,
        picks in proptest::collection::vec(0usize..14, 0..8),
    ) {
        let f = fixture();
        let store = MemoryStore::new();
        let mut ledger = Ledger::load(f.genesis.clone(), &store).unwrap();
        let pipeline = Pipeline::new(f.genesis.clone(), 100);
        let now = Timestamp(10_000_000);
        let mut stored = HashMap::new();
        let mut tips = HashMap::new();
        for prefix in [&f.pool[..stored_manufacturer], &f.pool[8..8 + stored_supplier]] {
            if prefix.is_empty() {
                continue;
            }
            let checked = pipeline.check(prefix.to_vec(), now).unwrap();
            let placement = ledger.place(&store, checked);
            placement.result.unwrap();
            store.write(placement.writes).unwrap();
            ledger.committed();
            for entry in prefix {
                stored.insert((entry.body.author.clone(), entry.body.seq), entry.hash().unwrap());
                tips.insert(entry.body.author.clone(), ChainTip { seq: entry.body.seq, hash: entry.hash().unwrap(), timestamp: entry.body.timestamp });
            }
        }
        let request: Vec<SignedEntry> = picks.iter().map(|&i| f.pool[i].clone()).collect();
        let expected = reference(&f, &stored, &tips, &request);
        let actual = pipeline
            .check(request, now)
            .map(|checked| ledger.place(&store, checked))
            .and_then(|placement| placement.result)
            .ok()
            .map(|receipts| receipts.iter().map(|r| (r.hash, r.duplicate)).collect::<Vec<_>>());
        prop_assert_eq!(actual, expected);
    }
}

#[test]
fn a_refused_request_leaves_the_ledger_as_it_was() {
    let f = fixture();
    let store = MemoryStore::new();
    let mut ledger = Ledger::load(f.genesis.clone(), &store).unwrap();
    let pipeline = Pipeline::new(f.genesis.clone(), 100);
    let now = Timestamp(10_000_000);
    // Entries 0..3 fine, then the fork's entry 3 after the real 3: the request is refused.
    let mut request = f.pool[..4].to_vec();
    request.push(f.pool[11].clone());
    let checked = pipeline.check(request, now);
    assert!(checked.is_err(), "entry 3 twice does not chain");
    let checked = pipeline.check(f.pool[..3].to_vec(), now).unwrap();
    let placement = ledger.place(&store, checked);
    assert_eq!(placement.result.unwrap().len(), 3);
    // Not written: a second placement of the same entries sees them as placed.
    let again = ledger.place(&store, pipeline.check(f.pool[..3].to_vec(), now).unwrap());
    assert!(again.result.unwrap().iter().all(|r| r.duplicate));
    // After a failed write the ledger forgets them.
    ledger.reload(&store).unwrap();
    assert_eq!(ledger.tip(&f.pool[0].body.author), None);
    assert_eq!(ledger.chains(), 0);
}

#[test]
fn a_fork_proof_from_a_peer_is_kept_once_even_for_a_chain_held_nowhere_here() {
    let f = fixture();
    let store = MemoryStore::new();
    let mut ledger = Ledger::load(f.genesis.clone(), &store).unwrap();
    // The manufacturer's entry 3 twice: this node holds none of its chain.
    let proof = ForkProof::new(f.pool[3].clone(), f.pool[11].clone()).unwrap();
    let recorded = ledger.record_fork(&store, &proof).unwrap().unwrap();
    assert_eq!(
        (&recorded.author, recorded.seq),
        (&f.pool[3].body.author, 3)
    );
    store.write(recorded.writes).unwrap();
    assert_eq!(store.forks(10).unwrap(), vec![proof.clone()]);
    // The same proof again, or one at a later place, adds nothing.
    assert!(ledger.record_fork(&store, &proof).unwrap().is_none());
    // Its chain's entries before the fork point are still placed as usual.
    let pipeline = Pipeline::new(f.genesis.clone(), 100);
    let checked = pipeline
        .check(f.pool[..3].to_vec(), Timestamp(10_000_000))
        .unwrap();
    let placement = ledger.place(&store, checked);
    assert_eq!(placement.result.unwrap().len(), 3);
    store.write(placement.writes).unwrap();
    assert_eq!(
        fork_points(&store)
            .unwrap()
            .of_chain(&f.pool[0].body.author),
        Some(3)
    );
}

#[test]
fn too_many_items_are_refused_before_any_work() {
    let f = fixture();
    let pipeline = Pipeline::new(f.genesis.clone(), 2);
    assert!(matches!(
        pipeline.check(f.pool[..3].to_vec(), Timestamp(0)),
        Err(IngestError::TooMany { count: 3, limit: 2 })
    ));
}
