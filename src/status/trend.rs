//! How a check has been (uptime per window, latency per minute, the
//! newest results): read from the history when a page is rendered, then
//! moved on in the browser by each live result, with no refetch.

use super::{CheckStatus, Health, PublicStatus};
use serde::{Deserialize, Serialize};

/// How a check has been: what a card shows beside its current status. Read
/// from the history when the page is rendered, then extended in the browser
/// by each event, with no refetch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// Results and failures over 1 h, 24 h, 7 d and 30 d: the uptimes.
    pub windows: [WindowCount; 4],
    /// Mean latency per minute over the last hour, oldest first: the
    /// sparkline.
    pub minutes: Vec<MinutePoint>,
    /// The newest results, oldest first (at most `RECENT`): the strip.
    pub recent: Vec<RecentResult>,
    /// When the health last changed.
    pub last_change_ms: Option<u64>,
}

/// The results and failures (down) in one uptime window. Fractional,
/// because the browser ages older results out as new ones arrive (see
/// `Trend::push`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowCount {
    pub results: f64,
    pub failures: f64,
}

impl WindowCount {
    /// The share of results that were not down; `None` without results.
    pub fn share_up(&self) -> Option<f64> {
        (self.results > 0.0).then(|| 1.0 - self.failures / self.results)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinutePoint {
    pub start_ms: u64,
    pub latency_ms: Option<f64>,
    pub count: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentResult {
    pub at_ms: u64,
    pub health: Health,
}

/// Uptime windows, in the order of `Trend::uptime`.
pub const UPTIME_WINDOWS: [(&str, u64); 4] = [
    ("1h", 3_600_000),
    ("24h", 86_400_000),
    ("7d", 604_800_000),
    ("30d", 2_592_000_000),
];
/// Results in a card's strip.
pub const RECENT: usize = 20;

impl Trend {
    /// Takes in one new result, as the history would have.
    pub fn push(&mut self, status: &CheckStatus) {
        let counted = !status.in_maintenance();
        self.push_result(
            status.checked_at_ms,
            status.health,
            status.latency_ms,
            counted,
        );
    }

    /// `push` for what a public status carries: the same fields.
    pub fn push_public(&mut self, status: &PublicStatus) {
        let counted = status.maintenance_until_ms.is_none();
        self.push_result(
            status.checked_at_ms,
            status.health,
            status.latency_ms,
            counted,
        );
    }

    /// `counted`: out of a maintenance window, so uptime counts it.
    fn push_result(&mut self, at_ms: u64, health: Health, latency_ms: Option<f64>, counted: bool) {
        let seen = self.recent.last().is_some_and(|r| r.at_ms >= at_ms);
        if at_ms == 0 || health == Health::Unknown || seen {
            return;
        }
        let elapsed_ms = self.recent.last().map_or(0, |r| at_ms - r.at_ms);
        self.count_in_windows(health, elapsed_ms, counted);
        let last_health = self.recent.last().map(|r| r.health);
        if last_health.is_some_and(|h| h != health) || self.last_change_ms.is_none() {
            self.last_change_ms = Some(at_ms);
        }
        self.recent.push(RecentResult { at_ms, health });
        if self.recent.len() > RECENT {
            self.recent.remove(0);
        }
        let minute = at_ms / 60_000 * 60_000;
        match self.minutes.last_mut() {
            Some(point) if point.start_ms == minute => {
                if let Some(ms) = latency_ms {
                    let total = point.latency_ms.unwrap_or(0.0) * point.count as f64 + ms;
                    point.count += 1;
                    point.latency_ms = Some(total / point.count as f64);
                }
            }
            _ => self.minutes.push(MinutePoint {
                start_ms: minute,
                latency_ms,
                count: 1,
            }),
        }
        let hour_ago = minute.saturating_sub(3_600_000);
        self.minutes.retain(|p| p.start_ms > hour_ago);
    }

    /// Share of results not down per window (1 h, 24 h, 7 d, 30 d).
    pub fn uptime(&self) -> [Option<f64>; 4] {
        self.windows.map(|w| w.share_up())
    }

    /// Counts a new result in every window. The browser does not hold a
    /// window's oldest results, so as `elapsed_ms` passes it lets the same
    /// share of the window's count go, as if the results leaving were like
    /// the window's average: a steady check keeps its count, a new failure
    /// weighs as it will on reload, and the page never refetches.
    /// A result in a maintenance window (`counted` false) adds nothing,
    /// but time still passes for the results before it.
    fn count_in_windows(&mut self, health: Health, elapsed_ms: u64, counted: bool) {
        let (result, failure) = match counted {
            true => (1.0, f64::from(u8::from(health == Health::Down))),
            false => (0.0, 0.0),
        };
        for (window, (_, window_ms)) in self.windows.iter_mut().zip(UPTIME_WINDOWS) {
            let kept = 1.0 - (elapsed_ms as f64 / window_ms as f64).min(1.0);
            window.results = window.results * kept + result;
            window.failures = window.failures * kept + failure;
        }
    }
}
