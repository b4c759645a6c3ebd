//! Group checks: one verdict for several checks that serve together (three
//! web servers behind a balancer, a database and its replicas). A group is
//! up while at least `min_up` of its members are up (all of them, unless
//! it says), degraded while it holds with some member failing, and down
//! when it no longer holds. It looks at no target of its own: it reads its
//! members' newest results, and runs again whenever one of them changes
//! (`Groups`, which follows every result the hub publishes).

use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckId, CheckKind, CheckStatus, Health};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;
use toml::de::ValueDeserializer;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupSpec {
    /// The members, by name.
    pub(crate) checks: Vec<String>,
    /// How many must be up for the group to hold; all, if unset.
    pub(crate) min_up: Option<usize>,
    /// The members' ids, once the config has found each name.
    #[serde(skip)]
    pub(crate) members: Vec<CheckId>,
}

impl GroupSpec {
    /// How many members must be up.
    fn needed(&self) -> usize {
        self.min_up.unwrap_or(self.checks.len())
    }
}

pub(crate) struct GroupProbe {
    pub(crate) state: Arc<GroupState>,
}

/// What a group knows of its members, kept up to date by `Groups`.
pub(crate) struct GroupState {
    members: Vec<CheckId>,
    needed: usize,
    /// Each member's newest health and name, once it has one.
    seen: Mutex<HashMap<CheckId, (Health, String)>>,
    changed: Notify,
}

impl GroupState {
    /// Resolves when a member's health changed since the group last ran.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Takes a member's result; whether its health changed. An `unknown`
    /// says nothing of the member (not run yet, or Pulse could not run
    /// it): its last known health stands, as it does for the alerts.
    fn take(&self, status: &CheckStatus) -> bool {
        if status.health == Health::Unknown {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let before = seen.insert(status.id.clone(), (status.health, status.name.clone()));
        before.map(|(health, _)| health) != Some(status.health)
    }
}

impl Kind for GroupProbe {
    const NAME: &'static str = "group";
    const CHECK_KIND: CheckKind = CheckKind::Group;
    type Spec = GroupSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<GroupSpec, BadKeys> {
        let spec: GroupSpec = keys(said)?;
        if spec.checks.is_empty() {
            return Err("a group needs `checks`: the names of its members".into());
        }
        let mut names: Vec<&String> = spec.checks.iter().collect();
        names.sort();
        if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!("`{}` is named twice in `checks`", twice[0]).into());
        }
        if !(1..=spec.checks.len()).contains(&spec.needed()) {
            return Err(format!(
                "`min_up` must be from 1 to the number of `checks` ({})",
                spec.checks.len()
            )
            .into());
        }
        Ok(spec)
    }

    fn probe(spec: &GroupSpec) -> Result<Self, String> {
        Ok(GroupProbe {
            state: Arc::new(GroupState {
                members: spec.members.clone(),
                needed: spec.needed(),
                seen: Mutex::new(HashMap::new()),
                changed: Notify::new(),
            }),
        })
    }

    async fn run(&self) -> Finding {
        let state = &self.state;
        let seen = state.seen.lock().unwrap_or_else(|p| p.into_inner());
        let name_of = |id: &CheckId| seen.get(id).map_or(id.0.clone(), |(_, n)| n.clone());
        let unseen: Vec<String> = state
            .members
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .map(|id| id.0.clone())
            .collect();
        if !unseen.is_empty() {
            return Finding::new(
                Health::Unknown,
                format!("waiting for a first result of {}", unseen.join(", ")),
            );
        }
        let health_of = |id: &CheckId| seen[id].0;
        let up = state
            .members
            .iter()
            .filter(|id| matches!(health_of(id), Health::Up | Health::Degraded))
            .count();
        let failing: Vec<String> = state
            .members
            .iter()
            .filter(|id| health_of(id) != Health::Up)
            .map(|id| format!("{} {}", name_of(id), health_label(health_of(id))))
            .collect();
        let mut detail = format!("{up} of {} up", state.members.len());
        if state.needed < state.members.len() {
            detail.push_str(&format!(", {} needed", state.needed));
        }
        if !failing.is_empty() {
            detail.push_str(&format!(": {}", failing.join(", ")));
        }
        let health = match (up >= state.needed, failing.is_empty()) {
            (true, true) => Health::Up,
            (true, false) => Health::Degraded,
            (false, _) => Health::Down,
        };
        Finding::new(health, detail)
    }
}

fn health_label(health: Health) -> &'static str {
    match health {
        Health::Up => "up",
        Health::Degraded => "degraded",
        Health::Down => "down",
        // Never kept (`GroupState::take`), but the match must say.
        Health::Unknown => "unknown",
    }
}

/// The running groups, by the members they watch: told every result the
/// hub publishes, it wakes each group whose member changed health. A
/// result of a check in no group costs a flag's read.
#[derive(Default)]
pub(crate) struct Groups {
    watching: RwLock<HashMap<CheckId, Vec<Arc<GroupState>>>>,
    any: AtomicBool,
}

impl Groups {
    /// Starts watching `group`'s members, which `current` may already have
    /// results of (a group added by a reload).
    pub(crate) fn add(&self, group: Arc<GroupState>, current: &[CheckStatus]) {
        for status in current {
            if group.members.contains(&status.id) {
                group.take(status);
            }
        }
        let mut watching = self.watching.write().unwrap_or_else(|p| p.into_inner());
        for member in &group.members {
            watching.entry(member.clone()).or_default().push(group.clone());
        }
        self.any.store(true, Ordering::Release);
    }

    pub(crate) fn remove(&self, group: &Arc<GroupState>) {
        let mut watching = self.watching.write().unwrap_or_else(|p| p.into_inner());
        watching.retain(|_, groups| {
            groups.retain(|g| !Arc::ptr_eq(g, group));
            !groups.is_empty()
        });
        self.any.store(!watching.is_empty(), Ordering::Release);
    }

    /// A result of some check: wakes the groups it matters to.
    pub(crate) fn offer(&self, status: &CheckStatus) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let watching = self.watching.read().unwrap_or_else(|p| p.into_inner());
        for group in watching.get(&status.id).into_iter().flatten() {
            if group.take(status) {
                group.changed.notify_one();
            }
        }
    }
}
