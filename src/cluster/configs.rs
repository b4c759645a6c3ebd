//! Whether every replica runs the same config. Each replica keeps the
//! fingerprint of the config it runs in one Redis hash, every lease/3, and
//! compares it with those of the replicas alive; when they differ, every
//! replica's dashboard says which runs what (a deploy half done, a file
//! edited on one machine).

use super::leases::replicas_key;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::collections::BTreeMap;

fn configs_key() -> String {
    format!("{}:configs", super::KEYS)
}

/// Says this replica runs `mine`, and how the replicas alive differ, if
/// they do.
pub(crate) async fn compare(
    redis: &mut ConnectionManager,
    me: &str,
    mine: &str,
) -> redis::RedisResult<Option<String>> {
    let now_ms = crate::clock::unix_millis();
    let (_, alive, kept): ((), Vec<String>, BTreeMap<String, String>) = redis::pipe()
        .hset(configs_key(), me, mine)
        .zrangebyscore(replicas_key(), now_ms, "+inf")
        .hgetall(configs_key())
        .query_async(redis)
        .await?;
    let gone: Vec<&String> = kept
        .keys()
        .filter(|r| !alive.contains(r) && *r != me)
        .collect();
    if !gone.is_empty() {
        let _: () = redis.hdel(configs_key(), gone).await?;
    }
    let others: BTreeMap<&String, &String> = kept
        .iter()
        .filter(|(replica, _)| alive.contains(replica) && replica.as_str() != me)
        .collect();
    Ok(difference(me, mine, &others))
}

/// What the dashboard says when some of `others` run another config.
fn difference(me: &str, mine: &str, others: &BTreeMap<&String, &String>) -> Option<String> {
    let differing: Vec<String> = others
        .iter()
        .filter(|(_, theirs)| theirs.as_str() != mine)
        .map(|(replica, theirs)| format!("{replica} runs {theirs}"))
        .collect();
    if differing.is_empty() {
        return None;
    }
    Some(format!(
        "The replicas do not all run the same config: this one ({me}) runs {mine}; {}. \
         Every replica should read the same file.",
        differing.join(", ")
    ))
}

/// At shutdown: this replica runs nothing any more.
pub(crate) async fn forget(redis: &mut ConnectionManager, me: &str) -> redis::RedisResult<()> {
    redis.hdel(configs_key(), me).await
}
