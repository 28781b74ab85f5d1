//! The engine's fork finding: probing a peer's entry where the histories may part, following
//! a fork back to where they do, and freezing the chain from there.

use super::*;

impl Engine {
    /// The hash of the entry this node holds at `author`'s `seq`, if it is the stored tip,
    /// being ingested, or waiting.
    pub(super) fn held_hash(&self, author: &MemberId, seq: u64) -> Option<EntryHash> {
        let chain = self.chains.get(author)?;
        if chain.stored == Some(seq) {
            return self.heads.get(author).map(|h| h.hash);
        }
        let held = chain.waiting.get(&seq).map(|b| &b.entry).or_else(|| {
            let (ticket, _) = chain.ingesting?;
            let run = self.ingesting.get(&ticket)?;
            run.entries
                .iter()
                .map(|b| &b.entry)
                .find(|e| e.body.seq == seq)
        })?;
        held.hash().ok()
    }

    /// Asks `peer` for its entry of `author`'s chain at `seq`, which may differ from ours.
    pub(super) fn probe(
        &mut self,
        peer: MemberId,
        author: MemberId,
        seq: u64,
        out: &mut Vec<Output>,
    ) {
        let usable = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.usable() && p.in_flight < self.config.max_in_flight);
        let asked = self.sent.values().any(|s| {
            matches!(&s.what, Pending::Probe { author: a, seq: q } if a == &author && *q == seq)
        });
        if !usable || asked {
            return;
        }
        self.send(
            peer,
            Pending::Probe {
                author: author.clone(),
                seq,
            },
            SyncRequest::Range {
                author,
                from: seq,
                limit: 1,
            },
            out,
        );
    }

    /// The pipeline's verdict on a suspected fork.
    pub(super) fn probe_done(
        &mut self,
        author: MemberId,
        entries: Vec<Buffered>,
        outcome: IngestOutcome,
        out: &mut Vec<Output>,
    ) {
        let Some(suspect) = entries.into_iter().next() else {
            return;
        };
        if let Some(token) = suspect.token {
            self.verdicts.remove(&token);
        }
        match outcome {
            IngestOutcome::Refused {
                fault: Fault::Fork, ..
            } => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
                let seq = suspect.entry.body.seq;
                self.fork_found(author.clone(), seq, out);
                // The two histories may part earlier: the entry before is compared too, and so
                // on back while they differ, so the fork point is where they part.
                if let Some(before) = seq.checked_sub(1) {
                    self.probe(suspect.from, author, before, out);
                }
            }
            IngestOutcome::Refused {
                fault: Fault::Invalid,
                ..
            } => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Reject,
                    });
                }
                self.offence(&suspect.from, INVALID_ENTRY, out);
            }
            _ => {
                if let Some(token) = suspect.token {
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
            }
        }
    }

    /// A fork proof of `author` at `seq` is stored: freeze the chain from there (if it was
    /// not frozen as early already) and say so.
    pub(super) fn fork_found(&mut self, author: MemberId, seq: u64, out: &mut Vec<Output>) {
        if self.freeze(&author, seq) {
            out.push(Output::ForkFound { author, seq });
        }
    }

    /// Freezes `author`'s chain from `seq` on (unless it is frozen as early already), and
    /// drops what waits of it from there: nothing from the fork point on is taken on this
    /// node. Whether the fork point moved.
    pub(super) fn freeze(&mut self, author: &MemberId, seq: u64) -> bool {
        let Some(chain) = self.chains.get_mut(author) else {
            return false;
        };
        if chain.frozen_at(seq) {
            return false;
        }
        chain.fork_at = Some(seq);
        chain.waiting.drop_from(seq);
        if chain.hold.is_some_and(|(from, _)| from >= seq) {
            chain.hold = None;
        }
        for verdict in self.verdicts.values_mut() {
            verdict.open.retain(|(a, q)| a != author || *q < seq);
        }
        true
    }
}
