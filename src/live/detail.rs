//! A check's detail page, live: its status, and its history extended by
//! each result as it arrives (the newest chart point, state changes,
//! failures, today's uptime), from the same stream as the dashboard.

use super::{Feed, Link};
use crate::status::{CheckHistory, CheckId, CheckStatus, Snapshot};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Detail {
    id: StoredValue<CheckId>,
    range_ms: u64,
    /// `None` once the check is no longer in the configuration.
    pub status: RwSignal<Option<CheckStatus>>,
    /// `None` when Pulse keeps no history.
    pub history: RwSignal<Option<CheckHistory>>,
    pub link: Link,
}

impl Detail {
    pub fn new(
        id: CheckId,
        status: Option<CheckStatus>,
        history: Option<CheckHistory>,
        range_ms: u64,
        rendered_at: u64,
    ) -> Detail {
        Detail {
            id: StoredValue::new(id),
            range_ms,
            status: RwSignal::new(status),
            history: RwSignal::new(history),
            link: Link::new(Some(rendered_at)),
        }
    }

    fn is_mine(&self, id: &CheckId) -> bool {
        self.id.with_value(|mine| mine == id)
    }
}

impl Feed for Detail {
    type Status = CheckStatus;
    type Snapshot = Snapshot;
    const PATH: &'static str = "/api/events";
    const SNAPSHOT_PATH: &'static str = "/api/status";

    fn link(&self) -> Link {
        self.link
    }

    fn apply(&self, status: CheckStatus) {
        if !self.is_mine(&status.id) {
            return;
        }
        self.history.update(|history| {
            if let Some(history) = history {
                history.push(&status, self.range_ms);
            }
        });
        self.status.set(Some(status));
    }

    fn replace(&self, snapshot: Snapshot) {
        match snapshot.checks.into_iter().find(|s| self.is_mine(&s.id)) {
            Some(status) => self.apply(status),
            None => self.status.set(None),
        }
    }

    fn remove(&self, id: &CheckId) {
        if self.is_mine(id) {
            self.status.set(None);
        }
    }
}
