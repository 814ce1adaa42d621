//! The file layout: table definitions and the encodings of keys and values.
//!
//! Times are stored as Unix nanoseconds in an `i64` (years 1677 to 2262; later or earlier
//! times are clamped, which only matters for ordering and never for counts). Index keys
//! carry an inverted time so that ascending iteration, the cheap direction, is newest first.

use ::redb::TableDefinition;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::occurrence::{Level, Location};
use crate::store::{ErrorSummary, Status};

/// Schema version, total and per-status group counts, and the time of the last maintenance.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// fingerprint -> JSON of [`GroupInfo`], written once when the group is created.
pub(super) const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// fingerprint -> [`Counters`], the part of a group that changes.
pub(super) const COUNTERS: TableDefinition<&str, CountersRow> = TableDefinition::new("counters");
/// (inverted last seen, fingerprint): every group, newest first.
pub(super) const BY_RECENT: TableDefinition<(u64, &str), ()> = TableDefinition::new("by_recent");
/// (status, inverted last seen, fingerprint): every group, by status then newest first.
pub(super) const BY_STATUS: TableDefinition<(u8, u64, &str), ()> =
    TableDefinition::new("by_status");
/// (fingerprint, time, occurrence id) -> JSON of the occurrence: the kept samples.
pub(super) const SAMPLES: TableDefinition<(&str, i64, u128), &[u8]> =
    TableDefinition::new("samples");
/// (fingerprint, hour since the epoch) -> occurrences counted in that hour.
pub(super) const HOURLY: TableDefinition<(&str, u32), u64> = TableDefinition::new("hourly");
/// (hour, fingerprint): the `hourly` rows by age, so that pruning old hours costs what it
/// removes instead of a scan of every histogram.
pub(super) const HOURS: TableDefinition<(u32, &str), ()> = TableDefinition::new("hourly_by_hour");

/// Names of every table above: a file holding other tables is not ours.
pub(super) const TABLE_NAMES: [&str; 8] = [
    "meta",
    "groups",
    "counters",
    "by_recent",
    "by_status",
    "samples",
    "hourly",
    "hourly_by_hour",
];

/// `meta` keys.
pub(super) const SCHEMA_VERSION_KEY: &str = "schema_version";
pub(super) const TOTAL_KEY: &str = "groups";
pub(super) const MAINTAINED_AT_KEY: &str = "maintained_at";

/// The `meta` key counting groups with `status`.
pub(super) fn status_key(status: Status) -> &'static str {
    match status {
        Status::Unresolved => "groups.unresolved",
        Status::Resolved => "groups.resolved",
        Status::Ignored => "groups.ignored",
    }
}

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// `time` counts nanoseconds in an `i128`; the file keeps an `i64`, clamped.
pub(super) fn to_nanos(time: OffsetDateTime) -> i64 {
    time.unix_timestamp_nanos()
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

pub(super) fn from_nanos(nanos: i64) -> OffsetDateTime {
    // Every i64 of nanoseconds lies within the years `time` supports (about ±292 years
    // around 1970), so the fallback is never taken.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Index key for a last-seen time: larger for older times, so that ascending order is newest
/// first. Flipping the sign bit maps i64 order onto u64 order.
pub(super) fn recent_key(nanos: i64) -> u64 {
    u64::MAX - ((nanos as u64) ^ (1 << 63))
}

/// The hour (since the epoch) a time falls in; times before 1970 count in hour 0.
pub(super) fn hour_of(nanos: i64) -> u32 {
    nanos
        .div_euclid(NANOS_PER_HOUR)
        .clamp(0, i64::from(u32::MAX)) as u32
}

/// When `hour` starts.
pub(super) fn hour_start(hour: u32) -> OffsetDateTime {
    from_nanos(i64::from(hour).saturating_mul(NANOS_PER_HOUR))
}

/// (count, first seen, last seen, status, regressed, dropped samples): fixed width, so that
/// updating a group never re-encodes anything variable.
pub(super) type CountersRow = (u64, i64, i64, u8, u8, u64);

/// The changing part of a group, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Counters {
    pub count: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub status: Status,
    pub regressed: bool,
    pub dropped_samples: u64,
}

pub(super) fn status_code(status: Status) -> u8 {
    match status {
        Status::Unresolved => 0,
        Status::Resolved => 1,
        Status::Ignored => 2,
    }
}

/// The status a stored code stands for; `None` for a code no version ever wrote.
pub(super) fn status_from_code(code: u8) -> Option<Status> {
    match code {
        0 => Some(Status::Unresolved),
        1 => Some(Status::Resolved),
        2 => Some(Status::Ignored),
        _ => None,
    }
}

impl Counters {
    pub fn to_row(self) -> CountersRow {
        (
            self.count,
            self.first_seen,
            self.last_seen,
            status_code(self.status),
            u8::from(self.regressed),
            self.dropped_samples,
        )
    }

    /// `None` when the status code is unknown (a damaged row).
    pub fn from_row(row: CountersRow) -> Option<Self> {
        let (count, first_seen, last_seen, status, regressed, dropped_samples) = row;
        Some(Counters {
            count,
            first_seen,
            last_seen,
            status: status_from_code(status)?,
            regressed: regressed != 0,
            dropped_samples,
        })
    }
}

/// The part of a group that never changes once created, as written in `groups`.
#[derive(Serialize)]
pub(super) struct GroupInfoRef<'a> {
    pub kind: &'a str,
    pub message: &'a str,
    pub level: Level,
    pub location: &'a Location,
    pub grouping_version: u32,
}

/// [`GroupInfoRef`], read back.
#[derive(Deserialize)]
pub(super) struct GroupInfo {
    pub kind: String,
    pub message: String,
    pub level: Level,
    pub location: Location,
    pub grouping_version: u32,
}

impl GroupInfo {
    pub fn into_summary(self, fingerprint: &str, counters: Counters) -> ErrorSummary {
        ErrorSummary {
            fingerprint: fingerprint.to_owned(),
            grouping_version: self.grouping_version,
            kind: self.kind,
            message: self.message,
            level: self.level,
            location: self.location,
            count: counters.count,
            first_seen: from_nanos(counters.first_seen),
            last_seen: from_nanos(counters.last_seen),
            status: counters.status,
            regressed: counters.regressed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keys_order_newest_first_across_the_epoch() {
        let times = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for pair in times.windows(2) {
            assert!(recent_key(pair[0]) > recent_key(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn far_times_are_clamped_not_wrapped() {
        let far = OffsetDateTime::from_unix_timestamp(200_000_000_000).unwrap();
        assert_eq!(to_nanos(far), i64::MAX);
        assert!(from_nanos(i64::MAX).year() == 2262);
        assert_eq!(hour_of(-1), 0);
        assert_eq!(hour_of(NANOS_PER_HOUR * 5 + 1), 5);
        assert_eq!(to_nanos(hour_start(5)), NANOS_PER_HOUR * 5);
    }

    #[test]
    fn counters_round_trip_and_reject_unknown_status() {
        let counters = Counters {
            count: 3,
            first_seen: -2,
            last_seen: 9,
            status: Status::Ignored,
            regressed: true,
            dropped_samples: 4,
        };
        assert_eq!(Counters::from_row(counters.to_row()), Some(counters));
        assert_eq!(Counters::from_row((1, 0, 0, 9, 0, 0)), None);
    }
}
