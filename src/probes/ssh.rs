//! SSH checks: connect and read the server's identification line
//! (`SSH-2.0-OpenSSH_9.2p1 Debian-2`), which a server sends before
//! anything else; with `expect`, the line must contain it. No login and no
//! key exchange: the connection is closed once the line is read. RFC 4253
//! lets a server send other lines first; they are skipped, within a bound,
//! so a target that streams anything else is down rather than read forever.

use super::{Finding, Kind};
use crate::fields::{Address, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use toml::de::ValueDeserializer;

/// What is read at most before the identification line: RFC 4253 bounds
/// the line at 255 bytes, and a few lines of notice before it are usual.
const READ_AT_MOST: u64 = 8 * 1024;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SshSpec {
    pub(crate) address: Address,
    /// A part the identification line must contain (`OpenSSH_9`).
    pub(crate) expect: Option<String>,
    pub(crate) degraded_above: Option<Period>,
}

pub(crate) struct SshProbe {
    address: String,
    expect: Option<String>,
    degraded_above: Option<Duration>,
}

impl Kind for SshProbe {
    const NAME: &'static str = "ssh";
    const CHECK_KIND: CheckKind = CheckKind::Ssh;
    type Spec = SshSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<SshSpec, BadKeys> {
        keys(said)
    }

    fn probe(spec: &SshSpec) -> Result<Self, String> {
        Ok(SshProbe {
            address: spec.address.0.clone(),
            expect: spec.expect.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let stream = match TcpStream::connect(&self.address).await {
            Ok(stream) => stream,
            Err(e) => {
                return Finding::failed(&e, || format!("could not connect to {}: {e}", self.address));
            }
        };
        let line = match identification(stream).await {
            Ok(line) => line,
            Err(why) => return Finding::down(why),
        };
        let took = started.elapsed();
        let detail = format!("{line} in {:.0} ms", took.as_secs_f64() * 1000.0);
        if let Some(part) = &self.expect
            && !line.contains(part.as_str())
        {
            return Finding::down(format!("{detail}, which does not contain {part:?}"));
        }
        Finding::answered(detail, took, self.degraded_above)
    }
}

/// The server's `SSH-…` line, without its line ending.
async fn identification(stream: TcpStream) -> Result<String, String> {
    let mut reader = BufReader::new(stream.take(READ_AT_MOST));
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("reading the identification failed: {e}"))?;
        if line.starts_with(b"SSH-") {
            let text = String::from_utf8_lossy(&line);
            return Ok(text.trim_end().to_string());
        }
        if reader.get_ref().limit() == 0 {
            return Err(format!(
                "sent {READ_AT_MOST} bytes without an SSH identification line"
            ));
        }
        if read == 0 {
            return Err("closed the connection without sending an SSH identification".into());
        }
    }
}
