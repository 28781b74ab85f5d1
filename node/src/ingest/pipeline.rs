//! Stage 1, [`Pipeline`](super::Pipeline): entries and the member's events checked, without
//! the store, and prepared for placement.

use super::*;
use tally_sdk::parallel;

/// Fewest events worth a thread of their own when preparing (each is encoded, and its
/// private fields committed with fresh salts).
const EVENTS_PER_THREAD: usize = 16;

/// An event to sign, from either entry path.
struct ToSign {
    event: EventSource,
    refs: Vec<EntryHash>,
    private: BTreeMap<FieldName, CanonicalJson>,
}

/// An event as JSON (`POST /v1/events`), or parsed and classified by capture.
enum EventSource {
    Json(Value),
    Classified(Box<ClassifiedEvent>),
}

impl From<EventInput> for ToSign {
    fn from(input: EventInput) -> Self {
        Self {
            event: EventSource::Json(input.event),
            refs: input.refs,
            private: input.private,
        }
    }
}

impl From<ClassifiedInput> for ToSign {
    fn from(input: ClassifiedInput) -> Self {
        Self {
            event: EventSource::Classified(Box::new(input.event)),
            refs: input.refs,
            private: input.private,
        }
    }
}

impl Pipeline {
    /// A pipeline for the consortium of `genesis` (as it stands: no change applied later),
    /// taking at most `max_batch` items per request.
    pub fn new(genesis: Arc<Consortium>, max_batch: usize) -> Self {
        Self::following(SharedConsortium::new(genesis), max_batch)
    }

    /// A pipeline that judges by the consortium in force at each request.
    pub fn following(consortium: SharedConsortium, max_batch: usize) -> Self {
        Self {
            consortium,
            max_batch,
        }
    }

    /// The consortium now.
    pub fn genesis(&self) -> Arc<Consortium> {
        self.consortium.current()
    }

    /// The consortium, followed as changes are applied.
    pub fn consortium(&self) -> &SharedConsortium {
        &self.consortium
    }

    pub(super) fn check_count(&self, count: usize) -> Result<(), IngestError> {
        if count > self.max_batch {
            return Err(IngestError::TooMany {
                count,
                limit: self.max_batch,
            });
        }
        Ok(())
    }

    /// Verifies entries signed elsewhere with every rule but the link to the stored chain
    /// (which [`Ledger::place`] checks), at time `now`.
    pub fn check(
        &self,
        entries: Vec<SignedEntry>,
        now: Timestamp,
    ) -> Result<CheckedBatch, IngestError> {
        self.check_keeping_evidence(entries, now)
            .map_err(|refused| refused.error)
    }

    /// [`Pipeline::check`]; a refused request comes back with the writes that keep, as
    /// evidence, each refused entry that is its author's doing (validly signed, breaking a
    /// rule: [`tally_sdk::audit::rejection`]).
    pub fn check_keeping_evidence(
        &self,
        entries: Vec<SignedEntry>,
        now: Timestamp,
    ) -> Result<CheckedBatch, RefusedEntries> {
        self.check_count(entries.len())
            .map_err(RefusedEntries::without_evidence)?;
        let mut rejections = Vec::new();
        // The tip each author's first entry in the request names: the chain rule then checks
        // the request's own entries link to each other, and stage 2 checks the first one
        // against the stored tip.
        let mut implied: HashMap<MemberId, Option<ChainTip>> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let body = &entry.body;
            let tip = match (body.seq, body.prev) {
                (0, None) => None,
                (seq, Some(prev)) if seq > 0 => Some(ChainTip {
                    seq: seq - 1,
                    hash: prev,
                    timestamp: Timestamp(0),
                }),
                _ => {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Malformed {
                            author: body.author.clone(),
                            seq: body.seq,
                        },
                    });
                    continue;
                }
            };
            implied.entry(body.author.clone()).or_insert(tip);
        }
        if !rejections.is_empty() {
            return Err(RefusedEntries::without_evidence(IngestError::Rejected(
                rejections,
            )));
        }
        let genesis = self.genesis();
        let verifier = Verifier::new(&genesis, now);
        let verdicts = verifier
            .verify_batch_keeping_refused(entries, |author| implied.get(author).copied().flatten());
        let (results, refused) = (verdicts.results, verdicts.refused);
        let mut checked = Vec::with_capacity(results.len());
        for (index, result) in results.into_iter().enumerate() {
            match result
                .map_err(Problem::from)
                .and_then(|entry| checked_entry(&genesis, entry, Vec::new(), None))
            {
                Ok(entry) => checked.push(entry),
                Err(problem) => rejections.push(Rejection { index, problem }),
            }
        }
        if !rejections.is_empty() {
            return Err(RefusedEntries {
                error: IngestError::Rejected(rejections),
                evidence: rejection_evidence(&verifier, refused),
            });
        }
        Ok(CheckedBatch { entries: checked })
    }

    /// Checks events from the member's own systems and commits to their private fields (with
    /// fresh salts); [`Ledger::sign`] then places and signs them.
    pub fn prepare(
        &self,
        member: &MemberId,
        events: Vec<EventInput>,
    ) -> Result<PreparedEvents, IngestError> {
        self.prepare_inputs(member, events.into_iter().map(ToSign::from).collect())
    }

    /// [`Pipeline::prepare`] of events EPCIS capture parsed and classified already.
    pub fn prepare_classified(
        &self,
        member: &MemberId,
        events: Vec<ClassifiedInput>,
    ) -> Result<PreparedEvents, IngestError> {
        self.prepare_inputs(member, events.into_iter().map(ToSign::from).collect())
    }

    fn prepare_inputs(
        &self,
        member: &MemberId,
        events: Vec<ToSign>,
    ) -> Result<PreparedEvents, IngestError> {
        self.check_count(events.len())?;
        let genesis = self.genesis();
        let limits = genesis.limits();
        let commit_limits = CommitLimits {
            max_fields: limits.max_private_fields as usize,
            max_value_bytes: limits.max_private_value_bytes as usize,
        };
        // Each event is encoded and its private fields committed on its own: on all cores.
        let verdicts = parallel::map(events, EVENTS_PER_THREAD, |index, input| {
            let rejection = |problem| Rejection { index, problem };
            if let Some(unknown) = input.private.keys().find(|f| !genesis.knows_field(f)) {
                return Err(rejection(Problem::Private(format!(
                    "{unknown} is not in the consortium's private-field policy"
                ))));
            }
            let (commitment, opened) = if input.private.is_empty() {
                (None, Vec::new())
            } else {
                let (commitment, opened) = commit(input.private, &commit_limits)
                    .map_err(|e| rejection(Problem::Private(e.to_string())))?;
                (Some(commitment), opened)
            };
            // Place and time are set when the entry is signed.
            let (network, author, seq, prev, time) =
                (genesis.network_id(), member.clone(), 0, None, Timestamp(0));
            let body = match input.event {
                EventSource::Json(event) => UnsignedEntry::event(
                    network, author, seq, prev, time, input.refs, &event, commitment,
                )
                .map_err(|e| rejection(e.into()))?,
                EventSource::Classified(event) => UnsignedEntry::classified(
                    network, author, seq, prev, time, input.refs, *event, commitment,
                ),
            };
            Ok(PreparedEvent {
                body,
                opened,
                hash_id: None,
            })
        });
        let mut prepared = Vec::with_capacity(verdicts.len());
        let mut rejections = Vec::new();
        for verdict in verdicts {
            match verdict {
                Ok(event) => prepared.push(event),
                Err(rejection) => rejections.push(rejection),
            }
        }
        if !rejections.is_empty() {
            return Err(IngestError::Rejected(rejections));
        }
        Ok(PreparedEvents {
            events: prepared,
            rows: None,
        })
    }

    /// Prepares `member`'s purge of `fields` of its entry `target`; where the entry is placed,
    /// the target is checked to be an earlier entry of the member's chain that commits to them.
    pub fn prepare_purge(
        &self,
        member: &MemberId,
        target: EntryHash,
        fields: Vec<FieldName>,
    ) -> PreparedEvents {
        // Place and time are set when the entry is signed.
        let body = UnsignedEntry::purge(
            self.consortium.current().network_id(),
            member.clone(),
            0,
            None,
            Timestamp(0),
            target,
            fields,
        );
        PreparedEvents {
            events: vec![PreparedEvent {
                body,
                opened: Vec::new(),
                hash_id: None,
            }],
            rows: None,
        }
    }
}

pub(super) fn checked_entry(
    genesis: &Consortium,
    entry: VerifiedEntry,
    opened: Vec<OpenedField>,
    hash_id: Option<String>,
) -> Result<CheckedEntry, Problem> {
    let bytes = entry.encoded().to_vec();
    let mut facts = IndexFacts::of_verified(&entry);
    if let Some(facts) = &mut facts {
        facts.hash_id = hash_id.filter(|id| facts.event_id.as_ref() != Some(id));
    }
    let body = entry.body();
    let (private, readers) = match (&body.private, opened.is_empty()) {
        (Some(commitment), false) => {
            let held = HeldFields::complete(commitment, &opened)
                .map_err(|e| Problem::Private(e.to_string()))?;
            let row = PrivateRow {
                held,
                purged: Vec::new(),
            };
            let readers = private::readers(genesis, &body.author, commitment)
                .into_iter()
                .map(|m| m.id.clone())
                .collect();
            let row = row.encode().map_err(|e| Problem::Private(e.to_string()))?;
            (Some(row), readers)
        }
        _ => (None, Vec::new()),
    };
    Ok(CheckedEntry {
        entry,
        bytes,
        facts,
        private,
        readers,
    })
}

impl PreparedEvents {
    /// Whether it holds a hand-over: signing it needs the custody rule, which reads what the
    /// store holds, so it is placed after everything before it is written.
    pub fn hands_over(&self) -> bool {
        self.events.iter().any(|e| is_hand_over(&e.body.payload))
    }
}

pub(super) fn is_hand_over(payload: &Payload) -> bool {
    matches!(
        payload,
        Payload::Event {
            kind: EventKind::HandOver { .. },
            ..
        }
    )
}

/// The SDK's purge-target rule ([`tally_sdk::placement::purge_target_refusal`]).
/// `pending`: the entry is in the group being written, so only its chain is known.
pub(super) fn check_purge_target(
    order: &PurgeOrder,
    purge: &UnsignedEntry,
    target: Option<PlacedEntry>,
    pending: bool,
) -> Result<(), String> {
    if target.is_none() && pending {
        return Ok(());
    }
    let found = target.map(|(author, seq, fields)| PurgeTarget {
        author,
        seq,
        fields: fields.unwrap_or_default(),
    });
    match purge_target_refusal(
        &purge.author,
        purge.seq,
        &order.target,
        &order.fields,
        found.as_ref(),
    ) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}
