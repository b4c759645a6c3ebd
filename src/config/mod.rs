//! The config file: what Pulse watches, as code. `pulse.toml` is read into
//! typed structs; anything wrong in it is refused with the file, line,
//! column and a plain message, and nothing of a bad file is ever applied.
//! `watch` re-reads the file when it changes. The config knows nothing of
//! how checks run: `checks` turns a `Config` into running probes. It does
//! say who may see each check (`Publicity`): `public = true` on a check,
//! or its group listed in `[public]`.

mod access;
mod alerts;
mod env;
mod error;
mod file;
mod kinds;
mod maintenance;
mod watch;

pub(crate) use crate::probes::ProbeSpec;
pub(crate) use access::{
    AccessSpec, MAX_SESSION_LIFETIME, Scope, TokenSpec, UserSpec, is_plain_name,
};
pub(crate) use alerts::{AlertRule, AlertsSpec, NotifierSpec};
pub(crate) use error::ConfigError;
pub use file::{ConfigFile, DEFAULT_MAX_BYTES};
pub(crate) use kinds::{Defaults, PublicSection};
pub(crate) use watch::watch;

use crate::kind_keys::BadKeys;
use crate::redact::Redactor;
use crate::status::{CheckId, Publicity};
use kinds::Common;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// A whole, valid config.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub(crate) defaults: Defaults,
    pub(crate) checks: Vec<CheckSpec>,
    /// `[access]`: users, tokens, trusted proxies; `None` when absent.
    pub(crate) access: Option<AccessSpec>,
    /// `[alerts]` and `[[notifier]]`; each check's own rule is on its spec.
    pub(crate) alerts: AlertsSpec,
    /// `[[maintenance]]`: when checks' results do not count against them.
    pub(crate) maintenance: Vec<crate::maintenance::Window>,
    /// Every value `${…}` substituted: never to be published.
    pub(crate) secrets: Vec<String>,
    /// The start of the SHA-256 of the file's text: what the replicas of a
    /// cluster compare to tell that they read the same config. Of the text
    /// only, not of the values substituted into it, so that nothing of a
    /// secret leaves the process.
    pub(crate) fingerprint: String,
}

/// What a config's `fingerprint` is.
pub(crate) fn fingerprint_of(text: &str) -> String {
    use sha2::Digest;
    crate::text::hex(&sha2::Sha256::digest(text.as_bytes())[..6])
}

/// One `[[check]]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CheckSpec {
    /// From the name: lower case, runs of other characters as `-`. Stable
    /// while the name is, so a reload keeps a renamed-nothing check's card.
    pub(crate) id: CheckId,
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) interval: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) probe: ProbeSpec,
    /// Whether the public status page shows it, and with what sentence.
    pub(crate) publicity: Publicity,
    /// When its failures are told, and to whom.
    pub(crate) alert: AlertRule,
}

/// What a check says about being public, before `[public]` is known (it
/// may come after the checks in the file).
struct PublicChoice {
    public: Option<bool>,
    detail: Option<String>,
}

impl PublicChoice {
    /// The check's own `public` wins; unset, its group decides.
    fn publicity(self, group: &str, public: &PublicSection) -> Publicity {
        let in_public_group = || public.groups.iter().any(|g| g == group);
        match self.public.unwrap_or_else(in_public_group) {
            true => Publicity::Public {
                detail: self.detail,
            },
            false => Publicity::Private,
        }
    }
}

/// The group of a check that names none.
pub(crate) const DEFAULT_GROUP: &str = "checks";

/// Reads and validates the config file, substituting `${…}` from the
/// process environment, off the async runtime (reading a file blocks, and
/// so does any `ca_file` it names); also the text it read, to hand to
/// `watch` so that a change made in between is not missed.
pub(crate) async fn load_for_watching(file: &ConfigFile) -> Result<(Config, String), ConfigError> {
    let file = file.clone();
    let name = file.name();
    tokio::task::spawn_blocking(move || {
        let text = read(&file)?;
        Ok((parse_file(&file, &text)?, text))
    })
    .await
    .unwrap_or_else(|e| {
        Err(ConfigError::whole_file(
            &name,
            format!("reading the config failed: {e}"),
        ))
    })
}

/// The text of the config file, or why it cannot be had: not a regular
/// file, larger than allowed, unreadable, or not UTF-8.
fn read(file: &ConfigFile) -> Result<String, ConfigError> {
    let name = file.name();
    let bytes = file::read_bytes(&file.path, file.max_bytes)
        .map_err(|why| ConfigError::whole_file(&name, format!("cannot read the config: {why}")))?;
    String::from_utf8(bytes).map_err(|e| {
        // Pointing at the first bad byte tells a stray binary file from
        // one odd character in a real config.
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).expect("valid up to there");
        ConfigError::at(
            &name,
            valid,
            valid.len()..valid.len(),
            "cannot read the config: not UTF-8 text (save it as UTF-8)",
        )
    })
}

fn parse_file(file: &ConfigFile, text: &str) -> Result<Config, ConfigError> {
    parse(file, text, &|name| std::env::var(name).ok())
}

/// Validates a config text read from `file`, which names it in errors,
/// holds the files it names (`ca_file`) and bounds what is read of them;
/// `lookup` answers `${NAME}`.
///
/// Every error about a config's content leaves through here, and leaves
/// with each value substituted from the environment, and the user and
/// password of any URL, blanked: error texts quote the values they refuse
/// (the TOML parser, serde, our own checks), and they are logged, printed
/// and shown on every dashboard.
pub fn parse(
    file: &ConfigFile,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut substituted = Vec::new();
    parse_substituting(file, text, lookup, &mut substituted).map_err(|error| ConfigError {
        message: Redactor::new(substituted).blank_error(&error.message),
        ..error
    })
}

/// `parse`, keeping each substituted value in `substituted` as soon as it
/// is known, so that a failure at any later point can blank them.
fn parse_substituting(
    source: &ConfigFile,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    substituted: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    let file = &source.name();
    let fail = |span: Range<usize>, message: String| ConfigError::at(file, text, span, message);
    let from_toml = |e: toml::de::Error| ConfigError::from_toml(file, text, &e);

    let root = DeTable::parse(text).map_err(from_toml)?;
    let root_span = root.span();
    let mut root = Spanned::new(root_span.clone(), DeValue::Table(root.into_inner()));
    env::expand_all(&mut root, lookup, substituted).map_err(|e| fail(e.span, e.message))?;
    let DeValue::Table(table) = root.into_inner() else {
        unreachable!("a document is a table")
    };

    let mut config = Config {
        defaults: Defaults::default(),
        checks: Vec::new(),
        access: None,
        alerts: AlertsSpec::default(),
        maintenance: Vec::new(),
        secrets: substituted.clone(),
        fingerprint: fingerprint_of(text),
    };
    let mut maintenance_tables = Vec::new();
    let mut alerts_table = (alerts::AlertsTable::default(), 0..0);
    let mut notifiers = Vec::new();
    let mut said_of_alerts = Vec::new();
    let mut first_line_of: HashMap<CheckId, (String, Range<usize>)> = HashMap::new();
    let mut public = PublicSection::default();
    let mut choices = Vec::new();
    for (key, value) in table {
        match key.get_ref().as_ref() {
            "defaults" => {
                config.defaults =
                    Defaults::deserialize(ValueDeserializer::from(value)).map_err(from_toml)?;
            }
            "public" => {
                public = PublicSection::deserialize(ValueDeserializer::from(value))
                    .map_err(from_toml)?;
            }
            "check" => {
                let span = value.span();
                let DeValue::Array(items) = value.into_inner() else {
                    return Err(fail(
                        span,
                        "`check` must be a list of tables: write each one as [[check]]".into(),
                    ));
                };
                for item in items {
                    let check =
                        parse_check(item, source, &config.secrets, &fail).map_err(|e| match e {
                            Failure::Toml(e) => from_toml(e),
                            Failure::Config(e) => e,
                        })?;
                    if let Some((earlier, at)) = first_line_of.get(&check.spec.id) {
                        let (line, _) = error::line_and_column(text, at.start);
                        let message = if *earlier == check.spec.name {
                            format!(
                                "a check named `{earlier}` is already defined at line {line}; names must be unique"
                            )
                        } else {
                            format!(
                                "the name `{}` is too close to `{earlier}` (line {line}): both make the id `{}`",
                                check.spec.name, check.spec.id
                            )
                        };
                        return Err(fail(check.name_span, message));
                    }
                    first_line_of.insert(
                        check.spec.id.clone(),
                        (check.spec.name.clone(), check.name_span.clone()),
                    );
                    said_of_alerts.push((check.alert, check.name_span));
                    config.checks.push(check.spec);
                    choices.push(check.public);
                }
            }
            "access" => {
                let span = value.span();
                let table = access::AccessTable::deserialize(ValueDeserializer::from(value))
                    .map_err(from_toml)?;
                let spec = table
                    .resolve(source.dir(), source.max_bytes)
                    .map_err(|message| fail(span, message))?;
                config.access = Some(spec);
            }
            "alerts" => {
                let span = value.span();
                let table = alerts::AlertsTable::deserialize(ValueDeserializer::from(value))
                    .map_err(from_toml)?;
                alerts_table = (table, span);
            }
            "notifier" => {
                let span = value.span();
                let DeValue::Array(items) = value.into_inner() else {
                    return Err(fail(
                        span,
                        "`notifier` must be a list of tables: write each one as [[notifier]]"
                            .into(),
                    ));
                };
                for item in items {
                    let notifier = parse_notifier(item, source, &fail).map_err(|e| match e {
                        Failure::Toml(e) => from_toml(e),
                        Failure::Config(e) => e,
                    })?;
                    notifiers.push(notifier);
                }
            }
            "maintenance" => {
                let span = value.span();
                let DeValue::Array(items) = value.into_inner() else {
                    return Err(fail(
                        span,
                        "`maintenance` must be a list of tables: write each one as [[maintenance]]"
                            .into(),
                    ));
                };
                for item in items {
                    let span = item.span();
                    let table =
                        maintenance::MaintenanceTable::deserialize(ValueDeserializer::from(item))
                            .map_err(from_toml)?;
                    maintenance_tables.push((table, span));
                }
            }
            other => {
                return Err(fail(
                    key.span(),
                    format!(
                        "unknown key `{other}`; a config has `[defaults]`, `[access]`, `[public]`, `[alerts]`, `[[notifier]]`, `[[maintenance]]` and `[[check]]` tables"
                    ),
                ));
            }
        }
    }
    for (spec, choice) in config.checks.iter_mut().zip(choices) {
        spec.publicity = choice.publicity(&spec.group, &public);
    }
    keep_push_tokens_secret(&mut config, &first_line_of, &fail)?;
    find_group_members(&mut config, &first_line_of, &fail)?;
    let (table, table_span) = alerts_table;
    let (said, spans): (Vec<_>, Vec<_>) = said_of_alerts.into_iter().unzip();
    let checks: Vec<_> = config
        .checks
        .iter()
        .zip(said)
        .map(|(spec, said)| (spec.id.clone(), spec.name.clone(), spec.group.clone(), said))
        .collect();
    let (spec, rules) =
        alerts::resolve(table, notifiers, &checks).map_err(|(check, message)| {
            let span = check.map_or(table_span, |i| spans[i].clone());
            fail(span, message)
        })?;
    config.alerts = spec;
    for (check, rule) in config.checks.iter_mut().zip(rules) {
        check.alert = rule;
    }
    let named: Vec<_> = config
        .checks
        .iter()
        .map(|c| (c.id.clone(), c.name.clone(), c.group.clone()))
        .collect();
    for (table, span) in maintenance_tables {
        let window = table
            .resolve(&named)
            .map_err(|message| fail(span, message))?;
        config.maintenance.push(window);
    }
    Ok(config)
}

/// A push check's token is its password: each is kept with the secrets,
/// so that no page, log or error shows it, and no two checks share one
/// (a ping must name exactly one check).
fn keep_push_tokens_secret(
    config: &mut Config,
    first_line_of: &HashMap<CheckId, (String, Range<usize>)>,
    fail: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for check in &config.checks {
        let ProbeSpec::Push(push) = &check.probe else {
            continue;
        };
        if let Some(other) = owner.insert(&push.token.0, &check.name) {
            let span = first_line_of[&check.id].1.clone();
            return Err(fail(
                span,
                format!(
                    "check `{}` has the same push token as `{other}`; each needs its own",
                    check.name
                ),
            ));
        }
    }
    let tokens: Vec<String> = owner.into_keys().map(String::from).collect();
    config.secrets.extend(tokens);
    Ok(())
}

/// Each group's members, from the names it gives to the checks' ids: a
/// name no check has, the group itself, or another group is refused.
fn find_group_members(
    config: &mut Config,
    first_line_of: &HashMap<CheckId, (String, Range<usize>)>,
    fail: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let kinds: HashMap<String, (CheckId, bool)> = config
        .checks
        .iter()
        .map(|c| {
            let is_group = matches!(c.probe, ProbeSpec::Group(_));
            (c.name.clone(), (c.id.clone(), is_group))
        })
        .collect();
    for check in &mut config.checks {
        let ProbeSpec::Group(group) = &mut check.probe else {
            continue;
        };
        let refuse = |message: String| fail(first_line_of[&check.id].1.clone(), message);
        let mut members = Vec::new();
        for name in &group.checks {
            match kinds.get(name) {
                None => {
                    return Err(refuse(format!(
                        "group `{}` names `{name}`, which is no check of this file",
                        check.name
                    )));
                }
                Some((_, true)) => {
                    return Err(refuse(format!(
                        "group `{}` names `{name}`, a group: a group's members are checks that look at something",
                        check.name
                    )));
                }
                Some((id, false)) => members.push(id.clone()),
            }
        }
        group.members = members;
    }
    Ok(())
}

struct Parsed {
    spec: CheckSpec,
    name_span: Range<usize>,
    public: PublicChoice,
    alert: alerts::CheckAlert,
}

enum Failure {
    Toml(toml::de::Error),
    Config(ConfigError),
}

impl From<toml::de::Error> for Failure {
    fn from(e: toml::de::Error) -> Self {
        Failure::Toml(e)
    }
}

fn parse_check(
    item: Spanned<DeValue<'_>>,
    source: &ConfigFile,
    secrets: &[String],
    fail: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<Parsed, Failure> {
    let span = item.span();
    let DeValue::Table(mut table) = item.into_inner() else {
        return Err(Failure::Config(fail(
            span,
            "each check must be a table: write it as [[check]]".into(),
        )));
    };
    let Some(kind) = table.remove("kind") else {
        return Err(Failure::Config(fail(
            span,
            format!(
                "this check has no `kind`; add kind = {}",
                crate::probes::names_listed()
            ),
        )));
    };
    let mut common = DeTable::new();
    for key in Common::KEYS {
        if let Some((key, value)) = table.remove_entry(key) {
            common.insert(key, value);
        }
    }
    let common = Common::deserialize(as_value(span.clone(), common))?;
    let rest = as_value(span.clone(), table);
    let known = kind
        .get_ref()
        .as_str()
        .filter(|k| crate::probes::NAMES.contains(k));
    let Some(kind_name) = known else {
        return Err(Failure::Config(fail(
            kind.span(),
            format!("`kind` must be {}", crate::probes::names_listed()),
        )));
    };
    let files = |file: &std::path::Path| read_roots(source, file);
    let probe =
        ProbeSpec::read(kind_name, rest, &files).map_err(|bad| bad_keys(bad, &span, fail))?;
    // Names, groups and public details are published as they are (and the
    // id is made from the name), so they must not carry a secret.
    let shown = [
        (Some(&common.name), "names and groups"),
        (common.group.as_ref(), "names and groups"),
        (common.public_detail.as_ref(), "public details"),
    ];
    for (text, what) in shown {
        let Some(text) = text else { continue };
        if secrets
            .iter()
            .any(|secret| text.get_ref().contains(secret.as_str()))
        {
            return Err(Failure::Config(fail(
                text.span(),
                format!("{what} are shown to everyone: they cannot hold a value from `${{…}}`"),
            )));
        }
    }
    let name_span = common.name.span();
    let name = common.name.into_inner();
    let id = id_from_name(&name).ok_or_else(|| {
        Failure::Config(fail(
            name_span.clone(),
            "a check name needs at least one letter or digit".into(),
        ))
    })?;
    Ok(Parsed {
        spec: CheckSpec {
            id,
            name,
            group: common
                .group
                .map(Spanned::into_inner)
                .filter(|g| !g.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_GROUP.to_string()),
            interval: common.interval.map(|p| p.0),
            timeout: common.timeout.map(|p| p.0),
            probe,
            publicity: Publicity::Private,
            alert: AlertRule::default(),
        },
        name_span,
        public: PublicChoice {
            public: common.public,
            detail: common
                .public_detail
                .map(Spanned::into_inner)
                .filter(|d| !d.trim().is_empty()),
        },
        alert: alerts::CheckAlert {
            alert: common.alert.unwrap_or_default(),
            depends_on: common.depends_on.unwrap_or_default(),
        },
    })
}

/// One `[[notifier]]`: its `name` and `kind` here, the rest of its keys
/// read by its kind (`crate::notifiers`).
fn parse_notifier(
    item: Spanned<DeValue<'_>>,
    source: &ConfigFile,
    fail: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<NotifierSpec, Failure> {
    let span = item.span();
    let refuse = |message: &str| Failure::Config(fail(span.clone(), message.to_string()));
    let DeValue::Table(mut table) = item.into_inner() else {
        return Err(refuse(
            "each notifier must be a table: write it as [[notifier]]",
        ));
    };
    let mut text_of = |key: &str| match table.remove(key).map(Spanned::into_inner) {
        Some(DeValue::String(text)) => Ok(text.trim().to_string()),
        Some(_) => Err(refuse(&format!("a notifier's `{key}` is a text"))),
        None => Ok(String::new()),
    };
    let name = text_of("name")?;
    let kind = text_of("kind")?;
    if name.is_empty() {
        return Err(refuse("a notifier needs a name"));
    }
    if kind.is_empty() {
        return Err(refuse(
            "this notifier has no `kind`; add kind = \"webhook\", \"slack\", \"email\" or another",
        ));
    }
    let files = |file: &std::path::Path| read_roots(source, file);
    let notifier = crate::notifiers::read(&kind, as_value(span.clone(), table), &files)
        .map_err(|bad| bad_keys(bad, &span, fail))?;
    Ok(NotifierSpec {
        name,
        notifier: notifier.into(),
    })
}

/// A kind's refusal of its keys as the config's error: at the key or
/// value it names, else at the whole table (`table`).
fn bad_keys(
    bad: BadKeys,
    table: &Range<usize>,
    fail: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Failure {
    match bad {
        BadKeys::Keys(e) => Failure::Toml(e),
        BadKeys::Invalid(message) => Failure::Config(fail(table.clone(), message)),
        BadKeys::At(span, message) => Failure::Config(fail(span, message)),
    }
}

fn as_value(span: Range<usize>, table: DeTable<'_>) -> ValueDeserializer<'_> {
    ValueDeserializer::from(Spanned::new(span, DeValue::Table(table)))
}

/// The certificates of a PEM file named in the config (a `ca_file`),
/// relative to the config's folder and bounded like the config itself.
fn read_roots(
    source: &ConfigFile,
    file: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path: PathBuf = source.dir().join(file);
    let pem = file::read_bytes(&path, source.max_bytes)
        .map_err(|why| format!("cannot read ca_file {}: {why}", path.display()))?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem)
        .map(|cert| cert.map(CertificateDer::into_owned))
        .collect();
    let certs = certs.map_err(|e| format!("ca_file {} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("ca_file {} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// `Shop API (EU)` → `shop-api-eu`.
pub(crate) fn id_from_name(name: &str) -> Option<CheckId> {
    let mut id = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            id.extend(c.to_lowercase());
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_end_matches('-');
    (!id.is_empty()).then(|| CheckId(id.to_string()))
}

#[cfg(test)]
mod tests;
