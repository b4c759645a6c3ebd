//! Redis checks: connect, authenticate as the URL says, and ask the server
//! its `ROLE`. With `role` set, a server in the other role is degraded: a
//! replica that took over from its master still answers, but someone
//! should know. A replica that lost its master is degraded too. As with
//! every database kind, the connection lives for one run only.

use super::{Finding, Kind};
use crate::fields::{DatabaseUrl, Period};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use serde::Deserialize;
use std::time::{Duration, Instant};
use toml::de::ValueDeserializer;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedisSpec {
    /// `redis://:${PASSWORD}@host:6379/0` (a user before the colon with ACLs).
    pub(crate) url: DatabaseUrl,
    /// The role the server should have.
    pub(crate) role: Option<Role>,
    pub(crate) degraded_above: Option<Period>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Master,
    Replica,
}

pub(crate) struct RedisProbe {
    client: redis::Client,
    role: Option<Role>,
    degraded_above: Option<Duration>,
}

impl Kind for RedisProbe {
    const NAME: &'static str = "redis";
    const CHECK_KIND: CheckKind = CheckKind::Redis;
    type Spec = RedisSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<RedisSpec, BadKeys> {
        let spec: RedisSpec = keys(said)?;
        if spec.url.0.scheme() != "redis" {
            return Err("a `redis` check's url starts with redis://".into());
        }
        Ok(spec)
    }

    fn secrets(spec: &RedisSpec) -> Vec<String> {
        crate::redact::url_secrets(&spec.url.0)
    }

    fn probe(spec: &RedisSpec) -> Result<Self, String> {
        let client = redis::Client::open(spec.url.0.as_str())
            .map_err(|e| format!("the url is not one Redis takes: {e}"))?;
        Ok(RedisProbe {
            client,
            role: spec.role,
            degraded_above: spec.degraded_above.map(|p| p.0),
        })
    }

    async fn run(&self) -> Finding {
        let started = Instant::now();
        let mut connection = match self.client.get_multiplexed_async_connection().await {
            Ok(connection) => connection,
            Err(e) => return Finding::failed(&e, || format!("could not connect: {e}")),
        };
        let answer: redis::Value = match redis::cmd("ROLE").query_async(&mut connection).await {
            Ok(answer) => answer,
            Err(e) => return Finding::down(format!("ROLE failed: {e}")),
        };
        let took = started.elapsed();
        let Some(found) = ServerRole::read(&answer) else {
            return Finding::down(format!("answered ROLE with something else: {answer:?}"));
        };
        let detail = format!("{found}, answered in {:.0} ms", took.as_secs_f64() * 1000.0);
        if let Some(wanted) = self.role
            && found.role() != Some(wanted)
        {
            let wanted = match wanted {
                Role::Master => "master",
                Role::Replica => "replica",
            };
            return Finding::new(Health::Degraded, format!("{detail}; expected a {wanted}"));
        }
        if let ServerRole::Replica { link, .. } = &found
            && link != "connected"
        {
            return Finding::new(Health::Degraded, format!("{detail}; not in sync with its master"));
        }
        Finding::answered(detail, took, self.degraded_above)
    }
}

/// What `ROLE` said.
enum ServerRole {
    Master { replicas: usize },
    Replica { master: String, link: String },
    Sentinel,
}

impl ServerRole {
    fn read(answer: &redis::Value) -> Option<ServerRole> {
        let redis::Value::Array(parts) = answer else {
            return None;
        };
        let text = |i: usize| match parts.get(i) {
            Some(redis::Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone()),
            Some(redis::Value::Int(n)) => Some(n.to_string()),
            _ => None,
        };
        match text(0)?.as_str() {
            "master" => Some(ServerRole::Master {
                replicas: match parts.get(2) {
                    Some(redis::Value::Array(replicas)) => replicas.len(),
                    _ => 0,
                },
            }),
            "slave" | "replica" => Some(ServerRole::Replica {
                master: format!("{}:{}", text(1)?, text(2)?),
                link: text(3)?,
            }),
            "sentinel" => Some(ServerRole::Sentinel),
            _ => None,
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            ServerRole::Master { .. } => Some(Role::Master),
            ServerRole::Replica { .. } => Some(Role::Replica),
            ServerRole::Sentinel => None,
        }
    }
}

impl std::fmt::Display for ServerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerRole::Master { replicas: 1 } => write!(f, "master with 1 replica"),
            ServerRole::Master { replicas } => write!(f, "master with {replicas} replicas"),
            ServerRole::Replica { master, link } => write!(f, "replica of {master} ({link})"),
            ServerRole::Sentinel => write!(f, "a sentinel"),
        }
    }
}
