//! `[access]`: who may see the private dashboard. Users with argon2id
//! password hashes, named tokens stored as SHA-256 hashes, the proxies
//! whose user header is believed, and the `Host` names served. Everything
//! is validated here, while the file is read, so a typo is an error with
//! its line and the running gate (`crate::access`) never re-checks it.
//!
//! ```toml
//! [access]
//! session_lifetime = "12h"
//! users = [{ name = "ada", password_hash = "$argon2id$v=19$…" }]   # pulse hash-password
//! tokens = [{ name = "prometheus", sha256 = "…", scope = "metrics" }] # pulse new-token
//! trusted_proxies = ["10.0.0.0/8"]
//! user_header = "X-Forwarded-User"
//! allowed_hosts = ["status.example.com"]
//! ```

use super::file::read_bytes;
use crate::fields::Period;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest session key accepted: 256 bits, as HMAC-SHA256 wants.
pub(crate) const MIN_SESSION_KEY_BYTES: usize = 32;
/// Where the session key is kept when the config names no key: beside the
/// config file, created with a random key on first use, so sessions
/// outlive restarts with nothing to set up.
pub(crate) const DEFAULT_SESSION_KEY_FILE: &str = "pulse-session.key";
const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The longest `session_lifetime`: a cluster keeps each sign-out this long
/// (and a little more), whatever any replica's config says at the moment.
pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// `[access]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessTable {
    #[serde(default)]
    users: Vec<UserSpec>,
    #[serde(default)]
    tokens: Vec<TokenSpec>,
    session_key: Option<String>,
    session_key_file: Option<PathBuf>,
    session_lifetime: Option<Period>,
    #[serde(default)]
    trusted_proxies: Vec<Cidr>,
    user_header: Option<HeaderName>,
    #[serde(default)]
    allowed_hosts: Vec<HostName>,
}

/// `[access]`, validated, with the session key read.
#[derive(Clone, PartialEq)]
pub struct AccessSpec {
    pub(crate) users: Vec<UserSpec>,
    pub(crate) tokens: Vec<TokenSpec>,
    /// Never shown anywhere: it signs every session.
    pub(crate) session_key: Vec<u8>,
    pub(crate) session_lifetime: Duration,
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    /// Lower case, as `http` names headers.
    pub(crate) user_header: Option<String>,
    /// Lower case, without a port.
    pub(crate) allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for AccessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessSpec")
            .field("users", &self.users.len())
            .field("tokens", &self.tokens.len())
            .field("session_key", &"(hidden)")
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub(crate) name: UserName,
    pub(crate) password_hash: PasswordHash,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub(crate) name: UserName,
    pub(crate) sha256: TokenHash,
    pub(crate) scope: Scope,
}

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything a signed-in user sees: pages, the API, the stream.
    Read,
    /// What `read` covers, and what a signed-in user may do (the actions:
    /// a notifier's test message, incidents).
    Write,
    /// `/metrics` only, for Prometheus.
    Metrics,
}

impl AccessTable {
    /// Checks what spans cannot show (names unique, a key for the
    /// sessions) and reads or creates the session key file, relative to
    /// `dir` (the config file's directory).
    pub(super) fn resolve(self, dir: &Path, max_bytes: u64) -> Result<AccessSpec, String> {
        for (i, user) in self.users.iter().enumerate() {
            if self.users[..i].iter().any(|u| u.name == user.name) {
                return Err(format!("user `{}` is listed twice", user.name.0));
            }
        }
        for (i, token) in self.tokens.iter().enumerate() {
            if self.tokens[..i].iter().any(|t| t.name == token.name) {
                return Err(format!("token `{}` is listed twice", token.name.0));
            }
        }
        if self.user_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(
                "`user_header` needs `trusted_proxies`: the header is believed only from those addresses"
                    .into(),
            );
        }
        if self
            .session_lifetime
            .is_some_and(|p| p.0 > MAX_SESSION_LIFETIME)
        {
            return Err(
                "`session_lifetime` must be at most 30 days: a signed-out session is remembered that long"
                    .into(),
            );
        }
        let session_key = match (self.session_key, self.session_key_file) {
            (Some(_), Some(_)) => {
                return Err("give `session_key` or `session_key_file`, not both".into());
            }
            (Some(key), None) if key.len() < MIN_SESSION_KEY_BYTES => {
                return Err(format!(
                    "`session_key` must be at least {MIN_SESSION_KEY_BYTES} characters (random)"
                ));
            }
            (Some(key), None) => key.into_bytes(),
            (None, file) => {
                let path = dir.join(file.unwrap_or_else(|| DEFAULT_SESSION_KEY_FILE.into()));
                session_key_from_file(&path, max_bytes)?
            }
        };
        Ok(AccessSpec {
            users: self.users,
            tokens: self.tokens,
            session_key,
            session_lifetime: self
                .session_lifetime
                .map_or(DEFAULT_SESSION_LIFETIME, |p| p.0),
            trusted_proxies: self.trusted_proxies.into_iter().map(|c| c.0).collect(),
            user_header: self.user_header.map(|h| h.0),
            allowed_hosts: self.allowed_hosts.into_iter().map(|h| h.0).collect(),
        })
    }
}

/// The key in `path`, created (owner-only) with a random key if the file
/// does not exist yet. Kept in a file rather than made anew at each start:
/// a restart must not sign everyone out.
fn session_key_from_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    if !path.exists() {
        create_session_key_file(path)?;
    }
    let key = read_bytes(path, max_bytes)
        .map_err(|why| format!("cannot read session_key_file {}: {why}", path.display()))?;
    let key = key.trim_ascii().to_vec();
    if key.len() < MIN_SESSION_KEY_BYTES {
        return Err(format!(
            "session_key_file {} holds fewer than {MIN_SESSION_KEY_BYTES} bytes",
            path.display()
        ));
    }
    Ok(key)
}

fn create_session_key_file(path: &Path) -> Result<(), String> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| format!("no random source: {e}"))?;
    let key = base64::engine::general_purpose::STANDARD.encode(random);
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(key.as_bytes()));
    match created {
        Ok(()) => {
            tracing::info!(file = %path.display(), "created a session key");
            Ok(())
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "cannot create session_key_file {}: {e}",
            path.display()
        )),
    }
}

/// A user or token name: shown on the page and in logs, and part of the
/// signed session, so plain characters only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserName(pub String);

impl<'de> Deserialize<'de> for UserName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if is_plain_name(&name) {
            Ok(UserName(name))
        } else {
            Err(de::Error::custom(
                "a name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`",
            ))
        }
    }
}

/// Whether `name` may name a user: also the rule for names a trusted
/// proxy sends.
pub fn is_plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// An argon2id hash in PHC form, as `pulse hash-password` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PasswordHash(pub String);

impl<'de> Deserialize<'de> for PasswordHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The value is not quoted back: it is a secret of sorts.
        let parsed = argon2::PasswordHash::new(&text).map_err(|_| {
            de::Error::custom("not a password hash; make one with `pulse hash-password`")
        })?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(de::Error::custom(
                "only argon2id hashes are accepted; make one with `pulse hash-password`",
            ));
        }
        Ok(PasswordHash(text))
    }
}

/// A token's SHA-256, 64 hex digits, as `pulse new-token` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenHash(pub [u8; 32]);

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut hash = [0u8; 32];
        let digits = text.as_bytes();
        let valid = digits.len() == 64
            && digits.chunks(2).zip(hash.iter_mut()).all(|(pair, byte)| {
                let pair = std::str::from_utf8(pair).unwrap_or("x");
                u8::from_str_radix(pair, 16).map(|b| *byte = b).is_ok()
            });
        if valid {
            Ok(TokenHash(hash))
        } else {
            Err(de::Error::custom(
                "`sha256` is 64 hex digits; make a token with `pulse new-token`",
            ))
        }
    }
}

/// A network in CIDR form, or one address.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cidr(ipnet::IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                de::Error::custom(format!(
                    "`{text}` is not an address or a network like \"10.0.0.0/8\""
                ))
            })?;
        Ok(Cidr(net))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HeaderName(String);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        axum::http::HeaderName::from_bytes(text.as_bytes())
            .map(|name| HeaderName(name.as_str().to_owned()))
            .map_err(|_| de::Error::custom(format!("`{text}` is not a header name")))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HostName(String);

impl<'de> Deserialize<'de> for HostName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b));
        if valid {
            Ok(HostName(text.to_ascii_lowercase()))
        } else {
            Err(de::Error::custom(format!(
                "`{text}` is not a host name (write it without scheme or port)"
            )))
        }
    }
}
