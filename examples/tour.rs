//! The README's tour of the API, as one program: `tests/readme.rs` checks that the README's
//! blocks, joined, are this file below this comment, so the tour is compiled with every
//! `cargo test` and runs with `cargo run --example tour`.

use std::time::Duration;

use error_tracker::{ErrorTracker, ListQuery, Status, TrackResult};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Default settings: errors are kept in `error_tracker.redb` in the working directory.
    let tracker = ErrorTracker::builder().build()?;
    tracing_subscriber::registry()
        .with(tracker.layer())
        .with(tracing_subscriber::fmt::layer())
        .init();
    tracker.install_panic_hook();
    let _request = tracing::info_span!("request", path = "/orders", user_id = 42).entered();
    let err = std::io::Error::other("connection reset");
    tracing::error!(
        error = &err as &dyn std::error::Error,
        password = "hunter2",
        "order 17 failed"
    );
    tracing::error!(
        error = &err as &dyn std::error::Error,
        password = "hunter2",
        "order 18 failed"
    );
    let _scope = error_tracker::configure_scope(|scope| {
        scope
            .set_extra("cart_items", 3)
            .set_tag("region", "eu-west");
    });
    error_tracker::capture_message("payment provider slow to answer");
    let parse = "12x".parse::<u32>();
    if let Err(e) = &parse {
        error_tracker::capture_error(e);
    }
    // `track` captures the error and hands it back; `track_silent` captures and swallows it.
    let config = std::fs::read_to_string("/etc/app/missing.toml")
        .track()
        .unwrap_or_default();
    let retries = error_tracker::track_silent(|| "300".parse::<u8>()).unwrap_or(3);
    println!("{} bytes of configuration, {retries} retries", config.len());
    tracker.flush(Duration::from_secs(2)); // capture is asynchronous
    let page = tracker.errors(1)?; // page 1, `page_size` errors per page
    for error in &page.items {
        println!(
            "{} x{} {}: {}",
            error.fingerprint, error.count, error.kind, error.message
        );
    }
    let first = &page.items[0];
    let group = tracker
        .error(&first.fingerprint)?
        .expect("listed errors exist");
    println!("{}", serde_json::to_string_pretty(&group.samples)?);
    tracker
        .store()
        .set_status(&first.fingerprint, Status::Resolved)?;
    let unresolved = tracker.list(&ListQuery::page(1, 50).with_status(Status::Unresolved))?;
    println!("{} unresolved; {:?}", unresolved.total, tracker.stats());
    Ok(())
}
