//! What each `[[check]]` table may say, per kind. `deny_unknown_fields`
//! everywhere: a misspelt key is an error with a list of the right ones,
//! never a silently ignored setting.

use crate::fields::Period;
use serde::{Deserialize, Deserializer, de};
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
