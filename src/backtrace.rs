//! Backtraces: taken unresolved where an error is raised, resolved into [`Frame`]s on the
//! worker.
//!
//! A capture pays only for walking the stack (a few microseconds); symbols, files and lines
//! are looked up on the worker, which is what costs (tens of milliseconds the first time, to
//! load the debug information, then tens of microseconds). A backtrace an error already
//! carries (`anyhow::Error`, `eyre::Report`) can only be read through its text, so it is
//! resolved where it is captured.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// When `error!` events and `capture_*` calls take a backtrace (panics always do, unless
/// [`crate::Builder::panic_backtraces`] turns it off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BacktraceMode {
    /// Never (the default): an error carries the backtrace it brings (`anyhow`, `eyre`).
    #[default]
    Off,
    /// The first time a callsite raises an error, and again once the interval
    /// ([`crate::Builder::backtrace_interval`], default one hour) has passed since: a hot
    /// error path pays for one backtrace per interval, not one per error.
    NewCallsites,
    /// Every time (each costs a stack walk on the caller and a resolution on the worker).
    Always,
}

/// One frame of a backtrace, innermost first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Frame {
    /// The function, demangled, without its hash (`my_app::billing::charge`).
    pub function: String,
    /// The source file, when the binary has debug information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The column in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Whether the frame is the application's code: not the standard library's, the
    /// runtime crates' most services run on (tokio, hyper, axum, tower, tracing, ...) or
    /// the tracker's, judged by the crate the function belongs to (for
    /// `<Type as Trait>::method`, the type's) and by its file (the toolchain's sources and
    /// the cargo registry are no application's).
    pub in_app: bool,
}

impl Frame {
    /// A frame of `function`; everything else unknown.
    pub fn new(function: impl Into<String>) -> Self {
        let function = function.into();
        let in_app = is_in_app(&function, None);
        Frame {
            function,
            in_app,
            ..Frame::default()
        }
    }
}

/// `function at file:line:column`, as far as it is known.
impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.function)?;
        if let Some(file) = &self.file {
            write!(f, " at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
        }
        Ok(())
    }
}

/// The frames to show first of a backtrace: the application's, or when it has none (a
/// panic inside a dependency called from outside), the innermost few.
pub(crate) fn shown_first(frames: &[Frame]) -> Vec<&Frame> {
    let in_app: Vec<&Frame> = frames.iter().filter(|frame| frame.in_app).collect();
    if in_app.is_empty() {
        frames.iter().take(10).collect()
    } else {
        in_app
    }
}

/// A backtrace as taken on the caller's thread.
#[derive(Debug)]
pub(crate) enum RawBacktrace {
    /// Walked but not resolved: the worker resolves it.
    Captured(Backtrace),
    /// The text of a backtrace an error carried (std's `Display` format).
    #[cfg_attr(not(any(feature = "anyhow", feature = "eyre")), allow(dead_code))]
    Text(String),
}

impl RawBacktrace {
    /// Walks the stack here, whatever `RUST_BACKTRACE` says.
    pub(crate) fn capture() -> RawBacktrace {
        RawBacktrace::Captured(Backtrace::force_capture())
    }

    /// About how many bytes this holds, for the byte budget: an unresolved backtrace
    /// holds some 48 bytes per frame, and a stack is rarely deeper than 64 frames.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            RawBacktrace::Captured(_) => 64 * 48,
            RawBacktrace::Text(text) => text.len(),
        }
    }

    /// Resolves the backtrace: its frames, the capture machinery and the runtime below
    /// `main` left out.
    pub(crate) fn resolve(self) -> Vec<Frame> {
        match self {
            RawBacktrace::Captured(backtrace) => {
                if backtrace.status() != BacktraceStatus::Captured {
                    return Vec::new();
                }
                frames(&backtrace.to_string())
            }
            RawBacktrace::Text(text) => frames(&text),
        }
    }
}

/// The text of a backtrace an error carries, when one was captured; formatting it resolves
/// it, here.
#[cfg(feature = "anyhow")]
pub(crate) fn carried(backtrace: &Backtrace) -> Option<RawBacktrace> {
    (backtrace.status() == BacktraceStatus::Captured)
        .then(|| RawBacktrace::Text(backtrace.to_string()))
}

/// Most frames kept of one backtrace; the innermost are kept.
pub(crate) const MAX_FRAMES: usize = 128;
/// Longest function name or file kept, in bytes.
const MAX_NAME_LEN: usize = 1024;

/// Frames from std's `Display` text of a backtrace, which is one line per symbol,
/// `  N: function`, each followed by `      at file:line:column` when known (inlined
/// functions share the frame's number and get a line each). Linear in the text.
pub(crate) fn frames(text: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(location) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut().filter(|frame| frame.file.is_none()) {
                set_location(frame, location);
            }
            continue;
        }
        let function = match line.split_once(": ") {
            Some((number, function)) if is_number(number) => function,
            // An inlined function under the same frame number.
            _ if !line.is_empty() && !frames.is_empty() => line,
            _ => continue,
        };
        if is_runtime_start(function) {
            // Everything below the application's `main` or its thread's closure is the
            // runtime's.
            break;
        }
        frames.push(Frame {
            function: bounded(function),
            ..Frame::default()
        });
    }
    for frame in &mut frames {
        frame.in_app = is_in_app(&frame.function, frame.file.as_deref());
    }
    // The frames that took the backtrace (std's, the tracker's, `anyhow`'s, the panic
    // machinery) are no place in the application: everything above the application's first
    // frame down to the last of them goes. What lies between them and the application
    // (`Option::expect`, `Result::unwrap`) stays.
    let first_app = frames
        .iter()
        .position(|frame| frame.in_app)
        .unwrap_or(frames.len());
    let start = frames[..first_app]
        .iter()
        .rposition(|frame| is_capture_machinery(&frame.function))
        .map_or(0, |last| last + 1);
    frames.drain(..start);
    frames.truncate(MAX_FRAMES);
    frames
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `file:line:column`, where the file may hold colons of its own.
fn set_location(frame: &mut Frame, location: &str) {
    let mut parts = location.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (
        file,
        line.and_then(|l| l.parse().ok()),
        column.and_then(|c| c.parse().ok()),
    ) {
        (Some(file), Some(line), Some(column)) => {
            frame.file = Some(bounded(file));
            frame.line = Some(line);
            frame.column = Some(column);
        }
        _ => frame.file = Some(bounded(location)),
    }
}

fn bounded(text: &str) -> String {
    if text.len() <= MAX_NAME_LEN {
        return text.to_owned();
    }
    let mut end = MAX_NAME_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Where the application's stack ends and the runtime that started it begins.
fn is_runtime_start(function: &str) -> bool {
    function.ends_with("__rust_begin_short_backtrace")
        || function.starts_with("std::rt::lang_start")
}

/// Frames of the code that takes a backtrace or reports a panic, at the top of the stack.
fn is_capture_machinery(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "std::backtrace",
        "std::panicking",
        "std::panic::",
        "std::sys::backtrace",
        "__rust_try",
        "core::panicking",
        "rust_begin_unwind",
        "__rustc::",
        "error_tracker::",
        "<error_tracker::",
        "tracing::",
        "<tracing::",
        "tracing_core::",
        "<tracing_core::",
        "tracing_subscriber::",
        "<tracing_subscriber::",
        "tracing_log::",
        "<tracing_log::",
        "log::",
        "<log::",
        "anyhow::",
        "<anyhow::",
        "eyre::",
        "<eyre::",
        "core::ops::function::Fn",
        "<alloc::boxed::Box<F,A> as core::ops::function::Fn",
    ];
    PREFIXES.iter().any(|prefix| function.starts_with(prefix))
}

/// Whether a frame is the application's; see [`Frame::in_app`].
pub(crate) fn is_in_app(function: &str, file: Option<&str>) -> bool {
    const NOT_APP: &[&str] = &[
        "std",
        "core",
        "alloc",
        "tokio",
        "futures",
        "futures_core",
        "futures_util",
        "hyper",
        "hyper_util",
        "axum",
        "tower",
        "tower_http",
        "tracing_log",
        "log",
        "tracing",
        "tracing_core",
        "tracing_subscriber",
        "error_tracker",
        "anyhow",
        "eyre",
        "backtrace",
        "__rustc",
        "rust_begin_unwind",
        "__libc_start_main",
        "__libc_start_call_main",
        "_start",
        "main",
        "start_thread",
        "clone",
        "clone3",
        "<unknown>",
    ];
    if let Some(file) = file
        && (file.starts_with("/rustc/")
            || file.contains("/.cargo/registry/")
            || file.contains("/.cargo/git/")
            || file.contains("/rustlib/"))
    {
        return false;
    }
    let path = function.trim_start_matches(['<', '&', '*', ' ']);
    let path = path.strip_prefix("mut ").unwrap_or(path);
    let path = path.strip_prefix("dyn ").unwrap_or(path);
    let krate = path
        .split("::")
        .next()
        .unwrap_or(path)
        .split([' ', '<', '>', '(', ','])
        .next()
        .unwrap_or_default();
    // A symbol outside any crate (`main`, `_start`, `__rust_try`, libc's) is no Rust
    // application's.
    path.contains("::")
        && !krate.is_empty()
        && !krate.starts_with("__")
        && !NOT_APP.contains(&krate)
}

/// Decides, for [`BacktraceMode::NewCallsites`], which captures take a backtrace.
#[derive(Debug)]
pub(crate) struct Sampler {
    mode: BacktraceMode,
    interval: Duration,
    /// When each callsite last took one, by its address (its metadata or `Location`).
    /// (hashbrown's hasher: a lookup per captured error, on the caller's thread).
    taken: Mutex<hashbrown::HashMap<usize, Instant>>,
}

/// Most callsites remembered; past it the memory starts over (each callsite then takes one
/// more backtrace), which bounds it for programs that make callsites without end.
const MAX_CALLSITES: usize = 4096;

impl Sampler {
    pub(crate) fn new(mode: BacktraceMode, interval: Duration) -> Self {
        Sampler {
            mode,
            interval,
            taken: Mutex::new(hashbrown::HashMap::new()),
        }
    }

    /// A backtrace of this thread's stack if the mode asks for one at `callsite`.
    #[inline]
    pub(crate) fn take(&self, callsite: usize) -> Option<RawBacktrace> {
        match self.mode {
            BacktraceMode::Off => None,
            BacktraceMode::Always => Some(RawBacktrace::capture()),
            BacktraceMode::NewCallsites => self.take_new(callsite),
        }
    }

    fn take_new(&self, callsite: usize) -> Option<RawBacktrace> {
        let now = Instant::now();
        {
            let mut taken = self.taken.lock();
            match taken.get_mut(&callsite) {
                Some(last) if now.duration_since(*last) < self.interval => return None,
                Some(last) => *last = now,
                None => {
                    if taken.len() == MAX_CALLSITES {
                        taken.clear();
                    }
                    taken.insert(callsite, now);
                }
            }
        }
        // Walked outside the lock: other callsites need not wait for this stack.
        Some(RawBacktrace::capture())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANIC_TEXT: &str = "   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1: std::backtrace::Backtrace::force_capture
             at /rustc/abc/library/std/src/backtrace.rs:312:9
   2: error_tracker::panic::capture_panic
             at ./src/panic.rs:30:5
   3: std::panicking::rust_panic_with_hook
             at /rustc/abc/library/std/src/panicking.rs:841:13
   4: core::panicking::panic_fmt
             at /rustc/abc/library/core/src/panicking.rs:75:14
   5: my_app::billing::charge
             at ./src/billing.rs:42:9
      my_app::billing::inlined_helper
             at ./src/billing.rs:12:5
   6: <my_app::Job as core::future::Future>::poll
             at ./src/job.rs:7:1
   7: tokio::runtime::task::core::Core<T,S>::poll
             at /home/me/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.48.0/src/runtime/task/core.rs:331:17
   8: std::sys::backtrace::__rust_begin_short_backtrace
             at /rustc/abc/library/std/src/sys/backtrace.rs:158:18
   9: std::rt::lang_start::{{closure}}
  10: main
";

    #[test]
    fn frames_start_below_the_capture_and_end_above_the_runtime() {
        let frames = frames(PANIC_TEXT);
        let names: Vec<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "my_app::billing::charge",
                "my_app::billing::inlined_helper",
                "<my_app::Job as core::future::Future>::poll",
                "tokio::runtime::task::core::Core<T,S>::poll",
            ]
        );
        assert_eq!(frames[0].file.as_deref(), Some("./src/billing.rs"));
        assert_eq!(frames[0].line, Some(42));
        assert_eq!(frames[0].column, Some(9));
        assert_eq!(frames[1].line, Some(12), "the inlined function's own line");
        let in_app: Vec<bool> = frames.iter().map(|f| f.in_app).collect();
        assert_eq!(in_app, [true, true, true, false]);
    }

    #[test]
    fn in_app_is_decided_by_crate_and_file() {
        assert!(is_in_app("my_app::main", None));
        assert!(is_in_app("<my_app::Foo as core::fmt::Display>::fmt", None));
        assert!(is_in_app(
            "<&mut my_app::Foo as core::fmt::Debug>::fmt",
            None
        ));
        assert!(!is_in_app("core::option::unwrap_failed", None));
        assert!(!is_in_app(
            "<alloc::vec::Vec<T> as core::ops::Drop>::drop",
            None
        ));
        assert!(!is_in_app("tokio::runtime::park", None));
        assert!(!is_in_app("main", None));
        assert!(!is_in_app(
            "serde_json::de::from_str",
            Some("/root/.cargo/registry/src/x/serde_json-1.0/src/de.rs")
        ));
        assert!(is_in_app("serde_json::de::from_str", None));
    }

    #[test]
    fn hostile_text_gives_bounded_frames_in_linear_time() {
        let long = format!("  0: {}\n", "a".repeat(100_000));
        let frames = frames(&long);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].function.len(), MAX_NAME_LEN);
        let many: String = (0..10_000).map(|i| format!("  {i}: app::f{i}\n")).collect();
        assert_eq!(super::frames(&many).len(), MAX_FRAMES);
        assert!(super::frames("at a:b:c\n\n: :\n 1:").is_empty());
    }

    #[test]
    fn a_real_backtrace_resolves_below_its_capture() {
        // Inside this crate every frame of the test is the tracker's own, which is left
        // out; the test harness's remain (the integration tests check an application's).
        let frames = RawBacktrace::capture().resolve();
        assert!(!frames.is_empty());
        assert!(
            frames
                .iter()
                .all(|f| !f.function.starts_with("std::backtrace")),
            "{frames:#?}"
        );
        assert!(frames.iter().any(|f| f.line.is_some()), "{frames:#?}");
    }

    #[test]
    fn new_callsites_take_one_backtrace_per_interval() {
        let sampler = Sampler::new(BacktraceMode::NewCallsites, Duration::from_secs(3600));
        assert!(sampler.take(1).is_some());
        assert!(
            sampler.take(1).is_none(),
            "the same callsite within the interval"
        );
        assert!(sampler.take(2).is_some(), "another callsite");
        let again = Sampler::new(BacktraceMode::NewCallsites, Duration::ZERO);
        assert!(again.take(1).is_some());
        assert!(again.take(1).is_some(), "the interval has passed");
        assert!(
            Sampler::new(BacktraceMode::Off, Duration::ZERO)
                .take(1)
                .is_none()
        );
        assert!(
            Sampler::new(BacktraceMode::Always, Duration::ZERO)
                .take(1)
                .is_some()
        );
    }
}
