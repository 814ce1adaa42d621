//! `anyhow::Error`: its chain, and the backtrace taken where it began.

use std::panic::Location;

use crate::backtrace::carried;
use crate::capture::capture_carrying;
use std::borrow::Cow;

/// Captures an `anyhow::Error` with its chain (contexts outermost first, the root cause
/// last; the kind is `"anyhow::Error"`, its sources' kinds are their types) and, when one was captured (`RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` set),
/// the backtrace of where it began instead of one of the call site. Returns whether a
/// tracker accepted it.
///
/// The error's backtrace is resolved here, on the caller's thread: the error cannot be moved
/// to the worker, and its backtrace can only be read as text (tens of microseconds; the
/// first resolution in a process also loads the debug information).
///
/// ```
/// # let tracker = error_tracker::ErrorTracker::builder().in_memory().build()?;
/// # let subscriber = tracing_subscriber::prelude::__tracing_subscriber_SubscriberExt::with(tracing_subscriber::registry(), tracker.layer());
/// # tracing::subscriber::with_default(subscriber, || {
/// let error = anyhow::anyhow!("disk full").context("saving the invoice");
/// assert!(error_tracker::capture_anyhow(&error));
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn capture_anyhow(error: &::anyhow::Error) -> bool {
    let dyn_error: &(dyn std::error::Error + 'static) = error.as_ref();
    // The outermost link is the `anyhow::Error` (a context, or the error it was made from):
    // named as such, its sources by their own types.
    capture_carrying(
        dyn_error,
        Cow::Borrowed("anyhow::Error"),
        Location::caller(),
        || carried(error.backtrace()),
    )
}

track_trait!(
    /// Captures the error of an `anyhow::Result` on its way through: `do_it().track()?`.
    TrackAnyhow,
    ::anyhow::Error,
    capture_anyhow
);
