//! The tracker's panic hook with tower-http's `CatchPanic` and its default handler, and no
//! HTTP middleware (its own binary: the hook is process-wide).
#![cfg(feature = "http")]

mod http_support;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use error_tracker::ErrorTracker;
use http_support::Server;
use tower_http::catch_panic::CatchPanicLayer;

/// With the hook and `CatchPanic`'s default handler around a router without the middleware,
/// the handler's `error!("Service panicked: …")` repeats the panic the hook recorded: one group.
#[test]
fn catch_panic_default_handlers_log_of_a_hooked_panic_is_not_a_second_error() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        tracker.install_panic_hook();
        Router::new()
            .route(
                "/jobs/{id}",
                get(|Path(id): Path<u64>| async move {
                    if id > 0 {
                        panic!("job {id} lost its lease");
                    }
                    "never"
                }),
            )
            .layer(CatchPanicLayer::new())
    });
    assert_eq!(server.get("/jobs/3"), Some(500));
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].summary.kind, "panic");
    assert_eq!(groups[0].samples[0].message, "job 3 lost its lease");
}
