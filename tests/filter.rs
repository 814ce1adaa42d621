//! `Builder::event_filter` and `Builder::event_mapper`: a noisy target left out without a
//! per-layer filter, occurrences rewritten or dropped before storage.

mod common;

use common::run;
use error_tracker::EventDecision;
use tracing::{error, info_span};

#[test]
fn the_event_filter_leaves_out_a_noisy_target_and_keeps_the_scope() {
    let builder = common::builder().event_filter(|metadata| {
        if metadata.target().starts_with("noisy") {
            EventDecision::Ignore
        } else {
            EventDecision::Capture
        }
    });
    let (tracker, groups) = run(builder, || {
        let _scope = error_tracker::configure_scope(|scope| {
            scope.set_extra("tenant", "acme");
        });
        let _span = info_span!("job", id = 7).entered();
        for _ in 0..3 {
            error!(target: "noisy::pool", "connection reset");
        }
        error!("kept");
        // Not an event: the manual API is not filtered.
        error_tracker::capture_message("noisy, but manual");
    });
    let mut messages: Vec<&str> = groups.iter().map(|g| g.summary.message.as_str()).collect();
    messages.sort();
    assert_eq!(messages, ["kept", "noisy, but manual"]);
    let kept = groups.iter().find(|g| g.summary.message == "kept").unwrap();
    assert_eq!(kept.samples[0].extras["tenant"], "acme");
    assert_eq!(kept.samples[0].spans[0].fields["id"], 7);
    assert_eq!(tracker.stats().filtered, 3);
}

#[test]
fn a_panicking_filter_lets_events_in() {
    let builder = common::builder().event_filter(|_| panic!("filter bug"));
    let (tracker, groups) = run(builder, || error!("still captured"));
    assert_eq!(groups.len(), 1);
    assert_eq!(tracker.stats().hook_panics, 1);
}

#[test]
fn the_event_mapper_rewrites_and_drops_before_storage() {
    let builder = common::builder().event_mapper(|mut occurrence| {
        if occurrence.message.contains("client went away") {
            return None;
        }
        occurrence.tags.insert("team".into(), "payments".into());
        // What the mapper adds is masked too.
        occurrence
            .extras
            .insert("dsn".into(), "postgres://app:hunter2@db/x".into());
        Some(occurrence)
    });
    let (tracker, groups) = run(builder, || {
        for _ in 0..4 {
            error!("client went away");
        }
        error!(password = "s3cret", "payment failed");
    });
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let sample = &groups[0].samples[0];
    assert_eq!(groups[0].summary.message, "payment failed");
    assert_eq!(sample.tags["team"], "payments");
    assert_eq!(sample.fields["password"], "*************");
    assert_eq!(sample.extras["dsn"], "postgres://app:*************@db/x");
    let stats = tracker.stats();
    assert_eq!(stats.filtered, 4, "{stats:?}");
    assert_eq!(stats.stored, 1);
}

#[test]
fn occurrences_the_mapper_drops_give_their_share_of_the_byte_budget_back() {
    let builder = common::builder().event_mapper(|_| None);
    let (tracker, groups) = run(builder, || {
        for i in 0..50 {
            error!(blob = "x".repeat(4096), "dropped {}", common::letters(i));
        }
    });
    assert!(groups.is_empty());
    let stats = tracker.stats();
    assert_eq!(stats.filtered, 50, "{stats:?}");
    assert_eq!(
        stats.pending_bytes, 0,
        "nothing waits for the store: {stats:?}"
    );
}
