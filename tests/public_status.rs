//! The public audience from the outside, through the real binary: with a
//! config that mixes a public and a private check, whose private name,
//! group, URL and live detail carry a unique marker, nothing public
//! (`/api/public/status`, `/api/public/events` on either stream path)
//! ever carries the marker or a live detail, while the public check is
//! there, live, and resumable with `Last-Event-ID`.

mod support;

use std::time::Duration;
use support::{Server, SseReader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// In every private text of the config, and nowhere public.
const MARKER: &str = "zq7marker";
const PUBLIC_ID: &str = "shop-front";
const PUBLIC_DETAIL: &str = "The shop's front page";

fn config() -> String {
    format!(
        r#"
[[check]]
name = "Shop front"
group = "Website"
kind = "tcp"
address = "127.0.0.1:9"
public_detail = "{PUBLIC_DETAIL}"

[[check]]
name = "Vault {MARKER}"
group = "internal {MARKER}"
kind = "http"
url = "http://127.0.0.1:9/{MARKER}"

[public]
groups = ["Website"]
"#
    )
}

/// A server on the mixed config, checking every 200 ms; and the config's
/// directory, which must outlive it.
async fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, config()).unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap(), "--interval", "200ms"]).await;
    (server, dir)
}

/// What the public must never read: the marker, and the public check's
/// own live detail (its address is refused, and says so).
fn assert_public(text: &str) {
    assert!(!text.contains(MARKER), "private text in public: {text}");
    assert!(!text.contains("refused"), "a live detail in public: {text}");
    assert!(!text.contains("\"kind\""), "a kind in public: {text}");
}

async fn text_of(server: &Server, path: &str) -> String {
    reqwest::get(server.url(path))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Events of a stream, as (type, id, data), until `count` results of the
/// public check have arrived.
async fn events_until_results(
    stream: &mut SseReader,
    count: usize,
) -> Vec<(String, Option<String>, String)> {
    let mut events = Vec::new();
    let mut results = 0;
    while results < count {
        let event = stream
            .next_event_within(Duration::from_secs(5))
            .await
            .expect("the stream stays open");
        if event.0 == "message" && event.2.contains(PUBLIC_ID) {
            results += 1;
        }
        events.push(event);
    }
    events
}

#[tokio::test]
async fn public_status_holds_the_public_check_only() {
    let (server, _dir) = start().await;
    server.results_within(Duration::from_secs(5)).await;
    let private = text_of(&server, "/api/status").await;
    assert!(
        private.contains(MARKER),
        "the private view has it: {private}"
    );

    let public = text_of(&server, "/api/public/status").await;
    assert_public(&public);
    let public: serde_json::Value = serde_json::from_str(&public).unwrap();
    let checks = public["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{public}");
    assert_eq!(checks[0]["id"], PUBLIC_ID);
    assert_eq!(checks[0]["detail"], PUBLIC_DETAIL);
    assert_eq!(checks[0]["health"], "down");
}

#[tokio::test]
async fn the_public_stream_is_public_and_resumes_after_an_id() {
    let (server, _dir) = start().await;
    // A connection's first request: the direct path.
    let mut stream = SseReader::open(&server.url("/api/public/events"), None).await;
    let events = events_until_results(&mut stream, 3).await;
    assert_eq!(events[0].0, "snapshot");
    assert!(events[0].2.contains(PUBLIC_ID), "{:?}", events[0]);
    let all: String = events.iter().map(|(_, _, data)| data.as_str()).collect();
    assert_public(&all);
    assert!(
        events
            .iter()
            .all(|(kind, _, _)| kind == "snapshot" || kind == "message"),
        "no config or history events: {events:?}"
    );

    // Resume from the first result: exactly the public events after it.
    let first = events[1].1.clone().expect("results have ids");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut resumed = SseReader::open(&server.url("/api/public/events"), Some(&first)).await;
    let replayed = events_until_results(&mut resumed, 3).await;
    let first: u64 = first.parse().unwrap();
    let mut last = first;
    for (kind, id, data) in &replayed {
        assert_eq!(kind, "message", "a replay, not a snapshot: {replayed:?}");
        let id: u64 = id.as_deref().unwrap().parse().unwrap();
        assert!(id > last, "in order, none twice: {replayed:?}");
        last = id;
        assert_public(data);
    }
    assert_eq!(
        replayed[0].1,
        events.get(2).and_then(|e| e.1.clone()),
        "exactly the next one"
    );
    let opened = server
        .metric("pulse_streams_opened_total{path=\"direct\"}")
        .await;
    assert_eq!(opened, 2.0, "both served directly");
}

#[tokio::test]
async fn the_public_stream_through_hyper_is_public_too() {
    let (server, _dir) = start().await;
    // A stream with another request pipelined behind it goes through hyper.
    let mut socket = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let pipelined = request("/api/public/events") + &request("/healthz");
    socket.write_all(pipelined.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buffer = [0u8; 4096];
    while count_results(&received) < 3 {
        let read = tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await;
        let n = read.expect("three public results within 5 s").unwrap();
        assert!(n > 0, "the stream stays open");
        received.extend_from_slice(&buffer[..n]);
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("event: snapshot"), "{text}");
    assert_public(&text);
    let opened = server
        .metric("pulse_streams_opened_total{path=\"hyper\"}")
        .await;
    assert_eq!(opened, 1.0, "served through hyper");
}

fn count_results(received: &[u8]) -> usize {
    let text = String::from_utf8_lossy(received);
    text.matches(&format!("data: {{\"id\":\"{PUBLIC_ID}\""))
        .count()
}

/// A labelled counter from `/metrics`, 0 if it is not there yet.
async fn counted(server: &Server, name: &str, path: &str) -> f64 {
    let text = server.metrics_text().await;
    let prefix = format!("{name}{{path=\"{path}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn a_crowd_on_the_status_page_shares_one_rendering_a_second() {
    let (server, _dir) = start().await;
    server.results_within(Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    // 200 visitors at once (the per-address cap is 256), with every encoding, a query of their own (a
    // crowd cannot dodge the shared page that way), GETs and HEADs.
    let visits = (0..200).map(|n| {
        let client = client.clone();
        let url = server.url(&format!("/status?visitor={n}"));
        async move {
            let encoding = ["br", "gzip", "identity"][n % 3];
            let method = match n % 10 {
                0 => reqwest::Method::HEAD,
                _ => reqwest::Method::GET,
            };
            let response = client
                .request(method.clone(), url)
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let coding = response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.bytes().await.unwrap();
            (encoding, method, coding, body)
        }
    });
    let answers = futures::future::join_all(visits).await;
    let took = started.elapsed();
    for (encoding, method, coding, body) in &answers {
        match *encoding {
            "identity" => assert_eq!(coding, &None),
            asked => assert_eq!(coding.as_deref(), Some(asked)),
        }
        if method == reqwest::Method::HEAD {
            assert!(body.is_empty());
            continue;
        }
        assert!(!body.is_empty());
        if *encoding == "identity" {
            let page = String::from_utf8_lossy(body);
            assert!(page.contains("Shop front"), "{page}");
            assert_public(&page);
        }
    }
    let renders = counted(&server, "pulse_public_renders_total", "/status").await;
    let answered = counted(&server, "pulse_public_answers_total", "/status").await;
    let most = took.as_secs_f64().ceil() + 1.0;
    println!("200 visits in {took:?}: {renders} renderings");
    assert!(
        renders >= 1.0 && renders <= most,
        "{renders} renderings in {took:?}"
    );
    assert_eq!(answered, 200.0);
}
