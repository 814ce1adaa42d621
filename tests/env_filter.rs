//! A global `EnvFilter` that names only the application's targets: it disables the scope
//! spans (target `error_tracker::scope`), and `configure_scope` extras still reach the errors.
//!
//! One test in this binary, with one global subscriber, as an application has: with a
//! single subscriber that refuses the scope callsite, `tracing` makes no span at all for it
//! (several subscribers in one process would give a disabled span with its metadata).

mod common;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[test]
fn configure_scope_survives_a_filter_that_names_only_the_application() {
    let tracker = common::builder().build().unwrap();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(EnvFilter::new("env_filter=debug"))
            .with(tracker.layer()),
    );
    tracing::dispatcher::set_global_default(dispatch).expect("the only global subscriber");
    {
        let _outer = error_tracker::configure_scope(|scope| {
            scope.set_extra("tenant", "acme").set_tag("region", "eu");
        });
        {
            let _inner = error_tracker::configure_scope(|scope| {
                scope.set_extra("tenant", "inner wins");
            });
            let _span = tracing::info_span!("job", id = 7).entered();
            tracing::error!("inside both");
        }
        tracing::error!("inside the outer one");
        assert!(error_tracker::capture_message(
            "manual, inside the outer one"
        ));
    }
    tracing::error!("after both");
    let groups = common::all_groups(&tracker);
    let extras = |message: &str| {
        let group = groups
            .iter()
            .find(|g| g.summary.message == message)
            .unwrap_or_else(|| panic!("{message} stored"));
        group.samples[0].clone()
    };
    let inside = extras("inside both");
    assert_eq!(inside.extras["tenant"], "inner wins");
    assert_eq!(inside.tags["region"], "eu");
    assert_eq!(inside.spans.len(), 1, "{:?}", inside.spans);
    assert_eq!(inside.spans[0].fields["id"], 7);
    assert_eq!(extras("inside the outer one").extras["tenant"], "acme");
    assert_eq!(
        extras("manual, inside the outer one").extras["tenant"],
        "acme"
    );
    assert!(extras("after both").extras.is_empty());
}
