//! WebSocket checks: the opening handshake (an HTTP upgrade, answered
//! `101 Switching Protocols`), then, if the check says so, one message
//! sent and the answers read until one contains `expect`. `wss://` is
//! verified as a browser would (plus `ca_file`). The connection is closed
//! at the end of every run. Headers go with the upgrade, and are secret
//! as an HTTP check's are.

use super::{Finding, Kind};
use crate::fields::{Headers, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use toml::Spanned;
use toml::de::ValueDeserializer;

/// The largest message read: an answer that says "ok" needs no more.
const LARGEST_MESSAGE: usize = 1024 * 1024;
/// Messages read at most while looking for `expect`.
const MESSAGES_READ: usize = 32;
/// How long a server may pause between two answers before the last one
/// counts as all it had to say.
const NEXT_ANSWER: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebSocketSpec {
    pub(crate) url: WsUrl,
    #[serde(default)]
    pub(crate) headers: Headers,
    /// A text message sent once the connection is open.
    pub(crate) send: Option<String>,
    /// A part that one of the first answers must contain.
    pub(crate) expect: Option<String>,
    pub(crate) ca_file: Option<Spanned<PathBuf>>,
    #[serde(skip)]
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub(crate) degraded_above: Option<Period>,
}

/// A `ws://` or `wss://` URL with a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WsUrl(pub reqwest::Url);

impl<'de> Deserialize<'de> for WsUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(deserializer)?;
        let url = reqwest::Url::parse(&text)
            .map_err(|e| D::Error::custom(format!("`{text}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none_or(str::is_empty) {
            return Err(D::Error::custom(format!(
                "`{text}` is not a ws:// or wss:// URL with a host"
            )));
        }
        Ok(WsUrl(url))
    }
}

pub(crate) struct WebSocketProbe {
    url: reqwest::Url,
    headers: Headers,
    send: Option<String>,
    expect: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    degraded_above: Option<Duration>,
}

impl Kind for WebSocketProbe {
    const NAME: &'static str = "websocket";
    const CHECK_KIND: CheckKind = CheckKind::Websocket;
    type Spec = WebSocketSpec;

    fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<WebSocketSpec, BadKeys> {
        let mut spec: WebSocketSpec = keys(said)?;
        spec.extra_roots = super::tls::read_roots(&spec.ca_file, files)?;
        Ok(spec)
    }

    fn secrets(spec: &WebSocketSpec) -> Vec<String> {
        let mut secrets = crate::redact::url_secrets(&spec.url.0);
        secrets.extend(crate::redact::header_secrets(&spec.headers.0));
        secrets
    }

    fn probe(spec: &WebSocketSpec) -> Result<Self, String> {
        Ok(WebSocketProbe {
            url: spec.url.0.clone(),
            headers: spec.headers.clone(),
            send: spec.send.clone(),
            expect: spec.expect.clone(),
            tls: Arc::new(super::tls::verifying_config(&spec.extra_roots)?),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        match self.talk().await {
            Ok(said) => {
                let took = started.elapsed();
                let detail = format!(
                    "upgraded in {:.0} ms{said}",
                    took.as_secs_f64() * 1000.0
                );
                Finding::answered(detail, took, self.degraded_above)
            }
            Err(Failed::Connect(e)) => Finding::failed(&e, || describe(&e)),
            Err(Failed::Answer(why)) => Finding::down(why),
        }
    }
}

enum Failed {
    Connect(tokio_tungstenite::tungstenite::Error),
    Answer(String),
}

impl WebSocketProbe {
    /// The handshake, and the conversation if the check has one; what the
    /// server answered, for the detail.
    async fn talk(&self) -> Result<String, Failed> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(Failed::Connect)?;
        for (name, value) in &self.headers.0 {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(LARGEST_MESSAGE))
            .max_frame_size(Some(LARGEST_MESSAGE));
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        )
        .await
        .map_err(Failed::Connect)?;
        let said = self.converse(&mut socket).await;
        let _ = socket.close(None).await;
        said.map_err(Failed::Answer)
    }

    async fn converse<S>(&self, socket: &mut S) -> Result<String, String>
    where
        S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
            + Unpin,
    {
        if let Some(text) = &self.send {
            socket
                .send(Message::text(text.clone()))
                .await
                .map_err(|e| format!("sending the message failed: {e}"))?;
        }
        let Some(expected) = &self.expect else {
            return Ok(String::new());
        };
        let mut last = None;
        for _ in 0..MESSAGES_READ {
            // The first answer may take the check's whole timeout; after
            // one that did not hold `expect`, the next must follow soon.
            let next = match last {
                None => Some(socket.next().await),
                Some(_) => tokio::time::timeout(NEXT_ANSWER, socket.next()).await.ok(),
            };
            let Some(next) = next else {
                break;
            };
            let text = match next {
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading the answer failed: {e}")),
            };
            if text.contains(expected.as_str()) {
                return Ok(format!(", answered {text:?}"));
            }
            last = Some(text);
        }
        Err(match last {
            Some(text) => format!("answered {text:?}, which does not contain {expected:?}"),
            None => format!("closed without an answer containing {expected:?}"),
        })
    }
}

/// Why the upgrade failed, in the words of its cause.
fn describe(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => format!(
            "the server refused the upgrade: {}",
            response.status()
        ),
        Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            super::tls::judge_failure(e, None)
        }
        Error::Io(e) => format!("could not connect: {e}"),
        Error::Tls(e) => format!("TLS failed: {e}"),
        other => other.to_string(),
    }
}
