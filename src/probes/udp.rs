//! UDP checks: send one datagram and wait for the answer, which must
//! contain `expect` when the check sets it. UDP has no connection to
//! open, so an answer is the only sign of life; a closed port is seen
//! when the target's host says so (ICMP port unreachable). What is sent
//! and expected is text, or bytes written as hex: `send = { hex = "0a0b" }`.

use super::{Finding, Kind};
use crate::fields::{Address, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use serde::{Deserialize, Deserializer, de};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use toml::de::ValueDeserializer;

/// The largest datagram read; a longer answer is cut to this.
const LARGEST: usize = 65_535;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UdpSpec {
    pub(crate) address: Address,
    pub(crate) send: Payload,
    pub(crate) expect: Option<Payload>,
    pub(crate) degraded_above: Option<Period>,
}

/// Bytes written as text (`"ping\n"`) or as hex (`{ hex = "0a0b" }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Payload(pub Vec<u8>);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Hex { hex: String },
        }
        let written = Written::deserialize(deserializer).map_err(|_: D::Error| {
            de::Error::custom("expected text (\"ping\") or hex bytes ({ hex = \"0a0b\" })")
        })?;
        match written {
            Written::Text(text) if text.is_empty() => Err(de::Error::custom("must not be empty")),
            Written::Text(text) => Ok(Payload(text.into_bytes())),
            Written::Hex { hex } => from_hex(&hex).map(Payload).map_err(de::Error::custom),
        }
    }
}

fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(format!("`{text}` is not hex bytes: an even number of 0-9 a-f digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or("");
            u8::from_str_radix(pair, 16).map_err(|_| format!("`{text}` is not hex bytes"))
        })
        .collect()
}

pub(crate) struct UdpProbe {
    address: String,
    send: Vec<u8>,
    expect: Option<Vec<u8>>,
    degraded_above: Option<Duration>,
}

impl Kind for UdpProbe {
    const NAME: &'static str = "udp";
    const CHECK_KIND: CheckKind = CheckKind::Udp;
    type Spec = UdpSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<UdpSpec, BadKeys> {
        keys(said)
    }

    fn probe(spec: &UdpSpec) -> Result<Self, String> {
        Ok(UdpProbe {
            address: spec.address.0.clone(),
            send: spec.send.0.clone(),
            expect: spec.expect.as_ref().map(|p| p.0.clone()),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let answer = match self.exchange().await {
            Ok(answer) => answer,
            Err(e) => {
                return Finding::failed(&e, || describe_failure(&self.address, &e));
            }
        };
        let took = started.elapsed();
        let detail = format!(
            "answered {} bytes in {:.0} ms: {}",
            answer.len(),
            took.as_secs_f64() * 1000.0,
            shown(&answer)
        );
        if let Some(expected) = &self.expect
            && !contains(&answer, expected)
        {
            return Finding::down(format!("{detail}, without {}", shown(expected)));
        }
        Finding::answered(detail, took, self.degraded_above)
    }
}

impl UdpProbe {
    /// One datagram out, the first one back from the target.
    async fn exchange(&self) -> std::io::Result<Vec<u8>> {
        let target = tokio::net::lookup_host(&self.address)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("the name has no address"))?;
        let local: std::net::SocketAddr = match target {
            std::net::SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            std::net::SocketAddr::V6(_) => ([0u16; 8], 0).into(),
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected: only the target's answers are read, and its host's
        // "port unreachable" comes back as an error.
        socket.connect(target).await?;
        socket.send(&self.send).await?;
        let mut buffer = vec![0; LARGEST];
        let read = socket.recv(&mut buffer).await?;
        buffer.truncate(read);
        Ok(buffer)
    }
}

fn describe_failure(address: &str, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("{address} refused: nothing listens on that port")
        }
        _ => format!("no answer from {address}: {error}"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Text as text, anything else as hex. Not cut here: the engine cuts a
/// long detail after blanking any secret in it, which a cut made first
/// could split into parts no longer recognised.
fn shown(bytes: &[u8]) -> String {
    let printable = bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n' || *b == b'\r');
    match printable {
        true => format!("{:?}", String::from_utf8_lossy(bytes)),
        false => format!("hex {}", crate::text::hex(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_read_with_or_without_spaces_and_refused_when_odd() {
        assert_eq!(from_hex("0a0B ff"), Ok(vec![0x0a, 0x0b, 0xff]));
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
        assert!(from_hex("").is_err());
    }

    #[test]
    fn answers_show_as_text_or_hex() {
        assert_eq!(shown(b"pong\n"), "\"pong\\n\"");
        assert_eq!(shown(&[0, 1, 0xff]), "hex 0001ff");
    }
}
