//! The notifier thread: takes hand-offs from the worker, decides with the policy, sends with
//! retries, files tickets, and keeps the per-window cap and its digest.
//!
//! Like the worker, it runs with no `tracing` dispatcher and is marked as the tracker's own
//! thread: nothing lettre, a notifier or a ticketing system does there can be captured, so
//! a failing SMTP server can never feed errors back into the tracker.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use time::OffsetDateTime;

use super::policy::Decision;
use super::{
    DigestNotice, ErrorNotice, Notification, NotificationStats, Notifier, NotifyError,
    NotifyPolicy, Reason,
};
use crate::shared::mark_tracker_thread;
use crate::store::{
    Change, ErrorGroup, ListQuery, NotificationState, RecordOutcome, Status, Store, StoreError,
};
use crate::ticket::Ticketing;

/// Hand-offs the worker may queue before new ones are dropped (and found by a later scan).
const QUEUE: usize = 4096;
/// Longest sleep of the thread, so that a clock jump cannot delay a cooldown for long.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Errors read per page when scanning the store for due notifications.
const SCAN_PAGE: usize = 500;

enum Msg {
    /// Something happened to this error.
    Error(String),
    /// Shut down (after one last round).
    Stop,
}

/// Where the thread is, for [`NotifyShared::wait_settled`].
struct Progress {
    /// Hand-offs taken from the queue (the start-up scan counts as one).
    received: u64,
    /// Hand-offs fully dealt with: sent, found not due, deferred or held back.
    settled: u64,
    running: bool,
}

/// State shared by the worker's [`Handoff`], the thread and the tracker handle.
pub(crate) struct NotifyShared {
    stats: Mutex<NotificationStats>,
    /// Panics of a notifier, a ticketing system or a store, caught on this thread.
    pub hook_panics: AtomicU64,
    /// Panics of this thread's own code (a bug), caught and counted.
    pub internal_panics: AtomicU64,
    /// Hand-offs queued; the start-up scan counts as the first.
    handed: AtomicU64,
    /// A hand-off was dropped: scan the store.
    overflow: AtomicBool,
    stopping: AtomicBool,
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl NotifyShared {
    pub fn stats(&self) -> NotificationStats {
        self.stats.lock().clone()
    }

    /// Waits until every hand-off queued so far is dealt with, at most until `deadline`.
    pub fn wait_settled(&self, deadline: Instant) -> bool {
        let target = self.handed.load(Ordering::SeqCst);
        let mut progress = self.progress.lock();
        loop {
            if progress.settled >= target {
                return true;
            }
            if !progress.running {
                return false;
            }
            if self.changed.wait_until(&mut progress, deadline).timed_out() {
                return progress.settled >= target;
            }
        }
    }

    /// Waits until the thread has stopped, at most until `deadline`.
    fn wait_stopped(&self, deadline: Instant) -> bool {
        let mut progress = self.progress.lock();
        while progress.running {
            if self.changed.wait_until(&mut progress, deadline).timed_out() {
                return false;
            }
        }
        true
    }
}

/// The worker's side: offers what [`Store::record`] reported, never waiting.
pub(crate) struct Handoff {
    sender: SyncSender<Msg>,
    shared: Arc<NotifyShared>,
    policy: NotifyPolicy,
    tickets: bool,
}

impl Handoff {
    /// Queues the outcomes that may make a notification (or a ticket) due. A full queue
    /// drops the hand-off and asks for a scan of the store instead: nothing is lost.
    pub fn offer(&self, outcomes: &[RecordOutcome]) {
        let mut dropped = 0;
        for outcome in outcomes {
            if outcome.status != Status::Unresolved {
                continue;
            }
            let worth = match outcome.change {
                Change::New => self.policy.on_new || self.tickets,
                Change::Regressed => self.policy.on_regression,
                Change::Repeated => false,
            } || self
                .policy
                .crosses_milestone(outcome.previous_count, outcome.count);
            if !worth {
                continue;
            }
            match self
                .sender
                .try_send(Msg::Error(outcome.fingerprint.clone()))
            {
                Ok(()) => {
                    self.shared.handed.fetch_add(1, Ordering::SeqCst);
                }
                Err(TrySendError::Full(_)) => {
                    dropped += 1;
                    self.shared.overflow.store(true, Ordering::SeqCst);
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if dropped > 0 {
            self.shared.stats.lock().dropped_handoffs += dropped;
        }
    }
}

/// The tracker handle's side: stops the thread.
pub(crate) struct NotifyThread {
    pub shared: Arc<NotifyShared>,
    sender: SyncSender<Msg>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl NotifyThread {
    /// Asks the thread to send what is pending and stop; waits for it until `deadline`,
    /// then leaves it behind rather than hang the application on a slow server.
    pub fn shutdown(&self, deadline: Instant) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // A full queue is drained soon, and the flag is seen then.
        let _ = self.sender.try_send(Msg::Stop);
        if self.shared.wait_stopped(deadline)
            && let Some(join) = self.join.lock().take()
        {
            let _ = join.join();
        }
    }
}

/// The window a cap counts in: when it began (monotonic, for its end, and wall clock, for
/// messages), and how much of the cap was used in it. It begins with the first use.
#[derive(Default)]
struct CapWindow {
    start: Option<(Instant, OffsetDateTime)>,
    used: u32,
}

impl CapWindow {
    /// Whether the window began `length` ago or longer.
    fn is_over(&self, length: Duration) -> bool {
        self.start
            .is_some_and(|(start, _)| start.elapsed() >= length)
    }

    /// Begins the window at `now` unless it has begun.
    fn begin(&mut self, now: OffsetDateTime) {
        self.start.get_or_insert((Instant::now(), now));
    }

    /// Counts one use, beginning the window if needed.
    fn count(&mut self, now: OffsetDateTime) {
        self.begin(now);
        self.used += 1;
    }
}

/// Starts the notifier thread.
pub(crate) struct Dispatcher {
    store: Arc<dyn Store>,
    notifier: Option<Arc<dyn Notifier>>,
    ticketing: Option<Arc<dyn Ticketing>>,
    policy: NotifyPolicy,
    shared: Arc<NotifyShared>,
    /// Errors to look at, in order, each once.
    pending: VecDeque<String>,
    queued: HashSet<String>,
    /// Errors to look at again at a time: the end of a cooldown, a ticket retry.
    deferred: HashMap<String, OffsetDateTime>,
    /// Errors for which a notification was taken from the store's shared cap and not yet
    /// sent (see [`Store::take_notification_slot`]).
    slots: HashSet<String>,
    /// Errors the cap held back in this window, for the digest, in the order they came.
    held: Vec<String>,
    held_set: HashSet<String>,
    /// The email cap's window: how many notifications about single errors were sent in it.
    window: CapWindow,
    /// States and ticket references the store failed to keep; written again each round.
    unsaved_states: HashMap<String, NotificationState>,
    unsaved_tickets: HashMap<String, String>,
    /// Failed ticket attempts in a row per error, and when to try again.
    ticket_retry: HashMap<String, (u32, Instant)>,
    /// The ticket cap's window: how many tickets were filed in it.
    ticket_window: CapWindow,
    /// Notifications rejected for good, not tried again for the same reason.
    rejected: HashMap<String, Reason>,
    /// Failed sends (or store reads) in a row, and when to try again.
    failures: u32,
    next_attempt: Instant,
    /// When a scan of the store is due.
    scan_due: Option<Instant>,
    /// Whether that scan is for dropped hand-offs (no limit on how many errors it reads).
    scan_all: bool,
}

impl Dispatcher {
    /// Starts the thread; returns the worker's hand-off and the handle's stopper.
    pub fn spawn(
        store: Arc<dyn Store>,
        notifier: Option<Arc<dyn Notifier>>,
        ticketing: Option<Arc<dyn Ticketing>>,
        policy: NotifyPolicy,
    ) -> io::Result<(Handoff, NotifyThread)> {
        let (sender, receiver) = sync_channel(QUEUE);
        let shared = Arc::new(NotifyShared {
            stats: Mutex::new(NotificationStats::default()),
            hook_panics: AtomicU64::new(0),
            internal_panics: AtomicU64::new(0),
            handed: AtomicU64::new(1),
            overflow: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            progress: Mutex::new(Progress {
                received: 0,
                settled: 0,
                running: true,
            }),
            changed: Condvar::new(),
        });
        let handoff = Handoff {
            sender: sender.clone(),
            shared: shared.clone(),
            policy: policy.clone(),
            tickets: ticketing.is_some(),
        };
        let dispatcher = Dispatcher {
            store,
            notifier,
            ticketing,
            policy,
            shared: shared.clone(),
            pending: VecDeque::new(),
            queued: HashSet::new(),
            deferred: HashMap::new(),
            slots: HashSet::new(),
            held: Vec::new(),
            held_set: HashSet::new(),
            window: CapWindow::default(),
            unsaved_states: HashMap::new(),
            unsaved_tickets: HashMap::new(),
            ticket_retry: HashMap::new(),
            ticket_window: CapWindow::default(),
            rejected: HashMap::new(),
            failures: 0,
            next_attempt: Instant::now(),
            scan_due: Some(Instant::now()),
            scan_all: false,
        };
        let spawned = thread::Builder::new()
            .name("error-tracker-notify".to_owned())
            .spawn(move || dispatcher.run(receiver));
        let join = match spawned {
            Ok(join) => join,
            Err(err) => {
                shared.progress.lock().running = false;
                return Err(err);
            }
        };
        Ok((
            handoff,
            NotifyThread {
                shared,
                sender,
                join: Mutex::new(Some(join)),
            },
        ))
    }

    fn run(mut self, receiver: Receiver<Msg>) {
        let _no_tracing = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        mark_tracker_thread();
        let mut stopping = false;
        let mut received = 0u64;
        let mut scanned_once = false;
        loop {
            let timeout = self.sleep_time();
            let first = if timeout.is_zero() {
                receiver.try_recv().map_err(|_| RecvTimeoutError::Timeout)
            } else {
                receiver.recv_timeout(timeout)
            };
            let mut messages = Vec::new();
            match first {
                Ok(msg) => messages.push(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
            messages.extend(receiver.try_iter());
            for msg in messages {
                match msg {
                    Msg::Error(fp) => {
                        received += 1;
                        self.enqueue(fp);
                    }
                    Msg::Stop => stopping = true,
                }
            }
            stopping |= self.shared.stopping.load(Ordering::SeqCst);
            if self.shared.overflow.swap(false, Ordering::SeqCst) {
                self.scan_due = Some(Instant::now());
                self.scan_all = true;
            }
            if self.scan_due.is_some_and(|due| due <= Instant::now()) {
                self.guarded(|this| this.scan());
                if !scanned_once && self.scan_due.is_none() {
                    // The start-up scan is the first hand-off (see `NotifyShared::handed`).
                    scanned_once = true;
                    received += 1;
                }
            }
            self.guarded(|this| this.round());
            self.publish(received);
            if stopping {
                break;
            }
        }
        let mut progress = self.shared.progress.lock();
        progress.running = false;
        self.shared.changed.notify_all();
    }

    /// Runs `step`; a panic (a bug of ours) is counted and the thread goes on.
    fn guarded(&mut self, step: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| step(self))).is_err() {
            self.shared.internal_panics.fetch_add(1, Ordering::Relaxed);
            self.shared.stats.lock().last_error =
                Some("the notifier thread caught a panic".to_owned());
        }
    }

    fn publish(&self, received: u64) {
        self.shared.stats.lock().pending = self.pending.len() as u64;
        let mut progress = self.shared.progress.lock();
        progress.received = received;
        if self.pending.is_empty() {
            progress.settled = received;
        }
        self.shared.changed.notify_all();
    }

    /// How long to wait for the next hand-off before something else is due.
    fn sleep_time(&self) -> Duration {
        let now = Instant::now();
        let wall = OffsetDateTime::now_utc();
        let mut wake = now + MAX_SLEEP;
        if !self.pending.is_empty() {
            wake = wake.min(self.next_attempt);
        }
        if let Some(due) = self.scan_due {
            wake = wake.min(due);
        }
        if let Some((start, _)) = self.window.start {
            let end = start + self.policy.window;
            // A digest waits for the back-off like any send; an empty window just ends.
            wake = wake.min(match self.held.is_empty() {
                true => end,
                false => end.max(self.next_attempt),
            });
        }
        if let Some(when) = self.deferred.values().min() {
            let wait = Duration::try_from(*when - wall).unwrap_or(Duration::ZERO);
            wake = wake.min(now + wait);
        }
        wake.saturating_duration_since(now)
    }

    fn enqueue(&mut self, fp: String) {
        if self.queued.insert(fp.clone()) {
            self.pending.push_back(fp);
        }
    }

    fn note_error(&self, error: String) {
        self.shared.stats.lock().last_error = Some(error);
    }

    /// A failure of the notifier or the store: wait before the next attempt.
    fn back_off(&mut self, error: String) {
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = Instant::now() + self.policy.backoff(self.failures);
        self.note_error(error);
    }

    /// Queues the unresolved errors seen within the recovery window, newest first: at most
    /// the recovery limit at start-up, all of them after dropped hand-offs (which may be more
    /// than the limit).
    fn scan(&mut self) {
        let limit = match self.scan_all {
            true => usize::MAX,
            false => self.policy.recovery_limit,
        };
        let cutoff = OffsetDateTime::now_utc()
            - time::Duration::try_from(self.policy.recovery_window).unwrap_or(time::Duration::DAY);
        let mut page = 1;
        let mut found = 0;
        loop {
            let query = ListQuery::page(page, SCAN_PAGE).with_status(Status::Unresolved);
            let listed = match self.call_store(|store| store.list(&query)) {
                Ok(listed) => listed,
                Err(err) => {
                    self.failures = self.failures.saturating_add(1);
                    self.scan_due = Some(Instant::now() + self.policy.backoff(self.failures));
                    self.note_error(format!("cannot scan the store for notifications: {err}"));
                    return;
                }
            };
            for summary in &listed.items {
                if summary.last_seen < cutoff || found >= limit {
                    self.scan_due = None;
                    self.scan_all = false;
                    return;
                }
                found += 1;
                self.enqueue(summary.fingerprint.clone());
            }
            if !listed.has_next() {
                self.scan_due = None;
                self.scan_all = false;
                return;
            }
            page += 1;
        }
    }

    /// Calls the store, turning a panic into an error.
    fn call_store<T>(
        &self,
        op: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match catch_unwind(AssertUnwindSafe(|| op(self.store.as_ref()))) {
            Ok(result) => result,
            Err(_) => {
                self.shared.hook_panics.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Unavailable("the store panicked".to_owned()))
            }
        }
    }

    /// One pass: what is due is looked at, in order, until a failure asks to wait.
    fn round(&mut self) {
        let wall = OffsetDateTime::now_utc();
        let ready: Vec<String> = self
            .deferred
            .iter()
            .filter(|&(_, when)| *when <= wall)
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in ready {
            self.deferred.remove(&fp);
            self.enqueue(fp);
        }
        let window_over = self.window.is_over(self.policy.window);
        if window_over && self.held.is_empty() {
            self.window = CapWindow::default();
        }
        if Instant::now() < self.next_attempt {
            return;
        }
        self.save_unsaved();
        if window_over && !self.held.is_empty() {
            if !self.send_digest() {
                return;
            }
            self.window = CapWindow::default();
        }
        while let Some(fp) = self.pending.pop_front() {
            if Instant::now() < self.next_attempt {
                self.pending.push_front(fp);
                return;
            }
            if self.process(&fp) {
                self.queued.remove(&fp);
            } else {
                // To the back: one error the store cannot read must not hold up the others.
                self.pending.push_back(fp);
                return;
            }
        }
    }

    /// Writes again what the store failed to keep.
    fn save_unsaved(&mut self) {
        let states: Vec<(String, NotificationState)> = self.unsaved_states.drain().collect();
        for (fp, state) in states {
            if self
                .call_store(|store| store.set_notification(&fp, &state))
                .is_err()
            {
                self.unsaved_states.insert(fp, state);
            }
        }
        let tickets: Vec<(String, String)> = self.unsaved_tickets.drain().collect();
        for (fp, ticket) in tickets {
            if self
                .call_store(|store| store.set_ticket(&fp, &ticket))
                .is_err()
            {
                self.unsaved_tickets.insert(fp, ticket);
            }
        }
    }

    /// The error as stored, with what this process sent but could not store merged in;
    /// `Err` when the store failed (the caller waits and tries again).
    fn load(&mut self, fp: &str) -> Result<Option<ErrorGroup>, ()> {
        match self.call_store(|store| store.get(fp)) {
            Ok(Some(mut group)) => {
                if let Some(state) = self.unsaved_states.get(fp) {
                    group.notification.merge(state);
                }
                if group.ticket.is_none() {
                    group.ticket = self.unsaved_tickets.get(fp).cloned();
                }
                Ok(Some(group))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.back_off(format!("cannot read an error to notify: {err}"));
                Err(())
            }
        }
    }

    /// Records that a notification about `group` was sent now.
    fn remember_sent(&mut self, group: &ErrorGroup, now: OffsetDateTime) {
        let fp = &group.summary.fingerprint;
        let state = self.policy.after_send(group, &group.notification, now);
        if let Err(err) = self.call_store(|store| store.set_notification(fp, &state)) {
            self.note_error(format!("cannot store what was notified: {err}"));
            self.unsaved_states.insert(fp.clone(), state);
        }
    }

    /// Looks at one error: files its ticket, sends what is due. False when a failure asks
    /// to wait and try it again.
    fn process(&mut self, fp: &str) -> bool {
        let Ok(group) = self.load(fp) else {
            return false;
        };
        let Some(mut group) = group else {
            // Deleted meanwhile.
            return true;
        };
        if self.ticketing.is_some()
            && group.ticket.is_none()
            && group.summary.status == Status::Unresolved
        {
            self.file_ticket(&mut group);
        }
        let Some(notifier) = self.notifier.clone() else {
            return true;
        };
        let now = OffsetDateTime::now_utc();
        match self.policy.decide(&group, &group.notification, now) {
            Decision::Nothing => true,
            Decision::Wait(_, until) => {
                self.defer(fp.to_owned(), until);
                self.shared.stats.lock().deferred += 1;
                true
            }
            Decision::Send(reason) => {
                if self.rejected.get(fp) == Some(&reason) {
                    return true;
                }
                if self.window.used >= self.policy.max_per_window || !self.take_slot(fp, now) {
                    // The digest comes at the end of the window, which begins here if this
                    // process has sent nothing in it (the shared cap was reached by others).
                    self.window.begin(now);
                    if self.held_set.insert(fp.to_owned()) {
                        self.held.push(fp.to_owned());
                        self.shared.stats.lock().held_back += 1;
                    }
                    return true;
                }
                let notice = Notification::Error(Box::new(ErrorNotice {
                    reason,
                    error: group,
                }));
                match self.send(notifier.as_ref(), &notice) {
                    Ok(()) => {
                        self.slots.remove(fp);
                        let Notification::Error(notice) = notice else {
                            return true;
                        };
                        self.window.count(now);
                        self.shared.stats.lock().sent += 1;
                        self.remember_sent(&notice.error, now);
                        true
                    }
                    Err(NotifyError::Rejected(_)) => {
                        self.slots.remove(fp);
                        self.rejected.insert(fp.to_owned(), reason);
                        true
                    }
                    // Retried later, with the slot already taken.
                    Err(_) => false,
                }
            }
        }
    }

    /// Looks at `fp` again at `when`, or earlier if it is due earlier already.
    fn defer(&mut self, fp: String, when: OffsetDateTime) {
        let entry = self.deferred.entry(fp).or_insert(when);
        *entry = (*entry).min(when);
    }

    /// Takes a notification for `fp` from the cap the store shares between processes, unless
    /// one was taken for it already (a send that failed and is tried again). A store without
    /// a shared cap, or one that fails, leaves only this process's own cap.
    fn take_slot(&mut self, fp: &str, now: OffsetDateTime) -> bool {
        if self.slots.contains(fp) {
            return true;
        }
        let (window, cap) = (self.policy.window, self.policy.max_per_window);
        match self.call_store(|store| store.take_notification_slot(now, window, cap)) {
            Ok(Some(false)) => false,
            Ok(Some(true)) => {
                self.slots.insert(fp.to_owned());
                true
            }
            Ok(None) => true,
            Err(err) => {
                self.note_error(format!("cannot read the shared notification cap: {err}"));
                true
            }
        }
    }

    /// Sends one notification, guarded; failures are counted and start the back-off.
    fn send(
        &mut self,
        notifier: &dyn Notifier,
        notification: &Notification,
    ) -> Result<(), NotifyError> {
        let result = match catch_unwind(AssertUnwindSafe(|| notifier.notify(notification))) {
            Ok(result) => result,
            Err(_) => {
                self.shared.hook_panics.fetch_add(1, Ordering::Relaxed);
                Err(NotifyError::Unavailable("the notifier panicked".to_owned()))
            }
        };
        match &result {
            Ok(()) => self.failures = 0,
            Err(NotifyError::Rejected(message)) => {
                let mut stats = self.shared.stats.lock();
                stats.failures += 1;
                stats.rejected += 1;
                stats.last_error = Some(format!("notification rejected: {message}"));
            }
            Err(err) => {
                self.shared.stats.lock().failures += 1;
                self.back_off(err.to_string());
            }
        }
        result
    }

    /// Files the ticket of `group`, guarded; a failure is retried with back-off.
    fn file_ticket(&mut self, group: &mut ErrorGroup) {
        let Some(ticketing) = self.ticketing.clone() else {
            return;
        };
        let fp = group.summary.fingerprint.clone();
        if let Some((_, when)) = self.ticket_retry.get(&fp)
            && *when > Instant::now()
        {
            return;
        }
        if self.ticket_window.is_over(self.policy.window) {
            self.ticket_window = CapWindow::default();
        }
        if let Some((_, wall)) = self.ticket_window.start
            && self.ticket_window.used >= self.policy.max_tickets_per_window
        {
            // Looked at again when the window ends, like a cooldown.
            let window =
                time::Duration::try_from(self.policy.window).unwrap_or(time::Duration::HOUR);
            self.defer(fp, wall + window);
            self.shared.stats.lock().tickets_held_back += 1;
            return;
        }
        let result = match catch_unwind(AssertUnwindSafe(|| ticketing.create_ticket(group))) {
            Ok(result) => result.map_err(|err| err.to_string()),
            Err(_) => {
                self.shared.hook_panics.fetch_add(1, Ordering::Relaxed);
                Err("the ticketing panicked".to_owned())
            }
        };
        match result {
            Ok(reference) => {
                self.ticket_retry.remove(&fp);
                self.ticket_window.count(OffsetDateTime::now_utc());
                self.shared.stats.lock().tickets += 1;
                if let Err(err) = self.call_store(|store| store.set_ticket(&fp, &reference)) {
                    self.note_error(format!("cannot store the ticket of {fp}: {err}"));
                    self.unsaved_tickets.insert(fp, reference.clone());
                }
                group.ticket = Some(reference);
            }
            Err(error) => {
                let failures = self.ticket_retry.get(&fp).map_or(0, |(n, _)| *n) + 1;
                let wait = self.policy.backoff(failures);
                self.ticket_retry
                    .insert(fp.clone(), (failures, Instant::now() + wait));
                let when = OffsetDateTime::now_utc()
                    + time::Duration::try_from(wait).unwrap_or(time::Duration::MINUTE);
                self.defer(fp, when);
                let mut stats = self.shared.stats.lock();
                stats.ticket_failures += 1;
                stats.last_error = Some(format!("cannot file a ticket: {error}"));
            }
        }
    }

    /// Sends the digest of what the cap held back; false when it must be tried again.
    fn send_digest(&mut self) -> bool {
        let Some(notifier) = self.notifier.clone() else {
            return true;
        };
        let mut due = Vec::new();
        for fp in self.held.clone() {
            let Ok(group) = self.load(&fp) else {
                return false;
            };
            if let Some(mut group) = group
                && let Some(reason) = self.policy.due(&group, &group.notification)
            {
                // The digest lists summaries; the samples need not stay in memory.
                group.samples = Vec::new();
                due.push((reason, group));
            }
        }
        if !due.is_empty() {
            let window_start = self
                .window
                .start
                .map_or_else(OffsetDateTime::now_utc, |(_, wall)| wall);
            let digest = Notification::Digest(DigestNotice {
                errors: due
                    .iter()
                    .take(DigestNotice::LISTED)
                    .map(|(reason, group)| (*reason, group.summary.clone()))
                    .collect(),
                held_back: due.len() as u64,
                cap: self.policy.max_per_window,
                window_start,
            });
            match self.send(notifier.as_ref(), &digest) {
                Ok(()) => {
                    let now = OffsetDateTime::now_utc();
                    let states: Vec<(String, NotificationState)> = due
                        .iter()
                        .map(|(_, group)| {
                            let state = self.policy.after_send(group, &group.notification, now);
                            (group.summary.fingerprint.clone(), state)
                        })
                        .collect();
                    if let Err(err) = self.call_store(|store| store.set_notifications(&states)) {
                        self.note_error(format!("cannot store what was notified: {err}"));
                        self.unsaved_states.extend(states);
                    }
                    // Counted once the errors are marked, so that whoever sees the count
                    // also sees them notified.
                    self.shared.stats.lock().digests += 1;
                }
                Err(NotifyError::Rejected(_)) => {}
                Err(_) => return false,
            }
        }
        self.held.clear();
        self.held_set.clear();
        true
    }
}
