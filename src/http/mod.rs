//! Tower middleware for `http` services (axum, tonic, hyper): every request runs in a span
//! that carries its context, and failed requests are recorded (feature `http`).
//!
//! [`HttpLayer`] wraps a service taking `http::Request`s and answering `http::Response`s:
//!
//! - It opens a request span (`http_request`, target `error_tracker::http`) with the method,
//!   host, path, route template (axum's [`MatchedPath`](axum::extract::MatchedPath)), request
//!   id, client address (only when enabled) and, once answered, status. Headers, query
//!   parameters and cookies go into the span's scope as the extras `http.headers`,
//!   `http.query` and `http.jar`. Every error raised while the request is handled, in the
//!   handler or in a task `.instrument`ed with its span, carries all of it.
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

/// The tower [`Layer`] that tracks failed requests; see the [module documentation](self).
///
/// Made by [`crate::ErrorTracker::http_layer`] (with the tracker's `[http]` settings) or by
/// [`HttpLayer::new`] / [`HttpLayer::from_config`].
#[derive(Clone, Debug)]
pub struct HttpLayer {
    settings: Arc<HttpSettings>,
}

impl Default for HttpLayer {
    fn default() -> Self {
        HttpLayer::from_config(&HttpConfig::default())
    }
}

impl HttpLayer {
    /// A layer with the default settings: statuses 500-599 recorded, no client address.
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
        }
    }

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

    /// Records responses with `status` too, in addition to the statuses set so far.
    pub fn capture_status(mut self, status: u16) -> Self {
        Arc::make_mut(&mut self.settings)
            .capture_statuses
            .push(StatusRange {
                first: status,
                last: status,
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

impl<S> Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service made by [`HttpLayer`]: the inner service, with its requests tracked.
#[derive(Clone, Debug)]
pub struct HttpService<S> {
    inner: S,
    settings: Arc<HttpSettings>,
}

impl<S> HttpService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpService<S>
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
        let Some(state) = RequestState::open(&request, &self.settings) else {
            return ResponseFuture {
                inner: self.inner.call(request),
                request: None,
            };
        };
        // Services may do work in `call` itself (axum builds the handler's future there).
        let inner = {
            let _entered = state.span.enter();
            match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
                Ok(inner) => inner,
                Err(payload) => {
                    state.panicked(&*payload);
                    resume_unwind(payload)
                }
            }
        };
        ResponseFuture {
            inner,
            request: Some(state),
        }
    }
}
