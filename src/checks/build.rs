//! From a config to runnable checks: each `CheckSpec` becomes a probe with
//! its interval and timeout resolved (the check's own, else the file's
//! `[defaults]`, else the command line's) and its redactor.

use super::{Check, HostProbe, HttpProbe, Probe, PushProbe, TcpProbe, TlsProbe};
use crate::config::{CheckSpec, Config, ProbeSpec};
use crate::redact::{self, Redactor};
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
            Ok(Check {
                id: spec.id.clone(),
                name: spec.name.clone(),
                group: spec.group.clone(),
                interval,
                timeout,
                probe: probe(spec)?,
                publicity: spec.publicity.clone(),
                fingerprint: fingerprint(spec, interval, timeout),
                redactor: Arc::new(redactor(&config.secrets, spec)),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((checks, concurrency))
}

/// The config's `${ENV}` values plus what this check's own settings hold:
/// an HTTP check's URL and headers, by the one rule of `redact`.
fn redactor(config_secrets: &[String], spec: &CheckSpec) -> Redactor {
    let mut secrets = config_secrets.to_vec();
    if let ProbeSpec::Http(http) = &spec.probe {
        secrets.extend(redact::url_secrets(&http.url.0));
        secrets.extend(redact::header_secrets(&http.headers.0));
    }
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

fn probe(spec: &CheckSpec) -> Result<Probe, String> {
    Ok(match &spec.probe {
        ProbeSpec::Http(http) => Probe::Http(Box::new(HttpProbe::from_spec(http))),
        ProbeSpec::Tcp(tcp) => Probe::Tcp(TcpProbe::from_spec(tcp)),
        ProbeSpec::Tls(tls) => {
            Probe::Tls(TlsProbe::from_spec(tls).map_err(|e| format!("check `{}`: {e}", spec.name))?)
        }
        ProbeSpec::Host(host) => Probe::Host(HostProbe::from_spec(host)),
        ProbeSpec::Push(push) => Probe::Push(PushProbe::new(
            &push.token.0,
            push.period.0,
            push.grace
                .map_or(crate::config::DEFAULT_PUSH_GRACE, |g| g.0),
        )),
    })
}
