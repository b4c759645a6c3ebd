//! Signed-in sessions: a cookie the server signs (HMAC-SHA256) and can
//! check without keeping anything, so a restart signs no one out and every
//! replica of a cluster accepts it. It names the user, when it expires, a
//! random session id, and is bound to the user's password hash: changing
//! the password, or removing the user, ends their sessions. Signing out
//! adds the session id to a short list kept until the session would have
//! expired anyway.

use super::Viewer;
use super::password::User;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const COOKIE: &str = "pulse_session";
/// Signed-out sessions remembered at most; past it the oldest to expire
/// are forgotten first (they are the closest to expiring on their own).
const MAX_REVOKED: usize = 100_000;

pub(crate) struct SessionKey {
    key: Vec<u8>,
    lifetime: Duration,
}

impl SessionKey {
    pub fn new(key: &[u8], lifetime: Duration) -> SessionKey {
        SessionKey {
            key: key.to_vec(),
            lifetime,
        }
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new session's cookie value for `name`, whose password hash is
    /// `user`'s.
    pub(crate) fn issue(&self, name: &str, user: &User) -> Result<String, String> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| format!("no random source: {e}"))?;
        let expires = now_secs() + self.lifetime.as_secs();
        let body = format!("{}.{expires}.{}", B64.encode(name), B64.encode(id));
        let mac = self.mac(&body, user).finalize().into_bytes();
        Ok(format!("{body}.{}", B64.encode(mac)))
    }

    /// The user a cookie value signs in, if it is genuine, unexpired, not
    /// signed out, and its user still exists with the same password.
    pub(crate) fn verify(
        &self,
        cookie: &[u8],
        users: &HashMap<String, User>,
        revoked: &Revoked,
    ) -> Option<Viewer> {
        let cookie = std::str::from_utf8(cookie).ok()?;
        let (body, mac) = cookie.rsplit_once('.')?;
        let mut parts = body.split('.');
        let (name, expires, id) = (parts.next()?, parts.next()?, parts.next()?);
        let name = String::from_utf8(B64.decode(name).ok()?).ok()?;
        let user = users.get(&name)?;
        // Constant time: the comparison tells an attacker nothing.
        self.mac(body, user)
            .verify_slice(&B64.decode(mac).ok()?)
            .ok()?;
        let expires: u64 = expires.parse().ok()?;
        if expires <= now_secs() || revoked.contains(id) {
            return None;
        }
        Some(Viewer::User {
            name,
            session: format!("{id}.{expires}"),
        })
    }

    fn mac(&self, body: &str, user: &User) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"pulse-session-v1\0");
        mac.update(body.as_bytes());
        mac.update(b"\0");
        mac.update(&user.fingerprint);
        mac
    }
}

/// The session cookie's value in a `Cookie` header, if any.
pub(crate) fn from_cookie(head: &dyn super::Head) -> Option<&[u8]> {
    let cookies = head.field("cookie")?;
    cookies.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let (name, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
        (name == COOKIE.as_bytes()).then(|| &value[1..])
    })
}

/// Signed-out session ids, until each would have expired.
#[derive(Default)]
pub(crate) struct Revoked(Mutex<HashMap<String, u64>>);

impl Revoked {
    /// Ends the session `session` (as `Viewer::User` names it); whether it
    /// was not ended already.
    pub(crate) fn revoke(&self, session: &str) -> bool {
        let Some((id, expires)) = session.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        let mut revoked = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_secs();
        if expires <= now || revoked.contains_key(id) {
            return false;
        }
        revoked.retain(|_, until| *until > now);
        while revoked.len() >= MAX_REVOKED {
            let soonest = revoked.iter().min_by_key(|(_, until)| **until);
            let Some(soonest) = soonest.map(|(id, _)| id.clone()) else {
                break;
            };
            revoked.remove(&soonest);
        }
        revoked.insert(id.to_owned(), expires);
        true
    }

    fn contains(&self, id: &str) -> bool {
        let revoked = self.0.lock().unwrap_or_else(|p| p.into_inner());
        revoked.contains_key(id)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
