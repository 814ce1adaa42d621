//! A tour of error-tracker with no set-up: errors from `tracing`, the manual API and a panic
//! are grouped, masked and kept in the default store, the file `error_tracker.redb` in the
//! working directory, then read back from it.
//!
//! Run it with `cargo run --example quickstart`; run it again and the counts grow, since the
//! same errors land in the same groups of the same file.

use std::error::Error;
use std::time::Duration;

use error_tracker::{ErrorTracker, TrackResult};
use time::format_description::well_known::Rfc3339;
use tracing_subscriber::prelude::*;

/// An application error with a source, so that the captured error chain has two links.
#[derive(Debug, thiserror::Error)]
#[error("payment for order {order_id} was declined")]
struct PaymentError {
    order_id: u64,
    source: std::io::Error,
}

fn charge(order_id: u64) -> Result<(), PaymentError> {
    let source = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "gateway refused");
    Err(PaymentError { order_id, source })
}

fn main() -> Result<(), Box<dyn Error>> {
    // The default store is the redb file `error_tracker.redb`: it survives restarts.
    let tracker = ErrorTracker::builder().build()?;
    tracing_subscriber::registry()
        .with(tracker.layer())
        // The console output is not masked: masking covers what the tracker keeps.
        .with(tracing_subscriber::fmt::layer())
        .init();
    tracker.install_panic_hook();

    // Three checkouts fail the same way. The ids in the message differ, so they are
    // parameterised away and the three events become one error with a count of 3.
    for order_id in [1001, 1002, 1003] {
        let _span = tracing::info_span!("checkout", order_id, customer = "c-42").entered();
        if let Err(e) = charge(order_id) {
            // `password` is stored masked: key names are checked before anything is kept.
            tracing::error!(
                error = &e as &dyn Error,
                password = "hunter2",
                "checkout of order {order_id} failed"
            );
        }
    }

    // A scope adds context to every error raised while its guard lives.
    {
        let _scope = error_tracker::configure_scope(|scope| {
            scope
                .set_extra("plan", "pro")
                .set_extra("api_token", "tok_live_123") // masked: "token" is a sensitive key
                .set_tag("region", "eu-west")
                .set_user(serde_json::json!({ "id": 7, "email": "ada@example.com" }));
        });
        error_tracker::capture_message("nightly export skipped: quota of 500 MB reached");
    }

    // The manual API, for errors that never go through `error!`.
    if let Err(e) = "10.0.0.300".parse::<std::net::IpAddr>() {
        error_tracker::capture_error(&e);
    }
    if let Err(e) = std::fs::read_to_string("/no/such/app.toml").track() {
        // `track` captures and hands the error back: the caller still decides what to do.
        eprintln!("using default settings: {e}");
    }
    let port = error_tracker::track_silent(|| "eighty".parse::<u16>()).unwrap_or(8080);
    println!("listening on port {port}");

    // The panic hook records the panic before unwinding starts, so it is kept even though
    // the panic is caught here (the default hook still prints it to stderr).
    let caught = std::panic::catch_unwind(|| {
        let empty: Vec<u32> = Vec::new();
        empty[3]
    });
    assert!(caught.is_err());

    // Capture only hands occurrences to a background worker; wait until they are stored.
    if !tracker.flush(Duration::from_secs(2)) {
        eprintln!("not everything was stored in time: {:?}", tracker.stats());
    }

    let page = tracker.errors(1)?;
    println!(
        "\n{} errors (page {} of {}):",
        page.total,
        page.page,
        page.page_count()
    );
    println!(
        "{:<16}  {:>5}  {:<34}  {:<44}  LAST SEEN",
        "FINGERPRINT", "COUNT", "KIND", "MESSAGE"
    );
    for error in &page.items {
        // `{:.N}` cuts long kinds and messages to the column width.
        println!(
            "{:<16}  {:>5}  {:<34.34}  {:<44.44}  {}",
            error.fingerprint,
            error.count,
            error.kind,
            error.message,
            error.last_seen.replace_nanosecond(0)?.format(&Rfc3339)?,
        );
    }

    // One error in full: its newest sample, with span fields, error chain and the mask.
    let checkout = page.items.iter().find(|e| e.kind == "PaymentError");
    let group = tracker.error(&checkout.ok_or("no checkout error")?.fingerprint)?;
    let sample = group
        .as_ref()
        .and_then(|g| g.samples.last())
        .ok_or("no sample")?;
    println!("\n{}", serde_json::to_string_pretty(sample)?);

    let stats = tracker.stats();
    println!(
        "captured {}, stored {}, lost {}",
        stats.captured, stats.stored, stats.lost
    );
    Ok(())
}
