//! The engine's gossip: entries peers gossip, offered to the per-chain buffer within its
//! bounds, entries at a stored place checked as suspected forks, and what is stored.

use super::*;

impl Engine {
    pub(super) fn stored(&mut self, head: HeadInfo) {
        let Some(chain) = self.chains.get_mut(&head.author) else {
            return;
        };
        if chain.stored.is_some_and(|s| s >= head.seq) {
            return;
        }
        chain.stored = Some(head.seq);
        chain.waiting.drop_through(head.seq);
        let author = head.author.clone();
        self.heads.insert(author.clone(), head.clone());
        // Gossip messages whose entries are now all stored are good.
        for verdict in self.verdicts.values_mut() {
            verdict
                .open
                .retain(|(a, seq)| !(a == &author && *seq <= head.seq));
        }
    }

    pub(super) fn gossip(
        &mut self,
        from: MemberId,
        origin: MemberId,
        token: GossipToken,
        batch: Option<GossipBatch>,
        out: &mut Vec<Output>,
    ) {
        let usable = self.peers.get(&from).is_some_and(Peer::usable);
        let Some(batch) = batch.filter(|_| usable) else {
            out.push(Output::Verdict {
                token,
                acceptance: if usable {
                    Acceptance::Reject
                } else {
                    Acceptance::Ignore
                },
            });
            if usable {
                self.offence(&from, MALFORMED, out);
            }
            return;
        };
        let mut open = BTreeSet::new();
        let mut no_room = false;
        for entry in batch.entries {
            let author = entry.body.author.clone();
            let seq = entry.body.seq;
            if !self.chains.contains_key(&author) {
                out.push(Output::Verdict {
                    token,
                    acceptance: Acceptance::Reject,
                });
                self.offence(&from, INVALID_ENTRY, out);
                return;
            }
            match self.keep(entry, &from, &origin, Some(token)) {
                Kept::New => {
                    open.insert((author, seq));
                }
                Kept::Known | Kept::Suspect => {}
                Kept::NoRoom => no_room = true,
            }
        }
        if open.is_empty() || no_room {
            // Nothing new was checked here (all known, or no room to check it): do not pass
            // on what this node has not verified. The entries kept are still ingested.
            out.push(Output::Verdict {
                token,
                acceptance: Acceptance::Ignore,
            });
        } else {
            self.verdicts.insert(
                token,
                Verdicts {
                    open,
                    deadline: self.now + self.config.verdict_ms,
                },
            );
        }
    }

    /// Puts an entry in the buffer if it is new and there is room; `blame` answers for it if
    /// it turns out bad.
    pub(super) fn keep(
        &mut self,
        entry: SignedEntry,
        from: &MemberId,
        blame: &MemberId,
        token: Option<GossipToken>,
    ) -> Kept {
        let author = entry.body.author.clone();
        let seq = entry.body.seq;
        let Some(chain) = self.chains.get(&author) else {
            return Kept::Known;
        };
        let (held, forked) = (chain.has(seq), chain.frozen_at(seq));
        if held && !forked && chain.stored.is_none_or(|s| seq >= s) {
            // Held already, unless it is another entry at that place: then it is checked alone,
            // as a possible fork (entries below the stored tip are not compared here; a range
            // that does not link finds those).
            let ours = self.held_hash(&author, seq);
            if ours.is_some_and(|h| entry.hash().is_ok_and(|e| e != h)) {
                self.suspect(entry, from, blame, token);
                return Kept::Suspect;
            }
        }
        if held || forked {
            return Kept::Known;
        }
        if token.is_some() && seq >= chain.next_seq().saturating_add(self.config.gossip_window) {
            return Kept::NoRoom;
        }
        let Ok(bytes) = tally_sdk::codec::encoded_len("entry", &entry) else {
            return Kept::NoRoom;
        };
        let (max_entries, max_bytes) = self.share;
        let Some(chain) = self.chains.get_mut(&author) else {
            return Kept::Known;
        };
        // The entries furthest ahead give way to nearer ones: those are needed first.
        while chain.waiting.len() >= max_entries || chain.waiting.bytes + bytes > max_bytes {
            if !chain.waiting.evict_past(seq) {
                return Kept::NoRoom;
            }
        }
        chain.waiting.insert(
            seq,
            Buffered {
                entry,
                bytes,
                from: from.clone(),
                blame: blame.clone(),
                token,
            },
        );
        Kept::New
    }

    /// Queues an entry to be checked alone as a possible fork of the stored chain (if there
    /// is room, and none at that place waits already).
    pub(super) fn suspect(
        &mut self,
        entry: SignedEntry,
        from: &MemberId,
        blame: &MemberId,
        token: Option<GossipToken>,
    ) {
        let key = (entry.body.author.clone(), entry.body.seq);
        let Ok(bytes) = tally_sdk::codec::encoded_len("entry", &entry) else {
            return;
        };
        let held: usize = self.suspects.values().map(|b| b.bytes).sum();
        if self.suspects.len() < MAX_SUSPECTS
            && held + bytes <= MAX_SUSPECT_BYTES
            && !self.suspects.contains_key(&key)
        {
            self.suspects.insert(
                key,
                Buffered {
                    entry,
                    bytes,
                    from: from.clone(),
                    blame: blame.clone(),
                    token,
                },
            );
        }
    }
}
