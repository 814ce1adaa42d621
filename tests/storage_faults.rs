//! The redb file through the faults of real life: an application that exits with its tracker
//! installed for good, a crash, the file deleted while open, damaged bytes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use error_tracker::{ErrorTracker, ListQuery, RedbStore, Store};
use tracing_subscriber::prelude::*;

const CHILD_DB: &str = "ERROR_TRACKER_TEST_CHILD_DB";
const CHILD_ABORT: &str = "ERROR_TRACKER_TEST_CHILD_ABORT";

/// The README's program, run in a child process by the tests below: a global subscriber
/// installed with `.init()`, an error, and a normal end of `main` (or an abort after the
/// error is stored, as a crash would end it).
#[test]
#[ignore = "run in a child process by the tests of this file"]
fn child_application() {
    let path = std::env::var(CHILD_DB).expect("run by a test of this file");
    let tracker = ErrorTracker::builder()
        .database_path(path)
        .build()
        .expect("tracker");
    tracing_subscriber::registry().with(tracker.layer()).init();
    tracing::error!(order = 17, "payment failed");
    assert!(tracker.flush(Duration::from_secs(10)));
    if std::env::var_os(CHILD_ABORT).is_some() {
        std::process::abort();
    }
}

fn run_child(db: &Path, abort: bool) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child_application", "--exact", "--ignored", "--quiet"])
        .env(CHILD_DB, db);
    if abort {
        command.env(CHILD_ABORT, "1");
    }
    let status = command
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the child runs");
    assert_eq!(status.success(), !abort, "{status:?}");
}

fn listed(db: &Path) -> u64 {
    let store = RedbStore::open_read_only(db).expect("readable without a repair command");
    store.list(&ListQuery::page(1, 10)).expect("listing").total
}

#[test]
fn a_file_left_by_an_application_that_exited_is_readable_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("errors.redb");
    run_child(&db, false);
    assert_eq!(listed(&db), 1);
    // And by the CLI's read-only commands.
    let list = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .arg("--db")
        .arg(&db)
        .args(["list"])
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("payment failed"));
}

#[test]
fn a_file_left_by_a_crash_is_readable_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("errors.redb");
    run_child(&db, true);
    assert_eq!(listed(&db), 1);
    let export = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .arg("--db")
        .arg(&db)
        .args(["export"])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
}

#[test]
fn a_file_deleted_while_open_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("errors.redb");
    let tracker = ErrorTracker::builder()
        .database_path(&db)
        .flush_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("before"));
    assert!(tracker.flush(Duration::from_secs(10)));
    std::fs::remove_file(&db).unwrap();
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("after"));
    common::flush_within(&tracker, 20);
    let stats = tracker.stats();
    assert_eq!(stats.stored, 2, "{stats:?}");
    assert!(
        stats.store_failures >= 1,
        "the deletion is reported: {stats:?}"
    );
    // The error raised after the deletion is in the file at the path, where readers look.
    let page = RedbStore::open_read_only(&db)
        .unwrap()
        .list(&ListQuery::page(1, 10))
        .unwrap();
    let messages: Vec<&str> = page.items.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["after"]);
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    {
        let tracker = ErrorTracker::builder()
            .database_path(&good)
            .build()
            .unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..40 {
                let name = common::letters(i);
                tracing::error!(detail = "x".repeat(300), "step {name} failed");
            }
        });
        assert!(tracker.flush(Duration::from_secs(10)));
        drop(dispatch);
        drop(tracker);
    }
    let bytes = std::fs::read(&good).unwrap();
    let mut outcomes = [0usize; 2];
    // A reproducible spread of damage: runs of bytes overwritten all over the file.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..96 {
        let mut damaged = bytes.clone();
        let at = (next() as usize) % damaged.len();
        let len = 1 + (next() as usize) % 64;
        for byte in damaged.iter_mut().skip(at).take(len) {
            *byte = next() as u8;
        }
        let path = dir.path().join(format!("damaged-{case}.redb"));
        std::fs::write(&path, &damaged).unwrap();
        // Any panic would fail this test: every outcome must be a value or an error.
        let read = RedbStore::open_read_only(&path).and_then(|store| {
            let page = store.list(&ListQuery::page(1, 100))?;
            for item in &page.items {
                store.get(&item.fingerprint)?;
            }
            Ok(page.total)
        });
        outcomes[usize::from(read.is_ok())] += 1;
        let show = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
            .arg("--db")
            .arg(&path)
            .args(["export"])
            .output()
            .unwrap();
        let code = show.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "case {case}: {code:?} {}",
            String::from_utf8_lossy(&show.stderr)
        );
    }
    assert_eq!(outcomes.iter().sum::<usize>(), 96);
}
