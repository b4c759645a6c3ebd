//! Credentials never reach the browser, a log or a message. This is the
//! one rule for what counts as a secret in a URL (its user and password)
//! or in headers (the values of credential-bearing ones), and the redactor
//! that blanks secrets wherever they appear in a name or a reason, even
//! inside an error message from a library. Whoever holds secrets builds a
//! redactor from the config's `${ENV}` values, these rules, and what is
//! secret about itself alone: each check (`checks::build`), each notifier
//! (`alerts::notifiers`), and the config's own errors on their way out of
//! the parser.
//!
//! The redactor is also the only place a detail is cut to length, and it
//! cuts after blanking: a secret cut first no longer matches, and its first
//! part would show.

use crate::status::CheckStatus;
use reqwest::header::{HeaderName, HeaderValue};

pub(crate) const BLANK: &str = "[redacted]";

/// A quoted fragment of an error shorter than this is left alone even when
/// a secret holds it: a few characters give nothing away, and short words
/// (`url`, `"tcp"`) are the message's own far more often.
const MIN_QUOTED_FRAGMENT: usize = 4;

/// A detail longer than this many characters is cut (`…`): a reason stays
/// a sentence, whatever a target answers (a JSON value, an error quoting
/// a body).
const DETAIL_CHARS: usize = 300;

#[derive(Default)]
pub(crate) struct Redactor {
    /// Longest first, so a secret that contains another is blanked whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    /// How many, never which: a redactor holds every secret it hides.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new(mut secrets: Vec<String>) -> Self {
        // Libraries quote a value escaped, as serde does (`string "a\"b"`):
        // each secret is blanked in that form too.
        let escaped: Vec<String> = secrets.iter().map(|s| debug_escaped(s)).collect();
        secrets.extend(escaped);
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// A status as it may be shown: every secret blanked, then the detail
    /// cut to `DETAIL_CHARS`, in that order.
    pub(crate) fn apply(&self, mut status: CheckStatus) -> CheckStatus {
        if !self.secrets.is_empty() {
            status.name = self.blank(&status.name);
            status.group = self.blank(&status.group);
            status.detail = self.blank(&status.detail);
        }
        // No more bytes than that is no more characters: nothing to cut.
        if status.detail.len() > DETAIL_CHARS {
            status.detail = crate::text::shorten(&status.detail, DETAIL_CHARS);
        }
        status
    }

    /// An error message about a value, which a parser may quote whole,
    /// escaped, or in part (`unknown time unit "hunter"` for `5 hunter`):
    /// beyond each secret, a quoted fragment of one is blanked, and so is
    /// the user and password of any URL, wherever they came from.
    pub(crate) fn blank_error(&self, message: &str) -> String {
        blank_userinfo(&self.blank_quoted_fragments(&self.blank(message)))
    }

    fn blank_quoted_fragments(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find(['`', '"']) {
            let quote = &rest[open..=open];
            let inside = &rest[open + 1..];
            let Some(len) = inside.find(quote) else {
                break;
            };
            let fragment = &inside[..len];
            out.push_str(&rest[..=open]);
            out.push_str(if self.holds(fragment) {
                BLANK
            } else {
                fragment
            });
            out.push_str(quote);
            rest = &inside[len + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Whether `fragment` is long enough to matter and part of a secret.
    fn holds(&self, fragment: &str) -> bool {
        fragment.chars().count() >= MIN_QUOTED_FRAGMENT
            && self.secrets.iter().any(|secret| secret.contains(fragment))
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

/// What of a URL is secret: its user and password.
pub(crate) fn url_secrets(url: &reqwest::Url) -> Vec<String> {
    [url.username(), url.password().unwrap_or("")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// What of request headers is secret: the value of every header whose name
/// says it carries a credential, and the token alone of a value such as
/// `Bearer abc`, which may show up elsewhere.
pub(crate) fn header_secrets(headers: &[(HeaderName, HeaderValue)]) -> Vec<String> {
    let mut secrets = Vec::new();
    for (name, value) in headers {
        if carries_credentials(name.as_str())
            && let Ok(value) = value.to_str()
        {
            secrets.push(value.to_string());
            if let Some((_, token)) = value.split_once(' ') {
                secrets.push(token.to_string());
            }
        }
    }
    secrets
}

/// `a"b\c` → `a\"b\\c`: a string as `{:?}` writes it, without the quotes.
fn debug_escaped(secret: &str) -> String {
    let quoted = format!("{secret:?}");
    quoted[1..quoted.len() - 1].to_string()
}

/// `text` as it may be printed or logged: the user and password of every
/// URL in it blanked (`redis://[redacted]@host`), and every `password=`
/// value of a connection string. Whatever prints a URL, or a driver's error
/// that may quote one, goes through it (the start-up error, every log
/// line).
pub fn without_credentials(text: &str) -> String {
    blank_password_values(&blank_userinfo(text))
}

/// `password=x` → `password=[redacted]` (any case; a value in single
/// quotes is blanked to its closing quote), as in a Postgres connection
/// string or a URL's query.
fn blank_password_values(text: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // ASCII lower-casing keeps every byte where it was.
    while let Some(at) = rest.to_ascii_lowercase().find(KEY) {
        let (head, value) = rest.split_at(at + KEY.len());
        out.push_str(head);
        out.push_str(BLANK);
        let end = match value.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(value.len(), |close| close + 2),
            None => value
                .find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '`' | ','))
                .unwrap_or(value.len()),
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// `https://user:password@host` → `https://[redacted]@host` for every URL
/// in `text`. The userinfo ends at the last `@` before the URL does (at a
/// space, a quote, `?` or `#`); a `/` does not end it, so a password with
/// a slash is blanked whole.
fn blank_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '?' | '#'))
            .unwrap_or(tail.len());
        rest = match tail[..end].rfind('@') {
            Some(userinfo) if &tail[..userinfo] != BLANK => {
                out.push_str(BLANK);
                &tail[userinfo..]
            }
            _ => tail,
        };
    }
    out.push_str(rest);
    out
}

fn carries_credentials(header: &str) -> bool {
    const WORDS: [&str; 7] = [
        "auth", "token", "key", "secret", "cookie", "session", "password",
    ];
    let header = header.to_ascii_lowercase();
    WORDS.iter().any(|word| header.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(vec![
            "admin:S3cr3t".into(),
            "5 S3cr3tunit".into(),
            "pa\"ss".into(),
        ])
    }

    #[test]
    fn errors_lose_whole_escaped_and_quoted_parts_of_secrets() {
        let redactor = redactor();
        assert_eq!(
            redactor.blank_error("`https://admin:S3cr3t@db:99999/` is not a valid URL"),
            "`https://[redacted]@db:99999/` is not a valid URL"
        );
        assert_eq!(
            redactor.blank_error(r#"invalid type: string "pa\"ss", expected u16"#),
            r#"invalid type: string "[redacted]", expected u16"#
        );
        assert_eq!(
            redactor.blank_error(
                r#"`5 S3cr3tunit` is not a duration (unknown time unit "S3cr3tunit")"#
            ),
            r#"`[redacted]` is not a duration (unknown time unit "[redacted]")"#
        );
        // Short words of the message stay, even when a secret holds them.
        assert_eq!(
            redactor.blank_error("unknown field `adm`, expected `url`"),
            "unknown field `adm`, expected `url`"
        );
    }

    #[test]
    fn what_is_printed_loses_every_password_of_a_url_or_connection_string() {
        assert_eq!(
            without_credentials("--cluster redis://:s3cret@10.0.0.1:6379/0: refused"),
            "--cluster redis://[redacted]@10.0.0.1:6379/0: refused"
        );
        assert_eq!(
            without_credentials("postgres://u@db/x?sslmode=disable&Password=s3cret&a=b"),
            "postgres://[redacted]@db/x?sslmode=disable&Password=[redacted]&a=b"
        );
        assert_eq!(
            without_credentials("host=db password='se cret' user=u; password=x"),
            "host=db password=[redacted] user=u; password=[redacted]"
        );
        assert_eq!(without_credentials("no password here"), "no password here");
    }

    #[test]
    fn errors_lose_the_userinfo_of_any_url() {
        let none = Redactor::default();
        assert_eq!(
            none.blank_error("`https://bob:hunter2@db.internal:99999/x?a=b@c` is not valid"),
            "`https://[redacted]@db.internal:99999/x?a=b@c` is not valid"
        );
        assert_eq!(
            none.blank_error("bad: http://u:p/w@h/ and ftp://host/a"),
            "bad: http://[redacted]@h/ and ftp://host/a"
        );
        assert_eq!(
            none.blank_error("no url, just a@b and `://`"),
            "no url, just a@b and `://`"
        );
    }
}
