//! A real axum server on 127.0.0.1 behind the tracker's middleware, and a real client.
#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use error_tracker::{Builder, ErrorGroup, ErrorTracker, ListQuery};
use tokio::runtime::Runtime;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// A running server: its tracker, its runtime and where it listens.
pub struct Server {
    pub tracker: ErrorTracker,
    pub dispatch: Dispatch,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    runtime: Runtime,
}

/// A runtime whose every thread has `dispatch` as its default, so that the server's tasks see
/// the tracker the way an application with a global subscriber does, while tests in the same
/// binary keep their own trackers.
fn runtime(dispatch: &Dispatch) -> Runtime {
    let for_threads = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Kept for the thread's life: the runtime's threads end with the test.
            std::mem::forget(tracing::dispatcher::set_default(&for_threads));
        })
        .build()
        .expect("runtime")
}

impl Server {
    /// Starts `app(tracker)` with a tracker built from `builder` (in memory).
    pub fn start(builder: Builder, app: impl FnOnce(&ErrorTracker) -> Router) -> Server {
        Server::start_with(
            builder,
            |tracker| Dispatch::new(tracing_subscriber::registry().with(tracker.layer())),
            app,
        )
    }

    /// The same, with the subscriber `subscriber(tracker)` makes.
    pub fn start_with(
        builder: Builder,
        subscriber: impl FnOnce(&ErrorTracker) -> Dispatch,
        app: impl FnOnce(&ErrorTracker) -> Router,
    ) -> Server {
        let tracker = builder.in_memory().build().expect("tracker builds");
        let dispatch = subscriber(&tracker);
        let runtime = runtime(&dispatch);
        let router = app(&tracker);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        runtime.spawn(axum::serve(listener, service).into_future());
        Server {
            tracker,
            dispatch,
            addr,
            client: reqwest::Client::new(),
            runtime,
        }
    }

    /// Runs `f` on the server's runtime, with the tracker's dispatcher on this thread too.
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        tracing::dispatcher::with_default(&self.dispatch, || self.runtime.block_on(f))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path` and the status; `None` when the server closed the connection.
    pub fn get(&self, path: &str) -> Option<u16> {
        self.run(self.client.get(self.url(path)).send())
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Every stored group after a flush, newest first.
    pub fn groups(&self) -> Vec<ErrorGroup> {
        assert!(
            self.tracker.flush(Duration::from_secs(10)),
            "flush timed out: {:?}",
            self.tracker.stats()
        );
        let page = self.tracker.list(&ListQuery::page(1, 1_000)).expect("list");
        page.items
            .iter()
            .map(|s| {
                self.tracker
                    .error(&s.fingerprint)
                    .expect("get")
                    .expect("listed group exists")
            })
            .collect()
    }
}

/// The one group of `kind`; fails if there is not exactly one.
pub fn only_of_kind<'a>(groups: &'a [ErrorGroup], kind: &str) -> &'a ErrorGroup {
    let found: Vec<_> = groups.iter().filter(|g| g.summary.kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} group expected in {groups:#?}");
    found[0]
}

/// The request span's record in `occurrence`'s span trace.
pub fn request_span(occurrence: &error_tracker::Occurrence) -> &error_tracker::SpanRecord {
    occurrence
        .spans
        .iter()
        .find(|s| s.name == "http_request")
        .unwrap_or_else(|| panic!("no request span in {:#?}", occurrence.spans))
}
