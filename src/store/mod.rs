//! Storage of error groups: the [`Store`] trait (the seed's `APP_ERROR_DB_MODEL`) and its
//! shared types.
//!
//! The worker hands a store one batch of [`GroupUpdate`]s at a time: occurrences already
//! masked, fingerprinted and coalesced, so that a store adds counts instead of reading,
//! modifying and writing them back. That keeps counts exact even for a store shared by several
//! processes (a SQL `INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count`).

mod memory;
mod redb;

pub use self::memory::MemoryStore;
pub use self::redb::{Compaction, Durability, MaintenanceReport, RedbOptions, RedbStore};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::occurrence::{Level, Location, Occurrence};

/// What a user decided about an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New or seen again after being resolved: needs attention.
    #[default]
    Unresolved,
    /// Fixed; a new occurrence turns it back to unresolved (a regression).
    Resolved,
    /// Known and accepted: still counted, never notified.
    Ignored,
}

impl Status {
    /// The lower-case name (`"unresolved"`, `"resolved"`, `"ignored"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unresolved => "unresolved",
            Status::Resolved => "resolved",
            Status::Ignored => "ignored",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "unresolved" => Ok(Status::Unresolved),
            "resolved" => Ok(Status::Resolved),
            "ignored" => Ok(Status::Ignored),
            _ => Err(StoreError::InvalidInput(format!(
                "unknown status {s:?} (expected unresolved, resolved or ignored)"
            ))),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error group as listed: everything but the samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// The group's key (see [`crate::fingerprint`]).
    pub fingerprint: String,
    /// The grouping algorithm version that produced `fingerprint`.
    pub grouping_version: u32,
    /// What failed (error type name, `"panic"`, `"message"`, `"event"`).
    pub kind: String,
    /// The message of the first occurrence.
    pub message: String,
    /// The level of the first occurrence.
    pub level: Level,
    /// Where the first occurrence was raised.
    pub location: Location,
    /// Exact number of occurrences.
    pub count: u64,
    /// When it was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// When it was last seen.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// What a user decided about it.
    pub status: Status,
    /// True when it was seen again after being resolved (cleared when resolved again).
    pub regressed: bool,
    /// The release of its first occurrence, when releases are set.
    #[serde(default)]
    pub first_release: Option<String>,
    /// The newest release it was seen in (by version; see [`crate::ResolvedIn`]).
    #[serde(default)]
    pub last_release: Option<String>,
    /// For a resolved error, the releases whose occurrences reopen it
    /// ([`Store::resolve_in`]); `None` when any occurrence does.
    #[serde(default)]
    pub resolved_in: Option<crate::ResolvedIn>,
}

/// One error group with its most recent samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// The listed part.
    #[serde(flatten)]
    pub summary: ErrorSummary,
    /// The last occurrences with full context, oldest first (bounded, see
    /// [`crate::Builder::samples_per_error`]).
    pub samples: Vec<Occurrence>,
    /// How many occurrences were counted but not kept as samples.
    pub dropped_samples: u64,
    /// How many times it was seen again after being resolved.
    #[serde(default)]
    pub regressions: u64,
    /// What has been notified about it (see [`crate::notify`]).
    #[serde(default)]
    pub notification: NotificationState,
    /// The reference of the ticket filed for it (see [`crate::Ticketing`]).
    #[serde(default)]
    pub ticket: Option<String>,
}

/// What has been notified about one error, stored with it so that a restart neither loses
/// nor repeats a notification.
///
/// Every field only moves forward: [`NotificationState::merge`] keeps the larger of two
/// states field by field, which is what [`Store::set_notification`] does, so that two
/// processes sharing a store never turn the state back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationState {
    /// True once the error was announced as new (or in a digest).
    pub new_notified: bool,
    /// The highest occurrence milestone notified (0: none).
    pub milestone_notified: u64,
    /// How many of its regressions were notified.
    pub regressions_notified: u64,
    /// How many notifications about it were sent, digests included.
    pub sent: u64,
    /// When the last notification about it was sent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sent: Option<OffsetDateTime>,
}

impl NotificationState {
    /// Keeps the larger of each field of `self` and `other`.
    pub fn merge(&mut self, other: &NotificationState) {
        self.new_notified |= other.new_notified;
        self.milestone_notified = self.milestone_notified.max(other.milestone_notified);
        self.regressions_notified = self.regressions_notified.max(other.regressions_notified);
        self.sent = self.sent.max(other.sent);
        self.last_sent = self.last_sent.max(other.last_sent);
    }
}

/// New occurrences of one fingerprint, coalesced by the worker: what [`Store::record`] adds.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupUpdate {
    /// The group's key.
    pub fingerprint: String,
    /// The grouping algorithm version.
    pub grouping_version: u32,
    /// How many occurrences this update adds.
    pub count: u64,
    /// The earliest of them.
    pub first_seen: OffsetDateTime,
    /// The latest of them.
    pub last_seen: OffsetDateTime,
    /// The newest of them, oldest first, never empty; the first one describes a new group.
    pub samples: Vec<Occurrence>,
    /// How many of them were counted but are not in `samples`.
    pub dropped_samples: u64,
    /// How many samples the group keeps in all (the newest win).
    pub keep_samples: usize,
}

/// How [`Store::record`] changed one group: what the notification policy decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The group did not exist before.
    New,
    /// The group was resolved and occurred again; it is unresolved now.
    Regressed,
    /// The group existed and was not resolved.
    Repeated,
}

/// The result of recording one [`GroupUpdate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// The group's key.
    pub fingerprint: String,
    /// What happened to the group.
    pub change: Change,
    /// Its count before the update.
    pub previous_count: u64,
    /// Its count after the update.
    pub count: u64,
    /// Its status after the update.
    pub status: Status,
}

/// Which errors to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// 1-based page number.
    pub page: usize,
    /// Errors per page (the seed's "display 10 exceptions per page").
    pub page_size: usize,
    /// Only errors with this status.
    pub status: Option<Status>,
    /// Only errors whose kind or message contains this text (case-insensitive).
    pub search: Option<String>,
}

impl ListQuery {
    /// Page `page` (1-based) of `page_size` errors, unfiltered.
    pub fn page(page: usize, page_size: usize) -> Self {
        ListQuery {
            page,
            page_size,
            status: None,
            search: None,
        }
    }

    /// Keeps only errors with `status`.
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Keeps only errors whose kind or message contains `text` (case-insensitive).
    pub fn with_search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }

    /// True when `summary` passes the status and search filters.
    pub fn matches(&self, summary: &ErrorSummary) -> bool {
        if self.status.is_some_and(|s| s != summary.status) {
            return false;
        }
        match self.search.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(text) => {
                let needle = text.to_lowercase();
                summary.kind.to_lowercase().contains(&needle)
                    || summary.message.to_lowercase().contains(&needle)
            }
        }
    }

    /// Checks that page and page size are at least 1.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.page == 0 || self.page_size == 0 {
            return Err(StoreError::InvalidInput(format!(
                "page and page size start at 1 (got page {} of size {})",
                self.page, self.page_size
            )));
        }
        Ok(())
    }

    /// How many matching items come before this page.
    pub fn offset(&self) -> usize {
        (self.page.saturating_sub(1)).saturating_mul(self.page_size)
    }
}

/// One page of a listing, newest `last_seen` first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// This page's number (1-based).
    pub page: usize,
    /// The page size asked for.
    pub page_size: usize,
    /// How many items match the query in all.
    pub total: u64,
}

impl<T> Page<T> {
    /// True when a page comes after this one.
    pub fn has_next(&self) -> bool {
        (self.page as u64).saturating_mul(self.page_size as u64) < self.total
    }

    /// True when a page comes before this one.
    pub fn has_previous(&self) -> bool {
        self.page > 1
    }

    /// How many pages the listing has (at least 1, so an empty listing still has a page).
    pub fn page_count(&self) -> u64 {
        self.total.div_ceil(self.page_size.max(1) as u64).max(1)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing storage cannot be used right now (locked, unreachable, read-only).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The stored data cannot be read (damaged, truncated, or not a store of this crate).
    #[error("store data is corrupt or of an unknown format: {0}")]
    Corrupt(String),
    /// The stored data has a layout this build cannot read: written by a newer release, or
    /// an older layout opened read-only, which cannot migrate it.
    #[error(
        "the store has schema version {found}, but this build reads version {supported}; {}",
        schema_advice(*found, *supported)
    )]
    IncompatibleSchema {
        /// The version found in the store.
        found: u64,
        /// The version this build reads.
        supported: u64,
    },
    /// The request itself was wrong (page 0, unknown status, ...).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// An I/O error.
    #[error("store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other failure of a custom store.
    #[error("store error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What to do about a store of schema version `found` when this build reads `supported`.
fn schema_advice(found: u64, supported: u64) -> &'static str {
    if found > supported {
        "upgrade error-tracker to read it"
    } else {
        "open it once for writing (the application, or an error-tracker command that changes \
         it) to migrate it"
    }
}

/// How many groups have each status (see [`Store::status_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Groups that are unresolved.
    pub unresolved: u64,
    /// Groups that are resolved.
    pub resolved: u64,
    /// Groups that are ignored.
    pub ignored: u64,
}

impl StatusCounts {
    /// Every group counted, whatever its status.
    pub fn total(&self) -> u64 {
        self.unresolved + self.resolved + self.ignored
    }

    /// Counts one more group with `status`.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Unresolved => self.unresolved += 1,
            Status::Resolved => self.resolved += 1,
            Status::Ignored => self.ignored += 1,
        }
    }
}

/// Where error groups live (the seed's `APP_ERROR_DB_MODEL`, "must implement all abstract
/// methods").
///
/// Implementations must be cheap to share between the worker thread and readers, and must
/// add counts in [`Store::record`] rather than overwrite them, so that several writers never
/// lose an occurrence. The conformance checks in `tests/contract/mod.rs` (run by `tests/store_contract.rs`) describe the
/// contract in full.
pub trait Store: Send + Sync + 'static {
    /// Adds a batch of coalesced occurrences, creating groups as needed; one transaction per
    /// batch where the backend has transactions. Returns one outcome per update, in order.
    fn record(&self, batch: &[GroupUpdate]) -> Result<Vec<RecordOutcome>, StoreError>;

    /// One page of groups, newest `last_seen` first (ties: fingerprint order), filtered.
    fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, StoreError>;

    /// One group with its samples, or `None` for an unknown fingerprint.
    fn get(&self, fingerprint: &str) -> Result<Option<ErrorGroup>, StoreError>;

    /// Sets a group's status; `false` for an unknown fingerprint. Resolving clears `regressed`.
    /// Clears `resolved_in`: a plain resolve is reopened by any occurrence.
    fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError>;

    /// Resolves a group in a release: until then, [`Store::record`] leaves it resolved for
    /// occurrences that [`ResolvedIn::reopens`](crate::ResolvedIn::reopens) says do not reopen
    /// it (they are counted, the change is [`Change::Repeated`]), and reopens it, clearing
    /// `resolved_in`, for the others. `false` for an unknown fingerprint.
    fn resolve_in(
        &self,
        fingerprint: &str,
        resolved_in: crate::ResolvedIn,
    ) -> Result<bool, StoreError>;

    /// Deletes a group; `false` for an unknown fingerprint.
    fn delete(&self, fingerprint: &str) -> Result<bool, StoreError>;

    /// Deletes every group last seen before `cutoff`; returns how many were deleted.
    fn purge(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError>;

    /// How many occurrences of a group were recorded in each hour from the hour containing
    /// `since` on: (start of the hour, count), oldest first, hours without occurrences left
    /// out. Each [`GroupUpdate`]'s count is attributed to the hour of its `last_seen`. Empty
    /// for an unknown fingerprint.
    fn hourly_counts(
        &self,
        fingerprint: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, StoreError>;

    /// How many groups have each status, of those whose kind or message contains `search`
    /// (case-insensitive, as in [`ListQuery::search`]; every group without one). The
    /// dashboard's status tabs show these.
    ///
    /// The default asks [`Store::list`] once per status. The redb store answers from the
    /// counts it keeps without a search, and with one reads every group once.
    fn status_counts(&self, search: Option<&str>) -> Result<StatusCounts, StoreError> {
        let count = |status: Status| -> Result<u64, StoreError> {
            let query = ListQuery {
                page: 1,
                page_size: 1,
                status: Some(status),
                search: search.map(str::to_owned),
            };
            Ok(self.list(&query)?.total)
        };
        Ok(StatusCounts {
            unresolved: count(Status::Unresolved)?,
            resolved: count(Status::Resolved)?,
            ignored: count(Status::Ignored)?,
        })
    }

    /// Records what was notified about a group, merged into what is stored with
    /// [`NotificationState::merge`] (so the state never goes back); `false` for an unknown
    /// fingerprint.
    ///
    /// The default fails with [`StoreError::Unavailable`]: a store that does not keep the
    /// state still works, but the notifier then remembers what it sent only until the
    /// process ends.
    fn set_notification(
        &self,
        fingerprint: &str,
        state: &NotificationState,
    ) -> Result<bool, StoreError> {
        let _ = (fingerprint, state);
        Err(StoreError::Unavailable(
            "this store does not keep notification state".to_owned(),
        ))
    }

    /// [`Store::set_notification`] for many groups, in one transaction where the backend
    /// has them (a digest marks every error it lists); returns how many groups exist. The
    /// default calls [`Store::set_notification`] for each.
    fn set_notifications(&self, states: &[(String, NotificationState)]) -> Result<u64, StoreError> {
        let mut found = 0;
        for (fingerprint, state) in states {
            found += u64::from(self.set_notification(fingerprint, state)?);
        }
        Ok(found)
    }

    /// Takes one notification from a cap shared by every process that uses this store, so that
    /// several processes of one service together send no more than `cap` notifications per
    /// `window`: `Some(true)` when fewer than `cap` were taken in the current window (which
    /// begins with the first one taken after the previous window ended), `Some(false)` when
    /// the cap is reached.
    ///
    /// The default answers `None`: the store keeps no shared cap, and each process's notifier
    /// counts only its own notifications.
    fn take_notification_slot(
        &self,
        now: OffsetDateTime,
        window: std::time::Duration,
        cap: u32,
    ) -> Result<Option<bool>, StoreError> {
        let _ = (now, window, cap);
        Ok(None)
    }

    /// Stores the reference of the ticket filed for a group, replacing any earlier one;
    /// `false` for an unknown fingerprint. The default fails with
    /// [`StoreError::Unavailable`], like [`Store::set_notification`].
    fn set_ticket(&self, fingerprint: &str, ticket: &str) -> Result<bool, StoreError> {
        let _ = (fingerprint, ticket);
        Err(StoreError::Unavailable(
            "this store does not keep ticket references".to_owned(),
        ))
    }
}

/// Merges `new` samples into `samples`, keeping the newest `limit`, oldest first; returns how
/// many were left out. Shared by stores and the worker so that all bound samples alike.
pub fn merge_samples(
    samples: &mut Vec<Occurrence>,
    new: impl IntoIterator<Item = Occurrence>,
    limit: usize,
) -> u64 {
    samples.extend(new);
    samples.sort_by_key(|s| s.time);
    let excess = samples.len().saturating_sub(limit);
    samples.drain(..excess);
    excess as u64
}
