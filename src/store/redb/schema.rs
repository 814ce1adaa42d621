//! The schema version kept in the file: creating it, checking it, migrating older files.

use std::path::Path;

use ::redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableError};
use time::OffsetDateTime;

use super::error::Fail;
use super::layout::{
    BY_RECENT, BY_STATUS, GROUPS, HOURS, MAINTAINED_AT_KEY, META, SAMPLE_DATA, SCHEMA_VERSION_KEY,
    TABLE_NAMES,
};
use crate::store::StoreError;

/// The layout this build reads and writes.
pub(super) const SCHEMA_VERSION: u64 = 1;

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
fn migrate(_txn: &::redb::WriteTransaction, path: &Path, from: u64) -> Result<(), Fail> {
    match from {
        SCHEMA_VERSION => Ok(()),
        // Version 1 is the first layout. Each later one adds an arm for the version before it
        // that migrates one step and continues from there:
        // `1 => { migrate_1_to_2(txn)?; migrate(txn, path, 2) }`.
        unknown => Err(Fail::Store(StoreError::Corrupt(format!(
            "{} claims schema version {unknown}, which no release wrote",
            path.display()
        )))),
    }
}

/// Checks that a file opened read-only has a schema this build reads.
pub(super) fn check_readable(db: &ReadOnlyDatabase, path: &Path) -> Result<(), Fail> {
    match stored_version(db)? {
        Some(SCHEMA_VERSION) => Ok(()),
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
