//! Group commit: one writer thread places requests and makes them durable together.
//!
//! Callers run stage 1 of the pipeline ([`crate::ingest::Pipeline`]) on their own threads,
//! then queue the result on a bounded channel. The writer takes whatever is queued (up to
//! [`CommitOptions::max_entries`] entries, waiting at most [`CommitOptions::max_delay`] for
//! more), places each request in order ([`Ledger`]), writes all their changes in one synced
//! batch, and only then answers each request. One fsync thus covers many requests, and no
//! entry is acknowledged before it is durable. A refused request writes nothing of its own.
//!
//! A request of events that holds a hand-over is held to the custody rule, which reads the
//! store: the writer first writes what it placed before it in the group, so the rule sees
//! every earlier request and no two requests pass it on one state. Refused entries kept as
//! evidence are placed here too, within each author's quota.
//!
//! After each synced write the writer tells replication what it made durable ([`Committed`]:
//! the chain heads that moved, and which entries came from this node's own sources and are
//! to be gossiped) on a bounded channel. If replication is slow to take the notices, they are
//! merged into one that waits, so the writer never blocks on it and nothing is forgotten.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tally_sdk::entry::SignedEntry;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::{FieldName, MemberId};
use tally_sdk::membership::governance::SignedChange;
use tally_sdk::membership::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::fork::ForkProof;

use crate::consortium::{self, SharedConsortium};
use crate::ingest::{
    CheckedBatch, EventInput, IngestError, Ledger, Pipeline, Placement, PreparedEvents, Problem,
    Receipt, RejectedRow,
};
use crate::private::{eraser, purge};
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

/// Where entries to store come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// This node's API or its own events: new to the network, to be gossiped.
    Local,
    /// Other members' nodes, by replication: they have them already.
    Peers,
}

#[derive(Debug)]
enum Work {
    Entries(CheckedBatch, Origin),
    Events(PreparedEvents),
    /// Evidence of a refused request to keep (rejected entries), within each author's quota:
    /// written, nothing placed.
    Evidence(Vec<RejectedRow>),
    /// A checked fork proof from another node, to keep unless one as early is stored.
    Fork(Box<ForkProof>),
    /// A governance change: written alone, then in force for everything after it.
    Change(Box<SignedChange>),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Entries(batch, _) => batch.len(),
            Work::Events(events) => events.len(),
            Work::Evidence(_) | Work::Fork(_) | Work::Change(_) => 0,
        }
    }

    /// Whether placing it applies the custody rule: a hand-over the node signs.
    fn needs_custody(&self) -> bool {
        matches!(self, Work::Events(events) if events.hands_over())
    }
}

/// Most of the node's own new entries one notice carries: if replication falls behind by
/// more, the oldest are not gossiped (peers pull them).
pub const MAX_FRESH: usize = 20_000;

/// What the writer made durable since its last notice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// The new last entry (sequence number, hash) of each chain that grew.
    pub heads: BTreeMap<MemberId, (u64, EntryHash)>,
    /// The new entries that came from this node's own sources (its events, entries posted to
    /// its API), in the order stored, at most [`MAX_FRESH`] (the newest): replication gossips
    /// them as they are, without reading them back. A queue: when replication falls behind,
    /// each notice drops the oldest, and a `Vec` would move every entry kept to do so.
    pub fresh: VecDeque<SignedEntry>,
    /// Places (author, sequence number) where an offered entry conflicted with the stored one:
    /// the fork proof is stored now.
    pub forks: BTreeSet<(MemberId, u64)>,
}

impl Committed {
    /// Whether there is nothing to tell.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty() && self.forks.is_empty()
    }

    fn record_forks(&mut self, error: &IngestError) {
        if let IngestError::Rejected(list) = error {
            for rejection in list {
                if let Problem::Conflict { author, seq, .. } = &rejection.problem {
                    self.forks.insert((author.clone(), *seq));
                }
            }
        }
    }

    /// Keeps the later of the known head of `author` and `head`.
    fn raise_head(&mut self, author: MemberId, head: (u64, EntryHash)) {
        let mine = self.heads.entry(author).or_insert(head);
        if head.0 >= mine.0 {
            *mine = head;
        }
    }

    fn record(&mut self, receipts: &[Receipt]) {
        for receipt in receipts.iter().filter(|r| !r.duplicate) {
            self.raise_head(receipt.author.clone(), (receipt.seq, receipt.hash));
        }
    }

    /// Adds entries to gossip, keeping the newest [`MAX_FRESH`].
    fn add_fresh(
        &mut self,
        entries: impl IntoIterator<Item = SignedEntry, IntoIter: ExactSizeIterator>,
    ) {
        keep_newest(&mut self.fresh, entries, MAX_FRESH);
    }

    fn merge(&mut self, later: Committed) {
        for (author, head) in later.heads {
            self.raise_head(author, head);
        }
        self.add_fresh(later.fresh);
        self.forks.extend(later.forks);
    }
}

/// Appends `more` to `queue` and keeps the newest `max`, without moving what stays.
fn keep_newest<T>(
    queue: &mut VecDeque<T>,
    more: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    max: usize,
) {
    let more = more.into_iter();
    let excess = (queue.len() + more.len()).saturating_sub(max);
    let from_more = excess.saturating_sub(queue.len());
    queue.drain(..excess.min(queue.len()));
    queue.extend(more.skip(from_more));
}

/// Where the writer sends its [`Committed`] notices.
pub type CommitFeed = tokio::sync::mpsc::Sender<Committed>;

/// How long the writer waits for work before retrying a notice the feed had no room for.
const FEED_RETRY: Duration = Duration::from_millis(20);

/// Whom the writer tells after a write: replication through the feed (with the notice not
/// yet taken), the eraser after purges, and every part of the node after a governance change.
struct Notices {
    feed: Option<CommitFeed>,
    waiting: Committed,
    eraser: eraser::EraserHandle,
    /// Told of each governance change put in force.
    consortium: SharedConsortium,
}

impl Notices {
    fn has_waiting(&self) -> bool {
        self.feed.is_some() && !self.waiting.is_empty()
    }

    fn add(&mut self, committed: Committed) {
        if self.feed.is_some() {
            self.waiting.merge(committed);
        }
    }

    fn flush(&mut self) {
        let Some(feed) = &self.feed else {
            return;
        };
        if self.waiting.is_empty() {
            return;
        }
        match feed.try_send(std::mem::take(&mut self.waiting)) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(back)) => self.waiting = back,
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => self.feed = None,
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
    /// Set while the node must not sign events: restored from a backup, it has not yet got
    /// back from other members' nodes what it signed after the backup.
    signing_held: Arc<AtomicBool>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// The writer thread and its eraser, to join at shutdown.
#[derive(Debug)]
pub struct Writer {
    writer: JoinHandle<()>,
    eraser: JoinHandle<()>,
}

impl Writer {
    /// Waits until the writer has answered everything queued and stopped (every
    /// [`Committer`] must have been dropped), and the eraser has finished its run.
    pub fn join(self) {
        if self.writer.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
        if self.eraser.join().is_err() {
            tracing::error!("the eraser thread panicked");
        }
    }
}

impl Committer {
    /// Starts the writer thread over `store`, whose state `ledger` holds. `keys` (if any) sign
    /// the member's events; `feed` (if any) is told what each write made durable.
    pub fn start<S: Store + 'static>(
        store: Arc<S>,
        ledger: Ledger,
        pipeline: Pipeline,
        keys: Option<MemberKeys>,
        options: CommitOptions,
        feed: Option<CommitFeed>,
    ) -> std::io::Result<(Self, Writer)> {
        let (jobs, rx) = sync_channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let member = keys.as_ref().map(|k| k.member.clone());
        let writer_counters = counters.clone();
        let (eraser, eraser_thread) = eraser::start(store.clone())?;
        let consortium = pipeline.consortium().clone();
        let handle = std::thread::Builder::new()
            .name("tally-writer".into())
            .spawn(move || {
                let notices = Notices {
                    feed,
                    waiting: Committed::default(),
                    eraser,
                    consortium,
                };
                run(
                    store.as_ref(),
                    ledger,
                    keys.as_ref(),
                    &rx,
                    options,
                    &writer_counters,
                    notices,
                );
            })?;
        Ok((
            Self {
                jobs,
                pipeline,
                member,
                counters,
                signing_held: Arc::new(AtomicBool::new(false)),
            },
            Writer {
                writer: handle,
                eraser: eraser_thread,
            },
        ))
    }

    /// Stops signing events (every handle) until [`Self::release_signing`]: they are refused
    /// with [`IngestError::CatchingUp`]. Entries signed elsewhere are still taken.
    pub fn hold_signing(&self) {
        self.signing_held.store(true, Ordering::SeqCst);
    }

    /// Signs events again.
    pub fn release_signing(&self) {
        self.signing_held.store(false, Ordering::SeqCst);
    }

    /// Whether signing is held.
    pub fn signing_held(&self) -> bool {
        self.signing_held.load(Ordering::SeqCst)
    }

    fn may_sign(&self) -> Result<&MemberId, IngestError> {
        let member = self.member.as_ref().ok_or(IngestError::NoKey)?;
        if self.signing_held() {
            return Err(IngestError::CatchingUp);
        }
        Ok(member)
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
        let checked = self.check_entries(entries)?;
        self.wait(Work::Entries(checked, Origin::Local))
    }

    /// As [`Self::submit_entries`], for entries received from other members' nodes: stored
    /// alike, but not gossiped again.
    pub fn submit_replicated(&self, entries: Vec<SignedEntry>) -> Answer {
        let checked = self.check_entries(entries)?;
        self.wait(Work::Entries(checked, Origin::Peers))
    }

    /// Stage 1 for entries signed elsewhere, on this thread; a refused request's evidence
    /// (entries that are their authors' doing) is stored before the refusal is answered.
    pub fn check_entries(&self, entries: Vec<SignedEntry>) -> Result<CheckedBatch, IngestError> {
        self.pipeline
            .check_keeping_evidence(entries, Timestamp::now())
            .map_err(|refused| {
                if !refused.evidence.is_empty()
                    && let Err(error) = self.wait(Work::Evidence(refused.evidence))
                {
                    tracing::warn!(%error, "the evidence of refused entries was not stored");
                }
                refused.error
            })
    }

    /// Checks a fork proof from another node on this thread, then waits until the writer has
    /// stored it (or found one as early stored already).
    pub fn submit_fork(&self, proof: ForkProof) -> Answer {
        let genesis = self.pipeline.genesis();
        let verifier = Verifier::new(&genesis, Timestamp::now());
        proof.verify(&verifier)?;
        self.wait(Work::Fork(Box::new(proof)))
    }

    /// Applies a governance change (approved by the founders; from an operator or another
    /// member's node): waits until the writer has checked it against the consortium in force,
    /// stored it, and put it in force. A change applied already is acknowledged again.
    pub fn submit_change(&self, change: SignedChange) -> Answer {
        self.wait(Work::Change(Box::new(change)))
    }

    /// Prepares the member's events on this thread, then waits until the writer has signed,
    /// verified and durably stored them (or refused them).
    pub fn submit_events(&self, events: Vec<EventInput>) -> Answer {
        let member = self.may_sign()?;
        let prepared = self.pipeline.prepare(member, events)?;
        self.wait(Work::Events(prepared))
    }

    /// Signs the member's purge of `fields` of its entry `target`, and waits until the writer
    /// has stored it and erased the fields (or refused it).
    pub fn submit_purge(&self, target: EntryHash, fields: Vec<FieldName>) -> Answer {
        let member = self.may_sign()?;
        let prepared = self.pipeline.prepare_purge(member, target, fields);
        self.wait(Work::Events(prepared))
    }

    /// Queues checked entries; `reply` gets the answer on the writer thread. Blocks while the
    /// queue is full.
    pub fn send_entries(
        &self,
        checked: CheckedBatch,
        reply: impl FnOnce(Answer) + Send + 'static,
    ) -> Result<(), IngestError> {
        self.send(Work::Entries(checked, Origin::Local), Box::new(reply))
    }

    /// Queues prepared events; `reply` gets the answer on the writer thread. Blocks while the
    /// queue is full.
    pub fn send_events(
        &self,
        prepared: PreparedEvents,
        reply: impl FnOnce(Answer) + Send + 'static,
    ) -> Result<(), IngestError> {
        self.may_sign()?;
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

/// Takes the next group of jobs: waits for the first (at most `wait`, if given: then the group
/// may be empty), then takes what is queued. `None`: every handle is gone.
fn next_group(
    rx: &Receiver<Job>,
    options: &CommitOptions,
    wait: Option<Duration>,
) -> Option<Vec<Job>> {
    let first = match wait {
        None => rx.recv().ok()?,
        Some(wait) => match rx.recv_timeout(wait) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => return Some(Vec::new()),
            Err(RecvTimeoutError::Disconnected) => return None,
        },
    };
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

/// Requests placed and not yet written: one synced write covers them all.
struct Segment {
    writes: Batch,
    purges: Vec<purge::PurgeOrder>,
    /// Fork proofs from other nodes kept: (author, place).
    forks: Vec<(MemberId, u64)>,
    /// The node's own new entries, to gossip once written.
    fresh: Vec<SignedEntry>,
    answers: Vec<(Reply, Answer)>,
}

impl Segment {
    fn with_capacity(requests: usize) -> Self {
        Self {
            writes: Batch::default(),
            purges: Vec::new(),
            forks: Vec::new(),
            fresh: Vec::new(),
            answers: Vec::with_capacity(requests),
        }
    }

    fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Writes the segment in one synced batch, then answers each request.
    fn commit<S: Store + ?Sized>(
        self,
        store: &S,
        ledger: &mut Ledger,
        counters: &Counters,
        notices: &mut Notices,
    ) {
        let Self {
            writes,
            purges,
            forks,
            fresh,
            mut answers,
        } = self;
        let count = writes.len() as u64;
        let written = if writes.is_empty() {
            Ok(())
        } else {
            store.write(writes)
        };
        match written {
            Ok(()) => {
                ledger.committed();
                // The purge entries are durable with their markers: if this fails or the node
                // stops first, the next start finishes it. Getting the bytes off the disk is
                // the eraser's, in the background.
                match purge::erase_rows(store, &purges) {
                    Ok(true) => notices.eraser.wake(),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::error!(%error, "cannot carry out purges now; the next start will");
                    }
                }
                if count > 0 {
                    counters.groups.fetch_add(1, Ordering::Relaxed);
                    counters.entries.fetch_add(count, Ordering::Relaxed);
                }
                let mut committed = Committed {
                    forks: forks.into_iter().collect(),
                    ..Committed::default()
                };
                committed.add_fresh(fresh);
                for (_, result) in &answers {
                    match result {
                        Ok(receipts) => committed.record(receipts),
                        Err(error) => committed.record_forks(error),
                    }
                }
                notices.add(committed);
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

/// Checks `change` against the consortium in force, stores it in a synced write of its own,
/// and puts the consortium with it in force.
fn apply_change<S: Store + ?Sized>(
    store: &S,
    ledger: &mut Ledger,
    consortium: &SharedConsortium,
    change: &SignedChange,
) -> Answer {
    let current = ledger.genesis().clone();
    let number = change.body.number;
    let applied = current.changes().len() as u64;
    if number >= 1 && number <= applied {
        let same = current
            .changes()
            .get((number - 1) as usize)
            .is_some_and(|held| held.body == change.body);
        return if same {
            Ok(Vec::new())
        } else {
            Err(IngestError::RivalChange { number })
        };
    }
    let next = Arc::new(current.apply(change)?);
    let mut batch = Batch::default();
    consortium::put_change(&mut batch, change)?;
    store
        .write(batch)
        .map_err(|e| IngestError::WriteFailed(e.to_string()))?;
    tracing::info!(
        number,
        action = change.body.action.name(),
        member = %change.body.action.member(),
        "governance change applied"
    );
    ledger.set_genesis(next.clone());
    consortium.advance(next);
    Ok(Vec::new())
}

/// [`run`] takes changes out of the group before placing it.
fn unreachable_change() -> Placement {
    Placement::answer(Batch::default(), Err(IngestError::Stopped))
}

fn run<S: Store + ?Sized>(
    store: &S,
    mut ledger: Ledger,
    keys: Option<&MemberKeys>,
    rx: &Receiver<Job>,
    options: CommitOptions,
    counters: &Counters,
    mut notices: Notices,
) {
    loop {
        let wait = notices.has_waiting().then_some(FEED_RETRY);
        let Some(group) = next_group(rx, &options, wait) else {
            break;
        };
        if group.is_empty() {
            notices.flush();
            continue;
        }
        let now = Timestamp::now();
        let mut segment = Segment::with_capacity(group.len());
        for job in group {
            // The custody rule reads the store: what this group placed before a hand-over is
            // written first, so the rule sees it and no two requests pass it on one state.
            if job.work.needs_custody() && !segment.is_empty() {
                segment.commit(store, &mut ledger, counters, &mut notices);
                segment = Segment::with_capacity(1);
            }
            if let Work::Change(change) = job.work {
                // Everything before the change is judged by the consortium before it, and
                // written first; everything after, by the consortium with it.
                if !segment.is_empty() {
                    segment.commit(store, &mut ledger, counters, &mut notices);
                    segment = Segment::with_capacity(1);
                }
                (job.reply)(apply_change(
                    store,
                    &mut ledger,
                    &notices.consortium,
                    &change,
                ));
                continue;
            }
            let Placement {
                writes: more,
                purges: ordered,
                result,
                fresh,
            } = match job.work {
                Work::Entries(batch, Origin::Local) => ledger.place_local(store, batch),
                Work::Entries(batch, Origin::Peers) => ledger.place(store, batch),
                Work::Fork(proof) => match ledger.record_fork(store, &proof) {
                    Ok(recorded) => {
                        let writes = recorded.map_or_else(Batch::default, |recorded| {
                            segment.forks.push((recorded.author, recorded.seq));
                            recorded.writes
                        });
                        Placement::answer(writes, Ok(Vec::new()))
                    }
                    Err(error) => Placement::answer(Batch::default(), Err(error.into())),
                },
                Work::Evidence(rows) => match ledger.keep_rejected(store, rows) {
                    Ok(writes) => Placement::answer(writes, Ok(Vec::new())),
                    Err(error) => Placement::answer(Batch::default(), Err(error.into())),
                },
                Work::Change(_) => unreachable_change(),
                Work::Events(mut events) => match keys {
                    Some(keys) => {
                        let rows = events.take_rows();
                        let mut placed = ledger.sign(store, keys, events, now);
                        if let (Some(rows), Ok(receipts)) = (rows, &placed.result) {
                            placed.writes.append(rows.make(receipts));
                        }
                        placed
                    }
                    None => Placement::answer(Batch::default(), Err(IngestError::NoKey)),
                },
            };
            segment.writes.append(more);
            if result.is_ok() {
                segment.purges.extend(ordered);
                segment.fresh.extend(fresh);
            }
            segment.answers.push((job.reply, result));
        }
        segment.commit(store, &mut ledger, counters, &mut notices);
        notices.flush();
    }
    // Everything written is told before the writer stops, if the feed has room.
    notices.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keep_newest_keeps_the_last_max_of_everything_added(
            batches in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..40), 0..12),
            max in 0usize..60,
        ) {
            let mut queue = VecDeque::new();
            let mut everything = Vec::new();
            for batch in batches {
                everything.extend(batch.iter().copied());
                keep_newest(&mut queue, batch, max);
                let newest = &everything[everything.len().saturating_sub(max)..];
                prop_assert_eq!(queue.iter().copied().collect::<Vec<_>>(), newest.to_vec());
            }
        }
    }
}
