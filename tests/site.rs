//! The site served from a folder that LEPTOS_SITE_ROOT names at run time
//! (as `cargo leptos watch` runs the server): the page links the bundle's
//! plain names, which resolve to what the last build wrote, hashed or not;
//! and a server with no site says so at start-up, naming where it looked.
//! (The site built into the release binary: end2end/tests/standalone.spec.ts.)

mod support;

use std::path::Path;
use std::time::Duration;
use support::{Log, Server};

const HASH: &str = "0123456789abcdefghij_-";

/// The log once it holds `needle` (lines reach it shortly after start).
async fn log_with(log: &Log, needle: &str) -> String {
    for _ in 0..50 {
        let text = log.text();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the log never said {needle:?}: {}", log.text());
}

async fn get(server: &Server, path: &str, accept_encoding: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .unwrap()
}

fn write(root: &Path, name: &str, contents: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[tokio::test]
async fn a_server_with_no_site_says_so_and_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let (server, log) = Server::start_keeping_log(&[], &[("LEPTOS_SITE_ROOT", root)]).await;
    let text = log_with(&log, "NO SITE").await;
    assert!(text.contains("ERROR"), "{text}");
    assert!(
        text.contains(&format!("{root} (LEPTOS_SITE_ROOT)")),
        "{text}"
    );
    assert!(text.contains("cargo leptos build"), "{text}");
    // It serves all the same: pages, without their styles and scripts.
    assert_eq!(get(&server, "/", "").await.status(), 200);
    assert_eq!(get(&server, "/pkg/pulse.css", "").await.status(), 404);
}

#[tokio::test]
async fn a_folder_site_serves_the_plain_names_from_the_latest_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (part, contents) in [
        ("css", "body{}"),
        ("js", "export default 1"),
        ("wasm", "\0asm"),
    ] {
        write(root, &format!("pkg/pulse.{HASH}.{part}"), contents);
    }
    write(root, &format!("pkg/pulse.{HASH}.css.br"), "brotli bytes");
    write(root, "favicon.svg", "<svg/>");
    let root_text = root.to_str().unwrap();
    let (server, log) = Server::start_keeping_log(&[], &[("LEPTOS_SITE_ROOT", root_text)]).await;

    let page = get(&server, "/", "").await.text().await.unwrap();
    assert!(page.contains(r#"href="/pkg/pulse.css""#), "{page}");
    assert!(page.contains(r#"import("/pkg/pulse.js")"#), "{page}");
    assert!(
        page.contains(r#"module_or_path: "/pkg/pulse.wasm""#),
        "{page}"
    );

    let css = get(&server, "/pkg/pulse.css", "gzip, br").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-encoding"], "br");
    assert_eq!(css.headers()["content-type"], "text/css");
    assert_eq!(css.headers()["vary"], "accept-encoding");
    // Read from disk, it may change under the same name: not kept.
    assert_eq!(css.headers()["cache-control"], "no-cache");
    assert_eq!(css.text().await.unwrap(), "brotli bytes");
    let wasm = get(&server, "/pkg/pulse.wasm", "br").await;
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert!(wasm.headers().get("content-encoding").is_none());
    assert_eq!(wasm.text().await.unwrap(), "\0asm");
    let hashed = get(&server, &format!("/pkg/pulse.{HASH}.js"), "").await;
    assert_eq!(hashed.text().await.unwrap(), "export default 1");
    assert_eq!(get(&server, "/pkg/other.js", "").await.status(), 404);

    // `cargo leptos watch` rebuilds under the plain name: served at once.
    write(root, "pkg/pulse.css", "body{color:red}");
    let rebuilt = get(&server, "/pkg/pulse.css", "br").await;
    assert!(rebuilt.headers().get("content-encoding").is_none());
    assert_eq!(rebuilt.text().await.unwrap(), "body{color:red}");

    let text = log.text();
    assert!(
        !text.contains("NO SITE") && !text.contains("INCOMPLETE SITE"),
        "{text}"
    );
}
