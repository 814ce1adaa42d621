//! Backtraces of `error!` events and `capture_*` calls, by `BacktraceMode`.

mod common;

use error_tracker::{BacktraceMode, ErrorGroup};

fn with_backtrace(group: &ErrorGroup) -> usize {
    group
        .samples
        .iter()
        .filter(|sample| !sample.backtrace.is_empty())
        .count()
}

fn group<'a>(groups: &'a [ErrorGroup], message: &str) -> &'a ErrorGroup {
    groups
        .iter()
        .find(|group| group.summary.message == message)
        .unwrap_or_else(|| panic!("{message}: {groups:#?}"))
}

#[inline(never)]
fn hot_path() {
    tracing::error!("hot");
}

#[test]
fn new_callsites_take_one_backtrace_per_callsite() {
    let (_tracker, groups) = common::run(
        common::builder().backtraces(BacktraceMode::NewCallsites),
        || {
            for _ in 0..5 {
                hot_path();
            }
            tracing::error!("elsewhere");
            error_tracker::capture_message("captured");
        },
    );
    let hot = group(&groups, "hot");
    assert_eq!(hot.summary.count, 5);
    assert_eq!(hot.samples.len(), 5);
    assert_eq!(with_backtrace(hot), 1, "only the callsite's first error");
    let first = hot
        .samples
        .iter()
        .find(|sample| !sample.backtrace.is_empty())
        .unwrap();
    let frame = first.backtrace.iter().find(|frame| frame.in_app).unwrap();
    assert!(
        frame.function.ends_with("hot_path"),
        "{:#?}",
        first.backtrace
    );
    assert!(
        !first.backtrace[0].function.starts_with("tracing"),
        "the subscriber's frames are trimmed: {:#?}",
        first.backtrace
    );
    assert_eq!(with_backtrace(group(&groups, "elsewhere")), 1);
    let captured = group(&groups, "captured");
    assert_eq!(with_backtrace(captured), 1);
    assert!(
        captured.samples[0].backtrace[0]
            .function
            .contains("new_callsites_take_one_backtrace_per_callsite"),
        "{:#?}",
        captured.samples[0].backtrace
    );
}

#[test]
fn always_takes_one_per_error_and_off_none() {
    let (_tracker, groups) =
        common::run(common::builder().backtraces(BacktraceMode::Always), || {
            for _ in 0..3 {
                hot_path();
            }
        });
    assert_eq!(with_backtrace(group(&groups, "hot")), 3);
    let (_tracker, groups) = common::run(common::builder(), || {
        hot_path();
        error_tracker::capture_error(&std::io::Error::other("io"));
    });
    for group in &groups {
        assert_eq!(with_backtrace(group), 0, "off by default");
    }
}

#[test]
fn the_mode_and_interval_come_from_the_configuration() {
    let config = error_tracker::config::Config::from_toml_str(
        "backtraces = \"new_callsites\"\nbacktrace_interval_secs = 0\npanic_backtraces = false\n",
    )
    .unwrap();
    assert_eq!(config.backtraces, BacktraceMode::NewCallsites);
    let (_tracker, groups) = common::run(common::builder().config(&config), || {
        for _ in 0..3 {
            hot_path();
        }
    });
    assert_eq!(
        with_backtrace(group(&groups, "hot")),
        3,
        "an interval of zero takes one every time"
    );
    let wrong = error_tracker::config::Config::from_toml_str("backtraces = \"sometimes\"\n");
    assert!(wrong.is_err());
}
