//! The context builder: the default keeps everything, it can leave parts out, a custom one
//! adds context that is masked like the rest, and a panicking one is counted, never fatal.

mod common;

use std::time::Duration;

use error_tracker::notify::{Notification, NotifyError};
use error_tracker::{ContextBuilder, DefaultContext, ErrorTracker, Notifier, Occurrence};
use serde_json::json;
use tracing_subscriber::prelude::*;

fn emit() {
    let span = tracing::error_span!("handler", route = "/pay");
    let _entered = span.enter();
    let _scope = error_tracker::configure_scope(|scope| {
        scope.set_extra("user_id", 7);
    });
    tracing::error!(password = "hunter2", "payment failed");
}

/// Adds the release and a secret, and drops the host name.
struct Release;

impl ContextBuilder for Release {
    fn build(&self, occurrence: &mut Occurrence) {
        occurrence.extras.insert("release".into(), json!("1.4.2"));
        occurrence
            .extras
            .insert("db_password".into(), json!("s3cret-from-builder"));
        occurrence.host = "redacted-host".into();
    }
}

#[test]
fn the_default_context_keeps_span_fields_extras_host_process_and_thread() {
    let (_tracker, groups) = common::run(common::builder(), emit);
    let sample = &common::single(&groups).samples[0];
    assert_eq!(sample.spans[0].fields["route"], "/pay");
    assert_eq!(sample.extras["user_id"], 7);
    assert!(!sample.host.is_empty());
    assert_eq!(sample.process_id, std::process::id());
    assert!(!sample.thread.id.is_empty());
}

#[test]
fn the_default_context_can_leave_parts_out() {
    let builder = common::builder().context_builder(DefaultContext {
        spans: false,
        extras: false,
        host: false,
        process: false,
        thread: false,
    });
    let (_tracker, groups) = common::run(builder, emit);
    let sample = &common::single(&groups).samples[0];
    assert!(sample.spans.is_empty());
    assert_eq!(sample.spans_omitted, 1);
    assert!(sample.extras.is_empty());
    assert!(sample.host.is_empty());
    assert_eq!(sample.process_id, 0);
    assert!(sample.thread.id.is_empty());
    // The event's own fields are not context: they stay, masked.
    assert_eq!(sample.fields["password"], "*************");
}

#[test]
fn a_custom_builder_adds_context_that_is_masked_too() {
    let (_tracker, groups) = common::run(common::builder().context_builder(Release), emit);
    let group = common::single(&groups);
    let sample = &group.samples[0];
    assert_eq!(sample.extras["release"], "1.4.2");
    assert_eq!(sample.extras["db_password"], "*************");
    assert_eq!(sample.extras["user_id"], 7);
    assert_eq!(sample.host, "redacted-host");
    // Context does not change grouping.
    let (_plain, plain_groups) = common::run(common::builder(), emit);
    assert_eq!(
        group.summary.fingerprint,
        plain_groups[0].summary.fingerprint
    );
}

struct Panicking;

impl ContextBuilder for Panicking {
    fn build(&self, occurrence: &mut Occurrence) {
        occurrence.extras.insert("half".into(), json!("done"));
        panic!("context bug");
    }
}

#[test]
fn a_panicking_builder_is_counted_and_the_error_still_stored_masked() {
    let (tracker, groups) = common::run(common::builder().context_builder(Panicking), emit);
    let sample = &common::single(&groups).samples[0];
    assert_eq!(sample.fields["password"], "*************");
    let stats = tracker.stats();
    assert_eq!(stats.hook_panics, 1);
    assert!(stats.last_hook_error.unwrap().contains("context builder"));
    assert_eq!(stats.stored, 1);
}

/// A notifier that panics every time.
struct PanickingNotifier;

impl Notifier for PanickingNotifier {
    fn notify(&self, _: &Notification) -> Result<(), NotifyError> {
        panic!("notifier bug")
    }
}

#[test]
fn a_panicking_notifier_is_counted_retried_and_never_fatal() {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .notify_policy(error_tracker::NotifyPolicy {
            retry_initial: Duration::from_millis(10),
            retry_max: Duration::from_millis(20),
            ..Default::default()
        })
        .notifier(PanickingNotifier)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    tracing::dispatcher::with_default(&dispatch, emit);
    assert!(tracker.flush(Duration::from_secs(5)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracker.stats().hook_panics < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = tracker.stats();
    assert!(stats.notifications.failures >= 3);
    assert_eq!(stats.notifications.sent, 0);
    assert_eq!(stats.captured, 1, "the panics were not captured as errors");
    // Dropping the tracker does not hang on a notifier that keeps failing.
    drop(tracker);
}
