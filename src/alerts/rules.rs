//! The rules: each check's alert state, moved by its results. Plain code
//! with no clock and no I/O (time is the results' own `checked_at_ms`), so
//! every threshold, reminder, hold and resolution is a unit test.
//!
//! ```text
//! ok ─(failing)─▶ pending n/N ─(N in a row)─▶ firing ─(M passing in a row)─▶ ok
//!                     │                          └─(every `repeat`)─▶ reminder
//!                     └─(N in a row, a dependency failing)─▶ held ─(passing)─▶ ok
//! ```
//!
//! A result taken in a maintenance window (`maintenance_until_ms`) is
//! counted but tells nothing: the state is `maintenance` until a result
//! outside the window moves it on from its counts.
//!
//! `Unknown` results (Pulse could not check) move nothing: they say
//! nothing about the target.

use crate::config::AlertRule;
use crate::status::{AlertNotice, AlertState, CheckId, CheckStatus, Health};
use std::collections::HashMap;
use std::sync::LazyLock;

/// An alert that fired and has not resolved; kept in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAlert {
    /// The first failing result of the run that fired it.
    pub since_ms: u64,
    /// When it was last told (fired or reminded).
    pub reminded_ms: u64,
    /// The notifiers told of it (its firing and reminders). Its resolution
    /// goes to them: whoever heard "down" hears "resolved", whatever its
    /// rule names by then. `None` for an alert opened by a Pulse that did
    /// not keep them.
    pub notified: Option<Vec<String>>,
}

impl OpenAlert {
    /// Whom its resolution tells: those told of it; for an alert opened by
    /// an older Pulse, the best guess left, those its rule names now.
    fn resolution_notifiers(&self, rule: &AlertRule) -> Vec<String> {
        self.notified.clone().unwrap_or_else(|| rule.notify.clone())
    }

    /// A reminder went to `notifiers` too: they hear the resolution.
    fn add_notified(&mut self, notifiers: &[String]) {
        if let Some(notified) = &mut self.notified {
            for name in notifiers {
                if !notified.contains(name) {
                    notified.push(name.clone());
                }
            }
        }
    }
}

/// What happened to an alert: what a message tells of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    Fired,
    Reminder,
    Resolved,
}

impl AlertEvent {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Fired => "fired",
            AlertEvent::Reminder => "reminder",
            AlertEvent::Resolved => "resolved",
        }
    }
}

/// What a result changed that is kept or told.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChange {
    pub event: AlertEvent,
    pub check: CheckId,
    pub name: String,
    pub group: String,
    pub health: Health,
    /// The result's detail (already redacted by its check).
    pub detail: String,
    pub since_ms: u64,
    pub at_ms: u64,
    /// Whom to tell: the notifiers its rule names, but for a resolution
    /// those told of the alert; empty when nobody is (a resolution with
    /// `send_resolved = false`, a check with no notifier).
    pub notify: Vec<String>,
    /// The open alert to keep from now on; `None` once it resolved.
    pub open: Option<OpenAlert>,
}

#[derive(Debug, Default)]
struct Tracked {
    /// The check's name, as its last result gave it.
    name: String,
    failing_in_row: u32,
    passing_in_row: u32,
    /// The first failing result of the current run of failures.
    failing_since_ms: u64,
    open: Option<OpenAlert>,
    held_by: Option<CheckId>,
    /// Its last result was `unknown` (Pulse could not check it).
    unknown: bool,
    /// Its last result was taken in a maintenance window ending then.
    maintenance_until_ms: Option<u64>,
}

static DEFAULT_RULE: LazyLock<AlertRule> = LazyLock::new(AlertRule::default);

#[derive(Debug, Default)]
pub struct Rules {
    rules: HashMap<CheckId, AlertRule>,
    tracked: HashMap<CheckId, Tracked>,
    /// What the dashboard was last told of each check whose alert is not
    /// `ok`: a state is told when it changes, not with every result.
    told: HashMap<CheckId, AlertState>,
}

impl Rules {
    /// Starts from the alerts that were open when Pulse last stopped: they
    /// stay open (counted as failing), so a still-failing check does not
    /// fire again.
    pub fn new(open: impl IntoIterator<Item = (CheckId, OpenAlert)>) -> Rules {
        let tracked = open
            .into_iter()
            .map(|(id, alert)| {
                let tracked = Tracked {
                    failing_in_row: u32::MAX / 2,
                    failing_since_ms: alert.since_ms,
                    open: Some(alert),
                    ..Tracked::default()
                };
                (id, tracked)
            })
            .collect();
        Rules {
            rules: HashMap::new(),
            tracked,
            told: HashMap::new(),
        }
    }

    /// Whether `id` is a check of the config the rules were last given.
    pub(crate) fn is_configured(&self, id: &CheckId) -> bool {
        self.rules.contains_key(id)
    }

    /// The rules of a (re)loaded config. Each check's state is kept; a
    /// check no longer configured is forgotten, and its open alert, if it
    /// had one, is returned so that it can be closed.
    pub(crate) fn set_rules(&mut self, rules: HashMap<CheckId, AlertRule>) -> Vec<CheckId> {
        let gone: Vec<CheckId> = self
            .tracked
            .keys()
            .filter(|id| !rules.contains_key(*id))
            .cloned()
            .collect();
        let mut closed = Vec::new();
        for id in gone {
            if self.tracked.remove(&id).is_some_and(|t| t.open.is_some()) {
                closed.push(id);
            }
        }
        self.rules = rules;
        closed
    }

    fn rule(&self, id: &CheckId) -> &AlertRule {
        self.rules.get(id).unwrap_or(&DEFAULT_RULE)
    }

    /// Whether `id` counts as failing for the checks that depend on it:
    /// its last result failed, or its alert has not resolved yet (so the
    /// dependents' own recoveries, a moment apart, are not told one by
    /// one). A dependency Pulse cannot check right now (`unknown`) holds
    /// nothing: better a dependent's own alert than none.
    fn is_failing(&self, id: &CheckId) -> bool {
        self.tracked
            .get(id)
            .is_some_and(|t| !t.unknown && (t.failing_in_row > 0 || t.open.is_some()))
    }

    /// The open alert of `id`, if any: what to go back to with
    /// `restore_open` when a change could not be kept.
    pub(crate) fn open_of(&self, id: &CheckId) -> Option<OpenAlert> {
        self.tracked.get(id).and_then(|t| t.open.clone())
    }

    pub(crate) fn restore_open(&mut self, id: &CheckId, open: Option<OpenAlert>) {
        if let Some(tracked) = self.tracked.get_mut(id) {
            tracked.open = open;
        }
    }

    /// Applies one result; returns what it made happen, if anything. A
    /// check with no rule (no longer configured: its last results were
    /// still queued when a reload removed it) is not tracked again.
    pub(crate) fn observe(&mut self, status: &CheckStatus) -> Option<AlertChange> {
        if !self.rules.contains_key(&status.id) {
            return None;
        }
        if status.health == Health::Unknown {
            if let Some(tracked) = self.tracked.get_mut(&status.id) {
                tracked.unknown = true;
                // Still in a window or out of it, whatever Pulse could check.
                tracked.maintenance_until_ms = status.maintenance_until_ms;
            }
            return None;
        }
        let rule = self.rule(&status.id).clone();
        let failing = match status.health {
            Health::Down => true,
            Health::Degraded => rule.degraded_is_failing,
            Health::Up | Health::Unknown => false,
        };
        let holder = rule.depends_on.iter().find(|d| self.is_failing(d)).cloned();
        let at_ms = status.checked_at_ms;
        let tracked = self.tracked.entry(status.id.clone()).or_default();
        if tracked.name != status.name {
            tracked.name.clone_from(&status.name);
        }
        tracked.unknown = false;
        if failing {
            if tracked.failing_in_row == 0 {
                tracked.failing_since_ms = at_ms;
            }
            tracked.failing_in_row = tracked.failing_in_row.saturating_add(1);
            tracked.passing_in_row = 0;
        } else {
            tracked.passing_in_row = tracked.passing_in_row.saturating_add(1);
            tracked.failing_in_row = 0;
            tracked.held_by = None;
        }
        // Counted all the same: a check still failing when its window
        // ends is told at its next result, and one that recovered in it
        // resolves then.
        tracked.maintenance_until_ms = status.maintenance_until_ms;
        if status.in_maintenance() {
            return None;
        }
        let (event, notify) = match tracked.open.as_mut() {
            None if failing && tracked.failing_in_row >= rule.failure_threshold => {
                if let Some(holder) = holder {
                    tracked.held_by = Some(holder);
                    return None;
                }
                tracked.held_by = None;
                tracked.open = Some(OpenAlert {
                    since_ms: tracked.failing_since_ms,
                    reminded_ms: at_ms,
                    notified: Some(rule.notify.clone()),
                });
                (AlertEvent::Fired, rule.notify.clone())
            }
            None => return None,
            Some(open) if failing => {
                let due = rule
                    .repeat
                    .is_some_and(|every| at_ms >= open.reminded_ms + every.as_millis() as u64);
                if !due {
                    return None;
                }
                open.reminded_ms = at_ms;
                open.add_notified(&rule.notify);
                (AlertEvent::Reminder, rule.notify.clone())
            }
            Some(open) if tracked.passing_in_row >= rule.success_threshold => {
                let notify = match rule.send_resolved {
                    true => open.resolution_notifiers(&rule),
                    false => Vec::new(),
                };
                (AlertEvent::Resolved, notify)
            }
            Some(_) => return None,
        };
        let since_ms = tracked
            .open
            .as_ref()
            .map_or(tracked.failing_since_ms, |open| open.since_ms);
        if event == AlertEvent::Resolved {
            tracked.open = None;
        }
        Some(AlertChange {
            event,
            check: status.id.clone(),
            name: status.name.clone(),
            group: status.group.clone(),
            health: status.health,
            detail: status.detail.clone(),
            since_ms,
            at_ms,
            notify,
            open: tracked.open.clone(),
        })
    }

    /// Where `id`'s alert stands.
    pub(crate) fn state_of(&self, id: &CheckId) -> AlertState {
        let Some(tracked) = self.tracked.get(id) else {
            return AlertState::Ok;
        };
        if let Some(until_ms) = tracked.maintenance_until_ms {
            return AlertState::Maintenance { until_ms };
        }
        if let Some(open) = &tracked.open {
            return AlertState::Firing {
                since_ms: open.since_ms,
            };
        }
        if let Some(by) = &tracked.held_by {
            return AlertState::Held { by: by.clone() };
        }
        match tracked.failing_in_row {
            0 => AlertState::Ok,
            failing => AlertState::Pending {
                failing,
                threshold: self.rule(id).failure_threshold,
            },
        }
    }

    /// Where `id`'s alert stands, if that changed since it was last told.
    pub(crate) fn news(&mut self, id: &CheckId) -> Option<AlertNotice> {
        let state = self.state_of(id);
        if self.told.get(id).unwrap_or(&AlertState::Ok) == &state {
            return None;
        }
        match &state {
            AlertState::Ok => self.told.remove(id),
            now => self.told.insert(id.clone(), now.clone()),
        };
        Some(AlertNotice {
            id: id.clone(),
            state,
        })
    }

    /// The news of every check, after a reload: thresholds may have
    /// changed what pending means, and a check no longer configured is
    /// told `ok` once.
    pub(crate) fn all_news(&mut self) -> Vec<AlertNotice> {
        let mut ids: Vec<CheckId> = self.tracked.keys().cloned().collect();
        ids.extend(
            self.told
                .keys()
                .filter(|id| !self.tracked.contains_key(*id))
                .cloned(),
        );
        ids.iter().filter_map(|id| self.news(id)).collect()
    }

    /// Every check whose alert `id` holds, with its name.
    pub(crate) fn held_by(&self, id: &CheckId) -> Vec<(CheckId, String)> {
        self.tracked
            .iter()
            .filter(|(_, t)| t.held_by.as_ref() == Some(id))
            .map(|(held, t)| (held.clone(), t.name.clone()))
            .collect()
    }
}
