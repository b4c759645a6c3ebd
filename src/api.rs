//! The plain JSON endpoints: the snapshot for scripts, liveness for probes.

use crate::alerts::{Alerts, AlertsReport, LogUnreadable};
use crate::hub::{Hub, SnapshotFor};
use crate::status::{Audience, PublicSnapshot};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use std::sync::Arc;

/// `GET /api/status`: every current status the asker may see: everything
/// for the private audience, the public checks' `PublicStatus` for the
/// public.
pub(crate) async fn status(
    State(hub): State<Arc<Hub>>,
    Extension(audience): Extension<Audience>,
) -> Json<SnapshotFor> {
    Json(hub.snapshot_for(audience))
}

/// `GET /api/public/status`: what the public status page shows, whoever asks.
pub(crate) async fn public_status(State(hub): State<Arc<Hub>>) -> Json<PublicSnapshot> {
    Json(hub.public_snapshot())
}

/// `GET /api/alerts` (private): where each check's alert stands, the
/// notifiers and whether they fail, and the last 100 messages' outcomes.
pub(crate) async fn alerts(
    State(hub): State<Arc<Hub>>,
    State(alerts): State<Arc<Alerts>>,
) -> Result<Json<AlertsReport>, LogUnreadable> {
    let ids: Vec<_> = hub.snapshot().checks.into_iter().map(|c| c.id).collect();
    let report = tokio::task::spawn_blocking(move || alerts.report(&ids)).await;
    report
        .unwrap_or_else(|e| Err(LogUnreadable::from(e)))
        .map(Json)
}

/// `GET` or `POST /api/push/{token}`: a push check's ping. The token is
/// the whole authentication (see `checks::push`); an unknown one is a
/// plain 404 that says nothing of which tokens exist.
pub(crate) async fn push(
    State(pushes): State<Arc<crate::checks::Pushes>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> impl axum::response::IntoResponse {
    // A cache between the job and Pulse must not answer a ping itself.
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    match pushes.ping(&token) {
        true => (axum::http::StatusCode::OK, no_store, "ok\n"),
        false => (
            axum::http::StatusCode::NOT_FOUND,
            no_store,
            "no such push check\n",
        ),
    }
}

#[derive(Serialize)]
pub(crate) struct Liveness {
    status: &'static str,
}

/// `GET /healthz`: 200 whenever the process serves requests. Open to
/// anyone, so it says nothing more (how many watch is in `/metrics`).
pub(crate) async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}
