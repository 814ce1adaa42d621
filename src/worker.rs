//! The worker thread: drains the buffer, masks, fingerprints and merges, then writes one
//! batch per cycle to the store, keeping failed batches for a bounded retry.
//!
//! The store is called from a second thread, the writer, so that a batch is committed while
//! the next one is prepared: on two cores, the worker's part then costs no time of the
//! store's. One batch is with the writer at a time.
//!
//! Both run with no `tracing` dispatcher and are marked as the tracker's own threads, so that
//! nothing they do (the store, user hooks, our own code) can feed events back into them.

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::buffer::PendingGroup;
use crate::fingerprint::{self, GROUPING_VERSION};
use crate::occurrence::Occurrence;
use crate::record::RawOccurrence;
use crate::shared::{Shared, mark_tracker_thread};
use crate::store::{GroupUpdate, RecordOutcome, merge_samples};

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
    /// The thread that commits batches while this one prepares the next; `None` when it could
    /// not be started, and then batches are written from this thread.
    writer: Option<Writer>,
    /// True while a batch is with the writer: at most one is, so that batches are stored in
    /// the order they were made and a failed one comes back before the next is sent.
    in_flight: bool,
    /// Bytes of the byte budget that `pending` holds, and the batch with the writer: given
    /// back to the buffer once the store has them.
    pending_bytes: usize,
    in_flight_bytes: usize,
    /// Errors in the batch with the writer.
    in_flight_len: usize,
    /// Most errors in one batch: unbounded while the store takes what it is given; halved on
    /// each failure and doubled on each success after one, so that a backlog that no longer
    /// fits in one transaction (a disk that was full) is written in pieces that do.
    batch_limit: usize,
}

/// Prepared groups waiting to be handed to the writer before the cycle ends, so that the
/// writer starts on a large drain while the worker still prepares the rest of it.
const EARLY_BATCH: usize = 4096;

/// A batch for the writer, with the buffer count up to which it completes what is stored
/// (`None` for a part of what is pending, which completes nothing on its own).
struct Job {
    batch: Vec<GroupUpdate>,
    upto: Option<u64>,
}

/// A batch back from the writer, with what the store said.
struct Done {
    job: Job,
    result: Result<Vec<RecordOutcome>, String>,
}

struct Writer {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Starts the writer thread; `None` if the system refuses a thread.
    fn spawn(shared: &Arc<Shared>) -> Option<Writer> {
        let (jobs, job_rx) = sync_channel::<Job>(1);
        let (done_tx, done) = sync_channel::<Done>(1);
        let worker = thread::current();
        let shared = shared.clone();
        let thread = thread::Builder::new()
            .name("error-tracker-writer".to_owned())
            .spawn(move || {
                let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
                mark_tracker_thread();
                for job in job_rx {
                    let result = record(&shared, &job.batch);
                    if done_tx.send(Done { job, result }).is_err() {
                        break;
                    }
                    worker.unpark();
                }
            })
            .ok()?;
        Some(Writer { jobs, done, thread })
    }
}

/// Writes one batch, turning a panicking store into an error.
fn record(shared: &Shared, batch: &[GroupUpdate]) -> Result<Vec<RecordOutcome>, String> {
    match catch_unwind(AssertUnwindSafe(|| shared.store.record(batch))) {
        Ok(Ok(outcomes)) => Ok(outcomes),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => {
            shared.counters.hook_panics.fetch_add(1, Ordering::Relaxed);
            Err("the store panicked while recording a batch".to_owned())
        }
    }
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
            writer: None,
            in_flight: false,
            pending_bytes: 0,
            in_flight_bytes: 0,
            in_flight_len: 0,
            batch_limit: usize::MAX,
        }
    }

    fn run(mut self) {
        let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        mark_tracker_thread();
        self.shared.buffer.set_worker(thread::current());
        self.writer = Writer::spawn(&self.shared);
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
            if self.in_flight {
                // The writer wakes this thread when it is done.
                thread::park_timeout(interval);
            } else if !self.pending.is_empty() {
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
        // The last cycle waited for the writer, unless it panicked half-way.
        self.collect(true);
        if let Some(writer) = self.writer.take() {
            drop(writer.jobs);
            let _ = writer.thread.join();
        }
        let unsaved: u64 = self.pending.values().map(|u| u.count).sum();
        self.shared.buffer.count_unsaved(unsaved);
        self.shared.report_progress(None, false);
    }

    /// One round: take what callers pushed, turn it into updates, try to store them.
    fn cycle(&mut self, final_cycle: bool) {
        // A batch the writer finished (or, in the last cycle, the one it is finishing).
        self.collect(final_cycle);
        // New work waits in the buffer, where repeats still coalesce, while taking it would
        // give the worker (what it prepares and the batch with the writer) more than
        // `max_pending_errors` distinct errors: so the buffer and the worker hold at most
        // that many each, and nothing the worker took ever has to be let go. And once half
        // the byte budget is held, also while the worker holds what the store can take next
        // (a batch with the writer and one prepared): drained then, a repeat of an error
        // taken from the buffer would need a new entry there, against a budget that may no
        // longer have room for it. Otherwise the worker drains on while the writer commits,
        // so that the next batch is as large as what came meanwhile (redb writes large
        // batches much faster per error).
        let buffer = &self.shared.buffer;
        let share = self.pending.len() + self.in_flight_len;
        let pressed = buffer.held_bytes() > self.shared.settings.max_pending_bytes / 2;
        let full = share + buffer.entries() > self.shared.settings.max_pending_errors
            || (pressed && self.in_flight && !self.pending.is_empty());
        let upto = if full && !final_cycle {
            self.pending_upto
        } else {
            let upto = self.shared.buffer.accepted();
            self.shared.buffer.drain(&mut self.drained);
            upto
        };
        let mut groups = std::mem::take(&mut self.drained);
        // Newest first: once an error holds its samples, older occurrences of it need no
        // conversion at all, which is what keeps a storm of distinct messages cheap.
        groups.sort_unstable_by_key(|g| std::cmp::Reverse(g.last_seen));
        for (n, group) in groups.drain(..).enumerate() {
            let bytes = group.bytes;
            match self.prepare(group) {
                Some(update) => {
                    self.pending_bytes += bytes;
                    self.merge(update);
                }
                // Dropped by the event mapper: nothing of it waits for the store, so its share
                // of the budget is free now (it would otherwise be held until some later write).
                None => self.shared.buffer.release(bytes),
            }
            if n % EARLY_BATCH == EARLY_BATCH - 1 {
                self.collect(false);
                if self.writer.is_some() && !self.in_flight && self.failures_in_a_row == 0 {
                    // Everything up to the previous cycle's count is stored or pending; this
                    // cycle's is not complete yet.
                    self.write(self.pending_upto);
                }
            }
        }
        self.drained = groups;
        self.pending_upto = upto;
        if self.pending.is_empty() {
            if !self.in_flight {
                self.shared.report_progress(Some(upto), true);
            }
            return;
        }
        if self.in_flight && !final_cycle {
            // Sent when the writer is done with the current batch, which wakes this thread.
            return;
        }
        // A flush or the last cycle tries at once; otherwise a failing store is left alone
        // for a while, so that it is not hammered.
        let flush_requested = self.shared.flush_requested.swap(false, Ordering::SeqCst);
        if Instant::now() < self.next_attempt && !final_cycle && !flush_requested {
            return;
        }
        self.collect(true);
        self.write(upto);
        if final_cycle {
            self.collect(true);
        }
    }

    /// Takes the writer's answer for the batch in flight, if any: waiting for it when `wait`,
    /// otherwise only if it is there.
    fn collect(&mut self, wait: bool) {
        if !self.in_flight {
            return;
        }
        let Some(writer) = &self.writer else {
            self.in_flight = false;
            return;
        };
        let done = if wait {
            writer.done.recv().ok()
        } else {
            match writer.done.try_recv() {
                Ok(done) => Some(done),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => None,
            }
        };
        self.in_flight = false;
        match done {
            Some(Done { job, result }) => self.finish(job, result),
            // The writer catches the store's panics, so it only stops when this thread drops
            // its end; write from here from now on.
            None => self.writer = None,
        }
    }

    /// Hands everything pending to the writer (or writes it here without one), as complete up
    /// to the buffer count `upto`.
    fn write(&mut self, upto: u64) {
        if self.pending.is_empty() {
            return;
        }
        let (batch, upto): (Vec<GroupUpdate>, _) = if self.pending.len() <= self.batch_limit {
            self.in_flight_bytes = std::mem::take(&mut self.pending_bytes);
            (
                self.pending.drain().map(|(_, update)| update).collect(),
                Some(upto),
            )
        } else {
            let mut taken = 0;
            let limit = self.batch_limit;
            let batch: Vec<GroupUpdate> = self
                .pending
                .extract_if(|_, _| {
                    taken += 1;
                    taken <= limit
                })
                .map(|(_, update)| update)
                .collect();
            // The budget bytes go with the part in proportion: an estimate either way.
            let share = self.pending_bytes / (self.pending.len() + batch.len()) * batch.len();
            self.pending_bytes -= share;
            self.in_flight_bytes = share;
            (batch, None)
        };
        self.in_flight_len = batch.len();
        let job = Job { batch, upto };
        let job = match &self.writer {
            Some(writer) => match writer.jobs.send(job) {
                Ok(()) => {
                    self.in_flight = true;
                    return;
                }
                Err(refused) => {
                    self.writer = None;
                    refused.0
                }
            },
            None => job,
        };
        let result = record(&self.shared, &job.batch);
        self.finish(job, result);
    }

    /// Counts a stored batch, or keeps a failed one for the next attempt.
    fn finish(&mut self, job: Job, result: Result<Vec<RecordOutcome>, String>) {
        let Job { batch, upto } = job;
        self.in_flight_len = 0;
        match result {
            Ok(outcomes) => {
                if let Some(notify) = &self.shared.notify {
                    notify.offer(&outcomes);
                }
                self.shared
                    .buffer
                    .release(std::mem::take(&mut self.in_flight_bytes));
                *self.shared.last_store_error.lock() = None;
                let stored: u64 = batch.iter().map(|u| u.count).sum();
                self.shared
                    .counters
                    .stored
                    .fetch_add(stored, Ordering::Relaxed);
                self.failures_in_a_row = 0;
                self.next_attempt = Instant::now();
                self.batch_limit = self.batch_limit.saturating_mul(2);
                match upto {
                    Some(upto) => self.shared.report_progress(Some(upto), true),
                    // A part: the rest goes at once, without waiting for new errors.
                    None => self.write(self.pending_upto),
                }
            }
            Err(message) => {
                self.shared
                    .counters
                    .store_failures
                    .fetch_add(1, Ordering::Relaxed);
                *self.shared.last_store_error.lock() = Some(message);
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                self.batch_limit = (batch.len().min(self.batch_limit) / 2).max(1);
                let backoff = self.shared.settings.flush_interval
                    * 2u32.saturating_pow(self.failures_in_a_row.min(16));
                self.next_attempt = Instant::now() + backoff.min(MAX_RETRY_BACKOFF);
                self.pending_bytes += std::mem::take(&mut self.in_flight_bytes);
                for update in batch {
                    self.merge(update);
                }
                // Wake flushers so they see the failure instead of waiting out their timeout.
                self.shared.report_progress(None, true);
            }
        }
    }

    /// Adds `update` to what is pending, within twice the configured bound: the worker drains
    /// only while what it then holds stays within the bound, so only a store that keeps
    /// failing while errors keep coming could go past it, and the occurrences beyond are then
    /// counted as unsaved rather than held without limit.
    fn merge(&mut self, update: GroupUpdate) {
        let limit = self.shared.settings.max_pending_errors.saturating_mul(2);
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
            Entry::Vacant(_) => self.shared.buffer.count_unsaved(update.count),
        }
    }

    /// Turns one buffer entry into an update: full occurrences only for the samples the error
    /// will keep (the newest ones), the fingerprint taken from the newest of them.
    ///
    /// The newest sample is converted and masked first and the fingerprint is computed from
    /// it: every sample of a buffer entry shares the parts the fingerprint is made of, so this
    /// is the fingerprint of each of them, and it costs no second masked copy. (The newest
    /// sample is nearly always kept; when it is not, it was converted for nothing.)
    /// Lets the context builder shape an already masked sample, then masks what it added.
    /// The fingerprint is taken before, so a builder never moves an error to another group.
    fn with_context(&self, mut occurrence: Occurrence) -> Occurrence {
        if self.shared.context.is_none() {
            return occurrence;
        }
        crate::context::apply(&self.shared, &mut occurrence);
        self.mask(occurrence)
    }

    /// The occurrence a raw record becomes, with this process's host, release and
    /// environment.
    fn occurrence(&self, raw: RawOccurrence, limit: usize) -> Occurrence {
        let mut occurrence = raw.into_occurrence(&self.shared.host, self.process_id, limit);
        let settings = &self.shared.settings;
        occurrence.release.clone_from(&settings.release);
        occurrence.environment.clone_from(&settings.environment);
        occurrence
    }

    fn prepare(&self, group: PendingGroup) -> Option<GroupUpdate> {
        let keep = self.shared.settings.samples_per_error;
        let limit = self.shared.settings.max_value_len;
        let mut raws = group.samples.into_iter().rev();
        // The buffer never holds an entry without a sample; `None` would be a bug upstream,
        // and then there is nothing to store.
        let newest = self.mask(self.occurrence(raws.next()?, limit));
        // The mapper sees the newest occurrence first and decides for the whole entry: every
        // occurrence of it shares what grouping reads.
        let newest = match self.map(newest) {
            Some(newest) => newest,
            None => {
                self.shared
                    .counters
                    .filtered
                    .fetch_add(group.count, Ordering::Relaxed);
                return None;
            }
        };
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
            samples.push(self.with_context(newest));
        } else {
            dropped_samples += 1;
        }
        for raw in raws {
            if keeps(raw.time) {
                // As for the newest: masked, mapped, then shaped by the context builder.
                let occurrence = self.mask(self.occurrence(raw, limit));
                match self.map(occurrence) {
                    Some(occurrence) => samples.push(self.with_context(occurrence)),
                    None => dropped_samples += 1,
                }
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

    /// Through the event mapper, if there is one, masked again: a mapper may add text.
    fn map(&self, occurrence: Occurrence) -> Option<Occurrence> {
        if self.shared.event_mapper.is_none() {
            return Some(occurrence);
        }
        crate::filter::map(&self.shared, occurrence).map(|mapped| self.mask(mapped))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use parking_lot::Mutex;
    use time::OffsetDateTime;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::store::{
        ErrorGroup, ErrorSummary, ListQuery, MemoryStore, Page, Status, Store, StoreError,
    };
    use crate::{ErrorTracker, Level, Location};

    /// A memory store whose first `failures` batches fail, and which notes each batch's size.
    struct Flaky {
        inner: MemoryStore,
        failures: AtomicUsize,
        batches: Mutex<Vec<usize>>,
    }

    impl Store for Flaky {
        fn record(&self, batch: &[GroupUpdate]) -> Result<Vec<RecordOutcome>, StoreError> {
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err(StoreError::Unavailable("not yet".into()));
            }
            self.batches.lock().push(batch.len());
            self.inner.record(batch)
        }
        fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, StoreError> {
            self.inner.list(query)
        }
        fn get(&self, fingerprint: &str) -> Result<Option<ErrorGroup>, StoreError> {
            self.inner.get(fingerprint)
        }
        fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError> {
            self.inner.set_status(fingerprint, status)
        }
        fn resolve_in(
            &self,
            fingerprint: &str,
            resolved_in: crate::ResolvedIn,
        ) -> Result<bool, StoreError> {
            self.inner.resolve_in(fingerprint, resolved_in)
        }
        fn delete(&self, fingerprint: &str) -> Result<bool, StoreError> {
            self.inner.delete(fingerprint)
        }
        fn purge(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
            self.inner.purge(cutoff)
        }
        fn hourly_counts(
            &self,
            fingerprint: &str,
            since: OffsetDateTime,
        ) -> Result<Vec<(OffsetDateTime, u64)>, StoreError> {
            self.inner.hourly_counts(fingerprint, since)
        }
    }

    /// More distinct errors than one early batch: the writer gets batches while the worker
    /// still prepares, a failed batch comes back and is written with the rest, and a flush
    /// returns only once every occurrence is in the store, each counted once.
    #[test]
    fn a_large_drain_is_stored_whole_across_writer_batches_and_a_failure() {
        const ERRORS: usize = 3 * EARLY_BATCH + 100;
        let store = Arc::new(Flaky {
            inner: MemoryStore::new(),
            failures: AtomicUsize::new(1),
            batches: Mutex::new(Vec::new()),
        });
        let tracker = ErrorTracker::builder()
            .shared_store(store.clone())
            .max_pending_errors(4 * ERRORS)
            .flush_interval(Duration::from_millis(5))
            .build()
            .unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..ERRORS {
                // Letters only, so that parameterisation keeps every message its own group.
                let name: String = format!("{i:x}")
                    .bytes()
                    .map(|b| char::from(b'g' + (b as char).to_digit(16).unwrap_or(0) as u8))
                    .collect();
                tracing::error!("component {name} failed");
            }
        });
        assert!(
            tracker.flush(Duration::from_secs(60)),
            "{:?}",
            tracker.stats()
        );
        let stats = tracker.stats();
        assert_eq!(stats.stored, ERRORS as u64, "{stats:?}");
        assert_eq!(stats.lost, 0);
        assert_eq!(stats.store_failures, 1);
        let page = store.list(&ListQuery::page(1, 1)).unwrap();
        assert_eq!(page.total, ERRORS as u64);
        let counted: u64 = store
            .list(&ListQuery::page(1, 2 * ERRORS))
            .unwrap()
            .items
            .iter()
            .map(|s| s.count)
            .sum();
        assert_eq!(counted, ERRORS as u64, "each occurrence counted once");
        let sample = store.get(&page.items[0].fingerprint).unwrap().unwrap();
        assert_eq!(sample.samples.len(), 1);
        assert_eq!(sample.summary.level, Level::Error);
        assert_ne!(sample.summary.location, Location::default());
        let batches = store.batches.lock().clone();
        assert_eq!(batches.iter().sum::<usize>(), ERRORS, "{batches:?}");
    }
}
