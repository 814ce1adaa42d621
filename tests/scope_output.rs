//! `configure_scope` beside a `fmt` layer, installed with `.init()` as an application does:
//! the scope's values reach the errors and nothing of the scope shows in the log output.
//!
//! One test in this binary: it installs the process's global subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::prelude::*;

/// The `fmt` layer's output, kept for the test to read.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Output {
    type Writer = Output;

    fn make_writer(&'a self) -> Output {
        self.clone()
    }
}

#[test]
fn scopes_reach_errors_in_their_place_and_stay_out_of_the_fmt_output() {
    let tracker = common::builder().build().unwrap();
    let output = Output::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(output.clone()),
        )
        .with(tracker.layer())
        .init();

    let _outer = error_tracker::configure_scope(|scope| {
        scope
            .set_extra("tenant", "acme")
            .set_extra("level", "outer");
    });
    let request = tracing::info_span!("request", id = 7u64);
    error_tracker::configure_span_scope(&request, |scope| {
        scope
            .set_extra("level", "request")
            .set_extra("route", "/pay");
    });
    {
        let _request = request.enter();
        tracing::error!("in the request");
        let _inner = error_tracker::configure_scope(|scope| {
            scope.set_extra("route", "inner wins over the span it was opened in");
        });
        tracing::error!("inside the inner scope");
    }

    let groups = common::all_groups(&tracker);
    let extras = |message: &str| {
        groups
            .iter()
            .find(|group| group.summary.message == message)
            .unwrap_or_else(|| panic!("{message}: {groups:#?}"))
            .samples[0]
            .extras
            .clone()
    };
    let in_request = extras("in the request");
    assert_eq!(in_request["tenant"], "acme");
    assert_eq!(
        in_request["level"], "request",
        "a span inside the scope wins"
    );
    let inner = extras("inside the inner scope");
    assert_eq!(inner["route"], "inner wins over the span it was opened in");
    assert_eq!(inner["level"], "request");
    assert_eq!(inner["tenant"], "acme");
    for group in &groups {
        let spans = &group.samples[0].spans;
        assert_eq!(spans.len(), 1, "only the request span: {spans:?}");
        assert_eq!(spans[0].name, "request");
    }

    let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("request{id=7}: scope_output: in the request"),
        "{text}"
    );
    assert!(
        !text.contains("scope{") && !text.contains(":scope:"),
        "{text}"
    );
}
