//! Keeping a long-lived file bounded: expiring old errors, capping their number, pruning the
//! histogram. Runs inside one write transaction; compaction is the caller's, after the commit.

use time::OffsetDateTime;

use super::RedbOptions;
use super::error::Fail;
use super::layout::{MAINTAINED_AT_KEY, TOTAL_KEY, hour_of, to_nanos};
use super::write::Tables;

/// How often [`crate::Store::record`] runs maintenance, across every process sharing the file.
pub(super) const INTERVAL_SECS: u64 = 3600;

/// What [`RedbStore::maintain`](super::RedbStore::maintain) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Errors deleted because they were not seen within [`RedbOptions::retention`].
    pub expired: u64,
    /// Least recently seen errors deleted to keep at most [`RedbOptions::max_errors`].
    pub evicted: u64,
    /// Histogram rows (one error's count in one hour) deleted because they were older than
    /// [`RedbOptions::histogram_window`].
    pub pruned_hours: u64,
    /// Whether the file was compacted afterwards.
    pub compaction: Compaction,
}

/// Whether maintenance compacted the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Compaction {
    /// Too little was deleted for compaction to be worth its cost.
    #[default]
    NotNeeded,
    /// The file was compacted; the flag is redb's "something was moved" answer.
    Done(bool),
    /// Compaction was attempted and failed (for example because another process was reading
    /// the file). Nothing is lost: the file keeps its size and is used as before.
    Failed(String),
}

/// Deletes what the options no longer keep; returns the report (without compaction) and the
/// number of errors there were before.
pub(super) fn sweep(
    tables: &mut Tables<'_>,
    options: &RedbOptions,
    now: OffsetDateTime,
) -> Result<(MaintenanceReport, u64), Fail> {
    let total_before = tables.meta_value(TOTAL_KEY)?;
    let cutoff = now
        .checked_sub(options.retention)
        .map_or(i64::MIN, to_nanos);
    let expired = tables.seen_before(cutoff)?;
    let expired = tables.delete_all(&expired)?;
    let remaining = total_before.saturating_sub(expired);
    let evicted = match remaining.checked_sub(options.max_errors) {
        Some(excess) if excess > 0 => {
            let oldest = tables.least_recent(excess)?;
            tables.delete_all(&oldest)?
        }
        _ => 0,
    };
    let window_start = now
        .checked_sub(options.histogram_window)
        .map_or(i64::MIN, to_nanos);
    let pruned_hours = tables.prune_hours_before(hour_of(window_start))?;
    stamp(tables, now)?;
    Ok((
        MaintenanceReport {
            expired,
            evicted,
            pruned_hours,
            compaction: Compaction::NotNeeded,
        },
        total_before,
    ))
}

/// Records that maintenance ran at `now`. The stamp never moves back, so that maintaining
/// with a past `now` (as tests do) cannot make the next run due early.
fn stamp(tables: &mut Tables<'_>, now: OffsetDateTime) -> Result<(), Fail> {
    let now = unix_secs(now);
    if tables.meta_value(MAINTAINED_AT_KEY)? < now {
        tables.meta().insert(MAINTAINED_AT_KEY, now)?;
    }
    Ok(())
}

/// True when maintenance is due; then also stamps it, in the caller's transaction, so that of
/// several processes recording at once only one runs it.
pub(super) fn claim(tables: &mut Tables<'_>, now: OffsetDateTime) -> Result<bool, Fail> {
    let last = tables.meta_value(MAINTAINED_AT_KEY)?;
    if unix_secs(now) < last.saturating_add(INTERVAL_SECS) {
        return Ok(false);
    }
    stamp(tables, now)?;
    Ok(true)
}

/// True when a sweep deleted enough for compaction to pay: a tenth of the errors and at least
/// a thousand.
pub(super) fn worth_compacting(report: &MaintenanceReport, total_before: u64) -> bool {
    let deleted = report.expired + report.evicted;
    deleted >= 1_000 && deleted.saturating_mul(10) >= total_before
}

fn unix_secs(time: OffsetDateTime) -> u64 {
    u64::try_from(time.unix_timestamp()).unwrap_or(0)
}
