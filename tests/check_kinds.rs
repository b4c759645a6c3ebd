//! Every check kind against real local targets, through the real binary: a
//! config file names them, Pulse runs them, and `/api/status` must show the
//! verdict and a reason a person can act on. Misbehaving targets (hanging,
//! garbage, resets, redirect loops, bad certificates) are down with a reason
//! and never hold up the other checks. A redirect never carries a check's
//! configured headers to another origin.

mod support;

use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use support::Server;
use support::targets::{self, TestCa};

/// Runs Pulse on `config` (checks every 1 s, and a 10 s timeout: one a
/// loaded machine never reaches against a local target; a check that must
/// time out says `HANGS`) and returns each check's first verdict by id.
async fn verdicts(
    config: &str,
    env: &[(&str, &str)],
) -> (Server, HashMap<String, Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let text = format!("[defaults]\ninterval = \"1s\"\ntimeout = \"10s\"\n\n{config}");
    std::fs::write(&path, text).unwrap();
    let server = Server::start_with_env(&["--config", path.to_str().unwrap()], env).await;
    let results = server.results_within(Duration::from_secs(30)).await;
    (server, results, dir)
}

/// The timeout of a check against a target that never answers: it is
/// reached whatever the machine's speed.
const HANGS: &str = "timeout = \"1s\"";

fn assert_verdict(results: &HashMap<String, Value>, id: &str, health: &str, detail_has: &str) {
    let status = results.get(id).unwrap_or_else(|| panic!("no check {id}"));
    let detail = status["detail"].as_str().unwrap();
    assert_eq!(status["health"], health, "{id}: {detail}");
    assert!(
        detail.contains(detail_has),
        "{id}: {detail:?} should say {detail_has:?}"
    );
}

fn http_check(name: &str, url: &str, extra: &str) -> String {
    format!("[[check]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{url}\"\n{extra}\n")
}

#[tokio::test]
async fn http_checks_judge_status_body_json_redirects_and_latency() {
    let web = targets::http_target().await;
    let at = |path: &str| format!("http://{web}{path}");
    let config = [
        http_check("ok", &at("/ok"), "body_contains = \"good\""),
        http_check("unavailable", &at("/unavailable"), ""),
        http_check(
            "expected unavailable",
            &at("/unavailable"),
            "expect_status = [503]",
        ),
        http_check("missing text", &at("/ok"), "body_contains = \"welcome\""),
        http_check("regex", &at("/ok"), "body_regex = \"^all\\\\s+go+d$\""),
        http_check(
            "json equal",
            &at("/json"),
            "json = { pointer = \"/db/replicas/1\", equals = 2 }",
        ),
        http_check(
            "json differs",
            &at("/json"),
            "json = { pointer = \"/db/up\", equals = true }",
        ),
        http_check(
            "json absent",
            &at("/json"),
            "json = { pointer = \"/cache\", equals = 1 }",
        ),
        http_check("loop", &at("/loop"), ""),
        http_check(
            "moved kept",
            &at("/moved"),
            "follow_redirects = false\nexpect_status = 301",
        ),
        http_check(
            "moved followed",
            &at("/moved"),
            "body_contains = \"all good\"",
        ),
        http_check("slow", &at("/slow"), "degraded_above = \"100ms\""),
        http_check("head", &at("/ok"), "method = \"HEAD\""),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "ok", "up", "200 OK in ");
    assert_verdict(&results, "ok", "up", "(first byte ");
    assert_verdict(
        &results,
        "unavailable",
        "down",
        "answered 503 Service Unavailable, expected 2xx",
    );
    assert_verdict(
        &results,
        "expected-unavailable",
        "up",
        "503 Service Unavailable in",
    );
    assert_verdict(
        &results,
        "missing-text",
        "down",
        "the body does not contain \"welcome\"",
    );
    assert_verdict(&results, "regex", "up", "200 OK");
    assert_verdict(&results, "json-equal", "up", "200 OK");
    assert_verdict(
        &results,
        "json-differs",
        "down",
        "the JSON at \"/db/up\" should be true but is false",
    );
    assert_verdict(
        &results,
        "json-absent",
        "down",
        "the JSON has nothing at \"/cache\"",
    );
    assert_verdict(&results, "loop", "down", "too many redirects");
    assert_verdict(&results, "moved-kept", "up", "301 Moved Permanently");
    assert_verdict(&results, "moved-followed", "up", "200 OK");
    assert_verdict(&results, "slow", "degraded", "slower than 100 ms");
    assert_verdict(&results, "head", "up", "200 OK");
}

/// The headers a check is configured with, whatever their names, and the
/// credentials of its URL go only to its URL's origin (scheme, host, port):
/// kept across a redirect within it, dropped on a redirect to another port
/// of the same host, sent again when a redirect leads back.
#[tokio::test]
async fn configured_headers_never_follow_a_redirect_to_another_origin() {
    let (home, at_home) = targets::recording_target().await;
    let (other, at_other) = targets::recording_target().await;
    let via = |from: std::net::SocketAddr, to: &str| {
        let to: String = form_urlencoded::byte_serialize(to.as_bytes()).collect();
        format!("http://{from}/redirect?to={to}")
    };
    let away = via(home, &format!("http://{other}/seen?case=other"));
    let headers = "headers = { Authorization = \"Bearer tok-1\", X-Api-Key = \"key-2\", X-Tenant = \"acme\", Cookie = \"s=3\" }";
    let config = [
        http_check("same origin", &via(home, "/seen?case=same"), headers),
        http_check(
            "other origin",
            &away.replacen("http://", "http://probe-user:probe-pw@", 1),
            headers,
        ),
        http_check(
            "there and back",
            &via(home, &via(other, &format!("http://{home}/seen?case=back"))),
            headers,
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    for id in ["same-origin", "other-origin", "there-and-back"] {
        assert_verdict(&results, id, "up", "200 OK");
    }
    let configured = ["authorization", "x-api-key", "x-tenant", "cookie"];
    let requests_to = |log: &targets::Received, path: &str| {
        let log = log.lock().unwrap();
        let found: Vec<_> = log
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect();
        assert!(
            !found.is_empty(),
            "no request for {path} in {:?}",
            log.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        found
    };
    for headers in requests_to(&at_home, "/seen?case=same")
        .into_iter()
        .chain(requests_to(&at_home, "/seen?case=back"))
    {
        assert_eq!(headers["x-api-key"], "key-2");
        assert_eq!(headers["x-tenant"], "acme");
        assert_eq!(headers["cookie"], "s=3");
        assert_eq!(headers["authorization"], "Bearer tok-1");
    }
    // The first hop of "other origin" carried the URL's credentials too.
    let first_hop = away.trim_start_matches(&format!("http://{home}"));
    assert!(
        requests_to(&at_home, first_hop)[0]
            .get_all("authorization")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("Basic ")),
        "the URL's credentials went to its own origin"
    );
    let at_other = at_other.lock().unwrap();
    assert!(at_other.iter().any(|(p, _)| p == "/seen?case=other"));
    for (path, headers) in at_other.iter() {
        assert!(
            headers.contains_key("user-agent"),
            "{path}: a check's request"
        );
        for name in configured {
            assert!(
                !headers.contains_key(name),
                "{path} on the other origin got {name}: {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn misbehaving_targets_are_down_with_a_reason_and_stall_nothing() {
    let web = targets::http_target().await;
    let hanging = targets::hanging_target().await;
    let garbage = targets::garbage_target().await;
    let reset = targets::resetting_target().await;
    let closed = targets::closed_port().await;
    let config = [
        http_check("hanging", &format!("http://{hanging}/"), HANGS),
        http_check("garbage", &format!("http://{garbage}/"), ""),
        http_check("reset", &format!("http://{reset}/"), ""),
        http_check("closed", &format!("http://{closed}/"), ""),
        http_check("healthy", &format!("http://{web}/ok"), ""),
        format!("[[check]]\nname = \"tcp open\"\nkind = \"tcp\"\naddress = \"{web}\"\n"),
        format!("[[check]]\nname = \"tcp closed\"\nkind = \"tcp\"\naddress = \"{closed}\"\n"),
        "[[check]]\nname = \"disk\"\nkind = \"host\"\nmetric = \"disk\"\npath = \"/\"\ndown = 100\ndegraded = 100\n".to_string(),
        "[[check]]\nname = \"memory\"\nkind = \"host\"\nmetric = \"memory\"\ndegraded = 0\n".to_string(),
    ]
    .concat();
    let (server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "hanging", "down", "no answer within 1s");
    assert_verdict(&results, "garbage", "down", "request failed: invalid HTTP");
    assert_verdict(&results, "reset", "down", "Connection reset by peer");
    assert_verdict(&results, "closed", "down", "could not connect");
    assert_verdict(&results, "healthy", "up", "200 OK");
    assert_verdict(
        &results,
        "tcp-open",
        "up",
        &format!("connected to {web} in"),
    );
    assert_verdict(&results, "tcp-closed", "down", "Connection refused");
    assert_verdict(&results, "disk", "up", "used");
    assert_verdict(&results, "memory", "degraded", "used");

    // The healthy check goes on reporting up, run after run, while the
    // hanging one keeps timing out beside it.
    let mut stream = support::SseReader::open(&server.url("/api/events"), None).await;
    let (mut healthy_runs, mut hanging_runs) = (0, 0);
    while healthy_runs < 3 || hanging_runs < 1 {
        let (kind, _, data) = stream
            .next_event_within(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| {
                panic!("the stream ended ({healthy_runs} healthy, {hanging_runs} hanging results)")
            });
        if kind != "message" {
            continue;
        }
        let status: Value = serde_json::from_str(&data).unwrap();
        let detail = status["detail"].as_str().unwrap();
        match status["id"].as_str().unwrap() {
            "healthy" => {
                assert_eq!(status["health"], "up", "healthy: {detail}");
                healthy_runs += 1;
            }
            "hanging" => {
                assert!(detail.contains("no answer within 1s"), "hanging: {detail}");
                hanging_runs += 1;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn tls_checks_count_days_to_expiry_and_refuse_bad_certificates() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (fresh, soon, expired) = (
        ca.tls_target(90).await,
        ca.tls_target(5).await,
        ca.tls_target(-3).await,
    );
    let hanging = targets::hanging_target().await;
    let tls = |name: &str, addr: std::net::SocketAddr, trust: bool| {
        let ca_line = if trust {
            format!("ca_file = \"{}\"\n", ca_file.display())
        } else {
            String::new()
        };
        format!(
            "[[check]]\nname = \"{name}\"\nkind = \"tls\"\nhost = \"127.0.0.1\"\nserver_name = \"localhost\"\nport = {}\nwarn_days = 14\n{ca_line}{timeout}\n",
            addr.port(),
            timeout = if name == "hanging" { HANGS } else { "" }
        )
    };
    let config = [
        tls("fresh", fresh, true),
        tls("soon", soon, true),
        tls("expired", expired, true),
        tls("untrusted", fresh, false),
        tls("hanging", hanging, true),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(
        &results,
        "fresh",
        "up",
        "certificate valid for 90 more days",
    );
    assert_verdict(
        &results,
        "soon",
        "degraded",
        "certificate expires in 5 days",
    );
    assert_verdict(&results, "soon", "degraded", "under 14 days");
    assert_verdict(
        &results,
        "expired",
        "down",
        "certificate expired 3 days ago",
    );
    assert_verdict(&results, "untrusted", "down", "untrusted authority");
    assert_verdict(&results, "hanging", "down", "no answer within 1s");
}

#[tokio::test]
async fn credentials_never_reach_the_browser() {
    let web = targets::http_target().await;
    let secret = "tok-s3cr3t-4242";
    let password = "hunter2-pw";
    let config = [
        // A failing body check quotes its expectation, which holds the token.
        http_check(
            "private",
            &format!("http://admin:{password}@{web}/private"),
            "headers = { Authorization = \"Bearer ${API_TOKEN}\" }\nbody_contains = \"${API_TOKEN}\"",
        ),
        http_check("unreachable", &format!("http://admin:{password}@127.0.0.1:1/"), ""),
    ]
    .concat();
    let (server, results, _dir) = verdicts(&config, &[("API_TOKEN", secret)]).await;
    assert_verdict(
        &results,
        "private",
        "down",
        "the body does not contain \"[redacted]\"",
    );
    for text in published(&server).await {
        assert!(!text.contains(secret), "the token leaked: {text}");
        assert!(!text.contains(password), "the URL password leaked: {text}");
    }
}

/// A target that quotes a secret back, in a value longer than a detail
/// may be: the secret is blanked before the detail is cut. Cut first, the
/// secret would be in two pieces, neither would match, and the first
/// would show.
#[tokio::test]
async fn a_secret_quoted_where_a_detail_is_cut_shows_no_part_of_itself() {
    let secret = "Zq7-tok-3f9a1c2b8e7d6a5b4c3d2e1f0a9b8c7d";
    // Copies of it from the 72nd character of the value on: wherever a
    // detail is cut, the cut falls inside one.
    let value = format!("{}{}", "x".repeat(70), secret.repeat(12));
    let web = targets::json_target(serde_json::json!({ "token": value }).to_string()).await;
    let config = http_check(
        "quoting",
        &format!("http://{web}/"),
        "headers = { Authorization = \"Bearer ${API_TOKEN}\" }\n\
         json = { pointer = \"/token\", equals = \"ok\" }",
    );
    let (server, results, _dir) = verdicts(&config, &[("API_TOKEN", secret)]).await;
    assert_verdict(&results, "quoting", "down", "[redacted]");
    let mut stream = support::SseReader::open(&server.url("/api/events"), None).await;
    let mut published = vec![server.status().await.to_string()];
    while published.len() < 3 {
        let (_, _, data) = stream
            .next_event_within(Duration::from_secs(5))
            .await
            .expect("the stream goes on");
        if data.contains("quoting") {
            published.push(data);
        }
    }
    let start = &secret[..5];
    for text in published {
        assert!(!text.contains(start), "a piece of the secret shows: {text}");
    }
}

#[tokio::test]
async fn a_bad_config_at_start_up_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(
        &path,
        "[[check]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"nowhere\"\n",
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--no-history",
            "--config",
            path.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:4:11: `nowhere` is not host:port: no port",
        path.display()
    );
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}

/// Polls `/api/status` until check `id` reads `health`; its detail then.
async fn health_becomes(server: &Server, id: &str, health: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.status().await;
        let checks = status["checks"].as_array().expect("checks").clone();
        let check = checks.iter().find(|c| c["id"] == id);
        let check = check.unwrap_or_else(|| panic!("no check {id}"));
        if check["health"] == health {
            return check["detail"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never became {health}: {check:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every text a viewer can get: the API, the dashboard's first HTML, the
/// metrics and the stream's first snapshot.
async fn published(server: &Server) -> Vec<String> {
    let mut texts = vec![
        server.status().await.to_string(),
        reqwest::get(server.url("/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        server.metrics_text().await,
    ];
    let mut stream = support::SseReader::open(&server.url("/api/events"), None).await;
    let (_, _, snapshot) = stream
        .next_event_within(Duration::from_secs(5))
        .await
        .unwrap();
    texts.push(snapshot);
    texts
}

fn check(name: &str, kind: &str, keys: &str) -> String {
    format!("[[check]]\nname = \"{name}\"\nkind = \"{kind}\"\n{keys}\n\n")
}

#[tokio::test]
async fn ssh_checks_read_the_servers_identification_and_log_in_nowhere() {
    let sshd = support::sshd::Sshd::start().await;
    let at = format!("address = \"127.0.0.1:{}\"", sshd.port);
    let config = [
        check("sshd", "ssh", &format!("{at}\nexpect = \"OpenSSH\"")),
        check(
            "other server",
            "ssh",
            &format!("{at}\nexpect = \"dropbear\""),
        ),
        check(
            "not ssh",
            "ssh",
            &format!(
                "address = \"{}\"",
                targets::greeting_target(b"220 mail.example.com ESMTP\r\n").await
            ),
        ),
        check(
            "no server",
            "ssh",
            &format!("address = \"{}\"", targets::closed_port().await),
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "sshd", "up", "SSH-2.0-OpenSSH_");
    assert_verdict(
        &results,
        "other-server",
        "down",
        "which does not contain \"dropbear\"",
    );
    assert_verdict(
        &results,
        "not-ssh",
        "down",
        "closed the connection without sending an SSH identification",
    );
    assert_verdict(&results, "no-server", "down", "could not connect to");
}

#[tokio::test]
async fn postgres_checks_query_hold_no_connection_and_keep_the_password_secret() {
    let password = "pg-s3cr3t-pw";
    let postgres = support::postgres::Postgres::start_with_password(password).await;
    let url = |password: &str| {
        format!(
            "url = \"postgres://pulse:{password}@127.0.0.1:{}/postgres\"",
            postgres.port
        )
    };
    let ours = url("${PG_PASSWORD}");
    let config = [
        check("db", "postgres", &ours),
        check(
            "version",
            "postgres",
            &format!("{ours}\nquery = \"SELECT 'v' || 2\"\nexpect = \"v3\""),
        ),
        check(
            "bad query",
            "postgres",
            &format!("{ours}\nquery = \"SELECT * FROM missing_table\""),
        ),
        check("wrong password", "postgres", &url("not-the-one")),
        check(
            "no server",
            "postgres",
            &format!(
                "url = \"postgres://pulse@{}/postgres\"",
                targets::closed_port().await
            ),
        ),
    ]
    .concat();
    let (server, results, _dir) = verdicts(&config, &[("PG_PASSWORD", password)]).await;
    assert_verdict(&results, "db", "up", "answered \"1\" in");
    assert_verdict(&results, "version", "down", "answered \"v2\" in");
    assert_verdict(&results, "version", "down", "expected \"v3\"");
    assert_verdict(
        &results,
        "bad-query",
        "down",
        "relation \"missing_table\" does not exist",
    );
    assert_verdict(
        &results,
        "wrong-password",
        "down",
        // The URL's user is blanked too, as in every URL Pulse shows.
        "password authentication failed for user \"[redacted]\"",
    );
    assert_verdict(&results, "no-server", "down", "could not connect");
    for text in published(&server).await {
        assert!(!text.contains(password), "the password leaked: {text}");
        assert!(
            !text.contains("not-the-one"),
            "a URL password leaked: {text}"
        );
    }
    // Between runs (every second, a few milliseconds each) Pulse holds no
    // connection: some moment shows none of its sessions.
    let client = postgres.client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client
            .query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pulse'",
                &[],
            )
            .await
            .unwrap();
        if rows[0].get::<_, i64>(0) == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Pulse kept a connection open between runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_checks_tell_master_from_replica_and_keep_the_password_secret() {
    let password = "redis-s3cr3t-pw";
    let master = support::redis::Redis::start_with_password(password).await;
    let replica = support::redis::Redis::start_replica_of(&master).await;
    let on = |port: u16, auth: &str| format!("url = \"redis://{auth}127.0.0.1:{port}\"");
    let ours = on(master.port, ":${REDIS_PASSWORD}@");
    let config = [
        check("cache", "redis", &format!("{ours}\nrole = \"master\"")),
        check(
            "took over?",
            "redis",
            &format!("{}\nrole = \"master\"", on(replica.port, "")),
        ),
        check(
            "replica",
            "redis",
            &format!("{}\nrole = \"replica\"", on(replica.port, "")),
        ),
        check("wrong password", "redis", &on(master.port, ":not-the-one@")),
        check("no password", "redis", &on(master.port, "")),
        check(
            "no server",
            "redis",
            &format!("url = \"redis://{}\"", targets::closed_port().await),
        ),
    ]
    .concat();
    let (server, results, _dir) = verdicts(&config, &[("REDIS_PASSWORD", password)]).await;
    assert_verdict(&results, "cache", "up", "master with");
    assert_verdict(&results, "took-over", "degraded", "expected a master");
    assert_verdict(&results, "took-over", "degraded", "replica of 127.0.0.1:");
    assert_verdict(&results, "wrong-password", "down", "could not connect");
    assert_verdict(&results, "no-password", "down", "NOAUTH");
    assert_verdict(&results, "no-server", "down", "could not connect");
    // A replica is in sync once it has loaded its master's data.
    let detail = health_becomes(&server, "replica", "up").await;
    let master_at = format!("replica of 127.0.0.1:{} (connected)", master.port);
    assert!(detail.contains(&master_at), "{detail}");
    for text in published(&server).await {
        assert!(!text.contains(password), "the password leaked: {text}");
        assert!(
            !text.contains("not-the-one"),
            "a URL password leaked: {text}"
        );
    }
}

#[tokio::test]
async fn dns_checks_ask_a_real_server_and_judge_codes_answers_and_truncation() {
    let unbound = support::unbound::Unbound::start().await;
    let server = format!("server = \"127.0.0.1:{}\"", unbound.port);
    let ask = |query: &str, more: &str| format!("{server}\nquery = \"{query}\"\n{more}");
    let config = [
        check(
            "www",
            "dns",
            &ask("www.pulse.test", "expect = [\"192.0.2.10\"]"),
        ),
        check(
            "mail",
            "dns",
            &ask(
                "pulse.test",
                "type = \"MX\"\nexpect = [\"10 mail.pulse.test\"]",
            ),
        ),
        check(
            "spf",
            "dns",
            &ask("pulse.test", "type = \"TXT\"\nexpect = [\"v=spf1 -all\"]"),
        ),
        check(
            "moved",
            "dns",
            &ask("www.pulse.test", "expect = [\"192.0.2.99\"]"),
        ),
        check("gone", "dns", &ask("nothere.pulse.test", "")),
        check(
            "gone as meant",
            "dns",
            &ask("nothere.pulse.test", "expect_rcode = \"NXDOMAIN\""),
        ),
        check("no aaaa", "dns", &ask("www.pulse.test", "type = \"AAAA\"")),
        check("many", "dns", &ask("many.pulse.test", "")),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "www", "up", "www.pulse.test A (NOERROR) in");
    // Sorted: servers rotate the order of a set of records.
    assert_verdict(&results, "www", "up", ": 192.0.2.10, 192.0.2.11");
    assert_verdict(&results, "mail", "up", "10 mail.pulse.test.");
    assert_verdict(&results, "spf", "up", "v=spf1 -all");
    assert_verdict(&results, "moved", "down", "missing \"192.0.2.99\"");
    assert_verdict(&results, "gone", "down", "(NXDOMAIN)");
    assert_verdict(&results, "gone", "down", "expected NOERROR");
    assert_verdict(&results, "gone-as-meant", "up", "(NXDOMAIN)");
    assert_verdict(&results, "gone-as-meant", "up", "no A records");
    assert_verdict(&results, "no-aaaa", "down", "(NOERROR)");
    assert_verdict(&results, "no-aaaa", "down", "no AAAA records");
    // Every record, read again over TCP; the detail lists the first few.
    assert_verdict(&results, "many", "up", "over TCP (truncated over UDP)");
    let in_all = format!("{} in all)", support::unbound::MANY);
    assert_verdict(&results, "many", "up", &in_all);
}

#[tokio::test]
async fn udp_checks_send_one_datagram_and_judge_the_answer() {
    let unbound = support::unbound::Unbound::start().await;
    let at = format!("address = \"127.0.0.1:{}\"", unbound.port);
    // A DNS query for www.pulse.test (A), written out by hand: a UDP
    // check knows nothing of DNS; the answer holds 192.0.2.10 (c000020a).
    let query = "1234 0100 0001 0000 0000 0000 \
                 03 777777 05 70756c7365 04 74657374 00 0001 0001";
    let send = format!("send = {{ hex = \"{query}\" }}");
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed_at = closed.local_addr().unwrap();
    drop(closed);
    let config = [
        check(
            "dns by hand",
            "udp",
            &format!("{at}\n{send}\nexpect = {{ hex = \"c000020a\" }}"),
        ),
        check(
            "wrong answer",
            "udp",
            &format!("{at}\n{send}\nexpect = {{ hex = \"c0000263\" }}"),
        ),
        check(
            "nothing there",
            "udp",
            &format!("address = \"{closed_at}\"\nsend = \"ping\""),
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "dns-by-hand", "up", "hex 1234");
    assert_verdict(&results, "wrong-answer", "down", "without hex c0000263");
    assert_verdict(
        &results,
        "nothing-there",
        "down",
        "refused: nothing listens on that port",
    );
}

#[tokio::test]
async fn a_group_follows_its_members_and_runs_no_probe_of_its_own() {
    let (web1, web1_up) = targets::switchable_target().await;
    let web2 = targets::http_target().await;
    let config = [
        http_check("web 1", &format!("http://{web1}/"), ""),
        http_check("web 2", &format!("http://{web2}/ok"), ""),
        // Checked rarely: a change must show at once, not at the next run.
        check(
            "web pair",
            "group",
            "checks = [\"web 1\", \"web 2\"]\nmin_up = 1\ninterval = \"1h\"",
        ),
        check(
            "web all",
            "group",
            "checks = [\"web 1\", \"web 2\"]\ninterval = \"1h\"",
        ),
    ]
    .concat();
    let (server, _results, _dir) = verdicts(&config, &[]).await;
    let detail = health_becomes(&server, "web-pair", "up").await;
    assert_eq!(detail, "2 of 2 up, 1 needed");
    assert_eq!(health_becomes(&server, "web-all", "up").await, "2 of 2 up");
    web1_up.store(false, std::sync::atomic::Ordering::SeqCst);
    let pair = health_becomes(&server, "web-pair", "degraded").await;
    assert_eq!(pair, "1 of 2 up, 1 needed: web 1 down");
    let all = health_becomes(&server, "web-all", "down").await;
    assert_eq!(all, "1 of 2 up: web 1 down");
    web1_up.store(true, std::sync::atomic::Ordering::SeqCst);
    health_becomes(&server, "web-all", "up").await;
    let status = server.status().await;
    let group = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "web-all")
        .unwrap()
        .clone();
    assert_eq!(group["kind"], "group");
    assert!(
        group["latency_ms"].is_null(),
        "a group measures no latency: {group}"
    );
}

/// The test CA's certificate as a file a check's `ca_file` can name.
fn ca_file(ca: &TestCa, dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    format!(
        "ca_file = \"{}\"\nserver_name = \"localhost\"",
        path.display()
    )
}

#[tokio::test]
async fn smtp_checks_read_the_greeting_and_judge_the_certificate_after_starttls() {
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let trusted = ca_file(&ca, &files);
    let starttls = support::smtp::SmtpServer::start("starttls", &ca).await;
    let implicit = support::smtp::SmtpServer::start("implicit", &ca).await;
    let at = |port: u16| format!("address = \"127.0.0.1:{port}\"");
    let config = [
        check(
            "relay",
            "smtp",
            &format!("{}\nstarttls = true\n{trusted}", at(starttls.port)),
        ),
        check(
            "submission",
            "smtp",
            &format!("{}\ntls = true\n{trusted}", at(implicit.port)),
        ),
        check(
            "untrusted",
            "smtp",
            &format!("{}\nstarttls = true", at(starttls.port)),
        ),
        check(
            "renew soon",
            "smtp",
            &format!(
                "{}\nstarttls = true\n{trusted}\nwarn_days = 10000000",
                at(starttls.port)
            ),
        ),
        check(
            "not postfix",
            "smtp",
            &format!("{}\nexpect = \"Postfix\"", at(starttls.port)),
        ),
        check(
            "not smtp",
            "smtp",
            &format!(
                "address = \"{}\"",
                targets::greeting_target(b"SSH-2.0-OpenSSH_9.2p1\r\n").await
            ),
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "relay", "up", "220 ");
    assert_verdict(&results, "relay", "up", "; certificate valid for");
    assert_verdict(&results, "submission", "up", "certificate valid for");
    assert_verdict(
        &results,
        "untrusted",
        "down",
        "STARTTLS: certificate not valid: issued by an untrusted authority",
    );
    assert_verdict(&results, "renew-soon", "degraded", "under 10000000 days");
    assert_verdict(
        &results,
        "not-postfix",
        "down",
        "which does not contain \"Postfix\"",
    );
    assert_verdict(
        &results,
        "not-smtp",
        "down",
        "not ready: SSH-2.0-OpenSSH_9.2p1",
    );
}

#[tokio::test]
async fn imap_and_pop3_checks_greet_dovecot_with_and_without_tls() {
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let trusted = ca_file(&ca, &files);
    let dovecot = support::dovecot::Dovecot::start(&ca).await;
    let at = |port: u16| format!("address = \"127.0.0.1:{port}\"");
    let config = [
        check(
            "imap",
            "imap",
            &format!("{}\nexpect = \"Dovecot\"", at(dovecot.imap)),
        ),
        check(
            "imap starttls",
            "imap",
            &format!("{}\nstarttls = true\n{trusted}", at(dovecot.imap)),
        ),
        check(
            "imaps",
            "imap",
            &format!("{}\ntls = true\n{trusted}", at(dovecot.imaps)),
        ),
        check(
            "pop3 stls",
            "pop3",
            &format!("{}\nstarttls = true\n{trusted}", at(dovecot.pop3)),
        ),
        check(
            "pop3s",
            "pop3",
            &format!("{}\ntls = true\n{trusted}", at(dovecot.pop3s)),
        ),
        // A POP3 check pointed at the IMAP port: the server is up, but
        // does not speak what the check expects.
        check("wrong port", "pop3", &at(dovecot.imap)),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "imap", "up", "* OK [CAPABILITY IMAP4rev1");
    assert_verdict(&results, "imap-starttls", "up", "certificate valid for");
    assert_verdict(&results, "imaps", "up", "Dovecot (Debian) ready.");
    assert_verdict(&results, "imaps", "up", "certificate valid for");
    assert_verdict(&results, "pop3-stls", "up", "+OK Dovecot (Debian) ready.");
    assert_verdict(&results, "pop3-stls", "up", "certificate valid for");
    assert_verdict(&results, "pop3s", "up", "certificate valid for");
    assert_verdict(&results, "wrong-port", "down", "not ready: * OK");
}

#[tokio::test]
async fn websocket_checks_upgrade_and_hold_a_short_conversation() {
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let ca_path = files.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.pem).unwrap();
    let plain = targets::websocket_target(None).await;
    let secure = targets::websocket_target(Some(&ca)).await;
    let secure = format!("wss://localhost:{}/live", secure.port());
    let talk = "send = \"ping\"\nexpect = \"pong: ping\"";
    let config = [
        check(
            "feed",
            "websocket",
            &format!("url = \"ws://{plain}/live\"\n{talk}"),
        ),
        check(
            "secure feed",
            "websocket",
            &format!(
                "url = \"{secure}\"\nca_file = \"{}\"\n{talk}",
                ca_path.display()
            ),
        ),
        check(
            "untrusted feed",
            "websocket",
            &format!("url = \"{secure}\""),
        ),
        check(
            "wrong answer",
            "websocket",
            &format!("url = \"ws://{plain}/live\"\nsend = \"ping\"\nexpect = \"hello\""),
        ),
        check(
            "not a websocket",
            "websocket",
            &format!("url = \"ws://{}/ok\"", targets::http_target().await),
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    assert_verdict(&results, "feed", "up", "answered \"pong: ping\"");
    assert_verdict(&results, "secure-feed", "up", "answered \"pong: ping\"");
    assert_verdict(
        &results,
        "untrusted-feed",
        "down",
        "certificate not valid: issued by an untrusted authority",
    );
    assert_verdict(
        &results,
        "wrong-answer",
        "down",
        "answered \"pong: ping\", which does not contain \"hello\"",
    );
    assert_verdict(
        &results,
        "not-a-websocket",
        "down",
        "the server refused the upgrade: 200 OK",
    );
}

#[tokio::test]
async fn mysql_checks_query_mariadb_hold_no_connection_and_keep_the_password_secret() {
    let password = "my-s3cr3t-pw";
    let mariadb = support::mariadb::Mariadb::start(password).await;
    let url = |password: &str| {
        format!(
            "url = \"mysql://pulse:{password}@127.0.0.1:{}/\"",
            mariadb.port
        )
    };
    let ours = url("${DB_PASSWORD}");
    let config = [
        check("db", "mysql", &ours),
        check(
            "version",
            "mysql",
            &format!("{ours}\nquery = \"SELECT CONCAT('v', 2)\"\nexpect = \"v3\""),
        ),
        check(
            "bad query",
            "mysql",
            &format!("{ours}\nquery = \"SELECT * FROM nowhere.missing\""),
        ),
        check("wrong password", "mysql", &url("not-the-one")),
        check(
            "no server",
            "mysql",
            &format!("url = \"mysql://pulse@{}/\"", targets::closed_port().await),
        ),
    ]
    .concat();
    let (server, results, _dir) = verdicts(&config, &[("DB_PASSWORD", password)]).await;
    assert_verdict(&results, "db", "up", "answered \"1\" in");
    assert_verdict(&results, "version", "down", "answered \"v2\" in");
    assert_verdict(&results, "version", "down", "expected \"v3\"");
    assert_verdict(&results, "bad-query", "down", "the query failed");
    assert_verdict(&results, "wrong-password", "down", "Access denied for user");
    assert_verdict(&results, "no-server", "down", "could not connect");
    for text in published(&server).await {
        assert!(!text.contains(password), "the password leaked: {text}");
        assert!(
            !text.contains("not-the-one"),
            "a URL password leaked: {text}"
        );
    }
    // Between runs Pulse holds no connection: some moment shows none.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let held =
            mariadb.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'pulse'");
        if held.trim() == "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Pulse kept a connection open between runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ping_checks_share_one_socket_and_judge_loss_and_round_trips() {
    let near = support::netns::Namespace::new();
    let silent = support::netns::Namespace::new();
    silent.ignore_pings();
    let mut slow = support::netns::Namespace::new();
    slow.answer_late(0.15);
    let ping = |host: std::net::IpAddr, more: &str| format!("host = \"{host}\"\n{more}");
    let config = [
        check("near", "ping", &ping(near.there, "")),
        check("near v6", "ping", &ping(near.there_v6, "count = 5")),
        check("silent", "ping", &ping(silent.there, "wait = \"500ms\"")),
        check(
            "slow",
            "ping",
            &ping(slow.there, "degraded_above = \"100ms\"\nwait = \"2s\""),
        ),
    ]
    .concat();
    let (_server, results, _dir) = verdicts(&config, &[]).await;
    let near_replies = format!("3/3 replies from {}, rtt ", near.there);
    assert_verdict(&results, "near", "up", &near_replies);
    let v6_replies = format!("5/5 replies from {}, rtt ", near.there_v6);
    assert_verdict(&results, "near-v6", "up", &v6_replies);
    let none = format!("0/3 replies from {}", silent.there);
    assert_verdict(&results, "silent", "down", &none);
    assert_verdict(&results, "slow", "degraded", "slower than 100 ms");
    let rtt = results["slow"]["detail"].as_str().unwrap();
    let avg: f64 = rtt
        .split("rtt ")
        .nth(1)
        .and_then(|r| r.split('/').nth(1))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no average in {rtt}"));
    assert!(avg >= 150.0, "the responder waits 150 ms: {rtt}");
}
