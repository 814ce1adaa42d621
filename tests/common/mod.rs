//! Helpers shared by the integration tests: a tracker behind a scoped subscriber.
#![allow(dead_code)]

use std::time::Duration;

use error_tracker::{Builder, ErrorGroup, ErrorTracker, ListQuery};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// A builder that keeps errors in memory, so that tests leave no file behind.
pub fn builder() -> Builder {
    ErrorTracker::builder().in_memory()
}

/// A tracker built from `builder` and a dispatcher with its layer, not installed globally,
/// so that tests run in parallel without seeing each other's errors.
pub fn setup(builder: Builder) -> (ErrorTracker, Dispatch) {
    let tracker = builder.build().expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

/// Runs `f` under a tracker built from `builder`, flushes, and returns every stored group.
pub fn run(builder: Builder, f: impl FnOnce()) -> (ErrorTracker, Vec<ErrorGroup>) {
    let (tracker, dispatch) = setup(builder);
    tracing::dispatcher::with_default(&dispatch, f);
    let groups = all_groups(&tracker);
    (tracker, groups)
}

/// Flushes and loads every stored group, newest first.
pub fn all_groups(tracker: &ErrorTracker) -> Vec<ErrorGroup> {
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "flush timed out: {:?}",
        tracker.stats()
    );
    let page = tracker.list(&ListQuery::page(1, 1_000_000)).expect("list");
    page.items
        .iter()
        .map(|s| {
            tracker
                .error(&s.fingerprint)
                .expect("get")
                .expect("listed group exists")
        })
        .collect()
}

/// A name made of letters only for `i`, so that messages holding it stay distinct errors
/// after parameterisation (which would turn digits into `<int>`).
pub fn letters(i: usize) -> String {
    format!("{i:x}")
        .bytes()
        .map(|b| char::from(b'g' + b % 16))
        .collect()
}

/// Flushes until everything is stored, failing after `seconds` (a store that recovers only
/// after some retries needs more than one flush).
pub fn flush_within(tracker: &ErrorTracker, seconds: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !tracker.flush(Duration::from_secs(1)) {
        assert!(
            std::time::Instant::now() < deadline,
            "not stored within {seconds} s: {:?}",
            tracker.stats()
        );
    }
}

/// The only stored group; fails if there is not exactly one.
pub fn single(groups: &[ErrorGroup]) -> &ErrorGroup {
    assert_eq!(groups.len(), 1, "expected one group, got {groups:#?}");
    &groups[0]
}

/// A memory store whose `record` first runs `before_record` with the batch's length: it may
/// block, fail or panic, to show how the tracker copes with a slow or broken store. Everything else is delegated.
pub struct HookedStore<F> {
    pub inner: error_tracker::MemoryStore,
    pub before_record: F,
}

impl<F> HookedStore<F> {
    pub fn new(before_record: F) -> Self {
        HookedStore {
            inner: error_tracker::MemoryStore::new(),
            before_record,
        }
    }
}

impl<F> error_tracker::Store for HookedStore<F>
where
    F: Fn(usize) -> Result<(), error_tracker::StoreError> + Send + Sync + 'static,
{
    fn record(
        &self,
        batch: &[error_tracker::store::GroupUpdate],
    ) -> Result<Vec<error_tracker::store::RecordOutcome>, error_tracker::StoreError> {
        (self.before_record)(batch.len())?;
        self.inner.record(batch)
    }
    fn list(
        &self,
        q: &ListQuery,
    ) -> Result<error_tracker::Page<error_tracker::ErrorSummary>, error_tracker::StoreError> {
        self.inner.list(q)
    }
    fn get(&self, fp: &str) -> Result<Option<ErrorGroup>, error_tracker::StoreError> {
        self.inner.get(fp)
    }
    fn set_status(
        &self,
        fp: &str,
        s: error_tracker::Status,
    ) -> Result<bool, error_tracker::StoreError> {
        self.inner.set_status(fp, s)
    }
    fn resolve_in(
        &self,
        fp: &str,
        resolved_in: error_tracker::ResolvedIn,
    ) -> Result<bool, error_tracker::StoreError> {
        self.inner.resolve_in(fp, resolved_in)
    }
    fn delete(&self, fp: &str) -> Result<bool, error_tracker::StoreError> {
        self.inner.delete(fp)
    }
    fn purge(&self, cutoff: time::OffsetDateTime) -> Result<u64, error_tracker::StoreError> {
        self.inner.purge(cutoff)
    }
    fn hourly_counts(
        &self,
        fp: &str,
        since: time::OffsetDateTime,
    ) -> Result<Vec<(time::OffsetDateTime, u64)>, error_tracker::StoreError> {
        self.inner.hourly_counts(fp, since)
    }
}
