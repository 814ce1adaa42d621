//! What the context an error carries costs the threads that log and raise, as ratios in one
//! run:
//!
//! - `5_error_backtraces`: workload (3) of `benches/peers.rs` (an `error!` inside 3 spans) on
//!   one hot callsite, with `backtraces` off (the baseline), `new_callsites` (one backtrace
//!   per callsite per hour: the target is at most 1.1x off) and `always`, beside
//!   sentry-tracing's layer (which takes no backtrace for events by default).
//! - `6_panic_capture`: a panic caught with `catch_unwind`, with the tracker's hook taking a
//!   backtrace (the default), without one, and with only std's hook silenced (the floor).
//! - `7_info_breadcrumbs`: workload (2) (an `info!` in one span) with the no-op layer (the
//!   baseline), the tracker with breadcrumbs off and on (20), and sentry-tracing, which keeps
//!   every `info!` as a breadcrumb (the target: on at most 0.2x sentry's, off 1.0x the
//!   baseline).
//!
//! `scripts/bench.sh` runs it and prints the ratios.

use std::time::Duration;

use criterion::{Criterion, criterion_group};
use error_tracker::{BacktraceMode, ErrorTracker};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

mod common;

fn tracker(mode: BacktraceMode, panic_backtraces: bool) -> (ErrorTracker, Dispatch) {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .backtraces(mode)
        .panic_backtraces(panic_backtraces)
        // A panic is stored before the hook returns; the bench measures the capture, so it
        // does not wait for the store.
        .panic_flush_timeout(Duration::ZERO)
        .build()
        .expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

fn error_backtraces(c: &mut Criterion) {
    let _sentry = common::init_sentry();
    let err = std::io::Error::other("connection refused");
    let mut group = c.benchmark_group("5_error_backtraces");
    for (name, mode) in [
        ("off", BacktraceMode::Off),
        ("new_callsites", BacktraceMode::NewCallsites),
        ("always", BacktraceMode::Always),
    ] {
        let (tracker, dispatch) = tracker(mode, true);
        tracing::dispatcher::with_default(&dispatch, || {
            common::in_three_spans(|| {
                group.bench_function(name, |b| b.iter(|| common::error_event(&err)));
            })
        });
        tracker.flush(Duration::from_secs(60));
    }
    #[allow(deprecated)]
    let sentry = Dispatch::new(tracing_subscriber::registry().with(sentry_tracing::layer()));
    tracing::dispatcher::with_default(&sentry, || {
        common::in_three_spans(|| {
            group.bench_function("sentry-tracing", |b| b.iter(|| common::error_event(&err)));
        })
    });
    group.finish();
}

#[inline(never)]
fn panicking() {
    let _ = std::panic::catch_unwind(|| {
        common::in_one_span(|| panic!("card declined"));
    });
}

fn panic_capture(c: &mut Criterion) {
    let mut group = c.benchmark_group("6_panic_capture");
    // The floor: std's hook silenced, nothing captured.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let noop = Dispatch::new(tracing_subscriber::registry().with(common::NoopLayer));
    tracing::dispatcher::with_default(&noop, || {
        group.bench_function("no_hook", |b| b.iter(panicking));
    });
    for (name, backtraces) in [("without_backtrace", false), ("with_backtrace", true)] {
        std::panic::set_hook(Box::new(|_| {}));
        let (tracker, dispatch) = tracker(BacktraceMode::Off, backtraces);
        tracker.install_panic_hook();
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(name, |b| b.iter(panicking));
        });
        tracker.flush(Duration::from_secs(60));
    }
    std::panic::set_hook(previous);
    group.finish();
}

/// `cargo bench --bench context -- profile MODE N`: workload (3) N times (after N / 10
/// to warm up) with `backtraces = MODE` (`off`, `new_callsites`, `always`), for callgrind.
fn profile(mode: &str, n: u64) {
    let mode = match mode {
        "new_callsites" => BacktraceMode::NewCallsites,
        "always" => BacktraceMode::Always,
        _ => BacktraceMode::Off,
    };
    let err = std::io::Error::other("connection refused");
    let (tracker, dispatch) = tracker(mode, true);
    tracing::dispatcher::with_default(&dispatch, || {
        common::in_three_spans(|| {
            for _ in 0..n + n / 10 {
                common::error_event(&err);
            }
        })
    });
    tracker.flush(Duration::from_secs(60));
}

fn info_breadcrumbs(c: &mut Criterion) {
    let _sentry = common::init_sentry();
    let mut group = c.benchmark_group("7_info_breadcrumbs");
    let noop = Dispatch::new(tracing_subscriber::registry().with(common::NoopLayer));
    let off = breadcrumb_tracker(0);
    let on = breadcrumb_tracker(20);
    #[allow(deprecated)]
    let sentry = Dispatch::new(tracing_subscriber::registry().with(sentry_tracing::layer()));
    let floor = Dispatch::new(tracing_subscriber::registry().with(FloorLayer));
    for (name, dispatch) in [
        ("noop", &noop),
        ("lookup_and_format_floor", &floor),
        ("breadcrumbs_off", &off.1),
        ("breadcrumbs_on", &on.1),
        ("sentry-tracing", &sentry),
    ] {
        tracing::dispatcher::with_default(dispatch, || {
            common::in_one_span(|| {
                group.bench_function(name, |b| b.iter(common::info_event));
            })
        });
        sentry::configure_scope(|scope| scope.clear_breadcrumbs());
    }
    group.finish();
}

/// The least a breadcrumb kept in its span tree can cost, with nothing of this crate's: the
/// event's span and its extensions looked up in the registry, and its message formatted.
struct FloorLayer;

impl<S> tracing_subscriber::Layer<S> for FloorLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(compact_str::CompactString);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    use std::fmt::Write;
                    let _ = write!(self.0, "{value:?}");
                }
            }
        }
        let mut message = Message(compact_str::CompactString::default());
        event.record(&mut message);
        if let Some(span) = ctx.event_span(event) {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<std::collections::VecDeque<compact_str::CompactString>>() {
                Some(kept) => {
                    if kept.len() == 20 {
                        kept.pop_front();
                    }
                    kept.push_back(message.0);
                }
                None => extensions.insert(std::collections::VecDeque::from([message.0])),
            }
        }
    }
}

fn breadcrumb_tracker(count: usize) -> (ErrorTracker, Dispatch) {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .breadcrumbs(count)
        .build()
        .expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

/// `profile breadcrumbs COUNT N`: workload (2) N times with `breadcrumbs(COUNT)`
/// (`COUNT` = `floor`: the floor layer instead).
fn profile_breadcrumbs(count: Option<usize>, n: u64) {
    let (_tracker, dispatch) = match count {
        Some(count) => {
            let (tracker, dispatch) = breadcrumb_tracker(count);
            (Some(tracker), dispatch)
        }
        None => (
            None,
            Dispatch::new(tracing_subscriber::registry().with(FloorLayer)),
        ),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        common::in_one_span(|| {
            for _ in 0..n + n / 10 {
                common::info_event();
            }
        })
    });
}

criterion_group!(benches, error_backtraces, panic_capture, info_breadcrumbs);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("profile")
        && args.get(1).map(String::as_str) == Some("breadcrumbs")
    {
        let count = args.get(2).and_then(|a| a.parse().ok());
        let n = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20_000);
        profile_breadcrumbs(count, n);
        return;
    }
    if args.first().map(String::as_str) == Some("profile") {
        let mode = args.get(1).map_or("off", String::as_str);
        let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
        profile(mode, n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
