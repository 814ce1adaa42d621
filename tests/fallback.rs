//! The default redb store unusable at first: capture goes on, and everything is written once
//! the file can be opened.

use std::time::Duration;

use error_tracker::ErrorTracker;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn emit(dispatch: &Dispatch, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            tracing::error!(attempt = i, "upload failed");
        }
    });
}

fn tracker_at(path: &std::path::Path) -> (ErrorTracker, Dispatch) {
    let tracker = ErrorTracker::builder()
        .database_path(path)
        .flush_interval(Duration::from_millis(10))
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .expect("building never touches the file");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

#[test]
fn a_missing_directory_holds_errors_until_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later").join("errors.redb");
    let (tracker, dispatch) = tracker_at(&path);
    emit(&dispatch, 100);
    assert!(!tracker.flush(Duration::from_millis(200)));
    let stats = tracker.stats();
    assert!(stats.store_failures >= 1, "{stats:?}");
    assert!(
        stats.last_store_error.as_deref().unwrap().contains("later"),
        "{stats:?}"
    );
    assert_eq!(stats.stored, 0);

    std::fs::create_dir(dir.path().join("later")).unwrap();
    emit(&dispatch, 50);
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "{:?}",
        tracker.stats()
    );
    assert_eq!(tracker.errors(1).unwrap().items[0].count, 150);
    assert_eq!(tracker.stats().lost, 0);
}

#[test]
fn a_file_locked_by_another_opener_is_written_once_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.redb");
    // The default concurrency mode locks the whole file against every other opener.
    let lock = redb::Database::create(&path).unwrap();
    let (tracker, dispatch) = tracker_at(&path);
    emit(&dispatch, 10);
    assert!(!tracker.flush(Duration::from_millis(200)));
    let error = tracker.stats().last_store_error.unwrap();
    assert!(
        error.contains("locked") || error.contains("unavailable"),
        "{error}"
    );

    drop(lock);
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "{:?}",
        tracker.stats()
    );
    assert_eq!(tracker.errors(1).unwrap().items[0].count, 10);
}
