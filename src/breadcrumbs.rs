//! Breadcrumbs: the last events below the capture level, carried by the next error.
//!
//! Kept where the error they lead to will look for them: in the root span of the event's
//! span tree (a request, a task: the ring follows it across threads and `.await` points), or,
//! for events outside any span, in a ring of the thread's own.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::time::SystemTime;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::field::{Field, Visit};

use crate::occurrence::{FieldMap, Level};
use crate::record::{BoundedWriter, RawValue};

/// One event that came before an error (see [`crate::Builder::breadcrumbs`]), masked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Breadcrumb {
    /// When it was recorded (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Its level.
    pub level: Level,
    /// Its target.
    pub target: String,
    /// Its message.
    pub message: String,
    /// Its other fields.
    pub fields: FieldMap,
}

/// Longest text kept of one breadcrumb value (message or field), in bytes.
pub(crate) const MAX_VALUE_LEN: usize = 256;
/// Most fields kept of one breadcrumb.
const MAX_FIELDS: usize = 8;

/// A breadcrumb as recorded on the caller's thread.
#[derive(Clone, Debug)]
pub(crate) struct RawBreadcrumb {
    /// Nanoseconds since the Unix epoch (half the size of a `SystemTime`: rings of these
    /// are moved often).
    time: i64,
    metadata: &'static tracing::Metadata<'static>,
    message: CompactString,
    fields: Fields,
    /// The target a bridged `log` record was logged with (its metadata says `log`).
    log_target: Option<CompactString>,
}

/// A breadcrumb's fields: two inline, as most `info!` events have at most two (a ring of
/// them is moved and copied often, so it is kept small).
type Fields = smallvec::SmallVec<[(&'static str, RawValue); 2]>;

impl RawBreadcrumb {
    /// Records `event`: its message and first fields, each cut to [`MAX_VALUE_LEN`].
    pub(crate) fn record(event: &tracing::Event<'_>) -> RawBreadcrumb {
        let mut recorder = Recorder {
            message: CompactString::default(),
            fields: Fields::new(),
            log_target: None,
        };
        event.record(&mut recorder);
        RawBreadcrumb {
            time: now_nanos(),
            metadata: event.metadata(),
            message: recorder.message,
            fields: recorder.fields,
            log_target: recorder.log_target,
        }
    }

    /// About how many bytes this holds, for the byte budget.
    pub(crate) fn heap_bytes(&self) -> usize {
        let text = |s: &CompactString| if s.is_heap_allocated() { s.len() } else { 0 };
        std::mem::size_of::<Self>()
            + text(&self.message)
            + self
                .fields
                .iter()
                .map(|(_, value)| match value {
                    RawValue::Str(s) => text(s),
                    _ => 0,
                })
                .sum::<usize>()
    }

    /// The breadcrumb as stored (masked afterwards, with the occurrence).
    pub(crate) fn into_breadcrumb(self) -> Breadcrumb {
        let mut fields = FieldMap::new();
        for (name, value) in self.fields {
            fields.insert(name.to_owned(), value.into_json());
        }
        Breadcrumb {
            time: OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.time))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            level: Level::from(*self.metadata.level()),
            target: match self.log_target {
                Some(target) => target.into_string(),
                None => self.metadata.target().to_owned(),
            },
            message: self.message.into_string(),
            fields,
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
        })
}

struct Recorder {
    message: CompactString,
    fields: Fields,
    log_target: Option<CompactString>,
}

impl Recorder {
    fn push(&mut self, field: &Field, value: RawValue) {
        // A bridged `log` record's origin is no field of its own.
        if self.fields.len() < MAX_FIELDS && !field.name().starts_with("log.") {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Recorder {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, RawValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, RawValue::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, RawValue::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, RawValue::F64(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let mut text = CompactString::default();
        BoundedWriter::write_bounded(&mut text, MAX_VALUE_LEN, format_args!("{value}"));
        match field.name() {
            "message" => self.message = text,
            "log.target" => self.log_target = Some(text),
            _ => self.push(field, RawValue::Str(text)),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            BoundedWriter::write_bounded(
                &mut self.message,
                MAX_VALUE_LEN,
                format_args!("{value:?}"),
            );
            return;
        }
        if self.fields.len() == MAX_FIELDS {
            // Not kept: not formatted either.
            return;
        }
        let mut text = CompactString::default();
        BoundedWriter::write_bounded(&mut text, MAX_VALUE_LEN, format_args!("{value:?}"));
        self.push(field, RawValue::Str(text));
    }
}

/// The last breadcrumbs of a span tree or a thread, at most `capacity`.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    entries: VecDeque<RawBreadcrumb>,
}

impl Ring {
    /// Adds `crumb`, letting the oldest go past `capacity`.
    pub(crate) fn push(&mut self, crumb: RawBreadcrumb, capacity: usize) {
        if self.entries.len() >= capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(crumb);
    }

    /// A copy of the breadcrumbs, oldest first, for an error.
    pub(crate) fn snapshot(&self) -> Vec<RawBreadcrumb> {
        self.entries.iter().cloned().collect()
    }
}

thread_local! {
    /// Breadcrumbs of events outside any span on this thread.
    static THREAD_RING: RefCell<Ring> = RefCell::new(Ring::default());
}

/// Adds a breadcrumb to this thread's ring.
pub(crate) fn push_on_thread(crumb: RawBreadcrumb, capacity: usize) {
    let _ = THREAD_RING.try_with(|ring| ring.borrow_mut().push(crumb, capacity));
}

/// This thread's breadcrumbs, for an error raised outside any span.
pub(crate) fn thread_snapshot() -> Vec<RawBreadcrumb> {
    THREAD_RING
        .try_with(|ring| ring.borrow().snapshot())
        .unwrap_or_default()
}

/// One line of text: `time LEVEL target: message key=value ...`.
impl fmt::Display for Breadcrumb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = self
            .time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        write!(
            f,
            "{time} {} {}: {}",
            self.level.as_str().to_ascii_uppercase(),
            self.target,
            self.message
        )?;
        for (key, value) in &self.fields {
            match value.as_str() {
                Some(text) => write!(f, " {key}={text}")?,
                None => write!(f, " {key}={value}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest() {
        static META: tracing::Metadata<'static> = tracing::Metadata::new(
            "e",
            "t",
            tracing::Level::INFO,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
            tracing::metadata::Kind::EVENT,
        );
        struct Callsite;
        impl tracing::callsite::Callsite for Callsite {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                &META
            }
        }
        static CALLSITE: Callsite = Callsite;
        let mut ring = Ring::default();
        for n in 0..5 {
            ring.push(
                RawBreadcrumb {
                    time: now_nanos(),
                    metadata: &META,
                    message: CompactString::from(format!("{n}")),
                    fields: Fields::new(),
                    log_target: None,
                },
                3,
            );
        }
        let kept: Vec<String> = ring
            .snapshot()
            .into_iter()
            .map(|c| c.message.into_string())
            .collect();
        assert_eq!(kept, ["2", "3", "4"]);
    }
}
