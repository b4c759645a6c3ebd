//! `kind = "telegram"`: a bot's `token` and the `chat_id` it writes to;
//! `url` only for a Bot API server of one's own.

use super::message::Envelope;
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required, set};
use crate::fields::HttpUrl;
use serde::Deserialize;
use serde_json::json;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "telegram",
    read,
}];

/// Telegram refuses a message over 4,096 characters.
const LIMIT: usize = 4096;

#[derive(Clone, PartialEq)]
struct Telegram {
    base_url: reqwest::Url,
    token: String,
    chat_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
    token: Option<String>,
    chat_id: Option<String>,
}

fn read(value: ValueDeserializer<'_>, _: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    let base_url = match said.url {
        Some(url) => url.0,
        None => reqwest::Url::parse("https://api.telegram.org/").expect("a URL"),
    };
    Ok(Box::new(Telegram {
        base_url,
        token: required(set(said.token), "telegram", "token", "the bot's token")?,
        chat_id: set(said.chat_id).ok_or("a `telegram` notifier needs `chat_id`")?,
    }))
}

impl Notifier for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone()]
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        let message = &envelope.message;
        // `./`: a bot token has a colon (`123:ABC`), which would make
        // `bot123:ABC/…` read as a URL of scheme `bot123`.
        let endpoint = self
            .base_url
            .join(&format!("./bot{}/sendMessage", self.token))
            .map_err(|e| e.to_string());
        Sending::Request(endpoint.map(|endpoint| {
            let text = format!("{}\n{}", message.title, message.text);
            client.post(endpoint).json(&json!({
                "chat_id": self.chat_id,
                "text": crate::text::shorten(&text, LIMIT - 1),
                "disable_web_page_preview": true,
            }))
        }))
    }
}
