//! `GET /api/events` and `GET /api/public/events`: one client's
//! subscription to the hub, written as an SSE body. The first is for
//! whichever audience the request belongs to (an `Audience` in its
//! extensions), the second always for the public; each client is written
//! only the frames of its audience. A stream starts with a jittered `retry:` and either the events the
//! client missed (by `Last-Event-ID`) or one `snapshot`; then live events,
//! a heartbeat comment whenever it has been idle, and `Done` when the server
//! shuts down. Dropping the body (the client left) drops the subscription.
//!
//! A connection whose first request is this stream (and nothing more) is
//! served by `direct`, straight onto the socket; every other request, and a
//! stream request `direct` does not take (pipelined, an upgrade, a refusal
//! at the cap), goes through hyper and the `events` handler below.
//! `listener` sorts them. Both paths write the same bytes from the same
//! `client_stream`.

mod direct;
mod headers;
pub mod listener;
pub(crate) mod trim;

pub use headers::sse_headers;

use crate::hub::{Hub, Signal, Start, Subscription, frame};
use crate::shutdown::Shutdown;
use crate::status::Audience;
use axum::Extension;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// What the SSE handler needs from the application.
#[derive(Clone)]
pub struct Streams {
    pub hub: Arc<Hub>,
    pub shutdown: Shutdown,
    pub heartbeat: Duration,
    pub retry_ms: u64,
}

impl Streams {
    /// Counts a stream opened on `path` (`direct` or `hyper`).
    fn opened(&self, path: &'static str) {
        let label = crate::metrics::PathLabel { path };
        self.hub
            .metrics()
            .streams_opened
            .get_or_create(&label)
            .inc();
    }
}

/// Seconds a refused client should wait; its own backoff takes over after.
const RETRY_AFTER_SECS: &str = "5";

/// Ends every open stream with `Done` once the server begins to stop.
pub(crate) async fn end_at_shutdown(hub: Arc<Hub>, shutdown: Shutdown) {
    shutdown.triggered().await;
    hub.end_streams();
}

/// `GET /api/events`, for the audience of the request.
pub async fn events(
    State(streams): State<Streams>,
    Extension(audience): Extension<Audience>,
    request: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    stream_for(streams, audience, &request, query.as_deref()).await
}

/// `GET /api/public/events`: the public stream, whoever asks.
pub(crate) async fn public_events(
    State(streams): State<Streams>,
    request: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    stream_for(streams, Audience::Public, &request, query.as_deref()).await
}

async fn stream_for(
    streams: Streams,
    audience: Audience,
    request: &HeaderMap,
    query: Option<&str>,
) -> Response {
    if streams.shutdown.is_triggered() {
        return unavailable("shutting down");
    }
    let header = request.get("last-event-id").map(|value| value.as_bytes());
    let last_event_id = requested_event_id(header, query);
    streams.hub.until_caught_up(last_event_id).await;
    match streams.hub.subscribe_from(last_event_id, audience) {
        Ok(subscription) => {
            streams.opened("hyper");
            (
                [(header::CONTENT_TYPE, headers::EVENT_STREAM)],
                Body::from_stream(client_stream(subscription, streams)),
            )
                .into_response()
        }
        Err(full) => {
            streams.hub.metrics().streams_refused.inc();
            tracing::warn!(
                max_clients = full.max_clients,
                "stream refused: at capacity"
            );
            unavailable("too many open streams")
        }
    }
}

fn unavailable(reason: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
        reason,
    )
        .into_response()
}

/// The id a reconnecting client last saw: the `Last-Event-ID` header, or
/// the `lastEventId` query parameter for clients that cannot set headers.
fn requested_event_id(header: Option<&[u8]>, query: Option<&str>) -> Option<u64> {
    let from_query = || {
        form_urlencoded::parse(query?.as_bytes())
            .find(|(key, _)| key == "lastEventId")
            .map(|(_, value)| value)
    };
    match header {
        Some(value) => std::str::from_utf8(value).ok().and_then(parse_event_id),
        None => from_query().as_deref().and_then(parse_event_id),
    }
}

/// An id is only ever digits we issued; anything else (empty, signed, huge,
/// with control bytes) is treated as "no id" and earns a snapshot.
fn parse_event_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The most one piece of a stream's opening (its replay or snapshot) holds.
/// What a stream starts with can be thousands of events; written as one
/// piece, a client that never reads would hold all of it for as long as it
/// stays connected. Pieces the size of a large event fit the direct path's
/// batches (16 KiB, with room for one more event) without growing them,
/// and keep what hyper queues (at most 16 pieces) small.
const PIECE_BYTES: usize = 4 * 1024;

/// What the stream does next, decided inside `select!` and acted on outside
/// it (a `yield` inside another macro is not something to rely on).
enum Step {
    Write(Bytes),
    WriteAndEnd(Bytes),
    StartOver(Start),
    Idle,
    End,
}

/// What a stream still has to write before it goes live: the rest of a
/// replay (read from the hub's ring as it goes) or of a snapshot.
enum Opening {
    Replay {
        /// What goes first (a cluster replica's own notices, or the shared
        /// snapshot the replay continues), written in slices as a
        /// snapshot is; empty once written.
        first: Bytes,
        after: u64,
        until: u64,
    },
    Snapshot(Bytes),
    Written,
    /// The replay's next event left the ring before the client took it.
    Overtaken,
}

impl Opening {
    fn from(start: Start) -> Opening {
        match start {
            Start::Replay {
                after,
                until,
                first,
            } => Opening::Replay {
                first: first.unwrap_or_default(),
                after,
                until,
            },
            Start::Snapshot(snapshot) => Opening::Snapshot(snapshot),
        }
    }

    /// The next piece `audience` is written, at most about `PIECE_BYTES`
    /// (a single larger event goes whole); `None` when there is nothing
    /// (more) to write. Never empty: an empty chunk would end the body.
    fn next_piece(&mut self, hub: &Hub, audience: Audience) -> Option<Bytes> {
        match self {
            Opening::Replay { first, .. } if !first.is_empty() => Some(slice_of(first)),
            Opening::Replay { after, until, .. } if *after < *until => {
                match hub.replay_piece(*after, *until, PIECE_BYTES, audience) {
                    Some((frames, last)) => {
                        // Empty only when every event left was skipped.
                        *after = last;
                        (!frames.is_empty()).then(|| joined(frames))
                    }
                    None => {
                        *self = Opening::Overtaken;
                        None
                    }
                }
            }
            Opening::Snapshot(rest) => {
                let piece = slice_of(rest);
                if rest.is_empty() {
                    *self = Opening::Written;
                }
                Some(piece)
            }
            Opening::Replay { .. } | Opening::Written | Opening::Overtaken => None,
        }
    }
}

/// The next `PIECE_BYTES` of shared bytes: a slice of them, not a copy.
fn slice_of(rest: &mut Bytes) -> Bytes {
    rest.split_to(rest.len().min(PIECE_BYTES))
}

fn joined(frames: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(frames) {
        Ok([one]) => one,
        Err(frames) => {
            let mut out = BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
            for frame in &frames {
                out.extend_from_slice(frame);
            }
            out.freeze()
        }
    }
}

fn client_stream(
    subscription: Subscription,
    streams: Streams,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let Subscription {
        start,
        audience,
        mut live,
        client: _client,
    } = subscription;
    async_stream::stream! {
        // `_client` lives as long as this stream: it is the connected count.
        let _client = _client;
        let hub = streams.hub.clone();
        let mut opening = Opening::from(start);
        // The jittered `retry:` (so a restart does not bring every browser
        // back in the same millisecond) and the first piece, in one write.
        let retry = frame::retry(streams.retry_ms + fastrand::u64(0..=streams.retry_ms));
        let first = opening.next_piece(&hub, audience).unwrap_or_default();
        yield Ok(joined(vec![retry, first]));

        let delivered = hub.metrics().events_delivered.clone();
        let period = streams.heartbeat;
        let mut last_write = Instant::now();
        let heartbeat = tokio::time::sleep(period);
        tokio::pin!(heartbeat);
        // The hub tells every receiver when the server stops
        // (`Hub::end_streams`), but not one made after it did: this one's,
        // or a resynchronised one's below, is checked once when made.
        let mut stopping = streams.shutdown.is_triggered();
        loop {
            if stopping {
                yield Ok(frame::done());
                break;
            }
            if let Some(piece) = opening.next_piece(&hub, audience) {
                if streams.shutdown.is_triggered() {
                    yield Ok(frame::done());
                    break;
                }
                last_write = Instant::now();
                yield Ok(piece);
                continue;
            }
            if let Opening::Overtaken = opening {
                let (start, receiver) = hub.resync(audience);
                live = receiver;
                stopping = streams.shutdown.is_triggered();
                opening = Opening::from(start);
                continue;
            }
            let step = tokio::select! {
                biased;
                received = live.recv() => match received {
                    Ok(delivery) => match delivery.signal {
                        Signal::Done => Step::WriteAndEnd(frame::done()),
                        Signal::AskAgain => match audience {
                            Audience::Private => Step::End,
                            Audience::Public => Step::Idle,
                        },
                        // An event this audience does not get is skipped;
                        // the heartbeat keeps counting from the last write.
                        Signal::Event => match delivery.frame_for(audience) {
                            Some(frame) => {
                                delivered.inc();
                                Step::Write(frame.clone())
                            }
                            None => Step::Idle,
                        },
                    },
                    Err(RecvError::Lagged(_)) => {
                        // Too far behind to catch up event by event: start
                        // over from the present rather than skip silently.
                        let (start, receiver) = hub.resync(audience);
                        live = receiver;
                        stopping = streams.shutdown.is_triggered();
                        Step::StartOver(start)
                    }
                    Err(RecvError::Closed) => Step::End,
                },
                _ = &mut heartbeat => {
                    // The timer is re-armed lazily from the last write rather
                    // than reset on every event: one clock read per event.
                    let due = last_write + period;
                    if Instant::now() >= due {
                        heartbeat.as_mut().reset(Instant::now() + period);
                        Step::Write(frame::heartbeat())
                    } else {
                        heartbeat.as_mut().reset(due);
                        Step::Idle
                    }
                }
            };
            match step {
                Step::Write(bytes) => {
                    last_write = Instant::now();
                    yield Ok(bytes);
                }
                Step::StartOver(start) => opening = Opening::from(start),
                Step::WriteAndEnd(bytes) => {
                    yield Ok(bytes);
                    break;
                }
                Step::Idle => {}
                Step::End => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_event_id;

    #[test]
    fn only_plain_decimal_ids_parse() {
        assert_eq!(parse_event_id("42"), Some(42));
        for bad in [
            "",
            "-1",
            "+1",
            "4 2",
            "abc",
            "1\0",
            "1\n",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_event_id(bad), None, "{bad:?}");
        }
    }
}
