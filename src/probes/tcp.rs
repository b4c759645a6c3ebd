//! TCP checks: can a connection be opened to host:port? The engine's
//! timeout bounds the wait; a refusal or a failed lookup is reported as is,
//! a failure on Pulse's side (no free descriptor) as not checked.

use super::{Finding, Kind};
use crate::fields::{Address, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use toml::de::ValueDeserializer;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpSpec {
    pub(crate) address: Address,
    pub(crate) degraded_above: Option<Period>,
}

pub(crate) struct TcpProbe {
    address: String,
    degraded_above: Option<Duration>,
}

impl Kind for TcpProbe {
    const NAME: &'static str = "tcp";
    const CHECK_KIND: CheckKind = CheckKind::Tcp;
    type Spec = TcpSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<TcpSpec, BadKeys> {
        keys(said)
    }

    fn probe(spec: &TcpSpec) -> Result<Self, String> {
        Ok(TcpProbe {
            address: spec.address.0.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
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
                Finding::answered(detail, took, self.degraded_above)
            }
            Err(error) => Finding::failed(&error, || {
                format!("could not connect to {}: {error}", self.address)
            }),
        }
    }
}
