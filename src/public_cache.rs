//! The answers every visitor of the public page gets alike, made once and
//! handed to the crowd: the rendered `/status` page and its server
//! function's data, each rendered at most once per `FRESH_FOR` however many
//! ask, and compressed once per encoding.
//!
//! Why: an outage brings a crowd of anonymous visitors to `/status`. Each
//! rendered anew (a thousand cards, their uptimes and sparklines) they
//! burned both cores (71 s of CPU in 40 s for 200 clients in a loop), and
//! the signed-in users' own pages waited behind them.
//!
//! A page a second old is as good as a new one: it carries the id of the
//! snapshot it was rendered from, and its stream replays every event after
//! that id. The page is the same for every viewer (it reads nothing of who
//! asks, nor the query), so one rendering serves all of them.

use crate::access::Viewer;
use crate::metrics::{Metrics, PathLabel};
use crate::status::Audience;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one rendering is served. The stream covers what happened since.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// The paths answered from here: the public page and the data it fetches
/// on a client-side navigation. Anyone may ask for both.
const SHARED_PATHS: [&str; 2] = ["/status", "/api/public/status_data"];
/// A page larger than this is not kept (a renderer gone wrong must not pin
/// memory): it is served to its asker as it is.
const LARGEST_KEPT: usize = 64 * 1024 * 1024;
/// Brotli's quality for a page made once a second: 5 compresses a 2 MB
/// page in tens of milliseconds, within a few percent of the best.
const BROTLI_QUALITY: u32 = 5;

/// An answer that is not shared (an error, a page too large to keep),
/// given to its asker as it is.
type Unshared = Box<Response>;

fn failed() -> Unshared {
    Box::new(StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One rendering, in every encoding a browser may take.
struct Rendered {
    at: Instant,
    status: StatusCode,
    headers: HeaderMap,
    identity: Bytes,
    gzip: Bytes,
    brotli: Bytes,
}

/// What is kept of one path.
#[derive(Clone, Default)]
struct PathCache {
    latest: Arc<Mutex<Option<Arc<Rendered>>>>,
    /// Held while one rendering runs: the others take `latest` if there
    /// is one, or wait for this rendering (single flight).
    rendering: Arc<tokio::sync::Mutex<()>>,
}

pub(crate) struct PublicCache {
    paths: HashMap<&'static str, PathCache>,
    metrics: Arc<Metrics>,
}

impl PublicCache {
    pub fn new(metrics: Arc<Metrics>) -> Arc<PublicCache> {
        let paths = SHARED_PATHS.map(|path| (path, PathCache::default()));
        Arc::new(PublicCache {
            paths: paths.into_iter().collect(),
            metrics,
        })
    }
}

/// The layer, in front of the pages (outside their compression).
pub(crate) async fn shared(
    State(cache): State<Arc<PublicCache>>,
    request: Request,
    next: Next,
) -> Response {
    let reads = matches!(*request.method(), Method::GET | Method::HEAD | Method::POST);
    let Some((&path, kept)) = cache
        .paths
        .get_key_value(request.uri().path())
        .filter(|_| reads)
    else {
        return next.run(request).await;
    };
    let label = PathLabel { path };
    let accepted = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let encoding = crate::site::choose_encoding(accepted, &["br", "gzip"]);
    let rendering = rendering_for(kept, request, next, || {
        cache.metrics.public_renders.get_or_create(&label).inc();
    });
    match rendering.await {
        Ok(rendered) => {
            cache.metrics.public_answers.get_or_create(&label).inc();
            rendered.answer(encoding)
        }
        Err(uncached) => *uncached,
    }
}

/// A fresh rendering: the latest if it is young enough, else the one this
/// request makes or waits for; a stale one while another request renders.
/// `Err` carries an answer that is not kept (an error, a huge page).
async fn rendering_for(
    kept: &PathCache,
    request: Request,
    next: Next,
    counted: impl FnOnce(),
) -> Result<Arc<Rendered>, Unshared> {
    if let Some(fresh) = kept.fresh() {
        return Ok(fresh);
    }
    let turn = match kept.rendering.clone().try_lock_owned() {
        Ok(turn) => turn,
        Err(_) => match kept.latest() {
            Some(stale) => return Ok(stale),
            None => kept.rendering.clone().lock_owned().await,
        },
    };
    // Someone else may have rendered while this request waited for its turn.
    if let Some(fresh) = kept.fresh() {
        return Ok(fresh);
    }
    counted();
    // On a task of its own, which keeps the turn and the result: an asker
    // that leaves mid-way (a crowd's clients do) must not throw away the
    // rendering the others wait for.
    let kept = kept.clone();
    let rendering = tokio::spawn(async move {
        let rendered = Arc::new(render(request, next).await?);
        *kept.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(rendered.clone());
        drop(turn);
        Ok(rendered)
    });
    rendering.await.unwrap_or_else(|_| Err(failed()))
}

impl PathCache {
    fn latest(&self) -> Option<Arc<Rendered>> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<Arc<Rendered>> {
        self.latest().filter(|r| r.at.elapsed() < FRESH_FOR)
    }
}

/// Renders the path for nobody in particular: an anonymous viewer of the
/// public audience, no query, no cookie, no encoding (it is compressed
/// here, once per encoding).
async fn render(request: Request, next: Next) -> Result<Rendered, Unshared> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(Viewer::Anonymous);
    parts.extensions.insert(Audience::Public);
    // A HEAD is answered from a full rendering, as a GET would be.
    if parts.method == Method::HEAD {
        parts.method = Method::GET;
    }
    let path = parts.uri.path().to_owned();
    parts.uri = path.parse().unwrap_or_default();
    for personal in [
        header::ACCEPT_ENCODING,
        header::COOKIE,
        header::AUTHORIZATION,
    ] {
        parts.headers.remove(personal);
    }
    let at = Instant::now();
    let response = next.run(Request::from_parts(parts, body)).await;
    if response.status() != StatusCode::OK {
        return Err(Box::new(response));
    }
    let (parts, body) = response.into_parts();
    let identity = match axum::body::to_bytes(body, LARGEST_KEPT).await {
        Ok(bytes) => bytes,
        Err(_) => return Err(failed()),
    };
    let mut headers = parts.headers;
    for hop in [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_ENCODING,
        header::SET_COOKIE,
    ] {
        headers.remove(hop);
    }
    let (gzip, brotli) = tokio::task::spawn_blocking({
        let identity = identity.clone();
        move || (gzipped(&identity), brotli_compressed(&identity))
    })
    .await
    .map_err(|_| failed())?;
    Ok(Rendered {
        at,
        status: parts.status,
        headers,
        identity,
        gzip,
        brotli,
    })
}

fn gzipped(data: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(data);
    encoder.finish().map(Bytes::from).unwrap_or_default()
}

fn brotli_compressed(data: &[u8]) -> Bytes {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, 22);
        let _ = writer.write_all(data);
    }
    Bytes::from(out)
}

impl Rendered {
    /// The body in `coding` (`br`, `gzip`, or none), with the headers
    /// rendered.
    fn answer(&self, coding: Option<&'static str>) -> Response {
        let body = match coding {
            Some("br") => &self.brotli,
            Some(_) => &self.gzip,
            None => &self.identity,
        };
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(coding) = coding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings_give_back_the_page() {
        let page = "<p>a card</p>".repeat(1000);
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&gzipped(page.as_bytes())[..]),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, page);
        let mut unbrotlied = Vec::new();
        brotli::BrotliDecompress(
            &mut &brotli_compressed(page.as_bytes())[..],
            &mut unbrotlied,
        )
        .unwrap();
        assert_eq!(unbrotlied, page.as_bytes());
    }
}
