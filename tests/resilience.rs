//! A failing or panicking store: nothing is lost, the failure is visible, the caller is fine.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{HookedStore, setup};
use error_tracker::StoreError;

/// A store that fails (or panics) on its first `failures` writes, then works.
fn flaky(
    failures: u32,
    panic: bool,
) -> HookedStore<impl Fn(usize) -> Result<(), StoreError> + Send + Sync + 'static> {
    let attempts = AtomicU32::new(0);
    HookedStore::new(move |_| {
        if attempts.fetch_add(1, Ordering::SeqCst) < failures {
            if panic {
                panic!("store bug");
            }
            return Err(StoreError::Unavailable("database is locked".into()));
        }
        Ok(())
    })
}

#[test]
fn a_failing_store_is_retried_and_counts_stay_exact() {
    let builder = common::builder()
        .store(flaky(3, false))
        .flush_interval(Duration::from_millis(5));
    let (tracker, dispatch) = setup(builder);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..100 {
            tracing::error!(password = "hunter2", "write failed");
        }
    });
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "{:?}",
        tracker.stats()
    );
    let stats = tracker.stats();
    assert_eq!(stats.store_failures, 3);
    // The failure is over: the last error is cleared by the write that succeeded.
    assert_eq!(stats.last_store_error, None);
    assert_eq!(stats.stored, 100);
    let page = tracker.errors(1).unwrap();
    assert_eq!(page.items[0].count, 100);
}

#[test]
fn flush_reports_false_while_the_store_fails() {
    let (tracker, dispatch) = setup(
        common::builder()
            .store(flaky(u32::MAX, false))
            .shutdown_timeout(Duration::from_millis(100)),
    );
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("nowhere to go"));
    assert!(!tracker.flush(Duration::from_millis(300)));
    assert!(!tracker.flush(Duration::from_millis(300)));
    let failures = tracker.stats().store_failures;
    // One prompt attempt per flush, otherwise the back-off (50, 100, 200 ms ...): a failing
    // store is not hammered while someone waits.
    assert!((1..=8).contains(&failures), "{failures} attempts in 600 ms");
    assert_eq!(tracker.stats().stored, 0);
}

#[test]
fn each_flush_forces_one_prompt_attempt_despite_the_back_off() {
    // With a 10 s interval the back-off after a failure is 20 s: only a forced attempt can
    // store the error within the flushes below.
    let builder = common::builder()
        .store(flaky(2, false))
        .flush_interval(Duration::from_secs(10))
        .shutdown_timeout(Duration::from_millis(100));
    let (tracker, dispatch) = setup(builder);
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("disk full"));
    // The capture wakes the idle worker, whose first attempt fails.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(tracker.stats().store_failures, 1);
    assert!(
        !tracker.flush(Duration::from_millis(300)),
        "{:?}",
        tracker.stats()
    );
    assert!(
        tracker.flush(Duration::from_secs(5)),
        "{:?}",
        tracker.stats()
    );
    assert_eq!(tracker.stats().store_failures, 2);
    assert_eq!(tracker.errors(1).unwrap().items[0].count, 1);
}

#[test]
fn a_panicking_store_is_contained_and_counted() {
    let builder = common::builder()
        .store(flaky(1, true))
        .flush_interval(Duration::from_millis(5));
    let (tracker, dispatch) = setup(builder);
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("first"));
    assert!(tracker.flush(Duration::from_secs(10)));
    let stats = tracker.stats();
    assert_eq!(stats.hook_panics, 1);
    assert_eq!(stats.stored, 1);
    assert_eq!(tracker.errors(1).unwrap().total, 1);
}

#[test]
fn invalid_settings_are_clear_errors() {
    let err = common::builder().page_size(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid setting `page_size`: must be at least 1"
    );
    let err = common::builder()
        .flush_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("flush_interval"));
}

#[test]
fn a_backlog_too_large_for_one_transaction_is_written_in_parts() {
    // A disk with room for 100 new errors per transaction: the whole backlog never fits
    // again, parts of it do.
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = {
        let batches = batches.clone();
        HookedStore::new(move |len| {
            batches.lock().unwrap().push(len);
            if len > 100 {
                return Err(StoreError::Unavailable("no space left on device".into()));
            }
            Ok(())
        })
    };
    let (tracker, dispatch) = setup(
        common::builder()
            .store(store)
            .flush_interval(Duration::from_millis(1)),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..1000 {
            let name = common::letters(i);
            tracing::error!("component {name} failed");
        }
    });
    common::flush_within(&tracker, 60);
    let stats = tracker.stats();
    assert_eq!(stats.stored, 1000, "{stats:?}");
    assert_eq!(stats.lost, 0);
    assert!(stats.store_failures > 0);
    assert_eq!(stats.last_store_error, None, "cleared once writes succeed");
    let sizes = batches.lock().unwrap().clone();
    assert!(sizes.iter().any(|&n| n > 100), "{sizes:?}");
    // Fewer attempts than errors: parts grow again after each success.
    assert!(sizes.len() < 100, "{sizes:?}");
}
