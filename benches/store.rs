//! The redb store at the scale it is built for: listing pages among 100,000 errors, and
//! recording batches as the worker hands them over (throughput in occurrences).
//!
//! - `1000 new errors`: each batch adds 1,000 errors never seen before to a store that grows
//!   by as much with every iteration (past 100,000 over a run).
//! - `1000 known errors`: the same 1,000 errors occur again, one occurrence each: the usual
//!   case, since errors recur.
//! - `one error 1000 times`: one update of 1,000 occurrences with 10 samples, as the worker
//!   coalesces a storm of one error.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use error_tracker::store::{GroupUpdate, RedbStore};
use error_tracker::{ListQuery, Occurrence, Store};
use time::{Duration, OffsetDateTime};

const ERRORS: usize = 100_000;
const BATCH: usize = 1_000;

/// One update as the worker makes it: `count` occurrences, the newest `samples` kept.
fn update(fingerprint: String, count: u64, samples: usize, at: OffsetDateTime) -> GroupUpdate {
    let samples: Vec<Occurrence> = (0..samples)
        .map(|i| {
            let mut sample = Occurrence::new(
                "std::io::error::Error",
                format!("request {fingerprint} failed: connection reset"),
            );
            sample.time = at + Duration::milliseconds(i as i64);
            sample.fields.insert("user_id".into(), 1234.into());
            sample.fields.insert("path".into(), "/api/orders/17".into());
            sample.extras.insert("attempt".into(), 3.into());
            sample
        })
        .collect();
    GroupUpdate {
        fingerprint,
        grouping_version: 1,
        count,
        first_seen: at,
        last_seen: at + Duration::milliseconds(samples.len() as i64),
        dropped_samples: count - samples.len() as u64,
        samples,
        keep_samples: 10,
    }
}

/// Fingerprints are hashes: in a batch, and against those stored, they come in random order.
fn fingerprint(i: usize) -> String {
    format!("{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// One occurrence each of errors `first..first + BATCH`.
fn distinct_batch(first: usize, at: OffsetDateTime) -> Vec<GroupUpdate> {
    (first..first + BATCH)
        .map(|i| update(fingerprint(i), 1, 1, at))
        .collect()
}

fn listing(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("list.redb")).unwrap();
    let start = OffsetDateTime::now_utc() - Duration::days(2);
    for first in (0..ERRORS).step_by(BATCH) {
        let at = start + Duration::seconds(first as i64);
        store.record(&distinct_batch(first, at)).unwrap();
    }
    let mut group = c.benchmark_group("list 100k errors");
    for page in [1, 100] {
        group.bench_function(format!("page {page}"), |b| {
            b.iter(|| black_box(store.list(&ListQuery::page(page, 10)).unwrap()))
        });
    }
    group.finish();
}

fn recording(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("record.redb")).unwrap();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut next = 0;
    group.bench_function("1000 new errors", |b| {
        b.iter_batched(
            || {
                next += BATCH;
                distinct_batch(next, OffsetDateTime::now_utc())
            },
            |batch| store.record(&batch).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("1000 known errors", |b| {
        b.iter_batched(
            || distinct_batch(0, OffsetDateTime::now_utc()),
            |batch| store.record(&batch).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("one error 1000 times", |b| {
        b.iter_batched(
            || {
                vec![update(
                    "one".to_owned(),
                    BATCH as u64,
                    10,
                    OffsetDateTime::now_utc(),
                )]
            },
            |batch| store.record(&batch).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, listing, recording);
criterion_main!(benches);
