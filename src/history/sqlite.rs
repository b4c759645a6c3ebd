//! The history store: every result in SQLite, rolled up into per-minute and
//! per-hour aggregates, with state changes kept apart, and pruned to its
//! retention. Blocking code: the writer runs it on a thread of its own, so
//! nothing here ever waits in the check loop or the fan-out.

use super::backend::{
    Backend, Change, Counts, Result, Retention, Rollup, RowCounts, SPANS, checked, detail_of,
    health_code, health_from_code, health_of, micros,
};
use crate::status::{ChartPoint, CheckStatus, FailureReason, Health, MinutePoint, RecentResult};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

// The reads of one check's history, named so that a test can ask SQLite
// how it runs each (`tests::per_check_reads_search_their_index`): every one
// must find its rows through the check's key, never by scanning.

const ROLLUPS_OF_CHECK: &str =
    "SELECT start_ms, count, failures, lat_min, lat_avg, lat_p95, lat_max, uptime_count, uptime_failures
     FROM rollups
     WHERE check_id = ?1 AND span_s = ?2 AND start_ms >= ?3 ORDER BY start_ms";

const CHANGES_OF_CHECK: &str = "SELECT at_ms, from_health, to_health, detail FROM changes
     WHERE check_id = ?1 AND at_ms >= ?2 ORDER BY at_ms, seq";

const FRESH_POINTS_OF_CHECK: &str =
    "SELECT at_ms / ?3 * ?3 AS start, COUNT(*), SUM(health = 'down'),
            AVG(latency_ms), MAX(latency_ms)
     FROM results WHERE check_id = ?1 AND at_ms >= ?2 AND health != 'unknown'
     GROUP BY start ORDER BY start";

const FAILURES_OF_CHECK: &str = "SELECT at_ms, health, detail FROM results
     WHERE check_id = ?1 AND at_ms >= ?2 AND health != 'up' ORDER BY at_ms DESC LIMIT 10";

/// (results, failures) of check ?4: whole hours from ?1 to ?2, whole
/// minutes from ?2 to ?3, raw results from ?3. The check is named in each
/// part, so each part searches that check's rows only.
const UPTIME_OF_CHECK: &str = "SELECT check_id, SUM(n), SUM(f) FROM (
         SELECT check_id, uptime_count AS n, uptime_failures AS f FROM rollups
         WHERE check_id = ?4 AND span_s = 3600 AND start_ms >= ?1 AND start_ms < ?2
         UNION ALL
         SELECT check_id, uptime_count, uptime_failures FROM rollups
         WHERE check_id = ?4 AND span_s = 60 AND start_ms >= ?2 AND start_ms < ?3
         UNION ALL
         SELECT check_id, 1, health = 'down' FROM results
         WHERE check_id = ?4 AND at_ms >= ?3 AND health != 'unknown' AND maintenance = 0
     ) GROUP BY check_id";

/// The same for every check (the dashboard's cards); ?4 is unused.
const UPTIME_OF_EVERY_CHECK: &str = "SELECT check_id, SUM(n), SUM(f) FROM (
         SELECT check_id, uptime_count AS n, uptime_failures AS f FROM rollups
         WHERE span_s = 3600 AND start_ms >= ?1 AND start_ms < ?2
         UNION ALL
         SELECT check_id, uptime_count, uptime_failures FROM rollups
         WHERE span_s = 60 AND start_ms >= ?2 AND start_ms < ?3
         UNION ALL
         SELECT check_id, 1, health = 'down' FROM results
         WHERE at_ms >= ?3 AND health != 'unknown' AND maintenance = 0 AND ?4 = ?4
     ) GROUP BY check_id";

/// A result recorded late, in a span already aggregated (it waited in the
/// queue while a roll-up ran), moves that span back to not aggregated, so
/// that the next roll-up counts it in.
const REOPEN_ROLLED_UP_SPANS: &str = "UPDATE rollup_progress
     SET done_ms = ?1 / (span_s * 1000) * (span_s * 1000) WHERE done_ms > ?1";

/// Forgets the number of every check nothing is kept of any more (no
/// result, aggregate or change): a check renamed or removed leaves with
/// its last row, and a config that renames its checks often does not grow
/// the table without end. Each `NOT EXISTS` is a search of a key's prefix.
const FORGET_UNUSED_CHECKS: &str = "DELETE FROM checks WHERE
         NOT EXISTS (SELECT 1 FROM results_data WHERE check_num = checks.num)
     AND NOT EXISTS (SELECT 1 FROM rollups_data WHERE check_num = checks.num)
     AND NOT EXISTS (SELECT 1 FROM changes_data WHERE check_num = checks.num)";

/// Every per-check read, for the query-plan test.
#[cfg(test)]
pub(super) const PER_CHECK_READS: [&str; 5] = [
    ROLLUPS_OF_CHECK,
    CHANGES_OF_CHECK,
    FRESH_POINTS_OF_CHECK,
    FAILURES_OF_CHECK,
    UPTIME_OF_CHECK,
];

pub struct SqliteStore {
    conn: Connection,
    /// Each check's newest recorded health, to tell a change from a repeat;
    /// read back from the database on open, so a restart adds no change.
    last_health: HashMap<String, Health>,
    /// Each check's number in the `checks` table.
    check_nums: HashMap<String, i64>,
}

/// How every writing transaction on the history database begins: taking
/// the write lock at once. A deferred one that reads first and then writes
/// fails at once with "database is locked" when another connection (the
/// outbox, the incidents) wrote in between, whatever the busy timeout; an
/// immediate one waits for the lock instead. Seen in the alerts benchmark:
/// every roll-up failed while the outbox was busy.
pub const WRITE: rusqlite::TransactionBehavior = rusqlite::TransactionBehavior::Immediate;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/sqlite/001_history.sql")),
        M::up(include_str!("../../migrations/sqlite/002_compact.sql")),
        M::up(include_str!("../../migrations/sqlite/003_integers.sql")),
        M::up(include_str!("../../migrations/sqlite/004_alerts.sql")),
        M::up(include_str!("../../migrations/sqlite/005_maintenance.sql")),
        M::up(include_str!("../../migrations/sqlite/006_incidents.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/007_incident_writes.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/008_alert_messages.sql"
        )),
    ])
}

/// A connection of its own to the history database at `path` (or, with
/// no path, to a new database in memory) with the schema up to date, for
/// a part that keeps its own tables there (the alerts' outbox). The file
/// is in WAL mode already (`Store::open`), so it never waits long for the
/// writer.
pub fn side_connection(path: Option<&Path>) -> std::result::Result<Connection, String> {
    let name = path.map_or("in memory".into(), |p| p.display().to_string());
    let fail =
        |what: &str, e: &dyn std::fmt::Display| format!("history database {name}: {what}: {e}");
    let mut conn = match path {
        Some(path) => Connection::open(path),
        None => Connection::open_in_memory(),
    }
    .map_err(|e| fail("cannot open", &e))?;
    // FULL: what this connection commits survives a power cut too (its
    // writes are rare: an alert firing or a message sent).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
        .map_err(|e| fail("cannot configure", &e))?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| fail("cannot migrate its schema", &e))?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> std::result::Result<SqliteStore, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("history database {}: {what}: {e}", path.display())
        };
        let mut conn = Connection::open(path).map_err(|e| fail("cannot open", &e))?;
        // WAL: readers never wait for the writer. NORMAL sync is safe with
        // WAL (a crash loses at most the last batch). The size limit keeps
        // the WAL file from staying at its largest after a checkpoint.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| fail("cannot switch to WAL", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(
                "cannot switch to WAL",
                &format!("journal mode stays {mode}"),
            ));
        }
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 16777216; PRAGMA busy_timeout = 5000;",
        )
        .map_err(|e| fail("cannot configure", &e))?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| fail("cannot migrate its schema", &e))?;
        let last_health = latest_health(&conn).map_err(|e| fail("cannot read", &e))?;
        Ok(SqliteStore {
            conn,
            last_health,
            check_nums: HashMap::new(),
        })
    }

    /// A reader beside the writer: no schema changes, no writes.
    /// How SQLite runs `sql`: the `detail` lines of `EXPLAIN QUERY PLAN`.
    #[cfg(test)]
    pub(super) fn explain(&self, sql: &str) -> Vec<String> {
        let mut plan = self
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let params: Vec<i64> = vec![0; plan.parameter_count()];
        let rows = plan
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(rusqlite::Result::unwrap).collect()
    }

    pub(crate) fn open_read_only(path: &Path) -> std::result::Result<SqliteStore, String> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("history database {}: cannot open: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| format!("history database {}: {e}", path.display()))?;
        Ok(SqliteStore {
            conn,
            last_health: HashMap::new(),
            check_nums: HashMap::new(),
        })
    }

    /// When the newest result kept was checked.
    pub fn newest_result_ms(&self) -> Result<Option<u64>> {
        self.conn
            .query_row(
                "SELECT MAX((SELECT MAX(at_ms) FROM results_data WHERE check_num = num)) FROM checks",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|at| at.map(|at| at as u64))
            .map_err(Into::into)
    }

    /// Raw results kept, for tests and the size report.
    pub fn result_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM results", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(Into::into)
    }
}

impl Backend for SqliteStore {
    fn record(&mut self, batch: &[CheckStatus]) -> Result<()> {
        let mut last_health = self.last_health.clone();
        let mut new_nums: HashMap<String, i64> = HashMap::new();
        let tx = self.conn.transaction_with_behavior(WRITE)?;
        {
            let mut result = tx.prepare_cached(
                "INSERT OR REPLACE INTO results_data (check_num, at_ms, health, latency_us, detail, maintenance)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut find = tx.prepare_cached("SELECT num FROM checks WHERE id = ?1")?;
            let mut add = tx.prepare_cached("INSERT INTO checks (id) VALUES (?1)")?;
            let mut change = tx.prepare_cached(
                "INSERT INTO changes_data (check_num, at_ms, from_code, to_code, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for status in checked(batch) {
                let detail = detail_of(status);
                let id = &status.id.0;
                let num = match self.check_nums.get(id).or(new_nums.get(id)) {
                    Some(&num) => num,
                    None => {
                        let num = match find.query_row([id], |r| r.get(0)).optional()? {
                            Some(num) => num,
                            None => add.insert([id])?,
                        };
                        new_nums.insert(id.clone(), num);
                        num
                    }
                };
                result.execute(params![
                    num,
                    status.checked_at_ms as i64,
                    health_code(status.health),
                    status.latency_ms.map(micros),
                    detail,
                    status.in_maintenance()
                ])?;
                if status.health == Health::Unknown {
                    continue;
                }
                let before = last_health.insert(status.id.0.clone(), status.health);
                if before != Some(status.health) {
                    change.execute(params![
                        num,
                        status.checked_at_ms as i64,
                        before.map(health_code),
                        health_code(status.health),
                        detail
                    ])?;
                }
            }
        }
        if let Some(oldest) = checked(batch).map(|s| s.checked_at_ms).min() {
            tx.execute(REOPEN_ROLLED_UP_SPANS, [oldest as i64])?;
        }
        tx.commit()?;
        self.last_health = last_health;
        self.check_nums.extend(new_nums);
        Ok(())
    }

    fn roll_up(&mut self, now_ms: u64) -> Result<()> {
        for span_s in SPANS {
            let span_ms = span_s * 1000;
            let end = now_ms / span_ms * span_ms;
            let tx = self.conn.transaction_with_behavior(WRITE)?;
            let done: Option<i64> = tx
                .query_row(
                    "SELECT done_ms FROM rollup_progress WHERE span_s = ?1",
                    [span_s as i64],
                    |r| r.get(0),
                )
                .optional()?;
            let start = match done {
                Some(done) => done as u64,
                None => {
                    let oldest: Option<i64> =
                        tx.query_row(
                            "SELECT MIN((SELECT MIN(at_ms) FROM results_data WHERE check_num = num)) FROM checks",
                            [],
                            |r| r.get(0),
                        )?;
                    match oldest {
                        Some(oldest) => oldest as u64 / span_ms * span_ms,
                        None => end,
                    }
                }
            };
            if end > start {
                aggregate(&tx, span_s, start, end)?;
            }
            tx.execute(
                "INSERT INTO rollup_progress (span_s, done_ms) VALUES (?1, ?2)
                 ON CONFLICT (span_s) DO UPDATE SET done_ms = MAX(done_ms, excluded.done_ms)",
                params![span_s as i64, end.max(start) as i64],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn prune(&mut self, now_ms: u64, retention: Retention) -> Result<()> {
        let before = |keep: Duration| now_ms.saturating_sub(keep.as_millis() as u64) as i64;
        // `check_num IN (…)` lets each delete walk every check's range of
        // its primary key: there is no index by time alone (migration 003).
        self.conn.execute(
            "DELETE FROM results_data WHERE check_num IN (SELECT num FROM checks) AND at_ms < ?1",
            [before(retention.raw)],
        )?;
        for (span_s, keep) in [(60, retention.minutes), (3600, retention.hours)] {
            self.conn.execute(
                "DELETE FROM rollups_data
                 WHERE check_num IN (SELECT num FROM checks) AND span_s = ?1 AND start_ms < ?2",
                params![span_s, before(keep)],
            )?;
        }
        self.conn.execute(
            "DELETE FROM changes_data WHERE check_num IN (SELECT num FROM checks) AND at_ms < ?1",
            [before(retention.hours)],
        )?;
        if self.conn.execute(FORGET_UNUSED_CHECKS, [])? > 0 {
            // A number forgotten may be given to another check: none is
            // trusted from before.
            self.check_nums.clear();
        }
        // Moves the WAL into the database and truncates it: its size stays
        // bounded by what one interval between prunes writes.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn rollups(&self, check: &str, span_s: u64, since_ms: u64) -> Result<Vec<Rollup>> {
        let mut query = self.conn.prepare_cached(ROLLUPS_OF_CHECK)?;
        let rows = query.query_map(params![check, span_s as i64, since_ms as i64], |r| {
            Ok(Rollup {
                start_ms: r.get::<_, i64>(0)? as u64,
                count: r.get::<_, i64>(1)? as u64,
                failures: r.get::<_, i64>(2)? as u64,
                lat_min: r.get(3)?,
                lat_avg: r.get(4)?,
                lat_p95: r.get(5)?,
                lat_max: r.get(6)?,
                uptime_count: r.get::<_, i64>(7)? as u64,
                uptime_failures: r.get::<_, i64>(8)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn changes(&self, check: &str, since_ms: u64) -> Result<Vec<Change>> {
        let mut query = self.conn.prepare_cached(CHANGES_OF_CHECK)?;
        let rows = query.query_map(params![check, since_ms as i64], |r| change_at(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn rolled_up_to(&self, span_s: u64) -> Result<u64> {
        let done: Option<i64> = self
            .conn
            .query_row(
                "SELECT done_ms FROM rollup_progress WHERE span_s = ?1",
                [span_s as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(done.unwrap_or(0) as u64)
    }

    fn recent_changes(&self, limit: usize) -> Result<Vec<(String, Change)>> {
        let mut query = self.conn.prepare_cached(
            "SELECT check_id, at_ms, from_health, to_health, detail FROM changes
             WHERE from_health IS NOT NULL ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = query.query_map([limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, change_at(r, 1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Rows per kind of data, for the size report.
    fn counts(
        &self,
        check: Option<&str>,
        since_ms: u64,
        hours_end: u64,
        minutes_end: u64,
    ) -> Result<Counts> {
        let sql = match check {
            Some(_) => UPTIME_OF_CHECK,
            None => UPTIME_OF_EVERY_CHECK,
        };
        let mut query = self.conn.prepare_cached(sql)?;
        let rows = query.query_map(
            params![
                since_ms as i64,
                hours_end as i64,
                minutes_end as i64,
                check.unwrap_or_default()
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?),
                ))
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn fresh_points(&self, check: &str, from_ms: u64, span_ms: u64) -> Result<Vec<ChartPoint>> {
        let mut query = self.conn.prepare_cached(FRESH_POINTS_OF_CHECK)?;
        let rows = query.query_map(params![check, from_ms as i64, span_ms as i64], |r| {
            Ok(ChartPoint {
                start_ms: r.get::<_, i64>(0)? as u64,
                count: r.get::<_, i64>(1)? as u64,
                failures: r.get::<_, i64>(2)? as u64,
                lat_avg: r.get(3)?,
                lat_max: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn failures(&self, check: &str, since_ms: u64) -> Result<Vec<FailureReason>> {
        let mut query = self.conn.prepare_cached(FAILURES_OF_CHECK)?;
        let rows = query.query_map(params![check, since_ms as i64], |r| {
            Ok(FailureReason {
                at_ms: r.get::<_, i64>(0)? as u64,
                health: health_of(&r.get::<_, String>(1)?).unwrap_or(Health::Unknown),
                detail: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn minute_means(&self, since_ms: u64) -> Result<Vec<(String, MinutePoint)>> {
        let mut query = self.conn.prepare_cached(
            "SELECT check_id, at_ms / 60000 * 60000 AS minute, AVG(latency_ms), COUNT(*) FROM results
             WHERE at_ms >= ?1 AND health != 'unknown' GROUP BY check_id, minute ORDER BY check_id, minute",
        )?;
        let rows = query.query_map([since_ms as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                MinutePoint {
                    start_ms: r.get::<_, i64>(1)? as u64,
                    latency_ms: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn recent_results(
        &self,
        since_ms: u64,
        per_check: usize,
    ) -> Result<Vec<(String, RecentResult)>> {
        let mut query = self.conn.prepare_cached(
            "SELECT check_id, at_ms, health FROM (
                 SELECT check_id, at_ms, health,
                        ROW_NUMBER() OVER (PARTITION BY check_id ORDER BY at_ms DESC) AS newest
                 FROM results WHERE at_ms >= ?1 AND health != 'unknown'
             ) WHERE newest <= ?2 ORDER BY check_id, at_ms",
        )?;
        let rows = query.query_map(params![since_ms as i64, per_check as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                RecentResult {
                    at_ms: r.get::<_, i64>(1)? as u64,
                    health: health_of(&r.get::<_, String>(2)?).unwrap_or(Health::Unknown),
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn last_changes(&self) -> Result<Vec<(String, u64)>> {
        let mut query = self.conn.prepare_cached(
            "SELECT id, (SELECT MAX(at_ms) FROM changes_data WHERE check_num = num) FROM checks",
        )?;
        let rows = query.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?;
        let mut last = Vec::new();
        for row in rows {
            if let (check, Some(at_ms)) = row? {
                last.push((check, at_ms as u64));
            }
        }
        Ok(last)
    }

    fn row_counts(&self) -> Result<RowCounts> {
        let count = |sql: &str| {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        };
        Ok(RowCounts {
            results: count("SELECT COUNT(*) FROM results")?,
            minutes: count("SELECT COUNT(*) FROM rollups WHERE span_s = 60")?,
            hours: count("SELECT COUNT(*) FROM rollups WHERE span_s = 3600")?,
            changes: count("SELECT COUNT(*) FROM changes")?,
        })
    }
}

/// Aggregates raw results in `[start, end)` into spans of `span_s`. Results
/// Pulse could not check are no results of the target: not counted.
fn aggregate(tx: &rusqlite::Transaction<'_>, span_s: u64, start: u64, end: u64) -> Result<()> {
    let span_ms = span_s * 1000;
    let mut query = tx.prepare_cached(
        "SELECT r.check_num, r.at_ms, r.health, r.latency_us, r.maintenance
         FROM checks c CROSS JOIN results_data r ON r.check_num = c.num
         WHERE r.at_ms >= ?1 AND r.at_ms < ?2 AND r.health != ?3",
    )?;
    let mut rows = query.query(params![
        start as i64,
        end as i64,
        health_code(Health::Unknown)
    ])?;
    let mut buckets: HashMap<(i64, u64), Bucket> = HashMap::new();
    while let Some(row) = rows.next()? {
        let check: i64 = row.get(0)?;
        let at = row.get::<_, i64>(1)? as u64;
        let health: i64 = row.get(2)?;
        let latency: Option<i64> = row.get(3)?;
        let down = health == health_code(Health::Down);
        // Uptime counts a result only out of maintenance windows.
        let counted = row.get::<_, i64>(4)? == 0;
        let bucket = buckets.entry((check, at / span_ms * span_ms)).or_default();
        bucket.count += 1;
        bucket.failures += u64::from(down);
        bucket.uptime_count += u64::from(counted);
        bucket.uptime_failures += u64::from(counted && down);
        bucket.latencies.extend(latency);
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO rollups_data (check_num, span_s, start_ms, count, failures,
                                              lat_min_us, lat_avg_us, lat_p95_us, lat_max_us,
                                              uptime_count, uptime_failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for ((check, bucket_start), bucket) in buckets {
        let mut latencies = bucket.latencies;
        latencies.sort_unstable();
        let n = latencies.len();
        let avg = (n > 0).then(|| latencies.iter().sum::<i64>() / n as i64);
        // Nearest rank: the smallest value with at least 95 % at or below it.
        let p95 = (n > 0).then(|| latencies[(n * 95).div_ceil(100).max(1) - 1]);
        insert.execute(params![
            check,
            span_s as i64,
            bucket_start as i64,
            bucket.count as i64,
            bucket.failures as i64,
            latencies.first(),
            avg,
            p95,
            latencies.last(),
            bucket.uptime_count as i64,
            bucket.uptime_failures as i64
        ])?;
    }
    Ok(())
}

/// One check's results in one span, as they are aggregated.
#[derive(Default)]
struct Bucket {
    count: u64,
    failures: u64,
    uptime_count: u64,
    uptime_failures: u64,
    latencies: Vec<i64>,
}

fn latest_health(conn: &Connection) -> Result<HashMap<String, Health>> {
    let mut query = conn.prepare(
        "SELECT id, (SELECT to_code FROM changes_data WHERE check_num = num
                     ORDER BY at_ms DESC, rowid DESC LIMIT 1) FROM checks",
    )?;
    let rows = query.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
    })?;
    let mut latest = HashMap::new();
    for row in rows {
        if let (check, Some(code)) = row? {
            latest.insert(check, health_from_code(code));
        }
    }
    Ok(latest)
}

/// A `changes` row read from column `first` on: at, from, to, detail.
fn change_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Change> {
    Ok(Change {
        at_ms: row.get::<_, i64>(first)? as u64,
        from: row
            .get::<_, Option<String>>(first + 1)?
            .as_deref()
            .and_then(health_of),
        to: health_of(&row.get::<_, String>(first + 2)?).unwrap_or(Health::Unknown),
        detail: row.get(first + 3)?,
    })
}
