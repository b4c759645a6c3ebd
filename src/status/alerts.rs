//! What crosses the wire about alerts: each check's alert state (the cards,
//! `GET /api/alerts`), the notifiers that are failing (the dashboard's
//! banner), and the notifications sent (the notifications page).

use super::CheckId;
use serde::{Deserialize, Serialize};

/// Where a check's alert stands (`GET /api/alerts`, and the card's line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum AlertState {
    /// Passing, or failing fewer times in a row than matter.
    Ok,
    /// Failing, `failing` of the `threshold` results in a row it takes.
    Pending { failing: u32, threshold: u32 },
    /// Past its threshold while a check it depends on is failing: told as
    /// part of that check's alert, not on its own.
    Held { by: CheckId },
    /// Fired: failing since `since_ms`, and told.
    Firing { since_ms: u64 },
    /// In a maintenance window until `until_ms`: nothing is told, whatever
    /// its results.
    Maintenance { until_ms: u64 },
}

impl AlertState {
    /// The word a card's `data-alert` carries, for styles and tests.
    pub fn label(&self) -> &'static str {
        match self {
            AlertState::Ok => "ok",
            AlertState::Pending { .. } => "pending",
            AlertState::Held { .. } => "held",
            AlertState::Firing { .. } => "firing",
            AlertState::Maintenance { .. } => "maintenance",
        }
    }
}

/// The payload of the `alert` event (private stream only): where one
/// check's alert stands now. Sent when it changes, not with every result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertNotice {
    pub id: CheckId,
    #[serde(flatten)]
    pub state: AlertState,
}

/// The payload of the `notifiers` event (private stream only): the
/// notifiers whose last delivery failed. Their messages wait in the
/// outbox and are tried again; the dashboard says so until one goes out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifiersNotice {
    pub failing: Vec<FailingNotifier>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingNotifier {
    pub name: String,
    /// The last delivery's error, redacted.
    pub error: String,
    /// The first failure of this run of failures.
    pub since_ms: u64,
}

/// How a notification's delivery went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    Sent,
    /// Not tried yet: within its group window, or its notifier busy.
    Waiting,
    /// Tried and failed; it is tried again after a backoff.
    Retrying,
    /// Given up: refused by the notifier, or too old.
    Expired,
}

impl NotificationState {
    pub fn label(self) -> &'static str {
        match self {
            NotificationState::Sent => "sent",
            NotificationState::Waiting => "waiting",
            NotificationState::Retrying => "retrying",
            NotificationState::Expired => "expired",
        }
    }
}

/// One alert told to one notifier: a row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub notifier: String,
    /// `fired`, `reminder` or `resolved`.
    pub event: String,
    pub check: CheckId,
    pub name: String,
    pub created_ms: u64,
    pub attempts: u32,
    pub outcome: NotificationState,
    pub sent_ms: Option<u64>,
    /// The last delivery's error (redacted), or why it was given up.
    pub last_error: Option<String>,
}

/// A configured notifier, as the notifications page and `GET /api/alerts`
/// show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifierSummary {
    pub name: String,
    /// `webhook`, `slack`, `email`, …
    pub kind: String,
    /// The last delivery's error, while it is failing.
    pub failing: Option<String>,
}

/// What the notifications page is rendered with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsData {
    pub notifiers: Vec<NotifierSummary>,
    /// The newest notifications, newest first.
    pub recent: Vec<Notification>,
    /// The viewer may send test messages (signed in, or a `write` token).
    pub can_test: bool,
}
