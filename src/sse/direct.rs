//! A stream written straight onto its socket, for connections whose first
//! request is `GET /api/events` or `GET /api/public/events` (see
//! `listener`). What it writes is what
//! hyper writes for the same request, byte for byte but the `retry:` jitter
//! and the date: the same head, then `client_stream`'s frames in HTTP/1.1
//! chunks (or, for HTTP/1.0, as they are, ended by closing).
//!
//! Why bypass hyper: an HTTP/1 connection in hyper keeps a 16 KiB read
//! buffer and an 8 KiB write buffer for its whole life, sized for requests
//! and bodies that a stream never has. Here a stream holds its task, its
//! subscription and its socket, and nothing else: one write in flight at a
//! time (the frames that were waiting when it began, at most `BATCH_BYTES`),
//! so a client that stops reading fills its kernel socket buffer,
//! falls behind the broadcast buffer and gets a fresh snapshot, as through
//! hyper. This is the one place where Pulse frames HTTP itself; anywhere
//! else a handler must leave `Transfer-Encoding` to hyper.

use super::{Streams, client_stream, headers};
use crate::hub::Subscription;
use crate::limits::StallGuard;
use crate::status::Audience;
use bytes::{Buf, Bytes, BytesMut};
use futures::{FutureExt, Stream, StreamExt};
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How much of a client's backlog goes into one write: fifty-odd status
/// events. The batch is held while its write waits, so this is also what a
/// client that stopped reading costs in memory, besides its socket buffer.
const BATCH_BYTES: usize = 16 * 1024;

/// What the request asked for that changes the answer.
pub(super) struct Request {
    pub(crate) http11: bool,
    pub(crate) last_event_id: Option<u64>,
    /// Whose frames the stream is written.
    pub(crate) audience: Audience,
}

/// Serves the stream until it ends (shutdown), the client leaves, or a
/// write fails. Errors end the stream quietly: a client that went away is
/// not news.
pub(super) async fn serve(
    mut socket: Socket,
    request: Request,
    subscription: Subscription,
    streams: Streams,
) {
    let framing = Framing::for_request(&request);
    let metrics = streams.hub.metrics().clone();
    let body = client_stream(subscription, streams);
    tokio::pin!(body);
    let Some(Ok(opening)) = body.next().await else {
        return;
    };
    if write_opening(framing, &mut socket, &request, opening)
        .await
        .is_err()
    {
        return;
    }
    // Bytes the client sent after its request, over the stream's life.
    let mut sent = 0;
    loop {
        let next = tokio::select! {
            biased;
            next = body.next() => next,
            left = std::future::poll_fn(|cx| poll_hung_up(socket.get_ref(), &mut sent, cx)) => {
                if left == Left::Talking {
                    metrics.refused("sent_after_stream");
                }
                return;
            }
        };
        let Some(Ok(frame)) = next else {
            let _ = framing.end(&mut socket).await;
            return;
        };
        let (frames, ended) = with_waiting_frames(frame, body.as_mut());
        if framing.write(&mut socket, &[], &frames).await.is_err() {
            return;
        }
        if ended {
            let _ = framing.end(&mut socket).await;
            return;
        }
    }
}

/// The head and the stream's opening, which are then let go: kept in
/// `serve`'s scope, they stayed for the stream's life, 2.4 KiB of the
/// 4.5 an idle stream held (dhat, `scripts/gates`).
async fn write_opening(
    framing: Framing,
    socket: &mut Socket,
    request: &Request,
    opening: Bytes,
) -> io::Result<()> {
    let head = response_head(request);
    framing.write(socket, head.as_bytes(), &opening).await
}

/// Room for a whole batch at once: growing by doubling would overshoot it.
fn started_batch(first: &[u8]) -> BytesMut {
    let mut batch = BytesMut::with_capacity(BATCH_BYTES.max(first.len()) + 4096);
    batch.extend_from_slice(first);
    batch
}

/// `first` and every frame already waiting behind it, up to `BATCH_BYTES`,
/// as one piece; and whether the stream ended. A client that has fallen a
/// few events behind (its task waited for a core) then catches up in one
/// write instead of one write each: on a busy server the writes, not the
/// bytes, are the cost. hyper's write buffer does the same.
fn with_waiting_frames<S>(first: Bytes, mut body: Pin<&mut S>) -> (Bytes, bool)
where
    S: Stream<Item = Result<Bytes, Infallible>>,
{
    let mut batch: Option<BytesMut> = None;
    let mut ended = false;
    while batch.as_ref().map_or(first.len(), BytesMut::len) < BATCH_BYTES {
        match body.next().now_or_never() {
            Some(Some(Ok(frame))) => batch
                .get_or_insert_with(|| started_batch(&first))
                .extend_from_slice(&frame),
            Some(None) => {
                ended = true;
                break;
            }
            None => break,
        }
    }
    (batch.map_or(first, BytesMut::freeze), ended)
}

fn response_head(request: &Request) -> String {
    let mut head = String::with_capacity(256);
    head.push_str(match request.http11 {
        true => "HTTP/1.1 200 OK\r\n",
        false => "HTTP/1.0 200 OK\r\n",
    });
    let mut line = |name: &str, value: &str| {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    };
    line("content-type", headers::EVENT_STREAM);
    for (name, value) in headers::ON_EVERY_ANSWER {
        line(name, value);
    }
    if request.http11 {
        let (name, value) = headers::ON_HTTP11;
        line(name, value);
    }
    // In hyper's order: the router's outer layers add these after the
    // stream's own headers.
    for (name, value) in crate::page_policy::ON_EVERY_ANSWER {
        line(name, value);
    }
    if request.http11 {
        line("transfer-encoding", "chunked");
    }
    line("date", &httpdate::fmt_http_date(SystemTime::now()));
    head.push_str("\r\n");
    head
}

/// A stream's socket: a client that takes nothing is cut off (`limits`).
type Socket = StallGuard<TcpStream>;

/// How the body is delimited: chunks on HTTP/1.1, the end of the
/// connection on HTTP/1.0 (which has no chunks).
#[derive(Clone, Copy)]
enum Framing {
    Chunked,
    UntilClose,
}

impl Framing {
    fn for_request(request: &Request) -> Framing {
        match request.http11 {
            true => Framing::Chunked,
            false => Framing::UntilClose,
        }
    }

    /// `prefix` (the head, on the first write), then `frame` as one chunk,
    /// in a single vectored write when the socket takes it all.
    async fn write(self, socket: &mut Socket, prefix: &[u8], frame: &[u8]) -> io::Result<()> {
        let mut size = [0u8; 20];
        let (size, tail): (&[u8], &[u8]) = match self {
            Framing::Chunked => (chunk_size_line(frame.len(), &mut size), b"\r\n"),
            Framing::UntilClose => (&[], &[]),
        };
        let mut out = prefix.chain(size).chain(frame).chain(tail);
        socket.write_all_buf(&mut out).await
    }

    /// The last chunk, then a clean close.
    async fn end(self, socket: &mut Socket) -> io::Result<()> {
        if let Framing::Chunked = self {
            socket.write_all(b"0\r\n\r\n").await?;
        }
        socket.shutdown().await
    }
}

/// `len` in lowercase hex and CRLF, as hyper writes it, into `buf`.
fn chunk_size_line(len: usize, buf: &mut [u8; 20]) -> &[u8] {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut buf[..]);
    write!(cursor, "{len:x}\r\n").expect("a usize in hex fits 20 bytes");
    let written = cursor.position() as usize;
    &buf[..written]
}

/// Bytes a stream's client may send after its request before it is cut
/// off: a stray line end or two from a sloppy client, not a conversation.
const MOST_SENT_AFTER_REQUEST: usize = 64;

/// Why a stream's client is gone.
#[derive(Debug, PartialEq, Eq)]
enum Left {
    /// It closed its end, or the connection failed.
    Closed,
    /// It kept sending after its request. An SSE client never does; one
    /// that does would make the server read (and throw away) whatever it
    /// sends, at the server's cost.
    Talking,
}

/// Ready when the client has closed its end (or reset it), or has sent
/// more than `MOST_SENT_AFTER_REQUEST` bytes after its request (`sent`
/// counts them across calls). Polled afresh after every event, so it keeps
/// its waker in the socket's own reader slot (`poll_read_ready`) rather
/// than in a list a `readable()` future joins and leaves each time: that
/// joining and leaving was 5 % of a loaded server's CPU
/// (docs/benchmarks.md).
fn poll_hung_up(socket: &TcpStream, sent: &mut usize, cx: &mut Context<'_>) -> Poll<Left> {
    let mut scratch = [0u8; MOST_SENT_AFTER_REQUEST + 1];
    loop {
        match socket.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Left::Closed),
            Poll::Ready(Ok(())) => {}
        }
        // Nothing to read clears the readiness, and the next turn of the
        // loop waits for more.
        match socket.try_read(&mut scratch) {
            Ok(0) => return Poll::Ready(Left::Closed),
            Ok(n) => {
                *sent += n;
                if *sent > MOST_SENT_AFTER_REQUEST {
                    return Poll::Ready(Left::Talking);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(Left::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_size_line;

    #[test]
    fn chunk_sizes_are_lowercase_hex_lines() {
        let mut buf = [0u8; 20];
        assert_eq!(chunk_size_line(0x465, &mut buf), b"465\r\n");
        assert_eq!(chunk_size_line(0xabc, &mut buf), b"abc\r\n");
        assert_eq!(
            chunk_size_line(usize::MAX, &mut buf),
            b"ffffffffffffffff\r\n"
        );
    }
}
