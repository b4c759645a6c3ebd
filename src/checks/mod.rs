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
mod host;
mod http;
mod local_fault;
pub mod push;
mod tcp;
mod tls;

pub use build::{Fallbacks, from_config};
pub(crate) use defaults::embedded_default;
pub use engine::{Applied, Engine, Replicas};
pub(crate) use host::{HostMetric, HostProbe};
pub(crate) use http::HttpProbe;
pub(crate) use local_fault::LocalFault;
pub(crate) use push::{PushProbe, Pushes};
pub(crate) use tcp::TcpProbe;
pub(crate) use tls::TlsProbe;

use crate::status::{CheckId, CheckKind, CheckStatus, Health, Publicity};
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

/// How a check looks at its target. An enum rather than a trait object:
/// the set of kinds is closed and each is plain async code.
pub(crate) enum Probe {
    Http(Box<HttpProbe>),
    Tcp(TcpProbe),
    Tls(TlsProbe),
    Host(HostProbe),
    Push(PushProbe),
}

/// What a probe found, before the engine adds identity and timing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub(crate) health: Health,
    pub(crate) detail: String,
}

impl Finding {
    pub fn new(health: Health, detail: impl Into<String>) -> Self {
        Finding {
            health,
            detail: detail.into(),
        }
    }

    pub(crate) fn down(detail: impl Into<String>) -> Self {
        Finding::new(Health::Down, detail)
    }

    /// A probe that failed with `error`: down, for the reason `describe`
    /// gives, unless the failure was Pulse's own, which says nothing about
    /// the target. Every probe kind turns its errors into outcomes here.
    pub(crate) fn failed(
        error: &(dyn std::error::Error + 'static),
        describe: impl FnOnce() -> String,
    ) -> Self {
        match LocalFault::find_in(error) {
            Some(fault) => Finding::not_checked(fault),
            None => Finding::down(describe()),
        }
    }

    /// Pulse could not look at the target: `unknown`, with why.
    pub(crate) fn not_checked(fault: LocalFault) -> Self {
        Finding::new(
            Health::Unknown,
            format!("Pulse could not check this: {fault}"),
        )
    }
}

impl Probe {
    fn kind(&self) -> CheckKind {
        match self {
            Probe::Http(_) => CheckKind::Http,
            Probe::Tcp(_) => CheckKind::Tcp,
            Probe::Tls(_) => CheckKind::Tls,
            Probe::Host(_) => CheckKind::Host,
            Probe::Push(_) => CheckKind::Push,
        }
    }

    async fn run(&self) -> Finding {
        match self {
            Probe::Http(probe) => probe.run().await,
            Probe::Tcp(probe) => probe.run().await,
            Probe::Tls(probe) => probe.run().await,
            Probe::Host(probe) => probe.run().await,
            Probe::Push(probe) => probe.run().await,
        }
    }

    /// Resolves when something outside wants the check run now (a ping
    /// to a push check that was down); never, for the other kinds.
    pub(crate) async fn woken(&self) {
        match self {
            Probe::Push(probe) => probe.state.woken().await,
            _ => std::future::pending().await,
        }
    }

    /// The state a ping reaches, for a push check.
    pub(crate) fn push_state(&self) -> Option<&std::sync::Arc<push::PushState>> {
        match self {
            Probe::Push(probe) => Some(&probe.state),
            _ => None,
        }
    }
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
        // A check Pulse could not run measured nothing of its target, and
        // a push check waits rather than measures.
        let measured = outcome.health != Health::Unknown && self.probe.push_state().is_none();
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
