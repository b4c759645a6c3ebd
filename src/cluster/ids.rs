//! A cluster's event ids: the shared log's own ids (`ms-seq`, as Redis
//! Streams write them) as one number, `ms × 1024 + seq`. The publishing
//! script never gives a sequence of 1,024 or more within a millisecond (it
//! moves to the next millisecond instead), so the mapping is exact both
//! ways, the numbers keep the log's order, and they stay below 2^53 (exact
//! in a browser's numbers) until the year 2248.

/// How many ids the log gives within one millisecond.
pub const PER_MILLISECOND: u64 = 1024;

/// The event id of the log's id `ms-seq`; `None` for anything else.
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
    ms.checked_mul(PER_MILLISECOND)?.checked_add(seq)
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
        ] {
            assert_eq!(event_id(bad), None, "{bad:?}");
        }
    }
}
