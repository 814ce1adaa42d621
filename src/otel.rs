//! The OpenTelemetry context of a capture (feature `opentelemetry`): the trace id and span
//! id that a `tracing-opentelemetry` layer gave the span an error is raised in.

use tracing::{Dispatch, Id};

/// The trace id and span id of span `id` in `dispatch`, when a `tracing-opentelemetry` layer
/// of that dispatcher knows a valid context for it.
///
/// `tracing-opentelemetry` gives a span's context through the dispatcher, and starts the
/// OpenTelemetry span if it has not started yet (as any access to its context does). Called
/// with no span extensions locked.
pub(crate) fn ids(dispatch: &Dispatch, id: &Id) -> Option<(u128, u64)> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        (
            u128::from_be_bytes(span_context.trace_id().to_bytes()),
            u64::from_be_bytes(span_context.span_id().to_bytes()),
        )
    })
}
