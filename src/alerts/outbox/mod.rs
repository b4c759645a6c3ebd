//! The outbox: the alerts that are open and the messages still to send, in
//! the history database. An alert's change and the rows of its messages
//! are written in one transaction, and a row is marked sent only once its
//! notifier confirmed it, so a restart at any moment neither loses nor
//! repeats a message. A message's body is kept in the transaction that
//! puts its rows in it, and an open alert keeps who was told of it, so a
//! restart changes neither what a retry says nor whom a resolution
//! tells. Blocking code, called from the rules' thread and from the
//! dispatcher through `spawn_blocking`.
//!
//! One node keeps it in its SQLite file (`sqlite`). The replicas of a
//! cluster share one in Postgres (`postgres`): every replica judges every
//! result of the shared log, the same way, and each event is one row
//! however many replicas write it; one replica at a time sends.

mod postgres;
mod sqlite;

use super::rules::{AlertChange, OpenAlert};
use crate::history::Result;
use crate::status::{CheckId, Health, Notification};
use serde::{Deserialize, Serialize};

/// What one alert event says, kept as JSON in its outbox rows: a message
/// tells what happened, as it was when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertRecord {
    pub(crate) event: String,
    pub(crate) check: CheckId,
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) health: Health,
    pub(crate) detail: String,
    pub(crate) since_ms: u64,
    pub(crate) at_ms: u64,
}

/// A row not yet sent nor given up.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub id: i64,
    pub(crate) notifier: String,
    pub(crate) alert: AlertRecord,
    pub(crate) created_ms: u64,
    /// The message it went in, once it was tried.
    pub(crate) message: Option<i64>,
    pub(crate) attempts: u32,
    pub(crate) next_try_ms: u64,
}

/// What an event's rows keep: the record and its JSON.
fn record_of(happened: &AlertChange) -> (AlertRecord, String) {
    let record = AlertRecord {
        event: happened.event.as_str().into(),
        check: happened.check.clone(),
        name: happened.name.clone(),
        group: happened.group.clone(),
        health: happened.health,
        detail: happened.detail.clone(),
        since_ms: happened.since_ms,
        at_ms: happened.at_ms,
    };
    let json = serde_json::to_string(&record).expect("an alert record serialises");
    (record, json)
}

enum Store {
    Sqlite(sqlite::SqliteOutbox),
    Postgres(postgres::PgOutbox),
}

pub struct Outbox {
    store: Store,
    /// This database's random name, part of every message id.
    identity: String,
}

impl Outbox {
    /// Over a SQLite connection with the schema in place
    /// (`history::side_connection`).
    pub fn new(conn: rusqlite::Connection) -> std::result::Result<Outbox, String> {
        let (outbox, identity) = sqlite::SqliteOutbox::new(conn)?;
        Ok(Outbox {
            store: Store::Sqlite(outbox),
            identity,
        })
    }

    /// In the Postgres a cluster shares its history in, as `replica`.
    pub fn on_postgres(
        history: &crate::history::PgStore,
        replica: String,
    ) -> std::result::Result<Outbox, String> {
        let (outbox, identity) = postgres::PgOutbox::new(history.reader(), replica)?;
        Ok(Outbox {
            store: Store::Postgres(outbox),
            identity,
        })
    }

    /// The id receivers see for the message whose first row is `message`.
    pub(crate) fn message_id(&self, message: i64) -> String {
        format!("pulse-{}-{message}", self.identity)
    }

    /// The id of a test message sent at `at_ms` (not kept in the outbox).
    pub(crate) fn test_message_id(&self, at_ms: u64) -> String {
        format!("pulse-{}-test-{at_ms}", self.identity)
    }

    /// Whether another process may be sending from this outbox (a
    /// cluster's): then `may_dispatch` asks the database, a blocking call.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.store, Store::Postgres(_))
    }

    /// Whether this process sends what waits now: always on one node; in a
    /// cluster, while it holds the dispatcher's lease.
    pub(crate) fn may_dispatch(&self) -> bool {
        match &self.store {
            Store::Sqlite(_) => true,
            Store::Postgres(pg) => pg.may_dispatch(),
        }
    }

    /// The alerts that were open when Pulse last stopped.
    pub fn open_alerts(&self) -> Result<Vec<(CheckId, OpenAlert)>> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.open_alerts()?),
            Store::Postgres(pg) => pg.open_alerts(),
        }
    }

    /// The checks with an open alert: what `open_alerts` says, without
    /// decoding each alert (counted after every alert kept).
    pub(crate) fn open_checks(&self) -> Result<Vec<CheckId>> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.open_checks()?),
            Store::Postgres(pg) => pg.open_checks(),
        }
    }

    /// Keeps what happened: the alert's open state, and one row per
    /// notifier to tell, in one transaction.
    pub fn record(&self, happened: &AlertChange, now_ms: u64) -> Result<()> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.record(happened, now_ms)?),
            Store::Postgres(pg) => pg.record(happened, now_ms),
        }
    }

    /// Forgets the open alerts of checks this process no longer runs. Not
    /// in a Postgres outbox, which every replica of a cluster shares: the
    /// check may be dropped from this replica's config only (a deploy half
    /// done), still failing on the others, and closing its alert there
    /// would fire it a second time. An alert of a check no config has any
    /// more stays open and silent, counted nowhere (`Alerts::count_firing`);
    /// a check configured again goes on from it.
    pub(crate) fn close(&self, checks: &[CheckId]) -> Result<()> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.close(checks)?),
            Store::Postgres(_) => Ok(()),
        }
    }

    /// Every row not yet sent nor given up, oldest first.
    pub fn waiting(&self) -> Result<Vec<Waiting>> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.waiting()?),
            Store::Postgres(pg) => pg.waiting(),
        }
    }

    /// Puts `rows` in `message` (named by its first row) with `body`, the
    /// message composed for them, in one transaction, before its first
    /// try. Returns the body kept, which is an earlier one if the message
    /// had one already: every try sends that.
    pub fn assign(&self, message: i64, rows: &[i64], body: &str) -> Result<String> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.assign(message, rows, body)?),
            Store::Postgres(pg) => pg.assign(message, rows, body),
        }
    }

    /// The body kept for `message`; `None` if it has none (assigned by a
    /// Pulse that kept no bodies).
    pub fn body(&self, message: i64) -> Result<Option<String>> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.body(message)?),
            Store::Postgres(pg) => pg.body(message),
        }
    }

    pub fn mark_sent(&self, message: i64, now_ms: u64) -> Result<()> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.mark_sent(message, now_ms)?),
            Store::Postgres(pg) => pg.mark_sent(message, now_ms),
        }
    }

    pub(crate) fn mark_failed(&self, message: i64, error: &str, next_try_ms: u64) -> Result<()> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.mark_failed(message, error, next_try_ms)?),
            Store::Postgres(pg) => pg.mark_failed(message, error, next_try_ms),
        }
    }

    /// Gives up rows, with why.
    pub(crate) fn expire(&self, rows: &[i64], why: &str, now_ms: u64) -> Result<()> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.expire(rows, why, now_ms)?),
            Store::Postgres(pg) => pg.expire(rows, why, now_ms),
        }
    }

    /// The newest `limit` rows, whatever became of them.
    pub(crate) fn log(&self, limit: usize) -> Result<Vec<Notification>> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.log(limit)?),
            Store::Postgres(pg) => pg.log(limit),
        }
    }

    /// Drops sent and expired rows older than `before_ms`, and the bodies
    /// of messages with no rows left.
    pub fn prune(&self, before_ms: u64) -> Result<usize> {
        match &self.store {
            Store::Sqlite(db) => Ok(db.prune(before_ms)?),
            Store::Postgres(pg) => pg.prune(before_ms),
        }
    }
}

/// An open alert's notifiers as SQLite keeps them: a JSON array.
fn notified_json(open: &OpenAlert) -> Option<String> {
    let notified = open.notified.as_ref()?;
    Some(serde_json::to_string(notified).expect("a list of names serialises"))
}

fn notified_from_json(json: Option<String>) -> serde_json::Result<Option<Vec<String>>> {
    json.map(|json| serde_json::from_str(&json)).transpose()
}

/// What a row's state is, from its columns: the same in both databases.
fn outcome_of(sent: bool, expired: bool, attempts: u32) -> crate::status::NotificationState {
    use crate::status::NotificationState;
    match (sent, expired, attempts) {
        (true, _, _) => NotificationState::Sent,
        (false, true, _) => NotificationState::Expired,
        (false, false, 0) => NotificationState::Waiting,
        (false, false, _) => NotificationState::Retrying,
    }
}
