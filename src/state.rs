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
pub(crate) struct AppState {
    pub(crate) leptos_options: LeptosOptions,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) streams: Streams,
    pub(crate) history: history::api::HistoryStore,
    pub(crate) access: Arc<Access>,
    pub(crate) alerts: Arc<Alerts>,
    pub(crate) incidents: Arc<Incidents>,
    /// The push checks, by token, for `/api/push/{token}`.
    pub(crate) pushes: Arc<checks::Pushes>,
    /// The assets: built into the binary, or a folder (`site`).
    pub(crate) site: Arc<Site>,
}
