//! Every store passes the same contract.

mod contract;

#[test]
fn memory_store_meets_the_contract() {
    contract::check_all(error_tracker::MemoryStore::new);
}
