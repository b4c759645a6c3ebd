//! A replica of a cluster (`--cluster redis://…`). The flow grows one hop:
//!
//! ```text
//! checks ─▶ shared log (a Redis Stream, fenced) ─▶ every replica's hub ─▶ its streams
//! ```
//!
//! - `leases.rs`: which checks this replica runs (a shard's lease each).
//! - `log.rs`: publishing a result into the log, through a script that
//!   Redis runs against the lease (the fence), and following the log into
//!   the local hub, across a loss of Redis's data (a new epoch).
//! - `ids.rs`: the log's ids as the event ids clients see, so a client
//!   resumes on any replica.
//! - `configs.rs`: whether every replica runs the same config.
//! - `notes.rs`: what every replica must learn of besides results: a
//!   sign-out on one replica ends the session on all; a push check's ping
//!   reaches whichever replica runs the check.
//! - `skipped.rs`: what is read from Redis and not taken (anything may
//!   write there), counted.
//!
//! The hub downstream is unchanged: it keeps the current statuses, so a
//! replica serves snapshots without asking Redis, and replays from its own
//! ring, which holds the log's newest events.

mod configs;
pub mod leases;
pub(crate) mod log;
mod notes;
mod skipped;

use crate::clock::unix_millis;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::status::{CheckId, CheckStatus};
use futures::future::BoxFuture;
use leases::Leases;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use skipped::{Skipped, Skips};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Every key Pulse keeps in Redis starts with this. The braces are a hash
/// tag: in a Redis Cluster every key lands in one slot, which the scripts
/// (several keys each) need.
pub(crate) const KEYS: &str = "{pulse}";

/// Pings kept for a replica that starts: each check's newest counts, and
/// a check pings at most one note a second into it.
const PINGS_KEPT: notes::Retention = notes::Retention::Newest(10_000);

/// How long one command may take before Redis counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Cluster {
    redis: ConnectionManager,
    /// Where the follower reads (its own connection: a blocking read would
    /// hold up every command behind it on a shared one).
    url: String,
    leases: Leases,
    /// The epoch this replica follows (the value of `{pulse}:epoch`).
    epoch: Mutex<String>,
    /// The newest event id this replica has seen in the log.
    newest: AtomicU64,
    /// How many events the log keeps (its MAXLEN).
    log_length: usize,
    redis_up: AtomicBool,
    publish: redis::Script,
    metrics: Arc<Metrics>,
    /// The fingerprint of the config this replica runs, once one runs.
    config: Mutex<Option<String>>,
    /// The checks of that config: a result of any other in the log is
    /// skipped (another replica's config, or written by hand).
    checks: RwLock<HashSet<CheckId>>,
    skips: Arc<Skips>,
}

impl Cluster {
    /// Connects to Redis and starts taking a share of the checks; the
    /// checks' results are followed once `follow` is called.
    pub(crate) async fn join(
        url: &str,
        lease: Duration,
        log_length: usize,
        name: String,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
    ) -> Result<Arc<Cluster>, String> {
        // The URL may hold Redis's password: printed without it.
        let failed = |why: &dyn std::fmt::Display| {
            crate::redact::without_credentials(&format!("--cluster {url}: {why}"))
        };
        let client = redis::Client::open(url).map_err(|e| failed(&e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let redis = tokio::time::timeout(
            COMMAND_TIMEOUT * 3,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| failed(&"Redis did not answer"))?
        .map_err(|e| failed(&e))?;
        let cluster = Arc::new(Cluster {
            redis,
            url: url.to_string(),
            leases: Leases::new(name, lease),
            epoch: Mutex::new(String::new()),
            newest: AtomicU64::new(0),
            log_length,
            redis_up: AtomicBool::new(true),
            publish: redis::Script::new(include_str!("publish.lua")),
            skips: Arc::new(Skips::new(metrics.clone())),
            metrics,
            config: Mutex::new(None),
            checks: RwLock::default(),
        });
        cluster.set_redis_up(true);
        tokio::spawn(cluster.clone().keep_leases(shutdown));
        Ok(cluster)
    }

    /// This replica's name in the cluster.
    pub(crate) fn name(&self) -> &str {
        &self.leases.me
    }

    /// Whether Redis answers: kept so an outage is logged once, not once
    /// per result, and shown in `/metrics` (`pulse_cluster_redis_up`).
    fn set_redis_up(&self, up: bool) {
        self.redis_up.store(up, Ordering::Relaxed);
        self.metrics.cluster_redis_up.set(i64::from(up));
    }

    async fn keep_leases(self: Arc<Self>, shutdown: Shutdown) {
        let mut redis = self.redis.clone();
        let mut ticker = tokio::time::interval(self.leases.round());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.tick(&mut ticker).await {
            let kept = self.leases.keep(&mut redis).await;
            self.metrics
                .cluster_shards_held
                .set(self.leases.held().len() as i64);
            match kept {
                Ok(()) => self.set_redis_up(true),
                Err(e) => {
                    self.set_redis_up(false);
                    tracing::warn!(error = %e, "cluster: keeping the leases failed");
                }
            }
        }
    }

    /// Shares this replica's sign-outs and follows the others'. A session
    /// cookie is valid on every replica with the same session key; a
    /// sign-out must end it on all of them, also on one started later.
    pub(crate) fn share_sign_outs(&self, access: Arc<crate::access::Access>, shutdown: Shutdown) {
        let key = format!("{KEYS}:signed-out");
        let made = access.sign_outs();
        let kept = notes::Retention::Within(crate::access::Access::SIGN_OUTS_MATTER_FOR);
        let learn = move |session: &str| {
            access.signed_out_elsewhere(session);
            Ok(())
        };
        self.share_notes(key, kept, made, learn, shutdown);
    }

    /// Shares the pings this replica takes and follows the others': a
    /// ping reaches any replica, the check is judged by the one that runs
    /// it, and by the next one after a failover.
    pub(crate) fn share_pings(&self, pushes: Arc<crate::checks::Pushes>, shutdown: Shutdown) {
        let key = format!("{KEYS}:pings");
        let made = pushes.pings();
        let learn = move |ping: &str| pushes.pinged_elsewhere(ping).map_err(|_| Skipped::NotAPing);
        self.share_notes(key, PINGS_KEPT, made, learn, shutdown);
    }

    fn share_notes(
        &self,
        key: String,
        kept: notes::Retention,
        made: tokio::sync::broadcast::Receiver<String>,
        learn: impl Fn(&str) -> Result<(), Skipped> + Send + Sync + 'static,
        shutdown: Shutdown,
    ) {
        let publish = notes::publish(
            self.redis.clone(),
            key.clone(),
            kept,
            made,
            shutdown.clone(),
        );
        tokio::spawn(publish);
        let skips = self.skips.clone();
        tokio::spawn(notes::follow(self.url.clone(), key, learn, skips, shutdown));
    }

    fn has_check(&self, check: &CheckId) -> bool {
        self.checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(check)
    }

    /// The config this replica runs now (its `Config::fingerprint`).
    pub(crate) fn runs_config(&self, fingerprint: &str) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint.to_string());
    }

    /// Every lease/3: compares this replica's config with the others' and
    /// tells the hub how they differ. Ends at shutdown.
    pub(crate) async fn compare_configs(self: Arc<Self>, hub: Arc<Hub>, shutdown: Shutdown) {
        let mut redis = self.redis.clone();
        let mut ticker = tokio::time::interval(self.leases.lease / 3);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.tick(&mut ticker).await {
            let mine = self
                .config
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let Some(mine) = mine else { continue };
            let compared = configs::compare(&mut redis, self.name(), &mine);
            // On an error, Redis's health is the leases' to tell; what was
            // said of the configs stays until Redis answers again.
            if let Ok(Ok(differs)) = tokio::time::timeout(COMMAND_TIMEOUT, compared).await {
                hub.set_config_difference(differs);
            }
        }
    }

    /// At shutdown: gives this replica's checks back, so that the others
    /// run them at once rather than when the leases run out.
    pub(crate) async fn leave(&self) {
        let mut redis = self.redis.clone();
        let _ =
            tokio::time::timeout(COMMAND_TIMEOUT, configs::forget(&mut redis, self.name())).await;
        match tokio::time::timeout(COMMAND_TIMEOUT, self.leases.leave(&mut redis)).await {
            Ok(Ok(())) => tracing::info!("cluster: leases given back"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cluster: could not give the leases back"),
            Err(_) => tracing::warn!("cluster: Redis did not answer; the leases run out instead"),
        }
    }

    /// Follows the shared log into `hub` until shutdown (see `log.rs`).
    pub(crate) async fn follow(self: Arc<Self>, hub: Arc<Hub>, shutdown: Shutdown) {
        log::follow(self, hub, shutdown).await;
    }
}

/// When a check runs first: every replica puts a check's runs at the
/// same moments (a phase from its id), so that a replica taking it
/// over runs it in the same periods.
fn first_moment(check: &CheckId, interval: Duration) -> Instant {
    let interval_ms = interval.as_millis().max(1) as u64;
    let now = unix_millis();
    let wait = (phase_ms(check, interval_ms) + interval_ms - now % interval_ms) % interval_ms;
    Instant::now() + Duration::from_millis(wait)
}

/// The period a run starting at `at_ms` belongs to: the nearest of the
/// check's moments, so a run started a little late is still its own.
fn period_at(check: &CheckId, interval: Duration, at_ms: u64) -> u64 {
    let interval_ms = interval.as_millis().max(1) as u64;
    (at_ms + interval_ms / 2).saturating_sub(phase_ms(check, interval_ms)) / interval_ms
}

/// Where in each interval a check runs, from its id: spread, and the same
/// on every replica.
fn phase_ms(check: &CheckId, interval_ms: u64) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(check.0.as_bytes());
    u64::from_be_bytes(digest[8..16].try_into().expect("8 bytes")) % interval_ms
}

/// The engine's view of the cluster: which checks this replica runs, when,
/// and the log results go into.
impl crate::checks::Replicas for Cluster {
    /// The checks this replica's config has, from now on: the engine tells
    /// it before it registers them in the hub.
    fn has_checks(&self, checks: Vec<CheckId>) {
        *self.checks.write().unwrap_or_else(|p| p.into_inner()) = checks.into_iter().collect();
    }

    /// Whether this replica runs `check` now.
    fn runs(&self, check: &CheckId) -> bool {
        self.leases.holder_of(check).is_some()
    }

    fn first_run(&self, check: &CheckId, interval: Duration) -> Instant {
        first_moment(check, interval)
    }

    fn period(&self, check: &CheckId, interval: Duration, at_ms: u64) -> u64 {
        period_at(check, interval, at_ms)
    }

    /// Publishes one result into the shared log, if this replica still
    /// runs its check and nothing was published for its period. Whether
    /// it went in is Redis's answer, not this replica's belief.
    fn publish<'a>(&'a self, status: &'a CheckStatus, period: u64) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some((shard, holder)) = self.leases.holder_of(&status.id) else {
                return false;
            };
            let epoch = self.epoch.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let json = serde_json::to_string(status).expect("CheckStatus serialises");
            let mut redis = self.redis.clone();
            let answer: redis::RedisResult<Option<String>> = self
                .publish
                .key(leases::lease_key(shard))
                .key(log::EPOCH)
                .key(format!("{KEYS}:last"))
                .key(format!("{KEYS}:periods"))
                .key(log::CURRENT)
                .key(log::LOG)
                .key(log::FIRST)
                .arg(&holder)
                .arg(&epoch)
                .arg(&status.id.0)
                .arg(period)
                .arg(crate::hub::ids::log_id(self.newest.load(Ordering::Relaxed)))
                .arg(self.log_length)
                .arg(json)
                .invoke_async(&mut redis)
                .await;
            match answer {
                Ok(Some(_)) => {
                    self.metrics.cluster_results_published.inc();
                    true
                }
                Ok(None) => {
                    tracing::debug!(check = %status.id.0, period, "cluster: period already published");
                    false
                }
                Err(e) if e.code() == Some("FENCED") => {
                    self.metrics.cluster_results_fenced.inc();
                    self.leases.lost(shard);
                    false
                }
                Err(e) if e.code() == Some("EPOCH") => {
                    tracing::debug!(check = %status.id.0, "cluster: result of the old epoch dropped");
                    false
                }
                Err(e) => {
                    // Told once per outage, not once per result.
                    if self.redis_up.swap(false, Ordering::Relaxed) {
                        self.metrics.cluster_redis_up.set(0);
                        tracing::warn!(error = %e, "cluster: Redis does not answer; results are not published");
                    }
                    false
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_a_little_early_or_late_is_in_its_own_period() {
        let check = CheckId("web".into());
        let interval = Duration::from_secs(10);
        let phase = phase_ms(&check, 10_000);
        let moment = 1_764_700_000_000 + phase;
        let period = period_at(&check, interval, moment);
        assert_eq!(period_at(&check, interval, moment - 3_000), period);
        assert_eq!(period_at(&check, interval, moment + 4_000), period);
        assert_eq!(period_at(&check, interval, moment + 10_000), period + 1);
    }
}
