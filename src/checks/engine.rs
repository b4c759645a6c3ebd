//! The engine: runs every check on its own interval, under one concurrency
//! limit, and publishes each result to the hub. `apply` moves it to a new
//! set of checks (a reload): new checks start and appear on every open
//! dashboard, removed ones stop and disappear, changed ones restart, and
//! unchanged ones are not touched at all, so they keep their state.

use super::{Check, Fallbacks, Pushes, from_config};
use crate::config::{Config, ConfigError};
use crate::hub::{Follower, Hub};
use crate::maintenance::Calendar;
use crate::metrics::CheckLabel;
use crate::probes::{GroupState, Groups, PushState};
use crate::shutdown::Shutdown;
use crate::status::{CheckId, CheckStatus, ConfigNotice, Health};
use futures::future::BoxFuture;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, MissedTickBehavior};

/// New checks' first runs are spread over at least this, so a few new
/// checks fill in their cards at once…
const MIN_SPREAD: Duration = Duration::from_millis(250);
/// …and over this much per new check, so thousands of them start at a
/// steady rate (500 a second) instead of in the same millisecond. A check
/// keeps the phase of its first run, so the spread lasts; it is capped at
/// the check's interval, which spreads a large config evenly over it.
const SPREAD_PER_CHECK: Duration = Duration::from_millis(2);

/// Replicas that share the checks (a cluster): which of them runs each
/// check and at which moments, and the shared log results go into, which
/// brings them back to every replica's hub. The one thing the engine knows
/// of a cluster; without one, results go straight to the local hub.
pub trait Replicas: Send + Sync {
    /// The checks this replica's config has, from now on: told before the
    /// hub hears of a change.
    fn has_checks(&self, checks: Vec<CheckId>);
    /// Whether this replica runs `check` now.
    fn runs(&self, check: &CheckId) -> bool;
    /// When a new check first runs: at the moments every replica shares.
    fn first_run(&self, check: &CheckId, interval: Duration) -> std::time::Instant;
    /// The period a run starting at `at_ms` belongs to.
    fn period(&self, check: &CheckId, interval: Duration, at_ms: u64) -> u64;
    /// Publishes one result for `period`; whether it went in.
    fn publish<'a>(&'a self, status: &'a CheckStatus, period: u64) -> BoxFuture<'a, bool>;
}

pub struct Engine {
    hub: Arc<Hub>,
    shutdown: Shutdown,
    limiter: Arc<Semaphore>,
    permits: usize,
    running: HashMap<CheckId, Running>,
    /// The running push checks, for the ping endpoint.
    pushes: Arc<Pushes>,
    /// The running checks of kind `group` (not the cards' groups), woken
    /// by their members' results.
    group_checks: Arc<Groups>,
    /// Each result is stamped with the maintenance window it fell in.
    calendar: Arc<Calendar>,
    /// In a cluster: which checks this replica runs, and where results go.
    replicas: Option<Arc<dyn Replicas>>,
}

struct Running {
    fingerprint: String,
    stop: Shutdown,
    push: Option<Arc<PushState>>,
    /// What a check of kind `group` knows of its members.
    members: Option<Arc<GroupState>>,
}

/// What a reload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub(crate) added: usize,
    pub(crate) changed: usize,
    pub(crate) removed: usize,
    pub(crate) unchanged: usize,
}

impl Engine {
    pub fn new(hub: Arc<Hub>, shutdown: Shutdown) -> Self {
        let group_checks = Arc::new(Groups::default());
        hub.follow(Arc::new(GroupsFollower(group_checks.clone())));
        Engine {
            group_checks,
            hub,
            shutdown,
            limiter: Arc::new(Semaphore::new(0)),
            permits: 0,
            running: HashMap::new(),
            pushes: Arc::default(),
            calendar: Arc::default(),
            replicas: None,
        }
    }

    /// Runs only the checks this replica holds among `replicas`, each at
    /// the moments every replica would, and publishes into their log.
    pub(crate) fn shared_with(&mut self, replicas: Arc<dyn Replicas>) {
        self.replicas = Some(replicas);
    }

    /// The maintenance windows results are stamped from; set it with each
    /// config, before `apply`.
    pub(crate) fn calendar(&self) -> Arc<Calendar> {
        self.calendar.clone()
    }

    /// Where pings find the push checks this engine runs.
    pub(crate) fn pushes(&self) -> Arc<Pushes> {
        self.pushes.clone()
    }

    /// Makes `checks` the running set.
    pub fn apply(&mut self, checks: Vec<Check>, concurrency: usize) -> Applied {
        self.resize(concurrency.max(1));
        // Before the hub hears of a change: from now on the log's results
        // of a removed check are the cluster's to skip.
        if let Some(replicas) = &self.replicas {
            replicas.has_checks(checks.iter().map(|c| c.id.clone()).collect());
        }
        let mut applied = Applied::default();
        let wanted: HashSet<&CheckId> = checks.iter().map(|c| &c.id).collect();
        let gone: Vec<CheckId> = self
            .running
            .keys()
            .filter(|id| !wanted.contains(id))
            .cloned()
            .collect();
        for id in gone {
            self.stop(&id);
            self.hub.remove(&id);
            applied.removed += 1;
        }
        let starting = checks
            .iter()
            .filter(|c| {
                self.running
                    .get(&c.id)
                    .is_none_or(|r| r.fingerprint != c.fingerprint)
            })
            .count();
        let spread = MIN_SPREAD.max(SPREAD_PER_CHECK * starting as u32);
        for check in checks {
            // First, so that a changed check's pending result below already
            // goes to the audiences it has now.
            self.hub.set_publicity(&check.id, check.publicity.clone());
            match self.running.get(&check.id) {
                Some(running) if running.fingerprint == check.fingerprint => {
                    applied.unchanged += 1;
                    continue;
                }
                Some(_) => {
                    self.stop(&check.id);
                    applied.changed += 1;
                }
                None => applied.added += 1,
            }
            self.start(check, spread);
        }
        applied
    }

    /// Follows the config file: each valid change is applied, each invalid
    /// one is logged and shown on the dashboard while the last good config
    /// keeps running. `also_apply` puts the rest of a config in force (the
    /// access rule) and may refuse it too. Ends at shutdown.
    pub(crate) async fn follow(
        mut self,
        source: String,
        mut changes: mpsc::Receiver<Result<Config, ConfigError>>,
        fallbacks: Fallbacks,
        also_apply: impl Fn(&Config) -> Result<(), String> + Send + 'static,
    ) {
        let shutdown = self.shutdown.clone();
        loop {
            let change = tokio::select! {
                _ = shutdown.triggered() => return,
                change = changes.recv() => match change {
                    Some(change) => change,
                    None => return,
                },
            };
            let built = change.map_err(|e| e.to_string()).and_then(|config| {
                // Built first, so a config whose checks are refused
                // changes nothing else either.
                let built = from_config(&config, fallbacks)?;
                also_apply(&config)?;
                Ok(built)
            });
            let error = match built {
                Ok((checks, concurrency)) => {
                    let applied = self.apply(checks, concurrency);
                    tracing::info!(
                        config = %source,
                        added = applied.added,
                        changed = applied.changed,
                        removed = applied.removed,
                        unchanged = applied.unchanged,
                        "config reloaded"
                    );
                    None
                }
                Err(error) => {
                    tracing::error!(%error, "config refused; still running the last good one");
                    Some(error)
                }
            };
            self.hub.set_config(ConfigNotice {
                source: source.clone(),
                error,
                checked_at_ms: crate::clock::unix_millis(),
                differs: None,
            });
        }
    }

    fn start(&mut self, check: Check, spread: Duration) {
        let stop = self.shutdown.child();
        let push = check.probe.push_state().cloned();
        if let Some(push) = &push {
            self.pushes.add(push.clone());
        }
        let members = check.probe.group_state().cloned();
        if let Some(members) = &members {
            self.group_checks
                .add(members.clone(), &self.hub.snapshot().checks);
        }
        self.running.insert(
            check.id.clone(),
            Running {
                fingerprint: check.fingerprint.clone(),
                stop: stop.clone(),
                push,
                members,
            },
        );
        let pending = check.pending_status();
        self.hub.register(pending.clone(), check.publicity.clone());
        let first_run = match &self.replicas {
            Some(replicas) => Instant::from_std(replicas.first_run(&check.id, check.interval)),
            None => {
                // An event, so that dashboards already open show the new
                // card (in a cluster, the first result is that event).
                self.hub.publish(pending);
                let phase = spread.min(check.interval).as_millis() as u64;
                Instant::now() + Duration::from_millis(fastrand::u64(0..phase.max(1)))
            }
        };
        let runner = Runner {
            hub: self.hub.clone(),
            replicas: self.replicas.clone(),
            limiter: self.limiter.clone(),
            calendar: self.calendar.clone(),
        };
        tokio::spawn(run_forever(check, first_run, runner, stop));
    }

    fn stop(&mut self, id: &CheckId) {
        if let Some(running) = self.running.remove(id) {
            running.stop.trigger();
            if let Some(push) = &running.push {
                self.pushes.remove(push);
            }
            if let Some(members) = &running.members {
                self.group_checks.remove(members);
            }
        }
        let label = CheckLabel {
            check: id.0.clone(),
        };
        let metrics = self.hub.metrics();
        metrics.check_up.remove(&label);
        metrics.check_duration.remove(&label);
        metrics.cluster_runs.remove(&label);
    }

    /// Changes how many checks may run at once. Lowering it takes permits
    /// as running checks give them back, so the new limit is exact.
    fn resize(&mut self, permits: usize) {
        if permits > self.permits {
            self.limiter.add_permits(permits - self.permits);
        } else if permits < self.permits {
            let surplus = (self.permits - permits) as u32;
            let limiter = self.limiter.clone();
            tokio::spawn(async move {
                if let Ok(taken) = limiter.acquire_many_owned(surplus).await {
                    taken.forget();
                }
            });
        }
        self.permits = permits;
    }
}

/// The groups follow every result the hub publishes, through this: the
/// hub knows its followers by the trait alone, and the probes know no hub.
struct GroupsFollower(Arc<Groups>);

impl Follower for GroupsFollower {
    fn offer(&self, status: &CheckStatus) {
        self.0.offer(status);
    }

    fn close(&self) {}
}

/// What every check's loop shares.
struct Runner {
    hub: Arc<Hub>,
    replicas: Option<Arc<dyn Replicas>>,
    limiter: Arc<Semaphore>,
    calendar: Arc<Calendar>,
}

async fn run_forever(check: Check, first_run: Instant, runner: Runner, stop: Shutdown) {
    let mut ticker = tokio::time::interval_at(first_run, check.interval);
    // A run that overran its interval pushes the next one back instead of
    // firing a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let woken = tokio::select! {
            ticked = stop.tick(&mut ticker) => if !ticked { return } else { false },
            () = check.probe.woken() => true,
        };
        // On one node the runs start again from the woken one; in a
        // cluster they keep the moments every replica shares.
        if woken && runner.replicas.is_none() {
            ticker.reset();
        }
        if !run_and_publish(&check, &runner, woken, &stop).await {
            return;
        }
    }
}

/// One run under the concurrency limit; `false` once the check is stopped.
async fn run_and_publish(check: &Check, runner: &Runner, woken: bool, stop: &Shutdown) -> bool {
    // In a cluster, another replica may run it; the period is taken when
    // the run was due, so a slow permit does not move it. A run woken
    // between two moments (a ping that ends an outage) takes the next
    // period: the current one was published already, and the recovery
    // must show now.
    let runs_here = runner.replicas.as_ref().map(|r| r.runs(&check.id));
    if let Some(runs_here) = runs_here {
        show_role(&runner.hub, check, runs_here);
    }
    let period = match &runner.replicas {
        Some(_) if runs_here == Some(false) => return true,
        Some(replicas) => {
            let now = crate::clock::unix_millis();
            Some(replicas.period(&check.id, check.interval, now) + u64::from(woken))
        }
        None => None,
    };
    let permit = tokio::select! {
        _ = stop.triggered() => return false,
        permit = runner.limiter.acquire() => permit,
    };
    let Ok(_permit) = permit else {
        return false;
    };
    let mut status = tokio::select! {
        _ = stop.triggered() => return false,
        status = check.run_once() => status,
    };
    status.maintenance_until_ms = runner.calendar.covering(&status.id, status.checked_at_ms);
    // A check stopped while its probe ran publishes nothing: it may have
    // been removed, and its card must not come back.
    if stop.is_triggered() {
        return false;
    }
    match (&runner.replicas, period) {
        (Some(replicas), Some(period)) => {
            if replicas.publish(&status, period).await {
                record(&runner.hub, &status);
            }
        }
        _ => {
            record(&runner.hub, &status);
            runner.hub.publish(status);
        }
    }
    true
}

/// `/metrics` tells which replica runs which check (`pulse_cluster_runs`).
fn show_role(hub: &Hub, check: &Check, runs_here: bool) {
    let label = CheckLabel {
        check: check.id.0.clone(),
    };
    hub.metrics()
        .cluster_runs
        .get_or_create(&label)
        .set(i64::from(runs_here));
}

fn record(hub: &Hub, status: &CheckStatus) {
    // Pulse could not check: nothing was measured, and the target's last
    // verdict stands until one is.
    if status.health == Health::Unknown {
        return;
    }
    let label = CheckLabel {
        check: status.id.0.clone(),
    };
    let metrics = hub.metrics();
    if let Some(ms) = status.latency_ms {
        metrics
            .check_duration
            .get_or_create(&label)
            .observe(ms / 1000.0);
    }
    let up = matches!(status.health, Health::Up | Health::Degraded);
    metrics.check_up.get_or_create(&label).set(i64::from(up));
}
