//! Unit tests of `attestation`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::membership::genesis::tests::test_consortium;

const AS_OF: Timestamp = Timestamp(1_800_000_000_000);

fn member(id: &str) -> MemberId {
    MemberId::new(id).unwrap()
}

fn product() -> ProductId {
    ProductId::parse("https://id.gs1.org/01/09506000134352/21/SOFA-1").unwrap()
}

fn hash(n: u64) -> EntryHash {
    EntryHash::digest(&n.to_be_bytes())
}

/// Chains `a` and `b` of 10 entries each (entry `n` of `a` hashed from `n`, of `b` from
/// `100 + n`); chain `c` empty.
fn chains() -> Vec<ChainHeld> {
    vec![
        ChainHeld {
            author: member("a"),
            size: 10,
            head: Some(hash(9)),
        },
        ChainHeld {
            author: member("b"),
            size: 10,
            head: Some(hash(109)),
        },
    ]
}

/// The product's entries: `a` #2 and #7, `b` #4.
fn about() -> Vec<AttestedEntry> {
    vec![
        AttestedEntry {
            author: member("a"),
            seq: 2,
            hash: hash(2),
        },
        AttestedEntry {
            author: member("a"),
            seq: 7,
            hash: hash(7),
        },
        AttestedEntry {
            author: member("b"),
            seq: 4,
            hash: hash(104),
        },
    ]
}

fn held(entries: &[AttestedEntry]) -> BTreeMap<(MemberId, u64), EntryHash> {
    entries
        .iter()
        .map(|e| ((e.author.clone(), e.seq), e.hash))
        .collect()
}

fn attest(
    g: &Consortium,
    key: &SigningKey,
    attester: &str,
    chains: Vec<ChainHeld>,
    entries: Vec<AttestedEntry>,
) -> Attestation {
    Attestation::sign(
        AttestationBody {
            format: ATTESTATION_FORMAT,
            network: g.network_id(),
            attester: member(attester),
            product: product().as_str().to_owned(),
            time: AS_OF,
            chains,
            entries,
        },
        key,
    )
    .unwrap()
}

#[test]
fn every_chain_attested_by_a_quorum_of_others_is_complete() {
    let (g, keys) = test_consortium();
    let all = vec![
        attest(&g, &keys[0], "a", chains(), about()),
        attest(&g, &keys[1], "b", chains(), about()),
        attest(&g, &keys[2], "c", chains(), about()),
    ];
    let found = check(&g, &product(), AS_OF, &all, &held(&about())).unwrap();
    assert!(found.is_complete(), "{found:?}");
    let a = &found.chains[0];
    assert_eq!((a.reads, a.proven, a.needed), (8, 10, 2));
    assert_eq!(a.attesters, vec![member("b"), member("c")]);
    assert_eq!(found.chains.len(), 3, "the empty chain of c is checked too");
}

#[test]
fn an_entry_left_out_is_named_by_any_one_attester() {
    let (g, keys) = test_consortium();
    let all = vec![
        attest(&g, &keys[1], "b", chains(), about()),
        attest(&g, &keys[2], "c", chains(), about()),
    ];
    let mut bundle = about();
    bundle.remove(0);
    let err = check(&g, &product(), AS_OF, &all, &held(&bundle)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "entry {} (a #2), which b attests is about the product or its inputs, was left out of the bundle",
            hash(2)
        )
    );
    // Dropping the chain's last entry about the product as well leaves no later entry to
    // show it was left out: the chain is then not shown complete, and says why.
    bundle.retain(|e| e.author != member("a"));
    let found = check(&g, &product(), AS_OF, &all, &held(&bundle)).unwrap();
    assert!(!found.is_complete());
    let gap = found.chains[0].gap.as_deref().unwrap();
    assert!(gap.contains("which the bundle lacks"), "{gap}");
}

#[test]
fn too_few_fresh_attesters_or_a_short_quorum_leave_a_named_gap() {
    let (g, keys) = test_consortium();
    let only_b = vec![attest(&g, &keys[1], "b", chains(), about())];
    let found = check(&g, &product(), AS_OF, &only_b, &held(&about())).unwrap();
    let gaps: Vec<_> = found.gaps().map(|c| c.author.as_str()).collect();
    assert_eq!(gaps, vec!["a", "b", "c"]);
    assert_eq!(
        found.chains[0].gap.as_deref(),
        Some("attested by 1 of the 2 members other than its author needed")
    );

    // The author's own word does not count for its chain.
    let a_and_b = vec![
        attest(&g, &keys[0], "a", chains(), about()),
        attest(&g, &keys[1], "b", chains(), about()),
    ];
    let found = check(&g, &product(), AS_OF, &a_and_b, &held(&about())).unwrap();
    let gaps: Vec<_> = found.gaps().map(|c| c.author.as_str()).collect();
    assert_eq!(gaps, vec!["a", "b"]);

    // c holds only 6 of a's entries: #6 to #9 rest on b's word alone.
    let mut behind = chains();
    behind[0].size = 6;
    behind[0].head = Some(hash(5));
    let about_behind: Vec<_> = about().into_iter().filter(|e| e.seq != 7).collect();
    let found = check(
        &g,
        &product(),
        AS_OF,
        &[
            attest(&g, &keys[1], "b", chains(), about()),
            attest(&g, &keys[2], "c", behind, about_behind),
        ],
        &held(&about()),
    )
    .unwrap();
    assert_eq!(found.chains[0].proven, 6);
    assert_eq!(
        found.chains[0].gap.as_deref(),
        Some("entries #6 to #7 are held by fewer than the 2 attesters needed")
    );
}

#[test]
fn stale_attestations_do_not_count() {
    let (g, keys) = test_consortium();
    let mut old = attest(&g, &keys[2], "c", chains(), about()).body;
    old.time = Timestamp(AS_OF.0 - g.limits().max_clock_skew_ms - 1);
    let all = vec![
        attest(&g, &keys[1], "b", chains(), about()),
        Attestation::sign(old, &keys[2]).unwrap(),
    ];
    let found = check(&g, &product(), AS_OF, &all, &held(&about())).unwrap();
    assert!(!found.is_complete());
    assert_eq!(found.not_counted.len(), 1);
    assert_eq!(found.not_counted[0].0, member("c"));
}

#[test]
fn tampered_duplicated_foreign_or_contradicting_attestations_are_refused() {
    let (g, keys) = test_consortium();
    let good = attest(&g, &keys[1], "b", chains(), about());
    let run = |all: Vec<Attestation>| {
        check(&g, &product(), AS_OF, &all, &held(&about()))
            .unwrap_err()
            .to_string()
    };

    let mut tampered = good.clone();
    tampered.body.entries.pop();
    assert!(run(vec![tampered]).contains("signature of b does not verify"));

    let forged = attest(&g, &keys[2], "b", chains(), about());
    assert!(run(vec![forged]).contains("signature of b does not verify"));

    assert_eq!(
        run(vec![good.clone(), good.clone()]),
        "the bundle holds two attestations of b"
    );

    let mut other = good.body.clone();
    other.product = "https://id.gs1.org/01/09506000134352/21/SOFA-2".into();
    assert!(
        run(vec![Attestation::sign(other, &keys[1]).unwrap()]).contains("not the bundle's product")
    );

    let mut forked = about();
    forked[0].hash = hash(999);
    let err = run(vec![attest(&g, &keys[1], "b", chains(), forked)]);
    assert!(err.contains("the chain is forked"), "{err}");

    let mut beyond = about();
    beyond[0].seq = 10;
    let body = AttestationBody {
        format: ATTESTATION_FORMAT,
        network: g.network_id(),
        attester: member("b"),
        product: product().as_str().to_owned(),
        time: AS_OF,
        chains: chains(),
        entries: beyond,
    };
    assert!(
        Attestation::sign(body, &keys[1])
            .unwrap_err()
            .to_string()
            .contains("it lists a's entry #10 but holds 10 of that chain")
    );
}
