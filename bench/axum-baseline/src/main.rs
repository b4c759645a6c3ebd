//! The plain axum SSE server: the baseline Pulse's fan-out must beat
//! (docs/benchmarks.md, "SSE fan-out"; `scripts/bench-sse axum-100`).
//!
//! It is what a Rust user writes by hand from axum's SSE example and
//! tokio's broadcast docs, and nothing more: one publisher task sends each
//! event into a `tokio::sync::broadcast` channel, and every client's
//! `Sse` response is that channel's receiver mapped to events. No replay,
//! no `Last-Event-ID`, no limits, no tuning.
//!
//! It sends the events Pulse's `--demo-rate` source sends, field for field
//! (a status of one of four synthetic checks, its detail cycling through
//! the same strings, `checked_at_ms` the time it was published), so the two
//! put the same bytes on the wire and the generator reads both with
//! `--ts-field checked_at_ms`. A first version sent `{"ts_us":…}`, 57
//! bytes an event against Pulse's 190: it measured the payload, not the
//! server. `id` counts up by one.

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use clap::Parser;
use futures::Stream;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Parser, Debug)]
#[command(about = "A plain axum SSE server fed by a broadcast channel")]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:3900")]
    addr: SocketAddr,
    /// Time between events (`10ms` is 100 events/s).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Events the broadcast channel holds for a client that is behind. A
    /// user picks a round number well above what a client should ever lag
    /// (tokio's docs show 16, axum's chat example 100): 1,024 is 10 s at
    /// 100 events/s. The ring is shared by all receivers, so its depth
    /// costs memory per event, not per client; a shallower one would turn
    /// every scheduling hiccup into lost events and the benchmark would
    /// measure the buffer rather than the fan-out.
    #[arg(long, default_value_t = 1024)]
    capacity: usize,
}

/// One published event, cloned to every receiver as it is (the plain way:
/// a value, not pre-framed bytes).
#[derive(Clone)]
struct Tick {
    id: u64,
    status: Status,
}

/// The event's data, serialised to JSON by each client's stream: the
/// shape and values of Pulse's synthetic check statuses.
#[derive(Clone, Serialize)]
struct Status {
    id: String,
    name: String,
    group: &'static str,
    kind: &'static str,
    health: &'static str,
    latency_ms: f64,
    detail: &'static str,
    checked_at_ms: u64,
}

/// The details of Pulse's synthetic source (`checks::demo::FRAMING_SAMPLES`).
const DETAILS: &[&str] = &[
    "plain text",
    "line one\nline two",
    "carriage\rreturn",
    "crlf\r\nline",
    "ends with a lone CR\r",
    "",
    "ünïcödé ✓ — 日本語 🚀",
    "\u{2028}line separator\u{2029}",
    "data: not a field\n\nid: 7\nevent: fake",
    "\n",
];

/// Pulse's synthetic source spreads its events over four checks.
const CHECKS: u64 = 4;

impl Status {
    fn nth(n: u64, checked_at_ms: u64) -> Status {
        let k = n % CHECKS;
        Status {
            id: format!("synthetic-{k}"),
            name: format!("Synthetic {k}"),
            group: "synthetic",
            kind: "synthetic",
            health: "up",
            latency_ms: 0.0,
            detail: DETAILS[(n % DETAILS.len() as u64) as usize],
            checked_at_ms,
        }
    }
}

// `#[tokio::main]` as everyone writes it: the multi-threaded runtime, one
// worker per core.
#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (events, _) = broadcast::channel(args.capacity);
    tokio::spawn(publish(events.clone(), args.every));
    let app = Router::new().route("/sse", get(sse)).with_state(events);
    axum::serve(listen(args.addr), app).await.expect("serve");
}

/// The one departure from the plain way, for the benchmark's fairness:
/// a user writes `TcpListener::bind(addr)`, whose accept backlog is 128
/// (mio 1.2 uses the standard library's value). `pulse-loadgen` opens 256
/// connections at a time per process, so with 128 the kernel drops SYNs
/// and those clients connect a 1 s retransmit later (124 of 500 in a
/// smoke run). Pulse listens with a backlog of 4,096 (the kernel's
/// `somaxconn` here), and so does this: connecting then measures the
/// server, not its queue. Built as `bind` builds it otherwise.
fn listen(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind the address");
    socket.listen(4096).expect("listen")
}

/// Sends one event per `every`, with ids 1, 2, 3… and the time it was sent.
async fn publish(events: broadcast::Sender<Tick>, every: Duration) {
    // `interval` with its default behaviour: a late tick is made up for by
    // firing at once, so the rate holds on average.
    let mut ticks = tokio::time::interval(every);
    for id in 1u64.. {
        ticks.tick().await;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        // An error only means nobody is connected yet: keep publishing.
        let _ = events.send(Tick {
            id,
            status: Status::nth(id, now_ms),
        });
    }
}

/// `GET /sse`: every client gets its own receiver, and its own copy of each
/// event framed and serialised for it.
async fn sse(
    State(events): State<broadcast::Sender<Tick>>,
) -> Sse<impl Stream<Item = Result<Event, axum::Error>>> {
    let stream = BroadcastStream::new(events.subscribe())
        // A receiver that fell more than `capacity` behind gets `Lagged`;
        // the usual answer is to skip it and carry on with what is there
        // (`pulse-loadgen` counts the ids skipped as missed).
        .filter_map(|received| received.ok())
        // No `event:` line: an unnamed event is a `message`, as Pulse sends it.
        .map(|tick| {
            Event::default()
                .id(tick.id.to_string())
                .json_data(&tick.status)
        });
    // The default keep-alive: a comment every 15 s when nothing is sent.
    Sse::new(stream).keep_alive(KeepAlive::default())
}
