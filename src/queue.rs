//! How the hub hands each result to a part that works on its own thread
//! (history, alerts): offered on a bounded queue, never waited for. A full
//! or closed queue drops the result and counts it; the publish path never
//! blocks and never grows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

pub struct Offered<T> {
    /// `None` once closed: the receiving thread then drains and ends.
    queue: Mutex<Option<SyncSender<T>>>,
    dropped: AtomicU64,
}

impl<T> Offered<T> {
    /// A queue of `capacity` items, and the end its thread reads.
    pub fn new(capacity: usize) -> (Offered<T>, Receiver<T>) {
        let (queue, items) = sync_channel(capacity);
        let offered = Offered {
            queue: Mutex::new(Some(queue)),
            dropped: AtomicU64::new(0),
        };
        (offered, items)
    }

    /// Queues `item` if there is room; `false` (and counted) if not.
    pub fn offer(&self, item: T) -> bool {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let sent = match queue.as_ref() {
            Some(queue) => queue.try_send(item),
            None => Err(TrySendError::Disconnected(item)),
        };
        if sent.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent.is_ok()
    }

    /// Takes no more: the reader sees the end once it took what is queued.
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Items dropped so far: the queue was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
