//! The server's accept loop. It reads the first request of each connection
//! just far enough to sort it: a plain `GET /api/events` is served by
//! `direct`, straight onto the socket; everything else (pages, the API,
//! anything odd) is handed to hyper with the bytes already read put back in
//! front, so hyper sees the connection as if nobody had touched it.
//!
//! Streams are sorted out because they are nearly all of the connections and
//! live for hours; hyper's per-connection buffers are most of what one would
//! cost (README, "Benchmarks").

use super::{Streams, direct};
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

/// The start of the one request served directly; the request target must
/// end right after it or go on with a query.
const STREAM_REQUEST: &[u8] = b"GET /api/events";
/// A first read this size holds a browser's usual request head.
const FIRST_READ: usize = 2048;
/// A head still incomplete at this size is left to hyper, which has its own
/// limits and answers for them.
const MAX_HEAD: usize = 16 * 1024;
/// Header fields parsed for a stream request; more is left to hyper.
const MAX_FIELDS: usize = 64;
/// A connection that has not said what it wants by then is closed.
const FIRST_REQUEST_WITHIN: Duration = Duration::from_secs(30);
/// Connections sorted but not yet taken by hyper's accept loop.
const HANDOFF_QUEUE: usize = 1024;
/// After an accept error that is not one connection's (out of file
/// descriptors, mostly), how long to wait before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Starts accepting on `listener`. Returns what hyper (through
/// `axum::serve`) accepts from, and the tracker of every directly served
/// stream, to wait on at shutdown.
pub fn sort(listener: TcpListener, streams: Streams) -> io::Result<(ForHyper, TaskTracker)> {
    let local = listener.local_addr()?;
    let (to_hyper, incoming) = mpsc::channel(HANDOFF_QUEUE);
    let direct = TaskTracker::new();
    tokio::spawn(accept_all(listener, streams, to_hyper, direct.clone()));
    Ok((ForHyper { incoming, local }, direct))
}

/// The connections left to hyper, as an `axum::serve` listener.
pub struct ForHyper {
    incoming: mpsc::Receiver<(Rewound, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for ForHyper {
    type Io = Rewound;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Rewound, SocketAddr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): nothing more comes,
            // and axum's graceful shutdown ends its own loop.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

type ToHyper = mpsc::Sender<(Rewound, SocketAddr)>;

async fn accept_all(
    listener: TcpListener,
    streams: Streams,
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
            Ok((socket, peer)) => {
                direct.spawn(sort_one(socket, peer, streams.clone(), to_hyper.clone()));
            }
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

async fn sort_one(mut socket: TcpStream, peer: SocketAddr, streams: Streams, to_hyper: ToHyper) {
    let first = tokio::select! {
        biased;
        _ = streams.shutdown.triggered() => return,
        first = tokio::time::timeout(FIRST_REQUEST_WITHIN, read_first_request(&mut socket)) => first,
    };
    let Ok(Ok((head, sorted))) = first else {
        return;
    };
    if let Sorted::Stream(request) = sorted {
        // At capacity, hyper's handler answers (503, counted there).
        if let Ok(subscription) = streams.hub.subscribe_from(request.last_event_id) {
            drop(head);
            streams.opened("direct");
            return direct::serve(socket, request, subscription, streams).await;
        }
    }
    let handed = Rewound {
        replay: head.freeze(),
        socket,
    };
    // Fails only once hyper has stopped accepting: shutdown.
    let _ = to_hyper.send((handed, peer)).await;
}

enum Sorted {
    Stream(direct::Request),
    Hyper,
    Undecided,
}

/// Reads until the first request can be sorted; returns what was read.
async fn read_first_request(socket: &mut TcpStream) -> io::Result<(BytesMut, Sorted)> {
    let mut head = BytesMut::with_capacity(FIRST_READ);
    loop {
        if socket.read_buf(&mut head).await? == 0 {
            return match head.is_empty() {
                true => Err(io::ErrorKind::UnexpectedEof.into()),
                false => Ok((head, Sorted::Hyper)),
            };
        }
        match sort_head(&head) {
            Sorted::Undecided if head.len() < MAX_HEAD => head.reserve(FIRST_READ),
            Sorted::Undecided => return Ok((head, Sorted::Hyper)),
            sorted => return Ok((head, sorted)),
        }
    }
}

fn sort_head(head: &[u8]) -> Sorted {
    let known = head.len().min(STREAM_REQUEST.len());
    if head[..known] != STREAM_REQUEST[..known] {
        return Sorted::Hyper;
    }
    match head.get(STREAM_REQUEST.len()) {
        None => return Sorted::Undecided,
        Some(b' ' | b'?') => {}
        Some(_) => return Sorted::Hyper,
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(head) {
        // Anything after the head (a body, a pipelined request) is hyper's.
        Ok(httparse::Status::Complete(len)) if len == head.len() => {
            stream_request(&request).map_or(Sorted::Hyper, Sorted::Stream)
        }
        Ok(httparse::Status::Complete(_)) => Sorted::Hyper,
        Ok(httparse::Status::Partial) => Sorted::Undecided,
        Err(_) => Sorted::Hyper,
    }
}

/// The stream request as `direct` needs it, or `None` for anything it
/// does not serve: another version, a body, an upgrade.
fn stream_request(request: &httparse::Request) -> Option<direct::Request> {
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
    })
}

/// A connection handed to hyper: what the sorting read comes first, then
/// the socket.
pub struct Rewound {
    replay: Bytes,
    socket: TcpStream,
}

impl AsyncRead for Rewound {
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

impl AsyncWrite for Rewound {
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
    use super::{Sorted, sort_head};

    fn sorted(head: &str) -> &'static str {
        match sort_head(head.as_bytes()) {
            Sorted::Stream(_) => "stream",
            Sorted::Hyper => "hyper",
            Sorted::Undecided => "undecided",
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
        assert_eq!(sorted("GET /api/ev"), "undecided");
        assert_eq!(sorted("GET /api/events HTTP/1.1\r\nHost:"), "undecided");
        for other in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET /api/eventsX HTTP/1.1\r\n\r\n",
            "GET /api/events/ HTTP/1.1\r\n\r\n",
            "HEAD /api/events HTTP/1.1\r\n\r\n",
            "POST /api/events HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "GET /api/events HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /api/events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GET /api/events HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert_eq!(sorted(other), "hyper", "{other:?}");
        }
    }
}
