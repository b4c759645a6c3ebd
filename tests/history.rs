//! History through the real binary: with `--history FILE`, every result is
//! written to SQLite, and a restart continues the same file (its changes of
//! health are not recorded twice).

mod support;

use pulse::history::Store;
use std::time::Duration;
use support::Server;

const CHECKS: [&str; 5] = [
    "host-cpu",
    "host-memory",
    "host-disk-root",
    "host-load",
    "pulse-healthz",
];

#[tokio::test]
async fn results_are_kept_and_a_restart_continues_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    let args = ["--interval", "500ms", "--history", file.to_str().unwrap()];

    let mut server = Server::start(&args).await;
    // Batches are written every second.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let while_running = Store::open(&file).unwrap().result_count().unwrap();
    assert!(
        while_running >= 10,
        "{while_running} results after 2.6 s of 5 checks every 0.5 s"
    );
    let stopped_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let took = server.terminate_and_wait(Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(1),
        "exit within a second, history saved: {took:?}"
    );
    let first_run = Store::open(&file).unwrap().result_count().unwrap();
    assert!(first_run >= while_running);
    // Checks run every 500 ms and batches are written every second: only
    // the flush at shutdown saves a result from the last 800 ms.
    let newest = Store::open(&file)
        .unwrap()
        .newest_result_ms()
        .unwrap()
        .unwrap();
    assert!(
        newest + 800 >= stopped_at_ms,
        "the newest saved result is {} ms older than the shutdown",
        stopped_at_ms.saturating_sub(newest)
    );

    let mut server = Server::start(&args).await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let store = Store::open(&file).unwrap();
    assert!(
        store.result_count().unwrap() >= first_run + 10,
        "the second run adds to the first"
    );
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
    tokio::time::sleep(Duration::from_millis(1800)).await;
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
