//! Caller-thread cost of the layer, as a ratio to a no-op layer in the same run.
//!
//! Workloads: (1) a span with 3 fields created, entered, exited and dropped; (2) an `info!`
//! event inside one span; (3) an `error!` with an error field inside 3 spans of 2 fields each
//! (what a capture costs the thread that raised it).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

fn subscribers() -> Vec<(&'static str, Dispatch, Option<error_tracker::ErrorTracker>)> {
    let tracker = error_tracker::ErrorTracker::builder()
        .store(error_tracker::MemoryStore::new())
        .build()
        .expect("tracker builds");
    vec![
        (
            "baseline (no-op layer)",
            Dispatch::new(tracing_subscriber::registry().with(NoopLayer)),
            None,
        ),
        (
            "error-tracker",
            Dispatch::new(tracing_subscriber::registry().with(tracker.layer())),
            Some(tracker),
        ),
    ]
}

fn span_with_three_fields(c: &mut Criterion) {
    let mut group = c.benchmark_group("1_span_3_fields");
    for (name, dispatch, _tracker) in subscribers() {
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let span =
                        tracing::info_span!("request", method = "GET", id = 42u64, ok = true);
                    let _entered = black_box(span.enter());
                })
            });
        });
    }
    group.finish();
}

fn info_event_in_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("2_info_event_in_span");
    for (name, dispatch, _tracker) in subscribers() {
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request", id = 1u64);
            let _entered = span.enter();
            group.bench_function(name, |b| {
                b.iter(|| tracing::info!(n = black_box(3), "working"))
            });
        });
    }
    group.finish();
}

fn error_in_three_spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("3_error_in_3_spans");
    let err = std::io::Error::other("connection refused");
    for (name, dispatch, tracker) in subscribers() {
        tracing::dispatcher::with_default(&dispatch, || {
            let a = tracing::info_span!("request", method = "GET", path = "/orders");
            let _a = a.enter();
            let b = tracing::info_span!("handler", user = 7u64, admin = false);
            let _b = b.enter();
            let c = tracing::info_span!("db", table = "orders", attempt = 1u64);
            let _c = c.enter();
            group.bench_function(name, |bench| {
                bench.iter(|| {
                    tracing::error!(
                        error = &err as &dyn std::error::Error,
                        order = 17u64,
                        "payment failed"
                    )
                })
            });
        });
        if let Some(tracker) = tracker {
            tracker.flush(std::time::Duration::from_secs(10));
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    span_with_three_fields,
    info_event_in_span,
    error_in_three_spans
);
criterion_main!(benches);
