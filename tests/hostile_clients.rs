//! Clients that try to take Pulse down, from the outside: real sockets from
//! several loopback addresses (each a different client to the server)
//! against the real binary. Whatever they do, a real client is still
//! served, no check reports a false outage, and what each of them costs the
//! server is bounded (README, "Security").

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;
use support::{Server, targets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request that never finishes: the head's blank line never comes.
const HALF_SENT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a";

fn attacker(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + n)
}

/// Pulse watching an HTTP target and a TCP port every 300 ms, with `args`.
async fn pulse_with_checks(open_files: Option<u64>, args: &[&str]) -> (Server, tempfile::TempDir) {
    let web = targets::http_target().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let config = format!(
        "[defaults]\ninterval = \"300ms\"\ntimeout = \"2s\"\n\n\
         [[check]]\nname = \"web\"\nkind = \"http\"\nurl = \"http://{web}/ok\"\n\n\
         [[check]]\nname = \"port\"\nkind = \"tcp\"\naddress = \"{web}\"\n"
    );
    std::fs::write(&path, config).unwrap();
    let mut all = vec!["--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = match open_files {
        Some(limit) => Server::start_with_open_file_limit(limit, &all).await,
        None => Server::start(&all).await,
    };
    server.results_within(Duration::from_secs(10)).await;
    (server, dir)
}

/// Opens `count` connections from `source`, each sending `HALF_SENT`;
/// returns them all (refused ones are closed by the server).
/// All at once, so that none reaches its deadline before the last opens.
async fn half_sent_requests(server: &Server, source: Ipv4Addr, count: usize) -> Vec<TcpStream> {
    let opening = (0..count).map(|_| async {
        let mut socket = server.connect_from(source).await.ok()?;
        let _ = socket.write_all(HALF_SENT).await;
        Some(socket)
    });
    futures::future::join_all(opening)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// How many of `sockets` the server still holds open once it has closed
/// `refused` of them (each read to its end; a refused one gets its answer,
/// if any, and then the end). Waits up to 30 s for those closes: a deadline
/// for something stuck, not a measure of speed. Then, a negative, it
/// watches the rest for 300 ms more: a refusal is immediate, so one still
/// to come would show by then, and a place held until a deadline is not
/// given up in that time.
async fn still_open_after(sockets: &mut [TcpStream], refused: usize) -> usize {
    use futures::stream::{FuturesUnordered, StreamExt};
    let total = sockets.len();
    let mut reads: FuturesUnordered<_> = sockets
        .iter_mut()
        .map(|socket| async move {
            let mut sink = Vec::new();
            let _ = socket.read_to_end(&mut sink).await;
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut closed = 0;
    while closed < refused {
        match tokio::time::timeout_at(deadline, reads.next()).await {
            Ok(Some(())) => closed += 1,
            Ok(None) => break,
            Err(_) => {
                panic!("the server closed {closed} of the {refused} it should refuse within 30 s")
            }
        }
    }
    while let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(300), reads.next()).await {
        closed += 1;
    }
    total - closed
}

/// Polls until `metric{label}` reads at least `at_least`, up to 30 s;
/// returns what it reads then.
async fn labelled_metric_reaching(server: &Server, name: &str, label: &str, at_least: f64) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = labelled_metric(server, name, label).await;
        if now >= at_least {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}{{{label}}} is {now} after 30 s, expected {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until every check has a result checked after `since_ms`, up to 30 s.
async fn every_check_ran_after(server: &Server, since_ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.status().await;
        let checks = status["checks"].as_array().unwrap();
        if checks
            .iter()
            .all(|check| check["checked_at_ms"].as_u64() > Some(since_ms))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "checks did not go on: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every check's current health and detail, asserting none of them is
/// down (the targets are up: any "down" would be Pulse's own doing).
async fn assert_no_false_outage(server: &Server) {
    let status = server.status().await;
    for check in status["checks"].as_array().unwrap() {
        let detail = check["detail"].as_str().unwrap();
        assert_eq!(check["health"], "up", "{}: {detail}", check["id"]);
        assert!(!detail.contains("open files"), "{detail}");
    }
}

async fn labelled_metric(server: &Server, name: &str, label: &str) -> f64 {
    let text = server.metrics_text().await;
    let prefix = format!("{name}{{{label}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// A GET from `source`, answered in full; the status code.
async fn get_from(server: &Server, source: Ipv4Addr, path: &str) -> u16 {
    let mut socket = server.connect_from(source).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer))
        .await
        .expect("answered within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"))
}

#[tokio::test]
async fn one_address_with_a_thousand_half_sent_requests_holds_only_its_share() {
    let (server, _dir) = pulse_with_checks(None, &["--max-connections-per-address", "100"]).await;
    let mut held = half_sent_requests(&server, attacker(0), 1000).await;

    // Held until the 20 s default request deadline; refused at once.
    assert_eq!(still_open_after(&mut held, 900).await, 100);
    let refused = labelled_metric_reaching(
        &server,
        "pulse_connections_refused_total",
        "reason=\"per_address\"",
        900.0,
    )
    .await;
    assert_eq!(refused, 900.0);

    // Everyone else is served as if nothing happened.
    assert_eq!(
        get_from(&server, Ipv4Addr::new(127, 0, 0, 2), "/healthz").await,
        200
    );
    assert_eq!(
        get_from(&server, Ipv4Addr::new(127, 0, 0, 3), "/").await,
        200
    );
    // The checks go on: each runs again.
    every_check_ran_after(&server, support::now_ms()).await;
    assert_no_false_outage(&server).await;
}

#[tokio::test]
async fn many_addresses_cannot_take_the_checks_sockets() {
    // 1,100 descriptors: 588 for clients, the rest kept for the checks.
    // The request deadline is what frees the places at the end.
    let args = [
        "--max-connections-per-address",
        "100",
        "--request-timeout",
        "10s",
    ];
    let (server, _dir) = pulse_with_checks(Some(1100), &args).await;
    // A viewer already watching: while the cap is full nobody new gets in
    // (not even this test's own requests), so the stream is how we look.
    let mut viewer = support::SseReader::open(&server.url("/api/events"), None).await;
    let flood = (0..12).map(|n| half_sent_requests(&server, attacker(n), 100));
    let mut held: Vec<_> = futures::future::join_all(flood)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(held.len(), 1200);
    let open = still_open_after(&mut held, 1200 - 587).await;
    assert_eq!(
        open,
        588 - 1,
        "the total cap holds (the viewer has one place)"
    );

    // While the cap is full, the checks still have their sockets: both go
    // on reporting up, twice each at least.
    let mut results = std::collections::HashMap::new();
    while results.len() < 2 || results.values().any(|&n| n < 2) {
        let Some((kind, _, data)) = viewer.next_event_within(Duration::from_secs(30)).await else {
            panic!("the viewer's stream ended");
        };
        if kind != "message" {
            continue;
        }
        let status: serde_json::Value = serde_json::from_str(&data).unwrap();
        let detail = status["detail"].as_str().unwrap().to_string();
        assert_eq!(status["health"], "up", "{}: {detail}", status["id"]);
        *results
            .entry(status["id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(results.len(), 2, "{results:?}");
    // They ran while the cap was full: every held place still is (the
    // server's own metrics cannot be asked, it takes no one new).
    let still_held = held
        .iter()
        .filter(|socket| {
            let nothing_yet = socket.try_read(&mut [0u8; 1]);
            matches!(nothing_yet, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(still_held, 587, "the cap was still full while they ran");

    // The request deadline frees the places: a real client gets in again.
    let closing = held
        .iter_mut()
        .map(|socket| answer_and_close(socket, Duration::from_secs(30)));
    let closed = futures::future::join_all(closing).await;
    assert!(
        closed.iter().all(|(_, closed)| *closed),
        "every held place is freed at its deadline"
    );
    assert_eq!(
        get_from(&server, Ipv4Addr::new(127, 0, 0, 2), "/healthz").await,
        200
    );
    let total = labelled_metric(
        &server,
        "pulse_connections_refused_total",
        "reason=\"total\"",
    )
    .await;
    assert_eq!(total, 1200.0 - 587.0, "refused at the total cap");
    let slow = labelled_metric(
        &server,
        "pulse_connections_refused_total",
        "reason=\"slow_head\"",
    )
    .await;
    assert_eq!(slow, 587.0, "half-sent heads closed at the deadline");
    assert_no_false_outage(&server).await;
}

/// Reads `socket` to its end into `answer`; panics if it is still open
/// after 30 s.
async fn read_until_closed(socket: &mut TcpStream, answer: &mut Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(answer))
        .await
        .expect("closed within 30 s")
        .unwrap();
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_at_their_deadlines() {
    let server = Server::start(&["--first-byte-timeout", "1s", "--request-timeout", "2s"]).await;
    let started = std::time::Instant::now();
    let mut silent = server.connect_from(attacker(0)).await.unwrap();
    let mut slow = server.connect_from(attacker(1)).await.unwrap();
    slow.write_all(HALF_SENT).await.unwrap();
    // Not before its deadline, however fast the machine; and well before
    // the defaults (10 s for the first byte, 20 s for the request), so the
    // flags are what closed them. A late close only means a loaded machine.
    let mut answer = Vec::new();
    read_until_closed(&mut silent, &mut answer).await;
    let silent_closed = started.elapsed();
    assert!(answer.is_empty(), "a silent client gets no answer");
    assert!(
        silent_closed >= Duration::from_millis(900) && silent_closed < Duration::from_secs(5),
        "{silent_closed:?}"
    );

    read_until_closed(&mut slow, &mut answer).await;
    let slow_closed = started.elapsed();
    assert!(
        answer.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        slow_closed >= Duration::from_millis(1900) && slow_closed < Duration::from_secs(10),
        "{slow_closed:?}"
    );

    let silent_count = labelled_metric(
        &server,
        "pulse_connections_refused_total",
        "reason=\"no_request\"",
    )
    .await;
    let slow_count = labelled_metric(
        &server,
        "pulse_connections_refused_total",
        "reason=\"slow_head\"",
    )
    .await;
    assert_eq!((silent_count, slow_count), (1.0, 1.0));
}

#[tokio::test]
async fn an_oversized_head_is_refused_whole() {
    let server = Server::start(&[]).await;
    let mut socket = server.connect_from(attacker(0)).await.unwrap();
    let mut request = b"GET / HTTP/1.1\r\n".to_vec();
    while request.len() < 20 * 1024 {
        request.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let _ = socket.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// A raw request and everything the server sends back until it closes.
async fn exchange(server: &Server, request: &[u8]) -> String {
    let mut socket = server
        .connect_from(Ipv4Addr::new(127, 0, 0, 2))
        .await
        .unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection after answering {request:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn smuggling_shapes_get_one_answer_and_nothing_more() {
    let server = Server::start(&[]).await;
    let smuggled = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let shapes: Vec<(&str, String)> = vec![
        (
            "TE and CL",
            format!(
                "POST /api/status HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "TE and CL on the stream path",
            format!(
                "GET /api/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "bare LF",
            format!("GET /healthz HTTP/1.1\nHost: localhost\n\n{smuggled}"),
        ),
        (
            "obs-fold",
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX: a\r\n b\r\n\r\n{smuggled}"),
        ),
        (
            "absolute-form",
            format!(
                "GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n{smuggled}"
            ),
        ),
        (
            "pipelining",
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n{smuggled}"),
        ),
        (
            "Upgrade",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n{smuggled}"
            ),
        ),
        (
            "HTTP/2 preface",
            format!("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n{smuggled}"),
        ),
        (
            "two Content-Lengths",
            format!(
                "POST /api/status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 41\r\n\r\n{smuggled}"
            ),
        ),
    ];
    for (shape, request) in shapes {
        let answer = exchange(&server, request.as_bytes()).await;
        let answers = answer.matches("HTTP/1.").count();
        assert!(answers <= 1, "{shape}: {answers} answers:\n{answer}");
        assert!(
            !answer.contains("pulse_events_published"),
            "{shape}: the smuggled request was served:\n{answer}"
        );
    }
}

/// A stream request whose client never reads, with `Last-Event-ID`;
/// `pipelined` sends another request behind it, which puts the stream on
/// hyper instead of the direct path.
async fn stalled_replay(
    server: &Server,
    source: Ipv4Addr,
    last_event_id: u64,
    pipelined: bool,
) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(server.addr()).await.unwrap();
    let mut request = format!(
        "GET /api/events HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
    );
    if pipelined {
        request.push_str("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    }
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Pulse with a ring full of events (about 3,000 to replay), and the id
/// 3,000 events back.
async fn pulse_with_a_long_backlog(args: &[&str]) -> (Server, u64) {
    let mut all = vec![
        "--demo-rate",
        "1000/s",
        "--max-connections-per-address",
        "1000",
    ];
    all.extend_from_slice(args);
    let server = Server::start(&all).await;
    let first = server.status().await["last_event_id"].as_u64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = server.status().await["last_event_id"].as_u64().unwrap();
        // The default ring (4,096) holds all of them.
        if last >= first + 3000 {
            return (server, last - 3000);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} events in 30 s at 1000/s",
            last - first
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What 100 clients that stop reading after asking for a 3,000-event
/// replay cost the server, per client, in KiB of resident memory.
async fn cost_of_stalled_replays(server: &Server, from: u64, pipelined: bool) -> f64 {
    const CLIENTS: usize = 100;
    let before = server.rss_kib();
    let mut held = Vec::with_capacity(CLIENTS);
    for n in 0..CLIENTS {
        held.push(stalled_replay(server, attacker((n % 4) as u8), from, pipelined).await);
    }
    server.wait_for_clients(CLIENTS as u64).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    drop(held);
    after.saturating_sub(before) as f64 / CLIENTS as f64
}

/// The size of the 3,000 events' replay after `from`, in KiB of frames,
/// as a client that reads it receives it.
async fn replay_kib(server: &Server, from: u64) -> f64 {
    let mut reader =
        support::SseReader::open(&server.url("/api/events"), Some(&from.to_string())).await;
    let mut bytes = 0;
    loop {
        let (kind, id, data) = reader
            .next_event_within(Duration::from_secs(30))
            .await
            .expect("the replay goes on");
        bytes += "event: \nid: \ndata: \n\n".len() + kind.len() + data.len();
        let Some(id) = id else { continue };
        bytes += id.len();
        if id.parse::<u64>().unwrap() >= from + 3000 {
            return bytes as f64 / 1024.0;
        }
    }
}

/// A stalled stream must not keep its replay: what it holds is a small
/// share of the replay it asked for, measured on the same server (so the
/// bound is in the workload's terms; a sixteenth and a fifth are the
/// 40 KiB and 128 KiB this test used to allow). The per-stream
/// heap of an idle stream on each path is held to its budget by the gates
/// on instruction counts and heap (scripts/gates, budgets/hotpaths.toml).
#[tokio::test]
async fn a_client_that_stops_reading_its_replay_holds_a_bounded_amount() {
    let (server, from) = pulse_with_a_long_backlog(&[]).await;
    let replay = replay_kib(&server, from).await;
    server.wait_for_clients(0).await;
    let direct = cost_of_stalled_replays(&server, from, false).await;
    println!(
        "a stalled direct stream with a 3,000-event replay ({replay:.0} KiB): {direct:.1} KiB"
    );
    assert!(
        direct < replay / 16.0,
        "direct path: {direct:.1} KiB per stalled stream, of a {replay:.0} KiB replay"
    );
    server.wait_for_clients(0).await;
    let hyper = cost_of_stalled_replays(&server, from, true).await;
    println!("the same through hyper: {hyper:.1} KiB");
    assert!(
        hyper < replay / 5.0,
        "hyper path: {hyper:.1} KiB per stalled stream, of a {replay:.0} KiB replay"
    );
}

#[tokio::test]
async fn a_client_that_takes_nothing_is_disconnected_and_counted() {
    let (server, from) = pulse_with_a_long_backlog(&["--stall-timeout", "2s"]).await;
    let _direct = stalled_replay(&server, attacker(0), from, false).await;
    let _hyper = stalled_replay(&server, attacker(1), from, true).await;
    server.wait_for_clients(2).await;
    // Their capped send buffers fill within a second at this rate; then
    // the 2 s stall limit runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.connected_clients().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "both stalled streams are cut off"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        server
            .metric("pulse_stalled_clients_disconnected_total")
            .await,
        2.0
    );
}

/// Reads whatever the server sends until it closes `socket`, or `wait`
/// passes; the answer's status code (0 for none) and whether it closed.
async fn answer_and_close(
    socket: &mut (impl tokio::io::AsyncRead + Unpin),
    wait: Duration,
) -> (u16, bool) {
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    let text = String::from_utf8_lossy(&answer);
    let code = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (code, closed)
}

/// A request head with `body_length` declared, and the first `sent`
/// bytes of its body.
async fn declared_body(
    server: &Server,
    source: Ipv4Addr,
    path: &str,
    body_length: usize,
    sent: usize,
) -> TcpStream {
    let mut socket = server.connect_from(source).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {body_length}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before taking it all.
    let _ = socket.write_all(&vec![b'a'; sent]).await;
    socket
}

#[tokio::test]
async fn slow_large_bodies_from_one_address_pin_nothing() {
    let (server, _dir) = pulse_with_checks(None, &[]).await;
    let before = server.rss_kib();
    // As found: 200 connections declaring 2 MB on the public server
    // function, sending all but a byte of it. That route takes no body.
    let opening = (0..200).map(|_| {
        declared_body(
            &server,
            attacker(0),
            "/api/public/status_data",
            2_000_000,
            1_999_999,
        )
    });
    let mut held = futures::future::join_all(opening).await;
    let answers = futures::future::join_all(
        held.iter_mut()
            .map(|socket| answer_and_close(socket, Duration::from_secs(30))),
    )
    .await;
    let grown_kib = server.rss_kib().saturating_sub(before);
    println!("200 slow 2 MB bodies: RSS grew {grown_kib} KiB");
    for (code, closed) in answers {
        assert_eq!((code, closed), (413, true), "each is refused and closed");
    }
    assert!(grown_kib < 20 * 1024, "RSS grew {grown_kib} KiB");
    let refused = labelled_metric(
        &server,
        "pulse_connections_refused_total",
        "reason=\"body_too_large\"",
    )
    .await;
    assert_eq!(refused, 200.0);
    assert_no_false_outage(&server).await;
}

#[tokio::test]
async fn a_body_has_the_same_deadline_as_its_head() {
    let server = Server::start(&["--request-timeout", "2s"]).await;
    let started = std::time::Instant::now();
    // A sign-in form that arrives a byte every 300 ms never completes: the
    // deadline counts from the connection, not between the pieces. The
    // trickle would go on for 30 s; the server cuts it off while it still
    // sends (its writes then fail).
    let socket = declared_body(&server, attacker(0), "/login", 100, 10).await;
    let (mut probe, mut trickle) = socket.into_split();
    let trickling = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if trickle.write_all(b"a").await.is_err() {
                return true;
            }
        }
        false
    };
    let ((code, closed), cut_off) = tokio::join!(
        answer_and_close(&mut probe, Duration::from_secs(30)),
        trickling
    );
    let took = started.elapsed();
    assert_eq!((code, closed), (408, true));
    assert!(cut_off, "the trickle was cut off while it still sent");
    // Not before the deadline; and well before the 20 s default, so the
    // flag is what set it.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(
        labelled_metric(
            &server,
            "pulse_connections_refused_total",
            "reason=\"slow_body\""
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn each_route_takes_only_the_body_it_needs() {
    let server = Server::start(&[]).await;
    let cases = [
        // A form is 8 KiB at most; a server function's arguments too.
        ("/login", 9 * 1024, 413),
        ("/api/public/status_data", 3_000_000, 413),
        ("/api/public/status_data", 10, 413),
        ("/api/checks_history", 3_000_000, 413),
        // The incident API takes 64 KiB (this one is then refused for
        // what it is, not for its size).
        ("/api/incidents", 60 * 1024, 400),
        ("/api/incidents", 65 * 1024, 413),
    ];
    for (path, length, expected) in cases {
        let mut socket = declared_body(&server, attacker(1), path, length, length).await;
        let (code, _) = answer_and_close(&mut socket, Duration::from_secs(30)).await;
        assert_eq!(code, expected, "{path} with {length} bytes");
    }
}

#[tokio::test]
async fn a_stream_whose_client_keeps_sending_is_closed_and_counted() {
    let server = Server::start(&[]).await;
    let mut socket = server.connect_from(attacker(0)).await.unwrap();
    socket
        .write_all(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    server.wait_for_clients(1).await;
    // A line end or two is forgiven; a stream of junk is not. (A negative:
    // a short wait, in which a stream closed for the line end would go.)
    socket.write_all(b"\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.connected_clients().await, 1);
    let junk = vec![b'x'; 64 * 1024];
    let sending = async {
        for _ in 0..16 {
            if socket.write_all(&junk).await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), sending).await;
    server.wait_for_clients(0).await;
    assert_eq!(
        labelled_metric(
            &server,
            "pulse_connections_refused_total",
            "reason=\"sent_after_stream\""
        )
        .await,
        1.0
    );
}

/// A stream client that sends its request and never reads, from `source`.
async fn non_reading_stream(server: &Server, source: Ipv4Addr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn streams_that_never_read_hold_little_while_events_flow_on_a_large_board() {
    // 3,000 checks (push checks: no network) and 200 events a second.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let mut config = String::new();
    for n in 0..3000 {
        config.push_str(&format!(
            "[[check]]\nname = \"job {n:04}\"\nkind = \"push\"\ntoken = \"token-of-job-{n:04}\"\nperiod = \"1h\"\n\n"
        ));
    }
    std::fs::write(&path, config).unwrap();
    let server = Server::start(&[
        "--config",
        path.to_str().unwrap(),
        "--demo-rate",
        "200/s",
        "--max-connections-per-address",
        "1000",
    ])
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // What a stream that buffered its opening would hold at least: the
    // snapshot of the 3,000 checks, as a reading client receives it.
    let mut reader = support::SseReader::open(&server.url("/api/events"), None).await;
    let (kind, _, snapshot) = reader
        .next_event_within(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(kind, "snapshot");
    let snapshot_kib = snapshot.len() as f64 / 1024.0;
    drop(reader);
    server.wait_for_clients(0).await;
    const CLIENTS: usize = 1000;
    let before = server.rss_kib();
    let mut held = Vec::with_capacity(CLIENTS);
    for n in 0..CLIENTS {
        held.push(non_reading_stream(&server, attacker((n % 4) as u8)).await);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.connected_clients().await < CLIENTS as u64 {
        assert!(std::time::Instant::now() < deadline, "all streams open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_stream = server.rss_kib().saturating_sub(before) as f64 / CLIENTS as f64;
    println!(
        "a non-reading stream on a 3,000-check board ({snapshot_kib:.0} KiB snapshot) at 200 events/s: {per_stream:.1} KiB"
    );
    // Far less than its snapshot: the server does not keep what it could
    // not send (measured on the same board; an eighth is the 64 KiB this
    // test used to allow).
    assert!(
        per_stream < snapshot_kib / 8.0,
        "{per_stream:.1} KiB per stream, of a {snapshot_kib:.0} KiB snapshot"
    );
    drop(held);
}

/// A new token as `pulse new-token` prints it: the token, and its line
/// for the config's `tokens`.
async fn new_token(name: &str) -> (String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("new-token")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    let token = printed.split(": ").nth(1).unwrap().lines().next().unwrap();
    let sha = &printed.split("sha256 = \"").nth(1).unwrap()[..64];
    let line = format!("{{ name = \"{name}\", sha256 = \"{sha}\", scope = \"read\" }}");
    (token.to_owned(), line)
}

/// Writes `text` to `path` as editors save: a new file renamed over it.
fn save_by_rename(path: &std::path::Path, text: &str) {
    let next = path.with_extension("new");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[tokio::test]
async fn a_request_after_a_stream_on_the_same_connection_has_the_same_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let (token, line) = new_token("reader").await;
    let config = |tokens: &str| format!("[access]\ntokens = [{tokens}]\n");
    std::fs::write(&path, config(&line)).unwrap();
    let server = Server::start(&[
        "--config",
        path.to_str().unwrap(),
        "--request-timeout",
        "2s",
    ])
    .await;
    // An `Upgrade` field sends the stream through hyper, which keeps the
    // connection open after the stream ends.
    let mut socket = server.connect_from(attacker(0)).await.unwrap();
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nUpgrade: foo\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: snapshot") {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the stream starts");
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200 "));
    // A new access rule ends every private stream: its client is asked again.
    let (_, other) = new_token("other").await;
    save_by_rename(&path, &config(&format!("{line}, {other}")));
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while !seen.ends_with(b"0\r\n\r\n") {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection stays open after the stream");
            seen.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended on the new rule");
    // The next request's head never completes: it is held to the same
    // deadline as a first request's, and the connection is closed.
    let started = std::time::Instant::now();
    socket.write_all(HALF_SENT).await.unwrap();
    let (_, closed) = answer_and_close(&mut socket, Duration::from_secs(30)).await;
    let took = started.elapsed();
    assert!(closed, "a half-sent second head is not held open");
    // Well before the 20 s default: held to the 2 s given.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn bodies_in_flight_have_one_budget_for_every_connection() {
    // The deadline only has to outlast opening the 2,100 connections below.
    let server = Server::start(&["--request-timeout", "10s"]).await;
    // Each declares a whole form (8 KiB) and sends none of it: 2,048 of
    // them hold the 16 MiB that all connections together may.
    let declared = 8 * 1024;
    let mut held = Vec::new();
    for n in 0..2100usize {
        let source = attacker((n / 250) as u8);
        held.push(declared_body(&server, source, "/login", declared, 0).await);
    }
    // Every one is answered in the end: those beyond the budget with 503 at
    // once, before any of the others reaches its deadline (408).
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut answers: FuturesUnordered<_> = held
        .iter_mut()
        .map(|socket| answer_and_close(socket, Duration::from_secs(60)))
        .collect();
    let mut in_order = Vec::new();
    let mut checked_others = false;
    while let Some((code, closed)) = answers.next().await {
        assert!(closed, "answered {code} and closed");
        in_order.push(code);
        // Whoever sends no body is not held up while the budget is spent.
        if in_order.len() == 2100 - 2048 && !checked_others {
            assert_eq!(get_from(&server, attacker(20), "/healthz").await, 200);
            checked_others = true;
        }
    }
    let (busy, waited) = in_order.split_at(2100 - 2048);
    assert!(
        busy.iter().all(|&code| code == 503),
        "beyond the budget: 503 at once, before any deadline: {busy:?}"
    );
    assert!(
        waited.iter().all(|&code| code == 408),
        "the rest at their deadline"
    );
    // The budget came back when the slow ones reached their deadline.
    let mut form = declared_body(&server, attacker(21), "/login", 26, 26).await;
    let (code, _) = answer_and_close(&mut form, Duration::from_secs(30)).await;
    assert_ne!(code, 503, "the budget came back");
}
