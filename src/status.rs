//! What crosses the wire: the status of one check, and a snapshot of all of
//! them. This is the only definition; the server serialises these types into
//! SSE events and JSON, the browser deserialises the same types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A check's stable identity: the key the browser uses to find the card an
/// event belongs to. Stable across restarts for the same configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckId(pub String);

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of target a check probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Http,
    Tcp,
    Tls,
    Host,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Tcp => "tcp",
            CheckKind::Tls => "tls",
            CheckKind::Host => "host",
        }
    }
}

/// The verdict of one check. `Unknown` means "not checked yet", never
/// "failed": a failure is always `Down` with a reason in `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    Degraded,
    Down,
    Unknown,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }

    /// Worst first, so a summary or a sort can put trouble on top.
    pub fn severity(self) -> u8 {
        match self {
            Health::Down => 3,
            Health::Degraded => 2,
            Health::Unknown => 1,
            Health::Up => 0,
        }
    }
}

/// The latest result of one check: the payload of every `message` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    pub id: CheckId,
    pub name: String,
    pub group: String,
    pub kind: CheckKind,
    pub health: Health,
    /// How long the probe took, in milliseconds; `None` before the first run.
    pub latency_ms: Option<f64>,
    /// A sentence for a person: the measured value, or why the check failed.
    pub detail: String,
    /// When the probe finished, in milliseconds since the Unix epoch; 0 before
    /// the first run.
    pub checked_at_ms: u64,
}

impl CheckStatus {
    /// The placeholder a check has until its first run completes.
    pub fn pending(id: CheckId, name: String, group: String, kind: CheckKind) -> Self {
        CheckStatus {
            id,
            name,
            group,
            kind,
            health: Health::Unknown,
            latency_ms: None,
            detail: "waiting for the first check".to_string(),
            checked_at_ms: 0,
        }
    }
}

/// Every current status at once: the payload of the `snapshot` event, of
/// `GET /api/status`, and what the page is first rendered with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The id of the newest event the snapshot includes; a client that
    /// reconnects with it gets only what came after.
    pub last_event_id: u64,
    pub checks: Vec<CheckStatus>,
}

/// Formats a Unix time in milliseconds as `HH:MM:SS UTC`. Deliberately not the
/// browser's local time: the server renders this text and hydration needs the
/// browser's first render to produce exactly the same characters.
pub fn utc_clock(unix_ms: u64) -> String {
    let secs_of_day = (unix_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_serialises_lowercase() {
        assert_eq!(
            serde_json::to_string(&Health::Degraded).unwrap(),
            "\"degraded\""
        );
        assert_eq!(
            serde_json::from_str::<Health>("\"down\"").unwrap(),
            Health::Down
        );
    }

    #[test]
    fn utc_clock_formats_time_of_day() {
        // 2026-11-24 13:05:09 UTC
        assert_eq!(utc_clock(1_795_957_509_000), "13:05:09 UTC");
        assert_eq!(utc_clock(0), "00:00:00 UTC");
    }

    #[test]
    fn status_round_trips_through_json() {
        let status = CheckStatus {
            id: CheckId("host-cpu".into()),
            name: "CPU".into(),
            group: "host".into(),
            kind: CheckKind::Host,
            health: Health::Up,
            latency_ms: Some(1.5),
            detail: "line one\nline two\r\n".into(),
            checked_at_ms: 42,
        };
        let json = serde_json::to_string(&status).unwrap();
        assert!(!json.contains('\n'), "JSON data must fit one SSE data line");
        assert_eq!(serde_json::from_str::<CheckStatus>(&json).unwrap(), status);
    }
}
