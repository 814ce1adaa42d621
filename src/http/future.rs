//! The response future: polls the handler inside the request span, catches its panic, and
//! reports the answered status.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::request::RequestState;

pin_project! {
    /// The future of [`super::HttpService`]: the inner service's response, unchanged.
    ///
    /// Dropping it before it completes (a cancelled request) records nothing.
    pub struct ResponseFuture<F> {
        #[pin]
        pub(super) inner: F,
        pub(super) request: Option<RequestState>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tracked", &self.request.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(request) = this.request.as_ref() else {
            return this.inner.poll(cx);
        };
        let _entered = request.enter();
        let mut inner = this.inner;
        let output = match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(output) => output,
            Err(payload) => {
                request.panicked(&*payload);
                // Unwind on: the caller's own handling (tower-http's `CatchPanic` answering
                // 500, or the runtime ending the task) stays as it was without us.
                resume_unwind(payload)
            }
        };
        if let Poll::Ready(Ok(response)) = &output {
            request.answered(response.status());
        }
        output
    }
}
