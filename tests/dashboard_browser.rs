//! The dashboard's pages opened in headless Chromium (Debian's `chromium`, installed by
//! `.ci/run`): the DOM the browser builds is checked, and the pages can be saved as
//! screenshots (`scripts/screenshots.sh`).
#![cfg(feature = "dashboard")]

mod dashboard_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashboard_common::{Server, capture_demo_errors, dump_dom, open_dashboard, run_chromium};
use error_tracker::{ListQuery, RedbStore, Store};

fn screenshot(url: &str, file: &Path, height: u32) {
    run_chromium(
        url,
        &[
            &format!("--screenshot={}", file.display()),
            &format!("--window-size=1280,{height}"),
        ],
    );
    assert!(file.exists(), "no screenshot written at {}", file.display());
}

fn demo_server() -> (tempfile::TempDir, Arc<RedbStore>, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("errors.redb");
    capture_demo_errors(&path);
    let store = Arc::new(RedbStore::open(&path).expect("open"));
    add_history(store.as_ref());
    let dashboard = open_dashboard(store.clone()).title("shop-api");
    let server = Server::start(dashboard.router());
    (dir, store, server)
}

/// Older errors with some history, so that the pages show more than "just now".
fn add_history(store: &RedbStore) {
    let now = time::OffsetDateTime::now_utc();
    // A noisy error over the last four weeks, busier on weekdays and in the afternoon.
    for hours_ago in (1..24 * 28).rev().step_by(5) {
        let at = now - time::Duration::hours(hours_ago);
        let count = 1 + (hours_ago % 7) * ((hours_ago / 24) % 5 + 1);
        dashboard_common::record(
            store,
            "9f2c4e1a7b3d5c60",
            "reqwest::Error",
            "inventory service timed out after 5000 ms",
            count as u64,
            at,
        );
    }
    dashboard_common::record(
        store,
        "41d0c9e2aa170b3f",
        "sqlx::Error",
        "duplicate key value violates unique constraint \"orders_pkey\"",
        12,
        now - time::Duration::days(3),
    );
    store
        .set_status("41d0c9e2aa170b3f", error_tracker::Status::Resolved)
        .unwrap();
    dashboard_common::record(
        store,
        "0c7e51f93b2d8a44",
        "message",
        "feature flag service returned an empty list",
        3,
        now - time::Duration::days(9),
    );
    store
        .set_status("0c7e51f93b2d8a44", error_tracker::Status::Ignored)
        .unwrap();
}

fn fingerprint_of(store: &RedbStore, kind: &str) -> String {
    store
        .list(&ListQuery::page(1, 100))
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.kind.contains(kind))
        .unwrap_or_else(|| panic!("no error of kind {kind}"))
        .fingerprint
}

#[test]
fn pages_render_in_a_real_browser() {
    let (_dir, store, server) = demo_server();
    let dom = dump_dom(&server.url("/"));
    assert!(dom.contains("<table class=\"errors\">"), "{dom}");
    assert_eq!(dom.matches("<tr class=\"row\">").count(), 8, "{dom}");
    assert!(dom.contains("QueryFailed"), "{dom}");
    // The hostile message is text in the browser's DOM, not an element.
    assert!(!dom.contains("<script>"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"),
        "{dom}"
    );

    let fingerprint = fingerprint_of(&store, "QueryFailed");
    let dom = dump_dom(&server.url(&format!("/error/{fingerprint}")));
    assert!(dom.contains("could not load the order"), "{dom}");
    assert!(
        dom.contains("timed out waiting for a connection from the pool"),
        "{dom}"
    );
    assert!(
        dom.contains("*************"),
        "the password is masked: {dom}"
    );
    assert!(!dom.contains("hunter2"), "{dom}");
    assert_eq!(dom.matches("<svg").count(), 2, "two charts: {dom}");
    assert!(dom.contains("Per hour, last 24 hours"), "{dom}");
    assert!(dom.contains("Ticket and notifications"), "{dom}");
    assert!(dom.contains("eu-west-1"), "{dom}");
}

/// Saves screenshots of the list and detail pages to `$SCREENSHOT_DIR`; run by
/// `scripts/screenshots.sh`.
#[test]
#[ignore = "writes screenshots; run through scripts/screenshots.sh"]
fn save_screenshots() {
    let out = PathBuf::from(std::env::var_os("SCREENSHOT_DIR").expect("SCREENSHOT_DIR is set"));
    std::fs::create_dir_all(&out).unwrap();
    let (_dir, store, server) = demo_server();
    screenshot(&server.url("/"), &out.join("dashboard-list.png"), 640);
    let fingerprint = fingerprint_of(&store, "reqwest::Error");
    screenshot(
        &server.url(&format!("/error/{fingerprint}")),
        &out.join("dashboard-detail.png"),
        1500,
    );
    let fingerprint = fingerprint_of(&store, "QueryFailed");
    screenshot(
        &server.url(&format!("/error/{fingerprint}")),
        &out.join("dashboard-sample.png"),
        2000,
    );
}
