//! State shared by the layer, the capture functions, the worker and the tracker handle.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::buffer::{Buffer, Pushed};
use crate::mask::Masking;
use crate::record::RawOccurrence;
use crate::store::Store;

/// The limits and knobs the hot path and the worker read; fixed once built.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub level: tracing::Level,
    pub max_value_len: usize,
    pub max_span_depth: usize,
    pub samples_per_error: usize,
    pub max_pending_errors: usize,
    pub max_pending_bytes: usize,
    pub page_size: usize,
    pub flush_interval: Duration,
    pub shutdown_timeout: Duration,
    pub panic_flush_timeout: Duration,
    /// Whether panics take a backtrace.
    pub panic_backtraces: bool,
    pub backtraces: crate::BacktraceMode,
    pub backtrace_interval: Duration,
    /// Breadcrumbs kept per span tree (and per thread); 0 turns them off.
    pub breadcrumbs: usize,
    /// The least severe level kept as a breadcrumb.
    pub breadcrumb_level: tracing::Level,
    /// The dashboard's link template for trace ids.
    pub trace_url: Option<String>,
    /// What every occurrence says it came from.
    pub release: Option<String>,
    pub environment: Option<String>,
}

/// Where the worker is: what it has stored, and whether it still runs.
#[derive(Debug)]
pub(crate) struct Progress {
    /// Every occurrence accepted before this count is in the store.
    pub processed: u64,
    pub worker_running: bool,
}

/// Counters behind [`crate::TrackerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub stored: AtomicU64,
    pub store_failures: AtomicU64,
    pub hook_panics: AtomicU64,
    pub internal_panics: AtomicU64,
    /// Samples let go by the worker (the buffer counts its own).
    pub dropped_samples: AtomicU64,
    /// Captures dropped because they were raised while this thread was already capturing.
    pub reentrant: AtomicU64,
    /// Events left out by the event filter, and occurrences dropped by the event mapper.
    pub filtered: AtomicU64,
}

pub(crate) struct Shared {
    pub settings: Settings,
    /// Decides which `error!` events and `capture_*` calls take a backtrace.
    pub backtraces: crate::backtrace::Sampler,
    pub buffer: Buffer,
    pub store: Arc<dyn Store>,
    pub masking: Arc<dyn Masking>,
    /// Applied when a custom masking panics, so that nothing unmasked is ever kept.
    pub fallback_masking: Arc<dyn Masking>,
    pub host: String,
    pub counters: Counters,
    pub last_store_error: Mutex<Option<String>>,
    pub progress: Mutex<Progress>,
    pub progress_changed: Condvar,
    pub stopping: AtomicBool,
    /// Set by [`Shared::flush`]: the worker writes at once, whatever its back-off says.
    pub flush_requested: AtomicBool,
    /// Set once the panic hook is installed, so that a second call does not chain it twice.
    pub panic_hook_installed: AtomicBool,
    /// Leaves events out on the caller's thread, when one is configured.
    pub event_filter: Option<Box<crate::filter::EventFilter>>,
    /// Rewrites or drops occurrences on the worker, when one is configured.
    pub event_mapper: Option<Box<crate::filter::EventMapper>>,
    /// Decides what context occurrences carry, when one is configured.
    pub context: Option<Arc<dyn crate::context::ContextBuilder>>,
    /// Hands what the store reports to the notifier thread, when there is one.
    pub notify: Option<crate::notify::Handoff>,
    /// The last failure of a user hook (context builder), for [`crate::TrackerStats`].
    pub last_hook_error: Mutex<Option<String>>,
}

impl Shared {
    /// Hands one occurrence to the worker; false when it was lost (full, or shut down).
    pub(crate) fn submit(&self, mut raw: RawOccurrence) -> bool {
        if self.stopping.load(Ordering::Relaxed) {
            self.buffer.count_unsaved(1);
            return false;
        }
        crate::scope::attach_thread_scopes(&mut raw);
        self.buffer.push(raw) == Pushed::Accepted
    }

    /// Waits until everything accepted so far is stored, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let target = self.buffer.accepted();
        if is_tracker_thread() {
            // The worker cannot wait for itself.
            return self.progress.lock().processed >= target;
        }
        let deadline = Instant::now() + timeout;
        let mut progress = self.progress.lock();
        if progress.processed >= target {
            return true;
        }
        // One prompt write per flush; after that a failing store is left to its back-off
        // rather than retried for as long as someone waits.
        self.flush_requested.store(true, Ordering::SeqCst);
        self.buffer.wake_worker();
        loop {
            if progress.processed >= target {
                return true;
            }
            if !progress.worker_running {
                return false;
            }
            if self
                .progress_changed
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                return progress.processed >= target;
            }
        }
    }

    /// Records worker progress and wakes whoever waits in [`Shared::flush`].
    pub(crate) fn report_progress(&self, processed: Option<u64>, running: bool) {
        let mut progress = self.progress.lock();
        if let Some(processed) = processed {
            progress.processed = progress.processed.max(processed);
        }
        progress.worker_running = running;
        self.progress_changed.notify_all();
    }
}

thread_local! {
    /// True while this thread is inside the tracker (capturing, or the worker itself), so that
    /// nothing the tracker does can be captured again.
    static IN_TRACKER: Cell<bool> = const { Cell::new(false) };
    /// Captures refused on this thread by [`enter_tracker`] since the outer guard was taken;
    /// the guard's owner adds them to its tracker's count ([`TrackerGuard::finish`]).
    static REFUSED: Cell<u64> = const { Cell::new(0) };
}

/// Marks the current thread as inside the tracker until the guard drops; `None` when it
/// already is (a re-entrant call that must do nothing, and is counted).
pub(crate) fn enter_tracker() -> Option<TrackerGuard> {
    IN_TRACKER.with(|flag| {
        if flag.get() {
            REFUSED.with(|n| n.set(n.get() + 1));
            None
        } else {
            flag.set(true);
            Some(TrackerGuard(()))
        }
    })
}

/// True on the worker thread and while a capture runs on this thread.
pub(crate) fn is_tracker_thread() -> bool {
    IN_TRACKER.with(Cell::get)
}

/// Marks this thread as the tracker's own for good (the worker).
pub(crate) fn mark_tracker_thread() {
    IN_TRACKER.with(|flag| flag.set(true));
}

/// See [`enter_tracker`].
pub(crate) struct TrackerGuard(());

impl TrackerGuard {
    /// Leaves the tracker, adding the captures refused inside (a `capture_*` call in the
    /// `Display` of a captured value) to `shared`'s count.
    pub(crate) fn finish(self, shared: &Shared) {
        let refused = REFUSED.with(|n| n.replace(0));
        if refused > 0 {
            shared
                .counters
                .reentrant
                .fetch_add(refused, Ordering::Relaxed);
        }
    }
}

impl Drop for TrackerGuard {
    fn drop(&mut self) {
        // A guard left without `finish` (its tracker out of reach) lets its count go rather
        // than hand it to the next capture.
        REFUSED.with(|n| n.set(0));
        IN_TRACKER.with(|flag| flag.set(false));
    }
}
