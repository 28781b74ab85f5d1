//! The EPCIS event query on the node: which stored events match an
//! [`EventQuery`](tally_sdk::epcis::query::EventQuery) (the SDK decides), found through the
//! node's indexes, in a stable order, one page at a time.
//!
//! The candidates come from the most selective index the query allows: the `by_event_id`
//! index for `EQ_eventID` (and `/events/{eventID}`), the product index for `MATCH_` values
//! that name one GS1 key, the bizStep or disposition index, the time index over an
//! `eventTime` range, or all events. Every candidate is then matched by the SDK, so the index
//! only narrows the search. At most [`MAX_CANDIDATES`] candidates are read: a query that
//! would read more is refused as too complex, with advice to narrow it.
//!
//! # Order and pages
//!
//! Without `orderBy`, events come in event-time order; with it, by that time in
//! `orderDirection`. Ties are broken by entry hash, so the order is total and the same on
//! every node. A page token names the query (a digest of its parameters) and the entry of the
//! page's last event; the next page starts after that event. Entries are never removed, so a
//! token stays valid: events recorded since come in the pages still to be read if they sort
//! after the token's event.

use std::collections::HashSet;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tally_sdk::entry::{Payload, SignedEntry};
use tally_sdk::epcis::answer::answered_event;
use tally_sdk::epcis::pattern::EpcPattern;
use tally_sdk::epcis::proof::{EventProof, PROOF_FIELD};
use tally_sdk::epcis::query::{
    Bound, EventQuery, Filter, IdentifierField, OrderBy, OrderDirection, QueryError, TimeField,
    VocabularyField,
};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::time::Timestamp;

use crate::store::{Index, MAX_PAGE, Query, Store, StoreError};
use crate::witness::book::Book;

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
    /// The query would read too many stored events.
    #[error(
        "the query would read more than {MAX_CANDIDATES} stored events; narrow it by eventTime, bizStep, disposition, an EPC or eventID"
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
    /// The token of the next page, if there is one.
    pub next_token: Option<String>,
    /// How many events match in all.
    pub total: usize,
}

/// Which events to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Events by id.
    Ids(Vec<String>),
    /// The events of these index values (each a product path, bizStep or disposition; or the
    /// time index alone), in an event-time range.
    Indexed {
        indexes: Vec<Index>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    },
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

fn plan(query: &EventQuery, ids: Option<&str>) -> Plan {
    if let Some(id) = ids {
        return Plan::Ids(vec![id.to_owned()]);
    }
    if let Some(ids) = query.event_ids() {
        return Plan::Ids(ids.to_vec());
    }
    let mut products = None;
    let mut biz_steps = None;
    let mut dispositions = None;
    let mut from = None;
    let mut to = None;
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
            Filter::Time {
                field: TimeField::EventTime,
                bound,
                at,
            } => match bound {
                Bound::AtOrAfter => from = Some(from.map_or(*at, |f: Timestamp| f.max(*at))),
                Bound::Before => to = Some(to.map_or(*at, |t: Timestamp| t.min(*at))),
            },
            _ => {}
        }
    }
    // Every index is ordered by event time within a value, so the time range narrows each.
    let indexes = if let Some(paths) = products {
        paths.into_iter().map(Index::Product).collect()
    } else if let Some(values) = biz_steps {
        values.into_iter().map(Index::BizStep).collect()
    } else if let Some(values) = dispositions {
        values.into_iter().map(Index::Disposition).collect()
    } else {
        vec![Index::Time]
    };
    Plan::Indexed { indexes, from, to }
}

/// The stored entries the plan names, each once.
fn candidates(store: &dyn Store, plan: Plan) -> Result<Vec<(EntryHash, SignedEntry)>, SearchError> {
    let queries: Vec<Query> = match plan {
        Plan::Ids(ids) => ids
            .into_iter()
            .map(|id| Query {
                index: Index::EventId(id),
                from: None,
                to: None,
            })
            .collect(),
        Plan::Indexed { indexes, from, to } => indexes
            .into_iter()
            .map(|index| Query { index, from, to })
            .collect(),
    };
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for query in queries {
        let mut cursor = None;
        loop {
            let page = store.query(&query, cursor.as_ref(), MAX_PAGE)?;
            for (hash, entry) in page.entries {
                if seen.insert(hash) {
                    if found.len() == MAX_CANDIDATES {
                        return Err(SearchError::TooComplex);
                    }
                    found.push((hash, entry));
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(found)
}

/// A matching event with what orders it.
struct Matched {
    hash: EntryHash,
    entry: SignedEntry,
    event: Value,
    key: Option<Timestamp>,
}

fn time_of(event: &Value, field: &str) -> Option<Timestamp> {
    event
        .get(field)
        .and_then(Value::as_str)
        .and_then(|t| Timestamp::parse_rfc3339(t).ok())
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
    let mut matched = Vec::new();
    for (hash, entry) in candidates(store, plan(query, id))? {
        let Payload::Event { event, .. } = &entry.body.payload else {
            continue;
        };
        let value = event
            .to_value()
            .map_err(|e| crate::store::corrupted(format!("the event of entry {hash}: {e}")))?;
        let answered = answered_event(&value, Some(entry.body.timestamp), None);
        if id.is_some() && value.get("eventID").and_then(Value::as_str) != id {
            continue;
        }
        if !query.matches(&answered) {
            continue;
        }
        let key = match query.order_by {
            Some(OrderBy::RecordTime) => Some(entry.body.timestamp),
            Some(OrderBy::EventTime) | None => time_of(&answered, "eventTime"),
        };
        matched.push(Matched {
            hash,
            entry,
            event: answered,
            key,
        });
    }
    let descending =
        query.order_by.is_some() && query.order_direction == OrderDirection::Descending;
    matched.sort_by(|a, b| {
        let by_key = match (a.key, b.key) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_key.then_with(|| a.hash.cmp(&b.hash))
    });
    query.check_count(matched.len())?;
    if let Some(limit) = query.event_count_limit {
        matched.truncate(limit);
    }
    let total = matched.len();
    let start = match &query.next_page_token {
        None => 0,
        Some(token) => {
            let after = token
                .split_once('.')
                .filter(|(bound, _)| *bound == fingerprint)
                .and_then(|(_, hash)| hash.parse::<EntryHash>().ok())
                .ok_or_else(|| SearchError::BadToken(token.chars().take(100).collect()))?;
            matched
                .iter()
                .position(|m| m.hash == after)
                .map(|i| i + 1)
                .ok_or_else(|| SearchError::BadToken(token.chars().take(100).collect()))?
        }
    };
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let end = start.saturating_add(per_page).min(total);
    let mut events = Vec::with_capacity(end.saturating_sub(start));
    let mut last = None;
    let forks = crate::forks::fork_points(store)?;
    for item in matched.into_iter().take(end).skip(start) {
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
        last = Some(item.hash);
    }
    let next_token = match last {
        Some(hash) if end < total => Some(format!("{fingerprint}.{hash}")),
        _ => None,
    };
    Ok(SearchPage {
        events,
        next_token,
        total,
    })
}
