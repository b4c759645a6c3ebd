//! What Pulse counts, in Prometheus' text format at `GET /metrics`. One
//! `Metrics` value is shared by the parts that record into it (hub, streams,
//! check engine); none of them knows how it is exported.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CheckLabel {
    pub(crate) check: String,
}

/// Which way a stream was served: `direct` (its connection's first and only
/// request, written straight onto the socket) or `hyper` (a stream request
/// the direct path does not take: another request pipelined behind it, an
/// upgrade, an oversized head).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabel {
    pub path: &'static str,
}

/// Why a connection was closed before it was served: `per_address` or
/// `total` (a cap, see `limits`), `no_request` (nothing sent in time),
/// `slow_head` (the request head was not complete in time),
/// `head_too_large`, `malformed` (not an HTTP/1 request).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: &'static str,
}

/// Which notifier a delivery went to (its `name` in the config).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NotifierLabel {
    pub(crate) notifier: String,
}

type CheckHistograms = Family<CheckLabel, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    /// Its atomic is also the hub's admission counter for the stream cap.
    pub(crate) connected_clients: Gauge,
    pub(crate) events_published: Counter,
    pub(crate) events_delivered: Counter,
    pub(crate) replays: Counter,
    pub(crate) snapshots_on_connect: Counter,
    pub(crate) slow_client_resyncs: Counter,
    pub(crate) streams_refused: Counter,
    pub streams_opened: Family<PathLabel, Counter>,
    /// Its atomic is also the admission counter for the connection cap.
    pub(crate) connections_open: Gauge,
    pub(crate) connections_refused: Family<ReasonLabel, Counter>,
    pub(crate) stalled_clients_disconnected: Counter,
    pub(crate) check_duration: CheckHistograms,
    pub(crate) check_up: Family<CheckLabel, Gauge>,
    pub(crate) alerts_firing: Gauge,
    pub(crate) outbox_waiting: Gauge,
    pub(crate) notifications_sent: Family<NotifierLabel, Counter>,
    pub(crate) notifications_failed: Family<NotifierLabel, Counter>,
    pub(crate) notifications_expired: Counter,
    pub(crate) alert_results_dropped: Counter,
    /// The public page and its data: renderings made, answers given.
    pub(crate) public_renders: Family<PathLabel, Counter>,
    pub(crate) public_answers: Family<PathLabel, Counter>,
    /// In a cluster (zero otherwise): this replica's role, how far behind
    /// the shared log it is, and whether Redis answers.
    pub(crate) cluster_shards_held: Gauge,
    /// 1 for each check this replica runs, 0 for one another replica runs.
    pub(crate) cluster_runs: Family<CheckLabel, Gauge>,
    pub(crate) cluster_results_published: Counter,
    pub(crate) cluster_results_fenced: Counter,
    pub(crate) cluster_lag_ms: Gauge,
    pub(crate) cluster_redis_up: Gauge,
    /// What this replica read from Redis and did not take, by reason
    /// (`cluster::Skipped`).
    pub(crate) cluster_skipped: Family<ReasonLabel, Counter>,
    /// The history database (SQLite or Postgres): whether it takes writes,
    /// the results waiting for it, the results it lost.
    pub(crate) history_up: Gauge,
    pub(crate) history_waiting: Gauge,
    pub(crate) history_results_dropped: Counter,
    /// Read from the runtime when exported: once streams have gone it falls
    /// back to its idle value, which is how a churn run shows no task leaked.
    tasks_alive: Gauge,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("pulse");
        let metrics = Metrics {
            connected_clients: Gauge::default(),
            events_published: Counter::default(),
            events_delivered: Counter::default(),
            replays: Counter::default(),
            snapshots_on_connect: Counter::default(),
            slow_client_resyncs: Counter::default(),
            streams_refused: Counter::default(),
            streams_opened: Family::default(),
            connections_open: Gauge::default(),
            connections_refused: Family::default(),
            stalled_clients_disconnected: Counter::default(),
            // 0.5 ms .. ~16 s: local health checks to slow remote ones.
            check_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            check_up: Family::default(),
            alerts_firing: Gauge::default(),
            outbox_waiting: Gauge::default(),
            notifications_sent: Family::default(),
            notifications_failed: Family::default(),
            notifications_expired: Counter::default(),
            alert_results_dropped: Counter::default(),
            public_renders: Family::default(),
            public_answers: Family::default(),
            cluster_shards_held: Gauge::default(),
            cluster_runs: Family::default(),
            cluster_results_published: Counter::default(),
            cluster_results_fenced: Counter::default(),
            cluster_lag_ms: Gauge::default(),
            cluster_redis_up: Gauge::default(),
            cluster_skipped: Family::default(),
            history_up: Gauge::default(),
            history_waiting: Gauge::default(),
            history_results_dropped: Counter::default(),
            tasks_alive: Gauge::default(),
            registry: Registry::default(),
        };
        let m = &metrics;
        registry.register(
            "connected_clients",
            "Open SSE streams",
            m.connected_clients.clone(),
        );
        registry.register(
            "events_published",
            "Check results published to the hub",
            m.events_published.clone(),
        );
        registry.register(
            "events_delivered",
            "Events written to SSE streams",
            m.events_delivered.clone(),
        );
        registry.register(
            "replays",
            "Streams started by replaying missed events",
            m.replays.clone(),
        );
        registry.register(
            "snapshots_on_connect",
            "Streams started with a snapshot (no usable Last-Event-ID)",
            m.snapshots_on_connect.clone(),
        );
        registry.register(
            "slow_client_resyncs",
            "Snapshots sent to streams that fell behind the broadcast buffer",
            m.slow_client_resyncs.clone(),
        );
        registry.register(
            "streams_refused",
            "Streams refused at the cap (503)",
            m.streams_refused.clone(),
        );
        registry.register(
            "streams_opened",
            "Streams opened, by the path that serves them",
            m.streams_opened.clone(),
        );
        registry.register(
            "connections_open",
            "Client connections open (streams, pages, API, not yet sorted)",
            m.connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed before being served, by reason",
            m.connections_refused.clone(),
        );
        registry.register(
            "stalled_clients_disconnected",
            "Clients cut off because they took no byte within the stall limit",
            m.stalled_clients_disconnected.clone(),
        );
        registry.register(
            "check_duration_seconds",
            "How long each check took",
            m.check_duration.clone(),
        );
        registry.register(
            "check_up",
            "1 if the check's last verdict was up or degraded, else 0 (Pulse's own faults leave it)",
            m.check_up.clone(),
        );
        registry.register(
            "alerts_firing",
            "Alerts that fired and have not resolved",
            m.alerts_firing.clone(),
        );
        registry.register(
            "outbox_waiting",
            "Alert messages waiting to be delivered (new or being retried)",
            m.outbox_waiting.clone(),
        );
        registry.register(
            "notifications_sent",
            "Alert messages delivered, per notifier",
            m.notifications_sent.clone(),
        );
        registry.register(
            "notifications_failed",
            "Failed attempts to deliver an alert message, per notifier (each is retried)",
            m.notifications_failed.clone(),
        );
        registry.register(
            "notifications_expired",
            "Alert message rows given up: undelivered for a day, or their notifier removed",
            m.notifications_expired.clone(),
        );
        registry.register(
            "alert_results_dropped",
            "Results the alert rules never saw: their queue was full",
            m.alert_results_dropped.clone(),
        );
        registry.register(
            "public_renders",
            "Renderings of the public page and its data, each shared by every visitor for up to a second",
            m.public_renders.clone(),
        );
        registry.register(
            "public_answers",
            "Answers of the public page and its data, from a shared rendering",
            m.public_answers.clone(),
        );
        registry.register(
            "cluster_shards_held",
            "Shards of the checks whose lease this replica holds (of 64): the checks it runs",
            m.cluster_shards_held.clone(),
        );
        registry.register(
            "cluster_runs",
            "In a cluster, 1 for each check this replica runs, 0 for one another replica runs (as of the check's last due time)",
            m.cluster_runs.clone(),
        );
        registry.register(
            "cluster_results_published",
            "Results this replica ran and the shared log accepted",
            m.cluster_results_published.clone(),
        );
        registry.register(
            "cluster_results_fenced",
            "Results the shared log refused: this replica's lease had run out or gone to another",
            m.cluster_results_fenced.clone(),
        );
        registry.register(
            "cluster_lag_milliseconds",
            "Between the newest event's entry into the shared log and its arrival in this replica's hub",
            m.cluster_lag_ms.clone(),
        );
        registry.register(
            "cluster_redis_up",
            "1 while Redis answers this replica, 0 when it does not",
            m.cluster_redis_up.clone(),
        );
        registry.register(
            "cluster_skipped",
            "What this replica read from Redis and did not take, by reason: not_a_result, id_out_of_range, unknown_check, epoch_out_of_range (replaced by a new epoch), not_a_ping",
            m.cluster_skipped.clone(),
        );
        registry.register(
            "history_up",
            "1 while the history database takes writes, 0 when it fails (or history is off)",
            m.history_up.clone(),
        );
        registry.register(
            "history_waiting",
            "Results kept in memory until the history database takes writes again",
            m.history_waiting.clone(),
        );
        registry.register(
            "history_results_dropped",
            "Results never written to the history: its queue or its backlog was full, or the database refused them alone",
            m.history_results_dropped.clone(),
        );
        registry.register(
            "tasks_alive",
            "Tasks alive in the async runtime (streams, checks, timers)",
            m.tasks_alive.clone(),
        );
        Arc::new(Metrics {
            registry,
            ..metrics
        })
    }

    /// Counts a connection closed before it was served.
    pub(crate) fn refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub(crate) fn render(&self) -> String {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks_alive
                .set(runtime.metrics().num_alive_tasks() as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// `GET /metrics`.
pub(crate) async fn export(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}
