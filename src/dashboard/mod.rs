//! The web dashboard (feature `dashboard`): a listing page, a detail page, actions (resolve,
//! ignore, reopen, delete) and a JSON API over any [`Store`], as an [`axum::Router`] to serve
//! alone or to mount under a prefix of an application's router.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//!
//! use error_tracker::dashboard::{BasicAuth, Dashboard};
//! use error_tracker::RedbStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(RedbStore::open("errors.redb")?);
//! let dashboard = Dashboard::new(store).permission(BasicAuth::new("admin", "s3cret"));
//! let app = axum::Router::new().nest("/errors", dashboard.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Every request goes through the [`ViewPermission`] first; the default, [`DenyAll`], answers
//! `401` to everyone. Actions are `POST` forms protected against cross-site request forgery;
//! pages are rendered on the server with every value escaped, under a strict
//! Content-Security-Policy, with no script and no external asset. `docs/dashboard.md` describes
//! the pages, the routes and the JSON API.

mod api;
mod charts;
mod csrf;
mod detail;
mod handlers;
mod host;
mod html;
mod list;
mod permission;
mod serve;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::Router;
use axum::extract::{NestedPath, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::store::Store;

pub use self::charts::Bucket;
pub use self::permission::{
    AllowAll, BasicAuth, BearerToken, Decision, DenyAll, LoopbackOnly, ViewPermission, peer_addr,
};
pub use self::serve::{MAX_REQUEST_HEAD_BYTES, serve};

/// Longest query string accepted; longer ones get `414 URI Too Long`. Filters and a page
/// number fit in a few hundred bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// The Content-Security-Policy of every response: nothing runs, styles and images come from
/// the dashboard itself (images also as `data:` URIs), forms post only to it, and no other site
/// may frame it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A dashboard over a store: its settings, and the router that serves it.
///
/// Cheap to clone; every router made from one dashboard (and its clones) shares its
/// anti-forgery secret, drawn at random by [`Dashboard::new`].
#[derive(Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    permission: Arc<dyn ViewPermission>,
    page_size: usize,
    title: String,
    /// A link template for trace ids (`{trace_id}`, `{span_id}`), if any.
    trace_url: Option<String>,
    csrf: csrf::Csrf,
    hosts: host::AllowedHosts,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("page_size", &self.inner.page_size)
            .field("title", &self.inner.title)
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// A dashboard over `store`, 10 errors per page, that refuses every request until it is
    /// given a [`ViewPermission`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        Dashboard {
            inner: Arc::new(Inner {
                store,
                permission: Arc::new(DenyAll),
                page_size: 10,
                title: "Errors".to_owned(),
                trace_url: None,
                csrf: csrf::Csrf::new(),
                hosts: host::AllowedHosts::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                // Shared with a clone: copy the settings (and the secret, by value) first.
                let inner = &self.inner;
                let mut copy = Inner {
                    store: inner.store.clone(),
                    permission: inner.permission.clone(),
                    page_size: inner.page_size,
                    title: inner.title.clone(),
                    trace_url: inner.trace_url.clone(),
                    csrf: inner.csrf.clone(),
                    hosts: inner.hosts.clone(),
                };
                f(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// Who may use the dashboard (default [`DenyAll`]).
    pub fn permission(self, permission: impl ViewPermission) -> Self {
        let permission: Arc<dyn ViewPermission> = Arc::new(permission);
        self.edit(|inner| inner.permission = permission)
    }

    /// Errors per page in the listing page and API (default 10, the seed's "Home page list
    /// size"); clamped to 1..=500.
    pub fn page_size(self, size: usize) -> Self {
        self.edit(|inner| inner.page_size = size.clamp(1, 500))
    }

    /// The host names the dashboard answers for (compared without port and case); a request
    /// that names another `Host` is answered `421 Misdirected Request`. Loopback names
    /// (`localhost`, `127.0.0.1`, `[::1]`) are always allowed.
    ///
    /// By default any name is answered for remote clients, and clients on this machine must
    /// name a loopback host: loopback trust ([`LoopbackOnly`]) cannot then be reached through
    /// DNS rebinding, where a page of another site resolves its own name to `127.0.0.1`.
    pub fn allowed_hosts<I, S>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let hosts = host::AllowedHosts::Only(
            hosts
                .into_iter()
                .map(|h| host::host_name(h.as_ref()))
                .collect(),
        );
        self.edit(|inner| inner.hosts = hosts)
    }

    /// Links each occurrence's OpenTelemetry trace id (feature `opentelemetry`) to a tracing
    /// backend: `template` with `{trace_id}` (and `{span_id}`) replaced, such as
    /// `"https://jaeger.example.com/trace/{trace_id}"`. Only `http` and `https` links are
    /// made.
    pub fn trace_url(self, template: impl Into<String>) -> Self {
        let template = template.into();
        let template = (template.starts_with("https://") || template.starts_with("http://"))
            .then_some(template);
        self.edit(|inner| inner.trace_url = template)
    }

    /// The name shown in the page header and titles (default `Errors`), for instance the
    /// service's name.
    pub fn title(self, title: impl Into<String>) -> Self {
        let title = title.into();
        self.edit(|inner| inner.title = title)
    }

    /// The router: pages, actions, JSON API and stylesheet. Serve it alone, or mount it with
    /// [`Router::nest`]; its links follow the prefix it is mounted at.
    ///
    /// The [`LoopbackOnly`] permission needs the peer address: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// The router is a `Router<S>` for any state `S`, so it nests in an application's router
    /// that has state of its own:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use error_tracker::dashboard::{AllowAll, Dashboard};
    /// #[derive(Clone)]
    /// struct AppState {
    ///     name: &'static str,
    /// }
    ///
    /// let dashboard = Dashboard::new(Arc::new(error_tracker::MemoryStore::new())).permission(AllowAll);
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|axum::extract::State(s): axum::extract::State<AppState>| async move { s.name }))
    ///     .nest("/errors", dashboard.router())
    ///     .with_state(AppState { name: "shop" });
    /// # let _ = app;
    /// ```
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = self.inner.clone();
        let guarded = Router::new()
            .route("/", get(handlers::list_page))
            .route("/error/{fingerprint}", get(handlers::detail_page))
            .route("/error/{fingerprint}/{action}", post(handlers::action))
            .route("/api/errors", get(api::list))
            .route(
                "/api/errors/{fingerprint}",
                get(api::detail).delete(api::delete),
            )
            .route("/api/errors/{fingerprint}/status", post(api::set_status))
            .fallback(handlers::not_found)
            .route_layer(middleware::from_fn_with_state(state.clone(), guard));
        Router::new()
            .route("/assets/style.css", get(handlers::stylesheet))
            .merge(guarded)
            .layer(middleware::from_fn(check_query_length))
            .layer(middleware::from_fn(security_headers))
            .layer(middleware::from_fn(base_path))
            .with_state(state)
    }
}

/// Where the dashboard is mounted, for its links.
#[derive(Clone, Debug)]
pub(crate) struct Base {
    /// The prefix without a trailing slash: `""` when served alone, `/errors` when nested.
    pub(crate) prefix: String,
    /// The listing page's path: `/` alone, the prefix itself when nested.
    pub(crate) home: String,
}

impl Base {
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }
}

async fn base_path(mut request: Request, next: Next) -> Response {
    let nested = request
        .extensions()
        .get::<NestedPath>()
        .map(|path| path.as_str().to_owned());
    let base = match nested.as_deref() {
        None | Some("/") | Some("") => Base {
            prefix: String::new(),
            home: "/".to_owned(),
        },
        Some(path) => Base {
            prefix: path.trim_end_matches('/').to_owned(),
            home: path.to_owned(),
        },
    };
    request.extensions_mut().insert(base);
    next.run(request).await
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Error data must not linger in shared caches; the stylesheet sets its own policy.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn check_query_length(request: Request, next: Next) -> Response {
    if too_long(request.uri()) {
        let api = is_api(request.uri());
        let base = request.extensions().get::<Base>().cloned();
        return handlers::problem(
            api,
            base.as_ref(),
            StatusCode::URI_TOO_LONG,
            "Address too long",
            &format!(
                "The query string is longer than {MAX_QUERY_BYTES} bytes; the dashboard's \
                 filters never need that much."
            ),
        );
    }
    next.run(request).await
}

fn too_long(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| q.len() > MAX_QUERY_BYTES)
}

pub(crate) fn is_api(uri: &Uri) -> bool {
    uri.path().contains("/api/")
}

/// Checks the `Host`, then runs the permission, a panic counting as a refusal.
async fn guard(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if !inner.hosts.allows(&parts) {
        return handlers::problem(
            is_api(&parts.uri),
            parts.extensions.get::<Base>(),
            StatusCode::MISDIRECTED_REQUEST,
            "Unknown host",
            "This dashboard does not answer for the host name this request was sent to. Open \
             it under the name it is served as, or add the name to its allowed hosts.",
        )
        .into_response();
    }
    let decision = catch_unwind(AssertUnwindSafe(|| inner.permission.check(&parts)))
        .unwrap_or_else(|_| Decision::deny());
    match decision {
        Decision::Allow => next.run(Request::from_parts(parts, body)).await,
        Decision::Deny { challenge } => {
            let base = parts.extensions.get::<Base>();
            let mut response = handlers::problem(
                is_api(&parts.uri),
                base,
                StatusCode::UNAUTHORIZED,
                "Not allowed",
                "This dashboard does not let this request in. Its permission decides who may \
                 see it: the default refuses everyone; see the dashboard documentation to \
                 choose a token, a password or loopback access.",
            );
            if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response.into_response()
        }
    }
}

/// The examples of `docs/dashboard.md`, compiled as doctests so that the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/dashboard.md")]
struct DashboardGuide;
