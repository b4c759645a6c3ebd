//! The decision asked through both kinds of head it is given: hyper's
//! `HeaderMap` (the axum layer) and httparse's request (the connection
//! sorter's direct streams), with the same table of cases.

use super::{Access, Asking, Verdict, Viewer};
use crate::config::AccessSpec;
use crate::status::Audience;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

const LOOPBACK: &str = "127.0.0.1:3000";
const TRUSTED_PROXY: &str = "10.0.0.1";
const STRANGER: &str = "192.0.2.1";

fn access(spec: Option<&AccessSpec>, listening: &str, open_dashboard: bool) -> Arc<Access> {
    Access::new(spec, listening.parse().unwrap(), open_dashboard).unwrap()
}

fn spec() -> AccessSpec {
    AccessSpec {
        users: Vec::new(),
        tokens: Vec::new(),
        session_key: vec![7; 32],
        session_lifetime: Duration::from_secs(3600),
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        user_header: Some("x-forwarded-user".into()),
        allowed_hosts: Vec::new(),
    }
}

/// The verdict on `method path` from `peer` with `fields`, which must be
/// the same whichever head carries them.
fn ask(access: &Access, method: &str, path: &str, peer: &str, fields: &[(&str, &str)]) -> Verdict {
    let peer: IpAddr = peer.parse().unwrap();
    let unsafe_method = !matches!(method, "GET" | "HEAD");
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let by_hyper = access.decide(&Asking {
        path,
        unsafe_method,
        peer,
        head: &map,
    });
    let mut raw = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in fields {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let mut parsed = [httparse::EMPTY_HEADER; 16];
    let mut request = httparse::Request::new(&mut parsed);
    request.parse(raw.as_bytes()).unwrap();
    let by_sorter = access.decide(&Asking {
        path,
        unsafe_method,
        peer,
        head: &request,
    });
    assert_eq!(by_hyper, by_sorter, "{method} {path} {fields:?}");
    by_hyper
}

fn private(viewer: Viewer) -> Verdict {
    Verdict::Pass {
        viewer,
        audience: Audience::Private,
    }
}

#[test]
fn an_open_dashboard_on_loopback_answers_only_loopback_names_opened_on_purpose_or_not() {
    for listening in [LOOPBACK, "[::1]:3000", "[::ffff:127.0.0.1]:3000"] {
        for opened_on_purpose in [false, true] {
            let access = access(None, listening, opened_on_purpose);
            let case = format!("{listening}, --open-dashboard {opened_on_purpose}");
            for path in ["/", "/api/status", "/api/events"] {
                for host in ["rebound.example", "rebound.example:3000", "localhost.evil"] {
                    let verdict = ask(&access, "GET", path, "127.0.0.1", &[("host", host)]);
                    assert_eq!(verdict, Verdict::UnknownHost, "{case}: {host}{path}");
                }
                for host in ["localhost", "LOCALHOST:3000", "127.0.0.1:3000", "[::1]"] {
                    let verdict = ask(&access, "GET", path, "127.0.0.1", &[("host", host)]);
                    let expected = private(Viewer::Anonymous);
                    assert_eq!(verdict, expected, "{case}: {host}{path}");
                }
            }
            // Opened on purpose, it is still for looking (README, "Actions").
            let act = ask(
                &access,
                "POST",
                super::TEST_MESSAGE,
                "127.0.0.1",
                &[("host", "localhost")],
            );
            assert_eq!(
                act == Verdict::Forbidden,
                opened_on_purpose,
                "{case}: {act:?}"
            );
        }
    }
}

#[test]
fn an_open_dashboard_elsewhere_is_opened_on_purpose_only_and_answers_any_name() {
    let everywhere = "0.0.0.0:3000";
    let refused = Access::new(None, everywhere.parse::<SocketAddr>().unwrap(), false);
    assert!(refused.is_err());
    let access = access(None, everywhere, true);
    let verdict = ask(&access, "GET", "/", STRANGER, &[("host", "status.example")]);
    assert_eq!(verdict, private(Viewer::Anonymous));
}

#[test]
fn a_reload_that_removes_access_on_loopback_keeps_the_loopback_names() {
    let access = access(Some(&spec()), LOOPBACK, true);
    let before = ask(
        &access,
        "GET",
        "/api/status",
        "127.0.0.1",
        &[("host", "rebound.example")],
    );
    assert!(matches!(before, Verdict::Pass { .. }), "{before:?}");
    access.apply(None).unwrap();
    let after = ask(
        &access,
        "GET",
        "/api/status",
        "127.0.0.1",
        &[("host", "rebound.example")],
    );
    assert_eq!(after, Verdict::UnknownHost);
}

#[test]
fn a_user_header_sent_twice_by_a_trusted_proxy_is_refused() {
    let access = access(Some(&spec()), LOOPBACK, false);
    let host = ("host", "localhost");
    let once = [host, ("X-Forwarded-User", "ada")];
    let twice = [
        host,
        ("X-Forwarded-User", "admin"),
        ("x-forwarded-user", "ada"),
    ];
    for path in ["/", "/api/status", "/api/events", "/healthz", "/login"] {
        assert_eq!(
            ask(&access, "GET", path, TRUSTED_PROXY, &twice),
            Verdict::UserHeaderRepeated,
            "{path}"
        );
    }
    assert_eq!(
        ask(&access, "GET", "/", TRUSTED_PROXY, &once),
        private(Viewer::ProxyUser("ada".into()))
    );
    // From anyone else it is ignored, however often it comes.
    assert_eq!(ask(&access, "GET", "/", STRANGER, &twice), Verdict::SignIn);
}

#[test]
fn a_trusted_proxys_client_is_the_right_most_untrusted_address_across_lines() {
    let access = access(Some(&spec()), LOOPBACK, false);
    let client = |peer: &str, lines: &[&str]| {
        let mut head = HeaderMap::new();
        for line in lines {
            head.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        access
            .client_address(peer.parse().unwrap(), &head)
            .to_string()
    };
    let spoofed = ["203.0.113.9", "198.51.100.7, 10.0.0.2"];
    assert_eq!(client(TRUSTED_PROXY, &spoofed), "198.51.100.7");
    assert_eq!(client(TRUSTED_PROXY, &["10.0.0.3"]), "10.0.0.3");
    assert_eq!(client(TRUSTED_PROXY, &[]), TRUSTED_PROXY);
    // Anyone else's list is the client's own word: the peer it is.
    assert_eq!(client(STRANGER, &spoofed), STRANGER);
}
