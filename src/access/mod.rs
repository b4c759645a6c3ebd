//! Who may see what. One decision, `Access::decide`, says from a request's
//! path, head and peer address who is asking (anonymous, a signed-in user,
//! a user named by a trusted proxy, or a token) and whether they may have
//! what they ask for, and as which audience. Every way in asks it: the
//! connection sorter before it serves a stream directly
//! (`sse::listener`), and one axum layer (`web::guard`) for everything
//! hyper serves. Nothing else knows the rule.
//!
//! The rule is built from the config's `[access]` (users, tokens, trusted
//! proxies, allowed hosts) and replaced whole on each reload; sessions
//! signed out and the sign-in rate limits outlive reloads.

mod expiring;
mod forwarded;
mod password;
mod session;
#[cfg(test)]
mod tests;
mod throttle;
mod tokens;
pub mod web;

pub use password::hash_password;
pub use tokens::new_token;

use crate::config::{AccessSpec, Scope};
use crate::status::Audience;
use ipnet::IpNet;
use session::{Revoked, SessionKey};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use throttle::Throttle;

/// The peer address of a connection hyper serves, as axum's `ConnectInfo`
/// (`sse::listener` fills it in).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Who a peer address stands for. An IPv6 host is usually given a whole
/// /64, so counting its addresses one by one would give one client 2^64
/// places; an IPv4 address mapped into IPv6 is the IPv4 client it is.
pub(crate) fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Viewer {
    Anonymous,
    /// Signed in with a password; `session` names the session, to end it.
    User {
        name: String,
        session: String,
    },
    /// Named by a trusted proxy's user header (single sign-on in front).
    ProxyUser(String),
    Token {
        name: String,
        scope: Scope,
    },
}

impl Viewer {
    /// The name a page greets, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Viewer::Anonymous => None,
            Viewer::User { name, .. } | Viewer::ProxyUser(name) | Viewer::Token { name, .. } => {
                Some(name)
            }
        }
    }
}

/// What a request's head offers the decision: its header fields, whether
/// parsed by hyper or by the sorter.
pub(crate) trait Head {
    /// The first line of the field named `name` (lower case).
    fn field(&self, name: &str) -> Option<&[u8]>;
    /// Every line of the field named `name`, in the order they came: a
    /// list sent on several lines, or a field sent twice where once is
    /// meant.
    fn field_lines(&self, name: &str) -> Vec<&[u8]>;
}

impl Head for axum::http::HeaderMap {
    fn field(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|value| value.as_bytes())
    }

    fn field_lines(&self, name: &str) -> Vec<&[u8]> {
        self.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

impl Head for httparse::Request<'_, '_> {
    fn field(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }

    fn field_lines(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
            .collect()
    }
}

/// One request, as the decision sees it.
pub(crate) struct Asking<'a> {
    /// The path, without the query.
    pub(crate) path: &'a str,
    /// Its method is not one HTTP calls safe (GET, HEAD, OPTIONS, TRACE):
    /// it may change something.
    pub(crate) unsafe_method: bool,
    pub(crate) peer: IpAddr,
    pub(crate) head: &'a dyn Head,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass {
        viewer: Viewer,
        audience: Audience,
    },
    /// A private page asked anonymously: sign in first.
    SignIn,
    /// A private API asked anonymously (401).
    Unauthorized,
    /// A token whose scope does not cover this, or a viewer who may look
    /// but not act (403).
    Forbidden,
    /// An action asked by a page of another site (403): a visitor's
    /// browser sends their cookie along, so it proves nothing.
    CrossSite,
    /// A `Host` not in `allowed_hosts` (DNS rebinding, or a wrong name).
    UnknownHost,
    /// A trusted proxy sent its user header more than once (400). Some
    /// proxies add theirs beside the one the client sent instead of
    /// replacing it; which is the proxy's cannot be told, and believing
    /// either would let the client choose who it is.
    UserHeaderRepeated,
}

/// What a path is, for the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// Liveness, sign-in, the public page and its data, assets.
    Open,
    /// The stream and the status API: private to those who may, public
    /// to anyone else.
    EitherAudience,
    Metrics,
    PrivateApi,
    PrivatePage,
    /// Something that changes Pulse's state or sends something: for those
    /// who may act (users, `write` tokens), from this site.
    Action,
}

/// A notifier's test message (`pages::notifications`).
pub(crate) const TEST_MESSAGE: &str = "/api/notifiers/test";

/// Where incidents are opened and updated (`incidents::api`).
pub(crate) const INCIDENTS: &str = "/api/incidents";

/// The actions' paths (any method) and their prefixes (for an unsafe
/// method; reading under them is a private API).
const ACTIONS: [&str; 1] = [TEST_MESSAGE];
/// Paths where an unsafe method acts, on them and under them, and
/// reading is a private API.
const ACTING_UNDER: [&str; 1] = [INCIDENTS];

fn way(path: &str, unsafe_method: bool) -> Way {
    const OPEN: [&str; 5] = ["/healthz", "/login", "/logout", "/status", "/favicon.svg"];
    if !is_plain(path) {
        // The app's router resolves `..` and `%2e%2e` (`/pkg/../` renders
        // `/`), so such a path is judged as the page it may become.
        return Way::PrivatePage;
    }
    match path {
        _ if OPEN.contains(&path) => Way::Open,
        _ if path.starts_with("/pkg/") || path.starts_with("/api/public/") => Way::Open,
        // A push check's ping: its token in the path is its authentication.
        _ if path.starts_with("/api/push/") => Way::Open,
        "/api/events" | "/api/status" => Way::EitherAudience,
        "/metrics" => Way::Metrics,
        _ if is_action(path, unsafe_method) => Way::Action,
        _ if path.starts_with("/api/") => Way::PrivateApi,
        // Anything else is a page, or will be a 404: private either way.
        _ => Way::PrivatePage,
    }
}

fn is_action(path: &str, unsafe_method: bool) -> bool {
    let at_or_under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    ACTIONS
        .iter()
        .any(|action| path == *action || (unsafe_method && at_or_under(action)))
        || (unsafe_method && ACTING_UNDER.iter().any(|prefix| at_or_under(prefix)))
}

/// A path with no dot segments, escapes or backslashes: what it names is
/// what it says.
fn is_plain(path: &str) -> bool {
    !path.contains(['%', '\\'])
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// The `Host` names of an open dashboard on a loopback address.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Whether the answer to `path` depends on who asks, so that no shared
/// cache may keep it for the next viewer.
pub fn answer_is_personal(path: &str) -> bool {
    way(path, false) != Way::Open
}

/// The rule of one config: replaced whole on reload.
struct Gate {
    /// No `[access]`: anyone is a private viewer (loopback, or opted in).
    open: bool,
    /// Anyone may act too: only the open dashboard of a machine's own
    /// user, on loopback. One opened on purpose elsewhere is for looking.
    anyone_acts: bool,
    users: HashMap<String, password::User>,
    tokens: tokens::Tokens,
    key: Option<SessionKey>,
    proxies: Vec<IpNet>,
    user_header: Option<String>,
    allowed_hosts: Vec<String>,
}

impl Gate {
    fn open() -> Gate {
        Gate {
            open: true,
            anyone_acts: false,
            users: HashMap::new(),
            tokens: tokens::Tokens::default(),
            key: None,
            proxies: Vec::new(),
            user_header: None,
            allowed_hosts: Vec::new(),
        }
    }

    /// An open dashboard on a loopback address, opened on purpose or not:
    /// served only under the loopback names, so a web page whose name was
    /// pointed at 127.0.0.1 (DNS rebinding) cannot read it from the
    /// browser of someone on this machine. `anyone_acts` for the machine's
    /// own user's dashboard, not for one opened on purpose.
    fn open_on_loopback(anyone_acts: bool) -> Gate {
        Gate {
            allowed_hosts: LOOPBACK_NAMES.map(str::to_owned).to_vec(),
            anyone_acts,
            ..Gate::open()
        }
    }

    fn from_spec(spec: &AccessSpec) -> Gate {
        Gate {
            open: false,
            anyone_acts: false,
            users: password::users(&spec.users),
            tokens: tokens::Tokens::new(&spec.tokens),
            key: Some(SessionKey::new(&spec.session_key, spec.session_lifetime)),
            proxies: spec.trusted_proxies.clone(),
            user_header: spec.user_header.clone(),
            allowed_hosts: spec.allowed_hosts.clone(),
        }
    }

    fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        // Exactly this address (an IPv4 one, if it came mapped into IPv6),
        // never its neighbours.
        let peer = peer.to_canonical();
        self.proxies.iter().any(|net| net.contains(&peer))
    }
}

/// Sign-outs waiting for the cluster to share them, at most (a burst
/// beyond is shared by none: each ended here all the same).
const SIGN_OUTS_WAITING: usize = 1024;

/// The gate in force, and what outlives a reload of it.
pub struct Access {
    gate: RwLock<Arc<Gate>>,
    /// The `[access]` in force, to tell a reload that changes it.
    spec: std::sync::Mutex<Option<AccessSpec>>,
    /// Bumped whenever who may see what changes (a new rule, a sign-out):
    /// streams let in before must ask again.
    changes: tokio::sync::watch::Sender<u64>,
    revoked: Revoked,
    /// Each sign-out made here, for whoever shares them (the cluster).
    signed_out: tokio::sync::broadcast::Sender<String>,
    throttle: Throttle,
    /// Where Pulse listens, and whether an open dashboard was asked for
    /// there (`--open-dashboard`): what "secure by default" weighs.
    listening: SocketAddr,
    open_dashboard: bool,
}

impl Access {
    /// The access of `spec` (the config's `[access]`, if any), or why
    /// Pulse must not serve with it.
    pub fn new(
        spec: Option<&AccessSpec>,
        listening: SocketAddr,
        open_dashboard: bool,
    ) -> Result<Arc<Access>, String> {
        let access = Access {
            gate: RwLock::new(Arc::new(Gate::open())),
            spec: std::sync::Mutex::new(None),
            changes: tokio::sync::watch::Sender::new(0),
            revoked: Revoked::default(),
            signed_out: tokio::sync::broadcast::Sender::new(SIGN_OUTS_WAITING),
            throttle: Throttle::new(),
            listening,
            open_dashboard,
        };
        access.apply(spec)?;
        Ok(Arc::new(access))
    }

    /// Puts the rule of a new config in force, or refuses it (the old one
    /// stays) when it would open the dashboard where it must not be open.
    pub(crate) fn apply(&self, spec: Option<&AccessSpec>) -> Result<(), String> {
        // `--open-dashboard` only opens a dashboard that has no `[access]`:
        // users configured later are never silently overridden by it.
        let gate = match spec {
            Some(spec) => Gate::from_spec(spec),
            None => self.open_gate()?,
        };
        *self.gate.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(gate);
        let mut current = self.spec.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() != spec {
            *current = spec.cloned();
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Ends a signed-in session, for new requests and for the streams
    /// already open under it.
    fn sign_out(&self, session: &str) {
        self.revoked.revoke(session);
        self.changes.send_modify(|n| *n += 1);
        // Nobody listening (one node) is no error.
        let _ = self.signed_out.send(session.to_owned());
    }

    /// The sign-outs made here from now on, as `session` strings.
    pub(crate) fn sign_outs(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.signed_out.subscribe()
    }

    /// How long a sign-out must be remembered: the longest any session
    /// can live (whatever the lifetime configured now, which a reload may
    /// change), and a margin for the replicas' clocks.
    pub(crate) const SIGN_OUTS_MATTER_FOR: std::time::Duration =
        crate::config::MAX_SESSION_LIFETIME.saturating_add(std::time::Duration::from_secs(300));

    /// A sign-out made on another replica of a cluster: ended here too, for
    /// new requests and open streams.
    pub(crate) fn signed_out_elsewhere(&self, session: &str) {
        if self.revoked.revoke(session) {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Changes each time who may see what changes.
    pub(crate) fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The gate of a config without `[access]`, or why there must be none.
    fn open_gate(&self) -> Result<Gate, String> {
        let on_loopback = self.listening.ip().to_canonical().is_loopback();
        match (on_loopback, self.open_dashboard) {
            (true, opened_on_purpose) => Ok(Gate::open_on_loopback(!opened_on_purpose)),
            (false, true) => Ok(Gate::open()),
            (false, false) => Err(self.refusal_to_open()),
        }
    }

    fn refusal_to_open(&self) -> String {
        format!(
            "refusing to serve an open dashboard on {}: anyone who can reach it would see every check. \
             Add a user: run `pulse hash-password`, then put \
             `[access]` with `users = [{{ name = \"you\", password_hash = \"…\" }}]` in the config file; \
             or pass --open-dashboard (PULSE_OPEN_DASHBOARD=1) to serve it open on purpose",
            self.listening
        )
    }

    fn gate(&self) -> Arc<Gate> {
        self.gate.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The one decision: who asks, and whether they may have `asking.path`.
    pub(crate) fn decide(&self, asking: &Asking) -> Verdict {
        let gate = self.gate();
        let way = way(asking.path, asking.unsafe_method);
        if asking.path != "/healthz" && !host_allowed(&gate, asking.head) {
            return Verdict::UnknownHost;
        }
        if repeats_user_header(&gate, asking) {
            return Verdict::UserHeaderRepeated;
        }
        let viewer = self.identify(&gate, asking);
        let private = match &viewer {
            Viewer::Anonymous => gate.open,
            Viewer::User { .. } | Viewer::ProxyUser(_) => true,
            Viewer::Token { scope, .. } => matches!(scope, Scope::Read | Scope::Write),
        };
        let acts = match &viewer {
            Viewer::Anonymous => gate.anyone_acts,
            Viewer::User { .. } | Viewer::ProxyUser(_) => true,
            Viewer::Token { scope, .. } => *scope == Scope::Write,
        };
        let metrics = private || matches!(viewer, Viewer::Token { .. });
        let audience = match private {
            true => Audience::Private,
            false => Audience::Public,
        };
        let allowed = match way {
            Way::Open | Way::EitherAudience => Ok(()),
            Way::Metrics if metrics => Ok(()),
            Way::PrivateApi | Way::PrivatePage if private => Ok(()),
            // A token is sent by a script, never added by a browser on its own.
            Way::Action
                if acts
                    && !matches!(viewer, Viewer::Token { .. })
                    && !from_this_site(asking.head) =>
            {
                Err(Verdict::CrossSite)
            }
            Way::Action if acts => Ok(()),
            _ if viewer != Viewer::Anonymous || private => Err(Verdict::Forbidden),
            Way::PrivatePage => Err(Verdict::SignIn),
            _ => Err(Verdict::Unauthorized),
        };
        match allowed {
            Ok(()) => Verdict::Pass { viewer, audience },
            Err(verdict) => verdict,
        }
    }

    /// A bearer token first (scripts send nothing else), then a trusted
    /// proxy's user header, then the session cookie.
    fn identify(&self, gate: &Gate, asking: &Asking) -> Viewer {
        if let Some(token) = bearer_token(asking.head) {
            return gate.tokens.viewer(token).unwrap_or(Viewer::Anonymous);
        }
        if let Some(name) = proxy_user(gate, asking) {
            return Viewer::ProxyUser(name);
        }
        let Some(key) = &gate.key else {
            return Viewer::Anonymous;
        };
        session::from_cookie(asking.head)
            .and_then(|cookie| key.verify(cookie, &gate.users, &self.revoked))
            .unwrap_or(Viewer::Anonymous)
    }

    /// Whether `peer` is a trusted proxy: it speaks for many clients, so
    /// the per-address connection cap does not apply to it.
    pub(crate) fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.gate().is_trusted_proxy(peer)
    }

    /// Whether the request came over TLS to a trusted proxy in front, so
    /// the session cookie can be marked `Secure`. Pulse itself serves no
    /// TLS.
    pub(crate) fn came_over_tls(&self, peer: IpAddr, head: &dyn Head) -> bool {
        self.gate().is_trusted_proxy(peer)
            && head
                .field("x-forwarded-proto")
                .is_some_and(|proto| proto.eq_ignore_ascii_case(b"https"))
    }

    /// The client a request is from: the peer, or for a trusted proxy the
    /// client it forwards for (`forwarded::client`: the right-most address
    /// of `X-Forwarded-For`, all its lines, that is not a trusted proxy).
    pub(crate) fn client_address(&self, peer: IpAddr, head: &dyn Head) -> IpAddr {
        let gate = self.gate();
        if !gate.is_trusted_proxy(peer) {
            return peer;
        }
        let forwarded_for = head.field_lines("x-forwarded-for");
        forwarded::client(peer, &forwarded_for, |hop| gate.is_trusted_proxy(hop))
    }
}

/// A request sent by a page of another site carries that site in `Origin`
/// (or says so in `Sec-Fetch-Site`). One without either is not from a
/// browser's page (a browser sends `Origin` with every cross-site POST).
pub(crate) fn from_this_site(head: &dyn Head) -> bool {
    if head.field("sec-fetch-site") == Some(b"cross-site") {
        return false;
    }
    let Some(origin) = head.field("origin") else {
        return true;
    };
    let origin_host = std::str::from_utf8(origin)
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.as_bytes());
    origin_host.is_some() && origin_host == head.field("host")
}

fn bearer_token(head: &dyn Head) -> Option<&[u8]> {
    let value = head.field("authorization")?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value[7..].trim_ascii())
}

/// The user a trusted proxy names. From any other address the header is
/// ignored: anyone can send it.
fn proxy_user(gate: &Gate, asking: &Asking) -> Option<String> {
    let header = gate.user_header.as_deref()?;
    if !gate.is_trusted_proxy(asking.peer) {
        return None;
    }
    let name = std::str::from_utf8(asking.head.field(header)?).ok()?.trim();
    crate::config::is_plain_name(name).then(|| name.to_owned())
}

/// Whether a trusted proxy sent the user header more than once. From
/// anyone else the header is ignored, however often it comes.
fn repeats_user_header(gate: &Gate, asking: &Asking) -> bool {
    let Some(header) = gate.user_header.as_deref() else {
        return false;
    };
    gate.is_trusted_proxy(asking.peer) && asking.head.field_lines(header).len() > 1
}

/// Whether the `Host` asked for is served. Without a list, any is.
fn host_allowed(gate: &Gate, head: &dyn Head) -> bool {
    if gate.allowed_hosts.is_empty() {
        return true;
    }
    let Some(host) = head.field("host").and_then(|h| std::str::from_utf8(h).ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|a| format!("[{a}]")),
        None => host.split(':').next().map(str::to_owned),
    };
    name.is_some_and(|name| {
        let name = name.to_ascii_lowercase();
        gate.allowed_hosts.contains(&name)
    })
}
