//! Who may see what, from the outside: the real binary with an `[access]`
//! config, asked anonymously, with a session, with tokens of each scope,
//! and through a trusted (and an untrusted) proxy's user header, on every
//! kind of route, the directly served stream included. Also: signing in
//! and out, the sign-in rate limits (which client a proxy forwards for,
//! real and made-up names alike, a flood of guesses that must not lock the
//! user out), session expiry, allowed hosts, and secure-by-default
//! start-up.

mod support;

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;
use support::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";
/// In the private check's name: must never reach an anonymous viewer.
const PRIVATE_MARK: &str = "Private DB 7f3a";
const TRUSTED_PROXY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// What `pulse hash-password` or `pulse new-token` prints.
async fn pulse_tool(args: &[&str], stdin: &str) -> String {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "pulse {args:?} fails");
    String::from_utf8(output.stdout).unwrap()
}

struct Tokens {
    read: String,
    write: String,
    metrics: String,
    config: String,
}

/// A token of each scope, made as a user would, and their lines for the config.
async fn tokens() -> Tokens {
    let mut made = Vec::new();
    for scope in ["read", "write", "metrics"] {
        let printed = pulse_tool(&["new-token"], "").await;
        let token = printed.split(": ").nth(1).unwrap().lines().next().unwrap();
        let sha = printed.split("sha256 = \"").nth(1).unwrap();
        let sha = &sha[..64];
        made.push((
            token.to_owned(),
            format!("{{ name = \"{scope}-script\", sha256 = \"{sha}\", scope = \"{scope}\" }}"),
        ));
    }
    let lines: Vec<&str> = made.iter().map(|(_, line)| line.as_str()).collect();
    Tokens {
        read: made[0].0.clone(),
        write: made[1].0.clone(),
        metrics: made[2].0.clone(),
        config: format!("[{}]", lines.join(", ")),
    }
}

/// A server whose config has a user, two tokens and a trusted proxy, and
/// one private check.
async fn guarded_server(dir: &tempfile::TempDir, extra: &str) -> (Server, Tokens) {
    let hash = pulse_tool(&["hash-password"], &format!("{PASSWORD}\n")).await;
    let tokens = tokens().await;
    let config = format!(
        "[access]\n\
         users = [{{ name = \"ada\", password_hash = \"{}\" }}]\n\
         tokens = {}\n\
         trusted_proxies = [\"{TRUSTED_PROXY}\"]\n\
         user_header = \"X-Forwarded-User\"\n\
         {extra}\n\
         [[check]]\nname = \"{PRIVATE_MARK}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n",
        hash.trim(),
        tokens.config
    );
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap()]).await;
    (server, tokens)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `request` from `source` and reads the answer until `enough`
/// appears in it, the connection closes, or 3 s pass.
async fn raw(server: &Server, source: Ipv4Addr, request: &str, enough: &str) -> String {
    let mut socket = server.connect_from(source).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut buffer = [0u8; 8192];
    while !String::from_utf8_lossy(&answer).contains(enough) {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The start of a stream asked for with `headers`, from `source`: its
/// head and its snapshot.
async fn stream_start(server: &Server, source: Ipv4Addr, headers: &str) -> String {
    let request = format!("GET /api/events HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    raw(server, source, &request, "\n\n\n").await
}

/// The status code an answer read by `raw` starts with.
fn status_code(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an answer: {answer:?}"))
}

/// Posts the sign-in form from `source` with extra `headers` (each line
/// ending in CRLF): the answer's status and its session cookie, if any.
async fn sign_in_from(
    server: &Server,
    source: Ipv4Addr,
    user: &str,
    password: &str,
    headers: &str,
) -> (u16, Option<String>) {
    let body = format!("user={user}&password={}", password.replace(' ', "+"));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    let answer = raw(server, source, &request, "\r\n\r\n").await;
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .map(|cookie| cookie.split(';').next().unwrap().to_owned());
    (status_code(&answer), cookie)
}

/// The `n`th of the loopback addresses a test sends floods from
/// (127.0.0.10 and on: each is another client to the server).
fn elsewhere(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + n)
}

async fn status_of(server: &Server, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = client().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Streams served directly so far, read with a token that may.
async fn direct_streams(server: &Server, bearer: &str) -> u64 {
    let answer = client()
        .get(server.url("/metrics"))
        .header("authorization", bearer)
        .send()
        .await
        .unwrap();
    let text = answer.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("pulse_streams_opened_total{path=\"direct\"} "))
        .map_or(0, |n| n.parse().unwrap())
}

/// Signs in; returns the `Cookie` header value.
async fn sign_in(server: &Server, password: &str) -> Result<String, reqwest::Response> {
    let answer = client()
        .post(server.url("/login"))
        .form(&[("user", "ada"), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = answer
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    match cookie {
        Some(cookie) if answer.status() == 303 => Ok(cookie),
        _ => Err(answer),
    }
}

#[tokio::test]
async fn anonymous_viewers_get_public_only_and_private_routes_ask_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    let page = client()
        .get(server.url("/checks/x?y=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.headers()["location"],
        "/login?next=%2Fchecks%2Fx%3Fy%3D1"
    );
    assert_eq!(status_of(&server, "/", &[]).await, 303);
    for api in ["/api/checks/x/history", "/api/checks/x/uptime", "/metrics"] {
        assert_eq!(status_of(&server, api, &[]).await, 401, "{api}");
    }
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    let login = reqwest::get(server.url("/login")).await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("name=\"password\""));
    // The stream and the status answer, with nothing private in them.
    let status = reqwest::get(server.url("/api/status")).await.unwrap();
    assert_eq!(status.status(), 200);
    assert!(!status.text().await.unwrap().contains(PRIVATE_MARK));
    let stream = stream_start(&server, Ipv4Addr::LOCALHOST, "").await;
    assert!(stream.starts_with("HTTP/1.1 200"), "{stream}");
    assert!(stream.contains("event: snapshot"), "{stream}");
    assert!(!stream.contains(PRIVATE_MARK), "{stream}");
    // Paths the app's router would resolve to a private page are judged
    // as that page, whatever they start with.
    for sly in [
        "/pkg/../",
        "/api/public/%2e%2e/%2e%2e/",
        "/status/..",
        "/pkg/%2E%2E/checks/x",
    ] {
        let answer = raw(
            &server,
            Ipv4Addr::LOCALHOST,
            &format!("GET {sly} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            "</html>",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 303"), "{sly}: {answer}");
        assert!(!answer.contains(PRIVATE_MARK), "{sly}: {answer}");
    }
    // A user header from an address that is not a trusted proxy is
    // anyone's to send: ignored.
    let claimed = "X-Forwarded-User: ada\r\n";
    let stream = stream_start(&server, STRANGER, claimed).await;
    assert!(!stream.contains(PRIVATE_MARK), "{stream}");
    let page = raw(
        &server,
        STRANGER,
        &format!("GET / HTTP/1.1\r\nHost: localhost\r\n{claimed}\r\n"),
        "\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 303"), "{page}");
}

#[tokio::test]
async fn tokens_get_what_their_scope_covers_on_both_stream_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tokens) = guarded_server(&dir, "").await;
    let read = format!("Bearer {}", tokens.read);
    let metrics = format!("Bearer {}", tokens.metrics);
    // A read token sees what a user does (the README's access table).
    for path in ["/", "/api/status", "/metrics"] {
        let status = status_of(&server, path, &[("authorization", &read)]).await;
        assert_eq!(status, 200, "{path}");
    }
    // Let through to the history API, which answers 404 on this server
    // (run without a history), as it would anyone it lets in.
    let uptime = client()
        .get(server.url("/api/checks/x/uptime"))
        .header("authorization", &read)
        .send()
        .await
        .unwrap();
    assert_eq!(uptime.status(), 404);
    let said: serde_json::Value = uptime.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("history is off"),
        "{said}"
    );
    assert_eq!(
        status_of(&server, "/metrics", &[("authorization", &metrics)]).await,
        200
    );
    assert_eq!(
        status_of(&server, "/", &[("authorization", &metrics)]).await,
        403
    );
    assert_eq!(
        status_of(
            &server,
            "/api/checks/x/uptime",
            &[("authorization", &metrics)]
        )
        .await,
        403
    );
    let forged = format!("Bearer {}x", tokens.read);
    assert_eq!(
        status_of(&server, "/metrics", &[("authorization", &forged)]).await,
        401
    );

    // The read token's stream is private, and served directly.
    let before = direct_streams(&server, &metrics).await;
    let stream = stream_start(
        &server,
        Ipv4Addr::LOCALHOST,
        &format!("Authorization: {read}\r\n"),
    )
    .await;
    assert!(stream.contains(PRIVATE_MARK), "{stream}");
    assert_eq!(direct_streams(&server, &metrics).await, before + 1);
    // Through hyper (HTTP/1.0 with a body length goes there), the same.
    let through_hyper = raw(
        &server,
        Ipv4Addr::LOCALHOST,
        &format!(
            "GET /api/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: {read}\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"
        ),
        "\n\n\n",
    )
    .await;
    assert!(through_hyper.contains(PRIVATE_MARK), "{through_hyper}");
    assert_eq!(direct_streams(&server, &metrics).await, before + 1);
    // The metrics token's stream is the public one.
    let stream = stream_start(
        &server,
        Ipv4Addr::LOCALHOST,
        &format!("Authorization: {metrics}\r\n"),
    )
    .await;
    assert!(
        stream.contains("event: snapshot") && !stream.contains(PRIVATE_MARK),
        "{stream}"
    );
}

#[tokio::test]
async fn a_trusted_proxy_names_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    let named = "X-Forwarded-User: grace@example.com\r\n";
    let page = raw(
        &server,
        TRUSTED_PROXY,
        &format!("GET / HTTP/1.1\r\nHost: localhost\r\n{named}\r\n"),
        "</html>",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("grace@example.com"),
        "the page greets the user"
    );
    let stream = stream_start(&server, TRUSTED_PROXY, named).await;
    assert!(stream.contains(PRIVATE_MARK), "{stream}");
    // Without the header, the proxy's own requests are anonymous.
    let stream = stream_start(&server, TRUSTED_PROXY, "").await;
    assert!(!stream.contains(PRIVATE_MARK), "{stream}");
}

#[tokio::test]
async fn a_session_signs_in_sees_everything_and_signs_out_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    let wrong = sign_in(&server, "guess").await.unwrap_err();
    assert_eq!(wrong.headers()["location"], "/login?failed=1&next=%2F");
    let cookie = sign_in(&server, PASSWORD).await.unwrap();
    let with_cookie = [("cookie", cookie.as_str())];
    assert_eq!(status_of(&server, "/", &with_cookie).await, 200);
    assert_eq!(status_of(&server, "/metrics", &with_cookie).await, 200);
    let page = client()
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    let stream = stream_start(
        &server,
        Ipv4Addr::LOCALHOST,
        &format!("Cookie: {cookie}\r\n"),
    )
    .await;
    assert!(stream.contains(PRIVATE_MARK), "{stream}");
    // A tampered cookie is nobody's.
    let tampered = cookie.replacen("pulse_session=", "pulse_session=x", 1);
    assert_eq!(status_of(&server, "/", &[("cookie", &tampered)]).await, 303);

    // A private stream open while its session signs out ends, and its
    // client, coming back with the same cookie, is anonymous.
    let mut open_stream = server.connect_from(Ipv4Addr::LOCALHOST).await.unwrap();
    let request =
        format!("GET /api/events HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n");
    open_stream.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 4096];
    let n = open_stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let out = client()
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let mut rest = Vec::new();
    let ended =
        tokio::time::timeout(Duration::from_secs(5), open_stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the signed-out session's stream ended");
    // The old cookie, kept by someone, no longer signs anyone in.
    assert_eq!(status_of(&server, "/", &with_cookie).await, 303);
    let stream = stream_start(
        &server,
        Ipv4Addr::LOCALHOST,
        &format!("Cookie: {cookie}\r\n"),
    )
    .await;
    assert!(!stream.contains(PRIVATE_MARK), "{stream}");
    // A sign-in posted by another site's page is refused.
    let forged = client()
        .post(server.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("user", "ada"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

/// A session ends at its lifetime, never before: expiry is kept in whole
/// seconds, so a 5 s session signed at any moment lasts more than 4 s and
/// at most 5. Asked until it ends (a request does not extend it).
#[tokio::test]
async fn sessions_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "session_lifetime = \"5s\"").await;
    let signing_in = std::time::Instant::now();
    let cookie = sign_in(&server, PASSWORD).await.unwrap();
    assert_eq!(status_of(&server, "/", &[("cookie", &cookie)]).await, 200);
    loop {
        let status = status_of(&server, "/", &[("cookie", &cookie)]).await;
        let lasted = signing_in.elapsed();
        if status == 303 {
            assert!(lasted > Duration::from_secs(4), "ended after {lasted:?}");
            break;
        }
        assert_eq!(status, 200);
        assert!(
            lasted < Duration::from_secs(30),
            "still signed in after {lasted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn guessing_passwords_is_slowed_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    // Ten a minute: one more is let in for every 6 s the attempts take (a
    // loaded machine hashes slowly), never more. Tried until refused, for
    // as long as the limit allows, however slow the machine.
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let refilled = started.elapsed().as_secs() / 6;
        assert!(
            attempt - 1 <= 10 + refilled,
            "{} attempts let in within {:?}",
            attempt - 1,
            started.elapsed()
        );
        if let Err(answer) = sign_in(&server, "guess").await
            && answer.status() == 429
        {
            break answer;
        }
    };
    assert!(attempt >= 11, "refused at attempt {attempt}");
    assert!(answer.headers().contains_key("retry-after"));
    // Even the right password waits its turn now…
    assert_eq!(sign_in(&server, PASSWORD).await.unwrap_err().status(), 429);
    // …from this address only.
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\nuser=ada&password={}",
        "user=ada&password=".len() + PASSWORD.replace(' ', "+").len(),
        PASSWORD.replace(' ', "+"),
    );
    let answer = raw(&server, STRANGER, &request, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(answer.contains("set-cookie: pulse_session="), "{answer}");
}

#[tokio::test]
async fn only_allowed_host_names_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tokens) = guarded_server(&dir, "allowed_hosts = [\"status.example.com\"]").await;
    let read = format!("Authorization: Bearer {}\r\n", tokens.read);
    for (host, expected) in [
        ("status.example.com", "200"),
        ("STATUS.example.com:8080", "200"),
        ("evil.example", "421"),
    ] {
        let answer = raw(
            &server,
            Ipv4Addr::LOCALHOST,
            &format!("GET /api/events HTTP/1.1\r\nHost: {host}\r\n{read}\r\n"),
            "\r\n\r\n",
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{host}: {answer}"
        );
    }
    // Liveness probes use whatever name they like.
    let health = raw(
        &server,
        Ipv4Addr::LOCALHOST,
        "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n",
        "\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

#[tokio::test]
async fn an_open_dashboard_off_loopback_is_refused_unless_asked_for() {
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["--addr", "0.0.0.0:0", "--no-history"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let refused = tokio::time::timeout(Duration::from_secs(20), refused)
        .await
        .expect("refused at once")
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("pulse hash-password"), "{message}");
    assert!(message.contains("--open-dashboard"), "{message}");

    let mut opened = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["--addr", "0.0.0.0:0", "--no-history", "--open-dashboard"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = opened.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(20), out.read(&mut first))
        .await
        .expect("it starts")
        .unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("pulse listening on"));
}

#[tokio::test]
async fn an_open_dashboard_on_loopback_answers_only_loopback_names() {
    // A web page whose own name was pointed at 127.0.0.1 (DNS rebinding)
    // must not read the dashboard of the person whose browser runs it.
    let server = Server::start(&[]).await;
    for (host, expected) in [
        ("localhost:3000", "200"),
        ("127.0.0.1", "200"),
        ("[::1]:3000", "200"),
        ("rebound.evil.example", "421"),
    ] {
        for path in ["/api/status", "/api/events"] {
            let answer = raw(
                &server,
                Ipv4Addr::LOCALHOST,
                &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
                "\r\n\r\n",
            )
            .await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {expected}")),
                "{host}{path}: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn a_push_ping_needs_only_its_token_and_the_alerts_need_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let token = "cron-job-token-7d1e0b9a";
    let push = format!(
        "[[check]]\nname = \"Cron\"\nkind = \"push\"\ntoken = \"{token}\"\nperiod = \"1h\"\n"
    );
    let (server, tokens) = guarded_server(&dir, &push).await;
    let ping = client()
        .post(server.url(&format!("/api/push/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200, "anyone with the token may ping");
    assert_eq!(ping.headers()["cache-control"], "no-store");
    assert_eq!(
        status_of(&server, "/api/push/someone-elses-token", &[]).await,
        404
    );
    assert_eq!(status_of(&server, "/api/alerts", &[]).await, 401);
    let read = format!("Bearer {}", tokens.read);
    let metrics = format!("Bearer {}", tokens.metrics);
    assert_eq!(
        status_of(&server, "/api/alerts", &[("authorization", &read)]).await,
        200
    );
    assert_eq!(
        status_of(&server, "/api/alerts", &[("authorization", &metrics)]).await,
        403
    );
}

/// Posts the notifications page's test form for `notifier` with `headers`;
/// the answer's status and text.
async fn send_test(server: &Server, notifier: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = client()
        .post(server.url("/api/notifiers/test"))
        .header("accept", "application/json")
        .form(&[("notifier", notifier)]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn only_those_who_may_act_send_a_test_message_and_only_from_this_site() {
    let receiver = support::receiver::Receiver::start(support::receiver::Answer::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let notifier = format!(
        "[[notifier]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\n",
        receiver.url("/hook")
    );
    let (server, tokens) = guarded_server(&dir, &notifier).await;
    let bearer = |token: &str| format!("Bearer {token}");
    let (read, metrics, write) = (
        bearer(&tokens.read),
        bearer(&tokens.metrics),
        bearer(&tokens.write),
    );

    assert_eq!(send_test(&server, "ops", &[]).await.0, 401, "anonymous");
    assert_eq!(
        send_test(&server, "ops", &[("authorization", &read)])
            .await
            .0,
        403,
        "read may look, not act"
    );
    assert_eq!(
        send_test(&server, "ops", &[("authorization", &metrics)])
            .await
            .0,
        403
    );
    let cookie = sign_in(&server, PASSWORD).await.unwrap();
    let from_elsewhere = [
        ("cookie", cookie.as_str()),
        ("origin", "http://evil.example"),
    ];
    assert_eq!(
        send_test(&server, "ops", &from_elsewhere).await.0,
        403,
        "a page of another site"
    );
    let cross_site = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    assert_eq!(send_test(&server, "ops", &cross_site).await.0, 403);
    assert!(receiver.posts().is_empty(), "nothing refused was sent");

    let origin = format!("http://{}", server.addr());
    let from_here = [("cookie", cookie.as_str()), ("origin", origin.as_str())];
    let (status, said) = send_test(&server, "ops", &from_here).await;
    assert_eq!(status, 200, "{said}");
    assert!(said.contains("sent to `ops`"), "{said}");
    let posted = receiver.wait_for("/hook", 1, Duration::from_secs(5)).await;
    let message = posted[0].json();
    assert_eq!(message["test"], true);
    assert_eq!(message["alerts"], serde_json::json!([]));
    assert!(message["message_id"].as_str().unwrap().contains("-test-"));
    assert!(
        message["text"].as_str().unwrap().contains("sent by ada"),
        "{message}"
    );

    // One test at a time per notifier, whoever asks; a write token is a
    // script, so it needs no Origin.
    let (status, said) = send_test(&server, "ops", &[("authorization", &write)]).await;
    assert_eq!(status, 429, "{said}");
    assert!(said.contains("try again in"), "{said}");
    let (status, said) = send_test(&server, "nobody", &[("authorization", &write)]).await;
    assert_eq!(status, 404, "{said}");
    // Reading is not acting: the page is there for a read token.
    assert_eq!(
        status_of(&server, "/notifications", &[("authorization", &read)]).await,
        200
    );
    assert_eq!(receiver.posts().len(), 1);
}

async fn post_incident(
    server: &Server,
    path: &str,
    body: serde_json::Value,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = client().post(server.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn incidents_are_opened_by_those_who_may_act_and_shown_to_the_public_without_private_names() {
    let dir = tempfile::tempdir().unwrap();
    let public_check =
        "[[check]]\nname = \"Web\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\npublic = true\n";
    let (server, tokens) = guarded_server(&dir, public_check).await;
    let bearer = |token: &str| format!("Bearer {token}");
    let (read, write) = (bearer(&tokens.read), bearer(&tokens.write));
    let opening = serde_json::json!({
        "title": "Checkout is slow",
        "message": "Looking into the database.",
        "checks": ["Web", PRIVATE_MARK],
    });
    let open = |headers: &'static [(&'static str, &'static str)]| {
        post_incident(&server, "/api/incidents", opening.clone(), headers)
    };
    assert_eq!(open(&[]).await.0, 401, "anonymous");
    let as_reader = [("authorization", read.as_str())];
    let refused = post_incident(&server, "/api/incidents", opening.clone(), &as_reader).await;
    assert_eq!(refused.0, 403, "a read token may look, not act");
    let cookie = sign_in(&server, PASSWORD).await.unwrap();
    let cross_site = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    let refused = post_incident(&server, "/api/incidents", opening.clone(), &cross_site).await;
    assert_eq!(refused.0, 403, "a page of another site");

    let as_writer = [("authorization", write.as_str())];
    let (status, body) =
        post_incident(&server, "/api/incidents", opening.clone(), &as_writer).await;
    assert_eq!(status, 201, "{body}");
    let incident: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = incident["id"].as_i64().unwrap();
    assert_eq!(
        incident["checks"],
        serde_json::json!(["web", "private-db-7f3a"])
    );
    assert_eq!(incident["updates"][0]["status"], "investigating");
    assert_eq!(incident["updates"][0]["by"], "write-script");

    // Bad input is refused with what is wrong, and changes nothing.
    let bad = [
        (
            serde_json::json!({"title": " ", "message": "x"}),
            "the title is empty",
        ),
        (
            serde_json::json!({"title": "t", "message": "x", "checks": ["Nope"]}),
            "no check is named `Nope`",
        ),
        (
            serde_json::json!({"title": "t", "message": "x", "status": "fixed"}),
            "`fixed` is not a status",
        ),
    ];
    for (body, why) in bad {
        let (status, said) = post_incident(&server, "/api/incidents", body, &as_writer).await;
        assert_eq!((status, said.contains(why)), (400, true), "{said}");
    }

    // The public sees the incident, the public check, no author and no
    // private name.
    let update = format!("/api/incidents/{id}/updates");
    let resolved = serde_json::json!({"status": "resolved", "message": "An index was missing."});
    let (status, body) = post_incident(&server, &update, resolved, &as_writer).await;
    assert_eq!(status, 200, "{body}");
    let public = reqwest::get(server.url("/api/public/status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown: serde_json::Value = serde_json::from_str(&public).unwrap();
    let incident = &shown["incidents"]["incidents"][0];
    assert_eq!(incident["title"], "Checkout is slow");
    assert_eq!(incident["checks"], serde_json::json!(["web"]));
    assert_eq!(incident["updates"][1]["status"], "resolved");
    assert!(!public.contains("write-script"), "{public}");
    assert!(!public.contains("7f3a"), "{public}");
    let missing = format!("/api/incidents/{}/updates", id + 1000);
    let again = serde_json::json!({"status": "monitoring", "message": "?"});
    assert_eq!(
        post_incident(&server, &missing, again, &as_writer).await.0,
        404
    );
    // Reading them is a private API: a read token may, the public may not.
    assert_eq!(status_of(&server, "/api/incidents", &as_reader).await, 200);
    assert_eq!(status_of(&server, "/api/incidents", &[]).await, 401);
}

#[tokio::test]
async fn an_open_dashboard_asked_for_on_loopback_answers_only_loopback_names() {
    // `--open-dashboard` opens the dashboard; it must not also open it to
    // a web page whose name was pointed at 127.0.0.1 (DNS rebinding).
    let server = Server::start(&["--open-dashboard"]).await;
    let ask = |target: &str, host: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n")
    };
    // The stream through hyper: an upgrade is not served directly.
    let through_hyper = "Upgrade: h2c\r\nConnection: upgrade\r\n";
    let requests = [
        ("/", ""),
        ("/api/status", ""),
        ("/api/events", ""),
        ("/api/events", through_hyper),
    ];
    for (path, extra) in requests {
        let answer = raw(
            &server,
            Ipv4Addr::LOCALHOST,
            &ask(path, "rebound.example", extra),
            "\r\n\r\n",
        )
        .await;
        assert_eq!(status_code(&answer), 421, "{path} {extra:?}: {answer}");
    }
    for &(path, extra) in &requests[1..] {
        let answer = raw(
            &server,
            Ipv4Addr::LOCALHOST,
            &ask(path, "localhost", extra),
            "\r\n\r\n",
        )
        .await;
        assert_eq!(status_code(&answer), 200, "{path} {extra:?}: {answer}");
    }
    // Asked for, it is still for looking, not acting.
    let act = raw(
        &server,
        Ipv4Addr::LOCALHOST,
        "POST /api/notifiers/test HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
        "\r\n\r\n",
    )
    .await;
    assert_eq!(status_code(&act), 403, "{act}");
}

#[tokio::test]
async fn a_user_header_sent_twice_by_a_trusted_proxy_is_refused_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    // As a proxy that adds its header beside the one the client sent.
    let twice = "X-Forwarded-User: admin\r\nX-Forwarded-User: ada\r\n";
    let requests = [
        "GET / HTTP/1.1",
        "GET /api/status HTTP/1.1",
        // Served directly if it were let in; refused, hyper answers it.
        "GET /api/events HTTP/1.1",
        "GET /api/events HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade",
    ];
    for request in requests {
        let answer = raw(
            &server,
            TRUSTED_PROXY,
            &format!("{request}\r\nHost: localhost\r\n{twice}\r\n"),
            "\r\n\r\n",
        )
        .await;
        assert_eq!(status_code(&answer), 400, "{request:?}: {answer}");
    }
    // Once, it names the user, on the page and on the stream.
    let once = "X-Forwarded-User: ada\r\n";
    let page = raw(
        &server,
        TRUSTED_PROXY,
        &format!("GET / HTTP/1.1\r\nHost: localhost\r\n{once}\r\n"),
        "\r\n\r\n",
    )
    .await;
    assert_eq!(status_code(&page), 200, "{page}");
    let stream = stream_start(&server, TRUSTED_PROXY, once).await;
    assert!(stream.contains(PRIVATE_MARK), "{stream}");
}

#[tokio::test]
async fn a_client_behind_a_trusted_proxy_is_the_right_most_untrusted_forwarded_address() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    // The client writes a new address of its own on each attempt; the
    // proxy adds the client's real one on a line of its own.
    let forwarded = |fake: usize, client: &str| {
        format!("X-Forwarded-For: 203.0.113.{fake}\r\nX-Forwarded-For: {client}\r\n")
    };
    // Ten a minute for one client at one name, one more every 6 s the
    // attempts take (a loaded machine hashes slowly): tried until refused,
    // for as long as the limit allows.
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let refilled = started.elapsed().as_secs() as usize / 6;
        assert!(
            attempt - 1 <= 10 + refilled,
            "the client is held to its own limit: {} attempts let in within {:?}",
            attempt - 1,
            started.elapsed()
        );
        let headers = forwarded(attempt, "198.51.100.1");
        let (status, _) = sign_in_from(&server, TRUSTED_PROXY, "ada", "guess", &headers).await;
        if status == 429 {
            break;
        }
        assert_eq!(status, 303, "attempt {attempt}");
    }
    assert!(attempt >= 11, "refused at attempt {attempt}");
    let (status, _) = sign_in_from(
        &server,
        TRUSTED_PROXY,
        "ada",
        PASSWORD,
        &forwarded(99, "198.51.100.1"),
    )
    .await;
    assert_eq!(status, 429, "the right password waits its turn too");
    // Another client of the same proxy (which lists itself, trusted, on
    // the right) has a limit of its own.
    let other = "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 198.51.100.2, 127.0.0.2\r\n";
    let (status, cookie) = sign_in_from(&server, TRUSTED_PROXY, "ada", PASSWORD, other).await;
    assert_eq!(status, 303);
    assert!(cookie.is_some_and(|c| c.starts_with("pulse_session=")));
}

#[tokio::test]
async fn real_and_made_up_names_get_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    // Each attempt from an address of its own, so only the name's limit
    // applies; the two names side by side, so both see the same clock.
    let started = std::time::Instant::now();
    let (mut real, mut made_up) = (Vec::new(), Vec::new());
    for i in 0..27 {
        let (a, b) = tokio::join!(
            sign_in_from(&server, elsewhere(i), "ada", "guess", ""),
            sign_in_from(&server, elsewhere(i), "nobody-here", "guess", ""),
        );
        real.push(a.0);
        made_up.push(b.0);
    }
    let elapsed = started.elapsed();
    // Twenty a minute at a name, and one more every 3 s the attempts took.
    let most = 20 + elapsed.as_secs() as usize / 3;
    for (name, codes) in [("ada", &real), ("nobody-here", &made_up)] {
        let allowed = codes.iter().take_while(|&&code| code == 303).count();
        assert!(
            (20..=most).contains(&allowed),
            "{name}: {codes:?} in {elapsed:?}"
        );
        assert!(
            codes.iter().all(|code| [303, 429].contains(code)),
            "{name}: {codes:?}"
        );
    }
}

#[tokio::test]
async fn a_flood_of_guesses_from_elsewhere_does_not_stop_the_user_at_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = guarded_server(&dir, "").await;
    let home = Ipv4Addr::LOCALHOST;
    let (status, _) = sign_in_from(&server, home, "ada", PASSWORD, "").await;
    assert_eq!(status, 303);
    // Guesses at the name from many addresses, until its limit refuses.
    let mut refused = false;
    for i in 0..60 {
        let (status, _) = sign_in_from(&server, elsewhere(i), "ada", "guess", "").await;
        if status == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the name's own limit slows the guessers");
    let (status, cookie) = sign_in_from(&server, home, "ada", PASSWORD, "").await;
    assert_eq!(status, 303, "the user signs in where they did before");
    assert!(cookie.is_some());
}
