//! Postgres checks: connect, run one query (`SELECT 1` unless the check
//! says otherwise), and compare the first column of its first row with
//! `expect`. A connection is made for each run and closed after it: a
//! check never holds a connection of the server's between runs, where it
//! would count against `max_connections` and hide a server that takes no
//! new ones. The password is the URL's and is kept out of every text.

use super::{Finding, Kind};
use crate::fields::{DatabaseUrl, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio_postgres::SimpleQueryMessage;
use toml::de::ValueDeserializer;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostgresSpec {
    /// `postgres://user:${PASSWORD}@host:port/database`.
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

pub(crate) struct PostgresProbe {
    config: tokio_postgres::Config,
    query: String,
    expect: Option<String>,
    degraded_above: Option<Duration>,
}

impl Kind for PostgresProbe {
    const NAME: &'static str = "postgres";
    const CHECK_KIND: CheckKind = CheckKind::Postgres;
    type Spec = PostgresSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<PostgresSpec, BadKeys> {
        let spec: PostgresSpec = keys(said)?;
        if !matches!(spec.url.0.scheme(), "postgres" | "postgresql") {
            return Err("a `postgres` check's url starts with postgres:// or postgresql://".into());
        }
        if spec.query.trim().is_empty() {
            return Err("`query` must not be empty".into());
        }
        Ok(spec)
    }

    fn secrets(spec: &PostgresSpec) -> Vec<String> {
        crate::redact::url_secrets(&spec.url.0)
    }

    fn probe(spec: &PostgresSpec) -> Result<Self, String> {
        let mut config: tokio_postgres::Config = spec
            .url
            .0
            .as_str()
            .parse()
            .map_err(|e| format!("the url is not one Postgres takes: {e}"))?;
        config.application_name("pulse");
        Ok(PostgresProbe {
            config,
            query: spec.query.clone(),
            expect: spec.expect.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let (client, connection) = match self.config.connect(tokio_postgres::NoTls).await {
            Ok(connected) => connected,
            Err(e) => return Finding::failed(&e, || format!("could not connect: {}", said(&e))),
        };
        // The connection's messages are read by its own task, which ends
        // when the client is dropped at the end of this run.
        let reading = tokio::spawn(connection);
        let answered = client.simple_query(&self.query).await;
        drop(client);
        reading.abort();
        let messages = match answered {
            Ok(messages) => messages,
            Err(e) => return Finding::down(format!("the query failed: {}", said(&e))),
        };
        let first = first_value(&messages);
        let took = format!("in {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
        let shown = first.as_deref().map_or("no rows".to_string(), |v| format!("{v:?}"));
        if let Some(expected) = &self.expect
            && first.as_deref() != Some(expected.as_str())
        {
            return Finding::down(format!("answered {shown} {took}, expected {expected:?}"));
        }
        let detail = format!("answered {shown} {took}");
        Finding::answered(detail, started.elapsed(), self.degraded_above)
    }
}

/// The first column of the first row, as the server wrote it.
fn first_value(messages: &[SimpleQueryMessage]) -> Option<String> {
    messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
        _ => None,
    })
}

/// What the server said (its message, not the driver's wrapping), else
/// the driver's own words with what caused them.
fn said(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}
