//! From a config to runnable checks: each `CheckSpec` becomes a probe with
//! its interval and timeout resolved (the check's own, else the file's
//! `[defaults]`, else the command line's) and its redactor.

use super::Check;
use crate::config::{CheckSpec, Config};
use crate::redact::Redactor;
use std::sync::Arc;
use std::time::Duration;

/// What applies when the config file says nothing: the command-line values.
#[derive(Clone, Copy, Debug)]
pub struct Fallbacks {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
}

/// The checks of a config, and how many may run at once.
pub fn from_config(config: &Config, fallbacks: Fallbacks) -> Result<(Vec<Check>, usize), String> {
    let interval = config.defaults.interval.map_or(fallbacks.interval, |p| p.0);
    let timeout = config.defaults.timeout.map_or(fallbacks.timeout, |p| p.0);
    let concurrency = config
        .defaults
        .concurrency
        .map_or(fallbacks.concurrency, |c| c.0);
    let checks = config
        .checks
        .iter()
        .map(|spec| {
            let interval = spec.interval.unwrap_or(interval);
            let timeout = spec.timeout.unwrap_or(timeout);
            let redactor = redactor(&config.secrets, spec);
            // A driver refusing its settings may quote them: published
            // with the config's error, so blanked as every error is.
            let probe = spec
                .probe
                .probe()
                .map_err(|e| redactor.blank_error(&format!("check `{}`: {e}", spec.name)))?;
            Ok(Check {
                id: spec.id.clone(),
                name: spec.name.clone(),
                group: spec.group.clone(),
                interval,
                timeout,
                probe,
                publicity: spec.publicity.clone(),
                fingerprint: fingerprint(spec, interval, timeout),
                redactor: Arc::new(redactor),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((checks, concurrency))
}

/// The config's `${ENV}` values plus what its kind says is secret in this
/// check's own keys (an HTTP check's URL and headers).
fn redactor(config_secrets: &[String], spec: &CheckSpec) -> Redactor {
    let mut secrets = config_secrets.to_vec();
    secrets.extend(spec.probe.secrets());
    Redactor::new(secrets)
}

/// What restarts a check when it changes: everything but its publicity
/// (see `Check::publicity`) and its alert rule (the alert rules follow a
/// reload on their own, keeping their state).
fn fingerprint(spec: &CheckSpec, interval: Duration, timeout: Duration) -> String {
    let CheckSpec {
        id,
        name,
        group,
        probe,
        interval: _,
        timeout: _,
        publicity: _,
        alert: _,
    } = spec;
    format!("{id:?} {name:?} {group:?} {probe:?} every {interval:?} within {timeout:?}")
}
