//! Group commit: one writer thread owns the [`Ledger`] and the writes.
//!
//! Requests queue on a bounded channel. The writer takes whatever is queued (up to a limit of
//! entries), plans each request in order, writes all accepted plans in one synced RocksDB
//! batch, and only then answers each request. One fsync thus covers many requests, and no
//! request is acknowledged before its entries are durable. A request that is rejected is
//! answered at once and writes nothing.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use tally_sdk::entry::SignedEntry;
use tally_sdk::keyfile::MemberKeys;
use tally_sdk::time::Timestamp;

use crate::ingest::{EventInput, IngestError, Ledger, Plan, Receipt};
use crate::store::{Store, WritePlan};

/// What a request asks for.
#[derive(Debug)]
pub enum Request {
    /// Entries signed elsewhere.
    Entries(Vec<SignedEntry>),
    /// Events for the node to sign into its member's chain.
    Events(Vec<EventInput>),
}

impl Request {
    fn len(&self) -> usize {
        match self {
            Request::Entries(e) => e.len(),
            Request::Events(e) => e.len(),
        }
    }
}

/// Where a request's answer goes.
type Reply = SyncSender<Result<Vec<Receipt>, IngestError>>;

struct Job {
    request: Request,
    reply: Reply,
}

/// The handle to the writer thread. Dropping every handle stops the writer after it has
/// answered everything queued.
#[derive(Debug, Clone)]
pub struct Committer {
    jobs: SyncSender<Job>,
}

/// The writer thread, to join at shutdown.
#[derive(Debug)]
pub struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until the writer has drained its queue and stopped.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// The committer stopped (the node is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down and accepts no more writes")]
pub struct Stopped;

impl Committer {
    /// Starts the writer thread. `queue` bounds waiting requests; `group_entries` bounds the
    /// entries one synced write covers.
    pub fn start(
        store: Arc<Store>,
        ledger: Ledger,
        keys: Option<MemberKeys>,
        queue: usize,
        group_entries: usize,
    ) -> std::io::Result<(Self, Writer)> {
        let (jobs, rx) = sync_channel(queue);
        let handle = std::thread::Builder::new()
            .name("tally-writer".into())
            .spawn(move || run(&store, ledger, keys.as_ref(), &rx, group_entries))?;
        Ok((Self { jobs }, Writer(handle)))
    }

    /// Submits a request and waits until it is durable (or rejected).
    pub fn submit(&self, request: Request) -> Result<Result<Vec<Receipt>, IngestError>, Stopped> {
        let (reply, answer) = sync_channel(1);
        self.jobs
            .send(Job { request, reply })
            .map_err(|_| Stopped)?;
        answer.recv().map_err(|_| Stopped)
    }
}

fn run(
    store: &Store,
    mut ledger: Ledger,
    keys: Option<&MemberKeys>,
    rx: &Receiver<Job>,
    group_entries: usize,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let mut entries = group[0].request.len();
        while entries < group_entries {
            match rx.try_recv() {
                Ok(job) => {
                    entries += job.request.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let now = Timestamp::now();
        let mut writes = WritePlan::default();
        let mut accepted: Vec<(Reply, Vec<Receipt>)> = Vec::new();
        for job in group {
            match plan(store, &mut ledger, keys, job.request, now) {
                Ok(plan) => {
                    writes.extend(plan.writes);
                    accepted.push((job.reply, plan.receipts));
                }
                Err(error) => {
                    let _ = job.reply.send(Err(error));
                }
            }
        }
        if writes.is_empty() {
            for (reply, receipts) in accepted {
                let _ = reply.send(Ok(receipts));
            }
            continue;
        }
        match store.write(&writes) {
            Ok(()) => {
                for (reply, receipts) in accepted {
                    let _ = reply.send(Ok(receipts));
                }
            }
            Err(error) => {
                tracing::error!(%error, "a group write failed; its requests are rejected");
                if let Err(error) = ledger.reload(store) {
                    tracing::error!(%error, "cannot re-read the chain heads");
                }
                for (reply, _) in accepted {
                    let _ = reply.send(Err(IngestError::WriteFailed));
                }
            }
        }
    }
}

fn plan(
    store: &Store,
    ledger: &mut Ledger,
    keys: Option<&MemberKeys>,
    request: Request,
    now: Timestamp,
) -> Result<Plan, IngestError> {
    match request {
        Request::Entries(entries) => ledger.accept(store, entries, Vec::new(), now),
        Request::Events(events) => {
            let keys = keys.ok_or(IngestError::NoKey)?;
            let (entries, opened) = ledger.sign_events(keys, events, now)?;
            ledger.accept(store, entries, opened, now)
        }
    }
}
