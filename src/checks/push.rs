//! Push checks (heartbeats): a cron job or a batch run pings Pulse at
//! `GET` or `POST /api/push/{token}`, and the check is down when no ping
//! came within its period plus grace. The token alone authenticates a
//! ping; Pulse keeps only its SHA-256, and a ping costs a hash and a map
//! look-up. Pings are not kept across restarts: after a start, the period
//! and grace count from the start.

use super::Outcome;
use crate::status::Health;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// What a push check knows: when it was last pinged, and a way to be run
/// at once when a ping ends an outage.
#[derive(Debug)]
pub struct PushState {
    token_sha256: String,
    period: Duration,
    grace: Duration,
    started_ms: u64,
    /// 0: never since the start.
    last_ping_ms: AtomicU64,
    /// Whether the last run said down (or waiting for a first ping): a ping
    /// then wakes the check, so it recovers with one ping, while pings to a passing check wake nothing
    /// (a client pinging in a loop makes no events).
    late: AtomicBool,
    wake: Notify,
}

pub struct PushProbe {
    pub state: Arc<PushState>,
}

/// The hex SHA-256 of a token: how it is kept and looked up.
pub fn token_sha256(token: &str) -> String {
    crate::text::hex(&Sha256::digest(token.as_bytes()))
}

impl PushProbe {
    pub fn new(token: &str, period: Duration, grace: Duration) -> PushProbe {
        PushProbe {
            state: Arc::new(PushState {
                token_sha256: token_sha256(token),
                period,
                grace,
                started_ms: super::unix_millis(),
                last_ping_ms: AtomicU64::new(0),
                late: AtomicBool::new(false),
                wake: Notify::new(),
            }),
        }
    }

    pub async fn run(&self) -> Outcome {
        let state = &self.state;
        let now = super::unix_millis();
        let last = state.last_ping_ms.load(Ordering::SeqCst);
        let allowed = (state.period + state.grace).as_millis() as u64;
        let expected = format!(
            "expected every {}, grace {}",
            humantime::format_duration(state.period),
            humantime::format_duration(state.grace)
        );
        let outcome = if last == 0 {
            if now < state.started_ms + allowed {
                Outcome::new(
                    Health::Unknown,
                    format!("waiting for the first ping ({expected})"),
                )
            } else {
                Outcome::down(format!(
                    "no ping since Pulse started at {} ({expected})",
                    crate::status::utc_clock(state.started_ms)
                ))
            }
        } else if now <= last + allowed {
            let ago = Duration::from_secs(now.saturating_sub(last) / 1000);
            Outcome::new(
                Health::Up,
                format!(
                    "last ping {} ago ({expected})",
                    humantime::format_duration(ago)
                ),
            )
        } else {
            Outcome::down(format!(
                "no ping since {} ({expected})",
                crate::status::utc_clock(last)
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

impl PushState {
    /// Resolves when a ping should make the check run now.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// Every running push check by its token's hash: what the ping endpoint
/// looks in. The engine adds a check when it starts and removes it when
/// it stops, so a reload that keeps a check keeps its last ping.
#[derive(Default)]
pub struct Pushes {
    by_token: RwLock<HashMap<String, Arc<PushState>>>,
}

impl Pushes {
    pub fn add(&self, state: Arc<PushState>) {
        self.write().insert(state.token_sha256.clone(), state);
    }

    pub fn remove(&self, state: &PushState) {
        let mut map = self.write();
        if map
            .get(&state.token_sha256)
            .is_some_and(|kept| std::ptr::eq(kept.as_ref(), state))
        {
            map.remove(&state.token_sha256);
        }
    }

    /// A ping with `token`: `false` when no check has it.
    pub fn ping(&self, token: &str) -> bool {
        let hash = token_sha256(token);
        let map = self.by_token.read().unwrap_or_else(|p| p.into_inner());
        let Some(state) = map.get(&hash) else {
            return false;
        };
        state
            .last_ping_ms
            .store(super::unix_millis(), Ordering::SeqCst);
        if state.late.load(Ordering::SeqCst) {
            state.wake.notify_one();
        }
        true
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<PushState>>> {
        self.by_token.write().unwrap_or_else(|p| p.into_inner())
    }
}
