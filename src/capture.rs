//! The manual API: `capture_error`, `capture_message`, `track` and [`TrackResult`].
//!
//! They reach the tracker installed in the current `tracing` dispatcher (the one whose
//! subscriber contains [`crate::ErrorTrackerLayer`]) and capture inside the current span, so
//! span fields and scopes apply exactly as for `error!` events. Without a tracker they do
//! nothing and return `false`.

use std::borrow::Cow;

use compact_str::CompactString;
use std::error::Error;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};

use tracing::Dispatch;

use crate::backtrace::RawBacktrace;
use crate::layer::Hooks;
use crate::occurrence::Level;
use crate::record::{
    BoundedWriter, RawLocation, RawOccurrence, error_chain, error_kind, type_kind,
};
use crate::shared::enter_tracker;

/// Runs `f` with the current dispatcher's tracker, guarded against re-entrance and panics.
fn with_tracker(f: impl FnOnce(&Dispatch, &Hooks) -> bool) -> bool {
    // Refused (and counted by the outer capture) when this thread is already capturing:
    // a call from a captured value's `Display`.
    let Some(guard) = enter_tracker() else {
        return false;
    };
    let mut f = Some(f);
    let mut guard = Some(guard);
    let mut attempt = |dispatch: &Dispatch, retry: bool| match Hooks::of(dispatch) {
        Some(hooks) => {
            let accepted = f.take().is_some_and(|f| {
                catch_unwind(AssertUnwindSafe(|| f(dispatch, &hooks))).unwrap_or(false)
            });
            if let Some(guard) = guard.take() {
                guard.finish(&hooks.shared);
            }
            Some(accepted)
        }
        None if retry && Hooks::waiting(dispatch) => None,
        None => Some(false),
    };
    if let Some(accepted) = tracing::dispatcher::get_default(|dispatch| attempt(dispatch, true)) {
        return accepted;
    }
    // The tracker's layer was swapped by a reload, and the new one is yet to be called.
    Hooks::refresh();
    tracing::dispatcher::get_default(|dispatch| attempt(dispatch, false)).unwrap_or(false)
}

fn capture_chain(
    error: &(dyn Error + 'static),
    kind: Cow<'static, str>,
    caller: &'static Location<'static>,
) -> bool {
    capture_carrying(error, kind, caller, || None)
}

/// Captures `error` with the backtrace it carries, if `carried` finds one (read only when a
/// tracker takes the error), else one the backtrace mode asks for.
pub(crate) fn capture_carrying(
    error: &(dyn Error + 'static),
    kind: Cow<'static, str>,
    caller: &'static Location<'static>,
    carried: impl FnOnce() -> Option<RawBacktrace>,
) -> bool {
    with_tracker(|dispatch, hooks| {
        let (chain, truncated) = error_chain(error, kind, hooks.shared.settings.max_value_len);
        let (kind, message) = chain
            .first()
            .map(|link| (link.kind.clone(), link.message.clone()))
            .unwrap_or_default();
        let mut raw = RawOccurrence::new(
            Level::Error,
            kind,
            message,
            RawLocation::from_caller(caller),
        );
        raw.chain = chain;
        raw.truncated = truncated;
        raw.set_backtrace(carried().or_else(|| hooks.shared.backtraces.take(callsite(caller))));
        hooks.capture_in_current_span(dispatch, raw)
    })
}

/// Captures an error value with its `source()` chain; the kind is the error's type name.
/// Returns whether a tracker accepted it.
///
/// The caller's file stands in for the `tracing` target when grouping, and its line is
/// recorded as the location.
#[track_caller]
pub fn capture_error<E: Error + 'static>(error: &E) -> bool {
    capture_chain(error, type_kind::<E>(), Location::caller())
}

/// Captures an error behind a trait object (`Box<dyn Error>`, `anyhow::Error::as_ref()`);
/// the kind is found as for `error = &e as &dyn Error` fields.
#[track_caller]
pub fn capture_dyn_error(error: &(dyn Error + 'static)) -> bool {
    capture_chain(error, error_kind(error), Location::caller())
}

/// Captures a message at error level (kind `"message"`). Returns whether a tracker accepted it.
#[track_caller]
pub fn capture_message(message: impl Display) -> bool {
    let caller = Location::caller();
    with_tracker(|dispatch, hooks| {
        let mut text = CompactString::default();
        let truncated = BoundedWriter::write_bounded(
            &mut text,
            hooks.shared.settings.max_value_len,
            format_args!("{message}"),
        );
        let mut raw = RawOccurrence::new(
            Level::Error,
            Cow::Borrowed("message"),
            text,
            RawLocation::from_caller(caller),
        );
        raw.truncated = truncated;
        raw.set_backtrace(hooks.shared.backtraces.take(callsite(caller)));
        hooks.capture_in_current_span(dispatch, raw)
    })
}

/// The key of a `capture_*` call's callsite, for [`crate::BacktraceMode::NewCallsites`].
fn callsite(caller: &'static Location<'static>) -> usize {
    std::ptr::from_ref(caller) as usize
}

/// Runs `f` and captures its error, then hands the result back unchanged (the seed's
/// `track_exception`: the error is re-raised to the caller).
#[track_caller]
pub fn track<T, E: Error + 'static>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    f().track()
}

/// Runs `f` and captures its error, then swallows it (the seed's
/// `track_exception(silent=True)`).
#[track_caller]
pub fn track_silent<T, E: Error + 'static>(f: impl FnOnce() -> Result<T, E>) -> Option<T> {
    f().track_silent()
}

/// Captures the error of a `Result` on its way through: `do_it().track()?`.
pub trait TrackResult<T> {
    /// Captures the error, if any, and returns the result unchanged.
    #[track_caller]
    fn track(self) -> Self;

    /// Captures the error, if any, and turns the result into an `Option`.
    #[track_caller]
    fn track_silent(self) -> Option<T>;
}

impl<T, E: Error + 'static> TrackResult<T> for Result<T, E> {
    #[track_caller]
    fn track(self) -> Self {
        if let Err(error) = &self {
            capture_chain(error, type_kind::<E>(), Location::caller());
        }
        self
    }

    #[track_caller]
    fn track_silent(self) -> Option<T> {
        match self {
            Ok(value) => Some(value),
            Err(error) => {
                capture_chain(&error, type_kind::<E>(), Location::caller());
                None
            }
        }
    }
}
