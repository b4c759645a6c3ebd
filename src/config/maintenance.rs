//! `[[maintenance]]`: when checks are being worked on and their results
//! must not count against them (see `crate::maintenance`). Validated here
//! and resolved to check ids, so the calendar never looks a name up.
//!
//! ```toml
//! [[maintenance]]                 # every Sunday, 02:00–03:00 Berlin time
//! name = "Weekly backups"
//! groups = ["shop"]
//! checks = ["Database"]
//! days = ["sunday"]               # default: every day
//! from = "02:00"
//! until = "03:00"                 # not after `from`: the next day
//! timezone = "Europe/Berlin"      # default: UTC
//!
//! [[maintenance]]                 # once
//! checks = ["Router"]
//! start = "2026-12-24 22:00"
//! end = "2026-12-25 02:00"
//! timezone = "America/New_York"
//! ```

use crate::maintenance::{Schedule, Window};
use crate::status::CheckId;
use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

/// One `[[maintenance]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaintenanceTable {
    name: Option<String>,
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    timezone: Option<String>,
    start: Option<String>,
    end: Option<String>,
    days: Option<Vec<String>>,
    from: Option<String>,
    until: Option<String>,
}

impl MaintenanceTable {
    /// `checks` are every check's (id, name, group).
    pub(super) fn resolve(self, checks: &[(CheckId, String, String)]) -> Result<Window, String> {
        let zone = zone(self.timezone.as_deref().unwrap_or("UTC"))?;
        let once = self.start.is_some() || self.end.is_some();
        let weekly = self.days.is_some() || self.from.is_some() || self.until.is_some();
        let schedule = match (once, weekly) {
            (true, true) => {
                return Err("a maintenance window is either once (`start`, `end`) or weekly (`days`, `from`, `until`), not both".into());
            }
            (false, false) => {
                return Err("a maintenance window needs `start` and `end` (once) or `from` and `until` (on `days`, or daily)".into());
            }
            (true, false) => {
                let start = civil_datetime("start", self.start.as_deref())?;
                let end = civil_datetime("end", self.end.as_deref())?;
                if end <= start {
                    return Err(format!(
                        "a maintenance window's `end` ({end}) must come after its `start` ({start})"
                    ));
                }
                Schedule::Once { start, end, zone }
            }
            (false, true) => {
                let from = clock_time("from", self.from.as_deref())?;
                let until = clock_time("until", self.until.as_deref())?;
                if from == until {
                    return Err(
                        "a maintenance window's `from` and `until` are the same time; it would never end, or never begin".into(),
                    );
                }
                Schedule::Weekly {
                    days: weekdays(self.days.as_deref())?,
                    from,
                    until,
                    zone,
                }
            }
        };
        Ok(Window {
            name: self
                .name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            checks: covered(&self.checks, &self.groups, checks)?,
            schedule,
        })
    }
}

fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!(
            "`{name}` is not a time zone; write an IANA name like \"Europe/Berlin\", or \"UTC\""
        )
    })
}

fn civil_datetime(key: &str, text: Option<&str>) -> Result<DateTime, String> {
    let text = text.ok_or_else(|| format!("a one-off maintenance window needs `{key}`"))?;
    text.parse().map_err(|_| {
        format!("`{key}` = \"{text}\" is not a date and time; write e.g. \"2026-12-24 22:00\"")
    })
}

fn clock_time(key: &str, text: Option<&str>) -> Result<Time, String> {
    let text = text.ok_or_else(|| format!("a weekly maintenance window needs `{key}`"))?;
    text.parse()
        .map_err(|_| format!("`{key}` = \"{text}\" is not a time of day; write e.g. \"02:00\""))
}

const DAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// Day names, whole or their first three letters; none given: every day.
fn weekdays(names: Option<&[String]>) -> Result<Vec<Weekday>, String> {
    let Some(names) = names else {
        return Ok(DAYS.iter().map(|(_, day)| *day).collect());
    };
    if names.is_empty() {
        return Err(
            "`days` is empty, so the window never opens; leave it out for every day".into(),
        );
    }
    names
        .iter()
        .map(|name| {
            let lower = name.trim().to_ascii_lowercase();
            DAYS.iter()
                .find(|(day, _)| *day == lower || (lower.len() == 3 && day.starts_with(&lower)))
                .map(|(_, day)| *day)
                .ok_or_else(|| format!("`{name}` is not a day; write e.g. \"sunday\" or \"sun\""))
        })
        .collect()
}

/// The ids of the named checks and of every check in the named groups.
fn covered(
    names: &[String],
    groups: &[String],
    checks: &[(CheckId, String, String)],
) -> Result<Vec<CheckId>, String> {
    if names.is_empty() && groups.is_empty() {
        return Err("a maintenance window names the `checks` or `groups` it covers".into());
    }
    if let Some(missing) = names.iter().find(|n| !checks.iter().any(|c| &c.1 == *n)) {
        return Err(format!(
            "the maintenance window covers `{missing}`, but no check has that name"
        ));
    }
    if let Some(missing) = groups.iter().find(|g| !checks.iter().any(|c| &c.2 == *g)) {
        return Err(format!(
            "the maintenance window covers group `{missing}`, but no check is in it"
        ));
    }
    Ok(checks
        .iter()
        .filter(|(_, name, group)| names.contains(name) || groups.contains(group))
        .map(|(id, _, _)| id.clone())
        .collect())
}
