//! What the database kinds share (`postgres`, `mysql`): their keys, and
//! how the answer to their query is judged. Each kind connects in its own
//! way, for one run only, and hands over the first column of the first
//! row as text.

use super::Finding;
use crate::fields::{DatabaseUrl, Period};
use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuerySpec {
    /// `scheme://user:${PASSWORD}@host:port/database`.
    pub(crate) url: DatabaseUrl,
    #[serde(default = "select_one")]
    pub(crate) query: String,
    /// What the first column of the first row must read, as text.
    pub(crate) expect: Option<String>,
    pub(crate) degraded_above: Option<Period>,
}

fn select_one() -> String {
    "SELECT 1".to_string()
}

impl QuerySpec {
    /// `Err` unless the URL has one of `schemes` and the query says something.
    pub(crate) fn check(&self, kind: &str, schemes: &[&str]) -> Result<(), String> {
        if !schemes.contains(&self.url.0.scheme()) {
            return Err(format!(
                "a `{kind}` check's url starts with {}://",
                schemes.join(":// or ")
            ));
        }
        if self.query.trim().is_empty() {
            return Err("`query` must not be empty".into());
        }
        Ok(())
    }
}

/// The query's answer (`first`: its first row's first column, `None` for
/// no rows) against `expect`, and the time since `started`.
pub(crate) fn judge(
    first: Option<String>,
    expect: Option<&str>,
    started: Instant,
    degraded_above: Option<Duration>,
) -> Finding {
    let took = started.elapsed();
    let shown = first
        .as_deref()
        .map_or("no rows".to_string(), |v| format!("{v:?}"));
    let detail = format!("answered {shown} in {:.0} ms", took.as_secs_f64() * 1000.0);
    match expect {
        Some(expected) if first.as_deref() != Some(expected) => {
            Finding::down(format!("{detail}, expected {expected:?}"))
        }
        _ => Finding::answered(detail, took, degraded_above),
    }
}
