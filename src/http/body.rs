//! The opt-in request body capture: a body wrapper that copies what the handler reads, up to a
//! bound, and attaches it (JSON or form data only) to the request once it is read.
//!
//! The body is never read by the middleware itself: the handler reads it as usual and the
//! wrapper keeps a bounded copy on the way. Only bodies the tracker can mask by key are kept:
//! JSON (masked by object keys) and URL-encoded forms (masked by field names). A JSON body over
//! the bound cannot be parsed, so only its size is noted: a cut JSON text could not be masked.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde_json::{Map, Value};
use tracing::Span;

use super::context::{self, OMITTED_KEY};
use crate::layer::Hooks;

/// The key of the body in the request's extras.
pub(crate) const BODY_EXTRA: &str = "http.body";

/// The kinds of body the tracker can mask, and so may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
}

impl Kind {
    fn of(headers: &HeaderMap) -> Option<Kind> {
        let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let essence = value.split(';').next()?.trim().to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Some(Kind::Json)
        } else if essence == "application/x-www-form-urlencoded" {
            Some(Kind::Form)
        } else {
            None
        }
    }
}

/// The bounded copy of one request's body.
#[derive(Debug)]
pub(crate) struct BodyCopy {
    kind: Kind,
    limit: usize,
    bytes: Vec<u8>,
    /// How many bytes went past the limit.
    over: usize,
    span: Span,
}

impl BodyCopy {
    /// A copy for a request with these headers, attached to `span` once read; `None` when the
    /// body is of a kind that is not kept.
    pub(crate) fn new(headers: &HeaderMap, limit: usize, span: Span) -> Option<BodyCopy> {
        let kind = Kind::of(headers)?;
        Some(BodyCopy {
            kind,
            limit,
            bytes: Vec::new(),
            over: 0,
            span,
        })
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.limit.saturating_sub(self.bytes.len());
        let taken = room.min(data.len());
        self.bytes.extend_from_slice(&data[..taken]);
        self.over += data.len() - taken;
    }

    /// The body as the value kept for it.
    fn value(&self) -> Value {
        match self.kind {
            Kind::Json if self.over > 0 => note(format!(
                "JSON body of more than {} bytes left out",
                self.limit
            )),
            Kind::Json => serde_json::from_slice(&self.bytes).unwrap_or_else(|_| {
                // Text that is not JSON cannot be masked by key: it is not kept.
                note(format!(
                    "body of {} bytes is not valid JSON; left out",
                    self.bytes.len()
                ))
            }),
            Kind::Form => {
                let mut kept: &[u8] = &self.bytes;
                if self.over > 0 {
                    // The last pair may be cut in the middle of its name or value.
                    let end = kept.iter().rposition(|b| *b == b'&').unwrap_or(0);
                    kept = &kept[..end];
                }
                let mut value = context::form(kept);
                if self.over > 0
                    && let Value::Object(map) = &mut value
                {
                    map.insert(
                        "…truncated".to_owned(),
                        Value::String(format!("form body of more than {} bytes", self.limit)),
                    );
                }
                value
            }
        }
    }

    /// Attaches the body to the request's scope.
    fn attach(&self) {
        let value = self.value();
        self.span.with_subscriber(|(id, dispatch)| {
            if let Some(hooks) = Hooks::of(dispatch) {
                let mut value = Some(value);
                hooks.update_scope(dispatch, id, &mut |scope| {
                    if let Some(value) = value.take() {
                        scope.extras.insert(BODY_EXTRA.to_owned(), value);
                    }
                });
            }
        });
    }
}

fn note(text: String) -> Value {
    let mut map = Map::new();
    map.insert(OMITTED_KEY.to_owned(), Value::String(text));
    Value::Object(map)
}

pin_project! {
    /// A request body as the inner service sees it with
    /// [`HttpLayer::capture_body`](super::HttpLayer::capture_body): the same frames, with a
    /// bounded copy kept for the tracker.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        copy: Option<Box<BodyCopy>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, copy: Option<BodyCopy>) -> Self {
        RequestBody {
            inner,
            copy: copy.map(Box::new),
        }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("copied", &self.copy.as_ref().map(|c| c.bytes.len()))
            .finish_non_exhaustive()
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        if let Some(copy) = this.copy.as_deref_mut() {
            let done = match &frame {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        copy.push(data);
                    }
                    false
                }
                Poll::Ready(None) => true,
                // A failed body is left as it is: the handler reports it.
                Poll::Ready(Some(Err(_))) | Poll::Pending => false,
            };
            // Readers that trust the size hint stop before the final `None`.
            if done || this.inner.is_end_stream() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| copy.attach()));
                *this.copy = None;
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
