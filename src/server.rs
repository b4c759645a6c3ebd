//! Assembles the server: settings → hub → checks → router → listener, and
//! the shutdown that ends it all. Nothing here does the work itself.

use crate::access::{self, Access};
use crate::alerts::{Alerts, Outbox};
use crate::app::{App, shell};
use crate::checks::{Engine, Fallbacks};
use crate::cluster::Cluster;
use crate::hub::Hub;
use crate::incidents::{self, Incidents};
use crate::metrics::{self, Metrics};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::site::{self, Site};
use crate::sse::Streams;
use crate::state::AppState;
use crate::status::ConfigNotice;
use crate::{api, checks, config, history, sse};
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use axum::{Router, middleware};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// How many checks may run at the same moment.
const CHECK_CONCURRENCY: usize = 64;

/// Every route. API routes come first and never share a path with a page.
/// Every body is read within its route's limit and its request's deadline
/// by `bodies` before a handler sees it (`limits::bodies`).
pub(crate) fn router(state: AppState, bodies: Arc<crate::limits::Bodies>) -> Router {
    let api = Router::new()
        .route(
            "/api/events",
            get(sse::events).layer(middleware::from_fn(sse::sse_headers)),
        )
        .route(
            "/api/public/events",
            get(sse::public_events).layer(middleware::from_fn(sse::sse_headers)),
        )
        .route("/api/status", get(api::status))
        .route("/api/public/status", get(api::public_status))
        .route("/api/alerts", get(api::alerts))
        .route(
            "/api/incidents",
            get(incidents::api::list).post(incidents::api::open),
        )
        .route("/api/incidents/{id}/updates", post(incidents::api::update))
        .route("/api/push/{token}", get(api::push).post(api::push))
        .route("/api/checks/{id}/uptime", get(history::api::uptime))
        .route("/api/checks/{id}/history", get(history::api::history))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::export))
        .route("/login", post(access::web::sign_in))
        .route("/logout", post(access::web::sign_out));
    let leptos_options = state.leptos_options.clone();
    let bundle = state.site.bundle();
    let page = move || shell(leptos_options.clone(), bundle.clone());
    let pages = Router::new()
        .leptos_routes(&state, generate_route_list(App), page.clone())
        .fallback(site::file_and_error_handler::<AppState, _>(page))
        // Pages and assets only: the event stream must never be compressed.
        .layer(CompressionLayer::new())
        // Outside the compression: it keeps each encoding of what it shares.
        .layer(middleware::from_fn_with_state(
            crate::public_cache::PublicCache::new(state.metrics.clone()),
            crate::public_cache::shared,
        ));
    let [nosniff, no_framing, referrer] = crate::page_policy::on_every_answer();
    let gate = middleware::from_fn_with_state(state.access.clone(), access::web::guard);
    let bodies = middleware::from_fn_with_state(bodies, crate::limits::bodies::bounded);
    api.merge(pages)
        // Innermost: a body is read only once the rule let its request in.
        .layer(bodies)
        // Its refusals carry the headers below.
        .layer(gate)
        .layer(close_after_answering())
        .layer(nosniff)
        .layer(no_framing)
        .layer(referrer)
        .with_state(state)
}

/// Every answer but a stream closes its connection. A browser that kept a
/// page's connection open would open its EventSource on it, and a stream
/// on a connection that served something else is served through hyper
/// (about 20 KiB held for hours) instead of straight onto the socket
/// (3.5 KiB); see `sse::listener`. A page load costs a few more TCP
/// handshakes, once. Streams set their own `Connection` header.
fn close_after_answering() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(header::CONNECTION, HeaderValue::from_static("close"))
}

/// The alerts' outbox: in the cluster's Postgres, else in the history
/// file, else in memory (alerts then go out, but a restart forgets what
/// was pending).
async fn open_outbox(
    file: Option<&std::path::Path>,
    history: Option<&history::api::Database>,
    replica: &str,
) -> Result<Outbox, String> {
    if let Some(history::api::Database::Postgres(store)) = history {
        let (store, replica) = (store.clone(), replica.to_string());
        let opened = tokio::task::spawn_blocking(move || Outbox::on_postgres(&store, replica));
        return opened.await.map_err(|e| e.to_string())?;
    }
    Outbox::new(history::side_connection(file)?)
}

/// The incidents: beside the outbox, and like it in memory with no
/// history.
async fn open_incidents(
    file: Option<&std::path::Path>,
    history: Option<&history::api::Database>,
    hub: &Arc<Hub>,
    shutdown: &Shutdown,
) -> Result<Arc<Incidents>, String> {
    let (hub, shutdown) = (hub.clone(), shutdown.clone());
    if let Some(history::api::Database::Postgres(store)) = history {
        let store = store.clone();
        let opened =
            tokio::task::spawn_blocking(move || Incidents::in_postgres(&store, hub, shutdown));
        return opened.await.map_err(|e| e.to_string())?;
    }
    Incidents::in_sqlite(history::side_connection(file)?, hub, shutdown)
}

/// Opens the history (Postgres when given, else the SQLite file, else
/// none), starts its writer following the hub and a watch on the writer's
/// health, and says where pages read it.
async fn open_history(
    settings: &Settings,
    file: Option<&std::path::Path>,
    hub: &Arc<Hub>,
    shutdown: &Shutdown,
) -> Result<Option<history::api::Database>, String> {
    let retention = history::Retention {
        raw: settings.keep_raw,
        minutes: settings.keep_minutes,
        hours: settings.keep_hours,
    };
    let (store, source): (Box<dyn history::Backend + Send>, _) =
        match (&settings.history_postgres, file) {
            (Some(url), _) => {
                // Postgres must answer when a replica starts (the schema,
                // the outbox's name); an outage later is waited out.
                let mut store = history::PgStore::new(url, tokio::runtime::Handle::current())?;
                store.prepare().await.map_err(|e| e.to_string())?;
                let reader = Arc::new(store.reader());
                (Box::new(store), history::api::Database::Postgres(reader))
            }
            (None, Some(path)) => {
                let store = history::SqliteStore::open(path)?;
                let path = Arc::new(path.to_path_buf());
                (Box::new(store), history::api::Database::Sqlite(path))
            }
            (None, None) => return Ok(None),
        };
    let writer = history::start(store, retention);
    hub.follow(writer.clone());
    tokio::spawn(history::watch(writer, hub.clone(), shutdown.clone()));
    Ok(Some(source))
}

/// Starts the checks of the config file, watching it for changes, or the
/// embedded default when there is none, and puts its access rule in force.
/// A bad file at start-up is an error (the process exits non-zero), as is
/// an open dashboard where it must not be open; later, a bad edit is shown
/// and skipped.
async fn start_checks(
    settings: &Settings,
    bound: SocketAddr,
    hub: &Arc<Hub>,
    alerts: &Arc<Alerts>,
    cluster: Option<&Arc<Cluster>>,
    shutdown: &Shutdown,
) -> Result<(Arc<Access>, Arc<checks::Pushes>), String> {
    let fallbacks = Fallbacks {
        interval: settings.interval,
        timeout: settings.check_timeout,
        concurrency: CHECK_CONCURRENCY,
    };
    let mut engine = Engine::new(hub.clone(), shutdown.clone());
    if let Some(cluster) = cluster {
        engine.shared_with(cluster.clone());
    }
    let told_config = cluster.cloned();
    let runs_config = move |fingerprint: &str| {
        if let Some(cluster) = &told_config {
            cluster.runs_config(fingerprint);
        }
    };
    let pushes = engine.pushes();
    let calendar = engine.calendar();
    let Some(path) = &settings.config else {
        let access = Access::new(None, bound, settings.open_dashboard)?;
        let defaults = checks::embedded_default(bound, settings.interval, settings.check_timeout);
        let ids: Vec<_> = defaults.iter().map(|c| c.id.clone()).collect();
        alerts.apply_default(&ids);
        engine.apply(defaults, CHECK_CONCURRENCY);
        runs_config("the embedded default");
        hub.set_config(ConfigNotice {
            source: "embedded default".into(),
            error: None,
            checked_at_ms: crate::clock::unix_millis(),
            differs: None,
        });
        return Ok((access, pushes));
    };
    let file = config::ConfigFile {
        path: path.clone(),
        max_bytes: settings.config_max_bytes,
    };
    let (config, text) = config::load_for_watching(&file)
        .await
        .map_err(|e| e.to_string())?;
    let access = Access::new(config.access.as_ref(), bound, settings.open_dashboard)?;
    let (checks, concurrency) = checks::from_config(&config, fallbacks)?;
    // Before the checks start, so their first results meet their rules
    // and their windows.
    alerts.apply(&config);
    calendar.set(&config.maintenance);
    let applied = engine.apply(checks, concurrency);
    runs_config(&config.fingerprint);
    let source = file.name();
    tracing::info!(config = %source, checks = applied.added, "config loaded");
    hub.set_config(ConfigNotice {
        source: source.clone(),
        error: None,
        checked_at_ms: crate::clock::unix_millis(),
        differs: None,
    });
    let changes = config::watch(&file, text)?;
    let gate = access.clone();
    let alerts = alerts.clone();
    let apply_the_rest = move |config: &config::Config| {
        gate.apply(config.access.as_ref())?;
        alerts.apply(config);
        calendar.set(&config.maintenance);
        runs_config(&config.fingerprint);
        Ok(())
    };
    tokio::spawn(engine.follow(source, changes, fallbacks, apply_the_rest));
    Ok((access, pushes))
}

/// Whenever who may see what changes (a sign-out, a new access rule), the
/// private streams let in under the old rule end, and their clients come
/// back and are asked again. Ends at shutdown.
async fn ask_private_streams_again(
    mut changes: tokio::sync::watch::Receiver<u64>,
    hub: Arc<Hub>,
    shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        hub.end_private_streams();
    }
}

/// Connections waiting to be accepted. Tokio's `TcpListener::bind` gives
/// 128 (mio's and std's figure); when a crowd of dashboards reconnects at
/// once (a deploy, a network blip) and the queue overflows, the kernel
/// drops their SYNs and each client waits for its retransmit, 1 s and
/// then 3 s. The kernel caps this at `somaxconn`
/// (4,096 here).
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart can bind while old
    // connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Everything Pulse runs but its listener: the state every handler reaches,
/// the bodies' limits, and what `run` ends at shutdown. Assembled by `run`,
/// and by tests that drive `router()` in-process.
pub struct Assembled {
    pub(crate) state: AppState,
    pub(crate) bodies: Arc<crate::limits::Bodies>,
    pub(crate) shutdown: Shutdown,
    cluster: Option<Arc<Cluster>>,
}

impl Assembled {
    /// The router every connection is served by.
    pub fn router(&self) -> Router {
        router(self.state.clone(), self.bodies.clone())
    }
}

/// Starts the hub, history, alerts, incidents, cluster and checks of a
/// Pulse that serves on `bound` (which names it in the open dashboard's
/// rule and in its cluster).
pub async fn assemble(settings: &Settings, bound: SocketAddr) -> Result<Assembled, String> {
    let mut leptos_options = get_configuration(None)
        .map_err(|e| format!("reading the Leptos configuration: {e}"))?
        .leptos_options;
    leptos_options.site_addr = bound;
    if leptos_options.output_name.is_empty() {
        // Built by plain cargo rather than cargo-leptos: the bundle is still
        // named after the crate.
        leptos_options.output_name = env!("CARGO_PKG_NAME").into();
    }
    let site = Arc::new(Site::open(&leptos_options));

    let shutdown = Shutdown::new();
    let metrics = Metrics::new();
    let hub = Hub::new(
        settings.ring_size as usize,
        settings.max_clients,
        metrics.clone(),
    );
    let history_file = (!settings.no_history).then(|| settings.history.clone());
    let history_source = open_history(settings, history_file.as_deref(), &hub, &shutdown).await?;
    // A replica's name in the cluster: its leases and the alerts' lease.
    let replica = format!("{bound}/{:08x}", fastrand::u32(..));
    let outbox = open_outbox(history_file.as_deref(), history_source.as_ref(), &replica).await?;
    let alerts = Alerts::start(outbox, &hub, shutdown.clone())?;
    hub.follow(alerts.clone());
    let incidents = open_incidents(
        history_file.as_deref(),
        history_source.as_ref(),
        &hub,
        &shutdown,
    )
    .await?;
    let cluster = match &settings.cluster {
        Some(url) => {
            let cluster = Cluster::join(
                url,
                settings.cluster_lease,
                settings.ring_size as usize,
                replica,
                metrics.clone(),
                shutdown.clone(),
            )
            .await?;
            tracing::info!(replica = cluster.name(), "cluster: joined");
            Some(cluster)
        }
        None => None,
    };
    let (access, pushes) =
        start_checks(settings, bound, &hub, &alerts, cluster.as_ref(), &shutdown).await?;
    // After the checks are registered: what the log holds is about them.
    if let Some(cluster) = &cluster {
        tokio::spawn(cluster.clone().follow(hub.clone(), shutdown.clone()));
        tokio::spawn(
            cluster
                .clone()
                .compare_configs(hub.clone(), shutdown.clone()),
        );
        cluster.share_sign_outs(access.clone(), shutdown.clone());
        cluster.share_pings(pushes.clone(), shutdown.clone());
    }
    tokio::spawn(ask_private_streams_again(
        access.changes(),
        hub.clone(),
        shutdown.clone(),
    ));
    if let Some(rate) = settings.demo_rate {
        checks::demo::start(rate, hub.clone(), shutdown.clone());
    }

    tokio::spawn(sse::trim::after_departures(hub.clone(), shutdown.clone()));
    tokio::spawn(sse::end_at_shutdown(hub.clone(), shutdown.clone()));

    let streams = Streams {
        hub: hub.clone(),
        shutdown: shutdown.clone(),
        heartbeat: settings.heartbeat,
        retry_ms: settings.retry_ms,
    };
    let bodies = crate::limits::Bodies::new(metrics.clone());
    let state = AppState {
        leptos_options,
        hub,
        metrics,
        streams,
        history: history::api::HistoryStore(history_source, Default::default()),
        access,
        alerts,
        incidents,
        pushes,
        site,
    };
    Ok(Assembled {
        state,
        bodies,
        shutdown,
        cluster,
    })
}

/// Runs Pulse until a shutdown signal.
pub async fn run(settings: Settings) -> Result<(), String> {
    let configured = get_configuration(None)
        .map_err(|e| format!("reading the Leptos configuration: {e}"))?
        .leptos_options
        .site_addr;
    let addr = settings.addr.unwrap_or(configured);
    let listener = listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let limits = settings.limits();
    tracing::info!(
        connections = limits.connections,
        per_address = limits.per_address,
        "connection limits"
    );
    let pulse = assemble(&settings, bound).await?;
    let shutdown = pulse.shutdown.clone();
    let (for_hyper, direct_streams) = sse::listener::sort(
        listener,
        pulse.state.streams.clone(),
        limits.clone(),
        pulse.state.access.clone(),
    )
    .map_err(|e| e.to_string())?;
    tokio::spawn(shutdown.clone().on_signal());
    // Tests and scripts wait for this exact line to learn the port.
    println!("pulse listening on http://{bound}");
    tracing::info!(%bound, interval = ?settings.interval, "serving");
    // Each connection gets a clone of the one router (an `Arc`), never a
    // router built anew (about 8 KiB per open stream, heap profile in
    // docs/benchmarks.md).
    let app = pulse.router();
    let serving = async {
        crate::connections::serve(for_hyper, app, limits, shutdown.clone()).await;
        direct_streams.close();
        direct_streams.wait().await;
    };
    let served = shutdown.within_drain_limit(serving).await;
    if served.is_none() {
        tracing::warn!("some clients were still being written to; not waiting for them");
    }
    if let Some(cluster) = &pulse.cluster {
        cluster.leave().await;
    }
    // What the checks said last is saved before exit.
    pulse.state.hub.close_followers();
    Ok(())
}
