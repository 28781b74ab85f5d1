//! EPCIS capture on the node: a document the SDK checked ([`tally_sdk::epcis::document`])
//! recorded as entries of the member's chain, all or nothing, and the capture job that
//! reports it.
//!
//! An event already recorded (by any member, or earlier in the same document) is not recorded
//! again: it counts as a duplicate. Recorded already means: a stored event found under the
//! captured event's `eventID` or under its Event Hash ID (the `eventID` capture assigns to an
//! event without one; the `by_event_id` index also lists an event this node captured under its
//! hash ID, [`crate::ingest::IndexFacts::hash_id`]), with the same Event Hash ID and
//! the same `errorDeclaration` (the hash ID leaves the declaration out, so that an error
//! declaration has the hash ID of the event it declares wrong; it is a new statement, and is
//! recorded). So an event sent again is recognised whether it has its own `eventID`, had
//! none, or comes under a new one. The hash ID covers the event as recorded, so an event sent
//! again with other private fields is still a duplicate.
//! Captures run side by side, each waiting only for those recording one of its events
//! ([`super::inflight`]), so two captures of one event cannot both miss each other.
//!
//! Capture jobs are kept in the `captures` column family for [`JOB_RETENTION`]; their ids
//! sort by creation time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_sdk::entry::Payload;
use tally_sdk::epcis::document::{CapturedEvent, NotRecorded, Problem, standalone_event_hash_id};
use tally_sdk::epcis::exception::EpcisException;
use tally_sdk::hash::EntryHash;
use tally_sdk::time::Timestamp;
use utoipa::ToSchema;

use crate::ingest::{ClassifiedInput, IngestError, Receipt};
use crate::store::{Batch, Cf, Index, KeyRange, MAX_PAGE, Query, Store, StoreError};

/// How long a capture job is kept: 30 days.
pub const JOB_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The only capture error behaviour: a document is captured whole or not at all.
pub const ROLLBACK: &str = "rollback";

/// A capture job, as the binding's `CaptureJob` with Tally's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaptureJob {
    /// The job's id.
    #[serde(rename = "captureID")]
    pub capture_id: String,
    /// When the capture was received.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// When it finished.
    #[serde(rename = "finishedAt", skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Whether it is still running (never, once a job can be read: a capture is answered
    /// when it has finished).
    pub running: bool,
    /// Whether every event was recorded (or found recorded already).
    pub success: bool,
    /// Always `rollback`.
    #[serde(rename = "captureErrorBehaviour")]
    pub capture_error_behaviour: String,
    /// Why the capture failed, per event.
    pub errors: Vec<EventProblem>,
    /// How many events the document held.
    #[serde(rename = "tally:events")]
    pub events: usize,
    /// How many were recorded as new entries.
    #[serde(rename = "tally:recorded")]
    pub recorded: usize,
    /// How many were recorded already (same Event Hash ID), and not again.
    #[serde(rename = "tally:duplicates")]
    pub duplicates: usize,
    /// Which events those were, and the entry that records each (the first
    /// [`MAX_LISTED_DUPLICATES`]).
    #[serde(rename = "tally:duplicateEvents", default)]
    pub duplicate_events: Vec<DuplicateEvent>,
    /// What the document held that was accepted and not recorded (header master data), each
    /// with why; absent when nothing was left out.
    #[serde(
        rename = "tally:notRecorded",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub not_recorded: Vec<NotRecordedPart>,
}

/// A part of a captured document that was accepted and not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotRecordedPart {
    /// Its JSON path in the document.
    pub path: String,
    /// Why, and what to do instead.
    pub reason: String,
}

impl From<NotRecorded> for NotRecordedPart {
    fn from(part: NotRecorded) -> Self {
        Self {
            path: part.path,
            reason: part.reason,
        }
    }
}

/// Most duplicates a job lists one by one.
pub const MAX_LISTED_DUPLICATES: usize = 100;

/// An event of a capture that was recorded already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DuplicateEvent {
    /// Its index in the document's event list.
    #[serde(rename = "eventIndex")]
    pub event_index: usize,
    /// Its `eventID` as sent (or assigned).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// The entry recording the event (whose `eventID` may differ: an identical event is
    /// recognised by its Event Hash ID); none if that entry was to be recorded by this
    /// capture and the capture failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub entry: Option<EntryHash>,
}

/// One problem of a capture: an RFC 9457 problem, with the event it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventProblem {
    /// `epcisException:…`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The exception's title.
    pub title: String,
    /// The HTTP status the exception has.
    pub status: u16,
    /// What is wrong.
    pub detail: String,
    /// The event's index in the document's event list, from 0 (none for the document).
    #[serde(rename = "eventIndex", skip_serializing_if = "Option::is_none")]
    pub event_index: Option<usize>,
    /// The event's `eventID`, if it has one.
    #[serde(rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// JSON path of the offending value inside the event (or the document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl EventProblem {
    /// A problem of the binding's `exception`.
    pub fn new(exception: EpcisException, detail: impl Into<String>) -> Self {
        Self {
            kind: exception.type_uri(),
            title: exception.title().to_owned(),
            status: exception.status(),
            detail: detail.into(),
            event_index: None,
            event_id: None,
            path: None,
        }
    }
}

impl From<&Problem> for EventProblem {
    fn from(problem: &Problem) -> Self {
        Self {
            event_index: problem.index,
            event_id: problem.event_id.clone(),
            path: Some(problem.path.clone()),
            ..Self::new(EpcisException::ValidationException, problem.problem.clone())
        }
    }
}

/// A new capture id: the creation time in milliseconds (12 hex digits, so ids sort by time)
/// and 8 random bytes.
pub fn new_capture_id(now: Timestamp) -> Result<String, getrandom::Error> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)?;
    Ok(format!("{:012x}{}", now.millis(), hex::encode(random)))
}

/// What to record of a document: the events not recorded yet, each with its index in the
/// document.
#[derive(Debug, Default)]
pub struct CapturePlan {
    /// The events to record, in document order.
    pub inputs: Vec<ClassifiedInput>,
    /// For each input, its event's index in the document.
    pub indexes: Vec<usize>,
    /// For each input, its event's `eventID`.
    pub event_ids: Vec<String>,
    /// For each input, its event's Event Hash ID (indexed with the entry).
    pub hash_ids: Vec<String>,
    /// How many events were recorded already.
    pub duplicates: usize,
    /// The first [`MAX_LISTED_DUPLICATES`] of them, each with the entry that records it or
    /// the input (index in `inputs`) that will.
    pub duplicate_events: Vec<(usize, String, RecordedBy)>,
}

/// What records a duplicate event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedBy {
    /// A stored entry.
    Entry(EntryHash),
    /// An event of the same capture (its index among the plan's inputs).
    Input(usize),
}

impl CapturePlan {
    /// The job's list of duplicates, once the inputs are recorded as `entries` (none if the
    /// capture failed).
    pub fn duplicate_events(&self, entries: Option<&[EntryHash]>) -> Vec<DuplicateEvent> {
        self.duplicate_events
            .iter()
            .map(|(event_index, event_id, by)| DuplicateEvent {
                event_index: *event_index,
                event_id: event_id.clone(),
                entry: match by {
                    RecordedBy::Entry(hash) => Some(*hash),
                    RecordedBy::Input(input) => entries.and_then(|e| e.get(*input).copied()),
                },
            })
            .collect()
    }
}

/// Splits a document's events into those to record and the duplicates.
pub fn plan(store: &dyn Store, events: Vec<CapturedEvent>) -> Result<CapturePlan, StoreError> {
    let mut plan = CapturePlan::default();
    let mut seen = HashMap::new();
    for event in events {
        let declaration = event.event.get(ERROR_DECLARATION);
        let key = (
            event.hash_id.clone(),
            declaration.map(Value::to_string).unwrap_or_default(),
        );
        let by = match seen.get(&key) {
            Some(input) => Some(RecordedBy::Input(*input)),
            None => recorded(store, &event.event_id, &event.hash_id, declaration)?
                .map(RecordedBy::Entry),
        };
        if let Some(by) = by {
            plan.duplicates += 1;
            if plan.duplicate_events.len() < MAX_LISTED_DUPLICATES {
                plan.duplicate_events
                    .push((event.index, event.event_id, by));
            }
            continue;
        }
        seen.insert(key, plan.inputs.len());
        plan.indexes.push(event.index);
        plan.event_ids.push(event.event_id);
        plan.hash_ids.push(event.hash_id);
        plan.inputs.push(ClassifiedInput {
            event: event.classified,
            refs: event.refs,
            private: event.private,
        });
    }
    Ok(plan)
}

/// The field that makes an event an error declaration.
const ERROR_DECLARATION: &str = "errorDeclaration";

/// The entry recording, under `event_id` or under `hash_id` as eventID, an event with this
/// Event Hash ID and error declaration (none for an event that is not one), if one is stored.
pub fn recorded(
    store: &dyn Store,
    event_id: &str,
    hash_id: &str,
    error_declaration: Option<&Value>,
) -> Result<Option<EntryHash>, StoreError> {
    for id in [event_id, hash_id] {
        if let Some(found) = recorded_under(store, id, hash_id, error_declaration)? {
            return Ok(Some(found));
        }
        if event_id == hash_id {
            break;
        }
    }
    Ok(None)
}

fn recorded_under(
    store: &dyn Store,
    id: &str,
    hash_id: &str,
    error_declaration: Option<&Value>,
) -> Result<Option<EntryHash>, StoreError> {
    let query = Query {
        index: Index::EventId(id.to_owned()),
        from: None,
        to: None,
    };
    let mut cursor = None;
    loop {
        let page = store.query(&query, cursor.as_ref(), MAX_PAGE)?;
        for (hash, entry) in &page.entries {
            if let Payload::Event { event, .. } = &entry.body.payload
                && let Ok(value) = event.to_value()
                && value.get(ERROR_DECLARATION) == error_declaration
                && standalone_event_hash_id(&value).is_ok_and(|id| id == hash_id)
            {
                return Ok(Some(*hash));
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(None),
        }
    }
}

/// The job's problems for a refused recording: each refused item named by its event.
pub fn ingest_problems(plan: &CapturePlan, error: &IngestError) -> Vec<EventProblem> {
    match error {
        IngestError::Rejected(list) => list
            .iter()
            .map(|refused| {
                let mut problem = EventProblem::new(
                    EpcisException::ValidationException,
                    refused.problem.to_string(),
                );
                problem.event_index = plan.indexes.get(refused.index).copied();
                problem.event_id = plan.event_ids.get(refused.index).cloned();
                problem
            })
            .collect(),
        other => vec![EventProblem::new(
            EpcisException::ImplementationException,
            other.to_string(),
        )],
    }
}

/// The job of a capture whose events the writer has placed: what it recorded, and the entry
/// that records each duplicate listed. `receipts` are the placed inputs', in order.
pub fn finished_job(
    mut job: CaptureJob,
    plan: &CapturePlan,
    receipts: &[Receipt],
    finished: Timestamp,
) -> CaptureJob {
    job.recorded = receipts.iter().filter(|r| !r.duplicate).count();
    let entries: Vec<EntryHash> = receipts.iter().map(|r| r.hash).collect();
    job.duplicate_events = plan.duplicate_events(Some(&entries));
    job.finished_at = Some(finished.to_rfc3339());
    job
}

/// The row that stores a finished job.
pub fn job_row(job: &CaptureJob) -> Result<Batch, StoreError> {
    let json = serde_json::to_vec(job)
        .map_err(|e| StoreError::Backend(format!("a capture job cannot be encoded: {e}")))?;
    let mut batch = Batch::default();
    batch.put(Cf::Captures, job.capture_id.as_bytes().to_vec(), json);
    Ok(batch)
}

/// Stores a finished job on its own. (A job whose events are recorded is stored with them
/// instead: [`crate::ingest::PreparedEvents::with_rows`].)
pub fn save_job(store: &dyn Store, job: &CaptureJob) -> Result<(), StoreError> {
    store.write(job_row(job)?)
}

/// Forgets jobs older than [`JOB_RETENTION`]; writes only when there are some.
pub fn forget_expired_jobs(store: &dyn Store, now: Timestamp) -> Result<(), StoreError> {
    let retention = u64::try_from(JOB_RETENTION.as_millis()).unwrap_or(u64::MAX);
    let cutoff = format!("{:012x}", now.millis().saturating_sub(retention));
    let expired = store.scan(
        Cf::Captures,
        &KeyRange {
            start: Vec::new(),
            end: Some(cutoff.into_bytes()),
        },
        MAX_PAGE,
    )?;
    if expired.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::default();
    for (key, _) in expired {
        batch.delete(Cf::Captures, key);
    }
    store.write(batch)
}

/// How often a node looks for expired capture jobs: once a minute however many captures it
/// takes. Each look scans the jobs from the oldest, over the deleted ones' tombstones until
/// compaction drops them, so once a capture would make a busy node pay for it thousands of
/// times a minute.
pub const EXPIRY_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// When a node's captures next forget expired jobs; one for all of a node's captures.
#[derive(Debug, Default)]
pub struct ExpirySweep {
    next_at_millis: AtomicU64,
}

impl ExpirySweep {
    /// Whether the caller is to forget expired jobs now ([`forget_expired_jobs`]): yes for
    /// the first caller at or after the time due, which moves it [`EXPIRY_SWEEP_INTERVAL`]
    /// on; no for every other. A clock set back by more than the interval makes it due at
    /// once, so a clock once wrong far ahead cannot stop the sweeps until it is reached again.
    pub fn due(&self, now: Timestamp) -> bool {
        let interval = u64::try_from(EXPIRY_SWEEP_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let next = self.next_at_millis.load(AtomicOrdering::Relaxed);
        let now_millis = now.millis();
        (now_millis >= next || next > now_millis.saturating_add(interval))
            && self
                .next_at_millis
                .compare_exchange(
                    next,
                    now_millis.saturating_add(interval),
                    AtomicOrdering::Relaxed,
                    AtomicOrdering::Relaxed,
                )
                .is_ok()
    }
}

/// A stored job.
pub fn job(store: &dyn Store, capture_id: &str) -> Result<Option<CaptureJob>, StoreError> {
    store
        .get(Cf::Captures, capture_id.as_bytes())?
        .map(|bytes| parse_job(&bytes))
        .transpose()
}

fn parse_job(bytes: &[u8]) -> Result<CaptureJob, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| crate::store::corrupted(format!("a capture job is damaged: {e}")))
}

/// One page of jobs, oldest first, after the job `after` (a capture id); with the id to
/// continue after when there may be more.
pub fn jobs(
    store: &dyn Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<CaptureJob>, Option<String>), StoreError> {
    let start = match after {
        Some(id) => {
            let mut key = id.as_bytes().to_vec();
            key.push(0);
            key
        }
        None => Vec::new(),
    };
    let rows = store.scan(Cf::Captures, &KeyRange { start, end: None }, limit)?;
    let jobs = rows
        .iter()
        .map(|(_, value)| parse_job(value))
        .collect::<Result<Vec<_>, _>>()?;
    let next = if rows.len() == limit {
        jobs.last().map(|job| job.capture_id.clone())
    } else {
        None
    };
    Ok((jobs, next))
}

/// Whether a value is acceptable as a capture id in a path (what [`new_capture_id`] makes).
pub fn is_capture_id(text: &str) -> bool {
    text.len() == 28 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn job_at(now: Timestamp) -> CaptureJob {
        CaptureJob {
            capture_id: new_capture_id(now).unwrap(),
            created_at: now.to_rfc3339(),
            finished_at: Some(now.to_rfc3339()),
            running: false,
            success: true,
            capture_error_behaviour: ROLLBACK.to_owned(),
            errors: Vec::new(),
            events: 1,
            recorded: 1,
            duplicates: 0,
            duplicate_events: Vec::new(),
            not_recorded: Vec::new(),
        }
    }

    #[test]
    fn ids_sort_by_time_and_are_recognised() {
        let early = new_capture_id(Timestamp(1_000)).unwrap();
        let late = new_capture_id(Timestamp(2_000)).unwrap();
        assert!(early < late);
        assert!(is_capture_id(&early));
        assert!(!is_capture_id("../../etc"));
        assert!(!is_capture_id(&early[1..]));
    }

    #[test]
    fn jobs_are_kept_listed_and_expire() {
        let store = MemoryStore::new();
        let day = 24 * 3600 * 1000;
        let old = job_at(Timestamp(day));
        save_job(&store, &old).unwrap();
        let recent = job_at(Timestamp(20 * day));
        save_job(&store, &recent).unwrap();
        assert_eq!(job(&store, &old.capture_id).unwrap(), Some(old.clone()));
        let (page, next) = jobs(&store, None, 1).unwrap();
        assert_eq!(page, vec![old.clone()]);
        let (page, next) = jobs(&store, next.as_deref(), 1).unwrap();
        assert_eq!(page, vec![recent.clone()]);
        assert_eq!(jobs(&store, next.as_deref(), 1).unwrap().0, Vec::new());
        // Thirty days on, the first is still kept; a day later it is forgotten.
        forget_expired_jobs(&store, Timestamp(31 * day - 1)).unwrap();
        assert_eq!(job(&store, &old.capture_id).unwrap(), Some(old.clone()));
        forget_expired_jobs(&store, Timestamp(32 * day)).unwrap();
        assert_eq!(job(&store, &old.capture_id).unwrap(), None);
        assert_eq!(job(&store, &recent.capture_id).unwrap(), Some(recent));
    }

    #[test]
    fn forgetting_writes_only_when_a_job_expired() {
        let store = MemoryStore::new();
        save_job(&store, &job_at(Timestamp(1_000))).unwrap();
        let writes = store.writes();
        forget_expired_jobs(&store, Timestamp(2_000)).unwrap();
        assert_eq!(store.writes(), writes);
    }

    #[test]
    fn expired_jobs_are_looked_for_once_an_interval_however_many_captures() {
        let sweep = ExpirySweep::default();
        let minute = 60_000;
        assert!(sweep.due(Timestamp(5 * minute)), "the first capture looks");
        assert!(!sweep.due(Timestamp(5 * minute)));
        assert!(!sweep.due(Timestamp(6 * minute - 1)));
        assert!(
            sweep.due(Timestamp(6 * minute)),
            "a minute on, one looks again"
        );
        assert!(!sweep.due(Timestamp(6 * minute)));
        // A clock set back a little does not make every capture look; set back further
        // than the interval, the next capture looks and the minute restarts from there.
        assert!(!sweep.due(Timestamp(6 * minute + 1)));
        assert!(sweep.due(Timestamp(minute)));
        assert!(!sweep.due(Timestamp(minute)));
        assert!(sweep.due(Timestamp(2 * minute)));
    }
}
