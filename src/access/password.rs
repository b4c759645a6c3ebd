//! Passwords: argon2id, checked off the async runtime and a few at a time.
//! One check costs about 19 MiB and tens of milliseconds by design, so a
//! crowd of sign-in attempts waits its turn instead of taking the memory
//! and the CPU the streams need.

use crate::config::UserSpec;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// Password checks running at once.
const AT_ONCE: usize = 2;
/// How long an attempt waits for its turn before it is told to come back:
/// the queue of waiting attempts (and what they hold) stays bounded by
/// the rate they arrive at times this.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Too many attempts are being checked right now (from many addresses):
/// this one is not checked at all.
#[derive(Debug)]
pub(crate) struct Busy;

static TURNS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(AT_ONCE)));

/// A user as the gate keeps them.
#[derive(Clone)]
pub(crate) struct User {
    hash: String,
    /// A digest of the password hash, signed into each session: a new
    /// password ends the sessions of the old one.
    pub(crate) fingerprint: [u8; 32],
}

pub(crate) fn users(specs: &[UserSpec]) -> HashMap<String, User> {
    specs
        .iter()
        .map(|spec| {
            let hash = spec.password_hash.0.clone();
            let fingerprint = Sha256::digest(hash.as_bytes()).into();
            (spec.name.0.clone(), User { hash, fingerprint })
        })
        .collect()
}

/// Whether `password` is `user`'s. For a user that does not exist, a hash
/// is checked all the same, so the answer takes as long either way and
/// does not tell which names exist.
pub(crate) async fn matches(user: Option<User>, password: String) -> Result<bool, Busy> {
    let turn = tokio::time::timeout(MAX_WAIT, TURNS.clone().acquire_owned()).await;
    let Ok(Ok(_turn)) = turn else {
        return Err(Busy);
    };
    let known = user.is_some();
    let hash = user.map_or_else(|| STAND_IN.clone(), |u| u.hash);
    let matched = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    Ok(known && matched)
}

/// The hash an unknown user's attempt is checked against.
static STAND_IN: LazyLock<String> =
    LazyLock::new(|| hash_password("not a password of anyone").unwrap_or_default());

/// An argon2id hash (PHC string) of `password` with a fresh random salt,
/// at the argon2 crate's default cost (OWASP's: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no random source: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}
