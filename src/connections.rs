//! Serves, through hyper, every connection the sorter (`sse::listener`)
//! does not serve itself: pages, the API, and streams it passed on.
//!
//! Why not `axum::serve`: it gives hyper no timer, so hyper holds a request
//! head for as long as its client takes to send it. The sorter bounds the
//! first head of a connection, but a connection kept open (a stream that
//! ended, then another request on it) would otherwise send its next head
//! with no deadline and no size limit. Here every head of a connection is
//! held to the same limits as the first, and each request carries the
//! deadline its body must meet (`limits::bodies`).

use crate::access::Peer;
use crate::limits::{Deadline, Limits, MAX_FIELDS, MAX_HEAD};
use crate::shutdown::Shutdown;
use crate::sse::listener::ForHyper;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Serves each connection `incoming` hands on with `router`, until
/// `shutdown`; then lets the connections open finish (their streams end
/// on the same signal) and returns.
pub async fn serve(mut incoming: ForHyper, router: Router, limits: Limits, shutdown: Shutdown) {
    let graceful = GracefulShutdown::new();
    let http = http1(&limits);
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.triggered() => break,
            next = incoming.next() => next,
        };
        let Some((io, peer)) = next else { break };
        let service = requests_of(io.accepted(), peer, router.clone(), limits.request_head);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            // A client that left or sent garbage is not news.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
}

fn http1(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.request_head)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_FIELDS);
    http
}

/// One connection's requests, each given the peer address (for the access
/// rule) and its deadline: the first request's counts from when the
/// connection was accepted, as the sorter's deadline for its head did; a
/// later one's from when its head was read (hyper held that head to the
/// same limit).
fn requests_of(
    accepted: Instant,
    peer: SocketAddr,
    router: Router,
    whole_request: Duration,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    let first = Arc::new(AtomicBool::new(true));
    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let from = match first.swap(false, Ordering::Relaxed) {
            true => accepted,
            false => Instant::now(),
        };
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(Peer(peer)));
        request
            .extensions_mut()
            .insert(Deadline(from + whole_request));
        tower::ServiceExt::oneshot(router.clone(), request)
    })
}
