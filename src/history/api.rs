//! The history's JSON API: `GET /api/checks/{id}/uptime` and
//! `GET /api/checks/{id}/history?range=24h`. Each request reads on the
//! blocking pool, through a read-only SQLite connection of its own (WAL
//! lets it read while the writer writes) or the Postgres pool, so a slow
//! disk or database never stalls the server.

use super::backend::{Backend, Change, Rollup, span_for};
use super::{PgStore, SqliteStore};
use crate::status::{
    CheckHistory, CheckId, FEED, FeedItem, RANGES, Trend, UPTIME_WINDOWS, range_ms,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// History reads running at once (see `blocking_read`).
const CONCURRENT_READS: usize = 4;
/// How long a history read waits for its turn before it is refused.
const READ_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the history is, if it is on, and the public trends read last.
#[derive(Clone, Default)]
pub(crate) struct HistoryStore(pub Option<Database>, pub PublicTrends);

/// The database history is read from.
#[derive(Clone)]
pub(crate) enum Database {
    Sqlite(Arc<PathBuf>),
    Postgres(Arc<PgStore>),
}

/// The public status page's trends, read at most once per `PUBLIC_TRENDS_AGE`:
/// anyone may load that page, so a crowd (or one client in a loop) must not
/// turn into a history read each, which would hold the read slots that
/// signed-in users' pages wait for. One read at a time (single flight):
/// while it runs, the others take the trends read last, or wait for it if
/// there are none yet.
#[derive(Clone, Default)]
pub(crate) struct PublicTrends {
    kept: Arc<std::sync::Mutex<Option<KeptTrends>>>,
    reading: Arc<tokio::sync::Mutex<()>>,
}

struct KeptTrends {
    at: std::time::Instant,
    /// The checks asked for: a check made public since is read afresh.
    ids: std::collections::HashSet<CheckId>,
    trends: HashMap<CheckId, Trend>,
}

const PUBLIC_TRENDS_AGE: std::time::Duration = std::time::Duration::from_secs(10);

impl PublicTrends {
    fn fresh(&self, ids: &std::collections::HashSet<CheckId>) -> Option<HashMap<CheckId, Trend>> {
        self.kept_for(ids, |kept| kept.at.elapsed() < PUBLIC_TRENDS_AGE)
    }

    /// The trends read last for the same checks, however old.
    fn previous(
        &self,
        ids: &std::collections::HashSet<CheckId>,
    ) -> Option<HashMap<CheckId, Trend>> {
        self.kept_for(ids, |_| true)
    }

    fn kept_for(
        &self,
        ids: &std::collections::HashSet<CheckId>,
        good: impl Fn(&KeptTrends) -> bool,
    ) -> Option<HashMap<CheckId, Trend>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let kept = kept.as_ref()?;
        (kept.ids == *ids && good(kept)).then(|| kept.trends.clone())
    }

    fn keep(&self, ids: std::collections::HashSet<CheckId>, trends: &HashMap<CheckId, Trend>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        *kept = Some(KeptTrends {
            at: std::time::Instant::now(),
            ids,
            trends: trends.clone(),
        });
    }
}

#[derive(Serialize)]
pub(crate) struct Uptime {
    id: String,
    /// Share of results not down, per window; `null` without results.
    uptime: std::collections::BTreeMap<&'static str, Option<f64>>,
}

#[derive(Serialize)]
pub(crate) struct History {
    id: String,
    range: String,
    /// 60 (per-minute points) up to 24 h, 3600 (per hour) beyond.
    span_s: u64,
    points: Vec<Rollup>,
    changes: Vec<Change>,
}

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

/// What the dashboard needs from the history, in one read: every check's
/// trend and the newest changes for the feed (named as the checks are now).
/// Empty when history is off or cannot be read; the cards then show their
/// current status only.
pub(crate) async fn board_history(
    file: &HistoryStore,
    names: HashMap<CheckId, String>,
) -> (HashMap<CheckId, Trend>, Vec<FeedItem>) {
    let Some(source) = file.0.clone() else {
        return Default::default();
    };
    let now = crate::clock::unix_millis();
    let read = blocking_read(source, move |store| {
        Ok((store.trends(now)?, store.recent_changes(FEED)?))
    })
    .await;
    let (trends, changes) = match read {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "page rendered without the history");
            return Default::default();
        }
    };
    let trends = trends.into_iter().map(|(id, t)| (CheckId(id), t)).collect();
    let feed = changes
        .into_iter()
        .filter_map(|(id, change)| {
            let id = CheckId(id);
            Some(FeedItem {
                name: names.get(&id).cloned().unwrap_or_else(|| id.0.clone()),
                id,
                at_ms: change.at_ms,
                from: change.from?,
                to: change.to,
                detail: change.detail.unwrap_or_default(),
            })
        })
        .collect();
    (trends, feed)
}

/// The trends of the checks in `ids` only: what the public status page
/// shows beside each public check. Empty when history is off or cannot be
/// read.
pub(crate) async fn trends_of(
    file: &HistoryStore,
    ids: std::collections::HashSet<CheckId>,
) -> HashMap<CheckId, Trend> {
    let Some(source) = file.0.clone() else {
        return HashMap::new();
    };
    let public = &file.1;
    if let Some(trends) = public.fresh(&ids) {
        return trends;
    }
    let _turn = match public.reading.try_lock() {
        Ok(turn) => turn,
        Err(_) => match public.previous(&ids) {
            Some(trends) => return trends,
            None => public.reading.lock().await,
        },
    };
    // Read by whoever had the turn before.
    if let Some(trends) = public.fresh(&ids) {
        return trends;
    }
    let now = crate::clock::unix_millis();
    match blocking_read(source, move |store| store.trends(now)).await {
        Ok(trends) => {
            let trends = trends
                .into_iter()
                .map(|(id, trend)| (CheckId(id), trend))
                .filter(|(id, _)| ids.contains(id))
                .collect();
            file.1.keep(ids, &trends);
            trends
        }
        Err(error) => {
            tracing::warn!(%error, "status page rendered without the history");
            HashMap::new()
        }
    }
}

/// One check's history for its detail page; `None` when history is off.
pub(crate) async fn check_history(
    file: &HistoryStore,
    id: String,
    range: String,
    range_ms: u64,
) -> Result<Option<CheckHistory>, ReadError> {
    let Some(source) = file.0.clone() else {
        return Ok(None);
    };
    let now = crate::clock::unix_millis();
    blocking_read(source, move |store| {
        store.check_history(&id, &range, range_ms, now)
    })
    .await
    .map(Some)
}

/// `GET /api/checks/{id}/uptime`
pub(crate) async fn uptime(
    State(file): State<HistoryStore>,
    Path(id): Path<String>,
) -> Result<Json<Uptime>, ReadError> {
    let now = crate::clock::unix_millis();
    read(file, move |store| {
        let mut uptime = std::collections::BTreeMap::new();
        for (name, window_ms) in UPTIME_WINDOWS {
            uptime.insert(name, store.uptime(&id, now.saturating_sub(window_ms))?);
        }
        Ok(Uptime { id, uptime })
    })
    .await
}

/// `GET /api/checks/{id}/history?range=1h|24h|7d|30d|90d` (24h if unset)
pub(crate) async fn history(
    State(file): State<HistoryStore>,
    Path(id): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<Json<History>, ReadError> {
    let range = query.range.unwrap_or_else(|| "24h".into());
    let range_ms = range_ms(&range).ok_or(ReadError::UnknownRange(range.clone()))?;
    let since = crate::clock::unix_millis().saturating_sub(range_ms);
    let span_s = span_for(range_ms);
    read(file, move |store| {
        Ok(History {
            points: store.rollups(&id, span_s, since)?,
            changes: store.changes(&id, since)?,
            id,
            range,
            span_s,
        })
    })
    .await
}

async fn read<T: Serialize + Send + 'static>(
    file: HistoryStore,
    query: impl FnOnce(&dyn Backend) -> super::Result<T> + Send + 'static,
) -> Result<Json<T>, ReadError> {
    let source = file.0.ok_or(ReadError::Off)?;
    blocking_read(source, query).await.map(Json)
}

/// Runs `query` on the blocking pool: on a read-only SQLite connection of
/// its own, or a connection from the Postgres pool.
///
/// At most `CONCURRENT_READS` run at once, for every path in (pages, server
/// functions, the API): each holds a blocking thread and a file handle, and
/// a client asking for 90-day histories in a loop must not take them all.
/// A read that waits longer than `READ_QUEUE_WAIT` for its turn is refused
/// (503) rather than queued without end.
async fn blocking_read<T: Send + 'static>(
    source: Database,
    query: impl FnOnce(&dyn Backend) -> super::Result<T> + Send + 'static,
) -> Result<T, ReadError> {
    static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_READS);
    let turn = tokio::time::timeout(READ_QUEUE_WAIT, READS.acquire()).await;
    let Ok(Ok(_turn)) = turn else {
        return Err(ReadError::Busy);
    };
    tokio::task::spawn_blocking(move || {
        let answer = match source {
            Database::Sqlite(path) => SqliteStore::open_read_only(&path)
                .and_then(|store| query(&store).map_err(|e| e.to_string())),
            Database::Postgres(store) => query(&store.reader()).map_err(|e| e.to_string()),
        };
        answer.map_err(ReadError::Failed)
    })
    .await
    .map_err(|e| ReadError::Failed(e.to_string()))?
}

/// Why the history could not answer; each says its own HTTP status.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Pulse runs with `--no-history`.
    Off,
    /// Every read slot was taken for `READ_QUEUE_WAIT`.
    Busy,
    /// A range the API does not offer.
    UnknownRange(String),
    /// The database failed.
    Failed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Off => f.write_str("history is off (Pulse runs with --no-history)"),
            ReadError::Busy => f.write_str("the history is busy; try again shortly"),
            ReadError::UnknownRange(range) => {
                let known: Vec<&str> = RANGES.iter().map(|(name, _)| *name).collect();
                write!(
                    f,
                    "unknown range `{range}`; use one of {}",
                    known.join(", ")
                )
            }
            ReadError::Failed(why) => write!(f, "reading the history failed: {why}"),
        }
    }
}

/// `{"error": "…"}` with the status that says what went wrong.
impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        let status = match self {
            ReadError::Off => StatusCode::NOT_FOUND,
            ReadError::UnknownRange(_) => StatusCode::BAD_REQUEST,
            ReadError::Busy | ReadError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let error = self.to_string();
        (status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}
