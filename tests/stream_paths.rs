//! `/api/events` is served by two paths: straight onto the socket when it is
//! a connection's first and only request (nearly every stream: every other
//! answer closes its connection), and through hyper otherwise (here: a
//! client that pipelines another request behind it). A client must not be
//! able to tell which one answered. Raw sockets, so that the framing itself
//! is what is compared.

mod support;

use std::time::Duration;
use support::Server;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any one read may wait: a deadline for something stuck.
const LIMIT: Duration = Duration::from_secs(30);

/// One HTTP/1 connection, read by hand.
struct Connection(BufReader<TcpStream>);

struct Head {
    status_line: String,
    /// Lowercased names, in the order sent; `date` left out (it is the clock).
    fields: Vec<(String, String)>,
}

impl Head {
    fn field(&self, name: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }
}

impl Connection {
    async fn open(server: &Server) -> Connection {
        let addr = server.base.trim_start_matches("http://");
        Connection(BufReader::new(TcpStream::connect(addr).await.unwrap()))
    }

    async fn get(&mut self, target: &str, version: &str, extra: &str) -> Head {
        self.send(&request(target, version, extra)).await;
        self.head().await
    }

    async fn send(&mut self, text: &str) {
        self.0.get_mut().write_all(text.as_bytes()).await.unwrap();
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let read = tokio::time::timeout(LIMIT, self.0.read_line(&mut line));
        read.await.expect("a line within 5 s").unwrap();
        line.trim_end_matches("\r\n").to_string()
    }

    async fn head(&mut self) -> Head {
        let status_line = self.line().await;
        let mut fields = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(": ").expect("a header field");
            if name != "date" {
                fields.push((name.to_ascii_lowercase(), value.to_string()));
            }
        }
        Head {
            status_line,
            fields,
        }
    }

    async fn exactly(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        let read = tokio::time::timeout(LIMIT, self.0.read_exact(&mut bytes));
        read.await.expect("the bytes within 5 s").unwrap();
        bytes
    }

    /// One HTTP/1.1 chunk's data; empty for the last chunk.
    async fn chunk(&mut self) -> String {
        let size = usize::from_str_radix(&self.line().await, 16).expect("a hex chunk size");
        let data = self.exactly(size).await;
        assert_eq!(self.exactly(2).await, b"\r\n", "a chunk ends with CRLF");
        String::from_utf8(data).unwrap()
    }

    /// Everything until the server closes the connection.
    async fn rest_until_closed(&mut self) -> String {
        let mut rest = String::new();
        let read = tokio::time::timeout(LIMIT, self.0.read_to_string(&mut rest));
        read.await.expect("closed within 5 s").unwrap();
        rest
    }
}

fn request(target: &str, version: &str, extra: &str) -> String {
    format!("GET {target} HTTP/{version}\r\nHost: localhost\r\n{extra}\r\n")
}

/// A stream asked for with another request pipelined behind it, in one
/// write: more than the direct path serves, so hyper answers.
async fn through_hyper(server: &Server, target: &str) -> (Connection, Head) {
    let mut connection = Connection::open(server).await;
    let pipelined = request(target, "1.1", "") + &request("/healthz", "1.1", "");
    connection.send(&pipelined).await;
    let head = connection.head().await;
    (connection, head)
}

async fn streams_opened(server: &Server) -> (f64, f64) {
    let name = |path| format!("pulse_streams_opened_total{{path=\"{path}\"}}");
    (
        server.metric(&name("direct")).await,
        server.metric(&name("hyper")).await,
    )
}

#[tokio::test]
async fn both_paths_answer_with_the_same_head_and_chunks() {
    let server = Server::start(&["--interval", "300ms"]).await;
    let mut fresh = Connection::open(&server).await;
    let direct = fresh.get("/api/events", "1.1", "").await;
    let (mut second, hyper) = through_hyper(&server, "/api/events").await;
    assert_eq!(direct.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        direct.fields,
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
            ("x-accel-buffering", "no"),
            ("connection", "keep-alive"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
            ("transfer-encoding", "chunked"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(
        (&hyper.status_line, &hyper.fields),
        (&direct.status_line, &direct.fields)
    );
    server.wait_for_clients(2).await;
    assert_eq!(
        streams_opened(&server).await,
        (1.0, 1.0),
        "one stream each way"
    );

    for connection in [&mut fresh, &mut second] {
        let opening = connection.chunk().await;
        assert!(opening.starts_with("retry: "), "{opening:?}");
        assert!(opening.contains("\n\nevent: snapshot\n"), "{opening:?}");
        let live = connection.chunk().await;
        assert!(
            live.starts_with("id: ") && live.ends_with("\n\n"),
            "{live:?}"
        );
    }
}

#[tokio::test]
async fn both_paths_replay_from_the_same_id() {
    let server = Server::start(&["--interval", "300ms"]).await;
    let mut first = Connection::open(&server).await;
    first.get("/api/events", "1.1", "").await;
    first.chunk().await; // retry and snapshot
    let event = first.chunk().await;
    let id: u64 = event.lines().next().unwrap()["id: ".len()..]
        .parse()
        .unwrap();
    // Until there is something after it to replay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.status().await["last_event_id"].as_u64().unwrap() <= id {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing published after {id} in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let resume = format!("Last-Event-ID: {id}\r\n");
    let mut fresh = Connection::open(&server).await;
    fresh.get("/api/events", "1.1", &resume).await;
    let target = format!("/api/events?lastEventId={id}");
    let (mut second, _) = through_hyper(&server, &target).await;
    for connection in [&mut fresh, &mut second] {
        let replay = connection.chunk().await;
        let first_id = replay
            .split("\n\nid: ")
            .nth(1)
            .map(|rest| rest.lines().next());
        assert_eq!(
            first_id,
            Some(Some((id + 1).to_string().as_str())),
            "the replay starts right after {id}: {replay:?}"
        );
        assert!(!replay.contains("event: snapshot"), "{replay:?}");
    }
}

#[tokio::test]
async fn shutdown_ends_each_framing_cleanly() {
    let mut server = Server::start(&[]).await;
    let mut chunked = Connection::open(&server).await;
    chunked.get("/api/events", "1.1", "").await;
    chunked.chunk().await;
    // HTTP/1.0 has no chunks (nginx speaks it to upstreams by default): the
    // body is the frames themselves, ended by closing.
    let mut plain = Connection::open(&server).await;
    let head = plain.get("/api/events", "1.0", "").await;
    assert_eq!(head.status_line, "HTTP/1.0 200 OK");
    assert_eq!(head.field("transfer-encoding"), None);
    assert_eq!(head.field("connection"), None);
    server.wait_for_clients(2).await;

    server.terminate_and_wait(2 * LIMIT).await;
    let done = "event: status\ndata: Done\n\n";
    let mut last = String::new();
    loop {
        let chunk = chunked.chunk().await;
        if chunk.is_empty() {
            break;
        }
        last = chunk;
    }
    assert!(last.ends_with(done), "Done, then the last chunk: {last:?}");
    assert_eq!(
        chunked.rest_until_closed().await,
        "",
        "then the connection closes"
    );
    let body = plain.rest_until_closed().await;
    assert!(body.starts_with("retry: "), "{body:?}");
    assert!(body.ends_with(done), "{body:?}");
}

#[tokio::test]
async fn a_request_sent_in_pieces_is_sorted_once_it_can_be() {
    let server = Server::start(&[]).await;
    // A connection that never says anything holds up nobody.
    let _silent = Connection::open(&server).await;

    let mut stream = Connection::open(&server).await;
    let mut page = Connection::open(&server).await;
    for (connection, first) in [(&mut stream, "GET /api/ev"), (&mut page, "GE")] {
        let socket = connection.0.get_mut();
        socket.write_all(first.as_bytes()).await.unwrap();
        socket.flush().await.unwrap();
    }
    // So the first pieces arrive on their own (the sorter sees them
    // unfinished): nothing is asserted on the time itself.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let rest = "ents HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.0.get_mut().write_all(rest.as_bytes()).await.unwrap();
    let head = stream.head().await;
    assert_eq!(head.field("content-type"), Some("text/event-stream"));
    assert!(stream.chunk().await.contains("event: snapshot"));

    let rest = "T /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    page.0.get_mut().write_all(rest.as_bytes()).await.unwrap();
    let head = page.head().await;
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    let len: usize = head.field("content-length").unwrap().parse().unwrap();
    let body = String::from_utf8(page.exactly(len).await).unwrap();
    assert_eq!(body, r#"{"status":"ok"}"#);
    assert_eq!(server.connected_clients().await, 1);
}

#[tokio::test]
async fn every_other_answer_closes_its_connection() {
    let server = Server::start(&[]).await;
    for target in ["/healthz", "/api/status", "/"] {
        let mut connection = Connection::open(&server).await;
        let head = connection.get(target, "1.1", "").await;
        assert_eq!(head.field("connection"), Some("close"), "{target}");
        connection.rest_until_closed().await;
    }
}
