//! The EPCIS event query on the node: which stored events match an
//! [`EventQuery`] (the SDK decides), found through the
//! node's indexes, in a stable order, one page at a time.
//!
//! The candidates come from the most selective index the query allows: the `by_event_id`
//! index for `EQ_eventID` (and `/events/{eventID}`), the product index for `MATCH_` values
//! that name one GS1 key, the bizStep or disposition index, the event-time index over an
//! `eventTime` range, the record-time index over a `recordTime` range or for
//! `orderBy=recordTime`, or the event-time index alone. Every candidate is then matched by
//! the SDK, so the index only narrows the search.
//!
//! # Order and pages
//!
//! Events come in the order of a time: `orderBy`'s (in `orderDirection`, descending unless
//! `ASC`), else event time ascending — or record time ascending for a query that restricts
//! `recordTime` and nothing an index narrows by (no `eventTime` range, product, bizStep or
//! disposition). Ties are broken by entry hash, so the order is total and the same on every
//! node.
//!
//! When the index the plan reads is ordered by that time (nearly every query), the query is
//! *walked*: a page reads the index from where the last one stopped, in order, merging the
//! index values (several products or bizSteps) time by time, and stops once it has its events
//! and one more (so it knows there is a next page) or after [`MAX_READ_PER_PAGE`] index rows,
//! returning what it found — fewer events than `perPage`, possibly none — with a token to go
//! on. No page re-runs the query and none reads more than that, however large the ledger. The
//! other queries — `EQ_eventID`, `maxEventCount` (which must count every match), and
//! `orderBy=recordTime` with a product, bizStep or disposition index — read every candidate,
//! at most [`MAX_CANDIDATES`], and sort them; past that they are refused as too complex.
//!
//! A page token names the query (a digest of its parameters), the time and entry of the last
//! event read and how many events were returned so far (`eventCountLimit` spans pages); the
//! next page starts after that event. Entries are never removed, so a token stays valid:
//! events recorded since come in the pages still to be read if they sort after the token's
//! event.

use std::collections::{HashSet, VecDeque};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tally_sdk::entry::{Payload, SignedEntry};
use tally_sdk::epcis::answer::answered_event;
use tally_sdk::epcis::document::standalone_event_hash_id;
use tally_sdk::epcis::pattern::EpcPattern;
use tally_sdk::epcis::proof::{EventProof, PROOF_FIELD};
use tally_sdk::epcis::query::{
    Bound, EventQuery, Filter, IdentifierField, OrderBy, OrderDirection, QueryError, TimeField,
    VocabularyField,
};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::time::Timestamp;

use crate::store::{Cursor, Index, MAX_PAGE, Query, ScanOrder, Store, StoreError};
use crate::witness::book::Book;

/// Most index rows one page of a walked query reads.
pub const MAX_READ_PER_PAGE: usize = 10_000;

/// How much one query may read: [`LIMITS`] on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most stored events a query that is not walked reads ([`MAX_CANDIDATES`]).
    pub candidates: usize,
    /// Most index rows one page of a walked query reads ([`MAX_READ_PER_PAGE`]).
    pub read_per_page: usize,
}

/// The node's limits.
pub const LIMITS: Limits = Limits {
    candidates: MAX_CANDIDATES,
    read_per_page: MAX_READ_PER_PAGE,
};

/// Index rows read from the store at a time while walking.
const WALK_CHUNK: usize = 256;

/// Most stored events one query reads.
pub const MAX_CANDIDATES: usize = 100_000;

/// Events per page when `perPage` is not given (the binding's default).
pub const DEFAULT_PER_PAGE: usize = 30;

/// Most events per page: a larger `perPage` gets this many.
pub const MAX_PER_PAGE: usize = MAX_PAGE;

/// A query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A parameter is wrong, or the query matches too many events.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A query read whole (`EQ_eventID`, `maxEventCount`, `orderBy=recordTime` with an EPC,
    /// bizStep or disposition) would read too many stored events.
    #[error(
        "the query would read more than {MAX_CANDIDATES} stored events; narrow it by eventTime, bizStep, disposition, an EPC or eventID, or leave out maxEventCount (without it the node reads a page at a time)"
    )]
    TooComplex,
    /// The page token was not issued for this query.
    #[error(
        "nextPageToken {0:?} was not issued for this query (give the same parameters as for the first page)"
    )]
    BadToken(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The events, answered (with `recordTime` and `tally:proof`).
    pub events: Vec<Value>,
    /// The token of the next page, if there may be more events.
    pub next_token: Option<String>,
}

/// Which time orders the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// `eventTime`.
    Event,
    /// `recordTime`: the entry's timestamp.
    Record,
}

/// The order of the answer: a time, and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Order {
    clock: Clock,
    descending: bool,
}

/// Which events to look at, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// These indexes over a range of their time (or events by id), all read and sorted.
    Collect(Vec<Query>),
    /// These indexes, each ordered by the answer's time, read a page at a time.
    Walk(Vec<Query>),
}

/// The product paths of `MATCH_` values that each name one GS1 key, looked for in lists the
/// product index covers (every identifier list, parentID and quantity lists).
fn exact_products(field: IdentifierField, patterns: &[EpcPattern]) -> Option<Vec<String>> {
    let covered = matches!(
        field,
        IdentifierField::Epc
            | IdentifierField::ParentId
            | IdentifierField::InputEpc
            | IdentifierField::OutputEpc
            | IdentifierField::AnyEpc
            | IdentifierField::Any
    );
    if !covered {
        return None;
    }
    patterns
        .iter()
        .map(|pattern| match pattern {
            EpcPattern::Exact(id) => ProductId::parse(id)
                .ok()
                .map(|p| p.digital_link_path().to_owned()),
            _ => None,
        })
        .collect()
}

/// The ranges of a query's `eventTime` and `recordTime` restrictions (from inclusive, to
/// exclusive).
#[derive(Debug, Default, Clone, Copy)]
struct Ranges {
    event: (Option<Timestamp>, Option<Timestamp>),
    record: (Option<Timestamp>, Option<Timestamp>),
}

impl Ranges {
    fn of(query: &EventQuery) -> Self {
        let mut ranges = Self::default();
        for filter in &query.filters {
            let Filter::Time { field, bound, at } = filter else {
                continue;
            };
            let range = match field {
                TimeField::EventTime => &mut ranges.event,
                TimeField::RecordTime => &mut ranges.record,
                _ => continue,
            };
            match bound {
                Bound::AtOrAfter => range.0 = Some(range.0.map_or(*at, |f| f.max(*at))),
                Bound::Before => range.1 = Some(range.1.map_or(*at, |t| t.min(*at))),
            }
        }
        ranges
    }
}

/// The index values a query's filters narrow to: products named exactly, else bizSteps, else
/// dispositions.
fn narrowing(query: &EventQuery) -> Option<Vec<Index>> {
    let mut products = None;
    let mut biz_steps = None;
    let mut dispositions = None;
    for filter in &query.filters {
        match filter {
            Filter::Identifier { field, patterns } if products.is_none() => {
                products = exact_products(*field, patterns);
            }
            Filter::Vocabulary {
                field: VocabularyField::BizStep,
                values,
            } => biz_steps = Some(values.clone()),
            Filter::Vocabulary {
                field: VocabularyField::Disposition,
                values,
            } => dispositions = Some(values.clone()),
            _ => {}
        }
    }
    if let Some(paths) = products {
        Some(paths.into_iter().map(Index::Product).collect())
    } else if let Some(values) = biz_steps {
        Some(values.into_iter().map(Index::BizStep).collect())
    } else {
        dispositions.map(|values| values.into_iter().map(Index::Disposition).collect())
    }
}

/// The order of `query`'s answer.
fn order(query: &EventQuery, ranges: &Ranges, narrowed: bool) -> Order {
    let descending = query.order_direction == OrderDirection::Descending;
    match query.order_by {
        Some(OrderBy::EventTime) => Order {
            clock: Clock::Event,
            descending,
        },
        Some(OrderBy::RecordTime) => Order {
            clock: Clock::Record,
            descending,
        },
        None => {
            let record_only =
                !narrowed && ranges.event == (None, None) && ranges.record != (None, None);
            Order {
                clock: if record_only {
                    Clock::Record
                } else {
                    Clock::Event
                },
                descending: false,
            }
        }
    }
}

fn plan(
    query: &EventQuery,
    id: Option<&str>,
    narrowed: Option<Vec<Index>>,
    order: Order,
    ranges: &Ranges,
) -> Plan {
    let ids = match id {
        Some(id) => Some(vec![id.to_owned()]),
        None => query.event_ids().map(<[String]>::to_vec),
    };
    if let Some(ids) = ids {
        let by_id = |id| Query {
            index: Index::EventId(id),
            from: None,
            to: None,
        };
        return Plan::Collect(ids.into_iter().map(by_id).collect());
    }
    let (from, to) = ranges.event;
    // Every index is ordered by event time within a value, but the record-time index.
    let (queries, ordered_by_clock) = match narrowed {
        Some(indexes) => (
            indexes
                .into_iter()
                .map(|index| Query { index, from, to })
                .collect(),
            order.clock == Clock::Event,
        ),
        None if order.clock == Clock::Record => {
            let (from, to) = ranges.record;
            (
                vec![Query {
                    index: Index::RecordTime,
                    from,
                    to,
                }],
                true,
            )
        }
        None => (
            vec![Query {
                index: Index::Time,
                from,
                to,
            }],
            true,
        ),
    };
    if ordered_by_clock && query.max_event_count.is_none() {
        Plan::Walk(queries)
    } else {
        Plan::Collect(queries)
    }
}

/// Where a page token says to go on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token {
    /// The time (the answer's) of the last event read.
    time: Timestamp,
    /// Its entry.
    hash: EntryHash,
    /// Events returned by the pages before.
    returned: usize,
}

impl Token {
    fn format(&self, fingerprint: &str) -> String {
        format!(
            "{fingerprint}.{}.{}.{}",
            self.time.millis(),
            self.hash,
            self.returned
        )
    }

    fn parse(text: &str, fingerprint: &str) -> Result<Self, SearchError> {
        let bad = || SearchError::BadToken(text.chars().take(100).collect());
        let mut parts = text.split('.');
        if parts.next() != Some(fingerprint) {
            return Err(bad());
        }
        let (Some(time), Some(hash), Some(returned), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            time: Timestamp(time.parse().map_err(|_| bad())?),
            hash: hash.parse().map_err(|_| bad())?,
            returned: returned.parse().map_err(|_| bad())?,
        })
    }
}

/// A candidate that matches the query, answered, with what orders it.
struct Matched {
    hash: EntryHash,
    entry: SignedEntry,
    event: Value,
    time: Option<Timestamp>,
}

/// The candidate answered, if it is an event that matches (and has eventID `id`, if given).
fn matching(
    query: &EventQuery,
    id: Option<&str>,
    hash: &EntryHash,
    entry: &SignedEntry,
) -> Result<Option<Value>, SearchError> {
    let Payload::Event { event, .. } = &entry.body.payload else {
        return Ok(None);
    };
    let value = event
        .to_value()
        .map_err(|e| crate::store::corrupted(format!("the event of entry {hash}: {e}")))?;
    // `/events/{id}` names an event by its eventID or by its Event Hash ID.
    if let Some(id) = id
        && value.get("eventID").and_then(Value::as_str) != Some(id)
        && !standalone_event_hash_id(&value).is_ok_and(|hash_id| hash_id == id)
    {
        return Ok(None);
    }
    let answered = answered_event(&value, Some(entry.body.timestamp), None);
    Ok(query.matches(&answered).then_some(answered))
}

/// A digest of a query's parameters, without the paging ones: what a page token is bound to.
pub fn fingerprint(query_string: &str, resource: &str) -> String {
    let mut pairs: Vec<&str> = query_string
        .split('&')
        .filter(|pair| {
            !pair.is_empty()
                && !pair.starts_with("nextPageToken=")
                && !pair.starts_with("perPage=")
                && *pair != "nextPageToken"
                && *pair != "perPage"
        })
        .collect();
    pairs.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(resource.as_bytes());
    for pair in pairs {
        hasher.update([0]);
        hasher.update(pair.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Answers `query`: one page of the matching events. `id` restricts the answer to events
/// whose `eventID` it is (the `/events/{eventID}` resource); `fingerprint`
/// ([`fingerprint`]) binds page tokens to the query.
pub fn search(
    store: &dyn Store,
    book: &Book,
    query: &EventQuery,
    id: Option<&str>,
    fingerprint: &str,
) -> Result<SearchPage, SearchError> {
    search_within(store, book, query, id, fingerprint, LIMITS)
}

/// [`search`] within other [`Limits`].
pub fn search_within(
    store: &dyn Store,
    book: &Book,
    query: &EventQuery,
    id: Option<&str>,
    fingerprint: &str,
    limits: Limits,
) -> Result<SearchPage, SearchError> {
    let ranges = Ranges::of(query);
    let narrowed = narrowing(query);
    let order = order(query, &ranges, narrowed.is_some());
    let token = query
        .next_page_token
        .as_deref()
        .map(|text| Token::parse(text, fingerprint))
        .transpose()?;
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let reading = Reading {
        store,
        query,
        order,
        per_page,
        limits,
    };
    let (page, next) = match plan(query, id, narrowed, order, &ranges) {
        Plan::Walk(queries) => walk(&reading, queries, token)?,
        Plan::Collect(queries) => collect(&reading, id, queries, token)?,
    };
    Ok(SearchPage {
        events: answer(store, book, page)?,
        next_token: next.map(|token| token.format(fingerprint)),
    })
}

/// The events of a page, with their proofs.
fn answer(store: &dyn Store, book: &Book, page: Vec<Matched>) -> Result<Vec<Value>, SearchError> {
    let forks = crate::forks::fork_points(store)?;
    let mut events = Vec::with_capacity(page.len());
    for item in page {
        let proof = EventProof {
            entry: item.hash,
            signer: item.entry.body.author.clone(),
            sequence: item.entry.body.seq,
            witnessed: book.witnessed(&item.entry.body.author, item.entry.body.seq)?,
            forked: forks.is_forked(&item.entry.body.author, item.entry.body.seq),
        };
        let mut event = item.event;
        if let (Value::Object(map), Ok(proof)) = (&mut event, serde_json::to_value(&proof)) {
            map.insert(PROOF_FIELD.to_owned(), proof);
        }
        events.push(event);
    }
    Ok(events)
}

/// The time of an answered event by `clock`.
fn time_of(entry: &SignedEntry, event: &Value, clock: Clock) -> Option<Timestamp> {
    match clock {
        Clock::Record => Some(entry.body.timestamp),
        Clock::Event => event
            .get("eventTime")
            .and_then(Value::as_str)
            .and_then(|t| Timestamp::parse_rfc3339(t).ok()),
    }
}

/// What one page is read with.
struct Reading<'a> {
    store: &'a dyn Store,
    query: &'a EventQuery,
    order: Order,
    per_page: usize,
    limits: Limits,
}

impl<'a> Reading<'a> {
    fn parts(&self) -> (&'a dyn Store, &'a EventQuery, Order, usize, Limits) {
        (
            self.store,
            self.query,
            self.order,
            self.per_page,
            self.limits,
        )
    }
}

/// Reads every candidate of `queries`, matches and sorts them, and cuts the page out.
fn collect(
    reading: &Reading,
    id: Option<&str>,
    queries: Vec<Query>,
    token: Option<Token>,
) -> Result<(Vec<Matched>, Option<Token>), SearchError> {
    let (store, query, order, per_page, limits) = reading.parts();
    let mut seen = HashSet::new();
    let mut matched = Vec::new();
    for index_query in queries {
        let mut cursor = None;
        loop {
            let page = store.query(&index_query, cursor.as_ref(), MAX_PAGE)?;
            for (hash, entry) in page.entries {
                if !seen.insert(hash) {
                    continue;
                }
                if seen.len() > limits.candidates {
                    return Err(SearchError::TooComplex);
                }
                if let Some(event) = matching(query, id, &hash, &entry)? {
                    let time = time_of(&entry, &event, order.clock);
                    matched.push(Matched {
                        hash,
                        entry,
                        event,
                        time,
                    });
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    matched.sort_by(|a, b| {
        let by_time = match (a.time, b.time) {
            (Some(x), Some(y)) if order.descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_time.then_with(|| a.hash.cmp(&b.hash))
    });
    query.check_count(matched.len())?;
    if let Some(limit) = query.event_count_limit {
        matched.truncate(limit);
    }
    let start = match token {
        None => 0,
        Some(token) => matched
            .iter()
            .position(|m| m.hash == token.hash)
            .map(|i| i + 1)
            .ok_or_else(|| SearchError::BadToken(token.hash.to_string()))?,
    };
    let total = matched.len();
    let end = start.saturating_add(per_page).min(total);
    let page: Vec<Matched> = matched.into_iter().take(end).skip(start).collect();
    let next = match page.last() {
        Some(last) if end < total => Some(Token {
            time: last.time.unwrap_or_default(),
            hash: last.hash,
            returned: end,
        }),
        _ => None,
    };
    Ok((page, next))
}

/// One index value's rows, read a chunk at a time in the walk's direction.
struct Stream<'a> {
    store: &'a dyn Store,
    query: Query,
    order: ScanOrder,
    cursor: Option<Cursor>,
    exhausted: bool,
    rows: VecDeque<(Timestamp, EntryHash, SignedEntry)>,
}

impl<'a> Stream<'a> {
    fn new(store: &'a dyn Store, mut query: Query, order: Order, after: Option<&Token>) -> Self {
        // Start at the token's time: its time group is read again, and what was read of it
        // skipped by hash.
        if let Some(token) = after {
            if order.descending {
                let through = Timestamp(token.time.millis().saturating_add(1));
                query.to = Some(query.to.map_or(through, |to| to.min(through)));
            } else {
                query.from = Some(query.from.map_or(token.time, |from| from.max(token.time)));
            }
        }
        Self {
            store,
            query,
            order: if order.descending {
                ScanOrder::Descending
            } else {
                ScanOrder::Ascending
            },
            cursor: None,
            exhausted: false,
            rows: VecDeque::new(),
        }
    }

    /// The time of the next row, reading a chunk if needed.
    fn next_time(&mut self) -> Result<Option<Timestamp>, SearchError> {
        if self.rows.is_empty() && !self.exhausted {
            let page = self.store.query_ordered(
                &self.query,
                self.cursor.as_ref(),
                WALK_CHUNK,
                self.order,
            )?;
            self.exhausted = page.next.is_none();
            self.cursor = page.next;
            self.rows.extend(
                page.times
                    .into_iter()
                    .zip(page.entries)
                    .map(|(time, (hash, entry))| (time, hash, entry)),
            );
        }
        Ok(self.rows.front().map(|(time, _, _)| *time))
    }
}

/// Walks the indexes of `queries` in the answer's order from `token`, and returns the page's
/// matches and, if there may be more, the token of the next page.
fn walk(
    reading: &Reading,
    queries: Vec<Query>,
    token: Option<Token>,
) -> Result<(Vec<Matched>, Option<Token>), SearchError> {
    let (store, query, order, per_page, limits) = reading.parts();
    let returned = token.map_or(0, |t| t.returned);
    let remaining = query
        .event_count_limit
        .map_or(usize::MAX, |limit| limit.saturating_sub(returned));
    let wanted = per_page.min(remaining);
    let mut page: Vec<Matched> = Vec::with_capacity(wanted);
    if wanted == 0 {
        return Ok((page, None));
    }
    let mut streams: Vec<Stream> = queries
        .into_iter()
        .map(|q| Stream::new(store, q, order, token.as_ref()))
        .collect();
    let next_token = |time: Timestamp, hash: EntryHash, page: &[Matched]| Token {
        time,
        hash,
        returned: returned.saturating_add(page.len()),
    };
    let mut read = 0;
    loop {
        // The next time of the walk, and every row at it (from every index value, once each).
        let mut next = None;
        for stream in &mut streams {
            if let Some(time) = stream.next_time()? {
                next = Some(match next {
                    Some(n) if order.descending => time.max(n),
                    Some(n) => time.min(n),
                    None => time,
                });
            }
        }
        let Some(time) = next else {
            return Ok((page, None));
        };
        let mut group = Vec::new();
        for stream in &mut streams {
            while stream.next_time()? == Some(time) {
                if let Some((_, hash, entry)) = stream.rows.pop_front() {
                    group.push((hash, entry));
                }
            }
        }
        group.sort_by_key(|row| row.0);
        group.dedup_by(|a, b| a.0 == b.0);
        for (hash, entry) in group {
            if token.is_some_and(|t| t.time == time && hash <= t.hash) {
                continue;
            }
            read += 1;
            if let Some(event) = matching(query, None, &hash, &entry)? {
                if page.len() == wanted {
                    // One more: there is a next page, which starts after this page's last.
                    let next = page
                        .last()
                        .map(|last| next_token(last.time.unwrap_or(time), last.hash, &page));
                    return Ok((page, next));
                }
                page.push(Matched {
                    hash,
                    entry,
                    event,
                    time: Some(time),
                });
                if page.len() == remaining {
                    return Ok((page, None));
                }
            }
            if read >= limits.read_per_page {
                // Read enough for one page: go on from here next time.
                let next = next_token(time, hash, &page);
                return Ok((page, Some(next)));
            }
        }
    }
}
