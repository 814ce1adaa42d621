//! Turning redb's errors into [`StoreError`]s that name the file and say what to do.

use std::io;
use std::path::Path;

use crate::store::StoreError;

/// What the store's internals fail with: a redb error not yet tied to the file's path, or an
/// error of our own. `?` converts every redb error type into it.
#[derive(Debug)]
pub(super) enum Fail {
    Redb(::redb::Error),
    Store(StoreError),
}

impl Fail {
    /// Errors after which redb wants the database closed and opened again.
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            Fail::Redb(::redb::Error::PreviousIo | ::redb::Error::DatabaseClosed)
        )
    }

    pub fn into_store_error(self, path: &Path) -> StoreError {
        match self {
            Fail::Redb(err) => map_err(path, err),
            Fail::Store(err) => err,
        }
    }
}

impl From<StoreError> for Fail {
    fn from(err: StoreError) -> Self {
        Fail::Store(err)
    }
}

macro_rules! redb_errors {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Fail {
            fn from(err: $ty) -> Self {
                Fail::Redb(err.into())
            }
        }
    )*};
}

redb_errors!(
    ::redb::Error,
    ::redb::DatabaseError,
    ::redb::TransactionError,
    ::redb::TableError,
    ::redb::StorageError,
    ::redb::CommitError,
    ::redb::CompactionError,
    ::redb::SetDurabilityError,
);

/// A [`StoreError`] for a failure of the redb file at `path`.
pub(super) fn map_err(path: &Path, err: impl Into<::redb::Error>) -> StoreError {
    use ::redb::Error as E;
    let p = path.display();
    match err.into() {
        E::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
            "{p} is locked by another process (a redb handle that opened it exclusively, or a \
             redb older than 4.5); it can be used once that process closes it"
        )),
        E::LockProtocolMismatch => StoreError::Unavailable(format!(
            "{p} is locked by another process that uses an incompatible redb version; use the \
             same error-tracker version in every process sharing the file"
        )),
        E::Unsupported => StoreError::Unavailable(format!(
            "{p}: this platform or file system does not support the file locks needed to share \
             the file between processes"
        )),
        E::Corrupted(message) => StoreError::Corrupt(format!("{p}: {message}")),
        E::UpgradeRequired(version) => StoreError::Corrupt(format!(
            "{p} uses redb file format {version}, which this build cannot read"
        )),
        E::RepairAborted => StoreError::Corrupt(format!(
            "{p} needs a repair after a crash; opening it read-write once repairs it"
        )),
        E::TableDoesNotExist(table) => StoreError::Corrupt(format!(
            "{p}: table {table:?} is missing; this is not an error-tracker store"
        )),
        err @ (E::TableTypeMismatch { .. }
        | E::TypeDefinitionChanged { .. }
        | E::TableIsMultimap(_)
        | E::TableIsNotMultimap(_)) => StoreError::Corrupt(format!(
            "{p}: {err}; the file was not written by this store or is damaged"
        )),
        E::Io(err) => io_error(path, err),
        E::PreviousIo => StoreError::Unavailable(format!(
            "{p}: an earlier I/O error left the database unusable; it is reopened on the next \
             operation"
        )),
        E::DatabaseClosed => StoreError::Unavailable(format!("{p}: the database was closed")),
        E::WouldBlock | E::TransactionInProgress => {
            StoreError::Unavailable(format!("{p} is busy with another transaction; try again"))
        }
        E::ValueTooLarge(len) => StoreError::InvalidInput(format!(
            "{p}: a value of {len} bytes is larger than redb can store"
        )),
        other => StoreError::Other(format!("{p}: {other}").into()),
    }
}

/// I/O errors keep their kind; the ones a user can act on become clear sentences.
fn io_error(path: &Path, err: io::Error) -> StoreError {
    let p = path.display();
    match err.kind() {
        io::ErrorKind::NotFound => match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
                StoreError::Unavailable(format!(
                    "cannot open {p}: the directory {} does not exist",
                    dir.display()
                ))
            }
            _ => StoreError::Unavailable(format!("{p} does not exist")),
        },
        io::ErrorKind::PermissionDenied => {
            StoreError::Unavailable(format!("{p}: permission denied ({err})"))
        }
        io::ErrorKind::ReadOnlyFilesystem => StoreError::Unavailable(format!(
            "{p} is on a read-only file system; open it read-only or move it"
        )),
        io::ErrorKind::InvalidData => {
            StoreError::Corrupt(format!("{p} is not a redb database ({err})"))
        }
        io::ErrorKind::UnexpectedEof => {
            StoreError::Corrupt(format!("{p} is truncated or damaged ({err})"))
        }
        kind => StoreError::Io(io::Error::new(kind, format!("{p}: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: StoreError) -> String {
        err.to_string()
    }

    #[test]
    fn read_only_file_systems_and_permissions_are_unavailable_and_name_the_file() {
        let path = Path::new("/srv/errors.redb");
        for kind in [
            io::ErrorKind::ReadOnlyFilesystem,
            io::ErrorKind::PermissionDenied,
        ] {
            let err = map_err(path, ::redb::Error::Io(io::Error::from(kind)));
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
            assert!(message(err).contains("/srv/errors.redb"));
        }
    }

    #[test]
    fn other_io_errors_keep_their_kind() {
        let path = Path::new("/srv/errors.redb");
        let err = map_err(
            path,
            ::redb::Error::Io(io::Error::from(io::ErrorKind::StorageFull)),
        );
        match err {
            StoreError::Io(io) => {
                assert_eq!(io.kind(), io::ErrorKind::StorageFull);
                assert!(io.to_string().contains("/srv/errors.redb"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn locks_and_damage_are_told_apart() {
        let path = Path::new("e.redb");
        assert!(matches!(
            map_err(path, ::redb::Error::DatabaseAlreadyOpen),
            StoreError::Unavailable(m) if m.contains("e.redb is locked")
        ));
        assert!(matches!(
            map_err(path, ::redb::Error::Corrupted("bad page".into())),
            StoreError::Corrupt(m) if m.contains("e.redb") && m.contains("bad page")
        ));
        assert!(matches!(
            map_err(path, ::redb::Error::RepairAborted),
            StoreError::Corrupt(_)
        ));
    }
}
