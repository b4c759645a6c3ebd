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
