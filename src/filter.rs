//! Leaving events out, or rewriting what is stored: [`EventDecision`] for
//! [`crate::Builder::event_filter`], and the mapper of [`crate::Builder::event_mapper`].
//!
//! The filter runs on the caller's thread, on the event's metadata only, before anything is
//! recorded: a noisy target costs a call, not a capture. The mapper runs on the worker, on
//! each masked occurrence kept as a sample, and may rewrite or drop it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use tracing::Metadata;

use crate::occurrence::Occurrence;
use crate::shared::Shared;

/// What [`crate::Builder::event_filter`] decides for an event at the capture level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventDecision {
    /// Captured as an occurrence (what happens without a filter).
    Capture,
    /// Left out: not captured, counted in [`crate::TrackerStats::filtered`].
    Ignore,
}

/// The event filter, as the layer keeps it.
pub(crate) type EventFilter = dyn Fn(&Metadata<'_>) -> EventDecision + Send + Sync;

/// The occurrence mapper, as the worker keeps it.
pub(crate) type EventMapper = dyn Fn(Occurrence) -> Option<Occurrence> + Send + Sync;

/// Whether the event with `metadata` is to be captured; a filter that panics lets it in
/// (and is counted), so that a bug in it never hides errors.
pub(crate) fn admits(shared: &Shared, metadata: &Metadata<'_>) -> bool {
    let Some(filter) = &shared.event_filter else {
        return true;
    };
    match catch_unwind(AssertUnwindSafe(|| filter(metadata))) {
        Ok(EventDecision::Ignore) => {
            shared.counters.filtered.fetch_add(1, Ordering::Relaxed);
            false
        }
        Ok(_) => true,
        Err(_) => {
            shared.counters.hook_panics.fetch_add(1, Ordering::Relaxed);
            true
        }
    }
}

/// `occurrence` through the mapper: `None` when it drops it. A mapper that panics keeps the
/// occurrence as it was (and is counted).
pub(crate) fn map(shared: &Shared, occurrence: Occurrence) -> Option<Occurrence> {
    let Some(mapper) = &shared.event_mapper else {
        return Some(occurrence);
    };
    let kept = occurrence.clone();
    match catch_unwind(AssertUnwindSafe(|| mapper(occurrence))) {
        Ok(mapped) => mapped,
        Err(_) => {
            shared.counters.hook_panics.fetch_add(1, Ordering::Relaxed);
            Some(kept)
        }
    }
}
