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

/// The only stored group; fails if there is not exactly one.
pub fn single(groups: &[ErrorGroup]) -> &ErrorGroup {
    assert_eq!(groups.len(), 1, "expected one group, got {groups:#?}");
    &groups[0]
}
