//! Every store passes the same contract.

mod contract;

#[test]
fn memory_store_meets_the_contract() {
    contract::check_all(error_tracker::MemoryStore::new);
}

#[test]
fn redb_store_meets_the_contract() {
    let dirs = std::cell::RefCell::new(Vec::new());
    contract::check_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = error_tracker::store::RedbStore::open(dir.path().join("errors.redb")).unwrap();
        // The directory must outlive the store; it is removed when the test ends.
        dirs.borrow_mut().push(dir);
        store
    });
}
