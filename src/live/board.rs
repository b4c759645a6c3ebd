//! The dashboard's live board: the page's reactive copy of every check's
//! status, one signal per check, so that an event re-renders the one card
//! it concerns, with the counts per group and the viewer's filters kept
//! beside them, so that nothing walks thousands of cards per event.

use super::clock::Clock;
use super::{Feed, Link, unlisted};
use crate::status::{
    AlertNotice, AlertState, BoardData, CheckId, CheckStatus, ConfigNotice, FEED, FeedItem, Health,
    HistoryNotice, IncidentsNotice, NotifiersNotice, Snapshot, Trend,
};
use leptos::prelude::*;
use std::collections::{HashMap, HashSet};

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
