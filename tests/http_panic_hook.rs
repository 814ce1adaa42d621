//! The HTTP middleware with the tracker's panic hook installed (its own binary: the hook is
//! process-wide).
#![cfg(feature = "http")]

mod http_support;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use error_tracker::ErrorTracker;
use http_support::{Server, request_span};
use tower_http::catch_panic::CatchPanicLayer;

fn answer_500(_: Box<dyn std::any::Any + Send>) -> axum::http::Response<String> {
    let mut response = axum::http::Response::new(String::new());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[test]
fn a_panic_caught_by_the_hook_is_recorded_once_with_its_location_and_the_request() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        tracker.install_panic_hook();
        Router::new()
            .route(
                "/orders/{id}",
                get(|Path(id): Path<u64>| async move {
                    if id > 0 {
                        panic!("order {id} is corrupt");
                    }
                    "never"
                }),
            )
            .layer(tracker.http_layer())
            .layer(CatchPanicLayer::custom(answer_500))
    });
    assert_eq!(server.get("/orders/5?v=1"), Some(500));
    assert_eq!(server.get("/orders/6?v=2"), Some(500));
    let groups = server.groups();
    // The hook's capture only: the middleware sees it was captured inside the request and
    // records neither the panic nor the 500 a second time.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let group = &groups[0];
    assert_eq!(group.summary.kind, "panic");
    assert_eq!(group.summary.count, 2);
    let sample = &group.samples[1];
    assert_eq!(sample.message, "order 6 is corrupt");
    assert!(
        sample
            .location
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("http_panic_hook.rs")),
        "{:?}",
        sample.location
    );
    assert_eq!(request_span(sample).fields["http.route"], "/orders/{id}");
    assert_eq!(sample.extras["http.query"]["v"], "2");
}
