//! What the SDK's integration tests share: the demo consortium's C2M story signed into the
//! members' chains and witnessed by checkpoints, and the tampering of JSON values one leaf at
//! a time.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::reports::attestation::{
    ATTESTATION_FORMAT, Attestation, AttestationBody, AttestedEntry, ChainHeld,
};
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};
use tally_sdk::witnessing::witness::{WITNESS_EVIDENCE_FORMAT, WitnessEvidence};

pub const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";
pub const LOT: &str = "https://id.gs1.org/01/09506000134369/10/LINEN-2026-07";

/// The members' chains, signed as the story goes.
pub struct Chains {
    pub genesis: Consortium,
    pub keys: BTreeMap<String, MemberKeys>,
    pub chains: BTreeMap<String, Vec<SignedEntry>>,
    /// Entries signed so far, over all chains: each is timestamped a minute after the last.
    pub signed: u64,
}

impl Chains {
    pub fn new() -> Self {
        let (signed, keys) = demo_consortium().unwrap();
        Self {
            genesis: signed.verify().unwrap(),
            keys: keys
                .into_iter()
                .map(|k| (k.member.as_str().to_owned(), k))
                .collect(),
            chains: BTreeMap::new(),
            signed: 0,
        }
    }

    pub fn record(&mut self, member: &str, event: Value) -> EntryHash {
        let chain = self.chains.entry(member.to_owned()).or_default();
        let prev = chain.last().map(|e| e.hash().unwrap());
        let entry = UnsignedEntry::event(
            self.genesis.network_id(),
            MemberId::new(member).unwrap(),
            chain.len() as u64,
            prev,
            Timestamp(1_772_900_000_000 + self.signed * 60_000),
            Vec::new(),
            &event,
            None,
        )
        .unwrap()
        .sign(&self.keys[member].signing)
        .unwrap();
        let hash = entry.hash().unwrap();
        chain.push(entry);
        self.signed += 1;
        hash
    }

    /// Checkpoints of platform, supplier and regulator (number 0 each) over every chain.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        let spans: Vec<ChainSpan> = self
            .chains
            .iter()
            .map(|(member, chain)| {
                let hashes: Vec<EntryHash> = chain.iter().map(|e| e.hash().unwrap()).collect();
                ChainSpan::new(MemberId::new(member).unwrap(), 0, &hashes).unwrap()
            })
            .collect();
        ["platform", "supplier", "regulator"]
            .into_iter()
            .map(|witness| {
                Checkpoint::sign(
                    self.genesis.network_id(),
                    MemberId::new(witness).unwrap(),
                    0,
                    Timestamp(1_773_000_000_000),
                    spans.clone(),
                    &self.keys[witness].signing,
                )
                .unwrap()
            })
            .collect()
    }

    /// Every chain as held in full, sorted by author.
    pub fn view(&self) -> Vec<ChainHeld> {
        self.chains
            .iter()
            .map(|(member, chain)| ChainHeld {
                author: MemberId::new(member).unwrap(),
                size: chain.len() as u64,
                head: chain.last().map(|e| e.hash().unwrap()),
            })
            .collect()
    }

    /// Every member's attestation (at `time`) of `SOFA`, each holding every chain in full:
    /// every entry of the story is about the sofa or its linen lot.
    pub fn attestations(&self, time: Timestamp) -> Vec<Attestation> {
        let entries: Vec<AttestedEntry> = self
            .chains
            .values()
            .flatten()
            .map(|e| AttestedEntry {
                author: e.body.author.clone(),
                seq: e.body.seq,
                hash: e.hash().unwrap(),
            })
            .collect();
        self.keys
            .iter()
            .map(|(member, keys)| {
                let body = AttestationBody {
                    format: ATTESTATION_FORMAT,
                    network: self.genesis.network_id(),
                    attester: MemberId::new(member).unwrap(),
                    product: SOFA.to_owned(),
                    time,
                    chains: self.view(),
                    entries: entries.clone(),
                };
                Attestation::sign(body, &keys.signing).unwrap()
            })
            .collect()
    }

    /// Every entry with the checkpoints of [`Chains::checkpoints`].
    pub fn evidence(&self) -> Vec<WitnessEvidence> {
        let checkpoints = self.checkpoints();
        let mut evidence = Vec::new();
        for chain in self.chains.values() {
            let hashes: Vec<EntryHash> = chain.iter().map(|e| e.hash().unwrap()).collect();
            for entry in chain {
                let author = &entry.body.author;
                let witnesses = checkpoints
                    .iter()
                    .filter(|c| &c.body().witness != author)
                    .map(|c| c.witness(author, entry.body.seq, &hashes).unwrap())
                    .collect();
                evidence.push(WitnessEvidence {
                    format: WITNESS_EVIDENCE_FORMAT,
                    entry: entry.clone(),
                    witnesses,
                });
            }
        }
        evidence
    }
}

pub fn at(day: u32, hour: u32) -> String {
    format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00")
}

pub fn sofa_event(day: u32, hour: u32, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": at(day, hour), "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// The demo's story, then logistics inspects the sofa on receipt (passed) and at delivery
/// (failed), and delivers it after the date it accepted with the factory's hand-over.
pub fn story() -> Chains {
    let mut chains = Chains::new();
    let lot = json!([{"epcClass": LOT, "quantity": 40, "uom": "MTR"}]);
    chains.record("platform", sofa_event(1, 9, json!({"tally:kind": "order"})));
    chains.record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
            "eventTime": at(2, 10), "eventTimeZoneOffset": "+08:00", "quantityList": lot}),
    );
    let lot_handed = chains.record(
        "supplier",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping",
            "eventTime": at(3, 8), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:handOverTo": "manufacturer"}),
    );
    chains.record(
        "manufacturer",
        json!({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
            "eventTime": at(3, 16), "eventTimeZoneOffset": "+08:00", "quantityList": lot,
            "tally:receiptOf": lot_handed.to_hex()}),
    );
    chains.record(
        "manufacturer",
        json!({"type": "TransformationEvent", "bizStep": "assembling",
            "eventTime": at(4, 14), "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": LOT, "quantity": 9, "uom": "MTR"}],
            "outputEPCList": [SOFA]}),
    );
    chains.record(
        "manufacturer",
        sofa_event(
            5,
            15,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
    );
    let handed = chains.record(
        "manufacturer",
        sofa_event(
            6,
            16,
            json!({"bizStep": "shipping", "tally:handOverTo": "logistics",
                "tally:promisedDate": at(9, 18)}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            6,
            18,
            json!({"bizStep": "receiving", "tally:receiptOf": handed.to_hex()}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            6,
            19,
            json!({"bizStep": "inspecting", "disposition": "conformant"}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            9,
            20,
            json!({"bizStep": "inspecting", "disposition": "non_conformant"}),
        ),
    );
    chains.record(
        "logistics",
        sofa_event(
            10,
            11,
            json!({"bizStep": "arriving", "tally:kind": "delivery"}),
        ),
    );
    chains
}

/// Every leaf of a JSON value, as a JSON pointer.
pub fn leaves(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(
                    v,
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{pointer}/{i}"), out);
            }
        }
        _ => out.push(pointer),
    }
}

pub fn changed(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            // Change one character, keeping hex hex and times times where that is possible.
            let mut chars: Vec<char> = s.chars().collect();
            match chars.iter().rposition(|c| c.is_ascii_alphanumeric()) {
                Some(i) => {
                    chars[i] = match chars[i] {
                        '0' => '1',
                        '9' => '8',
                        'a' => 'b',
                        'f' => 'e',
                        'z' => 'y',
                        'Z' => 'Y',
                        c if c.is_ascii_digit() => char::from(c as u8 + 1),
                        c => char::from(c as u8 ^ 1),
                    };
                    Value::String(chars.into_iter().collect())
                }
                None => Value::String(format!("{s}x")),
            }
        }
        Value::Number(n) => match n.as_u64() {
            Some(0) => json!(1),
            Some(u) => json!(u - 1),
            None => json!(n.as_f64().unwrap() + 1.0),
        },
        Value::Bool(b) => Value::Bool(!b),
        Value::Null => json!(0),
        other => other.clone(),
    }
}
