//! Sign-in attempts, rate-limited per client address and per user name
//! (governor's GCRA, keyed). An address guessing passwords is slowed to
//! `PER_ADDRESS`, and a user being guessed at from many addresses to
//! `PER_USER`; past either, the attempt is refused before any password is
//! checked.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Attempts a minute from one address (an IPv6 /64 is one address).
const PER_ADDRESS: NonZeroU32 = NonZeroU32::new(10).expect("not zero");
/// Attempts a minute at one user name, from anywhere.
const PER_USER: NonZeroU32 = NonZeroU32::new(20).expect("not zero");
/// Addresses tracked at most: past it, the ones whose limit has refilled
/// are forgotten (they would be allowed again anyway).
const MAX_ADDRESSES: usize = 100_000;

pub struct Throttle {
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    users: DefaultKeyedRateLimiter<String>,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle {
            addresses: governor::RateLimiter::keyed(Quota::per_minute(PER_ADDRESS)),
            users: governor::RateLimiter::keyed(Quota::per_minute(PER_USER)),
        }
    }

    /// Whether an attempt from `client` at `user` may go ahead; if not,
    /// how long until it may. Only names of real users are counted, so
    /// made-up names cannot grow the table.
    pub fn attempt(&self, client: IpAddr, user: Option<&str>) -> Result<(), Duration> {
        if self.addresses.len() > MAX_ADDRESSES {
            self.addresses.retain_recent();
        }
        let client = crate::limits::client_of(client);
        let now = DefaultClock::default().now();
        self.addresses
            .check_key(&client)
            .map_err(|not_yet| not_yet.wait_time_from(now))?;
        if let Some(user) = user {
            self.users
                .check_key(&user.to_owned())
                .map_err(|not_yet| not_yet.wait_time_from(now))?;
        }
        Ok(())
    }
}
