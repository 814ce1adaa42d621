//! The HTTP middleware around a plain hyper service (no axum, no route templates): it is a
//! tower layer over `http` types, so any tower-based server can use it.
#![cfg(feature = "http")]

mod http_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use error_tracker::{ErrorGroup, ErrorTracker, ListQuery};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use http_support::{only_of_kind, request_span};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// Answers by path: `/ok` 200, `/orders/{id}` 503, `/logged` 200 after an `error!`.
async fn handler(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let status = match path.as_str() {
        "/ok" => StatusCode::OK,
        "/logged" => {
            tracing::error!(order_id = 17, "payment declined");
            StatusCode::OK
        }
        _ if path.starts_with("/orders/") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::NOT_FOUND,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(b"body")));
    *response.status_mut() = status;
    Ok(response)
}

/// Serves every connection of `listener` with hyper's HTTP/1 server.
async fn serve(listener: tokio::net::TcpListener, tracker: ErrorTracker) {
    let service = ServiceBuilder::new()
        .layer(tracker.http_layer())
        .service_fn(handler);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn groups(tracker: &ErrorTracker) -> Vec<ErrorGroup> {
    assert!(
        tracker.flush(Duration::from_secs(10)),
        "{:?}",
        tracker.stats()
    );
    tracker
        .list(&ListQuery::page(1, 100))
        .unwrap()
        .items
        .iter()
        .map(|s| tracker.error(&s.fingerprint).unwrap().unwrap())
        .collect()
}

#[test]
fn a_plain_hyper_service_gets_statuses_and_request_context() {
    let tracker = ErrorTracker::builder().in_memory().build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    runtime.spawn(serve(listener, tracker.clone()));
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("http://{addr}{path}");
        runtime.block_on(async { client.get(url).send().await.unwrap().status().as_u16() })
    };
    assert_eq!(get("/ok"), 200);
    assert_eq!(get("/orders/41"), 503);
    assert_eq!(get("/orders/42?token=abc"), 503);
    assert_eq!(get("/logged"), 200);
    assert_eq!(get("/nowhere"), 404);

    let groups = groups(&tracker);
    assert_eq!(groups.len(), 2, "{groups:#?}");
    // Both 503s are one group: without a router's template, ids in the path are replaced.
    let status = only_of_kind(&groups, "http_status");
    assert_eq!(status.summary.count, 2);
    let sample = status.samples.last().unwrap();
    assert_eq!(sample.fields["status"], 503);
    let span = request_span(sample);
    assert_eq!(span.fields["http.method"], "GET");
    assert_eq!(span.fields["http.path"], "/orders/42");
    assert_eq!(span.fields["http.status"], 503);
    assert!(span.fields.get("http.route").is_none(), "{span:#?}");
    assert_eq!(sample.extras["http.query"]["token"], "*************");

    let logged = groups
        .iter()
        .find(|g| g.summary.message == "payment declined")
        .expect("the handler's error");
    let sample = logged.samples.last().unwrap();
    assert_eq!(sample.fields["order_id"], 17);
    assert_eq!(request_span(sample).fields["http.path"], "/logged");
}
