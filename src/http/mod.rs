//! Tower middleware for `http` services (axum, tonic, hyper): every request runs in a span
//! that carries its context, and failed requests are recorded (feature `http`).
//!
//! [`HttpLayer`] wraps a service taking `http::Request`s and answering `http::Response`s:
//!
//! - It opens a request span (`http_request`, target `error_tracker::http`) with the method,
//!   host, path, route template (axum's [`MatchedPath`](axum::extract::MatchedPath)), request
//!   id, client address (only when enabled) and, once answered, status. Headers, query
//!   parameters and cookies are kept with the span as they came, and become the extras
//!   `http.headers`, `http.query` and `http.jar` when an error is captured inside the request
//!   (most requests succeed and never pay for it); with [`HttpLayer::capture_body`], JSON and
//!   form bodies become `http.body`, bounded. Every error raised while the request is handled, in the handler or
//!   in a task `.instrument`ed with its span, carries all of it.
//! - Credentials (`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`)
//!   and, unless the client address is recorded, the proxies' client-address headers are
//!   masked before they are kept; everything else is masked by the tracker by name, each
//!   query parameter and cookie by its own name.
//! - A response whose status is in [`HttpLayer::capture_statuses`] (default 500-599) is
//!   recorded, grouped by method, route template and status; not when an error was already
//!   captured inside the request.
//! - A handler that panics is recorded with the request context, and the panic goes on
//!   unwinding (put tower-http's `CatchPanicLayer` outside this layer to answer 500).
//! - A request whose future is dropped (the client went away) records nothing.
//!
//! The middleware finds the tracker the same way `capture_error` does: through the `tracing`
//! dispatcher current when the request arrives. Without one it only passes requests through.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_http::catch_panic::CatchPanicLayer;
//!
//! # fn app(tracker: &error_tracker::ErrorTracker) -> Router {
//! Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     // `Router::layer` runs the middleware per route, where the route template is known.
//!     .layer(tracker.http_layer())
//!     // Added last, so outermost: answers 500 after the middleware has seen the panic.
//!     .layer(CatchPanicLayer::new())
//! # }
//! ```

mod body;
mod context;
mod future;
mod request;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{HttpConfig, StatusRange};
use body::BodyCopy;
pub use body::RequestBody;
pub use future::ResponseFuture;
use request::RequestState;

/// What the middleware records; shared by every service the layer makes.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    capture_statuses: Vec<StatusRange>,
    client_address: bool,
}

impl HttpSettings {
    fn captures(&self, status: u16) -> bool {
        self.capture_statuses
            .iter()
            .any(|range| range.contains(status))
    }
}

/// Marker of an [`HttpLayer`] that does not record request bodies (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBody;

/// Marker of an [`HttpLayer`] that records request bodies; see [`HttpLayer::capture_body`].
#[derive(Clone, Copy, Debug)]
pub struct CaptureBody {
    max_bytes: usize,
}

/// The tower [`Layer`] that tracks failed requests; see the [module documentation](self).
///
/// Made by [`crate::ErrorTracker::http_layer`] (with the tracker's `[http]` settings) or by
/// [`HttpLayer::new`] / [`HttpLayer::from_config`].
#[derive(Clone, Debug)]
pub struct HttpLayer<M = NoBody> {
    settings: Arc<HttpSettings>,
    body: M,
}

impl Default for HttpLayer {
    fn default() -> Self {
        HttpLayer::from_config(&HttpConfig::default())
    }
}

impl HttpLayer {
    /// A layer with the default settings: statuses 500-599 recorded, no client address, no
    /// body.
    pub fn new() -> Self {
        HttpLayer::default()
    }

    /// A layer with the `[http]` settings of a configuration.
    pub fn from_config(config: &HttpConfig) -> Self {
        HttpLayer {
            settings: Arc::new(HttpSettings {
                capture_statuses: config.capture_statuses.clone(),
                client_address: false,
            }),
            body: NoBody,
        }
    }

    /// Records request bodies too, when they are JSON (`application/json`, `*/*+json`) or
    /// URL-encoded forms, as the extra `http.body`, masked by key like every extra.
    ///
    /// The middleware does not read the body: the inner service gets it wrapped in a
    /// [`RequestBody`] that keeps a copy of what the handler reads, at most `max_bytes`, and
    /// attaches it once read. A JSON body longer than that is noted by its size only (cut JSON
    /// cannot be masked by key); a form keeps its complete pairs. Other bodies are not kept.
    ///
    /// The inner service must accept `Request<RequestBody<B>>`: axum's `Router` and tonic's
    /// services take any body, a hyper service written for `Request<Incoming>` does not.
    pub fn capture_body(self, max_bytes: usize) -> HttpLayer<CaptureBody> {
        HttpLayer {
            settings: self.settings,
            body: CaptureBody { max_bytes },
        }
    }
}

impl<M> HttpLayer<M> {
    /// Records responses with these statuses, and no others (default 500-599). An empty
    /// list records no status: only errors and panics raised while handling requests.
    ///
    /// ```
    /// use error_tracker::config::StatusRange;
    /// let layer = error_tracker::http::HttpLayer::new().capture_statuses([
    ///     StatusRange { first: 500, last: 599 },
    ///     StatusRange { first: 401, last: 401 },
    ///     StatusRange { first: 404, last: 404 },
    /// ]);
    /// ```
    pub fn capture_statuses(mut self, statuses: impl IntoIterator<Item = StatusRange>) -> Self {
        Arc::make_mut(&mut self.settings).capture_statuses = statuses.into_iter().collect();
        self
    }

    /// Records responses with `status` too, in addition to the statuses set so far
    /// (`http::StatusCode::NOT_FOUND`, or `StatusCode::from_u16(404)?`).
    pub fn capture_status(mut self, status: http::StatusCode) -> Self {
        let code = status.as_u16();
        Arc::make_mut(&mut self.settings)
            .capture_statuses
            .push(StatusRange {
                first: code,
                last: code,
            });
        self
    }

    /// Records the client's address (default off: it is personal data): the peer address
    /// from axum's `ConnectInfo<SocketAddr>` as the span field `http.client_addr`, and the
    /// proxies' `Forwarded` / `X-Forwarded-For` / `X-Real-IP` headers, which are masked
    /// otherwise.
    pub fn client_address(mut self, record: bool) -> Self {
        Arc::make_mut(&mut self.settings).client_address = record;
        self
    }

    /// The statuses recorded.
    pub fn statuses(&self) -> &[StatusRange] {
        &self.settings.capture_statuses
    }
}

impl<S, M: Clone> Layer<S> for HttpLayer<M> {
    type Service = HttpService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService {
            inner,
            settings: self.settings.clone(),
            body: self.body.clone(),
        }
    }
}

/// The service made by [`HttpLayer`]: the inner service, with its requests tracked.
#[derive(Clone, Debug)]
pub struct HttpService<S, M = NoBody> {
    inner: S,
    settings: Arc<HttpSettings>,
    body: M,
}

impl<S, M> HttpService<S, M> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpService<S, NoBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let state = RequestState::open(&request, &self.settings);
        call_inner(&mut self.inner, state, request)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpService<S, CaptureBody>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: http_body::Body<Data = bytes::Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let state = RequestState::open(&request, &self.settings);
        let copy = state.as_ref().and_then(|state| {
            BodyCopy::new(request.headers(), self.body.max_bytes, state.span.clone())
        });
        let request = request.map(|body| RequestBody::new(body, copy));
        call_inner(&mut self.inner, state, request)
    }
}

/// Calls the inner service inside the request span, catching a panic in `call` itself
/// (services may do work there: axum builds the handler's future in it).
fn call_inner<S, Req, ResBody>(
    inner: &mut S,
    state: Option<RequestState>,
    request: Req,
) -> ResponseFuture<S::Future>
where
    S: Service<Req, Response = Response<ResBody>>,
{
    let Some(state) = state else {
        return ResponseFuture {
            inner: inner.call(request),
            request: None,
        };
    };
    let future = {
        let _entered = state.span.enter();
        match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => future,
            Err(payload) => {
                state.panicked(&*payload);
                resume_unwind(payload)
            }
        }
    };
    ResponseFuture {
        inner: future,
        request: Some(state),
    }
}

/// The examples of `docs/http.md`, compiled and run as doctests so that the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/http.md")]
struct HttpGuide;
