//! The opt-in panic hook: a panic becomes an occurrence, stored before the process can die.

use std::borrow::Cow;

use compact_str::CompactString;
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};
use std::sync::Arc;

use crate::backtrace::RawBacktrace;
use crate::layer::Hooks;
use crate::occurrence::Level;
use crate::record::{BoundedWriter, RawLocation, RawOccurrence};
use crate::shared::{Shared, enter_tracker, is_tracker_thread};

/// The panic's message, as far as its payload is text.
fn payload_text<'a>(info: &'a PanicHookInfo<'_>) -> &'a str {
    crate::panic_echo::payload_text(info.payload())
}

fn capture_panic(shared: &Arc<Shared>, info: &PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(RawLocation::from_panic)
        .unwrap_or_default();
    let mut message = CompactString::default();
    let truncated = BoundedWriter::write_bounded(
        &mut message,
        shared.settings.max_value_len,
        format_args!("{}", payload_text(info)),
    );
    let mut raw = RawOccurrence::new(Level::Error, Cow::Borrowed("panic"), message, location);
    raw.truncated = truncated;
    if shared.settings.panic_backtraces {
        raw.set_backtrace(Some(RawBacktrace::capture()));
    }
    crate::panic_echo::note_recorded(payload_text(info));
    let mut raw = Some(raw);
    tracing::dispatcher::get_default(|dispatch| {
        let Some(raw) = raw.take() else { return };
        match Hooks::of(dispatch) {
            // Only this tracker's own layer knows the span trace; another tracker's does not.
            Some(hooks) if Arc::ptr_eq(&hooks.shared, shared) => {
                hooks.capture_in_current_span(dispatch, raw)
            }
            _ => shared.submit(raw),
        };
    });
}

/// Chains a hook in front of the current one that captures the panic and waits (at most
/// `Settings::panic_flush_timeout`) until it is stored, then calls the previous hook.
pub(crate) fn install(shared: Arc<Shared>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // No guard means the panic comes from inside the tracker (the worker, or a capture
        // that panicked): capturing it again could loop, so it only reaches the old hook.
        // Checked first: a panic inside a capture is counted as such, not as a refused capture.
        if let Some(guard) = (!is_tracker_thread()).then(enter_tracker).flatten() {
            let captured = catch_unwind(AssertUnwindSafe(|| capture_panic(&shared, info))).is_ok();
            guard.finish(&shared);
            if captured {
                shared.flush(shared.settings.panic_flush_timeout);
            }
        }
        previous(info);
    }));
}
