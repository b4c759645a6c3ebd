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
    connected_clients: usize,
}

/// `GET /healthz`: 200 whenever the process serves requests.
pub async fn healthz(State(hub): State<Arc<Hub>>) -> Json<Liveness> {
    Json(Liveness {
        status: "ok",
        connected_clients: hub.connected_clients(),
    })
}
