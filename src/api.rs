//! The plain JSON endpoints: the snapshot for scripts, liveness for probes.

use crate::hub::Hub;
use crate::status::Snapshot;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

/// `GET /api/status`: every current status.
pub async fn status(State(hub): State<Arc<Hub>>) -> Json<Snapshot> {
    Json(hub.snapshot())
}

#[derive(Serialize)]
pub struct Liveness {
    status: &'static str,
}

/// `GET /healthz`: 200 whenever the process serves requests. Open to
/// anyone, so it says nothing more (how many watch is in `/metrics`).
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}
