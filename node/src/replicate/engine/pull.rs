//! The engine's sync: answering peers' requests, reading their answers (heads, ranges, fork
//! points), and asking for the next ranges.

use super::*;

impl Engine {
    pub(super) fn request(
        &mut self,
        from: &MemberId,
        token: ReplyToken,
        request: Option<SyncRequest>,
        out: &mut Vec<Output>,
    ) {
        if !self.peers.get(from).is_some_and(Peer::usable) {
            out.push(Output::Reply {
                token,
                response: SyncResponse::Refused,
            });
            return;
        }
        match request {
            Some(SyncRequest::Heads) => out.push(Output::Reply {
                token,
                response: SyncResponse::Heads {
                    heads: self.heads(),
                    forks: self.forks(),
                },
            }),
            Some(SyncRequest::Fork { author }) if self.chains.contains_key(&author) => {
                out.push(Output::ServeFork { token, author });
            }
            Some(SyncRequest::Range {
                author,
                from: first,
                limit,
            }) if self.chains.contains_key(&author) => out.push(Output::ServeRange {
                token,
                author,
                from: first,
                limit: limit.min(self.config.range_limit),
            }),
            _ => {
                out.push(Output::Reply {
                    token,
                    response: SyncResponse::Refused,
                });
                self.offence(from, MALFORMED, out);
            }
        }
    }

    pub(super) fn response(
        &mut self,
        from: &MemberId,
        id: RequestId,
        response: Option<SyncResponse>,
        out: &mut Vec<Output>,
    ) {
        let Some(sent) = self.sent.remove(&id) else {
            return;
        };
        if &sent.to != from {
            self.sent.insert(id, sent);
            return;
        }
        self.forget(&sent);
        match (sent.what, response) {
            (Pending::Heads, Some(SyncResponse::Heads { heads, forks })) => {
                self.heads_answer(from, heads, out);
                self.forks_answer(from, forks, out);
            }
            (Pending::Fork { author, seq }, Some(SyncResponse::Fork(proof))) => {
                // A proof of an earlier place than advertised is as good (the peer may have
                // found it since).
                let (first, second) = (&proof.first.body, &proof.second.body);
                let matches = first.author == author
                    && second.author == author
                    && first.seq <= seq
                    && second.seq == first.seq;
                if !matches {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                out.push(Output::RecordFork {
                    from: from.clone(),
                    proof,
                });
            }
            (Pending::Probe { author, seq }, Some(SyncResponse::Range(entries))) => {
                if entries.len() > 1
                    || entries
                        .iter()
                        .any(|e| e.body.author != author || e.body.seq != seq)
                {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                // Asked for because it may differ from ours, below the tip too: the pipeline
                // compares it with the stored entry.
                for entry in entries {
                    self.suspect(entry, from, from, None);
                }
            }
            (
                Pending::Range {
                    author,
                    from: first,
                    limit,
                },
                Some(SyncResponse::Range(entries)),
            ) => {
                let well_formed = entries.len() <= limit as usize
                    && entries
                        .iter()
                        .zip(first..)
                        .all(|(entry, seq)| entry.body.author == author && entry.body.seq == seq);
                if !well_formed {
                    self.offence(from, WRONG_ANSWER, out);
                    return;
                }
                if entries.is_empty() {
                    // It has less than it said: ask it for its heads again before trusting them.
                    let me = author == self.me;
                    if let Some(peer) = self.peers.get_mut(from) {
                        peer.heads.remove(&author);
                        peer.discredited |= me;
                    }
                }
                for entry in entries {
                    self.keep(entry, from, from, None);
                }
            }
            // A peer that will not send a range of a chain it claimed to hold loses that
            // claim, as one that sends nothing does: otherwise it could claim a higher head
            // of this node's own chain and refuse every request, keeping a restored node from
            // ever signing again.
            (Pending::Range { author, .. }, Some(SyncResponse::Refused)) => {
                let me = author == self.me;
                if let Some(peer) = self.peers.get_mut(from) {
                    peer.discredited |= me;
                    peer.heads.remove(&author);
                }
            }
            (_, Some(SyncResponse::Refused)) => {}
            _ => self.offence(from, WRONG_ANSWER, out),
        }
    }

    /// A peer's heads: what it may be asked for, and where its history may differ from ours.
    pub(super) fn heads_answer(
        &mut self,
        from: &MemberId,
        heads: Vec<HeadInfo>,
        out: &mut Vec<Output>,
    ) {
        let mut known = BTreeMap::new();
        let mut below = Vec::new();
        for head in heads {
            let Some(chain) = self.chains.get(&head.author) else {
                continue;
            };
            if !chain.frozen_at(head.seq) {
                let ours = self.heads.get(&head.author).map(|h| h.hash);
                if chain.stored == Some(head.seq) && ours.is_some_and(|h| h != head.hash) {
                    self.probe(from.clone(), head.author.clone(), head.seq, out);
                } else if chain.stored.is_some_and(|s| head.seq < s) {
                    below.push(head.clone());
                }
            }
            known.insert(head.author, head.seq);
        }
        let Some(peer) = self.peers.get_mut(from) else {
            return;
        };
        peer.answered = true;
        peer.heads = known;
        // A head below our tip is compared with the store once per head the peer reports: a
        // peer lagging behind reports the same head over and over.
        for head in below {
            if peer.compared.get(&head.author) != Some(&head) {
                peer.compared.insert(head.author.clone(), head.clone());
                out.push(Output::CompareHead {
                    peer: from.clone(),
                    head,
                });
            }
        }
    }

    /// The chains a peer holds as forked: pull the proof of each this node does not hold as
    /// early (one request per chain at a time).
    pub(super) fn forks_answer(
        &mut self,
        from: &MemberId,
        forks: Vec<ForkPoint>,
        out: &mut Vec<Output>,
    ) {
        for fork in forks {
            let Some(chain) = self.chains.get(&fork.author) else {
                continue;
            };
            if chain.frozen_at(fork.seq) {
                continue;
            }
            let room = self
                .peers
                .get(from)
                .is_some_and(|p| p.usable() && p.in_flight < self.config.max_in_flight);
            let asked = self
                .sent
                .values()
                .any(|s| matches!(&s.what, Pending::Fork { author, .. } if author == &fork.author));
            if room && !asked {
                self.send(
                    from.clone(),
                    Pending::Fork {
                        author: fork.author.clone(),
                        seq: fork.seq,
                    },
                    SyncRequest::Fork {
                        author: fork.author,
                    },
                    out,
                );
            }
        }
    }

    pub(super) fn start_ranges(&mut self, out: &mut Vec<Output>) {
        let authors: Vec<MemberId> = self.chains.keys().cloned().collect();
        let (max_entries, _) = self.share;
        let max_in_flight = self.config.max_in_flight;
        for author in authors {
            let Some(chain) = self.chains.get(&author) else {
                continue;
            };
            if chain.wanted.is_some() {
                continue;
            }
            let from = chain.next_unknown();
            // Entries before a fork point are history both sides share: they are taken.
            let limit = match chain.fork_at {
                Some(at) if from >= at => continue,
                Some(at) => u32::try_from(at - from).map_or(self.config.range_limit, |left| {
                    left.min(self.config.range_limit)
                }),
                None => self.config.range_limit,
            };
            let candidates: Vec<MemberId> = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.usable()
                        && p.in_flight < max_in_flight
                        && p.heads.get(&author).is_some_and(|seq| *seq >= from)
                })
                .map(|(m, _)| m.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let Some(chain) = self.chains.get_mut(&author) else {
                continue;
            };
            // Room in the chain's share: entries waiting further ahead than the range give
            // way (they are pulled again when the chain gets there).
            let end = from.saturating_add(u64::from(limit));
            while chain.waiting.len() + limit as usize > max_entries
                && chain.waiting.evict_past(end)
            {}
            let room = max_entries.saturating_sub(chain.waiting.len());
            let limit = limit.min(u32::try_from(room).unwrap_or(u32::MAX));
            if limit == 0 {
                continue;
            }
            let pick = self.rng.below(candidates.len() as u64) as usize;
            let Some(to) = candidates.get(pick).cloned() else {
                continue;
            };
            chain.wanted = Some(self.next_id);
            self.send(
                to,
                Pending::Range {
                    author: author.clone(),
                    from,
                    limit,
                },
                SyncRequest::Range {
                    author,
                    from,
                    limit,
                },
                out,
            );
        }
    }
}
