//! `[alerts]`, `[[notifier]]` and each check's `alert` and `depends_on`:
//! when Pulse tells someone, and whom. Everything is validated here, while
//! the file is read, and resolved to one `AlertRule` per check (the check's
//! own `alert`, else its group's, else `[alerts]`, else the built-in
//! defaults), so the rules (`crate::alerts`) never look anything up.
//!
//! ```toml
//! [alerts]
//! failure_threshold = 3          # failing results in a row before it fires
//! success_threshold = 2          # passing results in a row before it resolves
//! send_resolved = true
//! repeat = "4h"                  # a reminder while it stays failing ("off" by default)
//! degraded_is_failing = false
//! notify = ["ops"]               # default: every notifier
//! group_window = "30s"           # alerts within it go out as one message
//! public_url = "https://status.example.com"   # links in messages
//!
//! [alerts.group.shop]            # overrides for the checks of a group
//! failure_threshold = 5
//!
//! [[notifier]]
//! name = "ops"
//! kind = "webhook"
//! url = "https://hooks.example.com/pulse"
//! secret = "${PULSE_WEBHOOK_SECRET}"
//!
//! [[check]]
//! name = "Shop API"
//! depends_on = ["Router"]
//! alert = { failure_threshold = 2, notify = ["ops"] }
//! ```

use crate::fields::{HttpUrl, Period};
use crate::notifiers::Notifier;
use crate::status::CheckId;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub(crate) const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
pub(crate) const DEFAULT_GROUP_WINDOW: Duration = Duration::from_secs(30);

/// What a check's alert does, resolved from every level of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AlertRule {
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
    pub(crate) send_resolved: bool,
    /// A reminder this often while it stays failing; `None`: never.
    pub(crate) repeat: Option<Duration>,
    /// Whether a degraded result counts as failing (else as passing).
    pub(crate) degraded_is_failing: bool,
    /// The notifiers that get it, by name; all of them exist.
    pub(crate) notify: Vec<String>,
    /// While one of these is failing, this check's alert is held and
    /// folded into the dependency's message.
    pub(crate) depends_on: Vec<CheckId>,
}

impl Default for AlertRule {
    /// The built-in defaults, telling no notifier (there is none).
    fn default() -> Self {
        AlertRule {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
            send_resolved: true,
            repeat: None,
            degraded_is_failing: false,
            notify: Vec::new(),
            depends_on: Vec::new(),
        }
    }
}

/// `[alerts]` and `[[notifier]]`, validated: what is not per check.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AlertsSpec {
    pub(crate) notifiers: Vec<NotifierSpec>,
    pub(crate) group_window: Duration,
    /// Where the dashboard is reached from outside, for links in messages.
    pub(crate) public_url: Option<reqwest::Url>,
}

impl Default for AlertsSpec {
    fn default() -> Self {
        AlertsSpec {
            notifiers: Vec::new(),
            group_window: DEFAULT_GROUP_WINDOW,
            public_url: None,
        }
    }
}

/// One `[[notifier]]`: a name and where its messages go. What each kind
/// needs is its own (`crate::notifiers`); tokens and secrets usually come
/// from `${…}`, and are never shown (the `Debug` below leaves them out).
#[derive(Clone)]
pub(crate) struct NotifierSpec {
    pub(crate) name: String,
    pub(crate) notifier: Arc<dyn Notifier>,
}

impl PartialEq for NotifierSpec {
    fn eq(&self, other: &NotifierSpec) -> bool {
        self.name == other.name && self.notifier.same_as(&*other.notifier as &dyn Any)
    }
}

impl std::fmt::Debug for NotifierSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierSpec")
            .field("name", &self.name)
            .field("kind", &self.notifier.kind())
            .finish_non_exhaustive()
    }
}

/// The rule keys, as `[alerts]`, a group's table and a check's `alert`
/// may each set them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleOverrides {
    failure_threshold: Option<Threshold>,
    success_threshold: Option<Threshold>,
    send_resolved: Option<bool>,
    repeat: Option<Repeat>,
    degraded_is_failing: Option<bool>,
    notify: Option<Vec<String>>,
}

/// `[alerts]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsTable {
    failure_threshold: Option<Threshold>,
    success_threshold: Option<Threshold>,
    send_resolved: Option<bool>,
    repeat: Option<Repeat>,
    degraded_is_failing: Option<bool>,
    notify: Option<Vec<String>>,
    group_window: Option<Window>,
    public_url: Option<HttpUrl>,
    #[serde(default)]
    group: BTreeMap<String, RuleOverrides>,
}

impl AlertsTable {
    fn defaults(&self) -> RuleOverrides {
        RuleOverrides {
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            send_resolved: self.send_resolved,
            repeat: self.repeat,
            degraded_is_failing: self.degraded_is_failing,
            notify: self.notify.clone(),
        }
    }
}

/// What a check says of its alert, before the rest of the file is known.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckAlert {
    pub(crate) alert: RuleOverrides,
    /// Check names, as written.
    pub(crate) depends_on: Vec<String>,
}

/// A count of results in a row: 1 to 1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Threshold(u32);

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        match u32::try_from(value) {
            Ok(n) if (1..=1000).contains(&n) => Ok(Threshold(n)),
            _ => Err(de::Error::custom(format!(
                "a threshold is a count of results in a row, from 1 to 1000, not {value}"
            ))),
        }
    }
}

/// `repeat`: a duration, or "off".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Repeat(Option<Duration>);

impl<'de> Deserialize<'de> for Repeat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)
            .map_err(|_| de::Error::custom("expected a duration like \"1h\", or \"off\""))?;
        if text == "off" {
            return Ok(Repeat(None));
        }
        let Period(every) =
            Period::deserialize(de::value::StrDeserializer::<D::Error>::new(&text))?;
        if every < Duration::from_secs(60) {
            return Err(de::Error::custom(
                "a reminder at most once a minute: write \"1m\" or more, or \"off\"",
            ));
        }
        Ok(Repeat(Some(every)))
    }
}

/// `group_window`: a duration up to 10 minutes; "0s" sends each at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window(Duration);

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)
            .map_err(|_| de::Error::custom("expected a duration like \"30s\""))?;
        let window = humantime::parse_duration(&text).map_err(|e| {
            de::Error::custom(format!(
                "`{text}` is not a duration ({e}); write e.g. \"30s\""
            ))
        })?;
        if window > Duration::from_secs(600) {
            return Err(de::Error::custom("group_window is at most \"10m\""));
        }
        Ok(Window(window))
    }
}

/// Everything about alerts in one file, resolved: the spec, and each
/// check's rule in the order of `checks`. `checks` are (id, name, group,
/// what it said). An error names the check it is about, by position, or
/// none when it is about `[alerts]` or the notifiers.
pub(super) fn resolve(
    table: AlertsTable,
    notifiers: Vec<NotifierSpec>,
    checks: &[(CheckId, String, String, CheckAlert)],
) -> Result<(AlertsSpec, Vec<AlertRule>), (Option<usize>, String)> {
    let mut seen = HashSet::new();
    for notifier in &notifiers {
        if !seen.insert(notifier.name.as_str()) {
            return Err((
                None,
                format!(
                    "two notifiers are named `{}`; names must be unique",
                    notifier.name
                ),
            ));
        }
    }
    let names: Vec<String> = notifiers.iter().map(|n| n.name.clone()).collect();
    let known = |list: &[String], whose: &str| -> Result<(), String> {
        match list.iter().find(|n| !names.contains(n)) {
            Some(missing) => Err(format!(
                "{whose} notifies `{missing}`, but no [[notifier]] has that name"
            )),
            None => Ok(()),
        }
    };
    let defaults = table.defaults();
    if let Some(list) = &defaults.notify {
        known(list, "[alerts]").map_err(|e| (None, e))?;
    }
    for (group, overrides) in &table.group {
        if let Some(list) = &overrides.notify {
            known(list, &format!("[alerts.group.{group}]")).map_err(|e| (None, e))?;
        }
    }
    let by_name: HashMap<&str, &CheckId> = checks
        .iter()
        .map(|(id, name, _, _)| (name.as_str(), id))
        .collect();
    let mut rules = Vec::with_capacity(checks.len());
    for (at, (id, name, group, said)) in checks.iter().enumerate() {
        let here = |message: String| (Some(at), message);
        if let Some(list) = &said.alert.notify {
            known(list, &format!("check `{name}`")).map_err(here)?;
        }
        let mut depends_on = Vec::new();
        for dependency in &said.depends_on {
            let Some(&dependency_id) = by_name.get(dependency.as_str()) else {
                return Err(here(format!(
                    "check `{name}` depends on `{dependency}`, but no check has that name"
                )));
            };
            if dependency_id == id {
                return Err(here(format!("check `{name}` cannot depend on itself")));
            }
            depends_on.push(dependency_id.clone());
        }
        let levels = [Some(&said.alert), table.group.get(group), Some(&defaults)];
        let levels: Vec<&RuleOverrides> = levels.into_iter().flatten().collect();
        rules.push(AlertRule {
            failure_threshold: first(&levels, |o| o.failure_threshold.map(|t| t.0))
                .unwrap_or(DEFAULT_FAILURE_THRESHOLD),
            success_threshold: first(&levels, |o| o.success_threshold.map(|t| t.0))
                .unwrap_or(DEFAULT_SUCCESS_THRESHOLD),
            send_resolved: first(&levels, |o| o.send_resolved).unwrap_or(true),
            repeat: first(&levels, |o| o.repeat).and_then(|r| r.0),
            degraded_is_failing: first(&levels, |o| o.degraded_is_failing).unwrap_or(false),
            notify: first(&levels, |o| o.notify.clone()).unwrap_or_else(|| names.clone()),
            depends_on,
        });
    }
    refuse_cycles(checks, &rules).map_err(|(at, e)| (Some(at), e))?;
    let spec = AlertsSpec {
        notifiers,
        group_window: table.group_window.map_or(DEFAULT_GROUP_WINDOW, |w| w.0),
        public_url: table.public_url.map(|u| u.0),
    };
    Ok((spec, rules))
}

/// Checks that depend on each other in a ring would hold each other's
/// alerts for good while all are failing: a lost alert.
fn refuse_cycles(
    checks: &[(CheckId, String, String, CheckAlert)],
    rules: &[AlertRule],
) -> Result<(), (usize, String)> {
    let position: HashMap<&CheckId, usize> =
        checks.iter().enumerate().map(|(i, c)| (&c.0, i)).collect();
    // Depth first; a dependency met again while still on the path closes a ring.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; checks.len()];
    for start in 0..checks.len() {
        if mark[start] != Mark::New {
            continue;
        }
        mark[start] = Mark::OnPath;
        // Each entry: a check, and how many of its dependencies were visited.
        let mut path = vec![(start, 0usize)];
        while let Some(&(node, visited)) = path.last() {
            let Some(dependency) = rules[node].depends_on.get(visited) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            path.last_mut().expect("not empty").1 += 1;
            let d = position[dependency];
            match mark[d] {
                Mark::OnPath => {
                    return Err((
                        node,
                        format!(
                            "checks `{}` and `{}` depend on each other (through depends_on); their alerts would hold each other forever",
                            checks[node].1, checks[d].1
                        ),
                    ));
                }
                Mark::New => {
                    mark[d] = Mark::OnPath;
                    path.push((d, 0));
                }
                Mark::Done => {}
            }
        }
    }
    Ok(())
}

/// The first level (check, group, `[alerts]`) that sets a key.
fn first<T>(levels: &[&RuleOverrides], key: impl Fn(&RuleOverrides) -> Option<T>) -> Option<T> {
    levels.iter().find_map(|o| key(o))
}
