//! The network shell's courier: carries private fields point to point between members' nodes
//! over the delivery protocol ([`DELIVERY_PROTOCOL`](super::super::codec::DELIVERY_PROTOCOL)),
//! never over gossip.
//!
//! Sending: the store's `outbox` names, per reader, the own entries whose fields that reader's
//! node has not acknowledged. For each connected reader the courier reads a round of them on
//! the blocking pool, seals each reader's fields to its X25519 key
//! ([`seal_for`]), sends them in one request, and deletes the outbox keys the reader answered
//! [`Stored`](DeliveryAnswer::Stored). Because the outbox is written in the same atomic batch
//! as the entry and only emptied on acknowledgement, delivery survives restarts of either
//! side. A round starts when the node commits own entries, when the reader connects, and
//! otherwise every [`IDLE_ROUND`]; after failures the reader's rounds back off up to
//! [`BACKOFF_MAX`]. An entry the reader refuses is parked for [`PARK`] so it does not hold up
//! the rest.
//!
//! Receiving: each request's deliveries are checked and stored by [`receive`] on the blocking
//! pool, at most [`MAX_RECEIVING`] requests at a time; beyond, the sender is told to try
//! [`Later`](DeliveryAnswer::Later). Fields of an entry the node does not hold yet are not
//! kept ([`NotHeld`](DeliveryAnswer::NotHeld): sent again at a later round), so a member
//! cannot fill readers' disks with fields of entries it never put on the ledger; a request
//! with fields the sender could not honestly have sent counts as an offence of its node. Nothing here logs a private value: the log says which
//! entry, never what it holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tally_sdk::crypto::X25519SecretKey;
use tally_sdk::genesis::Genesis;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;

use super::super::codec::{DeliveryInbound, MAX_DELIVERY_BYTES};
use super::super::engine::Input;
use super::{Back, Shell};
use crate::private::delivery::{Delivery, DeliveryAnswer, delivered, receive, seal_for};
use crate::private::outbox;
use crate::store::Batch;

/// How often a connected reader's outbox is looked at when nothing else starts a round.
pub const IDLE_ROUND: Duration = Duration::from_secs(5);
/// Longest wait between rounds of a reader whose node keeps failing.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long an entry a reader's node refused waits before it is offered again.
pub const PARK: Duration = Duration::from_secs(300);
/// How soon a round follows one where the reader's node did not hold an entry yet (it gets
/// it by replication within moments).
pub const NOT_HELD_RETRY: Duration = Duration::from_millis(500);
/// Most entries read from a reader's outbox in one round.
const ROUND_LIMIT: usize = 256;
/// Most bytes of deliveries in one request, below the frame cap.
const ROUND_BYTES: usize = MAX_DELIVERY_BYTES - (256 << 10);
/// Delivery requests being checked at once; beyond, senders are told to try later.
pub const MAX_RECEIVING: usize = 4;

/// One reader's round state.
#[derive(Debug, Default)]
struct Reader {
    /// A round is being read, sent or acknowledged.
    busy: bool,
    /// When the next round may start.
    next: Option<Instant>,
    /// Failed rounds in a row.
    failures: u32,
    /// Entries refused by the reader's node, and when to offer each again.
    parked: HashMap<EntryHash, Instant>,
    /// The reader's node did not hold an entry of the round yet: the next round comes soon.
    soon: bool,
}

/// The courier's state in the shell.
pub(super) struct Courier {
    genesis: Arc<Genesis>,
    me: MemberId,
    secret: X25519SecretKey,
    readers: BTreeMap<MemberId, Reader>,
    requests: HashMap<OutboundRequestId, (MemberId, Vec<EntryHash>)>,
    replies: HashMap<u64, ResponseChannel<Vec<DeliveryAnswer>>>,
    receiving: usize,
}

/// Answers of the courier's work on the blocking pool.
pub(super) enum CourierBack {
    /// A round's deliveries for `reader`, sealed (empty: nothing to send).
    Sealed {
        reader: MemberId,
        deliveries: Vec<(EntryHash, Delivery)>,
    },
    /// The outbox keys of acknowledged entries are deleted.
    Forgotten { reader: MemberId, ok: bool },
    /// A request's deliveries are checked; the answers go back to the sender.
    Received {
        token: u64,
        answers: Vec<DeliveryAnswer>,
        /// The sender's node sent what its member could not honestly have sent.
        offence: Option<MemberId>,
    },
}

impl Courier {
    pub(super) fn new(genesis: Arc<Genesis>, me: MemberId, secret: X25519SecretKey) -> Self {
        let readers = genesis
            .members()
            .iter()
            .filter(|m| m.id != me)
            .map(|m| (m.id.clone(), Reader::default()))
            .collect();
        Self {
            genesis,
            me,
            secret,
            readers,
            requests: HashMap::new(),
            replies: HashMap::new(),
            receiving: 0,
        }
    }

    /// Follows a new consortium: private fields go to the readers it names, with the keys it
    /// names, from the next round on; a removed member's node gets nothing more.
    pub(super) fn follow(&mut self, genesis: Arc<Genesis>) {
        let current: Vec<MemberId> = genesis
            .members()
            .iter()
            .filter(|m| m.id != self.me)
            .map(|m| m.id.clone())
            .collect();
        self.readers.retain(|member, _| current.contains(member));
        for member in current {
            self.readers.entry(member).or_default();
        }
        self.genesis = genesis;
    }

    /// Own entries were committed: every reader's round is due.
    pub(super) fn own_committed(&mut self) {
        for reader in self.readers.values_mut() {
            if reader.failures == 0 {
                reader.next = None;
            }
        }
    }

    /// A reader's node connected: its round is due.
    pub(super) fn peer_up(&mut self, member: &MemberId) {
        if let Some(reader) = self.readers.get_mut(member) {
            reader.next = None;
            reader.failures = 0;
        }
    }

    /// Takes the request a delivery answer or failure belongs to.
    fn take_request(&mut self, id: &OutboundRequestId) -> Option<(MemberId, Vec<EntryHash>)> {
        self.requests.remove(id)
    }

    /// A round of `reader` ended; `ok`: without failure.
    fn round_ended(&mut self, reader: &MemberId, ok: bool, now: Instant) {
        let Some(state) = self.readers.get_mut(reader) else {
            return;
        };
        state.busy = false;
        if ok {
            state.failures = 0;
            if std::mem::take(&mut state.soon) {
                state.next = Some(now + NOT_HELD_RETRY);
            }
        } else {
            state.failures = state.failures.saturating_add(1);
            let wait = Duration::from_secs(1)
                .saturating_mul(1 << state.failures.min(6))
                .min(BACKOFF_MAX);
            state.next = Some(now + wait);
        }
    }
}

impl Shell {
    /// Starts the rounds that are due, for connected readers.
    pub(super) fn courier_tick(&mut self) {
        let now = Instant::now();
        let due: Vec<MemberId> = self
            .courier
            .readers
            .iter()
            .filter(|(_, r)| !r.busy && r.next.is_none_or(|next| next <= now))
            .filter(|(member, _)| {
                self.members
                    .get(*member)
                    .is_some_and(|peer| self.swarm.is_connected(peer))
            })
            .map(|(member, _)| member.clone())
            .collect();
        for member in due {
            self.start_round(member, now);
        }
    }

    fn start_round(&mut self, member: MemberId, now: Instant) {
        let Some(state) = self.courier.readers.get_mut(&member) else {
            return;
        };
        state.busy = true;
        state.next = Some(now + IDLE_ROUND);
        state.parked.retain(|_, until| *until > now);
        let parked: HashSet<EntryHash> = state.parked.keys().copied().collect();
        let genesis = self.courier.genesis.clone();
        let store = self.store.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let deliveries = match seal_round(&genesis, store.as_ref(), &member, &parked) {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::error!(%error, reader = %member, "cannot prepare private fields for {member}'s node");
                    Vec::new()
                }
            };
            let sealed = CourierBack::Sealed {
                reader: member,
                deliveries,
            };
            let _ = back.blocking_send(Back::Courier(sealed));
        });
    }

    /// Carries on with what the blocking pool answered.
    pub(super) fn on_courier_back(&mut self, answer: CourierBack) {
        match answer {
            CourierBack::Sealed { reader, deliveries } => {
                if deliveries.is_empty() {
                    self.courier.round_ended(&reader, true, Instant::now());
                    return;
                }
                let connected = self
                    .members
                    .get(&reader)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                let Some(peer) = connected else {
                    self.courier.round_ended(&reader, false, Instant::now());
                    return;
                };
                let (hashes, deliveries): (Vec<_>, Vec<_>) = deliveries.into_iter().unzip();
                let id = self
                    .swarm
                    .behaviour_mut()
                    .private
                    .send_request(&peer, DeliveryInbound::Ok(deliveries));
                self.courier.requests.insert(id, (reader, hashes));
            }
            CourierBack::Forgotten { reader, ok } => {
                let now = Instant::now();
                self.courier.round_ended(&reader, ok, now);
                if ok {
                    // More may wait beyond the round's limit.
                    if let Some(state) = self.courier.readers.get_mut(&reader) {
                        state.next = None;
                    }
                }
            }
            CourierBack::Received {
                token,
                answers,
                offence,
            } => {
                self.courier.receiving = self.courier.receiving.saturating_sub(1);
                if let Some(peer) = offence {
                    self.inputs.push_back(Input::Misbehaved { peer });
                }
                if let Some(channel) = self.courier.replies.remove(&token) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .private
                        .send_response(channel, answers);
                }
            }
        }
    }

    /// Handles the delivery protocol's events.
    pub(super) fn on_delivery(
        &mut self,
        event: request_response::Event<DeliveryInbound, Vec<DeliveryAnswer>>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_deliveries(self.peers.get(&peer).cloned(), request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((reader, hashes)) = self.courier.take_request(&request_id) {
                        self.on_answers(reader, hashes, response);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((reader, _)) = self.courier.take_request(&request_id) {
                    tracing::debug!(%reader, %error, "a delivery of private fields to {reader}'s node failed");
                    self.handle.metrics.private_failed.inc();
                    self.courier.round_ended(&reader, false, Instant::now());
                }
            }
            _ => {}
        }
    }

    fn on_deliveries(
        &mut self,
        sender: Option<MemberId>,
        request: DeliveryInbound,
        channel: ResponseChannel<Vec<DeliveryAnswer>>,
    ) {
        let (Some(sender), DeliveryInbound::Ok(deliveries)) = (sender, request) else {
            // Not a member (cannot happen past the allow list) or a malformed request.
            let _ = self
                .swarm
                .behaviour_mut()
                .private
                .send_response(channel, Vec::new());
            return;
        };
        if self.courier.receiving >= MAX_RECEIVING {
            let answers = vec![DeliveryAnswer::Later; deliveries.len()];
            let _ = self
                .swarm
                .behaviour_mut()
                .private
                .send_response(channel, answers);
            return;
        }
        self.courier.receiving += 1;
        let token = self.token();
        self.courier.replies.insert(token, channel);
        let genesis = self.courier.genesis.clone();
        let me = self.courier.me.clone();
        let secret = self.courier.secret.clone();
        let store = self.store.clone();
        let back = self.back_tx.clone();
        let metrics = self.handle.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let mut answers = Vec::with_capacity(deliveries.len());
            let mut offence = None;
            for delivery in deliveries {
                let entry = delivery.entry.hash().ok();
                match receive(&genesis, &me, &secret, store.as_ref(), &sender, delivery) {
                    Ok((_, added)) => {
                        metrics.private_received.inc_by(added as u64);
                        answers.push(DeliveryAnswer::Stored);
                    }
                    Err(error) => {
                        let answer = error.answer();
                        if error.blames_sender() {
                            offence = Some(sender.clone());
                        }
                        match answer {
                            DeliveryAnswer::Refused(_) => {
                                metrics.private_refused.inc();
                                tracing::warn!(
                                    %sender, entry = ?entry, %error,
                                    "refused private fields from {sender}'s node"
                                );
                            }
                            // Fields that arrive before their entry: the usual race with
                            // replication, sent again shortly.
                            DeliveryAnswer::NotHeld => {
                                tracing::debug!(%sender, entry = ?entry, "private fields arrived before their entry");
                            }
                            DeliveryAnswer::Stored | DeliveryAnswer::Later => {
                                tracing::error!(%error, "cannot store private fields from {sender}'s node");
                            }
                        }
                        answers.push(answer);
                    }
                }
            }
            let received = CourierBack::Received {
                token,
                answers,
                offence,
            };
            let _ = back.blocking_send(Back::Courier(received));
        });
    }

    /// Forgets what the reader stored, parks what it refused, and ends the round.
    fn on_answers(
        &mut self,
        reader: MemberId,
        hashes: Vec<EntryHash>,
        answers: Vec<DeliveryAnswer>,
    ) {
        let now = Instant::now();
        let mut stored = Vec::new();
        let mut ok = answers.len() == hashes.len();
        for (hash, answer) in hashes.iter().zip(&answers) {
            match answer {
                DeliveryAnswer::Stored => stored.push(*hash),
                DeliveryAnswer::Later => ok = false,
                // Sent again soon, without backing off: the reader's node gets the entry by
                // replication within moments.
                DeliveryAnswer::NotHeld => {
                    if let Some(state) = self.courier.readers.get_mut(&reader) {
                        state.soon = true;
                    }
                }
                DeliveryAnswer::Refused(why) => {
                    tracing::warn!(
                        %reader, entry = %hash, why,
                        "{reader}'s node refused the private fields of entry {hash}"
                    );
                    self.handle.metrics.private_refused.inc();
                    if let Some(state) = self.courier.readers.get_mut(&reader) {
                        state.parked.insert(*hash, now + PARK);
                    }
                }
            }
        }
        self.handle.metrics.private_sent.inc_by(stored.len() as u64);
        if stored.is_empty() {
            self.courier.round_ended(&reader, ok, now);
            return;
        }
        let store = self.store.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let mut batch = Batch::default();
            for hash in &stored {
                batch.append(delivered(&reader, hash));
            }
            let written = match store.write(batch) {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "cannot forget delivered private fields (they will be sent again)");
                    false
                }
            };
            let forgotten = CourierBack::Forgotten {
                reader,
                ok: ok && written,
            };
            let _ = back.blocking_send(Back::Courier(forgotten));
        });
    }
}

/// Reads and seals one round of `reader`'s outbox, under the request's byte budget. Entries
/// with nothing left to send are forgotten here.
fn seal_round(
    genesis: &Genesis,
    store: &dyn crate::store::Store,
    reader: &MemberId,
    parked: &HashSet<EntryHash>,
) -> Result<Vec<(EntryHash, Delivery)>, crate::private::delivery::SealForError> {
    let Some(member) = genesis.active_member(reader) else {
        return Ok(Vec::new());
    };
    let mut deliveries = Vec::new();
    let mut bytes = 0;
    let mut moot = Batch::default();
    for hash in outbox(store, reader, ROUND_LIMIT)? {
        if parked.contains(&hash) {
            continue;
        }
        match seal_for(genesis, store, member, &hash)? {
            Some(delivery) => {
                let entry_size = delivery.entry.to_bytes().map_or(ROUND_BYTES, |b| b.len());
                let size = delivery.sealed.ciphertext.len() + entry_size;
                if !deliveries.is_empty() && bytes + size > ROUND_BYTES {
                    break;
                }
                bytes += size;
                deliveries.push((hash, delivery));
            }
            None => moot.append(delivered(reader, &hash)),
        }
    }
    if !moot.is_empty() {
        store.write(moot)?;
    }
    Ok(deliveries)
}
