//! Panics in a thread and in a tokio task are stored with the backtrace of where they
//! happened, whatever `RUST_BACKTRACE` says, and shown by the CLI and the dashboard (in
//! headless Chromium).
//!
//! One test in this binary: it installs the process's global subscriber and panic hook.
#![cfg(feature = "cli")]

#[path = "dashboard_common/mod.rs"]
mod dashboard_common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use error_tracker::{ErrorGroup, ErrorTracker, ListQuery, RedbStore};
use tracing_subscriber::prelude::*;

#[inline(never)]
fn charge_card(cents: u64) -> u64 {
    if cents > 0 {
        panic!("card declined for {cents} cents");
    }
    cents
}

#[inline(never)]
async fn poll_job(job: Option<u64>) -> u64 {
    tokio::task::yield_now().await;
    job.expect("the job has an id")
}

fn group_of(tracker: &ErrorTracker, message_start: &str) -> ErrorGroup {
    let page = tracker.list(&ListQuery::page(1, 100)).unwrap();
    let summary = page
        .items
        .iter()
        .find(|e| e.message.starts_with(message_start))
        .unwrap_or_else(|| panic!("no {message_start}: {page:#?}"));
    tracker.error(&summary.fingerprint).unwrap().unwrap()
}

/// The backtrace's first frame of the application must be `function`, and no frame of
/// the panic machinery may come before it (the runtime's further down may use it).
fn assert_begins_in(group: &ErrorGroup, function: &str) {
    let frames = &group.samples[0].backtrace;
    let first = frames
        .iter()
        .find(|frame| frame.in_app)
        .unwrap_or_else(|| panic!("no frame of the application: {frames:#?}"));
    assert!(first.function.contains(function), "{frames:#?}");
    assert!(
        first
            .file
            .as_deref()
            .is_some_and(|file| file.ends_with("backtrace_panic.rs")),
        "{first:?}"
    );
    assert!(first.line.is_some(), "{first:?}");
    // Above the application's first frame, only what called the panic (`Option::expect`).
    for frame in frames.iter().take_while(|frame| !frame.in_app) {
        assert!(
            !frame.function.starts_with("std::panicking")
                && !frame.function.starts_with("error_tracker::")
                && !frame.function.starts_with("std::backtrace"),
            "the capture's own frames are trimmed: {frames:#?}"
        );
    }
}

#[test]
fn panics_keep_their_backtrace_and_it_is_shown() {
    // SAFETY: the only test of this binary, before any thread of its own starts.
    unsafe { std::env::remove_var("RUST_BACKTRACE") };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.redb");
    let tracker = ErrorTracker::builder()
        .database_path(&path)
        .breadcrumbs(10)
        .build()
        .unwrap();
    tracing_subscriber::registry().with(tracker.layer()).init();
    tracker.install_panic_hook();

    let thread = std::thread::Builder::new()
        .name("billing".into())
        .spawn(|| {
            let _order = tracing::info_span!("order", id = 17u64).entered();
            tracing::info!(cents = 4200u64, "charging the card");
            charge_card(4200)
        })
        .unwrap();
    assert!(thread.join().is_err());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let task = runtime.block_on(async { tokio::spawn(poll_job(None)).await });
    assert!(task.unwrap_err().is_panic());
    assert!(tracker.flush(Duration::from_secs(10)));

    let in_thread = group_of(&tracker, "card declined");
    assert_begins_in(&in_thread, "charge_card");
    let in_task = group_of(&tracker, "the job has an id");
    assert_begins_in(&in_task, "poll_job");

    // The CLI, reading the file beside the application.
    let output = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .args([
            "--db",
            path.to_str().unwrap(),
            "show",
            &in_thread.summary.fingerprint,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Backtrace (innermost first"), "{text}");
    let line = text
        .lines()
        .find(|line| line.contains("charge_card"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.trim_start().starts_with('*'),
        "marked as the application's: {line}"
    );
    assert!(line.contains("backtrace_panic.rs:"), "{line}");
    assert!(text.contains("Breadcrumbs (oldest first):"), "{text}");
    assert!(
        text.contains("INFO backtrace_panic: charging the card cents=4200"),
        "{text}"
    );

    // The dashboard, in a real browser.
    let store = Arc::new(RedbStore::open_read_only(&path).unwrap());
    let server = dashboard_common::Server::start(dashboard_common::open_dashboard(store).router());
    let dom =
        dashboard_common::dump_dom(&server.url(&format!("/error/{}", in_task.summary.fingerprint)));
    assert!(dom.contains("<h3>Backtrace</h3>"), "{dom}");
    assert!(dom.contains("poll_job"), "{dom}");
    assert!(dom.contains("class=\"frame in-app\""), "{dom}");
    assert!(
        dom.contains("All "),
        "the other frames behind a disclosure: {dom}"
    );

    let dom = dashboard_common::dump_dom(
        &server.url(&format!("/error/{}", in_thread.summary.fingerprint)),
    );
    assert!(dom.contains("<h3>Breadcrumbs</h3>"), "{dom}");
    assert!(dom.contains("charging the card"), "{dom}");

    // The JSON API.
    let answer =
        dashboard_common::get(&server.url(&format!("/api/errors/{}", in_task.summary.fingerprint)));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let frames = json["error"]["samples"][0]["backtrace"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        frames.iter().any(|frame| frame["in_app"] == true
            && frame["function"]
                .as_str()
                .is_some_and(|f| f.contains("poll_job"))),
        "{json}"
    );
}
