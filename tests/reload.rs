//! The tracker's layer inside `tracing_subscriber::reload::Layer`, which passes no downcast
//! on: the manual API, scopes and the HTTP middleware still reach it.

mod common;

use std::time::Duration;

use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

#[test]
fn the_manual_api_and_scopes_reach_a_tracker_behind_a_reload_layer() {
    let tracker = common::builder().build().unwrap();
    let (layer, handle) = reload::Layer::new(tracker.layer());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let _scope = error_tracker::configure_scope(|scope| {
            scope.set_extra("tenant", "acme");
        });
        tracing::error!("logged");
        assert!(error_tracker::capture_message("captured"));
        assert!(error_tracker::capture_error(&std::io::Error::other(
            "io failed"
        )));
    });
    let groups = common::all_groups(&tracker);
    assert_eq!(groups.len(), 3, "{groups:#?}");
    for group in &groups {
        assert_eq!(
            group.samples[0].extras["tenant"], "acme",
            "{}",
            group.summary.message
        );
    }
    // A tracker layer swapped in by the handle later is reached by events (the reload
    // layer passes them on) but not by the manual API: it never learns its subscriber.
    let second = common::builder().build().unwrap();
    handle.reload(second.layer()).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::error!("after the reload");
    });
    assert!(second.flush(Duration::from_secs(10)));
    assert_eq!(second.errors(1).unwrap().total, 1);
}

#[test]
fn a_dispatcher_without_the_tracker_is_not_confused_with_one_behind_a_reload_layer() {
    let tracker = common::builder().build().unwrap();
    let (layer, _handle) = reload::Layer::new(tracker.layer());
    let _with = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let without = tracing::Dispatch::new(tracing_subscriber::registry());
    tracing::dispatcher::with_default(&without, || {
        assert!(!error_tracker::capture_message("nobody listens"));
    });
}
