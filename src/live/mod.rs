//! The live board: the page's reactive copy of every check's status, one
//! signal per check, so that an event re-renders the one card it concerns.
//! The server builds it from the snapshot it renders with; in the browser,
//! `follow` feeds it from the SSE stream after hydration. `follow` feeds
//! any `Feed`: this board (the private stream) or the public status page's
//! `PublicBoard` (the public stream).

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

pub use detail::Detail;
pub use public_board::{Overall, PublicBoard, PublicCard};

use crate::status::{
    AlertNotice, AlertState, BoardData, CheckId, CheckStatus, ConfigNotice, FEED, FeedItem, Health,
    HistoryNotice, IncidentsNotice, NotifiersNotice, Snapshot, Trend,
};
use clock::Clock;
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
    /// Group names in the order their first check appeared.
    groups: RwSignal<Vec<String>>,
    /// Each group's checks, in arrival order: a group's list changes only
    /// when a check joins or leaves it, and reading it never walks the others.
    members: StoredValue<HashMap<String, RwSignal<Vec<CheckId>>>>,
    cards: StoredValue<HashMap<CheckId, Card>>,
    /// Counts per group, kept up to date as events arrive (an event changes
    /// at most two counts), so that no count is ever recomputed by walking
    /// thousands of cards.
    tallies: RwSignal<HashMap<String, Tally>>,
    pub config: RwSignal<ConfigNotice>,
    pub history: RwSignal<HistoryNotice>,
    pub notifiers: RwSignal<NotifiersNotice>,
    pub incidents: RwSignal<IncidentsNotice>,
    /// The newest changes of health, newest first.
    pub feed: RwSignal<Vec<FeedItem>>,
    /// The stream's state and the browser's clock (`link.now_ms`), for
    /// the page's few texts; the cards read `card_clock`.
    pub link: Link,
    card_clock: Clock,
    /// What the viewer asked to see: a search text, failing checks only,
    /// and the groups folded away.
    pub query: RwSignal<String>,
    query_words: Memo<Vec<String>>,
    pub failing_only: RwSignal<bool>,
    pub collapsed: RwSignal<HashSet<String>>,
}

#[derive(Clone)]
struct Card {
    status: RwSignal<CheckStatus>,
    trend: RwSignal<Trend>,
    alert: RwSignal<AlertState>,
    clock: RwSignal<Option<u64>>,
    filter: RwSignal<Filter>,
    /// Lower-case name, group, kind and id: what a search looks in, made
    /// once per change of those rather than once per card per keystroke.
    search_key: String,
}

/// What the viewer's filters say about one card. The board sets it when a
/// filter changes, so a card's visibility reads only its own signals: were
/// 5,000 cards to read the search and "failing only" signals themselves,
/// every event would re-run a card's visibility and make it leave and
/// re-join those signals' 5,000 subscribers (see `clock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Filter {
    searched_out: bool,
    failing_only: bool,
}

impl Filter {
    fn hides(&self, health: Health) -> bool {
        self.searched_out || (self.failing_only && !is_failing(health))
    }
}

/// What a card is drawn from.
pub struct CardSignals {
    pub status: RwSignal<CheckStatus>,
    pub trend: RwSignal<Trend>,
    pub alert: RwSignal<AlertState>,
    /// The browser's clock, `None` until hydrated.
    pub clock: RwSignal<Option<u64>>,
    /// Filtered out by the viewer's search or "failing only".
    pub hidden: Signal<bool>,
}

impl Card {
    fn matches(&self, words: &[String]) -> bool {
        matches(&self.search_key, words)
    }
}

impl Board {
    pub fn new(data: BoardData) -> Board {
        let BoardData {
            snapshot,
            mut trends,
            feed,
            ..
        } = data;
        let query = RwSignal::new(String::new());
        let board = Board {
            groups: RwSignal::new(Vec::new()),
            members: StoredValue::new(HashMap::new()),
            cards: StoredValue::new(HashMap::new()),
            tallies: RwSignal::new(HashMap::new()),
            config: RwSignal::new(snapshot.config.clone()),
            history: RwSignal::new(snapshot.history.clone()),
            notifiers: RwSignal::new(snapshot.notifiers.clone()),
            incidents: RwSignal::new(snapshot.incidents.clone()),
            feed: RwSignal::new(feed),
            link: Link::new(Some(snapshot.last_event_id)),
            card_clock: Clock::new(),
            query,
            query_words: Memo::new(move |_| {
                query.with(|q| {
                    q.to_lowercase()
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                })
            }),
            failing_only: RwSignal::new(false),
            collapsed: RwSignal::new(HashSet::new()),
        };
        for status in snapshot.checks {
            let trend = trends.remove(&status.id).unwrap_or_default();
            board.add(status, trend);
        }
        board.set_alerts(snapshot.alerts);
        // In the browser only: the server renders with no filter on.
        Effect::new(move |_| board.refilter());
        board
    }

    /// Tells each card what the filters now say about it; only the cards
    /// whose answer changed are notified.
    fn refilter(&self) {
        let failing_only = self.failing_only.get();
        self.query_words.with(|words| {
            self.cards.with_value(|cards| {
                for card in cards.values() {
                    let filter = filter_for(&card.search_key, words, failing_only);
                    if card.filter.get_untracked() != filter {
                        card.filter.set(filter);
                    }
                }
            })
        });
    }

    /// One check's new status: updates its card, or adds a card for a check
    /// the page has not seen before.
    pub fn apply(&self, status: CheckStatus) {
        // One lookup per event: the signals and what the change is measured against.
        let known = self.cards.with_value(|cards| {
            cards.get(&status.id).map(|card| {
                (
                    card.status,
                    card.trend,
                    card.status
                        .with_untracked(|s| (s.health, s.group.clone(), s.name.clone())),
                )
            })
        });
        let Some((card, trend, (health, group, name))) = known else {
            self.add(status, Trend::default());
            return;
        };
        trend.update(|t| t.push(&status));
        if health != status.health || group != status.group {
            self.count(&group, health, false);
            self.count(&status.group, status.health, true);
        }
        if health != status.health && health != Health::Unknown && status.health != Health::Unknown
        {
            self.note_change(health, &status);
        }
        if group != status.group || name != status.name {
            let key = search_key(&status);
            let filter = self.filter_now(&key);
            self.cards.update_value(|cards| {
                if let Some(card) = cards.get_mut(&status.id) {
                    card.search_key = key;
                    card.filter.set(filter);
                }
            });
        }
        if group != status.group {
            self.leave(&group, &status.id);
            self.join(&status.group, status.id.clone());
        }
        card.set(status);
    }

    fn note_change(&self, from: Health, status: &CheckStatus) {
        let item = FeedItem {
            id: status.id.clone(),
            name: status.name.clone(),
            at_ms: status.checked_at_ms,
            from,
            to: status.health,
            detail: status.detail.clone(),
        };
        self.feed.update(|feed| {
            feed.insert(0, item);
            feed.truncate(FEED);
        });
    }

    fn add(&self, status: CheckStatus, mut trend: Trend) {
        self.count(&status.group, status.health, true);
        self.join(&status.group, status.id.clone());
        trend.push(&status);
        let id = status.id.clone();
        let key = search_key(&status);
        let filter = self.filter_now(&key);
        let card = Card {
            search_key: key,
            status: RwSignal::new(status),
            trend: RwSignal::new(trend),
            alert: RwSignal::new(AlertState::Ok),
            clock: self.card_clock.shard(self.cards.with_value(HashMap::len)),
            filter: RwSignal::new(filter),
        };
        self.cards.update_value(|cards| {
            cards.insert(id, card);
        });
    }

    /// What the filters say now about a card with this search key.
    fn filter_now(&self, search_key: &str) -> Filter {
        self.query_words.with_untracked(|words| {
            filter_for(search_key, words, self.failing_only.get_untracked())
        })
    }

    /// A check the server no longer runs: its card goes.
    pub fn remove(&self, id: &CheckId) {
        let Some(card) = self.card(id) else { return };
        let (health, group) = card.with_untracked(|s| (s.health, s.group.clone()));
        self.count(&group, health, false);
        self.leave(&group, id);
        self.cards.update_value(|cards| {
            cards.remove(id);
        });
    }

    /// A whole new picture: every listed check updated, every unlisted one
    /// removed (the server no longer runs it).
    pub fn replace(&self, snapshot: Snapshot) {
        let gone = unlisted(self.cards, snapshot.checks.iter().map(|s| &s.id));
        for id in &gone {
            self.remove(id);
        }
        for status in snapshot.checks {
            self.apply(status);
        }
        self.set_alerts(snapshot.alerts);
        self.config.set(snapshot.config);
        self.history.set(snapshot.history);
        self.notifiers.set(snapshot.notifiers);
        self.incidents.set(snapshot.incidents);
    }

    /// One check's alert moved; a check the page does not show is skipped.
    pub fn alert(&self, notice: AlertNotice) {
        let alert = self
            .cards
            .with_value(|cards| cards.get(&notice.id).map(|card| card.alert));
        if let Some(alert) = alert
            && alert.with_untracked(|now| *now != notice.state)
        {
            alert.set(notice.state);
        }
    }

    /// Every alert as a snapshot lists them: a card not listed is `ok`.
    fn set_alerts(&self, alerts: Vec<AlertNotice>) {
        let mut listed: HashMap<CheckId, AlertState> =
            alerts.into_iter().map(|n| (n.id, n.state)).collect();
        let cards: Vec<(CheckId, RwSignal<AlertState>)> = self.cards.with_value(|cards| {
            cards
                .iter()
                .map(|(id, card)| (id.clone(), card.alert))
                .collect()
        });
        for (id, alert) in cards {
            let state = listed.remove(&id).unwrap_or(AlertState::Ok);
            if alert.with_untracked(|now| *now != state) {
                alert.set(state);
            }
        }
    }

    /// A check's name as the page shows it, for a card that names another
    /// (held by a dependency); its id if the page does not show it.
    pub fn name_of(&self, id: &CheckId) -> String {
        self.card(id)
            .map(|status| status.with_untracked(|s| s.name.clone()))
            .unwrap_or_else(|| id.to_string())
    }

    fn card(&self, id: &CheckId) -> Option<RwSignal<CheckStatus>> {
        self.cards
            .with_value(|cards| cards.get(id).map(|card| card.status))
    }

    /// Group names in the order their first check appeared.
    pub fn groups(&self) -> Vec<String> {
        self.groups.get()
    }

    pub fn ids_in(&self, group: &str) -> Vec<CheckId> {
        self.members_of(group).map(|m| m.get()).unwrap_or_default()
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

    /// Everything one card is drawn from.
    pub fn card_signals(&self, id: &CheckId) -> Option<CardSignals> {
        let card = self.cards.with_value(|cards| cards.get(id).cloned())?;
        let (status, filter) = (card.status, card.filter);
        Some(CardSignals {
            status,
            trend: card.trend,
            alert: card.alert,
            clock: card.clock,
            hidden: Signal::derive(move || filter.with(|f| f.hides(status.with(|s| s.health)))),
        })
    }

    /// Whether any card of the group passes the filters; a group with none
    /// is hidden while a filter is on. It reads the cards without tracking
    /// them: a card's health matters here only through the group's counts,
    /// which it does track, so a group is not subscribed to each card.
    pub fn group_shows(&self, group: &str) -> bool {
        let failing_only = self.failing_only.get();
        if failing_only && self.group_tally(group).failing() == 0 {
            return false;
        }
        if self.query_words.with(Vec::is_empty) {
            return true;
        }
        let ids = self.ids_in(group);
        self.query_words.with(|words| {
            self.cards.with_value(|cards| {
                ids.iter().filter_map(|id| cards.get(id)).any(|card| {
                    card.matches(words)
                        && (!failing_only || is_failing(card.status.with_untracked(|s| s.health)))
                })
            })
        })
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

    fn members_of(&self, group: &str) -> Option<RwSignal<Vec<CheckId>>> {
        self.members
            .with_value(|members| members.get(group).copied())
    }

    fn join(&self, group: &str, id: CheckId) {
        match self.members_of(group) {
            Some(members) => members.update(|ids| ids.push(id)),
            None => {
                let members = RwSignal::new(vec![id]);
                self.members.update_value(|all| {
                    all.insert(group.to_string(), members);
                });
                self.groups.update(|groups| groups.push(group.to_string()));
            }
        }
    }

    fn leave(&self, group: &str, id: &CheckId) {
        let Some(members) = self.members_of(group) else {
            return;
        };
        members.update(|ids| ids.retain(|known| known != id));
        if members.with_untracked(Vec::is_empty) {
            self.members.update_value(|all| {
                all.remove(group);
            });
            self.groups.update(|groups| groups.retain(|g| g != group));
        }
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
}

/// Whether a search key holds every word of the search.
fn matches(search_key: &str, words: &[String]) -> bool {
    words.iter().all(|word| search_key.contains(word.as_str()))
}

fn filter_for(search_key: &str, words: &[String], failing_only: bool) -> Filter {
    Filter {
        searched_out: !matches(search_key, words),
        failing_only,
    }
}

fn search_key(status: &CheckStatus) -> String {
    format!(
        "{} {} {} {}",
        status.name,
        status.group,
        status.kind.label(),
        status.id
    )
    .to_lowercase()
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

/// The dashboard follows the private stream (everything, for whoever may
/// see it).
impl Feed for Board {
    type Status = CheckStatus;
    type Snapshot = Snapshot;
    const PATH: &'static str = "/api/events";
    const SNAPSHOT_PATH: &'static str = "/api/status";

    fn link(&self) -> Link {
        self.link
    }

    fn apply(&self, status: CheckStatus) {
        Board::apply(self, status);
    }

    fn replace(&self, snapshot: Snapshot) {
        Board::replace(self, snapshot);
    }

    fn remove(&self, id: &CheckId) {
        Board::remove(self, id);
    }

    fn config(&self, notice: ConfigNotice) {
        self.config.set(notice);
    }

    fn history(&self, notice: HistoryNotice) {
        self.history.set(notice);
    }

    fn alert(&self, notice: AlertNotice) {
        Board::alert(self, notice);
    }

    fn notifiers(&self, notice: NotifiersNotice) {
        self.notifiers.set(notice);
    }

    fn incidents(&self, notice: IncidentsNotice) {
        self.incidents.set(notice);
    }

    fn tick(&self, now_ms: u64) {
        self.link.now_ms.set(Some(now_ms));
        self.card_clock.set(now_ms);
    }
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
