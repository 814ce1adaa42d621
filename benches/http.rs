//! Per-request cost of the HTTP middleware, in process (no sockets): an axum router called
//! through `tower::ServiceExt::oneshot` with a typical browser request (10 headers, a cookie,
//! a query string), on a current-thread runtime.
//!
//! Cases: the router alone; with a no-op layer (what `Router::layer` costs by itself); with the middleware and a subscriber without the tracker (the
//! middleware opens its span but finds no tracker); with the middleware and the tracker (span,
//! context, mark), answering 200; the same answering 500 (a recorded status).

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .route(
            "/fail/{id}",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
}

fn request(path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "api.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        )
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9",
        )
        .header("accept-language", "en-GB,en;q=0.5")
        .header("accept-encoding", "gzip, deflate, br")
        .header("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc")
        .header("cookie", "theme=dark; sessionid=0123456789abcdef")
        .header("x-request-id", "3f1c9e2a-5b7d-4c1e-9f3a-2d6b8e0c4a17")
        .header("referer", "https://example.com/users")
        .header("connection", "keep-alive")
        .body(Body::empty())
        .expect("request")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let tracker = error_tracker::ErrorTracker::builder()
        .in_memory()
        .build()
        .expect("tracker builds");
    let plain = routes();
    // `Router::layer` itself boxes every route again: the fair baseline for a middleware.
    let identity = routes().layer(tower::layer::util::Identity::new());
    let tracked = routes().layer(tracker.http_layer());
    let with_tracker = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    let without_tracker = Dispatch::new(tracing_subscriber::registry());

    let mut group = c.benchmark_group("http_request");
    let cases: [(&str, &Router, &Dispatch, &str); 5] = [
        (
            "router alone",
            &plain,
            &without_tracker,
            "/users/7?tab=profile&page=2",
        ),
        (
            "router, no-op layer",
            &identity,
            &without_tracker,
            "/users/7?tab=profile&page=2",
        ),
        (
            "middleware, no tracker",
            &tracked,
            &without_tracker,
            "/users/7?tab=profile&page=2",
        ),
        (
            "middleware, tracker, 200",
            &tracked,
            &with_tracker,
            "/users/7?tab=profile&page=2",
        ),
        (
            "middleware, tracker, 500 recorded",
            &tracked,
            &with_tracker,
            "/fail/7?tab=profile&page=2",
        ),
    ];
    for (name, router, dispatch, path) in cases {
        tracing::dispatcher::with_default(dispatch, || {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let response =
                        runtime.block_on(router.clone().oneshot(request(black_box(path))));
                    black_box(response.expect("infallible").status())
                });
            });
        });
    }
    group.finish();
    tracker.flush(std::time::Duration::from_secs(10));
}

criterion_group!(benches, bench);
criterion_main!(benches);
