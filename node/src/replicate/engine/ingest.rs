//! The engine's ingestion: runs of buffered entries handed to the node's pipeline, one
//! request per chain at a time, and the pipeline's verdicts.

use super::*;

impl Engine {
    pub(super) fn ingest_done(
        &mut self,
        ticket: Ticket,
        outcome: IngestOutcome,
        out: &mut Vec<Output>,
    ) {
        let Some(done) = self.ingesting.remove(&ticket) else {
            return;
        };
        let author = done.author;
        if done.probe {
            self.probe_done(author, done.entries, outcome, out);
            return;
        }
        if let Some(chain) = self.chains.get_mut(&author) {
            chain.ingesting = None;
        }
        match outcome {
            IngestOutcome::Stored => {
                if let Some(last) = done.entries.last()
                    && let Ok(hash) = last.entry.hash()
                {
                    self.stored(HeadInfo {
                        author: author.clone(),
                        seq: last.entry.body.seq,
                        hash,
                    });
                }
            }
            IngestOutcome::Failed => {
                let retry_at = self.now + self.config.retry_ms;
                self.put_back(&author, done.entries, Some(retry_at));
            }
            IngestOutcome::Refused { index, fault } => {
                let mut entries = done.entries;
                let rest = entries.split_off(index.min(entries.len()));
                let mut rest = rest.into_iter();
                let bad = rest.next();
                // Entries before the refused one are fine; those after it follow a bad link
                // and are fetched again once the gap is filled.
                self.put_back(&author, entries, None);
                let Some(bad) = bad else { return };
                match fault {
                    Fault::NotYet => {
                        let retry_at = self.now + self.config.retry_ms;
                        let mut again = vec![bad];
                        again.extend(rest);
                        self.put_back(&author, again, Some(retry_at));
                    }
                    Fault::Fork => {
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Ignore,
                            });
                        }
                    }
                    Fault::Membership => {
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Ignore,
                            });
                        }
                        if let Some(peer) = self.peers.get_mut(&bad.from) {
                            peer.heads.remove(&author);
                        }
                    }
                    Fault::Invalid | Fault::Unlinked => {
                        let weight = if fault == Fault::Invalid {
                            INVALID_ENTRY
                        } else {
                            UNLINKED_ENTRY
                        };
                        if let Some(token) = bad.token {
                            self.verdicts.remove(&token);
                            out.push(Output::Verdict {
                                token,
                                acceptance: Acceptance::Reject,
                            });
                        }
                        // Another history of this chain may sit behind a broken link: compare
                        // the sender's entry at the stored tip with ours.
                        if fault == Fault::Unlinked
                            && let Some(tip) = self.chains.get(&author).and_then(|c| c.stored)
                        {
                            self.probe(bad.from.clone(), author.clone(), tip, out);
                        }
                        self.offence(&bad.blame, weight, out);
                    }
                }
            }
        }
    }

    /// Returns entries to the buffer; with `retry_at`, the first of them waits until then.
    pub(super) fn put_back(
        &mut self,
        author: &MemberId,
        entries: Vec<Buffered>,
        retry_at: Option<u64>,
    ) {
        let Some(chain) = self.chains.get_mut(author) else {
            return;
        };
        if let (Some(first), Some(time)) = (entries.first(), retry_at) {
            chain.hold = Some((first.entry.body.seq, time));
        }
        for buffered in entries {
            let seq = buffered.entry.body.seq;
            if !chain.has(seq) && !chain.frozen_at(seq) {
                chain.waiting.insert(seq, buffered);
            }
        }
    }

    pub(super) fn start_ingests(&mut self, out: &mut Vec<Output>) {
        while self.ingesting.len() < self.config.max_ingesting {
            let Some(((author, _), suspect)) = self.suspects.pop_first() else {
                break;
            };
            let seq = suspect.entry.body.seq;
            if self.chains.get(&author).is_none_or(|c| c.frozen_at(seq)) {
                if let Some(token) = suspect.token {
                    self.verdicts.remove(&token);
                    out.push(Output::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                }
                continue;
            }
            let ticket = self.next_id;
            self.next_id += 1;
            out.push(Output::Ingest {
                ticket,
                entries: vec![suspect.entry.clone()],
            });
            self.ingesting.insert(
                ticket,
                InFlightIngest {
                    author,
                    entries: vec![suspect],
                    probe: true,
                },
            );
        }
        let now = self.now;
        for (author, chain) in &mut self.chains {
            if self.ingesting.len() >= self.config.max_ingesting {
                break;
            }
            if chain.ingesting.is_some() {
                continue;
            }
            let held_from = match chain.hold {
                Some((seq, until)) if until > now => Some(seq),
                _ => None,
            };
            let mut run = Vec::new();
            let mut next = chain.next_seq();
            while run.len() < self.config.max_ingest && Some(next) != held_from {
                let Some(buffered) = chain.waiting.remove(&next) else {
                    break;
                };
                run.push(buffered);
                next += 1;
            }
            if run.is_empty() {
                continue;
            }
            let ticket = self.next_id;
            self.next_id += 1;
            chain.ingesting = Some((ticket, next - 1));
            out.push(Output::Ingest {
                ticket,
                entries: run.iter().map(|b| b.entry.clone()).collect(),
            });
            self.ingesting.insert(
                ticket,
                InFlightIngest {
                    author: author.clone(),
                    entries: run,
                    probe: false,
                },
            );
        }
    }
}
