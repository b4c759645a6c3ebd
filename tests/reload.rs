//! Hot reload through the real binary: editing the config file changes
//! what runs within seconds, open streams see checks appear and disappear
//! without being disconnected, and a broken edit is reported (on the
//! stream, so the dashboard can show it) while the last good config runs on:
//! a broken edit, a file that cannot be read (oversize, not UTF-8, a FIFO
//! renamed over it), and an edit whose error would quote a value from the
//! environment, which is shown nowhere.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::{Log, Server, SseReader, targets};

const RELOAD_WITHIN: Duration = Duration::from_secs(8);

fn tcp(name: &str, address: &str) -> String {
    format!("[[check]]\nname = \"{name}\"\nkind = \"tcp\"\naddress = \"{address}\"\n\n")
}

/// As most editors save: a new file renamed over the old one.
fn save_by_rename(path: &Path, content: impl AsRef<[u8]>) {
    let temporary = path.with_extension("toml.swp");
    std::fs::write(&temporary, content).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn rename_fifo_over(path: &Path) {
    let fifo = path.with_extension("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success(), "mkfifo works");
    std::fs::rename(&fifo, path).unwrap();
}

/// Reads events until one of type `kind` satisfies `wanted`; returns every
/// event seen up to and including it. Panics if the stream ends.
async fn read_until(
    stream: &mut SseReader,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + RELOAD_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some((event, _, data)) = stream.next_event_within(left).await else {
            panic!("the stream ended; events so far: {seen:?}");
        };
        let value: Value = serde_json::from_str(&data).unwrap();
        let found = event == kind && wanted(&value);
        seen.push((event, value));
        if found {
            return seen;
        }
    }
}

fn ids(status: &Value) -> Vec<String> {
    let mut ids: Vec<String> = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn edits_apply_live_without_dropping_streams() {
    let web = targets::http_target().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let header = "[defaults]\ninterval = \"1s\"\n\n";
    std::fs::write(
        &path,
        format!("{header}{}{}", tcp("alpha", &web), tcp("beta", &web)),
    )
    .unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap()]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    let (kind, _, data) = stream
        .next_event_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(kind, "snapshot");
    let snapshot: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(ids(&snapshot), ["alpha", "beta"]);
    assert_eq!(snapshot["config"]["source"], path.display().to_string());
    assert_eq!(snapshot["config"]["error"], Value::Null);

    // Remove beta, add gamma, leave alpha as it was.
    save_by_rename(
        &path,
        format!("{header}{}{}", tcp("alpha", &web), tcp("gamma", &web)),
    );
    let seen = read_until(&mut stream, "config", |c| c["error"].is_null()).await;
    let removed: Vec<&Value> = seen
        .iter()
        .filter(|(k, _)| k == "removed")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(removed, [&serde_json::json!({"id": "beta"})]);
    assert!(
        seen.iter()
            .any(|(k, v)| k == "message" && v["id"] == "gamma"),
        "gamma appears: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|(k, v)| k == "message" && v["id"] == "alpha" && v["health"] == "unknown"),
        "alpha is untouched, not restarted: {seen:?}"
    );
    read_until(&mut stream, "message", |v| {
        v["id"] == "gamma" && v["health"] == "up"
    })
    .await;
    assert_eq!(ids(&server.status().await), ["alpha", "gamma"]);

    // A broken edit, written in place: refused with its position, shown on
    // the stream, and the last good checks keep running.
    std::fs::write(
        &path,
        format!("{header}[[check]]\nname = \"delta\"\nkind = \"tcp\"\n"),
    )
    .unwrap();
    let seen = read_until(&mut stream, "config", |c| !c["error"].is_null()).await;
    let error = seen.last().unwrap().1["error"]
        .as_str()
        .unwrap()
        .to_string();
    let position = format!("{}:4:1: missing field `address`", path.display());
    assert_eq!(error, position);
    let status = server.status().await;
    assert_eq!(ids(&status), ["alpha", "gamma"]);
    assert_eq!(status["config"]["error"], error.as_str());
    read_until(&mut stream, "message", |v| v["id"] == "alpha").await;

    // Fixed again: the error clears.
    save_by_rename(&path, format!("{header}{}", tcp("alpha", &web)));
    read_until(&mut stream, "config", |c| c["error"].is_null()).await;
    assert_eq!(ids(&server.status().await), ["alpha"]);

    // One stream from start to end: never dropped, never reconnected.
    assert_eq!(server.connected_clients().await, 1);
    assert_eq!(server.metric("pulse_snapshots_on_connect_total").await, 1.0);
}

/// Reads the stream until a `config` event refuses the file; its error.
async fn refusal(stream: &mut SseReader) -> String {
    let seen = read_until(stream, "config", |c| !c["error"].is_null()).await;
    seen.last().unwrap().1["error"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_file_that_cannot_be_read_is_refused_and_the_last_good_config_runs_on() {
    let web = targets::http_target().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let good = format!("[defaults]\ninterval = \"1s\"\n\n{}", tcp("alpha", &web));
    std::fs::write(&path, &good).unwrap();
    let server = Server::start(&[
        "--config",
        path.to_str().unwrap(),
        "--config-max-bytes",
        "4096",
    ])
    .await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    read_until(&mut stream, "message", |v| {
        v["id"] == "alpha" && v["health"] == "up"
    })
    .await;

    let file = path.display();
    let oversize = format!("{good}#{}\n", "x".repeat(4096)).into_bytes();
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.extend_from_slice(b"# caf\xe9\n");
    // What replaces the file: new content saved by rename, or a FIFO.
    let refusals = [
        (
            "oversize",
            Some(oversize),
            format!(
                "{file}: cannot read the config: larger than 4096 bytes (4.0 KiB), the limit (--config-max-bytes)"
            ),
        ),
        (
            "not UTF-8",
            Some(not_utf8),
            format!("{file}:9:6: cannot read the config: not UTF-8 text (save it as UTF-8)"),
        ),
        (
            "a FIFO",
            None,
            format!("{file}: cannot read the config: a FIFO (named pipe), not a regular file"),
        ),
    ];
    for (what, content, expected) in refusals {
        match content {
            Some(content) => save_by_rename(&path, content),
            None => rename_fifo_over(&path),
        }
        assert_eq!(refusal(&mut stream).await, expected, "{what}");
        let status = server.status().await;
        assert_eq!(status["config"]["error"], expected.as_str(), "{what}");
        assert_eq!(ids(&status), ["alpha"], "{what}");
        // The old check runs on, and the server answers.
        let refused_at = support::now_ms();
        read_until(&mut stream, "message", |v| {
            v["id"] == "alpha" && v["checked_at_ms"].as_u64() > Some(refused_at)
        })
        .await;
        assert_eq!(server.connected_clients().await, 1, "{what}");

        // Put back, it applies again and the banner goes.
        save_by_rename(&path, &good);
        read_until(&mut stream, "config", |c| c["error"].is_null()).await;
    }
}

/// The secret of the refused edit below.
const SECRET: &str = "admin:S3cr3t";

/// Fails unless `text`, from `place`, is free of the secret and its parts.
fn assert_no_secret(place: &str, text: &str) {
    for part in [SECRET, "S3cr3t", "admin:"] {
        assert!(!text.contains(part), "{place} shows `{part}`:\n{text}");
    }
}

/// Waits for the server to log `wanted`; its whole log so far.
async fn logged(log: &Log, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + RELOAD_WITHIN;
    loop {
        let text = log.text();
        if text.contains(wanted) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged {wanted:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_refused_edit_never_shows_a_value_from_the_environment() {
    let web = targets::http_target().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, tcp("alpha", &web)).unwrap();
    let (server, log) = Server::start_keeping_log(
        &["--config", path.to_str().unwrap()],
        &[("DB_AUTH", SECRET)],
    )
    .await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    read_until(&mut stream, "snapshot", |_| true).await;

    // The URL parser's refusal quotes the URL, credentials and all.
    save_by_rename(
        &path,
        format!(
            "{}[[check]]\nname = \"db\"\nkind = \"http\"\nurl = \"https://${{DB_AUTH}}@db.internal:99999/\"\n",
            tcp("alpha", &web)
        ),
    );
    let seen = read_until(&mut stream, "config", |c| !c["error"].is_null()).await;
    let expected = format!(
        "{}:9:7: `https://[redacted]@db.internal:99999/` is not a valid URL: invalid port number",
        path.display()
    );
    let (_, notice) = seen.last().unwrap();
    assert_eq!(notice["error"], expected.as_str());
    for (event, data) in &seen {
        assert_no_secret(&format!("the `{event}` event"), &data.to_string());
    }

    let status = reqwest::get(server.url("/api/status")).await.unwrap();
    let status = status.text().await.unwrap();
    assert!(status.contains("[redacted]@db.internal:99999"), "{status}");
    assert_no_secret("/api/status", &status);

    let page = reqwest::get(server.url("/")).await.unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("[redacted]@db.internal:99999"),
        "the banner: {page}"
    );
    assert_no_secret("the page", &page);

    assert_no_secret("/metrics", &server.metrics_text().await);
    let log = logged(&log, "config refused").await;
    assert!(log.contains("[redacted]@db.internal:99999"), "{log}");
    assert_no_secret("the log", &log);
}

#[tokio::test]
async fn an_emptied_file_is_refused_and_every_check_runs_on() {
    let web = targets::http_target().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let good = format!("[defaults]\ninterval = \"1s\"\n\n{}", tcp("alpha", &web));
    std::fs::write(&path, &good).unwrap();
    let server = Server::start(&["--config", path.to_str().unwrap()]).await;
    let mut stream = SseReader::open(&server.url("/api/events"), None).await;
    stream
        .next_event_within(Duration::from_secs(5))
        .await
        .unwrap();

    // What a save in steps shows for a moment (truncated, not written yet).
    std::fs::write(&path, "").unwrap();
    let seen = read_until(&mut stream, "config", |c| c["error"].is_string()).await;
    assert!(!seen.iter().any(|(k, _)| k == "removed"), "{seen:?}");
    let error = seen.last().unwrap().1["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("the file is empty"), "{error}");
    assert_eq!(ids(&server.status().await), ["alpha"]);

    // The save's end: read, and the refusal is over.
    std::fs::write(&path, &good).unwrap();
    read_until(&mut stream, "config", |c| c["error"].is_null()).await;
    assert_eq!(ids(&server.status().await), ["alpha"]);
}
