//! The response headers of the SSE route, in one place for both paths: the
//! middleware below for responses that hyper writes, and `direct` for the
//! streams written straight to the socket. The pages keep their own caching
//! and compression.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;

/// The stream's own type, set on the 200 only.
pub(super) const EVENT_STREAM: &str = "text/event-stream";

/// `Cache-Control: no-cache` so nothing stores the stream, and
/// `X-Accel-Buffering: no` so nginx passes each event on at once.
pub(super) const ON_EVERY_ANSWER: [(&str, &str); 2] =
    [("cache-control", "no-cache"), ("x-accel-buffering", "no")];

/// Where it means something: a stream (a refusal closes, like every answer
/// but a stream, so a retry gets a fresh connection and the direct path)
/// over HTTP/1.1 (HTTP/2 forbids the header, and an HTTP/1.0 answer ends
/// with the connection).
pub(super) const ON_HTTP11: (&str, &str) = ("connection", "keep-alive");

pub async fn sse_headers(request: Request, next: Next) -> Response {
    let http11 = request.version() == Version::HTTP_11;
    let mut response = next.run(request).await;
    let keep_alive = http11 && response.status().is_success();
    let headers = response.headers_mut();
    let always = ON_EVERY_ANSWER.iter();
    for (name, value) in always.chain(keep_alive.then_some(&ON_HTTP11)) {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
