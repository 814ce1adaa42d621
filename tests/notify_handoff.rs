//! The worker never waits for the notifier thread: when it is behind and its queue is full,
//! hand-offs are dropped, counted, and a scan of the store finds what they were about.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use error_tracker::notify::{Notification, NotifyError};
use error_tracker::{ErrorTracker, ListQuery, Notifier, NotifyPolicy};
use parking_lot::{Condvar, Mutex};
use tracing_subscriber::prelude::*;

/// Records what it is asked to send; every call blocks until the gate is opened.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    /// Set once a call is waiting at the gate: the notifier thread is stuck from then on.
    waiting: Mutex<bool>,
    started_waiting: Condvar,
    sent: Mutex<HashMap<String, u32>>,
}

struct GatedNotifier(Arc<Gate>);

impl Notifier for GatedNotifier {
    fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let gate = &self.0;
        let mut open = gate.open.lock();
        if !*open {
            *gate.waiting.lock() = true;
            gate.started_waiting.notify_all();
        }
        while !*open {
            gate.opened.wait(&mut open);
        }
        drop(open);
        if let Notification::Error(notice) = notification {
            *gate
                .sent
                .lock()
                .entry(notice.error.summary.fingerprint.clone())
                .or_default() += 1;
        }
        Ok(())
    }
}

#[test]
fn dropped_handoffs_are_found_by_a_scan_and_nothing_is_sent_twice() {
    let gate = Arc::new(Gate::default());
    // More than the queue holds (4,096).
    let errors = 5_000;
    let tracker = ErrorTracker::builder()
        .in_memory()
        .notifier(GatedNotifier(gate.clone()))
        .notify_policy(NotifyPolicy {
            max_per_window: 1_000_000,
            milestones: Vec::new(),
            // The start-up limit does not bound the scan for dropped hand-offs.
            recovery_limit: 10,
            ..NotifyPolicy::default()
        })
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    let raise = |range: std::ops::Range<u64>| {
        tracing::dispatcher::with_default(&dispatch, || {
            for n in range {
                let key = format!("e{n}");
                tracing::error!(fingerprint = %key, "error {n}");
            }
        })
    };
    // A first error gets the notifier thread stuck at the gate, so that it takes nothing
    // more off its queue while the burst is handed over.
    raise(0..1);
    let mut waiting = gate.waiting.lock();
    if !*waiting {
        let timed_out = gate
            .started_waiting
            .wait_for(&mut waiting, Duration::from_secs(60))
            .timed_out();
        assert!(
            !timed_out,
            "the notifier never called: {:?}",
            tracker.stats()
        );
    }
    drop(waiting);
    raise(1..errors);
    // Everything is stored although the notifier is stuck: the worker did not wait.
    assert!(tracker.flush(Duration::from_secs(60)));
    let stats = tracker.stats();
    assert_eq!(stats.stored, errors);
    assert!(stats.notifications.dropped_handoffs > 0, "{stats:?}");

    *gate.open.lock() = true;
    gate.opened.notify_all();
    assert!(
        tracker.flush_notifications(Duration::from_secs(120)),
        "{:?}",
        tracker.stats()
    );
    let sent = gate.sent.lock();
    assert_eq!(sent.len() as u64, errors, "every error notified once");
    assert!(sent.values().all(|&n| n == 1), "no error notified twice");
    let page = tracker.list(&ListQuery::page(1, 10_000)).unwrap();
    for summary in page.items.iter().step_by(97) {
        let group = tracker.error(&summary.fingerprint).unwrap().unwrap();
        assert!(group.notification.new_notified);
    }
}
