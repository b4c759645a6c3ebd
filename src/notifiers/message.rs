//! One message: the alerts that went out together to one notifier, and how
//! each kind of notifier is told them (a title and plain text for chat, a
//! documented JSON payload for webhooks). A message is composed once, when
//! its alerts are put in it, and kept as an `Envelope`: every try sends it
//! as it was then.

use crate::status::{CheckId, Health};
use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};

/// A check whose alert is held by one in the message (it depends on it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HeldCheck {
    pub(crate) id: CheckId,
    pub(crate) name: String,
}

/// One alert as a message tells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertEntry {
    pub(crate) event: String,
    pub(crate) check: CheckRef,
    pub(crate) health: Health,
    /// Why, in the check's words (redacted as on the dashboard).
    pub(crate) detail: String,
    pub(crate) since_ms: u64,
    pub(crate) at_ms: u64,
    /// The check's page, when `[alerts] public_url` is set.
    pub(crate) url: Option<String>,
    /// Checks that depend on this one and are failing with it.
    pub(crate) held: Vec<HeldCheck>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckRef {
    pub(crate) id: CheckId,
    pub(crate) name: String,
    pub(crate) group: String,
}

/// The webhook payload (README, "Alerts"): every field below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// Stable across retries of the same message: a receiver that got it
    /// twice (Pulse died between its answer and marking it sent) can tell.
    pub(crate) message_id: String,
    pub(crate) title: String,
    pub(crate) text: String,
    pub(crate) alerts: Vec<AlertEntry>,
    /// Sent from the notifications page to see that the notifier works;
    /// it tells no alert. Left out of every other message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) test: bool,
}

/// A message as it is kept in the outbox and sent on every try: what it
/// says, and the JSON it is kept as, which is also the webhook's body byte
/// for byte (and what the signature signs).
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) message: Message,
    pub(crate) json: String,
}

impl Envelope {
    /// `message`, serialised once.
    pub(crate) fn seal(message: Message) -> Envelope {
        let json = serde_json::to_string(&message).expect("a message serialises");
        Envelope { message, json }
    }

    /// A message kept as `json`; `Err` if it is no message.
    pub(crate) fn open(json: String) -> Result<Envelope, String> {
        let message = serde_json::from_str(&json)
            .map_err(|e| format!("a kept message is unreadable: {e}"))?;
        Ok(Envelope { message, json })
    }
}

impl Message {
    pub fn new(message_id: String, alerts: Vec<AlertEntry>) -> Message {
        let title = title(&alerts);
        let text = alerts.iter().map(line).collect::<Vec<_>>().join("\n");
        Message {
            message_id,
            title,
            text,
            alerts,
            test: false,
        }
    }

    /// A test message, asked for by `who`.
    pub(crate) fn test(message_id: String, who: &str) -> Message {
        Message {
            message_id,
            title: "Pulse: test message".into(),
            text: format!(
                "A test message from Pulse, sent by {who} to see that this notifier works. \
                 Nothing is failing because of it."
            ),
            alerts: Vec::new(),
            test: true,
        }
    }

    /// What a chat service shows: the title in bold, then the text, with
    /// no mention left in either.
    pub(crate) fn chat_text(&self, chat: Chat) -> String {
        let bold = match chat {
            Chat::Slack => "*",
            Chat::Discord => "**",
        };
        let text = format!("{bold}{}{bold}\n{}", self.title, self.text);
        without_mentions(&text, chat)
    }

    /// Whether anything in it is failing (for a notifier's priority).
    pub(crate) fn is_trouble(&self) -> bool {
        self.alerts.iter().any(|a| a.event != "resolved")
    }
}

fn title(alerts: &[AlertEntry]) -> String {
    if let [alert] = alerts {
        return format!("{}: {}", headline(alert), alert.check.name);
    }
    let count = |event: &str| alerts.iter().filter(|a| a.event == event).count();
    let parts = [
        (count("fired"), "failing"),
        (count("reminder"), "still failing"),
        (count("resolved"), "resolved"),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    format!("Pulse: {}", parts.join(", "))
}

fn headline(alert: &AlertEntry) -> String {
    let state = alert.health.label().to_uppercase();
    match alert.event.as_str() {
        "fired" => state,
        "reminder" => format!("STILL {state}"),
        _ => "RESOLVED".into(),
    }
}

/// `DOWN: Shop API (shop) since Wed, 02 Dec 2026 05:49:00 GMT: no answer within 5s <url>`
fn line(alert: &AlertEntry) -> String {
    let mut line = format!(
        "{}: {} ({})",
        headline(alert),
        alert.check.name,
        alert.check.group
    );
    if alert.event == "resolved" {
        let lasted = Duration::from_millis(alert.at_ms.saturating_sub(alert.since_ms));
        line += &format!(
            " is passing again after {}",
            humantime::format_duration(Duration::from_secs(lasted.as_secs().max(1)))
        );
    } else {
        line += &format!(" since {}: {}", http_time(alert.since_ms), alert.detail);
    }
    if let Some(url) = &alert.url {
        line += &format!(" {url}");
    }
    if !alert.held.is_empty() {
        let names: Vec<&str> = alert.held.iter().map(|h| h.name.as_str()).collect();
        line += &format!(
            "\n  also failing, as they depend on it: {}",
            names.join(", ")
        );
    }
    line
}

fn http_time(unix_ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(unix_ms))
}

/// A chat service that reads mentions in a message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chat {
    /// Slack, and Mattermost through its Slack-compatible webhooks.
    Slack,
    Discord,
}

/// A zero-width space: after `@` or `<` it keeps a mention from being read
/// as one, and the reader sees the same text.
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// `text` with nothing in it that `chat` reads as a mention. A check's
/// detail is whatever its target answered (a JSON excerpt, a body): it
/// must not page a whole workspace. Slack reads `<!channel>`, `<!here>`,
/// `<!everyone>`, `<@U123>`, `<#C1>`, `<!subteam^…>`: its control
/// characters are escaped as it documents (`&amp;`, `&lt;`, `&gt;`).
/// Mattermost also reads plain `@channel`, `@all`, `@name`; Discord
/// `@everyone`, `@here`, `<@id>`, `<@!id>`, `<@&role>`: a zero-width space
/// goes after each `@`, and for Discord after each `<`.
pub(crate) fn without_mentions(text: &str, chat: Chat) -> String {
    let mut safe = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match (chat, c) {
            (Chat::Slack, '&') => safe.push_str("&amp;"),
            (Chat::Slack, '<') => safe.push_str("&lt;"),
            (Chat::Slack, '>') => safe.push_str("&gt;"),
            (_, '@') | (Chat::Discord, '<') => {
                safe.push(c);
                safe.push(ZERO_WIDTH_SPACE);
            }
            _ => safe.push(c),
        }
    }
    safe
}
