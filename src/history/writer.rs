//! The writer: the hub offers each result on a bounded channel and never
//! waits (a full channel drops the result and counts it). A thread of its
//! own writes them in batches, one transaction each, and once a minute
//! rolls up and prunes. When the database fails (a full or read-only
//! disk), the error is logged and kept for the dashboard, and checking and
//! streaming go on.

use super::store::{Retention, Store};
use crate::queue::Offered;
use crate::status::CheckStatus;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Results waiting to be written, at most: a minute of 500 checks a second.
const QUEUE: usize = 32_768;
/// A batch is written when it is this large or this old.
const BATCH_MAX: usize = 2_000;
const BATCH_WINDOW: Duration = Duration::from_secs(1);
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// How long `close` waits for the last batch to be written.
const CLOSE_WITHIN: Duration = Duration::from_millis(400);

pub struct Writer {
    /// Closed at shutdown: the thread then writes what it has and ends.
    queue: Offered<CheckStatus>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    problem: Mutex<Option<String>>,
}

impl Writer {
    /// Queues a result for writing; never blocks.
    pub fn offer(&self, status: &CheckStatus) {
        self.queue.offer(status.clone());
    }

    /// At shutdown: writes what is queued, rolls up, and stops, waiting a
    /// bounded time so the exit deadline holds.
    pub fn close(&self) {
        self.queue.close();
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let deadline = Instant::now() + CLOSE_WITHIN;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("history writer still busy at exit; its last batch may be lost");
        }
    }

    /// What is wrong with the database right now, if anything.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Results not written because the queue was full or the writer gone.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    fn report(&self, outcome: rusqlite::Result<()>, what: &str) {
        let mut problem = self.problem.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                if problem.take().is_some() {
                    tracing::info!("history database writable again");
                }
            }
            Err(error) => {
                let message = format!("history not saved ({what}): {error}");
                if problem.as_deref() != Some(message.as_str()) {
                    tracing::error!("{message}; checks and streams go on");
                }
                *problem = Some(message);
            }
        }
    }
}

/// Starts the writer thread over `store`.
pub fn start(store: Store, retention: Retention) -> Arc<Writer> {
    let (queue, results) = Offered::new(QUEUE);
    let writer = Arc::new(Writer {
        queue,
        thread: Mutex::new(None),
        problem: Mutex::new(None),
    });
    let handle = writer.clone();
    let thread = std::thread::Builder::new()
        .name("pulse-history".into())
        .spawn(move || write_forever(store, results, &handle, retention))
        .expect("a thread for the history writer");
    *writer.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
    writer
}

fn write_forever(
    mut store: Store,
    results: Receiver<CheckStatus>,
    writer: &Writer,
    retention: Retention,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut batch_started = Instant::now();
    let mut last_housekeeping = Instant::now();
    loop {
        let wait = BATCH_WINDOW.saturating_sub(batch_started.elapsed());
        let open = match results.recv_timeout(wait) {
            Ok(status) => {
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.push(status);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        let due = batch.len() >= BATCH_MAX || batch_started.elapsed() >= BATCH_WINDOW || !open;
        if due && !batch.is_empty() {
            writer.report(store.record(&batch), "writing results");
            batch.clear();
            batch_started = Instant::now();
        }
        if last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY || !open {
            let now = crate::checks::unix_millis();
            let outcome = store
                .roll_up(now)
                .and_then(|()| store.prune(now, retention));
            writer.report(outcome, "rolling up");
            last_housekeeping = Instant::now();
        }
        if !open {
            return;
        }
    }
}
