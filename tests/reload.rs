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
    // A tracker layer swapped in by the handle later is reached too: the reload registers
    // every callsite again with it, on a thread whose default is its dispatcher.
    let second = common::builder().build().unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        handle.reload(second.layer()).unwrap();
        let _scope = error_tracker::configure_scope(|scope| {
            scope.set_extra("tenant", "globex");
        });
        assert!(error_tracker::capture_message("captured after the reload"));
        tracing::error!("logged after the reload");
    });
    let groups = common::all_groups(&second);
    assert_eq!(groups.len(), 2, "{groups:#?}");
    for group in &groups {
        assert_eq!(group.samples[0].extras["tenant"], "globex");
    }
    assert_eq!(
        common::all_groups(&tracker).len(),
        3,
        "the first tracker got nothing more"
    );
}

#[test]
fn a_layer_reloaded_from_another_thread_takes_the_place_of_the_one_it_replaced() {
    let first = common::builder().build().unwrap();
    let (layer, handle) = reload::Layer::new(first.layer());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let second = common::builder().build().unwrap();
    // Reloaded where the dispatcher is not the default.
    std::thread::spawn(move || handle.reload(second.layer()).map(|()| second))
        .join()
        .unwrap()
        .map(|second| {
            tracing::dispatcher::with_default(&dispatch, || {
                assert!(error_tracker::capture_message("before any span"));
                let span = tracing::info_span!("job", id = 7u64);
                let _entered = span.enter();
                assert!(error_tracker::capture_message("inside the first span"));
            });
            let groups = common::all_groups(&second);
            assert_eq!(groups.len(), 2, "{groups:#?}");
            let in_span = groups
                .iter()
                .find(|group| group.summary.message == "inside the first span")
                .unwrap();
            assert_eq!(in_span.samples[0].spans[0].fields["id"], 7);
        })
        .unwrap();
    assert!(first.flush(Duration::from_secs(10)));
    assert_eq!(first.errors(1).unwrap().total, 0);
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
