//! `kind = "ntfy"`: `url` is the topic's URL, e.g.
//! `https://ntfy.sh/my-topic`, with an optional access `token`. The
//! topic's URL is a credential of its own: whoever knows it may read.

use super::message::Envelope;
use super::{Files, Kind, Notifier, BadKeys, Sending, keys, required, set};
use crate::fields::HttpUrl;
use serde::Deserialize;
use serde_json::json;
use toml::de::ValueDeserializer;

pub(super) const KINDS: &[Kind] = &[Kind {
    name: "ntfy",
    read,
}];

#[derive(Clone, PartialEq)]
struct Ntfy {
    url: reqwest::Url,
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    url: Option<HttpUrl>,
    token: Option<String>,
}

fn read(value: ValueDeserializer<'_>, _: &Files<'_>) -> Result<Box<dyn Notifier>, BadKeys> {
    let said: Keys = keys(value)?;
    Ok(Box::new(Ntfy {
        url: required(said.url, "ntfy", "url", "the topic's URL")?.0,
        token: set(said.token),
    }))
}

impl Notifier for Ntfy {
    fn kind(&self) -> &'static str {
        "ntfy"
    }

    fn secrets(&self) -> Vec<String> {
        let mut secrets = super::url_is_secret(&self.url);
        secrets.extend(self.token.clone());
        secrets
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, envelope: &'a Envelope) -> Sending<'a> {
        let message = &envelope.message;
        let request = split_topic(&self.url).map(|(root, topic)| {
            // ntfy's JSON form (POST to the server's root) carries a title
            // of any characters, which a header cannot.
            let request = client.post(root).json(&json!({
                "topic": topic,
                "title": message.title,
                "message": message.text,
                "priority": if message.is_trouble() { 4 } else { 3 },
                "tags": [if message.is_trouble() { "rotating_light" } else { "white_check_mark" }],
            }));
            match &self.token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        });
        Sending::Request(request)
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
