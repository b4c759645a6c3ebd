//! Ping checks: ICMP echo, over IPv4 or IPv6, `count` echoes 100 ms
//! apart, each answered within `wait` or lost. The detail gives what came
//! back and the round trips (`3/3 replies from 192.0.2.1, rtt
//! 0.04/0.05/0.07 ms`); degraded at `degraded_loss` percent lost or an
//! average round trip over `degraded_above`, down at `down_loss` percent.
//!
//! Every ping check of the process shares one socket per address family
//! (`Sockets`): an unprivileged ICMP datagram socket where
//! `net.ipv4.ping_group_range` lets Pulse's group open one, else a raw
//! socket (CAP_NET_RAW). Replies are told apart by sequence number, and a
//! random token of each echo's own in the payload, which a stale reply, or
//! one forged by a host that saw other echoes, does not carry. Where neither socket can be had, a ping check is `unknown`, with
//! the sentence saying what to grant: that is Pulse's failing, never the
//! target's.

use super::{Finding, Kind};
use crate::fields::{NonEmpty, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use serde::Deserialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use toml::de::ValueDeserializer;

/// Between two echoes of one run.
const SPACING: Duration = Duration::from_millis(100);
/// The echo's payload: its token, then zeros.
const PAYLOAD: usize = 16;
/// Waiters given up on are swept out once this many wait.
const SWEEP_FROM: usize = 1024;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PingSpec {
    /// A name or an address, v4 or v6.
    pub(crate) host: NonEmpty,
    #[serde(default = "three")]
    pub(crate) count: u32,
    /// How long each echo's reply may take before it counts as lost.
    pub(crate) wait: Option<Period>,
    /// An average round trip slower than this is degraded.
    pub(crate) degraded_above: Option<Period>,
    /// Percent of echoes lost from which the check is degraded …
    #[serde(default = "thirty_four")]
    pub(crate) degraded_loss: f64,
    /// … and down.
    #[serde(default = "a_hundred")]
    pub(crate) down_loss: f64,
}

fn three() -> u32 {
    3
}

fn thirty_four() -> f64 {
    34.0
}

fn a_hundred() -> f64 {
    100.0
}

/// Each echo's reply, if the check sets no `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

pub(crate) struct PingProbe {
    host: String,
    count: u32,
    wait: Duration,
    degraded_above: Option<Duration>,
    degraded_loss: f64,
    down_loss: f64,
}

impl Kind for PingProbe {
    const NAME: &'static str = "ping";
    const CHECK_KIND: CheckKind = CheckKind::Ping;
    type Spec = PingSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<PingSpec, BadKeys> {
        let spec: PingSpec = keys(said)?;
        if !(1..=20).contains(&spec.count) {
            return Err("`count` is from 1 to 20 echoes".into());
        }
        for (key, value) in [("degraded_loss", spec.degraded_loss), ("down_loss", spec.down_loss)] {
            if !(value > 0.0 && value <= 100.0) {
                return Err(format!("`{key}` is a percent above 0, at most 100, not {value}").into());
            }
        }
        if spec.degraded_loss > spec.down_loss {
            return Err("`degraded_loss` must not be above `down_loss`".into());
        }
        Ok(spec)
    }

    fn probe(spec: &PingSpec) -> Result<Self, String> {
        Ok(PingProbe {
            host: spec.host.0.clone(),
            count: spec.count,
            wait: spec.wait.map_or(DEFAULT_WAIT, |p| p.0),
            degraded_above: spec.degraded_above.map(|p| p.0),
            degraded_loss: spec.degraded_loss,
            down_loss: spec.down_loss,
        })
    }

    async fn run(&self) -> Finding {
        let target = match self.address().await {
            Ok(target) => target,
            Err(e) => return Finding::failed(&e, || format!("cannot resolve {}: {e}", self.host)),
        };
        let pinger = match Sockets::shared().for_address(target) {
            Ok(pinger) => pinger,
            Err(why) => {
                return Finding::new(Health::Unknown, format!("Pulse could not check this: {why}"));
            }
        };
        let mut answers = Vec::new();
        for i in 0..self.count {
            if i > 0 {
                tokio::time::sleep(SPACING).await;
            }
            match pinger.echo(target).await {
                Ok(answer) => answers.push(answer),
                Err(e) => {
                    return Finding::failed(&e, || format!("sending to {target} failed: {e}"));
                }
            }
        }
        // Each echo has `wait` from its own sending, whatever came before.
        let mut rtts = Vec::new();
        for echo in answers {
            let by = tokio::time::Instant::from_std(echo.sent + self.wait);
            if let Ok(Ok(rtt)) = tokio::time::timeout_at(by, echo.answered).await {
                rtts.push(rtt);
            }
        }
        self.judge(target, &rtts)
    }
}

impl PingProbe {
    async fn address(&self) -> io::Result<IpAddr> {
        if let Ok(ip) = self.host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(ip);
        }
        let mut found = tokio::net::lookup_host((self.host.as_str(), 0)).await?;
        found
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| io::Error::other("the name has no address"))
    }

    fn judge(&self, target: IpAddr, rtts: &[Duration]) -> Finding {
        let sent = self.count as usize;
        let lost = 100.0 * (sent - rtts.len()) as f64 / sent as f64;
        let mut detail = format!("{}/{sent} replies from {target}", rtts.len());
        let average = match rtts.is_empty() {
            true => None,
            false => {
                let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
                let min = rtts.iter().map(ms).fold(f64::MAX, f64::min);
                let max = rtts.iter().map(ms).fold(0.0, f64::max);
                let avg = rtts.iter().map(ms).sum::<f64>() / rtts.len() as f64;
                detail.push_str(&format!(", rtt {min:.2}/{avg:.2}/{max:.2} ms"));
                Some(Duration::from_secs_f64(avg / 1000.0))
            }
        };
        if lost >= self.down_loss {
            return Finding::down(detail);
        }
        if lost >= self.degraded_loss {
            return Finding::new(Health::Degraded, format!("{detail}, {lost:.0}% lost"));
        }
        match average {
            Some(average) => Finding::answered(detail, average, self.degraded_above),
            None => Finding::new(Health::Up, detail),
        }
    }
}

/// The process's ICMP sockets, one per address family, opened when a
/// ping check first needs one.
struct Sockets {
    v4: Mutex<Option<Arc<Pinger>>>,
    v6: Mutex<Option<Arc<Pinger>>>,
}

impl Sockets {
    fn shared() -> &'static Sockets {
        static SOCKETS: OnceLock<Sockets> = OnceLock::new();
        SOCKETS.get_or_init(|| Sockets {
            v4: Mutex::new(None),
            v6: Mutex::new(None),
        })
    }

    /// The pinger for `target`'s family, opening its socket if none is
    /// open; why not, when Pulse may open neither kind.
    fn for_address(&self, target: IpAddr) -> Result<Arc<Pinger>, String> {
        let slot = match target {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => &self.v6,
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pinger) = slot.as_ref() {
            return Ok(pinger.clone());
        }
        let pinger = Pinger::open(Family::of(target))?;
        *slot = Some(pinger.clone());
        Ok(pinger)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn echo_request(self) -> u8 {
        match self {
            Family::V4 => 8,
            Family::V6 => 128,
        }
    }

    fn echo_reply(self) -> u8 {
        match self {
            Family::V4 => 0,
            Family::V6 => 129,
        }
    }
}

/// One shared ICMP socket and the echoes waiting on it.
struct Pinger {
    socket: AsyncFd<Socket>,
    family: Family,
    /// A raw socket sees every ICMP packet the host receives and the
    /// identifier is ours to choose; a datagram socket's is the kernel's,
    /// which delivers it only its own.
    raw: bool,
    identifier: u16,
    next_sequence: AtomicU16,
    waiting: Mutex<HashMap<u16, Waiting>>,
}

struct Waiting {
    target: IpAddr,
    token: [u8; 8],
    sent: Instant,
    answer: oneshot::Sender<Duration>,
}

impl Pinger {
    fn open(family: Family) -> Result<Arc<Pinger>, String> {
        let (domain, protocol) = match family {
            Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
            Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(socket) => (socket, false),
            Err(datagram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
                Ok(socket) => (socket, true),
                Err(raw) => return Err(cannot_open(&datagram, &raw)),
            },
        };
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("cannot use an ICMP socket: {e}"))?;
        // SAFETY: the socket owns its descriptor, which stays open and the
        // same for as long as the AsyncFd holds it (it is never swapped).
        let socket = unsafe {
            AsyncFd::register_with_interest(socket, Interest::READABLE | Interest::WRITABLE)
        }
        .map_err(|e| format!("cannot use an ICMP socket: {e}"))?;
        let pinger = Arc::new(Pinger {
            socket,
            family,
            raw,
            identifier: fastrand::u16(..),
            next_sequence: AtomicU16::new(fastrand::u16(..)),
            waiting: Mutex::new(HashMap::new()),
        });
        tokio::spawn(receive_forever(pinger.clone()));
        Ok(pinger)
    }

    /// Sends one echo to `target`; the answer resolves with its round trip.
    async fn echo(&self, target: IpAddr) -> io::Result<Echo> {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let token = fastrand::u64(..).to_be_bytes();
        let packet = self.request(sequence, token);
        let (answer, answered) = oneshot::channel();
        let sent = Instant::now();
        let waiting = Waiting {
            target,
            token,
            sent,
            answer,
        };
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sequence, waiting);
        let to = SockAddr::from(SocketAddr::new(target, 0));
        loop {
            let mut ready = self.socket.ready(Interest::WRITABLE).await?;
            match ready.try_io(|socket| socket.get_ref().send_to(&packet, &to)) {
                Ok(Ok(_)) => return Ok(Echo { sent, answered }),
                Ok(Err(e)) => {
                    self.waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&sequence);
                    return Err(e);
                }
                Err(_would_block) => continue,
            }
        }
    }

    fn request(&self, sequence: u16, token: [u8; 8]) -> Vec<u8> {
        let mut packet = vec![self.family.echo_request(), 0, 0, 0];
        packet.extend_from_slice(&self.identifier.to_be_bytes());
        packet.extend_from_slice(&sequence.to_be_bytes());
        packet.extend_from_slice(&token);
        packet.resize(8 + PAYLOAD, 0);
        // The kernel fills in the checksum for a datagram socket and for
        // any ICMPv6 socket; a raw IPv4 socket sends what it is given.
        if self.raw && self.family == Family::V4 {
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        packet
    }

    /// One received packet: the echo reply it is, if it answers an echo
    /// of ours, to the waiter.
    fn received(&self, packet: &[u8], from: IpAddr) {
        // A raw IPv4 socket delivers the IP header too.
        let icmp = match (self.raw, self.family) {
            (true, Family::V4) => {
                let header = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
                packet.get(header..).unwrap_or_default()
            }
            _ => packet,
        };
        if icmp.len() < 16 || icmp[0] != self.family.echo_reply() {
            return;
        }
        let identifier = u16::from_be_bytes([icmp[4], icmp[5]]);
        if self.raw && identifier != self.identifier {
            return;
        }
        let sequence = u16::from_be_bytes([icmp[6], icmp[7]]);
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let ours = waiting
            .get(&sequence)
            .is_some_and(|w| w.target == from && icmp[8..16] == w.token);
        if ours && let Some(waiter) = waiting.remove(&sequence) {
            let _ = waiter.answer.send(waiter.sent.elapsed());
        }
        // Echoes whose run gave up (their replies lost) leave, now and then.
        if waiting.len() >= SWEEP_FROM {
            waiting.retain(|_, w| !w.answer.is_closed());
        }
    }
}

/// One echo sent: when, and its answer to come.
struct Echo {
    sent: Instant,
    answered: oneshot::Receiver<Duration>,
}

/// Reads the socket, which stays open for the life of the process.
async fn receive_forever(pinger: Arc<Pinger>) {
    let mut buffer = vec![std::mem::MaybeUninit::<u8>::uninit(); 2048];
    loop {
        let Ok(mut ready) = pinger.socket.readable().await else {
            return;
        };
        match ready.try_io(|socket| socket.get_ref().recv_from(&mut buffer)) {
            Ok(Ok((read, from))) => {
                // SAFETY: `recv_from` initialised the first `read` bytes.
                let packet =
                    unsafe { std::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), read) };
                if let Some(from) = from.as_socket().map(|a| a.ip()) {
                    pinger.received(packet, from);
                }
            }
            // Not ready after all: wait for the next readiness.
            Err(_would_block) => continue,
            // An error of the socket's own (an ICMP error queued on it):
            // read on, but never in a tight loop.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What to grant, when Pulse may open neither kind of ICMP socket.
fn cannot_open(datagram: &io::Error, raw: &io::Error) -> String {
    format!(
        "ICMP is not allowed to Pulse (a datagram socket: {datagram}; a raw socket: {raw}). \
         Grant one: add Pulse's group to the sysctl net.ipv4.ping_group_range \
         (e.g. \"0 2147483647\"), or give the binary CAP_NET_RAW \
         (setcap cap_net_raw+ep /path/to/pulse)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // An echo request, identifier 0x1234, sequence 1, no payload.
        let packet = [8, 0, 0, 0, 0x12, 0x34, 0, 1];
        assert_eq!(checksum(&packet), 0xe5ca);
        let mut whole = packet;
        whole[2..4].copy_from_slice(&0xe5cau16.to_be_bytes());
        assert_eq!(checksum(&whole), 0);
    }
}
