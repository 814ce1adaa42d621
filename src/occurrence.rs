//! The captured record: everything one error event carries once it has been masked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// A JSON object of named values (fields, extras). Insertion order is kept.
pub type FieldMap = Map<String, Value>;

/// Severity of a captured event, mirroring `tracing::Level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `tracing::Level::TRACE`.
    Trace,
    /// `tracing::Level::DEBUG`.
    Debug,
    /// `tracing::Level::INFO`.
    Info,
    /// `tracing::Level::WARN`.
    Warn,
    /// `tracing::Level::ERROR`.
    Error,
}

impl From<tracing::Level> for Level {
    fn from(level: tracing::Level) -> Self {
        match level {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Error,
        }
    }
}

impl Level {
    /// The lower-case name (`"error"`, `"warn"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where in the source an occurrence was raised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The `tracing` target (by default the module path).
    pub target: String,
    /// The Rust module path, when known.
    pub module: Option<String>,
    /// The source file, when known.
    pub file: Option<String>,
    /// The line in `file`, when known.
    pub line: Option<u32>,
}

/// One span of the span trace an occurrence was raised in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The span's name.
    pub name: String,
    /// The span's target.
    pub target: String,
    /// The file that opened the span, when known.
    pub file: Option<String>,
    /// The line that opened the span, when known.
    pub line: Option<u32>,
    /// Fields recorded on the span, at creation and later with `Span::record`.
    pub fields: FieldMap,
}

/// One link of an error chain (`Error::source()` order: outermost first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLink {
    /// The error's type, as far as it can be known (see [`crate::capture_error`]).
    pub kind: String,
    /// The error's `Display` text.
    pub message: String,
}

/// The thread an occurrence was raised on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// The thread's name, when it has one.
    pub name: Option<String>,
    /// The thread's id, as `std::thread::ThreadId`'s debug text.
    pub id: String,
}

/// One captured error event, masked: what the store keeps as a sample and what is shown and sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Unique id of this occurrence (UUID v7, so ids sort by time).
    pub id: Uuid,
    /// When it was captured (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Severity.
    pub level: Level,
    /// What failed: an error type name, `"panic"`, `"message"` or `"event"`.
    pub kind: String,
    /// The human-readable message.
    pub message: String,
    /// Where it was raised.
    pub location: Location,
    /// The event's own fields (without `message`, `fingerprint` and `tags.*`).
    pub fields: FieldMap,
    /// The span trace, root first, innermost last.
    pub spans: Vec<SpanRecord>,
    /// How many outer spans were left out of `spans` to respect the depth limit.
    pub spans_omitted: usize,
    /// The error and its sources, outermost first; empty when no error value was captured.
    pub error_chain: Vec<ErrorLink>,
    /// Extras set with [`crate::configure_scope`], outer scopes first, inner ones overriding.
    pub extras: FieldMap,
    /// Tags: from `configure_scope` and from `tags.*` event fields.
    pub tags: FieldMap,
    /// The user set with `configure_scope`, if any.
    pub user: Option<Value>,
    /// A grouping key given by the `fingerprint` field; replaces the computed fingerprint.
    pub custom_fingerprint: Option<String>,
    /// The thread it was raised on.
    pub thread: ThreadInfo,
    /// The host name of the machine.
    pub host: String,
    /// The operating-system process id.
    pub process_id: u32,
    /// True when at least one value was cut to the configured length limit.
    pub truncated: bool,
    /// The stack where the error was raised (or, for an `anyhow`/`eyre` error, where it
    /// began), innermost frame first; empty when none was taken (see
    /// [`crate::BacktraceMode`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backtrace: Vec<crate::Frame>,
    /// The events that came before it in its span tree (or on its thread), oldest first,
    /// masked like fields; empty unless breadcrumbs are on (see
    /// [`crate::Builder::breadcrumbs`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breadcrumbs: Vec<crate::Breadcrumb>,
    /// The release it came from (see [`crate::Builder::release`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The environment it came from (see [`crate::Builder::environment`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The OpenTelemetry trace it belongs to (feature `opentelemetry`, with a
    /// `tracing-opentelemetry` layer in the subscriber): 32 lower-case hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The OpenTelemetry span it was raised in: 16 lower-case hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

impl Occurrence {
    /// An occurrence with the given kind and message and everything else empty; the time is now.
    ///
    /// Useful for custom [`crate::Store`] or [`crate::Masking`] tests.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Occurrence {
            id: Uuid::now_v7(),
            time: OffsetDateTime::now_utc(),
            level: Level::Error,
            kind: kind.into(),
            message: message.into(),
            location: Location::default(),
            fields: FieldMap::new(),
            spans: Vec::new(),
            spans_omitted: 0,
            error_chain: Vec::new(),
            extras: FieldMap::new(),
            tags: FieldMap::new(),
            user: None,
            custom_fingerprint: None,
            thread: ThreadInfo::default(),
            host: String::new(),
            process_id: std::process::id(),
            truncated: false,
            backtrace: Vec::new(),
            breadcrumbs: Vec::new(),
            trace_id: None,
            span_id: None,
            release: None,
            environment: None,
        }
    }
}
