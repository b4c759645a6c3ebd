//! Pulse behind a real nginx (Debian's, installed by scripts/setup) as a
//! reverse proxy with its default `proxy_buffering on`: events must still
//! arrive at once (Pulse sends `X-Accel-Buffering: no`), and replay by
//! `Last-Event-ID` must work through it.

mod support;

use pulse::status::CheckStatus;
use std::time::Duration;
use support::nginx::Nginx;
use support::{Server, SseReader, now_ms};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn events_pass_through_a_buffering_nginx_at_once_and_replay_works() {
    // 5 small events a second would take many seconds to fill nginx's
    // buffers: any buffering shows up as seconds of lag.
    let server = Server::start(&["--demo-rate", "5/s"]).await;
    let nginx = Nginx::start(&[&server.base]).await;

    let mut stream = SseReader::open(&nginx.url("/api/events"), None).await;
    assert_eq!(
        stream.next_event_within(5 * SECOND).await.unwrap().0,
        "snapshot"
    );
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let (kind, id, data) = stream.next_event_within(5 * SECOND).await.unwrap();
        // Results, and on a busy machine the host checks' `alert` events.
        if kind != "message" {
            continue;
        }
        let status: CheckStatus = serde_json::from_str(&data).unwrap();
        if status.group == "synthetic" {
            let lag = now_ms().saturating_sub(status.checked_at_ms);
            assert!(
                lag < 500,
                "event arrived {lag} ms after publish through nginx"
            );
            seen.push((id.unwrap(), data));
        }
    }
    drop(stream);

    // Reconnect through nginx with the id of an early event: a replay, not a snapshot.
    let mut resumed = SseReader::open(&nginx.url("/api/events"), Some(&seen[2].0)).await;
    let (kind, id, _) = resumed.next_event_within(5 * SECOND).await.unwrap();
    assert_ne!(kind, "snapshot");
    assert_eq!(
        id.unwrap().parse::<u64>().unwrap(),
        seen[2].0.parse::<u64>().unwrap() + 1
    );
}
