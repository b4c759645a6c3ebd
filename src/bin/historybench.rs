//! `pulse-historybench`: how big the history gets. Simulates N checks at an
//! interval for D days through the real store (batches, hourly roll-ups
//! and pruning, default retention) on a simulated clock, and prints the
//! database's size and rows after each day.

use clap::Parser;
use pulse::history::{Backend, Retention, SqliteStore};
use pulse::status::{CheckId, CheckKind, CheckStatus, Health};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "pulse-historybench",
    about = "Simulates days of results and reports the database size"
)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    checks: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// The share of results that are down. They come in outages of
    /// `--outage-results` results in a row on average, as real ones do.
    #[arg(long, default_value_t = 0.01)]
    down_share: f64,
    #[arg(long, default_value_t = 10)]
    outage_results: u32,
    /// Retention, as Pulse's flags of the same names; Pulse's defaults.
    #[arg(long, value_parser = humantime::parse_duration)]
    keep_raw: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    keep_minutes: Option<Duration>,
    #[arg(long, value_parser = humantime::parse_duration)]
    keep_hours: Option<Duration>,
    /// Days before the last `--fine-days` go at this coarser interval: their
    /// raw results and minutes are pruned anyway, and their hour
    /// aggregates have as many rows either way. Simulates a month in
    /// minutes instead of an hour. Default: `--interval` throughout.
    #[arg(long, value_parser = humantime::parse_duration)]
    coarse_interval: Option<Duration>,
    #[arg(long, default_value_t = 2)]
    fine_days: u64,
    /// End the simulated days now (results dated in the past D days), so
    /// that a Pulse started on the file reads them as its recent history
    /// (`scripts/bench-status-crowd`). By default they begin at a fixed
    /// date, so that runs compare.
    #[arg(long)]
    ending_now: bool,
    /// The database file (replaced if it exists).
    #[arg(long, default_value = "/tmp/pulse-historybench.db")]
    file: std::path::PathBuf,
}

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

fn main() {
    let args = Args::parse();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.file.display()));
    }
    let mut store = SqliteStore::open(&args.file).expect("the database opens");
    let fine_ms = args.interval.as_millis() as u64;
    let coarse_ms = args
        .coarse_interval
        .map_or(fine_ms, |i| i.as_millis() as u64);
    let start = match args.ending_now {
        true => now_ms() / HOUR_MS * HOUR_MS - args.days * DAY_MS,
        false => 1_800_000_000_000 / DAY_MS * DAY_MS,
    };
    let ids: Vec<CheckId> = (0..args.checks)
        .map(|n| CheckId(format!("service-{n:05}")))
        .collect();
    let defaults = Retention::default();
    let retention = Retention {
        raw: args.keep_raw.unwrap_or(defaults.raw),
        minutes: args.keep_minutes.unwrap_or(defaults.minutes),
        hours: args.keep_hours.unwrap_or(defaults.hours),
    };
    let mut outages = Outages::new(&args);
    let mut down_left = vec![0u32; args.checks];
    let started = Instant::now();
    println!("day  results(raw)  minutes     hours     changes   database+WAL   elapsed");
    let mut now = start;
    let mut batch = Vec::with_capacity(args.checks * 6);
    let fine_from = start + args.days.saturating_sub(args.fine_days) * DAY_MS;
    while now < start + args.days * DAY_MS {
        // One simulated minute of results, each check at its own phase.
        let interval_ms = if now < fine_from { coarse_ms } else { fine_ms };
        batch.clear();
        for (n, id) in ids.iter().enumerate() {
            let phase = (n as u64 * 7919) % interval_ms;
            let mut at = now + phase;
            while at < now + MINUTE_MS {
                batch.push(result(id, at, outages.next(&mut down_left[n])));
                at += interval_ms;
            }
        }
        store.record(&batch).expect("a batch is written");
        now += MINUTE_MS;
        // Pulse rolls up and prunes every minute; hourly is close enough
        // here and keeps the simulation fast. Pruning only daily would
        // double the raw table before each prune and inflate the file.
        if now.is_multiple_of(HOUR_MS) {
            store.roll_up(now).expect("roll-ups");
            store.prune(now, retention).expect("pruning");
        }
        if now.is_multiple_of(DAY_MS) {
            report(
                &store,
                &args.file,
                (now - start) / DAY_MS,
                started.elapsed(),
            );
        }
    }
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

/// Draws outages: each result starts one with a probability chosen so that
/// `down_share` of all results are down; an outage lasts 1 to
/// 2 × `outage_results` − 1 results.
struct Outages {
    rng: fastrand::Rng,
    start_chance: f64,
    mean_length: u32,
}

impl Outages {
    fn new(args: &Args) -> Outages {
        let mean_length = args.outage_results.max(1);
        let share = args.down_share.clamp(0.0, 0.99);
        Outages {
            rng: fastrand::Rng::with_seed(7),
            start_chance: share / (mean_length as f64 * (1.0 - share)),
            mean_length,
        }
    }

    /// Whether this check's next result is down, given what is left of
    /// its outage; also the latency of the result.
    fn next(&mut self, down_left: &mut u32) -> (bool, f64) {
        if *down_left == 0 && self.rng.f64() < self.start_chance {
            *down_left = self.rng.u32(1..2 * self.mean_length);
        }
        let down = *down_left > 0;
        *down_left = down_left.saturating_sub(1);
        let tail = if self.rng.u32(0..50) == 0 { 200.0 } else { 0.0 };
        (down, 10.0 + self.rng.f64() * 20.0 + tail)
    }
}

/// Latencies around 20 ms with a tail.
fn result(id: &CheckId, at_ms: u64, (down, latency_ms): (bool, f64)) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: None,
        id: id.clone(),
        name: id.0.clone(),
        group: "simulated".into(),
        kind: CheckKind::Http,
        health: if down { Health::Down } else { Health::Up },
        latency_ms: Some(latency_ms),
        detail: if down {
            "answered 503 Service Unavailable, expected 2xx".into()
        } else {
            "200 OK in 20 ms".into()
        },
        checked_at_ms: at_ms,
    }
}

fn report(store: &SqliteStore, file: &std::path::Path, day: u64, elapsed: Duration) {
    let size = |suffix: &str| {
        std::fs::metadata(format!("{}{suffix}", file.display())).map_or(0, |m| m.len())
    };
    let counts = store.row_counts().expect("row counts");
    println!(
        "{day:>3}  {:>12}  {:>9}  {:>8}  {:>9}   {:>9.1} MiB   {:>5.0} s",
        counts.results,
        counts.minutes,
        counts.hours,
        counts.changes,
        (size("") + size("-wal")) as f64 / 1048576.0,
        elapsed.as_secs_f64()
    );
}
