//! What every request's handler may reach: the hub, the history, access,
//! alerts, incidents, push checks and the site. Assembled once by
//! `server::run`; handlers take it as axum state, pages and server
//! functions as Leptos context. Here, not in `server.rs`, so that the
//! parts that read it depend on it and not on the code that assembles the
//! server.

use crate::access::Access;
use crate::alerts::Alerts;
use crate::checks;
use crate::history;
use crate::hub::Hub;
use crate::incidents::Incidents;
use crate::metrics::Metrics;
use crate::site::Site;
use crate::sse::Streams;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub streams: Streams,
    pub history: history::api::HistoryStore,
    pub access: Arc<Access>,
    pub alerts: Arc<Alerts>,
    pub incidents: Arc<Incidents>,
    /// The push checks, by token, for `/api/push/{token}`.
    pub pushes: Arc<checks::Pushes>,
    /// The assets: built into the binary, or a folder (`site`).
    pub site: Arc<Site>,
}
