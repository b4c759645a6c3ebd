//! The README's access table ("Security"), cell by cell, in-process: Pulse
//! assembled as `run` assembles it (`server::assemble`), and its router
//! driven with `tower::ServiceExt::oneshot`, one request at a time, from a
//! peer address of the test's choosing. No process, no socket: every route
//! family for every kind of viewer costs a few milliseconds.
//!
//! What needs a real socket stays whole-process (`tests/access.rs`): the
//! directly served stream, which the connection sorter answers before any
//! router sees it, and what a proxy or a browser does on the wire.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use futures::StreamExt;
use pulse::access::Peer;
use pulse::server::{Assembled, assemble};
use pulse::settings::Settings;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
/// In the private check's name: only a private viewer may see it.
const PRIVATE_MARK: &str = "Private DB 7f3a";
const PUBLIC_MARK: &str = "Public Web 51c2";
/// A push check's token: the whole authentication of its ping.
const PUSH_TOKEN: &str = "push-token-of-the-routes-test-0123456789";
const TRUSTED_PROXY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const NEIGHBOUR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// Who asks, as the table's columns name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Viewer {
    Anonymous,
    /// Signed in at `/login`: a session cookie.
    Session,
    /// Named in the user header by a trusted proxy.
    Proxy,
    WriteToken,
    ReadToken,
    MetricsToken,
}

const VIEWERS: [Viewer; 6] = [
    Viewer::Anonymous,
    Viewer::Session,
    Viewer::Proxy,
    Viewer::WriteToken,
    Viewer::ReadToken,
    Viewer::MetricsToken,
];

/// What the table says a viewer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Let in: the route's own answer.
    Yes,
    /// `303` to `/login?next=…`.
    SignIn,
    Unauthorized,
    Forbidden,
}

/// A Pulse with users, a token of each scope, a trusted proxy, a public
/// and a private check and a push check, and the credentials to ask it.
struct Guarded {
    app: Router,
    cookie: String,
    write: String,
    read: String,
    metrics: String,
    _pulse: Assembled,
    _dir: tempfile::TempDir,
}

async fn start(args: &[&str], config: &str, dir: &std::path::Path, bound: SocketAddr) -> Assembled {
    let path = dir.join("pulse.toml");
    std::fs::write(&path, config).unwrap();
    let history = dir.join("history.db");
    let mut all = vec![
        "pulse",
        "--config",
        path.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let settings = <Settings as clap::Parser>::try_parse_from(all).unwrap();
    assemble(&settings, bound).await.unwrap()
}

const CHECKS: &str = "[[check]]\nname = \"Private DB 7f3a\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n\
     [[check]]\nname = \"Public Web 51c2\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\npublic = true\n\
     [[check]]\nname = \"Nightly backup\"\nkind = \"push\"\ntoken = \"push-token-of-the-routes-test-0123456789\"\nperiod = \"1h\"\n";

async fn guarded() -> Guarded {
    let dir = tempfile::tempdir().unwrap();
    let mut tokens = Vec::new();
    let mut lines = Vec::new();
    for scope in ["write", "read", "metrics"] {
        let (token, sha256) = pulse::access::new_token().unwrap();
        lines.push(format!(
            "{{ name = \"{scope}-script\", sha256 = \"{sha256}\", scope = \"{scope}\" }}"
        ));
        tokens.push(token);
    }
    let hash = pulse::access::hash_password(PASSWORD).unwrap();
    let config = format!(
        "[access]\n\
         users = [{{ name = \"ada\", password_hash = \"{hash}\" }}]\n\
         tokens = [{}]\n\
         trusted_proxies = [\"{TRUSTED_PROXY}\"]\n\
         user_header = \"X-Forwarded-User\"\n\
         {CHECKS}",
        lines.join(", ")
    );
    let bound: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let pulse = start(&[], &config, dir.path(), bound).await;
    let app = pulse.router();
    let cookie = sign_in(&app).await;
    let [write, read, metrics] = tokens.try_into().unwrap();
    Guarded {
        app,
        cookie,
        write,
        read,
        metrics,
        _pulse: pulse,
        _dir: dir,
    }
}

/// Signs `ada` in with the form, as the login page does; the cookie.
async fn sign_in(app: &Router) -> String {
    let body = format!("user=ada&password={}&next=%2F", PASSWORD.replace(' ', "+"));
    let request = Request::post("/login")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "http://localhost")
        .body(Body::from(body))
        .unwrap();
    let answer = send(app, request, NEIGHBOUR).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// Sends `request` as a connection from `from` would carry it; reads at
/// most the first 64 KiB of the body, or its first frames for a stream.
async fn send(app: &Router, mut request: Request<Body>, from: Ipv4Addr) -> Answer {
    let peer = SocketAddr::new(IpAddr::V4(from), 40_000);
    request.extensions_mut().insert(ConnectInfo(Peer(peer)));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let stream = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    let mut body = Vec::new();
    let mut frames = response.into_body().into_data_stream();
    while body.len() < 64 * 1024 {
        // A stream never ends: its snapshot is what tells who it is for.
        if stream && String::from_utf8_lossy(&body).contains("event: snapshot") {
            break;
        }
        match frames.next().await {
            Some(Ok(frame)) => body.extend_from_slice(&frame),
            _ => break,
        }
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl Guarded {
    /// `method path` as `viewer` asks it, from this site.
    async fn ask(&self, viewer: Viewer, method: Method, path: &str, body: &str) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        let mut from = NEIGHBOUR;
        request = match viewer {
            Viewer::Anonymous => request,
            Viewer::Session => request
                .header(header::COOKIE, &self.cookie)
                .header(header::ORIGIN, "http://localhost"),
            Viewer::Proxy => {
                from = TRUSTED_PROXY;
                request
                    .header("x-forwarded-user", "grace")
                    .header(header::ORIGIN, "http://localhost")
            }
            Viewer::WriteToken => request.header(header::AUTHORIZATION, bearer(&self.write)),
            Viewer::ReadToken => request.header(header::AUTHORIZATION, bearer(&self.read)),
            Viewer::MetricsToken => request.header(header::AUTHORIZATION, bearer(&self.metrics)),
        };
        if !body.is_empty() {
            let form = "application/x-www-form-urlencoded";
            let kind = if body.starts_with('{') {
                "application/json"
            } else {
                form
            };
            request = request.header(header::CONTENT_TYPE, kind);
        }
        send(
            &self.app,
            request.body(Body::from(body.to_string())).unwrap(),
            from,
        )
        .await
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The table's answer for `viewer` on a row.
fn expected(row: &Row, viewer: Viewer) -> Expect {
    match viewer {
        Viewer::Anonymous => row.anonymous,
        Viewer::Session | Viewer::Proxy | Viewer::WriteToken => Expect::Yes,
        Viewer::ReadToken => row.read,
        Viewer::MetricsToken => row.metrics,
    }
}

/// One row of the table, with the requests that stand for its routes.
struct Row {
    routes: Vec<Route>,
    anonymous: Expect,
    read: Expect,
    metrics: Expect,
}

/// A request that stands for a route, and whether a viewer let in must get
/// a success (a server function asked without its arguments answers 400,
/// which is still past the rule).
struct Route {
    method: Method,
    path: String,
    body: &'static str,
    succeeds: bool,
}

fn get(path: impl Into<String>) -> Route {
    Route {
        method: Method::GET,
        path: path.into(),
        body: "",
        succeeds: true,
    }
}

fn post(path: impl Into<String>, body: &'static str) -> Route {
    Route {
        method: Method::POST,
        path: path.into(),
        body,
        succeeds: true,
    }
}

/// Asserts what the table says for every viewer on every route of `row`:
/// the refusals exactly, and for those let in, an answer of the route
/// itself and no shared caching of anything that depends on the viewer.
async fn check_row(pulse: &Guarded, row: &Row) {
    for Route {
        method,
        path,
        body,
        succeeds,
    } in &row.routes
    {
        for viewer in VIEWERS {
            let answer = pulse.ask(viewer, method.clone(), path, body).await;
            let said = format!(
                "{viewer:?} {method} {path}: {} {}",
                answer.status, answer.body
            );
            match expected(row, viewer) {
                Expect::Yes => {
                    let refused = [
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::SEE_OTHER,
                    ];
                    assert!(!refused.contains(&answer.status), "{said}");
                    assert!(answer.status.is_success() || !succeeds, "{said}");
                    if pulse::access::answer_is_personal(path) {
                        let cache = &answer.headers[header::CACHE_CONTROL];
                        assert_eq!(cache, "private, no-store", "{said}");
                    }
                }
                Expect::SignIn => {
                    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{said}");
                    let location = answer.headers[header::LOCATION].to_str().unwrap();
                    assert!(
                        location.starts_with("/login?next=%2F"),
                        "{said}: {location}"
                    );
                }
                Expect::Unauthorized => {
                    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{said}")
                }
                Expect::Forbidden => assert_eq!(answer.status, StatusCode::FORBIDDEN, "{said}"),
            }
        }
    }
}

/// The server functions of the private pages, by the paths Leptos gave them.
fn private_server_functions() -> Vec<String> {
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .filter(|path| !path.contains("public/") && !path.contains("notifiers/test"))
        .collect();
    assert!(
        paths.len() >= 3,
        "the dashboard's, a check page's and the notifications page's: {paths:?}"
    );
    paths
}

#[tokio::test]
async fn every_cell_of_the_access_table_holds() {
    let pulse = guarded().await;
    let check = pulse
        .ask(Viewer::Session, Method::GET, "/api/status", "")
        .await;
    let private_id = id_of(&check.body, PRIVATE_MARK);
    let open = Row {
        routes: vec![
            get("/healthz"),
            get("/login"),
            get("/status"),
            get("/api/public/status"),
            // An asset: 404 before the site is built (the Rust tests run
            // first on a fresh clone), but never a refusal.
            Route {
                succeeds: false,
                ..get("/favicon.svg")
            },
        ],
        anonymous: Expect::Yes,
        read: Expect::Yes,
        metrics: Expect::Yes,
    };
    let push = Row {
        routes: vec![post(format!("/api/push/{PUSH_TOKEN}"), "")],
        anonymous: Expect::Yes,
        read: Expect::Yes,
        metrics: Expect::Yes,
    };
    let pages = Row {
        routes: vec![
            get("/"),
            get(format!("/checks/{private_id}")),
            get("/notifications"),
        ],
        anonymous: Expect::SignIn,
        read: Expect::Yes,
        metrics: Expect::Forbidden,
    };
    let mut private_reads = vec![
        get(format!("/api/checks/{private_id}/uptime")),
        get(format!("/api/checks/{private_id}/history")),
        get("/api/alerts"),
        get("/api/incidents"),
    ];
    for path in private_server_functions() {
        private_reads.push(Route {
            succeeds: false,
            ..post(path, "")
        });
    }
    let reads = Row {
        routes: private_reads,
        anonymous: Expect::Unauthorized,
        read: Expect::Yes,
        metrics: Expect::Forbidden,
    };
    let actions = Row {
        routes: vec![
            post(
                "/api/incidents",
                r#"{"title": "Slow logins", "message": "Looking into it."}"#,
            ),
            post(
                "/api/incidents/1/updates",
                r#"{"status": "monitoring", "message": "A fix is out."}"#,
            ),
            // Past the rule, the unknown notifier is the answer: 404.
            Route {
                succeeds: false,
                ..post("/api/notifiers/test", "notifier=nobody")
            },
        ],
        anonymous: Expect::Unauthorized,
        read: Expect::Forbidden,
        metrics: Expect::Forbidden,
    };
    let metrics = Row {
        routes: vec![get("/metrics")],
        anonymous: Expect::Unauthorized,
        read: Expect::Yes,
        metrics: Expect::Yes,
    };
    for row in [&open, &push, &pages, &reads, &actions, &metrics] {
        check_row(&pulse, row).await;
    }
}

/// The row of `/api/events` and `/api/status`: everyone is let in, and
/// what they get is their audience's.
#[tokio::test]
async fn the_stream_and_the_status_are_each_viewers_own() {
    let pulse = guarded().await;
    for path in ["/api/status", "/api/events"] {
        for viewer in VIEWERS {
            let answer = pulse.ask(viewer, Method::GET, path, "").await;
            let said = format!("{viewer:?} {path}: {} {}", answer.status, answer.body);
            assert_eq!(answer.status, StatusCode::OK, "{said}");
            assert!(answer.body.contains(PUBLIC_MARK), "{said}");
            let private = !matches!(viewer, Viewer::Anonymous | Viewer::MetricsToken);
            assert_eq!(answer.body.contains(PRIVATE_MARK), private, "{said}");
            // The stream keeps the original contract's `no-cache`.
            let cache = match path {
                "/api/events" => "no-cache",
                _ => "private, no-store",
            };
            assert_eq!(answer.headers[header::CACHE_CONTROL], cache, "{said}");
        }
    }
}

/// A push ping is its check's token alone: a wrong one is a plain 404 for
/// anyone, which says nothing of which tokens exist.
#[tokio::test]
async fn a_ping_with_a_token_no_check_has_is_not_found_for_anyone() {
    let pulse = guarded().await;
    for viewer in VIEWERS {
        let answer = pulse
            .ask(
                viewer,
                Method::POST,
                "/api/push/no-such-token-0123456789abcdef",
                "",
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{viewer:?}");
    }
}

/// An action sent with a cookie or a proxy's user header must come from
/// a page of this site; a token needs no `Origin`.
#[tokio::test]
async fn a_browsers_action_from_another_site_is_forbidden() {
    let pulse = guarded().await;
    let incident = r#"{"title": "From afar", "message": "Should not open."}"#;
    for (viewer, from) in [(Viewer::Session, NEIGHBOUR), (Viewer::Proxy, TRUSTED_PROXY)] {
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ] {
            let mut request = Request::post("/api/incidents")
                .header(header::HOST, "localhost")
                .header(header::CONTENT_TYPE, "application/json")
                .header(name, value);
            request = match viewer {
                Viewer::Session => request.header(header::COOKIE, &pulse.cookie),
                _ => request.header("x-forwarded-user", "grace"),
            };
            let answer = send(
                &pulse.app,
                request.body(Body::from(incident)).unwrap(),
                from,
            )
            .await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{viewer:?} {name}: {value}"
            );
        }
    }
    // The proxy's header from anyone but the proxy names no one.
    let request = Request::get("/api/alerts")
        .header(header::HOST, "localhost")
        .header("x-forwarded-user", "grace")
        .body(Body::empty())
        .unwrap();
    let answer = send(&pulse.app, request, NEIGHBOUR).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

/// `--open-dashboard` on a non-loopback address: anyone may look, no one
/// may act; on loopback without it, the machine's own user may do both.
#[tokio::test]
async fn an_open_dashboard_served_on_purpose_may_look_but_not_act() {
    let incident = r#"{"title": "Open", "message": "Anyone?"}"#;
    let cases = [
        (
            "10.9.8.7:3000",
            &["--open-dashboard"][..],
            StatusCode::FORBIDDEN,
        ),
        ("127.0.0.1:3000", &[][..], StatusCode::CREATED),
    ];
    for (bound, args, act) in cases {
        let dir = tempfile::tempdir().unwrap();
        let pulse = start(args, CHECKS, dir.path(), bound.parse().unwrap()).await;
        let app = pulse.router();
        let ask = |method: Method, path: &str, body: &'static str| {
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, "localhost")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        for path in ["/", "/api/alerts", "/api/status"] {
            let answer = send(&app, ask(Method::GET, path, ""), NEIGHBOUR).await;
            assert_eq!(answer.status, StatusCode::OK, "{bound} {path}");
        }
        let answer = send(
            &app,
            ask(Method::POST, "/api/incidents", incident),
            NEIGHBOUR,
        )
        .await;
        assert_eq!(answer.status, act, "{bound}: {}", answer.body);
    }
}

/// The id of the check named `name` in a snapshot's JSON.
fn id_of(snapshot: &str, name: &str) -> String {
    let snapshot: serde_json::Value = serde_json::from_str(snapshot).unwrap();
    let checks = snapshot["checks"].as_array().unwrap();
    let check = checks.iter().find(|c| c["name"] == name).unwrap();
    check["id"].as_str().unwrap().to_string()
}
