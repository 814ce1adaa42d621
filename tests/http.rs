//! The HTTP middleware against a real axum server on 127.0.0.1 and a real HTTP client.
#![cfg(feature = "http")]

mod http_support;

use std::future::pending;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use error_tracker::ErrorTracker;
use error_tracker::config::{Config, StatusRange};
use error_tracker::http::HttpLayer;
use http_support::{Server, only_of_kind, request_span};
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

const MASK: &str = "*************";

/// The routes every test serves: success, 500, 404, 401, panics, errors in the handler and
/// in a spawned task.
fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u64>| async move {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("user {id} broke"),
                )
            }),
        )
        .route(
            "/yield/{id}",
            get(|| async {
                tokio::task::yield_now().await;
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/login", get(|| async { StatusCode::UNAUTHORIZED }))
        .route(
            "/panic/{id}",
            get(|Path(id): Path<u64>| async move {
                if id > 0 {
                    panic!("handler exploded for order {id}");
                }
                "never"
            }),
        )
        .route(
            "/logged/{id}",
            get(|Path(id): Path<u64>| async move {
                tracing::error!(order = id, "payment {id} failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route(
            "/spawned",
            get(|| async {
                let job = async { tracing::error!("background job failed") }
                    .instrument(tracing::info_span!("job"));
                let task = tokio::spawn(job.instrument(tracing::Span::current()));
                task.await.expect("job ran");
                "accepted"
            }),
        )
}

fn app(tracker: &ErrorTracker) -> Router {
    routes().layer(tracker.http_layer())
}

/// What a stored value holds as text, for "no secret anywhere" checks.
fn text_of(group: &error_tracker::ErrorGroup) -> String {
    serde_json::to_string(&group.samples).expect("samples serialise")
}

#[test]
fn server_error_is_recorded_with_the_masked_request_context() {
    let server = Server::start(ErrorTracker::builder(), app);
    let response = server.run(
        server
            .client
            .get(server.url("/users/7?q=rust&access_token=q-secret&page=2"))
            .header("authorization", "Bearer h-secret-bearer")
            .header("x-api-key", "h-secret-key")
            .header("proxy-authorization", "Basic cHJveHk6c2VjcmV0")
            .header("cookie", "theme=dark; sessionid=c-secret-session")
            .header("x-request-id", "req-123")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-custom", "hello")
            .send(),
    );
    assert_eq!(response.expect("answered").status().as_u16(), 500);

    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let group = only_of_kind(&groups, "http_status");
    assert_eq!(
        group.summary.message,
        "GET /users/{id} answered 500 Internal Server Error"
    );
    let sample = &group.samples[0];
    assert_eq!(sample.fields["status"], 500);
    let span = request_span(sample);
    assert_eq!(span.target, "error_tracker::http");
    assert_eq!(span.fields["http.method"], "GET");
    assert_eq!(span.fields["http.path"], "/users/7");
    assert_eq!(span.fields["http.route"], "/users/{id}");
    assert_eq!(span.fields["http.status"], 500);
    assert_eq!(span.fields["http.request_id"], "req-123");
    assert_eq!(span.fields["http.host"], server.addr.to_string());
    assert!(span.fields.get("http.client_addr").is_none());

    let headers = &sample.extras["http.headers"];
    assert_eq!(headers["authorization"], MASK);
    assert_eq!(headers["x-api-key"], MASK);
    assert_eq!(headers["proxy-authorization"], MASK);
    assert_eq!(headers["cookie"], MASK);
    assert_eq!(headers["x-forwarded-for"], MASK);
    assert_eq!(headers["x-custom"], "hello");
    let query = &sample.extras["http.query"];
    assert_eq!(query["q"], "rust");
    assert_eq!(query["page"], "2");
    assert_eq!(query["access_token"], MASK);
    // Cookie values are credentials whatever their names: only the names are kept.
    let cookies = &sample.extras["http.jar"];
    assert_eq!(cookies["theme"], MASK);
    assert_eq!(cookies["sessionid"], MASK);

    let stored = text_of(group);
    for secret in [
        "h-secret-bearer",
        "h-secret-key",
        "cHJveHk6c2VjcmV0",
        "c-secret-session",
        "q-secret",
        "203.0.113.9",
    ] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
}

#[test]
fn the_same_route_with_different_ids_is_one_group() {
    let server = Server::start(ErrorTracker::builder(), app);
    for id in [1, 2, 3, 1_000_000] {
        assert_eq!(server.get(&format!("/users/{id}")), Some(500));
    }
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].summary.count, 4);
    let paths: Vec<&Value> = groups[0]
        .samples
        .iter()
        .map(|s| &request_span(s).fields["http.path"])
        .collect();
    assert_eq!(
        paths,
        ["/users/1", "/users/2", "/users/3", "/users/1000000"]
    );
}

#[test]
fn client_errors_are_not_recorded_by_default() {
    let server = Server::start(ErrorTracker::builder(), app);
    assert_eq!(server.get("/ok"), Some(200));
    assert_eq!(server.get("/missing"), Some(404));
    assert_eq!(server.get("/no/such/route"), Some(404));
    assert_eq!(server.get("/login"), Some(401));
    assert!(server.groups().is_empty());
    assert_eq!(server.tracker.stats().captured, 0);
}

#[test]
fn configured_statuses_are_recorded_from_the_settings() {
    let config: Config =
        toml::from_str("[http]\ncapture_statuses = [\"500-599\", 401, \"404\"]\n").expect("toml");
    let builder = ErrorTracker::builder().config(&config);
    let server = Server::start(builder, app);
    assert_eq!(server.get("/ok"), Some(200));
    assert_eq!(server.get("/missing"), Some(404));
    assert_eq!(server.get("/missing?x=1"), Some(404));
    assert_eq!(server.get("/login"), Some(401));
    // No route matched: grouped by the path with its ids replaced.
    assert_eq!(server.get("/orders/17"), Some(404));
    assert_eq!(server.get("/orders/18"), Some(404));
    let groups = server.groups();
    let mut messages: Vec<(&str, u64)> = groups
        .iter()
        .map(|g| (g.summary.message.as_str(), g.summary.count))
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            ("GET /login answered 401 Unauthorized", 1),
            ("GET /missing answered 404 Not Found", 2),
            ("GET /orders/<int> answered 404 Not Found", 2),
        ]
    );
}

#[test]
fn capture_statuses_on_the_layer_and_the_builder() {
    let only_404 = [StatusRange {
        first: 404,
        last: 404,
    }];
    let layer = HttpLayer::new().capture_statuses(only_404);
    assert_eq!(layer.statuses(), only_404);
    let layer = HttpLayer::new().capture_status(StatusCode::UNAUTHORIZED);
    assert_eq!(layer.statuses().len(), 2);
    let tracker = ErrorTracker::builder()
        .in_memory()
        .capture_statuses(only_404)
        .build()
        .expect("tracker");
    assert_eq!(tracker.http_layer().statuses(), only_404);
    assert_eq!(
        ErrorTracker::builder()
            .in_memory()
            .build()
            .expect("tracker")
            .http_layer()
            .statuses(),
        [StatusRange {
            first: 500,
            last: 599
        }]
    );

    // Only 404 recorded: a 500 is not.
    let server = Server::start(ErrorTracker::builder().capture_statuses(only_404), app);
    assert_eq!(server.get("/users/1"), Some(500));
    assert_eq!(server.get("/missing"), Some(404));
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(
        groups[0].summary.message,
        "GET /missing answered 404 Not Found"
    );
}

#[test]
fn an_error_event_in_the_handler_carries_the_request_and_is_not_recorded_twice() {
    let server = Server::start(ErrorTracker::builder(), app);
    assert_eq!(server.get("/logged/5?mode=fast"), Some(500));
    assert_eq!(server.get("/logged/6?mode=fast"), Some(500));
    let groups = server.groups();
    // The `error!` event only: the 500 it led to adds no second group.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let group = &groups[0];
    assert_eq!(group.summary.kind, "event");
    assert_eq!(group.summary.count, 2);
    let sample = &group.samples[1];
    assert_eq!(sample.message, "payment 6 failed");
    assert_eq!(sample.fields["order"], 6);
    let span = request_span(sample);
    assert_eq!(span.fields["http.route"], "/logged/{id}");
    assert_eq!(span.fields["http.path"], "/logged/6");
    assert_eq!(sample.extras["http.query"]["mode"], "fast");
}

#[test]
fn an_error_in_an_instrumented_spawned_task_carries_the_request() {
    let server = Server::start(ErrorTracker::builder(), app);
    for _ in 0..3 {
        assert_eq!(server.get("/spawned?job=7"), Some(200));
    }
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let sample = &groups[0].samples[0];
    assert_eq!(sample.message, "background job failed");
    let names: Vec<&str> = sample.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["http_request", "job"]);
    assert_eq!(request_span(sample).fields["http.route"], "/spawned");
    assert_eq!(sample.extras["http.query"]["job"], "7");
}

/// tower-http's `CatchPanic` answering 500 without logging the panic itself (its default
/// handler logs an `error!` of its own).
fn answer_500(_: Box<dyn std::any::Any + Send>) -> axum::http::Response<String> {
    let mut response = axum::http::Response::new(String::new());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[test]
fn a_panicking_handler_is_recorded_and_catch_panic_still_answers_500() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        // Added last, so outermost: the middleware sees the panic first.
        app(tracker).layer(CatchPanicLayer::custom(answer_500))
    });
    assert_eq!(server.get("/panic/42?x=1"), Some(500));
    assert_eq!(server.get("/panic/43?x=2"), Some(500));
    assert_eq!(server.get("/ok"), Some(200));
    let groups = server.groups();
    // The panic only: the 500 that CatchPanic made of it is outside the middleware.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let group = only_of_kind(&groups, "panic");
    assert_eq!(group.summary.count, 2);
    assert_eq!(group.summary.message, "handler exploded for order 42");
    let sample = &group.samples[1];
    assert_eq!(request_span(sample).fields["http.route"], "/panic/{id}");
    assert_eq!(request_span(sample).fields["http.path"], "/panic/43");
    assert_eq!(sample.extras["http.query"]["x"], "2");
}

#[test]
fn catch_panic_default_handlers_log_of_a_recorded_panic_is_not_a_second_error() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        app(tracker).layer(CatchPanicLayer::new())
    });
    assert_eq!(server.get("/panic/42"), Some(500));
    assert_eq!(server.get("/panic/43"), Some(500));
    let groups = server.groups();
    // tower-http's own `error!("Service panicked: …")`, raised after the request span was
    // left, repeats the panic the middleware recorded: it is not kept.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let panic = only_of_kind(&groups, "panic");
    assert_eq!(panic.summary.count, 2);
    assert_eq!(
        request_span(&panic.samples[1]).fields["http.path"],
        "/panic/43"
    );
    // A log of the same text that does not follow a recorded panic is kept.
    server.run(async {
        tracing::error!(
            target: "tower_http::catch_panic",
            "Service panicked: handler exploded for order 42"
        )
    });
    let groups = server.groups();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    assert_eq!(
        only_of_kind(&groups, "event").summary.message,
        "Service panicked: handler exploded for order 42"
    );
}

#[test]
fn catch_panic_inside_the_middleware_leaves_its_own_log_as_the_record() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        // The other order: `CatchPanic` inside, so the middleware only sees the 500.
        routes()
            .layer(CatchPanicLayer::new())
            .layer(tracker.http_layer())
    });
    assert_eq!(server.get("/panic/42"), Some(500));
    let groups = server.groups();
    // tower-http's `error!`, raised inside the request: the 500 adds nothing.
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let logged = &only_of_kind(&groups, "event").samples[0];
    assert_eq!(
        logged.message,
        "Service panicked: handler exploded for order 42"
    );
    assert_eq!(request_span(logged).fields["http.route"], "/panic/{id}");
}

#[test]
fn a_panicking_handler_without_catch_panic_is_recorded_and_the_server_lives_on() {
    let server = Server::start(ErrorTracker::builder(), app);
    // The connection's task ends with the panic: the client sees no answer.
    assert_eq!(server.get("/panic/1"), None);
    assert_eq!(server.get("/ok"), Some(200));
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let sample = &only_of_kind(&groups, "panic").samples[0];
    assert_eq!(sample.message, "handler exploded for order 1");
    assert_eq!(request_span(sample).fields["http.route"], "/panic/{id}");
}

#[test]
fn huge_and_non_utf8_headers_do_not_break_capture() {
    let server = Server::start(ErrorTracker::builder(), app);
    let huge = "v".repeat(70 * 1024);
    let mut request = server
        .client
        .get(server.url("/users/9"))
        .header("x-huge", huge.as_str())
        .header(
            "x-binary",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9 \xff\xfe ok").expect("obs-text"),
        );
    for i in 0..90 {
        request = request.header(format!("x-many-{i}"), "m");
    }
    let response = server.run(request.send()).expect("answered");
    assert_eq!(response.status().as_u16(), 500);
    let groups = server.groups();
    let sample = &only_of_kind(&groups, "http_status").samples[0];
    let headers = sample.extras["http.headers"].as_object().expect("object");
    let kept = headers["x-huge"].as_str().expect("text");
    assert!(kept.len() < 4 * 1024, "{} bytes kept", kept.len());
    assert!(
        kept.ends_with("[truncated]"),
        "{}",
        &kept[kept.len() - 20..]
    );
    assert_eq!(headers["x-binary"], "caf\u{fffd} \u{fffd}\u{fffd} ok");
    // Bounded in entries too, with the rest counted.
    assert!(headers.len() <= 65, "{} headers kept", headers.len());
    assert!(headers["…omitted"].as_u64().expect("count") > 20);
    assert_eq!(request_span(sample).fields["http.route"], "/users/{id}");
}

#[test]
fn a_cancelled_request_is_not_an_error() {
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel::<()>();
    struct OnDrop(mpsc::UnboundedSender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    type Channels = Arc<(mpsc::UnboundedSender<()>, mpsc::UnboundedSender<()>)>;
    let channels: Channels = Arc::new((started_tx, dropped_tx));
    let server = Server::start(ErrorTracker::builder().capture_statuses([]), |tracker| {
        Router::new()
            .route(
                "/slow",
                get(|State(channels): State<Channels>| async move {
                    let _guard = OnDrop(channels.1.clone());
                    let _ = channels.0.send(());
                    pending::<()>().await;
                    "never"
                }),
            )
            .with_state(channels)
            .layer(tracker.http_layer())
    });
    server.run(async {
        let request = server.client.get(server.url("/slow")).send();
        let waiting = tokio::spawn(request);
        started.recv().await.expect("handler started");
        // The client goes away: the connection closes and the server drops the handler.
        waiting.abort();
        tokio::time::timeout(Duration::from_secs(10), dropped.recv())
            .await
            .expect("the server dropped the handler's future")
            .expect("dropped");
    });
    assert!(server.groups().is_empty());
    assert_eq!(server.tracker.stats().captured, 0);
}

#[test]
fn a_dropped_response_future_records_nothing_even_for_a_tracked_status() {
    let server = Server::start(ErrorTracker::builder(), app);
    let service = routes().layer(server.tracker.http_layer());
    server.run(async {
        let request = axum::http::Request::get("/yield/3")
            .body(axum::body::Body::empty())
            .expect("request");
        let mut future = Box::pin(service.clone().oneshot(request));
        // Polled once (the handler starts and yields), then dropped before it answers.
        let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "answered at once: {first:?}");
        drop(future);
        // The same request, completed, is recorded: the drop is what made the difference.
        let request = axum::http::Request::get("/yield/3")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = service.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 500);
    });
    let groups = server.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].summary.count, 1);
}

#[test]
fn without_a_tracker_requests_pass_through() {
    let tracker = ErrorTracker::builder()
        .in_memory()
        .build()
        .expect("tracker");
    let service = routes().layer(tracker.http_layer());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // No subscriber at all: no span, no context, the answer unchanged.
    let status = runtime.block_on(async {
        let request = axum::http::Request::get("/users/1")
            .body(axum::body::Body::empty())
            .expect("request");
        service.oneshot(request).await.expect("infallible").status()
    });
    assert_eq!(status, 500);
    assert!(tracker.flush(Duration::from_secs(5)));
    assert_eq!(tracker.stats().captured, 0);
}

#[test]
fn the_client_address_is_recorded_only_when_enabled() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        routes().layer(tracker.http_layer().client_address(true))
    });
    let response = server.run(
        server
            .client
            .get(server.url("/users/1"))
            .header("x-forwarded-for", "203.0.113.9")
            .send(),
    );
    assert_eq!(response.expect("answered").status().as_u16(), 500);
    let groups = server.groups();
    let sample = &groups[0].samples[0];
    let addr = request_span(sample).fields["http.client_addr"]
        .as_str()
        .expect("text");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(
        sample.extras["http.headers"]["x-forwarded-for"],
        "203.0.113.9"
    );
}

fn body_routes() -> Router {
    use axum::extract::{Form, Json};
    use axum::routing::post;
    use std::collections::HashMap;
    Router::new()
        .route(
            "/signup/{case}",
            post(
                |Path(case): Path<String>, Json(_): Json<Value>| async move {
                    tracing::error!("signup {case} failed");
                    StatusCode::UNPROCESSABLE_ENTITY
                },
            ),
        )
        .route(
            "/form",
            post(|Form(_): Form<HashMap<String, String>>| async {
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route(
            "/raw",
            post(|_: String| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
}

/// The stored sample whose message is `message`.
fn sample_with(groups: &[error_tracker::ErrorGroup], message: &str) -> error_tracker::Occurrence {
    groups
        .iter()
        .flat_map(|g| &g.samples)
        .find(|s| s.message == message)
        .unwrap_or_else(|| panic!("no sample {message:?} in {groups:#?}"))
        .clone()
}

#[test]
fn json_and_form_bodies_are_recorded_masked_when_enabled() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        body_routes().layer(tracker.http_layer().capture_body(256))
    });
    let post = |path: &str, content_type: &str, body: String| {
        let response = server.run(
            server
                .client
                .post(server.url(path))
                .header("content-type", content_type)
                .body(body)
                .send(),
        );
        response.expect("answered").status().as_u16()
    };
    let json =
        r#"{"name":"ada","password":"b-secret-1","card":{"token":"b-secret-2"},"tags":[1,2]}"#;
    assert_eq!(post("/signup/small", "application/json", json.into()), 422);
    let big = format!(
        r#"{{"name":"ada","password":"b-secret-3","pad":"{}"}}"#,
        "x".repeat(400)
    );
    assert_eq!(
        post("/signup/big", "application/json; charset=utf-8", big),
        422
    );
    let form = format!(
        "user=ada&api_key=b-secret-4&note={}&last=1",
        "n".repeat(300)
    );
    assert_eq!(
        post("/form", "application/x-www-form-urlencoded", form),
        500
    );
    assert_eq!(post("/raw", "text/plain", "b-secret-5 raw".into()), 500);

    let groups = server.groups();
    let small = sample_with(&groups, "signup small failed");
    let body = &small.extras["http.body"];
    assert_eq!(body["name"], "ada");
    assert_eq!(body["password"], MASK);
    assert_eq!(body["card"]["token"], MASK);
    assert_eq!(body["tags"], serde_json::json!([1, 2]));

    let big = sample_with(&groups, "signup big failed");
    let note = big.extras["http.body"]["…omitted"].as_str().expect("note");
    assert!(note.contains("more than 256 bytes"), "{note}");
    assert!(big.extras["http.body"].get("name").is_none());

    let form = sample_with(&groups, "POST /form answered 500 Internal Server Error");
    let body = &form.extras["http.body"];
    assert_eq!(body["user"], "ada");
    assert_eq!(body["api_key"], MASK);
    // Cut at the bound: the pairs after it are left out, the cut one too.
    assert!(
        body.get("note").is_none() && body.get("last").is_none(),
        "{body}"
    );
    assert!(body["…truncated"].is_string(), "{body}");

    let raw = sample_with(&groups, "POST /raw answered 500 Internal Server Error");
    assert!(raw.extras.get("http.body").is_none(), "{:?}", raw.extras);

    let stored = serde_json::to_string(&groups).expect("serialise");
    for n in 1..=5 {
        assert!(
            !stored.contains(&format!("b-secret-{n}")),
            "b-secret-{n} stored"
        );
    }
}

#[test]
fn bodies_are_not_recorded_by_default() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        body_routes().layer(tracker.http_layer())
    });
    let response = server.run(
        server
            .client
            .post(server.url("/form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("user=ada")
            .send(),
    );
    assert_eq!(response.expect("answered").status().as_u16(), 500);
    let groups = server.groups();
    assert!(groups[0].samples[0].extras.get("http.body").is_none());
}

#[test]
fn a_scope_set_on_the_request_span_adds_to_the_request_context() {
    let server = Server::start(ErrorTracker::builder(), |tracker| {
        Router::new()
            .route(
                "/scoped",
                get(|| async {
                    let request = tracing::Span::current();
                    error_tracker::configure_span_scope(&request, |scope| {
                        scope.set_user(serde_json::json!({"id": 7}));
                        scope.set_extra("cart", 3);
                    });
                    tracing::error!("checkout failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }),
            )
            .layer(tracker.http_layer())
    });
    assert_eq!(server.get("/scoped?step=pay"), Some(500));
    let groups = server.groups();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    let sample = &groups[0].samples[0];
    assert_eq!(sample.extras["cart"], 3);
    assert_eq!(sample.extras["http.query"]["step"], "pay");
    assert!(sample.extras["http.headers"].get("host").is_some());
    assert_eq!(sample.user, Some(serde_json::json!({"id": 7})));
}

#[test]
fn paths_are_bounded_and_their_secrets_hidden() {
    let config: Config =
        toml::from_str("[http]\ncapture_statuses = [\"500-599\", \"404\"]\n").expect("toml");
    let server = Server::start(ErrorTracker::builder().config(&config), app);
    // Tokens in the place of a secret, or shaped like one, on routes no template names.
    assert_eq!(server.get("/reset-password/p-secret-reset-link"), Some(404));
    assert_eq!(server.get("/share/Zk3qT9xLm2VbW8aR4nYd"), Some(404));
    // A hostile path: 60 KB of `1-1-1-...` is cut before anything runs over it.
    let hostile = format!("/x/{}", "1-".repeat(30_000));
    assert_eq!(server.get(&hostile), Some(404));
    let groups = server.groups();
    assert_eq!(groups.len(), 3, "{groups:#?}");
    for group in &groups {
        let path = request_span(&group.samples[0]).fields["http.path"]
            .as_str()
            .expect("a text path")
            .to_owned();
        assert!(path.len() <= 1024, "{}", path.len());
        assert!(group.summary.message.len() < 1200);
        let stored = text_of(group);
        for secret in ["p-secret-reset-link", "Zk3qT9xLm2VbW8aR4nYd"] {
            assert!(!stored.contains(secret), "{secret} stored: {stored}");
        }
    }
    let mut messages: Vec<&str> = groups.iter().map(|g| g.summary.message.as_str()).collect();
    messages.sort();
    assert_eq!(
        messages[0],
        format!("GET /reset-password/{MASK} answered 404 Not Found")
    );
    assert_eq!(
        messages[1],
        format!("GET /share/{MASK} answered 404 Not Found")
    );
    // Past 32 characters a segment is hidden as a possible credential.
    assert_eq!(messages[2], format!("GET /x/{MASK} answered 404 Not Found"));
}

#[test]
fn a_tracker_behind_a_reload_layer_records_the_request() {
    let server = Server::start_with(
        ErrorTracker::builder(),
        |tracker| {
            let (layer, handle) = tracing_subscriber::reload::Layer::new(tracker.layer());
            // Kept for the test's life, as an application keeps its handle.
            std::mem::forget(handle);
            tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                layer,
            ))
        },
        app,
    );
    assert_eq!(server.get("/users/7"), Some(500));
    let groups = server.groups();
    let group = only_of_kind(&groups, "http_status");
    assert_eq!(
        group.summary.message,
        "GET /users/{id} answered 500 Internal Server Error"
    );
    assert_eq!(
        request_span(&group.samples[0]).fields["http.path"],
        "/users/7"
    );
}

#[test]
fn a_filter_that_names_only_the_application_keeps_the_request_context() {
    // `EnvFilter::new("http=debug")`: the application's own target only, which disables the
    // request span (target `error_tracker::http`).
    let server = Server::start_with(
        ErrorTracker::builder(),
        |tracker| {
            tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::layer::SubscriberExt::with(
                    tracing_subscriber::registry(),
                    tracing_subscriber::EnvFilter::new("http=debug"),
                ),
                tracker.layer(),
            ))
        },
        app,
    );
    let answered = server.run(
        server
            .client
            .get(server.url("/users/7?access_token=q-secret&page=2"))
            .header("x-custom", "hello")
            .send(),
    );
    assert_eq!(answered.expect("answered").status().as_u16(), 500);
    assert_eq!(server.get("/logged/6"), Some(500));
    let groups = server.groups();
    let status = only_of_kind(&groups, "http_status");
    assert_eq!(
        status.summary.message,
        "GET /users/{id} answered 500 Internal Server Error"
    );
    let sample = &status.samples[0];
    let span = request_span(sample);
    assert_eq!(span.fields["http.path"], "/users/7");
    assert_eq!(span.fields["http.route"], "/users/{id}");
    assert_eq!(sample.extras["http.headers"]["x-custom"], "hello");
    assert_eq!(sample.extras["http.query"]["page"], "2");
    assert!(!text_of(status).contains("q-secret"));
    // An error logged in the handler carries the request too, and is the only record of it.
    let logged: Vec<_> = groups
        .iter()
        .filter(|g| {
            g.samples[0].extras.get("http.headers").is_some() && g.summary.kind != "http_status"
        })
        .collect();
    assert_eq!(logged.len(), 1, "{groups:#?}");
    assert_eq!(
        request_span(&logged[0].samples[0]).fields["http.path"],
        "/logged/6"
    );
}
