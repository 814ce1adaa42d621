//! The file layout: table definitions and the encodings of keys and values.
//!
//! Times are stored as Unix nanoseconds in an `i64` (years 1677 to 2262; later or earlier
//! times are clamped, which only matters for ordering and never for counts). Index keys
//! carry an inverted time so that ascending iteration is newest first.

use ::redb::TableDefinition;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::occurrence::{Level, Location};
use crate::store::{ErrorSummary, Status};

/// Schema version, total and per-status group counts, and the time of the last maintenance.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Every row of every group, keyed (fingerprint, row kind, a, b); see the `*_ROW` constants.
///
/// A group's rows sit next to each other, so recording one dirties one page or two. Separate
/// tables per kind (info, counters, samples, histogram) each dirtied a page per group: with
/// random fingerprints, a batch of 1,000 new errors among 100,000 wrote several times as many
/// pages and took about twice as long.
pub(super) const GROUPS: TableDefinition<GroupKey, &[u8]> = TableDefinition::new("groups");
/// (inverted last seen, fingerprint): every group, newest first.
pub(super) const BY_RECENT: TableDefinition<(u64, &str), ()> = TableDefinition::new("by_recent");
/// (status, inverted last seen, fingerprint): every group, by status then newest first.
pub(super) const BY_STATUS: TableDefinition<(u8, u64, &str), ()> =
    TableDefinition::new("by_status");
/// (time, occurrence id, fingerprint) -> JSON of the occurrence. Keyed by time rather than by
/// group: new samples are the newest, so they are appended to a few pages at the end instead
/// of being written into one page per group all over the file (which made recording a batch
/// of known errors about twice as slow).
pub(super) const SAMPLE_DATA: TableDefinition<(i64, u128, &str), &[u8]> =
    TableDefinition::new("sample_data");
/// (hour, fingerprint): which groups have a histogram row for an hour, so that pruning old
/// hours costs what it removes instead of a scan of every group.
pub(super) const HOURS: TableDefinition<(u32, &str), ()> = TableDefinition::new("hours");

/// Names of every table above: a file holding other tables is not ours.
pub(super) const TABLE_NAMES: [&str; 6] = [
    "meta",
    "groups",
    "by_recent",
    "by_status",
    "sample_data",
    "hours",
];

/// A key of [`GROUPS`]: (fingerprint, row kind, a, b).
pub(super) type GroupKey = (&'static str, u8, i64, u128);

/// (fp, 0, 0, 0) -> [`Counters`], the part of a group that changes, with the keys of the
/// samples it keeps.
pub(super) const COUNTERS_ROW: u8 = 0;
/// (fp, 1, 0, 0) -> JSON of [`GroupInfo`], written once when the group is created.
pub(super) const INFO_ROW: u8 = 1;
/// (fp, 2, hour since the epoch, 0) -> occurrences in that hour, u64 little-endian.
pub(super) const HOUR_ROW: u8 = 2;

pub(super) fn row_key(fp: &str, kind: u8) -> (&str, u8, i64, u128) {
    (fp, kind, 0, 0)
}

pub(super) fn hour_key(fp: &str, hour: u32) -> (&str, u8, i64, u128) {
    (fp, HOUR_ROW, i64::from(hour), 0)
}

/// Every row of one kind of a group, in order.
pub(super) fn rows_of(fp: &str, kind: u8) -> std::ops::RangeInclusive<(&str, u8, i64, u128)> {
    (fp, kind, i64::MIN, 0)..=(fp, kind, i64::MAX, u128::MAX)
}

/// Every row of a group.
pub(super) fn all_rows(fp: &str) -> std::ops::RangeInclusive<(&str, u8, i64, u128)> {
    (fp, 0, i64::MIN, 0)..=(fp, u8::MAX, i64::MAX, u128::MAX)
}

pub(super) fn encode_count(count: u64) -> [u8; 8] {
    count.to_le_bytes()
}

pub(super) fn decode_count(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

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

/// The changing part of a group, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Counters {
    pub count: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub status: Status,
    pub regressed: bool,
    pub dropped_samples: u64,
    /// (time, occurrence id) of each kept sample, oldest first: the keys of its JSON in
    /// [`SAMPLE_DATA`]. Kept here, in a row every update rewrites anyway, rather than in rows
    /// of their own that would cost three more B-tree operations per update.
    pub samples: Vec<(i64, u128)>,
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

/// Encoded size of [`Counters`] without its samples, and of one sample key.
const FIXED_LEN: usize = 8 + 8 + 8 + 1 + 1 + 8;
const SAMPLE_KEY_LEN: usize = 8 + 16;

impl Counters {
    /// Little-endian, the fixed part first, then the sample keys.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + SAMPLE_KEY_LEN * self.samples.len());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.first_seen.to_le_bytes());
        out.extend_from_slice(&self.last_seen.to_le_bytes());
        out.push(status_code(self.status));
        out.push(u8::from(self.regressed));
        out.extend_from_slice(&self.dropped_samples.to_le_bytes());
        for (time, id) in &self.samples {
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }

    /// `None` for bytes no version wrote (wrong length, unknown status): a damaged row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < FIXED_LEN || !(bytes.len() - FIXED_LEN).is_multiple_of(SAMPLE_KEY_LEN) {
            return None;
        }
        let (fixed, keys) = bytes.split_at(FIXED_LEN);
        let word = |at: usize| -> Option<[u8; 8]> { fixed.get(at..at + 8)?.try_into().ok() };
        let samples = keys
            .chunks_exact(SAMPLE_KEY_LEN)
            .map(|key| {
                let (time, id) = key.split_at(8);
                Some((
                    i64::from_le_bytes(time.try_into().ok()?),
                    u128::from_le_bytes(id.try_into().ok()?),
                ))
            })
            .collect::<Option<_>>()?;
        Some(Counters {
            count: u64::from_le_bytes(word(0)?),
            first_seen: i64::from_le_bytes(word(8)?),
            last_seen: i64::from_le_bytes(word(16)?),
            status: status_from_code(fixed[24])?,
            regressed: fixed[25] != 0,
            dropped_samples: u64::from_le_bytes(word(26)?),
            samples,
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
    pub fn into_summary(self, fingerprint: &str, counters: &Counters) -> ErrorSummary {
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
    fn counters_round_trip_and_reject_damage() {
        let counters = Counters {
            count: 3,
            first_seen: -2,
            last_seen: 9,
            status: Status::Ignored,
            regressed: true,
            dropped_samples: 4,
            samples: vec![(-3, 7), (5, u128::MAX)],
        };
        assert_eq!(Counters::decode(&counters.encode()), Some(counters.clone()));
        let mut unknown_status = counters.encode();
        unknown_status[24] = 9;
        assert_eq!(Counters::decode(&unknown_status), None);
        assert_eq!(Counters::decode(&counters.encode()[1..]), None);
        assert_eq!(Counters::decode(&[]), None);
    }
}
