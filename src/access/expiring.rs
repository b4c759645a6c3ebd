//! A table of keys that each matter until an instant, with a size bound:
//! what the sign-in throttle keeps (each limit's state, and the addresses
//! users signed in from). An entry whose instant has passed is as good as
//! absent, so forgetting it loses nothing; when the table is full of live
//! entries, those that would lapse soonest are forgotten first, which
//! loses the least.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

pub(crate) struct Expiring<K> {
    until: HashMap<K, Instant>,
    most: usize,
}

impl<K: Hash + Eq> Expiring<K> {
    pub fn new(most: usize) -> Expiring<K> {
        Expiring {
            until: HashMap::new(),
            most: most.max(1),
        }
    }

    /// Until when `key` matters, if it still does at `now`.
    pub(crate) fn get(&self, key: &K, now: Instant) -> Option<Instant> {
        self.until.get(key).copied().filter(|until| *until > now)
    }

    /// Sets until when `key` matters, making room first if it is new and
    /// the table is full.
    pub(crate) fn set(&mut self, key: K, until: Instant, now: Instant) {
        if self.until.len() >= self.most && !self.until.contains_key(&key) {
            self.make_room(now);
        }
        self.until.insert(key, until);
    }

    /// Entries kept, lapsed or not: what the bound holds to.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }

    /// Forgets what has lapsed; if that is not enough, an eighth of the
    /// table, those lapsing soonest. An eighth at once, so that a table
    /// kept full by a flood is scanned once per that many new keys, not
    /// once per key.
    fn make_room(&mut self, now: Instant) {
        self.until.retain(|_, until| *until > now);
        if self.until.len() < self.most {
            return;
        }
        let mut instants: Vec<Instant> = self.until.values().copied().collect();
        let (_, cut, _) = instants.select_nth_unstable(self.most / 8);
        let cut = *cut;
        self.until.retain(|_, until| *until > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::Expiring;
    use std::time::{Duration, Instant};

    #[test]
    fn a_lapsed_entry_is_absent_and_a_full_table_forgets_the_soonest_first() {
        let now = Instant::now();
        let at = |s: u64| now + Duration::from_secs(s);
        let mut table = Expiring::new(16);
        table.set("gone", at(1), now);
        assert_eq!(table.get(&"gone", now), Some(at(1)));
        assert_eq!(table.get(&"gone", at(1)), None, "lapsed at its instant");

        let mut table = Expiring::new(16);
        for key in 0..16u64 {
            table.set(key, at(100 + key), now);
        }
        table.set(99, at(500), now);
        assert!(table.len() <= 16, "{} entries", table.len());
        assert_eq!(table.get(&0, now), None, "the soonest to lapse went first");
        assert_eq!(table.get(&15, now), Some(at(115)), "the latest stayed");
        assert_eq!(table.get(&99, now), Some(at(500)));
    }

    #[test]
    fn a_full_table_forgets_what_lapsed_before_anything_live() {
        let now = Instant::now();
        let mut table = Expiring::new(4);
        table.set(1, now + Duration::from_secs(1), now);
        for key in 2..=4 {
            table.set(key, now + Duration::from_secs(60), now);
        }
        let later = now + Duration::from_secs(2);
        table.set(5, later + Duration::from_secs(60), later);
        for key in 2..=5 {
            assert!(table.get(&key, later).is_some(), "{key} kept");
        }
    }

    #[test]
    fn a_table_stays_within_its_bound_whatever_is_added() {
        let now = Instant::now();
        let mut table = Expiring::new(1000);
        for key in 0..100_000u64 {
            table.set(key, now + Duration::from_secs(60 + key % 7), now);
            assert!(table.len() <= 1000);
        }
    }
}
