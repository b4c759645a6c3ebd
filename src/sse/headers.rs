//! The response headers of the SSE route, as one middleware applied to that
//! route only: the pages keep their own caching and compression.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;

/// `Cache-Control: no-cache` so nothing stores the stream,
/// `X-Accel-Buffering: no` so nginx passes each event on at once, and
/// `Connection: keep-alive` where it means something: HTTP/1.1 (HTTP/2
/// forbids the header).
pub async fn sse_headers(request: Request, next: Next) -> Response {
    let http11 = request.version() == Version::HTTP_11;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    if http11 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    response
}
