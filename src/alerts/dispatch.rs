//! The dispatcher: reads what waits in the outbox, groups it per notifier
//! within the group window, sends each message, and marks it sent once the
//! notifier confirmed. A failed message is tried again with backoff, as the
//! same message (same id, same alerts), until it is sent or expires. One
//! message at a time per notifier, in order, so "resolved" never overtakes
//! "down"; notifiers never wait for each other.

use super::Alerts;
use super::outbox::AlertRecord;
use super::outbox::Waiting;
use crate::metrics::NotifierLabel;
use crate::notifiers::SendError;
use crate::notifiers::message::{AlertEntry, CheckRef, Envelope, HeldCheck, Message};
use crate::shutdown::Shutdown;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the dispatcher asks itself whether the outbox is due a look:
/// the finest grain of group windows and retry times. A shared outbox (a
/// cluster's) is read at every tick, as other replicas write to it.
const TICK: Duration = Duration::from_millis(250);
/// A message not delivered within this is given up, and counted.
pub(crate) const EXPIRES_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Sent and expired rows are kept this long, for the log.
const KEPT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
const FIRST_RETRY: Duration = Duration::from_secs(2);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// The most alerts in one message; more wait for the next one. Keeps a
/// storm's message within what chat services and mail clients take.
pub(crate) const MOST_PER_MESSAGE: usize = 100;
/// How often writing down a delivery's outcome is tried before it is kept
/// in memory only (and tried again on every pass).
const MARK_TRIES: u32 = 5;

/// What to do with some waiting rows of one notifier.
#[derive(Debug, PartialEq)]
pub(crate) enum Plan {
    /// Send these rows as one message: `message` is its id once it was
    /// tried before, `None` for a new one.
    Send {
        notifier: String,
        message: Option<i64>,
        rows: Vec<Waiting>,
    },
    /// Give these rows up, with why.
    Expire {
        notifier: String,
        rows: Vec<i64>,
        why: String,
    },
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// What is due now, per notifier: rows a day old are given up; then the
/// oldest message tried before goes again, once its retry time came
/// (nothing overtakes it); else the new rows go as one message, once the
/// oldest is a group window old. Rows of a notifier not (or no longer)
/// configured wait, in case it comes back under that name, until they
/// expire.
pub(crate) fn plan(
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
        let expires = EXPIRES_AFTER.as_millis() as u64;
        let (old, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r.created_ms + expires <= now_ms);
        if !old.is_empty() {
            let why = match is_configured(&notifier) {
                true => format!(
                    "not delivered within {}",
                    humantime::format_duration(EXPIRES_AFTER)
                ),
                false => format!("the notifier `{notifier}` is not in the config"),
            };
            plans.push(Plan::Expire {
                notifier: notifier.clone(),
                rows: old.iter().map(|r| r.id).collect(),
                why,
            });
        }
        if !is_configured(&notifier) {
            continue;
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
            let rows = fresh.into_iter().take(MOST_PER_MESSAGE).collect();
            plans.push(Plan::Send {
                notifier,
                message: None,
                rows,
            });
        }
    }
    plans
}

/// When `plan` would next find something due for each notifier in these
/// rows, if nothing else changed (no row added, no delivery ended, no
/// reload), as unix ms: its oldest row's expiry, or sooner its first
/// message's retry time or its fresh group's window, as `plan` sees them.
pub(crate) fn due_times(
    waiting: &[Waiting],
    is_configured: &dyn Fn(&str) -> bool,
    window: Duration,
) -> HashMap<String, u64> {
    #[derive(Default)]
    struct Seen {
        oldest_ms: u64,
        /// The first message tried, and the last retry time of its rows.
        first_message: Option<(i64, u64)>,
        first_fresh_ms: Option<u64>,
    }
    let mut by_notifier: HashMap<&str, Seen> = HashMap::new();
    for row in waiting {
        let seen = by_notifier.entry(row.notifier.as_str()).or_insert(Seen {
            oldest_ms: row.created_ms,
            ..Seen::default()
        });
        seen.oldest_ms = seen.oldest_ms.min(row.created_ms);
        match (row.message, seen.first_message) {
            (Some(message), Some((first, retry_ms))) if message == first => {
                seen.first_message = Some((first, retry_ms.max(row.next_try_ms)));
            }
            (Some(message), Some((first, _))) if message > first => {}
            (Some(message), _) => seen.first_message = Some((message, row.next_try_ms)),
            // `plan` times a group by its first row as read (by id).
            (None, _) => _ = seen.first_fresh_ms.get_or_insert(row.created_ms),
        }
    }
    let (expires, window) = (EXPIRES_AFTER.as_millis() as u64, window.as_millis() as u64);
    by_notifier
        .into_iter()
        .map(|(notifier, seen)| {
            let expiry = seen.oldest_ms.saturating_add(expires);
            let send = match (
                is_configured(notifier),
                seen.first_message,
                seen.first_fresh_ms,
            ) {
                (false, ..) => u64::MAX,
                (true, Some((_, retry_ms)), _) => retry_ms,
                (true, None, Some(fresh_ms)) => fresh_ms.saturating_add(window),
                (true, None, None) => u64::MAX,
            };
            (notifier.to_string(), expiry.min(send))
        })
        .collect()
}

/// After `attempts` failed tries: 2 s, 4 s, 8 s, … up to 5 minutes.
pub(crate) fn backoff(attempts: u32) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.min(LONGEST_RETRY)
}

/// The notifiers with a delivery in flight. A notifier is taken out again
/// when its delivery ends, even by a panic.
#[derive(Clone, Default)]
struct Busy(Arc<Mutex<HashSet<String>>>);

/// A notifier marked busy, until this is dropped.
struct BusyGuard {
    busy: Busy,
    notifier: String,
}

impl Busy {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, notifier: &str) -> Option<BusyGuard> {
        self.lock().insert(notifier.to_string()).then(|| BusyGuard {
            busy: self.clone(),
            notifier: notifier.to_string(),
        })
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.lock().remove(&self.notifier);
    }
}

/// Messages a notifier took whose "sent" could not be written yet: never
/// sent again, and written down as soon as the database lets us.
#[derive(Default)]
struct Unmarked(Mutex<Vec<(i64, u64)>>);

impl Unmarked {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i64, u64)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) async fn run(alerts: Arc<Alerts>, shutdown: Shutdown) {
    let busy = Busy::default();
    let unmarked = Arc::new(Unmarked::default());
    let mut pruned_ms = 0;
    // A look is forced by a wake (a delivery ended, a reload, a row due at
    // once) and by the first pass; otherwise the outbox is read only when
    // what was read last falls due or a new row may have (`Alerts::look_by`).
    let mut forced = true;
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = alerts.wake.notified() => forced = true,
            _ = tokio::time::sleep(TICK) => {}
        }
        // Until the config's notifiers are known, every row would look
        // like one of a removed notifier.
        if !alerts.is_ready() {
            continue;
        }
        // Before the lease is asked: a message this replica sent is marked
        // even after another took over sending, so it never sends it again.
        mark_what_was_sent(&alerts, &unmarked).await;
        let now = crate::clock::unix_millis();
        if now >= pruned_ms + 3_600_000 {
            pruned_ms = now;
            let outbox = alerts.outbox.clone();
            let before = now.saturating_sub(KEPT_FOR.as_millis() as u64);
            let _ = tokio::task::spawn_blocking(move || outbox.prune(before)).await;
        }
        // In a cluster, one replica sends; the others only judge. One node
        // needs no trip to the blocking pool for that, four times a second.
        if alerts.outbox.is_shared() {
            let outbox = alerts.outbox.clone();
            let may = tokio::task::spawn_blocking(move || outbox.may_dispatch()).await;
            if !may.unwrap_or(false) {
                continue;
            }
            forced = true;
        }
        if !std::mem::take(&mut forced) && !alerts.is_due(now) {
            continue;
        }
        // Cleared before the read: a row written from here on lowers it
        // again, one written before is in what is read.
        alerts.looked();
        // Taken before the outbox is read: a notifier busy then may have
        // marked rows since, so what was read of it is stale. One not busy
        // then has nothing in flight, and only this loop starts a delivery.
        let busy_before = busy.lock().clone();
        let outbox = alerts.outbox.clone();
        let waiting = match tokio::task::spawn_blocking(move || outbox.waiting()).await {
            Ok(Ok(waiting)) => waiting,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the alerts outbox");
                forced = true;
                continue;
            }
            Err(_) => {
                forced = true;
                continue;
            }
        };
        let sent_already: HashSet<i64> = unmarked.lock().iter().map(|(m, _)| *m).collect();
        let waiting: Vec<Waiting> = waiting
            .into_iter()
            .filter(|r| r.message.is_none_or(|m| !sent_already.contains(&m)))
            .collect();
        alerts.metrics.outbox_waiting.set(waiting.len() as i64);
        let (window, configured): (Duration, HashSet<String>) = {
            let delivery = alerts.delivery.read().unwrap_or_else(|p| p.into_inner());
            let names = delivery.notifiers.keys().cloned().collect();
            (delivery.spec.group_window, names)
        };
        let is_configured = |n: &str| configured.contains(n);
        let due = due_times(&waiting, &is_configured, window);
        for plan in plan(waiting, &is_configured, window, now) {
            let notifier = match &plan {
                Plan::Send { notifier, .. } | Plan::Expire { notifier, .. } => notifier.clone(),
            };
            if busy_before.contains(&notifier) {
                continue;
            }
            match plan {
                Plan::Expire { rows, why, .. } => {
                    expire(&alerts, rows, why, now).await;
                    // What the expired rows held back may be due now.
                    forced = true;
                }
                Plan::Send { message, rows, .. } => {
                    let Some(taken) = busy.take(&notifier) else {
                        continue;
                    };
                    let (alerts, unmarked) = (alerts.clone(), unmarked.clone());
                    tokio::spawn(async move {
                        deliver(&alerts, &notifier, message, rows, &unmarked).await;
                        drop(taken);
                        alerts.wake.notify_one();
                    });
                }
            }
        }
        // A notifier busy now wakes this loop when its delivery ends; the
        // others' rows fall due at the times read.
        let busy_now = busy.lock().clone();
        let next = due.into_iter().filter(|(n, _)| !busy_now.contains(n));
        alerts.look_by(next.map(|(_, at)| at).min().unwrap_or(u64::MAX));
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

/// Tries to write down the messages that were sent but not yet marked.
async fn mark_what_was_sent(alerts: &Alerts, unmarked: &Unmarked) {
    let pending: Vec<(i64, u64)> = unmarked.lock().clone();
    for (message, at) in pending {
        let outbox = alerts.outbox.clone();
        let marked = tokio::task::spawn_blocking(move || outbox.mark_sent(message, at)).await;
        if matches!(marked, Ok(Ok(()))) {
            unmarked.lock().retain(|(m, _)| *m != message);
        }
    }
}

/// Runs a write to the outbox off the runtime, a few times if it fails (a
/// busy or full database); `false` if it never went through.
async fn write_down(
    alerts: &Alerts,
    what: &'static str,
    write: impl Fn(&super::Outbox) -> crate::history::Result<()> + Send + Sync + 'static,
) -> bool {
    let write = Arc::new(write);
    for attempt in 1..=MARK_TRIES {
        let (outbox, write) = (alerts.outbox.clone(), write.clone());
        match tokio::task::spawn_blocking(move || write(&outbox)).await {
            Ok(Ok(())) => return true,
            Ok(Err(error)) => tracing::warn!(%error, attempt, "cannot write down {what}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
    }
    false
}

/// Sends one message and writes down how it went.
async fn deliver(
    alerts: &Alerts,
    notifier_name: &str,
    message: Option<i64>,
    rows: Vec<Waiting>,
    unmarked: &Unmarked,
) {
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
    let tried_before = message.is_some();
    let message = message.unwrap_or_else(|| first_row(&rows));
    let envelope = match envelope_of(alerts, message, &rows, tried_before).await {
        Ok(Some(envelope)) => envelope,
        Ok(None) => return,
        Err(unreadable) => {
            let message_id = alerts.outbox.message_id(message);
            tracing::error!(notifier = notifier_name, message = %message_id, %unreadable, "alert message given up");
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            expire(alerts, ids, unreadable, crate::clock::unix_millis()).await;
            return;
        }
    };
    let message_id = &envelope.message.message_id;
    let label = NotifierLabel {
        notifier: notifier_name.to_string(),
    };
    let outcome = notifier.send(&envelope).await;
    let now = crate::clock::unix_millis();
    match outcome {
        Ok(()) => {
            tracing::info!(notifier = notifier_name, message = %message_id, alerts = rows.len(), "alert message sent");
            alerts.delivered(notifier_name);
            alerts
                .metrics
                .notifications_sent
                .get_or_create(&label)
                .inc();
            let marked = write_down(alerts, "a sent message", move |o| o.mark_sent(message, now));
            if !marked.await {
                unmarked.lock().push((message, now));
            }
        }
        Err(SendError {
            text: error,
            permanent,
        }) => {
            alerts
                .metrics
                .notifications_failed
                .get_or_create(&label)
                .inc();
            alerts.failed(notifier_name, &error, now);
            if permanent {
                tracing::error!(notifier = notifier_name, message = %message_id, %error, "alert message refused; not trying it again");
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let why = format!("refused: {error}");
                expire(alerts, ids, why, now).await;
                return;
            }
            let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
            let next = now + backoff(attempts).as_millis() as u64;
            tracing::warn!(notifier = notifier_name, message = %message_id, attempts, %error, "alert message not delivered; will try again");
            write_down(alerts, "a failed delivery", move |o| {
                o.mark_failed(message, &error, next)
            })
            .await;
        }
    }
}

/// A new message is named by its first row.
fn first_row(rows: &[Waiting]) -> i64 {
    rows.iter().map(|r| r.id).min().expect("a message has rows")
}

/// The message `rows` go out as: the one kept for `message` when it was
/// formed, or else (new rows, or rows a Pulse that kept no bodies put in
/// it) one composed now and kept with the rows in one transaction, so
/// every later try sends the same. `Ok(None)` when the outbox could not
/// be read or written (the next pass tries again); `Err` when what it
/// kept is no message.
async fn envelope_of(
    alerts: &Alerts,
    message: i64,
    rows: &[Waiting],
    tried_before: bool,
) -> Result<Option<Envelope>, String> {
    let outbox = alerts.outbox.clone();
    if tried_before {
        match tokio::task::spawn_blocking(move || outbox.body(message)).await {
            Ok(Ok(Some(kept))) => return Envelope::open(kept).map(Some),
            Ok(Ok(None)) => {}
            _ => return Ok(None),
        }
    }
    let composed = Envelope::seal(compose(alerts, message, rows));
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let (outbox, body) = (alerts.outbox.clone(), composed.json.clone());
    match tokio::task::spawn_blocking(move || outbox.assign(message, &ids, &body)).await {
        Ok(Ok(kept)) if kept == composed.json => Ok(Some(composed)),
        Ok(Ok(kept)) => Envelope::open(kept).map(Some),
        _ => Ok(None),
    }
}

/// The message for `rows`, each alert with the checks it holds (for an
/// alert that is failing; a resolution holds nothing). Called once per
/// message, when it is formed: what it says is then fixed.
fn compose(alerts: &Alerts, message: i64, rows: &[Waiting]) -> Message {
    let public_url = alerts
        .delivery
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .spec
        .public_url
        .clone();
    let rules = alerts.lock_rules();
    let entries = rows
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
            entry_of(row.alert.clone(), public_url.as_ref(), held)
        })
        .collect();
    Message::new(alerts.outbox.message_id(message), entries)
}

/// Builds what a message says of one record.
pub(super) fn entry_of(
    record: AlertRecord,
    public_url: Option<&reqwest::Url>,
    held: Vec<HeldCheck>,
) -> AlertEntry {
    let url = public_url.and_then(|base| base.join(&format!("checks/{}", record.check.0)).ok());
    AlertEntry {
        event: record.event,
        check: CheckRef {
            id: record.check,
            name: record.name,
            group: record.group,
        },
        health: record.health,
        detail: record.detail,
        since_ms: record.since_ms,
        at_ms: record.at_ms,
        url: url.map(String::from),
        held,
    }
}
