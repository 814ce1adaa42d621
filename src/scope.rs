//! `configure_scope`: extras, tags and a user attached to every error raised inside a scope.
//!
//! Two ways to hold a scope, for the two ways code runs:
//! - [`configure_scope`] keeps the values on the thread until its guard drops (the seed's
//!   context manager). No span is made, so no filter can drop the values and no other layer
//!   prints them; they take their place in a capture's span trace where they were opened.
//! - [`scope_span`] and [`configure_span_scope`] keep them in a span's extension, so they
//!   follow the span: across `.await` points of an `.instrument`ed future and into every
//!   child span, on any thread.

use std::cell::RefCell;
use std::fmt::Display;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tracing::Span;

use crate::layer::{CaptureContext, Hooks};
use crate::occurrence::FieldMap;
use crate::record::{RawFields, RawOccurrence, RawSpan};

/// The target of scope spans; they are left out of span traces.
pub(crate) const SCOPE_TARGET: &str = "error_tracker::scope";

/// Context set with [`configure_scope`]; attached to every error raised inside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub(crate) extras: FieldMap,
    pub(crate) tags: FieldMap,
    pub(crate) user: Option<Value>,
}

fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>")))
}

impl Scope {
    /// Sets an extra value (any `Serialize` value; masked like every field).
    pub fn set_extra(&mut self, key: impl Into<String>, value: impl Serialize) -> &mut Self {
        self.extras.insert(key.into(), to_json(value));
        self
    }

    /// Removes an extra value set in this scope.
    pub fn remove_extra(&mut self, key: &str) -> &mut Self {
        self.extras.shift_remove(key);
        self
    }

    /// Sets a tag: a short text for filtering (`region = eu-west`).
    pub fn set_tag(&mut self, key: impl Into<String>, value: impl Display) -> &mut Self {
        self.tags
            .insert(key.into(), Value::String(value.to_string()));
        self
    }

    /// Sets the user the errors happened to (an id, an object with id and email, ...).
    pub fn set_user(&mut self, user: impl Serialize) -> &mut Self {
        self.user = Some(to_json(user));
        self
    }

    /// The extras set in this scope.
    pub fn extras(&self) -> &FieldMap {
        &self.extras
    }

    /// The tags set in this scope.
    pub fn tags(&self) -> &FieldMap {
        &self.tags
    }

    /// The user set in this scope.
    pub fn user(&self) -> Option<&Value> {
        self.user.as_ref()
    }
}

/// Adds to the scope of an existing span; returns false when no tracker sees that span.
pub fn configure_span_scope(span: &Span, f: impl FnOnce(&mut Scope)) -> bool {
    let mut f = Some(f);
    span.with_subscriber(|(id, dispatch)| {
        let Some(hooks) = Hooks::of(dispatch) else {
            return false;
        };
        hooks.update_scope(dispatch, id, &mut |scope| {
            if let Some(f) = f.take() {
                f(scope);
            }
        });
        true
    })
    .unwrap_or(false)
}

/// A new scope span, configured by `f` but not entered: for futures,
/// `fut.instrument(scope_span(|s| ...))`.
pub fn scope_span(f: impl FnOnce(&mut Scope)) -> Span {
    // ERROR level: enabled wherever the errors it gives context to are.
    let span = tracing::error_span!(target: SCOPE_TARGET, "scope");
    configure_span_scope(&span, f);
    span
}

/// Opens a scope (the seed's `configure_scope` context manager): until the guard drops, every
/// error raised on this thread carries the extras, tags and user set in `f`.
///
/// ```
/// let _scope = error_tracker::configure_scope(|s| {
///     s.set_extra("user_id", 1234);
///     s.set_extra("email", "a@b.c");
/// });
/// // error!(...) here carries user_id and email as extras.
/// ```
///
/// The values are kept on the thread, not in a span of their own: no filter can drop them
/// (`EnvFilter::new("myapp=debug")` names only the application's targets) and no other layer
/// prints them (`fmt` shows no `scope:` span). They take their place in the span trace where
/// the scope was opened: inside the span that was current then, so that they win over that
/// span's scope and the values of scopes opened inside them win over theirs.
///
/// The guard is not `Send`, like an entered span: a future that must carry a scope across
/// `.await` points (and threads) is instrumented with [`scope_span`] instead.
pub fn configure_scope(f: impl FnOnce(&mut Scope)) -> ScopeGuard {
    let mut scope = Scope::default();
    f(&mut scope);
    ScopeGuard {
        _on_thread: ThreadScope::push(&THREAD_SCOPE_METADATA, scope),
        _not_send: std::marker::PhantomData,
    }
}

/// Keeps a scope open; see [`configure_scope`].
#[must_use = "the scope closes when the guard is dropped"]
#[derive(Debug)]
pub struct ScopeGuard {
    _on_thread: ThreadScope,
    /// The values belong to the thread that opened the scope.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Defines `$metadata`, the metadata of a span callsite of the tracker's own named `$name`
/// with target `$target`, which is never registered with any subscriber: it marks context
/// kept on the thread in place of a span that a filter refused (such a span has no metadata
/// of its own when every subscriber refuses its callsite).
macro_rules! own_span_metadata {
    ($metadata:ident, $name:literal, $target:expr) => {
        static $metadata: tracing::Metadata<'static> = {
            struct OwnCallsite;
            static CALLSITE: OwnCallsite = OwnCallsite;
            impl tracing::callsite::Callsite for OwnCallsite {
                fn set_interest(&self, _: tracing::subscriber::Interest) {}
                fn metadata(&self) -> &tracing::Metadata<'_> {
                    &$metadata
                }
            }
            tracing::Metadata::new(
                $name,
                $target,
                tracing::Level::ERROR,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE)),
                tracing::metadata::Kind::SPAN,
            )
        };
    };
}
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use own_span_metadata;

own_span_metadata!(THREAD_SCOPE_METADATA, "scope", SCOPE_TARGET);

/// What a span whose place a filter took would have given a capture.
enum ThreadContext {
    /// A [`configure_scope`] scope.
    Scope(Arc<Scope>),
    /// A request's context, built when something is captured (the HTTP middleware), with the
    /// fields its span would have had.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Capture(Arc<dyn CaptureContext>, RawFields),
}

/// One entry of the thread's stack.
struct ThreadEntry {
    id: u64,
    /// The span that was current when the entry was pushed (`Id::into_u64`, 0 for none):
    /// the entry goes just inside it in a capture's span trace.
    parent: u64,
    metadata: &'static tracing::Metadata<'static>,
    context: ThreadContext,
}

thread_local! {
    /// Scopes and request contexts whose span a filter disabled, outermost first, with an id
    /// each so that a guard dropped out of order removes its own.
    static THREAD_SCOPES: RefCell<Vec<ThreadEntry>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A scope or context kept on the thread, removed when dropped.
#[derive(Debug)]
pub(crate) struct ThreadScope {
    id: u64,
}

impl ThreadScope {
    fn push(metadata: &'static tracing::Metadata<'static>, scope: Scope) -> ThreadScope {
        Self::push_context(metadata, ThreadContext::Scope(Arc::new(scope)))
    }

    /// Keeps a request's context on the thread until the guard drops (while the middleware
    /// polls the request's handler), for a request whose span a filter disabled.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn enter_capture_context(
        metadata: &'static tracing::Metadata<'static>,
        context: Arc<dyn CaptureContext>,
        fields: RawFields,
    ) -> ThreadScope {
        Self::push_context(metadata, ThreadContext::Capture(context, fields))
    }

    fn push_context(
        metadata: &'static tracing::Metadata<'static>,
        context: ThreadContext,
    ) -> ThreadScope {
        let id = NEXT_ID.with(|next| {
            let id = next.get();
            next.set(id.wrapping_add(1));
            id
        });
        let parent = tracing::dispatcher::get_default(|dispatch| {
            dispatch
                .current_span()
                .id()
                .map_or(0, tracing::Id::into_u64)
        });
        THREAD_SCOPES.with(|scopes| {
            scopes.borrow_mut().push(ThreadEntry {
                id,
                parent,
                metadata,
                context,
            });
        });
        ThreadScope { id }
    }
}

impl Drop for ThreadScope {
    fn drop(&mut self) {
        // `try_with`: a guard dropped while the thread's locals are being destroyed.
        let _ = THREAD_SCOPES.try_with(|scopes| {
            scopes.borrow_mut().retain(|entry| entry.id != self.id);
        });
    }
}

/// Adds the scopes kept on this thread to `raw`, each just inside the span that was current
/// when it was opened (outermost when that span is not in the trace), so that values set
/// further in win as they do for spans.
pub(crate) fn attach_thread_scopes(raw: &mut RawOccurrence) {
    let _ = THREAD_SCOPES.try_with(|scopes| {
        let scopes = scopes.borrow();
        // `raw.spans` runs from the innermost span out; the thread's entries are outermost
        // first, so each one inserted before its parent (or before the ones without a
        // parent in the trace, past the spans) lands inside the ones before it.
        let mut outermost = raw.spans.len();
        for entry in scopes.iter() {
            let span = match &entry.context {
                ThreadContext::Scope(scope) => RawSpan {
                    id: 0,
                    metadata: entry.metadata,
                    fields: RawFields::new(),
                    scope: Some(scope.clone()),
                },
                ThreadContext::Capture(context, fields) => RawSpan {
                    id: 0,
                    metadata: entry.metadata,
                    fields: fields.clone(),
                    scope: context.on_capture(),
                },
            };
            let at = match entry.parent {
                0 => None,
                parent => raw.spans.iter().position(|span| span.id == parent),
            };
            match at {
                Some(at) => {
                    raw.spans.insert(at, span);
                    // The spans moved one further out.
                    outermost += 1;
                }
                None => raw.spans.insert(outermost, span),
            }
        }
    });
}
