//! tower-http's `CatchPanic` logs each panic it catches with its default handler
//! (`error!("Service panicked: {message}")`, target `tower_http::catch_panic`). When the tracker
//! has already recorded that panic (its panic hook, or the HTTP middleware, which see it first),
//! the log is an echo of the same error, not a second one, and is not captured.
//!
//! `CatchPanic` calls its handler on the thread the panic unwound on, within the same poll, so a
//! note kept per thread by whoever recorded the panic identifies the echo exactly: same thread,
//! same message, the next `CatchPanic` event. The note is taken by that event either way.

use std::cell::RefCell;

use crate::record::TRUNCATION_MARKER;

/// The target of `CatchPanic`'s log events.
const CATCH_PANIC_TARGET: &str = "tower_http::catch_panic";
/// What `CatchPanic` writes before the panic's message.
const ECHO_PREFIX: &str = "Service panicked: ";
/// What it writes for a payload that is not text (which the tracker records as
/// [`NOT_TEXT`]).
const ECHO_NOT_TEXT: &str =
    "Service panicked but `CatchPanic` was unable to downcast the panic info";
/// The message the tracker gives a panic whose payload is not text.
const NOT_TEXT: &str = "Box<dyn Any>";

/// A panic's message, as far as its payload is text (what `panic!` makes: a `&str` or a
/// `String`), [`NOT_TEXT`] otherwise.
pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or(NOT_TEXT)
}

thread_local! {
    /// The message of the panic recorded last on this thread, until an echo takes it.
    static RECORDED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes that the panic unwinding on this thread, with this message, has been recorded.
pub(crate) fn note_recorded(message: &str) {
    // `try_with`: a panic while the thread's locals are destroyed has nowhere to note it.
    let _ = RECORDED.try_with(|noted| *noted.borrow_mut() = Some(message.to_owned()));
}

/// Whether the event of `target` with `message` (as recorded, bounded) is `CatchPanic`'s echo of
/// the panic noted on this thread. Any `CatchPanic` event takes the note.
pub(crate) fn is_echo(target: &str, message: &str) -> bool {
    if target != CATCH_PANIC_TARGET {
        return false;
    }
    let Some(noted) = RECORDED
        .try_with(|noted| noted.borrow_mut().take())
        .ok()
        .flatten()
    else {
        return false;
    };
    if message == ECHO_NOT_TEXT {
        return noted == NOT_TEXT;
    }
    let Some(echoed) = message.strip_prefix(ECHO_PREFIX) else {
        return false;
    };
    match echoed.strip_suffix(TRUNCATION_MARKER) {
        // Cut at the length limit: what is left is the start of the message.
        Some(start) => noted.starts_with(start),
        None => echoed == noted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_next_catch_panic_event_with_the_noted_message_is_an_echo() {
        note_recorded("order 7 is corrupt");
        assert!(!is_echo("app", "Service panicked: order 7 is corrupt"));
        assert!(is_echo(
            CATCH_PANIC_TARGET,
            "Service panicked: order 7 is corrupt"
        ));
        // Taken: the same log again is a panic nobody recorded.
        assert!(!is_echo(
            CATCH_PANIC_TARGET,
            "Service panicked: order 7 is corrupt"
        ));
        note_recorded("order 8 is corrupt");
        assert!(!is_echo(
            CATCH_PANIC_TARGET,
            "Service panicked: order 9 is corrupt"
        ));
        assert!(!is_echo(
            CATCH_PANIC_TARGET,
            "Service panicked: order 8 is corrupt"
        ));
    }

    #[test]
    fn truncated_and_non_text_panics_are_recognised() {
        note_recorded("a very long message");
        assert!(is_echo(
            CATCH_PANIC_TARGET,
            &format!("Service panicked: a very{TRUNCATION_MARKER}")
        ));
        note_recorded(NOT_TEXT);
        assert!(is_echo(CATCH_PANIC_TARGET, ECHO_NOT_TEXT));
    }
}
