//! Breadcrumbs: the events before an error travel with it, masked, from its own span tree
//! (across threads and `.await` points) or, outside any span, from its thread.

mod common;

use error_tracker::{ErrorGroup, Occurrence};
use tracing::Instrument;

fn sample<'a>(groups: &'a [ErrorGroup], message: &str) -> &'a Occurrence {
    &groups
        .iter()
        .find(|group| group.summary.message == message)
        .unwrap_or_else(|| panic!("{message}: {groups:#?}"))
        .samples[0]
}

fn messages(occurrence: &Occurrence) -> Vec<&str> {
    occurrence
        .breadcrumbs
        .iter()
        .map(|crumb| crumb.message.as_str())
        .collect()
}

#[test]
fn the_newest_events_of_the_span_tree_come_with_the_error_masked() {
    let (_tracker, groups) = common::run(common::builder().breadcrumbs(20), || {
        let request = tracing::info_span!("request", id = 1u64);
        let _request = request.enter();
        tracing::info!(password = "hunter2", user = "ada", "login");
        tracing::warn!("retrying with token=s3cr3t-value");
        tracing::debug!("below the breadcrumb level");
        {
            // A child span that closes before the error: its events stay in the tree.
            let _db = tracing::info_span!("db").entered();
            tracing::info!(rows = 3u64, "query ran");
        }
        tracing::error!("request failed");
    });
    let occurrence = sample(&groups, "request failed");
    assert_eq!(
        messages(occurrence),
        ["login", "retrying with token=*************", "query ran"]
    );
    let login = &occurrence.breadcrumbs[0];
    assert_eq!(login.fields["password"], "*************");
    assert_eq!(login.fields["user"], "ada");
    assert_eq!(login.level, error_tracker::Level::Info);
    assert_eq!(login.target, "breadcrumbs");
    assert_eq!(occurrence.breadcrumbs[2].fields["rows"], 3);
    assert!(
        !serde_json::to_string(occurrence)
            .unwrap()
            .contains("hunter2")
    );
}

#[test]
fn a_ring_keeps_the_last_n_and_trees_do_not_mix() {
    let (_tracker, groups) = common::run(common::builder().breadcrumbs(3), || {
        let a = tracing::info_span!("a");
        let b = tracing::info_span!("b");
        for n in 0..5 {
            a.in_scope(|| tracing::info!("a{n}"));
            b.in_scope(|| tracing::info!("b{n}"));
        }
        a.in_scope(|| tracing::error!("a failed"));
        b.in_scope(|| assert!(error_tracker::capture_message("b failed")));
        tracing::info!("outside 1");
        tracing::info!("outside 2");
        tracing::error!("outside failed");
    });
    assert_eq!(messages(sample(&groups, "a failed")), ["a2", "a3", "a4"]);
    assert_eq!(messages(sample(&groups, "b failed")), ["b2", "b3", "b4"]);
    assert_eq!(
        messages(sample(&groups, "outside failed")),
        ["outside 1", "outside 2"]
    );
}

#[test]
fn a_task_keeps_its_breadcrumbs_across_threads_and_await_points() {
    let (tracker, dispatch) = common::setup(common::builder().breadcrumbs(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..4u64 {
            let dispatch = dispatch.clone();
            tasks.push(tokio::spawn(
                tracing::instrument::WithSubscriber::with_subscriber(
                    async move {
                        for step in 0..5u64 {
                            tracing::info!(task, step, "step");
                            tokio::task::yield_now().await;
                        }
                        tracing::error!(task, "task failed");
                    }
                    .instrument(tracing::info_span!("task", task)),
                    dispatch,
                ),
            ));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let groups = common::all_groups(&tracker);
    let group = common::single(&groups);
    assert_eq!(group.summary.count, 4);
    for occurrence in &group.samples {
        let task = &occurrence.fields["task"];
        assert_eq!(occurrence.breadcrumbs.len(), 5, "{occurrence:#?}");
        for (step, crumb) in occurrence.breadcrumbs.iter().enumerate() {
            assert_eq!(&crumb.fields["task"], task, "only its own task's");
            assert_eq!(crumb.fields["step"], step as u64);
        }
    }
}

#[test]
fn breadcrumbs_are_off_by_default_and_levels_are_chosen() {
    let (_tracker, groups) = common::run(common::builder(), || {
        let _span = tracing::info_span!("request").entered();
        tracing::info!("ignored");
        tracing::error!("failed");
    });
    assert!(sample(&groups, "failed").breadcrumbs.is_empty());
    let (_tracker, groups) = common::run(
        common::builder()
            .breadcrumbs(5)
            .breadcrumb_level(tracing::Level::DEBUG),
        || {
            tracing::trace!("not kept");
            tracing::debug!("kept");
            tracing::error!("failed");
        },
    );
    assert_eq!(messages(sample(&groups, "failed")), ["kept"]);
}
