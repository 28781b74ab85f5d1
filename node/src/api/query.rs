//! The read routes: an entry by hash, a member's chain by range, a product's history, search
//! by kind / bizStep / disposition / time, and the chain heads.
//!
//! Reads run on the blocking pool (RocksDB calls block). Every list is paged: a page holds
//! at most `limit` items (default 100, at most 1,000) and, unless it is the last, a `next`
//! cursor to pass back as `cursor`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tally_sdk::event::{KindName, normalise_biz_step, normalise_disposition};
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use super::views::{EntryPage, EntryView, entry_views};
use crate::ingest::IndexFacts;
use crate::store::{Cursor, Index, MAX_PAGE, Page, Query as StoreQuery};

/// Items per page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

pub(super) fn path<T>(extracted: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    extracted
        .map(|Path(value)| value)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// The `{hash}` of an entry route, or a 400 saying why it is not one.
pub(super) fn entry_hash(
    extracted: Result<Path<String>, PathRejection>,
) -> Result<EntryHash, ApiError> {
    let text = path(extracted)?;
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not an entry hash: {e}")))
}

pub(super) fn query<T>(extracted: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    extracted
        .map(|Query(value)| value)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is out of range: give 1 to {MAX_PAGE}"
        ))),
    }
}

fn cursor(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    text.map(Cursor::parse).transpose().map_err(ApiError::from)
}

pub(super) fn time(name: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t).map_err(|e| {
            ApiError::bad_request(format!(
                "{name} must be an RFC 3339 time such as 2026-03-01T09:00:00Z: {e}"
            ))
        })
    })
    .transpose()
}

async fn entry_page(state: &ApiState, caller: &Caller, page: Page) -> Result<EntryPage, ApiError> {
    Ok(EntryPage {
        items: entry_views(state, caller, page.entries).await?,
        next: page.next.map(|c| c.to_string()),
    })
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 1,000 (default 100).
    pub limit: Option<usize>,
}

/// Gets one entry by its hash.
#[utoipa::path(
    get, path = "/v1/entries/{hash}", tag = "read",
    params(("hash" = String, Path, description = "The entry hash, 64 hex digits")),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        (status = 400, description = "Not an entry hash", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_entry(
    State(state): State<ApiState>,
    caller: Caller,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Json<EntryView>, ApiError> {
    let hash = entry_hash(hash)?;
    let store = state.store().clone();
    let found = state.blocking(move || store.entry(&hash)).await??;
    let entry = found.ok_or_else(|| ApiError::not_found(format!("no entry {hash} is stored")))?;
    let view = entry_views(&state, &caller, vec![(hash, entry)])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    Ok(Json(view))
}

/// Range of a chain.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChainRange {
    /// First sequence number (default 0).
    pub from: Option<u64>,
    /// The `next` of the previous page (overrides `from`).
    pub cursor: Option<String>,
    /// Items per page, 1 to 1,000 (default 100).
    pub limit: Option<usize>,
}

/// The member named by a path segment: a member id of the consortium (`400` if not a member
/// id, `404` if no member of the consortium has it).
pub(super) fn consortium_member(
    state: &ApiState,
    member: Result<Path<String>, PathRejection>,
) -> Result<MemberId, ApiError> {
    let text = path(member)?;
    let member: MemberId = text
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not a member id: {e}")))?;
    if state.genesis().member(&member).is_none() {
        return Err(ApiError::not_found(format!(
            "{member} is not a member of this consortium"
        )));
    }
    Ok(member)
}

/// Gets a member's chain, in order, from a sequence number.
#[utoipa::path(
    get, path = "/v1/chains/{member}", tag = "read",
    params(("member" = String, Path, description = "A member id of the genesis"), ChainRange),
    responses(
        (status = 200, description = "One page of the chain", body = EntryPage),
        (status = 400, description = "Bad member id or range", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a member of the consortium", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_chain(
    State(state): State<ApiState>,
    caller: Caller,
    member: Result<Path<String>, PathRejection>,
    range: Result<Query<ChainRange>, QueryRejection>,
) -> Result<Json<EntryPage>, ApiError> {
    let member = consortium_member(&state, member)?;
    let range = query(range)?;
    let from = match range.cursor.as_deref() {
        Some(c) => c
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request("the cursor is not one this query returned"))?,
        None => range.from.unwrap_or(0),
    };
    let limit = page_limit(range.limit)?;
    let store = state.store().clone();
    let (entries, head) = state
        .blocking(move || {
            let head = store.head(&member)?;
            store
                .chain_range(&member, from, limit)
                .map(|entries| (entries, head))
        })
        .await??;
    let next = match (entries.last(), head) {
        (Some((_, last)), Some(head)) if entries.len() == limit && last.body.seq < head.tip.seq => {
            Some((last.body.seq + 1).to_string())
        }
        _ => None,
    };
    Ok(Json(EntryPage {
        items: entry_views(&state, &caller, entries).await?,
        next,
    }))
}

/// Gets the history of a product: every entry about it, in event-time order.
#[utoipa::path(
    get, path = "/v1/products/{id}/history", tag = "read",
    params(
        ("id" = String, Path, description = "A GS1 key as an EPC URI (urn:epc:id:sgtin:...) or a Digital Link URI, percent-encoded"),
        Paging
    ),
    responses(
        (status = 200, description = "One page of the product's history", body = EntryPage),
        (status = 400, description = "Not a GS1 product identifier", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn product_history(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<EntryPage>, ApiError> {
    let text = path(id)?;
    let paging = query(paging)?;
    let product = ProductId::parse(&text).map_err(|e| {
        ApiError::bad_request(format!("{text:?} is not a GS1 product identifier: {e}"))
    })?;
    let limit = page_limit(paging.limit)?;
    let cursor = cursor(paging.cursor.as_deref())?;
    let store = state.store().clone();
    let page = state
        .blocking(move || store.history(&product, cursor.as_ref(), limit))
        .await??;
    Ok(Json(entry_page(&state, &caller, page).await?))
}

/// Search criteria.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// A C2M kind: order, production_step, quality_inspection, hand_over, receipt, delivery,
    /// observation.
    pub kind: Option<String>,
    /// A CBV bizStep, bare (`shipping`) or as URI.
    pub biz_step: Option<String>,
    /// A CBV disposition, bare (`in_transit`) or as URI.
    pub disposition: Option<String>,
    /// Earliest event time, inclusive (RFC 3339).
    pub from: Option<String>,
    /// Latest event time, exclusive (RFC 3339).
    pub to: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Entries examined per page, 1 to 1,000 (default 100).
    pub limit: Option<usize>,
}

/// Searches events by kind, bizStep, disposition and event-time range, in event-time order.
///
/// One criterion selects the index (kind, else bizStep, else disposition, else time); the
/// others filter its page, so a page may hold fewer than `limit` items and still have a
/// `next`.
#[utoipa::path(
    get, path = "/v1/events", tag = "read",
    params(Search),
    responses(
        (status = 200, description = "One page of matching entries", body = EntryPage),
        (status = 400, description = "A bad criterion", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn search_events(
    State(state): State<ApiState>,
    caller: Caller,
    search: Result<Query<Search>, QueryRejection>,
) -> Result<Json<EntryPage>, ApiError> {
    let search = query(search)?;
    let kind = search
        .kind
        .as_deref()
        .map(|k| {
            KindName::parse(k).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "kind {k:?} is not a C2M kind (order, production_step, quality_inspection, hand_over, receipt, delivery, observation)"
                ))
            })
        })
        .transpose()?;
    let biz_step = search.biz_step.as_deref().map(normalise_biz_step);
    let disposition = search.disposition.as_deref().map(normalise_disposition);
    let from = time("from", search.from.as_deref())?;
    let to = time("to", search.to.as_deref())?;
    let limit = page_limit(search.limit)?;
    let cursor = cursor(search.cursor.as_deref())?;
    let index = if let Some(kind) = kind {
        Index::Kind(kind)
    } else if let Some(step) = &biz_step {
        Index::BizStep(step.clone())
    } else if let Some(disposition) = &disposition {
        Index::Disposition(disposition.clone())
    } else {
        Index::Time
    };
    let store_query = StoreQuery { index, from, to };
    let store = state.store().clone();
    let mut page = state
        .blocking(move || store.query(&store_query, cursor.as_ref(), limit))
        .await??;
    page.entries.retain(|(_, entry)| {
        IndexFacts::of(entry).is_ok_and(|facts| {
            let Some(facts) = facts else {
                return false;
            };
            biz_step
                .as_ref()
                .is_none_or(|s| facts.biz_step.as_ref() == Some(s))
                && disposition
                    .as_ref()
                    .is_none_or(|d| facts.disposition.as_ref() == Some(d))
        })
    });
    Ok(Json(entry_page(&state, &caller, page).await?))
}

/// One chain head.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeadView {
    /// The member.
    pub member: String,
    /// The sequence number of its last entry the node holds.
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
}

/// The chain heads the node holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Heads {
    /// One head per member with entries, ordered by member id.
    pub heads: Vec<HeadView>,
}

/// Lists the chain heads the node holds, so that nodes can be compared.
#[utoipa::path(
    get, path = "/v1/heads", tag = "read",
    responses(
        (status = 200, description = "The heads", body = Heads),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn heads(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Heads>, ApiError> {
    let store = state.store().clone();
    let heads = state.blocking(move || store.heads()).await??;
    Ok(Json(Heads {
        heads: heads
            .into_iter()
            .map(|h| HeadView {
                member: h.author.to_string(),
                seq: h.tip.seq,
                hash: h.tip.hash.to_hex(),
            })
            .collect(),
    }))
}
