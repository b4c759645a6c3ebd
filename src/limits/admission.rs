//! Whether a new connection may be served at all: at most `per_address`
//! open at once from one address, and at most `connections` in all. Asked
//! by the accept loop before it reads a byte; the `Admitted` it hands out
//! travels with the connection, whichever path serves it, and gives the
//! place back when dropped.

use super::Limits;
use crate::access::client_of;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    PerAddress,
    Total,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::PerAddress => "per_address",
            Refusal::Total => "total",
        }
    }
}

pub(crate) struct Admission {
    per_address: usize,
    connections: usize,
    /// Open connections by client address; a key leaves when it reaches 0.
    open: Mutex<HashMap<IpAddr, usize>>,
    metrics: Arc<Metrics>,
}

/// One admitted connection's place; dropping it frees the place.
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Admission {
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Arc<Admission> {
        Arc::new(Admission {
            per_address: limits.per_address.max(1),
            connections: limits.connections.max(1),
            open: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// A place for a connection from `peer`, or why there is none. A
    /// refusal is counted in `/metrics` here. A `shared` peer (a trusted
    /// reverse proxy, which speaks for many clients) is held to the total
    /// cap only.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr, shared: bool) -> Result<Admitted, Refusal> {
        let client = client_of(peer);
        let refusal = {
            let mut open = self.lock();
            let total = self.metrics.connections_open.get().max(0) as usize;
            let from_client = open.get(&client).copied().unwrap_or(0);
            if total >= self.connections {
                Some(Refusal::Total)
            } else if from_client >= self.per_address && !shared {
                Some(Refusal::PerAddress)
            } else {
                open.insert(client, from_client + 1);
                self.metrics.connections_open.inc();
                None
            }
        };
        match refusal {
            Some(refusal) => {
                self.metrics.refused(refusal.reason());
                Err(refusal)
            }
            None => Ok(Admitted {
                admission: self.clone(),
                client,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
        self.admission.metrics.connections_open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn admission(per_address: usize, connections: usize) -> Arc<Admission> {
        let limits = Limits {
            first_byte: Duration::from_secs(1),
            request_head: Duration::from_secs(1),
            stall: Duration::from_secs(1),
            per_address,
            connections,
        };
        Admission::new(&limits, Metrics::new())
    }

    #[test]
    fn one_address_gets_its_share_and_no_more() {
        let admission = admission(2, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = admission.admit(a, false).unwrap();
        let _second = admission.admit(a, false).unwrap();
        assert_eq!(admission.admit(a, false).err(), Some(Refusal::PerAddress));
        assert!(
            admission.admit(b, false).is_ok(),
            "another address is not held up"
        );
        drop(first);
        assert!(
            admission.admit(a, false).is_ok(),
            "a place freed is a place again"
        );
    }

    #[test]
    fn the_total_holds_across_addresses() {
        let admission = admission(5, 2);
        let held: Vec<_> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|a| admission.admit(a.parse().unwrap(), false).unwrap())
            .collect();
        let third = admission.admit("10.0.0.3".parse().unwrap(), false);
        assert_eq!(third.err(), Some(Refusal::Total));
        drop(held);
        let _third = admission.admit("10.0.0.3".parse().unwrap(), false).unwrap();
        assert_eq!(
            admission.lock().len(),
            1,
            "departed addresses are forgotten"
        );
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client() {
        let admission = admission(1, 10);
        let _held = admission
            .admit("2001:db8::1".parse().unwrap(), false)
            .unwrap();
        let same_64 = admission.admit("2001:db8::ffff:1".parse().unwrap(), false);
        assert_eq!(same_64.err(), Some(Refusal::PerAddress));
        assert!(
            admission
                .admit("2001:db8:0:1::1".parse().unwrap(), false)
                .is_ok()
        );
        let _v4 = admission.admit("10.0.0.9".parse().unwrap(), false).unwrap();
        let mapped = admission.admit("::ffff:10.0.0.9".parse().unwrap(), false);
        assert_eq!(mapped.err(), Some(Refusal::PerAddress));
    }
}
