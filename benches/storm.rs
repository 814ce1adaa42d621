//! (5) An error storm: 2 threads raise the same error as fast as they can for 5 seconds
//! (`STORM_SECS` to change it), then the tracker is flushed into a redb file.
//!
//! Prints occurrences per second, checks that the stored count is exactly the number
//! raised (nothing lost, nothing counted twice), and the growth of the peak resident memory
//! over the run (`VmHWM` against `VmRSS` before it, from `/proc/self/status`; the peak is
//! reset first through `/proc/self/clear_refs`). Writes `target/bench-results/storm.json`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use error_tracker::ErrorTracker;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const THREADS: usize = 2;

/// A `kB` figure from `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time used by the whole process so far (every thread: the emitters and the worker), in
/// seconds, from `/proc/self/stat` (`utime` + `stime`, in USER_HZ = 100 ticks a second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let secs: f64 = std::env::var("STORM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let dir = tempfile::tempdir().expect("temp dir");
    let tracker = ErrorTracker::builder()
        .database_path(dir.path().join("storm.redb"))
        .build()
        .expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    let err = std::io::Error::other("connection refused");

    // Reset the peak to the current resident size, so that the peak read afterwards is the
    // storm's own.
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_bytes("VmRSS").unwrap_or(0);

    let stop = AtomicBool::new(false);
    let cpu_before = cpu_seconds().unwrap_or(0.0);
    let start = Instant::now();
    let raised: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let span = tracing::info_span!("request", method = "POST", id = 7u64);
                        let _entered = span.enter();
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..256 {
                                tracing::error!(
                                    error = &err as &dyn std::error::Error,
                                    order = 17u64,
                                    "payment failed"
                                );
                            }
                            n += 256;
                        }
                        n
                    })
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("emitter"))
            .sum()
    });
    let emitting = start.elapsed();
    assert!(
        tracker.flush(Duration::from_secs(120)),
        "flushed: {:?}",
        tracker.stats()
    );
    let total = start.elapsed();
    let cpu = cpu_seconds().unwrap_or(0.0) - cpu_before;
    let cpu_ns_per_occurrence = cpu * 1e9 / raised.max(1) as f64;
    let peak = status_bytes("VmHWM").unwrap_or(0);

    let stats = tracker.stats();
    let page = tracker.errors(1).expect("listing");
    let stored = page.items.first().map_or(0, |e| e.count);
    let exact = stored == raised && page.total == 1 && stats.lost == 0;
    let per_second = raised as f64 / total.as_secs_f64();
    let growth = peak.saturating_sub(rss_before);
    println!(
        "storm: {THREADS} threads, {raised} occurrences raised in {:.2} s, flushed after {:.2} s",
        emitting.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "storm: {:.0} occurrences/s (raise to flush), stored count {stored} ({}), lost {}",
        per_second,
        if exact { "exact" } else { "NOT EXACT" },
        stats.lost
    );
    // On a machine shared with other work, the rate says how much CPU the storm was given;
    // the CPU time per occurrence says what each one costs, whatever the load.
    println!(
        "storm: {cpu_ns_per_occurrence:.0} ns of CPU per occurrence (callers and worker), \
         {:.2} cores busy on average",
        cpu / total.as_secs_f64()
    );
    println!(
        "storm: peak RSS growth {:.1} MB (VmRSS before {:.1} MB, VmHWM {:.1} MB{})",
        growth as f64 / 1e6,
        rss_before as f64 / 1e6,
        peak as f64 / 1e6,
        if peak_reset {
            ""
        } else {
            "; peak not reset, so an upper bound"
        }
    );
    let json = format!(
        "{{\"threads\":{THREADS},\"seconds\":{secs},\"raised\":{raised},\"stored\":{stored},\
         \"exact\":{exact},\"lost\":{},\"emitting_s\":{},\"total_s\":{},\
         \"occurrences_per_s\":{per_second},\"rss_before\":{rss_before},\"peak_rss\":{peak},\
         \"peak_rss_growth\":{growth},\"cpu_ns_per_occurrence\":{cpu_ns_per_occurrence}}}",
        stats.lost,
        emitting.as_secs_f64(),
        total.as_secs_f64()
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&out).expect("results directory");
    std::fs::write(out.join("storm.json"), json).expect("results written");
    assert!(exact, "the storm was not counted exactly: {stats:?}");
}
