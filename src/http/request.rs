//! One request as the tracker sees it: its span and context, and what is recorded when it
//! answers with a tracked status or panics.

use std::any::Any;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, MatchedPath};
use compact_str::{CompactString, format_compact};
use http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use tracing::Span;
use tracing::field::Empty;

use super::HttpSettings;
use super::context;
use crate::fingerprint::parameterize;
use crate::layer::{CaptureContext, Hooks};
use crate::mask::Masking;
use crate::occurrence::Level;
use crate::record::{BoundedWriter, RawFields, RawLocation, RawOccurrence, RawValue, bounded_copy};
use crate::scope::{Scope, ThreadScope};
use crate::shared::{Shared, enter_tracker};

/// The target of request spans and of the occurrences the middleware records itself.
pub(crate) const TARGET: &str = "error_tracker::http";
/// The kind of an occurrence recorded for a response status.
pub(crate) const STATUS_KIND: &str = "http_status";
/// The kind of an occurrence recorded for a panicking handler.
const PANIC_KIND: &str = "panic";
/// Longest path kept in a grouping key.
const MAX_ROUTE_LEN: usize = 1024;

/// The tracker's view of one request in flight.
pub(crate) struct RequestState {
    pub span: Span,
    /// Told by the tracker's layer of every capture inside the request span.
    context: Arc<RequestContext>,
    settings: Arc<HttpSettings>,
    method: Method,
    /// The route template, when the framework gave one.
    route: Option<CompactString>,
    /// The path as recorded: bounded, secrets hidden.
    masked_path: CompactString,
    /// When a filter disabled the span: its callsite and the fields it would have had.
    on_thread: Option<(&'static tracing::Metadata<'static>, RawFields)>,
}

impl RequestState {
    /// Opens the request span and attaches the request context to it; `None` when no tracker
    /// sees the span (no subscriber, or one without the tracker's layer): the request then
    /// costs nothing more.
    pub(crate) fn open<B>(request: &Request<B>, settings: &Arc<HttpSettings>) -> Option<Self> {
        // Nothing of the tracker may fail a request: a panic in here (in another layer of the
        // subscriber, say) only loses the context.
        catch_unwind(AssertUnwindSafe(|| Self::try_open(request, settings))).unwrap_or(None)
    }

    fn try_open<B>(request: &Request<B>, settings: &Arc<HttpSettings>) -> Option<Self> {
        // A downcast: requests served without the tracker's layer pay for no span at all.
        // Its masking hides the path's secrets before the span is made, so that the path is
        // one of the span's fields from the start rather than recorded into it afterwards.
        let masking = tracing::dispatcher::get_default(|dispatch| {
            Hooks::of(dispatch).map(|hooks| hooks.shared.masking.clone())
        })?;
        let uri = request.uri();
        let headers = request.headers();
        let masked = masked_path(uri.path(), &*masking);
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.host());
        // ERROR level: the span is enabled wherever the errors it gives context to are.
        // Only values that are safe in any log line are span fields (the `fmt` layer prints
        // them); headers, query and cookies go to the capture context, which only the
        // tracker reads.
        // The path is recorded with its secrets hidden (see `masked_path`).
        let span = tracing::error_span!(
            target: TARGET,
            "http_request",
            http.method = request.method().as_str(),
            http.host = host,
            http.path = masked.as_str(),
            http.route = route,
            http.request_id = Empty,
            http.client_addr = Empty,
            http.status = Empty,
        );
        // The headers and query are kept as they are (shared bytes, no parsing) and turned
        // into extras only if an error is captured inside the request: most requests succeed.
        if span.is_disabled() {
            return Self::open_without_span(request, settings, span, route, host, masked);
        }
        let context = span
            .with_subscriber(|(id, dispatch)| {
                let hooks = Hooks::of(dispatch)?;
                let context = RequestContext::new(hooks.shared.clone(), request, settings);
                hooks.set_capture_context(dispatch, id, context.clone());
                Some(context)
            })
            .flatten()?;
        if let Some(id) = context::request_id(headers) {
            span.record("http.request_id", id);
        }
        if settings.client_address
            && let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
        {
            span.record("http.client_addr", tracing::field::display(addr));
        }
        Some(RequestState::new(
            span, context, settings, request, route, masked, None,
        ))
    }

    fn new<B>(
        span: Span,
        context: Arc<RequestContext>,
        settings: &Arc<HttpSettings>,
        request: &Request<B>,
        route: Option<&str>,
        masked_path: CompactString,
        on_thread: Option<(&'static tracing::Metadata<'static>, RawFields)>,
    ) -> Self {
        RequestState {
            span,
            context,
            settings: settings.clone(),
            method: request.method().clone(),
            route: route.map(|route| bounded_copy(route, MAX_ROUTE_LEN).0),
            masked_path,
            on_thread,
        }
    }

    /// The request when a filter disabled its span (a global `EnvFilter` naming only the
    /// application's targets): the context is kept on the thread while the handler is polled
    /// instead (see [`RequestState::enter`]), with the fields the span would have had, and
    /// statuses are recorded through the current dispatcher.
    fn open_without_span<B>(
        request: &Request<B>,
        settings: &Arc<HttpSettings>,
        span: Span,
        route: Option<&str>,
        host: Option<&str>,
        masked: CompactString,
    ) -> Option<Self> {
        // Not the span's own metadata: a callsite every subscriber refuses gives none.
        crate::scope::own_span_metadata!(REQUEST_METADATA, "http_request", TARGET);
        let metadata: &'static tracing::Metadata<'static> = &REQUEST_METADATA;
        let shared = tracing::dispatcher::get_default(|dispatch| {
            Hooks::of(dispatch).map(|hooks| hooks.shared.clone())
        })?;
        let bounded = |s: &str| RawValue::Str(bounded_copy(s, MAX_ROUTE_LEN).0);
        let mut fields = RawFields::new();
        fields.push(("http.method", bounded(request.method().as_str())));
        if let Some(host) = host {
            fields.push(("http.host", bounded(host)));
        }
        fields.push(("http.path", RawValue::Str(masked.clone())));
        if let Some(route) = route {
            fields.push(("http.route", bounded(route)));
        }
        let context = RequestContext::new(shared, request, settings);
        let on_thread = Some((metadata, fields));
        Some(RequestState::new(
            span, context, settings, request, route, masked, on_thread,
        ))
    }

    /// Enters the request for one poll of its handler: its span, or, when a filter disabled
    /// that, its context kept on the thread until the guard drops.
    pub(crate) fn enter(&self) -> (tracing::span::Entered<'_>, Option<ThreadScope>) {
        let on_thread = self.on_thread.as_ref().map(|(metadata, fields)| {
            let context: Arc<dyn CaptureContext> = self.context.clone();
            ThreadScope::enter_capture_context(metadata, context, fields.clone())
        });
        (self.span.enter(), on_thread)
    }

    /// Whether anything was captured inside the request so far.
    fn captured(&self) -> bool {
        self.context.captured.load(Ordering::Relaxed)
    }

    /// The handler answered `status`: record it as an occurrence if it is a tracked status
    /// and nothing was captured for this request yet.
    pub(crate) fn answered(&self, status: StatusCode) {
        self.span.record("http.status", status.as_u16());
        if self.captured() || !self.settings.captures(status.as_u16()) {
            return;
        }
        // Without a template, the path with its ids replaced stands in for it; worked out
        // here rather than for every request, since it runs a regex.
        let route = match &self.route {
            Some(route) => route.clone(),
            None => CompactString::from(parameterize(&self.masked_path)),
        };
        let message = format_compact!("{} {} answered {}", self.method, route, status);
        // Method, route template and status, not the raw path: `/users/1` and `/users/2`
        // answering 500 are one error.
        let key = format_compact!("http {} {} {}", self.method, route, status.as_u16());
        self.capture(|_| {
            let mut raw = RawOccurrence::new(
                Level::Error,
                Cow::Borrowed(STATUS_KIND),
                message,
                location(),
            );
            raw.fields
                .push(("status", RawValue::U64(u64::from(status.as_u16()))));
            raw.custom_fingerprint = Some(key);
            raw
        });
    }

    /// The handler panicked with `payload`: record the panic with the request context,
    /// unless the tracker's panic hook already did.
    pub(crate) fn panicked(&self, payload: &(dyn Any + Send)) {
        if self.captured() {
            return;
        }
        let text = crate::panic_echo::payload_text(payload);
        crate::panic_echo::note_recorded(text);
        self.capture(|hooks| {
            let mut message = CompactString::default();
            let limit = hooks.shared.settings.max_value_len;
            let truncated =
                BoundedWriter::write_bounded(&mut message, limit, format_args!("{text}"));
            let mut raw =
                RawOccurrence::new(Level::Error, Cow::Borrowed(PANIC_KIND), message, location());
            raw.truncated = truncated;
            raw
        });
    }

    /// Captures what `build` makes inside the request span, guarded like every capture.
    fn capture(&self, build: impl FnOnce(&Hooks) -> RawOccurrence) {
        let Some(guard) = enter_tracker() else {
            return;
        };
        let mut build = Some(build);
        let mut guard = Some(guard);
        if self.on_thread.is_some() {
            // No span: the capture goes through the current dispatcher, and takes the
            // request's context from the thread (the handler is being polled).
            let submitted = catch_unwind(AssertUnwindSafe(|| {
                let build = build.take()?;
                Some(self.context.shared.submit(build(&self.hooks_for_submit()?)))
            }));
            if submitted.is_err() {
                self.context
                    .shared
                    .counters
                    .internal_panics
                    .fetch_add(1, Ordering::Relaxed);
            }
            if let Some(guard) = guard.take() {
                guard.finish(&self.context.shared);
            }
            return;
        }
        self.span.with_subscriber(|(id, dispatch)| {
            if let (Some(hooks), Some(build)) = (Hooks::of(dispatch), build.take()) {
                let captured = catch_unwind(AssertUnwindSafe(|| {
                    hooks.capture_in_span(dispatch, id, build(&hooks))
                }));
                if captured.is_err() {
                    hooks
                        .shared
                        .counters
                        .internal_panics
                        .fetch_add(1, Ordering::Relaxed);
                }
                if let Some(guard) = guard.take() {
                    guard.finish(&hooks.shared);
                }
            }
        });
    }
}

impl RequestState {
    /// The tracker of the current dispatcher, for a capture without the request span.
    fn hooks_for_submit(&self) -> Option<Hooks> {
        tracing::dispatcher::get_default(|dispatch| Hooks::of(dispatch).map(Cow::into_owned))
    }
}

/// What the request span keeps for the tracker, turned into extras on the first capture.
struct RequestContext {
    shared: Arc<Shared>,
    headers: HeaderMap,
    uri: Uri,
    client_address: bool,
    /// Set on every capture inside the request span.
    captured: AtomicBool,
    /// Built on the first capture, shared by the later ones.
    scope: OnceLock<Arc<Scope>>,
}

impl RequestContext {
    /// The request's headers and URI as they came (shared bytes, nothing parsed).
    fn new<B>(shared: Arc<Shared>, request: &Request<B>, settings: &HttpSettings) -> Arc<Self> {
        Arc::new(RequestContext {
            shared,
            headers: request.headers().clone(),
            uri: request.uri().clone(),
            client_address: settings.client_address,
            captured: AtomicBool::new(false),
            scope: OnceLock::new(),
        })
    }

    fn build_scope(&self) -> Scope {
        let mask = self.shared.masking.mask_with();
        let mut scope = Scope::default();
        let extras = &mut scope.extras;
        extras.insert(
            "http.headers".to_owned(),
            context::headers(&self.headers, mask, self.client_address),
        );
        if let Some(query) = self.uri.query() {
            extras.insert("http.query".to_owned(), context::query(query));
        }
        if let Some(cookies) = context::cookies(&self.headers, mask) {
            // Not `http.cookies`: the default masked key `cookie` would hide the whole map,
            // where the names are kept.
            extras.insert("http.jar".to_owned(), cookies);
        }
        scope
    }
}

impl CaptureContext for RequestContext {
    fn on_capture(&self) -> Option<Arc<Scope>> {
        self.captured.store(true, Ordering::Relaxed);
        Some(
            self.scope
                .get_or_init(|| Arc::new(self.build_scope()))
                .clone(),
        )
    }
}

/// The request path as the tracker records it: cut to [`MAX_ROUTE_LEN`] (before anything
/// runs over it, so that a 64 KB path costs what a 1 KB one does), with each segment that
/// sits in a secret's place or looks like a secret replaced by the mask.
///
/// A segment after one whose name is a sensitive key (`/reset-password/<token>`,
/// `/api/token/<token>`) is hidden, and so is any segment that looks like a credential: 16
/// or more characters of a token alphabet mixing letters and digits, or 32 or more of any.
/// Ids stay (`/users/7`): grouping parameterises them separately.
fn masked_path(path: &str, masking: &dyn Masking) -> CompactString {
    let path = &path[..path.floor_char_boundary(MAX_ROUTE_LEN)];
    let mut out = CompactString::with_capacity(path.len());
    let mut after_sensitive = false;
    for (n, segment) in path.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        if !segment.is_empty() && (after_sensitive || looks_like_credential(segment)) {
            out.push_str(masking.mask_with());
            after_sensitive = false;
            continue;
        }
        after_sensitive = !segment.is_empty() && masking.is_sensitive_key(segment);
        out.push_str(segment);
    }
    out
}

/// A path segment shaped like a token, a key or a signature rather than a name.
fn looks_like_credential(segment: &str) -> bool {
    let token_alphabet = segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'));
    let has_digit = segment.bytes().any(|b| b.is_ascii_digit());
    let has_letter = segment.bytes().any(|b| b.is_ascii_alphabetic());
    segment.len() >= 32 || (token_alphabet && has_digit && has_letter && segment.len() >= 16)
}

/// Where the middleware's own occurrences come from: no file or line, the middleware's
/// target (which is part of their grouping).
fn location() -> RawLocation {
    RawLocation {
        target: Cow::Borrowed(TARGET),
        module: None,
        file: None,
        line: None,
    }
}
