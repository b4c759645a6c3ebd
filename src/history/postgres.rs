//! The history in Postgres, shared by the replicas of a cluster: the same
//! tables, roll-ups and retention as the SQLite file of one node, through
//! tokio-postgres and a deadpool pool.
//!
//! Every replica follows the whole shared log, so every replica writes
//! every result. A result's key is its check and the time it was checked,
//! which the log holds once per period, so the second write of a result
//! inserts nothing, and a change of health is written by whichever replica
//! inserted the result that brought it: exactly once.
//!
//! `Backend` is blocking; this store drives the async client on the
//! server's runtime with `Handle::block_on`, from the writer's own thread,
//! the blocking pool, or (through `block_in_place`) a worker of the
//! multi-thread runtime; never on a current-thread runtime.

use super::backend::{
    Backend, Change, Counts, Result, Retention, Rollup, RowCounts, SPANS, checked, detail_of,
    health_code, health_from_code, micros,
};
use crate::status::{ChartPoint, CheckStatus, FailureReason, Health, MinutePoint, RecentResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::Row;

/// Each migration once, in order (`schema_migrations` keeps which ran).
const MIGRATIONS: [(i32, &str); 4] = [
    (1, include_str!("../../migrations/postgres/001_history.sql")),
    (2, include_str!("../../migrations/postgres/002_alerts.sql")),
    (
        3,
        include_str!("../../migrations/postgres/003_incidents.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/004_alert_messages.sql"),
    ),
];

/// The advisory lock keys: one replica migrates at a time, one rolls up.
const MIGRATION_LOCK: i64 = 0x7075_6c73_6501;
const ROLLUP_LOCK: i64 = 0x7075_6c73_6502;
/// Held shared by every write that refers to a check's number, and alone
/// by the prune that forgets the numbers nothing refers to: a number a
/// write read stays until it commits.
const CHECKS_LOCK: i64 = 0x7075_6c73_6503;

/// Forgets the number of every check nothing is kept of any more (as in
/// SQLite, `sqlite::FORGET_UNUSED_CHECKS`).
const FORGET_UNUSED_CHECKS: &str = "DELETE FROM checks WHERE
         NOT EXISTS (SELECT 1 FROM results_data WHERE check_num = checks.num)
     AND NOT EXISTS (SELECT 1 FROM rollups_data WHERE check_num = checks.num)
     AND NOT EXISTS (SELECT 1 FROM changes_data WHERE check_num = checks.num)";

/// Connections per replica: the writer and up to four readers
/// (`api::CONCURRENT_READS`), with one to spare.
const POOL_SIZE: usize = 6;
/// How long any step waits for Postgres before it fails: a server that
/// hangs must not hold the writer or a page for long.
const WAIT: Duration = Duration::from_secs(5);
/// How long one whole operation (a batch, a roll-up, a read) may take.
const QUERY_WAIT: Duration = Duration::from_secs(20);

/// A late result moves its span back to not aggregated (as in SQLite).
/// Every write runs it, even with nothing late, so that it locks the
/// progress rows: a roll-up running at the same time then either sees
/// this write's results or runs after it and finds its span reopened.
const REOPEN_ROLLED_UP_SPANS: &str = "UPDATE rollup_progress
     SET done_ms = LEAST(done_ms, $1::bigint / (span_s * 1000) * (span_s * 1000))";

pub struct PgStore {
    pool: Pool,
    /// For a connection outside the pool (`listen`).
    config: std::sync::Arc<tokio_postgres::Config>,
    runtime: tokio::runtime::Handle,
    /// Where it is, for messages: never the URL, which may hold a password.
    place: String,
    /// Each check's newest health (see `record_async`), read back by
    /// `prepare`: `None` until then.
    last_health: Option<HashMap<String, Health>>,
}

impl PgStore {
    /// A store on the Postgres at `url`, connected to on first use, so that
    /// Pulse starts (and checks, and streams) while Postgres is down.
    /// `runtime` is where the blocking calls run their queries. Fails only
    /// on a URL that is no Postgres URL.
    pub fn new(url: &str, runtime: tokio::runtime::Handle) -> std::result::Result<PgStore, String> {
        // The URL is never shown: it may hold a password.
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| format!("history database: not a Postgres URL: {e}"))?;
        config.connect_timeout(WAIT);
        // A peer gone silent is noticed within about 25 s, also on a
        // connection that only listens.
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(QUERY_WAIT);
        config.application_name("pulse");
        let place = described(&config);
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| format!("history database {place}: cannot make a pool: {e}"))?;
        Ok(PgStore {
            pool,
            config: std::sync::Arc::new(config),
            runtime,
            place,
            last_health: None,
        })
    }

    /// Brings the schema up to date and reads each check's last health;
    /// the first write does it when it was not done (or failed) before.
    pub async fn prepare(&mut self) -> Result<()> {
        let place = &self.place;
        let fail = |what: &str, e: super::Error| super::Error {
            message: format!("{place}: {what}: {e}"),
            kind: e.kind,
        };
        migrate(&self.pool)
            .await
            .map_err(|e| fail("cannot migrate its schema", e))?;
        let latest = latest_health(&self.pool).await;
        self.last_health = Some(latest.map_err(|e| fail("cannot read", e))?);
        Ok(())
    }

    fn prepared(&mut self) -> Result<()> {
        match self.last_health {
            Some(_) => Ok(()),
            None => {
                let runtime = self.runtime.clone();
                blocking(&runtime, self.prepare())
            }
        }
    }

    /// Another handle on the same pool, for a read.
    pub(crate) fn reader(&self) -> PgStore {
        PgStore {
            pool: self.pool.clone(),
            config: self.config.clone(),
            runtime: self.runtime.clone(),
            place: self.place.clone(),
            last_health: None,
        }
    }

    /// Runs `work` to its end on the server's runtime, from a thread that
    /// may block: also for the other parts keeping tables in this database
    /// (the alerts' outbox).
    /// On a worker of the (multi-thread) runtime, the worker hands its
    /// tasks to the others while this blocks (`block_in_place`): the
    /// alerts read their outbox at start and on a reload from a task.
    pub(crate) fn block_on<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        blocking(&self.runtime, work)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection of its own that listens on `channel`: the receiver
    /// gets an item for each `NOTIFY` (a few coalesced when they come
    /// faster than it reads), and ends when the connection does. The
    /// connection lasts while the client returned is kept.
    pub(crate) async fn listen(
        &self,
        channel: &str,
    ) -> Result<(tokio_postgres::Client, tokio::sync::mpsc::Receiver<()>)> {
        let (client, mut connection) = self.config.connect(tokio_postgres::NoTls).await?;
        let (told, notified) = tokio::sync::mpsc::channel(1);
        let place = self.place.clone();
        tokio::spawn(async move {
            use futures::StreamExt;
            let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                        let _ = told.try_send(());
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, %place, "a listening connection ended");
                        return;
                    }
                }
            }
        });
        let listen = format!("LISTEN {channel}");
        let listening = client.batch_execute(&listen);
        match tokio::time::timeout(WAIT, listening).await {
            Ok(done) => done?,
            Err(_) => {
                return Err(super::Error::from(format!(
                    "{}: LISTEN took too long",
                    self.place
                )));
            }
        }
        Ok((client, notified))
    }

    /// Rows of `sql` with `params`, on a connection from the pool.
    pub(crate) fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.block_on(async {
            let client = self.pool.get().await?;
            let statement = client.prepare_cached(sql).await?;
            Ok(client.query(&statement, params).await?)
        })
    }

    async fn record_async(&mut self, batch: &[CheckStatus]) -> Result<()> {
        let statuses: Vec<&CheckStatus> = checked(batch).collect();
        if statuses.is_empty() {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let nums = check_nums(&tx, &statuses).await?;
        let num = |status: &CheckStatus| nums[&status.id.0];
        // In key order, the same on every replica, so that two replicas
        // writing the same results wait for each other instead of
        // deadlocking.
        let mut rows: Vec<&CheckStatus> = statuses.clone();
        rows.sort_by_key(|s| (num(s), s.checked_at_ms));
        let inserted: HashSet<(i64, i64)> = tx
            .query(
                "INSERT INTO results_data (check_num, at_ms, health, latency_us, detail, maintenance)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[],
                                      $5::text[], $6::boolean[])
                 ON CONFLICT DO NOTHING RETURNING check_num, at_ms",
                &[
                    &rows.iter().map(|s| num(s)).collect::<Vec<i64>>(),
                    &rows.iter().map(|s| at(s)).collect::<Vec<i64>>(),
                    &rows.iter().map(|s| code(s.health)).collect::<Vec<i16>>(),
                    &rows
                        .iter()
                        .map(|s| s.latency_ms.map(micros))
                        .collect::<Vec<Option<i64>>>(),
                    &rows.iter().map(|s| text_detail(s)).collect::<Vec<Option<String>>>(),
                    &rows.iter().map(|s| s.in_maintenance()).collect::<Vec<bool>>(),
                ],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        // Changes in the order of the log. Every replica follows each
        // check's health through every result, written by it or not; the
        // one whose insert took the result writes the change it brings.
        let mut last_health = self.last_health.clone().unwrap_or_default();
        let mut changes: Vec<(&CheckStatus, Option<Health>)> = Vec::new();
        for status in statuses.iter().filter(|s| s.health != Health::Unknown) {
            let before = last_health.insert(status.id.0.clone(), status.health);
            let new = inserted.contains(&(num(status), at(status)));
            if before != Some(status.health) && new {
                changes.push((status, before));
            }
        }
        if !changes.is_empty() {
            tx.execute(
                "INSERT INTO changes_data (check_num, at_ms, from_code, to_code, detail)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::smallint[],
                                      $5::text[])
                 ON CONFLICT DO NOTHING",
                &[
                    &changes.iter().map(|(s, _)| num(s)).collect::<Vec<i64>>(),
                    &changes.iter().map(|(s, _)| at(s)).collect::<Vec<i64>>(),
                    &changes
                        .iter()
                        .map(|(_, before)| before.map(code))
                        .collect::<Vec<Option<i16>>>(),
                    &changes
                        .iter()
                        .map(|(s, _)| code(s.health))
                        .collect::<Vec<i16>>(),
                    &changes
                        .iter()
                        .map(|(s, _)| text_detail(s))
                        .collect::<Vec<Option<String>>>(),
                ],
            )
            .await?;
        }
        if let Some(oldest) = inserted.iter().map(|(_, at)| *at).min() {
            tx.execute(REOPEN_ROLLED_UP_SPANS, &[&oldest]).await?;
        }
        tx.commit().await?;
        self.last_health = Some(last_health);
        Ok(())
    }

    async fn roll_up_async(&self, now_ms: u64) -> Result<()> {
        let mut client = self.pool.get().await?;
        for span_s in SPANS {
            let span_ms = (span_s * 1000) as i64;
            let end = now_ms as i64 / span_ms * span_ms;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ROLLUP_LOCK])
                .await?;
            tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&CHECKS_LOCK])
                .await?;
            // FOR UPDATE: a write that reopens this span waits for the
            // roll-up to end, or the roll-up for the write (see
            // `REOPEN_ROLLED_UP_SPANS`).
            let done: i64 = tx
                .query_one(
                    "SELECT done_ms FROM rollup_progress WHERE span_s = $1 FOR UPDATE",
                    &[&(span_s as i32)],
                )
                .await?
                .get(0);
            let start = match done {
                0 => {
                    let oldest: Option<i64> = tx
                        .query_one("SELECT MIN(at_ms) FROM results_data", &[])
                        .await?
                        .get(0);
                    oldest.map_or(end, |oldest| oldest / span_ms * span_ms)
                }
                done => done,
            };
            if end > start {
                tx.execute(AGGREGATE, &[&(span_s as i32), &span_ms, &start, &end])
                    .await?;
            }
            tx.execute(
                "UPDATE rollup_progress SET done_ms = GREATEST(done_ms, $2) WHERE span_s = $1",
                &[&(span_s as i32), &end.max(start)],
            )
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn prune_async(&self, now_ms: u64, retention: Retention) -> Result<()> {
        let before = |keep: Duration| now_ms.saturating_sub(keep.as_millis() as u64) as i64;
        let mut client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM results_data WHERE at_ms < $1",
                &[&before(retention.raw)],
            )
            .await?;
        for (span_s, keep) in [(60, retention.minutes), (3600, retention.hours)] {
            client
                .execute(
                    "DELETE FROM rollups_data WHERE span_s = $1 AND start_ms < $2",
                    &[&span_s, &before(keep)],
                )
                .await?;
        }
        client
            .execute(
                "DELETE FROM changes_data WHERE at_ms < $1",
                &[&before(retention.hours)],
            )
            .await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHECKS_LOCK])
            .await?;
        tx.execute(FORGET_UNUSED_CHECKS, &[]).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The number of each check of `statuses`, added for those that have none,
/// read in `tx` under `CHECKS_LOCK` (shared): any replica's prune may have
/// forgotten a number since the last write, and none forgets one read here
/// before `tx` ends.
async fn check_nums(
    tx: &tokio_postgres::Transaction<'_>,
    statuses: &[&CheckStatus],
) -> Result<HashMap<String, i64>> {
    tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&CHECKS_LOCK])
        .await?;
    let mut ids: Vec<&str> = statuses.iter().map(|s| s.id.0.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut nums = numbers_of(tx, &ids).await?;
    let missing: Vec<&str> = ids
        .into_iter()
        .filter(|id| !nums.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        // Only the missing: an insert takes a number from the sequence
        // also when it conflicts.
        tx.execute(
            "INSERT INTO checks (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING",
            &[&missing],
        )
        .await?;
        nums.extend(numbers_of(tx, &missing).await?);
    }
    Ok(nums)
}

/// The numbers the checks `ids` have now.
async fn numbers_of(
    tx: &tokio_postgres::Transaction<'_>,
    ids: &[&str],
) -> Result<HashMap<String, i64>> {
    let rows = tx
        .query("SELECT id, num FROM checks WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Aggregates raw results of span $1 (of $2 ms) in `[$3, $4)`, replacing
/// what an earlier roll-up wrote for a span a late result reopened. The
/// figures are SQLite's: integer mean, nearest-rank p95 (`percentile_disc`),
/// results Pulse could not check left out.
const AGGREGATE: &str = "INSERT INTO rollups_data (check_num, span_s, start_ms, count, failures,
         lat_min_us, lat_avg_us, lat_p95_us, lat_max_us, uptime_count, uptime_failures)
     SELECT check_num, $1, at_ms / $2 * $2 AS start, COUNT(*), COUNT(*) FILTER (WHERE health = 2),
            MIN(latency_us), div(SUM(latency_us), COUNT(latency_us))::bigint,
            percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_us), MAX(latency_us),
            COUNT(*) FILTER (WHERE NOT maintenance),
            COUNT(*) FILTER (WHERE NOT maintenance AND health = 2)
     FROM results_data WHERE at_ms >= $3 AND at_ms < $4 AND health <> 3
     GROUP BY check_num, start
     ON CONFLICT (check_num, span_s, start_ms) DO UPDATE SET
         count = excluded.count, failures = excluded.failures,
         lat_min_us = excluded.lat_min_us, lat_avg_us = excluded.lat_avg_us,
         lat_p95_us = excluded.lat_p95_us, lat_max_us = excluded.lat_max_us,
         uptime_count = excluded.uptime_count, uptime_failures = excluded.uptime_failures";

impl Backend for PgStore {
    fn record(&mut self, batch: &[CheckStatus]) -> Result<()> {
        self.prepared()?;
        let runtime = self.runtime.clone();
        blocking(&runtime, self.record_async(batch))
    }

    fn roll_up(&mut self, now_ms: u64) -> Result<()> {
        self.prepared()?;
        self.block_on(self.roll_up_async(now_ms))
    }

    fn prune(&mut self, now_ms: u64, retention: Retention) -> Result<()> {
        self.block_on(self.prune_async(now_ms, retention))
    }

    fn rolled_up_to(&self, span_s: u64) -> Result<u64> {
        let rows = self.rows(
            "SELECT done_ms FROM rollup_progress WHERE span_s = $1",
            &[&(span_s as i32)],
        )?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    fn rollups(&self, check: &str, span_s: u64, since_ms: u64) -> Result<Vec<Rollup>> {
        let rows = self.rows(
            "SELECT start_ms, count, failures, lat_min_us, lat_avg_us, lat_p95_us, lat_max_us,
                    uptime_count, uptime_failures
             FROM rollups_data WHERE check_num = (SELECT num FROM checks WHERE id = $1)
                                 AND span_s = $2 AND start_ms >= $3
             ORDER BY start_ms",
            &[&check, &(span_s as i32), &(since_ms as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| Rollup {
                start_ms: r.get::<_, i64>(0) as u64,
                count: r.get::<_, i64>(1) as u64,
                failures: r.get::<_, i64>(2) as u64,
                lat_min: millis(r.get(3)),
                lat_avg: millis(r.get(4)),
                lat_p95: millis(r.get(5)),
                lat_max: millis(r.get(6)),
                uptime_count: r.get::<_, i64>(7) as u64,
                uptime_failures: r.get::<_, i64>(8) as u64,
            })
            .collect())
    }

    fn changes(&self, check: &str, since_ms: u64) -> Result<Vec<Change>> {
        let rows = self.rows(
            "SELECT at_ms, from_code, to_code, detail FROM changes_data
             WHERE check_num = (SELECT num FROM checks WHERE id = $1) AND at_ms >= $2
             ORDER BY at_ms",
            &[&check, &(since_ms as i64)],
        )?;
        Ok(rows.iter().map(|row| change_at(row, 0)).collect())
    }

    fn counts(
        &self,
        check: Option<&str>,
        since_ms: u64,
        hours_end: u64,
        minutes_end: u64,
    ) -> Result<Counts> {
        let rows = self.rows(
            "WITH wanted AS (SELECT num, id FROM checks WHERE $4::text IS NULL OR id = $4)
             SELECT w.id, SUM(p.n)::bigint, SUM(p.f)::bigint FROM (
                 SELECT check_num, uptime_count AS n, uptime_failures AS f FROM rollups_data
                 WHERE span_s = 3600 AND start_ms >= $1 AND start_ms < $2
                 UNION ALL
                 SELECT check_num, uptime_count, uptime_failures FROM rollups_data
                 WHERE span_s = 60 AND start_ms >= $2 AND start_ms < $3
                 UNION ALL
                 SELECT check_num, 1, (health = 2)::int FROM results_data
                 WHERE at_ms >= $3 AND health <> 3 AND NOT maintenance
             ) p JOIN wanted w ON w.num = p.check_num
             GROUP BY w.id",
            &[
                &(since_ms as i64),
                &(hours_end as i64),
                &(minutes_end as i64),
                &check,
            ],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect())
    }

    fn fresh_points(&self, check: &str, from_ms: u64, span_ms: u64) -> Result<Vec<ChartPoint>> {
        let rows = self.rows(
            "SELECT at_ms / $3 * $3 AS start, COUNT(*), COUNT(*) FILTER (WHERE health = 2),
                    AVG(latency_us / 1000.0)::float8, MAX(latency_us / 1000.0)::float8
             FROM results_data
             WHERE check_num = (SELECT num FROM checks WHERE id = $1) AND at_ms >= $2 AND health <> 3
             GROUP BY start ORDER BY start",
            &[&check, &(from_ms as i64), &(span_ms as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| ChartPoint {
                start_ms: r.get::<_, i64>(0) as u64,
                count: r.get::<_, i64>(1) as u64,
                failures: r.get::<_, i64>(2) as u64,
                lat_avg: r.get(3),
                lat_max: r.get(4),
            })
            .collect())
    }

    fn failures(&self, check: &str, since_ms: u64) -> Result<Vec<FailureReason>> {
        let rows = self.rows(
            "SELECT at_ms, health, detail FROM results_data
             WHERE check_num = (SELECT num FROM checks WHERE id = $1) AND at_ms >= $2 AND health <> 0
             ORDER BY at_ms DESC LIMIT 10",
            &[&check, &(since_ms as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| FailureReason {
                at_ms: r.get::<_, i64>(0) as u64,
                health: health_from_code(r.get::<_, i16>(1).into()),
                detail: r.get::<_, Option<String>>(2).unwrap_or_default(),
            })
            .collect())
    }

    fn minute_means(&self, since_ms: u64) -> Result<Vec<(String, MinutePoint)>> {
        let rows = self.rows(
            "SELECT c.id, r.at_ms / 60000 * 60000 AS minute, AVG(r.latency_us / 1000.0)::float8,
                    COUNT(*)
             FROM results_data r JOIN checks c ON c.num = r.check_num
             WHERE r.at_ms >= $1 AND r.health <> 3
             GROUP BY c.id, minute ORDER BY c.id, minute",
            &[&(since_ms as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let point = MinutePoint {
                    start_ms: r.get::<_, i64>(1) as u64,
                    latency_ms: r.get(2),
                    count: r.get::<_, i64>(3) as u64,
                };
                (r.get(0), point)
            })
            .collect())
    }

    fn recent_results(
        &self,
        since_ms: u64,
        per_check: usize,
    ) -> Result<Vec<(String, RecentResult)>> {
        let rows = self.rows(
            "SELECT id, at_ms, health FROM (
                 SELECT c.id, r.at_ms, r.health,
                        ROW_NUMBER() OVER (PARTITION BY r.check_num ORDER BY r.at_ms DESC) AS newest
                 FROM results_data r JOIN checks c ON c.num = r.check_num
                 WHERE r.at_ms >= $1 AND r.health <> 3
             ) newest_first WHERE newest <= $2 ORDER BY id, at_ms",
            &[&(since_ms as i64), &(per_check as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let result = RecentResult {
                    at_ms: r.get::<_, i64>(1) as u64,
                    health: health_from_code(r.get::<_, i16>(2).into()),
                };
                (r.get(0), result)
            })
            .collect())
    }

    fn last_changes(&self) -> Result<Vec<(String, u64)>> {
        let rows = self.rows(
            "SELECT c.id, MAX(d.at_ms) FROM changes_data d JOIN checks c ON c.num = d.check_num
             GROUP BY c.id",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn recent_changes(&self, limit: usize) -> Result<Vec<(String, Change)>> {
        let rows = self.rows(
            "SELECT c.id, d.at_ms, d.from_code, d.to_code, d.detail
             FROM changes_data d JOIN checks c ON c.num = d.check_num
             WHERE d.from_code IS NOT NULL ORDER BY d.seq DESC LIMIT $1",
            &[&(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), change_at(row, 1)))
            .collect())
    }

    fn row_counts(&self) -> Result<RowCounts> {
        let rows = self.rows(
            "SELECT (SELECT COUNT(*) FROM results_data),
                    (SELECT COUNT(*) FROM rollups_data WHERE span_s = 60),
                    (SELECT COUNT(*) FROM rollups_data WHERE span_s = 3600),
                    (SELECT COUNT(*) FROM changes_data)",
            &[],
        )?;
        let count = |i: usize| rows[0].get::<_, i64>(i) as u64;
        Ok(RowCounts {
            results: count(0),
            minutes: count(1),
            hours: count(2),
            changes: count(3),
        })
    }
}

/// Runs `work` on `runtime` to its end (see `PgStore::block_on`).
fn blocking<T>(
    runtime: &tokio::runtime::Handle,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    // A server that stops answering in the middle of a query must not hold
    // the writer, the alerts or a read slot for the kernel's TCP timeout.
    let bounded = async {
        match tokio::time::timeout(QUERY_WAIT, work).await {
            Ok(done) => done,
            Err(_) => Err(super::Error::from(format!(
                "Postgres did not answer within {} s",
                QUERY_WAIT.as_secs()
            ))),
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(|| runtime.block_on(bounded)),
        Err(_) => runtime.block_on(bounded),
    }
}

/// Runs the migrations not run yet, in one transaction under a lock, so
/// that replicas starting together migrate once.
async fn migrate(pool: &Pool) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let newest: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    let newest = newest.unwrap_or(0);
    let known = MIGRATIONS.len() as i32;
    if newest > known {
        return Err(super::Error::from(format!(
            "its schema is version {newest}, newer than this Pulse knows ({known}); run a newer Pulse"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > newest) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn latest_health(pool: &Pool) -> Result<HashMap<String, Health>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT DISTINCT ON (d.check_num) c.id, d.to_code
             FROM changes_data d JOIN checks c ON c.num = d.check_num
             ORDER BY d.check_num, d.at_ms DESC",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), health_from_code(r.get::<_, i16>(1).into())))
        .collect())
}

/// A change read from column `first` on: at, from, to, detail.
fn change_at(row: &Row, first: usize) -> Change {
    Change {
        at_ms: row.get::<_, i64>(first) as u64,
        from: row
            .get::<_, Option<i16>>(first + 1)
            .map(|code| health_from_code(code.into())),
        to: health_from_code(row.get::<_, i16>(first + 2).into()),
        detail: row.get(first + 3),
    }
}

/// A result's detail as Postgres text can hold it: a target may answer
/// with NUL bytes, which SQLite keeps and Postgres refuses (the whole batch
/// with them, and every retry after).
fn text_detail(status: &CheckStatus) -> Option<String> {
    detail_of(status).map(|d| d.replace('\0', "\u{FFFD}"))
}

fn code(health: Health) -> i16 {
    health_code(health) as i16
}

fn at(status: &CheckStatus) -> i64 {
    status.checked_at_ms as i64
}

fn millis(micros: Option<i64>) -> Option<f64> {
    micros.map(|us| us as f64 / 1000.0)
}

/// Where `config` points, without its password, for messages.
fn described(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("postgres {}:{port}/{db}", hosts.join(","))
}
