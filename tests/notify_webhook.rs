//! The webhook notifier against a real HTTP server on 127.0.0.1 (axum): it gets exactly the
//! notifications the email would, masked; a failing or hanging server is retried without the
//! application waiting; digests and Slack's format.
#![cfg(feature = "webhook")]

mod notify_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use error_tracker::notify::{WebhookFormat, WebhookNotifier};
use error_tracker::{ErrorTracker, NotifyPolicy, Status};
use notify_support::{SmtpServer, policy, settle};
use serde_json::Value;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// What the hook received: each request's headers and JSON body.
#[derive(Clone, Default)]
struct Received {
    posts: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    /// Requests still to answer 503.
    failing: Arc<AtomicUsize>,
}

/// An HTTP server on an ephemeral loopback port, on a runtime of its own.
struct Hook {
    addr: SocketAddr,
    received: Received,
}

impl Hook {
    fn start(fail_first: usize) -> Hook {
        let received = Received::default();
        received.failing.store(fail_first, Ordering::SeqCst);
        let state = received.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().route(
                    "/hook",
                    axum::routing::post(
                        move |headers: HeaderMap, body: axum::body::Bytes| async move {
                            let failing = &state.failing;
                            if failing
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok()
                            {
                                return StatusCode::SERVICE_UNAVAILABLE;
                            }
                            let json = serde_json::from_slice(&body).expect("a JSON body");
                            state.posts.lock().unwrap().push((headers, json));
                            StatusCode::NO_CONTENT
                        },
                    ),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        Hook {
            addr: rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            received,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn posts(&self) -> Vec<Value> {
        let posts = self.received.posts.lock().unwrap();
        posts.iter().map(|(_, body)| body.clone()).collect()
    }

    fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let posts = self.posts();
            if posts.len() >= n || Instant::now() > deadline {
                return posts;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn webhook_tracker(notifier: WebhookNotifier, policy: NotifyPolicy) -> (ErrorTracker, Dispatch) {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .notifier(notifier)
        .notify_policy(policy)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

/// New errors, a milestone, and a regression after a resolve.
fn scenario(tracker: &ErrorTracker, dispatch: &Dispatch) {
    let alpha = || tracing::error!(password = "hunter2", "alpha failed");
    tracing::dispatcher::with_default(dispatch, || {
        alpha();
        tracing::error!("beta failed");
    });
    settle(tracker);
    tracing::dispatcher::with_default(dispatch, || {
        for _ in 0..4 {
            alpha();
        }
    });
    settle(tracker);
    let page = tracker.errors(1).unwrap();
    let fingerprint = &page
        .items
        .iter()
        .find(|e| e.message == "alpha failed")
        .unwrap()
        .fingerprint;
    tracker
        .store()
        .set_status(fingerprint, Status::Resolved)
        .unwrap();
    tracing::dispatcher::with_default(dispatch, alpha);
    settle(tracker);
}

fn scenario_policy() -> NotifyPolicy {
    NotifyPolicy {
        milestones: vec![5],
        ..policy()
    }
}

#[test]
fn the_webhook_gets_exactly_the_notifications_the_email_gets() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path());
    let (mailer, mail_dispatch) =
        notify_support::tracker(&dir.path().join("e.redb"), smtp.port, scenario_policy());
    scenario(&mailer, &mail_dispatch);
    let mut mailed: Vec<(String, String)> = smtp
        .wait_for(4)
        .iter()
        .map(|mail| {
            let reason = mail.text.lines().next().unwrap_or_default().to_owned();
            let headline = mail.subject.trim_start_matches("[test] ").to_owned();
            (reason, headline)
        })
        .collect();

    let hook = Hook::start(0);
    let (tracker, dispatch) = webhook_tracker(
        WebhookNotifier::new(hook.url())
            .header("Authorization", "Bearer hook-secret")
            .base_url("http://errors.example.com/errors"),
        scenario_policy(),
    );
    scenario(&tracker, &dispatch);
    let posts = hook.wait_for(4);
    let mut posted: Vec<(String, String)> = posts
        .iter()
        .map(|post| {
            assert_eq!(post["type"], "error", "{post}");
            let error = &post["error"];
            (
                post["description"].as_str().unwrap().to_owned(),
                format!(
                    "{}: {}",
                    error["kind"].as_str().unwrap(),
                    error["message"].as_str().unwrap()
                ),
            )
        })
        .collect();
    mailed.sort();
    posted.sort();
    assert_eq!(posted, mailed);
    assert_eq!(
        posted.len(),
        4,
        "two new, a milestone and a regression: {posted:?}"
    );

    let text = serde_json::to_string(&posts).unwrap();
    assert!(!text.contains("hunter2"), "masked: {text}");
    let alpha = posts
        .iter()
        .find(|p| p["error"]["message"] == "alpha failed")
        .unwrap();
    assert_eq!(alpha["sample"]["fields"]["password"], "*************");
    assert!(
        alpha["link"]
            .as_str()
            .unwrap()
            .starts_with("http://errors.example.com/errors/error/"),
        "{alpha}"
    );
    let headers = &hook.received.posts.lock().unwrap()[0].0;
    assert_eq!(headers["authorization"], "Bearer hook-secret");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(tracker.stats().notifications.sent, 4);
}

#[test]
fn a_failing_server_is_retried_until_it_takes_the_notification_once() {
    let hook = Hook::start(3);
    let (tracker, dispatch) = webhook_tracker(WebhookNotifier::new(hook.url()), policy());
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("gamma failed"));
    settle(&tracker);
    let posts = hook.wait_for(1);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["reason"]["reason"], "new");
    let stats = tracker.stats().notifications;
    assert_eq!((stats.sent, stats.failures), (1, 3), "{stats:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hook.posts().len(), 1, "sent once");
}

#[test]
fn a_hanging_server_never_slows_the_application() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let _held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().flatten() {
            open.push(stream);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (tracker, dispatch) = webhook_tracker(
        WebhookNotifier::new(url).timeout(Duration::from_secs(8)),
        policy(),
    );
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("delta failed"));
    assert!(tracker.flush(Duration::from_secs(10)));
    // The notifier thread now waits for the server's answer; errors go on being captured and
    // stored meanwhile.
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "{:?}", tracker.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..100 {
            tracing::error!(fingerprint = %format!("k{n}"), "epsilon {n} failed");
        }
    });
    assert!(tracker.flush(Duration::from_secs(10)));
    assert_eq!(tracker.errors(1).unwrap().total, 101);

    let stats = tracker.stats().notifications;
    assert_eq!(
        (stats.sent, stats.failures),
        (0, 0),
        "still waiting: {stats:?}"
    );
    // Then the attempt times out, and is counted and retried.
    let deadline = Instant::now() + Duration::from_secs(20);
    // (The failure is counted a moment before its text is kept: wait for both.)
    while {
        let stats = tracker.stats().notifications;
        stats.failures == 0 || stats.last_error.is_none()
    } {
        assert!(Instant::now() < deadline, "{:?}", tracker.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = tracker.stats().notifications;
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("webhook")),
        "{stats:?}"
    );
}

#[test]
fn a_burst_gives_the_cap_then_one_digest_and_slack_gets_text() {
    let hook = Hook::start(0);
    let cap = 3;
    let policy = NotifyPolicy {
        max_per_window: cap,
        window: Duration::from_secs(2),
        ..policy()
    };
    let (tracker, dispatch) = webhook_tracker(
        WebhookNotifier::new(hook.url())
            .format(WebhookFormat::Slack)
            .subject_prefix("[shop]"),
        policy,
    );
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..10 {
            tracing::error!(fingerprint = %format!("burst-{n}"), "distinct error {n}");
        }
    });
    settle(&tracker);
    let posts = hook.wait_for(cap as usize + 1);
    assert_eq!(posts.len(), cap as usize + 1, "{posts:#?}");
    for post in &posts {
        let text = post["text"].as_str().unwrap_or_else(|| panic!("{post}"));
        assert!(text.starts_with("[shop] "), "{text}");
    }
    let digest = posts.last().unwrap()["text"].as_str().unwrap();
    assert!(digest.contains("7 more errors"), "{digest}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(hook.posts().len(), cap as usize + 1);
}

#[test]
fn the_webhook_is_configured_by_file_or_environment() {
    let hook = Hook::start(0);
    let config = error_tracker::config::Config::load_with_env(
        None,
        [
            ("ERROR_TRACKER_WEBHOOK_URL".to_owned(), hook.url()),
            (
                "ERROR_TRACKER_WEBHOOK_FORMAT".to_owned(),
                "slack".to_owned(),
            ),
            (
                "ERROR_TRACKER_STORE_BACKEND".to_owned(),
                "memory".to_owned(),
            ),
        ],
    )
    .unwrap();
    let tracker = ErrorTracker::builder().config(&config).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("zeta failed"));
    settle(&tracker);
    let posts = hook.wait_for(1);
    assert!(
        posts[0]["text"].as_str().unwrap().contains("zeta failed"),
        "{posts:?}"
    );

    let both = error_tracker::config::Config::from_toml_str(
        "[webhook]\nurl = \"http://127.0.0.1:9/hook\"\n[email]\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
    )
    .unwrap();
    let err = ErrorTracker::builder()
        .in_memory()
        .config(&both)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("webhook.url"), "{err}");
    let bad = error_tracker::config::Config::from_toml_str(
        "[webhook]\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"xml\"\n",
    )
    .unwrap();
    let err = ErrorTracker::builder()
        .in_memory()
        .config(&bad)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("webhook.format"), "{err}");
}
