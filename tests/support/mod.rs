//! Test support: a real Pulse process on a free loopback port, and a small
//! SSE reader that keeps every field (ids, event types, comments, retry).

#![allow(dead_code)] // each test binary uses a different part

pub mod alerting;
pub mod dovecot;
pub mod mariadb;
pub mod netns;
pub mod nginx;
pub mod postgres;
pub mod receiver;
pub mod redis;
pub mod smtp;
pub mod sshd;
pub mod targets;
pub mod tools;
pub mod unbound;

use futures::StreamExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server program a test started (Debian's sshd, unbound, …): killed
/// when dropped.
pub struct Daemon(std::process::Child);

impl Daemon {
    /// Starts `command` and waits until it listens on TCP `port` of
    /// loopback; `what` names it in the panic if it never does.
    pub async fn start(mut command: std::process::Command, port: u16, what: &str) -> Daemon {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what} starts (scripts/setup installs it): {e}"));
        let daemon = Daemon(child);
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what} did not listen on port {port}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Now, in milliseconds since the Unix epoch (what `checked_at_ms` holds).
pub fn now_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_millis() as u64
}

/// A Pulse server process; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts the `pulse` binary with `args` on a port the OS picks, and waits
    /// for it to say where it listens.
    pub async fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[]).await
    }

    /// `start`, with extra environment variables for the process.
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::launch(Command::new(env!("CARGO_BIN_EXE_pulse")), args, env).await
    }

    /// `start`, with the process's open-file limit (soft and hard) set to
    /// `limit`, as `prlimit` (util-linux) does.
    pub async fn start_with_open_file_limit(limit: u64, args: &[&str]) -> Server {
        let mut command = Command::new("prlimit");
        command.arg(format!("--nofile={limit}:{limit}"));
        command.arg(env!("CARGO_BIN_EXE_pulse"));
        Server::launch(command, args, &[]).await
    }

    /// `start_with_env`, also keeping everything the process writes to
    /// stderr (its log), which still reaches the test's own stderr.
    pub async fn start_keeping_log(args: &[&str], env: &[(&str, &str)]) -> (Server, Log) {
        let command = Command::new(env!("CARGO_BIN_EXE_pulse"));
        let mut server = Server::spawn(command, args, env, Stdio::piped()).await;
        let stderr = server.child.stderr.take().expect("stderr is piped");
        let log = Log::default();
        let kept = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                kept.0.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        (server, log)
    }

    /// `start_with_env`, through `command`: the binary, or a program that
    /// runs it (with limits, as another user), with whatever the test set on it.
    pub async fn launch(command: Command, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(command, args, env, Stdio::inherit()).await
    }

    async fn spawn(
        mut command: Command,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        // No history file in the working directory unless a test asks for one.
        let history: &[&str] = if args.contains(&"--history") {
            &[]
        } else {
            &["--no-history"]
        };
        let mut child = command
            .args(["--addr", "127.0.0.1:0"])
            .args(history)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .env("LEPTOS_OUTPUT_NAME", "pulse")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("the pulse binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let announce = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("pulse announces its address within 30 s")
            .expect("stdout is readable")
            .expect("pulse printed a line");
        let base = announce
            .strip_prefix("pulse listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {announce}"))
            .to_string();
        Server { child, base }
    }

    /// Runs `pulse` with `args` (and no history) where it is expected to
    /// give up: returns how it exited and its stderr, and panics if it is
    /// still running after `limit`.
    pub async fn refused_start(
        args: &[&str],
        env: &[(&str, &str)],
        limit: Duration,
    ) -> (std::process::ExitStatus, String) {
        let child = Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(["--addr", "127.0.0.1:0", "--no-history"])
            .args(args)
            .envs(env.iter().copied())
            .env("LEPTOS_OUTPUT_NAME", "pulse")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the pulse binary starts");
        let output = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("pulse {args:?} still runs after {limit:?}"))
            .expect("pulse can be waited for");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status, stderr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    /// A connection to the server from the loopback address `source`
    /// (127.0.0.1, 127.0.0.2, …: each is a different client to the server).
    pub async fn connect_from(
        &self,
        source: std::net::Ipv4Addr,
    ) -> std::io::Result<tokio::net::TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        socket.connect(self.addr()).await
    }

    /// This process's resident memory, in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// A stream whose client sends its request and then never reads, with
    /// a receive window kept small so the server's writes back up quickly.
    pub async fn stalled_client(&self) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        let request = format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        stream
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// Sends SIGTERM, as a service manager would.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to end; `None` if it is still running after `limit`.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(|r| r.expect("wait works"))
    }

    /// The whole `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics are text")
    }

    /// The value of one un-labelled metric from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Polls until the server counts exactly `n` open streams; panics after
    /// 30 s (a deadline for something stuck, not a measure of speed).
    pub async fn wait_for_clients(&self, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.connected_clients().await;
            if now == n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server still counts {now} streams, expected {n}, after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM, asserts a clean exit within `limit`, and returns how
    /// long the exit took.
    pub async fn terminate_and_wait(&mut self, limit: Duration) -> Duration {
        let signalled = std::time::Instant::now();
        self.terminate();
        let status = self.exited_within(limit).await.expect("the process exits");
        assert!(status.success(), "clean exit: {status}");
        signalled.elapsed()
    }

    /// `/api/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        reqwest::get(self.url("/api/status"))
            .await
            .expect("status answers")
            .json()
            .await
            .expect("status is JSON")
    }

    /// Polls `/api/status` until every check has a result, then returns each
    /// check's status by id. Panics after `limit`.
    pub async fn results_within(
        &self,
        limit: Duration,
    ) -> std::collections::HashMap<String, serde_json::Value> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let status = self.status().await;
            let checks = status["checks"].as_array().expect("checks").clone();
            if checks.iter().all(|c| c["checked_at_ms"].as_u64() > Some(0)) {
                return checks
                    .into_iter()
                    .map(|c| (c["id"].as_str().unwrap().to_string(), c))
                    .collect();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not every check had a result after {limit:?}: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Streams open now, from `/metrics` (`/healthz` says nothing but
    /// that the process serves).
    pub async fn connected_clients(&self) -> u64 {
        self.metric("pulse_connected_clients").await as u64
    }
}

/// What a server wrote to stderr so far (its log lines, at `warn` and up).
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<String>>);

impl Log {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// One thing read from an SSE stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event {
        kind: String,
        id: Option<String>,
        data: String,
    },
    Comment(String),
    Retry(u64),
}

/// Reads an SSE body incrementally, following the EventSource parsing rules
/// closely enough for tests (fields, multi-line data, comments).
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
    pending: std::collections::VecDeque<Item>,
    pub response_headers: reqwest::header::HeaderMap,
}

impl SseReader {
    pub async fn open(url: &str, last_event_id: Option<&str>) -> SseReader {
        // One client for all streams of a test: thousands of streams then
        // share one connection pool and DNS-free setup.
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let mut request = CLIENT.get_or_init(reqwest::Client::new).get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200, "stream status");
        SseReader {
            response_headers: response.headers().clone(),
            body: response.bytes_stream().boxed(),
            buffer: Vec::new(),
            pending: Default::default(),
        }
    }

    /// The next item, or `None` when the stream ended; panics after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Item> {
        tokio::time::timeout(limit, self.next())
            .await
            .unwrap_or_else(|_| panic!("nothing arrived within {limit:?}"))
    }

    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    // Bytes, not text: a chunk may end inside a character.
                    self.buffer.extend_from_slice(&chunk);
                    self.parse_complete_blocks();
                }
                Some(Err(error)) => panic!("stream error: {error}"),
                None => return None,
            }
        }
    }

    /// The next dispatched event (skipping comments and retry), as (type, id, data).
    pub async fn next_event_within(
        &mut self,
        limit: Duration,
    ) -> Option<(String, Option<String>, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await? {
                Item::Event { kind, id, data } => return Some((kind, id, data)),
                _ => continue,
            }
        }
    }

    fn parse_complete_blocks(&mut self) {
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let bytes: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let block = String::from_utf8(bytes).expect("each SSE block is UTF-8");
            let (mut kind, mut id, mut data, mut has_data) =
                (String::from("message"), None, Vec::new(), false);
            for line in block.trim_end_matches('\n').split('\n') {
                if let Some(comment) = line.strip_prefix(':') {
                    self.pending
                        .push_back(Item::Comment(comment.trim().to_string()));
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => kind = value.to_string(),
                    "id" => id = Some(value.to_string()),
                    "data" => {
                        has_data = true;
                        data.push(value.to_string());
                    }
                    "retry" => self
                        .pending
                        .push_back(Item::Retry(value.parse().expect("numeric retry"))),
                    other => panic!("unknown SSE field {other:?}"),
                }
            }
            if has_data {
                self.pending.push_back(Item::Event {
                    kind,
                    id,
                    data: data.join("\n"),
                });
            }
        }
    }
}
