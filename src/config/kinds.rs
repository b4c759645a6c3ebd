//! What each `[[check]]` table may say, per kind. `deny_unknown_fields`
//! everywhere: a misspelt key is an error with a list of the right ones,
//! never a silently ignored setting.

use crate::fields::{Address, Headers, HttpUrl, JsonPointer, Method, Pattern, Period, StatusSet};
use serde::{Deserialize, Deserializer, de};
use std::path::PathBuf;
use toml::Spanned;

/// `[defaults]`: what every check uses unless it says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Defaults {
    pub(crate) interval: Option<Period>,
    pub(crate) timeout: Option<Period>,
    /// How many checks may run at the same moment.
    pub(crate) concurrency: Option<Concurrency>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Concurrency(pub usize);

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        match usize::try_from(value) {
            Ok(n) if (1..=100_000).contains(&n) => Ok(Concurrency(n)),
            _ => Err(de::Error::custom(format!(
                "concurrency must be a whole number from 1 to 100000, not {value}"
            ))),
        }
    }
}

/// `[public]`: what the public status page shows besides the checks that
/// say `public = true` themselves.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublicSection {
    /// Every check of these groups is public, unless it says
    /// `public = false`.
    #[serde(default)]
    pub(crate) groups: Vec<String>,
}

/// The keys every kind shares; split off before the kind's own keys are read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Common {
    pub(crate) name: Spanned<String>,
    pub(crate) group: Option<Spanned<String>>,
    pub(crate) interval: Option<Period>,
    pub(crate) timeout: Option<Period>,
    /// Shown on the public status page; unset: as its group says.
    pub(crate) public: Option<bool>,
    /// The fixed sentence the public sees instead of the live detail.
    pub(crate) public_detail: Option<Spanned<String>>,
    /// This check's alert settings, over its group's and `[alerts]`.
    pub(crate) alert: Option<super::alerts::RuleOverrides>,
    /// Names of the checks it cannot pass without (the router, the database).
    pub(crate) depends_on: Option<Vec<String>>,
}

impl Common {
    pub(crate) const KEYS: [&'static str; 8] = [
        "name",
        "group",
        "interval",
        "timeout",
        "public",
        "public_detail",
        "alert",
        "depends_on",
    ];
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSpec {
    pub(crate) url: HttpUrl,
    #[serde(default)]
    pub(crate) method: Method,
    #[serde(default)]
    pub(crate) headers: Headers,
    #[serde(default)]
    pub(crate) expect_status: StatusSet,
    pub(crate) body_contains: Option<String>,
    pub(crate) body_regex: Option<Pattern>,
    pub(crate) json: Option<JsonExpectation>,
    /// A successful answer slower than this is `degraded`.
    pub(crate) degraded_above: Option<Period>,
    #[serde(default = "yes")]
    pub(crate) follow_redirects: bool,
}

/// The value at a JSON pointer of the response body must equal `equals`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonExpectation {
    pub(crate) pointer: JsonPointer,
    pub(crate) equals: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpSpec {
    pub(crate) address: Address,
    pub(crate) degraded_above: Option<Period>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSpec {
    pub(crate) host: NonEmpty,
    #[serde(default = "https_port")]
    pub(crate) port: u16,
    /// The name to verify, when it differs from `host` (an IP address, say).
    pub(crate) server_name: Option<NonEmpty>,
    /// Fewer days than this before expiry is `degraded`.
    #[serde(default = "two_weeks")]
    pub(crate) warn_days: u32,
    /// A PEM file of extra trusted roots (a private CA, a self-signed
    /// certificate), on top of the usual public ones. Relative to the
    /// config file.
    pub(crate) ca_file: Option<Spanned<PathBuf>>,
    /// Read from `ca_file` when the config loads.
    #[serde(skip)]
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// `kind = "push"`: pinged at `/api/push/{token}` at least every
/// `period`, give or take `grace`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushSpec {
    pub(crate) token: PushToken,
    pub(crate) period: Period,
    pub(crate) grace: Option<Period>,
}

/// The grace of a push check that names none.
pub(crate) const DEFAULT_PUSH_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The secret in a push URL: 16 to 128 of `A-Z a-z 0-9 - _`, so it needs
/// no escaping in a URL and cannot be guessed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PushToken(pub String);

impl<'de> Deserialize<'de> for PushToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let token = String::deserialize(deserializer)?;
        let plain = token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !(16..=128).contains(&token.len()) || !plain {
            return Err(de::Error::custom(
                "a push token is 16 to 128 letters, digits, `-` or `_` (`pulse new-token` makes one)",
            ));
        }
        Ok(PushToken(token))
    }
}

impl std::fmt::Debug for PushSpec {
    /// Never the token; its hash, so that a new token restarts the check
    /// (the fingerprint is made from this).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSpec")
            .field("token_sha256", &crate::text::sha256_hex(&self.token.0))
            .field("period", &self.period)
            .field("grace", &self.grace)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSpec {
    pub(crate) metric: HostMetricName,
    /// For `disk`: a path on the filesystem to watch; `/` if unset.
    pub(crate) path: Option<PathBuf>,
    /// Percent (per-core load for `load`) at which the check turns degraded.
    pub(crate) degraded: Option<f64>,
    /// … and down.
    pub(crate) down: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HostMetricName {
    Cpu,
    Memory,
    Disk,
    Load,
}

/// A string that must not be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(NonEmpty(text))
    }
}

fn yes() -> bool {
    true
}

fn https_port() -> u16 {
    443
}

fn two_weeks() -> u32 {
    14
}
