//! The ingestion pipeline: one path for every entry, whatever its source.
//!
//! Entries signed elsewhere and events from the member's own systems (which the node signs into
//! its member's chain) become a [`Plan`]: each entry verified with the SDK's rules (signatures
//! in one batch), placed in its author's chain, and turned into the writes for the entry, its
//! chain position, the new head and every index. A request is all-or-nothing: if any entry is
//! rejected, nothing of the request is written. Re-sent entries already stored are recognised
//! and acknowledged again without writing anything.
//!
//! [`Ledger`] holds the chain heads and does no IO itself except reading the store to
//! recognise re-sent entries; the committer ([`crate::commit`]) owns it and does the writing.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tally_sdk::codec::{self, CanonicalJson};
use tally_sdk::disclosure::{CommitLimits, OpenedField, commit};
use tally_sdk::entry::{EntryError, Payload, SignedEntry, UnsignedEntry};
use tally_sdk::event::EpcisEvent;
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::{ChainTip, Verifier, VerifyError};

use crate::store::{
    Cf, Store, StoreError, WritePlan, chain_key, head_value, index_key, string_prefix,
};

/// An event from the member's own systems, with its private fields.
#[derive(Debug, Clone)]
pub struct EventInput {
    /// The EPCIS 2.0 event.
    pub event: Value,
    /// Private field values by name.
    pub private: BTreeMap<FieldName, CanonicalJson>,
}

/// What the node acknowledges for one stored entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// The entry hash.
    pub hash: EntryHash,
    /// The author.
    pub author: MemberId,
    /// Its position in the author's chain.
    pub seq: u64,
    /// Whether the entry was already stored (a re-sent entry).
    pub duplicate: bool,
}

/// A request was rejected; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Too many items in one request.
    #[error("{count} items in one request, more than the limit of {limit}")]
    TooMany {
        /// Items.
        count: usize,
        /// Limit.
        limit: usize,
    },
    /// An event is invalid.
    #[error("item {index}: {source}")]
    Event {
        /// Position in the request.
        index: usize,
        /// Why.
        source: EntryError,
    },
    /// A private field is not allowed.
    #[error("item {index}: {problem}")]
    Private {
        /// Position in the request.
        index: usize,
        /// Why.
        problem: String,
    },
    /// An entry breaks a rule.
    #[error("item {index}: {source}")]
    Invalid {
        /// Position in the request.
        index: usize,
        /// Why.
        source: VerifyError,
    },
    /// A different entry is stored at that position: the author signed two histories.
    #[error(
        "item {index}: entry {seq} of {author} conflicts with the stored entry {stored} (offered {offered})"
    )]
    Conflict {
        /// Position in the request.
        index: usize,
        /// The author.
        author: MemberId,
        /// The position.
        seq: u64,
        /// The stored entry.
        stored: EntryHash,
        /// The offered entry.
        offered: EntryHash,
    },
    /// The node has no member key, so it cannot sign events.
    #[error("this node has no member key to sign events with")]
    NoKey,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The durable write of the group failed.
    #[error("the write to storage failed; nothing of this request was stored")]
    WriteFailed,
}

/// The writes of an accepted request and its receipts.
#[derive(Debug, Default)]
pub struct Plan {
    /// What to write.
    pub writes: WritePlan,
    /// What to acknowledge once written.
    pub receipts: Vec<Receipt>,
    /// The new chain heads.
    pub heads: Vec<(MemberId, ChainTip)>,
}

/// The chain heads, as stored plus accepted-but-unwritten entries.
#[derive(Debug)]
pub struct Ledger {
    genesis: Genesis,
    heads: HashMap<MemberId, ChainTip>,
    max_batch: usize,
}

fn kind_code(payload: &Payload) -> u8 {
    let Payload::Event { kind, .. } = payload;
    tally_sdk::event::KindName::ALL
        .iter()
        .position(|k| *k == kind.name())
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

impl Ledger {
    /// The ledger state of a store.
    pub fn open(genesis: Genesis, store: &Store, max_batch: usize) -> Result<Self, StoreError> {
        Ok(Self {
            genesis,
            heads: store.heads()?.into_iter().collect(),
            max_batch,
        })
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Re-reads the heads (after a failed write).
    pub fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        self.heads = store.heads()?.into_iter().collect();
        Ok(())
    }

    /// The head of a chain, including accepted entries not yet written.
    pub fn tip(&self, author: &MemberId) -> Option<ChainTip> {
        self.heads.get(author).copied()
    }

    /// Signs events from the member's systems into the member's chain.
    pub fn sign_events(
        &self,
        keys: &MemberKeys,
        events: Vec<EventInput>,
        now: Timestamp,
    ) -> Result<(Vec<SignedEntry>, Vec<Vec<OpenedField>>), IngestError> {
        if events.len() > self.max_batch {
            return Err(IngestError::TooMany {
                count: events.len(),
                limit: self.max_batch,
            });
        }
        let limits = self.genesis.limits();
        let commit_limits = CommitLimits {
            max_fields: limits.max_private_fields as usize,
            max_value_bytes: limits.max_private_value_bytes as usize,
        };
        let mut tip = self.tip(&keys.member);
        let mut entries = Vec::with_capacity(events.len());
        let mut opened_all = Vec::with_capacity(events.len());
        for (index, input) in events.into_iter().enumerate() {
            if let Some(unknown) = input.private.keys().find(|f| !self.genesis.knows_field(f)) {
                return Err(IngestError::Private {
                    index,
                    problem: format!(
                        "private field {unknown} is not in the consortium's private-field policy"
                    ),
                });
            }
            let (commitment, opened) = if input.private.is_empty() {
                (None, Vec::new())
            } else {
                let (commitment, opened) =
                    commit(input.private, &commit_limits).map_err(|e| IngestError::Private {
                        index,
                        problem: e.to_string(),
                    })?;
                (Some(commitment), opened)
            };
            let (seq, prev) = match tip {
                Some(t) => (t.seq + 1, Some(t.hash)),
                None => (0, None),
            };
            // A chain's timestamps never go back, even if the clock does.
            let timestamp = tip.map_or(now, |t| t.timestamp.max(now));
            let entry = UnsignedEntry::event(
                self.genesis.network_id(),
                keys.member.clone(),
                seq,
                prev,
                timestamp,
                Vec::new(),
                &input.event,
                commitment,
            )
            .map_err(|source| IngestError::Event { index, source })?
            .sign(&keys.signing)
            .map_err(|e| IngestError::Event {
                index,
                source: e.into(),
            })?;
            tip = Some(ChainTip {
                seq,
                hash: entry.hash().map_err(|e| IngestError::Event {
                    index,
                    source: e.into(),
                })?,
                timestamp,
            });
            entries.push(entry);
            opened_all.push(opened);
        }
        Ok((entries, opened_all))
    }

    /// Verifies entries and plans their writes. On success the heads already include them
    /// (call [`Ledger::reload`] if the write then fails).
    pub fn accept(
        &mut self,
        store: &Store,
        entries: Vec<SignedEntry>,
        opened: Vec<Vec<OpenedField>>,
        now: Timestamp,
    ) -> Result<Plan, IngestError> {
        if entries.len() > self.max_batch {
            return Err(IngestError::TooMany {
                count: entries.len(),
                limit: self.max_batch,
            });
        }
        let mut plan = Plan::default();
        let mut receipts: Vec<(usize, Receipt)> = Vec::new();
        // Re-sent entries (at or below the head) are recognised by hash, not verified again.
        let mut fresh = Vec::with_capacity(entries.len());
        let mut fresh_index = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let body = &entry.body;
            let at_or_below_head = self.tip(&body.author).is_some_and(|t| body.seq <= t.seq);
            if at_or_below_head {
                let offered = entry.hash().map_err(|e| IngestError::Invalid {
                    index,
                    source: e.into(),
                })?;
                match store.chain_hash(&body.author, body.seq)? {
                    Some(stored) if stored == offered => {
                        receipts.push((
                            index,
                            Receipt {
                                hash: offered,
                                author: body.author.clone(),
                                seq: body.seq,
                                duplicate: true,
                            },
                        ));
                        continue;
                    }
                    Some(stored) => {
                        return Err(IngestError::Conflict {
                            index,
                            author: body.author.clone(),
                            seq: body.seq,
                            stored,
                            offered,
                        });
                    }
                    // Accepted in this group but not yet written: the verifier reports it.
                    None => {}
                }
            }
            fresh.push(entry);
            fresh_index.push(index);
        }
        let verifier = Verifier::new(&self.genesis, now);
        let heads = &self.heads;
        let results = verifier.verify_batch(fresh, |author| heads.get(author).copied());
        let mut verified = Vec::with_capacity(results.len());
        for (result, index) in results.into_iter().zip(&fresh_index) {
            verified.push(result.map_err(|source| IngestError::Invalid {
                index: *index,
                source,
            })?);
        }
        let mut new_heads: HashMap<MemberId, ChainTip> = HashMap::new();
        for (entry, index) in verified.iter().zip(&fresh_index) {
            let body = entry.body();
            let hash = entry.hash();
            let bytes = entry
                .signed()
                .to_bytes()
                .map_err(|e| IngestError::Invalid {
                    index: *index,
                    source: e.into(),
                })?;
            plan.writes
                .put(Cf::Entries, hash.as_bytes().to_vec(), bytes);
            plan.writes.put(
                Cf::Chains,
                chain_key(&body.author, body.seq),
                hash.as_bytes().to_vec(),
            );
            let Payload::Event { event, .. } = &body.payload;
            let (parsed, _) =
                EpcisEvent::from_canonical(event).map_err(|e| IngestError::Invalid {
                    index: *index,
                    source: e.into(),
                })?;
            let time = parsed.event_time;
            for product in &parsed.products {
                plan.writes.put(
                    Cf::ByProduct,
                    index_key(&string_prefix(product.as_str()), time, &hash),
                    Vec::new(),
                );
            }
            plan.writes.put(
                Cf::ByKind,
                index_key(&[kind_code(&body.payload)], time, &hash),
                Vec::new(),
            );
            if let Some(step) = &parsed.biz_step {
                plan.writes.put(
                    Cf::ByBizStep,
                    index_key(&string_prefix(step), time, &hash),
                    Vec::new(),
                );
            }
            if let Some(disposition) = &parsed.disposition {
                plan.writes.put(
                    Cf::ByDisposition,
                    index_key(&string_prefix(disposition), time, &hash),
                    Vec::new(),
                );
            }
            plan.writes
                .put(Cf::ByTime, index_key(&[], time, &hash), Vec::new());
            if let Some(fields) = opened.get(*index).filter(|f| !f.is_empty()) {
                let value =
                    codec::encode("opened fields", fields).map_err(|e| IngestError::Invalid {
                        index: *index,
                        source: e.into(),
                    })?;
                plan.writes
                    .put(Cf::Private, hash.as_bytes().to_vec(), value);
            }
            new_heads.insert(body.author.clone(), ChainTip::of(entry));
            receipts.push((
                *index,
                Receipt {
                    hash,
                    author: body.author.clone(),
                    seq: body.seq,
                    duplicate: false,
                },
            ));
        }
        for (author, tip) in new_heads {
            plan.writes.put(
                Cf::Heads,
                author.as_str().as_bytes().to_vec(),
                head_value(&tip),
            );
            self.heads.insert(author.clone(), tip);
            plan.heads.push((author, tip));
        }
        receipts.sort_by_key(|(index, _)| *index);
        plan.receipts = receipts.into_iter().map(|(_, r)| r).collect();
        Ok(plan)
    }
}
