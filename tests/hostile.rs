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

#[test]
fn a_panicking_debug_impl_in_a_span_field_is_contained() {
    let (tracker, groups) = run(common::builder(), || {
        {
            let _span = info_span!("bad", value = ?PanickingDebug).entered();
        }
        let late = info_span!("late", value = tracing::field::Empty);
        late.record("value", tracing::field::debug(PanickingDebug));
        // The registry's lock on the span's extensions was not poisoned: an ordinary span
        // after the panics records, and its error is kept with its fields.
        let _ok = info_span!("ordinary", n = 7u64).entered();
        late.record("value", 1u64);
        error!("after");
    });
    let group = single(&groups);
    assert_eq!(group.summary.message, "after");
    assert_eq!(group.samples[0].spans[0].fields["n"], 7);
    assert_eq!(tracker.stats().internal_panics, 2);
}

/// An error whose `source()` chain is `depth` links long and whose derived `Debug` shows
/// the whole chain, as `#[derive(Debug)]` on a struct holding its source does.
#[derive(Debug)]
struct Link {
    source: Option<Box<Link>>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("link failed")
    }
}

impl std::error::Error for Link {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

fn chain(depth: usize) -> Link {
    let mut link = Link { source: None };
    for _ in 1..depth {
        link = Link {
            source: Some(Box::new(link)),
        };
    }
    link
}

impl Drop for Link {
    // Iterative, so that dropping the test's own deep chain cannot overflow either.
    fn drop(&mut self) {
        let mut next = self.source.take();
        while let Some(mut link) = next {
            next = link.source.take();
        }
    }
}

#[test]
fn a_deep_source_chain_is_bounded_in_stack_and_cost() {
    let deep = chain(20_000);
    // A 256 KiB stack: formatting the whole chain would need hundreds of times that.
    let groups = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, || {
                run(common::builder(), || {
                    error!(error = &deep as &dyn std::error::Error, "deep");
                    error_tracker::capture_dyn_error(&deep);
                })
                .1
            })
            .unwrap()
            .join()
            .expect("no stack overflow")
    });
    let total: u64 = groups.iter().map(|g| g.summary.count).sum();
    assert_eq!(total, 2);
    for group in &groups {
        let sample = &group.samples[0];
        assert!(
            sample.error_chain.len() <= 32,
            "{}",
            sample.error_chain.len()
        );
        assert!(sample.error_chain.iter().all(|l| l.kind == "Link"));
    }
}

/// A value whose `Debug` writes `pieces` pieces and counts how many it was let write.
struct Counted<'a> {
    pieces: usize,
    written: &'a std::sync::atomic::AtomicUsize,
}

impl fmt::Debug for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.pieces {
            f.write_str("0123456789abcdef")?;
            self.written
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

#[test]
fn formatting_stops_at_the_bound() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let event = AtomicUsize::new(0);
    let span = AtomicUsize::new(0);
    let message = AtomicUsize::new(0);
    let (_tracker, groups) = run(common::builder().max_value_len(1024), || {
        let big = |written| Counted {
            pieces: 1 << 20,
            written,
        };
        let _span = info_span!("s", value = ?big(&span)).entered();
        error!(value = ?big(&event), "{:?}", big(&message));
    });
    let sample = &single(&groups).samples[0];
    assert!(sample.truncated);
    // 16 MiB to write; each writer stopped the value at its 1,024-byte bound.
    for written in [&event, &span, &message] {
        assert!(written.load(Ordering::Relaxed) <= 1024 / 16, "{written:?}");
    }
}

struct Captures;

impl fmt::Display for Captures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `tracing` itself drops an event raised while it dispatches another (for every
        // subscriber), so this one never reaches the tracker; the manual API does.
        error!("logged while formatting");
        assert!(!error_tracker::capture_message("captured while formatting"));
        f.write_str("captures")
    }
}

#[test]
fn reentrant_captures_are_counted() {
    let (tracker, groups) = run(common::builder(), || {
        error!(value = %Captures, "outer");
        error_tracker::capture_message(Captures);
    });
    let messages: Vec<&str> = groups.iter().map(|g| g.summary.message.as_str()).collect();
    assert_eq!(groups.len(), 2, "{messages:?}");
    assert!(messages.contains(&"outer") && messages.contains(&"captures"));
    assert_eq!(tracker.stats().reentrant_captures, 2);
}
