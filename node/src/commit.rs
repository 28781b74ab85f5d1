//! Group commit: one writer thread places requests and makes them durable together.
//!
//! Callers run stage 1 of the pipeline ([`crate::ingest::Pipeline`]) on their own threads,
//! then queue the result on a bounded channel. The writer takes whatever is queued (up to
//! [`CommitOptions::max_entries`] entries, waiting at most [`CommitOptions::max_delay`] for
//! more), places each request in order ([`Ledger`]), writes all their changes in one synced
//! batch, and only then answers each request. One fsync thus covers many requests, and no
//! entry is acknowledged before it is durable. A refused request writes nothing of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tally_sdk::entry::SignedEntry;
use tally_sdk::ids::MemberId;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;

use crate::ingest::{
    CheckedBatch, EventInput, IngestError, Ledger, Pipeline, Placement, PreparedEvents, Receipt,
};
use crate::store::{Batch, Store};

/// How the writer groups requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitOptions {
    /// Requests that may wait in the queue; senders block beyond it.
    pub queue: usize,
    /// Most entries one synced write covers (a single larger request is written alone).
    pub max_entries: usize,
    /// How long the writer waits for more requests once it has one (zero: it takes only what
    /// is already queued, which under load is plenty).
    pub max_delay: Duration,
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            queue: 256,
            max_entries: 20_000,
            max_delay: Duration::ZERO,
        }
    }
}

/// The answer to a request.
pub type Answer = Result<Vec<Receipt>, IngestError>;

/// Called with the answer on the writer thread; must return quickly.
pub type Reply = Box<dyn FnOnce(Answer) + Send>;

#[derive(Debug)]
enum Work {
    Entries(CheckedBatch),
    Events(PreparedEvents),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Entries(batch) => batch.len(),
            Work::Events(events) => events.len(),
        }
    }
}

struct Job {
    work: Work,
    reply: Reply,
}

/// What the writer has done so far.
#[derive(Debug, Default)]
struct Counters {
    groups: AtomicU64,
    requests: AtomicU64,
    entries: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Synced writes made.
    pub groups: u64,
    /// Requests answered.
    pub requests: u64,
    /// Changes (keys) written.
    pub writes: u64,
}

/// A handle to the writer; cheap to clone. When every handle is dropped, the writer answers
/// what is queued and stops.
#[derive(Clone)]
pub struct Committer {
    jobs: SyncSender<Job>,
    pipeline: Pipeline,
    member: Option<MemberId>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// The writer thread, to join at shutdown.
#[derive(Debug)]
pub struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until the writer has answered everything queued and stopped (every
    /// [`Committer`] must have been dropped).
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

impl Committer {
    /// Starts the writer thread over `store`, whose state `ledger` holds. `keys` (if any) sign
    /// the member's events.
    pub fn start<S: Store + 'static>(
        store: Arc<S>,
        ledger: Ledger,
        pipeline: Pipeline,
        keys: Option<MemberKeys>,
        options: CommitOptions,
    ) -> std::io::Result<(Self, Writer)> {
        let (jobs, rx) = sync_channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let member = keys.as_ref().map(|k| k.member.clone());
        let writer_counters = counters.clone();
        let handle = std::thread::Builder::new()
            .name("tally-writer".into())
            .spawn(move || {
                run(
                    store.as_ref(),
                    ledger,
                    keys.as_ref(),
                    &rx,
                    options,
                    &writer_counters,
                );
            })?;
        Ok((
            Self {
                jobs,
                pipeline,
                member,
                counters,
            },
            Writer(handle),
        ))
    }

    /// The stage-1 pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> CommitStats {
        CommitStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            writes: self.counters.entries.load(Ordering::Relaxed),
        }
    }

    /// Verifies entries signed elsewhere on this thread, then waits until they are durable
    /// (or refused).
    pub fn submit_entries(&self, entries: Vec<SignedEntry>) -> Answer {
        let checked = self.pipeline.check(entries, Timestamp::now())?;
        self.wait(Work::Entries(checked))
    }

    /// Prepares the member's events on this thread, then waits until the writer has signed,
    /// verified and durably stored them (or refused them).
    pub fn submit_events(&self, events: Vec<EventInput>) -> Answer {
        let member = self.member.as_ref().ok_or(IngestError::NoKey)?;
        let prepared = self.pipeline.prepare(member, events)?;
        self.wait(Work::Events(prepared))
    }

    /// Queues checked entries; `reply` gets the answer on the writer thread. Blocks while the
    /// queue is full.
    pub fn send_entries(
        &self,
        checked: CheckedBatch,
        reply: impl FnOnce(Answer) + Send + 'static,
    ) -> Result<(), IngestError> {
        self.send(Work::Entries(checked), Box::new(reply))
    }

    /// Queues prepared events; `reply` gets the answer on the writer thread. Blocks while the
    /// queue is full.
    pub fn send_events(
        &self,
        prepared: PreparedEvents,
        reply: impl FnOnce(Answer) + Send + 'static,
    ) -> Result<(), IngestError> {
        if self.member.is_none() {
            return Err(IngestError::NoKey);
        }
        self.send(Work::Events(prepared), Box::new(reply))
    }

    fn send(&self, work: Work, reply: Reply) -> Result<(), IngestError> {
        self.jobs
            .send(Job { work, reply })
            .map_err(|_| IngestError::Stopped)
    }

    fn wait(&self, work: Work) -> Answer {
        let (tx, rx) = sync_channel(1);
        self.send(
            work,
            Box::new(move |answer| {
                // The caller may have gone; the answer then has no one to go to.
                let _ = tx.send(answer);
            }),
        )?;
        rx.recv().map_err(|_| IngestError::Stopped)?
    }
}

/// Takes the next group of jobs: blocks for the first, then takes what is queued.
fn next_group(rx: &Receiver<Job>, options: &CommitOptions) -> Option<Vec<Job>> {
    let first = rx.recv().ok()?;
    let deadline = Instant::now() + options.max_delay;
    let mut count = first.work.len();
    let mut group = vec![first];
    while count < options.max_entries {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        count += job.work.len();
        group.push(job);
    }
    Some(group)
}

fn run<S: Store + ?Sized>(
    store: &S,
    mut ledger: Ledger,
    keys: Option<&MemberKeys>,
    rx: &Receiver<Job>,
    options: CommitOptions,
    counters: &Counters,
) {
    while let Some(group) = next_group(rx, &options) {
        let now = Timestamp::now();
        let mut writes = Batch::default();
        let mut answers = Vec::with_capacity(group.len());
        for job in group {
            let Placement {
                writes: more,
                result,
            } = match job.work {
                Work::Entries(batch) => ledger.place(store, batch),
                Work::Events(events) => match keys {
                    Some(keys) => ledger.sign(store, keys, events, now),
                    None => Placement {
                        writes: Batch::default(),
                        result: Err(IngestError::NoKey),
                    },
                },
            };
            writes.append(more);
            answers.push((job.reply, result));
        }
        let count = writes.len() as u64;
        let written = if writes.is_empty() {
            Ok(())
        } else {
            store.write(writes)
        };
        match written {
            Ok(()) => {
                ledger.committed();
                if count > 0 {
                    counters.groups.fetch_add(1, Ordering::Relaxed);
                    counters.entries.fetch_add(count, Ordering::Relaxed);
                }
            }
            Err(error) => {
                tracing::error!(%error, "a group write failed; its requests are refused");
                if let Err(error) = ledger.reload(store) {
                    tracing::error!(%error, "cannot re-read the chain heads after a failed write");
                }
                let message = error.to_string();
                for (_, result) in &mut answers {
                    if result.is_ok() {
                        *result = Err(IngestError::WriteFailed(message.clone()));
                    }
                }
            }
        }
        counters
            .requests
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
        for (reply, result) in answers {
            reply(result);
        }
    }
}
