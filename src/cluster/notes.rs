//! Small notes every replica must learn of: a sign-out (`sessions`), a
//! push check's ping (`pings`). Each kind is a capped Redis Stream of its
//! own, which every replica follows, and reads whole when it starts, so a
//! replica started later knows them too. A kind says how much of its
//! stream is kept (`Retention`): a sign-out as long as its session could live,
//! since a count would let a user who signs out in a loop push the others'
//! out.
//!
//! A note Redis cannot take is tried again each second; until it reaches
//! a replica (at once while Redis answers), that replica does not know it.

use super::log::{pause, reading_connection};
use super::skipped::{Skipped, Skips};
use crate::shutdown::Shutdown;
use redis::aio::ConnectionManager;
use redis::streams::StreamReadReply;
use std::collections::VecDeque;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// Notes made here and not shared yet, at most (while Redis does not
/// answer); past it the newest wait no more.
const WAITING: usize = 10_000;

/// How much of a stream of notes Redis keeps for a replica that starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Retention {
    /// The newest this many.
    Newest(usize),
    /// Those added within this long.
    Within(std::time::Duration),
}

impl Retention {
    /// The trimming part of an `XADD` (approximate: Redis may keep more,
    /// never less).
    fn trim(self, cmd: &mut redis::Cmd) {
        match self {
            Retention::Newest(n) => cmd.arg("MAXLEN").arg("~").arg(n),
            Retention::Within(age) => {
                let oldest_ms = crate::clock::unix_millis().saturating_sub(age.as_millis() as u64);
                cmd.arg("MINID").arg("~").arg(oldest_ms)
            }
        };
    }
}
/// How long a read waits for a new note.
const READ_WAIT_MS: u64 = 1_000;
/// The field each note is kept in.
const FIELD: &str = "note";

/// Appends each note `made` on this replica to the stream at `key`; ends
/// at shutdown.
pub(crate) async fn publish(
    mut redis: ConnectionManager,
    key: String,
    kept: Retention,
    mut made: Receiver<String>,
    shutdown: Shutdown,
) {
    let mut waiting: VecDeque<String> = VecDeque::new();
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            note = made.recv() => match note {
                Ok(note) => waiting.push_back(note),
                Err(RecvError::Lagged(n)) => {
                    tracing::error!(n, %key, "cluster: notes made faster than shared; those stay here");
                }
                Err(RecvError::Closed) => return,
            },
            () = tokio::time::sleep(std::time::Duration::from_secs(1)), if !waiting.is_empty() => {}
        }
        while let Some(note) = waiting.front() {
            let mut add = redis::cmd("XADD");
            add.arg(&key);
            kept.trim(&mut add);
            let added: redis::RedisResult<String> = add
                .arg("*")
                .arg(FIELD)
                .arg(note)
                .query_async(&mut redis)
                .await;
            match added {
                Ok(_) => drop(waiting.pop_front()),
                Err(error) => {
                    tracing::warn!(%error, %key, "cluster: a note is not shared yet; trying again");
                    break;
                }
            }
        }
        waiting.truncate(WAITING);
    }
}

/// Gives every note of the stream at `key` to `learn`, this replica's own
/// too, the old ones first; ends at shutdown. A note `learn` does not take
/// is counted in `skips`.
pub(crate) async fn follow(
    url: String,
    key: String,
    learn: impl Fn(&str) -> Result<(), Skipped> + Sync,
    skips: std::sync::Arc<Skips>,
    shutdown: Shutdown,
) {
    while !shutdown.is_triggered() {
        let followed = match reading_connection(&url).await {
            Ok(mut redis) => follow_from_start(&mut redis, &key, &learn, &skips, &shutdown).await,
            Err(error) => Err(error),
        };
        if let Err(error) = followed {
            tracing::warn!(%error, %key, "cluster: following notes failed; trying again");
        }
        if !pause(&shutdown).await {
            return;
        }
    }
}

/// Reads every note kept, then each new one. From the start again after
/// any error: the stream is small, and after Redis lost its data the old
/// position would be past every new entry.
async fn follow_from_start(
    redis: &mut ConnectionManager,
    key: &str,
    learn: &(impl Fn(&str) -> Result<(), Skipped> + Sync),
    skips: &Skips,
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
            .arg(key)
            .arg(&after)
            .query_async(redis)
            .await?;
        for entry in read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            if let Some(note) = entry.get::<String>(FIELD)
                && let Err(skipped) = learn(&note)
            {
                skips.count(skipped, &entry.id);
            }
            after = entry.id;
        }
    }
    Ok(())
}
