//! Sustained ingestion through the layer and the worker into a redb file.
//!
//! (a) 100,000 distinct errors, (b) one error repeated 1,000,000 times from 2 threads; each
//! timed from the first capture until `flush` returns, so the figure includes the worker's
//! masking, grouping and the redb commits, not only the callers' hand-over.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use error_tracker::{ErrorTracker, RedbStore};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// A word made of letters only, so that every message stays its own group after the
/// parameterisation that would merge numbers.
fn word(mut n: usize) -> String {
    let mut out = String::new();
    loop {
        out.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

fn tracker(dir: &tempfile::TempDir) -> (ErrorTracker, Dispatch) {
    let store = RedbStore::open(dir.path().join("bench.redb")).expect("store opens");
    let tracker = ErrorTracker::builder()
        .store(store)
        .max_pending_errors(262_144)
        .build()
        .expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

/// Runs `emit` against a fresh tracker and file per iteration, timing it up to a completed
/// flush; `check` then asserts nothing was lost, outside the timed part.
fn timed(iterations: u64, emit: impl Fn(&Dispatch), check: impl Fn(&ErrorTracker)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let dir = tempfile::tempdir().expect("temp dir");
        let (tracker, dispatch) = tracker(&dir);
        let start = Instant::now();
        emit(&dispatch);
        assert!(
            tracker.flush(Duration::from_secs(120)),
            "{:?}",
            tracker.stats()
        );
        total += start.elapsed();
        check(&tracker);
    }
    total
}

fn distinct_errors(c: &mut Criterion) {
    const ERRORS: usize = 100_000;
    let messages: Vec<String> = (0..ERRORS)
        .map(|i| format!("component {} failed", word(i)))
        .collect();
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(ERRORS as u64));
    group.bench_function("100k_distinct_errors_into_redb", |b| {
        b.iter_custom(|iterations| {
            timed(
                iterations,
                |dispatch| {
                    tracing::dispatcher::with_default(dispatch, || {
                        for message in &messages {
                            tracing::error!("{}", message);
                        }
                    })
                },
                // The figure only counts if nothing was lost on the way.
                |tracker| {
                    assert_eq!(
                        tracker.stats().stored,
                        ERRORS as u64,
                        "{:?}",
                        tracker.stats()
                    )
                },
            )
        })
    });
    group.finish();
}

fn repeated_error(c: &mut Criterion) {
    const PER_THREAD: usize = 500_000;
    let mut group = c.benchmark_group("ingest");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(2 * PER_THREAD as u64));
    group.bench_function("1m_repeats_of_one_error_2_threads_into_redb", |b| {
        b.iter_custom(|iterations| {
            timed(
                iterations,
                |dispatch| {
                    std::thread::scope(|scope| {
                        for _ in 0..2 {
                            let dispatch = dispatch.clone();
                            scope.spawn(move || {
                                tracing::dispatcher::with_default(&dispatch, || {
                                    for i in 0..PER_THREAD {
                                        tracing::error!(attempt = i, "payment failed");
                                    }
                                })
                            });
                        }
                    })
                },
                |tracker| {
                    let page = tracker.errors(1).expect("list");
                    assert_eq!(
                        page.items[0].count,
                        2 * PER_THREAD as u64,
                        "counted exactly"
                    );
                },
            )
        })
    });
    group.finish();
}

criterion_group!(benches, distinct_errors, repeated_error);
criterion_main!(benches);
