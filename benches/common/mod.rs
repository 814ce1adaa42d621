//! The subscribers every caller-side bench compares, and the workloads they run.
//!
//! Each column is `tracing_subscriber::registry().with(layer)`: a layer that does nothing
//! (the baseline), this crate's layer, `tracing_error::ErrorLayer`, `sentry_tracing`'s layer
//! with a client whose transport drops every envelope (all of Sentry's work on the caller
//! thread, no network), and `fmt::layer()` writing to `io::sink()`.

#![allow(dead_code)]

use std::sync::Arc;

use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// A layer that does nothing: what the registry alone costs.
pub struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

/// A Sentry transport that drops envelopes: the event is fully built, then let go.
struct DropTransport;

impl sentry::Transport for DropTransport {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        std::hint::black_box(envelope);
    }
}

/// Binds a Sentry client with a dropping transport to the process's hub; keep the guard
/// for as long as the Sentry column is measured.
pub fn init_sentry() -> sentry::ClientInitGuard {
    let mut options = sentry::ClientOptions::new();
    // A client without a DSN is disabled and skips all the work; this one never sends.
    options.dsn = "https://public@127.0.0.1/1".parse().ok();
    options.transport = Some(Arc::new(Arc::new(DropTransport)));
    sentry::init(options)
}

/// One column of the tables.
pub struct Column {
    pub name: &'static str,
    pub dispatch: Dispatch,
    pub tracker: Option<error_tracker::ErrorTracker>,
}

impl Column {
    /// Waits until the tracker (if any) has stored what was captured, and forgets Sentry's
    /// breadcrumbs, so that one workload leaves nothing behind for the next.
    pub fn settle(&self) {
        if let Some(tracker) = &self.tracker {
            tracker.flush(std::time::Duration::from_secs(30));
        }
        sentry::configure_scope(|scope| scope.clear_breadcrumbs());
    }
}

/// The five columns, in table order. Call [`init_sentry`] first.
pub fn columns() -> Vec<Column> {
    let tracker = error_tracker::ErrorTracker::builder()
        .in_memory()
        .build()
        .expect("tracker builds");
    #[allow(deprecated)]
    // the combined layer is what `registry().with(sentry_tracing::layer())` gives
    let sentry_layer = sentry_tracing::layer();
    vec![
        Column {
            name: "noop",
            dispatch: Dispatch::new(tracing_subscriber::registry().with(NoopLayer)),
            tracker: None,
        },
        Column {
            name: "error-tracker",
            dispatch: Dispatch::new(tracing_subscriber::registry().with(tracker.layer())),
            tracker: Some(tracker),
        },
        Column {
            name: "tracing-error",
            dispatch: Dispatch::new(
                tracing_subscriber::registry().with(tracing_error::ErrorLayer::default()),
            ),
            tracker: None,
        },
        Column {
            name: "sentry-tracing",
            dispatch: Dispatch::new(tracing_subscriber::registry().with(sentry_layer)),
            tracker: None,
        },
        Column {
            name: "fmt-to-sink",
            dispatch: Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink)),
            ),
            tracker: None,
        },
    ]
}

/// Two ways to put the layer beside another layer that wants every event (here a no-op
/// one standing for `fmt`): as is, and behind a per-layer `LevelFilter::ERROR`. For the
/// question whether per-layer filtering makes events below the capture level cheaper;
/// only `--bench allocations -- profile` runs them.
pub fn filter_columns() -> Vec<Column> {
    use tracing_subscriber::filter::LevelFilter;
    let tracker = error_tracker::ErrorTracker::builder()
        .in_memory()
        .build()
        .expect("tracker builds");
    let filtered = error_tracker::ErrorTracker::builder()
        .in_memory()
        .build()
        .expect("tracker builds");
    vec![
        Column {
            name: "beside-noop",
            dispatch: Dispatch::new(
                tracing_subscriber::registry()
                    .with(NoopLayer)
                    .with(tracker.layer()),
            ),
            tracker: Some(tracker),
        },
        Column {
            name: "beside-noop-filtered",
            dispatch: Dispatch::new(
                tracing_subscriber::registry()
                    .with(NoopLayer)
                    .with(filtered.layer().with_filter(LevelFilter::ERROR)),
            ),
            tracker: Some(filtered),
        },
        Column {
            name: "noop-beside-noop",
            dispatch: Dispatch::new(
                tracing_subscriber::registry()
                    .with(NoopLayer)
                    .with(NoopLayer),
            ),
            tracker: None,
        },
    ]
}

/// (1) A span with 3 fields: created, entered, exited, dropped.
#[inline(never)]
pub fn span_with_three_fields() {
    let span = tracing::info_span!("request", method = "GET", id = 42u64, ok = true);
    let _entered = std::hint::black_box(span.enter());
}

/// (2) An `info!` event; the caller has entered one span.
#[inline(never)]
pub fn info_event() {
    tracing::info!(n = std::hint::black_box(3), "working");
}

/// Runs `f` inside one entered span with one field, as workload (2) asks.
pub fn in_one_span<R>(f: impl FnOnce() -> R) -> R {
    let span = tracing::info_span!("request", id = 1u64);
    let _entered = span.enter();
    f()
}

/// (3) An `error!` with an error field; the caller has entered 3 spans of 2 fields each.
#[inline(never)]
pub fn error_event(err: &std::io::Error) {
    tracing::error!(
        error = err as &dyn std::error::Error,
        order = 17u64,
        "payment failed"
    );
}

/// Runs `f` inside 3 nested, entered spans of 2 fields each, as workload (3) asks.
pub fn in_three_spans<R>(f: impl FnOnce() -> R) -> R {
    let a = tracing::info_span!("request", method = "GET", path = "/orders");
    let _a = a.enter();
    let b = tracing::info_span!("handler", user = 7u64, admin = false);
    let _b = b.enter();
    let c = tracing::info_span!("db", table = "orders", attempt = 1u64);
    let _c = c.enter();
    f()
}

/// What (4) runs before it measures: 100 `info!` events in the current spans (Sentry keeps
/// them as breadcrumbs and sends them with every error event).
pub fn hundred_info_events() {
    for i in 0..100u64 {
        tracing::info!(step = i, "working on the order");
    }
}
