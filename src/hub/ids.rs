//! A cluster's event ids: the shared log's own ids (`ms-seq`, as Redis
//! Streams write them) as one number, `ms × 1024 + seq`. The publishing
//! script never gives a sequence of 1,024 or more within a millisecond (it
//! moves to the next millisecond instead), so the mapping is exact both
//! ways, the numbers keep the log's order, and they stay below 2^53 (exact
//! in a browser's numbers) until the year 2248.

/// How many ids the log gives within one millisecond.
pub(crate) const PER_MILLISECOND: u64 = 1024;

/// Every event id is below this: exact in a browser's numbers. An entry
/// of the log above it (written by hand, by anything but `publish.lua`,
/// which reaches it in 2248) is no event; and so the arithmetic on ids
/// (the next, an epoch's start above the newest) never nears `u64::MAX`.
pub(crate) const END: u64 = 1 << 53;

/// The event id of the log's id `ms-seq`; `None` for anything else, and
/// for an id from `END` on.
pub fn event_id(log_id: &str) -> Option<u64> {
    let (ms, seq) = log_id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    if seq >= PER_MILLISECOND {
        return None;
    }
    let id = ms.checked_mul(PER_MILLISECOND)?.checked_add(seq)?;
    (id < END).then_some(id)
}

/// The event id after `id`, if there is one below `END`.
pub(crate) fn next(id: u64) -> Option<u64> {
    id.checked_add(1).filter(|&next| next < END)
}

/// Where a new epoch starts (its ids come after it): now, or above every
/// id seen (`newest`) when that is later, so that ids only grow for a
/// replica's clients; now when the ids seen leave no room above them.
pub(crate) fn epoch_start(now_ms: u64, newest: u64) -> u64 {
    let now = now_ms.saturating_mul(PER_MILLISECOND).min(END - 2);
    match next(newest).filter(|&above| next(above).is_some()) {
        Some(above) => now.max(above),
        None => now,
    }
}

/// The log's id of an event id.
pub fn log_id(event_id: u64) -> String {
    format!(
        "{}-{}",
        event_id / PER_MILLISECOND,
        event_id % PER_MILLISECOND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_both_ways_in_order() {
        let ids = [
            "1764700000000-0",
            "1764700000000-1",
            "1764700000000-1023",
            "1764700000001-0",
        ];
        let numbers: Vec<u64> = ids.iter().map(|id| event_id(id).unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        for (id, n) in ids.iter().zip(&numbers) {
            assert_eq!(log_id(*n), *id);
        }
        assert!(numbers[3] < 1 << 53);
    }

    #[test]
    fn ids_end_below_two_to_the_53rd() {
        let last = event_id("8796093022207-1023").unwrap();
        assert_eq!(last, END - 1);
        assert_eq!(log_id(last), "8796093022207-1023");
        assert_eq!(event_id("8796093022208-0"), None);
        assert_eq!(next(last - 1), Some(last));
        assert_eq!(next(last), None);
        assert_eq!(next(u64::MAX), None);
    }

    #[test]
    fn an_epoch_starts_above_the_ids_seen_while_there_is_room() {
        let now_ms = 1_764_700_000_000;
        let now = now_ms * PER_MILLISECOND;
        assert_eq!(epoch_start(now_ms, now - 5), now);
        assert_eq!(epoch_start(now_ms, now + 5), now + 6);
        for newest in [END - 2, END - 1, END, u64::MAX] {
            assert_eq!(epoch_start(now_ms, newest), now, "{newest}");
        }
        // The epoch's start has an id after it, whatever the clock says.
        assert!(next(epoch_start(u64::MAX, 0)).is_some());
    }

    #[test]
    fn anything_but_two_plain_numbers_is_no_id() {
        for bad in [
            "",
            "5",
            "5-",
            "-5",
            "5-1024",
            "a-1",
            "5-1-2",
            "+5-1",
            "99999999999999999999-0",
            // u64::MAX, and 2^53: past `END`.
            "18014398509481983-1023",
            "8796093022208-0",
        ] {
            assert_eq!(event_id(bad), None, "{bad:?}");
        }
    }
}
