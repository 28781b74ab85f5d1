//! The GS1 EPCIS 2.0 REST binding, under `/epcis`: capture (`POST /capture`, `POST /events`,
//! the capture jobs) and the event query (`GET /events` and the resources that stand for a
//! query), so that EPCIS systems write to and read from Tally without glue code.
//!
//! The SDK checks captures and decides what matches a query ([`tally_sdk::epcis`]); the node
//! records ([`crate::epcis::capture`]) and searches ([`crate::epcis::search`]). Every answer
//! carries the binding's `GS1-EPCIS-Version` and `GS1-CBV-Version` headers, `OPTIONS` on any
//! route answers 204 with them and `Allow`, and every refusal is problem+json with the
//! binding's exception as `type` (`epcisException:QueryParameterException`, …). What Tally does
//! not implement (named queries, subscriptions, listing a top-level resource's values)
//! answers `epcisException:ImplementationException` with 501. Tokens are the `/v1` API's:
//! capture needs a member token, queries any token. `docs/epcis.md` documents it for users.

use axum::Json;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Serialize;
use serde_json::{Value, json};
use tally_sdk::epcis::answer::{
    GS1_CBV_VERSION, GS1_EPCIS_VERSION, QueryDocumentBuilder, SIMPLE_EVENT_QUERY,
};
use tally_sdk::epcis::document::{CaptureError, EPCIS_CONTEXT};
use tally_sdk::epcis::exception::EpcisException;
use tally_sdk::epcis::query::{EventQuery, Resource};
use tally_sdk::time::Timestamp;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::ApiError;
use crate::epcis::capture::EventProblem;
use crate::epcis::search::{self, SearchError};

pub(super) mod captures;

use captures::{get_capture_job, list_capture_jobs, post_capture, post_event};

/// The event types Tally records.
const EVENT_TYPES: [&str; 5] = [
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

/// A refusal of an `/epcis` route, as problem+json.
#[derive(Debug)]
pub enum EpcisError {
    /// One of the API's own refusals (authentication, an unavailable node, …).
    Api(ApiError),
    /// A refusal the binding defines.
    Binding {
        /// The exception.
        exception: EpcisException,
        /// The status.
        status: StatusCode,
        /// What went wrong.
        detail: String,
        /// Per event, for a refused capture.
        errors: Vec<EventProblem>,
    },
}

/// The body of a binding refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpcisProblem {
    /// `epcisException:…`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The exception's title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
    /// Per event, for a refused capture.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<EventProblem>,
}

impl EpcisError {
    fn new(exception: EpcisException, detail: impl Into<String>) -> Self {
        Self::with_status(exception, exception.status(), detail)
    }

    fn with_status(exception: EpcisException, status: u16, detail: impl Into<String>) -> Self {
        Self::Binding {
            exception,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    fn not_implemented(detail: impl Into<String>) -> Self {
        Self::with_status(EpcisException::ImplementationException, 501, detail)
    }
}

impl IntoResponse for EpcisError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::Binding {
                exception,
                status,
                detail,
                errors,
            } => {
                let body = EpcisProblem {
                    kind: exception.type_uri(),
                    title: exception.title().to_owned(),
                    status: status.as_u16(),
                    detail,
                    errors,
                };
                let mut response = (status, Json(body)).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response
            }
        }
    }
}

impl From<ApiError> for EpcisError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<crate::store::StoreError> for EpcisError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Api(ApiError::from(error))
    }
}

impl From<CaptureError> for EpcisError {
    fn from(error: CaptureError) -> Self {
        let errors = match &error {
            CaptureError::Invalid { problems, .. } => {
                problems.iter().map(EventProblem::from).collect()
            }
            _ => Vec::new(),
        };
        if let CaptureError::Internal(reason) = &error {
            tracing::error!(%reason, "the EPCIS schema validator failed");
        }
        Self::Binding {
            exception: error.exception(),
            status: StatusCode::from_u16(error.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            detail: error.to_string(),
            errors,
        }
    }
}

impl From<SearchError> for EpcisError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Query(query) => {
                Self::with_status(query.exception(), query.status(), query.to_string())
            }
            SearchError::TooComplex => {
                Self::new(EpcisException::QueryTooComplexException, error.to_string())
            }
            SearchError::BadToken(_) => {
                Self::new(EpcisException::QueryParameterException, error.to_string())
            }
            SearchError::Store(store) => Self::from(store),
        }
    }
}

/// The `/epcis` routes (nested by [`super::app`]).
pub fn router() -> Router<ApiState> {
    let mut router = Router::new()
        .route("/", get(top_level))
        .route("/capture", get(list_capture_jobs).post(post_capture))
        .route("/capture/{capture_id}", get(get_capture_job))
        .route("/events", get(query_events).post(post_event))
        .route("/events/{event_id}", get(event_by_id))
        .route("/eventTypes", get(event_types))
        .route("/eventTypes/{event_type}", get(event_type_resource))
        .route("/eventTypes/{value}/events", get(events_of_event_type))
        .route("/epcs/{value}/events", get(events_of_epc))
        .route("/bizSteps/{value}/events", get(events_of_biz_step))
        .route("/bizLocations/{value}/events", get(events_of_biz_location))
        .route("/readPoints/{value}/events", get(events_of_read_point))
        .route("/dispositions/{value}/events", get(events_of_disposition))
        .route("/queries", any(not_implemented))
        .route("/queries/{*rest}", any(not_implemented))
        .route("/nextPageToken/{*rest}", any(not_implemented));
    for resource in [
        "epcs",
        "bizSteps",
        "bizLocations",
        "readPoints",
        "dispositions",
    ] {
        router = router
            .route(&format!("/{resource}"), get(list_values))
            .route(&format!("/{resource}/{{value}}"), get(value_resource));
    }
    router
        .fallback(no_such_resource)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(binding_headers))
}

/// Adds the binding's headers to every answer, and answers `OPTIONS`.
async fn binding_headers(request: Request, next: Next) -> Response {
    // Nested under `/epcis`, the router sees paths without the prefix.
    let writable = matches!(request.uri().path(), "/capture" | "/events");
    let mut response = if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static(if writable {
                "OPTIONS, GET, POST"
            } else {
                "OPTIONS, GET"
            }),
        );
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("gs1-epcis-version", GS1_EPCIS_VERSION),
        ("gs1-epcis-min", GS1_EPCIS_VERSION),
        ("gs1-epcis-max", GS1_EPCIS_VERSION),
        ("gs1-cbv-version", GS1_CBV_VERSION),
        ("gs1-cbv-min", GS1_CBV_VERSION),
        ("gs1-cbv-max", GS1_CBV_VERSION),
        (
            "gs1-vendor-version",
            concat!("tally-node/", env!("CARGO_PKG_VERSION")),
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

pub(super) async fn no_such_resource() -> EpcisError {
    EpcisError::new(
        EpcisException::NoSuchResourceException,
        "there is no such EPCIS resource; GET /epcis lists the top-level resources",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Named queries, subscriptions and page-token deletion.
async fn not_implemented() -> EpcisError {
    EpcisError::not_implemented(
        "named queries and subscriptions are not implemented: query with GET /epcis/events and its parameters",
    )
}

async fn list_values() -> EpcisError {
    EpcisError::not_implemented(
        "listing the values of this resource is not implemented: ask for one value's events, e.g. /epcis/bizSteps/shipping/events",
    )
}

fn collection(members: &[&str]) -> Json<Value> {
    Json(json!({
        "@context": EPCIS_CONTEXT,
        "type": "Collection",
        "member": members,
    }))
}

/// The top-level resources.
#[utoipa::path(
    get, path = "/epcis", tag = "epcis",
    responses((status = 200, description = "The top-level resources (a Collection)", body = Object)),
    security(("bearer" = []))
)]
pub async fn top_level(_caller: Caller) -> Json<Value> {
    collection(&[
        "capture",
        "events",
        "eventTypes",
        "epcs",
        "bizSteps",
        "bizLocations",
        "readPoints",
        "dispositions",
    ])
}

async fn event_types(_caller: Caller) -> Json<Value> {
    collection(&EVENT_TYPES)
}

async fn event_type_resource(
    _caller: Caller,
    value: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, EpcisError> {
    let value = path_value(value)?;
    if EVENT_TYPES.contains(&value.as_str()) {
        Ok(collection(&["events"]))
    } else {
        Err(EpcisError::new(
            EpcisException::NoSuchResourceException,
            format!("{value:?} is not an event type Tally records"),
        ))
    }
}

async fn value_resource(_caller: Caller) -> Json<Value> {
    collection(&["events"])
}

fn path_value(value: Result<Path<String>, PathRejection>) -> Result<String, EpcisError> {
    value.map(|Path(v)| v).map_err(|e| {
        EpcisError::new(
            EpcisException::QueryParameterException,
            format!("the path is not valid: {}", e.body_text()),
        )
    })
}

/// The request's path as sent (percent-encoded): the router nested under `/epcis` sees it
/// without the prefix.
fn epcis_path(uri: &Uri) -> String {
    format!("/epcis{}", uri.path())
}

fn add_next_link(response: &mut Response, url: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
        response.headers_mut().insert(header::LINK, value);
    }
}

/// Answers a query: `path` is the resource's path (without query), `restriction` what the
/// resource stands for, `id` the `/events/{eventID}` lookup.
async fn answer_query(
    state: ApiState,
    path: String,
    raw: Option<String>,
    restriction: Option<(Resource, String)>,
    id: Option<String>,
) -> Result<Response, EpcisError> {
    let raw = raw.unwrap_or_default();
    let mut query = EventQuery::parse_query_string(&raw).map_err(SearchError::from)?;
    if let Some((resource, value)) = restriction {
        query.restrict(resource.filter(&value).map_err(SearchError::from)?);
    }
    let fingerprint = search::fingerprint(&raw, &path);
    let store = state.store().clone();
    let book = state.book().clone();
    let lookup = id.clone();
    let page = state
        .blocking(move || {
            search::search(
                store.as_ref(),
                &book,
                &query,
                lookup.as_deref(),
                &fingerprint,
            )
        })
        .await??;
    if let Some(id) = id
        && page.events.is_empty()
    {
        return Err(EpcisError::new(
            EpcisException::NoSuchResourceException,
            format!("no event {id:?} is recorded"),
        ));
    }
    let mut document = QueryDocumentBuilder::new(SIMPLE_EVENT_QUERY, Timestamp::now());
    for event in page.events {
        document.push(event);
    }
    let mut response = Json(document.build()).into_response();
    if let Some(token) = page.next_token {
        let kept: Vec<&str> = raw
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("nextPageToken"))
            .collect();
        let mut url = format!("{path}?");
        for pair in kept {
            url.push_str(pair);
            url.push('&');
        }
        url.push_str("nextPageToken=");
        url.push_str(&token);
        add_next_link(&mut response, &url);
    }
    Ok(response)
}

/// Queries events with the binding's parameters.
#[utoipa::path(
    get, path = "/epcis/events", tag = "epcis",
    params(
        ("eventType" = Option<String>, Query, description = "Event types, `|`-separated"),
        ("GE_eventTime" = Option<String>, Query, description = "eventTime at or after"),
        ("LT_eventTime" = Option<String>, Query, description = "eventTime before"),
        ("EQ_bizStep" = Option<String>, Query, description = "bizSteps (CBV word, URN or Web URI)"),
        ("MATCH_epc" = Option<String>, Query, description = "EPCs or patterns"),
        ("perPage" = Option<usize>, Query, description = "Events per page (default 30, at most 1,000)"),
        ("nextPageToken" = Option<String>, Query, description = "From the previous page's Link"),
    ),
    responses(
        (status = 200, description = "An EPCISQueryDocument; a Link header (rel=\"next\") names the next page. Every parameter of docs/epcis.md is taken", body = Object),
        (status = 400, description = "An unknown parameter or bad value (QueryParameterException)", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 413, description = "More events than maxEventCount, or a query that would read too much", body = EpcisProblem, content_type = "application/problem+json"),
        (status = 501, description = "A standard parameter Tally does not evaluate", body = EpcisProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn query_events(
    State(state): State<ApiState>,
    _caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, EpcisError> {
    answer_query(state, "/epcis/events".to_owned(), raw, None, None).await
}

/// The event with this eventID, with its error declarations.
#[utoipa::path(
    get, path = "/epcis/events/{eventID}", tag = "epcis",
    params(("eventID" = String, Path, description = "The eventID or the Event Hash ID (capture sets the eventID to the hash ID when an event has none), percent-encoded")),
    responses(
        (status = 200, description = "An EPCISQueryDocument with the event(s)", body = Object),
        (status = 404, description = "No such event", body = EpcisProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn event_by_id(
    State(state): State<ApiState>,
    _caller: Caller,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, EpcisError> {
    let id = path_value(id)?;
    answer_query(state, epcis_path(&uri), raw, None, Some(id)).await
}

macro_rules! resource_route {
    ($name:ident, $resource:expr, $segment:literal, $what:literal) => {
        #[doc = concat!("The events of one ", $what, ", with the query parameters of `/epcis/events`.")]
        #[utoipa::path(
            get, path = concat!("/epcis/", $segment, "/{value}/events"), tag = "epcis",
            params(("value" = String, Path, description = $what)),
            responses(
                (status = 200, description = "An EPCISQueryDocument", body = Object),
                (status = 400, description = "A bad value or parameter", body = EpcisProblem, content_type = "application/problem+json"),
            ),
            security(("bearer" = []))
        )]
        pub async fn $name(
            State(state): State<ApiState>,
            _caller: Caller,
            uri: Uri,
            value: Result<Path<String>, PathRejection>,
            RawQuery(raw): RawQuery,
        ) -> Result<Response, EpcisError> {
            let value = path_value(value)?;
            answer_query(state, epcis_path(&uri), raw, Some(($resource, value)), None).await
        }
    };
}

resource_route!(
    events_of_event_type,
    Resource::EventType,
    "eventTypes",
    "event type"
);
resource_route!(
    events_of_epc,
    Resource::Epc,
    "epcs",
    "EPC (URN or Digital Link, percent-encoded)"
);
resource_route!(events_of_biz_step, Resource::BizStep, "bizSteps", "bizStep");
resource_route!(
    events_of_biz_location,
    Resource::BizLocation,
    "bizLocations",
    "business location"
);
resource_route!(
    events_of_read_point,
    Resource::ReadPoint,
    "readPoints",
    "read point"
);
resource_route!(
    events_of_disposition,
    Resource::Disposition,
    "dispositions",
    "disposition"
);
