//! The SSE endpoint from the outside: a real `pulse` process, a real HTTP
//! client, the wire contract of docs/architecture.md.

mod support;

use pulse::status::{CheckStatus, Health, Snapshot};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{Item, Server, SseReader};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn stream_headers_are_exact_and_never_compressed() {
    let server = Server::start(&[]).await;
    let response = reqwest::Client::new()
        .get(server.url("/api/events"))
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(headers["connection"], "keep-alive");
    assert!(
        headers.get("content-encoding").is_none(),
        "the stream must not be compressed"
    );
    assert!(headers.get("content-length").is_none());

    // The same layer is not on other routes: pages are compressed, and carry
    // no SSE headers.
    let page = reqwest::Client::new()
        .get(server.url("/"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "gzip");
    assert!(page.headers().get("x-accel-buffering").is_none());
}

#[tokio::test]
async fn a_stream_starts_with_retry_then_a_snapshot_of_every_check() {
    let server = Server::start(&[]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let Some(Item::Retry(millis)) = stream.next_within(5 * SECOND).await else {
        panic!("the first field must be retry:");
    };
    assert!(
        (2000..=4000).contains(&millis),
        "retry {millis} ms is jittered within [base, 2×base]"
    );

    let (kind, id, data) = stream.next_event_within(5 * SECOND).await.unwrap();
    assert_eq!(kind, "snapshot");
    let snapshot: Snapshot = serde_json::from_str(&data).unwrap();
    assert_eq!(id, Some(snapshot.last_event_id.to_string()));
    let names: Vec<_> = snapshot.checks.iter().map(|c| c.id.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "host-cpu",
            "host-memory",
            "host-disk-root",
            "host-load",
            "pulse-healthz"
        ]
    );
}

#[tokio::test]
async fn events_arrive_at_the_interval_with_increasing_ids() {
    let server = Server::start(&["--interval", "1s"]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let (kind, _, _) = stream.next_event_within(5 * SECOND).await.unwrap();
    assert_eq!(kind, "snapshot");

    let mut last_id = 0u64;
    let mut arrivals: HashMap<String, Vec<Instant>> = HashMap::new();
    let until = Instant::now() + Duration::from_millis(4500);
    while Instant::now() < until {
        let (kind, id, data) = stream.next_event_within(3 * SECOND).await.unwrap();
        // On a busy machine the host checks fail and their alert moves
        // (`alert` events, which this private stream rightly carries).
        if kind == "alert" {
            continue;
        }
        assert_eq!(kind, "message");
        let id: u64 = id.expect("every message has an id").parse().unwrap();
        assert!(id > last_id, "ids must increase: {id} after {last_id}");
        last_id = id;
        let status: CheckStatus = serde_json::from_str(&data).unwrap();
        assert_ne!(
            status.health,
            Health::Unknown,
            "a published result is a verdict"
        );
        arrivals
            .entry(status.id.0)
            .or_default()
            .push(Instant::now());
    }
    assert_eq!(
        arrivals.len(),
        5,
        "every check reported: {:?}",
        arrivals.keys()
    );
    for (check, times) in arrivals {
        assert!(
            times.len() >= 3,
            "{check}: {} events in 4.5 s at a 1 s interval",
            times.len()
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap > Duration::from_millis(600) && gap < Duration::from_millis(1600),
                "{check}: events {gap:?} apart at a 1 s interval"
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_leaves_is_released_at_once() {
    let server = Server::start(&[]).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = SseReader::open(&server.url("/api/events"), None).await;
        stream.next_event_within(5 * SECOND).await.unwrap();
        streams.push(stream);
    }
    assert_eq!(server.connected_clients().await, 3);
    drop(streams);
    server.wait_for_clients(0).await;
}

#[tokio::test]
async fn shutdown_sends_done_to_every_stream_and_exits_within_a_second() {
    let mut server = Server::start(&[]).await;
    let mut streams = Vec::new();
    for _ in 0..50 {
        let mut stream = SseReader::open(&server.url("/api/events"), None).await;
        stream.next_event_within(5 * SECOND).await.unwrap();
        streams.push(stream);
    }
    let took = server.terminate_and_wait(2 * SECOND).await;
    assert!(took < SECOND, "exited {took:?} after SIGTERM");
    // What the server wrote before it exited is still there to read.
    for stream in &mut streams {
        let mut last = None;
        while let Some(item) = stream.next_within(2 * SECOND).await {
            if let Item::Event { kind, data, .. } = item {
                last = Some((kind, data));
            }
        }
        assert_eq!(last, Some(("status".to_string(), "Done".to_string())));
    }
}

#[tokio::test]
async fn a_known_last_event_id_replays_exactly_what_was_missed() {
    let server = Server::start(&["--interval", "300ms"]).await;
    let mut first = SseReader::open(&server.url("/api/events"), None).await;
    first.next_event_within(5 * SECOND).await.unwrap(); // snapshot
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (kind, id, data) = first.next_event_within(5 * SECOND).await.unwrap();
        seen.push((kind, id.unwrap(), data));
    }
    drop(first);

    // Resume after the second event: the next four come first, in order.
    let mut resumed = SseReader::open(&server.url("/api/events"), Some(&seen[1].1)).await;
    for expected in &seen[2..] {
        let (kind, id, data) = resumed.next_event_within(5 * SECOND).await.unwrap();
        assert_ne!(kind, "snapshot", "a replay, not a snapshot");
        // Results, and on a busy machine the host checks' `alert` events.
        assert_eq!(
            (&kind, id.as_ref(), &data),
            (&expected.0, Some(&expected.1), &expected.2)
        );
    }
    let (_, next_id, _) = resumed.next_event_within(5 * SECOND).await.unwrap();
    let next_id: u64 = next_id.unwrap().parse().unwrap();
    assert_eq!(
        next_id,
        seen[5].1.parse::<u64>().unwrap() + 1,
        "then live, none twice, none lost"
    );
}

#[tokio::test]
async fn malformed_or_unknown_ids_get_a_snapshot_not_an_error() {
    let server = Server::start(&[]).await;
    for bad in ["abc", "-5", "1 2", "99999999999999999999999", "1", "12a"] {
        let mut stream = SseReader::open(&server.url("/api/events"), Some(bad)).await;
        let (kind, _, _) = stream.next_event_within(5 * SECOND).await.unwrap();
        assert_eq!(kind, "snapshot", "Last-Event-ID {bad:?}");
    }
    let query = server.url("/api/events?lastEventId=%00%0A");
    let (kind, _, _) = SseReader::open(&query, None)
        .await
        .next_event_within(5 * SECOND)
        .await
        .unwrap();
    assert_eq!(kind, "snapshot");
}

#[tokio::test]
async fn an_idle_stream_gets_heartbeat_comments() {
    let server = Server::start(&["--interval", "1h", "--heartbeat", "300ms"]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let started = Instant::now();
    loop {
        match stream.next_within(3 * SECOND).await.unwrap() {
            Item::Comment(_) => break,
            _ => assert!(started.elapsed() < 3 * SECOND),
        }
    }
}

#[tokio::test]
async fn status_and_healthz_answer_json() {
    let server = Server::start(&[]).await;
    let snapshot: Snapshot = reqwest::get(server.url("/api/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot.checks.len(), 5);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
