//! The checks: what Pulse watches and the engine that runs them. Every check
//! runs on its own interval, with a hard timeout and under a shared
//! concurrency limit, and publishes each result to the hub. A probe that
//! hangs, fails or panics yields a `down` status with a reason; it never
//! stops its own loop or anyone else's. Checks do not know who listens.

mod defaults;
pub mod demo;
mod host;
mod http;

pub use defaults::embedded_default;
pub use host::{HostMetric, HostProbe, Thresholds};
pub use http::HttpProbe;

use crate::hub::Hub;
use crate::metrics::CheckLabel;
use crate::shutdown::Shutdown;
use crate::status::{CheckId, CheckKind, CheckStatus, Health};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

/// One thing to watch, and how often.
pub struct Check {
    pub id: CheckId,
    pub name: String,
    pub group: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub probe: Probe,
}

/// How a check looks at its target. An enum rather than a trait object:
/// the set of kinds is closed and each is plain async code.
pub enum Probe {
    Http(HttpProbe),
    Host(HostProbe),
}

/// What a probe found, before the engine adds identity and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub health: Health,
    pub detail: String,
}

impl Outcome {
    pub fn new(health: Health, detail: impl Into<String>) -> Self {
        Outcome {
            health,
            detail: detail.into(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Self {
        Outcome::new(Health::Down, detail)
    }
}

impl Probe {
    fn kind(&self) -> CheckKind {
        match self {
            Probe::Http(_) => CheckKind::Http,
            Probe::Host(_) => CheckKind::Host,
        }
    }

    async fn run(&self) -> Outcome {
        match self {
            Probe::Http(probe) => probe.run().await,
            Probe::Host(probe) => probe.run().await,
        }
    }
}

impl Check {
    pub fn pending_status(&self) -> CheckStatus {
        CheckStatus::pending(
            self.id.clone(),
            self.name.clone(),
            self.group.clone(),
            self.probe.kind(),
        )
    }

    /// Runs the probe once, whatever it does: a timeout or a panic becomes a
    /// `down` outcome with a reason.
    pub async fn run_once(&self) -> CheckStatus {
        let started = Instant::now();
        let guarded = AssertUnwindSafe(self.probe.run()).catch_unwind();
        let outcome = match tokio::time::timeout(self.timeout, guarded).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                Outcome::down("the check itself failed (panicked); see the server log")
            }
            Err(_elapsed) => Outcome::down(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )),
        };
        CheckStatus {
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            health: outcome.health,
            detail: outcome.detail,
            checked_at_ms: unix_millis(),
            ..self.pending_status()
        }
    }
}

/// Registers every check with the hub (so the first snapshot lists them) and
/// starts running them. Returns at once; the checks stop on shutdown.
pub fn start(checks: Vec<Check>, hub: Arc<Hub>, shutdown: Shutdown, concurrency: usize) {
    let limiter = Arc::new(Semaphore::new(concurrency.max(1)));
    for check in checks {
        hub.register(check.pending_status());
        tokio::spawn(run_forever(
            check,
            hub.clone(),
            limiter.clone(),
            shutdown.clone(),
        ));
    }
}

async fn run_forever(check: Check, hub: Arc<Hub>, limiter: Arc<Semaphore>, shutdown: Shutdown) {
    // A small random offset so that checks sharing an interval do not all
    // fire in the same millisecond, yet the first results come at once.
    let offset = Duration::from_millis(fastrand::u64(
        0..=(check.interval.as_millis() as u64 / 10).min(250),
    ));
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, check.interval);
    // A run that overran its interval pushes the next one back instead of
    // firing a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while shutdown.tick(&mut ticker).await {
        let Ok(_permit) = limiter.acquire().await else {
            return;
        };
        let status = check.run_once().await;
        record(&hub, &status);
        hub.publish(status);
    }
}

fn record(hub: &Hub, status: &CheckStatus) {
    let label = CheckLabel {
        check: status.id.0.clone(),
    };
    let metrics = hub.metrics();
    if let Some(ms) = status.latency_ms {
        metrics
            .check_duration
            .get_or_create(&label)
            .observe(ms / 1000.0);
    }
    let up = matches!(status.health, Health::Up | Health::Degraded);
    metrics.check_up.get_or_create(&label).set(i64::from(up));
}

pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Sizes for people: `1.5 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_a_readable_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
