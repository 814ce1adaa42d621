//! `eyre::Report`: its chain, and the backtrace its handler took where it began.

use std::borrow::Cow;
use std::panic::Location;

use compact_str::CompactString;

use crate::backtrace::RawBacktrace;
use crate::capture::capture_carrying;
use crate::record::BoundedWriter;

/// Where a report's `Debug` text gives its backtrace, as eyre's default handler writes it.
const MARKER: &str = "\n\nStack backtrace:\n";
/// The most of a report's `Debug` text read for its backtrace.
const MAX_REPORT_TEXT: usize = 256 * 1024;

/// Captures an `eyre::Report` with its chain (outermost first; the kind is
/// `"eyre::Report"`, its sources' kinds are their types) and, when its handler took
/// one, the backtrace of where it began instead of one of the call site. Returns whether a
/// tracker accepted it.
///
/// eyre gives a handler's backtrace only through the report's `Debug` text: the backtrace is
/// read from the `Stack backtrace:` section that eyre's default handler writes (on the
/// caller's thread, as for [`crate::capture_anyhow`]). A handler that writes none (such as
/// color-eyre's) gives the call site's backtrace if the backtrace mode asks for one.
///
/// ```
/// # let tracker = error_tracker::ErrorTracker::builder().in_memory().build()?;
/// # let subscriber = tracing_subscriber::prelude::__tracing_subscriber_SubscriberExt::with(tracing_subscriber::registry(), tracker.layer());
/// # tracing::subscriber::with_default(subscriber, || {
/// let report = eyre::eyre!("disk full").wrap_err("saving the invoice");
/// assert!(error_tracker::capture_eyre(&report));
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn capture_eyre(report: &::eyre::Report) -> bool {
    let dyn_error: &(dyn std::error::Error + 'static) = report.as_ref();
    capture_carrying(
        dyn_error,
        Cow::Borrowed("eyre::Report"),
        Location::caller(),
        || carried(report),
    )
}

fn carried(report: &::eyre::Report) -> Option<RawBacktrace> {
    let mut text = CompactString::default();
    BoundedWriter::write_bounded(&mut text, MAX_REPORT_TEXT, format_args!("{report:?}"));
    let at = text.find(MARKER)?;
    Some(RawBacktrace::Text(text[at + MARKER.len()..].to_owned()))
}

track_trait!(
    /// Captures the error of an `eyre::Result` on its way through: `do_it().track()?`.
    TrackEyre,
    ::eyre::Report,
    capture_eyre
);
