//! What the tabs of one browser say to each other over their
//! BroadcastChannel (see `tabs`): the leading tab relays each event as the
//! server sent it, and the state of its connection; a tab that joins asks
//! what it missed since its page was rendered.

use super::Connection;
use crate::status::Event;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One event as the server sent it: parsed by each tab into its own page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Raw {
    pub kind: Event,
    pub data: String,
    pub id: Option<u64>,
}

/// One message between tabs.
#[derive(Debug, Serialize, Deserialize)]
pub enum Note {
    /// From the leader: an event from the server.
    Event(Raw),
    /// From the leader, on every change and once a second: how its
    /// connection is. A leader that goes quiet is gone.
    State(Connection),
    /// From a tab that has just opened (or woken up): it has everything up
    /// to `since` and asks for the rest.
    Hello { from: u64, since: Option<u64> },
    /// The leader's answer: every event after `since`, in order.
    CatchUp { to: u64, events: Vec<Raw> },
    /// The leader's answer when it no longer has every event after `since`:
    /// the tab fetches a snapshot instead.
    TooOld { to: u64 },
}

/// How many recent events a tab keeps for tabs that ask what they missed.
/// A page is rendered moments before it asks, so this covers all but a
/// page that was frozen for long, which gets a snapshot instead.
const KEPT: usize = 1024;

/// The newest events a tab has applied, for a tab that joins later.
pub struct Recent {
    events: VecDeque<Raw>,
    /// The events after this id are all here (unless the first one is a
    /// snapshot, which stands for everything before it).
    complete_after: Option<u64>,
}

impl Recent {
    /// A tab starts with everything up to the id its page was rendered at.
    pub fn new(rendered_at: Option<u64>) -> Recent {
        Recent {
            events: VecDeque::new(),
            complete_after: rendered_at,
        }
    }

    pub fn push(&mut self, raw: &Raw) {
        if raw.id.is_none() {
            return;
        }
        if raw.kind == Event::Snapshot {
            self.events.clear();
        }
        self.events.push_back(raw.clone());
        if self.events.len() > KEPT
            && let Some(dropped) = self.events.pop_front()
        {
            self.complete_after = dropped.id;
        }
    }

    /// Every event after `since`, or `None` if some of them are gone.
    pub fn after(&self, since: Option<u64>) -> Option<Vec<Raw>> {
        let starts_whole = self
            .events
            .front()
            .is_some_and(|first| first.kind == Event::Snapshot);
        let covered = match (since, self.complete_after) {
            _ if starts_whole => true,
            (Some(since), Some(complete)) => since >= complete,
            _ => false,
        };
        covered.then(|| {
            self.events
                .iter()
                .filter(|raw| raw.id > since)
                .cloned()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64) -> Raw {
        Raw {
            kind: Event::Message,
            data: format!("{{\"n\":{id}}}"),
            id: Some(id),
        }
    }

    fn ids(events: Option<Vec<Raw>>) -> Option<Vec<u64>> {
        events.map(|events| events.iter().filter_map(|raw| raw.id).collect())
    }

    #[test]
    fn gives_what_came_after_the_id_asked_for() {
        let mut recent = Recent::new(Some(10));
        for id in 11..=15 {
            recent.push(&event(id));
        }
        assert_eq!(ids(recent.after(Some(12))), Some(vec![13, 14, 15]));
        assert_eq!(ids(recent.after(Some(10))), Some(vec![11, 12, 13, 14, 15]));
        assert_eq!(ids(recent.after(Some(15))), Some(vec![]));
        assert_eq!(recent.after(Some(9)), None, "10 itself was never seen");
        assert_eq!(recent.after(None), None);
    }

    #[test]
    fn a_snapshot_stands_for_everything_before_it() {
        let mut recent = Recent::new(Some(10));
        recent.push(&event(11));
        recent.push(&Raw {
            kind: Event::Snapshot,
            data: "{}".into(),
            id: Some(40),
        });
        recent.push(&event(41));
        assert_eq!(ids(recent.after(Some(3))), Some(vec![40, 41]));
        assert_eq!(ids(recent.after(None)), Some(vec![40, 41]));
        assert_eq!(ids(recent.after(Some(40))), Some(vec![41]));
    }

    #[test]
    fn forgets_the_oldest_and_says_so() {
        let mut recent = Recent::new(Some(0));
        for id in 1..=(KEPT as u64 + 5) {
            recent.push(&event(id));
        }
        assert_eq!(recent.after(Some(4)), None);
        assert_eq!(ids(recent.after(Some(5))).map(|ids| ids.len()), Some(KEPT));
    }

    #[test]
    fn events_without_ids_are_not_kept() {
        let mut recent = Recent::new(Some(1));
        recent.push(&Raw {
            kind: Event::Status,
            data: "Done".into(),
            id: None,
        });
        assert_eq!(ids(recent.after(Some(1))), Some(vec![]));
    }
}
