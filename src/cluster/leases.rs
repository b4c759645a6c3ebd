//! Who runs which check: the checks fall into `SHARDS` shards by a hash of
//! their id, and each shard is run by the one replica holding its lease in
//! Redis. Every replica keeps its leases in rounds (`ROUNDS` per lease):
//! it renews what it holds, takes free shards up to its fair share of the
//! replicas alive, and gives back what is over it, so a replica that joins
//! gets work and one that dies or freezes has its shards taken over once
//! their leases run out.
//!
//! A lease in Redis lasts one round less than `--cluster-lease`: it runs
//! out at most that long after its holder died (it was renewed at most a
//! round before), and another replica's next round, at most a round
//! later, takes it. So a dead replica's checks run elsewhere within the
//! lease, plus the wait for a check's next moment (one interval). A
//! holder may miss `ROUNDS - 2` renewals in a row (Redis slow to answer)
//! before it loses a shard.
//! Holding a lease here is only what this replica believes: the fence is
//! the publishing script, which Redis runs against the lease itself.

use crate::status::CheckId;
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Enough shards to spread over a few dozen replicas, few enough that
/// renewing them all is one small round of commands.
pub(crate) const SHARDS: u32 = 64;

/// Rounds of keeping the leases per `--cluster-lease`.
pub(crate) const ROUNDS: u32 = 6;

/// The shard a check falls in, the same on every replica (and every build:
/// a hash of the id, not the standard library's seeded one).
pub fn shard_of(check: &CheckId) -> u32 {
    let digest = Sha256::digest(check.0.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

pub fn lease_key(shard: u32) -> String {
    format!("{}:lease:{shard}", super::KEYS)
}

fn fence_key(shard: u32) -> String {
    format!("{}:fence:{shard}", super::KEYS)
}

pub(super) fn replicas_key() -> String {
    format!("{}:replicas", super::KEYS)
}

pub(crate) struct Leases {
    /// This replica's name in the cluster.
    pub(crate) me: String,
    pub(crate) lease: Duration,
    /// The shards held, each with its holder's value (name and fence).
    held: Mutex<BTreeMap<u32, String>>,
    acquire: Script,
    renew: Script,
}

impl Leases {
    pub fn new(me: String, lease: Duration) -> Leases {
        Leases {
            me,
            lease,
            held: Mutex::new(BTreeMap::new()),
            acquire: Script::new(include_str!("acquire.lua")),
            renew: Script::new(include_str!("renew.lua")),
        }
    }

    /// The holder value under which this replica publishes `check`'s
    /// results, if it runs it.
    pub(crate) fn holder_of(&self, check: &CheckId) -> Option<(u32, String)> {
        let shard = shard_of(check);
        self.lock()
            .get(&shard)
            .map(|holder| (shard, holder.clone()))
    }

    /// What Redis refused: the shard is not this replica's any more.
    pub(crate) fn lost(&self, shard: u32) {
        if self.lock().remove(&shard).is_some() {
            tracing::warn!(shard, "lease lost: another replica runs its checks now");
        }
    }

    pub(crate) fn held(&self) -> Vec<u32> {
        self.lock().keys().copied().collect()
    }

    /// How often `keep` runs.
    pub(crate) fn round(&self) -> Duration {
        self.lease / ROUNDS
    }

    /// One round: says this replica is alive, renews what it holds, gives
    /// back what is over its share, takes free shards up to it.
    pub(crate) async fn keep(&self, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
        let ttl_ms = (self.lease - self.round()).as_millis() as u64;
        let now_ms = crate::clock::unix_millis();
        let (_, _, alive): (i64, i64, u32) = redis::pipe()
            .zadd(replicas_key(), &self.me, now_ms + ttl_ms)
            .zrembyscore(replicas_key(), "-inf", now_ms)
            .zcard(replicas_key())
            .query_async(redis)
            .await?;
        let share = SHARDS.div_ceil(alive.max(1)) as usize;
        let held = self.lock().clone();
        for (shard, holder) in held {
            let kept: i32 = self
                .renew
                .key(lease_key(shard))
                .arg(&holder)
                .arg(ttl_ms)
                .invoke_async(redis)
                .await?;
            if kept == 0 {
                self.lost(shard);
            }
        }
        let over: Vec<(u32, String)> = {
            let held = self.lock();
            held.iter()
                .skip(share)
                .map(|(s, h)| (*s, h.clone()))
                .collect()
        };
        for (shard, holder) in over {
            self.give_back(redis, shard, &holder).await?;
        }
        // Each replica looks at the shards from its own place in the
        // circle, so replicas starting together mostly ask for different ones.
        let start = u32::from_be_bytes(Sha256::digest(self.me.as_bytes())[..4].try_into().unwrap());
        for step in 0..SHARDS {
            let shard = start.wrapping_add(step) % SHARDS;
            let (enough, have) = {
                let held = self.lock();
                (held.len() >= share, held.contains_key(&shard))
            };
            if enough {
                break;
            }
            if have {
                continue;
            }
            let taken: Option<String> = self
                .acquire
                .key(lease_key(shard))
                .key(fence_key(shard))
                .arg(&self.me)
                .arg(ttl_ms)
                .invoke_async(redis)
                .await?;
            if let Some(holder) = taken {
                self.lock().insert(shard, holder);
            }
        }
        Ok(())
    }

    /// Gives every shard back and leaves, so that the others take over at
    /// once instead of when the leases run out (a clean shutdown).
    pub(crate) async fn leave(&self, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
        let held = self.lock().clone();
        for (shard, holder) in held {
            self.give_back(redis, shard, &holder).await?;
        }
        redis::cmd("ZREM")
            .arg(replicas_key())
            .arg(&self.me)
            .query_async::<i64>(redis)
            .await?;
        Ok(())
    }

    async fn give_back(
        &self,
        redis: &mut ConnectionManager,
        shard: u32,
        holder: &str,
    ) -> redis::RedisResult<()> {
        self.lock().remove(&shard);
        self.renew
            .key(lease_key(shard))
            .arg(holder)
            .arg(0)
            .invoke_async::<i32>(redis)
            .await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, String>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}
