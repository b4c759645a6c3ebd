//! What a request may send after its head: each route's body limit, one
//! deadline for the whole request, and a budget for the body bytes held at
//! once across every connection. Applied by one layer in front of every
//! handler hyper serves (`server::router`), so no route can forget it.
//!
//! Why: a body is read into memory before a handler sees it. Without these
//! bounds 200 connections from one address, each declaring 2 MB on a route
//! that needs none and sending it slowly, held 403 MB for as long as they
//! liked.

use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A plain form: a sign-in, a test message, a server function's arguments.
pub(crate) const FORM: usize = 8 * 1024;
/// The incident API's JSON, and the incident forms: a title, a message of
/// up to 2,000 characters and the checks it concerns, with room to spare.
pub(crate) const INCIDENT: usize = 64 * 1024;
/// Body bytes held at once, by every connection together: what a crowd of
/// slow bodies can pin, whatever the per-address caps let through.
pub(crate) const IN_FLIGHT: usize = 16 * 1024 * 1024;

/// The public page's server function takes no arguments; anyone may call it.
const PUBLIC_SERVER_FUNCTION: &str = "/api/public/status_data";

/// The most body `method` on `path` may carry.
pub(crate) fn limit_for(method: &Method, path: &str) -> usize {
    let reads_only = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if reads_only || path == PUBLIC_SERVER_FUNCTION {
        return 0;
    }
    if path == crate::access::INCIDENTS || path.starts_with("/api/incidents/") {
        return INCIDENT;
    }
    FORM
}

/// When a request must have arrived whole, head and body: set per request
/// by the connection that read it (`connections`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(pub Instant);

/// The body bytes held now, as permits of one semaphore.
pub(crate) struct Bodies {
    in_flight: Semaphore,
    metrics: Arc<Metrics>,
}

impl Bodies {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Bodies> {
        Arc::new(Bodies {
            in_flight: Semaphore::new(IN_FLIGHT),
            metrics,
        })
    }

    fn refuse(&self, reason: &'static str) {
        self.metrics.refused(reason);
    }
}

/// Why a body was not taken, and the answer its client gets.
enum BodyError {
    /// Larger than its route takes (413), declared or sent.
    TooLarge,
    /// Not all there by the request's deadline (408).
    TooSlow,
    /// Every connection together holds the budget (503).
    Busy,
    /// The body broke off or could not be read (400).
    Broken,
}

impl BodyError {
    fn reason(&self) -> &'static str {
        match self {
            BodyError::TooLarge => "body_too_large",
            BodyError::TooSlow => "slow_body",
            BodyError::Busy => "bodies_in_flight",
            BodyError::Broken => "broken_body",
        }
    }

    fn answer(&self) -> Response {
        let close = [(header::CONNECTION, HeaderValue::from_static("close"))];
        match self {
            BodyError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                close,
                "the body is larger than this route takes\n",
            )
                .into_response(),
            BodyError::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                close,
                "the request did not arrive in time\n",
            )
                .into_response(),
            BodyError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONNECTION, HeaderValue::from_static("close")),
                    (header::RETRY_AFTER, HeaderValue::from_static("5")),
                ],
                "too many requests are sending bodies; try again in a few seconds\n",
            )
                .into_response(),
            BodyError::Broken => {
                (StatusCode::BAD_REQUEST, close, "the body broke off\n").into_response()
            }
        }
    }
}

/// The layer: reads the body whole, within its route's limit, the
/// request's deadline and the shared budget, before the handler runs; the
/// handler then gets it from memory. A request with no body passes as it is.
pub(crate) async fn bounded(
    State(bodies): State<Arc<Bodies>>,
    request: Request,
    next: Next,
) -> Response {
    if !has_body(request.headers()) {
        return next.run(request).await;
    }
    let limit = limit_for(request.method(), request.uri().path());
    match read_whole(&bodies, request, limit).await {
        Ok((request, _held)) => next.run(request).await,
        Err(refused) => {
            bodies.refuse(refused.reason());
            refused.answer()
        }
    }
}

/// The request with its body read, and the share of the budget it holds
/// until the handler is done with it.
async fn read_whole(
    bodies: &Bodies,
    request: Request,
    limit: usize,
) -> Result<(Request, tokio::sync::SemaphorePermit<'_>), BodyError> {
    let declared = declared_length(request.headers());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // A chunked body may be as large as its limit: that much is set aside.
    let reserved = declared.map_or(limit, |length| length as usize).max(1);
    let held = bodies
        .in_flight
        .try_acquire_many(u32::try_from(reserved).unwrap_or(u32::MAX))
        .map_err(|_| BodyError::Busy)?;
    let deadline = request.extensions().get::<Deadline>().copied();
    let (parts, body) = request.into_parts();
    let reading = axum::body::to_bytes(body, limit);
    let read = match deadline {
        Some(Deadline(at)) => tokio::time::timeout_at(at, reading)
            .await
            .map_err(|_| BodyError::TooSlow)?,
        None => reading.await,
    };
    let bytes = read.map_err(|error| match is_over_limit(&error) {
        true => BodyError::TooLarge,
        false => BodyError::Broken,
    })?;
    Ok((Request::from_parts(parts, Body::from(bytes)), held))
}

/// Whether reading failed because the body passed its limit.
fn is_over_limit(error: &axum::Error) -> bool {
    use std::error::Error;
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A request has a body when it declares a length above zero or chunks
/// (hyper has already refused a head with both, or a bad length).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || declared_length(headers).is_some_and(|n| n > 0)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_takes_the_body_it_needs() {
        assert_eq!(limit_for(&Method::GET, "/"), 0);
        assert_eq!(limit_for(&Method::GET, "/api/incidents"), 0);
        assert_eq!(limit_for(&Method::POST, "/api/public/status_data"), 0);
        assert_eq!(limit_for(&Method::POST, "/login"), FORM);
        assert_eq!(limit_for(&Method::POST, "/api/notifiers/test"), FORM);
        assert_eq!(limit_for(&Method::POST, "/api/incidents"), INCIDENT);
        assert_eq!(
            limit_for(&Method::POST, "/api/incidents/3/updates"),
            INCIDENT
        );
    }
}
