//! What a notification says: its subject and its text and HTML bodies, for the SMTP notifier
//! and for custom notifiers that want the same text.
//!
//! Everything here comes from the store, which holds masked data only. The subject is one
//! line: line breaks and other control characters are replaced, so that an error message can
//! never add a header. HTML is escaped with `html-escape`.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute, encode_text};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{DigestNotice, ErrorNotice, Notification};
use crate::occurrence::{FieldMap, Location, Occurrence};

/// Longest subject, in characters, before the prefix; longer ones are cut with "…".
pub const MAX_SUBJECT_CHARS: usize = 160;

/// A notification as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line: `prefix Kind: message`.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// Renders `notification`; `prefix` starts the subject, `base_url` (the dashboard's
/// address, see [`error_link`]) adds links to the errors' pages.
pub fn render(notification: &Notification, prefix: &str, base_url: Option<&str>) -> Rendered {
    match notification {
        Notification::Error(notice) => render_error(notice, prefix, base_url),
        Notification::Digest(digest) => render_digest(digest, prefix, base_url),
    }
}

/// The page of one error: `base_url` with `{fingerprint}` replaced, or, when it has no such
/// placeholder, the dashboard's detail page under `base_url` (`base_url/error/fingerprint`).
pub fn error_link(base_url: &str, fingerprint: &str) -> String {
    if base_url.contains("{fingerprint}") {
        base_url.replace("{fingerprint}", fingerprint)
    } else {
        format!("{}/error/{fingerprint}", base_url.trim_end_matches('/'))
    }
}

/// `text` on one line: control characters (CR, LF, tab, ...) become spaces, runs of spaces
/// one, and it is cut to `max` characters with "…".
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut chars = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if chars == max {
            if out.ends_with(' ') {
                out.pop();
            }
            out.push('…');
            return out;
        }
        last_space = c == ' ';
        out.push(c);
        chars += 1;
    }
    out.trim_end().to_owned()
}

fn subject(prefix: &str, body: &str) -> String {
    let body = one_line(body, MAX_SUBJECT_CHARS);
    let prefix = one_line(prefix, MAX_SUBJECT_CHARS);
    if prefix.is_empty() {
        body
    } else {
        format!("{prefix} {body}")
    }
}

fn time_text(time: OffsetDateTime) -> String {
    time.format(&Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

fn location_text(location: &Location) -> String {
    let mut text = location.target.clone();
    if let Some(file) = &location.file {
        let _ = write!(text, " ({file}");
        if let Some(line) = location.line {
            let _ = write!(text, ":{line}");
        }
        text.push(')');
    }
    text
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The labelled lines of an error: (label, value).
fn facts(notice: &ErrorNotice, link: Option<&str>) -> Vec<(&'static str, String)> {
    let summary = &notice.error.summary;
    let mut facts = vec![
        ("Count", summary.count.to_string()),
        ("First seen", time_text(summary.first_seen)),
        ("Last seen", time_text(summary.last_seen)),
        ("Status", summary.status.as_str().to_owned()),
        ("Level", summary.level.as_str().to_owned()),
        ("Location", location_text(&summary.location)),
    ];
    if notice.error.regressions > 0 {
        facts.push(("Regressions", notice.error.regressions.to_string()));
    }
    if let Some(ticket) = &notice.error.ticket {
        facts.push(("Ticket", ticket.clone()));
    }
    if let Some(link) = link {
        facts.push(("Link", link.to_owned()));
    }
    facts.push(("Fingerprint", summary.fingerprint.clone()));
    facts
}

/// Named sections of the newest sample: (title, lines).
fn sections(sample: &Occurrence) -> Vec<(&'static str, Vec<String>)> {
    let map = |m: &FieldMap| -> Vec<String> {
        m.iter()
            .map(|(k, v)| format!("{k} = {}", value_text(v)))
            .collect()
    };
    let mut sections = Vec::new();
    if !sample.error_chain.is_empty() {
        sections.push((
            "Error chain",
            sample
                .error_chain
                .iter()
                .map(|link| format!("{}: {}", link.kind, link.message))
                .collect(),
        ));
    }
    if !sample.breadcrumbs.is_empty() {
        sections.push((
            "Breadcrumbs (oldest first)",
            sample.breadcrumbs.iter().map(ToString::to_string).collect(),
        ));
    }
    if !sample.backtrace.is_empty() {
        let first = crate::backtrace::shown_first(&sample.backtrace);
        let mut lines: Vec<String> = first.iter().map(ToString::to_string).collect();
        let others = sample.backtrace.len() - first.len();
        if others > 0 {
            lines.push(format!("... {others} other frames"));
        }
        sections.push(("Backtrace (innermost first)", lines));
    }
    if !sample.spans.is_empty() {
        let mut lines: Vec<String> = sample
            .spans
            .iter()
            .rev()
            .map(|span| {
                let mut line = format!("{} ({}", span.name, span.target);
                if let Some(file) = &span.file {
                    let _ = write!(line, ", {file}");
                    if let Some(n) = span.line {
                        let _ = write!(line, ":{n}");
                    }
                }
                line.push(')');
                for (k, v) in &span.fields {
                    let _ = write!(line, " {k}={}", value_text(v));
                }
                line
            })
            .collect();
        if sample.spans_omitted > 0 {
            lines.push(format!("... {} outer spans left out", sample.spans_omitted));
        }
        sections.push(("Span trace (innermost first)", lines));
    }
    for (title, fields) in [
        ("Fields", &sample.fields),
        ("Extras", &sample.extras),
        ("Tags", &sample.tags),
    ] {
        if !fields.is_empty() {
            sections.push((title, map(fields)));
        }
    }
    if let Some(user) = &sample.user {
        sections.push(("User", vec![value_text(user)]));
    }
    let mut process = Vec::new();
    if !sample.host.is_empty() {
        process.push(format!("host = {}", sample.host));
    }
    if sample.process_id != 0 {
        process.push(format!("process = {}", sample.process_id));
    }
    if !sample.thread.id.is_empty() || sample.thread.name.is_some() {
        process.push(format!(
            "thread = {} {}",
            sample.thread.name.as_deref().unwrap_or("(unnamed)"),
            sample.thread.id
        ));
    }
    if let Some(release) = &sample.release {
        process.push(format!("release = {release}"));
    }
    if let Some(environment) = &sample.environment {
        process.push(format!("environment = {environment}"));
    }
    if let Some(trace_id) = &sample.trace_id {
        process.push(format!("trace = {trace_id}"));
    }
    if let Some(span_id) = &sample.span_id {
        process.push(format!("span = {span_id}"));
    }
    if !process.is_empty() {
        sections.push(("Process", process));
    }
    sections
}

fn render_error(notice: &ErrorNotice, prefix: &str, base_url: Option<&str>) -> Rendered {
    let summary = &notice.error.summary;
    let headline = format!("{}: {}", summary.kind, summary.message);
    let link = base_url.map(|base| error_link(base, &summary.fingerprint));
    let facts = facts(notice, link.as_deref());
    let newest = notice.error.samples.last();
    let sections = newest.map(sections).unwrap_or_default();

    let mut text = format!("{}\n\n{headline}\n\n", notice.reason.describe());
    let width = facts.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    for (label, value) in &facts {
        let _ = writeln!(text, "{:width$} {value}", format!("{label}:"));
    }
    if let Some(sample) = newest {
        let _ = writeln!(
            text,
            "\nThe newest occurrence ({}):",
            time_text(sample.time)
        );
        if sample.message != summary.message {
            let _ = writeln!(text, "  {}", sample.message);
        }
    }
    for (title, lines) in &sections {
        let _ = writeln!(text, "\n{title}:");
        for line in lines {
            let _ = writeln!(text, "  {line}");
        }
    }

    let mut html = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    let _ = write!(
        html,
        "<p>{}</p><h2 style=\"font-family:monospace\">{}</h2><table>",
        encode_text(&notice.reason.describe()),
        encode_text(&headline)
    );
    for (label, value) in &facts {
        let cell = if *label == "Link" {
            format!(
                "<a href=\"{}\">{}</a>",
                encode_double_quoted_attribute(value),
                encode_text(value)
            )
        } else {
            encode_text(value).into_owned()
        };
        let _ = write!(
            html,
            "<tr><th align=\"left\">{label}</th><td>{cell}</td></tr>"
        );
    }
    html.push_str("</table>");
    if let Some(sample) = newest {
        let _ = write!(
            html,
            "<h3>The newest occurrence ({})</h3>",
            encode_text(&time_text(sample.time))
        );
        if sample.message != summary.message {
            let _ = write!(html, "<p>{}</p>", encode_text(&sample.message));
        }
    }
    for (title, lines) in &sections {
        let _ = write!(html, "<h4>{title}</h4><pre>");
        for line in lines {
            let _ = writeln!(html, "{}", encode_text(line));
        }
        html.push_str("</pre>");
    }
    html.push_str("</body></html>");
    Rendered {
        subject: subject(prefix, &headline),
        text,
        html,
    }
}

fn render_digest(digest: &DigestNotice, prefix: &str, base_url: Option<&str>) -> Rendered {
    let headline = format!(
        "{} more errors were due for a notification ({} per window reached)",
        digest.held_back, digest.cap
    );
    let intro = format!(
        "The notification cap ({} per window, since {}) held these errors back:",
        digest.cap,
        time_text(digest.window_start)
    );
    let mut text = format!("{intro}\n\n");
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\"><p>{}</p><table>\
         <tr><th align=\"left\">Why</th><th align=\"left\">Error</th>\
         <th align=\"right\">Count</th><th align=\"left\">Last seen</th></tr>",
        encode_text(&intro)
    );
    for (reason, summary) in &digest.errors {
        let line = format!("{}: {}", summary.kind, one_line(&summary.message, 200));
        let _ = writeln!(
            text,
            "- {line}\n  {}, {} occurrences, last seen {}",
            reason.describe(),
            summary.count,
            time_text(summary.last_seen)
        );
        let mut cell = encode_text(&line).into_owned();
        if let Some(base) = base_url {
            let link = error_link(base, &summary.fingerprint);
            let _ = writeln!(text, "  {link}");
            cell = format!(
                "<a href=\"{}\">{cell}</a>",
                encode_double_quoted_attribute(&link)
            );
        }
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{cell}</td><td align=\"right\">{}</td><td>{}</td></tr>",
            encode_text(&reason.describe()),
            summary.count,
            encode_text(&time_text(summary.last_seen))
        );
    }
    html.push_str("</table>");
    let unlisted = digest.held_back.saturating_sub(digest.errors.len() as u64);
    if unlisted > 0 {
        let more = format!("... and {unlisted} more.");
        let _ = writeln!(text, "{more}");
        let _ = write!(html, "<p>{}</p>", encode_text(&more));
    }
    html.push_str("</body></html>");
    Rendered {
        subject: subject(prefix, &headline),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_breaks_and_cuts() {
        assert_eq!(one_line("a\r\nBcc: x@y\t z ", 100), "a Bcc: x@y z");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("\u{2028}x\u{0}", 10), "x");
        assert_eq!(
            error_link("http://h/errors/", "ab"),
            "http://h/errors/error/ab"
        );
        assert_eq!(
            error_link("http://h/e?fp={fingerprint}", "ab"),
            "http://h/e?fp=ab"
        );
    }
}
