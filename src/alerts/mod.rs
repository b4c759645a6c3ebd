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
mod mail;
mod message;
mod notifiers;
mod outbox;
mod rules;
#[cfg(test)]
mod tests;

pub use message::Message;
pub use notifiers::signature;
pub use outbox::{Logged, Outbox};
pub use rules::{Event, Happened, OpenAlert, Rules};

use crate::config::{AlertRule, AlertsSpec, Config};
use crate::metrics::Metrics;
use crate::queue::Offered;
use crate::shutdown::Shutdown;
use crate::status::{AlertState, CheckId, CheckStatus};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Results waiting for the rules, at most: a minute of 500 checks a second.
const QUEUE: usize = 32_768;
/// How often a failed write to the outbox is tried again before the
/// change is given up (and logged): a busy database, a full disk.
const WRITE_TRIES: u32 = 5;

/// The notifiers and group window in force; replaced on each reload.
pub struct Delivery {
    pub notifiers: HashMap<String, Arc<notifiers::Notifier>>,
    pub spec: AlertsSpec,
}

pub struct Alerts {
    queue: Offered<CheckStatus>,
    rules: Arc<Mutex<Rules>>,
    outbox: Arc<Outbox>,
    delivery: Arc<RwLock<Delivery>>,
    /// Wakes the dispatcher when a row was written.
    wake: Arc<Notify>,
    /// Set by the first `apply`: the dispatcher waits for the notifiers.
    ready: AtomicBool,
    metrics: Arc<Metrics>,
}

/// `GET /api/alerts`: each check's alert, the notifiers, the recent messages.
#[derive(Serialize)]
pub struct AlertsReport {
    pub checks: Vec<CheckAlert>,
    pub notifiers: Vec<NotifierReport>,
    pub recent: Vec<Logged>,
}

#[derive(Serialize)]
pub struct CheckAlert {
    pub id: CheckId,
    #[serde(flatten)]
    pub state: AlertState,
}

#[derive(Serialize)]
pub struct NotifierReport {
    pub name: String,
    pub kind: &'static str,
    /// The last delivery's error, while it is failing.
    pub failing: Option<String>,
}

impl Alerts {
    /// Starts the rules' thread and the dispatcher over `outbox`, from the
    /// alerts that were open when Pulse last stopped.
    pub fn start(
        outbox: Outbox,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
    ) -> Result<Arc<Alerts>, String> {
        let outbox = Arc::new(outbox);
        let open = outbox
            .open_alerts()
            .map_err(|e| format!("reading the open alerts: {e}"))?;
        metrics.alerts_firing.set(open.len() as i64);
        let (queue, results) = Offered::new(QUEUE);
        let alerts = Arc::new(Alerts {
            queue,
            rules: Arc::new(Mutex::new(Rules::new(open))),
            outbox,
            delivery: Arc::new(RwLock::new(Delivery {
                notifiers: HashMap::new(),
                spec: AlertsSpec::default(),
            })),
            wake: Arc::new(Notify::new()),
            ready: AtomicBool::new(false),
            metrics,
        });
        let judge = alerts.clone();
        std::thread::Builder::new()
            .name("pulse-alerts".into())
            .spawn(move || judge.judge_forever(results))
            .map_err(|e| format!("starting the alerts thread: {e}"))?;
        tokio::spawn(dispatch::run(alerts.clone(), shutdown));
        Ok(alerts)
    }

    /// Offers a result to the rules; never blocks.
    pub fn offer(&self, status: &CheckStatus) {
        if !self.queue.offer(status.clone()) {
            self.metrics.alert_results_dropped.inc();
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Puts a config's alert rules and notifiers in force. Every check
    /// keeps its state: an open alert is neither fired again nor forgotten.
    pub fn apply(&self, config: &Config) {
        let rules: HashMap<CheckId, AlertRule> = config
            .checks
            .iter()
            .map(|c| (c.id.clone(), c.alert.clone()))
            .collect();
        self.apply_rules(rules, config.alerts.clone(), &config.secrets);
    }

    /// The embedded default: its checks alert nobody (there is no notifier).
    pub fn apply_default(&self, checks: &[CheckId]) {
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
        let notifiers = spec
            .notifiers
            .iter()
            .map(|n| {
                let notifier = notifiers::Notifier::new(n.clone(), secrets);
                (n.name.clone(), Arc::new(notifier))
            })
            .collect();
        *self.delivery.write().unwrap_or_else(|p| p.into_inner()) = Delivery { notifiers, spec };
        let closed = self.lock_rules().set_rules(rules);
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

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// At shutdown: no more results are taken.
    pub fn close(&self) {
        self.queue.close();
    }

    fn judge_forever(&self, results: Receiver<CheckStatus>) {
        while let Ok(status) = results.recv() {
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
        }
    }

    /// Writes what happened, trying again a few times; `false` if it could
    /// not be written.
    fn keep(&self, happened: &Happened) -> bool {
        for attempt in 1..=WRITE_TRIES {
            match self.outbox.record(happened, crate::checks::unix_millis()) {
                Ok(()) => {
                    tracing::info!(check = %happened.check, event = happened.event.as_str(), notifiers = ?happened.notify, "alert");
                    self.count_firing();
                    self.wake.notify_one();
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

    fn count_firing(&self) {
        if let Ok(open) = self.outbox.open_alerts() {
            self.metrics.alerts_firing.set(open.len() as i64);
        }
    }

    /// Where each of `ids` stands.
    pub fn states(&self, ids: &[CheckId]) -> Vec<CheckAlert> {
        let rules = self.lock_rules();
        ids.iter()
            .map(|id| CheckAlert {
                id: id.clone(),
                state: rules.state_of(id),
            })
            .collect()
    }

    /// Everything `GET /api/alerts` shows, for the checks `ids` (in order).
    /// Blocking (it reads the outbox): call it off the runtime.
    pub fn report(&self, ids: &[CheckId]) -> Result<AlertsReport, String> {
        let recent = self.outbox.log(100).map_err(|e| e.to_string())?;
        let delivery = self.delivery.read().unwrap_or_else(|p| p.into_inner());
        let notifiers = delivery
            .spec
            .notifiers
            .iter()
            .map(|n| NotifierReport {
                name: n.name.clone(),
                kind: n.target.kind(),
                // The newest outcome of a delivery to it, not of a row
                // still waiting for its first try.
                failing: recent
                    .iter()
                    .find(|r| r.notifier == n.name && r.outcome != "waiting")
                    .filter(|r| r.outcome != "sent")
                    .and_then(|r| r.last_error.clone()),
            })
            .collect();
        Ok(AlertsReport {
            checks: self.states(ids),
            notifiers,
            recent,
        })
    }
}
