//! Counts stay exact under concurrency and storms; memory stays bounded.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{all_groups, setup, single};

#[test]
fn eight_threads_times_ten_thousand_errors_count_exactly_eighty_thousand() {
    let (tracker, dispatch) = setup(common::builder());
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..10_000 {
                        tracing::error!(thread, i, "order failed");
                    }
                });
            });
        }
    });
    let groups = all_groups(&tracker);
    let group = single(&groups);
    assert_eq!(group.summary.count, 80_000);
    assert_eq!(group.samples.len(), 10);
    let stats = tracker.stats();
    assert_eq!(stats.captured, 80_000);
    assert_eq!(stats.stored, 80_000);
    assert_eq!(stats.lost, 0);
}

#[test]
fn messages_with_ids_from_several_threads_count_exactly() {
    let (tracker, dispatch) = setup(common::builder());
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..2_000 {
                        tracing::error!("order {} failed", thread * 10_000 + i);
                    }
                });
            });
        }
    });
    let groups = all_groups(&tracker);
    assert_eq!(
        single(&groups).summary.count,
        8_000,
        "{:?}",
        tracker.stats()
    );
}

#[test]
fn distinct_errors_beyond_the_buffer_are_counted_as_lost_not_held() {
    // A store that blocks until released keeps the worker busy, so the buffer fills.
    let gate = Arc::new(parking_lot::Mutex::new(()));
    let store = GatedStore {
        gate: gate.clone(),
        inner: error_tracker::MemoryStore::new(),
    };
    let (tracker, dispatch) = setup(common::builder().store(store).max_pending_errors(64));
    let held = gate.lock();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::error!("first");
        std::thread::sleep(Duration::from_millis(200));
        for i in 0..10_000 {
            tracing::error!(
                i,
                "{}",
                format!("distinct-{}", char::from_u32(0x4e00 + i).unwrap())
            );
        }
    });
    drop(held);
    let groups = all_groups(&tracker);
    let stats = tracker.stats();
    let stored: u64 = groups.iter().map(|g| g.summary.count).sum();
    assert!(stats.lost > 0, "{stats:?}");
    assert_eq!(
        stored + stats.lost,
        10_001,
        "every occurrence is stored or counted as lost"
    );
    assert!(
        groups.len() <= 64 * 2 + 1,
        "memory stays bounded: {}",
        groups.len()
    );
}

struct GatedStore {
    gate: Arc<parking_lot::Mutex<()>>,
    inner: error_tracker::MemoryStore,
}

impl error_tracker::Store for GatedStore {
    fn record(
        &self,
        batch: &[error_tracker::store::GroupUpdate],
    ) -> Result<Vec<error_tracker::store::RecordOutcome>, error_tracker::StoreError> {
        let _open = self.gate.lock();
        self.inner.record(batch)
    }
    fn list(
        &self,
        q: &error_tracker::ListQuery,
    ) -> Result<error_tracker::Page<error_tracker::ErrorSummary>, error_tracker::StoreError> {
        self.inner.list(q)
    }
    fn get(
        &self,
        fp: &str,
    ) -> Result<Option<error_tracker::ErrorGroup>, error_tracker::StoreError> {
        self.inner.get(fp)
    }
    fn set_status(
        &self,
        fp: &str,
        s: error_tracker::Status,
    ) -> Result<bool, error_tracker::StoreError> {
        self.inner.set_status(fp, s)
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
