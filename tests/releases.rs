//! A rolling deploy: two releases write one redb file while an error is resolved in the new
//! one with the CLI; occurrences of the old release leave it resolved, the new release
//! reopens it; the dashboard resolves in the next release through its form.
#![cfg(feature = "cli")]

mod dashboard_common;

use std::process::Command;
use std::time::Duration;

use error_tracker::{ErrorTracker, ResolvedIn, Status};
use tracing_subscriber::prelude::*;

fn host(path: &std::path::Path, release: &str) -> (ErrorTracker, tracing::Dispatch) {
    let tracker = ErrorTracker::builder()
        .database_path(path)
        .release(release)
        .environment("staging")
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

fn fail(tracker: &ErrorTracker, dispatch: &tracing::Dispatch) {
    tracing::dispatcher::with_default(dispatch, || tracing::error!("checkout failed"));
    assert!(tracker.flush(Duration::from_secs(10)));
}

#[test]
fn an_old_release_does_not_reopen_what_a_new_one_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.redb");
    let (old, old_dispatch) = host(&path, "shop@1.3.0");
    let (new, new_dispatch) = host(&path, "shop@1.4.0");
    fail(&old, &old_dispatch);
    let fingerprint = old.errors(1).unwrap().items[0].fingerprint.clone();

    let resolved = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .args(["--db", path.to_str().unwrap(), "resolve", &fingerprint])
        .args(["--in-release", "shop@1.4.0"])
        .output()
        .unwrap();
    assert!(
        resolved.status.success(),
        "{}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    assert!(String::from_utf8_lossy(&resolved.stdout).contains("resolved in shop@1.4.0"));

    // The old release is still running on some hosts.
    fail(&old, &old_dispatch);
    let group = old.error(&fingerprint).unwrap().unwrap();
    assert_eq!(group.summary.status, Status::Resolved);
    assert_eq!(group.summary.count, 2);
    assert_eq!(group.regressions, 0);
    // The new release has the error too: the fix did not hold.
    fail(&new, &new_dispatch);
    let group = new.error(&fingerprint).unwrap().unwrap();
    assert_eq!(group.summary.status, Status::Unresolved);
    assert!(group.summary.regressed);
    assert_eq!(group.summary.first_release.as_deref(), Some("shop@1.3.0"));
    assert_eq!(group.summary.last_release.as_deref(), Some("shop@1.4.0"));
    let newest = group.samples.last().unwrap();
    assert_eq!(newest.release.as_deref(), Some("shop@1.4.0"));
    assert_eq!(newest.environment.as_deref(), Some("staging"));

    let show = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .args(["--db", path.to_str().unwrap(), "show", &fingerprint])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("shop@1.3.0 to shop@1.4.0"), "{text}");
    assert!(
        text.contains("release shop@1.4.0, environment staging"),
        "{text}"
    );

    // The dashboard's form: resolved in the release after 1.4.0.
    let store = new.store().clone();
    let server = dashboard_common::Server::start(dashboard_common::open_dashboard(store).router());
    let page = dashboard_common::get(&server.url(&format!("/error/{fingerprint}")));
    assert!(
        page.body.contains("Resolve in the next release"),
        "{}",
        page.body
    );
    let (cookie, token) = dashboard_common::session(&page);
    let answer = dashboard_common::post_form(
        &server.url(&format!("/error/{fingerprint}/resolve-next-release")),
        Some(&cookie),
        &[("csrf", &token)],
        &[],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let summary = new.error(&fingerprint).unwrap().unwrap().summary;
    assert_eq!(summary.status, Status::Resolved);
    assert_eq!(
        summary.resolved_in,
        Some(ResolvedIn::NextAfter(Some("shop@1.4.0".into())))
    );
    fail(&new, &new_dispatch);
    assert_eq!(
        new.error(&fingerprint).unwrap().unwrap().summary.status,
        Status::Resolved,
        "1.4.0 again: not the next release"
    );

    // The JSON API.
    let api = server.url(&format!("/api/errors/{fingerprint}/status"));
    let post = |body: &str| {
        dashboard_common::read(
            dashboard_common::client()
                .post(&api)
                .header("content-type", "application/json")
                .send(body)
                .expect("answered"),
        )
    };
    let answer = post(r#"{"status": "resolved", "in_release": "shop@2.0.0"}"#);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        new.error(&fingerprint)
            .unwrap()
            .unwrap()
            .summary
            .resolved_in,
        Some(ResolvedIn::Release("shop@2.0.0".into()))
    );
    for wrong in [
        r#"{"status": "ignored", "in_release": "shop@2.0.0"}"#,
        r#"{"status": "resolved", "in_release": "x", "in_next_release": true}"#,
        r#"{"status": "resolved", "in_release": " "}"#,
    ] {
        assert_eq!(post(wrong).status, 400, "{wrong}");
    }
}
