//! The live board: the page's reactive copy of every check's status, one
//! signal per check, so that an event re-renders the one card it concerns.
//! The server builds it from the snapshot it renders with; in the browser,
//! `follow` feeds it from the SSE stream after hydration.

#[cfg(feature = "hydrate")]
mod event_source;

use crate::status::{CheckId, CheckStatus, ConfigNotice, Health, Snapshot};
use leptos::prelude::*;
use std::collections::{HashMap, HashSet};

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

impl Tally {
    fn slot(&mut self, health: Health) -> &mut usize {
        match health {
            Health::Up => &mut self.up,
            Health::Degraded => &mut self.degraded,
            Health::Down => &mut self.down,
            Health::Unknown => &mut self.unknown,
        }
    }

    pub fn total(&self) -> usize {
        self.up + self.degraded + self.down + self.unknown
    }

    /// Down or degraded: what "failing only" shows.
    pub fn failing(&self) -> usize {
        self.down + self.degraded
    }

    fn plus(mut self, other: &Tally) -> Tally {
        self.up += other.up;
        self.degraded += other.degraded;
        self.down += other.down;
        self.unknown += other.unknown;
        self
    }
}

/// Whether a check counts as failing for the "failing only" filter.
pub fn is_failing(health: Health) -> bool {
    matches!(health, Health::Down | Health::Degraded)
}

#[derive(Clone, Copy)]
pub struct Board {
    order: RwSignal<Vec<CheckId>>,
    cards: StoredValue<HashMap<CheckId, RwSignal<CheckStatus>>>,
    /// Counts per group, kept up to date as events arrive (an event changes
    /// at most two counts), so that no count is ever recomputed by walking
    /// thousands of cards.
    tallies: RwSignal<HashMap<String, Tally>>,
    pub config: RwSignal<ConfigNotice>,
    pub connection: RwSignal<Connection>,
    /// Browser clock time of the newest event; `None` until one arrives.
    pub last_event_at_ms: RwSignal<Option<u64>>,
    /// The browser's clock, ticking once a second after hydration; `None`
    /// on the server and during hydration so both render the same text.
    pub now_ms: RwSignal<Option<u64>>,
    /// What the viewer asked to see: a search text, failing checks only,
    /// and the groups folded away.
    pub query: RwSignal<String>,
    pub failing_only: RwSignal<bool>,
    pub collapsed: RwSignal<HashSet<String>>,
}

impl Board {
    pub fn new(snapshot: Snapshot) -> Board {
        let board = Board {
            order: RwSignal::new(Vec::new()),
            cards: StoredValue::new(HashMap::new()),
            tallies: RwSignal::new(HashMap::new()),
            config: RwSignal::new(snapshot.config.clone()),
            connection: RwSignal::new(Connection::Connecting),
            last_event_at_ms: RwSignal::new(None),
            now_ms: RwSignal::new(None),
            query: RwSignal::new(String::new()),
            failing_only: RwSignal::new(false),
            collapsed: RwSignal::new(HashSet::new()),
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
            let (health, group) = card.with_untracked(|s| (s.health, s.group.clone()));
            if health != status.health || group != status.group {
                self.count(&group, health, false);
                self.count(&status.group, status.health, true);
            }
            let regrouped = group != status.group;
            card.set(status);
            if regrouped {
                // Group membership is read from the cards; make the lists
                // that depend on it look again.
                self.order.update(|_| {});
            }
            return;
        }
        self.count(&status.group, status.health, true);
        let id = status.id.clone();
        let card = RwSignal::new(status);
        self.cards.update_value(|cards| {
            cards.insert(id.clone(), card);
        });
        self.order.update(|order| order.push(id));
    }

    /// A check the server no longer runs: its card goes.
    pub fn remove(&self, id: &CheckId) {
        let Some(card) = self.card(id) else { return };
        let (health, group) = card.with_untracked(|s| (s.health, s.group.clone()));
        self.count(&group, health, false);
        self.cards.update_value(|cards| {
            cards.remove(id);
        });
        self.order.update(|order| order.retain(|known| known != id));
    }

    /// A whole new picture: every listed check updated, every unlisted one
    /// removed (the server no longer runs it).
    pub fn replace(&self, snapshot: Snapshot) {
        let listed: HashSet<CheckId> = snapshot.checks.iter().map(|s| s.id.clone()).collect();
        let gone: Vec<CheckId> = self.order.with_untracked(|order| {
            order
                .iter()
                .filter(|id| !listed.contains(*id))
                .cloned()
                .collect()
        });
        for id in &gone {
            self.remove(id);
        }
        for status in snapshot.checks {
            self.apply(status);
        }
        self.config.set(snapshot.config);
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

    /// Counts by health over every check.
    pub fn tally(&self) -> Tally {
        self.tallies.with(|tallies| {
            tallies
                .values()
                .fold(Tally::default(), |sum, t| sum.plus(t))
        })
    }

    /// Counts by health within one group.
    pub fn group_tally(&self, group: &str) -> Tally {
        self.tallies
            .with(|tallies| tallies.get(group).copied().unwrap_or_default())
    }

    /// Whether a card passes the viewer's search and "failing only".
    pub fn shows(&self, status: &CheckStatus) -> bool {
        if self.failing_only.get() && !is_failing(status.health) {
            return false;
        }
        self.query.with(|query| matches_query(status, query))
    }

    /// Whether any card of the group passes the filters; a group with none
    /// is hidden while a filter is on.
    pub fn group_shows(&self, group: &str) -> bool {
        let filtering = self.failing_only.get() || self.query.with(|q| !q.trim().is_empty());
        if !filtering {
            return true;
        }
        self.ids_in(group)
            .iter()
            .filter_map(|id| self.card(id))
            .any(|card| card.with(|status| self.shows(status)))
    }

    pub fn is_collapsed(&self, group: &str) -> bool {
        self.collapsed.with(|collapsed| collapsed.contains(group))
    }

    pub fn toggle_collapsed(&self, group: &str) {
        self.collapsed.update(|collapsed| {
            if !collapsed.remove(group) {
                collapsed.insert(group.to_string());
            }
        });
    }

    fn count(&self, group: &str, health: Health, add: bool) {
        self.tallies.update(|tallies| {
            let slot = tallies.entry(group.to_string()).or_default().slot(health);
            *slot = if add {
                *slot + 1
            } else {
                slot.saturating_sub(1)
            };
            if tallies.get(group).is_some_and(|t| t.total() == 0) {
                tallies.remove(group);
            }
        });
    }

    fn group_of(&self, id: &CheckId) -> String {
        self.card(id)
            .map(|card| card.with_untracked(|s| s.group.clone()))
            .unwrap_or_default()
    }
}

/// Every word of the query appears in the check's name, group, kind or id,
/// ignoring case: "shop down" would not match, "shop api" would.
fn matches_query(status: &CheckStatus, query: &str) -> bool {
    let query = query.trim();
    if query.is_empty() {
        return true;
    }
    let haystack = format!(
        "{} {} {} {}",
        status.name,
        status.group,
        status.kind.label(),
        status.id
    )
    .to_lowercase();
    query
        .to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
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
