//! Postgres checks: connect, run one query (`SELECT 1` unless the check
//! says otherwise), and compare the first column of its first row with
//! `expect`. A connection is made for each run and closed after it: a
//! check never holds a connection of the server's between runs, where it
//! would count against `max_connections` and hide a server that takes no
//! new ones. The password is the URL's and is kept out of every text.

use super::database::{self, QuerySpec};
use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use std::time::{Duration, Instant};
use futures::StreamExt;
use tokio_postgres::SimpleQueryMessage;
use toml::de::ValueDeserializer;

pub(crate) struct PostgresProbe {
    config: tokio_postgres::Config,
    query: String,
    expect: Option<String>,
    degraded_above: Option<Duration>,
}

impl Kind for PostgresProbe {
    const NAME: &'static str = "postgres";
    const CHECK_KIND: CheckKind = CheckKind::Postgres;
    type Spec = QuerySpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<QuerySpec, BadKeys> {
        let spec: QuerySpec = keys(said)?;
        spec.check("postgres", &["postgres", "postgresql"])?;
        // Connections are plain (no TLS connector yet): a URL that asks
        // for TLS would be down on every run, so it is refused here.
        let asks_tls = spec.url.0.query_pairs().any(|(key, value)| {
            key == "sslmode" && matches!(&*value, "require" | "verify-ca" | "verify-full")
        });
        if asks_tls {
            return Err("TLS to Postgres is not supported yet: remove `sslmode` from the url, or use `prefer`/`disable`".into());
        }
        Ok(spec)
    }

    fn secrets(spec: &QuerySpec) -> Vec<String> {
        crate::redact::url_secrets(&spec.url.0)
    }

    fn probe(spec: &QuerySpec) -> Result<Self, String> {
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
        let answered = first_value(&client, &self.query).await;
        drop(client);
        reading.abort();
        match answered {
            Ok(first) => database::judge(first, self.expect.as_deref(), started, self.degraded_above),
            Err(e) => Finding::down(format!("the query failed: {}", said(&e))),
        }
    }
}

/// The first column of the first row, as the server wrote it; the rest
/// of the answer is never read (a query may return millions of rows).
async fn first_value(
    client: &tokio_postgres::Client,
    query: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let rows = client.simple_query_raw(query).await?;
    futures::pin_mut!(rows);
    while let Some(message) = rows.next().await {
        if let SimpleQueryMessage::Row(row) = message? {
            return Ok(Some(row.get(0).unwrap_or("NULL").to_string()));
        }
    }
    Ok(None)
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
