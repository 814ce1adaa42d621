//! The worker thread: drains the buffer, masks, fingerprints and merges, then writes one
//! batch per cycle to the store, keeping failed batches for a bounded retry.
//!
//! It runs with no `tracing` dispatcher and is marked as the tracker's own thread, so that
//! nothing it does (the store, user hooks, our own code) can feed events back into it.

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::buffer::PendingGroup;
use crate::fingerprint::{self, GROUPING_VERSION};
use crate::occurrence::Occurrence;
use crate::shared::{Shared, mark_tracker_thread};
use crate::store::{GroupUpdate, merge_samples};

/// Longest wait between two attempts to write to a failing store.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) fn spawn(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    shared.report_progress(None, true);
    let result = thread::Builder::new()
        .name("error-tracker".to_owned())
        .spawn({
            let shared = shared.clone();
            move || Worker::new(shared).run()
        });
    if result.is_err() {
        shared.report_progress(None, false);
    }
    result
}

struct Worker {
    shared: Arc<Shared>,
    /// Updates not yet in the store: this cycle's, plus any a failed write left behind.
    pending: HashMap<String, GroupUpdate>,
    /// The buffer count up to which `pending` holds everything.
    pending_upto: u64,
    drained: Vec<PendingGroup>,
    failures_in_a_row: u32,
    next_attempt: Instant,
    /// This process's id, read once: the worker thread does not outlive a `fork`.
    process_id: u32,
}

impl Worker {
    fn new(shared: Arc<Shared>) -> Self {
        Worker {
            shared,
            pending: HashMap::new(),
            pending_upto: 0,
            drained: Vec::new(),
            failures_in_a_row: 0,
            next_attempt: Instant::now(),
            process_id: std::process::id(),
        }
    }

    fn run(mut self) {
        let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        mark_tracker_thread();
        self.shared.buffer.set_worker(thread::current());
        let interval = self.shared.settings.flush_interval;
        loop {
            let stopping = self.shared.stopping.load(Ordering::SeqCst);
            if catch_unwind(AssertUnwindSafe(|| self.cycle(stopping))).is_err() {
                self.shared
                    .counters
                    .internal_panics
                    .fetch_add(1, Ordering::Relaxed);
            }
            if stopping {
                break;
            }
            if !self.pending.is_empty() {
                thread::park_timeout(
                    self.next_attempt
                        .saturating_duration_since(Instant::now())
                        .max(interval),
                );
            } else if self.shared.buffer.mark_idle() {
                thread::park();
            } else {
                thread::park_timeout(interval);
            }
        }
        let unsaved: u64 = self.pending.values().map(|u| u.count).sum();
        self.shared.buffer.count_lost(unsaved);
        self.shared.report_progress(None, false);
    }

    /// One round: take what callers pushed, turn it into updates, try to store them.
    fn cycle(&mut self, final_cycle: bool) {
        let upto = self.shared.buffer.accepted();
        self.shared.buffer.drain(&mut self.drained);
        let mut groups = std::mem::take(&mut self.drained);
        // Newest first: once an error holds its samples, older occurrences of it need no
        // conversion at all, which is what keeps a storm of distinct messages cheap.
        groups.sort_unstable_by_key(|g| std::cmp::Reverse(g.last_seen));
        for group in groups.drain(..) {
            if let Some(update) = self.prepare(group) {
                self.merge(update);
            }
        }
        self.drained = groups;
        self.pending_upto = upto;
        if self.pending.is_empty() {
            self.shared.report_progress(Some(upto), true);
            return;
        }
        // A flush or the last cycle tries at once; otherwise a failing store is left alone
        // for a while, so that it is not hammered.
        let flush_requested = self.shared.flush_requested.swap(false, Ordering::SeqCst);
        if Instant::now() < self.next_attempt && !final_cycle && !flush_requested {
            return;
        }
        self.write();
    }

    fn write(&mut self) {
        let batch: Vec<GroupUpdate> = self.pending.drain().map(|(_, update)| update).collect();
        let store = &self.shared.store;
        let result = catch_unwind(AssertUnwindSafe(|| store.record(&batch)));
        let failure = match result {
            Ok(Ok(_outcomes)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => {
                self.shared
                    .counters
                    .hook_panics
                    .fetch_add(1, Ordering::Relaxed);
                Some("the store panicked while recording a batch".to_owned())
            }
        };
        match failure {
            None => {
                let stored: u64 = batch.iter().map(|u| u.count).sum();
                self.shared
                    .counters
                    .stored
                    .fetch_add(stored, Ordering::Relaxed);
                self.failures_in_a_row = 0;
                self.next_attempt = Instant::now();
                self.shared.report_progress(Some(self.pending_upto), true);
            }
            Some(message) => {
                self.shared
                    .counters
                    .store_failures
                    .fetch_add(1, Ordering::Relaxed);
                *self.shared.last_store_error.lock() = Some(message);
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                let backoff = self.shared.settings.flush_interval
                    * 2u32.saturating_pow(self.failures_in_a_row.min(16));
                self.next_attempt = Instant::now() + backoff.min(MAX_RETRY_BACKOFF);
                for update in batch {
                    self.merge(update);
                }
                // Wake flushers so they see the failure instead of waiting out their timeout.
                self.shared.report_progress(None, true);
            }
        }
    }

    /// Adds `update` to what is pending, within the configured bound; beyond it, the
    /// occurrences are counted as lost rather than held without limit.
    fn merge(&mut self, update: GroupUpdate) {
        let limit = self.shared.settings.max_pending_errors;
        let pending_len = self.pending.len();
        match self.pending.entry(update.fingerprint.clone()) {
            Entry::Occupied(mut entry) => {
                let into = entry.get_mut();
                into.count += update.count;
                into.first_seen = into.first_seen.min(update.first_seen);
                into.last_seen = into.last_seen.max(update.last_seen);
                let excess = merge_samples(&mut into.samples, update.samples, into.keep_samples);
                self.shared
                    .counters
                    .dropped_samples
                    .fetch_add(excess, Ordering::Relaxed);
                into.dropped_samples += update.dropped_samples + excess;
            }
            Entry::Vacant(entry) if pending_len < limit => {
                entry.insert(update);
            }
            Entry::Vacant(_) => self.shared.buffer.count_lost(update.count),
        }
    }

    /// Turns one buffer entry into an update: full occurrences only for the samples the error
    /// will keep (the newest ones), the fingerprint taken from the newest of them.
    ///
    /// The newest sample is converted and masked first and the fingerprint is computed from
    /// it: every sample of a buffer entry shares the parts the fingerprint is made of, so this
    /// is the fingerprint of each of them, and it costs no second masked copy. (The newest
    /// sample is nearly always kept; when it is not, it was converted for nothing.)
    fn prepare(&self, group: PendingGroup) -> Option<GroupUpdate> {
        let keep = self.shared.settings.samples_per_error;
        let limit = self.shared.settings.max_value_len;
        let mut raws = group.samples.into_iter().rev();
        // The buffer never holds an entry without a sample; `None` would be a bug upstream,
        // and then there is nothing to store.
        let newest = self.mask(raws.next()?.into_occurrence(
            &self.shared.host,
            self.process_id,
            limit,
        ));
        let fingerprint = fingerprint::fingerprint(&newest);
        let held = self.pending.get(&fingerprint);
        let mut room = keep.saturating_sub(held.map_or(0, |u| u.samples.len()));
        let oldest_held = held.and_then(|u| u.samples.first()).map(|s| s.time);
        let mut dropped_samples = group.dropped_samples;
        let mut samples = Vec::with_capacity(room.min(1 + raws.len()));
        let mut keeps = |time| {
            let kept = room > 0 || oldest_held.is_some_and(|oldest| time > oldest);
            room = room.saturating_sub(1);
            kept
        };
        if keeps(newest.time) {
            samples.push(newest);
        } else {
            dropped_samples += 1;
        }
        for raw in raws {
            if keeps(raw.time) {
                let occurrence = raw.into_occurrence(&self.shared.host, self.process_id, limit);
                samples.push(self.mask(occurrence));
            } else {
                dropped_samples += 1;
            }
        }
        samples.reverse();
        self.shared
            .counters
            .dropped_samples
            .fetch_add(dropped_samples - group.dropped_samples, Ordering::Relaxed);
        Some(GroupUpdate {
            fingerprint,
            grouping_version: GROUPING_VERSION,
            count: group.count,
            first_seen: group.first_seen,
            last_seen: group.last_seen,
            samples,
            dropped_samples,
            keep_samples: keep,
        })
    }

    /// Masks with the configured masking; if that panics, with the default one, so that an
    /// unmasked value can never reach the store.
    fn mask(&self, mut occurrence: Occurrence) -> Occurrence {
        let masked = catch_unwind(AssertUnwindSafe(|| {
            self.shared.masking.mask(&mut occurrence)
        }));
        if masked.is_ok() {
            return occurrence;
        }
        self.shared
            .counters
            .hook_panics
            .fetch_add(1, Ordering::Relaxed);
        let fallback = &self.shared.fallback_masking;
        if catch_unwind(AssertUnwindSafe(|| fallback.mask(&mut occurrence))).is_ok() {
            return occurrence;
        }
        // Not even the default masking got through: keep only what cannot hold a secret.
        let mut bare = Occurrence::new(occurrence.kind, fallback.mask_with());
        bare.time = occurrence.time;
        bare.level = occurrence.level;
        bare.location = occurrence.location;
        bare
    }
}
