//! `anyhow::Error` and `eyre::Report` are captured with their chain and with the backtrace
//! of where they began, not of where they were captured.
//!
//! One test in this binary: it sets `RUST_LIB_BACKTRACE`, which both crates read once.
#![cfg(all(feature = "anyhow", feature = "eyre"))]

mod common;

use error_tracker::{ErrorGroup, TrackAnyhow, TrackEyre, TrackResult};

#[inline(never)]
fn load_invoice() -> anyhow::Result<u64> {
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, "invoice.pdf is missing");
    Err(anyhow::Error::new(io).context("loading invoice 17"))
}

#[inline(never)]
fn parse_order() -> eyre::Result<u64> {
    let parsed: Result<u64, _> = "x".parse::<u64>();
    eyre::WrapErr::wrap_err(parsed, "parsing order 18")
}

fn first_app_frame(group: &ErrorGroup) -> &str {
    let frames = &group.samples[0].backtrace;
    &frames
        .iter()
        .find(|frame| frame.in_app)
        .unwrap_or_else(|| panic!("no frame of the application: {frames:#?}"))
        .function
}

#[test]
fn errors_keep_the_backtrace_of_where_they_began() {
    // SAFETY: the only test of this binary, before any thread of its own starts.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
    let (_tracker, groups) = common::run(common::builder(), || {
        let error = load_invoice().unwrap_err();
        assert!(error_tracker::capture_anyhow(&error));
        assert!(parse_order().track().is_err());
        // `TrackResult` in scope beside the others: each applies to its own error types.
        let _ = std::fs::read("/nonexistent/error-tracker").track();
        let _ = load_invoice().track_silent();
    });
    assert_eq!(groups.len(), 3, "{groups:#?}");
    let invoice = groups
        .iter()
        .find(|group| group.summary.message.starts_with("loading invoice"))
        .unwrap_or_else(|| panic!("{groups:#?}"));
    assert_eq!(invoice.summary.count, 2);
    assert_eq!(invoice.summary.kind, "anyhow::Error");
    let chain = &invoice.samples[0].error_chain;
    assert_eq!(chain.len(), 2, "{chain:#?}");
    assert_eq!(chain[0].message, "loading invoice 17");
    assert_eq!(chain[1].kind, "std::io::Error");
    assert_eq!(chain[1].message, "invoice.pdf is missing");
    assert!(
        first_app_frame(invoice).ends_with("load_invoice"),
        "where the error began, not where it was captured: {:#?}",
        invoice.samples[0].backtrace
    );

    let order = groups
        .iter()
        .find(|group| group.summary.message.starts_with("parsing order"))
        .unwrap_or_else(|| panic!("{groups:#?}"));
    assert_eq!(order.summary.kind, "eyre::Report");
    let chain = &order.samples[0].error_chain;
    assert_eq!(chain[1].kind, "std::num::ParseIntError", "{chain:#?}");
    assert!(
        first_app_frame(order).ends_with("parse_order"),
        "{:#?}",
        order.samples[0].backtrace
    );
    let io = groups
        .iter()
        .find(|group| group.summary.kind == "std::io::Error")
        .unwrap_or_else(|| panic!("{groups:#?}"));
    assert!(io.samples[0].backtrace.is_empty(), "std errors carry none");
}
