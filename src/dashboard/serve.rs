//! Serving a dashboard router alone: an HTTP/1 server that records each client's address and
//! answers an over-long request with `414 URI Too Long` rather than a bare refusal.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;

/// Largest request head read. hyper answers `431` once a head outgrows its buffer (about
/// 400 KiB by default) and `414` to a request target over 64 KiB; with room for 2 MiB, an
/// address of up to that size gets the `414` that says what is wrong.
pub const MAX_REQUEST_HEAD_BYTES: usize = 2 << 20;

/// How long a client may take to send its request head: a slow client cannot hold a
/// connection open for ever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections may take to finish once `shutdown` completes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` (a [`super::Dashboard::router`], alone or nested in an application's
/// router) on `listener` until `shutdown` completes, then lets open requests finish for up to
/// 10 s.
///
/// ```no_run
/// # async fn run(router: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// // Until the process ends; pass a future that completes to stop it.
/// error_tracker::dashboard::serve(listener, router, std::future::pending()).await;
/// # Ok(())
/// # }
/// ```
///
/// Each request carries its client's address as `ConnectInfo<SocketAddr>`, which
/// [`super::LoopbackOnly`] needs; a request head over [`MAX_REQUEST_HEAD_BYTES`] is refused,
/// and an over-long address is answered `414 URI Too Long`. Failures to accept a connection
/// (too many open files, a connection reset before it was accepted) are waited out, not
/// returned.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Running out of file descriptors clears up as connections close.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            router.call(request.map(Body::new))
        });
        let connection = http1::Builder::new()
            .max_buf_size(MAX_REQUEST_HEAD_BYTES)
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is not the server's failure.
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}
