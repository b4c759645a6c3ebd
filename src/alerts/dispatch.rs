//! The dispatcher: reads what waits in the outbox, groups it per notifier
//! within the group window, sends each message, and marks it sent once the
//! notifier confirmed. A failed message is tried again with backoff, as the
//! same message (same id, same alerts), until it is sent or expires. One
//! message at a time per notifier, in order, so "resolved" never overtakes
//! "down"; notifiers never wait for each other.

use super::Alerts;
use super::message::{HeldCheck, Message, told};
use super::outbox::Waiting;
use crate::metrics::NotifierLabel;
use crate::shutdown::Shutdown;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the outbox is looked at when nothing woke the dispatcher
/// (to honour group windows and retry times).
const TICK: Duration = Duration::from_millis(250);
/// A message not delivered within this is given up, and counted.
pub const EXPIRES_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Sent and expired rows are kept this long, for the log.
const KEPT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(300);

/// What to do with some waiting rows of one notifier.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Send these rows as one message: `message` is its id once it was
    /// tried before, `None` for a new one.
    Send {
        notifier: String,
        message: Option<i64>,
        rows: Vec<Waiting>,
    },
    /// Give these rows up, with why.
    Expire { rows: Vec<i64>, why: String },
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// What is due now, per notifier: expired rows first, then the oldest
/// message tried before (only once its retry time came: nothing overtakes
/// it), else every new row, once the oldest is a group window old.
pub fn plan(
    waiting: Vec<Waiting>,
    is_configured: &dyn Fn(&str) -> bool,
    window: Duration,
    now_ms: u64,
) -> Vec<Plan> {
    let mut by_notifier: BTreeMap<String, Vec<Waiting>> = BTreeMap::new();
    for row in waiting {
        by_notifier
            .entry(row.notifier.clone())
            .or_default()
            .push(row);
    }
    let mut plans = Vec::new();
    for (notifier, rows) in by_notifier {
        if !is_configured(&notifier) {
            plans.push(Plan::Expire {
                rows: rows.iter().map(|r| r.id).collect(),
                why: format!("the notifier `{notifier}` is no longer in the config"),
            });
            continue;
        }
        let expires = EXPIRES_AFTER.as_millis() as u64;
        let (old, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r.created_ms + expires <= now_ms);
        if !old.is_empty() {
            plans.push(Plan::Expire {
                rows: old.iter().map(|r| r.id).collect(),
                why: format!(
                    "not delivered within {}",
                    humantime::format_duration(EXPIRES_AFTER)
                ),
            });
        }
        let (tried, fresh): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.message.is_some());
        if let Some(first) = tried.iter().filter_map(|r| r.message).min() {
            let rows: Vec<Waiting> = tried
                .into_iter()
                .filter(|r| r.message == Some(first))
                .collect();
            if rows.iter().all(|r| r.next_try_ms <= now_ms) {
                plans.push(Plan::Send {
                    notifier,
                    message: Some(first),
                    rows,
                });
            }
            continue;
        }
        let window = window.as_millis() as u64;
        if fresh
            .first()
            .is_some_and(|r| r.created_ms + window <= now_ms)
        {
            plans.push(Plan::Send {
                notifier,
                message: None,
                rows: fresh,
            });
        }
    }
    plans
}

/// After `attempts` failed tries: 2 s, 4 s, 8 s, … up to 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.min(LONGEST_RETRY)
}

pub async fn run(alerts: Arc<Alerts>, shutdown: Shutdown) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut pruned_ms = 0;
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = alerts.wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        // Taken before the outbox is read: a notifier busy then may have
        // marked rows since, so what was read of it is stale. One not busy
        // then has nothing in flight, and only this loop starts a delivery.
        let busy_before: HashSet<String> = busy.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let outbox = alerts.outbox.clone();
        let waiting = match tokio::task::spawn_blocking(move || outbox.waiting()).await {
            Ok(Ok(waiting)) => waiting,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the alerts outbox");
                continue;
            }
            Err(_) => continue,
        };
        alerts.metrics.outbox_waiting.set(waiting.len() as i64);
        let now = crate::checks::unix_millis();
        let (window, configured): (Duration, HashSet<String>) = {
            let delivery = alerts.delivery.read().unwrap_or_else(|p| p.into_inner());
            (
                delivery.spec.group_window,
                delivery.notifiers.keys().cloned().collect(),
            )
        };
        for plan in plan(waiting, &|n| configured.contains(n), window, now) {
            match plan {
                Plan::Expire { rows, why } => expire(&alerts, rows, why, now).await,
                Plan::Send {
                    notifier,
                    message,
                    rows,
                } => {
                    if busy_before.contains(&notifier) {
                        continue;
                    }
                    let newly_busy = busy
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(notifier.clone());
                    if newly_busy {
                        let (alerts, busy) = (alerts.clone(), busy.clone());
                        tokio::spawn(async move {
                            deliver(&alerts, &notifier, message, rows).await;
                            busy.lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&notifier);
                            alerts.wake.notify_one();
                        });
                    }
                }
            }
        }
        if now >= pruned_ms + 3_600_000 {
            pruned_ms = now;
            let outbox = alerts.outbox.clone();
            let before = now.saturating_sub(KEPT_FOR.as_millis() as u64);
            let _ = tokio::task::spawn_blocking(move || outbox.prune(before)).await;
        }
    }
}

async fn expire(alerts: &Alerts, rows: Vec<i64>, why: String, now: u64) {
    tracing::error!(rows = rows.len(), %why, "alert messages given up");
    let outbox = alerts.outbox.clone();
    let count = rows.len() as u64;
    let written = tokio::task::spawn_blocking(move || outbox.expire(&rows, &why, now)).await;
    if matches!(written, Ok(Ok(()))) {
        alerts.metrics.notifications_expired.inc_by(count);
    }
}

/// Sends one message and writes down how it went.
async fn deliver(alerts: &Alerts, notifier_name: &str, message: Option<i64>, rows: Vec<Waiting>) {
    let Some(notifier) = alerts
        .delivery
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .notifiers
        .get(notifier_name)
        .cloned()
    else {
        return;
    };
    let outbox = alerts.outbox.clone();
    let message = match message {
        Some(message) => message,
        None => {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            match tokio::task::spawn_blocking(move || outbox.assign(&ids)).await {
                Ok(Ok(message)) => message,
                _ => return,
            }
        }
    };
    let text = compose(alerts, message, &rows);
    let label = NotifierLabel {
        notifier: notifier_name.to_string(),
    };
    let outcome = notifier.send(&text).await;
    let now = crate::checks::unix_millis();
    let outbox = alerts.outbox.clone();
    match outcome {
        Ok(()) => {
            tracing::info!(notifier = notifier_name, message = %text.message_id, alerts = rows.len(), "alert message sent");
            alerts
                .metrics
                .notifications_sent
                .get_or_create(&label)
                .inc();
            let _ = tokio::task::spawn_blocking(move || outbox.mark_sent(message, now)).await;
        }
        Err(error) => {
            let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
            let next = now + backoff(attempts).as_millis() as u64;
            tracing::warn!(notifier = notifier_name, message = %text.message_id, attempts, %error, "alert message not delivered; will try again");
            alerts
                .metrics
                .notifications_failed
                .get_or_create(&label)
                .inc();
            let _ = tokio::task::spawn_blocking(move || outbox.mark_failed(message, &error, next))
                .await;
        }
    }
}

/// The message for `rows`, each alert with the checks it holds (for an
/// alert that is failing; a resolution holds nothing).
fn compose(alerts: &Alerts, message: i64, rows: &[Waiting]) -> Message {
    let public_url = alerts
        .delivery
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .spec
        .public_url
        .clone();
    let rules = alerts.lock_rules();
    let told = rows
        .iter()
        .map(|row| {
            let held = match row.alert.event.as_str() {
                "resolved" => Vec::new(),
                _ => {
                    let mut held: Vec<HeldCheck> = rules
                        .held_by(&row.alert.check)
                        .into_iter()
                        .map(|(id, name)| HeldCheck { id, name })
                        .collect();
                    held.sort_by(|a, b| a.name.cmp(&b.name));
                    held
                }
            };
            told(row.alert.clone(), public_url.as_ref(), held)
        })
        .collect();
    Message::new(message, told)
}
