//! `kind = "discord"`: a channel's webhook. The title in bold, then the
//! text, with no mention left in either, cut to Discord's limit. The
//! webhook's URL is its credential.

use super::message::{Chat, Envelope};
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required};
use crate::fields::HttpUrl;
use serde::Deserialize;
use serde_json::json;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "discord",
    read,
}];

/// Discord refuses a message over 2,000 characters.
const LIMIT: usize = 2000;

#[derive(Clone, PartialEq)]
struct Discord {
    url: reqwest::Url,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
}

fn read(value: ValueDeserializer<'_>, _: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    let url = required(said.url, "discord", "url", "the incoming webhook's URL")?.0;
    Ok(Box::new(Discord { url }))
}

impl Notifier for Discord {
    fn kind(&self) -> &'static str {
        "discord"
    }

    fn secrets(&self) -> Vec<String> {
        super::url_is_secret(&self.url)
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        let text = envelope.message.chat_text(Chat::Discord);
        Sending::Request(Ok(client.post(self.url.clone()).json(&json!({
            "content": crate::text::shorten(&text, LIMIT - 1),
            // Whatever the text says, it pings no one.
            "allowed_mentions": {"parse": []},
        }))))
    }
}
