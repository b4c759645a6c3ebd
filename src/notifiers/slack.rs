//! `kind = "slack"`, and `"mattermost"` through its Slack-compatible
//! incoming webhooks: the title in bold, then the text, with no mention
//! left in either. The webhook's URL is its credential.

use super::message::{Chat, Envelope};
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required};
use crate::fields::HttpUrl;
use serde::Deserialize;
use serde_json::json;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[
    Kind {
        name: "slack",
        read: |value, files| read("slack", value, files),
    },
    Kind {
        name: "mattermost",
        read: |value, files| read("mattermost", value, files),
    },
];

#[derive(Clone, PartialEq)]
struct Slack {
    url: reqwest::Url,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
}

fn read(
    kind: &str,
    value: ValueDeserializer<'_>,
    _: &Files<'_>,
) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    let url = required(said.url, kind, "url", "the incoming webhook's URL")?.0;
    Ok(Box::new(Slack { url }))
}

impl Notifier for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn secrets(&self) -> Vec<String> {
        super::url_is_secret(&self.url)
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        let text = envelope.message.chat_text(Chat::Slack);
        Sending::Request(Ok(client.post(self.url.clone()).json(&json!({ "text": text }))))
    }
}
