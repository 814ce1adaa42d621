//! The page frame and the small pieces of HTML every page shares. Rendering goes through
//! `maud`, which escapes every interpolated value: no text from an error can become markup.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;
use time::OffsetDateTime;

use super::Base;
use crate::occurrence::Location;
use crate::store::Status;

/// The stylesheet, served at `assets/style.css` (the policy allows only same-origin styles).
pub(crate) const STYLESHEET: &str = include_str!("style.css");

/// A whole page: head, header bar with the dashboard's title, and `body`.
pub(crate) fn page(base: &Base, site_title: &str, page_title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (page_title) " · " (site_title) }
                link rel="stylesheet" href=(base.path("/assets/style.css"));
            }
            body {
                header.top {
                    a.brand href=(base.home) {
                        span.logo aria-hidden="true" { "◆" }
                        (site_title)
                    }
                    span.muted.tagline { "error-tracker" }
                }
                main { (body) }
            }
        }
    }
}

/// A page that only explains a problem (401, 403, 404, 414 ...), with a way back.
pub(crate) fn problem_page(base: Option<&Base>, status: u16, title: &str, text: &str) -> Markup {
    let fallback = Base {
        prefix: String::new(),
        home: "/".to_owned(),
    };
    let base = base.unwrap_or(&fallback);
    page(
        base,
        "Errors",
        title,
        html! {
            section.problem {
                p.code { (status) }
                h1 { (title) }
                p { (text) }
                p { a href=(base.home) { "← Back to the list of errors" } }
            }
        },
    )
}

/// A coloured badge for a status, plus one for a regression.
pub(crate) fn status_badge(status: Status, regressed: bool) -> Markup {
    html! {
        span class={ "badge " (status.as_str()) } { (status.as_str()) }
        @if regressed && status == Status::Unresolved {
            " " span.badge.regressed title="Seen again after it was resolved" { "regressed" }
        }
    }
}

/// `2026-11-25 06:04:02 UTC`.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    // Writing these components of a UTC date-time into a string cannot fail; the empty
    // fallback only keeps the signature free of an impossible error.
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// `5 minutes ago`, `3 days ago`, `just now`.
pub(crate) fn ago(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - t).whole_seconds();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        s if s < 45 => "just now".to_owned(),
        s if s < 3_600 => plural((s + 30) / 60, "minute"),
        s if s < 86_400 => plural((s + 1_800) / 3_600, "hour"),
        s if s < 86_400 * 60 => plural((s + 43_200) / 86_400, "day"),
        s => plural(s / (86_400 * 30), "month"),
    }
}

/// A relative time with the exact time as its tooltip, in a `<time>` element.
pub(crate) fn when(t: OffsetDateTime, now: OffsetDateTime) -> Markup {
    let exact = timestamp(t);
    let machine = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time datetime=(machine) title=(exact) { (ago(t, now)) } }
}

/// `src/orders.rs:42`, or the target when no file is known.
pub(crate) fn short_location(location: &Location) -> String {
    match (&location.file, location.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        _ => location.target.clone(),
    }
}

/// A JSON value for a table cell: strings as text, anything else as compact JSON (escaped
/// by maud like everything else).
pub(crate) fn value(value: &Value) -> Markup {
    match value {
        Value::String(text) => html! { span.value { (text) } },
        Value::Null => html! { span.muted { "null" } },
        Value::Object(_) | Value::Array(_) => {
            let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
            html! { pre.json { (pretty) } }
        }
        other => html! { code { (other.to_string()) } },
    }
}

/// A two-column table of named values; nothing when `entries` is empty.
pub(crate) fn kv_table<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Markup {
    let rows: Vec<_> = entries.into_iter().collect();
    html! {
        @if rows.is_empty() {
            p.muted { "None." }
        } @else {
            table.kv {
                @for (key, v) in rows {
                    tr { th { (key) } td { (value(v)) } }
                }
            }
        }
    }
}

/// A hidden form field.
pub(crate) fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// A non-breaking thin space, for numbers like `12 345`.
pub(crate) fn count(n: u64) -> Markup {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    PreEscaped(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        let secs = |s: i64| now - time::Duration::seconds(s);
        assert_eq!(ago(secs(3), now), "just now");
        assert_eq!(ago(secs(60), now), "1 minute ago");
        assert_eq!(ago(secs(7_200), now), "2 hours ago");
        assert_eq!(ago(secs(86_400 * 3), now), "3 days ago");
        assert_eq!(
            timestamp(OffsetDateTime::UNIX_EPOCH),
            "1970-01-01 00:00:00 UTC"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(7).into_string(), "7");
        assert_eq!(count(12_345).into_string(), "12\u{202f}345");
        assert_eq!(count(1_000_000).into_string(), "1\u{202f}000\u{202f}000");
    }

    #[test]
    fn values_are_escaped() {
        let html = value(&Value::String("<script>alert(1)</script>".into())).into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
