//! The checkpoint exchange's work on the node's checkpoint book: making the node's own
//! checkpoint, checking peers' checkpoints and conflict proofs, reading what to pull and what
//! to serve. Blocking; the network shell runs it on its blocking pool, the simulation at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use tally_sdk::crypto::SigningKey;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::checkpoint::Checkpoint;

use super::{CheckpointDone, CheckpointWork, PULL_LIMIT, Suspect};
use crate::replicate::engine::{Acceptance, GossipToken};
use crate::replicate::wire::{CheckpointConflict, SyncRequest, SyncResponse};
use crate::store::Store;
use crate::witness::book::{Admitted, Book, BookError};
use crate::witness::own::make_checkpoint;

/// Does the exchange's work on a node's checkpoint book.
#[derive(Clone)]
pub struct CheckpointWorker {
    book: Arc<Book>,
    store: Arc<dyn Store>,
    me: MemberId,
    signing: SigningKey,
    /// Most bytes of checkpoints or proofs in one answer.
    answer_bytes: usize,
}

// Not derived: the worker holds the node's keys.
impl std::fmt::Debug for CheckpointWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWorker")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl CheckpointWorker {
    /// The worker of `me`'s node, signing its checkpoints with `signing`; answers to peers
    /// hold at most `answer_bytes` of checkpoints and of proofs.
    pub fn new(
        book: Arc<Book>,
        store: Arc<dyn Store>,
        me: MemberId,
        signing: SigningKey,
        answer_bytes: usize,
    ) -> Self {
        Self {
            book,
            store,
            me,
            signing,
            answer_bytes,
        }
    }

    /// Does `work`; `now` dates the node's own checkpoint. Blocks on the store.
    pub fn run(&self, work: CheckpointWork, now: Timestamp) -> CheckpointDone {
        match work {
            CheckpointWork::Make => CheckpointDone::Made(self.make(now)),
            CheckpointWork::Check {
                token,
                from,
                checkpoint,
            } => self.check(token, from, checkpoint),
            CheckpointWork::Recheck(waiting) => self.recheck(waiting),
            CheckpointWork::Progress { peer } => CheckpointDone::Progress {
                request: self.progress(&peer),
                peer,
            },
            CheckpointWork::Record {
                peer,
                checkpoints,
                conflicts,
            } => self.record(peer, checkpoints, conflicts),
            CheckpointWork::Serve {
                token,
                from,
                limit,
                conflicts_held,
            } => CheckpointDone::Served {
                token,
                response: self.serve(&from, limit, &conflicts_held),
            },
        }
    }

    fn make(&self, now: Timestamp) -> Option<Box<Checkpoint>> {
        match make_checkpoint(
            &self.book,
            self.store.as_ref(),
            &self.me,
            &self.signing,
            now,
        ) {
            Ok(made) => made.map(Box::new),
            Err(error) => {
                tracing::error!(%error, "cannot make a checkpoint");
                None
            }
        }
    }

    fn check(
        &self,
        token: GossipToken,
        from: MemberId,
        checkpoint: Box<Checkpoint>,
    ) -> CheckpointDone {
        let (mut deferred, mut suspect) = (None, None);
        let (acceptance, blame) = match self.book.admit(&checkpoint) {
            Ok(Admitted::New) => (Acceptance::Accept, from),
            Ok(Admitted::Known) => (Acceptance::Ignore, from),
            Ok(Admitted::Deferred) => {
                deferred = Some(checkpoint);
                (Acceptance::Ignore, from)
            }
            Ok(Admitted::HeadDiffers { author, seq }) => {
                deferred = Some(checkpoint);
                suspect = Some(Suspect {
                    peer: from.clone(),
                    author,
                    seq,
                });
                (Acceptance::Ignore, from)
            }
            Err(error) => match blamed(&from, &error) {
                Some(blame) => (Acceptance::Reject, blame),
                None => (Acceptance::Ignore, from),
            },
        };
        CheckpointDone::Checked {
            token,
            acceptance,
            blame,
            deferred,
            suspect,
        }
    }

    fn recheck(&self, waiting: Vec<(Checkpoint, MemberId)>) -> CheckpointDone {
        let (mut deferred, mut new, mut blame) = (Vec::new(), 0, Vec::new());
        let mut suspects = Vec::new();
        for (checkpoint, from) in waiting {
            match self.book.admit(&checkpoint) {
                Ok(Admitted::New) => new += 1,
                Ok(Admitted::Known) => {}
                Ok(Admitted::Deferred) => deferred.push((checkpoint, from)),
                Ok(Admitted::HeadDiffers { author, seq }) => {
                    suspects.push(Suspect {
                        peer: from.clone(),
                        author,
                        seq,
                    });
                    deferred.push((checkpoint, from));
                }
                Err(error) => blame.extend(blamed(&from, &error)),
            }
        }
        CheckpointDone::Rechecked {
            deferred,
            new,
            blame,
            suspects,
        }
    }

    fn progress(&self, peer: &MemberId) -> Option<SyncRequest> {
        let mut from = Vec::new();
        for member in self.book.genesis().all_members() {
            match self.book.progress(&member.id) {
                Ok(progress) => from.push((member.id.clone(), progress.contiguous)),
                Err(error) => {
                    tracing::error!(%error, %peer, "cannot read checkpoint progress");
                    return None;
                }
            }
        }
        let conflicts_held = match self.book.conflicted() {
            Ok(held) => held,
            Err(error) => {
                tracing::error!(%error, "cannot read the checkpoint conflicts held");
                return None;
            }
        };
        Some(SyncRequest::Checkpoints {
            from,
            limit: PULL_LIMIT,
            conflicts_held,
        })
    }

    fn record(
        &self,
        peer: MemberId,
        checkpoints: Vec<Checkpoint>,
        conflicts: Vec<CheckpointConflict>,
    ) -> CheckpointDone {
        let mut full = checkpoints.len() >= PULL_LIMIT as usize;
        let mut blame = BTreeSet::new();
        let mut deferred = Vec::new();
        let mut suspects = Vec::new();
        let mut new = 0;
        // A new proof that a witness signed two checkpoints with one number counts against
        // the witness, a false one against the peer.
        for conflict in conflicts {
            match self.book.admit_conflict(&conflict.held, &conflict.other) {
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
        for checkpoint in checkpoints {
            match self.book.admit(&checkpoint) {
                Ok(Admitted::New) => new += 1,
                Ok(Admitted::Known) => {}
                // Not checkable yet: asking again at once would bring it again; it is
                // checked again when the chains grow.
                Ok(Admitted::Deferred) => {
                    full = false;
                    deferred.push(checkpoint);
                }
                Ok(Admitted::HeadDiffers { author, seq }) => {
                    full = false;
                    suspects.push(Suspect {
                        peer: peer.clone(),
                        author,
                        seq,
                    });
                    deferred.push(checkpoint);
                }
                Err(error) => blame.extend(blamed(&peer, &error)),
            }
        }
        CheckpointDone::Recorded {
            full: full && blame.is_empty(),
            peer,
            new,
            blame,
            deferred,
            suspects,
        }
    }

    fn serve(&self, from: &[(MemberId, u64)], limit: u32, held: &[MemberId]) -> SyncResponse {
        let limit = limit.min(PULL_LIMIT) as usize;
        let found = self
            .book
            .since(from, limit, self.answer_bytes)
            .and_then(|checkpoints| {
                let conflicts = self
                    .book
                    .conflicts(held, self.answer_bytes)?
                    .into_iter()
                    .map(|(held, other)| CheckpointConflict { held, other })
                    .collect();
                Ok((checkpoints, conflicts))
            });
        match found {
            Ok((checkpoints, conflicts)) => SyncResponse::Checkpoints {
                checkpoints,
                conflicts,
            },
            Err(error) => {
                tracing::error!(%error, "cannot read checkpoints for a peer");
                SyncResponse::Refused
            }
        }
    }
}

/// Who answers for a checkpoint `from` sent that was not recorded (logged): the witness whose
/// signature proves it signed what it should not have, or else the peer that sent something
/// invalid; `None` when the fault is this node's.
fn blamed(from: &MemberId, error: &BookError) -> Option<MemberId> {
    match error {
        BookError::Invalid(_) | BookError::NotAConflict => {
            tracing::warn!(%from, %error, "an invalid checkpoint from {from}'s node");
        }
        BookError::Conflict { .. } | BookError::SplitView { .. } | BookError::FalseSpan { .. } => {
            tracing::warn!(%from, %error, "a checkpoint its witness should never have signed, from {from}'s node; kept as evidence");
        }
        BookError::Store(_) => {
            tracing::error!(%error, "cannot record a checkpoint");
            return None;
        }
    }
    Some(error.signer_at_fault().unwrap_or(from).clone())
}
