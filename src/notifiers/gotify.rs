//! `kind = "gotify"`: `url` is the server's base URL; the application's
//! `token` goes in a header.

use super::message::Envelope;
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required, set};
use crate::fields::HttpUrl;
use serde::Deserialize;
use serde_json::json;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "gotify",
    read,
}];

#[derive(Clone, PartialEq)]
struct Gotify {
    url: reqwest::Url,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
    token: Option<String>,
}

fn read(value: ValueDeserializer<'_>, _: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    Ok(Box::new(Gotify {
        url: required(said.url, "gotify", "url", "the server's base URL")?.0,
        token: required(set(said.token), "gotify", "token", "the application's token")?,
    }))
}

impl Notifier for Gotify {
    fn kind(&self) -> &'static str {
        "gotify"
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        let message = &envelope.message;
        let request = self.url.join("message").map_err(|e| e.to_string());
        Sending::Request(request.map(|endpoint| {
            client
                .post(endpoint)
                .header("x-gotify-key", &self.token)
                .json(&json!({
                    "title": message.title,
                    "message": message.text,
                    "priority": if message.is_trouble() { 8 } else { 4 },
                }))
        }))
    }
}
