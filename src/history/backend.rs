//! What a history store is, whatever database holds it: the writes the
//! writer makes, the few primitive reads each database answers in its own
//! SQL, and the reads built on them (uptime, trends, a check's history),
//! written once here so that SQLite and Postgres answer them the same way.

use crate::status::{
    ChartPoint, CheckHistory, CheckStatus, DAY_MS, DAYS, DayCount, FailureReason, Health,
    MinutePoint, RECENT, RecentResult, StateSpan, Trend, UPTIME_WINDOWS, WindowCount,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Aggregate spans, in seconds: minutes and hours.
pub const SPANS: [u64; 2] = [60, 3600];

/// How long each kind of data is kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub raw: Duration,
    /// Per-minute aggregates: the detail of the last days.
    pub minutes: Duration,
    /// Per-hour aggregates and state changes: the long view.
    pub hours: Duration,
}

impl Default for Retention {
    /// A day of raw results, two days of minutes, 90 days of hours. The
    /// charts read minutes up to a day and hours beyond; 90 days of minutes
    /// would take gigabytes for a thousand checks (docs/benchmarks.md, "History size").
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(24 * 3600),
            minutes: Duration::from_secs(48 * 3600),
            hours: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// How many rows each kind of data has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub results: u64,
    pub minutes: u64,
    pub hours: u64,
    pub changes: u64,
}

/// One aggregate row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rollup {
    pub(crate) start_ms: u64,
    pub count: u64,
    pub failures: u64,
    pub(crate) lat_min: Option<f64>,
    pub(crate) lat_avg: Option<f64>,
    pub(crate) lat_p95: Option<f64>,
    pub lat_max: Option<f64>,
    /// `count` and `failures` of the results out of maintenance windows:
    /// what uptime counts.
    pub(crate) uptime_count: u64,
    pub(crate) uptime_failures: u64,
}

/// One change of health.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    pub(crate) at_ms: u64,
    pub from: Option<Health>,
    pub to: Health,
    pub detail: Option<String>,
}

/// A failed history operation, with its causes in one line (for the log
/// and the API), and what it says of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub(crate) message: String,
    pub(crate) kind: ErrorKind,
}

/// What a failure says of what was written: the history writer keeps
/// results through an outage, but gives up one the database will never take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The database refused this data itself (a value out of its range, a
    /// constraint): the same write fails again.
    Refused,
    /// Its disk is full.
    Full,
    /// Anything else (down, busy, a connection broken): the same write may
    /// go through later.
    Failed,
}

pub type Result<T> = std::result::Result<T, Error>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The error and every cause under it: tokio-postgres's own message is only
/// "db error", and the server's reason is its source.
fn with_causes(error: &dyn std::error::Error, kind: ErrorKind) -> Error {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = inner.source();
    }
    Error { message, kind }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let kind = match &error {
            rusqlite::Error::SqliteFailure(e, _) => match e.code {
                ErrorCode::DiskFull => ErrorKind::Full,
                ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch => {
                    ErrorKind::Refused
                }
                _ => ErrorKind::Failed,
            },
            rusqlite::Error::ToSqlConversionFailure(_)
            | rusqlite::Error::IntegralValueOutOfRange(..) => ErrorKind::Refused,
            _ => ErrorKind::Failed,
        };
        with_causes(&error, kind)
    }
}

/// By SQLSTATE: class 22 (data exception), 23 (integrity constraint) and
/// 54000 (a program limit, a row too large) are the data's; 53100 is a
/// full disk.
fn postgres_kind(error: &tokio_postgres::Error) -> ErrorKind {
    match error.code().map(|state| state.code()) {
        Some("53100") => ErrorKind::Full,
        Some(state) if state.starts_with("22") || state.starts_with("23") || state == "54000" => {
            ErrorKind::Refused
        }
        _ => ErrorKind::Failed,
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        let kind = postgres_kind(&error);
        with_causes(&error, kind)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        let kind = match &error {
            deadpool_postgres::PoolError::Backend(e) => postgres_kind(e),
            _ => ErrorKind::Failed,
        };
        with_causes(&error, kind)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error {
            message,
            kind: ErrorKind::Failed,
        }
    }
}

/// (results, failures) per check.
pub(crate) type Counts = HashMap<String, (i64, i64)>;

/// A history database. Blocking calls: the writer runs them on a thread
/// of its own and readers on the blocking pool, so nothing here ever waits
/// in the check loop or the fan-out.
pub trait Backend {
    /// Records a batch of results in one transaction, with the changes of
    /// health they bring. Pending statuses (never checked) are not results.
    /// A result Pulse could not check (`unknown`) is kept with its reason,
    /// for the detail page, but it is no change of the target's health, and
    /// every count (uptime, aggregates, charts) leaves it out.
    fn record(&mut self, batch: &[CheckStatus]) -> Result<()>;

    /// Aggregates every complete minute and hour not aggregated yet.
    fn roll_up(&mut self, now_ms: u64) -> Result<()>;

    /// Deletes what is older than its retention.
    fn prune(&mut self, now_ms: u64, retention: Retention) -> Result<()>;

    /// Where the aggregates of `span_s` are complete up to (0 when none).
    fn rolled_up_to(&self, span_s: u64) -> Result<u64>;

    /// A check's aggregates of `span_s` starting at or after `since_ms`.
    fn rollups(&self, check: &str, span_s: u64, since_ms: u64) -> Result<Vec<Rollup>>;

    /// A check's changes of health since `since_ms`, oldest first.
    fn changes(&self, check: &str, since_ms: u64) -> Result<Vec<Change>>;

    /// (results, failures) out of maintenance, per check (or of `check`
    /// only): whole hours in `[since, hours_end)`, whole minutes in
    /// `[hours_end, minutes_end)`, raw results from `minutes_end`.
    fn counts(
        &self,
        check: Option<&str>,
        since_ms: u64,
        hours_end: u64,
        minutes_end: u64,
    ) -> Result<Counts>;

    /// A check's raw results from `from_ms` on as chart points of `span_ms`.
    fn fresh_points(&self, check: &str, from_ms: u64, span_ms: u64) -> Result<Vec<ChartPoint>>;

    /// A check's latest results that were not up (at most `FAILURES`).
    fn failures(&self, check: &str, since_ms: u64) -> Result<Vec<FailureReason>>;

    /// Every check's mean latency per minute since `since_ms`, in order.
    fn minute_means(&self, since_ms: u64) -> Result<Vec<(String, MinutePoint)>>;

    /// Every check's newest `per_check` results since `since_ms`, oldest first.
    fn recent_results(
        &self,
        since_ms: u64,
        per_check: usize,
    ) -> Result<Vec<(String, RecentResult)>>;

    /// When each check last changed health.
    fn last_changes(&self) -> Result<Vec<(String, u64)>>;

    /// The newest real changes (from one verdict to another) across all
    /// checks, newest first.
    fn recent_changes(&self, limit: usize) -> Result<Vec<(String, Change)>>;

    /// Rows per kind of data, for the size report and the tests.
    fn row_counts(&self) -> Result<RowCounts>;

    /// The share of results since `since_ms` that were not down (degraded
    /// counts as up; results Pulse could not check do not count at all);
    /// `None` without any result.
    fn uptime(&self, check: &str, since_ms: u64) -> Result<Option<f64>> {
        Ok(self
            .uptime_counts(Some(check), since_ms)?
            .remove(check)
            .and_then(share_up))
    }

    /// (results, failures) per check since `since_ms`, from the coarsest
    /// data that covers each part of the window: whole hours from the hour
    /// aggregates (kept longest), then whole minutes, then raw results not
    /// yet aggregated. So a 30-day uptime needs no 30 days of minutes.
    fn uptime_counts(&self, check: Option<&str>, since_ms: u64) -> Result<Counts> {
        let hours_end = self.rolled_up_to(3600)?.max(since_ms);
        let minutes_end = self.rolled_up_to(60)?.max(hours_end);
        self.counts(check, since_ms, hours_end, minutes_end)
    }

    /// Every check's trend at `now_ms`, in a few grouped queries rather
    /// than a few per check: a page render reads this for every card.
    fn trends(&self, now_ms: u64) -> Result<HashMap<String, Trend>> {
        let mut trends: HashMap<String, Trend> = HashMap::new();
        for (slot, (_, window_ms)) in UPTIME_WINDOWS.iter().enumerate() {
            let since = now_ms.saturating_sub(*window_ms);
            for (check, (results, failures)) in self.uptime_counts(None, since)? {
                trends.entry(check).or_default().windows[slot] = WindowCount {
                    results: results as f64,
                    failures: failures as f64,
                };
            }
        }
        // The sparkline and the recent results: from the raw results of the
        // last hour (raw results are kept for 24 h, so they are all there).
        let hour_ago = now_ms.saturating_sub(3_600_000);
        for (check, point) in self.minute_means(hour_ago)? {
            trends.entry(check).or_default().minutes.push(point);
        }
        for (check, result) in self.recent_results(hour_ago, RECENT)? {
            trends.entry(check).or_default().recent.push(result);
        }
        for (check, at_ms) in self.last_changes()? {
            trends.entry(check).or_default().last_change_ms = Some(at_ms);
        }
        Ok(trends)
    }

    /// One check over the `range_ms` before `now_ms`: chart points (minute
    /// means from the raw results up to a day, hour aggregates beyond),
    /// the changes with how long each state lasted, the latest failures.
    fn check_history(
        &self,
        check: &str,
        range: &str,
        range_ms: u64,
        now_ms: u64,
    ) -> Result<CheckHistory> {
        let since = now_ms.saturating_sub(range_ms);
        let span_s = span_for(range_ms);
        // Aggregates where they are complete, raw results for the rest: the
        // newest span, or all of it when raw results outlive nothing yet.
        let rolled = self.rolled_up_to(span_s)?.max(since);
        let mut points: Vec<ChartPoint> = self
            .rollups(check, span_s, since)?
            .into_iter()
            .filter(|r| r.start_ms < rolled)
            .map(|r| ChartPoint {
                start_ms: r.start_ms,
                count: r.count,
                failures: r.failures,
                lat_avg: r.lat_avg,
                lat_max: r.lat_max,
            })
            .collect();
        points.extend(self.fresh_points(check, rolled, span_s * 1000)?);
        let changes = self.changes(check, since)?;
        let spans = changes
            .iter()
            .enumerate()
            .map(|(i, change)| StateSpan {
                at_ms: change.at_ms,
                health: change.to,
                lasted_ms: changes.get(i + 1).map(|next| next.at_ms - change.at_ms),
                detail: change.detail.clone(),
            })
            .collect();
        Ok(CheckHistory {
            range: range.to_string(),
            span_s,
            until_ms: now_ms,
            points,
            changes: spans,
            failures: self.failures(check, since)?,
            days: self.days(check, now_ms)?,
        })
    }

    /// Results and failures per UTC day over the last `DAYS` days: whole
    /// hours from the hour aggregates, the rest (minutes and raw results
    /// not yet in an hour) counted day by day.
    fn days(&self, check: &str, now_ms: u64) -> Result<Vec<DayCount>> {
        let first = (now_ms / DAY_MS).saturating_sub(DAYS - 1) * DAY_MS;
        let hours_end = self.rolled_up_to(3600)?.max(first);
        let mut days: BTreeMap<u64, DayCount> = BTreeMap::new();
        let mut count = |at_ms: u64, results: i64, failures: i64| {
            let start_ms = at_ms / DAY_MS * DAY_MS;
            let day = days.entry(start_ms).or_insert(DayCount {
                start_ms,
                results: 0,
                failures: 0,
            });
            day.results += results.max(0) as u64;
            day.failures += failures.max(0) as u64;
        };
        for hour in self.rollups(check, 3600, first)? {
            if hour.start_ms < hours_end {
                let (results, failures) = (hour.uptime_count, hour.uptime_failures);
                count(hour.start_ms, results as i64, failures as i64);
            }
        }
        let since = |from_ms: u64| -> Result<(i64, i64)> {
            Ok(self
                .uptime_counts(Some(check), from_ms)?
                .remove(check)
                .unwrap_or_default())
        };
        let mut from = hours_end;
        while from <= now_ms {
            let next_day = (from / DAY_MS + 1) * DAY_MS;
            let (all, later) = (since(from)?, since(next_day)?);
            count(from, all.0 - later.0, all.1 - later.1);
            from = next_day;
        }
        Ok(days.into_values().filter(|day| day.results > 0).collect())
    }
}

/// The width of a chart point over a range: minutes up to a day (raw
/// results are kept that long), hours beyond.
pub(crate) fn span_for(range_ms: u64) -> u64 {
    if range_ms <= 86_400_000 { 60 } else { 3600 }
}

/// The share of results that were not down.
fn share_up((count, failures): (i64, i64)) -> Option<f64> {
    (count > 0).then(|| 1.0 - failures as f64 / count as f64)
}

/// How the tables store a health (see migrations/sqlite/002_compact.sql),
/// the same in both databases.
const HEALTH_CODES: [Health; 4] = [Health::Up, Health::Degraded, Health::Down, Health::Unknown];

pub(super) fn health_code(health: Health) -> i64 {
    HEALTH_CODES.iter().position(|h| *h == health).unwrap_or(3) as i64
}

pub(super) fn health_from_code(code: i64) -> Health {
    usize::try_from(code)
        .ok()
        .and_then(|i| HEALTH_CODES.get(i).copied())
        .unwrap_or(Health::Unknown)
}

pub(super) fn health_of(label: &str) -> Option<Health> {
    HEALTH_CODES.into_iter().find(|h| h.label() == label)
}

/// Latencies are stored as whole microseconds (migrations/sqlite/003_integers.sql).
pub(super) fn micros(latency_ms: f64) -> i64 {
    (latency_ms * 1000.0).round() as i64
}

/// The results of a batch that are results: checked at least once.
pub(super) fn checked(batch: &[CheckStatus]) -> impl Iterator<Item = &CheckStatus> {
    batch.iter().filter(|s| s.checked_at_ms > 0)
}

/// What a result keeps as its reason: nothing when it was up.
pub(super) fn detail_of(status: &CheckStatus) -> Option<&str> {
    (status.health != Health::Up).then_some(status.detail.as_str())
}
