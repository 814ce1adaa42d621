//! Email notifications against a real SMTP server (aiosmtpd on 127.0.0.1, writing a
//! Maildir): storms are avoided, restarts neither lose nor repeat a message, a server that
//! is down is retried, and nothing unmasked or injected reaches a message.

mod notify_support;

use std::time::Duration;

use error_tracker::{ErrorTracker, ListQuery, NotifyPolicy, Status};
use notify_support::{Mail, SmtpServer, free_port, policy, settle, tracker};
use tracing::Dispatch;

fn payment_error(dispatch: &Dispatch, times: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for n in 0..times {
            let err = std::io::Error::other("card declined");
            tracing::error!(
                error = &err as &dyn std::error::Error,
                order = n,
                "payment {n} failed"
            );
        }
    });
}

/// The value of a `Label: value` line of a text part.
fn fact<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{label}:")))
        .map(str::trim)
}

fn only_fingerprint(tracker: &ErrorTracker) -> String {
    let page = tracker.list(&ListQuery::page(1, 10)).unwrap();
    assert_eq!(page.total, 1, "{page:#?}");
    page.items[0].fingerprint.clone()
}

fn thread_root(mail: &Mail) -> String {
    mail.references
        .clone()
        .or_else(|| mail.message_id.clone())
        .expect("a message id")
}

#[test]
fn a_new_error_mails_once_and_its_next_occurrences_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), server.port, policy());

    tracing::dispatcher::with_default(&dispatch, || {
        let _scope = error_tracker::configure_scope(|scope| {
            scope.set_extra("user_id", 1234);
        });
        let span = tracing::error_span!("checkout", cart = 7);
        let _entered = span.enter();
        payment_error(&dispatch, 1);
    });
    settle(&tracker);
    let mails = server.wait_for(1);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(fact(&mail.text, "Count"), Some("1"));
    assert_eq!(fact(&mail.text, "Status"), Some("unresolved"));
    for part in [&mail.text, &mail.html] {
        assert!(
            part.contains("checkout") && part.contains("cart=7"),
            "the span trace: {part}"
        );
        assert!(part.contains("user_id = 1234"), "the extras: {part}");
    }
    assert_eq!(mail.subject, "[test] std::io::Error: payment 0 failed");
    let fp = only_fingerprint(&tracker);
    assert_eq!(
        mail.message_id.as_deref(),
        Some(format!("<error-{fp}@example.com>").as_str())
    );
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("New error"), "{part}");
        assert!(part.contains("card declined"), "the error chain: {part}");
        assert!(part.contains("order"), "the fields: {part}");
        assert!(
            part.contains(&format!("http://errors.example.com/errors/error/{fp}")),
            "the link: {part}"
        );
    }
    assert!(mail.text.contains("Count:"), "{}", mail.text);
    assert!(mail.html.contains("<table>"), "{}", mail.html);

    // Eight more, in separate batches: no message.
    for _ in 0..8 {
        payment_error(&dispatch, 1);
        assert!(tracker.flush(Duration::from_secs(10)));
    }
    settle(&tracker);
    assert_eq!(server.messages().len(), 1);
    assert_eq!(tracker.error(&fp).unwrap().unwrap().summary.count, 9);
    let stats = tracker.stats().notifications;
    assert_eq!((stats.sent, stats.failures), (1, 0), "{stats:?}");
}

#[test]
fn milestones_and_regressions_mail_once_each_in_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let policy = NotifyPolicy {
        milestones: vec![3, 5],
        ..policy()
    };
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), server.port, policy);

    payment_error(&dispatch, 1);
    settle(&tracker);
    assert_eq!(server.wait_for(1).len(), 1);
    payment_error(&dispatch, 2); // 3: a milestone
    settle(&tracker);
    assert_eq!(server.wait_for(2).len(), 2);
    payment_error(&dispatch, 1); // 4: nothing
    settle(&tracker);
    assert_eq!(server.messages().len(), 2);
    payment_error(&dispatch, 1); // 5: a milestone
    settle(&tracker);
    assert_eq!(server.wait_for(3).len(), 3);

    let fp = only_fingerprint(&tracker);
    assert!(tracker.store().set_status(&fp, Status::Resolved).unwrap());
    payment_error(&dispatch, 1); // a regression
    settle(&tracker);
    let mails = server.wait_for(4);
    assert_eq!(mails.len(), 4);
    assert!(
        mails[1].text.contains("Reached 3 occurrences"),
        "{}",
        mails[1].text
    );
    assert!(
        mails[2].text.contains("Reached 5 occurrences"),
        "{}",
        mails[2].text
    );
    assert!(mails[3].text.contains("Regression"), "{}", mails[3].text);
    assert!(mails[3].html.contains("Regression"), "{}", mails[3].html);

    // One thread: the first message is the root, the others refer to it.
    let root = mails[0].message_id.clone().unwrap();
    assert_eq!(mails[0].in_reply_to, None);
    for mail in &mails[1..] {
        assert_eq!(thread_root(mail), root);
        assert_eq!(mail.in_reply_to.as_deref(), Some(root.as_str()));
        assert_ne!(mail.message_id.as_deref(), Some(root.as_str()));
    }
    let state = tracker.error(&fp).unwrap().unwrap();
    assert_eq!(state.regressions, 1);
    assert_eq!(state.notification.sent, 4);
    assert_eq!(state.notification.milestone_notified, 5);

    // An ignored error never mails, whatever happens to it.
    assert!(tracker.store().set_status(&fp, Status::Ignored).unwrap());
    payment_error(&dispatch, 200);
    settle(&tracker);
    assert_eq!(server.messages().len(), 4);
}

#[test]
fn a_milestone_reached_during_the_cooldown_is_sent_once_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let policy = NotifyPolicy {
        milestones: vec![2, 3, 4],
        cooldown: Duration::from_secs(1),
        ..policy()
    };
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), server.port, policy);
    payment_error(&dispatch, 1);
    settle(&tracker);
    assert_eq!(server.wait_for(1).len(), 1);
    // Three milestones crossed within the cooldown: one message, for the highest.
    for _ in 0..4 {
        payment_error(&dispatch, 1);
        assert!(tracker.flush(Duration::from_secs(10)));
    }
    settle(&tracker);
    let mails = server.wait_for(2);
    assert!(tracker.stats().notifications.deferred >= 1);
    settle(&tracker);
    let mails_after = server.messages();
    assert_eq!(
        mails_after.len(),
        2,
        "{:#?}",
        mails_after.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        mails[1].text.contains("Reached 4 occurrences"),
        "{}",
        mails[1].text
    );
    assert!(
        mails[1].text.contains("Count:       5") || mails[1].text.contains(" 5\n"),
        "{}",
        mails[1].text
    );
}

#[test]
fn a_burst_of_distinct_errors_sends_at_most_the_cap_and_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let cap = 5;
    let policy = NotifyPolicy {
        max_per_window: cap,
        // Long enough for the whole burst to be stored within one window, even on a busy machine.
        window: Duration::from_secs(10),
        ..policy()
    };
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), server.port, policy);
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..1_000 {
            let key = format!("burst-{n}");
            tracing::error!(fingerprint = %key, "distinct error {n}");
        }
    });
    settle(&tracker);
    let mails = server.wait_for(cap as usize + 1);
    settle(&tracker);
    let mails_after = server.messages();
    assert_eq!(mails_after.len(), mails.len());
    assert_eq!(mails.len(), cap as usize + 1, "the cap plus one digest");
    let digest = mails.last().unwrap();
    assert!(
        digest.subject.contains("995 more errors"),
        "{}",
        digest.subject
    );
    assert!(digest.text.contains("distinct error"), "{}", digest.text);
    assert!(
        digest.text.contains("and 795 more"),
        "listed up to 200: {}",
        digest.text
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracker.stats().notifications.digests == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = tracker.stats().notifications;
    assert_eq!(
        (stats.sent, stats.digests, stats.held_back),
        (5, 1, 995),
        "{stats:?}"
    );

    // Everything in the digest counts as notified: nothing mails later one by one.
    let page = tracker.list(&ListQuery::page(1, 2_000)).unwrap();
    assert_eq!(page.total, 1_000);
    for summary in &page.items {
        let group = tracker.error(&summary.fingerprint).unwrap().unwrap();
        assert!(group.notification.new_notified, "{summary:?}");
    }
}

#[test]
fn a_restart_neither_repeats_nor_loses_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    let server_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    {
        let server = SmtpServer::start_on(port, server_dir.path());
        let (tracker, dispatch) = tracker(&db, port, policy());
        payment_error(&dispatch, 1);
        settle(&tracker);
        assert_eq!(server.wait_for(1).len(), 1);
        drop(server);
        // Captured while the server is down: stored, not sent, before the restart.
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::error!("disk full on /var");
        });
        assert!(tracker.flush(Duration::from_secs(10)));
        assert!(!tracker.flush_notifications(Duration::from_millis(300)));
        assert!(tracker.stats().notifications.failures >= 1);
    }
    let server = SmtpServer::start_on(port, server_dir.path());
    let (tracker, dispatch) = tracker(&db, port, policy());
    // The start-up scan sends what was due, and only that.
    settle(&tracker);
    let mails = server.wait_for(2);
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].subject.contains("disk full"),
        "{}",
        mails[1].subject
    );
    payment_error(&dispatch, 3);
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::error!("disk full on /var");
    });
    settle(&tracker);
    assert_eq!(server.messages().len(), 2, "no duplicate after the restart");
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("a new one"));
    settle(&tracker);
    assert_eq!(server.wait_for(3).len(), 3);
}

#[test]
fn a_server_that_is_down_is_retried_and_its_failures_are_never_captured() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), port, policy());
    payment_error(&dispatch, 1);
    assert!(tracker.flush(Duration::from_secs(10)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracker.stats().notifications.failures < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = tracker.stats();
    assert!(stats.notifications.last_error.is_some(), "{stats:?}");
    assert_eq!(stats.notifications.sent, 0);
    assert_eq!(stats.notifications.pending, 1, "{stats:?}");
    // The application never waited, and the failures are not errors of the application.
    assert_eq!(tracker.list(&ListQuery::page(1, 10)).unwrap().total, 1);
    assert_eq!(stats.captured, 1);

    let server = SmtpServer::start_on(port, dir.path());
    let mails = server.wait_for(1);
    settle(&tracker);
    assert_eq!(mails.len(), 1);
    assert_eq!(server.messages().len(), 1);
    let stats = tracker.stats();
    assert_eq!(stats.notifications.sent, 1);
    assert_eq!(stats.notifications.pending, 0);
    assert_eq!(stats.captured, 1);
}

#[test]
fn line_breaks_cannot_inject_headers_and_secrets_stay_masked() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), server.port, policy());
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::error!(
            password = "hunter2",
            api_token = "tok-5ecret",
            "login failed\r\nBcc: victim@example.com\r\nX-Injected: yes\nAuthorization: Bearer s3cr3tT0ken"
        );
    });
    settle(&tracker);
    let mails = server.wait_for(1);
    let mail = &mails[0];
    assert!(
        !mail.header_names.contains(&"bcc".to_owned()),
        "{:?}",
        mail.headers
    );
    assert!(
        !mail.header_names.contains(&"x-injected".to_owned()),
        "{:?}",
        mail.headers
    );
    assert!(!mail.raw.contains("victim@example.com\r\n") || !mail.raw.contains("\nBcc:"));
    let recipients: Vec<&String> = mail
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-rcptto"))
        .map(|(_, v)| v)
        .collect();
    assert!(
        recipients.iter().all(|r| !r.contains("victim")),
        "{recipients:?}"
    );
    assert!(!mail.subject.contains('\r') && !mail.subject.contains('\n'));
    assert!(
        mail.subject
            .starts_with("[test] event: login failed Bcc: victim@example.com X-Injected: yes"),
        "{}",
        mail.subject
    );
    // The header quoted in the message is a sensitive pair: its whole value is hidden.
    assert!(
        mail.subject.contains("Authorization: *************"),
        "{}",
        mail.subject
    );
    for secret in ["hunter2", "tok-5ecret", "s3cr3tT0ken"] {
        assert!(!mail.raw.contains(secret), "{secret} in the raw message");
        assert!(!mail.subject.contains(secret));
        assert!(!mail.text.contains(secret), "{secret} in {}", mail.text);
        assert!(!mail.html.contains(secret), "{secret} in {}", mail.html);
    }
    assert!(
        mail.text.contains("password = *************"),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("password = *************"),
        "{}",
        mail.html
    );
}

/// Two trackers (as two processes of one service would) on one redb file share the hourly
/// cap: together they send no more than it, and the one that found it used holds its errors
/// for its digest.
#[test]
fn trackers_sharing_a_file_share_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let db = dir.path().join("shared.redb");
    let policy = NotifyPolicy {
        max_per_window: 3,
        window: Duration::from_secs(3600),
        ..policy()
    };
    let (first, first_dispatch) = tracker(&db, server.port, policy.clone());
    tracing::dispatcher::with_default(&first_dispatch, || {
        for n in 0..2 {
            tracing::error!(fingerprint = %format!("first-{n}"), "first process error {n}");
        }
    });
    settle(&first);
    // Started once the first has notified its errors: its start-up scan then finds nothing
    // due (started earlier, it could find them before the first marked them sent, the race
    // docs/notifications.md describes for processes sharing a file).
    let (second, second_dispatch) = tracker(&db, server.port, policy);
    tracing::dispatcher::with_default(&second_dispatch, || {
        for n in 0..4 {
            tracing::error!(fingerprint = %format!("second-{n}"), "second process error {n}");
        }
    });
    settle(&second);
    let mails = server.wait_for(3);
    settle(&first);
    settle(&second);
    assert_eq!(server.messages().len(), 3, "the shared cap, not 3 each");
    let (a, b) = (first.stats().notifications, second.stats().notifications);
    assert_eq!((a.sent, a.held_back), (2, 0), "{a:?}");
    assert_eq!((b.sent, b.held_back), (1, 3), "{b:?}");
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains("first process error"))
            .count(),
        2,
        "{subjects:?}"
    );
}

#[inline(never)]
fn settle_invoice(dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        tracing::info!(token = "tok-123", "settling invoice 7");
        error_tracker::capture_message("invoice <7> could not be settled");
    });
}

#[test]
fn the_mail_shows_the_backtrace_and_the_breadcrumbs() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let (tracker, dispatch) = notify_support::tracker_with(
        ErrorTracker::builder()
            .database_path(dir.path().join("e.redb"))
            .backtraces(error_tracker::BacktraceMode::Always)
            .breadcrumbs(5),
        server.port,
        policy(),
    );
    settle_invoice(&dispatch);
    settle(&tracker);
    let mails = server.wait_for(1);
    for part in [&mails[0].text, &mails[0].html] {
        assert!(part.contains("Backtrace (innermost first)"), "{part}");
        let line = part
            .lines()
            .find(|line| line.contains("settle_invoice"))
            .unwrap_or_else(|| panic!("the application's frame: {part}"));
        assert!(
            line.contains("notify_smtp.rs:"),
            "with its file and line: {line}"
        );
        assert!(part.contains("other frames"), "the rest counted: {part}");
        assert!(part.contains("Breadcrumbs (oldest first)"), "{part}");
        assert!(part.contains("settling invoice 7"), "{part}");
        assert!(!part.contains("tok-123"), "masked: {part}");
    }
    assert!(
        mails[0].html.contains("invoice &lt;7&gt;"),
        "{}",
        mails[0].html
    );
}
