//! Push checks (heartbeats): a cron job or a batch run pings Pulse at
//! `GET` or `POST /api/push/{token}`, and the check is down when no ping
//! came within its period plus grace. The token alone authenticates a
//! ping; Pulse keeps only its SHA-256, and a ping costs a hash and a map
//! look-up. Pings are not kept across restarts: after a start, the period
//! and grace count from the start.
//!
//! In a cluster a ping reaches any replica, and the check is judged by the
//! one that runs it: each replica offers the pings it takes (`pings`), at
//! most one a second per check, and learns every replica's
//! (`pinged_elsewhere`), so each knows a check's last ping, also the one
//! that takes the check over.

use super::{Finding, Kind};
use crate::fields::Period;
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use serde::{Deserialize, Deserializer, de};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use toml::de::ValueDeserializer;

/// `kind = "push"`: pinged at `/api/push/{token}` at least every
/// `period`, give or take `grace`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushSpec {
    pub(crate) token: PushToken,
    pub(crate) period: Period,
    pub(crate) grace: Option<Period>,
}

/// The grace of a push check that names none.
const DEFAULT_PUSH_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The secret in a push URL: 16 to 128 of `A-Z a-z 0-9 - _`, so it needs
/// no escaping in a URL and cannot be guessed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PushToken(pub String);

impl<'de> Deserialize<'de> for PushToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let token = String::deserialize(deserializer)?;
        let plain = token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !(16..=128).contains(&token.len()) || !plain {
            return Err(de::Error::custom(
                "a push token is 16 to 128 letters, digits, `-` or `_` (`pulse new-token` makes one)",
            ));
        }
        Ok(PushToken(token))
    }
}

impl std::fmt::Debug for PushSpec {
    /// Never the token; its hash, so that a new token restarts the check
    /// (the fingerprint is made from this).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSpec")
            .field("token_sha256", &crate::text::sha256_hex(&self.token.0))
            .field("period", &self.period)
            .field("grace", &self.grace)
            .finish()
    }
}

/// What a push check knows: when it was last pinged, and a way to be run
/// at once when a ping ends an outage.
#[derive(Debug)]
pub(crate) struct PushState {
    token_sha256: String,
    period: Duration,
    grace: Duration,
    started_ms: u64,
    /// 0: never since the start.
    last_ping_ms: AtomicU64,
    /// When a ping here was last offered to the other replicas.
    shared_ms: AtomicU64,
    /// Whether the last run said down (or waiting for a first ping): a ping
    /// then wakes the check, so it recovers with one ping, while pings to a passing check wake nothing
    /// (a client pinging in a loop makes no events).
    late: AtomicBool,
    wake: Notify,
}

pub(crate) struct PushProbe {
    pub(crate) state: Arc<PushState>,
}

/// The hex SHA-256 of a token: how it is kept and looked up.
pub fn token_sha256(token: &str) -> String {
    crate::text::sha256_hex(token)
}

impl PushProbe {
    pub fn new(token: &str, period: Duration, grace: Duration) -> PushProbe {
        PushProbe {
            state: Arc::new(PushState {
                token_sha256: token_sha256(token),
                period,
                grace,
                started_ms: crate::clock::unix_millis(),
                last_ping_ms: AtomicU64::new(0),
                shared_ms: AtomicU64::new(0),
                late: AtomicBool::new(false),
                wake: Notify::new(),
            }),
        }
    }
}

impl PushState {
    /// A ping at `at_ms`, here or on another replica; one that ends an
    /// outage runs the check at once.
    fn pinged_at(&self, at_ms: u64) {
        let before = self.last_ping_ms.fetch_max(at_ms, Ordering::SeqCst);
        if at_ms > before && self.late.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// Resolves when a ping should make the check run now.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

impl Kind for PushProbe {
    const NAME: &'static str = "push";
    const CHECK_KIND: CheckKind = CheckKind::Push;
    type Spec = PushSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<PushSpec, BadKeys> {
        keys(said)
    }

    fn probe(spec: &PushSpec) -> Result<Self, String> {
        Ok(PushProbe::new(
            &spec.token.0,
            spec.period.0,
            spec.grace.map_or(DEFAULT_PUSH_GRACE, |g| g.0),
        ))
    }

    async fn run(&self) -> Finding {
        let state = &self.state;
        let now = crate::clock::unix_millis();
        let last = state.last_ping_ms.load(Ordering::SeqCst);
        let allowed = (state.period + state.grace).as_millis() as u64;
        let expected = format!(
            "expected every {}, grace {}",
            humantime::format_duration(state.period),
            humantime::format_duration(state.grace)
        );
        let outcome = if last == 0 {
            if now < state.started_ms.saturating_add(allowed) {
                Finding::new(
                    Health::Unknown,
                    format!("waiting for the first ping ({expected})"),
                )
            } else {
                Finding::down(format!(
                    "no ping since Pulse started at {} ({expected})",
                    crate::clock::utc_clock(state.started_ms)
                ))
            }
        } else if now <= last.saturating_add(allowed) {
            let ago = Duration::from_secs(now.saturating_sub(last) / 1000);
            Finding::new(
                Health::Up,
                format!(
                    "last ping {} ago ({expected})",
                    humantime::format_duration(ago)
                ),
            )
        } else {
            Finding::down(format!(
                "no ping since {} ({expected})",
                crate::clock::utc_clock(last)
            ))
        };
        let late = outcome.health != Health::Up;
        state.late.store(late, Ordering::SeqCst);
        // A ping that came between the read above and the store saw the
        // check as passing and woke nothing: run again for it.
        if late && state.last_ping_ms.load(Ordering::SeqCst) != last {
            state.wake.notify_one();
        }
        outcome
    }
}

/// How often one check's pings are offered to the other replicas: a
/// client pinging in a loop costs the cluster one note a second. A ping
/// within a second of one offered is not told; the check's owner sees its
/// last ping up to a second early, which no period counts in.
const SHARE_EVERY_MS: u64 = 1_000;

/// How far ahead of this replica's clock another's may be. A ping note
/// later than that is no ping (written by hand, or a clock gone wrong):
/// taken, it would keep its check up until then, since the last ping
/// only moves forward. The sign-outs allow the clocks as much.
const CLOCKS_AGREE_WITHIN_MS: u64 = 5 * 60_000;

/// A note of another replica's that is no ping: not `"{hash} {unix ms}"`,
/// or at a time later than any clock says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotAPing;

/// Every running push check by its token's hash: what the ping endpoint
/// looks in. The engine adds a check when it starts and removes it when
/// it stops, so a reload that keeps a check keeps its last ping.
pub(crate) struct Pushes {
    by_token: RwLock<HashMap<String, Arc<PushState>>>,
    /// Pings to tell the other replicas, as `"{token hash} {unix ms}"`.
    shared: tokio::sync::broadcast::Sender<String>,
}

impl Default for Pushes {
    fn default() -> Pushes {
        Pushes {
            by_token: RwLock::default(),
            shared: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl Pushes {
    pub(crate) fn add(&self, state: Arc<PushState>) {
        self.write().insert(state.token_sha256.clone(), state);
    }

    pub(crate) fn remove(&self, state: &PushState) {
        let mut map = self.write();
        if map
            .get(&state.token_sha256)
            .is_some_and(|kept| std::ptr::eq(kept.as_ref(), state))
        {
            map.remove(&state.token_sha256);
        }
    }

    /// A ping with `token`: `false` when no check has it.
    pub(crate) fn ping(&self, token: &str) -> bool {
        let hash = token_sha256(token);
        let map = self.by_token.read().unwrap_or_else(|p| p.into_inner());
        let Some(state) = map.get(&hash) else {
            return false;
        };
        let now = crate::clock::unix_millis();
        state.pinged_at(now);
        let shared = state.shared_ms.load(Ordering::SeqCst);
        if now >= shared.saturating_add(SHARE_EVERY_MS)
            && state
                .shared_ms
                .compare_exchange(shared, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // An error only means no cluster listens.
            let _ = self.shared.send(format!("{hash} {now}"));
        }
        true
    }

    /// The pings this replica takes, for the other replicas of a cluster.
    pub(crate) fn pings(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.shared.subscribe()
    }

    /// A ping another replica took (`pings`'s form): the check's last ping
    /// moves forward, never back. A ping of a check not running here is
    /// nothing to do; anything that is no ping is refused.
    pub(crate) fn pinged_elsewhere(&self, note: &str) -> Result<(), NotAPing> {
        let (hash, at) = note.split_once(' ').ok_or(NotAPing)?;
        let at_ms: u64 = at.parse().map_err(|_| NotAPing)?;
        let latest = crate::clock::unix_millis().saturating_add(CLOCKS_AGREE_WITHIN_MS);
        if at_ms > latest {
            return Err(NotAPing);
        }
        let map = self.by_token.read().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = map.get(hash) {
            state.pinged_at(at_ms);
        }
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<PushState>>> {
        self.by_token.write().unwrap_or_else(|p| p.into_inner())
    }
}
