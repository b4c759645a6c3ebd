//! `pulse-hotpaths <workload>`: small, fixed workloads over Pulse's hot
//! paths, for the gates that a noisy machine cannot fool (`scripts/gates`,
//! `budgets/instructions.toml`; docs/developing.md, "Gates on instruction
//! counts"). `pulse-hotpaths --list` names them.
//!
//! Each instruction workload builds what it needs first and then runs its
//! measured part inside `measured`, an `#[inline(never)]` function that
//! `scripts/gates` has callgrind count alone (`--collect-atstart=no
//! --toggle-collect=pulse_hotpaths::measured`: the exact name, since a
//! pattern such as `measured_*` also matches the closures and async
//! blocks inside, and entering one toggles counting off again).
//! The heap workloads count bytes themselves, with a counting allocator.
//!
//! The counts must be the same whatever else the machine runs, so:
//! everything runs on one thread (a `current_thread` runtime with the
//! server, its clients and the checks' target all on it; nothing goes to a
//! blocking pool), inputs are fixed (`fastrand` seeded, fixed timestamps
//! in the statuses), no timer comes due inside a measured part except the
//! ones made due before it (`check-round`), and every reader waits for
//! every byte before the next step. This binary never starts itself again
//! (the way `pulse` does for its allocator), so callgrind follows it whole.

use axum::Router;
use axum::middleware;
use axum::routing::get;
use pulse::access::{self, Access};
use pulse::checks::{self, Engine, Fallbacks};
use pulse::config::{self, ConfigFile};
use pulse::hub::Hub;
use pulse::limits::Limits;
use pulse::metrics::Metrics;
use pulse::shutdown::Shutdown;
use pulse::sse::{self, Streams};
use pulse::status::{Audience, CheckId, CheckKind, CheckStatus, Health, Publicity};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// Events published in `publish-*`…
const EVENTS: usize = 1_000;
/// …to this many streams each.
const STREAMS: usize = 100;
/// Checks on the board of `publish-*` (their snapshot is each stream's
/// opening, small enough to be one piece).
const BOARD: usize = 10;
/// HTTP checks in `check-round`, run as many at once as the server does
/// (`server::CHECK_CONCURRENCY`).
const ROUND_CHECKS: usize = 500;
const ROUND_CONCURRENCY: usize = 64;
/// Checks in `snapshot-5000`.
const SNAPSHOT_CHECKS: usize = 5_000;
/// Idle streams opened in `idle-streams-*`.
const IDLE_STREAMS: usize = 1_000;
/// Every run draws the same "random" numbers (the engine's phases, the
/// streams' `retry:` jitter).
const SEED: u64 = 0x5eed;
/// A fixed clock for the statuses: the same digits every run.
const CHECKED_AT_MS: u64 = 1_764_700_000_000;

/// What a workload measures.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Instructions, counted by callgrind inside `measured`.
    Instructions,
    /// Heap held per idle stream, counted here.
    Heap,
}

/// Which way a stream is served.
#[derive(Clone, Copy, PartialEq)]
enum StreamPath {
    /// `sse/direct.rs`: a connection's first and only request, written
    /// straight onto its socket.
    Direct,
    /// Through hyper and the axum handler: the sorter passes on a stream
    /// request with another request pipelined behind it.
    Hyper,
}

impl StreamPath {
    /// Fails unless `hub` counted `streams` opened on this path (the label
    /// of `pulse_streams_opened_total`).
    fn assert_opened(self, hub: &Hub, streams: usize) {
        let path = match self {
            StreamPath::Direct => "direct",
            StreamPath::Hyper => "hyper",
        };
        let label = pulse::metrics::PathLabel { path };
        let opened = hub.metrics().streams_opened.get_or_create(&label).get();
        assert_eq!(opened, streams as u64, "streams opened on the {path} path");
    }

    fn request(self) -> &'static [u8] {
        match self {
            StreamPath::Direct => b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n",
            StreamPath::Hyper => {
                b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n"
            }
        }
    }
}

const WORKLOADS: [(&str, Kind, &str); 6] = [
    (
        "publish-direct",
        Kind::Instructions,
        "1,000 events published one at a time to 100 streams served directly (sse/direct.rs): hub, framing, writer, readers",
    ),
    (
        "publish-hyper",
        Kind::Instructions,
        "1,000 events published one at a time to 100 streams served through hyper and the axum handler: hub, framing, hyper, readers",
    ),
    (
        "check-round",
        Kind::Instructions,
        "one engine round of 500 HTTP checks, 64 at once, against a raw-TCP target in the process: timers, probes, results to the hub",
    ),
    (
        "snapshot-5000",
        Kind::Instructions,
        "the opening snapshot a new client gets of a board of 5,000 checks, once private and once public",
    ),
    (
        "idle-streams-direct",
        Kind::Heap,
        "heap an idle stream served directly holds, and allocations to open it (1,000 streams)",
    ),
    (
        "idle-streams-hyper",
        Kind::Heap,
        "heap an idle stream served through hyper holds, and allocations to open it (1,000 streams)",
    ),
];

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_default();
    match workload.as_str() {
        "--list" => {
            for (name, kind, what) in WORKLOADS {
                let kind = match kind {
                    Kind::Instructions => "instructions",
                    Kind::Heap => "heap",
                };
                println!("{name}\t{kind}\t{what}");
            }
        }
        "publish-direct" => publish(StreamPath::Direct),
        "publish-hyper" => publish(StreamPath::Hyper),
        "check-round" => check_round(),
        "snapshot-5000" => snapshot(),
        "idle-streams-direct" => idle_streams(StreamPath::Direct),
        "idle-streams-hyper" => idle_streams(StreamPath::Hyper),
        _ => {
            eprintln!("usage: pulse-hotpaths <workload>, one of:");
            for (name, _, what) in WORKLOADS {
                eprintln!("  {name:<20} {what}");
            }
            eprintln!("  --list               the workloads, tab-separated: name, kind, what");
            std::process::exit(2);
        }
    }
}

/// The measured part of a workload: what callgrind counts. Never inlined,
/// and `work` is not its tail call (the result goes through `black_box`
/// after it): callgrind takes a jump out of a function for its return,
/// and would stop counting there.
#[inline(never)]
fn measured<T>(work: impl FnOnce() -> T) -> T {
    std::hint::black_box(work())
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A check's status as the engine would publish it; fixed values only.
fn status(n: usize, round: usize) -> CheckStatus {
    let down = n % 50 == 7;
    CheckStatus {
        id: CheckId(format!("service-{n:05}")),
        name: format!("service {n:05}"),
        group: format!("group {:02}", n % 50),
        kind: CheckKind::Http,
        health: if down { Health::Down } else { Health::Up },
        latency_ms: Some(1.0 + ((n + round) % 97) as f64 * 0.37),
        detail: match down {
            true => "503 Service Unavailable".into(),
            false => format!("200 OK in {} ms", 1 + (n + round) % 40),
        },
        checked_at_ms: CHECKED_AT_MS + (n + round) as u64,
        maintenance_until_ms: None,
    }
}

/// A hub with a board of `checks` checks, every `public_every`-th public.
fn hub_with_board(checks: usize, public_every: usize, ring: usize) -> Arc<Hub> {
    let hub = Hub::new(ring, 1_000_000, Metrics::new());
    for n in 0..checks {
        let publicity = match n % public_every == 0 {
            true => Publicity::Public { detail: None },
            false => Publicity::Private,
        };
        hub.register(status(n, 0), publicity);
    }
    hub
}

// ---------------------------------------------------------------- streams

/// A Pulse serving `/api/events` on loopback through the real accept loop
/// (`sse::listener`), which serves a plain stream request directly and
/// hands anything else to hyper (`connections::serve`). The router is the
/// stream route of `server::router` with the access rule in front, not the
/// whole of it: the rest needs the site, the history, the alerts and the
/// incidents, none of which a stream touches after it opened.
async fn serve_streams(hub: Arc<Hub>) -> SocketAddr {
    // The server's backlog (`server::listen`): the idle streams' clients
    // all connect before the runtime accepts any of them.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let listener = socket.listen(4096).expect("listen");
    let addr = listener.local_addr().expect("an address");
    let shutdown = Shutdown::new();
    let streams = Streams {
        hub,
        shutdown: shutdown.clone(),
        // Never due while measuring.
        heartbeat: Duration::from_secs(24 * 3600),
        retry_ms: 1_000,
    };
    let limits = Limits {
        first_byte: Duration::from_secs(600),
        request_head: Duration::from_secs(600),
        stall: Duration::from_secs(600),
        per_address: 100_000,
        connections: 100_000,
    };
    let access = Access::new(None, addr, false).expect("an open dashboard on loopback");
    let (for_hyper, _direct) =
        sse::listener::sort(listener, streams.clone(), limits.clone(), access.clone())
            .expect("the accept loop starts");
    let router = Router::new()
        .route(
            "/api/events",
            get(sse::events).layer(middleware::from_fn(sse::sse_headers)),
        )
        .layer(middleware::from_fn_with_state(access, access::web::guard))
        .with_state(streams);
    tokio::spawn(pulse::connections::serve(
        for_hyper, router, limits, shutdown,
    ));
    addr
}

/// Events received by every reader together, and a wake-up for whoever
/// waits for a number of them.
#[derive(Default)]
struct Progress {
    events: AtomicUsize,
    changed: Notify,
}

impl Progress {
    fn add(&self, events: usize) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.changed.notify_one();
    }

    async fn until(&self, events: usize) {
        while self.events.load(Ordering::Relaxed) < events {
            self.changed.notified().await;
        }
    }
}

/// Whether `bytes` hold the end of the opening snapshot's data: its JSON
/// ends the only `}` followed by a blank line before any event.
fn ends_opening(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == b"}\n\n")
}

/// Opens a stream, reads its head and opening, then reads on in a task of
/// its own, counting events: each status event's data is one JSON object,
/// and nothing else on the wire (chunk sizes, blank lines) holds a `{`.
async fn open_reader(addr: SocketAddr, path: StreamPath, progress: Arc<Progress>) {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket.write_all(path.request()).await.expect("request");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut opening = Vec::new();
    while !ends_opening(&opening) {
        let n = socket.read(&mut buffer).await.expect("the opening");
        assert!(n > 0, "the stream ended before its opening");
        opening.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&opening);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("event: snapshot"), "{head}");
    tokio::spawn(async move {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => progress.add(buffer[..n].iter().filter(|&&b| b == b'{').count()),
            }
        }
    });
}

fn publish(path: StreamPath) {
    fastrand::seed(SEED);
    let runtime = runtime();
    let hub = hub_with_board(BOARD, 1, 4096);
    let progress = Arc::new(Progress::default());
    runtime.block_on(async {
        let addr = serve_streams(hub.clone()).await;
        for _ in 0..STREAMS {
            open_reader(addr, path, progress.clone()).await;
        }
    });
    assert_eq!(hub.connected_clients(), STREAMS);
    path.assert_opened(&hub, STREAMS);
    let events: Vec<CheckStatus> = (0..EVENTS).map(|i| status(i % BOARD, i)).collect();
    // Each event published, then waited for until every reader has it.
    measured(|| {
        runtime.block_on(async {
            for (sent, event) in (1..).zip(events) {
                hub.publish(event).expect("a registered check");
                progress.until(sent * STREAMS).await;
            }
        })
    });
    let delivered = progress.events.load(Ordering::Relaxed);
    assert_eq!(delivered, EVENTS * STREAMS, "every event to every stream");
    eprintln!("{EVENTS} events to {STREAMS} streams: {delivered} deliveries");
}

// ------------------------------------------------------------ check round

/// Answers every request on every connection with `200 ok`, keeping the
/// connection: the least a target can do, so that the count is the
/// checks' own.
async fn serve_target() -> SocketAddr {
    const ANSWER: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let mut held = 0;
                loop {
                    let n = match socket.read(&mut buffer[held..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    held += n;
                    while let Some(end) = buffer[..held].windows(4).position(|w| w == b"\r\n\r\n") {
                        if socket.write_all(ANSWER).await.is_err() {
                            return;
                        }
                        buffer.copy_within(end + 4..held, 0);
                        held -= end + 4;
                    }
                    assert!(held < buffer.len(), "a request head larger than 4 KiB");
                }
            });
        }
    });
    addr
}

fn check_round() {
    fastrand::seed(SEED);
    let runtime = runtime();
    let hub = Hub::new(4096, 10, Metrics::new());
    let target = runtime.block_on(serve_target());
    let mut text = String::from("[defaults]\ninterval = \"1h\"\ntimeout = \"60s\"\n\n");
    for n in 0..ROUND_CHECKS {
        text.push_str(&format!(
            "[[check]]\nname = \"service {n:05}\"\ngroup = \"group {:02}\"\nkind = \"http\"\nurl = \"http://{target}/t/{n}\"\n\n",
            n % 50
        ));
    }
    let file = ConfigFile {
        path: "hotpaths.toml".into(),
        max_bytes: config::DEFAULT_MAX_BYTES,
    };
    let config = config::parse(&file, &text, &|_| None).expect("the config is valid");
    let fallbacks = Fallbacks {
        interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(60),
        concurrency: ROUND_CONCURRENCY,
    };
    let (checks, concurrency) = checks::from_config(&config, fallbacks).expect("the checks build");
    let mut engine = Engine::new(hub.clone(), Shutdown::new());
    let mut results = runtime.block_on(async {
        // Registers the checks and spawns their loops, each to run first
        // within the engine's spread (1 s for 500); none has run yet.
        engine.apply(checks, concurrency);
        hub.subscribe_from(None, Audience::Private)
            .expect("a slot")
            .live
    });
    // Every first run comes due while the runtime stands still: inside
    // the measured part the timers all fire at once, in the order of
    // their (seeded) phases, whatever the machine's speed.
    std::thread::sleep(Duration::from_millis(2 * ROUND_CHECKS as u64 + 500));
    // The runtime runs until every check's result has reached the hub.
    measured(|| {
        runtime.block_on(async {
            for _ in 0..ROUND_CHECKS {
                results.recv().await.expect("a result");
            }
        })
    });
    let snapshot = hub.snapshot();
    let up = snapshot
        .checks
        .iter()
        .filter(|s| s.health == Health::Up)
        .count();
    assert_eq!(up, ROUND_CHECKS, "every check ran once and is up");
    drop(engine);
    eprintln!("{ROUND_CHECKS} HTTP checks, {concurrency} at once: all up");
}

// --------------------------------------------------------------- snapshot

fn snapshot() {
    let hub = hub_with_board(SNAPSHOT_CHECKS, 4, 4096);
    // What a new private and a new public client start with: each a
    // snapshot framed now (none is kept after the board changed).
    let size = |audience| match hub.subscribe_from(None, audience).expect("a slot").start {
        pulse::hub::Start::Snapshot(frame) => frame.len(),
        other => panic!("a snapshot, not {other:?}"),
    };
    let (private, public) = measured(|| (size(Audience::Private), size(Audience::Public)));
    eprintln!(
        "snapshot of {SNAPSHOT_CHECKS} checks: {private} bytes private, {public} bytes public"
    );
}

// ------------------------------------------------------------ idle streams

/// Counts the heap: bytes and blocks held now, and allocations made.
struct Counting;

static HELD_BYTES: AtomicIsize = AtomicIsize::new(0);
static HELD_BLOCKS: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocated(size: usize) {
    HELD_BYTES.fetch_add(size as isize, Ordering::Relaxed);
    HELD_BLOCKS.fetch_add(1, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

fn freed(size: usize) {
    HELD_BYTES.fetch_sub(size as isize, Ordering::Relaxed);
    HELD_BLOCKS.fetch_sub(1, Ordering::Relaxed);
}

// SAFETY: every call goes to the system allocator unchanged; the counters
// only watch.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            allocated(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            allocated(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(block, layout) };
        freed(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        moved
    }
}

/// The heap counters at one moment.
#[derive(Clone, Copy)]
struct Heap {
    bytes: isize,
    blocks: isize,
    allocations: usize,
}

impl Heap {
    fn now() -> Heap {
        Heap {
            bytes: HELD_BYTES.load(Ordering::Relaxed),
            blocks: HELD_BLOCKS.load(Ordering::Relaxed),
            allocations: ALLOCATIONS.load(Ordering::Relaxed),
        }
    }
}

/// A client of an idle stream: a plain socket, which costs this process
/// no heap, read without blocking until its opening is in.
struct IdleClient {
    socket: std::net::TcpStream,
    tail: [u8; 3],
    opened: bool,
}

impl IdleClient {
    fn connect(addr: SocketAddr, path: StreamPath) -> IdleClient {
        let mut socket = std::net::TcpStream::connect(addr).expect("connect");
        socket.write_all(path.request()).expect("request");
        socket.set_nonblocking(true).expect("non-blocking");
        IdleClient {
            socket,
            tail: [0; 3],
            opened: false,
        }
    }

    /// Reads what has arrived; whether the opening is complete.
    fn read_opening(&mut self) -> bool {
        let mut buffer = [0u8; 8192];
        while !self.opened {
            match self.socket.read(&mut buffer) {
                Ok(0) => panic!("the stream ended before its opening"),
                Ok(n) => {
                    let mut seen = [0u8; 8192 + 3];
                    seen[..3].copy_from_slice(&self.tail);
                    seen[3..3 + n].copy_from_slice(&buffer[..n]);
                    self.opened = ends_opening(&seen[..3 + n]);
                    self.tail.copy_from_slice(&seen[n..n + 3]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading the opening: {e}"),
            }
        }
        self.opened
    }
}

/// Opens `IDLE_STREAMS` streams and says how much heap each holds once
/// idle, on stdout as `name value` lines for `scripts/gates`.
fn idle_streams(path: StreamPath) {
    fastrand::seed(SEED);
    let runtime = runtime();
    let hub = hub_with_board(BOARD, 1, 4096);
    let addr = runtime.block_on(serve_streams(hub.clone()));
    // One stream first: what the first one builds once (its metric's
    // label, the per-address count, the shared snapshot) is not per stream.
    let mut clients = Vec::with_capacity(IDLE_STREAMS + 1);
    clients.push(IdleClient::connect(addr, path));
    settle(&runtime, &mut clients);
    let before = Heap::now();
    for _ in 0..IDLE_STREAMS {
        clients.push(IdleClient::connect(addr, path));
    }
    settle(&runtime, &mut clients);
    let after = Heap::now();
    assert_eq!(hub.connected_clients(), IDLE_STREAMS + 1);
    path.assert_opened(&hub, IDLE_STREAMS + 1);
    let per_stream = |total: isize| total as f64 / IDLE_STREAMS as f64;
    println!(
        "heap_bytes_per_stream {:.0}",
        per_stream(after.bytes - before.bytes)
    );
    println!(
        "heap_blocks_per_stream {:.1}",
        per_stream(after.blocks - before.blocks)
    );
    println!(
        "allocations_per_stream {:.1}",
        per_stream((after.allocations - before.allocations) as isize)
    );
    drop(clients);
}

/// Runs the runtime until every client has its opening, then until
/// nothing is left to run: every stream is idle, waiting for an event.
fn settle(runtime: &Runtime, clients: &mut [IdleClient]) {
    runtime.block_on(async {
        loop {
            let mut all = true;
            for client in clients.iter_mut() {
                all &= client.read_opening();
            }
            if all {
                break;
            }
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    });
}
