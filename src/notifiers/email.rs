//! `kind = "email"`: plain-text mail over SMTP, through lettre: implicit
//! TLS or STARTTLS (required, never downgraded), verified against the
//! public roots plus the notifier's `ca_file`, with an optional login. The
//! Message-ID is made from the alert message's id, so a retry of the same
//! message is the same mail to the server and to the reader's client.
//!
//! ```toml
//! [[notifier]]
//! name = "mail"
//! kind = "email"
//! host = "smtp.example.com"
//! tls = "starttls"               # or "implicit" (port 465), or "none"
//! username = "pulse"
//! password = "${SMTP_PASSWORD}"
//! from = "Pulse <pulse@example.com>"
//! to = ["ops@example.com"]
//! ```

use super::message::{Envelope, Message};
use super::{Files, Kind, Notifier, BadKeys, SEND_TIMEOUT, Sending, keys};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "email",
    read,
}];

#[derive(Clone, PartialEq)]
struct Email {
    host: String,
    port: u16,
    tls: SmtpTls,
    /// User and password, when the server wants a login.
    login: Option<(String, String)>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    /// Trusted besides the public roots (`ca_file`), as DER.
    extra_roots: Vec<Vec<u8>>,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SmtpTls {
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// Plain, then STARTTLS, which must succeed (submission, port 587).
    Starttls,
    /// No TLS at all: only for a relay on this machine or a trusted
    /// network, and then without a login.
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    to: Option<Vec<String>>,
    ca_file: Option<std::path::PathBuf>,
}

fn read(value: ValueDeserializer<'_>, files: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    Ok(Box::new(said.email(files)?))
}

impl Keys {
    fn email(&self, files: &Files<'_>) -> Result<Email, String> {
        let host = self
            .host
            .clone()
            .filter(|h| !h.trim().is_empty())
            .ok_or("an `email` notifier needs `host` (the SMTP server)")?;
        let tls = match self.tls.as_deref().unwrap_or("starttls") {
            "implicit" => SmtpTls::Implicit,
            "starttls" => SmtpTls::Starttls,
            "none" => SmtpTls::None,
            other => {
                return Err(format!(
                    "`tls` is \"implicit\" (port 465), \"starttls\" (587) or \"none\", not `{other}`"
                ));
            }
        };
        let login = match (&self.username, &self.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            _ => return Err("an SMTP login needs both `username` and `password`".into()),
        };
        if tls == SmtpTls::None && login.is_some() {
            return Err(
                "with tls = \"none\" a password would cross the network in clear; use \"starttls\" or \"implicit\""
                    .into(),
            );
        }
        let mailbox = |text: &str| {
            text.parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("`{text}` is not an e-mail address ({e})"))
        };
        let from = mailbox(
            self.from
                .as_deref()
                .ok_or("an `email` notifier needs `from`")?,
        )?;
        let to = self
            .to
            .as_deref()
            .filter(|to| !to.is_empty())
            .ok_or("an `email` notifier needs `to`, a list of addresses")?
            .iter()
            .map(|t| mailbox(t))
            .collect::<Result<Vec<_>, _>>()?;
        let extra_roots = match &self.ca_file {
            Some(file) => files(file)?.iter().map(|c| c.to_vec()).collect(),
            None => Vec::new(),
        };
        let port = self.port.unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        });
        Ok(Email {
            host,
            port,
            tls,
            login,
            from,
            to,
            extra_roots,
        })
    }
}

impl Notifier for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn secrets(&self) -> Vec<String> {
        self.login.iter().map(|(_, password)| password.clone()).collect()
    }

    fn send<'a>(&'a self, _: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        Sending::Own(Box::pin(send(self, &envelope.message)))
    }
}

async fn send(mail: &Email, message: &Message) -> Result<(), String> {
    let email = compose(mail, message)?;
    let transport = transport(mail)?;
    transport
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {}", mail.host, mail.port, describe(&e)))
}

fn compose(mail: &Email, message: &Message) -> Result<lettre::Message, String> {
    let mut builder = lettre::Message::builder()
        .from(mail.from.clone())
        .subject(&message.title)
        .message_id(Some(format!("<{}@pulse.alerts>", message.message_id)))
        .header(ContentType::TEXT_PLAIN);
    for to in &mail.to {
        builder = builder.to(to.clone());
    }
    builder
        .body(format!("{}\n\n-- \nSent by Pulse.\n", message.text))
        .map_err(|e| format!("the mail could not be built: {e}"))
}

fn transport(mail: &Email) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match mail.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Implicit => Tls::Wrapper(parameters(mail)?),
        SmtpTls::Starttls => Tls::Required(parameters(mail)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mail.host)
        .port(mail.port)
        .tls(tls)
        .timeout(Some(SEND_TIMEOUT));
    if let Some((user, password)) = &mail.login {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn parameters(mail: &Email) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(mail.host.clone());
    for der in &mail.extra_roots {
        let cert = Certificate::from_der(der.clone()).map_err(|e| format!("ca_file: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("TLS for {}: {e}", mail.host))
}

/// lettre's error and its causes in one line.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text += &format!(": {cause_text}");
        }
        source = cause.source();
    }
    text
}
