//! Pulse's own faults are not outages. When Pulse runs out of file
//! descriptors its probes cannot even open a socket; that says nothing about
//! the targets, so their cards must say "Pulse could not check this"
//! (`unknown`), never `down`, and their uptime must not drop.
//!
//! The real thing, from outside: Pulse starts with a low open-file limit,
//! and a reload adds hundreds of checks against a target that accepts and
//! never answers, each holding a socket, until Pulse's descriptor table is
//! full (clients cannot fill it: the connection caps keep a reserve for
//! the checks, see `hostile_clients`). The test reads the status through
//! connections Pulse accepted before it was full, each kept silent until
//! it asks (every answer closes its connection), then stops the target.

mod support;

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::Server;
use support::targets::{self, TestCa};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::Command;

/// Pulse's open-file limit (soft and hard) in this test: enough to start
/// and serve, few enough to fill.
const FD_LIMIT: u64 = 128;
/// Checks added to use up the descriptors, more than the limit.
const HOGS: usize = 300;
/// Connections accepted before Pulse is full, one per status read while it is.
const STATUS_READS: usize = 40;
const CHECKS: [&str; 3] = ["web", "port", "cert"];
const REASON: &str = "Pulse could not check this: too many open files in Pulse";

#[tokio::test]
async fn checks_pulse_cannot_run_for_want_of_descriptors_are_unknown_and_cost_no_uptime() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = config_of_every_kind(&dir).await;
    let history = dir.path().join("history.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulse"));
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FD_LIMIT,
                rlim_max: FD_LIMIT,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let server = Server::launch(
        command,
        &[
            "--config",
            config.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    every_check_up_after(&server, support::now_ms()).await;

    // The ways in once Pulse accepts nothing: accepted now (the server
    // counts them open), asked later.
    let open_before = server.metric("pulse_connections_open").await;
    let mut status_reads = connect(&server, STATUS_READS as u64).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open = server.metric("pulse_connections_open").await;
        if open >= open_before + STATUS_READS as f64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{open} connections open after 30 s, {open_before} before {STATUS_READS} more"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hanging = Hanging::start().await;
    let hogs = (0..HOGS)
        .map(|n| {
            format!(
                "[[check]]\nname = \"hog {n}\"\nkind = \"http\"\nurl = \"http://{}/\"\n",
                hanging.addr
            )
        })
        .collect::<String>();
    let crowded = text.replace("[defaults]\n", "[defaults]\nconcurrency = 1000\n") + &hogs;
    std::fs::write(&config, crowded).unwrap();
    wait_until_full(&server).await;
    let full_at = support::now_ms();
    let mut not_checked = HashSet::new();
    while not_checked.len() < CHECKS.len() {
        let Some(way_in) = status_reads.pop() else {
            panic!("only {not_checked:?} said Pulse could not check them");
        };
        for check in status_through(way_in).await {
            let (id, health, detail) = (&check["id"], &check["health"], &check["detail"]);
            assert_ne!(
                health, "down",
                "{id} reported down for Pulse's own fault: {detail}"
            );
            if check["checked_at_ms"].as_u64() > Some(full_at) && health == "unknown" {
                assert_eq!(detail, REASON, "{id}");
                assert!(check["latency_ms"].is_null(), "{id}: nothing was measured");
                not_checked.insert(id.as_str().unwrap().to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    drop((hanging, status_reads));
    every_check_up_after(&server, support::now_ms()).await;
    // The history writer writes a batch a second: until each check's page
    // lists the reason (from the history), kept with the results.
    for id in CHECKS {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let page = reqwest::get(server.url(&format!("/checks/{id}?range=1h")))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if page.contains(REASON) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id}'s page does not say why after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for id in CHECKS {
        let uptime: Value = reqwest::get(server.url(&format!("/api/checks/{id}/uptime")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (window, share) in uptime["uptime"].as_object().unwrap() {
            assert_eq!(
                share.as_f64(),
                Some(1.0),
                "{id}: uptime over {window} after Pulse's fault"
            );
        }
    }
}

/// A config with one check of each network kind, every 200 ms, against
/// targets that need a new connection each time (a kept-alive one would
/// need no new descriptor).
async fn config_of_every_kind(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let web = targets::closing_target().await;
    let ca = TestCa::new();
    let tls = ca.tls_target(90).await;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let config = format!(
        "[defaults]\ninterval = \"200ms\"\ntimeout = \"1s\"\n\n\
         [[check]]\nname = \"web\"\nkind = \"http\"\nurl = \"http://{web}/\"\n\n\
         [[check]]\nname = \"port\"\nkind = \"tcp\"\naddress = \"{web}\"\n\n\
         [[check]]\nname = \"cert\"\nkind = \"tls\"\nhost = \"127.0.0.1\"\n\
         server_name = \"localhost\"\nport = {}\nca_file = \"{}\"\n",
        tls.port(),
        ca_file.display()
    );
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, &config).unwrap();
    (path, config)
}

/// Every check's status, asked for on `stream`, a connection Pulse has
/// already accepted.
async fn status_through(mut stream: TcpStream) -> Vec<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        stream
            .write_all(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        // Every answer but a stream closes its connection.
        stream.read_to_end(&mut answer).await
    })
    .await
    .expect("the status answers within 30 s")
    .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let status: Value = serde_json::from_str(body).unwrap();
    status["checks"].as_array().unwrap().clone()
}

/// Waits until every check has been up since `since_ms`.
async fn every_check_up_after(server: &Server, since_ms: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.status().await;
        let checks: HashMap<String, Value> = status["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
            .collect();
        let fresh_and_up = |id: &str| {
            checks.get(id).is_some_and(|c| {
                c["health"] == "up" && c["checked_at_ms"].as_u64() > Some(since_ms)
            })
        };
        if CHECKS.iter().all(|id| fresh_and_up(id)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every check up after 30 s: {checks:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A target that accepts connections and never says a word, until it is
/// dropped: then every connection it holds is closed at once.
struct Hanging {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Hanging {
    async fn start() -> Hanging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Hanging { addr, task }
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until Pulse's descriptor table is full (the reload has been read
/// and its checks hold every descriptor left).
async fn wait_until_full(server: &Server) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let open = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count() as u64;
        if open >= FD_LIMIT {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Pulse holds {open} descriptors of {FD_LIMIT} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` connections to Pulse, from loopback addresses other than 127.0.0.1
/// in turn, so that no one address holds many.
async fn connect(server: &Server, n: u64) -> Vec<TcpStream> {
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let mut connections = Vec::new();
    for i in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        let source = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i % 200) as u8);
        socket.bind((source, 0).into()).unwrap();
        connections.push(socket.connect(addr).await.unwrap());
    }
    connections
}
