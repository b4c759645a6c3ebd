//! What the mail kinds share (`smtp`, `imap`, `pop3`): connect, read the
//! server's greeting, and, when the check says so, ask for TLS with the
//! protocol's own command (STARTTLS, or STLS for POP3) or speak TLS from
//! the first byte (`tls = true`: ports 465, 993, 995). The certificate is
//! judged as the `tls` kind judges it, degraded under `warn_days` days to
//! expiry. No login: nothing is sent but the commands that lead to TLS.
//!
//! Everything read is bounded (the engine cuts a long detail, after
//! blanking any secret in it), and a server that sends anything after
//! agreeing to STARTTLS, before the handshake, is down: those bytes would
//! count as part of the encrypted session (the STARTTLS injection flaw).

use super::Finding;
use super::tls::{CertificateCheck, read_roots, two_weeks, validate_server_name};
use crate::fields::{Address, NonEmpty, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::Health;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use toml::Spanned;
use toml::de::ValueDeserializer;

/// What is read of a server at most, greeting and replies together.
const READ_AT_MOST: u64 = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailSpec {
    pub(crate) address: Address,
    /// Ask for TLS after the greeting (STARTTLS; STLS for POP3).
    #[serde(default)]
    pub(crate) starttls: bool,
    /// Speak TLS from the first byte.
    #[serde(default)]
    pub(crate) tls: bool,
    /// The name the certificate must be for; the address's host if unset.
    pub(crate) server_name: Option<NonEmpty>,
    #[serde(default = "two_weeks")]
    pub(crate) warn_days: u32,
    /// Extra trusted roots in PEM, relative to the config file.
    pub(crate) ca_file: Option<Spanned<PathBuf>>,
    #[serde(skip)]
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// A part the greeting must contain.
    pub(crate) expect: Option<String>,
    pub(crate) degraded_above: Option<Period>,
}

impl MailSpec {
    fn server_name(&self) -> String {
        match &self.server_name {
            Some(name) => name.0.clone(),
            None => {
                let host = self.address.0.rsplit_once(':').map_or("", |(host, _)| host);
                host.trim_matches(['[', ']']).to_string()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Smtp,
    Imap,
    Pop3,
}

/// A mail kind's keys: `starttls` and `tls` exclude each other.
pub(crate) fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<MailSpec, BadKeys> {
    let mut spec: MailSpec = keys(said)?;
    if spec.starttls && spec.tls {
        return Err(
            "`starttls` upgrades a plain connection and `tls` starts with TLS: set one".into(),
        );
    }
    if spec.starttls || spec.tls {
        validate_server_name(&spec.server_name())?;
    }
    spec.extra_roots = read_roots(&spec.ca_file, files)?;
    Ok(spec)
}

pub(crate) struct MailProbe {
    protocol: Protocol,
    address: String,
    security: Security,
    expect: Option<String>,
    degraded_above: Option<Duration>,
}

enum Security {
    Plain,
    StartTls(CertificateCheck),
    Implicit(CertificateCheck),
}

impl MailProbe {
    pub(crate) fn new(protocol: Protocol, spec: &MailSpec) -> Result<Self, String> {
        let certificate =
            || CertificateCheck::new(&spec.server_name(), &spec.extra_roots, spec.warn_days);
        let security = match (spec.starttls, spec.tls) {
            (true, _) => Security::StartTls(certificate()?),
            (_, true) => Security::Implicit(certificate()?),
            _ => Security::Plain,
        };
        Ok(MailProbe {
            protocol,
            address: spec.address.0.clone(),
            security,
            expect: spec.expect.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    pub(crate) async fn run(&self) -> Finding {
        let started = Instant::now();
        let tcp = match TcpStream::connect(&self.address).await {
            Ok(tcp) => tcp,
            Err(e) => {
                return Finding::failed(&e, || {
                    format!("could not connect to {}: {e}", self.address)
                });
            }
        };
        let found = match &self.security {
            Security::Plain => {
                let mut server = BufReader::new(tcp.take(READ_AT_MOST));
                self.greeting(&mut server).await.map(|said| (said, None))
            }
            Security::Implicit(certificate) => match certificate.handshake(tcp).await {
                (judged, Some(tls)) => {
                    let mut server = BufReader::new(tls.take(READ_AT_MOST));
                    self.greeting(&mut server)
                        .await
                        .map(|said| (said, Some(judged)))
                }
                (judged, None) => return judged,
            },
            Security::StartTls(certificate) => self.upgraded(tcp, certificate).await,
        };
        let (greeting, certificate) = match found {
            Ok(found) => found,
            Err(why) => return Finding::down(why),
        };
        let took = started.elapsed();
        let mut detail = format!("{} in {:.0} ms", greeting, took.as_secs_f64() * 1000.0);
        if let Some(part) = &self.expect
            && !greeting.contains(part.as_str())
        {
            return Finding::down(format!("{detail}, which does not contain {part:?}"));
        }
        if let Some(certificate) = certificate {
            detail = format!("{detail}; {}", certificate.detail);
            if certificate.health != Health::Up {
                return Finding::new(certificate.health, detail);
            }
        }
        Finding::answered(detail, took, self.degraded_above)
    }

    /// The greeting, then STARTTLS, then the handshake.
    async fn upgraded(
        &self,
        tcp: TcpStream,
        certificate: &CertificateCheck,
    ) -> Result<(String, Option<Finding>), String> {
        let mut server = BufReader::new(tcp.take(READ_AT_MOST));
        let greeting = self.greeting(&mut server).await?;
        self.start_tls(&mut server).await?;
        if !server.buffer().is_empty() {
            return Err(format!(
                "{}: sent more after agreeing to TLS, before the handshake",
                first_line(&greeting)
            ));
        }
        let tcp = server.into_inner().into_inner();
        match certificate.handshake(tcp).await {
            (judged, Some(_)) => Ok((greeting, Some(judged))),
            (judged, None) => Err(format!(
                "{}; STARTTLS: {}",
                first_line(&greeting),
                judged.detail
            )),
        }
    }

    /// The server's greeting, which must say it is ready.
    async fn greeting<S: AsyncBufRead + Unpin>(&self, server: &mut S) -> Result<String, String> {
        let greeting = match self.protocol {
            Protocol::Smtp => smtp_reply(server).await?,
            Protocol::Imap | Protocol::Pop3 => line(server).await?,
        };
        let ready = match self.protocol {
            Protocol::Smtp => greeting.starts_with("220"),
            Protocol::Imap => greeting.starts_with("* OK") || greeting.starts_with("* PREAUTH"),
            Protocol::Pop3 => greeting.starts_with("+OK"),
        };
        match ready {
            true => Ok(first_line(&greeting).to_string()),
            false => Err(format!("not ready: {}", first_line(&greeting))),
        }
    }

    /// Asks for TLS in the protocol's words; `Err` if refused.
    async fn start_tls(&self, server: &mut Plain) -> Result<(), String> {
        match self.protocol {
            Protocol::Smtp => {
                send(server, "EHLO pulse.invalid\r\n").await?;
                let offered = smtp_reply(server).await?;
                let has_starttls = offered.lines().any(|l| {
                    l.get(4..)
                        .is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))
                });
                if !offered.starts_with("250") || !has_starttls {
                    return Err("does not offer STARTTLS".into());
                }
                send(server, "STARTTLS\r\n").await?;
                let answer = smtp_reply(server).await?;
                agreed(answer.starts_with("220"), &answer)
            }
            Protocol::Imap => {
                send(server, "p1 STARTTLS\r\n").await?;
                loop {
                    let answer = line(server).await?;
                    if answer.starts_with("p1 ") {
                        return agreed(answer.starts_with("p1 OK"), &answer);
                    }
                }
            }
            Protocol::Pop3 => {
                send(server, "STLS\r\n").await?;
                let answer = line(server).await?;
                agreed(answer.starts_with("+OK"), &answer)
            }
        }
    }
}

fn agreed(yes: bool, answer: &str) -> Result<(), String> {
    match yes {
        true => Ok(()),
        false => Err(format!("refused STARTTLS: {}", first_line(answer))),
    }
}

/// A plain connection, read through a buffer and within `READ_AT_MOST`.
type Plain = BufReader<tokio::io::Take<TcpStream>>;

/// Writes go around the reading buffer and its bound, to the socket.
async fn send(server: &mut Plain, command: &str) -> Result<(), String> {
    server
        .get_mut()
        .get_mut()
        .write_all(command.as_bytes())
        .await
        .map_err(|e| format!("sending {} failed: {e}", command.trim_end()))
}

/// One line, without its ending; the server closing first is an error.
async fn line<S: AsyncBufRead + Unpin>(server: &mut S) -> Result<String, String> {
    let mut bytes = Vec::new();
    let read = server
        .read_until(b'\n', &mut bytes)
        .await
        .map_err(|e| format!("reading failed: {e}"))?;
    if read == 0 || !bytes.ends_with(b"\n") {
        return Err(match bytes.is_empty() {
            true => "closed the connection without a word".into(),
            false => format!(
                "closed the connection in the middle of a line: {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// An SMTP reply, all its lines: `250-…` lines go on, `250 …` ends it.
async fn smtp_reply<S: AsyncBufRead + Unpin>(server: &mut S) -> Result<String, String> {
    let mut lines = Vec::new();
    loop {
        let next = line(server).await?;
        // `250-…` goes on; anything else ends the reply (`250 …`, or a
        // line that is no SMTP at all, which the caller then refuses).
        let code = next
            .get(..3)
            .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let last = !code || next.as_bytes().get(3) != Some(&b'-');
        lines.push(next);
        if last {
            return Ok(lines.join("\n"));
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
