//! History through the real binary: with `--history FILE`, every result is
//! written to SQLite, and a restart continues the same file (its changes of
//! health are not recorded twice).

mod support;

use pulse::history::{Backend, SqliteStore as Store};
use std::time::Duration;
use support::Server;

const CHECKS: [&str; 5] = [
    "host-cpu",
    "host-memory",
    "host-disk-root",
    "host-load",
    "pulse-healthz",
];

/// Polls until the history file holds at least `count` results, up to 30 s
/// (batches are written every second).
async fn until_saved(file: &std::path::Path, count: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let saved = Store::open(file).unwrap().result_count().unwrap();
        if saved >= count {
            return saved;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{saved} of {count} results saved after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest `checked_at_ms` the server has published, of any check.
async fn newest_published_ms(server: &Server) -> u64 {
    let status = server.status().await;
    status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|check| check["checked_at_ms"].as_u64())
        .max()
        .expect("a result was published")
}

#[tokio::test]
async fn results_are_kept_and_a_restart_continues_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    let args = ["--interval", "500ms", "--history", file.to_str().unwrap()];

    let mut server = Server::start(&args).await;
    let while_running = until_saved(&file, 10).await;
    // What was published before the signal is saved: batches are written
    // every second, so the newest results only by the flush at shutdown.
    // (A clean exit is the bound on its time: past the exit deadline,
    // 900 ms, the server exits with status 1.)
    let published = newest_published_ms(&server).await;
    server.terminate_and_wait(Duration::from_secs(30)).await;
    let first_run = Store::open(&file).unwrap().result_count().unwrap();
    assert!(first_run >= while_running);
    let newest = newest_saved_ms(&file);
    assert!(
        newest >= published,
        "the newest saved result ({newest}) is older than one published before the shutdown ({published})"
    );

    let mut server = Server::start(&args).await;
    // The second run adds to the first.
    until_saved(&file, first_run + 10).await;
    let store = Store::open(&file).unwrap();
    for check in CHECKS {
        let changes = store.changes(check, 0).unwrap();
        assert!(!changes.is_empty(), "{check} has its first state recorded");
        assert_eq!(changes[0].from, None);
        for pair in changes.windows(2) {
            assert_ne!(
                pair[0].to, pair[1].to,
                "{check}: a change is a change, even across the restart"
            );
        }
        assert!(
            store.uptime(check, 0).unwrap().is_some(),
            "{check} has an uptime"
        );
    }
    server.terminate_and_wait(Duration::from_secs(2)).await;
}

/// A client that stopped reading cannot be sent its `Done`; shutdown stops
/// waiting for it in time to save the history and stop cleanly (status 0)
/// before the exit deadline (which would exit with status 1).
#[tokio::test]
async fn a_client_that_stopped_reading_does_not_cost_the_last_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    let args = [
        "--interval",
        "1h",
        "--demo-rate",
        "5000/s",
        "--history",
        file.to_str().unwrap(),
    ];
    let mut server = Server::start(&args).await;
    let stuck = server.stalled_client().await;
    // Until its stream is stuck: its socket's buffers are full (a few
    // hundred events), so the server stops taking events for it, and the
    // events published run 2,000 ahead of those it was given.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let published = server.metric("pulse_events_published_total").await;
        let delivered = server.metric("pulse_events_delivered_total").await;
        if published - delivered >= 2000.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client was given {delivered} of {published} events after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stopping cleanly (status 0; past the exit deadline it would be 1)
    // with everything published before the signal saved.
    let published = newest_published_ms(&server).await;
    server.terminate_and_wait(Duration::from_secs(30)).await;
    let newest = newest_saved_ms(&file);
    assert!(
        newest >= published,
        "the newest saved result ({newest}) is older than one published before the shutdown ({published})"
    );
    drop(stuck);
}

/// When the newest result in the history file was checked.
fn newest_saved_ms(file: &std::path::Path) -> u64 {
    let store = Store::open(file).unwrap();
    store
        .newest_result_ms()
        .unwrap()
        .expect("a result was saved")
}

#[tokio::test]
async fn an_unusable_history_file_is_refused_at_start_up() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--history",
            "/nonexistent/dir/history.db",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("history database /nonexistent/dir/history.db: cannot open"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_json_api_answers_uptime_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    let server = Server::start(&["--interval", "300ms", "--history", file.to_str().unwrap()]).await;
    // Until the self-check's results are in the file (batches every second).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while Store::open(&file)
        .unwrap()
        .changes("pulse-healthz", 0)
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no result of the self-check saved after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let get = |path: String| async move {
        let response = reqwest::get(path).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };

    let (status, uptime) = get(server.url("/api/checks/pulse-healthz/uptime")).await;
    assert_eq!(status, 200, "{uptime}");
    for window in ["1h", "24h", "7d", "30d"] {
        let share = uptime["uptime"][window]
            .as_f64()
            .unwrap_or_else(|| panic!("{window}: {uptime}"));
        assert!((0.0..=1.0).contains(&share), "{window}: {share}");
    }
    assert_eq!(
        uptime["uptime"]["1h"], 1.0,
        "the self-check is up: {uptime}"
    );

    let (status, history) = get(server.url("/api/checks/pulse-healthz/history?range=1h")).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        (history["range"].as_str(), history["span_s"].as_u64()),
        (Some("1h"), Some(60))
    );
    assert_eq!(history["changes"][0]["to"], "up", "{history}");
    assert!(history["points"].is_array());

    let (status, error) = get(server.url("/api/checks/pulse-healthz/history?range=2w")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["error"],
        "unknown range `2w`; use one of 1h, 24h, 7d, 30d, 90d"
    );

    let (status, unknown) = get(server.url("/api/checks/nothing-like-it/uptime")).await;
    assert_eq!(status, 200);
    assert_eq!(unknown["uptime"]["24h"], serde_json::Value::Null);

    let without = Server::start(&[]).await;
    let (status, error) = get(without.url("/api/checks/pulse-healthz/uptime")).await;
    assert_eq!(status, 404);
    assert!(
        error["error"].as_str().unwrap().contains("history is off"),
        "{error}"
    );
}

/// A tmpfs of its own, so a test can fill it up; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it (it needs root)"
        );
        SmallDisk { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
        // The last partial block, byte by byte.
        while filler.write_all(&[0]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.path("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_while_checks_and_streams_go_on() {
    let disk = SmallDisk::mount("4m");
    let file = disk.path("history.db");
    let server = Server::start(&["--interval", "300ms", "--history", file.to_str().unwrap()]).await;
    // Saving works before the disk fills.
    until_saved(&file, 5).await;
    let mut stream = support::SseReader::open(&server.url("/api/events"), None).await;
    let (kind, _, snapshot) = stream
        .next_event_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(kind, "snapshot");
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(snapshot["history"]["problem"], serde_json::Value::Null);

    disk.fill();
    let (problem, results_meanwhile) = next_history_notice(&mut stream).await;
    let problem = problem.expect("the problem is reported");
    assert!(
        problem.contains("history not saved") && problem.contains("full"),
        "{problem}"
    );
    let status = server.status().await;
    assert_eq!(status["history"]["problem"], problem.as_str());
    // And on the page, in its first HTML.
    let page = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Results are not being saved to the history"),
        "no banner"
    );
    assert!(
        page.contains("the disk is full"),
        "the cause is on the page, in plain words"
    );

    // Checking and streaming went on: results keep coming while it is full.
    next_messages(&mut stream, 10_usize.saturating_sub(results_meanwhile)).await;

    disk.free();
    let (problem, _) = next_history_notice(&mut stream).await;
    assert_eq!(problem, None, "saving again once there is room");
}

/// Reads until a `history` event; returns its problem and how many results
/// arrived before it.
async fn next_history_notice(stream: &mut support::SseReader) -> (Option<String>, usize) {
    let mut results = 0;
    loop {
        let (kind, _, data) = stream
            .next_event_within(Duration::from_secs(15))
            .await
            .expect("the stream stays open");
        match kind.as_str() {
            "history" => {
                let notice: serde_json::Value = serde_json::from_str(&data).unwrap();
                return (notice["problem"].as_str().map(String::from), results);
            }
            "message" => results += 1,
            _ => {}
        }
    }
}

/// Reads until `count` more results arrived (each within 30 s).
async fn next_messages(stream: &mut support::SseReader, count: usize) {
    let mut results = 0;
    while results < count {
        let (kind, _, _) = stream
            .next_event_within(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("the stream ended after {results} of {count} results"));
        results += usize::from(kind == "message");
    }
}
