//! `configure_scope`: extras, tags and a user attached to every error raised inside a scope.
//!
//! A scope is a span (`error_tracker::scope`) whose extension holds the values, so it follows
//! the span rules: it covers whatever runs while it is entered, nests (inner values win), and
//! crosses `.await` points when a future is `.instrument`ed with [`scope_span`].

use std::fmt::Display;

use serde::Serialize;
use serde_json::Value;
use tracing::Span;
use tracing::span::EnteredSpan;

use crate::layer::Hooks;
use crate::occurrence::FieldMap;

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
pub fn configure_scope(f: impl FnOnce(&mut Scope)) -> ScopeGuard {
    ScopeGuard {
        _entered: scope_span(f).entered(),
    }
}

/// Keeps a scope open; see [`configure_scope`].
#[must_use = "the scope closes when the guard is dropped"]
#[derive(Debug)]
pub struct ScopeGuard {
    _entered: EnteredSpan,
}
