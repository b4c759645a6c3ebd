//! `pulse-loadgen`: opens many SSE streams against any SSE URL (Pulse, or the
//! Gin peer) and reports what a benchmark needs: time to connect, deliveries
//! per second, fan-out latency from publish to receipt, missed and duplicated
//! events per client, and the server's RSS and CPU.
//!
//! Each event must carry its publish time in its JSON data: Pulse's
//! `checked_at_ms` (run Pulse with `--demo-rate`) or the peer's `ts_us`.
//! Clients are raw TCP connections with a minimal HTTP/1.1 + chunked + SSE
//! reader on one thread, so that on a small machine the server, not the load
//! generator, gets the CPU. More clients than one process may hold (open-file
//! limit) are split over child processes, each on its own loopback source
//! address; the parent starts and stops their measurement together.
//!
//! For a cluster (`--url` once per replica, `--ids log`, `--failover`): the
//! clients are spread over the replicas as DNS round-robin would, events are
//! matched by the shared log's ids (which are not consecutive), and a
//! client whose replica dies comes back on another as a browser would:
//! after the stream's `retry:`, with its `Last-Event-ID`.

/// The cluster's event ids (`ms × 1024 + seq`), from the one file that
/// defines them in Pulse, included by path rather than copied: the id
/// arithmetic stays in one place, and this tool still never compiles the
/// `pulse` library (a leaf module: it uses nothing but `core`). Only
/// `PER_MILLISECOND` is used here.
#[allow(dead_code)]
#[path = "../../../src/hub/ids.rs"]
mod ids;

use clap::Parser;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, watch};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "pulse-loadgen",
    about = "Opens many SSE streams and measures their delivery"
)]
struct Args {
    /// The SSE URL, e.g. http://127.0.0.1:3000/api/events (http only).
    /// Given several times (one per replica of a cluster), the clients are
    /// spread over them in turn.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Streams to open in total.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How long to measure once every stream is open.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Processes to split the clients over (each can hold ~19,900 sockets).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// The server's PID, to report its RSS per stream and its CPU; once per
    /// replica of a cluster (their figures are added up, and listed apart).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Other processes whose CPU to report while measuring, as
    /// `name=PID[,PID…]` (e.g. `redis=812` or Postgres's processes).
    #[arg(long, value_parser = parse_cpu_of)]
    cpu_of: Vec<(String, Vec<u32>)>,
    /// How event ids go: `consecutive` (one server: every id in turn, so a
    /// gap is counted from the ids alone) or `log` (a cluster's shared log:
    /// ids grow but skip, so a client's ids are compared with every id any
    /// client received).
    #[arg(long, value_enum, default_value_t = Ids::Consecutive)]
    ids: Ids,
    /// A client whose stream ends while measuring comes back, as a browser
    /// would: after the stream's `retry:`, on another of the `--url`s, with
    /// its `Last-Event-ID`. Reports how long its viewers were away.
    #[arg(long)]
    failover: bool,
    /// The JSON field holding the publish time; `_ms` or `_us` in its name gives the unit.
    #[arg(long, default_value = "checked_at_ms")]
    ts_field: String,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Share of clients (0..1) that keep leaving and coming back, each
    /// resuming with its Last-Event-ID, so replay is measured too.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// How long after every stream closed the server's RSS is read: Pulse
    /// returns freed memory to the OS about 1 s after a wave of departures.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Exit non-zero if any client missed or duplicated an event, or failed to connect.
    #[arg(long)]
    strict: bool,
    /// Internal: run as a child of a multi-process run, bound to this source address.
    #[arg(long, hide = true)]
    child_source: Option<Ipv4Addr>,
    /// Internal: the index of a child's first client among all clients, so
    /// the clients of every process together go round the `--url`s evenly.
    #[arg(long, hide = true, default_value_t = 0)]
    first_client: usize,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Ids {
    Consecutive,
    Log,
}

fn parse_cpu_of(text: &str) -> Result<(String, Vec<u32>), String> {
    let (name, pids) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected name=PID[,PID…]"))?;
    let pids = pids
        .split(',')
        .map(|p| p.trim().parse().map_err(|_| format!("`{p}` is not a PID")))
        .collect::<Result<Vec<u32>, String>>()?;
    Ok((name.to_string(), pids))
}

/// Latency histogram: 1 ms buckets up to 60 s (the timestamps have 1 ms
/// resolution at best), merged across clients and processes.
const BUCKETS: usize = 60_001;

struct Shared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    measuring: watch::Receiver<Phase>,
    ids: Ids,
    delivered: AtomicU64,
    reconnects: AtomicU64,
    missed: AtomicU64,
    duplicated: AtomicU64,
    clients_with_gaps: AtomicUsize,
    /// Live deliveries: events published while the client was connected.
    latency: Histogram,
    /// Events a reconnecting client was sent because it had missed them
    /// (published before its connection opened): their age includes the
    /// time the client was away, so they are kept apart from the live ones.
    catch_up: Histogram,
    /// How long a churning client's reconnect took, from asking to having
    /// the response head: the part of a catch-up's age spent connecting.
    reconnect: Histogram,
    /// Streams that ended while measuring (their server died, say).
    lost: AtomicU64,
    /// From a stream's end to the head of the stream that replaced it.
    away: Histogram,
    /// Snapshots received after a client's first: a resume that could
    /// not replay.
    resynced: AtomicU64,
    /// With `--ids log`: each distinct list of ids that clients received
    /// while measuring, and how many clients received exactly it.
    id_lists: std::sync::Mutex<HashMap<Vec<u64>, u64>>,
    first_error: std::sync::Mutex<Option<String>>,
}

/// 1 ms buckets of latency, plus the exact maximum.
struct Histogram {
    ms: Vec<AtomicU64>,
    max_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            ms: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    fn record(&self, latency_us: u64) {
        self.max_us.fetch_max(latency_us, Ordering::Relaxed);
        let bucket = ((latency_us / 1000) as usize).min(BUCKETS - 1);
        self.ms[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> Distribution {
        Distribution {
            max_us: self.max_us.load(Ordering::Relaxed),
            ms: self.ms.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
        }
    }
}

/// A histogram as reported: counts per 1 ms bucket and the exact maximum.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
struct Distribution {
    max_us: u64,
    ms: Vec<u64>,
}

impl Distribution {
    /// Adds another process's counts to these.
    fn merge(&mut self, part: &Distribution) {
        self.max_us = self.max_us.max(part.max_us);
        if self.ms.len() < part.ms.len() {
            self.ms.resize(part.ms.len(), 0);
        }
        for (sum, n) in self.ms.iter_mut().zip(&part.ms) {
            *sum += n;
        }
    }

    fn count(&self) -> u64 {
        self.ms.iter().sum()
    }

    fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }

    /// The latency at quantile `q`, in ms.
    fn percentile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        self.ms
            .iter()
            .position(|&n| {
                seen += n;
                seen >= rank
            })
            .map(|ms| ms as u64)
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    Connecting,
    Measuring,
    Done,
}

#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
struct Report {
    clients: usize,
    connected: usize,
    failed: usize,
    first_error: Option<String>,
    connect_seconds: f64,
    measured_seconds: f64,
    delivered: u64,
    missed: u64,
    duplicated: u64,
    clients_with_gaps: usize,
    /// Live deliveries, catch-up on reconnect, and reconnect times (see
    /// `Shared`).
    latency: Distribution,
    catch_up: Distribution,
    reconnect: Distribution,
    reconnects: u64,
    lost: u64,
    away: Distribution,
    resynced: u64,
    id_lists: Vec<(Vec<u64>, u64)>,
    /// The measuring window, in Unix milliseconds (`--ids log`).
    measure_start_ms: u64,
    measure_end_ms: u64,
    servers: Vec<ServerFigures>,
    cpu_of: Vec<(String, Option<f64>)>,
}

/// What one server process cost (`--server-pid`).
#[derive(serde::Serialize, serde::Deserialize, Default, Debug, Clone)]
struct ServerFigures {
    pid: u32,
    rss_before_kib: Option<u64>,
    rss_connected_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    cpu_cores: Option<f64>,
}

fn main() {
    let args = Args::parse();
    let mut report = if args.child_source.is_none() && args.processes > 1 {
        run_parent(&args)
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(run_clients(&args))
    };
    if args.child_source.is_some() {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        );
        return;
    }
    if args.ids == Ids::Log {
        count_gaps_against_every_id(&mut report);
    }
    let failed = report.failed > 0 || report.missed > 0 || report.duplicated > 0;
    if args.json {
        let mut value = serde_json::to_value(summary(&report)).expect("summary serialises");
        value["command"] = std::env::args().collect::<Vec<_>>().join(" ").into();
        println!("{value}");
    } else {
        print_text(&report);
    }
    if args.strict && failed {
        std::process::exit(1);
    }
}

/// Events published this long after measuring began, or before it ended,
/// must have reached every client; nearer the edges, clients may have
/// started or stopped a moment apart (a fan-out to 90,000 takes most of a
/// second).
const EDGE_MS: u64 = 5_000;

/// With the shared log's ids, a gap cannot be seen in one client's ids
/// alone: an id any client received, and which a client lacks, is one it
/// missed if it lies between that client's first and last ids, or well
/// inside the measuring window (a client whose stream stalled, or that
/// never got going, has missed those too). The log's ids carry the
/// millisecond they were published in, which places them in the window.
fn count_gaps_against_every_id(report: &mut Report) {
    let every: std::collections::BTreeSet<u64> = report
        .id_lists
        .iter()
        .flat_map(|(ids, _)| ids.iter().copied())
        .collect();
    let published_ms = |id: &&u64| **id / ids::PER_MILLISECOND;
    let settled_from = every
        .iter()
        .find(|id| published_ms(id) >= report.measure_start_ms + EDGE_MS)
        .copied();
    let settled_to = every
        .iter()
        .rev()
        .find(|id| published_ms(id) + EDGE_MS <= report.measure_end_ms)
        .copied();
    for (ids, clients) in &report.id_lists {
        let from = [ids.first().copied(), settled_from]
            .into_iter()
            .flatten()
            .min();
        let to = [ids.last().copied(), settled_to]
            .into_iter()
            .flatten()
            .max();
        let (Some(from), Some(to)) = (from, to) else {
            continue;
        };
        let missed = every.range(from..=to).count() as u64 - ids.len() as u64;
        if missed > 0 {
            report.missed += missed * clients;
            report.clients_with_gaps += *clients as usize;
        }
    }
}

/// The memory and CPU of the processes a run watches, sampled at the
/// moments every run shares: before connecting, once connected, over the
/// measuring window, and after everyone left.
struct Watch {
    servers: Vec<u32>,
    others: Vec<(String, Vec<u32>)>,
    rss_before: Vec<Option<u64>>,
    rss_connected: Vec<Option<u64>>,
    ticks_at_start: Vec<Option<u64>>,
    others_at_start: Vec<Option<u64>>,
}

impl Watch {
    fn before(args: &Args) -> Watch {
        Watch {
            servers: args.server_pid.clone(),
            others: args.cpu_of.clone(),
            rss_before: args.server_pid.iter().map(|&p| rss_kib(p)).collect(),
            rss_connected: Vec::new(),
            ticks_at_start: Vec::new(),
            others_at_start: Vec::new(),
        }
    }

    fn connected(&mut self) {
        self.rss_connected = self.servers.iter().map(|&p| rss_kib(p)).collect();
    }

    fn measuring(&mut self) {
        self.ticks_at_start = self.servers.iter().map(|&p| cpu_ticks(p)).collect();
        self.others_at_start = self.others.iter().map(|(_, p)| ticks_of_all(p)).collect();
    }

    /// Each server's figures and the others' CPU, over `seconds` measured.
    fn measured(&self, seconds: f64) -> (Vec<ServerFigures>, Vec<(String, Option<f64>)>) {
        let servers = self
            .servers
            .iter()
            .enumerate()
            .map(|(i, &pid)| ServerFigures {
                pid,
                rss_before_kib: self.rss_before[i],
                rss_connected_kib: self.rss_connected.get(i).copied().flatten(),
                rss_after_kib: None,
                cpu_cores: cpu_cores(self.ticks_at_start[i], cpu_ticks(pid), seconds),
            })
            .collect();
        let others = self
            .others
            .iter()
            .zip(&self.others_at_start)
            .map(|((name, pids), &start)| {
                (name.clone(), cpu_cores(start, ticks_of_all(pids), seconds))
            })
            .collect();
        (servers, others)
    }
}

/// The servers' RSS once every stream is closed and they have had a moment
/// to release them: compared with the RSS before, it shows what leaked.
fn read_rss_after(servers: &mut [ServerFigures], settle: Duration) {
    if servers.is_empty() {
        return;
    }
    std::thread::sleep(settle);
    for server in servers {
        server.rss_after_kib = rss_kib(server.pid);
    }
}

/// Opens this process's share of clients, measures, returns the report.
/// A child waits for `go` on stdin before measuring and for its stdin to
/// close before stopping, so the parent measures every process together.
async fn run_clients(args: &Args) -> Report {
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let shared = Arc::new(Shared {
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        measuring: phase_rx,
        ids: args.ids,
        delivered: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        missed: AtomicU64::new(0),
        duplicated: AtomicU64::new(0),
        clients_with_gaps: AtomicUsize::new(0),
        latency: Histogram::new(),
        catch_up: Histogram::new(),
        reconnect: Histogram::new(),
        lost: AtomicU64::new(0),
        away: Histogram::new(),
        resynced: AtomicU64::new(0),
        id_lists: Default::default(),
        first_error: std::sync::Mutex::new(None),
    });
    let targets = args
        .url
        .iter()
        .map(|url| Target::parse(url, &args.ts_field))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| {
            eprintln!("pulse-loadgen: {e}");
            std::process::exit(2)
        });
    let targets = Arc::new(targets);
    let source = args.child_source.unwrap_or(Ipv4Addr::LOCALHOST);
    let mut watched = Watch::before(args);

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(args.clients);
    let churners = (args.clients as f64 * args.churn.clamp(0.0, 1.0)).round() as usize;
    for i in 0..args.clients {
        let client = Client {
            targets: targets.clone(),
            first_target: (args.first_client + i) % targets.len(),
            source,
            shared: shared.clone(),
            gate: gate.clone(),
            churns: i < churners,
            failover: args.failover,
        };
        tasks.push(tokio::spawn(client.run()));
    }
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < args.clients
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    watched.connected();

    if args.child_source.is_some() {
        println!("connected");
        wait_for_parent_line().await; // "go"
    }
    watched.measuring();
    let window = Instant::now();
    let measure_start_ms = now_us() / 1000;
    phase_tx.send_replace(Phase::Measuring);
    if args.child_source.is_some() {
        wait_for_parent_line().await; // stdin closed: stop
    } else {
        tokio::time::sleep(args.duration).await;
    }
    phase_tx.send_replace(Phase::Done);
    let measure_end_ms = now_us() / 1000;
    let measured_seconds = window.elapsed().as_secs_f64();
    let (mut servers, cpu_of) = watched.measured(measured_seconds);
    for task in tasks {
        let _ = task.await;
    }
    read_rss_after(&mut servers, args.settle);
    let id_lists = std::mem::take(&mut *shared.id_lists.lock().unwrap());
    Report {
        clients: args.clients,
        connected: shared.connected.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        first_error: shared.first_error.lock().unwrap().clone(),
        connect_seconds,
        measured_seconds,
        delivered: shared.delivered.load(Ordering::Relaxed),
        missed: shared.missed.load(Ordering::Relaxed),
        duplicated: shared.duplicated.load(Ordering::Relaxed),
        clients_with_gaps: shared.clients_with_gaps.load(Ordering::Relaxed),
        latency: shared.latency.read(),
        catch_up: shared.catch_up.read(),
        reconnect: shared.reconnect.read(),
        reconnects: shared.reconnects.load(Ordering::Relaxed),
        lost: shared.lost.load(Ordering::Relaxed),
        away: shared.away.read(),
        resynced: shared.resynced.load(Ordering::Relaxed),
        id_lists: id_lists.into_iter().collect(),
        measure_start_ms,
        measure_end_ms,
        servers,
        cpu_of,
    }
}

fn cpu_cores(before: Option<u64>, after: Option<u64>, seconds: f64) -> Option<f64> {
    Some(after?.saturating_sub(before?) as f64 / clock_ticks_per_second() / seconds)
}

/// The CPU ticks of a group of processes (Postgres's, say); `None` when
/// none of them is alive.
fn ticks_of_all(pids: &[u32]) -> Option<u64> {
    pids.iter()
        .filter_map(|&p| cpu_ticks(p))
        .fold(None, |sum, t| Some(sum.unwrap_or(0) + t))
}

async fn wait_for_parent_line() {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    })
    .await
    .expect("stdin reader");
}

/// Splits the clients over child processes on source addresses 127.0.0.2,
/// 127.0.0.3, …, lets them connect, measures them together, merges reports.
fn run_parent(args: &Args) -> Report {
    let exe = std::env::current_exe().expect("own path");
    let share = args.clients.div_ceil(args.processes);
    let mut children = Vec::new();
    let mut remaining = args.clients;
    for i in 0..args.processes {
        let count = share.min(remaining);
        let first_client = args.clients - remaining;
        remaining -= count;
        let source = Ipv4Addr::new(127, 0, 0, 2 + i as u8);
        let mut command = std::process::Command::new(&exe);
        for url in &args.url {
            command.args(["--url", url]);
        }
        if args.failover {
            command.arg("--failover");
        }
        let ids = if args.ids == Ids::Log {
            "log"
        } else {
            "consecutive"
        };
        let child = command
            .args(["--ts-field", &args.ts_field, "--ids", ids])
            .args([
                "--clients",
                &count.to_string(),
                "--first-client",
                &first_client.to_string(),
                "--child-source",
                &source.to_string(),
            ])
            .args([
                "--connect-concurrency",
                &args.connect_concurrency.to_string(),
            ])
            .args(["--churn", &args.churn.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("a child load generator starts");
        children.push(child);
    }
    let mut watched = Watch::before(args);
    let started = Instant::now();
    let mut outputs: Vec<_> = children
        .iter_mut()
        .map(|c| std::io::BufReader::new(c.stdout.take().expect("piped")))
        .collect();
    for out in &mut outputs {
        let mut line = String::new();
        out.read_line(&mut line).expect("child reports");
        assert_eq!(line.trim(), "connected", "child said {line:?}");
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    watched.connected();
    watched.measuring();
    let measure_start_ms = now_us() / 1000;
    for child in &mut children {
        writeln!(child.stdin.as_mut().expect("piped"), "go").expect("child listens");
    }
    let window = Instant::now();
    std::thread::sleep(args.duration);
    for child in &mut children {
        drop(child.stdin.take()); // stop
    }
    let measure_end_ms = now_us() / 1000;
    let measured_seconds = window.elapsed().as_secs_f64();
    let (servers, cpu_of) = watched.measured(measured_seconds);
    let mut total = Report {
        clients: args.clients,
        connect_seconds,
        measured_seconds,
        measure_start_ms,
        measure_end_ms,
        servers,
        cpu_of,
        ..Report::default()
    };
    let mut id_lists: HashMap<Vec<u64>, u64> = HashMap::new();
    for (mut child, mut out) in children.into_iter().zip(outputs) {
        let mut line = String::new();
        out.read_line(&mut line).expect("child reports");
        let part: Report = serde_json::from_str(&line).expect("child report is JSON");
        let _ = child.wait();
        total.connected += part.connected;
        total.failed += part.failed;
        total.first_error = total.first_error.or(part.first_error);
        total.delivered += part.delivered;
        total.reconnects += part.reconnects;
        total.missed += part.missed;
        total.duplicated += part.duplicated;
        total.clients_with_gaps += part.clients_with_gaps;
        total.latency.merge(&part.latency);
        total.catch_up.merge(&part.catch_up);
        total.reconnect.merge(&part.reconnect);
        total.lost += part.lost;
        total.away.merge(&part.away);
        total.resynced += part.resynced;
        for (ids, clients) in part.id_lists {
            *id_lists.entry(ids).or_default() += clients;
        }
    }
    total.id_lists = id_lists.into_iter().collect();
    read_rss_after(&mut total.servers, args.settle);
    total
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    authority: Arc<str>,
    path: Arc<str>,
    /// `"<field>":` as it appears in the JSON data.
    ts_key: Arc<Vec<u8>>,
    /// Multiplier from the field's unit to microseconds.
    ts_to_us: u64,
}

impl Target {
    fn request(&self, last_event_id: Option<u64>) -> Vec<u8> {
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n{resume}\r\n",
            self.path, self.authority
        )
        .into_bytes()
    }

    fn parse(url: &str, ts_field: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("only http:// URLs are supported")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| format!("`{authority}` must be an IP:port (no DNS in a benchmark)"))?;
        let ts_to_us = if ts_field.ends_with("_us") {
            1
        } else if ts_field.ends_with("_ms") {
            1000
        } else {
            return Err(format!("`{ts_field}` must end in _ms or _us"));
        };
        Ok(Target {
            addr,
            authority: authority.into(),
            path: path.into(),
            ts_key: Arc::new(format!("\"{ts_field}\":").into_bytes()),
            ts_to_us,
        })
    }
}

/// One viewer: a stream kept open (and, churning, left and resumed; with
/// failover, resumed on another server when its own ends).
struct Client {
    targets: Arc<Vec<Target>>,
    first_target: usize,
    source: Ipv4Addr,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    churns: bool,
    failover: bool,
}

/// Why a connection's reading stopped.
enum Ended {
    /// Measuring is over.
    Done,
    /// A churning client left; it comes back where it was.
    Left,
    /// The server ended the stream or the connection broke.
    Lost,
}

impl Client {
    async fn run(self) {
        let shared = &self.shared;
        let mut reader =
            StreamReader::new(self.targets[0].ts_key.clone(), self.targets[0].ts_to_us);
        let mut phase = shared.measuring.clone();
        let mut buf = vec![0u8; 16 * 1024];
        let mut at = self.first_target;
        let mut first = true;
        // When the stream ended that the one being opened replaces.
        let mut lost_at: Option<Instant> = None;
        loop {
            let permit = self.gate.acquire().await.expect("gate open");
            let asked_at_us = now_us();
            let opened = open_stream(&self.targets[at], self.source, reader.resume_from()).await;
            drop(permit);
            let (mut socket, leftover) = match opened {
                // Another server may take it: try the next, as a browser
                // tries the next address of a name.
                Err(_) if lost_at.is_some() && *phase.borrow() == Phase::Measuring => {
                    at = self.another_target(at);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    shared.first_error.lock().unwrap().get_or_insert(error);
                    break;
                }
                Ok(ok) => ok,
            };
            if first {
                shared.connected.fetch_add(1, Ordering::Relaxed);
                first = false;
            } else {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
                shared
                    .reconnect
                    .record(now_us().saturating_sub(asked_at_us));
            }
            if let Some(lost) = lost_at.take() {
                shared.away.record(lost.elapsed().as_micros() as u64);
            }
            reader.new_connection(asked_at_us);
            reader.feed(&leftover, shared);
            // A churning client leaves after a random 0.2–2 s while measuring.
            let stay = Duration::from_millis(200 + fastrand::u64(0..1800));
            let leave_at = tokio::time::sleep(if self.churns { stay } else { Duration::MAX / 4 });
            tokio::pin!(leave_at);
            let ended = loop {
                tokio::select! {
                    read = socket.read(&mut buf) => match read {
                        Ok(0) | Err(_) => break Ended::Lost,
                        Ok(n) => reader.feed(&buf[..n], shared),
                    },
                    changed = phase.changed() => {
                        if changed.is_err() || *phase.borrow() == Phase::Done {
                            break Ended::Done;
                        }
                    }
                    _ = &mut leave_at, if *phase.borrow() == Phase::Measuring => break Ended::Left,
                }
            };
            match ended {
                Ended::Left => {}
                Ended::Lost if self.failover && *phase.borrow() == Phase::Measuring => {
                    shared.lost.fetch_add(1, Ordering::Relaxed);
                    lost_at = Some(Instant::now());
                    // As a browser's EventSource: wait the stream's retry:,
                    // then ask again (through DNS or a balancer: elsewhere).
                    tokio::time::sleep(reader.retry).await;
                    at = self.another_target(at);
                }
                Ended::Lost | Ended::Done => break,
            }
        }
        reader.finish(shared);
    }

    /// Any target but `at`, at random (the same when there is only one).
    fn another_target(&self, at: usize) -> usize {
        match self.targets.len() {
            0 | 1 => at,
            n => (at + 1 + fastrand::usize(0..n - 1)) % n,
        }
    }
}

/// Without this, `bind` to port 0 picks a port alone: it has to avoid every
/// port of that address still in TIME_WAIT from an earlier run, whatever its
/// peer, which took the kernel 20 s for 18,000 sockets right after a run.
/// With it, the port is picked at `connect`, knowing the peer.
fn defer_port_choice_to_connect(socket: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a c_int option of the size given.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Connects from `source`, sends the request, and reads the response head.
/// Returns the socket and any body bytes read with the head.
async fn open_stream(
    target: &Target,
    source: Ipv4Addr,
    last_event_id: Option<u64>,
) -> Result<(tokio::net::TcpStream, Vec<u8>), String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    defer_port_choice_to_connect(&socket).map_err(|e| format!("setsockopt: {e}"))?;
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let mut stream = tokio::time::timeout(Duration::from_secs(30), socket.connect(target.addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(&target.request(last_event_id))
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .map_err(|_| "no response head within 30 s".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the response head".into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status_line = String::from_utf8_lossy(
                &head[..head.iter().position(|&b| b == b'\r').unwrap_or(0)],
            )
            .to_string();
            if !status_line.contains(" 200 ") {
                return Err(format!("answered `{status_line}`"));
            }
            let head_text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            if !head_text.contains("transfer-encoding: chunked") {
                return Err("expected a chunked response".into());
            }
            return Ok((stream, head[end + 4..].to_vec()));
        }
    }
}

/// Chunked transfer decoding, then SSE lines, then per-event bookkeeping.
struct StreamReader {
    chunk_left: usize,
    in_size_line: bool,
    size_line: Vec<u8>,
    skip_crlf: usize,
    line: Vec<u8>,
    event_id: Option<u64>,
    event_is_message: bool,
    event_is_snapshot: bool,
    event_ts_us: Option<u64>,
    expected_id: Option<u64>,
    missed: u64,
    duplicated: u64,
    /// With `--ids log`: the ids of the messages received while measuring.
    seen: Vec<u64>,
    /// Snapshots received on this client's connections so far.
    snapshots: u64,
    /// How long the server asks a client to wait before it comes back
    /// (`retry:`); a browser's default until told.
    retry: Duration,
    ts_key: Arc<Vec<u8>>,
    ts_to_us: u64,
    /// When the current connection was asked for: an event published
    /// before it was missed while away and is a catch-up, not live.
    connecting_since_us: u64,
}

impl StreamReader {
    fn new(ts_key: Arc<Vec<u8>>, ts_to_us: u64) -> Self {
        StreamReader {
            chunk_left: 0,
            in_size_line: true,
            size_line: Vec::new(),
            skip_crlf: 0,
            line: Vec::new(),
            event_id: None,
            event_is_message: true,
            event_is_snapshot: false,
            event_ts_us: None,
            expected_id: None,
            missed: 0,
            duplicated: 0,
            seen: Vec::new(),
            snapshots: 0,
            retry: Duration::from_secs(3),
            ts_key,
            ts_to_us,
            connecting_since_us: 0,
        }
    }

    /// The id to resume from on reconnecting: the last event seen.
    fn resume_from(&self) -> Option<u64> {
        self.expected_id.map(|next| next - 1)
    }

    /// A new connection starts a new chunked body and SSE parse; the ids
    /// (and so the gap accounting) carry over.
    fn new_connection(&mut self, asked_at_us: u64) {
        self.connecting_since_us = asked_at_us;
        self.chunk_left = 0;
        self.in_size_line = true;
        self.size_line.clear();
        self.skip_crlf = 0;
        self.line.clear();
        self.event_id = None;
        self.event_is_message = true;
        self.event_is_snapshot = false;
        self.event_ts_us = None;
    }

    /// Adds this client's account to the run's.
    fn finish(self, shared: &Shared) {
        if self.missed > 0 || self.duplicated > 0 {
            shared.clients_with_gaps.fetch_add(1, Ordering::Relaxed);
        }
        shared.missed.fetch_add(self.missed, Ordering::Relaxed);
        shared
            .duplicated
            .fetch_add(self.duplicated, Ordering::Relaxed);
        shared
            .resynced
            .fetch_add(self.snapshots.saturating_sub(1), Ordering::Relaxed);
        if shared.ids == Ids::Log {
            let mut lists = shared.id_lists.lock().unwrap();
            *lists.entry(self.seen).or_default() += 1;
        }
    }

    fn feed(&mut self, mut input: &[u8], shared: &Shared) {
        while !input.is_empty() {
            if self.skip_crlf > 0 {
                self.skip_crlf -= 1;
                input = &input[1..];
            } else if self.in_size_line {
                let b = input[0];
                input = &input[1..];
                if b == b'\n' {
                    let text = String::from_utf8_lossy(&self.size_line);
                    let hex = text.trim().split(';').next().unwrap_or("");
                    self.chunk_left = usize::from_str_radix(hex, 16).unwrap_or(0);
                    self.size_line.clear();
                    self.in_size_line = false;
                    if self.chunk_left == 0 {
                        return; // last chunk: the stream ended
                    }
                } else {
                    self.size_line.push(b);
                }
            } else {
                let take = self.chunk_left.min(input.len());
                self.body(&input[..take], shared);
                input = &input[take..];
                self.chunk_left -= take;
                if self.chunk_left == 0 {
                    self.in_size_line = true;
                    self.skip_crlf = 2;
                }
            }
        }
    }

    fn body(&mut self, bytes: &[u8], shared: &Shared) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, shared);
                self.line = line;
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
    }

    fn line_done(&mut self, line: &[u8], shared: &Shared) {
        if line.is_empty() {
            self.dispatch(shared);
        } else if let Some(id) = line.strip_prefix(b"id: ") {
            self.event_id = std::str::from_utf8(id)
                .ok()
                .and_then(|s| s.trim().parse().ok());
        } else if let Some(ms) = line.strip_prefix(b"retry: ") {
            if let Some(ms) = std::str::from_utf8(ms)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                self.retry = Duration::from_millis(ms);
            }
        } else if let Some(kind) = line.strip_prefix(b"event: ") {
            self.event_is_message = kind == b"message";
            self.event_is_snapshot = kind == b"snapshot";
        } else if let Some(data) = line.strip_prefix(b"data: ")
            && self.event_is_message
        {
            self.event_ts_us = find_number(data, &self.ts_key).map(|v| v * self.ts_to_us);
        }
    }

    fn dispatch(&mut self, shared: &Shared) {
        let (id, is_message, ts) = (
            self.event_id.take(),
            self.event_is_message,
            self.event_ts_us.take(),
        );
        let is_snapshot = std::mem::take(&mut self.event_is_snapshot);
        self.event_is_message = true;
        let Some(id) = id else { return };
        if !is_message {
            // A snapshot (or resync): the stream continues after its id.
            // (A cluster replica's own notices reuse the newest id, which
            // moves nothing.)
            if is_snapshot {
                self.snapshots += 1;
            }
            self.expected_id = Some(id.max(self.expected_id.unwrap_or(0)) + 1);
            return;
        }
        match self.expected_id {
            Some(expected) if id > expected && shared.ids == Ids::Consecutive => {
                self.missed += id - expected
            }
            Some(expected) if id < expected => self.duplicated += 1,
            _ => {}
        }
        self.expected_id = Some(id.max(self.expected_id.unwrap_or(0)) + 1);
        if *shared.measuring.borrow() != Phase::Measuring {
            return;
        }
        if shared.ids == Ids::Log && self.seen.last().is_none_or(|&last| id > last) {
            self.seen.push(id);
        }
        shared.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(ts) = ts {
            let latency_us = now_us().saturating_sub(ts);
            if ts < self.connecting_since_us {
                shared.catch_up.record(latency_us);
            } else {
                shared.latency.record(latency_us);
            }
        }
    }
}

fn find_number(data: &[u8], key: &[u8]) -> Option<u64> {
    let at = data.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: &[u8] = &data[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux this runs on; /proc/<pid>/stat uses it.
    100.0
}

#[derive(serde::Serialize)]
struct Summary {
    clients: usize,
    connected: usize,
    failed: usize,
    first_error: Option<String>,
    connect_seconds: f64,
    measured_seconds: f64,
    deliveries_per_second: f64,
    latency_p50_ms: Option<u64>,
    latency_p99_ms: Option<u64>,
    latency_max_ms: f64,
    /// Events replayed to reconnecting clients, and how old they were.
    caught_up: u64,
    catch_up_p50_ms: Option<u64>,
    catch_up_p99_ms: Option<u64>,
    catch_up_max_ms: f64,
    reconnect_p50_ms: Option<u64>,
    reconnect_p99_ms: Option<u64>,
    reconnect_max_ms: f64,
    missed: u64,
    duplicated: u64,
    clients_with_gaps: usize,
    server_rss_per_stream_kib: Option<f64>,
    server_rss_connected_mib: Option<f64>,
    server_cpu_cores: Option<f64>,
    reconnects: u64,
    server_rss_before_mib: Option<f64>,
    server_rss_after_mib: Option<f64>,
    /// Streams that ended while measuring, and (with `--failover`) how
    /// long their viewers were away: from the end to the next stream's head.
    lost: u64,
    away_p50_ms: Option<u64>,
    away_p99_ms: Option<u64>,
    away_max_ms: f64,
    resynced: u64,
    /// Each server apart (`--server-pid` given several times).
    servers: Vec<ServerSummary>,
    /// The CPU of the `--cpu-of` processes, in cores.
    cpu_of: std::collections::BTreeMap<String, Option<f64>>,
}

#[derive(serde::Serialize)]
struct ServerSummary {
    pid: u32,
    rss_before_mib: Option<f64>,
    rss_connected_mib: Option<f64>,
    rss_after_mib: Option<f64>,
    cpu_cores: Option<f64>,
}

/// The servers' RSS at two moments, added up over the servers measured at
/// both (a server killed during the run has no "after").
fn rss_sum(
    servers: &[ServerFigures],
    from: fn(&ServerFigures) -> Option<u64>,
    to: fn(&ServerFigures) -> Option<u64>,
) -> Option<(u64, u64)> {
    servers
        .iter()
        .filter_map(|s| Some((from(s)?, to(s)?)))
        .fold(None, |sum, (a, b)| {
            let (x, y) = sum.unwrap_or((0, 0));
            Some((x + a, y + b))
        })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn summary(r: &Report) -> Summary {
    let connected = rss_sum(&r.servers, |s| s.rss_before_kib, |s| s.rss_connected_kib);
    let after = rss_sum(&r.servers, |s| s.rss_before_kib, |s| s.rss_after_kib);
    let cpu = r.servers.iter().filter_map(|s| s.cpu_cores);
    let server_cpu_cores = (!r.servers.is_empty()).then(|| cpu.sum());
    Summary {
        clients: r.clients,
        connected: r.connected,
        failed: r.failed,
        first_error: r.first_error.clone(),
        connect_seconds: r.connect_seconds,
        measured_seconds: r.measured_seconds,
        deliveries_per_second: r.delivered as f64 / r.measured_seconds.max(1e-9),
        latency_p50_ms: r.latency.percentile(0.50),
        latency_p99_ms: r.latency.percentile(0.99),
        latency_max_ms: r.latency.max_ms(),
        caught_up: r.catch_up.count(),
        catch_up_p50_ms: r.catch_up.percentile(0.50),
        catch_up_p99_ms: r.catch_up.percentile(0.99),
        catch_up_max_ms: r.catch_up.max_ms(),
        reconnect_p50_ms: r.reconnect.percentile(0.50),
        reconnect_p99_ms: r.reconnect.percentile(0.99),
        reconnect_max_ms: r.reconnect.max_ms(),
        missed: r.missed,
        duplicated: r.duplicated,
        clients_with_gaps: r.clients_with_gaps,
        server_rss_per_stream_kib: connected
            .filter(|_| r.connected > 0)
            .map(|(a, b)| b.saturating_sub(a) as f64 / r.connected as f64),
        server_rss_connected_mib: connected.map(|(_, b)| mib(b)),
        server_cpu_cores,
        reconnects: r.reconnects,
        server_rss_before_mib: after.map(|(a, _)| mib(a)),
        server_rss_after_mib: after.map(|(_, b)| mib(b)),
        lost: r.lost,
        away_p50_ms: r.away.percentile(0.50),
        away_p99_ms: r.away.percentile(0.99),
        away_max_ms: r.away.max_ms(),
        resynced: r.resynced,
        servers: r
            .servers
            .iter()
            .map(|s| ServerSummary {
                pid: s.pid,
                rss_before_mib: s.rss_before_kib.map(mib),
                rss_connected_mib: s.rss_connected_kib.map(mib),
                rss_after_mib: s.rss_after_kib.map(mib),
                cpu_cores: s.cpu_cores,
            })
            .collect(),
        cpu_of: r.cpu_of.iter().cloned().collect(),
    }
}

fn print_text(r: &Report) {
    let s = summary(r);
    println!(
        "clients        {} connected of {} in {:.2} s ({} failed{})",
        s.connected,
        s.clients,
        s.connect_seconds,
        s.failed,
        s.first_error
            .as_deref()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    println!(
        "deliveries     {:.0}/s over {:.1} s",
        s.deliveries_per_second, s.measured_seconds
    );
    let ms = |v: Option<u64>| v.map_or("–".to_string(), |v| format!("{v} ms"));
    println!(
        "latency        p50 {}  p99 {}  max {:.1} ms (1 ms resolution)",
        ms(s.latency_p50_ms),
        ms(s.latency_p99_ms),
        s.latency_max_ms
    );
    println!(
        "gaps           {} missed, {} duplicated, {} clients affected",
        s.missed, s.duplicated, s.clients_with_gaps
    );
    if let Some(per) = s.server_rss_per_stream_kib {
        println!(
            "server memory  {:.1} KiB RSS per stream ({:.0} MiB with all connected)",
            per,
            s.server_rss_connected_mib.unwrap_or(0.0)
        );
    }
    if s.reconnects > 0 {
        println!(
            "churn          {} reconnects, each resuming with Last-Event-ID",
            s.reconnects
        );
        println!(
            "catch-up       {} events replayed on reconnect, age p50 {}  p99 {}  max {:.1} ms",
            s.caught_up,
            ms(s.catch_up_p50_ms),
            ms(s.catch_up_p99_ms),
            s.catch_up_max_ms
        );
        println!(
            "reconnecting   p50 {}  p99 {}  max {:.1} ms from asking to the response head",
            ms(s.reconnect_p50_ms),
            ms(s.reconnect_p99_ms),
            s.reconnect_max_ms
        );
    }
    if let (Some(before), Some(after)) = (s.server_rss_before_mib, s.server_rss_after_mib) {
        let change = (after / before - 1.0) * 100.0;
        println!(
            "server RSS     {before:.1} MiB before, {after:.1} MiB after every stream closed ({change:+.0} %)"
        );
    }
    if let Some(cpu) = s.server_cpu_cores {
        println!("server cpu     {cpu:.2} cores while measuring");
    }
    if s.servers.len() > 1 {
        for server in &s.servers {
            let mib = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0} MiB"));
            let cores = server
                .cpu_cores
                .map_or("–".to_string(), |c| format!("{c:.2}"));
            println!(
                "  server {:>7}  RSS {} before, {} connected, {} after; cpu {cores} cores",
                server.pid,
                mib(server.rss_before_mib),
                mib(server.rss_connected_mib),
                mib(server.rss_after_mib),
            );
        }
    }
    for (name, cores) in &s.cpu_of {
        let cores = cores.map_or("–".to_string(), |c| format!("{c:.2}"));
        println!("{name:<14} {cores} cores while measuring");
    }
    if s.lost > 0 || s.resynced > 0 {
        println!(
            "failover       {} streams lost, back on another server after p50 {}  p99 {}  max {:.1} ms (their retry: included); {} resumed with a snapshot",
            s.lost,
            ms(s.away_p50_ms),
            ms(s.away_p99_ms),
            s.away_max_ms,
            s.resynced
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log ids published at `ms` (the first of that millisecond).
    fn at(ms: u64) -> u64 {
        ms * ids::PER_MILLISECOND
    }

    #[test]
    fn a_log_id_another_client_received_within_ones_own_span_is_missed() {
        let mut report = Report {
            id_lists: vec![
                (vec![at(10), at(25), at(31), at(40)], 3),
                // Lacks 31: missed. Began later and ended sooner: no more.
                (vec![at(25), at(40)], 2),
                (vec![at(31)], 1),
                // Every id from its first to its last.
                (vec![at(25), at(31)], 4),
            ],
            // A window so short that no id is well inside it.
            measure_start_ms: 0,
            measure_end_ms: 50,
            ..Report::default()
        };
        count_gaps_against_every_id(&mut report);
        assert_eq!(report.missed, 2);
        assert_eq!(report.clients_with_gaps, 2);
    }

    #[test]
    fn a_client_that_stalled_or_never_got_going_missed_what_the_window_held() {
        let second = |s: u64| at(100_000 + s * 1000);
        let all: Vec<u64> = (0..30).map(second).collect();
        let mut report = Report {
            id_lists: vec![
                (all.clone(), 5),
                // Stalled after 10 s of a 30 s window: the ids of 10 s
                // to 25 s are missed (the last 5 s are the edge, where
                // clients stop apart).
                (all[..10].to_vec(), 1),
                // Nothing at all: the ids of 5 s to 25 s are missed.
                (Vec::new(), 1),
            ],
            measure_start_ms: 100_000,
            measure_end_ms: 130_000,
            ..Report::default()
        };
        count_gaps_against_every_id(&mut report);
        assert_eq!(report.missed, 16 + 21);
        assert_eq!(report.clients_with_gaps, 2);
    }
}
