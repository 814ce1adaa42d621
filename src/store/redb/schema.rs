//! The schema version kept in the file: creating it, checking it, migrating older files.

use std::path::Path;

use ::redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableError};
use time::OffsetDateTime;

use super::error::Fail;
use super::layout::{
    BY_RECENT, BY_STATUS, COUNTERS_ROW, Counters, GROUPS, HOURS, INFO_ROW, MAINTAINED_AT_KEY, META,
    SAMPLE_DATA, SCHEMA_VERSION_KEY, TABLE_NAMES, row_key,
};
use crate::store::StoreError;

/// The layout this build reads and writes.
///
/// - 1: a group's counters, its JSON description and each of its hours in rows of their own.
/// - 2: one binary row per group with its counters, description and newest hour; only older
///   hours have rows (and `hours` entries) of their own.
pub(super) const SCHEMA_VERSION: u64 = 3;

/// The version recorded in the file, `None` for a file without our `meta` table.
fn stored_version(db: &impl ReadableDatabase) -> Result<Option<u64>, Fail> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    Ok(meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value()))
}

fn too_new(found: u64) -> Fail {
    Fail::Store(StoreError::IncompatibleSchema {
        found,
        supported: SCHEMA_VERSION,
    })
}

/// Makes the file at `path` ready for this build: creates the tables of a new file, migrates an
/// older one, refuses a newer one or a redb file of another application.
pub(super) fn prepare(db: &Database, path: &Path, now: OffsetDateTime) -> Result<(), Fail> {
    // A read transaction settles the usual case without a commit (and its fsync).
    match stored_version(db)? {
        Some(SCHEMA_VERSION) => return Ok(()),
        Some(found) if found > SCHEMA_VERSION => return Err(too_new(found)),
        _ => {}
    }
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        // Read again: another process may have prepared the file since the read above.
        let found = meta.get(SCHEMA_VERSION_KEY)?.map(|v| v.value());
        match found {
            Some(SCHEMA_VERSION) => {}
            Some(found) if found > SCHEMA_VERSION => return Err(too_new(found)),
            Some(found) => {
                drop(meta);
                migrate(&txn, path, found)?;
                meta = txn.open_table(META)?;
            }
            None => {
                if let Some(foreign) = txn
                    .list_tables()?
                    .map(|t| ::redb::TableHandle::name(&t).to_owned())
                    .find(|name| !TABLE_NAMES.contains(&name.as_str()))
                {
                    return Err(Fail::Store(StoreError::Corrupt(format!(
                        "{} is a redb database of another application (it has a table named \
                         {foreign:?}); refusing to write to it",
                        path.display()
                    ))));
                }
                // The first maintenance is due an hour after the file is created, so that a
                // fresh store never expires what it is first given.
                let now_secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
                meta.insert(MAINTAINED_AT_KEY, now_secs)?;
            }
        }
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
    }
    // Opening a table in a write transaction creates it: a reader then finds them all.
    txn.open_table(GROUPS)?;
    txn.open_table(BY_RECENT)?;
    txn.open_table(BY_STATUS)?;
    txn.open_table(SAMPLE_DATA)?;
    txn.open_table(HOURS)?;
    txn.commit()?;
    Ok(())
}

/// Rewrites a file of schema `from` into the current layout, one version at a time, inside the
/// caller's transaction so that a failed migration changes nothing.
fn migrate(txn: &::redb::WriteTransaction, path: &Path, from: u64) -> Result<(), Fail> {
    match from {
        SCHEMA_VERSION => Ok(()),
        // Each version adds an arm for the one before it that migrates one step and continues
        // from there.
        1 => {
            migrate_1_to_2(txn, path)?;
            migrate(txn, path, 2)
        }
        // Schema 3 adds the releases to a group's row (row format 3) and reads the rows of
        // format 2 as they are: there is nothing to rewrite.
        2 => migrate(txn, path, 3),
        unknown => Err(Fail::Store(StoreError::Corrupt(format!(
            "{} claims schema version {unknown}, which no release wrote",
            path.display()
        )))),
    }
}

/// Folds each group's schema-1 counters row and JSON description into one schema-2 row. Its
/// hour rows stay as they are: in schema 2 they are the older hours of a group whose newest
/// (inline) hour is empty.
fn migrate_1_to_2(txn: &::redb::WriteTransaction, path: &Path) -> Result<(), Fail> {
    let mut groups = txn.open_table(GROUPS)?;
    let mut rows: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in groups.iter()? {
        let (key, counters) = entry?;
        let (fp, kind, _, _) = key.value();
        if kind != COUNTERS_ROW {
            continue;
        }
        let damaged = || {
            Fail::Store(StoreError::Corrupt(format!(
                "{}: the group {fp} cannot be read while migrating from schema 1",
                path.display()
            )))
        };
        let info = groups.get(row_key(fp, INFO_ROW))?.ok_or_else(damaged)?;
        let row = Counters::decode_v1(counters.value(), info.value()).ok_or_else(damaged)?;
        rows.push((fp.to_owned(), row.encode()));
    }
    for (fp, row) in &rows {
        groups.insert(row_key(fp, COUNTERS_ROW), row.as_slice())?;
        groups.remove(row_key(fp, INFO_ROW))?;
    }
    Ok(())
}

/// Checks that a file opened read-only has a schema this build reads.
pub(super) fn check_readable(db: &ReadOnlyDatabase, path: &Path) -> Result<(), Fail> {
    match stored_version(db)? {
        // Schema 2 files read as schema 3 ones (see `migrate`).
        Some(2 | SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(Fail::Store(StoreError::IncompatibleSchema {
            found,
            supported: SCHEMA_VERSION,
        })),
        None => Err(Fail::Store(StoreError::Corrupt(format!(
            "{} holds no error-tracker data (no schema); it is empty or belongs to another \
             application",
            path.display()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use ::redb::{Database, ReadableDatabase};

    use super::super::layout::{HOUR_ROW, hour_key, hour_of, recent_key, to_nanos};
    use super::*;
    use crate::occurrence::{Location, Occurrence};
    use crate::store::{GroupUpdate, ListQuery, RedbStore, Status, Store};

    /// 2030-01-01 12:30 and 12:00 UTC, in seconds since the epoch.
    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    /// Writes a file as schema 1 did: a group `fp` last seen at `seen`, resolved, with one
    /// sample, counts 2 and 3 in the two hours before `seen`'s and 5 in `seen`'s own hour.
    fn write_schema_1(path: &Path, fp: &str, sample: &Occurrence, seen: OffsetDateTime) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        let nanos = to_nanos(seen);
        let sample_key = (to_nanos(sample.time), sample.id.as_u128());
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(SCHEMA_VERSION_KEY, 1).unwrap();
            meta.insert(MAINTAINED_AT_KEY, 0).unwrap();
            meta.insert("groups", 1).unwrap();
            meta.insert("groups.resolved", 1).unwrap();
            let mut counters = Vec::new();
            counters.extend_from_slice(&10u64.to_le_bytes());
            counters.extend_from_slice(&(nanos - 7_200_000_000_000).to_le_bytes());
            counters.extend_from_slice(&nanos.to_le_bytes());
            counters.extend_from_slice(&[1, 0]);
            counters.extend_from_slice(&9u64.to_le_bytes());
            counters.extend_from_slice(&sample_key.0.to_le_bytes());
            counters.extend_from_slice(&sample_key.1.to_le_bytes());
            let info = serde_json::json!({
                "kind": "std::io::Error",
                "message": sample.message,
                "level": "error",
                "location": sample.location,
                "grouping_version": 1,
            });
            let mut groups = txn.open_table(GROUPS).unwrap();
            groups
                .insert(row_key(fp, COUNTERS_ROW), counters.as_slice())
                .unwrap();
            groups
                .insert(
                    row_key(fp, INFO_ROW),
                    serde_json::to_vec(&info).unwrap().as_slice(),
                )
                .unwrap();
            let mut hours = txn.open_table(HOURS).unwrap();
            let hour = hour_of(nanos);
            for (h, count) in [(hour - 2, 2u64), (hour - 1, 3), (hour, 5)] {
                groups
                    .insert(hour_key(fp, h), count.to_le_bytes().as_slice())
                    .unwrap();
                hours.insert((h, fp), ()).unwrap();
            }
            let recent = recent_key(nanos);
            txn.open_table(BY_RECENT)
                .unwrap()
                .insert((recent, fp), ())
                .unwrap();
            txn.open_table(BY_STATUS)
                .unwrap()
                .insert((1, recent, fp), ())
                .unwrap();
            txn.open_table(SAMPLE_DATA)
                .unwrap()
                .insert(
                    (sample_key.0, sample_key.1, fp),
                    serde_json::to_vec(sample).unwrap().as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_schema_1_file_is_migrated_without_losing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.redb");
        let seen = at(1_893_501_000);
        let mut sample = Occurrence::new("std::io::Error", "disk gone");
        sample.time = seen;
        sample.location = Location {
            target: "app".into(),
            module: Some("app::disk".into()),
            file: Some("src/disk.rs".into()),
            line: Some(3),
        };
        write_schema_1(&path, "fp1", &sample, seen);
        {
            // A ticket filed before the upgrade lives in a row kind migration leaves alone.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(GROUPS)
                .unwrap()
                .insert(
                    row_key("fp1", super::super::notify::TICKET_ROW),
                    b"OPS-12".as_slice(),
                )
                .unwrap();
            txn.commit().unwrap();
        }

        let store = RedbStore::open(&path).unwrap();
        let group = store.get("fp1").unwrap().unwrap();
        assert_eq!(group.ticket.as_deref(), Some("OPS-12"));
        assert_eq!(group.summary.count, 10);
        assert_eq!(group.summary.status, Status::Resolved);
        assert_eq!(group.summary.message, "disk gone");
        assert_eq!(group.summary.location, sample.location);
        assert_eq!(group.summary.last_seen, seen);
        assert_eq!(group.samples, [sample.clone()]);
        assert_eq!(group.dropped_samples, 9);
        let hour = at(1_893_499_200);
        let since = hour - time::Duration::days(1);
        let histogram = [
            (hour - time::Duration::hours(2), 2),
            (hour - time::Duration::hours(1), 3),
            (hour, 5),
        ];
        assert_eq!(store.hourly_counts("fp1", since).unwrap(), histogram);
        let page = store
            .list(&ListQuery::page(1, 10).with_status(Status::Resolved))
            .unwrap();
        assert_eq!((page.total, page.items.len()), (1, 1));

        // The migrated group takes new occurrences like any other: in its existing hour row,
        // and then in a newer hour.
        let mut again = sample.clone();
        again.id = uuid::Uuid::now_v7();
        let update = |at: OffsetDateTime| GroupUpdate {
            fingerprint: "fp1".into(),
            grouping_version: 1,
            count: 4,
            first_seen: at,
            last_seen: at,
            samples: vec![Occurrence {
                time: at,
                ..again.clone()
            }],
            dropped_samples: 3,
            keep_samples: 10,
        };
        store.record(&[update(seen)]).unwrap();
        let later = seen + time::Duration::hours(1);
        store.record(&[update(later)]).unwrap();
        let group = store.get("fp1").unwrap().unwrap();
        assert_eq!(group.summary.count, 18);
        assert!(group.summary.regressed);
        assert_eq!(group.samples.len(), 3);
        let mut grown = histogram.to_vec();
        grown[2].1 = 9;
        grown.push((hour + time::Duration::hours(1), 4));
        assert_eq!(store.hourly_counts("fp1", since).unwrap(), grown);
        drop(store);

        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert_eq!(
            meta.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value(),
            SCHEMA_VERSION
        );
        let groups = txn.open_table(GROUPS).unwrap();
        assert!(groups.get(row_key("fp1", INFO_ROW)).unwrap().is_none());
        let hour_rows = groups
            .range(super::super::layout::rows_of("fp1", HOUR_ROW))
            .unwrap()
            .count();
        assert_eq!(hour_rows, 3, "the newest hour is kept in the group's row");
    }

    #[test]
    fn a_schema_1_file_opened_read_only_says_how_to_migrate_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.redb");
        let seen = at(1_893_501_000);
        write_schema_1(&path, "fp1", &Occurrence::new("E", "m"), seen);
        let err = RedbStore::open_read_only(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::IncompatibleSchema {
                    found: 1,
                    supported: SCHEMA_VERSION
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("open it once for writing"),
            "{err}"
        );
        assert!(!err.to_string().contains("upgrade"), "{err}");
        // One read-write open migrates it; then a viewer reads it.
        drop(RedbStore::open(&path).unwrap());
        let viewer = RedbStore::open_read_only(&path).unwrap();
        assert_eq!(viewer.get("fp1").unwrap().unwrap().summary.count, 10);
    }

    #[test]
    fn a_damaged_schema_1_file_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.redb");
        let seen = at(1_893_501_000);
        let mut sample = Occurrence::new("std::io::Error", "disk gone");
        sample.time = seen;
        write_schema_1(&path, "fp1", &sample, seen);
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(GROUPS)
                .unwrap()
                .insert(row_key("fp1", INFO_ROW), b"{not json".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let err = RedbStore::open(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("fp1") && m.contains("schema 1")),
            "{err:?}"
        );
        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert_eq!(meta.get(SCHEMA_VERSION_KEY).unwrap().unwrap().value(), 1);
    }
}
