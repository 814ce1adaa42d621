//! A small axum service behind the tracker's HTTP middleware: routes that succeed, fail with
//! 500, 404 and 401, log an error and panic. It calls itself over HTTP, then prints the errors
//! the tracker kept and where it kept them.
//!
//! ```text
//! cargo run --example axum_app --features http           # call itself, print, exit
//! cargo run --example axum_app --features http -- serve  # keep serving on 127.0.0.1:3000
//! ```
//!
//! Settings come from `error_tracker.toml` when present and `ERROR_TRACKER_*` variables, so
//! `ERROR_TRACKER_HTTP_CAPTURE_STATUSES=500-599,401,404` records the 401 and 404 too.
//! The errors go to the redb file `error_tracker.redb` in the working directory (the
//! `store.path` setting), so a second run adds to the same groups.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use error_tracker::ErrorTracker;
use error_tracker::config::Config;
use tower_http::catch_panic::CatchPanicLayer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

async fn get_user(Path(id): Path<u64>) -> Result<String, StatusCode> {
    match id {
        1 => Ok("Ada".to_owned()),
        // A failure the handler reports itself: the `error!` carries the request context,
        // and the 500 it answers is not recorded a second time.
        2 => {
            tracing::error!(user_id = id, "user {id} has a corrupt profile");
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
        _ => Err(StatusCode::NOT_FOUND),
    }
}

fn app(tracker: &ErrorTracker) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(get_user))
        // A 500 with no error event: recorded because of its status.
        .route(
            "/reports/{id}",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route("/admin", get(|| async { StatusCode::UNAUTHORIZED }))
        .route(
            "/panic/{id}",
            get(|Path(id): Path<u64>| async move {
                if id > 0 {
                    panic!("invoice {id} has no lines");
                }
                "never"
            }),
        )
        // `Router::layer` wraps every route, where axum knows the route template.
        .layer(tracker.http_layer())
        // Outermost: answers 500 for a panic after the middleware recorded it (the tracker
        // knows the `error!` it logs about that panic for the same error).
        .layer(CatchPanicLayer::new())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let file = FsPath::new("error_tracker.toml");
    let config = Config::load(file.exists().then_some(file))?;
    let tracker = ErrorTracker::builder().config(&config).build()?;
    tracing_subscriber::registry()
        .with(tracker.layer())
        // The console shows the request span's method, path and route; the headers, query
        // and cookies only go to the tracker, masked.
        .with(tracing_subscriber::fmt::layer().with_filter(LevelFilter::INFO))
        .init();

    let serve = std::env::args().nth(1).as_deref() == Some("serve");
    let bind: SocketAddr = if serve {
        ([127, 0, 0, 1], 3000).into()
    } else {
        ([127, 0, 0, 1], 0).into()
    };
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(axum::serve(listener, app(&tracker)).into_future());
    if serve {
        println!("serving on http://{addr} (Ctrl-C to stop)");
        return Ok(server.await??);
    }

    let client = reqwest::Client::new();
    for path in [
        "/",
        "/users/1",
        "/users/2?tab=profile",
        "/users/3",
        "/reports/7?token=abc123",
        "/reports/8",
        "/admin",
        "/panic/41",
        "/no/such/page",
    ] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .header("authorization", "Bearer not-for-your-eyes")
            .header("cookie", "theme=dark; sessionid=s3cr3t")
            .send()
            .await?;
        println!("GET {path:<24} -> {}", response.status());
    }

    tracker.flush(Duration::from_secs(5));
    let path = std::path::absolute(&config.store.path)?;
    println!("\nerrors kept in {}:", path.display());
    for error in tracker.errors(1)?.items {
        println!(
            "  {:>3} x {:<12} {}",
            error.count, error.kind, error.message
        );
        if let Some(group) = tracker.error(&error.fingerprint)?
            && let Some(sample) = group.samples.first()
            && let Some(headers) = sample.extras.get("http.headers")
        {
            println!(
                "        authorization: {}   query: {}",
                headers["authorization"],
                sample.extras.get("http.query").unwrap_or(&"{}".into())
            );
        }
    }
    Ok(())
}
