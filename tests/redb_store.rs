//! The redb store on real files: restarts, sharing between handles and processes, locked and
//! damaged files, crashes, large listings and maintenance.

mod contract;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use contract::{t0, update};
use error_tracker::store::{
    Change, Compaction, Durability, GroupUpdate, RedbOptions, RedbStore, StoreError,
};
use error_tracker::{ListQuery, Status, Store};
use time::{Duration, OffsetDateTime};

/// Set in a child process to the file it works on; its absence means "I am the parent".
const CHILD_FILE: &str = "ERROR_TRACKER_TEST_CHILD_FILE";

fn child_file() -> Option<PathBuf> {
    std::env::var_os(CHILD_FILE).map(PathBuf::from)
}

/// Runs this test binary's test `name` in a child process working on `file`.
fn spawn_child(name: &str, file: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_FILE, file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn temp_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("errors.redb");
    (dir, path)
}

/// Sum of the counts of every error.
fn total_count(store: &dyn Store) -> u64 {
    let mut sum = 0;
    let mut page = 1;
    loop {
        let listed = store.list(&ListQuery::page(page, 500)).unwrap();
        sum += listed.items.iter().map(|s| s.count).sum::<u64>();
        if !listed.has_next() {
            return sum;
        }
        page += 1;
    }
}

fn assert_names_path(err: &StoreError, path: &Path) {
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} should name {}",
        path.display()
    );
}

#[test]
fn a_restart_keeps_counts_statuses_samples_and_histogram() {
    let (_dir, path) = temp_file();
    {
        let store = RedbStore::open(&path).unwrap();
        store
            .record(&[update("a", "boom", 3, 10), update("b", "bang", 1, 20)])
            .unwrap();
        store.record(&[update("a", "boom", 2, 4000)]).unwrap();
        store.set_status("b", Status::Ignored).unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    let a = store.get("a").unwrap().unwrap();
    assert_eq!(a.summary.count, 5);
    assert_eq!(a.summary.last_seen, t0() + Duration::seconds(4000));
    assert_eq!(a.samples.len(), 2);
    assert_eq!(a.samples[1].fields["n"], 4000);
    assert_eq!(a.dropped_samples, 2 + 1);
    assert_eq!(
        store.get("b").unwrap().unwrap().summary.status,
        Status::Ignored
    );
    let hour0 = t0() - Duration::seconds(800);
    assert_eq!(
        store.hourly_counts("a", hour0).unwrap(),
        [(hour0, 3), (hour0 + Duration::hours(1), 2)]
    );
    let page = store.list(&ListQuery::page(1, 10)).unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].fingerprint, "a");
    let ignored = store
        .list(&ListQuery::page(1, 10).with_status(Status::Ignored))
        .unwrap();
    assert_eq!(ignored.total, 1);
    // The outcome after a restart still knows the group.
    let outcome = store.record(&[update("a", "boom", 1, 5000)]).unwrap();
    assert_eq!(
        (outcome[0].change, outcome[0].previous_count),
        (Change::Repeated, 5)
    );
}

#[test]
fn a_batch_recorded_twice_counts_twice_but_keeps_one_copy_of_each_sample() {
    let (_dir, path) = temp_file();
    let store = RedbStore::open(&path).unwrap();
    let batch = [update("a", "x", 2, 10)];
    store.record(&batch).unwrap();
    store.record(&batch).unwrap();
    let group = store.get("a").unwrap().unwrap();
    assert_eq!(group.summary.count, 4);
    assert_eq!(group.samples.len(), 1);
    assert_eq!(group.samples[0], batch[0].samples[0]);
    // Each update says one of its two occurrences was not kept.
    assert_eq!(group.dropped_samples, 2);
}

#[test]
fn samples_keep_the_newest_across_batches_and_updates() {
    let (_dir, path) = temp_file();
    let store = RedbStore::open(&path).unwrap();
    let mut wide = update("a", "x", 4, 50);
    for (i, seconds) in [(1, 40), (2, 60), (3, 45)] {
        let mut extra = wide.samples[0].clone();
        extra.id = uuid::Uuid::from_u128(i);
        extra.time = t0() + Duration::seconds(seconds);
        extra.fields.insert("n".into(), seconds.into());
        wide.samples.push(extra);
    }
    wide.dropped_samples = 0;
    store
        .record(&[update("a", "x", 1, 55), wide, update("a", "x", 1, 30)])
        .unwrap();
    let group = store.get("a").unwrap().unwrap();
    let kept: Vec<_> = group
        .samples
        .iter()
        .map(|s| s.fields["n"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [50, 55, 60], "newest three, oldest first");
    assert_eq!(group.dropped_samples, 3);
    store.delete("a").unwrap();
    store.record(&[update("a", "x", 1, 1)]).unwrap();
    assert_eq!(store.get("a").unwrap().unwrap().samples.len(), 1);
}

/// Records `batches` batches of one occurrence of each of `fingerprints` fingerprints.
fn record_rounds(store: &RedbStore, batches: usize, fingerprints: usize) {
    for round in 0..batches {
        let batch: Vec<GroupUpdate> = (0..fingerprints)
            .map(|i| update(&format!("fp{i}"), "shared", 1, round as i64))
            .collect();
        store.record(&batch).unwrap();
    }
}

#[test]
fn two_handles_in_one_process_add_counts_exactly() {
    let (_dir, path) = temp_file();
    let first = RedbStore::open(&path).unwrap();
    let second = RedbStore::open(&path).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| record_rounds(&first, 100, 10));
        scope.spawn(|| record_rounds(&second, 100, 10));
    });
    assert_eq!(total_count(&first), 2 * 100 * 10);
    for i in 0..10 {
        assert_eq!(
            second
                .get(&format!("fp{i}"))
                .unwrap()
                .unwrap()
                .summary
                .count,
            200
        );
    }
}

const SHARED_ROUNDS: usize = 150;

#[test]
fn two_processes_add_counts_exactly() {
    if let Some(file) = child_file() {
        record_rounds(&RedbStore::open(file).unwrap(), SHARED_ROUNDS, 10);
        return;
    }
    let (_dir, path) = temp_file();
    let store = RedbStore::open(&path).unwrap();
    let mut child = spawn_child("two_processes_add_counts_exactly", &path);
    record_rounds(&store, SHARED_ROUNDS, 10);
    assert!(child.wait().unwrap().success());
    let expected = 2 * SHARED_ROUNDS as u64;
    for i in 0..10 {
        assert_eq!(
            store.get(&format!("fp{i}")).unwrap().unwrap().summary.count,
            expected
        );
    }
    assert_eq!(store.list(&ListQuery::page(1, 10)).unwrap().total, 10);
}

#[test]
fn a_read_only_handle_follows_a_writer_and_cannot_write() {
    let (_dir, path) = temp_file();
    let writer = RedbStore::open(&path).unwrap();
    writer.record(&[update("a", "x", 1, 1)]).unwrap();
    let reader = RedbStore::open_read_only(&path).unwrap();
    assert_eq!(reader.get("a").unwrap().unwrap().summary.count, 1);
    for n in 2..5 {
        writer.record(&[update("a", "x", 1, n)]).unwrap();
        assert_eq!(reader.get("a").unwrap().unwrap().summary.count, n as u64);
    }
    writer.set_status("a", Status::Resolved).unwrap();
    let resolved = reader
        .list(&ListQuery::page(1, 10).with_status(Status::Resolved))
        .unwrap();
    assert_eq!(resolved.total, 1);
    for err in [
        reader.record(&[update("a", "x", 1, 9)]).unwrap_err(),
        reader.set_status("a", Status::Ignored).unwrap_err(),
        reader.delete("a").unwrap_err(),
        reader.purge(t0()).unwrap_err(),
        reader.maintain(OffsetDateTime::now_utc()).unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::InvalidInput(m) if m.contains("opened read-only")),
            "{err:?}"
        );
    }
    assert_eq!(writer.get("a").unwrap().unwrap().summary.count, 4);
}

#[test]
fn an_exclusively_held_file_is_unavailable_until_released() {
    let (_dir, path) = temp_file();
    RedbStore::open(&path)
        .unwrap()
        .record(&[update("a", "x", 1, 1)])
        .unwrap();
    let exclusive = redb::Database::create(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert_names_path(&err, &path);
    let err = RedbStore::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let lazy = RedbStore::open_lazy(&path, RedbOptions::default());
    for _ in 0..2 {
        let err = lazy.record(&[update("a", "x", 1, 2)]).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(lazy.get("a").is_err());
    }
    drop(exclusive);
    lazy.record(&[update("a", "x", 1, 2)]).unwrap();
    assert_eq!(
        lazy.get("a").unwrap().unwrap().summary.count,
        2,
        "failed attempts added nothing"
    );
}

#[test]
fn eventual_durability_keeps_the_file_to_itself_and_loses_nothing_on_close() {
    let (_dir, path) = temp_file();
    let options = RedbOptions {
        durability: Durability::Eventual,
        ..RedbOptions::default()
    };
    {
        let store = RedbStore::open_with(&path, options.clone()).unwrap();
        for n in 0..20 {
            store.record(&[update("a", "x", 1, n)]).unwrap();
        }
        let err = RedbStore::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(RedbStore::open_read_only(&path).is_err());
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get("a").unwrap().unwrap().summary.count, 20);
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn damaged_files_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    {
        let store = RedbStore::open(&good).unwrap();
        for round in 0..20 {
            let batch: Vec<_> = (0..100)
                .map(|i| update(&format!("fp{round}-{i}"), &"x".repeat(200), 1, i))
                .collect();
            store.record(&batch).unwrap();
        }
    }
    let bytes = std::fs::read(&good).unwrap();
    let garbage: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases: [(&str, &[u8]); 3] = [
        ("truncated.redb", &bytes[..bytes.len() / 2]),
        ("stub.redb", &bytes[..100]),
        ("garbage.redb", &garbage),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        write_file(&path, content);
        let err = RedbStore::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{name}: {err:?}");
        assert_names_path(&err, &path);
        assert!(
            RedbStore::open_lazy(&path, RedbOptions::default())
                .record(&[update("a", "x", 1, 1)])
                .is_err()
        );
        // A read-only open trusts more and may get further, but not to a result.
        let read = RedbStore::open_read_only(&path).and_then(|store| {
            store.list(&ListQuery::page(1, 10))?;
            for round in 0..20 {
                store.get(&format!("fp{round}-7"))?;
            }
            Ok(())
        });
        let err = read.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{name}: {err:?}");
        assert_names_path(&err, &path);
    }
}

#[test]
fn an_empty_file_is_a_new_store_but_not_a_readable_one() {
    let (_dir, path) = temp_file();
    write_file(&path, b"");
    let err = RedbStore::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_names_path(&err, &path);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.list(&ListQuery::page(1, 10)).unwrap().total, 0);
    store.record(&[update("a", "x", 1, 1)]).unwrap();
    assert_eq!(total_count(&store), 1);
}

#[test]
fn a_foreign_redb_file_is_left_alone() {
    let (_dir, path) = temp_file();
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<u64, u64>::new("orders"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("another application")),
        "{err:?}"
    );
    assert_names_path(&err, &path);
}

#[test]
fn a_missing_directory_is_a_clear_error_and_a_lazy_store_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let path = missing.join("errors.redb");
    let err = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("does not exist")),
        "{err:?}"
    );
    assert!(err.to_string().contains(&missing.display().to_string()));
    assert!(!path.exists(), "no file is created");
    let err = RedbStore::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let lazy = RedbStore::open_lazy(&path, RedbOptions::default());
    assert!(lazy.record(&[update("a", "x", 1, 1)]).is_err());
    std::fs::create_dir(&missing).unwrap();
    lazy.record(&[update("a", "x", 1, 1)]).unwrap();
    assert_eq!(total_count(&lazy), 1);
}

const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = temp_file();
    RedbStore::open(&path)
        .unwrap()
        .record(&[update("a", "x", 1, 1)])
        .unwrap();
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    for err in [
        RedbStore::open(&path).unwrap_err(),
        RedbStore::open_read_only(&path).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                StoreError::IncompatibleSchema {
                    found: 99,
                    supported: RedbStore::SCHEMA_VERSION
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(RedbStore::SCHEMA_VERSION, 3);
}

#[test]
fn bad_options_are_refused() {
    let (_dir, path) = temp_file();
    for options in [
        RedbOptions {
            max_errors: 0,
            ..RedbOptions::default()
        },
        RedbOptions {
            retention: Duration::ZERO,
            ..RedbOptions::default()
        },
    ] {
        let err = RedbStore::open_with(&path, options).unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    }
}

const STORM_BATCH: u64 = 40;

#[test]
fn a_killed_writer_loses_at_most_the_batch_in_flight() {
    if let Some(file) = child_file() {
        let store = RedbStore::open(file).unwrap();
        let mut committed = 0u64;
        for round in 0.. {
            let batch: Vec<GroupUpdate> = (0..STORM_BATCH)
                .map(|i| {
                    update(
                        &format!("fp{}", (round * 7 + i) % 300),
                        "storm",
                        1,
                        round as i64,
                    )
                })
                .collect();
            store.record(&batch).unwrap();
            committed += STORM_BATCH;
            println!("committed {committed}");
        }
        return;
    }
    let (_dir, path) = temp_file();
    let mut child = spawn_child("a_killed_writer_loses_at_most_the_batch_in_flight", &path);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = 0;
    while seen < 25 {
        let line = lines.next().unwrap().unwrap();
        seen += u64::from(line.starts_with("committed "));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last_printed = lines
        .map_while(Result::ok)
        .filter_map(|line| line.strip_prefix("committed ")?.parse::<u64>().ok())
        .last()
        .unwrap_or(0)
        .max(25 * STORM_BATCH);
    let store = RedbStore::open(&path).unwrap();
    let stored = total_count(&store);
    assert!(
        (last_printed..=last_printed + STORM_BATCH).contains(&stored),
        "stored {stored}, last printed {last_printed}"
    );
    let listed = store.list(&ListQuery::page(1, 1000)).unwrap();
    assert_eq!(listed.total, listed.items.len() as u64);
}

/// The scale the store is built for (its default `max_errors`); about 25 s in a debug build.
const MANY: usize = 100_000;

fn many_errors(path: &Path) -> RedbStore {
    let store = RedbStore::open(path).unwrap();
    for start in (0..MANY).step_by(1_000) {
        let batch: Vec<_> = (start..start + 1_000)
            .map(|i| {
                let message = if i % 1_000 == 7 {
                    format!("Disk full on volume {i}")
                } else {
                    format!("request {i} failed")
                };
                let mut u = update(&format!("fp{i:06}"), &message, 1, i as i64);
                u.keep_samples = 1;
                u
            })
            .collect();
        store.record(&batch).unwrap();
    }
    store
}

#[test]
fn listing_pages_and_filters_many_errors() {
    let (_dir, path) = temp_file();
    let store = many_errors(&path);
    let newest = |i: usize| format!("fp{:06}", MANY - 1 - i);

    let page1 = store.list(&ListQuery::page(1, 10)).unwrap();
    assert_eq!(page1.total, MANY as u64);
    let names: Vec<_> = page1.items.iter().map(|s| s.fingerprint.clone()).collect();
    assert_eq!(names, (0..10).map(newest).collect::<Vec<_>>());
    let page100 = store.list(&ListQuery::page(100, 10)).unwrap();
    let names: Vec<_> = page100
        .items
        .iter()
        .map(|s| s.fingerprint.clone())
        .collect();
    assert_eq!(names, (990..1000).map(newest).collect::<Vec<_>>());
    assert_eq!(page100.page_count(), (MANY / 10) as u64);

    for i in (0..MANY).step_by(100) {
        store
            .set_status(&format!("fp{i:06}"), Status::Resolved)
            .unwrap();
    }
    for i in (50..MANY).step_by(1_000) {
        store
            .set_status(&format!("fp{i:06}"), Status::Ignored)
            .unwrap();
    }
    let resolved = store
        .list(&ListQuery::page(2, 10).with_status(Status::Resolved))
        .unwrap();
    assert_eq!(resolved.total, (MANY / 100) as u64);
    assert_eq!(
        resolved.items[0].fingerprint,
        format!("fp{:06}", MANY - 100 - 10 * 100),
        "page 2 starts with the 11th newest resolved error"
    );
    let ignored = store
        .list(&ListQuery::page(1, 10).with_status(Status::Ignored))
        .unwrap();
    assert_eq!(ignored.total, (MANY / 1_000) as u64);
    assert!(
        ignored
            .items
            .iter()
            .all(|s| s.status == Status::Ignored && s.fingerprint.ends_with("050"))
    );
    let unresolved = store
        .list(&ListQuery::page(1, 10).with_status(Status::Unresolved))
        .unwrap();
    assert_eq!(unresolved.total, (MANY - MANY / 100 - MANY / 1_000) as u64);
    assert_eq!(unresolved.items[0].fingerprint, newest(0));

    let found = store
        .list(&ListQuery::page(1, 5).with_search("disk FULL"))
        .unwrap();
    assert_eq!(found.total, (MANY / 1_000) as u64);
    assert_eq!(found.items.len(), 5);
    assert_eq!(
        found.items[0].fingerprint,
        format!("fp{:06}", MANY - 1_000 + 7)
    );
    let found_resolved = store
        .list(
            &ListQuery::page(1, 5)
                .with_search("disk full")
                .with_status(Status::Resolved),
        )
        .unwrap();
    assert_eq!(found_resolved.total, 0);

    // Counts in `meta` follow deletions and status changes.
    store.delete(&newest(0)).unwrap();
    store
        .set_status(&format!("fp{:06}", 0), Status::Unresolved)
        .unwrap();
    let all = store.list(&ListQuery::page(1, 1)).unwrap();
    assert_eq!(all.total, MANY as u64 - 1);
    let resolved = store
        .list(&ListQuery::page(1, 1).with_status(Status::Resolved))
        .unwrap();
    assert_eq!(resolved.total, (MANY / 100) as u64 - 1);
}

#[test]
fn maintenance_expires_caps_and_prunes() {
    let (_dir, path) = temp_file();
    let options = RedbOptions {
        retention: Duration::days(10),
        max_errors: 3,
        histogram_window: Duration::days(2),
        ..RedbOptions::default()
    };
    let store = RedbStore::open_with(&path, options).unwrap();
    let now = t0() + Duration::days(30);
    let at = |days_ago: i64, fp: &str, count: u64| {
        let mut u = update(fp, "x", count, 0);
        u.last_seen = now - Duration::days(days_ago);
        u.first_seen = u.last_seen;
        u.samples[0].time = u.last_seen;
        u
    };
    store
        .record(&[
            at(20, "expired", 1),
            at(11, "expired-too", 1),
            at(9, "oldest-kept", 1),
            at(5, "b", 1),
            at(4, "c", 2),
            at(1, "d", 1),
        ])
        .unwrap();
    // `c` was seen 4 days ago and again today: only today's hour is in the window.
    store.record(&[at(0, "c", 5)]).unwrap();

    let report = store.maintain(now).unwrap();
    assert_eq!(report.expired, 2);
    assert_eq!(report.evicted, 1, "4 errors are left, 3 are kept");
    // Deleted errors take their hours with them; of the rest, b's hour and c's older one fall
    // out of the window.
    assert_eq!(report.pruned_hours, 2);
    assert_eq!(report.compaction, Compaction::NotNeeded);
    let left: Vec<_> = store
        .list(&ListQuery::page(1, 10))
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.fingerprint)
        .collect();
    assert_eq!(left, ["c", "d", "b"]);
    assert_eq!(store.list(&ListQuery::page(1, 10)).unwrap().total, 3);
    assert_eq!(store.get("c").unwrap().unwrap().summary.count, 7);
    let since = now - Duration::days(40);
    assert_eq!(store.hourly_counts("c", since).unwrap().len(), 1);
    assert_eq!(store.hourly_counts("c", since).unwrap()[0].1, 5);
    assert!(store.hourly_counts("b", since).unwrap().is_empty());
    assert_eq!(store.hourly_counts("d", since).unwrap().len(), 1);
    assert!(store.get("oldest-kept").unwrap().is_none());

    let again = store.maintain(now).unwrap();
    assert_eq!(
        (again.expired, again.evicted, again.pruned_hours),
        (0, 0, 0)
    );
}

#[test]
fn maintenance_compacts_after_a_large_purge() {
    let (_dir, path) = temp_file();
    let store = RedbStore::open(&path).unwrap();
    let now = t0() + Duration::days(365);
    for start in (0..3_000).step_by(500) {
        let batch: Vec<_> = (start..start + 500)
            .map(|i| update(&format!("old{i}"), &"old ".repeat(100), 1, i))
            .collect();
        store.record(&batch).unwrap();
    }
    let mut fresh = update("fresh", "x", 1, 0);
    fresh.last_seen = now;
    store.record(&[fresh]).unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    let report = store.maintain(now).unwrap();
    assert_eq!(report.expired, 3_000);
    assert!(
        matches!(report.compaction, Compaction::Done(_)),
        "{report:?}"
    );
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < before, "{after} < {before}");
    assert_eq!(total_count(&store), 1);
    drop(store);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get("fresh").unwrap().unwrap().summary.count, 1);
}

#[test]
fn record_runs_maintenance_once_an_hour_has_passed() {
    let (_dir, path) = temp_file();
    {
        let store = RedbStore::open(&path).unwrap();
        store.record(&[update("old", "x", 1, 0)]).unwrap();
        // A fresh file waits an hour before its first maintenance.
        store.record(&[update("old2", "x", 1, 0)]).unwrap();
        assert_eq!(store.list(&ListQuery::page(1, 10)).unwrap().total, 2);
    }
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("maintained_at", 0)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    let mut recent = update("recent", "x", 1, 0);
    recent.last_seen = OffsetDateTime::now_utc();
    store.record(&[recent]).unwrap();
    let left = store.list(&ListQuery::page(1, 10)).unwrap();
    assert_eq!(left.total, 1, "errors older than 90 days expired");
    assert_eq!(left.items[0].fingerprint, "recent");
}

/// The notification cap shared through the file: `cap` per window across every handle, a new
/// window once the last one is over; a store without one answers `None`.
#[test]
fn notification_slots_are_shared_between_handles_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slots.redb");
    let first = RedbStore::open(&path).unwrap();
    let second = RedbStore::open(&path).unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    assert_eq!(
        first.take_notification_slot(t0, hour, 2).unwrap(),
        Some(true)
    );
    assert_eq!(
        second.take_notification_slot(t0, hour, 2).unwrap(),
        Some(true)
    );
    assert_eq!(
        first.take_notification_slot(t0, hour, 2).unwrap(),
        Some(false)
    );
    let later = t0 + time::Duration::minutes(59);
    assert_eq!(
        second.take_notification_slot(later, hour, 2).unwrap(),
        Some(false)
    );
    let next = t0 + time::Duration::hours(1);
    assert_eq!(
        second.take_notification_slot(next, hour, 2).unwrap(),
        Some(true)
    );
    assert_eq!(
        first.take_notification_slot(next, hour, 2).unwrap(),
        Some(true)
    );
    assert_eq!(
        first.take_notification_slot(next, hour, 2).unwrap(),
        Some(false)
    );
    // A clock set back ends the window rather than stretching it.
    assert_eq!(
        first.take_notification_slot(t0, hour, 2).unwrap(),
        Some(true)
    );
    let memory = error_tracker::MemoryStore::new();
    assert_eq!(memory.take_notification_slot(t0, hour, 2).unwrap(), None);
}
