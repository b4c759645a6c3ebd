//! DNS checks: one query, of one record type, to one server (the check's
//! `server`, else the first of the system's resolvers that answers), over
//! UDP, and again over TCP when the UDP answer comes back truncated. The
//! answer's code must be `expect_rcode` (NOERROR unless the check says
//! otherwise), and each of `expect` must be among its records. hickory
//! encodes, sends and reads the messages; nothing is cached, so every run
//! asks the server.

use super::{Finding, Kind};
use crate::fields::Period;
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use hickory_net::client::ClientHandle;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::{Deserialize, Deserializer, de};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};
use toml::de::ValueDeserializer;

/// How long one exchange with a server may take; the check's own timeout
/// bounds the whole run, and is usually shorter.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many of an answer's records the detail lists.
const SHOWN_VALUES: usize = 8;
/// Where the system's resolvers are named.
const RESOLV_CONF: &str = "/etc/resolv.conf";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DnsSpec {
    /// The name to resolve (for PTR, an IP address).
    pub(crate) query: String,
    #[serde(rename = "type", default)]
    pub(crate) record_type: Type,
    /// `ip` or `ip:port`; unset: the system's resolvers.
    pub(crate) server: Option<Server>,
    /// Values that must all be among the answers.
    #[serde(default)]
    pub(crate) expect: Vec<String>,
    #[serde(default)]
    pub(crate) expect_rcode: Rcode,
    pub(crate) degraded_above: Option<Period>,
}

/// The record types a check may ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Type {
    #[default]
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Soa,
    Srv,
    Caa,
    Ptr,
}

impl From<Type> for RecordType {
    fn from(t: Type) -> RecordType {
        match t {
            Type::A => RecordType::A,
            Type::Aaaa => RecordType::AAAA,
            Type::Cname => RecordType::CNAME,
            Type::Mx => RecordType::MX,
            Type::Txt => RecordType::TXT,
            Type::Ns => RecordType::NS,
            Type::Soa => RecordType::SOA,
            Type::Srv => RecordType::SRV,
            Type::Caa => RecordType::CAA,
            Type::Ptr => RecordType::PTR,
        }
    }
}

/// The answer codes a check may expect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Rcode {
    #[default]
    Noerror,
    Nxdomain,
    Servfail,
    Refused,
}

impl Rcode {
    fn matches(self, code: ResponseCode) -> bool {
        matches!(
            (self, code),
            (Rcode::Noerror, ResponseCode::NoError)
                | (Rcode::Nxdomain, ResponseCode::NXDomain)
                | (Rcode::Servfail, ResponseCode::ServFail)
                | (Rcode::Refused, ResponseCode::Refused)
        )
    }
}

/// A server by address: its name would need DNS to be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Server(pub SocketAddr);

impl<'de> Deserialize<'de> for Server {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if let Ok(address) = SocketAddr::from_str(&text) {
            return Ok(Server(address));
        }
        match IpAddr::from_str(text.trim_matches(['[', ']'])) {
            Ok(ip) => Ok(Server(SocketAddr::new(ip, 53))),
            Err(_) => Err(de::Error::custom(format!(
                "`{text}` is not an IP address with an optional port (\"192.0.2.53\", \"[2001:db8::53]:5353\"); a server's name would need DNS to be found"
            ))),
        }
    }
}

pub(crate) struct DnsProbe {
    name: Name,
    record_type: RecordType,
    server: Option<SocketAddr>,
    expect: Vec<String>,
    expect_rcode: Rcode,
    degraded_above: Option<Duration>,
}

impl Kind for DnsProbe {
    const NAME: &'static str = "dns";
    const CHECK_KIND: CheckKind = CheckKind::Dns;
    type Spec = DnsSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<DnsSpec, BadKeys> {
        let spec: DnsSpec = keys(said)?;
        query_name(&spec)?;
        if !spec.expect.is_empty() && spec.expect_rcode != Rcode::Noerror {
            return Err("`expect` needs answers, which only a NOERROR answer has".into());
        }
        Ok(spec)
    }

    fn probe(spec: &DnsSpec) -> Result<Self, String> {
        Ok(DnsProbe {
            name: query_name(spec)?,
            record_type: spec.record_type.into(),
            server: spec.server.map(|s| s.0),
            expect: spec.expect.clone(),
            expect_rcode: spec.expect_rcode,
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let servers = match self.server {
            Some(server) => vec![server],
            None => match system_resolvers() {
                Ok(servers) => servers,
                Err(why) => return Finding::down(why),
            },
        };
        let mut failures = Vec::new();
        for server in servers {
            match self.ask(server).await {
                Ok(answer) => return self.judge(&answer, started.elapsed()),
                Err(why) => failures.push(why),
            }
        }
        Finding::down(failures.join("; "))
    }
}

/// What one server answered, and how it was asked.
struct Answer {
    server: SocketAddr,
    response: DnsResponse,
    over_tcp: bool,
}

impl DnsProbe {
    /// One exchange with `server`: UDP, then TCP if the answer was cut.
    async fn ask(&self, server: SocketAddr) -> Result<Answer, String> {
        let provider = TokioRuntimeProvider::new();
        let failed = |e: hickory_net::NetError| format!("{server} did not answer: {e}");
        let mut udp = UdpClientStream::builder(server, provider.clone())
            .with_timeout(Some(EXCHANGE_TIMEOUT))
            .with_max_retries(1)
            .exchange();
        let response = udp
            .query(self.name.clone(), DNSClass::IN, self.record_type)
            .await
            .map_err(failed)?;
        if !response.truncation {
            return Ok(Answer {
                server,
                response,
                over_tcp: false,
            });
        }
        let tcp = TcpClientStream::exchange(server, None, EXCHANGE_TIMEOUT, None, provider)
            .await
            .map_err(failed)?;
        let query = Query::query(self.name.clone(), self.record_type);
        let response = tcp
            .lookup(query, DnsRequestOptions::default())
            .first_answer()
            .await
            .map_err(failed)?;
        Ok(Answer {
            server,
            response,
            over_tcp: true,
        })
    }

    fn judge(&self, answer: &Answer, took: Duration) -> Finding {
        let code = answer.response.response_code;
        // In order: servers rotate a set of records from one answer to the
        // next, and the detail should change only when the set does.
        let mut values: Vec<String> = answer
            .response
            .answers
            .iter()
            .filter(|record| record.record_type() == self.record_type)
            .map(value_of)
            .collect();
        values.sort();
        let how = match answer.over_tcp {
            true => " over TCP (truncated over UDP)",
            false => "",
        };
        let said = match values.len() {
            0 => format!("no {} records", self.record_type),
            n if n <= SHOWN_VALUES => values.join(", "),
            n => format!(
                "{}, … ({} more, {n} in all)",
                values[..SHOWN_VALUES].join(", "),
                n - SHOWN_VALUES
            ),
        };
        let detail = format!(
            "{} {} ({}) in {:.0} ms from {}{how}: {said}",
            self.name,
            self.record_type,
            rcode_name(code),
            took.as_secs_f64() * 1000.0,
            answer.server
        );
        if !self.expect_rcode.matches(code) {
            let expected = format!("{:?}", self.expect_rcode).to_ascii_uppercase();
            return Finding::down(format!("{detail}; expected {expected}"));
        }
        if self.expect_rcode == Rcode::Noerror && values.is_empty() {
            return Finding::down(detail);
        }
        let missing: Vec<&String> = self
            .expect
            .iter()
            .filter(|wanted| !values.iter().any(|v| same_value(v, wanted)))
            .collect();
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(|m| format!("{m:?}")).collect();
            return Finding::down(format!("{detail}; missing {}", missing.join(", ")));
        }
        Finding::answered(detail, took, self.degraded_above)
    }
}

/// The name asked for: a PTR check names the address, which becomes its
/// reverse name (`10.2.0.192.in-addr.arpa.`).
fn query_name(spec: &DnsSpec) -> Result<Name, String> {
    if spec.record_type == Type::Ptr
        && let Ok(ip) = IpAddr::from_str(&spec.query)
    {
        return Ok(Name::from(ip));
    }
    Name::from_str(&spec.query).map_err(|e| format!("`{}` is not a DNS name: {e}", spec.query))
}

/// A record's value as people write it: `192.0.2.1`, `10 mx.example.com.`,
/// a TXT record's strings joined.
fn value_of(record: &Record) -> String {
    match &record.data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
        other => other.to_string(),
    }
}

/// Names compare without case and with or without their final dot.
fn same_value(found: &str, wanted: &str) -> bool {
    let plain = |v: &str| v.trim().trim_end_matches('.').to_ascii_lowercase();
    plain(found) == plain(wanted)
}

/// NOERROR, NXDOMAIN, …: the names the config and every DNS tool use.
fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        other => format!("code {}", u16::from(other)),
    }
}

/// The system's resolvers, as /etc/resolv.conf names them.
fn system_resolvers() -> Result<Vec<SocketAddr>, String> {
    let text = std::fs::read(RESOLV_CONF)
        .map_err(|e| format!("no server set, and {RESOLV_CONF} cannot be read: {e}"))?;
    let config = resolv_conf::Config::parse(&text)
        .map_err(|e| format!("no server set, and {RESOLV_CONF} does not parse: {e}"))?;
    let servers: Vec<SocketAddr> = config
        .nameservers
        .iter()
        .map(|ip| SocketAddr::new(IpAddr::from(ip), 53))
        .collect();
    if servers.is_empty() {
        return Err(format!("no server set, and {RESOLV_CONF} names none"));
    }
    Ok(servers)
}
