//! A tracker layer inside a reload layer of the global subscriber, installed with `.init()`
//! beside an `EnvFilter` that names only the application, then swapped by the handle: the
//! manual API and scopes reach whichever tracker the reload layer holds.
//!
//! One test in this binary: it installs the process's global subscriber.

mod common;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, reload};

#[test]
fn a_swapped_tracker_of_the_global_subscriber_is_reached_at_once() {
    let first = common::builder().build().unwrap();
    let (layer, handle) = reload::Layer::new(first.layer());
    tracing_subscriber::registry()
        .with(layer)
        .with(EnvFilter::new("reload_global=debug"))
        .init();
    assert!(error_tracker::capture_message("to the first"));

    let second = common::builder().build().unwrap();
    handle.reload(second.layer()).unwrap();
    let _scope = error_tracker::configure_scope(|scope| {
        scope.set_extra("tenant", "acme");
    });
    assert!(error_tracker::capture_message("to the second"));
    assert!(error_tracker::capture_error(&std::io::Error::other(
        "io, to the second"
    )));
    tracing::error!("logged, to the second");

    let firsts = common::all_groups(&first);
    assert_eq!(firsts.len(), 1, "{firsts:#?}");
    assert_eq!(firsts[0].summary.message, "to the first");
    let seconds = common::all_groups(&second);
    assert_eq!(seconds.len(), 3, "{seconds:#?}");
    for group in &seconds {
        assert_eq!(group.samples[0].extras["tenant"], "acme");
    }
}
