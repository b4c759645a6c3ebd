//! The embedded default: what Pulse watches when given no configuration.
//! The host it runs on, and its own `/healthz` over real HTTP, so a fresh
//! start shows live, changing data with nothing to set up.

use super::{Check, HostMetric, HostProbe, HttpProbe, Probe, Thresholds};
use crate::status::CheckId;
use std::net::SocketAddr;
use std::time::Duration;

/// Busy CPU and used memory/disk, in percent.
const USAGE: Thresholds = Thresholds {
    degraded: 85.0,
    down: 95.0,
};
/// One-minute load per core: queueing starts at 1; at 4 the host is swamped.
const LOAD_PER_CORE: Thresholds = Thresholds {
    degraded: 1.5,
    down: 4.0,
};
/// The healthz answer is local; anything this slow means the server is starved.
const SELF_DEGRADED_ABOVE: Duration = Duration::from_millis(500);

pub fn embedded_default(
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
    };
    let healthz = format!("http://{}/healthz", loopback_for(listening_on))
        .parse()
        .expect("a socket address makes a valid URL");
    vec![
        check(
            "host-cpu",
            "CPU",
            "host",
            Probe::Host(HostProbe::new(HostMetric::Cpu, USAGE)),
        ),
        check(
            "host-memory",
            "Memory",
            "host",
            Probe::Host(HostProbe::new(HostMetric::Memory, USAGE)),
        ),
        check(
            "host-disk-root",
            "Disk /",
            "host",
            Probe::Host(HostProbe::new(HostMetric::Disk("/".into()), USAGE)),
        ),
        check(
            "host-load",
            "Load",
            "host",
            Probe::Host(HostProbe::new(HostMetric::Load, LOAD_PER_CORE)),
        ),
        check(
            "pulse-healthz",
            "Pulse /healthz",
            "pulse",
            Probe::Http(HttpProbe::new(
                HttpProbe::client(),
                healthz,
                SELF_DEGRADED_ABOVE,
            )),
        ),
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
