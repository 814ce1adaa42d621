//! What context an occurrence carries: the [`ContextBuilder`] trait (the seed's
//! `APP_ERROR_CONTEXT_BUILDER_MODULE`) and its default, [`DefaultContext`].
//!
//! The builder runs on the worker thread when a captured event becomes an [`Occurrence`],
//! *before* masking: whatever it adds is masked like the rest. It decides what an
//! occurrence carries, not how occurrences are grouped: the fingerprint is computed from the
//! captured kind, message, location and error chain, whatever the builder changes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use crate::occurrence::{Occurrence, ThreadInfo};
use crate::shared::Shared;

/// Decides what context an occurrence carries: adds to it (a release, a region, a request
/// id from a thread-local) or removes from it (span fields, the host name).
///
/// It runs for each occurrence kept as a sample (an error keeps its newest ones; the others
/// are only counted). It is given the occurrence as captured, with span fields, extras, tags, user, host,
/// process and thread filled in. It runs on the worker thread, so a thread-local of the
/// application is not reachable from it; capture such values as span fields or
/// [`crate::configure_scope`] extras instead. A panic in it is caught and counted in
/// [`crate::TrackerStats::hook_panics`]; the occurrence is then stored as the builder
/// left it, masked as always.
pub trait ContextBuilder: Send + Sync + 'static {
    /// Changes `occurrence` in place.
    fn build(&self, occurrence: &mut Occurrence);
}

/// The default context: span fields, extras, tags and user, host, process and thread, each
/// of which can be left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultContext {
    /// Keep the span trace with its fields (default true).
    pub spans: bool,
    /// Keep extras, tags and the user set with [`crate::configure_scope`] (default true).
    pub extras: bool,
    /// Keep the host name (default true).
    pub host: bool,
    /// Keep the process id (default true).
    pub process: bool,
    /// Keep the thread's name and id (default true).
    pub thread: bool,
}

impl Default for DefaultContext {
    fn default() -> Self {
        DefaultContext {
            spans: true,
            extras: true,
            host: true,
            process: true,
            thread: true,
        }
    }
}

impl ContextBuilder for DefaultContext {
    fn build(&self, occurrence: &mut Occurrence) {
        if !self.spans {
            occurrence.spans_omitted += occurrence.spans.len();
            occurrence.spans.clear();
        }
        if !self.extras {
            occurrence.extras.clear();
            occurrence.tags.clear();
            occurrence.user = None;
        }
        if !self.host {
            occurrence.host.clear();
        }
        if !self.process {
            occurrence.process_id = 0;
        }
        if !self.thread {
            occurrence.thread = ThreadInfo::default();
        }
    }
}

/// Runs the configured builder on `occurrence`, guarded: a panic is counted and reported,
/// never fatal.
pub(crate) fn apply(shared: &Shared, occurrence: &mut Occurrence) {
    let Some(builder) = &shared.context else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| builder.build(occurrence))).is_err() {
        shared.counters.hook_panics.fetch_add(1, Ordering::Relaxed);
        *shared.last_hook_error.lock() = Some("the context builder panicked".to_owned());
    }
}
