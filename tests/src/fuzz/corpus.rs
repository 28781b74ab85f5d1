//! The fuzzer's fixtures: valid values made with the real code, from which every target's
//! seed corpus is encoded.
//!
//! The demo consortium signs a short C2M story about one sofa (the platform's order with
//! private fields, the factory's work and hand-over, the logistics firm's receipt, inspection
//! and delivery); three members witness it with checkpoints; the platform equivocates once (a
//! fork proof); the founders approve a membership change; the platform's node seals the
//! order's private fields to the logistics firm's node. Bundles, deliveries, wire messages and
//! documents are then built from these values by the SDK and node code that builds them in
//! real use, so every seed is an input the decoders accept.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tally_node::private::delivery::Delivery;
use tally_sdk::audit::period::{ChainSegment, Period, PeriodBundle};
use tally_sdk::codec::CanonicalJson;
use tally_sdk::crypto::X25519SecretKey;
use tally_sdk::entry::{SignedEntry, UnsignedEntry};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::SignedGenesis;
use tally_sdk::membership::governance::{Action, ChangeBody, SignedChange};
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::membership::template::demo_consortium;
use tally_sdk::privacy::disclosure::{CommitLimits, OpenedField, commit};
use tally_sdk::privacy::held::HeldFields;
use tally_sdk::privacy::sealed::{self, SealContext};
use tally_sdk::reports::bundle::EvidenceBundle;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};
use tally_sdk::witnessing::fork::ForkProof;
use tally_sdk::witnessing::witness::{WITNESS_EVIDENCE_FORMAT, WitnessEvidence};

use crate::Error;

/// The product the story is about.
pub const SOFA: &str = "https://id.gs1.org/01/09506000134352/21/C2M-0001";

/// When the story's first entry is signed; each next entry a minute later.
const START: u64 = 1_772_900_000_000;
const MINUTE: u64 = 60_000;

/// Everything the targets' seeds and checks are made from.
#[derive(Debug)]
pub struct Fixtures {
    /// The demo consortium, verified.
    pub genesis: Consortium,
    /// Its signed genesis (as `tally genesis demo` writes it).
    pub signed_genesis: SignedGenesis,
    /// Every demo member's keys, by member id.
    pub keys: BTreeMap<String, MemberKeys>,
    /// The story's entries in signing order.
    pub entries: Vec<SignedEntry>,
    /// The same, by chain.
    pub chains: BTreeMap<String, Vec<SignedEntry>>,
    /// The platform's order (the story's first entry) and its opened private fields.
    pub order: SignedEntry,
    /// The order's private fields, opened.
    pub opened: Vec<OpenedField>,
    /// The checkpoints of platform, supplier and regulator over every chain.
    pub checkpoints: Vec<Checkpoint>,
    /// A second checkpoint of the platform with the first one's number (a conflict).
    pub conflicting_checkpoint: Checkpoint,
    /// Every entry with the checkpoints that witness it.
    pub evidence: Vec<WitnessEvidence>,
    /// The platform's two entries at one place.
    pub fork: ForkProof,
    /// The sofa's evidence bundle.
    pub evidence_bundle: EvidenceBundle,
    /// The bundle of the story's middle.
    pub period_bundle: PeriodBundle,
    /// A membership change the founders approved (the supplier's node moves).
    pub change: SignedChange,
    /// The order's private fields sealed to the logistics firm's node.
    pub delivery: Delivery,
    /// The logistics firm's X25519 secret (the reader of [`Fixtures::delivery`]).
    pub reader_secret: X25519SecretKey,
    /// The story's events, as EPCIS JSON (what queries are matched against).
    pub events: Vec<Value>,
}

fn sofa_event(day: u32, hour: u32, extra: Value) -> Value {
    let mut event = json!({
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": format!("2026-03-{day:02}T{hour:02}:00:00.000+08:00"),
        "eventTimeZoneOffset": "+08:00", "epcList": [SOFA],
        "readPoint": {"id": "urn:epc:id:sgln:9506000134352.0.1"},
    });
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            event.insert(key.clone(), value.clone());
        }
    }
    event
}

struct Signer<'a> {
    genesis: &'a Consortium,
    keys: &'a BTreeMap<String, MemberKeys>,
    chains: BTreeMap<String, Vec<SignedEntry>>,
    entries: Vec<SignedEntry>,
}

impl Signer<'_> {
    fn keys(&self, member: &str) -> Result<&MemberKeys, Error> {
        self.keys
            .get(member)
            .ok_or_else(|| format!("no demo member {member}").into())
    }

    /// The next entry of `member`'s chain, not yet appended.
    fn draft(
        &self,
        member: &str,
        event: &Value,
        private: Option<tally_sdk::privacy::disclosure::PrivateCommitment>,
    ) -> Result<SignedEntry, Error> {
        let chain = self.chains.get(member);
        let seq = chain.map_or(0, Vec::len) as u64;
        let prev = match chain.and_then(|c| c.last()) {
            Some(last) => Some(last.hash()?),
            None => None,
        };
        let at = Timestamp(START + self.entries.len() as u64 * MINUTE);
        Ok(UnsignedEntry::event(
            self.genesis.network_id(),
            MemberId::new(member)?,
            seq,
            prev,
            at,
            Vec::new(),
            event,
            private,
        )?
        .sign(&self.keys(member)?.signing)?)
    }

    fn record(&mut self, member: &str, event: Value) -> Result<EntryHash, Error> {
        let entry = self.draft(member, &event, None)?;
        self.append(member, entry)
    }

    fn append(&mut self, member: &str, entry: SignedEntry) -> Result<EntryHash, Error> {
        let hash = entry.hash()?;
        self.chains
            .entry(member.to_owned())
            .or_default()
            .push(entry.clone());
        self.entries.push(entry);
        Ok(hash)
    }
}

impl Fixtures {
    /// Signs the story and builds everything from it.
    pub fn build() -> Result<Self, Error> {
        let (signed_genesis, keys) = demo_consortium()?;
        let genesis = signed_genesis.clone().verify()?;
        let keys: BTreeMap<String, MemberKeys> = keys
            .into_iter()
            .map(|k| (k.member.as_str().to_owned(), k))
            .collect();
        let mut signer = Signer {
            genesis: &genesis,
            keys: &keys,
            chains: BTreeMap::new(),
            entries: Vec::new(),
        };

        // The order, with the consumer's data as private fields.
        let mut fields = BTreeMap::new();
        for (name, value) in [
            ("consumer.name", json!("Li Wei")),
            ("consumer.address", json!("88 Example Road, Hangzhou")),
            ("order.spec", json!({"model": "sofa-3", "fabric": "linen"})),
        ] {
            fields.insert(FieldName::new(name)?, CanonicalJson::from_value(&value)?);
        }
        let (commitment, opened) = commit(fields, &CommitLimits::default())?;
        let order_event = sofa_event(1, 9, json!({"action": "ADD", "tally:kind": "order"}));
        let order = signer.draft("platform", &order_event, Some(commitment.clone()))?;
        signer.append("platform", order.clone())?;
        signer.record(
            "manufacturer",
            sofa_event(4, 14, json!({"action": "ADD", "bizStep": "commissioning"})),
        )?;
        signer.record(
            "manufacturer",
            sofa_event(
                5,
                15,
                json!({"bizStep": "inspecting", "disposition": "conformant"}),
            ),
        )?;
        let handed = signer.record(
            "manufacturer",
            sofa_event(
                6,
                16,
                json!({"bizStep": "shipping", "tally:handOverTo": "logistics",
                    "tally:promisedDate": "2026-03-09T18:00:00.000+08:00"}),
            ),
        )?;
        signer.record(
            "logistics",
            sofa_event(
                6,
                18,
                json!({"bizStep": "receiving", "tally:receiptOf": handed.to_hex()}),
            ),
        )?;
        signer.record(
            "logistics",
            sofa_event(
                9,
                20,
                json!({"bizStep": "inspecting", "disposition": "non_conformant"}),
            ),
        )?;
        signer.record(
            "logistics",
            sofa_event(
                10,
                11,
                json!({"bizStep": "arriving", "tally:kind": "delivery"}),
            ),
        )?;
        // The platform's second entry, and a rival one at the same place: a fork.
        let observed = sofa_event(11, 9, json!({"bizStep": "retail_selling"}));
        let rival = signer.draft("platform", &observed, None)?;
        signer.record(
            "platform",
            sofa_event(11, 10, json!({"bizStep": "accepting"})),
        )?;
        let platform_chain = signer.chains.get("platform").cloned().unwrap_or_default();
        let fork = ForkProof::new(
            platform_chain.last().cloned().ok_or("no platform entry")?,
            rival,
        )?;
        let Signer {
            chains, entries, ..
        } = signer;

        let keys_of = |member: &str| -> Result<&MemberKeys, Error> {
            keys.get(member)
                .ok_or_else(|| format!("no demo member {member}").into())
        };
        let hashes = |chain: &[SignedEntry]| -> Result<Vec<EntryHash>, Error> {
            chain.iter().map(|e| Ok(e.hash()?)).collect()
        };
        let mut spans = Vec::new();
        for (member, chain) in &chains {
            spans.push(ChainSpan::new(MemberId::new(member)?, 0, &hashes(chain)?)?);
        }
        let at = Timestamp(START + entries.len() as u64 * MINUTE);
        let mut checkpoints = Vec::new();
        for witness in ["platform", "supplier", "regulator"] {
            checkpoints.push(Checkpoint::sign(
                genesis.network_id(),
                MemberId::new(witness)?,
                0,
                at,
                spans.clone(),
                &keys_of(witness)?.signing,
            )?);
        }
        let conflicting_checkpoint = Checkpoint::sign(
            genesis.network_id(),
            MemberId::new("platform")?,
            0,
            Timestamp(at.0 + 1),
            spans.iter().skip(1).cloned().collect(),
            &keys_of("platform")?.signing,
        )?;
        let mut evidence = Vec::new();
        for chain in chains.values() {
            let chain_hashes = hashes(chain)?;
            for entry in chain {
                let author = &entry.body.author;
                let mut witnesses = Vec::new();
                for checkpoint in checkpoints.iter().filter(|c| &c.body().witness != author) {
                    witnesses.push(checkpoint.witness(author, entry.body.seq, &chain_hashes)?);
                }
                evidence.push(WitnessEvidence {
                    format: WITNESS_EVIDENCE_FORMAT,
                    entry: entry.clone(),
                    witnesses,
                });
            }
        }

        let verifier = Verifier::new(&genesis, at);
        let mut witnessed = BTreeMap::new();
        for e in &evidence {
            let status = e.verify(&verifier)?;
            witnessed.insert(status.entry, status.witnessed);
        }
        let evidence_bundle = EvidenceBundle::build(
            &genesis,
            &ProductId::parse(SOFA)?,
            evidence.clone(),
            &|hash| witnessed.get(hash).copied().unwrap_or(false),
            vec![fork.clone()],
            at,
        )?;

        // The period from the factory's first entry to the logistics firm's last.
        let period = Period {
            from: Timestamp(START + MINUTE),
            to: Timestamp(START + 7 * MINUTE),
        };
        let mut by_hash = BTreeMap::new();
        for e in &evidence {
            by_hash.insert(e.entry.hash()?, e.clone());
        }
        let mut segments = Vec::new();
        for (member, chain) in &chains {
            let mut in_period = Vec::new();
            for entry in chain.iter().filter(|e| period.contains(e.body.timestamp)) {
                in_period.push(
                    by_hash
                        .get(&entry.hash()?)
                        .cloned()
                        .ok_or("an entry without evidence")?,
                );
            }
            segments.push(ChainSegment {
                member: MemberId::new(member)?,
                before: chain
                    .iter()
                    .rev()
                    .find(|e| e.body.timestamp < period.from)
                    .cloned(),
                entries: in_period,
                after: chain
                    .iter()
                    .find(|e| e.body.timestamp >= period.to)
                    .cloned(),
            });
        }
        let period_verifier = Verifier::new(&genesis, Timestamp(u64::MAX / 2));
        let period_bundle = PeriodBundle::build(
            genesis.network_id(),
            period,
            segments,
            vec![fork.clone()],
            &|e| e.verify(&period_verifier).is_ok_and(|s| s.witnessed),
        );

        // The founders move the supplier's node.
        let body = ChangeBody::next(
            &genesis,
            Timestamp(START),
            "the supplier's node moved to a new address".to_owned(),
            Action::RotateKeys {
                member: MemberId::new("supplier")?,
                signing: None,
                x25519_key: None,
                peer_id: None,
                addresses: Some(vec!["/ip4/10.0.0.9/tcp/7400".to_owned()]),
            },
        );
        let mut change = SignedChange::draft(body);
        for member in genesis.members().iter().filter(|m| m.founder) {
            change.approve(&genesis, &member.id, &keys_of(member.id.as_str())?.signing)?;
        }

        // The platform's node seals the order's fields the logistics firm may read.
        let reader = genesis
            .member(&MemberId::new("logistics")?)
            .ok_or("no logistics member")?;
        let held = HeldFields::complete(&commitment, &opened)?
            .only(|field| genesis.may_read(reader, field));
        let order_hash = order.hash()?;
        let context = SealContext {
            network: genesis.network_id(),
            entry: order_hash,
            reader: &reader.id,
        };
        let sealed = sealed::seal(&context, &reader.x25519_key, &held)?;
        let delivery = Delivery {
            entry: order.clone(),
            sealed,
        };
        let reader_secret = keys_of("logistics")?.x25519.clone();

        let mut events = Vec::new();
        for entry in &entries {
            if let tally_sdk::entry::Payload::Event { event, .. } = &entry.body.payload {
                events.push(event.to_value()?);
            }
        }

        Ok(Self {
            genesis,
            signed_genesis,
            keys,
            entries,
            chains,
            order,
            opened,
            checkpoints,
            conflicting_checkpoint,
            evidence,
            fork,
            evidence_bundle,
            period_bundle,
            change,
            delivery,
            reader_secret,
            events,
        })
    }
}
