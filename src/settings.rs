//! Command-line flags and their environment variables: everything a user can
//! change without a config file. Each flag has a default that makes
//! `pulse` with no arguments a working dashboard.

use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "pulse",
    version,
    about = "A live status dashboard over Server-Sent Events"
)]
pub struct Settings {
    /// A tool instead of the server: `hash-password`, `new-token`.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Serve the whole dashboard to anyone who can reach it, even on an
    /// address other than loopback with no `[access]` in the config.
    #[arg(long, env = "PULSE_OPEN_DASHBOARD")]
    pub(crate) open_dashboard: bool,

    /// Address to listen on; `127.0.0.1:0` picks a free port (printed at start).
    /// Defaults to Leptos' site address (LEPTOS_SITE_ADDR, else 127.0.0.1:3000).
    #[arg(long, env = "PULSE_ADDR")]
    pub(crate) addr: Option<SocketAddr>,

    /// The config file (TOML) listing the checks; watched and reloaded on
    /// change. Without it Pulse watches its own host (the embedded default).
    #[arg(long, short = 'c', env = "PULSE_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,

    /// The largest config file (and `ca_file`) read, in bytes. A larger one
    /// is refused, as is anything but a regular file (a FIFO, a device).
    #[arg(long, env = "PULSE_CONFIG_MAX_BYTES", default_value_t = crate::config::DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) config_max_bytes: u64,

    /// The SQLite file in which every result is kept (created if missing),
    /// with per-minute and per-hour roll-ups, for uptime and sparklines.
    #[arg(long, env = "PULSE_HISTORY", default_value = "pulse-history.db")]
    pub(crate) history: std::path::PathBuf,

    /// How long raw results are kept in the history.
    #[arg(long, env = "PULSE_KEEP_RAW", default_value = "24h", value_parser = positive_duration)]
    pub(crate) keep_raw: Duration,

    /// How long per-minute aggregates are kept.
    #[arg(long, env = "PULSE_KEEP_MINUTES", default_value = "48h", value_parser = positive_duration)]
    pub(crate) keep_minutes: Duration,

    /// How long per-hour aggregates and state changes are kept.
    #[arg(long, env = "PULSE_KEEP_HOURS", default_value = "90days", value_parser = positive_duration)]
    pub(crate) keep_hours: Duration,

    /// Keep the history in this Postgres (`postgres://user@host:port/db`)
    /// rather than the SQLite file: the history the replicas of a cluster
    /// share. Best given in the environment, where `ps` does not show its
    /// password. The alerts' outbox and the incidents stay in the
    /// `--history` file.
    #[arg(long, env = "PULSE_HISTORY_POSTGRES", conflicts_with = "no_history")]
    pub(crate) history_postgres: Option<String>,

    /// Keep no history (nothing is written to disk).
    #[arg(long, env = "PULSE_NO_HISTORY", conflicts_with = "history")]
    pub(crate) no_history: bool,

    /// How often every check runs, e.g. `10s`, `2s`, `1m`.
    #[arg(long, env = "PULSE_INTERVAL", default_value = "10s", value_parser = positive_duration)]
    pub(crate) interval: Duration,

    /// How long one check may take before it is reported down.
    #[arg(long, env = "PULSE_CHECK_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub(crate) check_timeout: Duration,

    /// Idle time after which a stream gets a heartbeat comment.
    #[arg(long, env = "PULSE_HEARTBEAT", default_value = "15s", value_parser = positive_duration)]
    pub(crate) heartbeat: Duration,

    /// Recent events kept for replay to clients that reconnect.
    #[arg(long, env = "PULSE_RING_SIZE", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) ring_size: u32,

    /// Concurrent SSE streams accepted; beyond it, 503 with Retry-After.
    #[arg(long, env = "PULSE_MAX_CLIENTS", default_value_t = 50_000)]
    pub(crate) max_clients: usize,

    /// Connections open at once, in all. Defaults to what the open-file
    /// limit allows after keeping descriptors for the checks and the
    /// history; a larger value is lowered to that.
    #[arg(long, env = "PULSE_MAX_CONNECTIONS")]
    pub(crate) max_connections: Option<usize>,

    /// Connections open at once from one client address (an IPv6 /64 is
    /// one client). Beyond it, new connections are closed.
    #[arg(long, env = "PULSE_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections_per_address: u32,

    /// A new connection that sends nothing for this long is closed.
    #[arg(long, env = "PULSE_FIRST_BYTE_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub(crate) first_byte_timeout: Duration,

    /// A request's head, and its body, must have arrived this long after
    /// the connection opened.
    #[arg(long, env = "PULSE_REQUEST_TIMEOUT", default_value = "20s", value_parser = positive_duration)]
    pub(crate) request_timeout: Duration,

    /// A client that takes no byte of what it is sent for this long is
    /// disconnected.
    #[arg(long, env = "PULSE_STALL_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub(crate) stall_timeout: Duration,

    /// Base of the `retry:` hint sent to browsers, in milliseconds; each
    /// stream gets a value jittered up to twice this.
    #[arg(long, env = "PULSE_RETRY_MS", default_value_t = 2000)]
    pub(crate) retry_ms: u64,

    /// Also publish synthetic results at this rate (`10/s`, `600/m`), for
    /// demos and benchmarks. Off by default.
    #[arg(long, env = "PULSE_DEMO_RATE")]
    pub(crate) demo_rate: Option<crate::checks::demo::DemoRate>,

    /// Run as one replica of a cluster that shares its events, and who runs
    /// which check, through this Redis (`redis://host:port/db`). Every
    /// replica must read the same config, and share one history in
    /// Postgres (`--history-postgres`), where the alerts' outbox is too.
    #[arg(long, env = "PULSE_CLUSTER", requires = "history_postgres")]
    pub(crate) cluster: Option<String>,

    /// In a cluster, how long a replica's hold on its share of the checks
    /// lasts without being renewed: a replica that dies or freezes has its
    /// checks run elsewhere after at most this, plus one interval.
    #[arg(long, env = "PULSE_CLUSTER_LEASE", default_value = "6s", value_parser = lease_duration, requires = "cluster")]
    pub(crate) cluster_lease: Duration,
}

impl Settings {
    /// The limits on what one client may cost (see `limits`); reads the
    /// process's open-file limit for the connection cap.
    pub(crate) fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            first_byte: self.first_byte_timeout,
            request_head: self.request_timeout,
            stall: self.stall_timeout,
            per_address: self.max_connections_per_address as usize,
            connections: crate::limits::connection_budget(self.max_connections),
        }
    }
}

/// The tools `pulse` also is, for writing the `[access]` part of a config.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Reads a password from stdin (one line) and prints its argon2id hash,
    /// for `users = [{ name = "…", password_hash = "…" }]`.
    HashPassword,
    /// Prints a new random token for a script or Prometheus, and the
    /// SHA-256 of it for `tokens = [{ name = "…", sha256 = "…", scope = "read" }]`.
    NewToken,
}

/// A lease is kept in rounds of a sixth of it, each a few Redis commands:
/// below a second they would be asked faster than a busy Redis answers.
fn lease_duration(text: &str) -> Result<Duration, String> {
    let lease = positive_duration(text)?;
    if lease < Duration::from_secs(1) {
        return Err("must be at least 1s".to_string());
    }
    Ok(lease)
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (try e.g. `10s`, `500ms`, `1m`)"))?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_string());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_arguments() {
        let settings = Settings::try_parse_from(["pulse"]).unwrap();
        assert_eq!(settings.interval, Duration::from_secs(10));
        assert_eq!(settings.heartbeat, Duration::from_secs(15));
        assert_eq!(settings.config_max_bytes, 1024 * 1024);
    }

    #[test]
    fn the_config_size_limit_is_a_positive_byte_count() {
        let settings = Settings::try_parse_from(["pulse", "--config-max-bytes", "4096"]).unwrap();
        assert_eq!(settings.config_max_bytes, 4096);
        assert!(Settings::try_parse_from(["pulse", "--config-max-bytes", "0"]).is_err());
    }

    #[test]
    fn retention_defaults_to_a_day_two_days_and_ninety_days() {
        let settings = Settings::try_parse_from(["pulse", "--keep-raw", "6h"]).unwrap();
        assert_eq!(settings.keep_raw, Duration::from_secs(6 * 3600));
        assert_eq!(settings.keep_minutes, Duration::from_secs(2 * 86_400));
        assert_eq!(settings.keep_hours, Duration::from_secs(90 * 86_400));
    }

    #[test]
    fn a_cluster_lease_is_a_second_at_least() {
        let cluster = [
            "pulse",
            "--cluster",
            "redis://127.0.0.1:1",
            "--history-postgres",
            "postgres://x@y/z",
        ];
        let short = [&cluster[..], &["--cluster-lease", "500ms"]].concat();
        let error = Settings::try_parse_from(short).unwrap_err().to_string();
        assert!(error.contains("at least 1s"), "{error}");
        let fine = [&cluster[..], &["--cluster-lease", "1s"]].concat();
        assert_eq!(
            Settings::try_parse_from(fine).unwrap().cluster_lease,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn intervals_are_human_and_positive() {
        let settings = Settings::try_parse_from(["pulse", "--interval", "2s"]).unwrap();
        assert_eq!(settings.interval, Duration::from_secs(2));
        let zero = Settings::try_parse_from(["pulse", "--interval", "0s"]).unwrap_err();
        assert!(zero.to_string().contains("greater than zero"), "{zero}");
        let garbage = Settings::try_parse_from(["pulse", "--interval", "often"]).unwrap_err();
        assert!(garbage.to_string().contains("often"), "{garbage}");
    }
}
