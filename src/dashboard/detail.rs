//! The detail page of one error: summary, actions, charts, integrations and samples.

use maud::{Markup, html};
use time::OffsetDateTime;

use super::Base;
use super::charts;
use super::handlers::Charts;
use super::html::{count, hidden, kv_table, short_location, status_badge, timestamp, when};
use crate::occurrence::Occurrence;
use crate::store::{ErrorGroup, Status};

/// What the detail page shows.
pub(crate) struct DetailView<'a> {
    pub(crate) base: &'a Base,
    pub(crate) group: &'a ErrorGroup,
    /// The charts, or why they could not be drawn.
    pub(crate) charts: &'a Result<Charts, String>,
    pub(crate) csrf_token: &'a str,
    pub(crate) now: OffsetDateTime,
    /// The link template for trace ids, if any.
    pub(crate) trace_url: Option<&'a str>,
}

/// The detail page's body.
pub(crate) fn render(view: &DetailView<'_>) -> Markup {
    let DetailView {
        base,
        group,
        charts,
        csrf_token,
        now,
        trace_url,
    } = view;
    let error = &group.summary;
    let location = &error.location;
    html! {
        p.crumbs { a href=(base.home) { "← All errors" } }
        section.headline {
            div {
                h1 { span.kind { (error.kind) } }
                p.message { (error.message) }
            }
            div.status { (status_badge(error.status, error.regressed)) }
        }
        (actions(base, &error.fingerprint, error.status, csrf_token))
        @if let Some(resolved_in) = &error.resolved_in {
            p.resolved-in.muted { "Resolved " (resolved_in.describe()) ": occurrences of older releases do not reopen it." }
        }
        section.facts {
            dl {
                div { dt { "Occurrences" } dd.big { (count(error.count)) } }
                div { dt { "First seen" } dd { (when(error.first_seen, *now)) br; small.muted { (timestamp(error.first_seen)) } } }
                div { dt { "Last seen" } dd { (when(error.last_seen, *now)) br; small.muted { (timestamp(error.last_seen)) } } }
                div { dt { "Level" } dd { (error.level.as_str()) } }
                div { dt { "Location" } dd { code { (short_location(location)) } } }
                div { dt { "Target" } dd { code { (location.target) } } }
                @if let Some(module) = &location.module {
                    div { dt { "Module" } dd { code { (module) } } }
                }
                @if let Some(first) = &error.first_release {
                    div { dt { "First release" } dd { code { (first) } } }
                }
                @if let Some(last) = &error.last_release {
                    div { dt { "Last release" } dd { code { (last) } } }
                }
                div { dt { "Fingerprint" } dd { code { (error.fingerprint) } " " small.muted { "v" (error.grouping_version) } } }
            }
        }
        section.charts {
            h2 { "Occurrences" }
            @match charts {
                Ok(charts) => {
                    (charts::bar_chart(
                        "Per hour, last 24 hours (UTC)",
                        &charts.hourly,
                        |b| format!("{:02}:00–{:02}:59 UTC, {}", b.start.hour(), b.start.hour(), b.start.date()),
                        |i, b| (i % 3 == 0).then(|| format!("{:02}h", b.start.hour())),
                    ))
                    (charts::bar_chart(
                        "Per day, last 30 days (UTC)",
                        &charts.daily,
                        |b| b.start.date().to_string(),
                        |i, b| (i % 5 == 0 || i + 1 == charts.daily.len()).then(|| format!("{} {}", b.start.day(), short_month(b.start.month()))),
                    ))
                }
                Err(why) => p.notice { "The charts cannot be shown: " (why) }
            }
        }
        (integrations(group, *now))
        section.samples {
            h2 {
                "Samples "
                span.muted { "(" (group.samples.len()) " kept"
                    @if group.dropped_samples > 0 { ", " (count(group.dropped_samples)) " not kept" }
                ")" }
            }
            @if group.samples.is_empty() {
                p.muted { "No sample was kept for this error." }
            }
            // Newest first; the newest is open.
            @for (i, sample) in group.samples.iter().rev().enumerate() {
                (sample_view(sample, i == 0, *now, *trace_url))
            }
        }
    }
}

fn short_month(month: time::Month) -> &'static str {
    use time::Month::*;
    match month {
        January => "Jan",
        February => "Feb",
        March => "Mar",
        April => "Apr",
        May => "May",
        June => "Jun",
        July => "Jul",
        August => "Aug",
        September => "Sep",
        October => "Oct",
        November => "Nov",
        December => "Dec",
    }
}

/// The action buttons; delete hides behind a disclosure, so that it takes two clicks.
fn actions(base: &Base, fingerprint: &str, status: Status, csrf_token: &str) -> Markup {
    let here = base.path(&format!("/error/{fingerprint}"));
    let form = |action: &str, label: &str, return_to: &str, class: &str| {
        html! {
            form.inline method="post" action=(format!("{here}/{action}")) {
                (hidden(super::csrf::FIELD_NAME, csrf_token))
                (hidden("return_to", return_to))
                button type="submit" class=(class) { (label) }
            }
        }
    };
    html! {
        div.action-bar {
            @if status != Status::Resolved {
                (form("resolve", "Resolve", &here, "resolve"))
                (form("resolve-next-release", "Resolve in the next release", &here, "resolve"))
                form.inline method="post" action=(format!("{here}/resolve-in-release")) {
                    (hidden(super::csrf::FIELD_NAME, csrf_token))
                    (hidden("return_to", &here))
                    input type="text" name="release" required maxlength="200" placeholder="release, e.g. 1.4.0" aria-label="Release the error is fixed in";
                    button type="submit" class="resolve" { "Resolve in release" }
                }
            }
            @if status != Status::Ignored { (form("ignore", "Ignore", &here, "ignore")) }
            @if status != Status::Unresolved { (form("reopen", "Reopen", &here, "reopen")) }
            details.delete {
                summary { "Delete…" }
                p.muted { "Deletes the error, its samples and its counts. A new occurrence starts a new error." }
                (form("delete", "Delete this error", &base.home, "danger"))
            }
        }
    }
}

/// Ticket reference, notification state and regressions, as the store keeps them.
fn integrations(group: &ErrorGroup, now: OffsetDateTime) -> Markup {
    let notified = &group.notification;
    let reasons = notification_reasons(group);
    html! {
        section.integrations {
            h2 { "Ticket and notifications" }
            dl.inline {
                div {
                    dt { "Ticket" }
                    @match &group.ticket {
                        Some(ticket) => dd { code { (ticket) } },
                        None => dd.muted { "None filed" },
                    }
                }
                div {
                    dt { "Notifications" }
                    @if notified.sent == 0 {
                        dd.muted { "None sent" }
                    } @else {
                        dd { (notified.sent) " sent" }
                    }
                }
                @if let Some(last) = notified.last_sent {
                    div { dt { "Last sent" } dd { (when(last, now)) } }
                }
                @if !reasons.is_empty() {
                    div { dt { "Announced" } dd { (reasons) } }
                }
                div { dt { "Regressions" } dd { (group.regressions) } }
            }
        }
    }
}

/// What the notifications so far announced: "new, 100 occurrences, 1 regression".
fn notification_reasons(group: &ErrorGroup) -> String {
    let notified = &group.notification;
    let mut reasons = Vec::new();
    if notified.new_notified {
        reasons.push("new".to_owned());
    }
    if notified.milestone_notified > 0 {
        reasons.push(format!("{} occurrences", notified.milestone_notified));
    }
    match notified.regressions_notified {
        0 => {}
        1 => reasons.push("1 regression".to_owned()),
        n => reasons.push(format!("{n} regressions")),
    }
    reasons.join(", ")
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "—" } else { text }
}

/// The target of the HTTP middleware's request span (`crate::http`, feature `http`).
const HTTP_TARGET: &str = "error_tracker::http";

/// Extras shown under "Request": the HTTP middleware's (`http.headers`, `http.query`,
/// `http.jar`, `http.body`) and a `request` extra set by hand.
fn is_request_extra(key: &str) -> bool {
    key == "request" || key.starts_with("http.")
}

/// The request a sample was raised in: the HTTP middleware's span fields (method, host,
/// path, route, status, ...), then the request extras, a hand-set `request` map spread out.
fn request_context(sample: &Occurrence) -> Vec<(&str, &serde_json::Value)> {
    let span_fields = sample
        .spans
        .iter()
        .filter(|span| span.target == HTTP_TARGET)
        .flat_map(|span| span.fields.iter());
    let extras = sample
        .extras
        .iter()
        .filter(|(key, _)| is_request_extra(key))
        .flat_map(|(key, value)| match (key.as_str(), value.as_object()) {
            ("request", Some(map)) => map.iter().collect::<Vec<_>>(),
            _ => vec![(key, value)],
        });
    span_fields
        .chain(extras)
        .map(|(key, value)| (key.as_str(), value))
        .collect()
}

/// The link to a trace in a tracing backend: the template with the ids in it. Ids are hex
/// digits, which need no escaping; anything else is not linked.
fn trace_link(template: Option<&str>, trace_id: &str, span_id: Option<&str>) -> Option<String> {
    let template = template?;
    let hex = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(trace_id) || !span_id.is_none_or(hex) {
        return None;
    }
    Some(
        template
            .replace("{trace_id}", trace_id)
            .replace("{span_id}", span_id.unwrap_or_default()),
    )
}

/// A backtrace: the application's frames first, every frame behind a closed disclosure.
fn backtrace(frames: &[crate::Frame]) -> Markup {
    let first = crate::backtrace::shown_first(frames);
    let frame = |frame: &crate::Frame| {
        html! {
            li.frame.in-app[frame.in_app] {
                code { (frame.function) }
                @if let Some(file) = &frame.file {
                    " " small.muted {
                        (file)
                        @if let Some(line) = frame.line { ":" (line) }
                        @if let Some(column) = frame.column { ":" (column) }
                    }
                }
            }
        }
    };
    html! {
        h3 { "Backtrace" }
        ol.backtrace {
            @for f in &first { (frame(f)) }
        }
        @if first.len() < frames.len() {
            details.all-frames {
                summary { "All " (frames.len()) " frames, innermost first" }
                ol.backtrace {
                    @for f in frames { (frame(f)) }
                }
            }
        }
    }
}

fn sample_view(
    sample: &Occurrence,
    open: bool,
    now: OffsetDateTime,
    trace_url: Option<&str>,
) -> Markup {
    let thread = match &sample.thread.name {
        Some(name) => format!("{name} ({})", sample.thread.id),
        None => sample.thread.id.clone(),
    };
    let request = request_context(sample);
    html! {
        details.sample open[open] {
            summary {
                (when(sample.time, now)) " · " (timestamp(sample.time))
                @if sample.truncated { " " span.badge.warn title="At least one value was cut to the length limit" { "truncated" } }
            }
            div.sample-body {
                p.message { (sample.message) }
                dl.inline {
                    div { dt { "Kind" } dd { code { (sample.kind) } } }
                    div { dt { "Level" } dd { (sample.level.as_str()) } }
                    div { dt { "Location" } dd { code { (short_location(&sample.location)) } } }
                    div { dt { "Thread" } dd { code { (or_dash(&thread)) } } }
                    div { dt { "Host" } dd { (or_dash(&sample.host)) } }
                    div { dt { "Process" } dd { (sample.process_id) } }
                    @if let Some(release) = &sample.release {
                        div { dt { "Release" } dd { code { (release) } } }
                    }
                    @if let Some(environment) = &sample.environment {
                        div { dt { "Environment" } dd { (environment) } }
                    }
                    div { dt { "Id" } dd { code { (sample.id) } } }
                    @if let Some(trace_id) = &sample.trace_id {
                        div { dt { "Trace" } dd {
                            @match trace_link(trace_url, trace_id, sample.span_id.as_deref()) {
                                Some(link) => a href=(link) { code { (trace_id) } },
                                None => code { (trace_id) },
                            }
                            @if let Some(span_id) = &sample.span_id {
                                " " small.muted { "span " code { (span_id) } }
                            }
                        } }
                    }
                }
                @if !sample.error_chain.is_empty() {
                    h3 { "Error chain" }
                    ol.chain {
                        @for link in &sample.error_chain {
                            li { code { (link.kind) } ": " (link.message) }
                        }
                    }
                }
                @if !sample.breadcrumbs.is_empty() {
                    h3 { "Breadcrumbs" }
                    table.breadcrumbs {
                        thead { tr { th { "Time" } th { "Level" } th { "Target" } th { "Message" } } }
                        tbody {
                            @for crumb in &sample.breadcrumbs {
                                tr {
                                    td { (timestamp(crumb.time)) }
                                    td { (crumb.level.as_str()) }
                                    td { code { (crumb.target) } }
                                    td {
                                        (crumb.message)
                                        @if !crumb.fields.is_empty() {
                                            (kv_table(crumb.fields.iter().map(|(k, v)| (k.as_str(), v))))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !sample.backtrace.is_empty() {
                    (backtrace(&sample.backtrace))
                }
                @if !request.is_empty() {
                    h3 { "Request" }
                    (kv_table(request))
                }
                h3 { "Fields" }
                (kv_table(sample.fields.iter().map(|(k, v)| (k.as_str(), v))))
                h3 { "Span trace" }
                @if sample.spans.is_empty() {
                    p.muted { "Not raised inside a span." }
                } @else {
                    ol.spans {
                        @if sample.spans_omitted > 0 {
                            li.muted { (sample.spans_omitted) " outer spans left out" }
                        }
                        @for span in &sample.spans {
                            li {
                                code.span-name { (span.target) "::" (span.name) }
                                @if let (Some(file), Some(line)) = (&span.file, span.line) {
                                    " " small.muted { (file) ":" (line) }
                                }
                                @if !span.fields.is_empty() {
                                    (kv_table(span.fields.iter().map(|(k, v)| (k.as_str(), v))))
                                }
                            }
                        }
                    }
                }
                @if sample.extras.keys().any(|k| !is_request_extra(k)) {
                    h3 { "Extras" }
                    (kv_table(sample.extras.iter().filter(|(k, _)| !is_request_extra(k)).map(|(k, v)| (k.as_str(), v))))
                }
                @if !sample.tags.is_empty() {
                    h3 { "Tags" }
                    p.tags {
                        @for (key, value) in &sample.tags {
                            span.tag { (key) "=" (value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())) }
                            " "
                        }
                    }
                }
                @if let Some(user) = &sample.user {
                    h3 { "User" }
                    (super::html::value(user))
                }
            }
        }
    }
}
