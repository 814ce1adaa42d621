//! `log` records through the bridge that `.init()` installs (`tracing_log::LogTracer`):
//! captured with the location they were logged at, grouped per library as `tracing` events
//! are, with no `log.*` fields left over.
//!
//! One test in this binary: `.init()` sets the process's global subscriber and `log` logger.

use std::time::Duration;

use error_tracker::{ErrorTracker, ListQuery};
use tracing_subscriber::prelude::*;

#[test]
fn log_records_are_captured_where_they_were_logged() {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .breadcrumbs(5)
        .build()
        .unwrap();
    tracing_subscriber::registry()
        .with(tracker.layer())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .init();
    log::info!(target: "pool_a::dns", "resolving db.internal");
    let line = line!() + 1;
    log::error!(target: "pool_a::conn", "connection 7 refused");
    log::error!(target: "pool_b::conn", "connection 8 refused");
    log::warn!(target: "pool_a::conn", "below the capture level");
    assert!(tracker.flush(Duration::from_secs(10)));

    let page = tracker.list(&ListQuery::page(1, 10)).unwrap();
    assert_eq!(page.total, 2, "one group per library: {:#?}", page.items);
    let mut targets: Vec<&str> = page
        .items
        .iter()
        .map(|e| e.location.target.as_str())
        .collect();
    targets.sort();
    assert_eq!(targets, ["pool_a::conn", "pool_b::conn"]);
    for summary in &page.items {
        assert_eq!(summary.location.module.as_deref(), Some("log_bridge"));
        assert_eq!(
            summary.location.file.as_deref(),
            Some("tests/log_bridge.rs")
        );
        assert!(
            [Some(line), Some(line + 1)].contains(&summary.location.line),
            "{:?}",
            summary.location
        );
        let group = tracker.error(&summary.fingerprint).unwrap().unwrap();
        let fields = &group.samples[0].fields;
        assert!(
            fields.keys().all(|k| !k.starts_with("log.")),
            "the bridge's fields are not kept: {fields:?}"
        );
        // A record before it is a breadcrumb, under the target it was logged with.
        let crumb = &group.samples[0].breadcrumbs[0];
        assert_eq!(crumb.target, "pool_a::dns");
        assert_eq!(crumb.message, "resolving db.internal");
        assert!(crumb.fields.is_empty(), "{:?}", crumb.fields);
    }
}
