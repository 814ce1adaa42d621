//! Pending work is bounded in bytes: a stalled store and large distinct errors cannot make
//! the process hold more than the byte budget, and counts stay exact.
//!
//! The live heap of this test binary is counted by its own allocator, so the bound checked
//! is the memory really held, not the tracker's estimate of it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{HookedStore, setup};
use error_tracker::StoreError;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A gate the store waits at, as a hung disk would hold a write.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
}

#[test]
fn a_stalled_store_holds_no_more_than_the_byte_budget() {
    const BUDGET: usize = 4 * 1024 * 1024;
    const DISTINCT: usize = 20_000;
    let gate = Gate::default();
    let stalled = Arc::new(AtomicBool::new(false));
    let store = {
        let (gate, stalled) = (gate.clone(), stalled.clone());
        HookedStore::new(move |_| {
            stalled.store(true, Ordering::SeqCst);
            gate.wait();
            Ok::<(), StoreError>(())
        })
    };
    let (tracker, dispatch) = setup(
        common::builder()
            .store(store)
            .max_pending_bytes(BUDGET)
            .flush_interval(Duration::from_millis(5)),
    );
    let blob = "b".repeat(16 * 1024);
    let before = LIVE.load(Ordering::Relaxed);
    let mut peak = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        // The first error is taken by the worker and stalls the store.
        tracing::error!("first");
        while !stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 0..DISTINCT {
            // Letters only: each message is its own error after parameterisation.
            let name = common::letters(i);
            tracing::error!(body = blob.as_str(), "component {name} failed");
            tracing::error!(body = blob.as_str(), "the repeated one");
            peak = peak.max(LIVE.load(Ordering::Relaxed).saturating_sub(before));
        }
    });
    // 20,000 distinct errors of 16 KiB are 320 MiB; held: about the budget.
    assert!(
        peak < 2 * BUDGET,
        "peak heap growth {peak} for a budget of {BUDGET}"
    );
    let stats = tracker.stats();
    assert!(stats.pending_bytes as usize <= BUDGET, "{stats:?}");
    assert!(stats.budget_dropped_samples > 0, "{stats:?}");
    assert!(stats.refused > 0, "{stats:?}");
    assert_eq!(stats.lost, stats.refused + stats.unsaved);

    gate.open();
    assert!(
        tracker.flush(Duration::from_secs(60)),
        "{:?}",
        tracker.stats()
    );
    let stats = tracker.stats();
    assert_eq!(stats.unsaved, 0, "{stats:?}");
    assert_eq!(
        stats.stored + stats.refused,
        1 + 2 * DISTINCT as u64,
        "{stats:?}"
    );
    // Repeats of a held error are never refused: its count is exact.
    let groups = common::all_groups(&tracker);
    let repeated = groups
        .iter()
        .find(|g| g.summary.message == "the repeated one")
        .expect("the repeated error is stored");
    assert_eq!(repeated.summary.count, DISTINCT as u64);
    // Errors kept past the sample budget hold what identifies them, marked as cut.
    assert!(
        groups
            .iter()
            .any(|g| g.samples[0].truncated && g.samples[0].fields.is_empty())
    );
    // Once stored, the budget is free again.
    assert_eq!(tracker.stats().pending_bytes, 0);
}
