//! Caller-thread cost of the layer next to its peers, each as a column in the same run, so
//! that the ratios to the baseline (a no-op layer) hold on other machines.
//!
//! Workloads: (1) a span with 3 fields created, entered, exited and dropped; (2) an `info!`
//! event inside one span; (3) an `error!` with an error field inside 3 spans of 2 fields each
//! (what a capture costs the thread that raised it); (4) the same as (3) after 100 `info!`
//! events in those spans (which Sentry keeps as breadcrumbs).
//!
//! `scripts/bench.sh` runs this several times and prints the table of medians.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Column, columns};

fn each_column(c: &mut Criterion, group: &str, mut run: impl FnMut(&Column, &mut Criterion, &str)) {
    let _sentry = common::init_sentry();
    for column in columns() {
        column.settle();
        tracing::dispatcher::with_default(&column.dispatch, || run(&column, c, group));
        column.settle();
    }
}

fn span_with_three_fields(c: &mut Criterion) {
    each_column(c, "1_span_3_fields", |column, c, group| {
        c.benchmark_group(group)
            .bench_function(column.name, |b| b.iter(common::span_with_three_fields));
    });
}

fn info_event_in_span(c: &mut Criterion) {
    each_column(c, "2_info_event_in_span", |column, c, group| {
        common::in_one_span(|| {
            c.benchmark_group(group)
                .bench_function(column.name, |b| b.iter(common::info_event));
        })
    });
}

fn error_in_three_spans(c: &mut Criterion) {
    let err = std::io::Error::other("connection refused");
    each_column(c, "3_error_in_3_spans", |column, c, group| {
        common::in_three_spans(|| {
            c.benchmark_group(group)
                .bench_function(column.name, |b| b.iter(|| common::error_event(&err)));
        })
    });
}

fn error_after_hundred_infos(c: &mut Criterion) {
    let err = std::io::Error::other("connection refused");
    each_column(c, "4_error_after_100_infos", |column, c, group| {
        common::in_three_spans(|| {
            common::hundred_info_events();
            c.benchmark_group(group)
                .bench_function(column.name, |b| b.iter(|| common::error_event(&err)));
        })
    });
}

criterion_group!(
    benches,
    span_with_three_fields,
    info_event_in_span,
    error_in_three_spans,
    error_after_hundred_infos
);
criterion_main!(benches);
