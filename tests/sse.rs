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

/// The checks run at the `--interval` given: every check reports, again
/// and again, with increasing ids, and no check's runs (by the time each
/// result was checked, the server's own clock) come closer together than
/// half the interval, nor further apart than half the 10 s default (so the
/// flag is what sets them). Arrival times at the client are not measured:
/// on a loaded machine they say more about the machine.
#[tokio::test]
async fn events_arrive_at_the_interval_with_increasing_ids() {
    const RESULTS_EACH: usize = 4;
    let server = Server::start(&["--interval", "1s"]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let (kind, _, _) = stream.next_event_within(30 * SECOND).await.unwrap();
    assert_eq!(kind, "snapshot");

    let mut last_id = 0u64;
    let mut checked: HashMap<String, Vec<u64>> = HashMap::new();
    let deadline = Instant::now() + 60 * SECOND;
    while checked.len() < 5 || checked.values().any(|at| at.len() < RESULTS_EACH) {
        assert!(
            Instant::now() < deadline,
            "not every check reported {RESULTS_EACH} times within 60 s: {checked:?}"
        );
        let (kind, id, data) = stream.next_event_within(30 * SECOND).await.unwrap();
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
        checked
            .entry(status.id.0)
            .or_default()
            .push(status.checked_at_ms);
    }
    assert_eq!(
        checked.len(),
        5,
        "every check reported: {:?}",
        checked.keys()
    );
    for (check, times) in checked {
        for pair in times.windows(2) {
            let gap = pair[1].saturating_sub(pair[0]);
            assert!(
                (500..5_000).contains(&gap),
                "{check}: results checked {gap} ms apart at a 1 s interval: {times:?}"
            );
        }
    }
}

/// Released when it leaves, not at the server's next write to it: with
/// checks every hour and heartbeats every hour, nothing is written to the
/// idle streams while the test waits (up to `wait_for_clients`' 30 s).
#[tokio::test]
async fn a_client_that_leaves_is_released_at_once() {
    let server = Server::start(&["--interval", "1h", "--heartbeat", "1h"]).await;
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

/// A clean exit (status 0) is the bound on time: the server exits with
/// status 1 when anything is still open at its exit deadline
/// (`shutdown::EXIT_DEADLINE`, 900 ms).
#[tokio::test]
async fn shutdown_sends_done_to_every_stream_and_exits_cleanly() {
    let mut server = Server::start(&[]).await;
    let mut streams = Vec::new();
    for _ in 0..50 {
        let mut stream = SseReader::open(&server.url("/api/events"), None).await;
        stream.next_event_within(5 * SECOND).await.unwrap();
        streams.push(stream);
    }
    let took = server.terminate_and_wait(30 * SECOND).await;
    println!("exited cleanly {took:?} after SIGTERM with 50 streams");
    // What the server wrote before it exited is still there to read.
    for stream in &mut streams {
        let mut last = None;
        while let Some(item) = stream.next_within(10 * SECOND).await {
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

/// Five heartbeats come within 30 s: at the 15 s default that would take
/// over a minute, so they come at the `--heartbeat` given, however loaded
/// the machine.
#[tokio::test]
async fn an_idle_stream_gets_heartbeat_comments() {
    let server = Server::start(&["--interval", "1h", "--heartbeat", "300ms"]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let deadline = Instant::now() + 30 * SECOND;
    let mut comments = 0;
    while comments < 5 {
        // Panics, saying so, when nothing at all arrives before the deadline.
        let left = deadline.saturating_duration_since(Instant::now());
        match stream.next_within(left).await {
            Some(Item::Comment(_)) => comments += 1,
            Some(_) => {}
            None => panic!("the stream ended after {comments} heartbeats"),
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
