//! The history's JSON API: `GET /api/checks/{id}/uptime` and
//! `GET /api/checks/{id}/history?range=24h`. Each request reads through a
//! read-only connection of its own on the blocking pool (WAL lets it read
//! while the writer writes), so a slow disk never stalls the server.

use super::store::{Change, Rollup, Store};
use crate::status::{CheckHistory, CheckId, FEED, FeedItem, Trend};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the history is, if it is on.
#[derive(Clone, Default)]
pub struct HistoryFile(pub Option<Arc<PathBuf>>);

/// The windows of `uptime`, and the ranges `history` accepts.
const WINDOWS: [(&str, u64); 5] = [
    ("1h", 3600),
    ("24h", 24 * 3600),
    ("7d", 7 * 24 * 3600),
    ("30d", 30 * 24 * 3600),
    ("90d", 90 * 24 * 3600),
];

#[derive(Serialize)]
pub struct Uptime {
    id: String,
    /// Share of results not down, per window; `null` without results.
    uptime: std::collections::BTreeMap<&'static str, Option<f64>>,
}

#[derive(Serialize)]
pub struct History {
    id: String,
    range: String,
    /// 60 (per-minute points) up to 24 h, 3600 (per hour) beyond.
    span_s: u64,
    points: Vec<Rollup>,
    changes: Vec<Change>,
}

#[derive(Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

/// Every check's trend for the dashboard; empty when history is off or
/// cannot be read (the cards then show their current status only).
pub async fn trends(file: &HistoryFile) -> HashMap<CheckId, Trend> {
    let Some(path) = file.0.clone() else {
        return HashMap::new();
    };
    let now = crate::checks::unix_millis();
    let read = tokio::task::spawn_blocking(move || {
        Store::open_read_only(&path)?
            .trends(now)
            .map_err(|e| format!("reading the history failed: {e}"))
    })
    .await;
    match read {
        Ok(Ok(trends)) => trends.into_iter().map(|(id, t)| (CheckId(id), t)).collect(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "cards rendered without their history");
            HashMap::new()
        }
        Err(_) => HashMap::new(),
    }
}

/// The newest changes of health for the page's feed, with the names the
/// checks have now; empty when history is off or unreadable.
pub async fn feed(file: &HistoryFile, names: HashMap<CheckId, String>) -> Vec<FeedItem> {
    let Some(path) = file.0.clone() else {
        return Vec::new();
    };
    let read = tokio::task::spawn_blocking(move || {
        Store::open_read_only(&path)?
            .recent_changes(FEED)
            .map_err(|e| format!("reading the history failed: {e}"))
    })
    .await;
    let Ok(Ok(changes)) = read else {
        return Vec::new();
    };
    changes
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
        .collect()
}

/// One check's history for its detail page; `None` when history is off.
pub async fn check_history(
    file: &HistoryFile,
    id: String,
    range: String,
    range_ms: u64,
) -> Result<Option<CheckHistory>, String> {
    let Some(path) = file.0.clone() else {
        return Ok(None);
    };
    let now = crate::checks::unix_millis();
    tokio::task::spawn_blocking(move || {
        Store::open_read_only(&path)?
            .check_history(&id, &range, range_ms, now)
            .map(Some)
            .map_err(|e| format!("reading the history failed: {e}"))
    })
    .await
    .map_err(|_| "reading the history failed".to_string())?
}

/// `GET /api/checks/{id}/uptime`
pub async fn uptime(State(file): State<HistoryFile>, Path(id): Path<String>) -> Response {
    let now = crate::checks::unix_millis();
    read(file, move |store| {
        let mut uptime = std::collections::BTreeMap::new();
        for (name, secs) in &WINDOWS[..4] {
            uptime.insert(*name, store.uptime(&id, now.saturating_sub(secs * 1000))?);
        }
        Ok(Uptime { id, uptime })
    })
    .await
}

/// `GET /api/checks/{id}/history?range=1h|24h|7d|30d|90d` (24h if unset)
pub async fn history(
    State(file): State<HistoryFile>,
    Path(id): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let range = query.range.unwrap_or_else(|| "24h".into());
    let Some(&(_, secs)) = WINDOWS.iter().find(|(name, _)| *name == range) else {
        let known: Vec<&str> = WINDOWS.iter().map(|(name, _)| *name).collect();
        return problem(
            StatusCode::BAD_REQUEST,
            format!("unknown range `{range}`; use one of {}", known.join(", ")),
        );
    };
    let since = crate::checks::unix_millis().saturating_sub(secs * 1000);
    let span_s = if Duration::from_secs(secs) <= Duration::from_secs(24 * 3600) {
        60
    } else {
        3600
    };
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
    file: HistoryFile,
    query: impl FnOnce(&Store) -> rusqlite::Result<T> + Send + 'static,
) -> Response {
    let Some(path) = file.0 else {
        return problem(
            StatusCode::NOT_FOUND,
            "history is off; start Pulse with --history FILE".into(),
        );
    };
    let answer = tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&path)?;
        query(&store).map_err(|e| format!("reading the history failed: {e}"))
    })
    .await;
    match answer {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(error)) => problem(StatusCode::SERVICE_UNAVAILABLE, error),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reading the history failed".into(),
        ),
    }
}

fn problem(status: StatusCode, error: String) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}
