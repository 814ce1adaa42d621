//! With a `tracing-opentelemetry` layer in the subscriber, each occurrence keeps the trace id
//! and span id that layer reports for its span; the dashboard shows and links them.
#![cfg(all(feature = "opentelemetry", feature = "dashboard"))]

mod common;
mod dashboard_common;

use error_tracker::dashboard::{Dashboard, LoopbackOnly};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

fn ids(span: &tracing::Span) -> (String, String) {
    let context = span.context();
    let otel = context.span();
    let span_context = otel.span_context();
    (
        span_context.trace_id().to_string(),
        span_context.span_id().to_string(),
    )
}

#[test]
fn occurrences_keep_the_ids_the_opentelemetry_layer_reports() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let tracker = common::builder().build().unwrap();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(tracker.layer()),
    );
    let (request_ids, job_ids) = tracing::dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request");
        let _request = request.enter();
        tracing::error!("request failed");
        let job = tracing::info_span!("job");
        let _job = job.enter();
        assert!(error_tracker::capture_message("job failed"));
        (ids(&request), ids(&job))
    });
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("outside any span"));
    let groups = common::all_groups(&tracker);
    let sample = |message: &str| {
        groups
            .iter()
            .find(|group| group.summary.message == message)
            .unwrap_or_else(|| panic!("{message}: {groups:#?}"))
            .samples[0]
            .clone()
    };
    let request = sample("request failed");
    assert_eq!(request.trace_id.as_deref(), Some(request_ids.0.as_str()));
    assert_eq!(request.span_id.as_deref(), Some(request_ids.1.as_str()));
    assert_eq!(request_ids.0.len(), 32);
    let job = sample("job failed");
    assert_eq!(job.trace_id, request.trace_id, "one trace");
    assert_eq!(
        job.span_id.as_deref(),
        Some(job_ids.1.as_str()),
        "the inner span"
    );
    assert_ne!(job.span_id, request.span_id);
    let outside = sample("outside any span");
    assert_eq!((outside.trace_id, outside.span_id), (None, None));

    // The dashboard shows the ids, linked through the template.
    let dashboard = Dashboard::new(tracker.store().clone())
        .permission(LoopbackOnly)
        .trace_url("https://traces.example.com/trace/{trace_id}?span={span_id}");
    let server = dashboard_common::Server::start(dashboard.router());
    let fingerprint = &groups
        .iter()
        .find(|group| group.summary.message == "request failed")
        .unwrap()
        .summary
        .fingerprint;
    let page = dashboard_common::get(&server.url(&format!("/error/{fingerprint}")));
    assert_eq!(page.status, 200);
    let link = format!(
        "href=\"https://traces.example.com/trace/{}?span={}\"",
        request_ids.0, request_ids.1
    );
    assert!(page.body.contains(&link), "{}", page.body);
}

#[test]
fn without_an_opentelemetry_layer_there_are_no_ids() {
    let (_tracker, groups) = common::run(common::builder(), || {
        let _span = tracing::info_span!("request").entered();
        tracing::error!("failed");
    });
    let sample = &common::single(&groups).samples[0];
    assert_eq!((&sample.trace_id, &sample.span_id), (&None, &None));
}
