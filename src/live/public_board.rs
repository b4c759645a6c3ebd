//! The public status page's live copy of the public checks: one signal per
//! check, fed by the public stream (`/api/public/events`). Smaller than the
//! dashboard's `Board`: a public page shows a handful of checks, with no
//! search, filters or feed, so its groups are one signal rebuilt when a
//! check joins, leaves or changes group.

use super::{Feed, Link};
use crate::status::{
    CheckId, Health, IncidentsNotice, PublicBoardData, PublicSnapshot, PublicStatus, Trend,
};
use leptos::prelude::*;
use std::collections::HashMap;

/// How things are, overall: the banner at the top of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall {
    /// Every public check is up.
    Operational,
    /// Some are degraded, none down.
    Degraded,
    /// At least one is down.
    Outage,
    /// None failing, but some not checked yet (just after a start).
    Waiting,
    /// None failing but those in a maintenance window.
    Maintenance,
    /// No check is public.
    Empty,
}

impl Overall {
    /// The worst of the checks' (health, in a maintenance window): a
    /// check being worked on is no outage.
    pub fn of(checks: impl IntoIterator<Item = (Health, bool)>) -> Overall {
        let (mut any, mut in_maintenance) = (false, false);
        let worst = checks
            .into_iter()
            .inspect(|(_, maintenance)| {
                any = true;
                in_maintenance |= *maintenance;
            })
            .filter(|(_, maintenance)| !maintenance)
            .map(|(health, _)| health)
            .max_by_key(|h| h.severity());
        match worst {
            None if any => Overall::Maintenance,
            Some(Health::Up) if in_maintenance => Overall::Maintenance,
            None => Overall::Empty,
            Some(Health::Up) => Overall::Operational,
            Some(Health::Unknown) => Overall::Waiting,
            Some(Health::Degraded) => Overall::Degraded,
            Some(Health::Down) => Overall::Outage,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Overall::Operational => "All systems operational",
            Overall::Degraded => "Some systems degraded",
            Overall::Outage => "Outage",
            Overall::Waiting => "Checking…",
            Overall::Maintenance => "Maintenance in progress",
            Overall::Empty => "No public checks",
        }
    }

    /// The class it is drawn with, the health colours of the cards.
    pub fn class(self) -> &'static str {
        match self {
            Overall::Operational => "up",
            Overall::Degraded => "degraded",
            Overall::Outage => "down",
            Overall::Maintenance => "maintenance",
            Overall::Waiting | Overall::Empty => "unknown",
        }
    }
}

/// What one public check is drawn from.
#[derive(Clone, Copy)]
pub struct PublicCard {
    pub status: RwSignal<PublicStatus>,
    pub trend: RwSignal<Trend>,
}

#[derive(Clone, Copy)]
pub struct PublicBoard {
    /// Groups in the order their first check appeared, each with its checks.
    layout: RwSignal<Vec<(String, Vec<CheckId>)>>,
    cards: StoredValue<HashMap<CheckId, PublicCard>>,
    pub incidents: RwSignal<IncidentsNotice>,
    pub link: Link,
}

impl PublicBoard {
    pub fn new(data: PublicBoardData) -> PublicBoard {
        let PublicBoardData {
            snapshot,
            mut trends,
        } = data;
        let board = PublicBoard {
            layout: RwSignal::new(Vec::new()),
            cards: StoredValue::new(HashMap::new()),
            incidents: RwSignal::new(snapshot.incidents),
            link: Link::new(Some(snapshot.last_event_id)),
        };
        for status in snapshot.checks {
            let trend = trends.remove(&status.id).unwrap_or_default();
            board.add(status, trend);
        }
        board
    }

    /// Group names, in order.
    pub fn groups(&self) -> Vec<String> {
        self.layout
            .with(|layout| layout.iter().map(|(group, _)| group.clone()).collect())
    }

    pub fn ids_in(&self, group: &str) -> Vec<CheckId> {
        self.layout.with(|layout| {
            layout
                .iter()
                .find(|(name, _)| name == group)
                .map(|(_, ids)| ids.clone())
                .unwrap_or_default()
        })
    }

    /// A public check's name, given its id.
    pub fn name_of(&self, id: &CheckId) -> String {
        self.card(id).map_or_else(
            || id.to_string(),
            |card| card.status.with_untracked(|s| s.name.clone()),
        )
    }

    pub fn card(&self, id: &CheckId) -> Option<PublicCard> {
        self.cards.with_value(|cards| cards.get(id).copied())
    }

    /// The banner's verdict; tracks every check's status.
    pub fn overall(&self) -> Overall {
        self.layout.track();
        self.cards.with_value(|cards| {
            Overall::of(cards.values().map(|card| {
                card.status
                    .with(|s| (s.health, s.maintenance_until_ms.is_some()))
            }))
        })
    }

    fn add(&self, status: PublicStatus, mut trend: Trend) {
        trend.push_public(&status);
        let (id, group) = (status.id.clone(), status.group.clone());
        let card = PublicCard {
            status: RwSignal::new(status),
            trend: RwSignal::new(trend),
        };
        self.cards.update_value(|cards| {
            cards.insert(id.clone(), card);
        });
        self.join(&group, id);
    }

    fn join(&self, group: &str, id: CheckId) {
        self.layout.update(
            |layout| match layout.iter_mut().find(|(name, _)| name == group) {
                Some((_, ids)) => ids.push(id),
                None => layout.push((group.to_string(), vec![id])),
            },
        );
    }

    fn leave(&self, id: &CheckId) {
        self.layout.update(|layout| {
            for (_, ids) in layout.iter_mut() {
                ids.retain(|known| known != id);
            }
            layout.retain(|(_, ids)| !ids.is_empty());
        });
    }
}

/// The public page follows the public stream, whoever is looking.
impl Feed for PublicBoard {
    type Status = PublicStatus;
    type Snapshot = PublicSnapshot;
    const PATH: &'static str = "/api/public/events";
    const SNAPSHOT_PATH: &'static str = "/api/public/status";

    fn link(&self) -> Link {
        self.link
    }

    fn apply(&self, status: PublicStatus) {
        let Some(card) = self.card(&status.id) else {
            self.add(status, Trend::default());
            return;
        };
        card.trend.update(|t| t.push_public(&status));
        if card.status.with_untracked(|s| s.group != status.group) {
            self.leave(&status.id);
            self.join(&status.group, status.id.clone());
        }
        card.status.set(status);
    }

    fn replace(&self, snapshot: PublicSnapshot) {
        let gone = super::unlisted(self.cards, snapshot.checks.iter().map(|s| &s.id));
        for id in &gone {
            self.remove(id);
        }
        for status in snapshot.checks {
            self.apply(status);
        }
        self.incidents.set(snapshot.incidents);
    }

    fn incidents(&self, notice: IncidentsNotice) {
        self.incidents.set(notice);
    }

    fn remove(&self, id: &CheckId) {
        self.leave(id);
        self.cards.update_value(|cards| {
            cards.remove(id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Overall;
    use crate::status::Health::{Degraded, Down, Unknown, Up};

    #[test]
    fn the_banner_says_the_worst() {
        let of =
            |healths: &[crate::status::Health]| Overall::of(healths.iter().map(|h| (*h, false)));
        assert_eq!(of(&[]), Overall::Empty);
        assert_eq!(of(&[Up, Up]), Overall::Operational);
        assert_eq!(of(&[Up, Unknown]), Overall::Waiting);
        assert_eq!(of(&[Unknown, Degraded]), Overall::Degraded);
        assert_eq!(of(&[Degraded, Down, Up]), Overall::Outage);
        // A check in a maintenance window is no outage; others still are.
        assert_eq!(
            Overall::of([(Up, false), (Down, true)]),
            Overall::Maintenance
        );
        assert_eq!(Overall::of([(Down, true)]), Overall::Maintenance);
        assert_eq!(Overall::of([(Down, false), (Down, true)]), Overall::Outage);
    }
}
