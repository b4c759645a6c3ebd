//! What the real binary does at start-up with a config path that is not a
//! small UTF-8 regular file (a FIFO, a device, a directory, an oversize
//! or binary file), and with a config whose error would quote a value from
//! the environment: it exits 1 within seconds, naming the file and the
//! problem on stderr, and never printing the value. Refused reloads are in
//! `reload.rs`.

mod support;

use std::path::Path;
use std::time::Duration;
use support::{Server, targets};

/// A refusal is immediate; this is slack for a busy machine. A FIFO used
/// to hang start-up for ever.
const EXITS_WITHIN: Duration = Duration::from_secs(10);

/// Starts pulse on `config`, expects exit code 1, and returns stderr.
async fn refused_start(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (status, stderr) = Server::refused_start(&args, env, EXITS_WITHIN).await;
    assert_eq!(status.code(), Some(1), "exit status; stderr: {stderr}");
    stderr
}

fn assert_names(stderr: &str, expected: &str) {
    assert!(
        stderr.contains(expected),
        "stderr should contain {expected:?}:\n{stderr}"
    );
}

/// A valid config of exactly `size` bytes, padded with a comment.
fn config_of_size(address: &str, size: usize) -> String {
    let check = format!("[[check]]\nname = \"alpha\"\nkind = \"tcp\"\naddress = \"{address}\"\n");
    let padding = size - check.len() - 2;
    format!("{check}#{}\n", "x".repeat(padding))
}

#[tokio::test]
async fn a_fifo_a_device_or_a_directory_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pulse.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success(), "mkfifo works");
    let stderr = refused_start(&fifo, &[], &[]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}: cannot read the config: a FIFO (named pipe), not a regular file",
            fifo.display()
        ),
    );

    let stderr = refused_start(Path::new("/dev/zero"), &[], &[]).await;
    assert_names(
        &stderr,
        "pulse: /dev/zero: cannot read the config: a character device, not a regular file",
    );

    // Through a symlink too: what counts is what is opened.
    let link = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let stderr = refused_start(&link, &[], &[]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}: cannot read the config: a character device, not a regular file",
            link.display()
        ),
    );

    let stderr = refused_start(dir.path(), &[], &[]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}: cannot read the config: a directory, not a regular file",
            dir.path().display()
        ),
    );
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let mib = 1024 * 1024;
    std::fs::write(&path, config_of_size("127.0.0.1:9", mib + 1)).unwrap();
    let stderr = refused_start(&path, &[], &[]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}: cannot read the config: larger than 1048576 bytes (1.0 MiB), the limit (--config-max-bytes)",
            path.display()
        ),
    );

    // A smaller limit, by flag and by environment variable.
    std::fs::write(&path, config_of_size("127.0.0.1:9", 1001)).unwrap();
    let stderr = refused_start(&path, &["--config-max-bytes", "1000"], &[]).await;
    assert_names(&stderr, "larger than 1000 bytes");
    let stderr = refused_start(&path, &[], &[("PULSE_CONFIG_MAX_BYTES", "1000")]).await;
    assert_names(&stderr, "larger than 1000 bytes");
}

#[tokio::test]
async fn a_file_of_exactly_the_limit_is_read() {
    let web = targets::http_target().await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, config_of_size(&web, 1000)).unwrap();
    let server = Server::start(&[
        "--config",
        path.to_str().unwrap(),
        "--config-max-bytes",
        "1000",
    ])
    .await;
    let results = server.results_within(Duration::from_secs(10)).await;
    assert_eq!(results["alpha"]["health"], "up");
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_refused_where_it_goes_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, b"[[check]]\nname = \"caf\xe9\"\n").unwrap();
    let stderr = refused_start(&path, &[], &[]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}:2:12: cannot read the config: not UTF-8 text (save it as UTF-8)",
            path.display()
        ),
    );
}

#[tokio::test]
async fn a_refused_config_never_prints_a_value_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(
        &path,
        "[[check]]\nname = \"db\"\nkind = \"http\"\nurl = \"https://${DB_AUTH}@db.internal:99999/\"\n",
    )
    .unwrap();
    let stderr = refused_start(&path, &[], &[("DB_AUTH", "admin:S3cr3t")]).await;
    assert_names(
        &stderr,
        &format!(
            "pulse: {}:4:7: `https://[redacted]@db.internal:99999/` is not a valid URL: invalid port number",
            path.display()
        ),
    );
    assert!(!stderr.contains("S3cr3t"), "the secret leaked: {stderr}");
    assert!(!stderr.contains("admin"), "the user leaked: {stderr}");
}
