//! The network shell's checkpoint work: making the node's own checkpoints, gossiping them,
//! checking and recording the ones peers gossip, and pulling the ones the node lacks.
//!
//! Own checkpoints are made on the blocking pool at most every
//! [`NetConfig::checkpoint_interval`](super::NetConfig), and only when chains grew. They wait
//! until one checkpoint pull has been answered since the node started (unless the consortium
//! has no other member): a node restored from an old backup first learns the numbers it
//! already used, so it does not sign a second checkpoint with one of them.
//!
//! Gossip is best effort; every [`PULL_EVERY`] and whenever a peer connects, the node asks each
//! connected peer for the checkpoints it holds past the node's own gap-free progress of every
//! witness, so a node that was down or partitioned fills its gaps. Invalid checkpoints count
//! as offences of the peer that sent them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::gossipsub::{IdentTopic, MessageAcceptance, MessageId};
use libp2p::request_response::OutboundRequestId;
use tally_sdk::checkpoint::Checkpoint;
use tally_sdk::crypto::SigningKey;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;

use super::super::codec::Inbound;
use super::super::engine::{Input, ReplyToken};
use super::super::wire::{self, SyncRequest, SyncResponse};
use super::{Back, RANGE_BYTES, Shell};
use crate::witness::book::{Book, BookError, Recorded};
use crate::witness::own::make_checkpoint;

/// How often connected peers are asked for checkpoints the node lacks.
pub const PULL_EVERY: Duration = Duration::from_secs(5);
/// Most checkpoints asked for in one pull.
const PULL_LIMIT: u32 = 256;
/// Gossiped checkpoints being checked at once; beyond, new ones are ignored (pulls repair).
const MAX_CHECKING: usize = 64;

/// The checkpoint state of the shell.
pub(super) struct CheckpointSync {
    pub(super) topic: IdentTopic,
    book: Arc<Book>,
    signing: SigningKey,
    interval: Duration,
    next_own: Instant,
    making: bool,
    /// Chains grew since the last own checkpoint was tried.
    dirty: bool,
    /// A pull was answered since start (or there is no one to pull from).
    ready: bool,
    next_pull: Instant,
    pulling: BTreeSet<MemberId>,
    requests: HashMap<OutboundRequestId, MemberId>,
    checking: usize,
}

/// Answers of the checkpoint work on the blocking pool.
pub(super) enum CheckpointBack {
    /// The node's own checkpoint (none: nothing new, or it failed and was logged).
    Made(Option<Checkpoint>),
    /// A gossiped checkpoint was checked.
    Checked {
        message: MessageId,
        source: PeerId,
        from: MemberId,
        acceptance: MessageAcceptance,
    },
    /// What to ask a peer for.
    PullFrom {
        peer: MemberId,
        from: Vec<(MemberId, u64)>,
    },
    /// A pull's answer is recorded; `full`: the peer may hold more.
    Pulled {
        peer: MemberId,
        full: bool,
        invalid: bool,
    },
}

impl CheckpointSync {
    pub(super) fn new(
        topic: IdentTopic,
        book: Arc<Book>,
        signing: SigningKey,
        interval: Duration,
        alone: bool,
    ) -> Self {
        let now = Instant::now();
        Self {
            topic,
            book,
            signing,
            interval,
            next_own: now,
            making: false,
            dirty: true,
            ready: alone,
            next_pull: now + PULL_EVERY,
            pulling: BTreeSet::new(),
            requests: HashMap::new(),
            checking: 0,
        }
    }

    /// Chains grew: a checkpoint is due at the next interval.
    pub(super) fn chains_grew(&mut self) {
        self.dirty = true;
    }

    /// Takes the answer to a pull request, if it was one.
    pub(super) fn take_request(&mut self, id: &OutboundRequestId) -> Option<MemberId> {
        let peer = self.requests.remove(id)?;
        self.pulling.remove(&peer);
        Some(peer)
    }

    pub(super) fn peer_down(&mut self, peer: &MemberId) {
        self.pulling.remove(peer);
    }
}

impl Shell {
    /// Makes the node's own checkpoint and pulls from peers when due.
    pub(super) fn checkpoint_tick(&mut self) {
        let now = Instant::now();
        let sync = &mut self.checkpoints;
        if sync.ready && sync.dirty && !sync.making && now >= sync.next_own {
            sync.making = true;
            sync.dirty = false;
            let book = sync.book.clone();
            let key = sync.signing.clone();
            let store = self.store.clone();
            let me = self.me.clone();
            let back = self.back_tx.clone();
            tokio::task::spawn_blocking(move || {
                let made = match make_checkpoint(&book, store.as_ref(), &me, &key, Timestamp::now())
                {
                    Ok(made) => made,
                    Err(error) => {
                        tracing::error!(%error, "cannot make a checkpoint");
                        None
                    }
                };
                let _ = back.blocking_send(Back::Checkpoint(CheckpointBack::Made(made)));
            });
        }
        if now >= self.checkpoints.next_pull {
            self.checkpoints.next_pull = now + PULL_EVERY;
            let connected: Vec<MemberId> = self
                .members
                .iter()
                .filter(|(_, peer)| self.swarm.is_connected(peer))
                .map(|(member, _)| member.clone())
                .collect();
            for peer in connected {
                self.pull_checkpoints(peer);
            }
        }
    }

    /// Asks `peer` for the checkpoints this node lacks (one pull per peer at a time).
    pub(super) fn pull_checkpoints(&mut self, peer: MemberId) {
        if !self.checkpoints.pulling.insert(peer.clone()) {
            return;
        }
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let mut from = Vec::new();
            for member in book.genesis().all_members() {
                match book.progress(&member.id) {
                    Ok(progress) => from.push((member.id.clone(), progress.contiguous)),
                    Err(error) => {
                        tracing::error!(%error, "cannot read checkpoint progress");
                        return;
                    }
                }
            }
            let _ = back.blocking_send(Back::Checkpoint(CheckpointBack::PullFrom { peer, from }));
        });
    }

    /// Checks and records a gossiped checkpoint, then gives gossipsub the verdict.
    pub(super) fn on_checkpoint_gossip(
        &mut self,
        from: MemberId,
        message: MessageId,
        source: PeerId,
        data: &[u8],
    ) {
        if self.checkpoints.checking >= MAX_CHECKING {
            self.report(&message, &source, MessageAcceptance::Ignore);
            return;
        }
        let Ok(checkpoint) = wire::decode::<Checkpoint>("checkpoint", data) else {
            tracing::info!(%from, "an undecodable checkpoint from {from}");
            self.report(&message, &source, MessageAcceptance::Reject);
            self.inputs.push_back(Input::Misbehaved { peer: from });
            return;
        };
        self.checkpoints.checking += 1;
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let acceptance = match book.record(&checkpoint) {
                Ok(Recorded::New) => MessageAcceptance::Accept,
                Ok(Recorded::Known) => MessageAcceptance::Ignore,
                Err(error) => verdict_of(&from, &error),
            };
            let checked = CheckpointBack::Checked {
                message,
                source,
                from,
                acceptance,
            };
            let _ = back.blocking_send(Back::Checkpoint(checked));
        });
    }

    /// Serves a peer's checkpoint pull from the book.
    pub(super) fn serve_checkpoints(
        &mut self,
        token: ReplyToken,
        from: Vec<(MemberId, u64)>,
        limit: u32,
    ) {
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        let limit = limit.min(PULL_LIMIT) as usize;
        tokio::task::spawn_blocking(move || {
            let response = match book.since(&from, limit, RANGE_BYTES) {
                Ok(found) => SyncResponse::Checkpoints(found),
                Err(error) => {
                    tracing::error!(%error, "cannot read checkpoints for a peer");
                    SyncResponse::Refused
                }
            };
            let _ = back.blocking_send(Back::Served { token, response });
        });
    }

    /// Records what a peer sent in answer to a pull.
    pub(super) fn on_pulled(&mut self, peer: MemberId, response: SyncResponse) {
        let SyncResponse::Checkpoints(found) = response else {
            if !matches!(response, SyncResponse::Refused) {
                self.inputs.push_back(Input::Misbehaved { peer });
            }
            return;
        };
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        let metrics = self.handle.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let full = found.len() >= PULL_LIMIT as usize;
            let mut invalid = false;
            for checkpoint in &found {
                match book.record(checkpoint) {
                    Ok(Recorded::New) => {
                        metrics.checkpoints_received.inc();
                    }
                    Ok(Recorded::Known) => {}
                    Err(error) => {
                        invalid |= verdict_of(&peer, &error) == MessageAcceptance::Reject;
                    }
                }
            }
            let pulled = CheckpointBack::Pulled {
                peer,
                full: full && !invalid,
                invalid,
            };
            let _ = back.blocking_send(Back::Checkpoint(pulled));
        });
    }

    /// Carries on with what the blocking pool answered.
    pub(super) fn on_checkpoint_back(&mut self, answer: CheckpointBack) {
        match answer {
            CheckpointBack::Made(made) => {
                let sync = &mut self.checkpoints;
                sync.making = false;
                sync.next_own = Instant::now() + sync.interval;
                if let Some(checkpoint) = made {
                    self.handle.metrics.checkpoints_made.inc();
                    tracing::debug!(
                        number = checkpoint.body().number,
                        spans = checkpoint.spans.len(),
                        "made checkpoint {}",
                        checkpoint.body().number
                    );
                    self.publish_checkpoint(&checkpoint);
                    // More may be due at once (spans are capped); the interval paces it.
                    self.checkpoints.dirty = true;
                }
            }
            CheckpointBack::Checked {
                message,
                source,
                from,
                acceptance,
            } => {
                self.checkpoints.checking = self.checkpoints.checking.saturating_sub(1);
                match acceptance {
                    MessageAcceptance::Accept => {
                        self.handle.metrics.checkpoints_received.inc();
                    }
                    MessageAcceptance::Reject => {
                        self.handle.metrics.checkpoints_refused.inc();
                        self.inputs.push_back(Input::Misbehaved { peer: from });
                    }
                    MessageAcceptance::Ignore => {}
                }
                self.report(&message, &source, acceptance);
            }
            CheckpointBack::PullFrom { peer, from } => {
                let connected = self
                    .members
                    .get(&peer)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                let Some(peer_id) = connected else {
                    self.checkpoints.pulling.remove(&peer);
                    return;
                };
                let request = SyncRequest::Checkpoints {
                    from,
                    limit: PULL_LIMIT,
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer_id, Inbound::Ok(request));
                self.checkpoints.requests.insert(id, peer);
            }
            CheckpointBack::Pulled {
                peer,
                full,
                invalid,
            } => {
                self.checkpoints.ready = true;
                if invalid {
                    self.handle.metrics.checkpoints_refused.inc();
                    self.inputs.push_back(Input::Misbehaved { peer });
                } else if full {
                    self.pull_checkpoints(peer);
                }
            }
        }
    }

    fn publish_checkpoint(&mut self, checkpoint: &Checkpoint) {
        let message = match wire::encode("checkpoint", checkpoint) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "cannot encode a checkpoint");
                return;
            }
        };
        let topic = self.checkpoints.topic.clone();
        if let Err(error) = self.swarm.behaviour_mut().gossip.publish(topic, message) {
            // No peer yet: peers pull it.
            tracing::debug!(%error, "checkpoint not gossiped");
        }
    }
}

/// The gossip verdict on a checkpoint that was not recorded, logged.
fn verdict_of(from: &MemberId, error: &BookError) -> MessageAcceptance {
    match error {
        BookError::Invalid(_) => {
            tracing::warn!(%from, %error, "an invalid checkpoint from {from}'s node");
            MessageAcceptance::Reject
        }
        BookError::Conflict { .. } => {
            tracing::warn!(%from, %error, "a conflicting checkpoint from {from}'s node");
            MessageAcceptance::Ignore
        }
        BookError::Store(_) => {
            tracing::error!(%error, "cannot record a checkpoint");
            MessageAcceptance::Ignore
        }
    }
}
