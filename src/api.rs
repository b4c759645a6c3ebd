//! The plain JSON endpoints: the snapshot for scripts, liveness for probes.

use crate::hub::{Hub, SnapshotFor};
use crate::status::{Audience, PublicSnapshot};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use std::sync::Arc;

/// `GET /api/status`: every current status the asker may see: everything
/// for the private audience, the public checks' `PublicStatus` for the
/// public.
pub async fn status(
    State(hub): State<Arc<Hub>>,
    Extension(audience): Extension<Audience>,
) -> Json<SnapshotFor> {
    Json(hub.snapshot_for(audience))
}

/// `GET /api/public/status`: what the public status page shows, whoever asks.
pub async fn public_status(State(hub): State<Arc<Hub>>) -> Json<PublicSnapshot> {
    Json(hub.public_snapshot())
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
