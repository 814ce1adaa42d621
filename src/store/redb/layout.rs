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

/// (fp, 0, 0, 0) -> [`Counters`]: the whole group (counters, kept sample keys, description,
/// newest hour) in one binary row.
pub(super) const COUNTERS_ROW: u8 = 0;
/// (fp, 1, 0, 0) -> JSON of [`GroupInfo`]: schema 1 only (schema 2 keeps it in the group's
/// row); migration removes these rows.
pub(super) const INFO_ROW: u8 = 1;
/// (fp, 2, hour since the epoch, 0) -> occurrences in that hour, u64 little-endian: every
/// hour of a group but its newest, which is in the group's row.
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
/// The hour before which histograms were pruned: inline hours of groups last seen before it
/// are empty, and no count is added to those hours any more.
pub(super) const PRUNED_BEFORE_KEY: &str = "hours_pruned_before";
/// When the notification window shared by every process began (Unix seconds), and how many
/// notifications were taken in it (see [`crate::Store::take_notification_slot`]).
pub(super) const NOTIFY_WINDOW_KEY: &str = "notify.window_start";
pub(super) const NOTIFY_TAKEN_KEY: &str = "notify.taken";

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

/// A group's row (`(fp, 0, 0, 0)` in [`GROUPS`]), decoded: what changes with every update,
/// what was fixed when it was created, and its newest histogram hour.
///
/// One row per group rather than a row for the counters, one for the description and one
/// per hour: a new group then costs one B-tree insert in `groups` instead of four (the
/// description, the counters, the hour and the `hours` index), which was most of the cost
/// of recording new errors.
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
    /// The newest hour with occurrences and their number there (0 once pruned). Older hours
    /// have rows of their own ([`HOUR_ROW`], listed in [`HOURS`]); the newest one lives here
    /// so that the usual update (a group seen again within the hour, or a new group) writes
    /// no histogram row.
    pub hour: u32,
    pub hour_count: u64,
    /// What never changes once the group is created.
    pub info: GroupInfo,
    /// The releases: of its first occurrence, the newest seen, and which reopen it once
    /// resolved (format 3; `None` in rows of format 2).
    pub releases: Releases,
}

/// A group's releases; see [`crate::store::ErrorSummary`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Releases {
    pub first: Option<String>,
    pub last: Option<String>,
    pub resolved_in: Option<crate::ResolvedIn>,
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

fn level_code(level: Level) -> u8 {
    match level {
        Level::Trace => 0,
        Level::Debug => 1,
        Level::Info => 2,
        Level::Warn => 3,
        Level::Error => 4,
    }
}

fn level_from_code(code: u8) -> Option<Level> {
    Some(match code {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        4 => Level::Error,
        _ => return None,
    })
}

/// The first byte of a group row: format 3 adds the releases to format 2's fields, which
/// schema 3 still reads.
const ROW_FORMAT: u8 = 3;
const ROW_FORMAT_2: u8 = 2;
/// Encoded size of a schema-1 counters row without its samples, and of one sample key.
const V1_FIXED_LEN: usize = 8 + 8 + 8 + 1 + 1 + 8;
const SAMPLE_KEY_LEN: usize = 8 + 16;

/// Reads the little-endian fields of a row in order; every read is bounds-checked, so damaged
/// bytes give `None` instead of a panic.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.array()?))
    }

    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn optional_string(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.string()?)),
            _ => None,
        }
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Strings in a row come from one occurrence, whose values are bounded far below 4 GiB;
    // a longer one is cut rather than given a wrong length.
    let len = s.len().min(u32::MAX as usize);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

fn put_optional_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_string(out, s);
        }
    }
}

impl Counters {
    /// A new group described by `info`, with nothing counted yet.
    pub fn new(info: GroupInfo, first_seen: i64, last_seen: i64) -> Self {
        Counters {
            count: 0,
            first_seen,
            last_seen,
            status: Status::Unresolved,
            regressed: false,
            dropped_samples: 0,
            samples: Vec::new(),
            hour: hour_of(last_seen),
            hour_count: 0,
            info,
            releases: Releases::default(),
        }
    }

    /// Little-endian binary: a format byte, the fixed-size fields, the sample keys, then the
    /// description's strings with their lengths.
    pub fn encode(&self) -> Vec<u8> {
        let info = &self.info;
        let location = &info.location;
        let strings = info.kind.len()
            + info.message.len()
            + location.target.len()
            + location.module.as_ref().map_or(0, String::len)
            + location.file.as_ref().map_or(0, String::len);
        let mut out = Vec::with_capacity(80 + SAMPLE_KEY_LEN * self.samples.len() + strings);
        out.push(ROW_FORMAT);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.first_seen.to_le_bytes());
        out.extend_from_slice(&self.last_seen.to_le_bytes());
        out.push(status_code(self.status));
        out.push(u8::from(self.regressed));
        out.extend_from_slice(&self.dropped_samples.to_le_bytes());
        out.extend_from_slice(&self.hour.to_le_bytes());
        out.extend_from_slice(&self.hour_count.to_le_bytes());
        out.extend_from_slice(&info.grouping_version.to_le_bytes());
        out.push(level_code(info.level));
        match location.line {
            None => out.push(0),
            Some(line) => {
                out.push(1);
                out.extend_from_slice(&line.to_le_bytes());
            }
        }
        // At most `keep_samples` keys, far below u32::MAX.
        out.extend_from_slice(&(self.samples.len() as u32).to_le_bytes());
        for (time, id) in &self.samples {
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
        put_string(&mut out, &info.kind);
        put_string(&mut out, &info.message);
        put_string(&mut out, &location.target);
        put_optional_string(&mut out, location.module.as_deref());
        put_optional_string(&mut out, location.file.as_deref());
        let releases = &self.releases;
        put_optional_string(&mut out, releases.first.as_deref());
        put_optional_string(&mut out, releases.last.as_deref());
        match &releases.resolved_in {
            None => out.push(0),
            Some(crate::ResolvedIn::Release(release)) => {
                out.push(1);
                put_string(&mut out, release);
            }
            Some(crate::ResolvedIn::NextAfter(after)) => {
                out.push(2);
                put_optional_string(&mut out, after.as_deref());
            }
        }
        out
    }

    /// `None` for bytes no version wrote (wrong length, unknown status or level): a damaged
    /// row.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut at = Cursor { bytes };
        let format = at.u8()?;
        if format != ROW_FORMAT && format != ROW_FORMAT_2 {
            return None;
        }
        let count = at.u64()?;
        let first_seen = at.i64()?;
        let last_seen = at.i64()?;
        let status = status_from_code(at.u8()?)?;
        let regressed = at.u8()? != 0;
        let dropped_samples = at.u64()?;
        let hour = at.u32()?;
        let hour_count = at.u64()?;
        let grouping_version = at.u32()?;
        let level = level_from_code(at.u8()?)?;
        let line = match at.u8()? {
            0 => None,
            1 => Some(at.u32()?),
            _ => return None,
        };
        let n = usize::try_from(at.u32()?).ok()?;
        if n.checked_mul(SAMPLE_KEY_LEN)? > at.bytes.len() {
            return None;
        }
        let samples = (0..n)
            .map(|_| Some((at.i64()?, at.u128()?)))
            .collect::<Option<_>>()?;
        let kind = at.string()?;
        let message = at.string()?;
        let target = at.string()?;
        let module = at.optional_string()?;
        let file = at.optional_string()?;
        let releases = if format == ROW_FORMAT {
            Releases {
                first: at.optional_string()?,
                last: at.optional_string()?,
                resolved_in: match at.u8()? {
                    0 => None,
                    1 => Some(crate::ResolvedIn::Release(at.string()?)),
                    2 => Some(crate::ResolvedIn::NextAfter(at.optional_string()?)),
                    _ => return None,
                },
            }
        } else {
            Releases::default()
        };
        if !at.bytes.is_empty() {
            return None;
        }
        Some(Counters {
            count,
            first_seen,
            last_seen,
            status,
            regressed,
            dropped_samples,
            samples,
            hour,
            hour_count,
            info: GroupInfo {
                kind,
                message,
                level,
                location: Location {
                    target,
                    module,
                    file,
                    line,
                },
                grouping_version,
            },
            releases,
        })
    }

    /// A schema-1 counters row and its JSON description, as one schema-2 row. Schema 1 kept
    /// every hour in rows of its own, so the inline hour starts empty.
    pub fn decode_v1(counters: &[u8], info_json: &[u8]) -> Option<Self> {
        if counters.len() < V1_FIXED_LEN
            || !(counters.len() - V1_FIXED_LEN).is_multiple_of(SAMPLE_KEY_LEN)
        {
            return None;
        }
        let info: GroupInfo = serde_json::from_slice(info_json).ok()?;
        let mut at = Cursor { bytes: counters };
        let count = at.u64()?;
        let first_seen = at.i64()?;
        let last_seen = at.i64()?;
        let status = status_from_code(at.u8()?)?;
        let regressed = at.u8()? != 0;
        let dropped_samples = at.u64()?;
        let mut samples = Vec::with_capacity(at.bytes.len() / SAMPLE_KEY_LEN);
        while !at.bytes.is_empty() {
            samples.push((at.i64()?, at.u128()?));
        }
        Some(Counters {
            count,
            first_seen,
            last_seen,
            status,
            regressed,
            dropped_samples,
            samples,
            hour: hour_of(last_seen),
            hour_count: 0,
            info,
            releases: Releases::default(),
        })
    }
}

/// The part of a group that never changes once created. Schema 1 kept it as JSON in a row
/// of its own ([`INFO_ROW`]); schema 2 keeps it in the group's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GroupInfo {
    pub kind: String,
    pub message: String,
    pub level: Level,
    pub location: Location,
    pub grouping_version: u32,
}

impl GroupInfo {
    pub fn summary(&self, fingerprint: &str, counters: &Counters) -> ErrorSummary {
        ErrorSummary {
            fingerprint: fingerprint.to_owned(),
            grouping_version: self.grouping_version,
            kind: self.kind.clone(),
            message: self.message.clone(),
            level: self.level,
            location: self.location.clone(),
            count: counters.count,
            first_seen: from_nanos(counters.first_seen),
            last_seen: from_nanos(counters.last_seen),
            status: counters.status,
            regressed: counters.regressed,
            first_release: counters.releases.first.clone(),
            last_release: counters.releases.last.clone(),
            resolved_in: counters.releases.resolved_in.clone(),
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

    fn info() -> GroupInfo {
        GroupInfo {
            kind: "std::io::Error".into(),
            message: "gone – ünïcode".into(),
            level: Level::Warn,
            location: Location {
                target: "app".into(),
                module: Some("app::db".into()),
                file: None,
                line: Some(7),
            },
            grouping_version: 1,
        }
    }

    #[test]
    fn rows_of_format_2_read_without_releases() {
        let counters = Counters::new(info(), 1, 2);
        let mut row = counters.encode();
        // Format 3 appends the releases: none, none, no resolution.
        assert_eq!(row.split_off(row.len() - 3), [0, 0, 0]);
        row[0] = 2;
        assert_eq!(Counters::decode(&row), Some(counters));
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
            hour: 12,
            hour_count: 2,
            info: info(),
            releases: Releases {
                first: Some("shop@1.2.0".into()),
                last: None,
                resolved_in: Some(crate::ResolvedIn::NextAfter(Some("shop@1.3.0".into()))),
            },
        };
        let encoded = counters.encode();
        assert_eq!(Counters::decode(&encoded), Some(counters.clone()));
        let mut unknown_status = encoded.clone();
        unknown_status[25] = 9;
        assert_eq!(Counters::decode(&unknown_status), None);
        for cut in [1, encoded.len() / 2, encoded.len() - 1] {
            assert_eq!(Counters::decode(&encoded[..cut]), None, "{cut}");
        }
        assert_eq!(Counters::decode(&encoded[1..]), None);
        let mut longer = encoded.clone();
        longer.push(0);
        assert_eq!(Counters::decode(&longer), None);
        assert_eq!(Counters::decode(&[]), None);
    }

    #[test]
    fn schema_1_rows_convert() {
        let mut v1 = Vec::new();
        v1.extend_from_slice(&3u64.to_le_bytes());
        v1.extend_from_slice(&(-2i64).to_le_bytes());
        v1.extend_from_slice(&9i64.to_le_bytes());
        v1.extend_from_slice(&[1, 1]);
        v1.extend_from_slice(&4u64.to_le_bytes());
        v1.extend_from_slice(&5i64.to_le_bytes());
        v1.extend_from_slice(&8u128.to_le_bytes());
        let json = serde_json::to_vec(&info()).unwrap();
        let row = Counters::decode_v1(&v1, &json).unwrap();
        assert_eq!(
            (row.count, row.first_seen, row.last_seen, row.status),
            (3, -2, 9, Status::Resolved)
        );
        assert_eq!((row.dropped_samples, row.hour_count), (4, 0));
        assert_eq!(
            (row.samples.as_slice(), row.regressed),
            (&[(5, 8)][..], true)
        );
        assert_eq!(row.info, info());
        assert_eq!(Counters::decode_v1(&v1[1..], &json), None);
        assert_eq!(Counters::decode_v1(&v1, b"{"), None);
    }
}
