//! How the shell carries out the engine's outputs: requests sent, answers given, gossip
//! published, entries ingested through the node's pipeline, peers dialled.

use super::*;

impl Shell {
    pub(super) fn execute(&mut self, output: Output) {
        match output {
            Output::Send { to, id, request } => {
                let connected = self
                    .members
                    .get(&to)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                match connected {
                    Some(peer) => {
                        let request_id = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_request(&peer, Inbound::Ok(request));
                        self.requests.insert(request_id, (id, to));
                    }
                    None => self.inputs.push_back(Input::RequestFailed { to, id }),
                }
            }
            Output::Reply { token, response } => self.respond(token, response),
            Output::ServeRange {
                token,
                author,
                from,
                limit,
            } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = read_range(store.as_ref(), &author, from, limit);
                    let _ = back.blocking_send(Back::Served { token, response });
                });
            }
            Output::Publish(batch) => self.publish(batch),
            Output::Verdict { token, acceptance } => self.verdict(token, acceptance),
            Output::Ingest { ticket, entries } => self.ingest(ticket, entries),
            Output::Ban { peer, until } => {
                if let Some(id) = self.members.get(&peer).copied() {
                    let seconds = until.saturating_sub(self.now()) / 1000;
                    tracing::warn!(member = %peer, seconds, "banned {peer}'s node for misbehaving");
                    self.handle.metrics.bans.inc();
                    self.swarm.behaviour_mut().allow.disallow_peer(id);
                    self.set_peer(&id, |p| p.banned = true);
                }
            }
            Output::OwnChainCaughtUp => {
                if self.committer.signing_held() {
                    let store = self.store.clone();
                    let committer = self.committer.clone();
                    tokio::task::spawn_blocking(move || {
                        release_signing(store.as_ref(), &committer);
                    });
                }
            }
            Output::ForkFound { author, seq } => {
                tracing::warn!(
                    member = %author, seq,
                    "{author} signed two different entries at sequence number {seq}: the fork proof is stored, and {author}'s chain takes nothing from there on on this node"
                );
                self.handle.metrics.forks.inc();
            }
            Output::ServeFork { token, author } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = match crate::forks::earliest_proof(store.as_ref(), &author) {
                        Ok(Some(proof)) => SyncResponse::Fork(Box::new(proof)),
                        Ok(None) => SyncResponse::Refused,
                        Err(error) => {
                            tracing::error!(%error, "cannot read a fork proof for a peer");
                            SyncResponse::Refused
                        }
                    };
                    let _ = back.blocking_send(Back::Served { token, response });
                });
            }
            Output::RecordFork { from, proof } => {
                let committer = self.committer.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || match committer.submit_fork(*proof) {
                    Ok(_) => {}
                    Err(IngestError::ForkProof(error)) => {
                        tracing::warn!(member = %from, %error, "{from}'s node sent a fork proof that does not hold");
                        let _ = back.blocking_send(Back::Input(Input::Misbehaved { peer: from }));
                    }
                    Err(error) => tracing::error!(%error, "cannot store a fork proof from a peer"),
                });
            }
            Output::CompareHead { peer, head } => {
                let store = self.store.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    match crate::forks::differs_from_stored(
                        store.as_ref(),
                        &head.author,
                        head.seq,
                        &head.hash,
                    ) {
                        Ok(false) => {}
                        Ok(true) => {
                            let _ = back.blocking_send(Back::Input(Input::HeadDiffers {
                                peer,
                                author: head.author,
                                seq: head.seq,
                            }));
                        }
                        Err(error) => tracing::error!(%error, "cannot compare a peer's head"),
                    }
                });
            }
            Output::Unban { peer } => {
                if let Some(id) = self.members.get(&peer).copied() {
                    tracing::info!(member = %peer, "the ban of {peer}'s node is over");
                    self.swarm.behaviour_mut().allow.allow_peer(id);
                    self.set_peer(&id, |p| p.banned = false);
                }
            }
        }
    }

    /// Publishes the node's new entries, split into messages under the gossip size cap.
    pub(super) fn publish(&mut self, batch: GossipBatch) {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for entry in batch.entries {
            let size = codec::encoded_len("entry", &entry).unwrap_or(GOSSIP_BYTES);
            if !chunk.is_empty() && bytes + size > GOSSIP_BYTES {
                self.publish_one(std::mem::take(&mut chunk));
                bytes = 0;
            }
            bytes += size;
            chunk.push(entry);
        }
        if !chunk.is_empty() {
            self.publish_one(chunk);
        }
    }

    pub(super) fn publish_one(&mut self, entries: Vec<SignedEntry>) {
        let message = match wire::encode("gossip batch", &GossipBatch { entries }) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "cannot encode a gossip batch");
                return;
            }
        };
        let topic = self.topic.clone();
        match self.swarm.behaviour_mut().gossip.publish(topic, message) {
            Ok(_) => self.handle.metrics.published.inc(),
            Err(error) => {
                // No peer yet, or queues full: heads polling and range pulls repair it.
                tracing::debug!(%error, "gossip not published");
                self.handle.metrics.publish_failed.inc()
            }
        };
    }

    /// Verifies entries from peers on the blocking pool, then queues them for the writer.
    pub(super) fn ingest(&mut self, ticket: Ticket, entries: Vec<SignedEntry>) {
        // Behind a peer's governance, an entry signed with a key this node does not know
        // yet may be valid: nobody is blamed for it until the node has caught up.
        let behind = self.governance.behind();
        let committer = self.committer.clone();
        let done = self.done_tx.clone();
        let metrics = self.handle.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let answer = committer.submit_replicated(entries);
            match &answer {
                Ok(receipts) => {
                    let new = receipts.iter().filter(|r| !r.duplicate).count();
                    metrics.replicated.inc_by(new as u64);
                }
                Err(error) => {
                    metrics.refused_entries.inc();
                    tracing::debug!(%error, "entries from a peer were refused");
                }
            }
            let outcome = classify(&answer, behind);
            // The engine keeps few ingest requests in flight, fewer than the channel holds.
            if done.try_send(Done { ticket, outcome }).is_err() {
                tracing::error!("the network stopped before an ingest answer reached it");
            }
        });
    }

    /// Answers a peer's request (if the connection is gone, the answer has nowhere to go).
    pub(super) fn respond(&mut self, token: ReplyToken, response: SyncResponse) {
        if let Some(channel) = self.replies.remove(&token) {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, response);
        }
    }

    /// Dials members' nodes that are not connected, not banned, and due (backing off after
    /// failures).
    pub(super) fn dial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .redial
            .iter()
            .filter(|(peer, r)| {
                r.next.is_none_or(|next| next <= now)
                    && !self.swarm.is_connected(peer)
                    && self.swarm.behaviour().allow.allowed_peers().contains(peer)
                    && self.addresses.get(peer).is_some_and(|a| !a.is_empty())
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let addresses = self.addresses.get(&peer).cloned().unwrap_or_default();
            let options = DialOpts::peer_id(peer)
                .addresses(addresses)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(options) {
                tracing::debug!(%peer, %error, "cannot dial");
            }
            if let Some(redial) = self.redial.get_mut(&peer) {
                let wait = REDIAL_MIN
                    .saturating_mul(1 << redial.failures.min(5))
                    .min(REDIAL_MAX);
                redial.failures = redial.failures.saturating_add(1);
                redial.next = Some(now + wait);
            }
        }
    }
}

fn read_range(store: &dyn Store, author: &MemberId, from: u64, limit: u32) -> SyncResponse {
    let rows = match store.chain_range(author, from, limit as usize) {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(%error, "cannot read a range for a peer");
            return SyncResponse::Refused;
        }
    };
    let mut entries = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    for (_, entry) in rows {
        let size = codec::encoded_len("entry", &entry).unwrap_or(RANGE_BYTES);
        if !entries.is_empty() && bytes + size > RANGE_BYTES {
            break;
        }
        bytes += size;
        entries.push(entry);
    }
    SyncResponse::Range(entries)
}
