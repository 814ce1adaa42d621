//! SMTP authentication against a real server that requires it, and a permanent refusal
//! (wrong password) that is counted and not retried.

mod notify_support;

use std::time::Duration;

use error_tracker::{ErrorTracker, ListQuery};
use notify_support::{SmtpServer, email, policy, settle};
use tracing_subscriber::prelude::*;

fn tracker(dir: &std::path::Path, port: u16, password: &str) -> ErrorTracker {
    let mut settings = email(port);
    settings.smtp_username = Some("user".into());
    settings.smtp_password = Some(password.into());
    ErrorTracker::builder()
        .database_path(dir.join("errors.redb"))
        .email(settings)
        .notify_policy(policy())
        .build()
        .unwrap()
}

fn emit(tracker: &ErrorTracker, message: &str) {
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("{message}"));
}

#[test]
fn authenticated_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start_with_auth(dir.path());
    let tracker = tracker(dir.path(), server.port, "pa55word");
    emit(&tracker, "sent with a login");
    settle(&tracker);
    let mails = server.wait_for(1);
    assert_eq!(mails[0].subject, "[test] event: sent with a login");
    assert!(!mails[0].raw.contains("pa55word"));
}

#[test]
fn a_wrong_password_is_a_permanent_refusal_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start_with_auth(dir.path());
    let tracker = tracker(dir.path(), server.port, "wrong");
    emit(&tracker, "never delivered");
    // A refusal for good settles: it is not retried.
    settle(&tracker);
    std::thread::sleep(Duration::from_millis(300));
    let stats = tracker.stats();
    assert_eq!(stats.notifications.rejected, 1, "{stats:?}");
    assert_eq!(stats.notifications.failures, 1, "not retried: {stats:?}");
    assert_eq!(stats.notifications.sent, 0);
    let error = stats.notifications.last_error.unwrap_or_default();
    assert!(error.contains("rejected"), "{error}");
    assert!(
        !error.contains("wrong"),
        "the password is not in the error: {error}"
    );
    assert!(server.messages().is_empty());
    assert_eq!(tracker.list(&ListQuery::page(1, 10)).unwrap().total, 1);
}
