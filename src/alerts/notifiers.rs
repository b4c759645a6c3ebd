//! Sending a message to each kind of notifier: one HTTP request each, with
//! a deadline, never following a redirect (a notifier's URL is where its
//! secret goes, and nowhere else). Errors are returned redacted: a URL,
//! token or secret of the notifier, or any `${…}` value, never shows.

use super::message::{Chat, Envelope};
use crate::config::{NotifierSpec, NotifierTarget};
use crate::redact::Redactor;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;

/// How long one delivery may take before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing answer's body is kept for the error, in bytes.
const BODY_IN_ERROR: usize = 200;

/// Discord refuses a message over 2,000 characters; Telegram over 4,096.
const DISCORD_LIMIT: usize = 2000;
const TELEGRAM_LIMIT: usize = 4096;

/// Why a message was not delivered, redacted, and whether trying the
/// same message again can help.
#[derive(Debug)]
pub struct SendError {
    pub text: String,
    pub permanent: bool,
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

pub struct Notifier {
    pub spec: NotifierSpec,
    client: reqwest::Client,
    redactor: Redactor,
}

impl Notifier {
    pub fn new(spec: NotifierSpec, config_secrets: &[String]) -> Notifier {
        let mut secrets = config_secrets.to_vec();
        secrets.extend(own_secrets(&spec.target));
        let client = crate::http_client::settings()
            .timeout(SEND_TIMEOUT)
            .build()
            .expect("an HTTP client with rustls");
        Notifier {
            spec,
            client,
            redactor: Redactor::new(secrets),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Sends `envelope`'s message; `Err` says why not, redacted.
    pub async fn send(&self, envelope: &Envelope) -> Result<(), SendError> {
        let blank = |text: String| self.redactor.blank_error(&text);
        if let NotifierTarget::Email(mail) = &self.spec.target {
            // lettre's timeout is per SMTP command; this bounds the whole.
            let mail = super::mail::send(mail, &envelope.message);
            let sent = tokio::time::timeout(2 * SEND_TIMEOUT, mail);
            let sent = sent.await.unwrap_or_else(|_| {
                Err(format!("no answer within {}s", 2 * SEND_TIMEOUT.as_secs()))
            });
            return sent.map_err(|e| SendError::again(blank(e)));
        }
        let request = self
            .request(envelope)
            .map_err(|e| SendError::given_up(blank(e)))?;
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

    fn request(&self, envelope: &Envelope) -> Result<reqwest::RequestBuilder, String> {
        let post = |url: reqwest::Url| self.client.post(url);
        let message = &envelope.message;
        Ok(match &self.spec.target {
            NotifierTarget::Webhook {
                url,
                secret,
                headers,
            } => {
                let body = envelope.json.clone().into_bytes();
                let mut request = post(url.clone())
                    .header("content-type", "application/json")
                    .header("x-pulse-message-id", &message.message_id);
                for (name, value) in &headers.0 {
                    request = request.header(name.clone(), value.clone());
                }
                if let Some(secret) = secret {
                    request = request.header("x-pulse-signature", signature(secret, &body));
                }
                request.body(body)
            }
            NotifierTarget::Slack { url } => post(url.clone()).json(&json!({
                "text": message.chat_text(Chat::Slack),
            })),
            NotifierTarget::Discord { url } => post(url.clone()).json(&json!({
                "content": crate::text::shorten(&message.chat_text(Chat::Discord), DISCORD_LIMIT - 1),
                // Whatever the text says, it pings no one.
                "allowed_mentions": {"parse": []},
            })),
            NotifierTarget::Ntfy { url, token } => {
                // ntfy's JSON form (POST to the server's root) carries a
                // title of any characters, which a header cannot.
                let (root, topic) = split_topic(url)?;
                let mut request = post(root).json(&json!({
                    "topic": topic,
                    "title": message.title,
                    "message": message.text,
                    "priority": if message.is_trouble() { 4 } else { 3 },
                    "tags": [if message.is_trouble() { "rotating_light" } else { "white_check_mark" }],
                }));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request
            }
            NotifierTarget::Gotify { url, token } => {
                let endpoint = url.join("message").map_err(|e| e.to_string())?;
                post(endpoint).header("x-gotify-key", token).json(&json!({
                    "title": message.title,
                    "message": message.text,
                    "priority": if message.is_trouble() { 8 } else { 4 },
                }))
            }
            NotifierTarget::Email(_) => unreachable!("mail is sent by `mail::send`"),
            NotifierTarget::Telegram {
                base_url,
                token,
                chat_id,
            } => {
                // `./`: a bot token has a colon (`123:ABC`), which would
                // make `bot123:ABC/…` read as a URL of scheme `bot123`.
                let endpoint = base_url
                    .join(&format!("./bot{token}/sendMessage"))
                    .map_err(|e| e.to_string())?;
                post(endpoint).json(&json!({
                    "chat_id": chat_id,
                    "text": crate::text::shorten(&format!("{}\n{}", message.title, message.text), TELEGRAM_LIMIT - 1),
                    "disable_web_page_preview": true,
                }))
            }
        })
    }
}

/// `sha256=` and the hex HMAC-SHA256 of the body under the secret, as
/// GitHub signs its webhooks (README, "Alerts", shows how to check it).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", crate::text::hex(&mac.finalize().into_bytes()))
}

/// What of a notifier's settings is a secret: tokens and signing secrets,
/// and the URL of kinds whose URL is the credential (chat webhooks).
fn own_secrets(target: &NotifierTarget) -> Vec<String> {
    let url_secrets = |url: &reqwest::Url| {
        let mut secrets = vec![url.as_str().to_string(), url.path().to_string()];
        secrets.extend(
            [url.username(), url.password().unwrap_or("")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        secrets.retain(|s| s.len() > 1);
        secrets
    };
    match target {
        NotifierTarget::Webhook {
            url,
            secret,
            headers,
        } => {
            let mut secrets = url_secrets(url);
            secrets.extend(secret.clone());
            secrets.extend(
                headers
                    .0
                    .iter()
                    .filter_map(|(_, value)| value.to_str().ok().map(String::from)),
            );
            secrets
        }
        NotifierTarget::Slack { url } | NotifierTarget::Discord { url } => url_secrets(url),
        NotifierTarget::Ntfy { url, token } => {
            let mut secrets = url_secrets(url);
            secrets.extend(token.clone());
            secrets
        }
        NotifierTarget::Gotify { token, .. } | NotifierTarget::Telegram { token, .. } => {
            vec![token.clone()]
        }
        NotifierTarget::Email(mail) => mail.login.iter().map(|(_, p)| p.clone()).collect(),
    }
}

/// `https://ntfy.sh/alerts` → (`https://ntfy.sh/`, `alerts`).
fn split_topic(url: &reqwest::Url) -> Result<(reqwest::Url, String), String> {
    let topic = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|t| !t.is_empty())
        .ok_or("the ntfy URL names no topic (write it as https://host/topic)")?
        .to_string();
    let root = url.join("./").map_err(|e| e.to_string())?;
    Ok((root, topic))
}
