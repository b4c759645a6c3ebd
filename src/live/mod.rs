//! The live board: the page's reactive copy of every check's status, one
//! signal per check, so that an event re-renders the one card it concerns.
//! The server builds it from the snapshot it renders with; in the browser,
//! `follow` feeds it from the SSE stream after hydration.

#[cfg(feature = "hydrate")]
mod event_source;

use crate::status::{CheckId, CheckStatus, Health, Snapshot};
use leptos::prelude::*;
use std::collections::HashMap;

/// What the page knows about its stream, as shown in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// How many checks are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    pub unknown: usize,
}

#[derive(Clone, Copy)]
pub struct Board {
    order: RwSignal<Vec<CheckId>>,
    cards: StoredValue<HashMap<CheckId, RwSignal<CheckStatus>>>,
    pub connection: RwSignal<Connection>,
    /// Browser clock time of the newest event; `None` until one arrives.
    pub last_event_at_ms: RwSignal<Option<u64>>,
    /// The browser's clock, ticking once a second after hydration; `None`
    /// on the server and during hydration so both render the same text.
    pub now_ms: RwSignal<Option<u64>>,
}

impl Board {
    pub fn new(snapshot: Snapshot) -> Board {
        let board = Board {
            order: RwSignal::new(Vec::new()),
            cards: StoredValue::new(HashMap::new()),
            connection: RwSignal::new(Connection::Connecting),
            last_event_at_ms: RwSignal::new(None),
            now_ms: RwSignal::new(None),
        };
        for status in snapshot.checks {
            board.apply(status);
        }
        board
    }

    /// One check's new status: updates its card, or adds a card for a check
    /// the page has not seen before.
    pub fn apply(&self, status: CheckStatus) {
        if let Some(card) = self.card(&status.id) {
            card.set(status);
            return;
        }
        let id = status.id.clone();
        let card = RwSignal::new(status);
        self.cards.update_value(|cards| {
            cards.insert(id.clone(), card);
        });
        self.order.update(|order| order.push(id));
    }

    /// A whole new picture: every listed check updated, every unlisted one
    /// removed (the server no longer runs it).
    pub fn replace(&self, snapshot: Snapshot) {
        let listed: std::collections::HashSet<CheckId> =
            snapshot.checks.iter().map(|s| s.id.clone()).collect();
        let gone = self
            .order
            .with_untracked(|order| order.iter().any(|id| !listed.contains(id)));
        if gone {
            self.cards
                .update_value(|cards| cards.retain(|id, _| listed.contains(id)));
            self.order
                .update(|order| order.retain(|id| listed.contains(id)));
        }
        for status in snapshot.checks {
            self.apply(status);
        }
    }

    pub fn card(&self, id: &CheckId) -> Option<RwSignal<CheckStatus>> {
        self.cards.with_value(|cards| cards.get(id).copied())
    }

    /// Group names in the order their first check appeared.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        self.order.with(|order| {
            for id in order {
                let group = self.group_of(id);
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        });
        groups
    }

    pub fn ids_in(&self, group: &str) -> Vec<CheckId> {
        self.order.with(|order| {
            order
                .iter()
                .filter(|id| self.group_of(id) == group)
                .cloned()
                .collect()
        })
    }

    /// Counts by health; tracks every card, so it follows each event.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        self.order.with(|order| {
            for id in order {
                let Some(card) = self.card(id) else { continue };
                match card.with(|s| s.health) {
                    Health::Up => tally.up += 1,
                    Health::Degraded => tally.degraded += 1,
                    Health::Down => tally.down += 1,
                    Health::Unknown => tally.unknown += 1,
                }
            }
        });
        tally
    }

    fn group_of(&self, id: &CheckId) -> String {
        self.card(id)
            .map(|card| card.with_untracked(|s| s.group.clone()))
            .unwrap_or_default()
    }
}

/// Keeps the board live from the server's event stream, from hydration until
/// the component that called it is cleaned up. Nothing happens on the server.
pub fn follow(board: Board) {
    #[cfg(feature = "hydrate")]
    event_source::follow(board);
    #[cfg(not(feature = "hydrate"))]
    let _ = board;
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
