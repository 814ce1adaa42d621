//! Occurrence charts: the store's hourly counts bucketed per hour (last 24 hours) and per day
//! (last 30 days), and drawn as inline SVG bar charts (no script, no external asset).

use maud::{Markup, html};
use serde::Serialize;
use time::{Duration, OffsetDateTime, Time};

/// Hours in the hourly chart.
pub(crate) const HOURS: i64 = 24;
/// Days in the daily chart.
pub(crate) const DAYS: i64 = 30;

/// One bar: the start of its hour or day (UTC) and the occurrences in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the hour or day, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Occurrences recorded in it.
    pub count: u64,
}

fn start_of_hour(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(Time::from_hms(t.hour(), 0, 0).unwrap_or(Time::MIDNIGHT))
}

fn start_of_day(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::UTC)
        .replace_time(Time::MIDNIGHT)
}

/// The first instant the charts need counts from: the start of the day 29 days before today.
pub(crate) fn since(now: OffsetDateTime) -> OffsetDateTime {
    start_of_day(now) - Duration::days(DAYS - 1)
}

/// `buckets` consecutive buckets of `width` ending with the one holding `now`, with the
/// hourly `counts` added into them; counts outside are left out.
fn bucketed(
    counts: &[(OffsetDateTime, u64)],
    last: OffsetDateTime,
    width: Duration,
    buckets: i64,
) -> Vec<Bucket> {
    let first = last - width * (buckets - 1) as i32;
    let mut out: Vec<Bucket> = (0..buckets)
        .map(|i| Bucket {
            start: first + width * i as i32,
            count: 0,
        })
        .collect();
    for &(hour, count) in counts {
        if hour < first {
            continue;
        }
        let index = ((hour - first).whole_seconds() / width.whole_seconds()) as usize;
        if let Some(bucket) = out.get_mut(index) {
            bucket.count = bucket.count.saturating_add(count);
        }
    }
    out
}

/// Occurrences per hour for the last 24 hours, oldest first, the current hour last.
pub(crate) fn per_hour(counts: &[(OffsetDateTime, u64)], now: OffsetDateTime) -> Vec<Bucket> {
    bucketed(counts, start_of_hour(now), Duration::HOUR, HOURS)
}

/// Occurrences per day (UTC) for the last 30 days, oldest first, today last.
pub(crate) fn per_day(counts: &[(OffsetDateTime, u64)], now: OffsetDateTime) -> Vec<Bucket> {
    bucketed(counts, start_of_day(now), Duration::DAY, DAYS)
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 120;
const AXIS: u32 = 18;

/// A bar chart of `buckets`; `label` names a bucket in its tooltip, `tick` under the axis
/// (every few bars).
pub(crate) fn bar_chart(
    title: &str,
    buckets: &[Bucket],
    label: impl Fn(&Bucket) -> String,
    tick: impl Fn(usize, &Bucket) -> Option<String>,
) -> Markup {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let slot = WIDTH as f64 / buckets.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let plot = f64::from(HEIGHT - AXIS);
    html! {
        figure.chart {
            figcaption {
                (title) " "
                span.muted { (total) " in all, at most " (max) " per bar" }
            }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                aria-label={ (title) ": " (total) " occurrences" } {
                line.axis x1="0" y1=(HEIGHT - AXIS) x2=(WIDTH) y2=(HEIGHT - AXIS) {}
                @for (i, bucket) in buckets.iter().enumerate() {
                    @let h = if max == 0 { 0.0 } else {
                        // At least 2 units tall, so that a single occurrence stays visible.
                        (bucket.count as f64 / max as f64 * (plot - 4.0)).max(if bucket.count > 0 { 2.0 } else { 0.0 })
                    };
                    @let x = i as f64 * slot + (slot - bar) / 2.0;
                    g.bar {
                        title { (label(bucket)) ": " (bucket.count) }
                        // A full-height transparent target, so that the tooltip shows on
                        // empty bars too.
                        rect.hit x=(fmt(i as f64 * slot)) y="0" width=(fmt(slot)) height=(fmt(plot)) {}
                        @if h > 0.0 {
                            rect.fill x=(fmt(x)) y=(fmt(plot - h)) width=(fmt(bar)) height=(fmt(h)) rx="1.5" {}
                        }
                    }
                    @if let Some(text) = tick(i, bucket) {
                        // The first and last labels are anchored inwards, so that they are
                        // not cut at the chart's edges.
                        @let (anchor, tx) = if i == 0 {
                            ("start", x)
                        } else if i + 1 == buckets.len() {
                            ("end", x + bar)
                        } else {
                            ("middle", x + bar / 2.0)
                        };
                        text.tick x=(fmt(tx)) y=(HEIGHT - 4) text-anchor=(anchor) { (text) }
                    }
                }
            }
        }
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `datetime(2026, 11, 25, 6, 30)`: a UTC time.
    fn datetime(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> OffsetDateTime {
        let month = time::Month::try_from(mo).unwrap();
        time::Date::from_calendar_date(y, month, d)
            .unwrap()
            .with_hms(h, mi, 0)
            .unwrap()
            .assume_utc()
    }

    #[test]
    fn counts_land_in_their_hour_and_day() {
        let now = datetime(2026, 11, 25, 6, 30);
        let counts = vec![
            (datetime(2026, 10, 1, 0, 0), 100), // before both windows
            (datetime(2026, 11, 24, 5, 0), 7),  // 25 hours ago: daily only
            (datetime(2026, 11, 24, 7, 0), 3),  // first hour of the hourly window
            (datetime(2026, 11, 25, 6, 0), 2),  // current hour
        ];
        let hours = per_hour(&counts, now);
        assert_eq!(hours.len(), 24);
        assert_eq!(hours[0].start, datetime(2026, 11, 24, 7, 0));
        assert_eq!(hours[0].count, 3);
        assert_eq!(hours[23].count, 2);
        assert_eq!(hours.iter().map(|b| b.count).sum::<u64>(), 5);
        let days = per_day(&counts, now);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29].start, datetime(2026, 11, 25, 0, 0));
        assert_eq!(days[29].count, 2);
        assert_eq!(days[28].count, 10);
        assert_eq!(days.iter().map(|b| b.count).sum::<u64>(), 12);
        assert_eq!(since(now), datetime(2026, 10, 27, 0, 0));
    }

    #[test]
    fn the_chart_draws_one_bar_per_non_empty_bucket() {
        let now = datetime(2026, 11, 25, 6, 30);
        let hours = per_hour(&[(datetime(2026, 11, 25, 5, 0), 4)], now);
        let svg = bar_chart("Per hour", &hours, |b| b.start.to_string(), |_, _| None).into_string();
        assert_eq!(svg.matches("class=\"fill\"").count(), 1);
        assert_eq!(svg.matches("<title>").count(), 24);
    }
}
