//! The `Store` contract: every store implementation runs these checks.
#![allow(dead_code)]

use error_tracker::store::{Change, GroupUpdate};
use error_tracker::{ListQuery, NotificationState, Occurrence, Status, StatusCounts, Store};
use time::{Duration, OffsetDateTime};

/// A base time well in the past, so that purge cut-offs are easy to place.
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

/// An update of `count` occurrences of `fingerprint`, last seen at `t0 + seconds`.
pub fn update(fingerprint: &str, message: &str, count: u64, seconds: i64) -> GroupUpdate {
    let mut sample = Occurrence::new("std::io::Error", message);
    sample.time = t0() + Duration::seconds(seconds);
    sample.fields.insert("n".into(), seconds.into());
    GroupUpdate {
        fingerprint: fingerprint.to_owned(),
        grouping_version: 1,
        count,
        first_seen: sample.time - Duration::seconds(1),
        last_seen: sample.time,
        samples: vec![sample],
        dropped_samples: count - 1,
        keep_samples: 3,
    }
}

/// Runs every check against a fresh, empty store made by `make`.
pub fn check_all<S: Store>(make: impl Fn() -> S) {
    records_new_then_repeated_adding_counts(&make());
    resolved_errors_regress_and_ignored_stay_ignored(&make());
    lists_newest_first_with_pages_and_totals(&make());
    filters_by_status_and_search(&make());
    counts_groups_per_status_with_and_without_a_search(&make());
    get_set_status_delete_on_unknown_fingerprints(&make());
    purges_by_last_seen(&make());
    keeps_only_the_newest_samples(&make());
    rejects_bad_pages(&make());
    counts_occurrences_per_hour(&make());
    keeps_notification_state_tickets_and_regressions(&make());
    a_resolution_in_a_release_survives_a_rolling_deploy(&make());
}

/// An update of one occurrence from `release`.
fn from_release(fingerprint: &str, release: &str, seconds: i64) -> GroupUpdate {
    let mut update = update(fingerprint, "boom", 1, seconds);
    update.samples[0].release = Some(release.to_owned());
    update
}

fn a_resolution_in_a_release_survives_a_rolling_deploy(store: &dyn Store) {
    use error_tracker::ResolvedIn;
    store.record(&[from_release("d", "shop@1.3.0", 1)]).unwrap();
    assert!(
        store
            .resolve_in("d", ResolvedIn::Release("shop@1.4.0".into()))
            .unwrap()
    );
    assert!(
        !store
            .resolve_in("unknown", ResolvedIn::NextAfter(None))
            .unwrap()
    );
    let summary = store.get("d").unwrap().unwrap().summary;
    assert_eq!(summary.status, Status::Resolved);
    assert_eq!(
        summary.resolved_in,
        Some(ResolvedIn::Release("shop@1.4.0".into()))
    );
    // Old hosts still run 1.3.0 while the deploy rolls: counted, not reopened.
    let old = store.record(&[from_release("d", "shop@1.3.0", 2)]).unwrap();
    assert_eq!(
        (old[0].change, old[0].status),
        (Change::Repeated, Status::Resolved)
    );
    // 1.4.0 itself: the fix did not hold.
    let new = store.record(&[from_release("d", "shop@1.4.0", 3)]).unwrap();
    assert_eq!(
        (new[0].change, new[0].status),
        (Change::Regressed, Status::Unresolved)
    );
    let group = store.get("d").unwrap().unwrap();
    assert_eq!(group.summary.count, 3);
    assert_eq!(group.regressions, 1);
    assert_eq!(
        group.summary.resolved_in, None,
        "a reopened error is plainly unresolved"
    );
    assert_eq!(group.summary.first_release.as_deref(), Some("shop@1.3.0"));
    assert_eq!(group.summary.last_release.as_deref(), Some("shop@1.4.0"));
    // Resolved in the next release: 1.4.0 keeps it resolved, 1.4.1 reopens it.
    store
        .resolve_in("d", ResolvedIn::NextAfter(group.summary.last_release))
        .unwrap();
    let same = store.record(&[from_release("d", "shop@1.4.0", 4)]).unwrap();
    assert_eq!(same[0].change, Change::Repeated);
    let older = store.record(&[from_release("d", "shop@1.3.0", 5)]).unwrap();
    assert_eq!(older[0].change, Change::Repeated);
    let summary = store.get("d").unwrap().unwrap().summary;
    assert_eq!(
        summary.last_release.as_deref(),
        Some("shop@1.4.0"),
        "the newest by version, not the last written"
    );
    let next = store.record(&[from_release("d", "shop@1.4.1", 6)]).unwrap();
    assert_eq!(next[0].change, Change::Regressed);
    // A plain resolve forgets the release: any occurrence reopens it.
    store
        .resolve_in("d", ResolvedIn::Release("shop@9.0.0".into()))
        .unwrap();
    store.set_status("d", Status::Resolved).unwrap();
    assert_eq!(store.get("d").unwrap().unwrap().summary.resolved_in, None);
    let any = store.record(&[from_release("d", "shop@1.0.0", 7)]).unwrap();
    assert_eq!(any[0].change, Change::Regressed);
}

fn records_new_then_repeated_adding_counts(store: &dyn Store) {
    let first = store
        .record(&[update("a", "boom 1", 2, 10), update("b", "other", 1, 11)])
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        (first[0].change, first[0].previous_count, first[0].count),
        (Change::New, 0, 2)
    );
    let again = store.record(&[update("a", "boom 2", 3, 20)]).unwrap();
    assert_eq!(
        (again[0].change, again[0].previous_count, again[0].count),
        (Change::Repeated, 2, 5)
    );
    let group = store.get("a").unwrap().unwrap();
    assert_eq!(group.summary.count, 5);
    assert_eq!(group.summary.message, "boom 1", "the first message is kept");
    assert_eq!(group.summary.first_seen, t0() + Duration::seconds(9));
    assert_eq!(group.summary.last_seen, t0() + Duration::seconds(20));
    assert_eq!(group.samples.len(), 2);
    assert_eq!(group.dropped_samples, 1 + 2);
}

fn resolved_errors_regress_and_ignored_stay_ignored(store: &dyn Store) {
    store
        .record(&[update("r", "x", 1, 1), update("i", "y", 1, 1)])
        .unwrap();
    assert!(store.set_status("r", Status::Resolved).unwrap());
    assert!(store.set_status("i", Status::Ignored).unwrap());
    let outcomes = store
        .record(&[update("r", "x", 1, 2), update("i", "y", 1, 2)])
        .unwrap();
    assert_eq!(outcomes[0].change, Change::Regressed);
    assert_eq!(outcomes[0].status, Status::Unresolved);
    assert_eq!(outcomes[1].change, Change::Repeated);
    assert_eq!(outcomes[1].status, Status::Ignored);
    let regressed = store.get("r").unwrap().unwrap().summary;
    assert!(regressed.regressed);
    assert_eq!(regressed.status, Status::Unresolved);
    store.set_status("r", Status::Resolved).unwrap();
    assert!(
        !store.get("r").unwrap().unwrap().summary.regressed,
        "resolving clears the flag"
    );
}

fn lists_newest_first_with_pages_and_totals(store: &dyn Store) {
    let updates: Vec<_> = (0..21)
        .map(|i| update(&format!("fp{i:02}"), &format!("error {i}"), 1, i))
        .collect();
    store.record(&updates).unwrap();
    let page1 = store.list(&ListQuery::page(1, 5)).unwrap();
    assert_eq!(page1.total, 21);
    let names: Vec<_> = page1.items.iter().map(|s| s.fingerprint.as_str()).collect();
    assert_eq!(names, ["fp20", "fp19", "fp18", "fp17", "fp16"]);
    assert!(page1.has_next() && !page1.has_previous());
    let page5 = store.list(&ListQuery::page(5, 5)).unwrap();
    assert_eq!(page5.items.len(), 1);
    assert_eq!(page5.items[0].fingerprint, "fp00");
    assert!(!page5.has_next() && page5.has_previous());
    assert_eq!(page5.page_count(), 5);
    let past_the_end = store.list(&ListQuery::page(9, 5)).unwrap();
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 21);
}

fn filters_by_status_and_search(store: &dyn Store) {
    store
        .record(&[
            update("a", "Disk FULL on /var", 1, 1),
            update("b", "timeout", 1, 2),
        ])
        .unwrap();
    store.set_status("b", Status::Ignored).unwrap();
    let ignored = store
        .list(&ListQuery::page(1, 10).with_status(Status::Ignored))
        .unwrap();
    assert_eq!(ignored.total, 1);
    assert_eq!(ignored.items[0].fingerprint, "b");
    let found = store
        .list(&ListQuery::page(1, 10).with_search("disk full"))
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].fingerprint, "a");
    let by_kind = store
        .list(&ListQuery::page(1, 10).with_search("IO::ERROR"))
        .unwrap();
    assert_eq!(by_kind.total, 2);
    let none = store
        .list(
            &ListQuery::page(1, 10)
                .with_search("disk")
                .with_status(Status::Ignored),
        )
        .unwrap();
    assert_eq!(none.total, 0);
}

fn counts_groups_per_status_with_and_without_a_search(store: &dyn Store) {
    assert_eq!(store.status_counts(None).unwrap(), StatusCounts::default());
    store
        .record(&[
            update("a", "Disk FULL on /var", 1, 1),
            update("b", "disk full on /home", 4, 2),
            update("c", "timeout", 2, 3),
            update("d", "timeout again", 1, 4),
        ])
        .unwrap();
    store.set_status("b", Status::Resolved).unwrap();
    store.set_status("c", Status::Ignored).unwrap();
    let all = store.status_counts(None).unwrap();
    assert_eq!(
        all,
        StatusCounts {
            unresolved: 2,
            resolved: 1,
            ignored: 1
        }
    );
    assert_eq!(all.total(), 4);
    // A blank search is no search.
    assert_eq!(store.status_counts(Some("  ")).unwrap(), all);
    let disk = store.status_counts(Some("DISK full")).unwrap();
    assert_eq!(
        disk,
        StatusCounts {
            unresolved: 1,
            resolved: 1,
            ignored: 0
        }
    );
    // The same figures as one listing per status.
    for search in [None, Some("disk full"), Some("timeout"), Some("nothing")] {
        let counts = store.status_counts(search).unwrap();
        for (status, counted) in [
            (Status::Unresolved, counts.unresolved),
            (Status::Resolved, counts.resolved),
            (Status::Ignored, counts.ignored),
        ] {
            let mut query = ListQuery::page(1, 10).with_status(status);
            query.search = search.map(str::to_owned);
            assert_eq!(store.list(&query).unwrap().total, counted, "{search:?}");
        }
    }
}

fn get_set_status_delete_on_unknown_fingerprints(store: &dyn Store) {
    assert!(store.get("nope").unwrap().is_none());
    assert!(!store.set_status("nope", Status::Resolved).unwrap());
    assert!(!store.delete("nope").unwrap());
    store.record(&[update("a", "x", 1, 1)]).unwrap();
    assert!(store.delete("a").unwrap());
    assert!(store.get("a").unwrap().is_none());
    assert_eq!(store.list(&ListQuery::page(1, 10)).unwrap().total, 0);
}

fn purges_by_last_seen(store: &dyn Store) {
    store
        .record(&[update("old", "x", 1, 10), update("new", "y", 1, 100)])
        .unwrap();
    assert_eq!(store.purge(t0() + Duration::seconds(50)).unwrap(), 1);
    assert!(store.get("old").unwrap().is_none());
    assert!(store.get("new").unwrap().is_some());
}

fn keeps_only_the_newest_samples(store: &dyn Store) {
    for i in 0..5 {
        store.record(&[update("a", "x", 1, i)]).unwrap();
    }
    let group = store.get("a").unwrap().unwrap();
    let kept: Vec<_> = group
        .samples
        .iter()
        .map(|s| s.fields["n"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [2, 3, 4]);
    assert_eq!(group.dropped_samples, 2);
}

fn rejects_bad_pages(store: &dyn Store) {
    assert!(store.list(&ListQuery::page(0, 10)).is_err());
    assert!(store.list(&ListQuery::page(1, 0)).is_err());
}

fn counts_occurrences_per_hour(store: &dyn Store) {
    // t0 lies 800 s into its hour.
    let hour0 = t0() - Duration::seconds(800);
    store
        .record(&[update("a", "x", 2, 10), update("b", "y", 7, 10)])
        .unwrap();
    store.record(&[update("a", "x", 3, 20)]).unwrap();
    store.record(&[update("a", "x", 4, 2 * 3600 + 5)]).unwrap();
    assert_eq!(
        store.hourly_counts("a", hour0 - Duration::days(1)).unwrap(),
        [(hour0, 5), (hour0 + Duration::hours(2), 4)],
        "counts go to the hour of last_seen; empty hours are left out"
    );
    assert_eq!(
        store
            .hourly_counts("a", hour0 + Duration::minutes(90))
            .unwrap(),
        [(hour0 + Duration::hours(2), 4)],
        "hours before the one containing `since` are left out"
    );
    assert_eq!(
        store
            .hourly_counts("a", hour0 + Duration::minutes(150))
            .unwrap(),
        [(hour0 + Duration::hours(2), 4)],
        "the hour containing `since` is included"
    );
    assert_eq!(store.hourly_counts("b", hour0).unwrap(), [(hour0, 7)]);
    assert!(store.hourly_counts("nope", hour0).unwrap().is_empty());
    store.delete("a").unwrap();
    assert!(store.hourly_counts("a", hour0).unwrap().is_empty());
}

fn keeps_notification_state_tickets_and_regressions(store: &dyn Store) {
    store.record(&[update("n", "x", 1, 1)]).unwrap();
    let fresh = store.get("n").unwrap().unwrap();
    assert_eq!(fresh.notification, NotificationState::default());
    assert_eq!((fresh.ticket, fresh.regressions), (None, 0));

    let sent = NotificationState {
        new_notified: true,
        milestone_notified: 10,
        regressions_notified: 0,
        sent: 1,
        last_sent: Some(t0()),
    };
    assert!(store.set_notification("n", &sent).unwrap());
    // An older state merges in without turning anything back.
    let older = NotificationState {
        new_notified: false,
        milestone_notified: 0,
        regressions_notified: 1,
        sent: 0,
        last_sent: Some(t0() - Duration::hours(1)),
    };
    assert!(store.set_notification("n", &older).unwrap());
    let merged = store.get("n").unwrap().unwrap().notification;
    assert_eq!(
        merged,
        NotificationState {
            regressions_notified: 1,
            ..sent.clone()
        }
    );
    assert!(!store.set_notification("unknown", &sent).unwrap());
    let many = [
        ("n".to_owned(), sent.clone()),
        ("unknown".to_owned(), older),
    ];
    assert_eq!(store.set_notifications(&many).unwrap(), 1);
    assert_eq!(store.get("n").unwrap().unwrap().notification, merged);

    assert!(store.set_ticket("n", "TICKET-1").unwrap());
    assert!(!store.set_ticket("unknown", "TICKET-2").unwrap());
    assert_eq!(
        store.get("n").unwrap().unwrap().ticket.as_deref(),
        Some("TICKET-1")
    );

    for round in 0..2 {
        store.set_status("n", Status::Resolved).unwrap();
        store.record(&[update("n", "x", 1, 10 + round)]).unwrap();
    }
    // A repeat of an unresolved error is no regression.
    store.record(&[update("n", "x", 1, 20)]).unwrap();
    let group = store.get("n").unwrap().unwrap();
    assert_eq!(group.regressions, 2);
    assert_eq!(group.notification, merged, "recording keeps the state");
    assert_eq!(group.ticket.as_deref(), Some("TICKET-1"));

    assert!(store.delete("n").unwrap());
    store.record(&[update("n", "x", 1, 30)]).unwrap();
    let reborn = store.get("n").unwrap().unwrap();
    assert_eq!(reborn.notification, NotificationState::default());
    assert_eq!((reborn.ticket, reborn.regressions), (None, 0));
}
