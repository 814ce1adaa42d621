//! Hostile input: huge values, deep nesting, odd characters, panicking `Debug` impls.

mod common;

use std::fmt;

use common::{run, single};
use tracing::{error, info_span};

const TRUNCATED: &str = "…[truncated]";

#[test]
fn a_ten_megabyte_value_is_truncated_and_marked() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let builder = common::builder().max_value_len(1024);
    let (_tracker, groups) = run(builder, || {
        let _span = info_span!("upload", body = huge.as_str()).entered();
        error!(payload = %huge, debug = ?huge, "{}", huge);
    });
    let group = single(&groups);
    let sample = &group.samples[0];
    assert!(sample.truncated);
    for value in [
        sample.fields["payload"].as_str().unwrap(),
        sample.fields["debug"].as_str().unwrap(),
        sample.spans[0].fields["body"].as_str().unwrap(),
        sample.message.as_str(),
    ] {
        assert!(value.ends_with(TRUNCATED), "{}", &value[..40]);
        assert!(value.len() <= 1024 + TRUNCATED.len() + 2, "{}", value.len());
    }
}

#[test]
fn scope_extras_are_bounded_too() {
    let huge = "y".repeat(1024 * 1024);
    let (_tracker, groups) = run(common::builder().max_value_len(100), || {
        let _scope = error_tracker::configure_scope(|s| {
            s.set_extra("blob", &huge);
            s.set_extra("nested", serde_json::json!({"list": [huge.clone()]}));
        });
        error!("failed");
    });
    let sample = &single(&groups).samples[0];
    assert!(sample.truncated);
    assert!(sample.extras["blob"].as_str().unwrap().ends_with(TRUNCATED));
    assert!(sample.extras["nested"]["list"][0].as_str().unwrap().len() < 200);
}

#[test]
fn a_thousand_nested_spans_are_bounded() {
    let (_tracker, groups) = run(common::builder().max_span_depth(64), || {
        fn nest(depth: usize) {
            if depth == 0 {
                error!("deep failure");
                return;
            }
            let _span = info_span!("level", depth).entered();
            nest(depth - 1);
        }
        // Enough stack for 1,000 frames in a debug build.
        std::thread::scope(|scope| {
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            std::thread::Builder::new()
                .stack_size(64 * 1024 * 1024)
                .spawn_scoped(scope, move || {
                    tracing::dispatcher::with_default(&dispatch, || nest(1000))
                })
                .unwrap()
                .join()
                .unwrap();
        });
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(sample.spans.len(), 64);
    assert_eq!(sample.spans_omitted, 1000 - 64);
    assert_eq!(
        sample.spans.last().unwrap().fields["depth"],
        1,
        "the innermost spans are kept"
    );
}

#[test]
fn a_scope_beyond_the_depth_limit_keeps_its_extras() {
    let (_tracker, groups) = run(common::builder().max_span_depth(2), || {
        let _scope = error_tracker::configure_scope(|s| {
            s.set_extra("tenant", "acme");
        });
        let _a = info_span!("a").entered();
        let _b = info_span!("b").entered();
        let _c = info_span!("c").entered();
        error!("deep");
    });
    let sample = &single(&groups).samples[0];
    assert_eq!(sample.extras["tenant"], "acme");
    let names: Vec<&str> = sample.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(
        sample.spans_omitted, 1,
        "the scope span is not counted as omitted"
    );
}

#[test]
fn non_ascii_and_control_characters_survive() {
    let text = "ошибка \u{0}\u{1b}[31m 🔥 \r\n\t 错误 \u{202e}";
    let (_tracker, groups) = run(common::builder().max_value_len(12), || {
        error!(value = text, "{}", text);
    });
    let sample = &single(&groups).samples[0];
    let value = sample.fields["value"].as_str().unwrap();
    assert!(
        value.starts_with("ошибка"),
        "cut on a character boundary: {value:?}"
    );
    let json = serde_json::to_string(sample).unwrap();
    let back: error_tracker::Occurrence = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, sample);
}

struct PanickingDebug;

impl fmt::Debug for PanickingDebug {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug impl bug")
    }
}

#[test]
fn a_panicking_debug_impl_does_not_take_the_caller_down() {
    let (tracker, groups) = run(common::builder(), || {
        error!(value = ?PanickingDebug, "first");
        error!("second");
    });
    assert_eq!(single(&groups).summary.message, "second");
    assert_eq!(tracker.stats().internal_panics, 1);
}
