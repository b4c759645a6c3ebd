//! A client that stops reading is cut off. Every connection's writes go
//! through a `StallGuard`: while a write waits for the client to take
//! bytes, a timer runs; once the client has taken none for the stall limit,
//! the write fails and whoever was writing (a direct stream, or hyper)
//! drops the connection. Counted in `pulse_stalled_clients_disconnected_total`.
//!
//! Why a timer per waiting write rather than one per connection: nearly
//! every write completes at once, and then no timer exists at all; a stream
//! that is keeping up costs nothing for this.

use prometheus_client::metrics::counter::Counter;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub(crate) struct StallGuard<S> {
    io: S,
    limit: Duration,
    /// Runs while a write waits; gone as soon as any byte is taken.
    waiting: Option<Pin<Box<Sleep>>>,
    disconnected: Counter,
}

impl<S> StallGuard<S> {
    pub fn new(io: S, limit: Duration, disconnected: Counter) -> Self {
        StallGuard {
            io,
            limit,
            waiting: None,
            disconnected,
        }
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    /// What a write that could not go on now means: wait (and start the
    /// timer), or give up on this client.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let timer = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        self.waiting = None;
        self.disconnected.inc();
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client took no byte within the stall limit",
        ))
    }

    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match written {
            Poll::Ready(result) => {
                self.waiting = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_stalled(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let written = Pin::new(&mut me.io).poll_write(cx, buf);
        me.guard(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let written = Pin::new(&mut me.io).poll_write_vectored(cx, bufs);
        me.guard(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let flushed = Pin::new(&mut me.io).poll_flush(cx);
        me.guard(cx, flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_takes_nothing_is_cut_off_and_counted() {
        // A duplex pipe with a small buffer and nobody reading the far end.
        let (near, _far) = tokio::io::duplex(64);
        let counter = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(60), counter.clone());
        let error = guarded.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(counter.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let counter = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(60), counter.clone());
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 4096 {
                tokio::time::sleep(Duration::from_secs(50)).await;
                total += far.read(&mut buf).await.unwrap();
            }
        });
        guarded.write_all(&[0u8; 4096]).await.unwrap();
        reader.await.unwrap();
        assert_eq!(counter.get(), 0);
    }
}
