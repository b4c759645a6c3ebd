//! The embedded default: what Pulse watches when given no configuration.
//! The host it runs on, and its own `/healthz` over real HTTP, so a fresh
//! start shows live, changing data with nothing to set up. The self-check is
//! public, so the public status page has something to show; the host's
//! metrics are not.

use super::Check;
use crate::probes::{HostMetric, HostProbe, HttpProbe, LOAD_PER_CORE, Probe, USAGE};
use crate::status::{CheckId, Publicity};
use std::net::SocketAddr;
use std::time::Duration;

/// The healthz answer is local; anything this slow means the server is starved.
const SELF_DEGRADED_ABOVE: Duration = Duration::from_millis(500);
/// What the public reads about the self-check, instead of its live detail
/// (which names the address Pulse listens on).
const SELF_PUBLIC_DETAIL: &str = "Pulse answers its own health check.";

pub(crate) fn embedded_default(
    listening_on: SocketAddr,
    interval: Duration,
    timeout: Duration,
) -> Vec<Check> {
    let check = |id: &str, name: &str, group: &str, probe: Probe| Check {
        id: CheckId(id.to_string()),
        name: name.to_string(),
        group: group.to_string(),
        interval,
        timeout,
        probe,
        publicity: Publicity::Private,
        fingerprint: id.to_string(),
        redactor: Default::default(),
    };
    let healthz = format!("http://{}/healthz", loopback_for(listening_on))
        .parse()
        .expect("a socket address makes a valid URL");
    vec![
        check(
            "host-cpu",
            "CPU",
            "host",
            Probe::Host(Box::new(HostProbe::new(HostMetric::Cpu, USAGE))),
        ),
        check(
            "host-memory",
            "Memory",
            "host",
            Probe::Host(Box::new(HostProbe::new(HostMetric::Memory, USAGE))),
        ),
        check(
            "host-disk-root",
            "Disk /",
            "host",
            Probe::Host(Box::new(HostProbe::new(
                HostMetric::Disk("/".into()),
                USAGE,
            ))),
        ),
        check(
            "host-load",
            "Load",
            "host",
            Probe::Host(Box::new(HostProbe::new(HostMetric::Load, LOAD_PER_CORE))),
        ),
        Check {
            publicity: Publicity::Public {
                detail: Some(SELF_PUBLIC_DETAIL.to_string()),
            },
            ..check(
                "pulse-healthz",
                "Pulse /healthz",
                "pulse",
                Probe::Http(Box::new(HttpProbe::get(healthz, SELF_DEGRADED_ABOVE))),
            )
        },
    ]
}

/// A server bound to every interface (0.0.0.0) is reached at loopback.
fn loopback_for(addr: SocketAddr) -> SocketAddr {
    let mut target = addr;
    if addr.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    target
}
