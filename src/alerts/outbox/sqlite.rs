//! The outbox in the SQLite history file of one node.

use super::{AlertRecord, Waiting, notified_from_json, notified_json, outcome_of, record_of};
use crate::alerts::rules::{AlertChange, OpenAlert};
use crate::history::WRITE;
use crate::status::{CheckId, Notification};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Mutex;

pub(crate) struct SqliteOutbox {
    conn: Mutex<Connection>,
}

type Sql<T> = rusqlite::Result<T>;

impl SqliteOutbox {
    /// Over a connection with the schema in place (`history::side_connection`);
    /// with the database's name (see `identity`).
    pub fn new(conn: Connection) -> Result<(SqliteOutbox, String), String> {
        let identity = identity(&conn).map_err(|e| format!("the alerts outbox: {e}"))?;
        let outbox = SqliteOutbox {
            conn: Mutex::new(conn),
        };
        Ok((outbox, identity))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn open_alerts(&self) -> Sql<Vec<(CheckId, OpenAlert)>> {
        let conn = self.conn();
        let mut query =
            conn.prepare("SELECT check_id, since_ms, reminded_ms, notified FROM alerts_open")?;
        let rows = query.query_map([], |row| {
            let notified = notified_from_json(row.get(3)?).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
            })?;
            Ok((
                CheckId(row.get(0)?),
                OpenAlert {
                    since_ms: row.get::<_, i64>(1)? as u64,
                    reminded_ms: row.get::<_, i64>(2)? as u64,
                    notified,
                },
            ))
        })?;
        rows.collect()
    }

    pub(crate) fn open_checks(&self) -> Sql<Vec<CheckId>> {
        let conn = self.conn();
        let mut query = conn.prepare_cached("SELECT check_id FROM alerts_open")?;
        let rows = query.query_map([], |row| Ok(CheckId(row.get(0)?)))?;
        rows.collect()
    }

    pub(crate) fn record(&self, happened: &AlertChange, now_ms: u64) -> Sql<()> {
        let (record, json) = record_of(happened);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(WRITE)?;
        match &happened.open {
            Some(open) => tx.execute(
                "INSERT INTO alerts_open (check_id, since_ms, reminded_ms, notified)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (check_id) DO UPDATE SET since_ms = ?2, reminded_ms = ?3, notified = ?4",
                params![
                    happened.check.0,
                    open.since_ms as i64,
                    open.reminded_ms as i64,
                    notified_json(open)
                ],
            )?,
            None => tx.execute(
                "DELETE FROM alerts_open WHERE check_id = ?1",
                params![happened.check.0],
            )?,
        };
        for notifier in &happened.notify {
            tx.execute(
                "INSERT INTO outbox (notifier, event, check_id, alert, created_ms, next_try_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    notifier,
                    record.event,
                    happened.check.0,
                    json,
                    now_ms as i64
                ],
            )?;
        }
        tx.commit()
    }

    pub(crate) fn close(&self, checks: &[CheckId]) -> Sql<()> {
        let conn = self.conn();
        for id in checks {
            conn.execute("DELETE FROM alerts_open WHERE check_id = ?1", params![id.0])?;
        }
        Ok(())
    }

    pub fn waiting(&self) -> Sql<Vec<Waiting>> {
        let conn = self.conn();
        let mut query = conn.prepare_cached(
            "SELECT id, notifier, alert, created_ms, message, attempts, next_try_ms FROM outbox
             WHERE sent_ms IS NULL AND expired_ms IS NULL ORDER BY notifier, id",
        )?;
        let rows = query.query_map([], |row| {
            let json: String = row.get(2)?;
            let alert = serde_json::from_str(&json).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
            })?;
            Ok(Waiting {
                id: row.get(0)?,
                notifier: row.get(1)?,
                alert,
                created_ms: row.get::<_, i64>(3)? as u64,
                message: row.get(4)?,
                attempts: row.get::<_, i64>(5)? as u32,
                next_try_ms: row.get::<_, i64>(6)? as u64,
            })
        })?;
        rows.collect()
    }

    pub(crate) fn assign(&self, message: i64, rows: &[i64], body: &str) -> Sql<String> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(WRITE)?;
        for id in rows {
            tx.execute(
                "UPDATE outbox SET message = ?1 WHERE id = ?2",
                params![message, id],
            )?;
        }
        tx.execute(
            "INSERT INTO outbox_messages (message, body) VALUES (?1, ?2)
             ON CONFLICT (message) DO NOTHING",
            params![message, body],
        )?;
        let kept = tx.query_row(
            "SELECT body FROM outbox_messages WHERE message = ?1",
            params![message],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok(kept)
    }

    pub(crate) fn body(&self, message: i64) -> Sql<Option<String>> {
        self.conn()
            .query_row(
                "SELECT body FROM outbox_messages WHERE message = ?1",
                params![message],
                |row| row.get(0),
            )
            .optional()
    }

    pub(crate) fn mark_sent(&self, message: i64, now_ms: u64) -> Sql<()> {
        self.conn().execute(
            "UPDATE outbox SET sent_ms = ?2, attempts = attempts + 1, last_error = NULL
             WHERE message = ?1",
            params![message, now_ms as i64],
        )?;
        Ok(())
    }

    pub(crate) fn mark_failed(&self, message: i64, error: &str, next_try_ms: u64) -> Sql<()> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_try_ms = ?3
             WHERE message = ?1",
            params![message, error, next_try_ms as i64],
        )?;
        Ok(())
    }

    pub(crate) fn expire(&self, rows: &[i64], why: &str, now_ms: u64) -> Sql<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(WRITE)?;
        for id in rows {
            tx.execute(
                "UPDATE outbox SET expired_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![id, now_ms as i64, why],
            )?;
        }
        tx.commit()
    }

    pub(crate) fn log(&self, limit: usize) -> Sql<Vec<Notification>> {
        let conn = self.conn();
        let mut query = conn.prepare_cached(
            "SELECT id, notifier, event, check_id, alert, created_ms, attempts, sent_ms,
                    expired_ms, last_error
             FROM outbox ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = query.query_map(params![limit as i64], |row| {
            let alert: String = row.get(4)?;
            let name = serde_json::from_str::<AlertRecord>(&alert)
                .map(|a| a.name)
                .unwrap_or_default();
            let attempts = row.get::<_, i64>(6)? as u32;
            let sent_ms = row.get::<_, Option<i64>>(7)?.map(|t| t as u64);
            let expired = row.get::<_, Option<i64>>(8)?.is_some();
            let outcome = outcome_of(sent_ms.is_some(), expired, attempts);
            Ok(Notification {
                id: row.get(0)?,
                notifier: row.get(1)?,
                event: row.get(2)?,
                check: CheckId(row.get(3)?),
                name,
                created_ms: row.get::<_, i64>(5)? as u64,
                attempts,
                outcome,
                sent_ms,
                last_error: row.get(9)?,
            })
        })?;
        rows.collect()
    }

    pub(crate) fn prune(&self, before_ms: u64) -> Sql<usize> {
        let conn = self.conn();
        let pruned = conn.execute(
            "DELETE FROM outbox WHERE (sent_ms IS NOT NULL OR expired_ms IS NOT NULL)
             AND created_ms < ?1",
            params![before_ms as i64],
        )?;
        conn.execute(
            "DELETE FROM outbox_messages WHERE NOT EXISTS
             (SELECT 1 FROM outbox WHERE outbox.message = outbox_messages.message)",
            [],
        )?;
        Ok(pruned)
    }
}

/// The database's name, made the first time: 8 random bytes in hex.
fn identity(conn: &Connection) -> Result<String, String> {
    let read = || -> Sql<Option<String>> {
        conn.query_row("SELECT name FROM outbox_identity", [], |row| row.get(0))
            .optional()
    };
    if let Some(name) = read().map_err(|e| e.to_string())? {
        return Ok(name);
    }
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| format!("no random source: {e}"))?;
    let name = crate::text::hex(&random);
    conn.execute(
        "INSERT INTO outbox_identity (name) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM outbox_identity)",
        params![name],
    )
    .map_err(|e| e.to_string())?;
    Ok(read().map_err(|e| e.to_string())?.unwrap_or(name))
}
