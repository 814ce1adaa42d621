//! A failing request seen end to end: the HTTP middleware records it, the dashboard shows the
//! request under "Request", masked.
#![cfg(all(feature = "http", feature = "dashboard"))]

mod http_support;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use error_tracker::ErrorTracker;
use error_tracker::dashboard::AllowAll;
use http_support::{Server, only_of_kind};

fn app(tracker: &ErrorTracker) -> Router {
    Router::new()
        .route(
            "/orders/{id}",
            get(|Path(id): Path<u64>| async move {
                tracing::error!(order = id, "payment for order {id} failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .layer(tracker.http_layer())
        .nest("/errors", tracker.dashboard().permission(AllowAll).router())
}

#[test]
fn the_detail_page_shows_the_masked_request_of_a_failed_request() {
    let server = Server::start(ErrorTracker::builder(), app);
    let status = server.run(async {
        server
            .client
            .get(server.url("/orders/7?page=2&access_token=q-secret-token"))
            .header("authorization", "Bearer h-secret-bearer")
            .header("x-trace", "trace-42")
            .send()
            .await
            .expect("request")
            .status()
    });
    assert_eq!(status, 500);
    let groups = server.groups();
    let failure = only_of_kind(&groups, "event");

    let page = server.run(async {
        let response = server
            .client
            .get(server.url(&format!("/errors/error/{}", failure.summary.fingerprint)))
            .send()
            .await
            .expect("detail page");
        assert_eq!(response.status(), 200);
        response.text().await.expect("body")
    });
    let request = &page[page.find("<h3>Request</h3>").expect("a Request section")..];
    let request = &request[..request.find("<h3>Fields</h3>").expect("fields after it")];
    for shown in [
        "http.method",
        "GET",
        "http.route",
        "/orders/{id}",
        "http.path",
        "/orders/7",
        "http.headers",
        "trace-42",
        "http.query",
        "page",
    ] {
        assert!(request.contains(shown), "{shown} missing from {request}");
    }
    assert!(
        request.contains("*************"),
        "masked values shown masked"
    );
    for secret in ["h-secret-bearer", "q-secret-token"] {
        assert!(!page.contains(secret), "{secret} leaked into the page");
    }
    let extras = page.find("<h3>Extras</h3>");
    assert!(
        extras.is_none(),
        "the request's extras are not listed twice: {page}"
    );
}
