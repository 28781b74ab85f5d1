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
//! witness, so a node that was down or partitioned fills its gaps. A peer's checkpoint is
//! admitted only once it checks against the chains held here ([`Book::admit`]). Checkpoints
//! that do not verify count as offences of the peer that sent them; validly signed ones that
//! conflict with a held one or state false spans count against their witness, whose
//! signature proves it signed them (they are kept as evidence).

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
use super::super::wire::{self, CheckpointConflict, SyncRequest, SyncResponse};
use super::{Back, RANGE_BYTES, Shell};
use crate::witness::book::{Admitted, Book, BookError};
use crate::witness::own::make_checkpoint;

/// How often connected peers are asked for checkpoints the node lacks.
pub const PULL_EVERY: Duration = Duration::from_secs(5);
/// Most checkpoints asked for in one pull.
const PULL_LIMIT: u32 = 256;
/// Gossiped checkpoints being checked at once; beyond, new ones are ignored (pulls repair).
const MAX_CHECKING: usize = 64;
/// Gossiped checkpoints kept to check again when the chains grow (they stated entries the
/// node did not hold yet), and most bytes of them; beyond, pulls bring them.
const MAX_DEFERRED: usize = 64;
const MAX_DEFERRED_BYTES: usize = 8 << 20;

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
    /// Gossiped checkpoints not checkable yet, with the peer that sent each and its size.
    deferred: Vec<(Checkpoint, MemberId, usize)>,
    /// The chains grew since the deferred checkpoints were last checked.
    recheck: bool,
    /// They are being checked again.
    rechecking: bool,
}

/// Answers of the checkpoint work on the blocking pool.
pub(super) enum CheckpointBack {
    /// The node's own checkpoint (none: nothing new, or it failed and was logged).
    Made(Option<Checkpoint>),
    /// A gossiped checkpoint was checked; `blame`: who answers for a bad one; `deferred`:
    /// it is not checkable yet, to be checked again when the chains grow.
    Checked {
        message: MessageId,
        source: PeerId,
        blame: MemberId,
        acceptance: MessageAcceptance,
        deferred: Option<Box<Checkpoint>>,
    },
    /// Deferred checkpoints checked again: those still not checkable, and who answers for
    /// bad ones.
    Rechecked {
        deferred: Vec<(Checkpoint, MemberId)>,
        new: u64,
        blame: Vec<MemberId>,
    },
    /// What to ask a peer for.
    PullFrom {
        peer: MemberId,
        from: Vec<(MemberId, u64)>,
        conflicts_held: Vec<MemberId>,
    },
    /// A pull's answer is recorded; `full`: the peer may hold more; `blame`: who sent or
    /// signed bad checkpoints in it.
    Pulled {
        peer: MemberId,
        full: bool,
        blame: BTreeSet<MemberId>,
        deferred: Vec<Checkpoint>,
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
            deferred: Vec::new(),
            recheck: false,
            rechecking: false,
        }
    }

    /// Chains grew: a checkpoint is due at the next interval, and the deferred checkpoints
    /// are checked again at the next tick.
    pub(super) fn chains_grew(&mut self) {
        self.dirty = true;
        self.recheck = !self.deferred.is_empty();
    }

    /// Keeps a checkpoint that is not checkable yet, to check again when the chains grow;
    /// the oldest kept give way when there is no room (pulls bring them again), so checkpoints
    /// that never become checkable cannot keep newer ones out.
    fn defer(&mut self, checkpoint: Checkpoint, from: MemberId) {
        let Ok(size) = tally_sdk::codec::encoded_len("checkpoint", &checkpoint) else {
            return;
        };
        if size > MAX_DEFERRED_BYTES {
            return;
        }
        self.deferred.push((checkpoint, from, size));
        let mut held: usize = self.deferred.iter().map(|(_, _, size)| size).sum();
        while self.deferred.len() > MAX_DEFERRED || held > MAX_DEFERRED_BYTES {
            let (_, _, size) = self.deferred.remove(0);
            held -= size;
        }
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
    /// Makes the node's own checkpoint and pulls from peers when due; checks deferred
    /// checkpoints again once the chains grew.
    pub(super) fn checkpoint_tick(&mut self) {
        let now = Instant::now();
        if self.checkpoints.recheck && !self.checkpoints.rechecking {
            self.checkpoints.recheck = false;
            self.checkpoints.rechecking = true;
            let waiting = std::mem::take(&mut self.checkpoints.deferred);
            let book = self.checkpoints.book.clone();
            let back = self.back_tx.clone();
            tokio::task::spawn_blocking(move || {
                let (mut deferred, mut new, mut blame) = (Vec::new(), 0, Vec::new());
                for (checkpoint, from, _) in waiting {
                    match book.admit(&checkpoint) {
                        Ok(Admitted::New) => new += 1,
                        Ok(Admitted::Known) => {}
                        Ok(Admitted::Deferred) => deferred.push((checkpoint, from)),
                        Err(error) => blame.extend(blamed(&from, &error)),
                    }
                }
                let answer = CheckpointBack::Rechecked {
                    deferred,
                    new,
                    blame,
                };
                let _ = back.blocking_send(Back::Checkpoint(answer));
            });
        }
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
            for peer in self.connected_members() {
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
            let conflicts_held = match book.conflicted() {
                Ok(held) => held,
                Err(error) => {
                    tracing::error!(%error, "cannot read the checkpoint conflicts held");
                    return;
                }
            };
            let pull = CheckpointBack::PullFrom {
                peer,
                from,
                conflicts_held,
            };
            let _ = back.blocking_send(Back::Checkpoint(pull));
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
            let mut deferred = None;
            let (acceptance, blame) = match book.admit(&checkpoint) {
                Ok(Admitted::New) => (MessageAcceptance::Accept, from),
                Ok(Admitted::Known) => (MessageAcceptance::Ignore, from),
                Ok(Admitted::Deferred) => {
                    deferred = Some(Box::new(checkpoint));
                    (MessageAcceptance::Ignore, from)
                }
                Err(error) => match blamed(&from, &error) {
                    Some(blame) => (MessageAcceptance::Reject, blame),
                    None => (MessageAcceptance::Ignore, from),
                },
            };
            let checked = CheckpointBack::Checked {
                message,
                source,
                blame,
                acceptance,
                deferred,
            };
            let _ = back.blocking_send(Back::Checkpoint(checked));
        });
    }

    /// Serves a peer's checkpoint pull from the book, with the conflict proofs it lacks.
    pub(super) fn serve_checkpoints(
        &mut self,
        token: ReplyToken,
        from: Vec<(MemberId, u64)>,
        limit: u32,
        conflicts_held: Vec<MemberId>,
    ) {
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        let limit = limit.min(PULL_LIMIT) as usize;
        tokio::task::spawn_blocking(move || {
            let found = book
                .since(&from, limit, RANGE_BYTES)
                .and_then(|checkpoints| {
                    let conflicts = book
                        .conflicts(&conflicts_held, RANGE_BYTES)?
                        .into_iter()
                        .map(|(held, other)| CheckpointConflict { held, other })
                        .collect();
                    Ok((checkpoints, conflicts))
                });
            let response = match found {
                Ok((checkpoints, conflicts)) => SyncResponse::Checkpoints {
                    checkpoints,
                    conflicts,
                },
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
        let SyncResponse::Checkpoints {
            checkpoints: found,
            conflicts,
        } = response
        else {
            if !matches!(response, SyncResponse::Refused) {
                self.inputs.push_back(Input::Misbehaved { peer });
            }
            return;
        };
        let book = self.checkpoints.book.clone();
        let back = self.back_tx.clone();
        let metrics = self.handle.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let mut full = found.len() >= PULL_LIMIT as usize;
            let mut blame = BTreeSet::new();
            let mut deferred = Vec::new();
            // Proofs that a witness signed two checkpoints with one number reach every node
            // this way; a new one counts against the witness, a false one against the peer.
            for conflict in conflicts {
                match book.admit_conflict(&conflict.held, &conflict.other) {
                    Ok(Some(witness)) => {
                        tracing::warn!(%witness, "{witness} signed two checkpoints with one number (the proof came from {peer}'s node); kept as evidence");
                        blame.insert(witness);
                    }
                    Ok(None) => {}
                    Err(BookError::Store(error)) => {
                        tracing::error!(%error, "cannot keep a checkpoint conflict proof");
                    }
                    Err(error) => {
                        tracing::warn!(%peer, %error, "a false checkpoint conflict proof from {peer}'s node");
                        blame.insert(peer.clone());
                    }
                }
            }
            for checkpoint in found {
                match book.admit(&checkpoint) {
                    Ok(Admitted::New) => {
                        metrics.checkpoints_received.inc();
                    }
                    Ok(Admitted::Known) => {}
                    // Not checkable yet: asking again at once would bring it again; it is
                    // checked again when the chains grow.
                    Ok(Admitted::Deferred) => {
                        full = false;
                        deferred.push(checkpoint);
                    }
                    Err(error) => blame.extend(blamed(&peer, &error)),
                }
            }
            let pulled = CheckpointBack::Pulled {
                peer,
                full: full && blame.is_empty(),
                blame,
                deferred,
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
                blame,
                acceptance,
                deferred,
            } => {
                self.checkpoints.checking = self.checkpoints.checking.saturating_sub(1);
                if let Some(checkpoint) = deferred {
                    self.checkpoints.defer(*checkpoint, blame.clone());
                }
                match acceptance {
                    MessageAcceptance::Accept => {
                        self.handle.metrics.checkpoints_received.inc();
                    }
                    MessageAcceptance::Reject => {
                        self.handle.metrics.checkpoints_refused.inc();
                        self.inputs.push_back(Input::Misbehaved { peer: blame });
                    }
                    MessageAcceptance::Ignore => {}
                }
                self.report(&message, &source, acceptance);
            }
            CheckpointBack::PullFrom {
                peer,
                from,
                conflicts_held,
            } => {
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
                    conflicts_held,
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer_id, Inbound::Ok(request));
                self.checkpoints.requests.insert(id, peer);
            }
            CheckpointBack::Rechecked {
                deferred,
                new,
                blame,
            } => {
                self.checkpoints.rechecking = false;
                self.handle.metrics.checkpoints_received.inc_by(new);
                for member in blame {
                    self.handle.metrics.checkpoints_refused.inc();
                    self.inputs.push_back(Input::Misbehaved { peer: member });
                }
                for (checkpoint, from) in deferred {
                    self.checkpoints.defer(checkpoint, from);
                }
            }
            CheckpointBack::Pulled {
                peer,
                full,
                blame,
                deferred,
            } => {
                self.checkpoints.ready = true;
                for checkpoint in deferred {
                    self.checkpoints.defer(checkpoint, peer.clone());
                }
                for member in blame {
                    self.handle.metrics.checkpoints_refused.inc();
                    self.inputs.push_back(Input::Misbehaved { peer: member });
                }
                if full {
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

/// Who answers for a checkpoint `from` sent that was not recorded (logged): the witness whose
/// signature proves it signed what it should not have, or else the peer that sent something
/// invalid; `None` when the fault is this node's.
fn blamed(from: &MemberId, error: &BookError) -> Option<MemberId> {
    (verdict_of(from, error) == MessageAcceptance::Reject)
        .then(|| error.signer_at_fault().unwrap_or(from).clone())
}

/// The gossip verdict on a checkpoint that was not recorded, logged.
fn verdict_of(from: &MemberId, error: &BookError) -> MessageAcceptance {
    match error {
        BookError::Invalid(_) | BookError::NotAConflict => {
            tracing::warn!(%from, %error, "an invalid checkpoint from {from}'s node");
            MessageAcceptance::Reject
        }
        BookError::Conflict { .. } | BookError::FalseSpan { .. } => {
            tracing::warn!(%from, %error, "a checkpoint its witness should never have signed, from {from}'s node; kept as evidence");
            MessageAcceptance::Reject
        }
        BookError::Store(_) => {
            tracing::error!(%error, "cannot record a checkpoint");
            MessageAcceptance::Ignore
        }
    }
}
