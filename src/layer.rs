//! The `tracing_subscriber::Layer`: span fields into span extensions, error events into
//! occurrences.
//!
//! Everything below the capture level costs a level comparison; spans cost one field record
//! into a small inline array, and no more than the recording when they have no field values.

use std::any::TypeId;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::breadcrumbs::{RawBreadcrumb, Ring};
use crate::occurrence::Level;
use crate::record::{
    EventRecorder, RawFields, RawLocation, RawOccurrence, RawSpan, SpanFields, SpanRecorder,
};
use crate::scope::{SCOPE_TARGET, Scope};
use crate::shared::{Shared, enter_tracker};

/// What a span carries for the tracker, kept in the span's extensions: its field values,
/// and behind the same rarely allocated box as the values that do not fit inline, its scope
/// and capture context, which few spans have.
///
/// Every span with field values has one, so it is kept small (at most 128 bytes, which the
/// compiler copies with a few moves rather than a call to `memcpy`).
#[derive(Default)]
pub(crate) struct SpanState {
    fields: SpanFields<SpanContext>,
}

/// The rarely present part of a [`SpanState`].
#[derive(Default)]
struct SpanContext {
    scope: Option<Arc<Scope>>,
    /// Told of every capture inside this span; see [`CaptureContext`].
    capture_context: Option<Arc<dyn CaptureContext>>,
}

impl SpanState {
    fn context_mut(&mut self) -> &mut SpanContext {
        self.fields.extra_mut()
    }
}

/// Context that a span builds only when an error is captured inside it, and that learns of
/// the capture: the HTTP middleware's request span turns its headers and query into extras
/// only for the requests that fail, and knows not to record a failed status twice.
pub(crate) trait CaptureContext: Send + Sync + 'static {
    /// Called on the capturing thread for each capture inside the span: the scope to attach,
    /// under the span's own scope (whose values win).
    fn on_capture(&self) -> Option<Arc<Scope>>;
}

/// The scope a span contributes to a capture: its lazy context's, then its own on top.
fn capture_scope(state: &SpanState) -> Option<Arc<Scope>> {
    let span_context = state.fields.extra()?;
    let Some(context) = &span_context.capture_context else {
        return span_context.scope.clone();
    };
    match (context.on_capture(), &span_context.scope) {
        (Some(mut base), Some(own)) => {
            let merged = Arc::make_mut(&mut base);
            merged.extras.extend(own.extras.clone());
            merged.tags.extend(own.tags.clone());
            if own.user.is_some() {
                merged.user.clone_from(&own.user);
            }
            Some(base)
        }
        (base, own) => base.or_else(|| own.clone()),
    }
}

/// Runs a closure on the scope of a span, through a dispatcher of a known subscriber type.
type UpdateScope = fn(&Dispatch, &Id, &mut dyn FnMut(&mut Scope));

/// The entry points that need the subscriber's concrete type, erased to function pointers so
/// that `capture_*` and `configure_scope` can reach them through any `Dispatch`.
#[derive(Clone)]
pub(crate) struct Hooks {
    pub shared: Arc<Shared>,
    span_trace: fn(&Dispatch, &Id, usize, bool) -> SpanTrace,
    update_scope: UpdateScope,
    set_capture_context: fn(&Dispatch, &Id, Arc<dyn CaptureContext>),
}

impl Hooks {
    /// Finds the tracker installed in `dispatch`, if any: by downcasting, or, for a layer
    /// behind one that does not pass downcasts on (`tracing_subscriber::reload::Layer`), by
    /// the subscriber it registered with (see [`reachable`]).
    pub(crate) fn of(dispatch: &Dispatch) -> Option<Cow<'_, Hooks>> {
        if let Some(hooks) = dispatch.downcast_ref::<Hooks>() {
            return Some(Cow::Borrowed(hooks));
        }
        reachable::find(dispatch).map(Cow::Owned)
    }

    /// Whether [`Hooks::of`] found no tracker in `dispatch` because its layer was swapped
    /// by a reload and the new layer has not been called yet; [`Hooks::refresh`] calls it.
    pub(crate) fn waiting(dispatch: &Dispatch) -> bool {
        reachable::waiting(dispatch)
    }

    /// Lets layers swapped in by a reload find their place; outside `get_default`.
    pub(crate) fn refresh() {
        reachable::refresh();
    }

    /// Captures `raw` inside the dispatcher's current span; false if it was not accepted.
    pub(crate) fn capture_in_current_span(
        &self,
        dispatch: &Dispatch,
        mut raw: RawOccurrence,
    ) -> bool {
        match dispatch.current_span().id() {
            Some(id) => self.capture_in_span(dispatch, id, raw),
            None => {
                if self.shared.settings.breadcrumbs > 0 {
                    raw.set_breadcrumbs(crate::breadcrumbs::thread_snapshot());
                }
                self.shared.submit(raw)
            }
        }
    }

    /// Captures `raw` inside span `id` (with its span trace), whatever span is current.
    pub(crate) fn capture_in_span(
        &self,
        dispatch: &Dispatch,
        id: &Id,
        mut raw: RawOccurrence,
    ) -> bool {
        #[cfg(feature = "opentelemetry")]
        {
            raw.set_trace(crate::otel::ids(dispatch, id));
        }
        let settings = &self.shared.settings;
        let trace = (self.span_trace)(
            dispatch,
            id,
            settings.max_span_depth,
            settings.breadcrumbs > 0,
        );
        raw.spans = trace.spans;
        raw.spans_omitted = trace.omitted;
        raw.set_breadcrumbs(trace.breadcrumbs);
        self.shared.submit(raw)
    }

    /// From now on, every capture inside span `id` (or its children) calls `context`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn set_capture_context(
        &self,
        dispatch: &Dispatch,
        id: &Id,
        context: Arc<dyn CaptureContext>,
    ) {
        (self.set_capture_context)(dispatch, id, context);
    }

    /// Runs `f` on the scope kept in span `id`, creating it if needed.
    pub(crate) fn update_scope(&self, dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut Scope)) {
        (self.update_scope)(dispatch, id, f);
    }
}

/// The layer that captures errors; made by [`crate::ErrorTracker::layer`].
pub struct ErrorTrackerLayer<S> {
    /// A copy of `settings.level`, kept here so that the check every event pays reads the
    /// layer itself rather than following the `Arc` to the shared state.
    level: tracing::Level,
    /// The least severe level the layer does anything for: the breadcrumb level when
    /// breadcrumbs are on (it is below the capture level), else the capture level.
    breadcrumb_level: tracing::Level,
    /// Whether breadcrumbs are on.
    breadcrumbs: bool,
    /// The dispatcher this layer serves, for the OpenTelemetry context of its captures.
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
    hooks: Hooks,
    /// Keeps the tracker's worker running while the layer exists, whatever became of the
    /// tracker handle it was made from.
    _pipeline: Arc<dyn Send + Sync>,
    /// The subscribers this layer registered with for [`reachable`], to forget on drop.
    registered: parking_lot::Mutex<Vec<usize>>,
    /// Whether the layer knows its place in [`reachable`] (or needs none). A layer swapped
    /// in by `reload::Handle::reload` is told of no dispatcher, and takes the place of the
    /// layer it replaced the first time it is called.
    seen: AtomicBool,
    _subscriber: PhantomData<fn(S)>,
}

impl<S> std::fmt::Debug for ErrorTrackerLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorTrackerLayer")
            .field("level", &self.hooks.shared.settings.level)
            .finish_non_exhaustive()
    }
}

impl<S> ErrorTrackerLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    pub(crate) fn new(shared: Arc<Shared>, pipeline: Arc<dyn Send + Sync>) -> Self {
        ErrorTrackerLayer {
            _pipeline: pipeline,
            registered: parking_lot::Mutex::new(Vec::new()),
            seen: AtomicBool::new(false),
            level: shared.settings.level,
            breadcrumb_level: if shared.settings.breadcrumbs > 0 {
                shared.settings.breadcrumb_level.max(shared.settings.level)
            } else {
                shared.settings.level
            },
            breadcrumbs: shared.settings.breadcrumbs > 0,
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
            hooks: Hooks {
                shared,
                span_trace: span_trace::<S>,
                update_scope: update_scope::<S>,
                set_capture_context: set_capture_context::<S>,
            },
            _subscriber: PhantomData,
        }
    }

    /// Runs `record` (which formats user values), counting a panic instead of passing it on:
    /// a `Debug` impl that panics must not take down the thread that merely named it in a
    /// span. What was recorded before the panic is kept.
    fn guarded(&self, record: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(record)).is_err() {
            self.hooks
                .shared
                .counters
                .internal_panics
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the place in [`reachable`] of the layer this one replaced, if it is new in a
    /// reload layer: `reload::Handle::reload` drops the old layer and moves the new one to
    /// the same address, then registers every callsite with it again.
    #[inline]
    fn learn_place(&self) {
        if !self.seen.load(Ordering::Relaxed) {
            self.learn_place_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn learn_place_slow(&self) {
        if reachable::take_place(self.address(), &self.hooks, &self.registered) {
            self.seen.store(true, Ordering::Relaxed);
        }
    }

    /// Where the layer lives; inside a reload layer, the same for every layer it holds.
    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Captures an event at the capture level, keeps one below it as a breadcrumb.
    #[inline(never)]
    fn capture_or_keep(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() <= self.level {
            self.capture_guarded(event, ctx);
        } else {
            self.record_breadcrumb(event, ctx);
        }
    }

    /// Keeps `event` as a breadcrumb in the root span of its span tree, or on the thread.
    /// Out of line: off by default, and the `info!` path must stay small.
    #[inline(never)]
    fn record_breadcrumb(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let capacity = self.hooks.shared.settings.breadcrumbs;
        let mut crumb = None;
        self.guarded(|| crumb = Some(RawBreadcrumb::record(event)));
        let Some(crumb) = crumb else { return };
        match ctx.event_span(event).map(root_of) {
            Some(root) => {
                let mut extensions = root.extensions_mut();
                match extensions.get_mut::<Ring>() {
                    Some(ring) => ring.push(crumb, capacity),
                    None => {
                        let mut ring = Ring::default();
                        ring.push(crumb, capacity);
                        extensions.insert(ring);
                    }
                }
            }
            None => crate::breadcrumbs::push_on_thread(crumb, capacity),
        }
    }

    /// Captures `event` unless this thread is already inside the tracker; a panic while
    /// recording is counted, never passed on. Out of line: most events never get here.
    #[cold]
    #[inline(never)]
    fn capture_guarded(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.learn_place();
        let Some(guard) = enter_tracker() else {
            return;
        };
        // A user `Debug` impl may panic while its field is recorded; that must not take down
        // the thread that merely logged it.
        self.guarded(|| self.capture_event(event, &ctx));
        guard.finish(&self.hooks.shared);
    }

    fn capture_event(&self, event: &Event<'_>, ctx: &Context<'_, S>) {
        let shared = &self.hooks.shared;
        let settings = &shared.settings;
        let metadata = event.metadata();
        if !crate::filter::admits(shared, metadata) {
            return;
        }
        let mut fields = RawFields::new();
        let mut recorder = EventRecorder::new(&mut fields, settings.max_value_len);
        event.record(&mut recorder);
        let truncated = recorder.truncated;
        let parts = recorder.parts;
        let kind = parts
            .chain
            .first()
            .map_or(Cow::Borrowed("event"), |link| link.kind.clone());
        // `#[instrument(err)]` events carry only the error: its text is the message.
        let message = parts
            .message
            .or_else(|| parts.chain.first().map(|link| link.message.clone()))
            .unwrap_or_else(|| metadata.name().into());
        if crate::panic_echo::is_echo(metadata.target(), &message) {
            return;
        }
        // A bridged `log` record: grouped, listed and located by where it was logged, not by
        // the bridge (whose metadata says target `log` for every library).
        let location = match parts.log {
            Some(origin) => origin.into_location(),
            None => RawLocation::from_metadata(metadata),
        };
        let mut raw = RawOccurrence::new(Level::from(*metadata.level()), kind, message, location);
        raw.fields = fields;
        raw.chain = parts.chain;
        raw.custom_fingerprint = parts.custom_fingerprint;
        raw.truncated = truncated;
        raw.set_backtrace(
            shared
                .backtraces
                .take(std::ptr::from_ref(metadata) as usize),
        );
        match ctx.event_scope(event) {
            Some(scope) => {
                let trace = collect_spans(scope, settings.max_span_depth, self.breadcrumbs);
                raw.spans = trace.spans;
                raw.spans_omitted = trace.omitted;
                raw.set_breadcrumbs(trace.breadcrumbs);
            }
            None if self.breadcrumbs => {
                raw.set_breadcrumbs(crate::breadcrumbs::thread_snapshot());
            }
            None => {}
        }
        // The innermost span of the trace is the event's (its id is never 0: ids are
        // non-zero, and the thread's scopes are attached later).
        #[cfg(feature = "opentelemetry")]
        if let Some(id) = raw
            .spans
            .first()
            .and_then(|span| std::num::NonZeroU64::new(span.id))
            .map(tracing::Id::from_non_zero_u64)
            && let Some(dispatch) = self.dispatch.get().and_then(|weak| weak.upgrade())
        {
            raw.set_trace(crate::otel::ids(&dispatch, &id));
        }
        shared.submit(raw);
    }
}

impl<S> Drop for ErrorTrackerLayer<S> {
    fn drop(&mut self) {
        let address = std::ptr::from_ref::<Self>(self) as usize;
        reachable::forget(address, &self.hooks, &self.registered);
    }
}

impl<S> tracing_subscriber::Layer<S> for ErrorTrackerLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        // Reached by downcasting, as usual: nothing to do. Behind a reload layer (which
        // passes no downcast on, since its layer can be swapped), the manual API, scopes and
        // the HTTP middleware find this layer by the subscriber under it instead.
        if dispatch.downcast_ref::<Hooks>().is_none() {
            reachable::register::<S>(dispatch, self.address(), &self.hooks, &self.registered);
        }
        self.seen.store(true, Ordering::Relaxed);
        #[cfg(feature = "opentelemetry")]
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn max_level_hint(&self) -> Option<tracing_subscriber::filter::LevelFilter> {
        // `reload::Handle::reload` asks every dispatcher for its hint, and every layer is
        // asked, whatever filters sit outside it: the new layer learns its place here.
        self.learn_place();
        // No hint: the layer compares levels itself and must not silence other layers.
        None
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // The values are recorded before the span is looked up, so that a span without any
        // costs no lookup; the state is built on the stack and moved into the extension's
        // box, which is cheap at its size (see `SpanState`).
        self.learn_place();
        let mut state = SpanState::default();
        self.guarded(|| {
            attrs.record(&mut SpanRecorder::new_span(
                &mut state.fields,
                attrs.metadata(),
                self.hooks.shared.settings.max_value_len,
            ));
        });
        if state.fields.has_no_values() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let limit = self.hooks.shared.settings.max_value_len;
        let metadata = span.metadata();
        // Recorded under the registry's lock on the span's extensions: a panic escaping
        // here would poison it, and every later span would panic in the registry.
        state_of(&span, |state| {
            self.guarded(|| {
                values.record(&mut SpanRecorder::record(
                    &mut state.fields,
                    metadata,
                    limit,
                ));
            });
        });
    }

    #[inline]
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // `Level` orders more verbose as greater: this keeps ERROR (and WARN when asked for).
        // The comparison is the whole cost of a non-error event, and it is kept small enough
        // to be inlined into the subscriber's dispatch: answering `Interest::never()` from
        // `register_callsite` instead would silence the other layers of the subscriber (the
        // `fmt` layer) for that callsite too, and a per-layer filter costs more per event
        // than this comparison (see docs/performance.md).
        // `breadcrumb_level` is the capture level when breadcrumbs are off: one comparison
        // either way.
        if *event.metadata().level() <= self.breadcrumb_level {
            // `ctx` by value: two words in registers, so that the common path above builds
            // nothing on the stack.
            self.capture_or_keep(event, ctx);
        }
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<Hooks>() {
            Some(&self.hooks as *const Hooks as *const ())
        } else {
            None
        }
    }
}

/// Trackers reachable by the subscriber under them, for layers that downcasting cannot reach
/// (`tracing_subscriber::reload::Layer` passes no downcast on: its layer can be swapped).
///
/// A layer behind a reload layer registers with the subscriber under it when the dispatcher
/// is built. A layer that `Handle::reload` swaps in is told of no dispatcher; it lives where
/// the layer it replaced lived, so it takes that layer's registration, left behind as a
/// [`Vacated`] place, the first time it is called: `reload` asks every dispatcher for its
/// level hint at once, which asks every layer, filters or not.
mod reachable {
    use std::sync::atomic::{AtomicBool, Ordering};

    use parking_lot::{Mutex, RwLock};
    use tracing::{Dispatch, Subscriber};

    use super::Hooks;

    /// A layer's hooks and how to recognise the subscriber it registered with: the address
    /// of the `S` under it, found in a dispatcher by downcasting to `S` (which every
    /// layer, a reload layer included, passes down to the subscriber).
    struct Registered {
        locate: fn(&Dispatch) -> Option<usize>,
        subscriber: usize,
        /// Where the layer lives.
        layer: usize,
        hooks: Hooks,
    }

    /// The registration of a dropped layer, for the layer that a reload moves to its place.
    struct Vacated {
        locate: fn(&Dispatch) -> Option<usize>,
        subscriber: usize,
        layer: usize,
        /// Whether [`find`] has had the callsites registered again for it.
        asked: bool,
    }

    static REGISTERED: RwLock<Vec<Registered>> = RwLock::new(Vec::new());
    /// Places left by dropped layers; past [`MAX_VACATED`] the oldest are forgotten (a place
    /// is taken at once by the layer reloaded into it, or belonged to a subscriber now gone).
    static VACATED: Mutex<Vec<Vacated>> = Mutex::new(Vec::new());
    const MAX_VACATED: usize = 64;
    /// Whether any is registered or vacated: the common case (none) costs one load.
    static ANY: AtomicBool = AtomicBool::new(false);

    fn locate<S: Subscriber>(dispatch: &Dispatch) -> Option<usize> {
        dispatch
            .downcast_ref::<S>()
            .map(|subscriber| std::ptr::from_ref(subscriber) as usize)
    }

    pub(super) fn register<S: Subscriber>(
        dispatch: &Dispatch,
        layer: usize,
        hooks: &Hooks,
        registered: &Mutex<Vec<usize>>,
    ) {
        if let Some(subscriber) = locate::<S>(dispatch) {
            add(locate::<S>, subscriber, layer, hooks, registered);
        }
    }

    fn add(
        locate: fn(&Dispatch) -> Option<usize>,
        subscriber: usize,
        layer: usize,
        hooks: &Hooks,
        registered: &Mutex<Vec<usize>>,
    ) {
        // A layer registering here by itself is no reloaded one: the old place is stale.
        VACATED.lock().retain(|place| place.layer != layer);
        REGISTERED.write().push(Registered {
            locate,
            subscriber,
            layer,
            hooks: hooks.clone(),
        });
        registered.lock().push(subscriber);
        ANY.store(true, Ordering::Release);
    }

    /// Registers a layer where the layer it replaced was, if one lived at `layer`.
    pub(super) fn take_place(layer: usize, hooks: &Hooks, registered: &Mutex<Vec<usize>>) -> bool {
        if !ANY.load(Ordering::Acquire) {
            return false;
        }
        let places: Vec<Vacated> = {
            let mut vacated = VACATED.lock();
            let (taken, kept) = std::mem::take(&mut *vacated)
                .into_iter()
                .partition(|place| place.layer == layer);
            *vacated = kept;
            taken
        };
        for place in &places {
            add(place.locate, place.subscriber, layer, hooks, registered);
        }
        !places.is_empty()
    }

    pub(super) fn find(dispatch: &Dispatch) -> Option<Hooks> {
        if !ANY.load(Ordering::Acquire) {
            return None;
        }
        registered_for(dispatch)
    }

    /// Whether the layer of `dispatch` was swapped and its successor has not been called
    /// yet (no callsite existed when the reload happened, or the reload ran on a thread
    /// whose default is another dispatcher): then [`refresh`] will call it. True once per
    /// swap.
    pub(super) fn waiting(dispatch: &Dispatch) -> bool {
        if !ANY.load(Ordering::Acquire) {
            return false;
        }
        let mut vacated = VACATED.lock();
        vacated
            .iter_mut()
            .find(|place| !place.asked && (place.locate)(dispatch) == Some(place.subscriber))
            .map(|place| place.asked = true)
            .is_some()
    }

    /// Asks every dispatcher for its level hint (and registers every callsite again), and so
    /// calls every layer that waits for its place. Never inside `dispatcher::get_default`: with one dispatcher,
    /// `tracing` asks the thread's default, which a nested call sees as none.
    pub(super) fn refresh() {
        tracing::callsite::rebuild_interest_cache();
    }

    fn registered_for(dispatch: &Dispatch) -> Option<Hooks> {
        REGISTERED
            .read()
            .iter()
            .find(|entry| (entry.locate)(dispatch) == Some(entry.subscriber))
            .map(|entry| entry.hooks.clone())
    }

    /// Forgets what a dropped layer registered, leaving its place to the layer a reload
    /// moves there.
    pub(super) fn forget(layer: usize, hooks: &Hooks, registered: &Mutex<Vec<usize>>) {
        let subscribers = std::mem::take(&mut *registered.lock());
        if subscribers.is_empty() {
            return;
        }
        let mut all = REGISTERED.write();
        let mut vacated = VACATED.lock();
        all.retain(|entry| {
            let own = entry.layer == layer
                && subscribers.contains(&entry.subscriber)
                && std::sync::Arc::ptr_eq(&entry.hooks.shared, &hooks.shared);
            if own {
                vacated.push(Vacated {
                    locate: entry.locate,
                    subscriber: entry.subscriber,
                    layer,
                    asked: false,
                });
            }
            !own
        });
        let excess = vacated.len().saturating_sub(MAX_VACATED);
        vacated.drain(..excess);
        ANY.store(!all.is_empty() || !vacated.is_empty(), Ordering::Release);
    }
}

/// The root of `span`'s tree, walked up through the parents (no lookup when `span` is one).
fn root_of<'a, S>(span: SpanRef<'a, S>) -> SpanRef<'a, S>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let mut root = span;
    while let Some(parent) = root.parent() {
        root = parent;
    }
    root
}

/// The breadcrumbs kept in `root`, the root span of a span tree.
fn root_breadcrumbs<'a, S>(root: &SpanRef<'a, S>) -> Vec<RawBreadcrumb>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    root.extensions()
        .get::<Ring>()
        .map(Ring::snapshot)
        .unwrap_or_default()
}

/// The spans from `scope`'s leaf outwards, at most `max_depth` of them (the innermost), and
/// how many outer ones were left out.
/// With `breadcrumbs`, also the breadcrumbs of the tree's root, the last span walked.
fn collect_spans<'a, S>(
    scope: impl Iterator<Item = SpanRef<'a, S>>,
    max_depth: usize,
    breadcrumbs: bool,
) -> SpanTrace
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let mut spans = Vec::new();
    let mut kept = 0;
    let mut omitted = 0;
    let mut root = None;
    for span in scope {
        // Scope spans are kept whatever the depth: they are no place in the code (they are
        // left out of the trace later) but carry extras that must not be cut off.
        if span.metadata().target() != SCOPE_TARGET {
            if kept == max_depth {
                omitted += 1;
                if breadcrumbs {
                    root = Some(span);
                }
                continue;
            }
            kept += 1;
        }
        let extensions = span.extensions();
        let state = extensions.get::<SpanState>();
        spans.push(RawSpan {
            id: span.id().into_u64(),
            metadata: span.metadata(),
            fields: state
                .map(|s| s.fields.to_raw(span.metadata()))
                .unwrap_or_default(),
            scope: state.and_then(capture_scope),
        });
        drop(extensions);
        if breadcrumbs {
            root = Some(span);
        }
    }
    SpanTrace {
        spans,
        omitted,
        breadcrumbs: root.map(|root| root_breadcrumbs(&root)).unwrap_or_default(),
    }
}

fn span_trace<S>(dispatch: &Dispatch, id: &Id, max_depth: usize, breadcrumbs: bool) -> SpanTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = dispatch
        .downcast_ref::<S>()
        .and_then(|subscriber| subscriber.span(id));
    match span {
        Some(span) => collect_spans(span.scope(), max_depth, breadcrumbs),
        None => SpanTrace::default(),
    }
}

/// What a capture inside a span takes from its span tree.
#[derive(Default)]
struct SpanTrace {
    spans: Vec<RawSpan>,
    omitted: usize,
    breadcrumbs: Vec<RawBreadcrumb>,
}

fn update_scope<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut Scope))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    with_span_state::<S>(dispatch, id, |state| {
        // Captures already taken share the old scope; they keep what was true when they fired.
        f(Arc::make_mut(
            state
                .context_mut()
                .scope
                .get_or_insert_with(Default::default),
        ));
    });
}

fn set_capture_context<S>(dispatch: &Dispatch, id: &Id, context: Arc<dyn CaptureContext>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    with_span_state::<S>(dispatch, id, |state| {
        state.context_mut().capture_context = Some(context);
    });
}

/// Runs `f` on the state of span `id`, found through a dispatcher of subscriber type `S`.
fn with_span_state<S>(dispatch: &Dispatch, id: &Id, f: impl FnOnce(&mut SpanState))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = dispatch
        .downcast_ref::<S>()
        .and_then(|subscriber| subscriber.span(id))
    {
        state_of(&span, f);
    }
}

/// Runs `f` on the state of `span`, which is created when the span has none yet (a span
/// without field values gets none in `on_new_span`).
fn state_of<'a, R>(span: &SpanRef<'a, R>, f: impl FnOnce(&mut SpanState))
where
    R: LookupSpan<'a>,
{
    let mut extensions = span.extensions_mut();
    match extensions.get_mut::<SpanState>() {
        Some(state) => f(state),
        None => {
            let mut state = SpanState::default();
            f(&mut state);
            extensions.insert(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tracing_subscriber::prelude::*;

    use super::*;

    /// The only group that `emit` raises under an in-memory tracker made from `builder`.
    fn only_group(builder: crate::Builder, emit: impl FnOnce()) -> crate::ErrorGroup {
        let tracker = builder.in_memory().build().expect("tracker builds");
        let subscriber = tracing_subscriber::registry().with(tracker.layer());
        tracing::subscriber::with_default(subscriber, emit);
        assert!(tracker.flush(Duration::from_secs(10)));
        let page = tracker.errors(1).expect("listing");
        assert_eq!(page.items.len(), 1);
        tracker
            .error(&page.items[0].fingerprint)
            .expect("reading")
            .expect("the group exists")
    }

    #[test]
    fn span_state_is_copied_without_memcpy() {
        // Every span with field values builds one on the stack and moves it into the
        // extension's box; past 128 bytes that move becomes a `memcpy` call.
        assert!(std::mem::size_of::<SpanState>() <= 128);
    }

    #[test]
    fn spans_keep_fields_past_the_inline_ones_and_late_values_replace_earlier_ones() {
        let group = only_group(crate::ErrorTracker::builder().max_value_len(8), || {
            let span = tracing::info_span!(
                "wide",
                a = 1u64,
                b = "two",
                c = true,
                d = -4i64,
                e = 5.5f64,
                f = tracing::field::Empty,
                g = "longer than eight bytes",
                h = 8u64,
                i = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("b", "a second value, cut");
            span.record("e", 6.5f64);
            span.record("f", "late");
            span.record("a", 2u64);
            span.record("i", 9u64);
            span.record("i", 10u64);
            tracing::error!("boom");
        });
        let fields = &group.samples[0].spans[0].fields;
        // A cut value's last word is hidden: the cut may have split a secret.
        let cut = |s: &str| {
            json!(format!(
                "{s}{}{}",
                crate::DefaultMasking::DEFAULT_MASK,
                crate::record::TRUNCATION_MARKER
            ))
        };
        assert_eq!(fields.len(), 9, "{fields:?}");
        assert_eq!(fields["a"], 2, "an inline value replaced");
        assert_eq!(fields["b"], cut("a "), "a replaced value is bounded too");
        assert_eq!(fields["c"], true);
        assert_eq!(fields["d"], -4);
        assert_eq!(fields["e"], 6.5, "a value past the inline ones replaced");
        assert_eq!(
            fields["f"], "late",
            "a value recorded late, past the inline ones"
        );
        assert_eq!(fields["g"], cut("longer "));
        assert_eq!(fields["h"], 8);
        assert_eq!(
            fields["i"], 10,
            "replaced after the box's inline room ran out"
        );
    }

    #[test]
    fn long_span_values_are_kept_replaced_and_freed() {
        let long = "x".repeat(100);
        let longer = "y".repeat(200);
        let group = only_group(crate::ErrorTracker::builder(), || {
            // Values longer than 24 bytes own heap memory: dropped on replace and on close.
            for _ in 0..3 {
                let span = tracing::info_span!("long", v = long.as_str(), n = 1u64);
                let _entered = span.enter();
                span.record("v", longer.as_str());
                tracing::error!("boom");
            }
        });
        assert_eq!(group.summary.count, 3);
        let fields = &group.samples[0].spans[0].fields;
        assert_eq!(fields["v"], json!(longer));
        assert_eq!(fields["n"], 1);
    }

    #[test]
    fn a_value_of_another_callsites_field_is_kept_by_name_not_by_index() {
        use tracing::field::Value;
        let group = only_group(crate::ErrorTracker::builder(), || {
            let span = tracing::info_span!("own", a = 1u64);
            let other = tracing::info_span!("other", x = tracing::field::Empty);
            let metadata = other.metadata().expect("the span is enabled");
            let x = metadata.fields().field("x").expect("declared");
            // `x` has index 0 in its callsite, as `a` has in the span's: an index alone would
            // take it for `a`.
            let values = [(&x, Some(&"foreign" as &dyn Value))];
            let values = metadata.fields().value_set(&values);
            let id = span.id().expect("the span is enabled");
            tracing::dispatcher::get_default(|dispatch| {
                dispatch.record(&id, &tracing::span::Record::new(&values));
            });
            let _entered = span.enter();
            tracing::error!("boom");
        });
        let fields = &group.samples[0].spans[0].fields;
        assert_eq!(fields["a"], 1);
        assert_eq!(fields["x"], "foreign");
    }
}
