//! `kind = "webhook"`: the message as documented JSON (README, "Alerts"),
//! signed with HMAC-SHA256 when a secret is set, with any headers.
//!
//! ```toml
//! [[notifier]]
//! name = "ops"
//! kind = "webhook"
//! url = "https://hooks.example.com/pulse"
//! secret = "${PULSE_WEBHOOK_SECRET}"
//! headers = { Authorization = "Bearer ${HOOK_TOKEN}" }
//! ```

use super::message::Envelope;
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required, set};
use crate::fields::{Headers, HttpUrl};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "webhook",
    read,
}];

#[derive(Clone, PartialEq)]
struct Webhook {
    url: reqwest::Url,
    secret: Option<String>,
    headers: Headers,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
    secret: Option<String>,
    #[serde(default)]
    headers: Headers,
}

fn read(value: ValueDeserializer<'_>, _: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    Ok(Box::new(Webhook {
        url: required(said.url, "webhook", "url", "where the JSON is posted")?.0,
        secret: set(said.secret),
        headers: said.headers,
    }))
}

impl Notifier for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    /// The signing secret, and every header's value: a receiver's headers
    /// are usually its credentials, whatever they are called.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = super::url_is_secret(&self.url);
        secrets.extend(self.secret.clone());
        secrets.extend(
            self.headers
                .0
                .iter()
                .filter_map(|(_, value)| value.to_str().ok().map(String::from)),
        );
        secrets
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        // The body is the message as kept, byte for byte: what is signed.
        let body = envelope.json.clone().into_bytes();
        let mut request = client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-pulse-message-id", &envelope.message.message_id);
        for (name, value) in &self.headers.0 {
            request = request.header(name.clone(), value.clone());
        }
        if let Some(secret) = &self.secret {
            request = request.header("x-pulse-signature", signature(secret, &body));
        }
        Sending::Request(Ok(request.body(body)))
    }
}

/// `sha256=` and the hex HMAC-SHA256 of the body under the secret, as
/// GitHub signs its webhooks (README, "Alerts", shows how to check it).
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", crate::text::hex(&mac.finalize().into_bytes()))
}
