//! Stage 2, [`Ledger`](super::Ledger): the single writer's view of the chains, placing checked
//! entries and signing the member's events, with every write planned.

use super::*;

impl Ledger {
    /// The consortium the ledger judges by.
    pub fn genesis(&self) -> &Arc<Consortium> {
        &self.genesis
    }

    /// Judges by `genesis` from now on (a governance change was applied).
    pub fn set_genesis(&mut self, genesis: Arc<Consortium>) {
        self.genesis = genesis;
    }

    /// The ledger state of a store.
    pub fn load<S: Store + ?Sized>(
        genesis: Arc<Consortium>,
        store: &S,
    ) -> Result<Self, StoreError> {
        let mut ledger = Self {
            genesis,
            chains: HashMap::new(),
            next_code: 0,
            pending: HashMap::new(),
            rejected: HashMap::new(),
            edges: HashMap::new(),
        };
        ledger.reload(store)?;
        Ok(ledger)
    }

    /// Re-reads the heads from the store, forgetting what was placed but not written (after a
    /// failed write).
    pub fn reload<S: Store + ?Sized>(&mut self, store: &S) -> Result<(), StoreError> {
        self.rejected.clear();
        self.edges.clear();
        let heads = store.heads()?;
        self.next_code = heads
            .iter()
            .map(|h| h.code.0.saturating_add(1))
            .max()
            .unwrap_or(0);
        self.chains = heads
            .into_iter()
            .map(|h| {
                (
                    h.author,
                    ChainState {
                        code: h.code,
                        tip: Some(h.tip),
                    },
                )
            })
            .collect();
        self.pending.clear();
        Ok(())
    }

    /// Whether `hash` was placed in chain `code` by an earlier request of the group being
    /// written.
    pub(super) fn pending_in(&self, code: MemberCode, hash: &EntryHash) -> bool {
        self.pending
            .iter()
            .any(|(position, pending)| position.member == code && pending == hash)
    }

    /// Appends the entries a request placed to their chains' logs, and adds the tiles that
    /// changed to `writes`: the log is written in the same synced batch as the entries.
    pub(super) fn log_writes<S: Store + ?Sized>(
        &mut self,
        store: &S,
        placed: &HashMap<Position, EntryHash>,
        writes: &mut Batch,
    ) -> Result<(), StoreError> {
        let mut ordered: Vec<(Position, EntryHash)> =
            placed.iter().map(|(p, h)| (*p, *h)).collect();
        ordered.sort_unstable_by_key(|(position, _)| *position);
        for run in ordered.chunk_by(|a, b| a.0.member == b.0.member) {
            let Some(&(first, _)) = run.first() else {
                continue;
            };
            let edge = match self.edges.entry(first.member) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(ChainTiles::new(store, first.member).edge(first.seq)?)
                }
            };
            if edge.size() != first.seq {
                return Err(corrupted(format!(
                    "the log of member code {} holds {} entries, not {}",
                    first.member.0,
                    edge.size(),
                    first.seq
                )));
            }
            let leaves: Vec<LogHash> = run
                .iter()
                .map(|(_, hash)| LogHash::entry_leaf(hash))
                .collect();
            let tiles = edge
                .append(&leaves)
                .map_err(|e| corrupted(format!("a chain's log: {e}")))?;
            put_tiles(writes, first.member, tiles);
        }
        Ok(())
    }

    /// Marks everything placed so far as written.
    pub fn committed(&mut self) {
        self.pending.clear();
    }

    /// The writes that keep `rows` as evidence, each author within its quota
    /// ([`MAX_REJECTED_PER_MEMBER`] rows, [`MAX_REJECTED_BYTES_PER_MEMBER`] bytes); a row
    /// kept already is not counted again, and rows past the quota are dropped (logged).
    pub fn keep_rejected<S: Store + ?Sized>(
        &mut self,
        store: &S,
        rows: Vec<RejectedRow>,
    ) -> Result<Batch, StoreError> {
        let mut writes = Batch::default();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let key = rejected_key(&row.author, &row.hash);
            if !seen.insert(key.clone()) || store.get(Cf::Rejected, &key)?.is_some() {
                continue;
            }
            let quota = match self.rejected.get(&row.author) {
                Some(quota) => *quota,
                None => RejectedQuota::read(store, &row.author)?,
            };
            let size = row.bytes.len() as u64;
            if quota.rows >= MAX_REJECTED_PER_MEMBER
                || quota.bytes.saturating_add(size) > MAX_REJECTED_BYTES_PER_MEMBER
            {
                tracing::warn!(
                    author = %row.author,
                    kept = quota.rows,
                    bytes = quota.bytes,
                    "a refused entry is not kept: its author's evidence quota is full"
                );
                continue;
            }
            let quota = RejectedQuota {
                rows: quota.rows + 1,
                bytes: quota.bytes + size,
            };
            writes.put(Cf::Meta, RejectedQuota::key(&row.author), quota.value());
            writes.put(Cf::Rejected, key, row.bytes);
            self.rejected.insert(row.author, quota);
        }
        Ok(writes)
    }

    /// The write that keeps a fork proof received from another node (checked by the caller),
    /// unless the store holds one of the author's chain at or before its place already; and
    /// the place, to tell replication. A proof is evidence on its own: it is kept whether or
    /// not this node holds either entry.
    pub fn record_fork<S: Store + ?Sized>(
        &mut self,
        store: &S,
        proof: &ForkProof,
    ) -> Result<Option<RecordedFork>, StoreError> {
        let (author, seq) = (&proof.first.body.author, proof.first.body.seq);
        if fork_points(store)?.is_forked(author, seq) {
            return Ok(None);
        }
        // The row's key starts with the chain's place so that proofs list in chain order; a
        // chain this node holds nothing of yet gets its code now, as its first entry would.
        let code = match self.chains.get(author) {
            Some(state) => state.code,
            None => {
                let code = MemberCode(self.next_code);
                self.next_code = self.next_code.saturating_add(1);
                self.chains
                    .insert(author.clone(), ChainState { code, tip: None });
                code
            }
        };
        let second = proof
            .second
            .hash()
            .map_err(|e| corrupted(format!("a checked fork proof cannot be encoded: {e}")))?;
        let value = codec::encode("fork proof", proof)
            .map_err(|e| corrupted(format!("a checked fork proof cannot be encoded: {e}")))?;
        let mut writes = Batch::default();
        writes.put(
            Cf::Forks,
            fork_key(Position { member: code, seq }, &second),
            value,
        );
        Ok(Some(RecordedFork {
            writes,
            author: author.clone(),
            seq,
        }))
    }

    /// The tip of a chain, including entries placed but not yet written.
    pub fn tip(&self, author: &MemberId) -> Option<ChainTip> {
        self.chains.get(author).and_then(|c| c.tip)
    }

    /// How many chains the ledger holds.
    pub fn chains(&self) -> usize {
        self.chains.len()
    }

    /// Places checked entries in their chains and plans their writes. The ledger changes only
    /// if the whole request is accepted.
    pub fn place<S: Store + ?Sized>(&mut self, store: &S, batch: CheckedBatch) -> Placement {
        self.place_keeping(store, batch, false)
    }

    /// [`Ledger::place`], keeping a copy of each entry placed in [`Placement::fresh`] if
    /// `fresh` (the node's own entries, which replication gossips).
    fn place_keeping<S: Store + ?Sized>(
        &mut self,
        store: &S,
        batch: CheckedBatch,
        fresh: bool,
    ) -> Placement {
        let mut kept = Vec::new();
        let mut local: HashMap<MemberId, ChainState> = HashMap::new();
        let mut local_pending: HashMap<Position, EntryHash> = HashMap::new();
        let mut next_code = self.next_code;
        let mut writes = Batch::default();
        let mut evidence = Batch::default();
        let mut rejections = Vec::new();
        let mut receipts = Vec::with_capacity(batch.entries.len());
        let mut purges = Vec::new();
        // This request's entries so far: author, place, committed private fields.
        let mut placed: HashMap<EntryHash, PlacedEntry> = HashMap::new();
        for (index, item) in batch.entries.into_iter().enumerate() {
            let body = item.entry.body();
            let hash = item.entry.hash();
            let state = match local.get(&body.author) {
                Some(state) => *state,
                None => {
                    let state = match self.chains.get(&body.author) {
                        Some(state) => *state,
                        None => {
                            let code = MemberCode(next_code);
                            next_code = next_code.saturating_add(1);
                            ChainState { code, tip: None }
                        }
                    };
                    local.insert(body.author.clone(), state);
                    state
                }
            };
            let position = Position {
                member: state.code,
                seq: body.seq,
            };
            if state.tip.is_some_and(|tip| body.seq <= tip.seq) {
                let stored = match local_pending
                    .get(&position)
                    .or_else(|| self.pending.get(&position))
                {
                    Some(hash) => Some(*hash),
                    None => match store.chain_hash(position) {
                        Ok(found) => found,
                        Err(e) => return Placement::refused(e.into()),
                    },
                };
                match stored {
                    Some(stored) if stored == hash => receipts.push(Receipt {
                        hash,
                        author: body.author.clone(),
                        seq: body.seq,
                        duplicate: true,
                    }),
                    Some(stored) => {
                        match fork_evidence(store, position, stored, item.entry.signed()) {
                            Ok(Some((key, value))) => evidence.put(Cf::Forks, key, value),
                            Ok(None) => {}
                            Err(e) => return Placement::refused(e.into()),
                        }
                        rejections.push(Rejection {
                            index,
                            problem: Problem::Conflict {
                                author: body.author.clone(),
                                seq: body.seq,
                                stored,
                                offered: hash,
                            },
                        });
                    }
                    None => {
                        return Placement::refused(
                            corrupted(format!(
                                "entry {} of {} is below its chain head but missing",
                                body.seq, body.author
                            ))
                            .into(),
                        );
                    }
                }
                continue;
            }
            if let Err(e) = check_chain(item.entry.signed(), state.tip.as_ref()) {
                rejections.push(Rejection {
                    index,
                    problem: Problem::Invalid(VerifyError::Chain(e)),
                });
                continue;
            }
            if let Some(order) = PurgeOrder::of(&item.entry) {
                let target = placed
                    .get(&order.target)
                    .map(|(author, seq, fields)| Ok(Some((author.clone(), *seq, fields.clone()))))
                    .unwrap_or_else(|| purged_entry(store, &order.target));
                let target = match target {
                    Ok(target) => target,
                    Err(e) => return Placement::refused(e.into()),
                };
                if let Err(why) = check_purge_target(
                    &order,
                    body,
                    target,
                    self.pending_in(state.code, &order.target),
                ) {
                    rejections.push(Rejection {
                        index,
                        problem: Problem::Invalid(VerifyError::Purge(why)),
                    });
                    continue;
                }
                match order.marker() {
                    Ok((key, value)) => writes.put(Cf::Meta, key, value),
                    Err(e) => return Placement::refused(e.into()),
                }
                purges.push(order);
            }
            placed.insert(
                hash,
                (
                    body.author.clone(),
                    body.seq,
                    body.private.as_ref().map(|p| p.fields.clone()),
                ),
            );
            let tip = ChainTip::of(&item.entry);
            let author = body.author.clone();
            receipts.push(Receipt {
                hash,
                author: author.clone(),
                seq: tip.seq,
                duplicate: false,
            });
            local.insert(
                author,
                ChainState {
                    code: state.code,
                    tip: Some(tip),
                },
            );
            local_pending.insert(position, hash);
            if fresh {
                kept.push(item.entry.signed().clone());
            }
            entry_writes(&mut writes, position, item);
        }
        if !rejections.is_empty() {
            return Placement::answer(evidence, Err(IngestError::Rejected(rejections)));
        }
        if let Err(error) = self.log_writes(store, &local_pending, &mut writes) {
            self.edges.clear();
            return Placement::refused(error.into());
        }
        for (author, state) in local {
            let Some(tip) = state.tip else { continue };
            if self.tip(&author) == Some(tip) {
                continue;
            }
            let head = Head {
                author: author.clone(),
                code: state.code,
                tip,
            };
            writes.put(Cf::Heads, head.key(), head.value());
            self.chains.insert(author, state);
        }
        self.next_code = next_code;
        self.pending.extend(local_pending);
        Placement {
            writes,
            purges,
            result: Ok(receipts),
            fresh: kept,
        }
    }

    /// Gives the member's events their places at the head of its chain, holds them to every
    /// rule and signs them with `keys` ([`Verifier::sign_batch`]), and places them. Timestamps
    /// are `now`, or the chain's last timestamp if the clock went back.
    pub fn sign<S: Store + ?Sized>(
        &mut self,
        store: &S,
        keys: &MemberKeys,
        events: PreparedEvents,
        now: Timestamp,
    ) -> Placement {
        let start = self.tip(&keys.member);
        let next = start.map_or(0, |t| t.seq + 1);
        match fork_points(store) {
            Ok(forks) => {
                if let Some(fork_at) = forks.of_chain(&keys.member).filter(|at| next >= *at) {
                    return Placement::refused(IngestError::rejected(
                        0,
                        Problem::Frozen {
                            author: keys.member.clone(),
                            seq: next,
                            fork_at,
                        },
                    ));
                }
            }
            Err(e) => return Placement::refused(e.into()),
        }
        let mut bodies = Vec::with_capacity(events.events.len());
        let mut opened = Vec::with_capacity(events.events.len());
        for event in events.events {
            bodies.push(event.body);
            opened.push((event.opened, event.hash_id));
        }
        let verifier = Verifier::new(&self.genesis, now);
        let results = verifier.sign_batch(&keys.signing, bodies, start, now);
        let mut checked = Vec::with_capacity(results.len());
        let mut rejections = Vec::new();
        for (index, (result, (opened, hash_id))) in results.into_iter().zip(opened).enumerate() {
            match result
                .map_err(Problem::from)
                .and_then(|entry| checked_entry(&self.genesis, entry, opened, hash_id))
            {
                Ok(entry) => checked.push(entry),
                Err(problem) => rejections.push(Rejection { index, problem }),
            }
        }
        if !rejections.is_empty() {
            return Placement::refused(IngestError::Rejected(rejections));
        }
        let batch = CheckedBatch { entries: checked };
        if let Err(error) = custody(store, &keys.member, &batch) {
            return Placement::refused(error);
        }
        self.place_keeping(store, batch, true)
    }

    /// [`Ledger::place`] for entries from this node's own sources (`POST /v1/entries`):
    /// nothing extends a chain a fork proof froze. These entries are signed already (by the
    /// member's own signing system, or another member's) and may arrive before entries of
    /// other chains they follow, so like replicated entries they are never refused for
    /// custody: a hand-over without custody among them is recorded and reported as a
    /// violation.
    pub fn place_local<S: Store + ?Sized>(&mut self, store: &S, batch: CheckedBatch) -> Placement {
        let tips = |author: &MemberId| self.tip(author).map(|t| t.seq);
        if let Err(error) = frozen(store, &batch, tips) {
            return Placement::refused(error);
        }
        self.place_keeping(store, batch, true)
    }
}
