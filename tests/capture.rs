//! Capturing through the layer and the manual API: what gets stored, and how it is grouped.

mod common;

use std::error::Error;
use std::fmt;
use std::time::Duration;

use common::{run, setup, single};
use error_tracker::{Status, TrackResult};
use tracing::{error, info, info_span, warn};

#[derive(Debug)]
struct DbError {
    source: std::io::Error,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("database unreachable")
    }
}

impl Error for DbError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

fn db_error() -> DbError {
    DbError {
        source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
    }
}

#[test]
fn no_error_stores_nothing() {
    let (tracker, groups) = run(common::builder(), || {
        info!("all good");
        warn!(user_id = 3, "slow");
        let _span = info_span!("request", id = 1).entered();
    });
    assert!(groups.is_empty());
    assert_eq!(tracker.stats().captured, 0);
}

#[test]
fn one_error_is_one_group_with_count_one() {
    let (_tracker, groups) = run(common::builder(), || {
        error!(order = 42, "payment failed");
    });
    let group = single(&groups);
    assert_eq!(group.summary.count, 1);
    assert_eq!(group.summary.message, "payment failed");
    assert_eq!(group.summary.kind, "event");
    assert_eq!(group.summary.status, Status::Unresolved);
    assert_eq!(group.summary.location.target, module_path!());
    assert_eq!(group.summary.location.file.as_deref(), Some(file!()));
    let sample = &group.samples[0];
    assert_eq!(sample.fields["order"], 42);
    assert!(sample.location.line.is_some());
    assert_eq!(sample.process_id, std::process::id());
    assert!(!sample.host.is_empty());
    assert_eq!(sample.level, error_tracker::Level::Error);
}

#[test]
fn the_same_error_again_counts_two_and_keeps_the_first() {
    let (_tracker, groups) = run(common::builder(), || {
        for attempt in 1..=2 {
            error!(attempt, "payment failed");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let group = single(&groups);
    assert_eq!(group.summary.count, 2);
    assert!(group.summary.last_seen > group.summary.first_seen);
    assert_eq!(group.samples.len(), 2);
    assert_eq!(
        group.samples[0].fields["attempt"], 1,
        "samples are oldest first"
    );
    assert_eq!(group.samples[1].fields["attempt"], 2);
}

#[test]
fn repeat_after_a_flush_moves_last_seen_and_keeps_first_seen() {
    let (tracker, dispatch) = setup(common::builder());
    tracing::dispatcher::with_default(&dispatch, || error!(user = "a", "lookup failed"));
    let first = common::all_groups(&tracker);
    std::thread::sleep(Duration::from_millis(5));
    tracing::dispatcher::with_default(&dispatch, || error!(user = "b", "lookup failed"));
    let second = common::all_groups(&tracker);
    let (before, after) = (&single(&first).summary, &single(&second).summary);
    assert_eq!(after.count, 2);
    assert_eq!(after.first_seen, before.first_seen);
    assert!(after.last_seen > before.last_seen);
    assert_eq!(after.message, before.message);
}

#[test]
fn ids_in_messages_make_one_group() {
    let (_tracker, groups) = run(common::builder(), || {
        error!("user 17 not found");
        error!("user 23 not found");
        error!("user 9041 not found");
        error!("request 6f1c2a44-0d3e-4c37-9d0b-1f2e3d4c5b6a timed out after 31.5s");
        error!("request 0e7b8c9d-aaaa-4bbb-8ccc-123456789abc timed out after 2.25s");
    });
    assert_eq!(groups.len(), 2, "{groups:#?}");
    let counts: Vec<u64> = groups.iter().map(|g| g.summary.count).collect();
    assert!(counts.contains(&3) && counts.contains(&2), "{counts:?}");
}

#[test]
fn different_errors_make_different_groups() {
    let (_tracker, groups) = run(common::builder(), || {
        error!("payment failed");
        error!("shipping failed");
        error!(error = &db_error() as &dyn Error, "payment failed");
        error!(target: "other::module", "payment failed");
    });
    assert_eq!(groups.len(), 4, "{groups:#?}");
}

#[test]
fn error_fields_give_the_chain_and_kind() {
    let (_tracker, groups) = run(common::builder(), || {
        let err = db_error();
        error!(error = &err as &dyn Error, "query failed");
    });
    let group = single(&groups);
    assert_eq!(group.summary.kind, "DbError");
    let chain = &group.samples[0].error_chain;
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].message, "database unreachable");
    assert_eq!(chain[1].kind, "std::io::Error");
    assert_eq!(chain[1].message, "connection refused");
}

#[test]
fn display_and_debug_error_fields_give_one_link() {
    let (_tracker, groups) = run(common::builder(), || {
        let err = db_error();
        error!(error = %err, "display");
        error!(err = ?err, "debug");
    });
    assert_eq!(groups.len(), 2);
    for group in &groups {
        assert_eq!(group.samples[0].error_chain.len(), 1, "{group:#?}");
        assert_eq!(group.summary.kind, "error");
    }
    let display = groups
        .iter()
        .find(|g| g.summary.message == "display")
        .unwrap();
    assert_eq!(
        display.samples[0].error_chain[0].message,
        "database unreachable"
    );
}

#[tracing::instrument(err)]
fn load_profile(user_id: u64) -> Result<(), DbError> {
    Err(db_error())
}

#[test]
fn instrument_err_events_use_the_error_as_message() {
    let (_tracker, groups) = run(common::builder(), || {
        let _ = load_profile(7);
    });
    let group = single(&groups);
    assert_eq!(group.summary.message, "database unreachable");
    let sample = &group.samples[0];
    assert_eq!(sample.spans.last().unwrap().name, "load_profile");
    assert_eq!(sample.spans.last().unwrap().fields["user_id"], 7);
}

#[test]
fn span_fields_root_to_leaf_including_fields_recorded_late() {
    let (_tracker, groups) = run(common::builder(), || {
        let outer = info_span!("request", method = "GET", user_id = tracing::field::Empty);
        let _outer = outer.enter();
        outer.record("user_id", 99);
        let inner = info_span!("db", table = "orders");
        let _inner = inner.enter();
        inner.record("table", "payments");
        error!("query failed");
    });
    let spans = &single(&groups).samples[0].spans;
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "request");
    assert_eq!(spans[0].fields["method"], "GET");
    assert_eq!(spans[0].fields["user_id"], 99);
    assert_eq!(spans[1].name, "db");
    assert_eq!(
        spans[1].fields["table"], "payments",
        "a re-recorded field replaces the old value"
    );
    assert_eq!(spans[1].fields.len(), 1);
}

#[test]
fn scope_extras_apply_inside_the_scope_only() {
    let (_tracker, groups) = run(common::builder(), || {
        {
            let _scope = error_tracker::configure_scope(|s| {
                s.set_extra("user_id", 1234);
                s.set_extra("email", "a@b.c");
                s.set_tag("region", "eu");
                s.set_user(serde_json::json!({"id": 1234}));
            });
            let _nested = error_tracker::configure_scope(|s| {
                s.set_extra("email", "inner@b.c");
            });
            error!("inside");
        }
        error!("outside");
    });
    let inside = groups
        .iter()
        .find(|g| g.summary.message == "inside")
        .unwrap();
    let sample = &inside.samples[0];
    assert_eq!(sample.extras["user_id"], 1234);
    assert_eq!(sample.extras["email"], "inner@b.c", "the inner scope wins");
    assert_eq!(sample.tags["region"], "eu");
    assert_eq!(sample.user.as_ref().unwrap()["id"], 1234);
    let outside = groups
        .iter()
        .find(|g| g.summary.message == "outside")
        .unwrap();
    assert!(outside.samples[0].extras.is_empty());
    assert!(outside.samples[0].tags.is_empty());
}

#[test]
fn scope_follows_an_instrumented_future_across_await() {
    use tracing::Instrument;
    use tracing::instrument::WithSubscriber;
    let (tracker, dispatch) = setup(common::builder());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    // As with a global subscriber: the span is made where the tracker is installed.
    let scope = tracing::dispatcher::with_default(&dispatch, || {
        error_tracker::scope_span(|s| {
            s.set_extra("job", "nightly");
        })
    });
    runtime.block_on(async {
        let task = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tokio::task::yield_now().await;
            error!("after await");
        }
        .instrument(scope)
        .with_subscriber(dispatch.clone());
        tokio::spawn(task).await.unwrap();
    });
    let groups = common::all_groups(&tracker);
    assert_eq!(single(&groups).samples[0].extras["job"], "nightly");
}

#[test]
fn tags_and_fingerprint_fields_are_reserved() {
    let (_tracker, groups) = run(common::builder(), || {
        error!(
            fingerprint = "checkout-failures",
            tags.region = "eu",
            "card 1 declined"
        );
        error!(fingerprint = "checkout-failures", "totally different text");
    });
    let group = single(&groups);
    assert_eq!(group.summary.count, 2);
    let sample = &group.samples[0];
    assert_eq!(sample.tags["region"], "eu");
    assert!(sample.fields.is_empty(), "{:?}", sample.fields);
    assert_eq!(
        group.summary.fingerprint,
        error_tracker::fingerprint::custom_fingerprint("checkout-failures")
    );
}

#[test]
fn a_fingerprint_field_of_any_type_groups() {
    let (_tracker, groups) = run(common::builder(), || {
        error!(fingerprint = 42, "first text");
        error!(fingerprint = "42", "second text");
    });
    let group = single(&groups);
    assert_eq!(group.summary.count, 2);
    assert!(
        group
            .samples
            .iter()
            .all(|s| !s.fields.contains_key("fingerprint"))
    );
}

#[test]
fn scope_spans_carry_context_but_are_not_part_of_the_span_trace() {
    let (_tracker, groups) = run(common::builder(), || {
        let _request = info_span!("request").entered();
        let _scope = error_tracker::configure_scope(|s| {
            s.set_extra("user_id", 1);
        });
        error!("failed");
    });
    let sample = &single(&groups).samples[0];
    let names: Vec<&str> = sample.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["request"]);
    assert_eq!(sample.extras["user_id"], 1);
}

#[test]
fn the_capture_level_is_configurable() {
    let (_tracker, groups) = run(common::builder().level(tracing::Level::WARN), || {
        warn!("disk almost full");
        info!("fine");
    });
    assert_eq!(single(&groups).summary.level, error_tracker::Level::Warn);
}

#[test]
fn capture_error_records_the_type_name_and_chain() {
    let (_tracker, groups) = run(common::builder(), || {
        let _span = info_span!("job", name = "sync").entered();
        assert!(error_tracker::capture_error(&db_error()));
    });
    let group = single(&groups);
    assert_eq!(group.summary.kind, "DbError");
    assert_eq!(group.summary.location.file.as_deref(), Some(file!()));
    let sample = &group.samples[0];
    assert_eq!(sample.error_chain.len(), 2);
    assert_eq!(sample.spans[0].fields["name"], "sync");
}

#[test]
fn capture_dyn_error_and_capture_message() {
    let (_tracker, groups) = run(common::builder(), || {
        let boxed: Box<dyn Error + Send + Sync> = Box::new(db_error());
        assert!(error_tracker::capture_dyn_error(boxed.as_ref()));
        assert!(error_tracker::capture_message("cache is cold"));
        assert!(error_tracker::capture_message("cache is cold"));
    });
    assert_eq!(groups.len(), 2);
    let message = groups.iter().find(|g| g.summary.kind == "message").unwrap();
    assert_eq!(message.summary.message, "cache is cold");
    assert_eq!(message.summary.count, 2);
    assert!(groups.iter().any(|g| g.summary.kind == "DbError"));
}

#[test]
fn capture_without_a_tracker_is_a_no_op() {
    assert!(!error_tracker::capture_message("nobody listens"));
    assert!(!error_tracker::capture_error(&db_error()));
}

#[test]
fn messages_from_different_files_or_call_sites_in_one_file() {
    let (_tracker, groups) = run(common::builder(), || {
        error_tracker::capture_message("same text");
        error_tracker::capture_message("same text");
    });
    assert_eq!(
        single(&groups).summary.count,
        2,
        "line numbers never split a group"
    );
}

#[test]
fn track_re_raises_and_track_silent_swallows() {
    let (_tracker, groups) = run(common::builder(), || {
        let raised: Result<(), DbError> = error_tracker::track(|| Err(db_error()));
        assert_eq!(raised.unwrap_err().to_string(), "database unreachable");
        let silent: Option<u32> = error_tracker::track_silent(|| Err::<u32, _>(db_error()));
        assert_eq!(silent, None);
        let ok: Option<u32> = Ok::<u32, DbError>(5).track_silent();
        assert_eq!(ok, Some(5));
        let via_trait: Result<u32, DbError> = Err(db_error());
        assert!(via_trait.track().is_err());
    });
    assert_eq!(single(&groups).summary.count, 3);
}

#[test]
fn dropping_the_tracker_flushes() {
    let store = std::sync::Arc::new(error_tracker::MemoryStore::new());
    let (tracker, dispatch) = setup(common::builder().shared_store(store.clone()));
    tracing::dispatcher::with_default(&dispatch, || error!("before shutdown"));
    drop(tracker);
    assert_eq!(store.len(), 1);
    // The layer outlives the tracker and keeps its worker running: later errors are stored,
    // at the latest when the last layer goes.
    tracing::dispatcher::with_default(&dispatch, || error!("after the tracker"));
    drop(dispatch);
    assert_eq!(store.len(), 2);
}

#[test]
fn a_layer_made_from_a_dropped_tracker_keeps_capturing() {
    let store = std::sync::Arc::new(error_tracker::MemoryStore::new());
    // As in `ErrorTracker::builder().build()?.layer()`: the handle is gone at once.
    let layer = common::builder()
        .shared_store(store.clone())
        .build()
        .expect("tracker")
        .layer();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    tracing::dispatcher::with_default(&dispatch, || {
        error!("captured without a handle");
        assert!(error_tracker::capture_message("and through the manual API"));
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} stored",
            store.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(dispatch);
    assert_eq!(store.len(), 2);
}

#[test]
fn wide_integers_keep_every_digit_as_text() {
    let (_tracker, groups) = run(common::builder(), || {
        let _span = info_span!("transfer", amount = u128::MAX).entered();
        error!(balance = i128::MIN, small = 5u128, "overflow");
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(
        sample.fields["balance"],
        "-170141183460469231731687303715884105728"
    );
    assert_eq!(sample.fields["small"], "5");
    assert_eq!(
        sample.spans[0].fields["amount"],
        "340282366920938463463374607431768211455"
    );
}
