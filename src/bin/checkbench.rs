//! `pulse-checkbench`: the check engine at scale. Serves a local HTTP
//! target, writes a config with thousands of HTTP checks against it, runs
//! the real `pulse` binary on that config, follows its event stream, and
//! reports how regularly each check ran (its actual periods against its
//! interval), plus Pulse's CPU and RSS. With `--serve-only` it leaves
//! everything running, to look at the 5,000-card dashboard in a browser.
//!
//! With `--alerts`, every check alerts a webhook that the bench serves
//! itself, Pulse keeps its history (the outbox lives there), and every
//! `--flapping-every`-th target flaps (down, then up, each for `--flap`):
//! the report adds the messages and alerts received per second, and the
//! outbox's largest backlog, beside the same drift figures.

use clap::Parser;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

#[derive(Parser, Debug)]
#[command(
    name = "pulse-checkbench",
    about = "Runs thousands of HTTP checks and measures their period drift"
)]
struct Args {
    /// HTTP checks in the generated config.
    #[arg(long, default_value_t = 5000)]
    checks: usize,
    /// Their interval.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// How long to measure, after the first two intervals (the warm-up).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Groups to spread the checks over.
    #[arg(long, default_value_t = 50)]
    groups: usize,
    /// Every n-th target answers 503, so the board has failing checks.
    #[arg(long, default_value_t = 50)]
    failing_every: usize,
    /// The pulse binary to run.
    #[arg(long, default_value = "target/release/pulse")]
    pulse: String,
    /// Address for Pulse (its dashboard), e.g. 127.0.0.1:3000.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// Start everything and keep it running (for a browser) instead of measuring.
    #[arg(long)]
    serve_only: bool,
    /// Alert every check to a local webhook, with the history on.
    #[arg(long)]
    alerts: bool,
    /// With --alerts: every n-th target flaps (0: none).
    #[arg(long, default_value_t = 10)]
    flapping_every: usize,
    /// How long a flapping target stays down, then up.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    flap: Duration,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let flapping = Flapping {
        every: if args.alerts { args.flapping_every } else { 0 },
        period: args.flap,
    };
    let received = Arc::new(Received::default());
    let target = serve_targets(args.failing_every, flapping, received.clone()).await;
    let dir = tempfile_dir();
    let config = dir.join("pulse.toml");
    std::fs::write(&config, generate_config(&args, target)).expect("the config is written");
    let history = args.alerts.then(|| dir.join("history.db"));
    let (mut pulse, base) = start_pulse(&args.pulse, &args.addr, &config, history.as_deref());
    eprintln!(
        "{} HTTP checks every {} against http://{target}; Pulse at {base} (config {})",
        args.checks,
        humantime::format_duration(args.interval),
        config.display()
    );
    if args.serve_only {
        eprintln!("serving until Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
        let _ = pulse.kill();
        return;
    }
    let warm_up = args.interval * 2;
    let results = follow_results(&base, warm_up + args.duration);
    let sampler = sample_process(pulse.id(), warm_up, args.duration);
    let outbox = sample_outbox(&base, warm_up + args.duration, args.alerts);
    let counted_from = tokio::spawn({
        let received = received.clone();
        async move {
            tokio::time::sleep(warm_up).await;
            received.counts()
        }
    });
    let (results, usage, outbox_max) = tokio::join!(results, sampler, outbox);
    let before = counted_from.await.expect("the counter runs");
    let (messages, alerts) = received.counts();
    let _ = pulse.kill();
    let _ = pulse.wait();
    let _ = std::fs::remove_dir_all(&dir);
    report(&args, &results, usage);
    if args.alerts {
        let seconds = args.duration.as_secs_f64();
        println!(
            "messages received:            {:.2}/s ({} in {seconds:.0} s), {:.2} alerts/s",
            (messages - before.0) as f64 / seconds,
            messages - before.0,
            (alerts - before.1) as f64 / seconds
        );
        println!("outbox waiting (max, 15 s):   {outbox_max}");
    }
}

/// Which targets flap, and how fast.
#[derive(Clone, Copy)]
struct Flapping {
    every: usize,
    period: Duration,
}

impl Flapping {
    /// Offset from the always-failing ones (`n % failing_every == 0`).
    fn is_down(&self, n: usize) -> bool {
        if self.every == 0 || n % self.every != self.every / 2 {
            return false;
        }
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Each target on its own phase, so that they do not all flip at once.
        let phase = since_epoch.as_secs() + n as u64;
        (phase / self.period.as_secs().max(1)).is_multiple_of(2)
    }
}

/// What the webhook got: messages, and alerts in them.
#[derive(Default)]
struct Received {
    messages: AtomicU64,
    alerts: AtomicU64,
}

impl Received {
    fn counts(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.alerts.load(Ordering::Relaxed),
        )
    }
}

/// How often the outbox is looked at: as often as a Prometheus would
/// scrape. Reading `/metrics` is not free with thousands of checks (7 MB
/// of text and about 17 ms of Pulse's CPU for 5,000 checks): read once a
/// second, from 2026-12-02 on, it was most of what looked like the engine
/// costing half as much again (docs/benchmarks.md).
const SCRAPE_EVERY: Duration = Duration::from_secs(15);

/// The largest `pulse_outbox_waiting` seen, read every `SCRAPE_EVERY` and
/// only with alerts on (there is no outbox to watch without).
async fn sample_outbox(base: &str, how_long: Duration, alerts: bool) -> u64 {
    let deadline = tokio::time::Instant::now() + how_long;
    let mut max = 0;
    while alerts && tokio::time::Instant::now() < deadline {
        if let Ok(answer) = reqwest::get(format!("{base}/metrics")).await
            && let Ok(text) = answer.text().await
        {
            let waiting = text
                .lines()
                .find_map(|l| l.strip_prefix("pulse_outbox_waiting "))
                .and_then(|v| v.trim().parse::<f64>().ok());
            max = max.max(waiting.unwrap_or(0.0) as u64);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(SCRAPE_EVERY.min(left)).await;
    }
    max
}

/// `GET /t/{n}`: 200 "ok", or 503 for every `failing_every`-th target
/// and for a flapping one while it is down. `POST /hook`: the webhook.
async fn serve_targets(
    failing_every: usize,
    flapping: Flapping,
    received: Arc<Received>,
) -> std::net::SocketAddr {
    use axum::extract::Path;
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/t/{n}",
            axum::routing::get(move |Path(n): Path<usize>| async move {
                if (failing_every > 0 && n % failing_every == 0) || flapping.is_down(n) {
                    (StatusCode::SERVICE_UNAVAILABLE, "no")
                } else {
                    (StatusCode::OK, "ok")
                }
            }),
        )
        .route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let alerts = message["alerts"].as_array().map_or(0, Vec::len) as u64;
                received.messages.fetch_add(1, Ordering::Relaxed);
                received.alerts.fetch_add(alerts, Ordering::Relaxed);
                StatusCode::OK
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn generate_config(args: &Args, target: std::net::SocketAddr) -> String {
    let mut text = format!(
        "[defaults]\ninterval = \"{}\"\ntimeout = \"5s\"\n\n",
        humantime::format_duration(args.interval)
    );
    if args.alerts {
        text.push_str(&format!(
            "[[notifier]]\nname = \"bench\"\nkind = \"webhook\"\nurl = \"http://{target}/hook\"\n\n"
        ));
    }
    for n in 0..args.checks {
        let group = n % args.groups.max(1);
        text.push_str(&format!(
            "[[check]]\nname = \"service {n:05}\"\ngroup = \"group {group:02}\"\nkind = \"http\"\nurl = \"http://{target}/t/{n}\"\n\n"
        ));
    }
    text
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pulse-checkbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn start_pulse(
    binary: &str,
    addr: &str,
    config: &std::path::Path,
    history: Option<&std::path::Path>,
) -> (Child, String) {
    let mut command = Command::new(binary);
    command.args(["--addr", addr, "--config"]).arg(config);
    // 5,000 checks fit Pulse's default limit of 1 MiB; 50,000 need ten
    // times that, as they would for a user.
    let size = std::fs::metadata(config).map_or(0, |m| m.len());
    if size > 1024 * 1024 {
        command.args(["--config-max-bytes", &(size * 2).to_string()]);
    }
    match history {
        Some(file) => command.arg("--history").arg(file),
        None => command.arg("--no-history"),
    };
    end_with_the_bench(&mut command);
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary}: {e} (build it with `cargo leptos build --release`)")
        });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("pulse prints its address");
    let base = line
        .trim()
        .strip_prefix("pulse listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, base)
}

/// The server ends with the bench however the bench ends (killed, a
/// panic), not only on Ctrl-C: left behind, it went on running its checks
/// against a target that was gone and skewed what was measured next.
fn end_with_the_bench(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only prctl is called, which is
    // async-signal-safe. The signal is kept across Pulse's re-exec of
    // itself (allocator.rs) and is sent when the thread that spawned the
    // server, the bench's main thread, ends.
    unsafe {
        command.pre_exec(
            || match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            },
        );
    }
}

/// Every result's `checked_at_ms`, per check, from the event stream.
async fn follow_results(base: &str, how_long: Duration) -> HashMap<String, Vec<u64>> {
    #[derive(serde::Deserialize)]
    struct Result {
        id: String,
        checked_at_ms: u64,
    }
    let mut results: HashMap<String, Vec<u64>> = HashMap::new();
    let response = reqwest::get(format!("{base}/api/events"))
        .await
        .expect("the stream opens");
    let mut response = response;
    let mut buffer = Vec::new();
    let deadline = tokio::time::Instant::now() + how_long;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue;
            };
            if let Ok(result) = serde_json::from_slice::<Result>(data)
                && result.checked_at_ms > 0
            {
                results
                    .entry(result.id)
                    .or_default()
                    .push(result.checked_at_ms);
            }
        }
    }
    results
}

struct Usage {
    cpu_cores: f64,
    rss_max_mib: f64,
}

/// Pulse's CPU over the measured span and its largest RSS, via sysinfo.
async fn sample_process(pid: u32, warm_up: Duration, measure: Duration) -> Usage {
    let pid = Pid::from_u32(pid);
    let mut system = System::new();
    let refresh = |system: &mut System| {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        system
            .process(pid)
            .map(|p| (p.accumulated_cpu_time(), p.memory()))
    };
    tokio::time::sleep(warm_up).await;
    let started = Instant::now();
    let (cpu_before, mut rss_max) = refresh(&mut system).unwrap_or_default();
    let mut cpu_after = cpu_before;
    while started.elapsed() < measure {
        tokio::time::sleep(Duration::from_secs(1).min(measure)).await;
        if let Some((cpu, rss)) = refresh(&mut system) {
            cpu_after = cpu;
            rss_max = rss_max.max(rss);
        }
    }
    Usage {
        cpu_cores: (cpu_after - cpu_before) as f64 / 1000.0 / started.elapsed().as_secs_f64(),
        rss_max_mib: rss_max as f64 / (1024.0 * 1024.0),
    }
}

fn report(args: &Args, results: &HashMap<String, Vec<u64>>, usage: Usage) {
    let interval_ms = args.interval.as_millis() as f64;
    let mut periods: Vec<f64> = results
        .values()
        .flat_map(|times| times.windows(2).map(|w| (w[1] - w[0]) as f64))
        .collect();
    periods.sort_by(f64::total_cmp);
    let within = |share: f64| {
        results
            .values()
            .filter(|times| times.len() >= 3)
            .filter(|times| {
                times
                    .windows(2)
                    .all(|w| ((w[1] - w[0]) as f64 - interval_ms).abs() <= interval_ms * share)
            })
            .count()
    };
    let measured = results.values().filter(|t| t.len() >= 3).count();
    let pick = |q: f64| {
        periods
            .get(((periods.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("checks configured:            {}", args.checks);
    println!("checks with results:          {}", results.len());
    println!("checks with >= 2 periods:     {measured}");
    println!("periods measured:             {}", periods.len());
    println!(
        "period (interval {} ms):   min {:.0}  p50 {:.0}  p99 {:.0}  max {:.0} ms",
        interval_ms,
        pick(0.0),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    println!(
        "checks always within ±10%:    {} of {measured}",
        within(0.10)
    );
    println!(
        "checks always within ±1%:     {} of {measured}",
        within(0.01)
    );
    println!("pulse CPU (cores, mean):      {:.3}", usage.cpu_cores);
    println!("pulse RSS (max):              {:.1} MiB", usage.rss_max_mib);
}
