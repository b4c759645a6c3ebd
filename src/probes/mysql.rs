//! MySQL and MariaDB checks: connect, run one query (`SELECT 1` unless the
//! check says otherwise) and compare the first column of its first row
//! with `expect`. As for Postgres, a connection lives for one run only.
//! The URL's password is secret; `?require_ssl=true` in it asks for TLS,
//! verified against the public roots.

use super::database::{self, QuerySpec};
use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::CheckKind;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};
use toml::de::ValueDeserializer;

pub(crate) struct MysqlProbe {
    options: mysql_async::Opts,
    query: String,
    expect: Option<String>,
    degraded_above: Option<Duration>,
}

impl Kind for MysqlProbe {
    const NAME: &'static str = "mysql";
    const CHECK_KIND: CheckKind = CheckKind::Mysql;
    type Spec = QuerySpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<QuerySpec, BadKeys> {
        let spec: QuerySpec = keys(said)?;
        spec.check("mysql", &["mysql", "mariadb"])?;
        Ok(spec)
    }

    fn secrets(spec: &QuerySpec) -> Vec<String> {
        crate::redact::url_secrets(&spec.url.0)
    }

    fn probe(spec: &QuerySpec) -> Result<Self, String> {
        let mut url = spec.url.0.clone();
        // The driver knows one scheme.
        if url.scheme() == "mariadb" {
            let _ = url.set_scheme("mysql");
        }
        let options = mysql_async::Opts::from_url(url.as_str())
            .map_err(|e| format!("the url is not one MySQL takes: {e}"))?;
        Ok(MysqlProbe {
            options,
            query: spec.query.clone(),
            expect: spec.expect.clone(),
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let mut connection = match mysql_async::Conn::new(self.options.clone()).await {
            Ok(connection) => connection,
            Err(e) => return Finding::failed(&e, || format!("could not connect: {e}")),
        };
        let answered = connection
            .query_first::<mysql_async::Value, _>(self.query.as_str())
            .await;
        let _ = connection.disconnect().await;
        match answered {
            Ok(first) => database::judge(
                first.map(|value| text_of(&value)),
                self.expect.as_deref(),
                started,
                self.degraded_above,
            ),
            Err(e) => Finding::down(format!("the query failed: {e}")),
        }
    }
}

/// A value as the server's own client would print it.
fn text_of(value: &mysql_async::Value) -> String {
    match value {
        mysql_async::Value::NULL => "NULL".into(),
        mysql_async::Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        mysql_async::Value::Int(n) => n.to_string(),
        mysql_async::Value::UInt(n) => n.to_string(),
        mysql_async::Value::Float(n) => n.to_string(),
        mysql_async::Value::Double(n) => n.to_string(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}
