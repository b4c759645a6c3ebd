//! The outbox a cluster shares, in its history's Postgres.
//!
//! Every replica runs the rules over the same log, so each writes the same
//! events. Each event is kept once: under a lock on the check's
//! `alerts_open` row, an event older than the last one taken is not taken,
//! a firing is taken only if the alert is not open, a resolution only if it
//! is, a reminder only if none was told at or after its time; and
//! `(notifier, check, event, at)` is unique. A replica that
//! joined late and counts its own way therefore cannot fire an alert the
//! others fired already.
//!
//! One replica sends at a time: the one holding the dispatcher's lease,
//! timed by Postgres's clock. A sender frozen mid-send past its lease may
//! send a message the next sender sends again, with the same id (as after a
//! crash between sending and marking): receivers can tell.

use super::{AlertRecord, Waiting, outcome_of, record_of};
use crate::alerts::rules::{AlertChange, AlertEvent, OpenAlert};
use crate::history::{Error, PgStore, Result};
use crate::status::{CheckId, Notification};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_postgres::Row;

/// How long the dispatcher's lease lasts unless renewed.
const LEASE_MS: i64 = 10_000;
/// How often the holder renews it (and others try to take it).
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// Postgres's clock, in Unix milliseconds: one clock for every replica.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

pub(crate) struct PgOutbox {
    db: PgStore,
    /// This replica's name in the lease.
    replica: String,
    /// Whether it held the lease when last asked, and when that was.
    lease: Mutex<Option<(Instant, bool)>>,
}

impl PgOutbox {
    /// Over the cluster's history database (migrated: `PgStore::prepare`);
    /// with the cluster's name for message ids.
    pub fn new(db: PgStore, replica: String) -> std::result::Result<(PgOutbox, String), String> {
        let rows = db.rows("SELECT name FROM outbox_identity", &[]);
        let rows = rows.map_err(|e| format!("the alerts outbox: {e}"))?;
        let identity = rows
            .first()
            .map(|row| row.get::<_, String>(0))
            .ok_or("the alerts outbox: no outbox_identity row")?;
        let outbox = PgOutbox {
            db,
            replica,
            lease: Mutex::new(None),
        };
        Ok((outbox, identity))
    }

    pub(crate) fn may_dispatch(&self) -> bool {
        let mut lease = self.lease.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((asked, held)) = *lease
            && asked.elapsed() < RENEW_EVERY
        {
            return held;
        }
        let held = match self.take_lease() {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "alerts: cannot renew the dispatcher's lease");
                false
            }
        };
        *lease = Some((Instant::now(), held));
        held
    }

    /// Takes or renews the lease: it is this replica's if it held it or
    /// the holder's ran out.
    fn take_lease(&self) -> Result<bool> {
        let sql = format!(
            "INSERT INTO dispatcher_lease (holder, until_ms) VALUES ($1, {NOW_MS} + $2)
             ON CONFLICT (only_row) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE dispatcher_lease.holder = excluded.holder OR dispatcher_lease.until_ms < {NOW_MS}
             RETURNING holder"
        );
        let rows = self.db.rows(&sql, &[&self.replica, &LEASE_MS])?;
        Ok(!rows.is_empty())
    }

    pub(crate) fn open_alerts(&self) -> Result<Vec<(CheckId, OpenAlert)>> {
        let rows = self.db.rows(
            "SELECT check_id, since_ms, reminded_ms, notified FROM alerts_open WHERE open",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                let open = OpenAlert {
                    since_ms: row.get::<_, i64>(1) as u64,
                    reminded_ms: row.get::<_, i64>(2) as u64,
                    notified: row.get(3),
                };
                (CheckId(row.get(0)), open)
            })
            .collect())
    }

    pub(crate) fn open_checks(&self) -> Result<Vec<CheckId>> {
        let rows = self
            .db
            .rows("SELECT check_id FROM alerts_open WHERE open", &[])?;
        Ok(rows.iter().map(|row| CheckId(row.get(0))).collect())
    }

    pub(crate) fn record(&self, happened: &AlertChange, now_ms: u64) -> Result<()> {
        let (record, json) = record_of(happened);
        let check = &happened.check.0;
        let at = happened.at_ms as i64;
        self.db.block_on(async {
            let mut client = self.db.pool().get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO alerts_open (check_id, open, since_ms, reminded_ms)
                 VALUES ($1, false, 0, 0) ON CONFLICT DO NOTHING",
                &[check],
            )
            .await?;
            let row = tx
                .query_one(
                    "SELECT open, reminded_ms, changed_ms FROM alerts_open
                     WHERE check_id = $1 FOR UPDATE",
                    &[check],
                )
                .await?;
            let (open, reminded, changed): (bool, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let first_to_tell = at > changed
                && match happened.event {
                AlertEvent::Fired => !open,
                AlertEvent::Resolved => open,
                AlertEvent::Reminder => open && reminded < at,
            };
            if !first_to_tell {
                // Another replica told it: nothing to write.
                return Ok(tx.commit().await?);
            }
            let (open, since, reminded, notified) = match &happened.open {
                Some(alert) => (true, alert.since_ms, alert.reminded_ms, alert.notified.clone()),
                None => (false, 0, 0, None),
            };
            tx.execute(
                "UPDATE alerts_open
                 SET open = $2, since_ms = $3, reminded_ms = $4, changed_ms = $5, notified = $6
                 WHERE check_id = $1",
                &[check, &open, &(since as i64), &(reminded as i64), &at, &notified],
            )
            .await?;
            tx.execute(
                "INSERT INTO outbox (notifier, event, check_id, alert, at_ms, created_ms, next_try_ms)
                 SELECT unnest($1::text[]), $2, $3, $4, $5, $6, $6
                 ON CONFLICT (notifier, check_id, event, at_ms) DO NOTHING",
                &[&happened.notify, &record.event, check, &json, &at, &(now_ms as i64)],
            )
            .await?;
            Ok(tx.commit().await?)
        })
    }

    pub fn waiting(&self) -> Result<Vec<Waiting>> {
        let rows = self.db.rows(
            "SELECT id, notifier, alert, created_ms, message, attempts, next_try_ms FROM outbox
             WHERE sent_ms IS NULL AND expired_ms IS NULL ORDER BY notifier, id",
            &[],
        )?;
        rows.iter().map(waiting_row).collect()
    }

    pub(crate) fn assign(&self, message: i64, rows: &[i64], body: &str) -> Result<String> {
        self.db.block_on(async {
            let mut client = self.db.pool().get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "UPDATE outbox SET message = $1 WHERE id = ANY($2)",
                &[&message, &rows],
            )
            .await?;
            tx.execute(
                "INSERT INTO outbox_messages (message, body) VALUES ($1, $2)
                 ON CONFLICT (message) DO NOTHING",
                &[&message, &body],
            )
            .await?;
            let kept = tx
                .query_one(
                    "SELECT body FROM outbox_messages WHERE message = $1",
                    &[&message],
                )
                .await?;
            tx.commit().await?;
            Ok(kept.get(0))
        })
    }

    pub(crate) fn body(&self, message: i64) -> Result<Option<String>> {
        let rows = self.db.rows(
            "SELECT body FROM outbox_messages WHERE message = $1",
            &[&message],
        )?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    pub(crate) fn mark_sent(&self, message: i64, now_ms: u64) -> Result<()> {
        self.db.rows(
            "UPDATE outbox SET sent_ms = $2, attempts = attempts + 1, last_error = NULL
             WHERE message = $1 RETURNING id",
            &[&message, &(now_ms as i64)],
        )?;
        Ok(())
    }

    pub(crate) fn mark_failed(&self, message: i64, error: &str, next_try_ms: u64) -> Result<()> {
        self.db.rows(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_try_ms = $3
             WHERE message = $1 RETURNING id",
            &[&message, &error, &(next_try_ms as i64)],
        )?;
        Ok(())
    }

    pub(crate) fn expire(&self, rows: &[i64], why: &str, now_ms: u64) -> Result<()> {
        self.db.rows(
            "UPDATE outbox SET expired_ms = $2, last_error = $3 WHERE id = ANY($1) RETURNING id",
            &[&rows, &(now_ms as i64), &why],
        )?;
        Ok(())
    }

    pub(crate) fn log(&self, limit: usize) -> Result<Vec<Notification>> {
        let rows = self.db.rows(
            "SELECT id, notifier, event, check_id, alert, created_ms, attempts, sent_ms,
                    expired_ms, last_error
             FROM outbox ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )?;
        Ok(rows.iter().map(notification_row).collect())
    }

    pub(crate) fn prune(&self, before_ms: u64) -> Result<usize> {
        let rows = self.db.rows(
            "DELETE FROM outbox WHERE (sent_ms IS NOT NULL OR expired_ms IS NOT NULL)
             AND created_ms < $1 RETURNING id",
            &[&(before_ms as i64)],
        )?;
        self.db.rows(
            "DELETE FROM outbox_messages WHERE NOT EXISTS
             (SELECT 1 FROM outbox WHERE outbox.message = outbox_messages.message)
             RETURNING message",
            &[],
        )?;
        Ok(rows.len())
    }
}

fn waiting_row(row: &Row) -> Result<Waiting> {
    let alert: AlertRecord = serde_json::from_str(&row.get::<_, String>(2))
        .map_err(|e| Error::from(format!("an outbox row that is no alert: {e}")))?;
    Ok(Waiting {
        id: row.get(0),
        notifier: row.get(1),
        alert,
        created_ms: row.get::<_, i64>(3) as u64,
        message: row.get(4),
        attempts: row.get::<_, i32>(5) as u32,
        next_try_ms: row.get::<_, i64>(6) as u64,
    })
}

fn notification_row(row: &Row) -> Notification {
    let name = serde_json::from_str::<AlertRecord>(&row.get::<_, String>(4))
        .map(|a| a.name)
        .unwrap_or_default();
    let attempts = row.get::<_, i32>(6) as u32;
    let sent_ms = row.get::<_, Option<i64>>(7).map(|t| t as u64);
    let expired = row.get::<_, Option<i64>>(8).is_some();
    Notification {
        id: row.get(0),
        notifier: row.get(1),
        event: row.get(2),
        check: CheckId(row.get(3)),
        name,
        created_ms: row.get::<_, i64>(5) as u64,
        attempts,
        outcome: outcome_of(sent_ms.is_some(), expired, attempts),
        sent_ms,
        last_error: row.get(9),
    }
}
