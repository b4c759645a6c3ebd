//! Incidents survive a restart: opened through the API of a real Pulse
//! (its open loopback dashboard, where this machine's user may act),
//! then read back from the next Pulse on the same history database, and
//! told live on the public stream.

mod support;

use std::time::Duration;
use support::{Server, SseReader};

/// `GET /api/incidents` of a server's open loopback dashboard.
async fn incidents_of(server: &Server) -> serde_json::Value {
    reqwest::Client::new()
        .get(server.url("/api/incidents"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_incident_is_told_live_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.db").display().to_string();
    let args = ["--history", history.as_str()];
    let mut server = Server::start(&args).await;
    let mut public = SseReader::open(&server.url("/api/public/events"), None).await;
    public.next_event_within(Duration::from_secs(5)).await;

    let answer = reqwest::Client::new()
        .post(server.url("/api/incidents"))
        .header("host", "localhost")
        .form(&[
            ("title", "Router replaced"),
            ("status", "monitoring"),
            // A browser sends a textarea's line breaks as CRLF.
            ("message", "New hardware;\r\nwatching it."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (kind, _, data) = public
            .next_event_within(Duration::from_secs(5))
            .await
            .expect("an event");
        if kind == "incidents" {
            assert!(data.contains("Router replaced"), "{data}");
            assert!(data.contains("New hardware;\\nwatching it."), "{data}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no incidents event");
    }

    server.terminate_and_wait(Duration::from_secs(10)).await;
    let server = Server::start(&args).await;
    let listed = incidents_of(&server).await;
    assert_eq!(listed[0]["title"], "Router replaced", "{listed}");
    assert_eq!(listed[0]["updates"][0]["status"], "monitoring");
    assert_eq!(listed[0]["updates"][0]["by"], "the open dashboard's user");
    assert_eq!(
        listed[0]["updates"][0]["message"],
        "New hardware;\nwatching it."
    );
}

#[tokio::test]
async fn incident_writes_are_bounded_in_rate_for_everyone_together() {
    let server = Server::start(&[]).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..11 {
        let answer = client
            .post(server.url("/api/incidents"))
            .header("host", "localhost")
            .json(&serde_json::json!({"title": format!("number {n}"), "message": "m", "status": "resolved"}))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses[..10], [201; 10]);
    assert_eq!(statuses[10], 429, "{statuses:?}");
    // A refused write changed nothing.
    let listed = incidents_of(&server).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        5,
        "the 5 newest resolved are shown"
    );
    assert_eq!(listed[0]["title"], "number 9");
}
