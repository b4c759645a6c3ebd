//! The server's accept loop. It reads the first request of each connection
//! just far enough to sort it: a plain `GET /api/events` or
//! `GET /api/public/events` is served by `direct`, straight onto the socket; everything else (pages, the API,
//! anything odd) is handed to hyper with the bytes already read put back in
//! front, so hyper sees the connection as if nobody had touched it.
//!
//! Streams are sorted out because they are nearly all of the connections and
//! live for hours; hyper's per-connection buffers are most of what one would
//! cost (docs/benchmarks.md).

use super::{Streams, direct};
use crate::access::{Access, Asking, Verdict};
use crate::hub::Subscription;
use crate::limits::{Admission, Admitted, Limits, MAX_FIELDS, MAX_HEAD, Refusal, StallGuard};
use crate::status::Audience;
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// The requests served directly, by path, with the most each stream may
/// show; a target is one of these paths, alone or with a query. Who is
/// asking narrows it (`Access::decide`): `/api/events` is public to an
/// anonymous viewer.
const STREAM_PATHS: [(&str, Audience); 2] = [
    ("/api/events", Audience::Private),
    ("/api/public/events", Audience::Public),
];
/// A first read this size holds a browser's usual request head.
const FIRST_READ: usize = 2048;
/// Connections sorted but not yet taken by hyper's accept loop.
const HANDOFF_QUEUE: usize = 1024;
/// After an accept error that is not one connection's (out of file
/// descriptors, mostly), how long to wait before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Starts accepting on `listener`, within `limits`, serving streams
/// directly to whom `access` lets have them. Returns what hyper
/// (`connections::serve`) takes connections from, and the tracker of every directly
/// served stream, to wait on at shutdown.
pub fn sort(
    listener: TcpListener,
    streams: Streams,
    limits: Limits,
    access: Arc<Access>,
) -> io::Result<(ForHyper, TaskTracker)> {
    let (to_hyper, incoming) = mpsc::channel(HANDOFF_QUEUE);
    let direct = TaskTracker::new();
    let door = Arc::new(Door {
        admission: Admission::new(&limits, streams.hub.metrics().clone()),
        limits,
        access,
    });
    tokio::spawn(accept_all(
        listener,
        streams,
        door,
        to_hyper,
        direct.clone(),
    ));
    Ok((ForHyper { incoming }, direct))
}

/// What every new connection passes: the caps, then the deadlines; and
/// for a stream, the access rule.
struct Door {
    admission: Arc<Admission>,
    limits: Limits,
    access: Arc<Access>,
}

/// The connections left to hyper (`connections::serve`).
pub struct ForHyper {
    incoming: mpsc::Receiver<(HyperConnection, SocketAddr)>,
}

impl ForHyper {
    /// The next connection for hyper; `None` once the accept loop has
    /// stopped (shutdown) and every sorted connection was taken.
    pub(crate) async fn next(&mut self) -> Option<(HyperConnection, SocketAddr)> {
        self.incoming.recv().await
    }
}

type ToHyper = mpsc::Sender<(HyperConnection, SocketAddr)>;

async fn accept_all(
    listener: TcpListener,
    streams: Streams,
    door: Arc<Door>,
    to_hyper: ToHyper,
    direct: TaskTracker,
) {
    let stop = streams.shutdown.triggered();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => match door
                .admission
                .admit(peer.ip(), door.access.is_trusted_proxy(peer.ip()))
            {
                Ok(admitted) => {
                    let connection = Connection {
                        socket,
                        peer,
                        admitted,
                        accepted: Instant::now(),
                    };
                    let sorting = sort_one(connection, door.clone(), streams.clone());
                    direct.spawn(hand_on(sorting, to_hyper.clone(), direct.clone()));
                }
                Err(refusal) => turn_away(&socket, refusal),
            },
            Err(error) => pause_after(error).await,
        }
    }
}

/// An error of one connection (its client gave up before it was accepted)
/// is that client's; anything else would fail again at once, so wait a
/// moment rather than spin.
async fn pause_after(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "accept failed; trying again shortly");
    tokio::time::sleep(ACCEPT_RETRY).await;
}

/// A refused connection gets a short answer if its socket takes it at once,
/// and is closed either way: nothing is spent waiting on it.
/// Counted by `Admission`, whatever the reason.
fn turn_away(socket: &TcpStream, _: Refusal) {
    let _ = socket.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    );
}

/// An admitted connection, not yet sorted.
struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    accepted: Instant,
}

/// Why a connection was closed before its first request was complete.
enum EarlyClose {
    /// The client left or the socket failed: not news, not counted.
    Gone,
    /// Nothing arrived within the first-byte limit.
    NoRequest,
    /// The head was not complete within the request limit (408).
    SlowHead,
    /// The head grew past `MAX_HEAD`, or has more fields than hyper
    /// takes (431).
    HeadTooLarge,
    /// Not an HTTP/1 request head (400). hyper parses with the same parser
    /// and would refuse it too; answering here means hyper only ever gets
    /// heads it can act on at once.
    Malformed,
}

impl EarlyClose {
    fn reason(&self) -> Option<&'static str> {
        match self {
            EarlyClose::Gone => None,
            EarlyClose::NoRequest => Some("no_request"),
            EarlyClose::SlowHead => Some("slow_head"),
            EarlyClose::HeadTooLarge => Some("head_too_large"),
            EarlyClose::Malformed => Some("malformed"),
        }
    }

    /// The answer, if any, a client that did send something gets.
    fn answer(&self) -> Option<&'static [u8]> {
        match self {
            EarlyClose::SlowHead => Some(b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
            EarlyClose::HeadTooLarge => Some(b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
            EarlyClose::Malformed => Some(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"),
            EarlyClose::Gone | EarlyClose::NoRequest => None,
        }
    }
}

/// Where a sorted connection goes on to.
enum Destination {
    Hyper(HyperConnection, SocketAddr),
    Stream(DirectStream),
}

/// A stream to serve straight onto its socket, with its place under the caps.
struct DirectStream {
    socket: StallGuard<TcpStream>,
    request: direct::Request,
    subscription: Subscription,
    streams: Streams,
    admitted: Admitted,
}

/// Sends the connection where `sort_one` sorted it. A stream gets a task of
/// its own rather than running in this one: this task's state is sized for
/// sorting as well (the deadlines, the head), and a stream lives for hours,
/// so it would carry that for nothing (2.4 KiB per idle stream).
async fn hand_on(
    sorting: impl Future<Output = Option<Destination>>,
    to_hyper: ToHyper,
    tracker: TaskTracker,
) {
    match sorting.await {
        // Fails only once hyper has stopped accepting: shutdown.
        Some(Destination::Hyper(handed, peer)) => drop(to_hyper.send((handed, peer)).await),
        Some(Destination::Stream(stream)) => drop(tracker.spawn(serve_directly(stream))),
        None => {}
    }
}

async fn serve_directly(stream: DirectStream) {
    let DirectStream {
        socket,
        request,
        subscription,
        streams,
        admitted,
    } = stream;
    direct::serve(socket, request, subscription, streams).await;
    drop(admitted);
}

/// Reads the first request head whole (within the deadlines) and says
/// where the connection goes: a stream served directly, or hyper.
async fn sort_one(
    mut connection: Connection,
    door: Arc<Door>,
    streams: Streams,
) -> Option<Destination> {
    let first = tokio::select! {
        biased;
        _ = streams.shutdown.triggered() => return None,
        first = read_first_request(&mut connection, &door.limits) => first,
    };
    let (head, sorted) = match first {
        Ok(read) => read,
        Err(unserved) => {
            if let Some(reason) = unserved.reason() {
                streams.hub.metrics().refused(reason);
            }
            if let Some(answer) = unserved.answer() {
                let _ = connection.socket.try_write(answer);
            }
            return None;
        }
    };
    let Connection {
        socket,
        peer,
        admitted,
        accepted,
    } = connection;
    if let HeadVerdict::Stream(_) | HeadVerdict::Hyper { stream: true } = sorted {
        crate::limits::bound_send_buffer(&socket);
    }
    let disconnected = streams.hub.metrics().stalled_clients_disconnected.clone();
    let socket = StallGuard::new(socket, door.limits.stall, disconnected);
    if let HeadVerdict::Stream(mut request) = sorted
        && let Some(audience) = allowed_audience(&head, peer.ip(), &door.access, request.audience)
    {
        request.audience = audience;
        streams.hub.until_caught_up(request.last_event_id).await;
        // At capacity, hyper's handler answers (503, counted there).
        let subscribed = streams
            .hub
            .subscribe_from(request.last_event_id, request.audience);
        if let Ok(subscription) = subscribed {
            streams.opened("direct");
            return Some(Destination::Stream(DirectStream {
                socket,
                request,
                subscription,
                streams,
                admitted,
            }));
        }
    }
    let handed = HyperConnection {
        replay: head.freeze(),
        socket,
        accepted,
        _admitted: admitted,
    };
    Some(Destination::Hyper(handed, peer))
}

/// Asks the access rule about a stream request, with the head the sorter
/// read: the audience to serve it to directly, at most `most`, or `None`
/// if it is refused, and goes to hyper, whose access layer answers it
/// (the same rule, so the same answer).
fn allowed_audience(
    head: &[u8],
    peer: IpAddr,
    access: &Access,
    most: Audience,
) -> Option<Audience> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    request.parse(head).ok()?;
    let target = request.path?;
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match access.decide(&Asking {
        unsafe_method: false,
        path,
        peer,
        head: &request,
    }) {
        Verdict::Pass {
            audience: Audience::Private,
            ..
        } => Some(most),
        Verdict::Pass { .. } => Some(Audience::Public),
        _ => None,
    }
}

enum HeadVerdict {
    /// A plain stream request, served directly.
    Stream(direct::Request),
    /// A complete head for hyper; `stream` if it asks for the stream all
    /// the same (pipelined, with an upgrade, …), so hyper will serve one.
    Hyper {
        stream: bool,
    },
    Undecided,
    TooLarge,
    Malformed,
}

/// Reads until the first request's head is complete (or cannot be a
/// request at all); returns what was read. hyper therefore never waits for
/// a head: it gets one whole, or the connection is closed here.
async fn read_first_request(
    connection: &mut Connection,
    limits: &Limits,
) -> Result<(BytesMut, HeadVerdict), EarlyClose> {
    let mut head = BytesMut::with_capacity(FIRST_READ);
    loop {
        let (deadline, late) = match head.is_empty() {
            true => (
                connection.accepted + limits.first_byte,
                EarlyClose::NoRequest,
            ),
            false => (
                connection.accepted + limits.request_head,
                EarlyClose::SlowHead,
            ),
        };
        let read = tokio::time::timeout_at(deadline, connection.socket.read_buf(&mut head));
        match read.await {
            Err(_) => return Err(late),
            Ok(Err(_)) => return Err(EarlyClose::Gone),
            Ok(Ok(0)) if head.is_empty() => return Err(EarlyClose::Gone),
            // Half-closed after a partial head: nothing will complete it.
            Ok(Ok(0)) => return Err(EarlyClose::Malformed),
            Ok(Ok(_)) => {}
        }
        match sort_head(&head) {
            HeadVerdict::Undecided if head.len() < MAX_HEAD => head.reserve(FIRST_READ),
            HeadVerdict::Undecided | HeadVerdict::TooLarge => return Err(EarlyClose::HeadTooLarge),
            HeadVerdict::Malformed => return Err(EarlyClose::Malformed),
            sorted => return Ok((head, sorted)),
        }
    }
}

fn sort_head(head: &[u8]) -> HeadVerdict {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => HeadVerdict::Undecided,
        Err(httparse::Error::TooManyHeaders) => HeadVerdict::TooLarge,
        Err(_) => HeadVerdict::Malformed,
        Ok(httparse::Status::Complete(_)) if has_two_lengths(&request) => HeadVerdict::Malformed,
        Ok(httparse::Status::Complete(len)) => {
            let stream = asks_for_stream(&request);
            // Anything after the head (a body, a pipelined request) is hyper's.
            let direct = stream
                .filter(|_| len == head.len())
                .and_then(|audience| stream_request(&request, audience));
            direct.map_or(
                HeadVerdict::Hyper {
                    stream: stream.is_some(),
                },
                HeadVerdict::Stream,
            )
        }
    }
}

/// Both `Content-Length` and `Transfer-Encoding`: the shape of request
/// smuggling, where a proxy and a server disagree on where a body ends.
/// RFC 9112 lets a server refuse it; Pulse does, before hyper sees it.
fn has_two_lengths(request: &httparse::Request) -> bool {
    let has = |name: &str| {
        request
            .headers
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name))
    };
    has("content-length") && has("transfer-encoding")
}

/// The audience of the stream `request` asks for, if it asks for one.
fn asks_for_stream(request: &httparse::Request) -> Option<Audience> {
    let target = request.path.unwrap_or_default();
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if request.method != Some("GET") {
        return None;
    }
    let known = STREAM_PATHS.iter().find(|(known, _)| *known == path);
    known.map(|&(_, audience)| audience)
}

/// The stream request as `direct` needs it, or `None` for anything it
/// does not serve: another version, a body, an upgrade.
fn stream_request(request: &httparse::Request, audience: Audience) -> Option<direct::Request> {
    let http11 = match request.version? {
        1 => true,
        0 => false,
        _ => return None,
    };
    let mut last_event_id = None;
    for field in request.headers.iter() {
        let name = field.name;
        let has_body = (name.eq_ignore_ascii_case("content-length") && field.value != b"0")
            || name.eq_ignore_ascii_case("transfer-encoding");
        if has_body || name.eq_ignore_ascii_case("upgrade") {
            return None;
        }
        if name.eq_ignore_ascii_case("last-event-id") {
            last_event_id = Some(field.value);
        }
    }
    let query = request.path?.split_once('?').map(|(_, query)| query);
    Some(direct::Request {
        http11,
        last_event_id: super::requested_event_id(last_event_id, query),
        audience,
    })
}

/// A connection handed to hyper: what the sorting read comes first, then
/// the socket.
/// Its writes go through the stall guard, and its place under the
/// connection caps is held until hyper drops it.
pub(crate) struct HyperConnection {
    replay: Bytes,
    socket: StallGuard<TcpStream>,
    /// When the connection was accepted: its first request's deadline
    /// counts from here.
    accepted: Instant,
    _admitted: Admitted,
}

impl HyperConnection {
    pub(crate) fn accepted(&self) -> Instant {
        self.accepted
    }
}

impl AsyncRead for HyperConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.replay.has_remaining() {
            let n = me.replay.len().min(buf.remaining());
            buf.put_slice(&me.replay[..n]);
            me.replay.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for HyperConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{HeadVerdict, sort_head};
    use crate::status::Audience;

    fn sorted(head: &str) -> &'static str {
        match sort_head(head.as_bytes()) {
            HeadVerdict::Stream(request) => match request.audience {
                Audience::Private => "stream",
                Audience::Public => "public stream",
            },
            HeadVerdict::Hyper { .. } => "hyper",
            HeadVerdict::Undecided => "undecided",
            HeadVerdict::TooLarge => "too large",
            HeadVerdict::Malformed => "malformed",
        }
    }

    #[test]
    fn only_a_complete_plain_stream_request_is_served_directly() {
        assert_eq!(
            sorted("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"),
            "stream"
        );
        assert_eq!(
            sorted("GET /api/events?lastEventId=4 HTTP/1.0\r\n\r\n"),
            "stream"
        );
        assert_eq!(
            sorted("GET /api/public/events HTTP/1.1\r\nHost: x\r\n\r\n"),
            "public stream"
        );
        assert_eq!(
            sorted("GET /api/public/events?lastEventId=4 HTTP/1.0\r\n\r\n"),
            "public stream"
        );
        assert_eq!(sorted("GET /api/ev"), "undecided");
        assert_eq!(sorted("GET /api/events HTTP/1.1\r\nHost:"), "undecided");
        // Any request waits for its whole head, so hyper never has to.
        assert_eq!(sorted("GET / HTTP/1.1\r\nX: a"), "undecided");
        for other in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET /api/eventsX HTTP/1.1\r\n\r\n",
            "GET /api/events/ HTTP/1.1\r\n\r\n",
            "HEAD /api/events HTTP/1.1\r\n\r\n",
            "POST /api/events HTTP/1.1\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "GET /api/events HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /api/events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GET /api/public HTTP/1.1\r\n\r\n",
            "GET /api/public/events/ HTTP/1.1\r\n\r\n",
            "POST /api/public/events HTTP/1.1\r\n\r\n",
            "GET /api/public/events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(sorted(other), "hyper", "{other:?}");
        }
        for malformed in [
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nbad header\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03",
        ] {
            assert_eq!(sorted(malformed), "malformed", "{malformed:?}");
        }
        let many_fields = "GET / HTTP/1.1\r\n".to_string() + &"X: a\r\n".repeat(101);
        assert_eq!(sorted(&many_fields), "too large");
    }
}
