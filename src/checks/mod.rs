//! The checks: what Pulse watches and the engine that runs them. Every check
//! runs on its own interval, with a hard timeout and under a shared
//! concurrency limit, and publishes each result to the hub. A probe that
//! hangs, fails or panics yields a `down` status with a reason; it never
//! stops its own loop or anyone else's. A probe that fails for a reason on
//! Pulse's side (out of file descriptors, say) yields `unknown`: "Pulse
//! could not check this". Checks do not know who listens.

mod build;
mod defaults;
pub(crate) mod demo;
mod engine;

pub(crate) use crate::probes::Pushes;
pub use build::{Fallbacks, from_config};
pub(crate) use defaults::embedded_default;
pub use engine::{Applied, Engine, Replicas};

use crate::probes::{Finding, Probe};
use crate::status::{CheckId, CheckStatus, Health, Publicity};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One thing to watch, and how often.
pub struct Check {
    pub(crate) id: CheckId,
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) probe: Probe,
    /// Who may see it. Not part of the fingerprint: a check that only
    /// turns public or private keeps running, and the hub tells each
    /// audience (`Hub::set_publicity`).
    pub(crate) publicity: Publicity,
    /// Everything that defines the check; a reload restarts a check only
    /// when this changes.
    pub(crate) fingerprint: String,
    pub(crate) redactor: Arc<crate::redact::Redactor>,
}

impl Check {
    pub(crate) fn pending_status(&self) -> CheckStatus {
        self.redactor.apply(CheckStatus::pending(
            self.id.clone(),
            self.name.clone(),
            self.group.clone(),
            self.probe.kind(),
        ))
    }

    /// Runs the probe once, whatever it does: a timeout or a panic becomes a
    /// `down` outcome with a reason.
    pub(crate) async fn run_once(&self) -> CheckStatus {
        let started = Instant::now();
        let guarded = AssertUnwindSafe(self.probe.run()).catch_unwind();
        let outcome = match tokio::time::timeout(self.timeout, guarded).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                Finding::down("the check itself failed (panicked); see the server log")
            }
            Err(_elapsed) => Finding::down(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )),
        };
        // A check Pulse could not run measured nothing of its target.
        let measured = outcome.health != Health::Unknown && self.probe.measures_latency();
        self.redactor.apply(CheckStatus {
            maintenance_until_ms: None,
            latency_ms: measured.then(|| started.elapsed().as_secs_f64() * 1000.0),
            health: outcome.health,
            detail: outcome.detail,
            checked_at_ms: crate::clock::unix_millis(),
            ..self.pending_status()
        })
    }
}
