//! The shared log: one capped Redis Stream of results, followed by every
//! replica into its hub. Its epoch (`{pulse}:epoch`) names one life of the
//! log: when Redis loses its data (a restart without persistence) the key
//! is gone with the stream, the first replica to notice starts a new epoch
//! above every id it has seen, and each replica sends its clients a fresh
//! snapshot in-band, without dropping a connection.

use super::{Cluster, Skipped};
use crate::hub::Hub;
use crate::hub::ids;
use crate::shutdown::Shutdown;
use crate::status::CheckStatus;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(crate) const LOG: &str = "{pulse}:log";
pub(crate) const EPOCH: &str = "{pulse}:epoch";
/// Each check's newest result, for a replica that starts.
pub(crate) const CURRENT: &str = "{pulse}:current";
/// The first id of this epoch's log: whether the log was trimmed since.
pub(crate) const FIRST: &str = "{pulse}:first";

/// How long one read waits for new events; also how soon a new epoch is
/// noticed while nothing is published.
const READ_WAIT: Duration = Duration::from_secs(1);
/// Events read at once.
const READ_COUNT: usize = 512;

enum Ended {
    Shutdown,
    NewEpoch,
}

pub(crate) async fn follow(cluster: Arc<Cluster>, hub: Arc<Hub>, shutdown: Shutdown) {
    let reader = loop {
        match reading_connection(&cluster.url).await {
            Ok(reader) => break reader,
            Err(e) => {
                cluster.set_redis_up(false);
                tracing::warn!(error = %e, "cluster: cannot read the log");
                if !pause(&shutdown).await {
                    return;
                }
            }
        }
    };
    loop {
        let mut redis = reader.clone();
        match follow_epoch(&cluster, &hub, &mut redis, &shutdown).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::NewEpoch) => continue,
            Err(e) => {
                cluster.set_redis_up(false);
                tracing::warn!(error = %e, "cluster: following the log failed; retrying");
                if !pause(&shutdown).await {
                    return;
                }
            }
        }
    }
}

/// A second, then `true`; `false` at shutdown.
pub(super) async fn pause(shutdown: &Shutdown) -> bool {
    tokio::select! {
        _ = shutdown.triggered() => false,
        () = tokio::time::sleep(Duration::from_secs(1)) => true,
    }
}

pub(super) async fn reading_connection(url: &str) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(super::COMMAND_TIMEOUT))
        .set_response_timeout(Some(READ_WAIT + super::COMMAND_TIMEOUT));
    ConnectionManager::new_with_config(client, config).await
}

/// Follows the log while it stays in one epoch.
async fn follow_epoch(
    cluster: &Cluster,
    hub: &Hub,
    redis: &mut ConnectionManager,
    shutdown: &Shutdown,
) -> redis::RedisResult<Ended> {
    let epoch = current_epoch(cluster, redis).await?;
    let known = cluster
        .epoch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut after = if epoch != known {
        start_epoch(cluster, hub, redis, &epoch).await?
    } else {
        ids::log_id(cluster.newest.load(Ordering::Relaxed))
    };
    cluster.set_redis_up(true);
    while !shutdown.is_triggered() {
        let read: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_WAIT.as_millis() as u64)
            .arg("STREAMS")
            .arg(LOG)
            .arg(&after)
            .query_async(redis)
            .await?;
        for entry in read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            // Past it even when it is no result of Pulse's (written by
            // hand, say): reading it again would loop.
            apply(cluster, hub, &entry, true);
            after = entry.id;
        }
        let now: Option<String> = redis::cmd("GET").arg(EPOCH).query_async(redis).await?;
        if now.as_deref() != Some(epoch.as_str()) {
            tracing::warn!(
                "cluster: the shared log began again (Redis lost its data); clients get a snapshot"
            );
            return Ok(Ended::NewEpoch);
        }
    }
    Ok(Ended::Shutdown)
}

/// The log's epoch, begun now if there is none (a new cluster, or Redis
/// lost its data): above every id this replica has seen, so that ids only
/// grow for its clients too. One that is no event id (written by hand:
/// no id could follow it, or none a browser holds) is replaced the same
/// way, by whichever replica reads it first.
async fn current_epoch(
    cluster: &Cluster,
    redis: &mut ConnectionManager,
) -> redis::RedisResult<String> {
    let newest = cluster.newest.load(Ordering::Relaxed);
    let start = ids::epoch_start(crate::clock::unix_millis(), newest);
    let candidate = ids::log_id(start);
    let _: Option<String> = redis::cmd("SET")
        .arg(EPOCH)
        .arg(&candidate)
        .arg("NX")
        .query_async(redis)
        .await?;
    let epoch: String = redis::cmd("GET").arg(EPOCH).query_async(redis).await?;
    if ids::event_id(&epoch).is_some() {
        return Ok(epoch);
    }
    cluster.skips.count(Skipped::EpochOutOfRange, &epoch);
    let _: redis::Value = redis::Script::new(REPLACE_EPOCH)
        .key(EPOCH)
        .arg(&epoch)
        .arg(&candidate)
        .invoke_async(redis)
        .await?;
    redis::cmd("GET").arg(EPOCH).query_async(redis).await
}

/// Sets KEYS[1] to ARGV[2] only while it still holds ARGV[1]: of replicas
/// replacing the same epoch, the first wins and the others read its.
const REPLACE_EPOCH: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('SET', KEYS[1], ARGV[2]) end return false";

/// Takes up a new epoch: the hub starts its ids there and tells every
/// client, then gets what the log holds of it (its newest events, and each
/// check's newest result for checks with none among them). Returns the
/// log id to read after.
async fn start_epoch(
    cluster: &Cluster,
    hub: &Hub,
    redis: &mut ConnectionManager,
    epoch: &str,
) -> redis::RedisResult<String> {
    let base = ids::event_id(epoch).unwrap_or(0);
    let (newest_first, first, current): (StreamRangeReply, Option<String>, Vec<(String, String)>) =
        redis::pipe()
            .cmd("XREVRANGE")
            .arg(LOG)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(cluster.log_length)
            .cmd("GET")
            .arg(FIRST)
            .cmd("HGETALL")
            .arg(CURRENT)
            .query_async(redis)
            .await?;
    let held: Vec<StreamId> = newest_first.ids.into_iter().rev().collect();
    // Replayable after the epoch's start only while the log holds it all.
    let floor = match held.first() {
        Some(oldest) if first.as_deref() != Some(oldest.id.as_str()) => {
            ids::event_id(&oldest.id).unwrap_or(base)
        }
        _ => base,
    };
    *cluster.epoch.lock().unwrap_or_else(|p| p.into_inner()) = epoch.to_string();
    cluster.newest.fetch_max(floor, Ordering::Relaxed);
    hub.begin_epoch(floor);
    let mut after = ids::log_id(floor);
    for entry in &held {
        apply(cluster, hub, entry, false);
        after = entry.id.clone();
    }
    for (_, json) in current {
        if let Ok(status) = serde_json::from_str::<CheckStatus>(&json) {
            hub.adopt(status);
        }
    }
    tracing::info!(
        epoch,
        events = held.len(),
        "cluster: following the shared log"
    );
    Ok(after)
}

/// One entry of the log into the hub. One that is no result of Pulse's
/// (written by hand, or garbage), or of a check this replica's config does
/// not have, is skipped and counted, never fatal: it reaches no client,
/// no history and no alert.
fn apply(cluster: &Cluster, hub: &Hub, entry: &StreamId, keep: bool) {
    let (id, status) = match result_of(entry) {
        Ok(result) => result,
        Err(skipped) => return cluster.skips.count(skipped, &entry.id),
    };
    cluster.newest.fetch_max(id, Ordering::Relaxed);
    if !cluster.has_check(&status.id) {
        return cluster.skips.count(Skipped::UnknownCheck, &status.id.0);
    }
    if keep {
        let entered_ms = id / ids::PER_MILLISECOND;
        let lag = crate::clock::unix_millis().saturating_sub(entered_ms);
        cluster.metrics.cluster_lag_ms.set(lag as i64);
    }
    hub.publish_shared(id, status, keep);
}

/// The event id and result of one entry, if it is one Pulse wrote.
fn result_of(entry: &StreamId) -> Result<(u64, CheckStatus), Skipped> {
    let id = ids::event_id(&entry.id).ok_or(Skipped::IdOutOfRange)?;
    let json: String = entry.get("status").ok_or(Skipped::NotAResult)?;
    let status = serde_json::from_str(&json).map_err(|_| Skipped::NotAResult)?;
    Ok((id, status))
}
