//! Checkpoint exchange without IO: when the node makes its own checkpoint, what it asks each
//! peer for, which gossiped or pulled checkpoints it checks, keeps for later or holds against
//! whom. Like the [`engine`](super::engine) it takes inputs (the time, peers coming and going,
//! messages, the answers of work it asked for) and returns outputs; the work itself, reading
//! and writing the checkpoint book, is done by a [`CheckpointWorker`] wherever the caller
//! likes (the network shell on its blocking pool, the simulation in
//! `node/tests/replication.rs` at once), so the same logic runs in both.
//!
//! - **Own checkpoints** are made at most every `interval`, and only when chains grew. They
//!   wait until one pull has been answered since the node started (unless the consortium has
//!   no other member): a node restored from an old backup first learns the numbers it already
//!   used, so it does not sign a second checkpoint with one of them.
//! - **Pulls**: every [`PULL_EVERY_MS`] and whenever a peer connects, the node asks each
//!   connected peer, one pull at a time, for the checkpoints it holds past the node's own
//!   gap-free progress of every witness, and for conflict proofs of witnesses the node holds
//!   none of; a full answer is followed by the next pull at once. A node that was down or
//!   partitioned so fills its gaps, and a proof that a witness signed two checkpoints with one
//!   number reaches every node.
//! - **Checking**: a checkpoint is admitted only once it checks against the chains held here
//!   ([`Book::admit`](crate::witness::book::Book::admit)). One that states entries the node does not hold yet is kept aside,
//!   bounded in count and bytes, and checked again when the chains grow. Checkpoints that do
//!   not verify count against the peer that sent them; validly signed ones that conflict with
//!   a held one or state false spans count against their witness, whose signature proves it
//!   signed them (they are kept as evidence). One that states a chain head other than the
//!   entry held there blames nobody: the author may have signed two entries at one place, and
//!   an honest witness may hold the other one. The node asks the peer that sent it for that
//!   entry ([`CheckpointOutput::HeadDiffers`], the engine's fork check) and keeps the
//!   checkpoint aside until a fork proof settles it.

use std::collections::BTreeSet;

use tally_sdk::ids::MemberId;
use tally_sdk::witnessing::checkpoint::Checkpoint;

use super::engine::{Acceptance, GossipToken, ReplyToken};
use super::wire::{CheckpointConflict, SyncRequest, SyncResponse};

mod worker;

pub use worker::CheckpointWorker;

/// How often connected peers are asked for checkpoints the node lacks, in milliseconds.
pub const PULL_EVERY_MS: u64 = 5_000;
/// Most checkpoints asked for, or served, in one pull.
pub const PULL_LIMIT: u32 = 256;
/// Gossiped checkpoints being checked at once; beyond, new ones are ignored (pulls repair).
const MAX_CHECKING: usize = 64;
/// Checkpoints kept to check again when the chains grow (they stated entries the node did
/// not hold yet), and most bytes of them; beyond, pulls bring them.
const MAX_DEFERRED: usize = 64;
const MAX_DEFERRED_BYTES: usize = 8 << 20;

/// What happens to the checkpoint exchange.
#[derive(Debug, Clone)]
pub enum CheckpointInput {
    /// The time, in milliseconds on the caller's clock.
    Tick {
        /// Now.
        now: u64,
    },
    /// The node's chains grew.
    ChainsGrew,
    /// A member's node connected.
    PeerUp {
        /// The member.
        peer: MemberId,
    },
    /// A member's node disconnected.
    PeerDown {
        /// The member.
        peer: MemberId,
    },
    /// A checkpoint came by gossip from `from`'s node (`None`: it did not decode).
    Gossip {
        /// The member whose node passed it on.
        from: MemberId,
        /// For the verdict.
        token: GossipToken,
        /// The checkpoint.
        checkpoint: Option<Box<Checkpoint>>,
    },
    /// A peer asks for checkpoints ([`SyncRequest::Checkpoints`]).
    Request {
        /// For the answer.
        token: ReplyToken,
        /// Witness and first number wanted.
        from: Vec<(MemberId, u64)>,
        /// Most checkpoints wanted.
        limit: u32,
        /// Witnesses the asker holds a conflict proof of.
        conflicts_held: Vec<MemberId>,
    },
    /// A peer answered this node's pull (`None`: the request failed).
    Answer {
        /// The peer.
        peer: MemberId,
        /// Its answer.
        response: Option<SyncResponse>,
    },
    /// Work asked for is done.
    Done(CheckpointDone),
}

/// What the checkpoint exchange asks of its caller.
#[derive(Debug, Clone)]
pub enum CheckpointOutput {
    /// Work on the book, to run with a [`CheckpointWorker`] and answer with
    /// [`CheckpointInput::Done`].
    Work(CheckpointWork),
    /// Gossip the node's new checkpoint.
    Publish(Box<Checkpoint>),
    /// Send a pull to `peer`; answer with [`CheckpointInput::Answer`].
    Pull {
        /// The peer.
        peer: MemberId,
        /// The request.
        request: SyncRequest,
    },
    /// Answer a peer's request.
    Reply {
        /// The request.
        token: ReplyToken,
        /// The answer.
        response: SyncResponse,
    },
    /// The gossip verdict on a checkpoint.
    Verdict {
        /// The message.
        token: GossipToken,
        /// The verdict.
        acceptance: Acceptance,
    },
    /// A checkpoint `peer` sent states a head of `author`'s chain at `seq` other than the
    /// entry held there: ask `peer` for that entry, to check for a fork
    /// ([`Input::HeadDiffers`](super::engine::Input::HeadDiffers)).
    HeadDiffers {
        /// The peer.
        peer: MemberId,
        /// The chain.
        author: MemberId,
        /// The place.
        seq: u64,
    },
    /// `peer` sent, or as witness signed, what it should not have.
    Misbehaved {
        /// The member.
        peer: MemberId,
    },
    /// For the node's metrics.
    Count(CheckpointCount),
}

/// What the node's metrics count of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointCount {
    /// The node made one of its own.
    Made,
    /// New checkpoints of other witnesses were recorded.
    Received(u64),
    /// A checkpoint was refused.
    Refused,
}

/// Work on the checkpoint book.
#[derive(Debug, Clone)]
pub enum CheckpointWork {
    /// Make and record the node's own next checkpoint.
    Make,
    /// Check and record a gossiped checkpoint.
    Check {
        /// For the verdict.
        token: GossipToken,
        /// Who passed it on.
        from: MemberId,
        /// The checkpoint.
        checkpoint: Box<Checkpoint>,
    },
    /// Check again checkpoints that were not checkable, with who sent each.
    Recheck(Vec<(Checkpoint, MemberId)>),
    /// Read what to ask `peer` for.
    Progress {
        /// The peer.
        peer: MemberId,
    },
    /// Record what `peer` answered to a pull.
    Record {
        /// The peer.
        peer: MemberId,
        /// Its checkpoints.
        checkpoints: Vec<Checkpoint>,
        /// Its conflict proofs.
        conflicts: Vec<CheckpointConflict>,
    },
    /// Read the answer to a peer's pull.
    Serve {
        /// The request.
        token: ReplyToken,
        /// Witness and first number wanted.
        from: Vec<(MemberId, u64)>,
        /// Most checkpoints to send.
        limit: u32,
        /// Witnesses the asker holds a conflict proof of.
        conflicts_held: Vec<MemberId>,
    },
}

/// A checkpoint from `peer` states a head of `author`'s chain at `seq` other than the one
/// held ([`Admitted::HeadDiffers`](crate::witness::book::Admitted::HeadDiffers)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// The peer that sent the checkpoint.
    pub peer: MemberId,
    /// The chain.
    pub author: MemberId,
    /// The place.
    pub seq: u64,
}

/// What work on the book found.
#[derive(Debug, Clone)]
pub enum CheckpointDone {
    /// The node's own checkpoint (none: nothing new, or it failed and was logged).
    Made(Option<Box<Checkpoint>>),
    /// A gossiped checkpoint was checked: the verdict, who answers for a bad one, and the
    /// checkpoint if it is not checkable yet.
    Checked {
        /// For the verdict.
        token: GossipToken,
        /// The verdict.
        acceptance: Acceptance,
        /// Who answers for it: its witness or the peer that sent it.
        blame: MemberId,
        /// Not checkable yet: to check again when the chains grow.
        deferred: Option<Box<Checkpoint>>,
        /// It states a head other than the one held.
        suspect: Option<Suspect>,
    },
    /// Kept checkpoints checked again.
    Rechecked {
        /// Still not checkable.
        deferred: Vec<(Checkpoint, MemberId)>,
        /// How many were new.
        new: u64,
        /// Who answers for bad ones.
        blame: Vec<MemberId>,
        /// Heads stated other than the ones held.
        suspects: Vec<Suspect>,
    },
    /// What to ask `peer` for (`None`: the book could not be read, logged).
    Progress {
        /// The peer.
        peer: MemberId,
        /// The request.
        request: Option<SyncRequest>,
    },
    /// A pull's answer is recorded.
    Recorded {
        /// The peer.
        peer: MemberId,
        /// The peer may hold more.
        full: bool,
        /// How many were new.
        new: u64,
        /// Who sent or signed bad checkpoints in it.
        blame: BTreeSet<MemberId>,
        /// Not checkable yet.
        deferred: Vec<Checkpoint>,
        /// Heads stated other than the ones held.
        suspects: Vec<Suspect>,
    },
    /// The answer to a peer's pull.
    Served {
        /// The request.
        token: ReplyToken,
        /// The answer.
        response: SyncResponse,
    },
}

/// The checkpoint exchange's state.
#[derive(Debug)]
pub struct CheckpointSync {
    interval_ms: u64,
    now: u64,
    next_own: u64,
    making: bool,
    /// Chains grew since the last own checkpoint was tried.
    dirty: bool,
    /// A pull was answered since start (or there is no one to pull from).
    ready: bool,
    next_pull: u64,
    connected: BTreeSet<MemberId>,
    pulling: BTreeSet<MemberId>,
    checking: usize,
    /// Checkpoints not checkable yet, with the peer that sent each and its size.
    deferred: Vec<(Checkpoint, MemberId, usize)>,
    /// The chains grew since the deferred checkpoints were last checked.
    recheck: bool,
    rechecking: bool,
}

impl CheckpointSync {
    /// A node's exchange, making its own checkpoints at most every `interval_ms`; `alone`: the
    /// consortium has no other member, so there is no one to learn used numbers from.
    pub fn new(interval_ms: u64, alone: bool) -> Self {
        Self {
            interval_ms,
            now: 0,
            next_own: 0,
            making: false,
            dirty: true,
            ready: alone,
            next_pull: PULL_EVERY_MS,
            connected: BTreeSet::new(),
            pulling: BTreeSet::new(),
            checking: 0,
            deferred: Vec::new(),
            recheck: false,
            rechecking: false,
        }
    }

    /// Checkpoints waiting to be checked again.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }

    /// Takes one input; what to do is appended to `out`.
    pub fn handle(&mut self, input: CheckpointInput, out: &mut Vec<CheckpointOutput>) {
        match input {
            CheckpointInput::Tick { now } => self.tick(now, out),
            CheckpointInput::ChainsGrew => {
                self.dirty = true;
                self.recheck = !self.deferred.is_empty();
            }
            CheckpointInput::PeerUp { peer } => {
                self.connected.insert(peer.clone());
                self.pull(peer, out);
            }
            CheckpointInput::PeerDown { peer } => {
                self.connected.remove(&peer);
                self.pulling.remove(&peer);
            }
            CheckpointInput::Gossip {
                from,
                token,
                checkpoint,
            } => {
                if self.checking >= MAX_CHECKING {
                    out.push(CheckpointOutput::Verdict {
                        token,
                        acceptance: Acceptance::Ignore,
                    });
                    return;
                }
                let Some(checkpoint) = checkpoint else {
                    tracing::info!(%from, "an undecodable checkpoint from {from}");
                    out.push(CheckpointOutput::Verdict {
                        token,
                        acceptance: Acceptance::Reject,
                    });
                    out.push(CheckpointOutput::Misbehaved { peer: from });
                    return;
                };
                self.checking += 1;
                out.push(CheckpointOutput::Work(CheckpointWork::Check {
                    token,
                    from,
                    checkpoint,
                }));
            }
            CheckpointInput::Request {
                token,
                from,
                limit,
                conflicts_held,
            } => out.push(CheckpointOutput::Work(CheckpointWork::Serve {
                token,
                from,
                limit: limit.min(PULL_LIMIT),
                conflicts_held,
            })),
            CheckpointInput::Answer { peer, response } => match response {
                // The pull lasts until the answer is recorded: a full answer is followed by
                // the next pull, not by a second one beside it.
                Some(SyncResponse::Checkpoints {
                    checkpoints,
                    conflicts,
                }) => out.push(CheckpointOutput::Work(CheckpointWork::Record {
                    peer,
                    checkpoints,
                    conflicts,
                })),
                // Failed, or a node that does not serve checkpoints: nothing new.
                None | Some(SyncResponse::Refused) => {
                    self.pulling.remove(&peer);
                }
                Some(_) => {
                    self.pulling.remove(&peer);
                    out.push(CheckpointOutput::Misbehaved { peer });
                }
            },
            CheckpointInput::Done(done) => self.done(done, out),
        }
    }

    fn tick(&mut self, now: u64, out: &mut Vec<CheckpointOutput>) {
        self.now = now;
        if self.recheck && !self.rechecking {
            self.recheck = false;
            self.rechecking = true;
            let waiting = std::mem::take(&mut self.deferred)
                .into_iter()
                .map(|(checkpoint, from, _)| (checkpoint, from))
                .collect();
            out.push(CheckpointOutput::Work(CheckpointWork::Recheck(waiting)));
        }
        if self.ready && self.dirty && !self.making && now >= self.next_own {
            self.making = true;
            self.dirty = false;
            out.push(CheckpointOutput::Work(CheckpointWork::Make));
        }
        if now >= self.next_pull {
            self.next_pull = now.saturating_add(PULL_EVERY_MS);
            let peers: Vec<MemberId> = self.connected.iter().cloned().collect();
            for peer in peers {
                self.pull(peer, out);
            }
        }
    }

    /// Asks `peer` for the checkpoints this node lacks (one pull per peer at a time).
    fn pull(&mut self, peer: MemberId, out: &mut Vec<CheckpointOutput>) {
        if self.pulling.insert(peer.clone()) {
            out.push(CheckpointOutput::Work(CheckpointWork::Progress { peer }));
        }
    }

    fn suspect(suspects: impl IntoIterator<Item = Suspect>, out: &mut Vec<CheckpointOutput>) {
        for Suspect { peer, author, seq } in suspects {
            out.push(CheckpointOutput::HeadDiffers { peer, author, seq });
        }
    }

    fn blame(peers: impl IntoIterator<Item = MemberId>, out: &mut Vec<CheckpointOutput>) {
        for peer in peers {
            out.push(CheckpointOutput::Count(CheckpointCount::Refused));
            out.push(CheckpointOutput::Misbehaved { peer });
        }
    }

    fn done(&mut self, done: CheckpointDone, out: &mut Vec<CheckpointOutput>) {
        match done {
            CheckpointDone::Made(made) => {
                self.making = false;
                self.next_own = self.now.saturating_add(self.interval_ms);
                if let Some(checkpoint) = made {
                    tracing::debug!(
                        number = checkpoint.body().number,
                        spans = checkpoint.spans.len(),
                        "made checkpoint {}",
                        checkpoint.body().number
                    );
                    out.push(CheckpointOutput::Count(CheckpointCount::Made));
                    out.push(CheckpointOutput::Publish(checkpoint));
                    // More may be due at once (spans are capped); the interval paces it.
                    self.dirty = true;
                }
            }
            CheckpointDone::Checked {
                token,
                acceptance,
                blame,
                deferred,
                suspect,
            } => {
                self.checking = self.checking.saturating_sub(1);
                Self::suspect(suspect, out);
                match acceptance {
                    Acceptance::Accept => {
                        out.push(CheckpointOutput::Count(CheckpointCount::Received(1)))
                    }
                    Acceptance::Reject => Self::blame([blame.clone()], out),
                    Acceptance::Ignore => {}
                }
                if let Some(checkpoint) = deferred {
                    self.defer(*checkpoint, blame);
                }
                out.push(CheckpointOutput::Verdict { token, acceptance });
            }
            CheckpointDone::Rechecked {
                deferred,
                new,
                blame,
                suspects,
            } => {
                self.rechecking = false;
                Self::suspect(suspects, out);
                if new > 0 {
                    out.push(CheckpointOutput::Count(CheckpointCount::Received(new)));
                }
                Self::blame(blame, out);
                for (checkpoint, from) in deferred {
                    self.defer(checkpoint, from);
                }
            }
            CheckpointDone::Progress { peer, request } => match request {
                Some(request) if self.connected.contains(&peer) => {
                    out.push(CheckpointOutput::Pull { peer, request });
                }
                _ => {
                    self.pulling.remove(&peer);
                }
            },
            CheckpointDone::Recorded {
                peer,
                full,
                new,
                blame,
                deferred,
                suspects,
            } => {
                self.ready = true;
                Self::suspect(suspects, out);
                self.pulling.remove(&peer);
                if new > 0 {
                    out.push(CheckpointOutput::Count(CheckpointCount::Received(new)));
                }
                Self::blame(blame, out);
                for checkpoint in deferred {
                    self.defer(checkpoint, peer.clone());
                }
                if full && self.connected.contains(&peer) {
                    self.pull(peer, out);
                }
            }
            CheckpointDone::Served { token, response } => {
                out.push(CheckpointOutput::Reply { token, response });
            }
        }
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn member(name: &str) -> MemberId {
        MemberId::new(name).unwrap()
    }

    fn works(out: &[CheckpointOutput]) -> Vec<&CheckpointWork> {
        out.iter()
            .filter_map(|o| match o {
                CheckpointOutput::Work(work) => Some(work),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn own_checkpoints_wait_for_a_first_answered_pull() {
        let mut sync = CheckpointSync::new(1_000, false);
        let mut out = Vec::new();
        sync.handle(CheckpointInput::Tick { now: 10 }, &mut out);
        assert!(
            works(&out).is_empty(),
            "no checkpoint before a pull answered"
        );
        sync.handle(
            CheckpointInput::PeerUp {
                peer: member("platform"),
            },
            &mut out,
        );
        assert!(matches!(works(&out)[..], [CheckpointWork::Progress { .. }]));
        out.clear();
        let recorded = CheckpointDone::Recorded {
            peer: member("platform"),
            full: false,
            new: 0,
            blame: BTreeSet::new(),
            deferred: Vec::new(),
            suspects: Vec::new(),
        };
        sync.handle(CheckpointInput::Done(recorded), &mut out);
        sync.handle(CheckpointInput::Tick { now: 20 }, &mut out);
        assert!(matches!(works(&out)[..], [CheckpointWork::Make]));
    }

    #[test]
    fn one_pull_per_peer_at_a_time_and_a_full_answer_is_followed_at_once() {
        let mut sync = CheckpointSync::new(1_000, true);
        let peer = member("platform");
        let mut out = Vec::new();
        sync.handle(CheckpointInput::PeerUp { peer: peer.clone() }, &mut out);
        sync.handle(CheckpointInput::Tick { now: PULL_EVERY_MS }, &mut out);
        let pulls = works(&out)
            .into_iter()
            .filter(|w| matches!(w, CheckpointWork::Progress { .. }))
            .count();
        assert_eq!(pulls, 1, "a second pull while one is in flight");
        out.clear();
        let answer = SyncResponse::Checkpoints {
            checkpoints: Vec::new(),
            conflicts: Vec::new(),
        };
        sync.handle(
            CheckpointInput::Answer {
                peer: peer.clone(),
                response: Some(answer),
            },
            &mut out,
        );
        let recorded = CheckpointDone::Recorded {
            peer: peer.clone(),
            full: true,
            new: 3,
            blame: BTreeSet::new(),
            deferred: Vec::new(),
            suspects: Vec::new(),
        };
        sync.handle(CheckpointInput::Done(recorded), &mut out);
        assert!(out.contains_count(CheckpointCount::Received(3)));
        assert!(matches!(
            works(&out)[..],
            [
                CheckpointWork::Record { .. },
                CheckpointWork::Progress { .. }
            ]
        ));
    }

    #[test]
    fn an_undecodable_checkpoint_is_rejected_and_its_sender_blamed() {
        let mut sync = CheckpointSync::new(1_000, true);
        let mut out = Vec::new();
        sync.handle(
            CheckpointInput::Gossip {
                from: member("platform"),
                token: 7,
                checkpoint: None,
            },
            &mut out,
        );
        assert!(matches!(
            &out[..],
            [
                CheckpointOutput::Verdict {
                    token: 7,
                    acceptance: Acceptance::Reject
                },
                CheckpointOutput::Misbehaved { peer }
            ] if peer == &member("platform")
        ));
    }

    #[test]
    fn an_answer_of_the_wrong_kind_is_an_offence_and_a_refusal_is_not() {
        let mut sync = CheckpointSync::new(1_000, true);
        let mut out = Vec::new();
        let peer = member("platform");
        sync.handle(
            CheckpointInput::Answer {
                peer: peer.clone(),
                response: Some(SyncResponse::Refused),
            },
            &mut out,
        );
        assert!(out.is_empty());
        sync.handle(
            CheckpointInput::Answer {
                peer: peer.clone(),
                response: Some(SyncResponse::Range(Vec::new())),
            },
            &mut out,
        );
        assert!(matches!(&out[..], [CheckpointOutput::Misbehaved { .. }]));
    }

    trait Counts {
        fn contains_count(&self, count: CheckpointCount) -> bool;
    }

    impl Counts for Vec<CheckpointOutput> {
        fn contains_count(&self, count: CheckpointCount) -> bool {
            self.iter()
                .any(|o| matches!(o, CheckpointOutput::Count(c) if *c == count))
        }
    }
}
