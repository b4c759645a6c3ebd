//! The kinds of notifier, one file each behind one trait, `Notifier`: a
//! kind reads and validates its own `[[notifier]]` keys, names its own
//! secrets, and says how a message goes out. Adding a kind is a file beside
//! these and a line in `KINDS`.
//!
//! What every kind shares lives here: a delivery has a deadline, never
//! follows a redirect (a notifier's URL is where its secret goes, and
//! nowhere else), and its errors come back redacted: a URL, token or
//! secret of the notifier, or any `${…}` value, never shows.
//!
//! The kinds sit below the config, which reads each `[[notifier]]` through
//! them, and below the alerts, which compose the messages and decide when
//! they go; they know neither.

pub(crate) mod message;

pub(crate) use crate::kind_keys::{BadKeys, Files, keys};
use crate::redact::Redactor;
use futures::future::BoxFuture;
use message::Envelope;
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use toml::de::ValueDeserializer;

/// Declares each kind's file and lists the kinds it defines (`KINDS`).
macro_rules! kinds {
    ($($file:ident),+ $(,)?) => {
        $(mod $file;)+
        /// Every kind a `[[notifier]]` may name, file by file, in the order
        /// errors list them.
        const KINDS: &[&[Kind]] = &[$($file::KINDS),+];
    };
}

// One word per file: adding a kind is a file beside these and its name here.
kinds!(webhook, slack, discord, ntfy, gotify, telegram, email);

/// How long one delivery may take before it counts as failed.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing answer's body is kept for the error, in bytes.
const BODY_IN_ERROR: usize = 200;

/// One kind of notifier: the name a config gives it, and how its keys
/// (all but `name` and `kind`) are read.
struct Kind {
    name: &'static str,
    read: Read,
}

/// Reads a kind's keys into a notifier of that kind.
type Read = fn(ValueDeserializer<'_>, &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys>;

/// What a kind of notifier does; see the module's documentation.
pub(crate) trait Notifier: Send + Sync + SameAs {
    /// Its kind, as `/api/alerts` and the notifications page show it.
    fn kind(&self) -> &'static str;
    /// What of its settings is a secret: blanked, with the config's `${…}`
    /// values, from every error it returns.
    fn secrets(&self) -> Vec<String>;
    /// How one message goes out.
    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a>;
}

/// How a message goes out.
#[expect(
    clippy::large_enum_variant,
    reason = "one per delivery, moved once: boxing would cost an allocation for nothing"
)]
pub(crate) enum Sending<'a> {
    /// One HTTP request, sent, read and judged alike for every kind that
    /// makes one (`Sender::deliver`); `Err` if it could not be made.
    Request(Result<reqwest::RequestBuilder, String>),
    /// A delivery of the kind's own (SMTP), bounded as a whole by twice
    /// `SEND_TIMEOUT`.
    Own(BoxFuture<'a, Result<(), String>>),
}

/// Whether two notifiers are the same kind with the same settings, so a
/// reload that changed nothing about one is seen as such. Every kind has
/// it from deriving `PartialEq`.
pub(crate) trait SameAs: Any {
    fn same_as(&self, other: &dyn Any) -> bool;
}

impl<T: PartialEq + Any> SameAs for T {
    fn same_as(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

/// The notifier of kind `kind`, from its keys.
pub(crate) fn read(
    kind: &str,
    keys: ValueDeserializer<'_>,
    files: &Files<'_>,
) -> Result<Box<dyn Notifier>, BadKeys> {
    let kinds = KINDS.iter().copied().flatten();
    match kinds.clone().find(|k| k.name == kind) {
        Some(found) => (found.read)(keys, files),
        None => {
            let names: Vec<&str> = kinds.map(|k| k.name).collect();
            Err(BadKeys::Invalid(format!(
                "unknown notifier kind `{kind}`; it is one of {}",
                names.join(", ")
            )))
        }
    }
}

/// A key a kind cannot do without: `a `gotify` notifier needs `token` (the
/// application's token)`.
fn required<T>(value: Option<T>, kind: &str, key: &str, what: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("a `{kind}` notifier needs `{key}` ({what})"))
}

/// An optional text key, where an empty text (an unset `${…}`) means unset.
fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// What of a URL is secret to a kind whose URL is the credential (chat
/// webhooks, topics): the whole URL and its path, besides its userinfo.
fn url_is_secret(url: &reqwest::Url) -> Vec<String> {
    let mut secrets = vec![url.as_str().to_string(), url.path().to_string()];
    secrets.extend(crate::redact::url_secrets(url));
    secrets.retain(|s| s.len() > 1);
    secrets
}

/// Why a message was not delivered, redacted, and whether trying the
/// same message again can help.
#[derive(Debug)]
pub(crate) struct SendError {
    pub(crate) text: String,
    pub(crate) permanent: bool,
}

impl SendError {
    fn again(text: String) -> SendError {
        SendError {
            text,
            permanent: false,
        }
    }

    fn given_up(text: String) -> SendError {
        SendError {
            text,
            permanent: true,
        }
    }
}

/// A configured notifier, ready to send: what it is, and the client and
/// redactor every delivery of it uses.
pub(crate) struct Sender {
    notifier: Arc<dyn Notifier>,
    client: reqwest::Client,
    redactor: Redactor,
}

impl Sender {
    pub(crate) fn new(notifier: Arc<dyn Notifier>, config_secrets: &[String]) -> Sender {
        let mut secrets = config_secrets.to_vec();
        secrets.extend(notifier.secrets());
        let client = crate::http_client::settings()
            .timeout(SEND_TIMEOUT)
            .build()
            .expect("an HTTP client with rustls");
        Sender {
            notifier,
            client,
            redactor: Redactor::new(secrets),
        }
    }

    /// Sends `envelope`'s message; `Err` says why not, redacted.
    pub(crate) async fn send(&self, envelope: &Envelope) -> Result<(), SendError> {
        let blank = |text: String| self.redactor.blank_error(&text);
        match self.notifier.send(&self.client, envelope) {
            Sending::Request(request) => {
                let request = request.map_err(|e| SendError::given_up(blank(e)))?;
                self.deliver(request).await
            }
            Sending::Own(delivery) => {
                let sent = tokio::time::timeout(2 * SEND_TIMEOUT, delivery);
                let sent = sent.await.unwrap_or_else(|_| {
                    Err(format!("no answer within {}s", 2 * SEND_TIMEOUT.as_secs()))
                });
                sent.map_err(|e| SendError::again(blank(e)))
            }
        }
    }

    /// Sends one request and judges the answer: any 2xx is delivered.
    async fn deliver(&self, request: reqwest::RequestBuilder) -> Result<(), SendError> {
        let blank = |text: String| self.redactor.blank_error(&text);
        let mut answer = request
            .send()
            .await
            .map_err(|e| SendError::again(blank(crate::http_client::describe_error(&e))))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        // Only the start of a refusal is read: a hostile endpoint could
        // send anything for as long as the deadline lets it. Twice what
        // is shown, so that a secret quoted where the text is cut is read
        // whole, and redacted, before the cut.
        let mut body = Vec::new();
        while body.len() < 2 * BODY_IN_ERROR {
            match answer.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let said = blank(String::from_utf8_lossy(&body).trim().to_owned());
        let text = match said.as_str() {
            "" => format!("answered {status}"),
            said => format!(
                "answered {status}: {}",
                crate::text::shorten(said, BODY_IN_ERROR)
            ),
        };
        // A request the notifier refuses as such will be refused again (a
        // wrong URL, a revoked token, a message too large); a timeout,
        // throttling or a server error may pass.
        let permanent = status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
        Err(SendError { text, permanent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_of_its_own() {
        let names: Vec<&str> = KINDS.iter().copied().flatten().map(|k| k.name).collect();
        let mut distinct = names.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
    }
}
