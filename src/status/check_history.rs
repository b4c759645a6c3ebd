//! One check's history over a range, as its detail page shows it: chart
//! points, state changes, the latest failures and the 90-day bar. Read
//! from the history, then moved on in the browser by each live result.

use super::{CheckStatus, Health};
use serde::{Deserialize, Serialize};

/// One check's history over a range: what its detail page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckHistory {
    pub range: String,
    /// The width of each chart point: 60 (minutes) up to 24 h, else 3600.
    pub span_s: u64,
    /// The end of the range: when it was read, then the newest result
    /// applied.
    pub until_ms: u64,
    pub points: Vec<ChartPoint>,
    /// Oldest first, each with how long the state lasted.
    pub changes: Vec<StateSpan>,
    /// The newest results that were not up, newest first (at most `FAILURES`).
    pub failures: Vec<FailureReason>,
    /// Results and failures per UTC day over the last `DAYS` days, oldest
    /// first; days without results are missing.
    pub days: Vec<DayCount>,
}

/// The latest failures a detail page lists.
pub const FAILURES: usize = 10;
/// The days of the uptime bar.
pub const DAYS: u64 = 90;
pub const DAY_MS: u64 = 86_400_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// Midnight UTC.
    pub start_ms: u64,
    pub results: u64,
    /// Results that were down.
    pub failures: u64,
}

impl CheckHistory {
    /// A new result of the check, as the history will hold it: the newest
    /// chart point, a state change, a failure, today's count. What the
    /// detail page applies as results arrive, without refetching.
    pub fn push(&mut self, status: &CheckStatus, range_ms: u64) {
        let at = status.checked_at_ms;
        // Older results are in what was read (or lost with its last
        // second, never counted twice); a snapshot after a reconnect
        // repeats the newest result.
        if status.health == Health::Unknown || at <= self.until_ms {
            return;
        }
        self.until_ms = at;
        self.push_point(at, status.health, status.latency_ms);
        let since = self.until_ms.saturating_sub(range_ms);
        self.points
            .retain(|p| p.start_ms + self.span_s * 1000 > since);
        self.push_change(status);
        if status.health != Health::Up {
            self.failures.insert(
                0,
                FailureReason {
                    at_ms: at,
                    health: status.health,
                    detail: status.detail.clone(),
                },
            );
            self.failures.truncate(FAILURES);
        }
        if !status.in_maintenance() {
            self.count_day(at, status.health == Health::Down);
        }
    }

    fn push_point(&mut self, at_ms: u64, health: Health, latency_ms: Option<f64>) {
        let span_ms = self.span_s.max(1) * 1000;
        let start_ms = at_ms / span_ms * span_ms;
        let down = u64::from(health == Health::Down);
        match self.points.last_mut() {
            Some(point) if point.start_ms == start_ms => {
                if let Some(ms) = latency_ms {
                    let with_latency = point.count as f64;
                    let total = point.lat_avg.unwrap_or(0.0) * with_latency + ms;
                    point.lat_avg = Some(total / (with_latency + 1.0));
                    point.lat_max = Some(point.lat_max.map_or(ms, |max| max.max(ms)));
                }
                point.count += 1;
                point.failures += down;
            }
            Some(point) if point.start_ms > start_ms => {}
            _ => self.points.push(ChartPoint {
                start_ms,
                count: 1,
                failures: down,
                lat_avg: latency_ms,
                lat_max: latency_ms,
            }),
        }
    }

    fn push_change(&mut self, status: &CheckStatus) {
        let at_ms = status.checked_at_ms;
        if let Some(last) = self.changes.last_mut() {
            if last.health == status.health {
                return;
            }
            last.lasted_ms = Some(at_ms.saturating_sub(last.at_ms));
        }
        self.changes.push(StateSpan {
            at_ms,
            health: status.health,
            lasted_ms: None,
            detail: Some(status.detail.clone()),
        });
    }

    fn count_day(&mut self, at_ms: u64, down: bool) {
        let start_ms = at_ms / DAY_MS * DAY_MS;
        match self.days.last_mut() {
            Some(day) if day.start_ms == start_ms => {
                day.results += 1;
                day.failures += u64::from(down);
            }
            Some(day) if day.start_ms > start_ms => {}
            _ => self.days.push(DayCount {
                start_ms,
                results: 1,
                failures: u64::from(down),
            }),
        }
        let first = start_ms.saturating_sub((DAYS - 1) * DAY_MS);
        self.days.retain(|day| day.start_ms >= first);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    pub start_ms: u64,
    pub count: u64,
    pub failures: u64,
    pub lat_avg: Option<f64>,
    pub lat_max: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSpan {
    pub at_ms: u64,
    pub health: Health,
    /// Until the next change; `None` for the current state.
    pub lasted_ms: Option<u64>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureReason {
    pub at_ms: u64,
    pub health: Health,
    pub detail: String,
}
