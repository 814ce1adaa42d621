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
    let store = common::HookedStore::new({
        let gate = gate.clone();
        move |_| {
            drop(gate.lock());
            Ok(())
        }
    });
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

#[test]
fn a_healthy_but_slower_store_loses_nothing_it_accepted() {
    // Each write takes 20 ms: new distinct errors arrive faster than they are written, so
    // some are refused at the door, but none that was accepted is let go afterwards.
    let store = common::HookedStore::new(|_| {
        std::thread::sleep(Duration::from_millis(20));
        Ok(())
    });
    let (tracker, dispatch) = setup(
        common::builder()
            .store(store)
            .max_pending_errors(256)
            .flush_interval(Duration::from_millis(1)),
    );
    const RAISED: usize = 20_000;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..RAISED {
            let name = common::letters(i);
            tracing::error!("component {name} failed");
        }
    });
    assert!(
        tracker.flush(Duration::from_secs(60)),
        "{:?}",
        tracker.stats()
    );
    let stats = tracker.stats();
    assert_eq!(stats.store_failures, 0);
    assert_eq!(stats.unsaved, 0, "{stats:?}");
    assert!(
        stats.refused > 0,
        "the store was slower than the errors: {stats:?}"
    );
    assert_eq!(stats.stored + stats.refused, RAISED as u64, "{stats:?}");
    assert_eq!(
        stats.captured, stats.stored,
        "every accepted occurrence is stored"
    );
}
