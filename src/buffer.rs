//! The hand-over between callers and the worker: a sharded buffer that coalesces repeats.
//!
//! A caller never waits for the worker: it locks one shard (chosen per thread, so callers
//! rarely meet) for a hash lookup and a few stores, and the worker only ever holds a shard
//! long enough to swap its table out. Repeats of the same error add to one entry's count, so
//! counts stay exact however fast errors come; only the samples kept per entry are bounded,
//! and the ones let go are counted.
//!
//! Memory is bounded twice: by the number of distinct entries, and by a byte budget that
//! covers what the buffer holds and what the worker holds until the store has it. Past three
//! quarters of the budget, samples go first: a repeat is counted without its sample, a new
//! error is kept with only what identifies it (message, kind, location). Past the whole
//! budget, or at the most entries, a new error is refused and counted as refused; repeats
//! of the errors held are still counted, so counts stay exact.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;

use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::record::RawOccurrence;

/// Occurrences of one raw grouping key since the worker last drained the buffer.
#[derive(Debug)]
pub(crate) struct PendingGroup {
    hash: u64,
    pub count: u64,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// The newest occurrences, oldest first; never empty.
    pub samples: VecDeque<RawOccurrence>,
    pub dropped_samples: u64,
    /// What `samples` holds in bytes, as counted against the budget.
    pub bytes: usize,
}

/// The outcome of [`Buffer::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Counted; the worker will pick it up.
    Accepted,
    /// The shard was full of other errors: counted as lost.
    Lost,
}

#[derive(Default)]
struct Shard {
    table: HashTable<PendingGroup>,
}

/// A shard with its own count of accepted occurrences, alone on its cache lines: callers
/// on different shards never write to the same line, which would cost a transfer between
/// cores on every capture (in a storm, on every one of millions).
#[repr(align(128))]
#[derive(Default)]
struct PaddedShard {
    shard: Mutex<Shard>,
    /// Occurrences accepted into this shard; counted under the shard's lock, so that a
    /// count read before a drain never runs ahead of what the drain finds.
    accepted: AtomicU64,
}

impl std::ops::Deref for PaddedShard {
    type Target = Mutex<Shard>;

    fn deref(&self) -> &Mutex<Shard> {
        &self.shard
    }
}

pub(crate) struct Buffer {
    shards: Box<[PaddedShard]>,
    hasher: DefaultHashBuilder,
    /// Most entries in all shards together: one busy thread may use the whole budget.
    max_entries: usize,
    entries: AtomicUsize,
    samples_per_entry: usize,
    /// The byte budget, and what is held against it here and by the worker: added on push,
    /// given back by the worker ([`Buffer::release`]) once the store has the samples.
    max_bytes: usize,
    bytes: AtomicUsize,
    /// New errors refused: the most entries, or the whole byte budget, was held.
    refused: AtomicU64,
    /// Accepted occurrences that never reached the store (see [`Buffer::count_unsaved`]).
    unsaved: AtomicU64,
    dropped_samples: AtomicU64,
    /// Of `dropped_samples` (and the worker's), those let go for the byte budget.
    budget_dropped: AtomicU64,
    worker: OnceLock<Thread>,
    /// Set by the worker before it parks with no deadline; a caller that finds it set wakes it.
    worker_idle: AtomicBool,
}

thread_local! {
    /// This thread's shard, assigned round-robin on first use.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl Buffer {
    /// A buffer holding at most `max_entries` distinct raw keys, each keeping up to
    /// `samples_per_entry` samples, and about `max_bytes` together with the worker.
    pub(crate) fn new(max_entries: usize, samples_per_entry: usize, max_bytes: usize) -> Self {
        let shard_count = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(4, 64);
        Buffer {
            shards: (0..shard_count).map(|_| PaddedShard::default()).collect(),
            hasher: DefaultHashBuilder::default(),
            max_entries: max_entries.max(1),
            entries: AtomicUsize::new(0),
            samples_per_entry: samples_per_entry.max(1),
            max_bytes,
            bytes: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            unsaved: AtomicU64::new(0),
            dropped_samples: AtomicU64::new(0),
            budget_dropped: AtomicU64::new(0),
            worker: OnceLock::new(),
            worker_idle: AtomicBool::new(false),
        }
    }

    /// Registers the thread to wake when there is work.
    pub(crate) fn set_worker(&self, worker: Thread) {
        // Set once, by the worker itself, before it first parks.
        let _ = self.worker.set(worker);
    }

    fn shard_index(&self) -> usize {
        let index = SHARD.with(|slot| match slot.get() {
            Some(index) => index,
            None => {
                let index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
                slot.set(Some(index));
                index
            }
        });
        index % self.shards.len()
    }

    /// Adds one occurrence. Never blocks on the worker beyond a table swap.
    pub(crate) fn push(&self, mut raw: RawOccurrence) -> Pushed {
        let hash = raw.grouping_hash(&self.hasher);
        let time = raw.time;
        let mut size = raw.heap_bytes();
        raw.budget_bytes = u32::try_from(size).unwrap_or(u32::MAX);
        // Samples fit while three quarters of the budget are free of them; the last quarter
        // is for what identifies new errors.
        let held = self.bytes.load(Ordering::Relaxed);
        let sample_fits = held + size <= self.max_bytes / 4 * 3;
        let mut freed = None;
        let (pushed, nearly_full) = {
            let padded = &self.shards[self.shard_index()];
            let mut shard = padded.lock();
            let table = &mut shard.table;
            if let Some(group) =
                table.find_mut(hash, |g| g.hash == hash && g.samples[0].same_group(&raw))
            {
                group.count += 1;
                group.first_seen = group.first_seen.min(time);
                group.last_seen = group.last_seen.max(time);
                if !sample_fits {
                    group.dropped_samples += 1;
                    self.budget_dropped.fetch_add(1, Ordering::Relaxed);
                    freed = Some(raw);
                } else {
                    if group.samples.len() == self.samples_per_entry {
                        freed = group.samples.pop_front();
                        group.dropped_samples += 1;
                    }
                    let freed_size = freed.as_ref().map_or(0, |f| f.budget_bytes as usize);
                    group.bytes = group.bytes + size - freed_size;
                    // The budget is one counter for every shard: written only when the held
                    // size changes, which a storm of one error (each sample the size of the
                    // one it replaces) never does, so callers on different cores do not pass
                    // its cache line back and forth.
                    if size != freed_size {
                        // Wrapping: the difference may be negative.
                        self.bytes
                            .fetch_add(size.wrapping_sub(freed_size), Ordering::Relaxed);
                    }
                    group.samples.push_back(raw);
                }
                padded.accepted.fetch_add(1, Ordering::Release);
                (Pushed::Accepted, false)
            } else if self.entries.fetch_add(1, Ordering::Relaxed) < self.max_entries {
                if !sample_fits {
                    raw.strip_to_skeleton();
                    size = raw.heap_bytes();
                    raw.budget_bytes = u32::try_from(size).unwrap_or(u32::MAX);
                }
                if held + size > self.max_bytes {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                    freed = Some(raw);
                    (Pushed::Lost, true)
                } else {
                    if !sample_fits {
                        self.budget_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    self.bytes.fetch_add(size, Ordering::Relaxed);
                    let group = PendingGroup {
                        hash,
                        count: 1,
                        first_seen: time,
                        last_seen: time,
                        samples: VecDeque::from([raw]),
                        dropped_samples: 0,
                        bytes: size,
                    };
                    table.insert_unique(hash, group, |g| g.hash);
                    padded.accepted.fetch_add(1, Ordering::Release);
                    let entries = self.entries.load(Ordering::Relaxed);
                    (Pushed::Accepted, entries * 2 >= self.max_entries)
                }
            } else {
                self.entries.fetch_sub(1, Ordering::Relaxed);
                freed = Some(raw);
                (Pushed::Lost, true)
            }
        };
        // Freed outside the lock: a sample can own sizeable strings.
        drop(freed);
        if pushed == Pushed::Lost {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        if nearly_full || self.worker_idle.load(Ordering::SeqCst) {
            self.wake_worker();
        }
        pushed
    }

    /// Wakes the worker now (flush, shutdown, a filling shard).
    pub(crate) fn wake_worker(&self) {
        self.worker_idle.store(false, Ordering::SeqCst);
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }

    /// Marks the worker idle; returns false (and clears the mark) if work arrived meanwhile,
    /// so the worker never sleeps through an occurrence pushed while it was deciding to.
    pub(crate) fn mark_idle(&self) -> bool {
        self.worker_idle.store(true, Ordering::SeqCst);
        if self.is_empty() {
            true
        } else {
            self.worker_idle.store(false, Ordering::SeqCst);
            false
        }
    }

    fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.lock().table.is_empty())
    }

    /// Takes everything pushed so far. Every occurrence counted by an [`Buffer::accepted`]
    /// value read before this call is in the result or in an earlier one.
    pub(crate) fn drain(&self, into: &mut Vec<PendingGroup>) {
        for shard in self.shards.iter() {
            let table = std::mem::take(&mut shard.lock().table);
            self.entries.fetch_sub(table.len(), Ordering::Relaxed);
            for group in table {
                self.dropped_samples
                    .fetch_add(group.dropped_samples, Ordering::Relaxed);
                into.push(group);
            }
        }
    }

    /// How many occurrences were accepted since the start.
    pub(crate) fn accepted(&self) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.accepted.load(Ordering::Acquire))
            .sum()
    }

    /// How many new errors were refused because the buffer held its most entries or the
    /// whole byte budget.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts occurrences accepted but never stored: captured after shutdown, held while the
    /// store failed beyond what the worker keeps, or still unsaved when the store never
    /// recovered before shutdown.
    pub(crate) fn count_unsaved(&self, n: u64) {
        self.unsaved.fetch_add(n, Ordering::Relaxed);
    }

    /// See [`Buffer::count_unsaved`].
    pub(crate) fn unsaved(&self) -> u64 {
        self.unsaved.load(Ordering::Relaxed)
    }

    /// Gives back `bytes` of the budget: the worker is done with samples that held them.
    pub(crate) fn release(&self, bytes: usize) {
        // Saturating: an estimate given back twice must not wrap to a full budget.
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                Some(held.saturating_sub(bytes))
            });
    }

    /// How many distinct entries the buffer holds now.
    pub(crate) fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Bytes held against the budget, here and by the worker.
    pub(crate) fn held_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Counts samples the worker let go for the byte budget.
    pub(crate) fn budget_dropped(&self) -> u64 {
        self.budget_dropped.load(Ordering::Relaxed)
    }

    /// How many samples were counted but let go in the buffer.
    pub(crate) fn dropped_samples(&self) -> u64 {
        self.dropped_samples.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occurrence::Level;
    use crate::record::RawLocation;

    fn raw(message: &str) -> RawOccurrence {
        let location = RawLocation {
            target: "t".into(),
            ..RawLocation::default()
        };
        RawOccurrence::new(Level::Error, "event".into(), message.into(), location)
    }

    #[test]
    fn repeats_coalesce_with_bounded_samples() {
        let buffer = Buffer::new(16, 3, usize::MAX / 2);
        for _ in 0..10 {
            assert_eq!(buffer.push(raw("same")), Pushed::Accepted);
        }
        buffer.push(raw("other"));
        let mut groups = Vec::new();
        buffer.drain(&mut groups);
        groups.sort_by_key(|g| g.count);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].count, 10);
        assert_eq!(groups[1].samples.len(), 3);
        assert_eq!(groups[1].dropped_samples, 7);
        assert_eq!(buffer.accepted(), 11);
        assert_eq!(buffer.dropped_samples(), 7);
    }

    #[test]
    fn a_full_buffer_counts_new_keys_as_lost() {
        let buffer = Buffer::new(2, 1, usize::MAX / 2);
        assert_eq!(buffer.push(raw("a")), Pushed::Accepted);
        assert_eq!(buffer.push(raw("b")), Pushed::Accepted);
        assert_eq!(buffer.push(raw("c")), Pushed::Lost);
        assert_eq!(
            buffer.push(raw("a")),
            Pushed::Accepted,
            "repeats are still counted"
        );
        assert_eq!(buffer.refused(), 1);
        let mut drained = Vec::new();
        buffer.drain(&mut drained);
        assert_eq!(drained.len(), 2);
        assert_eq!(
            buffer.push(raw("c")),
            Pushed::Accepted,
            "draining frees the budget"
        );
    }
}
