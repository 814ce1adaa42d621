//! What redb itself allows for workload (6), with none of this crate's code: 100,000 new
//! errors written straight into a redb file with the store's settings (`Durability::Immediate`,
//! a 32 MiB cache, 16-hex-digit fingerprints in random order), in batches of 4,096 and of
//! 65,536, as four layouts of increasing need:
//!
//! - `row`: one 200-byte row per error keyed by fingerprint (a point lookup by fingerprint
//!   needs at least this), with a lookup before it (a count is added to what is stored);
//! - `row + 2 indexes`: and an entry in a last-seen index and in a (status, last seen) index,
//!   both in time order (listing newest first in O(page), with and without a status filter);
//! - `row + 2 indexes + sample`: and a 420-byte sample keyed by time (the store's layout);
//! - `journal`: the same bytes as the last, one row per batch, nothing indexed (what an
//!   append-only log would cost before any index is built).
//!
//! Prints errors per second for each, the best of `REDB_FLOOR_RUNS` runs (default 3), and
//! writes `target/bench-results/redb_floor.json`.

use std::time::{Duration, Instant};

use redb::{Builder, Database, ReadableTable, TableDefinition};

const ERRORS: u64 = 100_000;
const ROW: usize = 200;
const SAMPLE: usize = 420;

const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
const BY_RECENT: TableDefinition<(u64, &str), ()> = TableDefinition::new("by_recent");
const BY_STATUS: TableDefinition<(u8, u64, &str), ()> = TableDefinition::new("by_status");
const SAMPLES: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("samples");
const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Row,
    Indexed,
    WithSample,
    Journal,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Row => "row",
            Layout::Indexed => "row + 2 indexes",
            Layout::WithSample => "row + 2 indexes + sample",
            Layout::Journal => "journal",
        }
    }
}

/// Fingerprints are hashes: random order against each other and against those stored.
fn fingerprint(i: u64) -> String {
    format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn open(dir: &tempfile::TempDir) -> Database {
    Builder::new()
        .set_cache_size(32 * 1024 * 1024)
        .create(dir.path().join("floor.redb"))
        .expect("redb file")
}

/// Writes every error in batches of `batch`, one durable transaction each.
fn run(layout: Layout, batch: u64, fps: &[String]) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open(&dir);
    let row = vec![7u8; ROW];
    let sample = vec![9u8; SAMPLE];
    let start = Instant::now();
    let mut first = 0;
    while first < ERRORS {
        let end = (first + batch).min(ERRORS);
        let txn = db.begin_write().expect("write transaction");
        {
            if layout == Layout::Journal {
                let mut journal = txn.open_table(JOURNAL).expect("table");
                let mut bytes = Vec::with_capacity((end - first) as usize * (ROW + SAMPLE));
                for i in first..end {
                    bytes.extend_from_slice(fps[i as usize].as_bytes());
                    bytes.extend_from_slice(&row);
                    bytes.extend_from_slice(&sample);
                }
                journal.insert(first, bytes.as_slice()).expect("insert");
            } else {
                let mut groups = txn.open_table(GROUPS).expect("table");
                let mut by_recent = txn.open_table(BY_RECENT).expect("table");
                let mut by_status = txn.open_table(BY_STATUS).expect("table");
                let mut samples = txn.open_table(SAMPLES).expect("table");
                // As the store does: the batch in fingerprint order for the random-keyed table.
                let mut order: Vec<u64> = (first..end).collect();
                order.sort_by(|a, b| fps[*a as usize].cmp(&fps[*b as usize]));
                for &i in &order {
                    let fp = fps[i as usize].as_str();
                    let known = groups.get(fp).expect("get").is_some();
                    assert!(!known, "every error is new");
                    groups.insert(fp, row.as_slice()).expect("insert");
                }
                if layout != Layout::Row {
                    for i in first..end {
                        let fp = fps[i as usize].as_str();
                        // Newer errors get smaller keys, as in the store (newest first).
                        let recent = u64::MAX - i;
                        by_recent.insert((recent, fp), ()).expect("insert");
                        by_status.insert((0, recent, fp), ()).expect("insert");
                    }
                }
                if layout == Layout::WithSample {
                    for i in first..end {
                        let fp = fps[i as usize].as_str();
                        samples.insert((i, fp), sample.as_slice()).expect("insert");
                    }
                }
            }
        }
        txn.commit().expect("commit");
        first = end;
    }
    start.elapsed()
}

fn main() {
    let runs: usize = std::env::var("REDB_FLOOR_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let fps: Vec<String> = (0..ERRORS).map(fingerprint).collect();
    let layouts = [
        Layout::Row,
        Layout::Indexed,
        Layout::WithSample,
        Layout::Journal,
    ];
    let mut results = Vec::new();
    println!("redb alone, {ERRORS} new errors, durable commits, best of {runs} runs");
    println!("| layout | batch | errors/s |");
    println!("|---|---|---|");
    for batch in [4_096, 65_536] {
        for layout in layouts {
            let best = (0..runs)
                .map(|_| run(layout, batch, &fps))
                .min()
                .expect("at least one run");
            let rate = ERRORS as f64 / best.as_secs_f64();
            println!("| {} | {batch} | {rate:.0} |", layout.name());
            results.push(format!(
                "{{\"layout\":\"{}\",\"batch\":{batch},\"errors_per_sec\":{rate:.0}}}",
                layout.name()
            ));
        }
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    if std::fs::create_dir_all(&out).is_ok() {
        let json = format!("[{}]\n", results.join(","));
        let _ = std::fs::write(out.join("redb_floor.json"), json);
    }
}
