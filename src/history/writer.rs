//! The writer: the hub offers each result on a bounded channel and never
//! waits (a full channel drops the result and counts it). A thread of its
//! own writes them in batches, one transaction each, and once a minute
//! rolls up and prunes. When the database fails (a full or read-only
//! disk, Postgres down), the error is logged and kept for the dashboard,
//! checking and streaming go on, and the results wait in a bounded backlog
//! that is written, oldest first, once the database takes writes again.

use super::backend::{Backend, Retention};
use crate::hub::{Follower, Hub};
use crate::queue::{Queue, QueueReader};
use crate::shutdown::Shutdown;
use crate::status::{CheckStatus, HistoryNotice};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Results waiting to be written, at most: a minute of 500 checks a second.
const QUEUE: usize = 32_768;
/// A batch is written when it is this large or this old.
const BATCH_MAX: usize = 2_000;
const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// How long the thread lets results gather once one came, rather than
/// being woken for each (`QueueReader::recv_gathered`); well inside a batch's
/// window and the 400 ms `close` waits.
const GATHER: Duration = Duration::from_millis(100);
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);
/// Results kept while the database fails, at most: two minutes of 500
/// checks a second. Beyond it the oldest go first (and are counted), so a
/// long outage costs bounded memory and the newest results survive it.
const BACKLOG: usize = 65_536;

/// How long `close` waits for the last batch to be written.
const CLOSE_WITHIN: Duration = Duration::from_millis(400);

pub(crate) struct Writer {
    /// Closed at shutdown: the thread then writes what it has and ends.
    queue: Queue<CheckStatus>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    problem: Mutex<Option<String>>,
    /// Results given up: pushed out of a full backlog, or refused alone by
    /// the database.
    given_up: std::sync::atomic::AtomicU64,
    /// Results in the backlog.
    waiting: std::sync::atomic::AtomicUsize,
}

impl Follower for Writer {
    /// Queues a result for writing; never blocks.
    fn offer(&self, status: &CheckStatus) {
        self.queue.offer(status.clone());
    }

    /// At shutdown: writes what is queued, rolls up, and stops, waiting a
    /// bounded time so the exit deadline holds.
    fn close(&self) {
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
}

impl Writer {
    /// What is wrong with the database right now, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Results received and not written yet: more than a batch only while
    /// the database fails.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Results not written because the queue or the backlog was full, or
    /// the writer gone.
    pub(crate) fn dropped(&self) -> u64 {
        self.queue.dropped() + self.given_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps the outcome of a write for the dashboard; logs a problem once,
    /// when it starts or changes, not on every retry. The message stays the
    /// same while the problem does (what waits is in `/metrics`), so the
    /// dashboard is not sent a new notice every second of an outage.
    fn report(&self, outcome: super::Result<()>, what: &str) {
        let mut problem = self.problem.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                if problem.take().is_some() {
                    tracing::info!("history database writable again");
                }
            }
            Err(error) => {
                let message = format!("history not saved ({what}): {}", in_plain_words(&error));
                if problem.as_deref() != Some(message.as_str()) {
                    tracing::error!(
                        %error,
                        "{message}; checks and streams go on, and up to {BACKLOG} results wait for it"
                    );
                }
                *problem = Some(message);
            }
        }
    }
}

/// What the dashboard says of a failed write: one of a few fixed phrases,
/// never the database's own text, which can name its host, its user or a
/// path (the server's log has that).
fn in_plain_words(error: &super::Error) -> &'static str {
    match error.kind {
        super::ErrorKind::Full => "the disk is full",
        super::ErrorKind::Refused => "the database refused a result (the server's log says why)",
        super::ErrorKind::Failed => "the database does not take writes (the server's log says why)",
    }
}

/// Starts the writer thread over `store`.
pub(crate) fn start(store: Box<dyn Backend + Send>, retention: Retention) -> Arc<Writer> {
    let (queue, results) = Queue::new(QUEUE);
    let writer = Arc::new(Writer {
        queue,
        thread: Mutex::new(None),
        problem: Mutex::new(None),
        given_up: Default::default(),
        waiting: Default::default(),
    });
    let handle = writer.clone();
    let thread = std::thread::Builder::new()
        .name("pulse-history".into())
        .spawn(move || write_forever(store, results, &handle, retention))
        .expect("a thread for the history writer");
    *writer.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
    writer
}

/// Follows the writer's health once a second: its metrics, and the
/// dashboard's history notice when it changes (the hub tells the
/// clients). Ends at shutdown.
pub(crate) async fn watch(writer: Arc<Writer>, hub: Arc<Hub>, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut dropped = 0;
    while shutdown.tick(&mut ticker).await {
        let problem = writer.problem();
        let metrics = hub.metrics();
        metrics.history_up.set(i64::from(problem.is_none()));
        metrics.history_waiting.set(writer.waiting() as i64);
        let now_dropped = writer.dropped();
        metrics
            .history_results_dropped
            .inc_by(now_dropped.saturating_sub(dropped));
        dropped = now_dropped;
        hub.set_history_notice(HistoryNotice { problem });
    }
}

fn write_forever(
    mut store: Box<dyn Backend + Send>,
    results: QueueReader<CheckStatus>,
    writer: &Writer,
    retention: Retention,
) {
    let mut backlog = Backlog::default();
    let mut batch_started = Instant::now();
    let mut last_housekeeping = Instant::now();
    loop {
        let wait = BATCH_WINDOW.saturating_sub(batch_started.elapsed());
        let open = match results.recv_gathered(wait, GATHER) {
            Ok(statuses) => {
                if backlog.is_empty() {
                    batch_started = Instant::now();
                }
                for status in statuses {
                    writer.given_up(backlog.push(status));
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        writer
            .waiting
            .store(backlog.len(), std::sync::atomic::Ordering::Relaxed);
        // A failing database is tried again once per window, not on every
        // result that arrives while the backlog is large.
        let full = backlog.len() >= BATCH_MAX && !backlog.failing;
        let due = full || batch_started.elapsed() >= BATCH_WINDOW || !open;
        if due && !backlog.is_empty() {
            let outcome = backlog.write(store.as_mut());
            writer.given_up(std::mem::take(&mut backlog.refused));
            writer.report(outcome, "writing results");
            batch_started = Instant::now();
        }
        if (last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY || !open) && !backlog.failing {
            let now = crate::clock::unix_millis();
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

impl Writer {
    fn given_up(&self, results: u64) {
        self.given_up
            .fetch_add(results, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Results not written yet, oldest first.
#[derive(Default)]
struct Backlog {
    waiting: std::collections::VecDeque<CheckStatus>,
    /// Whether the last write failed: the writer then only retries, once
    /// per `BATCH_WINDOW`, and leaves roll-ups for when it writes again.
    failing: bool,
    /// Results the database refused alone, given up since last counted.
    refused: u64,
}

impl Backlog {
    fn len(&self) -> usize {
        self.waiting.len()
    }

    fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Keeps `status`; returns how many old results it pushed out (0 or 1).
    fn push(&mut self, status: CheckStatus) -> u64 {
        let full = self.waiting.len() >= BACKLOG;
        if full {
            self.waiting.pop_front();
        }
        self.waiting.push_back(status);
        u64::from(full)
    }

    /// Writes everything waiting, a batch per transaction, oldest first;
    /// stops at the first failure of the database and keeps what is left.
    fn write(&mut self, store: &mut dyn Backend) -> super::Result<()> {
        while !self.waiting.is_empty() {
            let n = self.waiting.len().min(BATCH_MAX);
            let batch: Vec<CheckStatus> = self.waiting.range(..n).cloned().collect();
            match store.record(&batch) {
                Ok(()) => drop(self.waiting.drain(..n)),
                Err(error) if error.kind == super::ErrorKind::Refused => {
                    self.write_one_by_one(store, n)?;
                }
                Err(error) => {
                    self.failing = true;
                    return Err(error);
                }
            }
        }
        self.failing = false;
        Ok(())
    }

    /// After the database refused a batch for what it holds: its `n`
    /// results one by one, each it refuses alone given up (counted in
    /// `refused`), so that one result it will never take does not hold
    /// every later one back. Stops at any other failure, keeping the rest.
    fn write_one_by_one(&mut self, store: &mut dyn Backend, n: usize) -> super::Result<()> {
        for _ in 0..n {
            let Some(status) = self.waiting.front() else {
                break;
            };
            match store.record(std::slice::from_ref(status)) {
                Ok(()) => {}
                Err(error) if error.kind == super::ErrorKind::Refused => {
                    tracing::warn!(check = %status.id.0, at_ms = status.checked_at_ms, %error, "history: a result the database refuses was given up");
                    self.refused += 1;
                }
                Err(error) => {
                    self.failing = true;
                    return Err(error);
                }
            }
            self.waiting.pop_front();
        }
        Ok(())
    }
}
