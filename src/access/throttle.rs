//! Sign-in attempts, rate-limited so that guessing a password is slow and
//! nobody can lock a user out by guessing at their name.
//!
//! Three limits, each refilling steadily (GCRA: a key keeps only the
//! instant its allowance is whole again):
//! - per client address and name (`PER_ADDRESS_AND_NAME`): one place
//!   guessing one user's password;
//! - per client address (`PER_ADDRESS`), whatever the names: one place
//!   trying many names, yet loose enough for an office behind one address;
//! - per name (`PER_NAME`), from every address together: many places
//!   guessing one name. Guessers share this one with the user, so it does
//!   not apply where the user signed in successfully lately
//!   (`REMEMBERED_FOR`): a flood of guesses from elsewhere slows the
//!   guessers, not the user at their own address.
//!
//! The throttle never learns whether a name is a user's: a made-up name is
//! counted exactly as a real one, so the answers cannot tell them apart.
//! Names are kept only as a hash keyed at random for this process (a form
//! may carry kilobytes of name), and every table is bounded (`Expiring`).
//! An attempt one limit refuses takes nothing from the others: an address
//! refused its own allowance cannot use up the name's shared one.

use super::expiring::Expiring;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Attempts at once, and one more every `every` after that.
#[derive(Clone, Copy)]
struct Allowance {
    burst: u32,
    every: Duration,
}

impl Allowance {
    const fn per_minute(attempts: u32) -> Allowance {
        Allowance {
            burst: attempts,
            every: Duration::from_secs(60 / attempts as u64),
        }
    }
}

/// One place guessing one name.
const PER_ADDRESS_AND_NAME: Allowance = Allowance::per_minute(10);
/// One place, any names.
const PER_ADDRESS: Allowance = Allowance::per_minute(30);
/// One name, from every address that has not signed in as it lately.
const PER_NAME: Allowance = Allowance::per_minute(20);
/// Keys each limit tracks at most (about 40 bytes each).
const MOST_KEYS: usize = 100_000;
/// How long an address a user signed in from is spared the name's limit.
const REMEMBERED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// (name, address) pairs remembered at most; past it the oldest go first.
const MOST_REMEMBERED: usize = 10_000;

/// A name, as the throttle keeps it.
type NameKey = u64;

/// One limit, over keys of one kind.
struct Limit<K> {
    allowance: Allowance,
    full_again: Expiring<K>,
}

impl<K: std::hash::Hash + Eq> Limit<K> {
    fn new(allowance: Allowance) -> Limit<K> {
        Limit {
            allowance,
            full_again: Expiring::new(MOST_KEYS),
        }
    }

    /// What taking one attempt for `key` at `now` would make its
    /// allowance's "whole again", or how long until it may take one.
    fn next(&self, key: &K, now: Instant) -> Result<Instant, Duration> {
        let Allowance { burst, every } = self.allowance;
        let whole_again = self.full_again.get(key, now).unwrap_or(now);
        let next = whole_again + every;
        let latest = now + every * burst;
        match next.checked_duration_since(latest) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(next),
        }
    }
}

struct Tables {
    per_address_and_name: Limit<(NameKey, IpAddr)>,
    per_address: Limit<IpAddr>,
    per_name: Limit<NameKey>,
    /// When each (name, address) a user signed in from stops being spared.
    signed_in_from: Expiring<(NameKey, IpAddr)>,
}

pub(crate) struct Throttle {
    tables: Mutex<Tables>,
    names: RandomState,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle {
            tables: Mutex::new(Tables {
                per_address_and_name: Limit::new(PER_ADDRESS_AND_NAME),
                per_address: Limit::new(PER_ADDRESS),
                per_name: Limit::new(PER_NAME),
                signed_in_from: Expiring::new(MOST_REMEMBERED),
            }),
            names: RandomState::new(),
        }
    }

    /// Whether an attempt from `client` at `name` may go ahead; if not,
    /// how long until it may.
    pub(crate) fn attempt(&self, client: IpAddr, name: &str) -> Result<(), Duration> {
        self.attempt_at(client, name, Instant::now())
    }

    /// Remembers that `name` signed in from `client`: its name's limit
    /// spares that address from now on, for `REMEMBERED_FOR`.
    pub(crate) fn signed_in(&self, client: IpAddr, name: &str) {
        self.signed_in_at(client, name, Instant::now());
    }

    fn attempt_at(&self, client: IpAddr, name: &str, now: Instant) -> Result<(), Duration> {
        let key = (self.names.hash_one(name), super::client_of(client));
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let spared = tables.signed_in_from.get(&key, now).is_some();
        let pair = tables.per_address_and_name.next(&key, now);
        let address = tables.per_address.next(&key.1, now);
        let name = match spared {
            true => None,
            false => Some(tables.per_name.next(&key.0, now)),
        };
        // The longest wait, so that `Retry-After` is when every limit
        // allows again (barring other guessers).
        let waits = [Some(pair), Some(address), name].into_iter().flatten();
        if let Some(wait) = waits.filter_map(Result::err).max() {
            return Err(wait);
        }
        let taken = |next: Result<Instant, Duration>| next.unwrap_or(now);
        tables
            .per_address_and_name
            .full_again
            .set(key, taken(pair), now);
        tables
            .per_address
            .full_again
            .set(key.1, taken(address), now);
        if let Some(name) = name {
            tables.per_name.full_again.set(key.0, taken(name), now);
        }
        Ok(())
    }

    fn signed_in_at(&self, client: IpAddr, name: &str, now: Instant) {
        let key = (self.names.hash_one(name), super::client_of(client));
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        tables.signed_in_from.set(key, now + REMEMBERED_FOR, now);
    }
}

#[cfg(test)]
mod tests {
    use super::{MOST_KEYS, Throttle};
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    fn address(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    /// The attempts `take` lets through of `tries`, all at `now`.
    fn allowed(tries: u32, mut take: impl FnMut(u32) -> Result<(), Duration>) -> u32 {
        (0..tries).filter(|&i| take(i).is_ok()).count() as u32
    }

    #[test]
    fn one_address_guessing_one_name_gets_ten_a_minute() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let guess = |at: Instant| throttle.attempt_at(address(1), "ada", at);
        assert_eq!(allowed(12, |_| guess(now)), 10);
        let wait = guess(now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6), "one more every 6 s");
        assert!(guess(now + wait).is_ok());
        assert!(guess(now + wait).is_err());
        // Another name from there, and that name from elsewhere, may.
        assert!(throttle.attempt_at(address(1), "grace", now).is_ok());
        assert!(throttle.attempt_at(address(2), "ada", now).is_ok());
    }

    #[test]
    fn one_address_trying_many_names_gets_thirty_a_minute() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let names = allowed(40, |i| {
            throttle.attempt_at(address(1), &format!("name{i}"), now)
        });
        assert_eq!(names, 30);
        assert!(throttle.attempt_at(address(2), "name1", now).is_ok());
    }

    #[test]
    fn a_name_gets_twenty_a_minute_from_everywhere_whether_or_not_it_is_a_user() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for name in ["ada", "nobody-of-that-name"] {
            let from_many = allowed(27, |i| throttle.attempt_at(address(i), name, now));
            assert_eq!(from_many, 20, "{name}");
        }
    }

    #[test]
    fn where_a_user_signed_in_before_a_flood_of_guesses_elsewhere_does_not_stop_them() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let home = address(1);
        throttle.attempt_at(home, "ada", now).unwrap();
        throttle.signed_in_at(home, "ada", now);
        // Home's own attempt counted for the name too: 19 left.
        let flood = allowed(100, |i| throttle.attempt_at(address(100 + i), "ada", now));
        assert_eq!(flood, 19);
        assert!(throttle.attempt_at(home, "ada", now).is_ok());
        // Another address is not spared.
        assert!(throttle.attempt_at(address(2), "ada", now).is_err());
        // Home's own limit still holds: 2 taken, 8 more.
        assert_eq!(allowed(12, |_| throttle.attempt_at(home, "ada", now)), 8);
        // Remembered for 30 days, not longer.
        let later = now + Duration::from_secs(30 * 24 * 3600);
        let flood = allowed(30, |i| throttle.attempt_at(address(200 + i), "ada", later));
        assert_eq!(flood, 20);
        assert!(throttle.attempt_at(home, "ada", later).is_err());
    }

    #[test]
    fn a_refused_attempt_takes_nothing_from_the_other_limits() {
        let throttle = Throttle::new();
        let now = Instant::now();
        // One address hammering one name is held to its own ten, and only
        // those ten count against the name's twenty.
        assert_eq!(
            allowed(500, |_| throttle.attempt_at(address(1), "ada", now)),
            10
        );
        let others = allowed(20, |i| throttle.attempt_at(address(10 + i), "ada", now));
        assert_eq!(others, 10);
    }

    #[test]
    fn made_up_names_and_addresses_keep_every_table_bounded() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for i in 0..(MOST_KEYS as u32 + 5_000) {
            let _ = throttle.attempt_at(address(i), &format!("made-up-{i}"), now);
            throttle.signed_in_at(address(i), &format!("made-up-{i}"), now);
        }
        let tables = throttle.tables.lock().unwrap();
        assert!(tables.per_address_and_name.full_again.len() <= MOST_KEYS);
        assert!(tables.per_address.full_again.len() <= MOST_KEYS);
        assert!(tables.per_name.full_again.len() <= MOST_KEYS);
        assert!(tables.signed_in_from.len() <= super::MOST_REMEMBERED);
    }

    #[test]
    fn ipv6_addresses_of_one_64_are_one_client() {
        let throttle = Throttle::new();
        let now = Instant::now();
        let allowed = allowed(12, |i| {
            let address: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            throttle.attempt_at(address, "ada", now)
        });
        assert_eq!(allowed, 10);
    }
}
