//! What the alert tests share: a config with one HTTP check of a local
//! target and the notifiers a test names, written to a temporary folder,
//! and a real Pulse started on it with the webhook secret in its
//! environment.

use super::Server;

pub const SECRET: &str = "hook-secret-0123";

/// One HTTP check of `target` every 200 ms, alerting the webhook `url`.
pub fn config(target: std::net::SocketAddr, notifiers: &str, alerts: &str, checks: &str) -> String {
    format!(
        "[defaults]\ninterval = \"200ms\"\ntimeout = \"1s\"\n\n[alerts]\n{alerts}\n\n{notifiers}\n\n\
         [[check]]\nname = \"Shop API\"\ngroup = \"shop\"\nkind = \"http\"\nurl = \"http://{target}/api\"\n\n{checks}"
    )
}

pub fn webhook(name: &str, url: &str) -> String {
    format!(
        "[[notifier]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"${{HOOK_SECRET}}\"\nheaders = {{ X-Team = \"ops\" }}\n"
    )
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
    pub history: String,
}

pub fn write_config(text: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, text).unwrap();
    let history = dir.path().join("history.db").display().to_string();
    Setup {
        _dir: dir,
        path,
        history,
    }
}

pub async fn start(setup: &Setup) -> Server {
    let config = setup.path.display().to_string();
    Server::start_with_env(
        &["--config", &config, "--history", &setup.history],
        &[("HOOK_SECRET", SECRET)],
    )
    .await
}
