//! What a page keeps live, each a `Feed`: the dashboard's `Board`
//! (board.rs), the public page's `PublicBoard` (public_board.rs) and a
//! check's `Detail` (detail.rs). Each is the page's reactive copy of what
//! the server sent, one signal per thing an event can change, so that an
//! event re-renders only what it concerns. The server builds a feed from
//! the data it renders with; in the browser, `follow` feeds it from its
//! SSE stream after hydration, one stream shared by every tab (tabs.rs).

mod board;
mod clock;
mod detail;
#[cfg(feature = "hydrate")]
mod event_source;
mod public_board;
// Compiled for the tests too, so that they run with the server's `cargo test`.
#[cfg(any(feature = "hydrate", test))]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
mod relay;
#[cfg(feature = "hydrate")]
mod tabs;

pub use board::{Board, CardSignals, Tally};
pub use detail::Detail;
pub use public_board::{Overall, PublicBoard, PublicCard};

use crate::status::{
    AlertNotice, CheckId, ConfigNotice, HistoryNotice, IncidentsNotice, NotifiersNotice,
};
use leptos::prelude::*;
use std::collections::{HashMap, HashSet};

/// What a page's stream feeds: the payloads it parses and where they go.
/// `tabs` follows the stream at `PATH` into any of them, with the same
/// sharing between tabs, reconnecting, replay and offline logic.
pub trait Feed: Copy + 'static {
    /// The payload of a `message` event.
    type Status: serde::de::DeserializeOwned;
    /// The payload of the `snapshot` event.
    type Snapshot: serde::de::DeserializeOwned;
    /// The stream's path.
    const PATH: &'static str;
    /// Where the same snapshot is fetched over plain HTTP.
    const SNAPSHOT_PATH: &'static str;
    /// Where the state of the stream itself is shown.
    fn link(&self) -> Link;
    fn apply(&self, status: Self::Status);
    fn replace(&self, snapshot: Self::Snapshot);
    fn remove(&self, id: &CheckId);
    /// A `config` event; only the private stream has them.
    fn config(&self, _notice: ConfigNotice) {}
    /// A `history` event; only the private stream has them.
    fn history(&self, _notice: HistoryNotice) {}
    /// An `alert` event; only the private stream has them.
    fn alert(&self, _notice: AlertNotice) {}
    /// A `notifiers` event; only the private stream has them.
    fn notifiers(&self, _notice: NotifiersNotice) {}
    /// An `incidents` event: every incident to show, on both streams (a
    /// check's page shows none).
    fn incidents(&self, _notice: IncidentsNotice) {}
    /// The browser's clock has moved on (once a second).
    fn tick(&self, now_ms: u64) {
        self.link().now_ms.set(Some(now_ms));
    }
}

/// A page's view of its stream: whether it is live, and when the last
/// event came, as the header's badge shows.
#[derive(Clone, Copy)]
pub struct Link {
    /// The id of the newest event the page was rendered with: the stream
    /// resumes after it.
    pub rendered_at: Option<u64>,
    pub connection: RwSignal<Connection>,
    /// Browser clock time of the newest event; `None` until one arrives.
    pub last_event_at_ms: RwSignal<Option<u64>>,
    /// The id of the newest event applied, and how many were applied
    /// (snapshots aside): the badge carries both, so that anyone can see
    /// that each event reached the page once.
    pub last_event_id: RwSignal<Option<u64>>,
    pub events: RwSignal<u64>,
    /// The browser's clock, ticking once a second after hydration; `None`
    /// on the server and during hydration so both render the same text.
    pub now_ms: RwSignal<Option<u64>>,
}

impl Link {
    pub fn new(rendered_at: Option<u64>) -> Link {
        Link {
            rendered_at,
            connection: RwSignal::new(Connection::Connecting),
            last_event_at_ms: RwSignal::new(None),
            last_event_id: RwSignal::new(rendered_at),
            events: RwSignal::new(0),
            now_ms: RwSignal::new(None),
        }
    }
}

/// What the page knows about its stream, as shown in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Connection {
    /// Server render and hydration, before the stream has opened.
    Connecting,
    Live,
    /// The stream dropped; the browser or Pulse itself is retrying.
    Reconnecting,
    /// Retrying for a while without success.
    Offline,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Live => "live",
            Connection::Reconnecting => "reconnecting",
            Connection::Offline => "offline",
        }
    }
}

/// The checks a board shows that a new snapshot no longer lists (the
/// server stopped running them, or they stopped being public).
fn unlisted<'a, Card: Send + Sync + 'static>(
    cards: StoredValue<HashMap<CheckId, Card>>,
    listed: impl Iterator<Item = &'a CheckId>,
) -> Vec<CheckId> {
    let listed: HashSet<&CheckId> = listed.collect();
    cards.with_value(|cards| {
        cards
            .keys()
            .filter(|id| !listed.contains(id))
            .cloned()
            .collect()
    })
}

/// Keeps `feed` live from its event stream, from hydration until the
/// component that called it is cleaned up. Nothing happens on the server.
pub fn follow<F: Feed>(feed: F) {
    #[cfg(feature = "hydrate")]
    tabs::follow(feed);
    #[cfg(not(feature = "hydrate"))]
    let _ = feed;
}

/// "just now", "42 s ago", "3 min ago", "2 h ago".
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        0..=1 => "just now".to_string(),
        2..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn ago_reads_naturally() {
        assert_eq!(ago(10_000, 10_500), "just now");
        assert_eq!(ago(0, 42_000), "42 s ago");
        assert_eq!(ago(0, 180_000), "3 min ago");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
        assert_eq!(
            ago(5_000, 1_000),
            "just now",
            "a clock behind the event is not negative"
        );
    }
}
