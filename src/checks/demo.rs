//! A synthetic source for demos, benchmarks and wire tests: `--demo-rate 10/s`
//! publishes that many results per second, spread over a few synthetic checks,
//! alongside the real checks. Each result's `checked_at_ms` is its publish
//! time, so a client can measure fan-out latency. The details cycle through
//! strings that are hard to frame in SSE, so every run also exercises framing.

use crate::hub::Hub;
use crate::shutdown::Shutdown;
use crate::status::{CheckId, CheckKind, CheckStatus, Health};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Details that break naive SSE framing: every line ending, a trailing CR,
/// an empty string, non-ASCII text, and text that looks like SSE fields.
pub(crate) const FRAMING_SAMPLES: &[&str] = &[
    "plain text",
    "line one\nline two",
    "carriage\rreturn",
    "crlf\r\nline",
    "ends with a lone CR\r",
    "",
    "ünïcödé ✓ — 日本語 🚀",
    "\u{2028}line separator\u{2029}",
    "data: not a field\n\nid: 7\nevent: fake",
    "\n",
];

const SYNTHETIC_CHECKS: usize = 4;

/// Events per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct DemoRate(pub f64);

impl FromStr for DemoRate {
    type Err = String;

    /// `10/s`, `600/m`, or a bare number per second.
    fn from_str(text: &str) -> Result<Self, String> {
        let (count, per) = text.split_once('/').unwrap_or((text, "s"));
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a rate; try `10/s` or `600/m`"))?;
        let per_second = match per.trim() {
            "s" => count,
            "m" => count / 60.0,
            other => return Err(format!("unknown unit `{other}` in `{text}`; use /s or /m")),
        };
        if !(per_second > 0.0 && per_second.is_finite()) {
            return Err(format!("`{text}` must be a positive rate"));
        }
        Ok(DemoRate(per_second))
    }
}

/// Registers the synthetic checks and publishes at `rate` until shutdown.
pub(crate) fn start(rate: DemoRate, hub: Arc<Hub>, shutdown: Shutdown) {
    for k in 0..SYNTHETIC_CHECKS {
        let pending = status(k as u64, 0);
        hub.register(
            CheckStatus::pending(pending.id, pending.name, pending.group, pending.kind),
            // Synthetic checks are for demos and benchmarks of the private view.
            crate::status::Publicity::Private,
        );
    }
    tokio::spawn(async move {
        // Publish by schedule, not by tick count: at high rates several events
        // go out per tick, and a late tick catches up instead of drifting.
        let tick = Duration::from_secs_f64(1.0 / rate.0)
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let started = Instant::now();
        let mut published = 0u64;
        while shutdown.tick(&mut ticker).await {
            let due = (started.elapsed().as_secs_f64() * rate.0) as u64;
            while published < due {
                hub.publish(status(published, crate::clock::unix_millis()));
                published += 1;
            }
        }
    });
}

fn status(n: u64, now_ms: u64) -> CheckStatus {
    let k = n % SYNTHETIC_CHECKS as u64;
    CheckStatus {
        maintenance_until_ms: None,
        id: CheckId(format!("synthetic-{k}")),
        name: format!("Synthetic {k}"),
        group: "synthetic".to_string(),
        kind: CheckKind::Synthetic,
        health: Health::Up,
        latency_ms: Some(0.0),
        detail: FRAMING_SAMPLES[(n % FRAMING_SAMPLES.len() as u64) as usize].to_string(),
        checked_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::DemoRate;

    #[test]
    fn rates_parse_per_second_and_per_minute() {
        assert_eq!("10/s".parse(), Ok(DemoRate(10.0)));
        assert_eq!("600/m".parse(), Ok(DemoRate(10.0)));
        assert_eq!("2.5".parse(), Ok(DemoRate(2.5)));
        for bad in ["0/s", "-1/s", "fast", "10/h", "inf"] {
            assert!(bad.parse::<DemoRate>().is_err(), "{bad}");
        }
    }
}
