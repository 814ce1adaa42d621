//! The JSON API: the listing and detail data, and the actions, for scripts.
//!
//! Actions are a `DELETE` and a `POST` with a JSON body: a browser cannot send either to
//! another site without a CORS preflight, which the dashboard never answers, so a cookie or
//! a remembered password cannot be used by another site. `Origin` and `Sec-Fetch-Site` are
//! checked as well.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Inner;
use super::charts::Bucket;
use super::csrf::same_origin;
use super::handlers::{Action, Detail, Failure, blocking, load_detail};
use super::list::Filters;
use crate::store::{ErrorGroup, ErrorSummary, Status};

/// `GET /api/errors` answer.
#[derive(Serialize)]
struct ListAnswer {
    items: Vec<ErrorSummary>,
    page: usize,
    page_size: usize,
    total: u64,
    page_count: u64,
    has_previous: bool,
    has_next: bool,
}

/// `GET /api/errors/{fingerprint}` answer.
#[derive(Serialize)]
struct DetailAnswer {
    error: ErrorGroup,
    /// `null`, like `per_day`, when the histogram could not be read.
    per_hour: Option<Vec<Bucket>>,
    per_day: Option<Vec<Bucket>>,
    /// Why the histogram could not be read; absent when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    charts_error: Option<String>,
}

fn fail(failure: Failure) -> Response {
    failure.respond(true, None)
}

/// `GET /api/errors?page=&status=&q=`.
pub(crate) async fn list(State(inner): State<Arc<Inner>>, RawQuery(raw): RawQuery) -> Response {
    let filters = Filters::parse(raw.as_deref());
    if let Some(notice) = filters.notices.first() {
        return fail(Failure::new(
            StatusCode::BAD_REQUEST,
            "Invalid query",
            notice.clone(),
        ));
    }
    let query = filters.query(inner.page_size);
    let store = inner.clone();
    match blocking(move || store.store.list(&query)).await {
        Ok(page) => Json(ListAnswer {
            page_count: page.page_count(),
            has_previous: page.has_previous(),
            has_next: page.has_next(),
            page: page.page,
            page_size: page.page_size,
            total: page.total,
            items: page.items,
        })
        .into_response(),
        Err(failure) => fail(failure),
    }
}

/// `GET /api/errors/{fingerprint}`.
pub(crate) async fn detail(
    State(inner): State<Arc<Inner>>,
    Path(fingerprint): Path<String>,
) -> Response {
    match load_detail(&inner, fingerprint.clone(), OffsetDateTime::now_utc()).await {
        Ok(Some(Detail { group, charts })) => {
            let (per_hour, per_day, charts_error) = match charts {
                Ok(charts) => (Some(charts.hourly), Some(charts.daily), None),
                Err(why) => (None, None, Some(why)),
            };
            Json(DetailAnswer {
                error: group,
                per_hour,
                per_day,
                charts_error,
            })
            .into_response()
        }
        Ok(None) => fail(Failure::not_found(&fingerprint)),
        Err(failure) => fail(failure),
    }
}

fn cross_site() -> Response {
    fail(Failure::new(
        StatusCode::FORBIDDEN,
        "Action refused",
        "The request came from another site.",
    ))
}

/// `DELETE /api/errors/{fingerprint}`.
pub(crate) async fn delete(
    State(inner): State<Arc<Inner>>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    match Action::Delete.apply(&inner, fingerprint.clone()).await {
        Ok(true) => {
            Json(serde_json::json!({ "fingerprint": fingerprint, "deleted": true })).into_response()
        }
        Ok(false) => fail(Failure::not_found(&fingerprint)),
        Err(failure) => fail(failure),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: Status,
    /// With `"resolved"`: the release it is fixed in.
    #[serde(default)]
    in_release: Option<String>,
    /// With `"resolved"`: fixed in the release after the newest seen.
    #[serde(default)]
    in_next_release: bool,
}

/// `POST /api/errors/{fingerprint}/status` with `{"status": "resolved"}`.
pub(crate) async fn set_status(
    State(inner): State<Arc<Inner>>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return fail(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JSON expected",
            "Send the new status as JSON with `Content-Type: application/json`: \
             {\"status\": \"resolved\"}.",
        ));
    }
    let change: StatusChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(err) => {
            return fail(Failure::new(
                StatusCode::BAD_REQUEST,
                "Invalid body",
                format!(
                    "Expected {{\"status\": \"unresolved\" | \"resolved\" | \"ignored\"}}: {err}"
                ),
            ));
        }
    };
    let action = match (&change.in_release, change.in_next_release) {
        (None, false) => Action::Set(change.status),
        (Some(release), false)
            if change.status == Status::Resolved
                && !release.trim().is_empty()
                && release.len() <= super::handlers::MAX_RELEASE_LEN =>
        {
            Action::ResolveIn(Some(release.trim().to_owned()))
        }
        (None, true) if change.status == Status::Resolved => Action::ResolveIn(None),
        _ => {
            return fail(Failure::new(
                StatusCode::BAD_REQUEST,
                "Invalid body",
                "`in_release` (a release name) or `in_next_release: true`, not both, and only \
                 with \"status\": \"resolved\"",
            ));
        }
    };
    match action.apply(&inner, fingerprint.clone()).await {
        Ok(true) => Json(serde_json::json!({
            "fingerprint": fingerprint,
            "status": change.status,
        }))
        .into_response(),
        Ok(false) => fail(Failure::not_found(&fingerprint)),
        Err(failure) => fail(failure),
    }
}
