//! TCP checks: can a connection be opened to host:port? The engine's
//! timeout bounds the wait; a refusal or a failed lookup is reported as is,
//! a failure on Pulse's side (no free descriptor) as not checked.

use super::Finding;
use crate::config::TcpSpec;
use crate::status::Health;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub(crate) struct TcpProbe {
    address: String,
    degraded_above: Option<Duration>,
}

impl TcpProbe {
    pub(crate) fn from_spec(spec: &TcpSpec) -> Self {
        TcpProbe {
            address: spec.address.0.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        }
    }

    pub(crate) async fn run(&self) -> Finding {
        let started = Instant::now();
        match TcpStream::connect(&self.address).await {
            Ok(stream) => {
                let took = started.elapsed();
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| self.address.clone(), |a| a.to_string());
                let detail = format!(
                    "connected to {peer} in {:.0} ms",
                    took.as_secs_f64() * 1000.0
                );
                match self.degraded_above {
                    Some(limit) if took > limit => Finding::new(
                        Health::Degraded,
                        format!("{detail}, slower than {} ms", limit.as_millis()),
                    ),
                    _ => Finding::new(Health::Up, detail),
                }
            }
            Err(error) => Finding::failed(&error, || {
                format!("could not connect to {}: {error}", self.address)
            }),
        }
    }
}
