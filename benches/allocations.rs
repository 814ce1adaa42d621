//! Heap allocations per operation on the calling thread, for workloads (1)-(3), in every
//! column: a counting global allocator that counts only on the thread being measured (the
//! tracker's worker allocates on its own thread, off the caller's path).
//!
//! `cargo bench --bench allocations` prints the table and writes
//! `target/bench-results/allocations.json`. `cargo bench --bench allocations -- profile W
//! COLUMN N` instead runs workload W (1-4) in COLUMN N times, for a profiler
//! (`valgrind --tool=callgrind`, `perf record`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;

mod common;
use common::Column;

struct Counting;

thread_local! {
    /// (counting, allocations, bytes) for this thread; const-initialised, so reading it
    /// never allocates.
    static COUNTS: (Cell<bool>, Cell<u64>, Cell<u64>) =
        const { (Cell::new(false), Cell::new(0), Cell::new(0)) };
}

fn note(size: usize) {
    // `try_with`: the allocator runs while thread-locals are torn down too.
    let _ = COUNTS.try_with(|(on, count, bytes)| {
        if on.get() {
            count.set(count.get() + 1);
            bytes.set(bytes.get() + size as u64);
        }
    });
}

// SAFETY: every call is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations and bytes per call of `f`, over `n` calls after `n / 10` warm-up calls.
fn per_op(n: u64, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    COUNTS.with(|(on, count, bytes)| {
        count.set(0);
        bytes.set(0);
        on.set(true);
    });
    for _ in 0..n {
        f();
    }
    COUNTS.with(|(on, count, bytes)| {
        on.set(false);
        (count.get() as f64 / n as f64, bytes.get() as f64 / n as f64)
    })
}

const WORKLOADS: [&str; 4] = [
    "1_span_3_fields",
    "2_info_event_in_span",
    "3_error_in_3_spans",
    "4_error_after_100_infos",
];

/// Runs workload `w` (1-4) `n` times in `column`; allocations and bytes per operation.
fn run(w: usize, column: &Column, n: u64) -> (f64, f64) {
    let err = std::io::Error::other("connection refused");
    column.settle();
    let result = tracing::dispatcher::with_default(&column.dispatch, || match w {
        1 => per_op(n, common::span_with_three_fields),
        2 => common::in_one_span(|| per_op(n, common::info_event)),
        3 => common::in_three_spans(|| per_op(n, || common::error_event(&err))),
        _ => common::in_three_spans(|| {
            common::hundred_info_events();
            per_op(n, || common::error_event(&err))
        }),
    });
    column.settle();
    result
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let _sentry = common::init_sentry();
    let columns = common::columns();
    if args.first().map(String::as_str) == Some("profile") {
        let w: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
        let name = args.get(2).map_or("error-tracker", String::as_str);
        let n: u64 = args
            .get(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        // Made only when asked for: a per-layer filter anywhere in the process makes every
        // callsite's interest `sometimes`, which would tax all the other columns.
        let extra = if name.starts_with("beside") || name.ends_with("beside-noop") {
            common::filter_columns()
        } else {
            Vec::new()
        };
        let column = columns
            .iter()
            .chain(&extra)
            .find(|c| c.name == name)
            .expect("known column");
        run(w, column, n);
        return;
    }
    let mut json = String::from("{");
    println!(
        "{:<26} {}",
        "allocations per op (bytes)",
        columns
            .iter()
            .map(|c| format!("{:>22}", c.name))
            .collect::<String>()
    );
    for (i, workload) in WORKLOADS.iter().enumerate().take(3) {
        let mut line = format!("{workload:<26} ");
        let _ = write!(json, "{}\"{workload}\":{{", if i > 0 { "," } else { "" });
        for (j, column) in columns.iter().enumerate() {
            let n = if column.name == "sentry-tracing" {
                20_000
            } else {
                200_000
            };
            let (count, bytes) = run(i + 1, column, n);
            let _ = write!(line, "{:>22}", format!("{count:.2} ({bytes:.0} B)"));
            let _ = write!(
                json,
                "{}\"{}\":{{\"allocations\":{count},\"bytes\":{bytes}}}",
                if j > 0 { "," } else { "" },
                column.name
            );
        }
        json.push('}');
        println!("{line}");
    }
    json.push('}');
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&dir).expect("results directory");
    std::fs::write(dir.join("allocations.json"), json).expect("results written");
}
