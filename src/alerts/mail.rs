//! E-mail alerts over SMTP, through lettre: implicit TLS or STARTTLS
//! (required, never downgraded), verified against the public roots plus
//! the notifier's `ca_file`, with an optional login. The Message-ID is made
//! from the alert message's id, so a retry of the same message is the same
//! mail to the server and to the reader's client.

use super::message::Message;
use super::notifiers::SEND_TIMEOUT;
use crate::config::{EmailTarget, SmtpTls};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub async fn send(mail: &EmailTarget, message: &Message) -> Result<(), String> {
    let email = compose(mail, message)?;
    let transport = transport(mail)?;
    transport
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{}: {}", mail.host, mail.port, describe(&e)))
}

fn compose(mail: &EmailTarget, message: &Message) -> Result<lettre::Message, String> {
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

fn transport(mail: &EmailTarget) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
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

fn parameters(mail: &EmailTarget) -> Result<TlsParameters, String> {
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
