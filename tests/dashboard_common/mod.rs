//! Helpers for the dashboard tests: a real server on 127.0.0.1, a real HTTP client, and
//! stores filled with errors.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use error_tracker::dashboard::Dashboard;
use error_tracker::store::GroupUpdate;
use error_tracker::{ErrorTracker, Occurrence, RedbStore, Store};
use time::OffsetDateTime;
use tracing_subscriber::prelude::*;

/// A dashboard served on an ephemeral loopback port by a runtime of its own; stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `router` (with the peer address recorded, for `LoopbackOnly`).
    pub fn start(router: axum::Router) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                error_tracker::dashboard::serve(listener, router, async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client that neither follows redirects nor turns 4xx/5xx into errors, so that tests see
/// every answer as it is.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// An answer read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn read(mut response: axum::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("a readable body");
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(url: &str) -> Answer {
    read(client().get(url).call().expect("GET answered"))
}

/// Adds `count` occurrences of one error, last seen at `last_seen`; returns its fingerprint.
pub fn record(
    store: &dyn Store,
    fingerprint: &str,
    kind: &str,
    message: &str,
    count: u64,
    last_seen: OffsetDateTime,
) -> String {
    let mut sample = Occurrence::new(kind, message);
    sample.time = last_seen;
    sample.location.target = "shop::orders".to_owned();
    sample.location.file = Some("src/orders.rs".to_owned());
    sample.location.line = Some(42);
    store
        .record(&[GroupUpdate {
            fingerprint: fingerprint.to_owned(),
            grouping_version: 1,
            count,
            first_seen: last_seen - time::Duration::hours(2),
            last_seen,
            samples: vec![sample],
            dropped_samples: 0,
            keep_samples: 5,
        }])
        .expect("record");
    fingerprint.to_owned()
}

/// `n` errors in a new store file in `dir`, `e01` last seen longest ago and `e{n}` most
/// recently (one minute apart), so that the listing's order is known.
pub fn numbered_store(dir: &Path, n: usize) -> Arc<RedbStore> {
    let store = Arc::new(RedbStore::open(dir.join("errors.redb")).expect("open store"));
    let now = OffsetDateTime::now_utc();
    for i in 1..=n {
        let last_seen = now - time::Duration::minutes((n - i) as i64 + 1);
        record(
            store.as_ref(),
            &format!("e{i:02}"),
            "std::io::Error",
            &format!("failure number {i}"),
            i as u64,
            last_seen,
        );
    }
    store
}

/// A dashboard over `store` that lets everyone in.
pub fn open_dashboard(store: Arc<dyn Store>) -> Dashboard {
    Dashboard::new(store).permission(error_tracker::dashboard::AllowAll)
}

/// Realistic errors captured through a real tracker (spans, fields, extras, tags, error
/// chains, a masked password), stored in the file at `path`.
pub fn capture_demo_errors(path: &Path) {
    #[derive(Debug)]
    struct PoolTimeout;
    impl std::fmt::Display for PoolTimeout {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("timed out waiting for a connection from the pool")
        }
    }
    impl std::error::Error for PoolTimeout {}
    #[derive(Debug)]
    struct QueryFailed(PoolTimeout);
    impl std::fmt::Display for QueryFailed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not load the order")
        }
    }
    impl std::error::Error for QueryFailed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    let tracker = ErrorTracker::builder()
        .database_path(path)
        .build()
        .expect("tracker");
    let subscriber = tracing_subscriber::registry().with(tracker.layer());
    tracing::subscriber::with_default(subscriber, || {
        for order in 0..7 {
            let _request = tracing::error_span!(
                "request",
                method = "GET",
                path = "/orders/{id}",
                user_id = 1000 + order
            )
            .entered();
            let _scope = error_tracker::configure_scope(|scope| {
                scope
                    .set_extra(
                        "request",
                        serde_json::json!({"method": "GET", "url": format!("/orders/{order}"), "status": 500}),
                    )
                    .set_extra("cart_items", 3)
                    .set_tag("region", "eu-west-1");
            });
            let err = QueryFailed(PoolTimeout);
            tracing::error!(
                error = &err as &dyn std::error::Error,
                order_id = order,
                password = "hunter2",
                "loading order {order} failed"
            );
        }
        for attempt in 0..3 {
            let err = std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            );
            tracing::error!(
                error = &err as &dyn std::error::Error,
                attempt,
                "payment provider unreachable"
            );
        }
        error_tracker::capture_message("cache warm-up took longer than 30 s");
        let parse = "12x".parse::<u32>();
        if let Err(e) = &parse {
            error_tracker::capture_error(e);
        }
        tracing::error!(
            target: "shop::admin",
            "<script>alert('xss')</script> in a message & \"quotes\""
        );
    });
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "{:?}",
        tracker.stats()
    );
}

/// Debian's Chromium, where `.ci/run` installs it; `CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or a failure that says how to get it: this test never passes without it.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is needed for this test and was not found at {}: install it with \
         `apt-get install chromium` (.ci/run does), or set CHROMIUM to its path",
        path.display()
    );
    path
}

/// Runs headless Chromium on `url` with `args` and a fresh profile; returns its stdout.
pub fn run_chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The DOM headless Chromium builds for `url`.
pub fn dump_dom(url: &str) -> String {
    run_chromium(url, &["--dump-dom"])
}

/// The browser cookie and form token a page hands out.
pub fn session(page: &Answer) -> (String, String) {
    let cookie = page
        .header("set-cookie")
        .expect("the page sets the anti-forgery cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("a form with a token") + marker.len();
    let token = page.body[start..start + page.body[start..].find('"').unwrap()].to_owned();
    (cookie, token)
}

/// POSTs a form with the cookie and extra headers given.
pub fn post_form(
    url: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = client().post(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    read(
        request
            .send_form(fields.iter().copied())
            .expect("POST answered"),
    )
}
