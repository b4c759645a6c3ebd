//! Sign-outs on every replica. A session cookie is valid on every replica
//! that has the same session key; a sign-out must end it on all of them.
//! Each sign-out goes into a small Redis Stream of its own
//! (`{pulse}:signed-out`, capped), which every replica follows, and reads
//! whole when it starts, so that a replica started after a sign-out
//! refuses the cookie too.
//!
//! Until a sign-out reaches a replica (at once while Redis answers), the
//! session still works there; one Redis cannot take would be tried again
//! each second, and it is always ended where it was made.

use super::log::{pause, reading_connection};
use crate::access::Access;
use crate::shutdown::Shutdown;
use redis::aio::ConnectionManager;
use redis::streams::StreamReadReply;
use std::collections::VecDeque;
use std::sync::Arc;

fn key() -> String {
    format!("{}:signed-out", super::KEYS)
}

/// Sign-outs kept in Redis: more than can be alive at once in any
/// reasonable install (each lasts a session's lifetime at most).
const KEPT: usize = 10_000;
/// How long a read waits for a new sign-out.
const READ_WAIT_MS: u64 = 1_000;

/// Publishes this replica's sign-outs; ends at shutdown.
pub async fn publish(mut redis: ConnectionManager, access: Arc<Access>, shutdown: Shutdown) {
    let mut made = access.sign_outs();
    let mut waiting: VecDeque<String> = VecDeque::new();
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            session = made.recv() => match session {
                Ok(session) => waiting.push_back(session),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!(n, "cluster: sign-outs made faster than shared; those are ended here only");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(std::time::Duration::from_secs(1)), if !waiting.is_empty() => {}
        }
        while let Some(session) = waiting.front() {
            let added: redis::RedisResult<String> = redis::cmd("XADD")
                .arg(key())
                .arg("MAXLEN")
                .arg("~")
                .arg(KEPT)
                .arg("*")
                .arg("session")
                .arg(session)
                .query_async(&mut redis)
                .await;
            match added {
                Ok(_) => drop(waiting.pop_front()),
                Err(error) => {
                    tracing::warn!(%error, "cluster: a sign-out is not shared yet; trying again");
                    break;
                }
            }
        }
        waiting.truncate(KEPT);
    }
}

/// Follows every replica's sign-outs into this one's access; ends at
/// shutdown.
pub async fn follow(url: String, access: Arc<Access>, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        let followed = match reading_connection(&url).await {
            Ok(mut redis) => follow_from_start(&mut redis, &access, &shutdown).await,
            Err(error) => Err(error),
        };
        if let Err(error) = followed {
            tracing::warn!(%error, "cluster: following sign-outs failed; trying again");
        }
        if !pause(&shutdown).await {
            return;
        }
    }
}

/// Reads every sign-out kept, then each new one. From the start again
/// after any error: the stream is small, and after Redis lost its data the
/// old position would be past every new entry.
async fn follow_from_start(
    redis: &mut ConnectionManager,
    access: &Access,
    shutdown: &Shutdown,
) -> redis::RedisResult<()> {
    let mut after = "0-0".to_string();
    while !shutdown.is_triggered() {
        let read: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(READ_WAIT_MS)
            .arg("STREAMS")
            .arg(key())
            .arg(&after)
            .query_async(redis)
            .await?;
        for entry in read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            if let Some(session) = entry.get::<String>("session") {
                access.signed_out_elsewhere(&session);
            }
            after = entry.id;
        }
    }
    Ok(())
}
