//! Ticketing: one ticket per error, filed by the example `JsonFileTickets` into real files,
//! kept across restarts, shown in notifications; failures and panics are retried and counted.

mod notify_support;
#[path = "../examples/ticket_files.rs"]
mod ticket_files;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use error_tracker::{ErrorGroup, ErrorTracker, ListQuery, TicketError, Ticketing};
use notify_support::{SmtpServer, policy, settle};
use ticket_files::JsonFileTickets;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn setup(tracker: &ErrorTracker) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(tracker.layer()))
}

fn ticket_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn emit(dispatch: &Dispatch) {
    tracing::dispatcher::with_default(dispatch, || {
        tracing::error!(password = "hunter2", "cannot reach the billing service");
        tracing::error!("cache is cold");
    });
}

#[test]
fn one_ticket_per_error_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = dir.path().join("tickets");
    let db = dir.path().join("errors.redb");
    {
        let tracker = ErrorTracker::builder()
            .database_path(&db)
            .ticketing(JsonFileTickets::new(&tickets).unwrap())
            .build()
            .unwrap();
        let dispatch = setup(&tracker);
        emit(&dispatch);
        settle(&tracker);
        emit(&dispatch);
        emit(&dispatch);
        settle(&tracker);
        assert_eq!(ticket_files(&tickets), ["ET-1.json", "ET-2.json"]);
        assert_eq!(tracker.stats().notifications.tickets, 2);
        let page = tracker.list(&ListQuery::page(1, 10)).unwrap();
        let mut references: Vec<String> = page
            .items
            .iter()
            .map(|s| {
                tracker
                    .error(&s.fingerprint)
                    .unwrap()
                    .unwrap()
                    .ticket
                    .unwrap()
            })
            .collect();
        references.sort();
        assert_eq!(references, ["ET-1", "ET-2"]);
    }
    // The tickets hold masked data only.
    for name in ticket_files(&tickets) {
        let text = std::fs::read_to_string(tickets.join(name)).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }
    let billing: Vec<serde_json::Value> = ticket_files(&tickets)
        .iter()
        .map(|name| serde_json::from_slice(&std::fs::read(tickets.join(name)).unwrap()).unwrap())
        .filter(|ticket: &serde_json::Value| {
            ticket["title"] == "event: cannot reach the billing service"
        })
        .collect();
    assert_eq!(billing.len(), 1);
    assert_eq!(
        billing[0]["newest_sample"]["fields"]["password"],
        "*************"
    );

    // After a restart, the stored references mean no ticket is filed again.
    let tracker = ErrorTracker::builder()
        .database_path(&db)
        .ticketing(JsonFileTickets::new(&tickets).unwrap())
        .build()
        .unwrap();
    let dispatch = setup(&tracker);
    emit(&dispatch);
    settle(&tracker);
    assert_eq!(ticket_files(&tickets), ["ET-1.json", "ET-2.json"]);
    assert_eq!(tracker.stats().notifications.tickets, 0);
}

/// Fails, then panics, then files tickets: each failure is counted and retried.
struct Flaky {
    calls: Arc<AtomicUsize>,
}

impl Ticketing for Flaky {
    fn create_ticket(&self, error: &ErrorGroup) -> Result<String, TicketError> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(TicketError::Unavailable("tracker is down".into())),
            1 => panic!("ticketing bug"),
            n => Ok(format!("T-{n}-{}", error.summary.fingerprint)),
        }
    }
}

#[test]
fn failing_and_panicking_ticketing_is_retried_and_counted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let tracker = ErrorTracker::builder()
        .in_memory()
        .notify_policy(policy())
        .ticketing(Flaky {
            calls: calls.clone(),
        })
        .build()
        .unwrap();
    let dispatch = setup(&tracker);
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("needs a ticket"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let fp = loop {
        assert!(tracker.flush(Duration::from_secs(5)));
        let page = tracker.list(&ListQuery::page(1, 10)).unwrap();
        let group = tracker.error(&page.items[0].fingerprint).unwrap().unwrap();
        if group.ticket.is_some() {
            break group.summary.fingerprint;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let group = tracker.error(&fp).unwrap().unwrap();
    assert_eq!(group.ticket, Some(format!("T-2-{fp}")));
    let stats = tracker.stats();
    assert_eq!(stats.notifications.ticket_failures, 2, "{stats:?}");
    assert_eq!(stats.notifications.tickets, 1);
    assert_eq!(stats.hook_panics, 1);
    assert!(stats.notifications.last_error.is_some());
    // The application went on: the panic was not captured as an error of its own.
    assert_eq!(tracker.list(&ListQuery::page(1, 10)).unwrap().total, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn the_ticket_is_shown_in_the_notification() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path());
    let builder = ErrorTracker::builder()
        .database_path(dir.path().join("errors.redb"))
        .ticketing(JsonFileTickets::new(dir.path().join("tickets")).unwrap());
    let (tracker, dispatch) = notify_support::tracker_with(builder, server.port, policy());
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("needs a ticket"));
    settle(&tracker);
    let mails = server.wait_for(1);
    assert!(mails[0].text.contains("Ticket:"), "{}", mails[0].text);
    assert!(mails[0].text.contains("ET-1"), "{}", mails[0].text);
    assert!(mails[0].html.contains("ET-1"), "{}", mails[0].html);
}

/// Records when each ticket was filed.
struct Stamped {
    filed: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl Ticketing for Stamped {
    fn create_ticket(&self, error: &ErrorGroup) -> Result<String, TicketError> {
        let mut filed = self.filed.lock().unwrap();
        filed.push(std::time::Instant::now());
        Ok(format!("T-{}-{}", filed.len(), error.summary.fingerprint))
    }
}

/// Emits `n` distinct errors (letters only, so that no two are grouped together).
fn emit_distinct(dispatch: &Dispatch, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            let name: String = std::iter::repeat_n(char::from(b'a' + i as u8), 3).collect();
            tracing::error!("component {name} is down");
        }
    });
}

fn capped_tracker(cap: u32, window: Duration) -> (ErrorTracker, Dispatch, Stamped) {
    let filed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tracker = ErrorTracker::builder()
        .in_memory()
        .notify_policy(error_tracker::NotifyPolicy {
            max_tickets_per_window: cap,
            window,
            ..policy()
        })
        .ticketing(Stamped {
            filed: filed.clone(),
        })
        .build()
        .unwrap();
    let dispatch = setup(&tracker);
    (tracker, dispatch, Stamped { filed })
}

/// A burst of new errors opens no more tickets than the cap in one window; the others wait,
/// counted, and get no ticket while the window lasts.
#[test]
fn a_burst_of_new_errors_files_no_more_tickets_than_the_cap() {
    let (tracker, dispatch, stamped) = capped_tracker(3, Duration::from_secs(3600));
    emit_distinct(&dispatch, 8);
    assert!(tracker.flush(Duration::from_secs(30)));
    settle(&tracker);
    assert_eq!(tracker.list(&ListQuery::page(1, 10)).unwrap().total, 8);
    let stats = tracker.stats().notifications;
    assert_eq!(stats.tickets, 3, "{stats:?}");
    assert_eq!(stamped.filed.lock().unwrap().len(), 3);
    assert!(stats.tickets_held_back >= 5, "{stats:?}");
    let with_ticket = tracker
        .list(&ListQuery::page(1, 10))
        .unwrap()
        .items
        .iter()
        .filter(|s| {
            tracker
                .error(&s.fingerprint)
                .unwrap()
                .unwrap()
                .ticket
                .is_some()
        })
        .count();
    assert_eq!(with_ticket, 3);
}

/// The errors held back get their tickets in the windows that follow: 8 errors under a cap
/// of 3 take three windows, so the seventh ticket comes two windows after the first.
#[test]
fn tickets_held_back_are_filed_in_the_following_windows() {
    let window = Duration::from_millis(300);
    let (tracker, dispatch, stamped) = capped_tracker(3, window);
    emit_distinct(&dispatch, 8);
    assert!(tracker.flush(Duration::from_secs(30)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stamped.filed.lock().unwrap().len() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let filed = stamped.filed.lock().unwrap().clone();
    assert_eq!(filed.len(), 8, "one ticket per error, none twice");
    assert!(filed[6] - filed[0] >= 2 * window, "{filed:?}");
    assert_eq!(tracker.stats().notifications.tickets, 8);
}
