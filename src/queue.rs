//! How the hub hands each result to a part that works on its own thread
//! (history, alerts): offered on a bounded queue, never waited for. A full
//! or closed queue drops the result and counts it; the publish path never
//! blocks and never grows.
//!
//! The queue holds memory for what is in it, not for its capacity: std's
//! unbounded channel, which allocates its slots in small blocks as they
//! fill and frees them as they are taken, with the bound counted here.
//! std's `sync_channel` writes every slot of its capacity when it is made:
//! 32,768 results were 4.75 MiB resident per queue for the life of the
//! process, at an idle start (docs/benchmarks.md).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) struct Queue<T> {
    /// `None` once closed: the receiving thread then drains and ends.
    queue: Mutex<Option<Sender<T>>>,
    /// Items offered and not taken yet, shared with the reader.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    dropped: AtomicU64,
}

/// The reading end, on the part's own thread.
pub(crate) struct QueueReader<T> {
    items: Receiver<T>,
    queued: Arc<AtomicUsize>,
}

impl<T> Queue<T> {
    /// A queue of `capacity` items, and the end its thread reads.
    pub fn new(capacity: usize) -> (Queue<T>, QueueReader<T>) {
        let (queue, items) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let offered = Queue {
            queue: Mutex::new(Some(queue)),
            queued: queued.clone(),
            capacity,
            dropped: AtomicU64::new(0),
        };
        (offered, QueueReader { items, queued })
    }

    /// Queues `item` if there is room; `false` (and counted) if not.
    pub(crate) fn offer(&self, item: T) -> bool {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        // A place is claimed before the item is sent, so the reader never
        // counts down an item that was not counted up.
        let room = self.queued.fetch_add(1, Ordering::AcqRel) < self.capacity;
        let sent = room && queue.as_ref().is_some_and(|queue| queue.send(item).is_ok());
        if !sent {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Takes no more: the reader sees the end once it took what is queued.
    pub(crate) fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Items dropped so far: the queue was full or closed.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<T> QueueReader<T> {
    /// The next item, waiting for one; an error once the queue is closed
    /// and empty.
    #[cfg(test)]
    pub(crate) fn recv(&self) -> Result<T, std::sync::mpsc::RecvError> {
        self.items.recv().inspect(|_| self.took())
    }

    /// The next item, waiting at most `wait`.
    pub(crate) fn recv_timeout(&self, wait: Duration) -> Result<T, RecvTimeoutError> {
        self.items.recv_timeout(wait).inspect(|_| self.took())
    }

    /// Everything queued, waiting at most `wait` for the first item; once
    /// one came, lingering `linger` for more to gather. A thread that
    /// waits in `recv` is woken by every item sent (a futex wake and a
    /// context switch each: about a hundredth of a core at 1,000 results
    /// a second, docs/benchmarks.md); one that lingers is woken once per
    /// `linger` at most, as a sender wakes only a thread parked in `recv`.
    pub(crate) fn recv_gathered(
        &self,
        wait: Duration,
        linger: Duration,
    ) -> Result<Vec<T>, RecvTimeoutError> {
        let first = self.recv_timeout(wait)?;
        std::thread::sleep(linger);
        let mut gathered = vec![first];
        gathered.extend(self.items.try_iter().inspect(|_| self.took()));
        Ok(gathered)
    }

    fn took(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;
    use std::time::Duration;

    #[test]
    fn holds_at_most_its_capacity_and_counts_what_it_drops() {
        let (queue, taken) = Queue::new(2);
        assert!(queue.offer(1));
        assert!(queue.offer(2));
        assert!(!queue.offer(3), "full");
        assert_eq!(queue.dropped(), 1);
        assert_eq!(taken.recv(), Ok(1));
        assert!(queue.offer(4), "a taken item makes room");
        assert_eq!(taken.recv_timeout(Duration::from_millis(10)), Ok(2));
        assert_eq!(taken.recv(), Ok(4));
        assert!(taken.recv_timeout(Duration::from_millis(10)).is_err());
    }

    #[test]
    fn gathers_what_was_sent_while_it_lingered_and_counts_it_taken() {
        let (queue, taken) = Queue::new(3);
        assert!(queue.offer(1));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(5));
                assert!(queue.offer(2));
            });
            let gathered = taken.recv_gathered(Duration::from_secs(5), Duration::from_millis(200));
            assert_eq!(gathered, Ok(vec![1, 2]));
        });
        assert!(
            queue.offer(3) && queue.offer(4) && queue.offer(5),
            "all three places free again"
        );
        queue.close();
        assert_eq!(
            taken.recv_gathered(Duration::ZERO, Duration::ZERO),
            Ok(vec![3, 4, 5])
        );
        assert!(
            taken.recv_gathered(Duration::ZERO, Duration::ZERO).is_err(),
            "closed and empty"
        );
    }

    #[test]
    fn a_closed_queue_is_drained_then_ends_and_takes_no_more() {
        let (queue, taken) = Queue::new(8);
        assert!(queue.offer("kept"));
        queue.close();
        assert!(!queue.offer("late"));
        assert_eq!(queue.dropped(), 1);
        assert_eq!(taken.recv(), Ok("kept"));
        assert!(taken.recv().is_err());
    }
}
