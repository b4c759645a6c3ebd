//! Credentials never reach the browser. Every status a check publishes
//! passes through its redactor, which blanks each secret the config holds:
//! values substituted from `${ENV}`, URL userinfo, and the values of
//! credential-bearing headers. A secret is blanked wherever it appears in a
//! name or a reason, even inside an error message from a library.

use crate::config::{CheckSpec, ProbeSpec};
use crate::status::CheckStatus;

pub const BLANK: &str = "[redacted]";

#[derive(Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is blanked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The config's `${ENV}` values plus what this check's own settings hold.
    pub fn for_check(config_secrets: &[String], spec: &CheckSpec) -> Self {
        let mut secrets = config_secrets.to_vec();
        if let ProbeSpec::Http(http) = &spec.probe {
            let url = &http.url.0;
            secrets.extend(
                [url.username(), url.password().unwrap_or("")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string()),
            );
            for (name, value) in &http.headers.0 {
                if carries_credentials(name.as_str())
                    && let Ok(value) = value.to_str()
                {
                    secrets.push(value.to_string());
                    // `Bearer abc`: the token alone may show up elsewhere.
                    if let Some((_, token)) = value.split_once(' ') {
                        secrets.push(token.to_string());
                    }
                }
            }
        }
        Redactor::new(secrets)
    }

    pub fn apply(&self, mut status: CheckStatus) -> CheckStatus {
        if !self.secrets.is_empty() {
            status.name = self.blank(&status.name);
            status.group = self.blank(&status.group);
            status.detail = self.blank(&status.detail);
        }
        status
    }

    fn blank(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), BLANK);
            }
        }
        text
    }
}

fn carries_credentials(header: &str) -> bool {
    const WORDS: [&str; 7] = [
        "auth", "token", "key", "secret", "cookie", "session", "password",
    ];
    let header = header.to_ascii_lowercase();
    WORDS.iter().any(|word| header.contains(word))
}
