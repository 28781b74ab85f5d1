//! The writes a placement plans beyond the entry itself, and the rules it applies with the
//! store: refused entries kept as evidence, fork proofs, index rows, purged rows, frozen
//! chains and custody.

use super::*;

/// The refused entries of `refused` that their authors validly signed and that break a rule
/// ([`Verifier::broken_rule`]); the rest (bad signatures, broken links) prove nothing
/// against anyone. One larger than a stored entry may be ([`MAX_STORED_ENTRY`]) is not kept:
/// it could not be read back.
pub(super) fn rejection_evidence(
    verifier: &Verifier<'_>,
    refused: Vec<(usize, SignedEntry)>,
) -> Vec<RejectedRow> {
    let mut evidence = Vec::new();
    for (_, entry) in refused {
        if verifier.broken_rule(&entry).is_err() {
            continue;
        }
        let (Ok(hash), Ok(bytes)) = (entry.hash(), entry.to_bytes()) else {
            continue;
        };
        if bytes.len() > MAX_STORED_ENTRY {
            tracing::warn!(
                author = %entry.body.author,
                bytes = bytes.len(),
                "a refused entry is too large to keep as evidence"
            );
            continue;
        }
        evidence.push(RejectedRow {
            author: entry.body.author.clone(),
            hash,
            bytes,
        });
    }
    evidence
}

/// The fork proof for an offered entry that conflicts with the stored one (none if the stored
/// one is not written yet).
pub(super) fn fork_evidence<S: Store + ?Sized>(
    store: &S,
    position: Position,
    stored: EntryHash,
    offered: &SignedEntry,
) -> Result<Option<Row>, StoreError> {
    let Some(stored_entry) = store.entry(&stored)? else {
        return Ok(None);
    };
    let offered_hash = offered
        .hash()
        .map_err(|e| corrupted(format!("an accepted entry cannot be encoded: {e}")))?;
    let Ok(proof) = ForkProof::new(stored_entry, offered.clone()) else {
        return Ok(None);
    };
    let Ok(value) = codec::encode("fork proof", &proof) else {
        return Ok(None);
    };
    Ok(Some((fork_key(position, &offered_hash), value)))
}

/// The writes of one accepted entry: the entry, its chain position, every index, and its
/// private values.
pub(super) fn entry_writes(writes: &mut Batch, position: Position, item: CheckedEntry) {
    let hash = item.entry.hash();
    writes.put(Cf::Entries, hash.as_bytes().to_vec(), item.bytes);
    writes.put(
        Cf::Chain,
        position.to_key().to_vec(),
        hash.as_bytes().to_vec(),
    );
    if let Some(private) = item.private {
        writes.put(Cf::Private, hash.as_bytes().to_vec(), private);
    }
    for reader in &item.readers {
        writes.put(Cf::Outbox, private::outbox_key(reader, &hash), Vec::new());
    }
    let Some(facts) = &item.facts else {
        return;
    };
    writes.put(
        Cf::ByRecordTime,
        index_key(&[], item.entry.body().timestamp, position),
        Vec::new(),
    );
    let time = facts.event_time;
    for product in &facts.products {
        if let Some(prefix) = string_prefix(product) {
            writes.put(
                Cf::ByProduct,
                index_key(&prefix, time, position),
                Vec::new(),
            );
        }
    }
    writes.put(
        Cf::ByKind,
        index_key(&[kind_code(facts.kind)], time, position),
        Vec::new(),
    );
    if let Some(prefix) = facts.biz_step.as_deref().and_then(string_prefix) {
        writes.put(
            Cf::ByBizStep,
            index_key(&prefix, time, position),
            Vec::new(),
        );
    }
    if let Some(prefix) = facts.disposition.as_deref().and_then(string_prefix) {
        writes.put(
            Cf::ByDisposition,
            index_key(&prefix, time, position),
            Vec::new(),
        );
    }
    writes.put(Cf::ByTime, index_key(&[], time, position), Vec::new());
    for id in facts.event_id.iter().chain(&facts.hash_id) {
        writes.put(
            Cf::ByEventId,
            index_key(&event_id_prefix(id), time, position),
            Vec::new(),
        );
    }
}

/// The stored entry a purge names, as [`PlacedEntry`].
pub(super) fn purged_entry<S: Store + ?Sized>(
    store: &S,
    hash: &EntryHash,
) -> Result<Option<PlacedEntry>, StoreError> {
    Ok(store.entry(hash)?.map(|entry| {
        let body = entry.body;
        (body.author, body.seq, body.private.map(|p| p.fields))
    }))
}

/// Refuses the entries of `batch` that would extend a chain a fork proof froze: at or after
/// its fork point and past the stored tip (`tip` of an author). An entry sent again that is
/// stored already is left to placement, which acknowledges it as a duplicate.
pub(super) fn frozen<S: Store + ?Sized>(
    store: &S,
    batch: &CheckedBatch,
    tip: impl Fn(&MemberId) -> Option<u64>,
) -> Result<(), IngestError> {
    let forks = fork_points(store)?;
    if forks.is_empty() {
        return Ok(());
    }
    let rejections: Vec<Rejection> = batch
        .entries
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let body = item.entry.body();
            let fork_at = forks.of_chain(&body.author).filter(|at| body.seq >= *at)?;
            if tip(&body.author).is_some_and(|stored| body.seq <= stored) {
                return None;
            }
            Some(Rejection {
                index,
                problem: Problem::Frozen {
                    author: body.author.clone(),
                    seq: body.seq,
                    fork_at,
                },
            })
        })
        .collect();
    if rejections.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Rejected(rejections))
    }
}

/// The custody rule ([`tally_sdk::placement::hand_over_refusal`]) for the hand-overs the
/// node signs for its `member` in `batch`, against what the store holds about each item and
/// the batch's entries before it (a receipt earlier in the request gives custody to hand on
/// later in it). The writer calls it with nothing of its group unwritten, so no two requests
/// pass it on one state.
pub(super) fn custody<S: Store + ?Sized>(
    store: &S,
    member: &MemberId,
    batch: &CheckedBatch,
) -> Result<(), IngestError> {
    let mut rejections = Vec::new();
    let mut earlier: Vec<Recorded> = Vec::new();
    for (index, item) in batch.entries.iter().enumerate() {
        let body = item.entry.body();
        let record = match Recorded::read(item.entry.hash(), item.entry.signed(), false) {
            Ok(Some(record)) => record,
            // Purges, and events the verifier read already: nothing about custody.
            Ok(None) | Err(_) => continue,
        };
        if let (true, EventKind::HandOver { to }) = (&body.author == member, &record.kind) {
            for product in &record.event.products {
                let mut records = match gather(store, product) {
                    Ok(entries) => entries
                        .iter()
                        .filter_map(|(hash, entry)| Recorded::read(*hash, entry, false).ok())
                        .flatten()
                        .collect::<Vec<_>>(),
                    Err(ProductError::Store(e)) => return Err(IngestError::Store(e)),
                    Err(other) => {
                        rejections.push(Rejection {
                            index,
                            problem: Problem::Custody(format!(
                                "cannot check custody of {product}: {other}"
                            )),
                        });
                        break;
                    }
                };
                records.extend(earlier.iter().filter(|r| r.is_about(product)).cloned());
                if let Some(why) =
                    hand_over_refusal(&records, product, member, to, record.event.event_time)
                {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Custody(why),
                    });
                    break;
                }
            }
        }
        earlier.push(record);
    }
    if rejections.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Rejected(rejections))
    }
}
