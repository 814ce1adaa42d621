//! The persistent [`Store`]: error groups in a redb file (see [`RedbStore`]).

mod error;
mod layout;
mod maintain;
mod notify;
mod read;
mod schema;
mod write;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ::redb::{Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase};
use parking_lot::{Mutex, RwLock, RwLockWriteGuard};
use time::OffsetDateTime;

use self::error::{Fail, map_err};
use self::read::Reader;
use self::write::{Tables, encode_batch, sample_json};
use super::{
    ErrorGroup, ErrorSummary, GroupUpdate, ListQuery, NotificationState, Page, RecordOutcome,
    Status, StatusCounts, Store, StoreError,
};

pub use self::maintain::{Compaction, MaintenanceReport};

/// redb caches up to 1 GiB by default; the tracker lives inside someone else's process and
/// reads little more than the newest pages, so it keeps its cache small.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// With [`Durability::Eventual`], the longest time between two durable commits.
const EVENTUAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);
/// Samples in a batch from which their JSON is encoded on a helper thread; below it, a
/// thread costs more than it saves.
const PARALLEL_ENCODING_MIN: usize = 256;

/// When a committed batch reaches the disk (`store.durability`: `immediate` or `eventual`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is on disk before [`Store::record`] returns: a crash loses nothing that
    /// was recorded. The file is shared: other processes may write and read it at the same
    /// time.
    #[default]
    Immediate,
    /// Commits are cheaper and reach the disk later: a commit is made durable when a later
    /// one comes a second or more after the last durable commit, and when the store is
    /// closed. A crash or a kill may lose the commits since the last durable one (with few
    /// errors, that can be more than a second's worth), never the file's consistency.
    ///
    /// redb refuses non-durable commits on a file shared between processes, so with this
    /// setting the store opens the file *exclusively*: while it is open, no other process
    /// (another instance, the CLI, a viewer) can open it, and they get
    /// [`StoreError::Unavailable`].
    Eventual,
}

/// Settings of a [`RedbStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedbOptions {
    /// When a committed batch reaches the disk (default [`Durability::Immediate`]).
    pub durability: Durability,
    /// Errors not seen for this long are deleted by maintenance (default 90 days).
    pub retention: time::Duration,
    /// Most errors kept; maintenance deletes the least recently seen beyond it
    /// (default 100,000).
    pub max_errors: u64,
    /// How far back the hourly histogram goes (default 30 days); older hours are pruned by
    /// maintenance.
    pub histogram_window: time::Duration,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            durability: Durability::Immediate,
            retention: time::Duration::days(90),
            max_errors: 100_000,
            histogram_window: time::Duration::days(30),
        }
    }
}

impl RedbOptions {
    /// Checks that the durations are positive and `max_errors` is at least 1.
    pub fn validate(&self) -> Result<(), StoreError> {
        let positive = |name: &str, value: time::Duration| {
            if value.is_positive() {
                Ok(())
            } else {
                Err(StoreError::InvalidInput(format!(
                    "{name} must be positive (got {value})"
                )))
            }
        };
        positive("retention", self.retention)?;
        positive("histogram_window", self.histogram_window)?;
        if self.max_errors == 0 {
            return Err(StoreError::InvalidInput(
                "max_errors must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    fn concurrency_mode(&self) -> ConcurrencyMode {
        match self.durability {
            Durability::Immediate => ConcurrencyMode::MultiWriter,
            Durability::Eventual => ConcurrencyMode::ExclusiveWriter,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
}

impl Handle {
    fn begin_read(&self) -> Result<::redb::ReadTransaction, ::redb::TransactionError> {
        match self {
            Handle::Write(db) => db.begin_read(),
            Handle::Read(db) => db.begin_read(),
        }
    }
}

/// Error groups in a redb file, shared by the processes of a service, its CLI and its viewers.
///
/// The file is opened in redb's multi-writer mode (with the default
/// [`Durability::Immediate`]): several processes may write it, one write transaction at a
/// time, while others read it. Each [`Store::record`] batch is one write transaction that adds
/// counts in place, so concurrent writers never lose an occurrence. Listing walks an index kept
/// in last-seen order and costs the page it returns, not the number of errors; a search text
/// is the exception (see [`Store::list`] below).
///
/// ```
/// use error_tracker::store::RedbStore;
/// use error_tracker::{ListQuery, Store};
///
/// let dir = tempfile::tempdir()?;
/// let store = RedbStore::open(dir.path().join("errors.redb"))?;
/// assert_eq!(store.list(&ListQuery::page(1, 10))?.total, 0);
/// let viewer = RedbStore::open_read_only(store.path())?;
/// assert!(viewer.get("unknown")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The file's tables (times are Unix nanoseconds; "inverted" times sort newest first):
///
/// | table | key | value |
/// |---|---|---|
/// | `meta` | name | `schema_version`, group counts in all and per status, last maintenance, hour the histogram was pruned before, the shared notification window and how many were taken in it |
/// | `groups` | (fingerprint, 0, 0, 0) | binary: count, first and last seen, status, regressed, dropped samples, newest hour and its count, (time, id) of each kept sample, then what never changes: kind, message, level, location, grouping version |
/// | `groups` | (fingerprint, 2, hour, 0) | occurrences in that hour, for every hour but the newest |
/// | `groups` | (fingerprint, 3, 0, 0) | JSON of what was notified about it (absent: nothing) |
/// | `groups` | (fingerprint, 4, 0, 0) | the reference of its ticket, UTF-8 (absent: none) |
/// | `groups` | (fingerprint, 5, 0, 0) | how many times it regressed (absent: never) |
/// | `by_recent` | (inverted last seen, fingerprint) | — |
/// | `by_status` | (status, inverted last seen, fingerprint) | — |
/// | `sample_data` | (time, occurrence id, fingerprint) | JSON of the occurrence |
/// | `hours` | (hour, fingerprint) | — |
///
/// A new error costs four B-tree inserts: its row, one entry in each index and its sample. A
/// group's rows share one table so that they sit on the same pages: recording an error
/// rewrites one or two pages of `groups`, plus the ends of the indexes and of `sample_data`.
///
/// Maintenance (expiry, the cap on errors, histogram pruning, compaction) runs from
/// [`Store::record`] at most once an hour across all processes, or when
/// [`RedbStore::maintain`] is called.
pub struct RedbStore {
    path: PathBuf,
    options: RedbOptions,
    access: Access,
    /// `None` until the file is opened, and again after an error that needs a reopen. The
    /// write lock is taken only to open and to compact, which needs `&mut Database`.
    db: RwLock<Option<Handle>>,
    /// With [`Durability::Eventual`]: when the last durable commit was made.
    last_durable: Mutex<Instant>,
    /// The identity (device, inode) of the file the open handle writes, to notice when the
    /// path stops naming it: deleted or replaced while open, writes would go to a file nobody
    /// can read any more.
    identity: Mutex<Option<FileIdentity>>,
    /// See [`RedbStore::recreated`].
    replaced: std::sync::atomic::AtomicU64,
}

/// What tells two files apart: device and inode where there are such things.
type FileIdentity = (u64, u64);

/// The identity of the file at `path` now; `None` when there is none (or on platforms
/// without inodes, where the check is skipped).
fn file_identity(path: &Path) -> Option<FileIdentity> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("read_only", &(self.access == Access::ReadOnly))
            .field("open", &self.db.read().is_some())
            .finish()
    }
}

impl RedbStore {
    /// The version of the file layout this build reads and writes. Older files are migrated
    /// when opened read-write; newer ones are refused with [`StoreError::IncompatibleSchema`].
    pub const SCHEMA_VERSION: u64 = schema::SCHEMA_VERSION;

    /// Opens the store at `path` for reading and writing with the default options, creating
    /// the file (not its directory) if it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Like [`RedbStore::open`], with `options`.
    ///
    /// An empty file is taken as a new store. Fails with [`StoreError::Unavailable`] when the
    /// file is locked or its directory is missing, [`StoreError::Corrupt`] when it is not a
    /// readable redb file of this store, [`StoreError::IncompatibleSchema`] when a newer
    /// release wrote it.
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self, StoreError> {
        let store = Self::open_lazy(path, options);
        store.with_handle(|_| Ok(()))?;
        Ok(store)
    }

    /// A store that opens `path` on first use instead of now, and never fails to be created.
    ///
    /// While the file cannot be opened (locked by another process, missing directory,
    /// damaged), every operation tries again and returns the error that stopped it. The
    /// tracker uses this so that a bad file never stops the application: its worker keeps
    /// failed batches and retries.
    ///
    /// Before each write the store checks that the path still names the file it has open:
    /// one deleted (or replaced) while the application runs would take every later error
    /// with it. It then closes its handle, creates a new store at the path and fails that
    /// write once with [`StoreError::Unavailable`] saying so, which the tracker counts in
    /// `store_failures` and retries into the new file; [`RedbStore::recreated`] counts how
    /// often.
    pub fn open_lazy(path: impl AsRef<Path>, options: RedbOptions) -> Self {
        RedbStore {
            path: path.as_ref().to_owned(),
            options,
            access: Access::ReadWrite,
            db: RwLock::new(None),
            last_durable: Mutex::new(Instant::now()),
            identity: Mutex::new(None),
            replaced: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Opens an existing store for reading only, beside the processes writing it: a viewer or
    /// a CLI sees their commits as they are made. Write methods fail with
    /// [`StoreError::InvalidInput`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let store = RedbStore {
            access: Access::ReadOnly,
            ..Self::open_lazy(path, RedbOptions::default())
        };
        store.with_handle(|_| Ok(()))?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &RedbOptions {
        &self.options
    }

    /// Deletes errors not seen within the retention period, then the least recently seen
    /// beyond `max_errors`, prunes histogram hours older than the histogram window (all
    /// relative to `now`), and compacts the file when that deleted at least a tenth of the
    /// errors and at least 1,000. A failed compaction is reported in the result, not as an
    /// error.
    pub fn maintain(&self, now: OffsetDateTime) -> Result<MaintenanceReport, StoreError> {
        let (mut report, total_before) =
            self.write(|tables| maintain::sweep(tables, &self.options, now))?;
        if maintain::worth_compacting(&report, total_before) {
            report.compaction = self.compact();
        }
        Ok(report)
    }

    fn compact(&self) -> Compaction {
        let mut guard = self.db.write();
        match guard.as_mut() {
            Some(Handle::Write(db)) => match db.compact() {
                Ok(moved) => Compaction::Done(moved),
                Err(err) => Compaction::Failed(map_err(&self.path, err).to_string()),
            },
            _ => Compaction::Failed(format!("{} is not open for writing", self.path.display())),
        }
    }

    fn open_handle(&self) -> Result<Handle, StoreError> {
        self.options.validate()?;
        let path = self.path.as_path();
        let opened = catch_unwind(AssertUnwindSafe(|| -> Result<Handle, Fail> {
            let mut builder = Builder::new();
            builder
                .set_concurrency_mode(self.options.concurrency_mode())
                .set_cache_size(CACHE_BYTES);
            match self.access {
                Access::ReadWrite => {
                    let db = builder.create(path)?;
                    schema::prepare(&db, path, OffsetDateTime::now_utc())?;
                    *self.identity.lock() = file_identity(path);
                    Ok(Handle::Write(db))
                }
                Access::ReadOnly => {
                    let db = match builder.open_read_only(path) {
                        Err(::redb::DatabaseError::RepairAborted) => {
                            // Left unclean by a process that ended without closing it (a
                            // crash, or an application whose tracker is installed for good)
                            // and held by no writer now: a read-write open repairs it, and
                            // closing that handle marks the file clean for this reader.
                            drop(builder.open(path)?);
                            builder.open_read_only(path)?
                        }
                        other => other?,
                    };
                    schema::check_readable(&db, path)?;
                    Ok(Handle::Read(db))
                }
            }
        }));
        match opened {
            Ok(result) => result.map_err(|err| err.into_store_error(path)),
            // redb trusts the structure of a file it closed cleanly; one damaged behind its
            // back may make it panic. That must not take the application down.
            Err(_) => Err(StoreError::Corrupt(format!(
                "{}: redb failed while opening the file, which is probably damaged",
                path.display()
            ))),
        }
    }

    /// Runs `op` on the open database, opening it first if needed.
    fn with_handle<T>(&self, op: impl FnOnce(&Handle) -> Result<T, Fail>) -> Result<T, StoreError> {
        let mut guard = self.db.read();
        if guard.is_none() {
            drop(guard);
            let mut writer = self.db.write();
            if writer.is_none() {
                *writer = Some(self.open_handle()?);
            }
            guard = RwLockWriteGuard::downgrade(writer);
        }
        let Some(handle) = guard.as_ref() else {
            // Set just above, under the same lock.
            return Err(StoreError::Unavailable(format!(
                "{} could not be opened",
                self.path.display()
            )));
        };
        // redb trusts the pages it reads; a file damaged behind its back can make it panic
        // (an `unreachable!`, a UTF-8 unwrap) on any read. That is a damaged file to report,
        // not a reason to take down the application, the dashboard or the CLI.
        let result = catch_unwind(AssertUnwindSafe(|| op(handle))).unwrap_or_else(|_| {
            Err(Fail::Store(StoreError::Corrupt(format!(
                "{}: redb failed while reading the file, which is probably damaged",
                self.path.display()
            ))))
        });
        match result {
            Ok(value) => Ok(value),
            Err(fail) => {
                drop(guard);
                if fail.needs_reopen() || matches!(fail, Fail::Store(StoreError::Corrupt(_))) {
                    *self.db.write() = None;
                }
                Err(fail.into_store_error(&self.path))
            }
        }
    }

    fn read<T>(&self, op: impl FnOnce(&Reader) -> Result<T, Fail>) -> Result<T, StoreError> {
        self.with_handle(|handle| {
            let txn = handle.begin_read()?;
            op(&Reader::open(&txn)?)
        })
    }

    /// Closes the handle if the path no longer names the file it writes (deleted, or
    /// replaced by another file), so that the next open writes where readers look: a new
    /// store at the path. Returns whether it did.
    fn reopen_if_replaced(&self) -> bool {
        let Some(opened) = *self.identity.lock() else {
            return false;
        };
        if file_identity(&self.path) == Some(opened) {
            return false;
        }
        *self.db.write() = None;
        *self.identity.lock() = None;
        self.replaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// How many times the file was found deleted or replaced while open, and created again
    /// at its path (see [`RedbStore::open_lazy`]).
    pub fn recreated(&self) -> u64 {
        self.replaced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `op` in one write transaction and commits it.
    fn write<T>(
        &self,
        op: impl FnOnce(&mut Tables<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        if self.access == Access::ReadOnly {
            return Err(StoreError::InvalidInput(format!(
                "{} was opened read-only",
                self.path.display()
            )));
        }
        if self.reopen_if_replaced() {
            return Err(StoreError::Unavailable(format!(
                "{} was deleted or replaced while open; a new store is created there",
                self.path.display()
            )));
        }
        self.with_handle(|handle| {
            let Handle::Write(db) = handle else {
                return Err(Fail::Store(StoreError::InvalidInput(format!(
                    "{} was opened read-only",
                    self.path.display()
                ))));
            };
            let mut txn = db.begin_write()?;
            let durable = self.durable_commit();
            if !durable {
                txn.set_durability(::redb::Durability::None)?;
            }
            let value = {
                let mut tables = Tables::open(&txn)?;
                let value = op(&mut tables)?;
                tables.finish()?;
                value
            };
            txn.commit()?;
            if durable && self.options.durability == Durability::Eventual {
                *self.last_durable.lock() = Instant::now();
            }
            Ok(value)
        })
    }

    /// Whether the next commit must reach the disk before it returns.
    fn durable_commit(&self) -> bool {
        match self.options.durability {
            Durability::Immediate => true,
            Durability::Eventual => self.last_durable.lock().elapsed() >= EVENTUAL_FLUSH,
        }
    }
}

impl Store for RedbStore {
    /// One write transaction per batch. When maintenance is due (an hour after the last, in
    /// any process), it runs after the commit, in transactions of its own; a failure of it is
    /// not reported, since the batch is stored, and it is tried again an hour later.
    fn record(&self, batch: &[GroupUpdate]) -> Result<Vec<RecordOutcome>, StoreError> {
        let encoded = encode_batch(batch)?;
        if encoded.is_empty() {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        // Groups are keyed by fingerprint: taken in that order, a batch walks the `groups`
        // table from one end to the other instead of jumping about it, so each page is read
        // and copied once and stays in the CPU cache while it is being filled. The sort is
        // stable: updates of one fingerprint keep their order.
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by(|&a, &b| {
            encoded[a]
                .update
                .fingerprint
                .cmp(&encoded[b].update.fingerprint)
        });
        let samples: usize = batch.iter().map(|u| u.samples.len()).sum();
        let (outcomes, maintenance_due) = std::thread::scope(|scope| {
            // A large batch has its samples encoded as JSON on a helper thread while this one
            // writes the groups and indexes: on two cores that takes the encoding (about a
            // sixth of the work for new errors) off the writing thread. A small batch, or one
            // whose helper cannot be started, is encoded here, before anything is written.
            let helper = match samples >= PARALLEL_ENCODING_MIN {
                true => std::thread::Builder::new()
                    .name("error-tracker-encoder".to_owned())
                    .spawn_scoped(scope, || {
                        catch_unwind(AssertUnwindSafe(|| sample_json(batch))).unwrap_or_else(|_| {
                            Err(StoreError::InvalidInput(
                                "encoding the samples failed".to_owned(),
                            ))
                        })
                    })
                    .ok(),
                false => None,
            };
            let ready = match helper {
                Some(_) => None,
                None => Some(sample_json(batch)?),
            };
            self.write(|tables| {
                let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; encoded.len()];
                for &at in &order {
                    outcomes[at] = Some(tables.record(&encoded[at])?);
                }
                let json = match (ready, helper) {
                    (Some(json), _) => json,
                    (None, Some(helper)) => helper.join().unwrap_or_else(|_| {
                        Err(StoreError::InvalidInput(
                            "encoding the samples failed".to_owned(),
                        ))
                    })?,
                    (None, None) => sample_json(batch)?,
                };
                tables.insert_samples(&json)?;
                // Every slot was filled above: `order` is a permutation of the indices.
                let outcomes: Vec<RecordOutcome> = outcomes.into_iter().flatten().collect();
                Ok((outcomes, maintain::claim(tables, now)?))
            })
        })?;
        if maintenance_due {
            // The batch is committed: failing now would make the worker record it again.
            // A failed maintenance is retried an hour later.
            let _ = self.maintain(now);
        }
        Ok(outcomes)
    }

    /// One page. Without a search text, this reads the page's entries of an index and the
    /// total kept in the file: its cost does not grow with the number of errors. A search
    /// reads every error that passes the status filter.
    fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, StoreError> {
        query.validate()?;
        self.read(|reader| reader.list(query))
    }

    fn get(&self, fingerprint: &str) -> Result<Option<ErrorGroup>, StoreError> {
        self.read(|reader| reader.get(fingerprint))
    }

    /// Without a search text, the counts kept in the file; with one, one pass over every
    /// group (instead of one listing per status).
    fn status_counts(&self, search: Option<&str>) -> Result<StatusCounts, StoreError> {
        self.read(|reader| reader.status_counts(search))
    }

    fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError> {
        self.write(|tables| tables.set_status(fingerprint, status))
    }

    fn resolve_in(
        &self,
        fingerprint: &str,
        resolved_in: crate::ResolvedIn,
    ) -> Result<bool, StoreError> {
        self.write(|tables| tables.resolve_in(fingerprint, resolved_in.clone()))
    }

    fn set_notification(
        &self,
        fingerprint: &str,
        state: &NotificationState,
    ) -> Result<bool, StoreError> {
        self.write(|tables| {
            if tables.load_counters(fingerprint)?.is_none() {
                return Ok(false);
            }
            notify::merge_notification(tables.groups(), fingerprint, state)?;
            Ok(true)
        })
    }

    fn set_notifications(&self, states: &[(String, NotificationState)]) -> Result<u64, StoreError> {
        self.write(|tables| {
            let mut found = 0;
            for (fingerprint, state) in states {
                if tables.load_counters(fingerprint)?.is_some() {
                    notify::merge_notification(tables.groups(), fingerprint, state)?;
                    found += 1;
                }
            }
            Ok(found)
        })
    }

    /// One write transaction on `meta`, shared by every process that opens the file.
    fn take_notification_slot(
        &self,
        now: OffsetDateTime,
        window: std::time::Duration,
        cap: u32,
    ) -> Result<Option<bool>, StoreError> {
        self.write(|tables| {
            notify::take_slot(tables.meta(), now.unix_timestamp(), window, cap).map(Some)
        })
    }

    fn set_ticket(&self, fingerprint: &str, ticket: &str) -> Result<bool, StoreError> {
        self.write(|tables| {
            if tables.load_counters(fingerprint)?.is_none() {
                return Ok(false);
            }
            notify::set_ticket(tables.groups(), fingerprint, ticket)?;
            Ok(true)
        })
    }

    fn delete(&self, fingerprint: &str) -> Result<bool, StoreError> {
        self.write(|tables| tables.delete(fingerprint))
    }

    fn purge(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        self.write(|tables| {
            let old = tables.seen_before(layout::to_nanos(cutoff))?;
            tables.delete_all(&old)
        })
    }

    fn hourly_counts(
        &self,
        fingerprint: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, StoreError> {
        self.read(|reader| reader.hourly_counts(fingerprint, since))
    }
}
