//! The private-field courier without IO: when to send each reader's node a round of the
//! private fields it may read, what to do with its answers, and how to take the rounds other
//! nodes send. Like the [`engine`](super::engine) it takes inputs and returns outputs; the work
//! (reading and sealing a round, storing what arrived, forgetting what was acknowledged) is
//! done by a [`CourierWorker`] wherever the caller likes (the network shell on its blocking
//! pool, the simulation in `node/tests/replication.rs` at once). Private fields travel point
//! to point over the delivery protocol, never over gossip.
//!
//! Sending: the store's `outbox` names, per reader, the own entries whose fields that reader's
//! node has not acknowledged. For each connected reader a round of them is read and each
//! reader's fields sealed to its X25519 key ([`seal_for`]) and sent in one request; the outbox
//! keys the reader answers [`Stored`](DeliveryAnswer::Stored) are deleted. Because the outbox
//! is written in the same atomic batch as the entry and only emptied on acknowledgement,
//! delivery survives restarts of either side. A round starts when the node commits own
//! entries, when the reader connects, and otherwise every [`IDLE_ROUND_MS`]; after failures
//! the reader's rounds back off up to [`BACKOFF_MAX_MS`]. An entry the reader refuses is
//! parked for [`PARK_MS`] so it does not hold up the rest.
//!
//! Receiving: each request's deliveries are checked and stored by [`receive`], at most
//! [`MAX_RECEIVING`] requests at a time; beyond, the sender is told to try
//! [`Later`](DeliveryAnswer::Later). Fields of an entry the node does not hold yet are not
//! kept ([`NotHeld`](DeliveryAnswer::NotHeld): sent again at a later round), so a member
//! cannot fill readers' disks with fields of entries it never put on the ledger; a request
//! with fields the sender could not honestly have sent counts as an offence of its node.
//! Nothing here logs a private value: the log says which entry, never what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tally_sdk::crypto::X25519SecretKey;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::privacy::sealed::{RoundOpener, RoundSealer};

use super::codec::MAX_DELIVERY_BYTES;
use crate::private::delivery::{
    Delivery, DeliveryAnswer, SealForError, check, delivered, seal_in_round, store_checked,
};
use crate::private::outbox;
use crate::store::{Batch, Store};

/// How often a connected reader's outbox is looked at when nothing else starts a round, in
/// milliseconds.
pub const IDLE_ROUND_MS: u64 = 5_000;
/// Longest wait between rounds of a reader whose node keeps failing.
pub const BACKOFF_MAX_MS: u64 = 60_000;
/// How long an entry a reader's node refused waits before it is offered again.
pub const PARK_MS: u64 = 300_000;
/// How soon a round follows one where the reader's node did not hold an entry yet (it gets
/// it by replication within moments).
pub const NOT_HELD_RETRY_MS: u64 = 500;
/// Most entries read from a reader's outbox in one round.
const ROUND_LIMIT: usize = 256;
/// Most bytes of deliveries in one request, below the frame cap.
const ROUND_BYTES: usize = MAX_DELIVERY_BYTES - (256 << 10);
/// Delivery requests being checked at once; beyond, senders are told to try later.
pub const MAX_RECEIVING: usize = 4;

/// A token for the answer to a delivery request.
pub type DeliveryToken = u64;

/// What happens to the courier.
#[derive(Debug, Clone)]
pub enum CourierInput {
    /// The time, in milliseconds on the caller's clock.
    Tick {
        /// Now.
        now: u64,
    },
    /// The node committed entries of its own member: every reader's round is due.
    OwnCommitted,
    /// A member's node connected: its round is due.
    PeerUp {
        /// The member.
        peer: MemberId,
    },
    /// A member's node disconnected.
    PeerDown {
        /// The member.
        peer: MemberId,
    },
    /// The consortium changed: fields go to the readers it names, with the keys it names,
    /// from the next round on; a removed member's node gets nothing more.
    Follow(Arc<Consortium>),
    /// A peer's node sent deliveries (`sender: None`: not a member; `deliveries: None`: the
    /// request was malformed).
    Deliveries {
        /// For the answer.
        token: DeliveryToken,
        /// The member whose node sent them.
        sender: Option<MemberId>,
        /// The deliveries.
        deliveries: Option<Vec<Delivery>>,
    },
    /// A reader's node answered this node's round (`None`: the request failed).
    Answers {
        /// The reader.
        reader: MemberId,
        /// One answer per delivery sent.
        answers: Option<Vec<DeliveryAnswer>>,
    },
    /// Work asked for is done.
    Done(CourierDone),
}

/// What the courier asks of its caller.
#[derive(Debug, Clone)]
pub enum CourierOutput {
    /// Work on the store, to run with a [`CourierWorker`] and answer with
    /// [`CourierInput::Done`].
    Work(CourierWork),
    /// Send a round to `reader`'s node; answer with [`CourierInput::Answers`].
    Send {
        /// The reader.
        reader: MemberId,
        /// The deliveries.
        deliveries: Vec<Delivery>,
    },
    /// Answer a delivery request.
    Reply {
        /// The request.
        token: DeliveryToken,
        /// One answer per delivery.
        answers: Vec<DeliveryAnswer>,
    },
    /// `peer`'s node sent what its member could not honestly have sent.
    Misbehaved {
        /// The member.
        peer: MemberId,
    },
    /// For the node's metrics.
    Count(CourierCount),
}

/// What the node's metrics count of the courier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CourierCount {
    /// Entries whose fields a reader stored.
    Sent(u64),
    /// Fields received and stored.
    Received(u64),
    /// Deliveries refused, by a reader or by this node.
    Refused(u64),
    /// Deliveries a reader's node could not take yet: it did not hold the entry (sent again
    /// in a moment).
    NotHeld(u64),
    /// Deliveries a reader's node was too busy to check (sent again after a backoff).
    Later(u64),
    /// A round that could not be sent.
    Failed,
}

/// Work on the store.
#[derive(Debug, Clone)]
pub enum CourierWork {
    /// Read and seal a round for `reader`, but for the `parked` entries.
    Seal {
        /// The consortium in force.
        genesis: Arc<Consortium>,
        /// The reader.
        reader: MemberId,
        /// Entries not to offer now.
        parked: BTreeSet<EntryHash>,
    },
    /// Forget the entries `reader` stored; `ok`: the round had no failure.
    Forget {
        /// The reader.
        reader: MemberId,
        /// The entries it stored.
        stored: Vec<EntryHash>,
        /// The round had no failure.
        ok: bool,
    },
    /// Check and store deliveries from `sender`'s node.
    Receive {
        /// The consortium in force.
        genesis: Arc<Consortium>,
        /// For the answer.
        token: DeliveryToken,
        /// The member whose node sent them.
        sender: MemberId,
        /// The deliveries.
        deliveries: Vec<Delivery>,
    },
}

/// What work on the store found.
#[derive(Debug, Clone)]
pub enum CourierDone {
    /// A round for `reader`, sealed (empty: nothing to send).
    Sealed {
        /// The reader.
        reader: MemberId,
        /// Each entry's delivery.
        deliveries: Vec<(EntryHash, Delivery)>,
    },
    /// Acknowledged entries are forgotten; `ok`: the round had no failure.
    Forgotten {
        /// The reader.
        reader: MemberId,
        /// No failure.
        ok: bool,
    },
    /// Deliveries were checked.
    Received {
        /// For the answer.
        token: DeliveryToken,
        /// One answer per delivery.
        answers: Vec<DeliveryAnswer>,
        /// The sender's node sent what its member could not honestly have sent.
        offence: Option<MemberId>,
        /// Fields stored.
        stored: u64,
    },
}

/// One reader's round state.
#[derive(Debug, Default)]
struct Reader {
    /// A round is being read, sent or acknowledged.
    busy: bool,
    /// When the next round may start.
    next: Option<u64>,
    /// Failed rounds in a row.
    failures: u32,
    /// Entries refused by the reader's node, and when to offer each again.
    parked: BTreeMap<EntryHash, u64>,
    /// The reader's node did not hold an entry of the round yet: the next round comes soon.
    soon: bool,
    /// The entries of the round sent and not answered yet.
    sent: Vec<EntryHash>,
}

/// The courier's state.
#[derive(Debug)]
pub struct Courier {
    genesis: Arc<Consortium>,
    me: MemberId,
    now: u64,
    readers: BTreeMap<MemberId, Reader>,
    connected: BTreeSet<MemberId>,
    receiving: usize,
}

impl Courier {
    /// The courier of `me`'s node in the consortium `genesis`.
    pub fn new(genesis: Arc<Consortium>, me: MemberId) -> Self {
        let mut courier = Self {
            genesis: genesis.clone(),
            me,
            now: 0,
            readers: BTreeMap::new(),
            connected: BTreeSet::new(),
            receiving: 0,
        };
        courier.follow(genesis);
        courier
    }

    /// Takes one input; what to do is appended to `out`.
    pub fn handle(&mut self, input: CourierInput, out: &mut Vec<CourierOutput>) {
        match input {
            CourierInput::Tick { now } => self.tick(now, out),
            CourierInput::OwnCommitted => {
                for reader in self.readers.values_mut() {
                    if reader.failures == 0 {
                        reader.next = None;
                    }
                }
            }
            CourierInput::PeerUp { peer } => {
                if let Some(reader) = self.readers.get_mut(&peer) {
                    reader.next = None;
                    reader.failures = 0;
                }
                self.connected.insert(peer);
            }
            CourierInput::PeerDown { peer } => {
                self.connected.remove(&peer);
            }
            CourierInput::Follow(genesis) => self.follow(genesis),
            CourierInput::Deliveries {
                token,
                sender,
                deliveries,
            } => self.take(token, sender, deliveries, out),
            CourierInput::Answers { reader, answers } => self.answered(reader, answers, out),
            CourierInput::Done(done) => self.done(done, out),
        }
    }

    fn follow(&mut self, genesis: Arc<Consortium>) {
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

    /// Starts the rounds that are due, for connected readers.
    fn tick(&mut self, now: u64, out: &mut Vec<CourierOutput>) {
        self.now = now;
        for (member, reader) in &mut self.readers {
            let due = !reader.busy && reader.next.is_none_or(|next| next <= now);
            if !due || !self.connected.contains(member) {
                continue;
            }
            reader.busy = true;
            reader.next = Some(now.saturating_add(IDLE_ROUND_MS));
            reader.parked.retain(|_, until| *until > now);
            out.push(CourierOutput::Work(CourierWork::Seal {
                genesis: self.genesis.clone(),
                reader: member.clone(),
                parked: reader.parked.keys().copied().collect(),
            }));
        }
    }

    fn take(
        &mut self,
        token: DeliveryToken,
        sender: Option<MemberId>,
        deliveries: Option<Vec<Delivery>>,
        out: &mut Vec<CourierOutput>,
    ) {
        let (Some(sender), Some(deliveries)) = (sender, deliveries) else {
            // Not a member (cannot happen past the allow list) or a malformed request.
            out.push(CourierOutput::Reply {
                token,
                answers: Vec::new(),
            });
            return;
        };
        if self.receiving >= MAX_RECEIVING {
            out.push(CourierOutput::Reply {
                token,
                answers: vec![DeliveryAnswer::Later; deliveries.len()],
            });
            return;
        }
        self.receiving += 1;
        out.push(CourierOutput::Work(CourierWork::Receive {
            genesis: self.genesis.clone(),
            token,
            sender,
            deliveries,
        }));
    }

    /// Forgets what the reader stored, parks what it refused, and ends the round.
    fn answered(
        &mut self,
        reader: MemberId,
        answers: Option<Vec<DeliveryAnswer>>,
        out: &mut Vec<CourierOutput>,
    ) {
        let now = self.now;
        let Some(state) = self.readers.get_mut(&reader) else {
            return;
        };
        let hashes = std::mem::take(&mut state.sent);
        let Some(answers) = answers else {
            tracing::debug!(%reader, "a delivery of private fields to {reader}'s node failed");
            out.push(CourierOutput::Count(CourierCount::Failed));
            self.round_ended(&reader, false);
            return;
        };
        let mut stored = Vec::new();
        let mut refused = 0;
        let mut not_held = 0;
        let mut later = 0;
        let mut ok = answers.len() == hashes.len();
        for (hash, answer) in hashes.iter().zip(&answers) {
            match answer {
                DeliveryAnswer::Stored => stored.push(*hash),
                DeliveryAnswer::Later => {
                    later += 1;
                    ok = false;
                }
                // Sent again soon, without backing off: the reader's node gets the entry by
                // replication within moments.
                DeliveryAnswer::NotHeld => {
                    not_held += 1;
                    state.soon = true;
                }
                DeliveryAnswer::Refused(why) => {
                    tracing::warn!(
                        %reader, entry = %hash, why,
                        "{reader}'s node refused the private fields of entry {hash}"
                    );
                    refused += 1;
                    state.parked.insert(*hash, now.saturating_add(PARK_MS));
                }
            }
        }
        if refused > 0 {
            out.push(CourierOutput::Count(CourierCount::Refused(refused)));
        }
        if not_held > 0 {
            out.push(CourierOutput::Count(CourierCount::NotHeld(not_held)));
        }
        if later > 0 {
            out.push(CourierOutput::Count(CourierCount::Later(later)));
        }
        if stored.is_empty() {
            self.round_ended(&reader, ok);
            return;
        }
        out.push(CourierOutput::Count(
            CourierCount::Sent(stored.len() as u64),
        ));
        out.push(CourierOutput::Work(CourierWork::Forget {
            reader,
            stored,
            ok,
        }));
    }

    fn done(&mut self, done: CourierDone, out: &mut Vec<CourierOutput>) {
        match done {
            CourierDone::Sealed { reader, deliveries } => {
                if deliveries.is_empty() {
                    self.round_ended(&reader, true);
                    return;
                }
                let Some(state) = self
                    .readers
                    .get_mut(&reader)
                    .filter(|_| self.connected.contains(&reader))
                else {
                    self.round_ended(&reader, false);
                    return;
                };
                let (hashes, deliveries): (Vec<_>, Vec<_>) = deliveries.into_iter().unzip();
                state.sent = hashes;
                out.push(CourierOutput::Send { reader, deliveries });
            }
            CourierDone::Forgotten { reader, ok } => {
                self.round_ended(&reader, ok);
                if ok {
                    // More may wait beyond the round's limit.
                    if let Some(state) = self.readers.get_mut(&reader) {
                        state.next = None;
                    }
                }
            }
            CourierDone::Received {
                token,
                answers,
                offence,
                stored,
            } => {
                self.receiving = self.receiving.saturating_sub(1);
                if stored > 0 {
                    out.push(CourierOutput::Count(CourierCount::Received(stored)));
                }
                let refused = answers
                    .iter()
                    .filter(|a| matches!(a, DeliveryAnswer::Refused(_)))
                    .count() as u64;
                if refused > 0 {
                    out.push(CourierOutput::Count(CourierCount::Refused(refused)));
                }
                if let Some(peer) = offence {
                    out.push(CourierOutput::Misbehaved { peer });
                }
                out.push(CourierOutput::Reply { token, answers });
            }
        }
    }

    /// A round of `reader` ended; `ok`: without failure.
    fn round_ended(&mut self, reader: &MemberId, ok: bool) {
        let now = self.now;
        let Some(state) = self.readers.get_mut(reader) else {
            return;
        };
        state.busy = false;
        if ok {
            state.failures = 0;
            if std::mem::take(&mut state.soon) {
                state.next = Some(now.saturating_add(NOT_HELD_RETRY_MS));
            }
        } else {
            state.failures = state.failures.saturating_add(1);
            let wait = 1_000u64
                .saturating_mul(1 << state.failures.min(6))
                .min(BACKOFF_MAX_MS);
            state.next = Some(now.saturating_add(wait));
        }
    }
}

/// Does the courier's work on a node's store.
#[derive(Clone)]
pub struct CourierWorker {
    store: Arc<dyn Store>,
    me: MemberId,
    secret: X25519SecretKey,
}

// Not derived: the worker holds the node's keys.
impl std::fmt::Debug for CourierWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourierWorker")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl CourierWorker {
    /// The worker of `me`'s node, opening fields sealed to `secret`.
    pub fn new(store: Arc<dyn Store>, me: MemberId, secret: X25519SecretKey) -> Self {
        Self { store, me, secret }
    }

    /// Does `work`. Blocks on the store.
    pub fn run(&self, work: CourierWork) -> CourierDone {
        match work {
            CourierWork::Seal {
                genesis,
                reader,
                parked,
            } => {
                let deliveries = match seal_round(&genesis, self.store.as_ref(), &reader, &parked) {
                    Ok(deliveries) => deliveries,
                    Err(error) => {
                        tracing::error!(%error, %reader, "cannot prepare private fields for {reader}'s node");
                        Vec::new()
                    }
                };
                CourierDone::Sealed { reader, deliveries }
            }
            CourierWork::Forget { reader, stored, ok } => {
                let mut batch = Batch::default();
                for hash in &stored {
                    batch.append(delivered(&reader, hash));
                }
                let written = match self.store.write(batch) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::error!(%error, "cannot forget delivered private fields (they will be sent again)");
                        false
                    }
                };
                CourierDone::Forgotten {
                    reader,
                    ok: ok && written,
                }
            }
            CourierWork::Receive {
                genesis,
                token,
                sender,
                deliveries,
            } => self.receive(&genesis, token, sender, deliveries),
        }
    }

    /// Checks a round of deliveries one by one and stores those that pass in one write, so
    /// a round costs the reader one synced write, not one per entry.
    fn receive(
        &self,
        genesis: &Consortium,
        token: DeliveryToken,
        sender: MemberId,
        deliveries: Vec<Delivery>,
    ) -> CourierDone {
        let mut answers = Vec::with_capacity(deliveries.len());
        let mut offence = None;
        let mut passed = Vec::new();
        let store = self.store.as_ref();
        // A round is sealed in one HPKE context: its deliveries open in the order sent.
        let mut opener = RoundOpener::new(&self.secret);
        for delivery in deliveries {
            let entry = delivery.entry.hash().ok();
            match check(genesis, &self.me, &mut opener, store, &sender, delivery) {
                Ok(checked) => {
                    passed.push(checked);
                    // Until the write below says otherwise.
                    answers.push(DeliveryAnswer::Stored);
                }
                Err(error) => {
                    let answer = error.answer();
                    if error.blames_sender() {
                        offence = Some(sender.clone());
                    }
                    match answer {
                        DeliveryAnswer::Refused(_) => {
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
                            tracing::error!(%error, "cannot check private fields from {sender}'s node");
                        }
                    }
                    answers.push(answer);
                }
            }
        }
        let stored = match store_checked(store, passed) {
            Ok(added) => added.iter().map(|(_, n)| *n as u64).sum(),
            Err(error) => {
                tracing::error!(%error, "cannot store private fields from {sender}'s node (asked to send them again)");
                for answer in &mut answers {
                    if *answer == DeliveryAnswer::Stored {
                        *answer = DeliveryAnswer::Later;
                    }
                }
                0
            }
        };
        CourierDone::Received {
            token,
            answers,
            offence,
            stored,
        }
    }
}

/// Reads and seals one round of `reader`'s outbox, under the request's byte budget. Entries
/// with nothing left to send are forgotten here.
fn seal_round(
    genesis: &Consortium,
    store: &dyn Store,
    reader: &MemberId,
    parked: &BTreeSet<EntryHash>,
) -> Result<Vec<(EntryHash, Delivery)>, SealForError> {
    let Some(member) = genesis.active_member(reader) else {
        return Ok(Vec::new());
    };
    let mut deliveries = Vec::new();
    let mut bytes = 0;
    let mut moot = Batch::default();
    let mut round = RoundSealer::new(&member.x25519_key)?;
    for hash in outbox(store, reader, ROUND_LIMIT)? {
        if parked.contains(&hash) {
            continue;
        }
        match seal_in_round(genesis, store, member, &hash, &mut round)? {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn demo() -> (Arc<Consortium>, MemberId, MemberId) {
        let (signed, _) = tally_sdk::membership::template::demo_consortium().unwrap();
        let genesis = Arc::new(signed.verify().unwrap());
        let members: Vec<MemberId> = genesis.members().iter().map(|m| m.id.clone()).collect();
        (genesis, members[0].clone(), members[1].clone())
    }

    fn seals(out: &[CourierOutput]) -> Vec<MemberId> {
        out.iter()
            .filter_map(|o| match o {
                CourierOutput::Work(CourierWork::Seal { reader, .. }) => Some(reader.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rounds_go_only_to_connected_readers_one_at_a_time() {
        let (genesis, me, reader) = demo();
        let mut courier = Courier::new(genesis, me);
        let mut out = Vec::new();
        courier.handle(CourierInput::Tick { now: 0 }, &mut out);
        assert!(seals(&out).is_empty(), "a round for a reader not connected");
        courier.handle(
            CourierInput::PeerUp {
                peer: reader.clone(),
            },
            &mut out,
        );
        courier.handle(CourierInput::Tick { now: 10 }, &mut out);
        courier.handle(CourierInput::Tick { now: 20 }, &mut out);
        assert_eq!(seals(&out), vec![reader.clone()], "one round at a time");
    }

    #[test]
    fn a_failed_round_backs_off_and_a_reconnection_ends_the_wait() {
        let (genesis, me, reader) = demo();
        let mut courier = Courier::new(genesis, me);
        let mut out = Vec::new();
        courier.handle(
            CourierInput::PeerUp {
                peer: reader.clone(),
            },
            &mut out,
        );
        courier.handle(CourierInput::Tick { now: 0 }, &mut out);
        courier.handle(
            CourierInput::Answers {
                reader: reader.clone(),
                answers: None,
            },
            &mut out,
        );
        assert!(
            out.iter()
                .any(|o| matches!(o, CourierOutput::Count(CourierCount::Failed)))
        );
        out.clear();
        courier.handle(CourierInput::OwnCommitted, &mut out);
        courier.handle(CourierInput::Tick { now: 1_000 }, &mut out);
        assert!(
            seals(&out).is_empty(),
            "own entries do not cut a backoff short"
        );
        courier.handle(
            CourierInput::PeerUp {
                peer: reader.clone(),
            },
            &mut out,
        );
        courier.handle(CourierInput::Tick { now: 1_010 }, &mut out);
        assert_eq!(seals(&out), vec![reader]);
    }

    #[test]
    fn requests_beyond_the_limit_are_told_to_come_later() {
        let (genesis, me, sender) = demo();
        let mut courier = Courier::new(genesis, me);
        let mut out = Vec::new();
        for token in 0..MAX_RECEIVING as u64 + 1 {
            courier.handle(
                CourierInput::Deliveries {
                    token,
                    sender: Some(sender.clone()),
                    deliveries: Some(Vec::new()),
                },
                &mut out,
            );
        }
        let receiving = out
            .iter()
            .filter(|o| matches!(o, CourierOutput::Work(CourierWork::Receive { .. })))
            .count();
        assert_eq!(receiving, MAX_RECEIVING);
        assert!(matches!(
            out.last(),
            Some(CourierOutput::Reply { token, .. }) if *token == MAX_RECEIVING as u64
        ));
    }
}
