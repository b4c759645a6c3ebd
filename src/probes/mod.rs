//! What Pulse can look at: the kinds of check, one file each behind one
//! trait, `Kind`. A kind reads its own `[[check]]` keys (all but the ones
//! every check shares), names what of them is secret, and looks once at
//! its target, saying what it found (`Finding`). Adding a kind is a file
//! beside these, a line in `kinds!(…)` below and its name in
//! `status::CheckKind`, which the browser shares.
//!
//! A probe knows nothing of intervals, timeouts, concurrency or who
//! listens: the engine (`crate::checks`) runs it under all of those, and
//! turns a hang or a panic into `down`. A probe turns its own errors into
//! a finding through `Finding::failed`, which tells a fault of Pulse's own
//! (out of file descriptors) from one of the target.
//!
//! The kinds sit below the config, which reads each `[[check]]` through
//! them, and below the checks, which run them; they know neither.

/// What the database kinds (postgres, mysql) share.
mod database;
mod local_fault;
/// What the mail kinds (smtp, imap, pop3) share.
mod mail;

pub(crate) use local_fault::LocalFault;

use crate::kind_keys::{BadKeys, Files};
use crate::status::{CheckKind, Health};
use std::time::Duration;
use toml::de::ValueDeserializer;

/// One kind of check. Implemented by the kind's probe: what one check of
/// the kind keeps between runs and how it looks once.
pub(crate) trait Kind: Sized {
    /// What `kind = "…"` calls it.
    const NAME: &'static str;
    /// How pages and `/api/status` show it.
    const CHECK_KIND: CheckKind;
    /// The kind's own keys, as read and validated from the config.
    type Spec: Clone + std::fmt::Debug + PartialEq;

    /// Reads the kind's keys; `files` reads a file they name.
    fn read(keys: ValueDeserializer<'_>, files: &Files<'_>) -> Result<Self::Spec, BadKeys>;

    /// What of its keys is secret beyond the config's `${…}` values (the
    /// password in a URL, an authorization header): never published.
    fn secrets(_spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// A probe ready to run, from its keys.
    fn probe(spec: &Self::Spec) -> Result<Self, String>;

    /// Looks at the target once.
    async fn run(&self) -> Finding;
}

/// Declares each kind's file and the two enums every other part uses:
/// `ProbeSpec`, a `[[check]]`'s kind and keys as the config read them, and
/// `Probe`, ready to run. Each variant is boxed: probes are built once per
/// config, and the enum stays as small as its smallest kind.
macro_rules! kinds {
    ($($file:ident :: $Probe:ident as $Variant:ident),+ $(,)?) => {
        $(mod $file;)+
        $(pub(crate) use $file::$Probe;)+

        #[derive(Clone, Debug, PartialEq)]
        pub(crate) enum ProbeSpec {
            $($Variant(Box<<$Probe as Kind>::Spec>),)+
        }

        pub(crate) enum Probe {
            $($Variant(Box<$Probe>),)+
        }

        /// Every kind a `[[check]]` may name, in the order errors list them.
        pub(crate) const NAMES: &[&str] = &[$(<$Probe as Kind>::NAME),+];

        impl ProbeSpec {
            /// The keys of a check of kind `kind`.
            pub(crate) fn read(
                kind: &str,
                keys: ValueDeserializer<'_>,
                files: &Files<'_>,
            ) -> Result<ProbeSpec, BadKeys> {
                $(if kind == <$Probe as Kind>::NAME {
                    return <$Probe as Kind>::read(keys, files)
                        .map(|spec| ProbeSpec::$Variant(Box::new(spec)));
                })+
                Err(BadKeys::Invalid(format!(
                    "`kind` must be {}, not \"{kind}\"",
                    names_listed()
                )))
            }

            /// What of the keys is secret.
            pub(crate) fn secrets(&self) -> Vec<String> {
                match self {
                    $(ProbeSpec::$Variant(spec) => <$Probe as Kind>::secrets(spec),)+
                }
            }

            /// A probe of this kind with these keys.
            pub(crate) fn probe(&self) -> Result<Probe, String> {
                match self {
                    $(ProbeSpec::$Variant(spec) => {
                        <$Probe as Kind>::probe(spec).map(|p| Probe::$Variant(Box::new(p)))
                    })+
                }
            }
        }

        impl Probe {
            pub(crate) fn kind(&self) -> CheckKind {
                match self {
                    $(Probe::$Variant(_) => <$Probe as Kind>::CHECK_KIND,)+
                }
            }

            /// Looks at the target once.
            pub(crate) async fn run(&self) -> Finding {
                match self {
                    $(Probe::$Variant(probe) => probe.run().await,)+
                }
            }
        }
    };
}

// One line per file: adding a kind is a file beside these and a line here.
kinds!(
    http::HttpProbe as Http,
    tcp::TcpProbe as Tcp,
    ping::PingProbe as Ping,
    tls::TlsProbe as Tls,
    host::HostProbe as Host,
    push::PushProbe as Push,
    postgres::PostgresProbe as Postgres,
    mysql::MysqlProbe as Mysql,
    redis::RedisProbe as Redis,
    ssh::SshProbe as Ssh,
    dns::DnsProbe as Dns,
    udp::UdpProbe as Udp,
    group::GroupProbe as Group,
    smtp::SmtpProbe as Smtp,
    imap::ImapProbe as Imap,
    pop3::Pop3Probe as Pop3,
    websocket::WebSocketProbe as Websocket,
);

pub(crate) use group::{GroupState, Groups};
pub(crate) use host::{HostMetric, LOAD_PER_CORE, USAGE};
pub use push::token_sha256;
pub(crate) use push::{PushState, Pushes};

/// `"http", "tcp", … or "push"`: the kinds, for an error that lists them.
pub(crate) fn names_listed() -> String {
    let quoted: Vec<String> = NAMES.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl Probe {
    /// Resolves when something outside wants the check run now (a ping
    /// to a push check that was down, a group's member that changed);
    /// never, for the other kinds.
    pub(crate) async fn woken(&self) {
        match self {
            Probe::Push(probe) => probe.state.woken().await,
            Probe::Group(probe) => probe.state.changed().await,
            _ => std::future::pending().await,
        }
    }

    /// Whether a run's time says something of a target: not for a push
    /// check, which waits for pings, nor a group, which reads results.
    pub(crate) fn measures_latency(&self) -> bool {
        !matches!(self, Probe::Push(_) | Probe::Group(_))
    }

    /// What a group knows of its members, for a group check.
    pub(crate) fn group_state(&self) -> Option<&std::sync::Arc<GroupState>> {
        match self {
            Probe::Group(probe) => Some(&probe.state),
            _ => None,
        }
    }

    /// The state a ping reaches, for a push check.
    pub(crate) fn push_state(&self) -> Option<&std::sync::Arc<PushState>> {
        match self {
            Probe::Push(probe) => Some(&probe.state),
            _ => None,
        }
    }
}

/// What a probe found, before the engine adds identity and timing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub(crate) health: Health,
    pub(crate) detail: String,
}

impl Finding {
    pub fn new(health: Health, detail: impl Into<String>) -> Self {
        Finding {
            health,
            detail: detail.into(),
        }
    }

    pub(crate) fn down(detail: impl Into<String>) -> Self {
        Finding::new(Health::Down, detail)
    }

    /// A probe that failed with `error`: down, for the reason `describe`
    /// gives, unless the failure was Pulse's own, which says nothing about
    /// the target. Every probe kind turns its errors into outcomes here.
    pub(crate) fn failed(
        error: &(dyn std::error::Error + 'static),
        describe: impl FnOnce() -> String,
    ) -> Self {
        match LocalFault::find_in(error) {
            Some(fault) => Finding::not_checked(fault),
            None => Finding::down(describe()),
        }
    }

    /// A target that answered as it should, in `took`: up, or degraded
    /// when slower than the check's `degraded_above`.
    pub(crate) fn answered(
        detail: String,
        took: Duration,
        degraded_above: Option<Duration>,
    ) -> Self {
        match degraded_above {
            Some(limit) if took > limit => Finding::new(
                Health::Degraded,
                format!("{detail}, slower than {} ms", limit.as_millis()),
            ),
            _ => Finding::new(Health::Up, detail),
        }
    }

    /// Pulse could not look at the target: `unknown`, with why.
    pub(crate) fn not_checked(fault: LocalFault) -> Self {
        Finding::new(
            Health::Unknown,
            format!("Pulse could not check this: {fault}"),
        )
    }
}
