//! Push checks from the outside: a job that pings `/api/push/{token}`
//! keeps its check up; silence past the period and grace makes it down
//! with "no ping since …", and one ping brings it back at once, alert
//! resolution included.

mod support;

use std::time::Duration;
use support::Server;
use support::receiver::{Answer, Receiver};

const TOKEN: &str = "nightly-backup-3f9a1c7e5b";

async fn check(server: &Server) -> serde_json::Value {
    server.status().await["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "nightly-backup")
        .cloned()
        .expect("the push check is listed")
}

async fn wait_for_health(server: &Server, health: &str, limit: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = check(server).await;
        if now["health"] == health {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {now} after {limit:?}, not {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The push check's runs, 5 s apart: a result a ping woke comes well
/// before the next.
const INTERVAL_MS: u64 = 5_000;

#[tokio::test]
async fn a_push_check_goes_down_without_pings_and_recovers_with_one() {
    let receiver = Receiver::start(Answer::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let config = format!(
        "[alerts]\nfailure_threshold = 1\nsuccess_threshold = 1\ngroup_window = \"0s\"\n\n\
         [[notifier]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\n\n\
         [[check]]\nname = \"Nightly backup\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\n\
         period = \"1s\"\ngrace = \"500ms\"\ninterval = \"{INTERVAL_MS}ms\"\n",
        receiver.url("/hook")
    );
    std::fs::write(&path, config).unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap()]).await;

    let first = check(&server).await;
    assert_eq!(first["kind"], "push");
    // Its first run, before any ping is due: not checked yet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = check(&server).await;
        if now["detail"]
            .as_str()
            .unwrap()
            .contains("waiting for the first ping")
        {
            assert_eq!(now["health"], "unknown", "{now}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let down = wait_for_health(&server, "down", Duration::from_secs(30)).await;
    let detail = down["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("no ping since Pulse started at"),
        "{detail}"
    );
    assert!(
        detail.contains("expected every 1s, grace 500ms"),
        "{detail}"
    );
    assert_eq!(
        down["latency_ms"],
        serde_json::Value::Null,
        "a push check measures no latency"
    );
    receiver.wait_for("/hook", 1, Duration::from_secs(30)).await;

    // One ping wakes the check at once: its result comes before the next
    // run was due (judged by the server's own clock, not the test's).
    let before = check(&server).await;
    assert_eq!(before["health"], "down", "{before}");
    let next_run_due = before["checked_at_ms"].as_u64().unwrap() + INTERVAL_MS;
    let ping = reqwest::get(server.url(&format!("/api/push/{TOKEN}")))
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    let up = wait_for_health(&server, "up", Duration::from_secs(30)).await;
    assert!(
        up["checked_at_ms"].as_u64().unwrap() < next_run_due,
        "up at its next run, not woken by the ping: {up}, the run before at {}",
        before["checked_at_ms"]
    );
    let detail = up["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("last ping ") && detail.contains("s ago"),
        "{up}"
    );
    let resolved = receiver.wait_for("/hook", 2, Duration::from_secs(30)).await;
    assert_eq!(resolved[1].json()["alerts"][0]["event"], "resolved");

    // Silent again: down with the time of the last ping.
    let down = wait_for_health(&server, "down", Duration::from_secs(30)).await;
    assert!(
        down["detail"]
            .as_str()
            .unwrap()
            .starts_with("no ping since "),
        "{down}"
    );
    let ping = reqwest::Client::new()
        .post(server.url(&format!("/api/push/{TOKEN}")))
        .body("job output is ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    wait_for_health(&server, "up", Duration::from_secs(30)).await;

    let wrong = reqwest::get(server.url("/api/push/not-the-token-at-all"))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let everything = server.status().await.to_string() + &server.metrics_text().await;
    assert!(!everything.contains(TOKEN), "the token is a secret");
    let page = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(TOKEN), "the token is not on the page");
}
