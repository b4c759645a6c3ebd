//! Bearer tokens for scripts and Prometheus. The config keeps only each
//! token's SHA-256: a token is 256 random bits, so a fast hash is as safe
//! as a slow one, and checking one costs a hash per request, not argon2.

use super::Viewer;
use crate::config::{Scope, TokenSpec};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// What `new_token` puts before the random part: a token found in a log
/// or a repository is recognisable as Pulse's.
const PREFIX: &str = "pulse_";

#[derive(Default)]
pub(crate) struct Tokens(HashMap<[u8; 32], (String, Scope)>);

impl Tokens {
    pub fn new(specs: &[TokenSpec]) -> Tokens {
        Tokens(
            specs
                .iter()
                .map(|t| (t.sha256.0, (t.name.0.clone(), t.scope)))
                .collect(),
        )
    }

    /// The viewer a presented token stands for, if it is one of ours.
    pub(crate) fn viewer(&self, presented: &[u8]) -> Option<Viewer> {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        self.0.get(&digest).map(|(name, scope)| Viewer::Token {
            name: name.clone(),
            scope: *scope,
        })
    }
}

/// A new random token and its SHA-256 in hex, for the config.
pub fn new_token() -> Result<(String, String), String> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| format!("no random source: {e}"))?;
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let digest = Sha256::digest(token.as_bytes());
    Ok((token, crate::text::hex(&digest)))
}
