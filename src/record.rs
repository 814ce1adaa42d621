//! Caller-side capture: the cheap, unmasked record built on the thread that raised the error,
//! and its conversion into an [`Occurrence`] on the worker thread.
//!
//! Everything here that runs on the caller keeps to plain copies and bounded string writes:
//! no JSON, no masking, no hashing beyond the grouping key. The expensive work happens in
//! [`RawOccurrence::into_occurrence`], on the worker.

use std::any::TypeId;
use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::MaybeUninit;
use std::sync::Arc;

use compact_str::CompactString;
use serde_json::{Number, Value};
use smallvec::SmallVec;
use time::OffsetDateTime;
use tracing::Metadata;
use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use uuid::Uuid;

use crate::backtrace::RawBacktrace;
use crate::breadcrumbs::RawBreadcrumb;
use crate::occurrence::{ErrorLink, FieldMap, Level, Location, Occurrence, SpanRecord, ThreadInfo};
use crate::scope::{SCOPE_TARGET, Scope};

/// Marker appended to a value cut at the length limit.
pub(crate) const TRUNCATION_MARKER: &str = "…[truncated]";

/// A field value as recorded by `tracing`, before it becomes JSON.
///
/// 128-bit integers are kept as text: JSON numbers cannot carry them losslessly anyway, and
/// without a 16-byte-aligned variant a value is 24 bytes instead of 32, which every span's
/// inline field vector is made of.
#[derive(Clone, Debug)]
pub(crate) enum RawValue {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    /// Inline up to 24 bytes: most field values cost no allocation to record or to copy.
    Str(CompactString),
}

impl RawValue {
    /// Whether dropping this value frees memory.
    #[inline(always)]
    fn owns_heap(&self) -> bool {
        matches!(self, RawValue::Str(s) if s.is_heap_allocated())
    }

    fn into_text(self) -> String {
        match self {
            RawValue::Bool(b) => b.to_string(),
            RawValue::I64(n) => n.to_string(),
            RawValue::U64(n) => n.to_string(),
            RawValue::F64(f) => f.to_string(),
            RawValue::Str(s) => s.into_string(),
        }
    }

    pub(crate) fn into_json(self) -> Value {
        match self {
            RawValue::Bool(b) => Value::Bool(b),
            RawValue::I64(n) => Value::Number(n.into()),
            RawValue::U64(n) => Value::Number(n.into()),
            RawValue::F64(f) => Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            RawValue::Str(s) => Value::String(s.into_string()),
        }
    }
}

/// Named values recorded from a span or an event; inline for the common few-fields case.
pub(crate) type RawFields = SmallVec<[(&'static str, RawValue); 4]>;

/// What is left of one span when an error is captured inside it.
#[derive(Clone, Debug)]
pub(crate) struct RawSpan {
    /// The span's id (`Id::into_u64`), 0 for context kept on the thread; tells where in
    /// the trace a scope kept on the thread belongs.
    pub id: u64,
    pub metadata: &'static Metadata<'static>,
    pub fields: RawFields,
    pub scope: Option<Arc<Scope>>,
}

/// Where the occurrence was raised; `&'static` for events, owned for panics and `capture_*`.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawLocation {
    pub target: Cow<'static, str>,
    pub module: Option<Cow<'static, str>>,
    pub file: Option<Cow<'static, str>>,
    pub line: Option<u32>,
}

impl RawLocation {
    pub(crate) fn from_metadata(metadata: &'static Metadata<'static>) -> Self {
        RawLocation {
            target: Cow::Borrowed(metadata.target()),
            module: metadata.module_path().map(Cow::Borrowed),
            file: metadata.file().map(Cow::Borrowed),
            line: metadata.line(),
        }
    }

    /// For `capture_*` calls and panics, which have no `tracing` target: the caller's file
    /// stands in for it, so that grouping still tells call sites in different files apart.
    pub(crate) fn from_caller(location: &'static std::panic::Location<'static>) -> Self {
        RawLocation {
            target: Cow::Borrowed(location.file()),
            module: None,
            file: Some(Cow::Borrowed(location.file())),
            line: Some(location.line()),
        }
    }

    /// For panics, whose location borrows from the panic: the same, owned.
    pub(crate) fn from_panic(location: &std::panic::Location<'_>) -> Self {
        RawLocation {
            target: Cow::Owned(location.file().to_owned()),
            module: None,
            file: Some(Cow::Owned(location.file().to_owned())),
            line: Some(location.line()),
        }
    }
}

/// One link of an error chain as recorded on the caller thread: a static kind where the
/// type is known, inline text where it is short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawLink {
    pub kind: Cow<'static, str>,
    pub message: CompactString,
}

impl RawLink {
    pub(crate) fn into_link(self) -> ErrorLink {
        ErrorLink {
            kind: self.kind.into_owned(),
            message: self.message.into_string(),
        }
    }
}

/// The rarely present part of a [`RawOccurrence`].
#[derive(Debug, Default)]
pub(crate) struct RawContext {
    /// Taken on the caller's thread, resolved on the worker.
    pub backtrace: Option<RawBacktrace>,
    /// The events that came before it, oldest first.
    pub breadcrumbs: Vec<RawBreadcrumb>,
    /// The OpenTelemetry trace id and span id of its span.
    pub trace: Option<(u128, u64)>,
}

/// One captured error as built on the caller thread: unmasked, never stored as is.
#[derive(Debug)]
pub(crate) struct RawOccurrence {
    pub time: OffsetDateTime,
    pub level: Level,
    pub kind: Cow<'static, str>,
    pub message: CompactString,
    pub location: RawLocation,
    pub fields: RawFields,
    /// Innermost span first (the order the registry walks them in).
    pub spans: Vec<RawSpan>,
    pub spans_omitted: usize,
    pub chain: Vec<RawLink>,
    pub custom_fingerprint: Option<CompactString>,
    pub thread: std::thread::Thread,
    pub truncated: bool,
    /// What few captures carry (a backtrace, breadcrumbs, trace ids), behind one box: a
    /// record is moved a few times on the caller's thread, and these would make every move
    /// longer.
    pub context: Option<Box<RawContext>>,
    /// What the buffer counted for this record against the byte budget, set when it is
    /// pushed, so that letting it go later gives back exactly that.
    pub budget_bytes: u32,
}

impl RawOccurrence {
    /// A record with the given origin and nothing else yet.
    pub(crate) fn new(
        level: Level,
        kind: Cow<'static, str>,
        message: CompactString,
        location: RawLocation,
    ) -> Self {
        RawOccurrence {
            time: OffsetDateTime::now_utc(),
            level,
            kind,
            message,
            location,
            fields: RawFields::new(),
            spans: Vec::new(),
            spans_omitted: 0,
            chain: Vec::new(),
            custom_fingerprint: None,
            thread: std::thread::current(),
            truncated: false,
            context: None,
            budget_bytes: 0,
        }
    }

    /// About how many bytes this record holds: its own size, its spans' and links' and the
    /// text it owns (by length: what it costs to count must stay small beside a capture).
    /// The scopes its spans share are counted by nobody here: they live as long as the spans
    /// do.
    pub(crate) fn heap_bytes(&self) -> usize {
        #[inline]
        fn text(s: &CompactString) -> usize {
            // Inline strings own nothing; a heap one owns at least its length.
            if s.is_heap_allocated() { s.len() } else { 0 }
        }
        #[inline]
        fn fields(fields: &RawFields) -> usize {
            fields
                .iter()
                .map(|(_, v)| match v {
                    RawValue::Str(s) => text(s),
                    _ => 0,
                })
                .sum()
        }
        let mut bytes = std::mem::size_of::<Self>() + text(&self.message) + fields(&self.fields);
        bytes += self.spans.len() * std::mem::size_of::<RawSpan>();
        for span in &self.spans {
            bytes += fields(&span.fields);
        }
        bytes += self.chain.len() * std::mem::size_of::<RawLink>();
        for link in &self.chain {
            bytes += text(&link.message);
        }
        if let Some(context) = &self.context {
            bytes += std::mem::size_of::<RawContext>();
            if let Some(backtrace) = &context.backtrace {
                bytes += backtrace.heap_bytes();
            }
            for crumb in &context.breadcrumbs {
                bytes += crumb.heap_bytes();
            }
        }
        bytes
    }

    fn context_mut(&mut self) -> &mut RawContext {
        self.context.get_or_insert_with(Box::default)
    }

    /// Sets the backtrace, if there is one.
    pub(crate) fn set_backtrace(&mut self, backtrace: Option<RawBacktrace>) {
        if let Some(backtrace) = backtrace {
            self.context_mut().backtrace = Some(backtrace);
        }
    }

    /// Sets the breadcrumbs, if there are any.
    pub(crate) fn set_breadcrumbs(&mut self, breadcrumbs: Vec<RawBreadcrumb>) {
        if !breadcrumbs.is_empty() {
            self.context_mut().breadcrumbs = breadcrumbs;
        }
    }

    /// Sets the OpenTelemetry ids, if there are any.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn set_trace(&mut self, trace: Option<(u128, u64)>) {
        if trace.is_some() {
            self.context_mut().trace = trace;
        }
    }

    /// Lets go of everything grouping does not need (fields, spans, the chain's messages),
    /// keeping what identifies the error: what the byte budget keeps of a new error once
    /// full samples no longer fit. Marked as truncated.
    pub(crate) fn strip_to_skeleton(&mut self) {
        self.fields = RawFields::new();
        self.spans = Vec::new();
        for link in &mut self.chain {
            link.message = CompactString::default();
        }
        self.chain.shrink_to_fit();
        self.context = None;
        self.truncated = true;
    }

    /// A hash of everything grouping depends on, so that repeats can be coalesced before the
    /// fingerprint (which needs masking first) is known. Equal keys imply equal fingerprints.
    pub(crate) fn grouping_hash(&self, hasher: &impl BuildHasher) -> u64 {
        let mut h = hasher.build_hasher();
        self.location.target.hash(&mut h);
        self.location.module.hash(&mut h);
        self.kind.hash(&mut h);
        for link in &self.chain {
            link.kind.hash(&mut h);
        }
        self.message.hash(&mut h);
        self.custom_fingerprint.hash(&mut h);
        h.finish()
    }

    /// The equality that goes with [`RawOccurrence::grouping_hash`].
    pub(crate) fn same_group(&self, other: &RawOccurrence) -> bool {
        self.location.target == other.location.target
            && self.location.module == other.location.module
            && self.kind == other.kind
            && self.message == other.message
            && self.custom_fingerprint == other.custom_fingerprint
            && self.chain.len() == other.chain.len()
            && self
                .chain
                .iter()
                .zip(&other.chain)
                .all(|(a, b)| a.kind == b.kind)
    }

    /// Builds the (still unmasked) occurrence: JSON values, scopes merged outer to inner, and
    /// scope values (set by code, not recorded by `tracing`) cut to `limit` like fields are.
    ///
    /// `process_id` is the caller's: the worker reads it once rather than making a `getpid`
    /// system call per occurrence.
    pub(crate) fn into_occurrence(self, host: &str, process_id: u32, limit: usize) -> Occurrence {
        let context = self.context.map(|context| *context).unwrap_or_default();
        let mut fields = FieldMap::new();
        let mut tags = FieldMap::new();
        let mut extras = FieldMap::new();
        let mut user = None;
        let mut spans = Vec::with_capacity(self.spans.len());
        for span in self.spans.into_iter().rev() {
            if let Some(scope) = &span.scope {
                extras.extend(scope.extras.iter().map(|(k, v)| (k.clone(), v.clone())));
                tags.extend(scope.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                if scope.user.is_some() {
                    user.clone_from(&scope.user);
                }
            }
            if span.metadata.target() == SCOPE_TARGET {
                // A scope span only carries the scope; it is no place in the code.
                continue;
            }
            spans.push(SpanRecord {
                name: span.metadata.name().to_owned(),
                target: span.metadata.target().to_owned(),
                file: span.metadata.file().map(str::to_owned),
                line: span.metadata.line(),
                fields: json_fields(span.fields),
            });
        }
        for (name, value) in self.fields {
            match name.strip_prefix("tags.") {
                Some(tag) => {
                    tags.insert(tag.to_owned(), value.into_json());
                }
                None => {
                    fields.insert(name.to_owned(), value.into_json());
                }
            }
        }
        let mut truncated = self.truncated;
        for value in extras
            .values_mut()
            .chain(tags.values_mut())
            .chain(user.iter_mut())
        {
            truncated |= truncate_strings(value, limit);
        }
        Occurrence {
            id: Uuid::now_v7(),
            time: self.time,
            level: self.level,
            kind: self.kind.into_owned(),
            message: self.message.into_string(),
            location: Location {
                target: self.location.target.into_owned(),
                module: self.location.module.map(Cow::into_owned),
                file: self.location.file.map(Cow::into_owned),
                line: self.location.line,
            },
            fields,
            spans,
            spans_omitted: self.spans_omitted,
            error_chain: self.chain.into_iter().map(RawLink::into_link).collect(),
            extras,
            tags,
            user,
            custom_fingerprint: self.custom_fingerprint.map(CompactString::into_string),
            thread: ThreadInfo {
                name: self.thread.name().map(str::to_owned),
                id: format!("{:?}", self.thread.id()),
            },
            host: host.to_owned(),
            process_id,
            truncated,
            backtrace: context
                .backtrace
                .map(RawBacktrace::resolve)
                .unwrap_or_default(),
            breadcrumbs: context
                .breadcrumbs
                .into_iter()
                .map(RawBreadcrumb::into_breadcrumb)
                .collect(),
            release: None,
            environment: None,
            trace_id: context.trace.map(|(trace, _)| format!("{trace:032x}")),
            span_id: context.trace.map(|(_, span)| format!("{span:016x}")),
        }
    }
}

/// Cuts every string inside `value` to `limit` bytes; true if any was cut.
fn truncate_strings(value: &mut Value, limit: usize) -> bool {
    match value {
        Value::String(s) if s.len() > limit => {
            s.truncate(s.floor_char_boundary(limit));
            s.push_str(TRUNCATION_MARKER);
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |cut, v| truncate_strings(v, limit) | cut),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |cut, v| truncate_strings(v, limit) | cut),
        _ => false,
    }
}

fn json_fields(raw: RawFields) -> FieldMap {
    raw.into_iter()
        .map(|(name, value)| (name.to_owned(), value.into_json()))
        .collect()
}

/// A `fmt::Write` sink that keeps at most `limit` bytes (cut on a character boundary) and
/// notes whether anything was left out, so a 10 MB `Debug` output never sits in memory.
pub(crate) struct BoundedWriter<'a> {
    out: &'a mut CompactString,
    limit: usize,
    pub truncated: bool,
}

impl<'a> BoundedWriter<'a> {
    pub(crate) fn new(out: &'a mut CompactString, limit: usize) -> Self {
        BoundedWriter {
            out,
            limit,
            truncated: false,
        }
    }

    /// Writes `args`, then the truncation marker if anything was cut.
    pub(crate) fn write_bounded(
        out: &'a mut CompactString,
        limit: usize,
        args: fmt::Arguments<'_>,
    ) -> bool {
        let mut writer = BoundedWriter::new(out, limit);
        // An error is ours (the limit is reached) or a user impl's; either way what was
        // written so far is kept. An impl that unwraps its writes panics on our error: past
        // the limit that panic is the cut, not a failure of the value.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = writer.write_fmt(args);
        }));
        if let Err(panic) = written
            && !writer.truncated
        {
            std::panic::resume_unwind(panic);
        }
        let truncated = writer.truncated;
        if truncated {
            out.push_str(TRUNCATION_MARKER);
        }
        truncated
    }
}

impl fmt::Write for BoundedWriter<'_> {
    /// Fails once the limit is reached: `Debug` and `Display` impls (derived ones, and std's
    /// for collections) stop at their next write, so a 10 MB value or a deeply nested
    /// structure costs what the limit allows, not what the value holds.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        self.truncated = true;
        self.out.push_str(&s[..s.floor_char_boundary(room)]);
        Err(fmt::Error)
    }
}

/// Copies `s` into a new string of at most `limit` bytes; the flag says whether it was cut.
#[inline]
pub(crate) fn bounded_copy(s: &str, limit: usize) -> (CompactString, bool) {
    if s.len() <= limit {
        return (CompactString::new(s), false);
    }
    let mut out = CompactString::with_capacity(limit + TRUNCATION_MARKER.len());
    out.push_str(&s[..s.floor_char_boundary(limit)]);
    out.push_str(TRUNCATION_MARKER);
    (out, true)
}

/// Calls `$found!(ty, "ty")` for each well-known standard-library error type, so that
/// `capture_error` (which knows the type) and `error = &e as &dyn Error` (which can only
/// downcast) name them alike, by their public path rather than `type_name`'s private one.
macro_rules! std_error_types {
    ($found:ident) => {
        $found!(
            std::io::Error => "std::io::Error",
            std::fmt::Error => "std::fmt::Error",
            std::num::ParseIntError => "std::num::ParseIntError",
            std::num::ParseFloatError => "std::num::ParseFloatError",
            std::num::TryFromIntError => "std::num::TryFromIntError",
            std::str::Utf8Error => "std::str::Utf8Error",
            std::string::FromUtf8Error => "std::string::FromUtf8Error",
            std::str::ParseBoolError => "std::str::ParseBoolError",
            std::char::ParseCharError => "std::char::ParseCharError",
            std::net::AddrParseError => "std::net::AddrParseError",
            std::time::SystemTimeError => "std::time::SystemTimeError",
            std::env::VarError => "std::env::VarError",
            std::array::TryFromSliceError => "std::array::TryFromSliceError",
        )
    };
}

/// The kind of an error whose type is known: the public path of a well-known standard type,
/// else the type's own name without its module path or generics (`DbError`), which is what
/// a derived `Debug` of a `&dyn Error` shows too.
pub(crate) fn type_kind<E: ?Sized + 'static>() -> Cow<'static, str> {
    let id = TypeId::of::<E>();
    macro_rules! known {
        ($($ty:ty => $name:literal),* $(,)?) => {
            $(if id == TypeId::of::<$ty>() { return Cow::Borrowed($name); })*
        };
    }
    std_error_types!(known);
    Cow::Borrowed(short_type_name(std::any::type_name::<E>()))
}

/// `my_crate::errors::DbError<T>` -> `DbError`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// The best name for an error's type that a `&dyn Error` allows: well-known standard
/// library types by downcasting, else the leading identifier of its `Debug` text (the
/// struct or enum variant name, as most derived `Debug` impls print it).
pub(crate) fn error_kind(error: &(dyn Error + 'static)) -> Cow<'static, str> {
    macro_rules! known {
        ($($ty:ty => $name:literal),* $(,)?) => {
            $(if error.is::<$ty>() { return Cow::Borrowed($name); })*
        };
    }
    std_error_types!(known);
    let mut name = LeadingIdentifier::default();
    // Fails as soon as the identifier ends, which stops the `Debug` impl there: a derived
    // `Debug` of an error holding its source would otherwise format (and recurse into) the
    // whole chain, thousands of links deep for a hostile one.
    let _ = write!(name, "{error:?}");
    if name.text.is_empty() {
        Cow::Borrowed("error")
    } else {
        Cow::Owned(name.text.into_string())
    }
}

/// A `fmt::Write` sink that keeps the leading identifier (`Outer`, `io::ErrorKind`) of what
/// is written and fails at the first character after it, or past [`MAX_KIND_LEN`].
#[derive(Default)]
struct LeadingIdentifier {
    text: CompactString,
}

/// Longest kind taken from a `Debug` text.
const MAX_KIND_LEN: usize = 256;

impl fmt::Write for LeadingIdentifier {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = s
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(s.len(), |(at, _)| at);
        let room = MAX_KIND_LEN.saturating_sub(self.text.len());
        let end = if end > room {
            s.floor_char_boundary(room)
        } else {
            end
        };
        // One copy per write: derived `Debug` writes the type name in one piece.
        self.text.push_str(&s[..end]);
        if end < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// The error and its `source()` chain, outermost first, bounded in depth and text length.
pub(crate) fn error_chain(
    error: &(dyn Error + 'static),
    first_kind: Cow<'static, str>,
    limit: usize,
) -> (Vec<RawLink>, bool) {
    const MAX_DEPTH: usize = 32;
    let mut truncated = false;
    let mut chain = Vec::new();
    let mut current = Some(error);
    let mut kind = Some(first_kind);
    while let Some(err) = current {
        if chain.len() == MAX_DEPTH {
            truncated = true;
            break;
        }
        let mut message = CompactString::default();
        truncated |= BoundedWriter::write_bounded(&mut message, limit, format_args!("{err}"));
        chain.push(RawLink {
            kind: kind.take().unwrap_or_else(|| error_kind(err)),
            message,
        });
        current = err.source();
    }
    (chain, truncated)
}

/// Field names that name the error of an event when recorded as text (`%e`, `?e`).
fn is_error_field(name: &str) -> bool {
    matches!(name, "error" | "err" | "exception")
}

/// How many field values a span keeps in its extension without allocating.
const INLINE_SPAN_FIELDS: usize = 4;

/// A span's field values as its extension keeps them: the first [`INLINE_SPAN_FIELDS`]
/// inline and named by their index in the span's callsite, any further ones, with what the
/// layer keeps beside them (`X`), in one box that most spans never allocate.
///
/// Every span with field values carries one of these, boxed by the registry and dropped when
/// the span closes, so it is kept small and cheap to build, move and drop: 24-byte values, a
/// 2-byte index instead of a 16-byte name (the names are looked up in the span's metadata
/// only when an error is captured), and an array that is neither written when it is made
/// nor walked past its length when it is dropped, rather than an inline vector whose every
/// push and drop asks whether it has spilled.
pub(crate) struct SpanFields<X> {
    /// Invariant: the first `len` are initialised (and owned here), the rest are not.
    values: [MaybeUninit<RawValue>; INLINE_SPAN_FIELDS],
    /// The callsite index of each of the first `len` values.
    indices: [u16; INLINE_SPAN_FIELDS],
    len: u8,
    /// Whether any inline value may own heap memory (a string longer than 24 bytes): most
    /// spans' values own none, and their drop then has nothing to walk.
    owns_heap: bool,
    /// The rarely needed part, one word here for the spans that have none of it.
    rare: Option<Box<SpanRare<X>>>,
}

/// What few spans have: more field values than fit inline, or what the layer keeps beside
/// them (a scope, a capture context).
#[derive(Default)]
struct SpanRare<X> {
    /// Values past the inline ones, and any value whose field is not one of the span's own
    /// (no `tracing` macro records such a field, but `Subscriber::record` can be handed one).
    /// Inline for a few: the HTTP middleware's request span has up to 7 fields, and then
    /// needs no allocation beyond this box.
    more: SmallVec<[(&'static str, RawValue); 3]>,
    extra: X,
}

impl<X> Default for SpanFields<X> {
    fn default() -> Self {
        SpanFields {
            values: [const { MaybeUninit::uninit() }; INLINE_SPAN_FIELDS],
            indices: [0; INLINE_SPAN_FIELDS],
            len: 0,
            owns_heap: false,
            rare: None,
        }
    }
}

impl<X> Drop for SpanFields<X> {
    #[inline]
    fn drop(&mut self) {
        if !self.owns_heap {
            // Values that own no heap memory have nothing to drop.
            return;
        }
        for value in &mut self.values[..usize::from(self.len)] {
            // SAFETY: `values[..len]` are initialised, and dropped only here, once.
            unsafe { value.assume_init_drop() };
        }
    }
}

impl<X: Default> SpanFields<X> {
    /// True if no value was recorded.
    pub(crate) fn has_no_values(&self) -> bool {
        self.len == 0 && self.rare.as_ref().is_none_or(|rare| rare.more.is_empty())
    }

    /// What the layer keeps beside the values, if it was ever asked for.
    pub(crate) fn extra(&self) -> Option<&X> {
        self.rare.as_deref().map(|rare| &rare.extra)
    }

    /// What the layer keeps beside the values, made on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut X {
        &mut self.rare_mut().extra
    }

    fn rare_mut(&mut self) -> &mut SpanRare<X> {
        self.rare.get_or_insert_with(Default::default)
    }

    /// The values with their names, which `metadata` (the span's own) supplies for the inline
    /// ones; in the order they were first recorded.
    pub(crate) fn to_raw(&self, metadata: &'static Metadata<'static>) -> RawFields {
        let len = usize::from(self.len);
        let names = metadata.fields();
        let mut raw = RawFields::new();
        for (index, value) in self.indices[..len].iter().zip(&self.values) {
            // Every inline index came from a field of this callsite, so the lookup finds it.
            if let Some(field) = names.iter().nth(usize::from(*index)) {
                // SAFETY: `values[..len]` are initialised (the invariant on `values`).
                let value = unsafe { value.assume_init_ref() };
                raw.push((field.name(), value.clone()));
            }
        }
        if let Some(rare) = &self.rare {
            raw.extend(rare.more.iter().cloned());
        }
        raw
    }

    /// Sets the value of `field`. With `REPLACE`, a value recorded earlier for the same field
    /// is replaced; without, the caller knows there is none (a callsite names each field once).
    #[inline(always)]
    fn set<const REPLACE: bool>(&mut self, own: bool, field: &Field, value: RawValue) {
        let len = usize::from(self.len);
        let index = u16::try_from(field.index()).ok().filter(|_| own);
        if REPLACE {
            if let Some(index) = index
                && let Some(at) = self.indices[..len].iter().position(|i| *i == index)
            {
                self.owns_heap |= value.owns_heap();
                // SAFETY: `at < len`, so `values[at]` is initialised; the assignment drops
                // the old value.
                *unsafe { self.values[at].assume_init_mut() } = value;
                return;
            }
            if let Some(rare) = &mut self.rare
                && let Some(slot) = rare.more.iter_mut().find(|(name, _)| *name == field.name())
            {
                slot.1 = value;
                return;
            }
        }
        match index {
            Some(index) if len < INLINE_SPAN_FIELDS => {
                self.owns_heap |= value.owns_heap();
                // `values[len]` is not initialised: nothing to drop before it is written.
                self.values[len].write(value);
                self.indices[len] = index;
                self.len += 1;
            }
            _ => self.push_more(field.name(), value),
        }
    }

    /// Out of line: few spans have values past the inline ones, and inlined, this path made
    /// every recorded value save and restore five registers.
    #[cold]
    #[inline(never)]
    fn push_more(&mut self, name: &'static str, value: RawValue) {
        self.rare_mut().more.push((name, value));
    }
}

/// Collects a span's fields, bounded in length: the lean sibling of [`EventRecorder`] for
/// the path every span takes, with nothing to route (no message, error or fingerprint) and
/// nothing to drop afterwards.
///
/// `REPLACE` says whether a field may already have a value (`Span::record`); a new span's
/// callsite names each field once, so its recorder skips the search.
pub(crate) struct SpanRecorder<'a, X, const REPLACE: bool> {
    fields: &'a mut SpanFields<X>,
    /// The span's callsite: only its fields are kept by index.
    callsite: Identifier,
    limit: usize,
}

impl<'a, X> SpanRecorder<'a, X, false> {
    /// For the values a span is created with.
    pub(crate) fn new_span(
        fields: &'a mut SpanFields<X>,
        metadata: &'static Metadata<'static>,
        limit: usize,
    ) -> Self {
        SpanRecorder {
            fields,
            callsite: metadata.callsite(),
            limit,
        }
    }
}

impl<'a, X> SpanRecorder<'a, X, true> {
    /// For values recorded later (`Span::record`), which replace the ones already set.
    pub(crate) fn record(
        fields: &'a mut SpanFields<X>,
        metadata: &'static Metadata<'static>,
        limit: usize,
    ) -> Self {
        SpanRecorder {
            fields,
            callsite: metadata.callsite(),
            limit,
        }
    }
}

impl<X: Default, const REPLACE: bool> SpanRecorder<'_, X, REPLACE> {
    #[inline(always)]
    fn push(&mut self, field: &Field, value: RawValue) {
        let own = field.callsite() == self.callsite;
        self.fields.set::<REPLACE>(own, field, value);
    }

    fn text(&mut self, field: &Field, args: fmt::Arguments<'_>) {
        let mut text = CompactString::default();
        BoundedWriter::write_bounded(&mut text, self.limit, args);
        self.push(field, RawValue::Str(text));
    }
}

impl<X: Default, const REPLACE: bool> Visit for SpanRecorder<'_, X, REPLACE> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, RawValue::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, RawValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, RawValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.text(field, format_args!("{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.text(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, RawValue::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // The common case, a value within the limit, copied without a call.
        let text = if value.len() <= self.limit {
            CompactString::new(value)
        } else {
            bounded_copy(value, self.limit).0
        };
        self.push(field, RawValue::Str(text));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
}

/// Collects an event's fields, bounded in length; the message, the error and a grouping key
/// go to [`EventParts`] instead of the fields.
pub(crate) struct EventRecorder<'a> {
    pub fields: &'a mut RawFields,
    pub limit: usize,
    pub truncated: bool,
    pub parts: EventParts,
}

/// The parts of an event that are not plain fields.
#[derive(Default)]
pub(crate) struct EventParts {
    pub message: Option<CompactString>,
    pub chain: Vec<RawLink>,
    pub custom_fingerprint: Option<CompactString>,
    /// Where a record of the `log` crate came from, as a `log` bridge (`tracing_log`'s
    /// `LogTracer`, which `.init()` installs) puts it in `log.*` fields: the event's own
    /// metadata only says target `log`.
    pub log: Option<LogOrigin>,
}

/// The `log.target`, `log.module_path`, `log.file` and `log.line` of a bridged `log` record.
#[derive(Default)]
pub(crate) struct LogOrigin {
    pub target: Option<CompactString>,
    pub module: Option<CompactString>,
    pub file: Option<CompactString>,
    pub line: Option<u32>,
}

impl LogOrigin {
    /// The location of the record, in place of the bridge's.
    pub(crate) fn into_location(self) -> RawLocation {
        let owned = |s: CompactString| Cow::Owned(s.into_string());
        RawLocation {
            target: self.target.map_or(Cow::Borrowed("log"), owned),
            module: self.module.map(owned),
            file: self.file.map(owned),
            line: self.line,
        }
    }
}

impl<'a> EventRecorder<'a> {
    pub(crate) fn new(fields: &'a mut RawFields, limit: usize) -> Self {
        EventRecorder {
            fields,
            limit,
            truncated: false,
            parts: EventParts::default(),
        }
    }

    #[inline]
    fn push(&mut self, field: &Field, value: RawValue) {
        let name = field.name();
        if name == "fingerprint" {
            // A grouping key may be any value: `fingerprint = 42` groups like `"42"`.
            self.parts.custom_fingerprint = Some(value.into_text().into());
            return;
        }
        // A callsite names each field once: no search for an earlier value.
        self.fields.push((name, value));
    }

    fn text(&mut self, field: &Field, text: CompactString) {
        let parts = &mut self.parts;
        match field.name() {
            "message" => parts.message = Some(text),
            "log.target" => parts.log.get_or_insert_default().target = Some(text),
            "log.module_path" => parts.log.get_or_insert_default().module = Some(text),
            "log.file" => parts.log.get_or_insert_default().file = Some(text),
            "fingerprint" => parts.custom_fingerprint = Some(text),
            name if is_error_field(name) && parts.chain.is_empty() => parts.chain.push(RawLink {
                kind: Cow::Borrowed("error"),
                message: text,
            }),
            _ => self.push(field, RawValue::Str(text)),
        }
    }
}

impl Visit for EventRecorder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, RawValue::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, RawValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" {
            self.parts.log.get_or_insert_default().line = u32::try_from(value).ok();
            return;
        }
        self.push(field, RawValue::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let mut text = CompactString::default();
        let _ = write!(text, "{value}");
        self.push(field, RawValue::Str(text));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let mut text = CompactString::default();
        let _ = write!(text, "{value}");
        self.push(field, RawValue::Str(text));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, RawValue::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let (text, cut) = bounded_copy(value, self.limit);
        self.truncated |= cut;
        self.text(field, text);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        // The first error value is the event's error (replacing the text of an `error = %e`
        // field seen before it); any later one is a plain field.
        let chain = &self.parts.chain;
        if chain.is_empty() || chain[0].kind == "error" {
            let (chain, cut) = error_chain(value, error_kind(value), self.limit);
            self.parts.chain = chain;
            self.truncated |= cut;
        } else {
            let mut text = CompactString::default();
            self.truncated |=
                BoundedWriter::write_bounded(&mut text, self.limit, format_args!("{value}"));
            self.push(field, RawValue::Str(text));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = CompactString::default();
        self.truncated |=
            BoundedWriter::write_bounded(&mut text, self.limit, format_args!("{value:?}"));
        self.text(field, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_value_fits_in_three_words() {
        // Every span keeps its fields inline in its extension; a larger value would make
        // every span's state (and its copy on each capture) larger.
        assert!(std::mem::size_of::<RawValue>() <= 24);
        assert!(std::mem::size_of::<(&str, RawValue)>() <= 40);
    }

    #[test]
    fn bounded_writer_cuts_on_char_boundary_and_marks() {
        let mut out = CompactString::default();
        let cut = BoundedWriter::write_bounded(&mut out, 5, format_args!("{}", "ééééé"));
        assert!(cut);
        assert_eq!(out, format!("éé{TRUNCATION_MARKER}"));
        let mut short = CompactString::default();
        assert!(!BoundedWriter::write_bounded(
            &mut short,
            5,
            format_args!("abc")
        ));
        assert_eq!(short, "abc");
    }

    #[test]
    fn error_kind_names_std_types_and_falls_back_to_debug() {
        let io = std::io::Error::other("boom");
        assert_eq!(error_kind(&io), "std::io::Error");
        assert_eq!(type_kind::<std::io::Error>(), "std::io::Error");
        assert_eq!(type_kind::<Custom>(), "Custom");
        assert_eq!(short_type_name("a::b::Wrapper<c::D>"), "Wrapper");
        #[derive(Debug)]
        struct Custom;
        impl fmt::Display for Custom {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("custom")
            }
        }
        impl Error for Custom {}
        assert_eq!(error_kind(&Custom), "Custom");
    }
}
