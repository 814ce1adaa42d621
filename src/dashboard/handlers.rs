//! The HTML side: listing and detail pages, the action forms' target, problem pages.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use super::csrf::{Csrf, FIELD_NAME};
use super::list::{Filters, ListView};
use super::{Base, Inner, charts, detail, html, is_api, list};
use crate::store::{Status, StoreError};

/// Why a request could not be answered, as a page or a JSON problem.
pub(crate) struct Failure {
    status: StatusCode,
    title: &'static str,
    text: String,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, title: &'static str, text: impl Into<String>) -> Self {
        Failure {
            status,
            title,
            text: text.into(),
        }
    }

    pub(crate) fn not_found(fingerprint: &str) -> Self {
        Failure::new(
            StatusCode::NOT_FOUND,
            "Error not found",
            format!(
                "There is no error with fingerprint “{}”. It may have been deleted or expired.",
                fingerprint.chars().take(80).collect::<String>()
            ),
        )
    }

    pub(crate) fn respond(self, api: bool, base: Option<&Base>) -> Response {
        problem(api, base, self.status, self.title, &self.text)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Store unavailable",
                err.to_string(),
            ),
            StoreError::InvalidInput(_) => {
                Failure::new(StatusCode::BAD_REQUEST, "Invalid request", err.to_string())
            }
            _ => Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Store error",
                err.to_string(),
            ),
        }
    }
}

/// Runs a store call on tokio's blocking pool: redb reads and writes touch the disk.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Store error",
            "The store failed (it panicked) while answering this request.",
        )),
    }
}

/// A problem answer: a page for a browser, `{"error": ..., "status": ...}` for the API.
pub(crate) fn problem(
    api: bool,
    base: Option<&Base>,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    if api {
        let body = serde_json::json!({ "error": title, "detail": text, "status": status.as_u16() });
        (status, axum::Json(body)).into_response()
    } else {
        let page = html::problem_page(base, status.as_u16(), title, text);
        (status, Html(page.into_string())).into_response()
    }
}

/// The browser's anti-forgery id and whether it is new (then the cookie must be set).
fn browser(headers: &HeaderMap) -> (String, bool) {
    match Csrf::browser_id(headers) {
        Some(id) => (id, false),
        None => (Csrf::new_browser_id(), true),
    }
}

fn with_cookie(mut response: Response, base: &Base, id: &str, new: bool) -> Response {
    if new && let Ok(value) = HeaderValue::from_str(&Csrf::cookie(id, &base.home)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /`: the listing page.
pub(crate) async fn list_page(
    State(inner): State<Arc<Inner>>,
    Extension(base): Extension<Base>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let filters = Filters::parse(raw.as_deref());
    let query = filters.query(inner.page_size);
    let store = inner.clone();
    let loaded = blocking(move || {
        let page = store.store.list(&query)?;
        // The tabs' totals, with the same search text: kept by the redb store, or counted in
        // one pass when there is a search text.
        let totals = store.store.status_counts(query.search.as_deref())?;
        Ok((page, totals))
    })
    .await;
    let (page, totals) = match loaded {
        Ok(loaded) => loaded,
        Err(failure) => return failure.respond(false, Some(&base)),
    };
    let (id, new) = browser(&headers);
    let token = inner.csrf.token(&id);
    let body = list::render(&ListView {
        base: &base,
        filters: &filters,
        page: &page,
        totals,
        csrf_token: &token,
        now: OffsetDateTime::now_utc(),
    });
    let title = match filters.status {
        Some(status) => format!("{} errors", capitalised(status)),
        None => "All errors".to_owned(),
    };
    let page = html::page(&base, &inner.title, &title, body);
    with_cookie(Html(page.into_string()).into_response(), &base, &id, new)
}

fn capitalised(status: Status) -> &'static str {
    match status {
        Status::Unresolved => "Unresolved",
        Status::Resolved => "Resolved",
        Status::Ignored => "Ignored",
    }
}

/// The buckets of the detail page's two charts.
pub(crate) struct Charts {
    pub(crate) hourly: Vec<charts::Bucket>,
    pub(crate) daily: Vec<charts::Bucket>,
}

/// One error as the detail page and the API show it.
pub(crate) struct Detail {
    pub(crate) group: crate::store::ErrorGroup,
    /// The charts, or why the histogram could not be read: the error itself is still shown
    /// (a store whose histogram fails should not hide what it has).
    pub(crate) charts: Result<Charts, String>,
}

/// The error with its charts' buckets, or `None` when it does not exist.
pub(crate) async fn load_detail(
    inner: &Arc<Inner>,
    fingerprint: String,
    now: OffsetDateTime,
) -> Result<Option<Detail>, Failure> {
    let inner = inner.clone();
    blocking(move || {
        let Some(group) = inner.store.get(&fingerprint)? else {
            return Ok(None);
        };
        let charts = inner
            .store
            .hourly_counts(&fingerprint, charts::since(now))
            .map(|counts| Charts {
                hourly: charts::per_hour(&counts, now),
                daily: charts::per_day(&counts, now),
            })
            .map_err(|err| err.to_string());
        Ok(Some(Detail { group, charts }))
    })
    .await
}

/// `GET /error/{fingerprint}`: the detail page.
pub(crate) async fn detail_page(
    State(inner): State<Arc<Inner>>,
    Extension(base): Extension<Base>,
    Path(fingerprint): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let Detail { group, charts } = match load_detail(&inner, fingerprint.clone(), now).await {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return Failure::not_found(&fingerprint).respond(false, Some(&base)),
        Err(failure) => return failure.respond(false, Some(&base)),
    };
    let (id, new) = browser(&headers);
    let token = inner.csrf.token(&id);
    let body = detail::render(&detail::DetailView {
        base: &base,
        group: &group,
        charts: &charts,
        csrf_token: &token,
        now,
        trace_url: inner.trace_url.as_deref(),
    });
    let title = format!("{}: {}", group.summary.kind, group.summary.message);
    let title: String = title.chars().take(90).collect();
    let page = html::page(&base, &inner.title, &title, body);
    with_cookie(Html(page.into_string()).into_response(), &base, &id, new)
}

/// A status change or a deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Set(Status),
    /// Resolved in this release (`Some`), or in the release after the newest seen.
    ResolveIn(Option<String>),
    Delete,
}

/// Longest release name taken from a form or the API.
pub(crate) const MAX_RELEASE_LEN: usize = 200;

impl Action {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "resolve" => Some(Action::Set(Status::Resolved)),
            "ignore" => Some(Action::Set(Status::Ignored)),
            "reopen" => Some(Action::Set(Status::Unresolved)),
            "resolve-next-release" => Some(Action::ResolveIn(None)),
            // The release comes from the form: see `action`.
            "resolve-in-release" => Some(Action::ResolveIn(Some(String::new()))),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// Applies the action; `false` for an unknown fingerprint.
    pub(crate) async fn apply(
        self,
        inner: &Arc<Inner>,
        fingerprint: String,
    ) -> Result<bool, Failure> {
        let inner = inner.clone();
        blocking(move || match self {
            Action::Set(status) => inner.store.set_status(&fingerprint, status),
            Action::ResolveIn(Some(release)) => inner
                .store
                .resolve_in(&fingerprint, crate::ResolvedIn::Release(release)),
            Action::ResolveIn(None) => match inner.store.get(&fingerprint)? {
                Some(group) => inner.store.resolve_in(
                    &fingerprint,
                    crate::ResolvedIn::NextAfter(group.summary.last_release),
                ),
                None => Ok(false),
            },
            Action::Delete => inner.store.delete(&fingerprint),
        })
        .await
    }
}

/// `POST /error/{fingerprint}/{action}`: resolve, ignore, reopen or delete, then `303` back.
pub(crate) async fn action(
    State(inner): State<Arc<Inner>>,
    Extension(base): Extension<Base>,
    Path((fingerprint, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(mut action) = Action::parse(&action) else {
        return not_found_page(&base);
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if let Action::ResolveIn(Some(release)) = &mut action {
        match field("release").map(str::trim) {
            Some(given) if !given.is_empty() && given.len() <= MAX_RELEASE_LEN => {
                given.clone_into(release);
            }
            _ => {
                return problem(
                    false,
                    Some(&base),
                    StatusCode::BAD_REQUEST,
                    "No release",
                    &format!(
                        "Name the release the error is fixed in (1 to {MAX_RELEASE_LEN} bytes)."
                    ),
                );
            }
        }
    }
    if let Err(refusal) = inner.csrf.check(&headers, field(FIELD_NAME)) {
        return problem(
            false,
            Some(&base),
            StatusCode::FORBIDDEN,
            "Action refused",
            refusal.explain(),
        );
    }
    let deleting = action == Action::Delete;
    match action.apply(&inner, fingerprint.clone()).await {
        Ok(true) => {}
        Ok(false) => return Failure::not_found(&fingerprint).respond(false, Some(&base)),
        Err(failure) => return failure.respond(false, Some(&base)),
    }
    let detail = base.path(&format!("/error/{fingerprint}"));
    let fallback = if deleting {
        base.home.clone()
    } else {
        detail.clone()
    };
    let target = field("return_to")
        .filter(|target| safe_return(&base, target))
        // The detail page of a deleted error would only say "not found".
        .filter(|target| !deleting || target.split('?').next() != Some(&detail))
        .map(str::to_owned)
        .unwrap_or(fallback);
    Redirect::to(&target).into_response()
}

/// True for a path inside the dashboard: never another site, never a scheme.
fn safe_return(base: &Base, target: &str) -> bool {
    let inside = target == base.home
        || target.starts_with(&format!("{}?", base.home))
        || target.starts_with(&format!("{}/", base.prefix));
    inside
        && target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.chars().any(char::is_control)
        && target.len() <= 2048
}

/// `GET /assets/style.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        html::STYLESHEET,
    )
        .into_response()
}

fn not_found_page(base: &Base) -> Response {
    problem(
        false,
        Some(base),
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}

/// Any other path.
pub(crate) async fn not_found(base: Option<Extension<Base>>, uri: Uri) -> Response {
    let base = base.map(|Extension(base)| base);
    problem(
        is_api(&uri),
        base.as_ref(),
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}
