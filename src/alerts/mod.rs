//! Alerts: Pulse tells someone when a check fails, and when it passes again.
//!
//! ```text
//! hub ─offer─▶ rules (thread) ─record─▶ outbox (history DB) ─▶ dispatcher ─▶ notifiers
//! ```
//!
//! - The hub offers every result on a bounded queue (`crate::queue`) and
//!   never waits, as it does for history: nothing here can slow a check or a stream.
//! - `rules` moves each check's alert state (thresholds, reminders,
//!   dependencies); what it makes happen is written to the `outbox` with
//!   the alert's new state, in one transaction.
//! - The `dispatcher` groups what waits per notifier within the group
//!   window, sends it as one message, retries with backoff, and marks it
//!   sent once the notifier confirmed.

mod dispatch;
mod outbox;
mod rules;
#[cfg(test)]
mod tests;

pub use outbox::Outbox;
pub use rules::{AlertChange, AlertEvent, OpenAlert, Rules};

use crate::config::{AlertRule, AlertsSpec, Config};
use crate::hub::{AlertBoard, Follower, Hub};
use crate::metrics::Metrics;
use crate::notifiers::Sender;
use crate::notifiers::message::{Envelope, Message};
use crate::queue::{Queue, QueueReader};
use crate::shutdown::Shutdown;
use crate::status::{
    AlertNotice, CheckId, CheckStatus, FailingNotifier, Notification, NotificationState,
    NotifierSummary, NotifiersNotice,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Results waiting for the rules, at most: a minute of 500 checks a second.
const QUEUE: usize = 32_768;
/// How long the rules' thread lets results gather once one came, rather
/// than being woken for each (`QueueReader::recv_gathered`): an alert waits at
/// most this much longer, against group windows of seconds.
const GATHER: Duration = Duration::from_millis(50);
/// How often a failed write to the outbox is tried again before the
/// change is given up (and logged): a busy database, a full disk.
const WRITE_TRIES: u32 = 5;

/// The notifiers and group window in force; replaced on each reload.
pub(crate) struct NotifierSetup {
    pub(crate) notifiers: HashMap<String, Arc<Sender>>,
    pub(crate) spec: AlertsSpec,
}

pub(crate) struct Alerts {
    queue: Queue<CheckStatus>,
    rules: Arc<Mutex<Rules>>,
    outbox: Arc<Outbox>,
    delivery: Arc<RwLock<NotifierSetup>>,
    /// Makes the dispatcher read the outbox at once: a delivery ended, the
    /// notifiers were reloaded, a row was written that is due now.
    wake: Arc<Notify>,
    /// When the dispatcher reads the outbox next, as unix ms, unless woken
    /// sooner: when what it read last falls due, or sooner when a new row
    /// may. Reading it four times a second whatever it held cost 5,000
    /// checks with alerts a seventh of Pulse's CPU (docs/benchmarks.md).
    look_at: AtomicU64,
    /// Set by the first `apply`: the dispatcher waits for the notifiers.
    ready: AtomicBool,
    metrics: Arc<Metrics>,
    /// Where each check's alert state and the failing notifiers are told,
    /// for the dashboard.
    board: AlertBoard,
    /// The notifiers whose last delivery failed, by name.
    failing: Mutex<BTreeMap<String, FailingNotifier>>,
    /// When each notifier's last test message was done (`None`: one is
    /// on its way): one at a time, and one per `TEST_SPACING`, whoever asks.
    tested: Mutex<HashMap<String, Option<u64>>>,
}

/// The shortest time between two test messages to one notifier.
const TEST_SPACING: Duration = Duration::from_secs(10);

/// Why a test message did not go out.
#[derive(Debug)]
pub(crate) enum TestError {
    Unknown(String),
    /// One went to it less than `TEST_SPACING` ago.
    TooSoon {
        notifier: String,
        secs: u64,
    },
    NotDelivered {
        notifier: String,
        error: String,
    },
}

impl TestError {
    /// What a script's answer says in its status.
    pub(crate) fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            TestError::Unknown(_) => StatusCode::NOT_FOUND,
            TestError::TooSoon { .. } => StatusCode::TOO_MANY_REQUESTS,
            TestError::NotDelivered { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The log of notifications could not be read (the outbox's database failed).
#[derive(Debug)]
pub(crate) struct LogUnreadable(String);

impl std::fmt::Display for LogUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the notifications could not be read: {}", self.0)
    }
}

/// A read that never finished (its thread panicked) is one that failed.
impl From<tokio::task::JoinError> for LogUnreadable {
    fn from(error: tokio::task::JoinError) -> LogUnreadable {
        LogUnreadable(error.to_string())
    }
}

impl axum::response::IntoResponse for LogUnreadable {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        (status, self.to_string()).into_response()
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Unknown(name) => write!(f, "No notifier is named `{name}`."),
            TestError::TooSoon { notifier, secs } => write!(
                f,
                "A test message went to `{notifier}` moments ago; try again in {secs} s."
            ),
            TestError::NotDelivered { notifier, error } => {
                write!(f, "`{notifier}` did not take the test message: {error}")
            }
        }
    }
}

/// `GET /api/alerts`: each check's alert, the notifiers, the recent messages.
#[derive(Serialize)]
pub(crate) struct AlertsReport {
    pub(crate) checks: Vec<AlertNotice>,
    pub(crate) notifiers: Vec<NotifierSummary>,
    pub(crate) recent: Vec<Notification>,
}

impl Follower for Alerts {
    /// Offers a result to the rules; never blocks.
    fn offer(&self, status: &CheckStatus) {
        if !self.queue.offer(status.clone()) {
            self.metrics.alert_results_dropped.inc();
        }
    }

    /// At shutdown: no more results are taken.
    fn close(&self) {
        self.queue.close();
    }
}

impl Alerts {
    /// Starts the rules' thread and the dispatcher over `outbox`, from the
    /// alerts that were open when Pulse last stopped.
    pub(crate) fn start(
        outbox: Outbox,
        hub: &Arc<Hub>,
        shutdown: Shutdown,
    ) -> Result<Arc<Alerts>, String> {
        let outbox = Arc::new(outbox);
        let metrics = hub.metrics().clone();
        let open = outbox
            .open_alerts()
            .map_err(|e| format!("reading the open alerts: {e}"))?;
        let failing = outbox
            .log(1_000)
            .map(|log| failing_in(&log))
            .map_err(|e| format!("reading the notifications: {e}"))?;
        metrics.alerts_firing.set(open.len() as i64);
        let (queue, results) = Queue::new(QUEUE);
        let alerts = Arc::new(Alerts {
            queue,
            rules: Arc::new(Mutex::new(Rules::new(open))),
            outbox,
            delivery: Arc::new(RwLock::new(NotifierSetup {
                notifiers: HashMap::new(),
                spec: AlertsSpec::default(),
            })),
            wake: Arc::new(Notify::new()),
            look_at: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            metrics,
            board: hub.alert_board(),
            failing: Mutex::new(failing),
            tested: Mutex::new(HashMap::new()),
        });
        let judge = alerts.clone();
        std::thread::Builder::new()
            .name("pulse-alerts".into())
            .spawn(move || judge.judge_forever(results))
            .map_err(|e| format!("starting the alerts thread: {e}"))?;
        tokio::spawn(dispatch::run(alerts.clone(), shutdown));
        Ok(alerts)
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Puts a config's alert rules and notifiers in force. Every check
    /// keeps its state: an open alert is neither fired again nor forgotten.
    pub(crate) fn apply(&self, config: &Config) {
        let rules: HashMap<CheckId, AlertRule> = config
            .checks
            .iter()
            .map(|c| (c.id.clone(), c.alert.clone()))
            .collect();
        self.apply_rules(rules, config.alerts.clone(), &config.secrets);
    }

    /// The embedded default: its checks alert nobody (there is no notifier).
    pub(crate) fn apply_default(&self, checks: &[CheckId]) {
        let rules = checks
            .iter()
            .map(|id| (id.clone(), AlertRule::default()))
            .collect();
        self.apply_rules(rules, AlertsSpec::default(), &[]);
    }

    fn apply_rules(
        &self,
        rules: HashMap<CheckId, AlertRule>,
        spec: AlertsSpec,
        secrets: &[String],
    ) {
        let names: Vec<String> = spec.notifiers.iter().map(|n| n.name.clone()).collect();
        let notifiers = spec
            .notifiers
            .iter()
            .map(|n| {
                let notifier = Sender::new(n.notifier.clone(), secrets);
                (n.name.clone(), Arc::new(notifier))
            })
            .collect();
        *self.delivery.write().unwrap_or_else(|p| p.into_inner()) =
            NotifierSetup { notifiers, spec };
        let closed = {
            let mut judged = self.lock_rules();
            let closed = judged.set_rules(rules);
            self.tell_alerts(judged.all_news());
            closed
        };
        self.forget_failing_except(&names);
        if !closed.is_empty() {
            tracing::info!(checks = ?closed, "alerts of checks no longer configured are closed");
            if let Err(error) = self.outbox.close(&closed) {
                tracing::error!(%error, "could not close the alerts of removed checks");
            }
            self.count_firing();
        }
        self.ready.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The dispatcher is to read the outbox by `at_ms` at the latest.
    fn look_by(&self, at_ms: u64) {
        self.look_at.fetch_min(at_ms, Ordering::SeqCst);
    }

    /// Whether the outbox is due a read by now.
    fn is_due(&self, now_ms: u64) -> bool {
        self.look_at.load(Ordering::SeqCst) <= now_ms
    }

    /// The dispatcher is about to read the outbox: what is written from
    /// now on sets the next time again.
    fn looked(&self) {
        self.look_at.store(u64::MAX, Ordering::SeqCst);
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn judge_forever(&self, results: QueueReader<CheckStatus>) {
        let gathered = std::iter::from_fn(|| results.recv_gathered(Duration::MAX, GATHER).ok());
        for status in gathered.flatten() {
            let (before, happened) = {
                let mut rules = self.lock_rules();
                (rules.open_of(&status.id), rules.observe(&status))
            };
            if let Some(happened) = happened
                && !self.keep(&happened)
            {
                // Not kept, so not told: the rules go back to what the
                // database says, and the next result tries again.
                self.lock_rules().restore_open(&status.id, before);
            }
            // Told under the rules' lock, so that a reload's news and a
            // result's reach the hub in the order they were made.
            let mut rules = self.lock_rules();
            let news = rules.news(&status.id);
            self.tell_alerts(news);
        }
    }

    /// Writes what happened, trying again a few times; `false` if it could
    /// not be written.
    fn keep(&self, happened: &AlertChange) -> bool {
        for attempt in 1..=WRITE_TRIES {
            let now = crate::clock::unix_millis();
            match self.outbox.record(happened, now) {
                Ok(()) => {
                    tracing::info!(check = %happened.check, event = happened.event.as_str(), notifiers = ?happened.notify, "alert");
                    self.count_firing();
                    self.new_rows_wait(happened.notify.len(), now);
                    return true;
                }
                Err(error) if attempt == WRITE_TRIES => {
                    tracing::error!(check = %happened.check, %error, "could not keep an alert; the next result tries again");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200 * u64::from(attempt))),
            }
        }
        false
    }

    /// Rows were written at `now_ms`: the earliest they can go is a group
    /// window later (at once without one).
    fn new_rows_wait(&self, rows: usize, now_ms: u64) {
        if rows == 0 {
            return;
        }
        self.metrics.outbox_waiting.inc_by(rows as i64);
        let window = self
            .delivery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .spec
            .group_window;
        self.look_by(now_ms.saturating_add(window.as_millis() as u64));
        if window.is_zero() {
            self.wake.notify_one();
        }
    }

    /// The alerts firing for the checks configured here (a shared outbox
    /// also holds the others').
    fn count_firing(&self) {
        if let Ok(open) = self.outbox.open_checks() {
            let rules = self.lock_rules();
            let firing = open.iter().filter(|id| rules.is_configured(id));
            self.metrics.alerts_firing.set(firing.count() as i64);
        }
    }

    /// Tells the dashboard where these alerts stand now. Called with the
    /// rules locked (the hub, under its own lock, never takes it).
    fn tell_alerts(&self, news: impl IntoIterator<Item = AlertNotice>) {
        news.into_iter()
            .for_each(|notice| self.board.tell_alert(notice));
    }

    /// A delivery to `notifier` went through: it is not failing (any more).
    fn delivered(&self, notifier: &str) {
        let mut failing = self.lock_failing();
        if failing.remove(notifier).is_some() {
            self.tell_failing(&failing);
        }
    }

    /// A delivery to `notifier` failed with `error` (redacted) at `now`.
    fn failed(&self, notifier: &str, error: &str, now: u64) {
        let mut failing = self.lock_failing();
        let entry = failing
            .entry(notifier.to_owned())
            .or_insert_with(|| FailingNotifier {
                name: notifier.to_owned(),
                error: String::new(),
                since_ms: now,
            });
        if entry.error != error {
            entry.error = error.to_owned();
            self.tell_failing(&failing);
        }
    }

    /// After a reload: a notifier no longer configured is not failing.
    fn forget_failing_except(&self, configured: &[String]) {
        let mut failing = self.lock_failing();
        let before = failing.len();
        failing.retain(|name, _| configured.contains(name));
        // Told at least once, so the dashboard learns what was failing
        // when Pulse last stopped.
        if failing.len() != before || !self.is_ready() {
            self.tell_failing(&failing);
        }
    }

    fn lock_failing(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FailingNotifier>> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the dashboard the failing notifiers. Called with them locked,
    /// so that two deliveries' news reach the hub in the order they were made.
    fn tell_failing(&self, failing: &BTreeMap<String, FailingNotifier>) {
        let failing = failing.values().cloned().collect();
        self.board.tell_notifiers(NotifiersNotice { failing });
    }

    /// Sends `notifier` a test message asked for by `who`, now, outside
    /// the outbox (it tells no alert and is not retried); or why not, with
    /// the notifier's error redacted.
    pub(crate) async fn send_test(&self, notifier: &str, who: &str) -> Result<String, TestError> {
        let found = self
            .delivery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .notifiers
            .get(notifier)
            .cloned();
        let Some(found) = found else {
            return Err(TestError::Unknown(notifier.to_owned()));
        };
        let now = crate::clock::unix_millis();
        {
            let mut tested = self.tested.lock().unwrap_or_else(|p| p.into_inner());
            let wait = match tested.get(notifier).copied() {
                None => 0,
                // On its way: as long as a send may take.
                Some(None) => 20_000,
                Some(Some(done)) => (done + TEST_SPACING.as_millis() as u64).saturating_sub(now),
            };
            if wait > 0 {
                return Err(TestError::TooSoon {
                    notifier: notifier.to_owned(),
                    secs: wait.div_ceil(1000),
                });
            }
            tested.insert(notifier.to_owned(), None);
        }
        let message = Message::test(self.outbox.test_message_id(now), who);
        let sent = found.send(&Envelope::seal(message)).await;
        self.tested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(notifier.to_owned(), Some(crate::clock::unix_millis()));
        match sent {
            Ok(()) => {
                tracing::info!(notifier, who, "test message sent");
                // It works now: the banner would say otherwise until the
                // next retry of what waits for it.
                self.delivered(notifier);
                Ok(format!("A test message was sent to `{notifier}`."))
            }
            Err(error) => {
                tracing::warn!(notifier, who, error = %error.text, "test message not delivered");
                Err(TestError::NotDelivered {
                    notifier: notifier.to_owned(),
                    error: error.text,
                })
            }
        }
    }

    /// Where each of `ids` stands.
    pub(crate) fn states(&self, ids: &[CheckId]) -> Vec<AlertNotice> {
        let rules = self.lock_rules();
        ids.iter()
            .map(|id| AlertNotice {
                id: id.clone(),
                state: rules.state_of(id),
            })
            .collect()
    }

    /// Everything `GET /api/alerts` shows, for the checks `ids` (in order).
    /// Blocking (it reads the outbox): call it off the runtime.
    pub(crate) fn report(&self, ids: &[CheckId]) -> Result<AlertsReport, LogUnreadable> {
        let recent = self.recent(100)?;
        Ok(AlertsReport {
            checks: self.states(ids),
            notifiers: self.notifiers(),
            recent,
        })
    }

    /// The newest `limit` notifications. Blocking (it reads the outbox).
    pub(crate) fn recent(&self, limit: usize) -> Result<Vec<Notification>, LogUnreadable> {
        self.outbox
            .log(limit)
            .map_err(|e| LogUnreadable(e.to_string()))
    }

    /// The configured notifiers, and which are failing.
    pub(crate) fn notifiers(&self) -> Vec<NotifierSummary> {
        let failing = self.lock_failing();
        let delivery = self.delivery.read().unwrap_or_else(|p| p.into_inner());
        delivery
            .spec
            .notifiers
            .iter()
            .map(|n| NotifierSummary {
                name: n.name.clone(),
                kind: n.notifier.kind().to_owned(),
                failing: failing.get(&n.name).map(|f| f.error.clone()),
            })
            .collect()
    }
}

/// The notifiers failing as of a log of notifications (newest first): those
/// whose newest tried row was not sent, failing since the oldest row tried
/// and not sent after their last sent one (as far as the log goes). What
/// the dashboard shows after a restart, until the next delivery to each.
fn failing_in(log: &[Notification]) -> BTreeMap<String, FailingNotifier> {
    let mut settled = std::collections::HashSet::new();
    let mut failing: BTreeMap<String, FailingNotifier> = BTreeMap::new();
    for row in log
        .iter()
        .filter(|r| r.outcome != NotificationState::Waiting)
    {
        if settled.contains(row.notifier.as_str()) {
            continue;
        }
        if row.outcome == NotificationState::Sent {
            settled.insert(row.notifier.as_str());
            continue;
        }
        let Some(error) = &row.last_error else {
            continue;
        };
        failing
            .entry(row.notifier.clone())
            .and_modify(|f| f.since_ms = f.since_ms.min(row.created_ms))
            .or_insert_with(|| FailingNotifier {
                name: row.notifier.clone(),
                error: error.clone(),
                since_ms: row.created_ms,
            });
    }
    failing
}
