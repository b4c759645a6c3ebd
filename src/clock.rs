//! Time as Pulse shows and stamps it: the Unix clock in milliseconds that
//! every result, alert and incident carries (server only), and its text
//! for people in UTC, which server and browser render alike.

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
#[cfg(feature = "ssr")]
pub fn unix_millis() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Formats a Unix time in milliseconds as `HH:MM:SS UTC`. Deliberately not the
/// browser's local time: the server renders this text and hydration needs the
/// browser's first render to produce exactly the same characters.
pub fn utc_clock(unix_ms: u64) -> String {
    let secs_of_day = (unix_ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

/// Formats a Unix time in milliseconds as its UTC date, `Nov 24` (UTC for
/// the same reason as `utc_clock`).
pub fn utc_day(unix_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, month, day) = civil_date(unix_ms / 86_400_000);
    format!("{} {day}", MONTHS[month as usize - 1])
}

/// (year, month 1–12, day 1–31) of a count of days since 1970-01-01, by
/// Howard Hinnant's days-to-civil algorithm.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_clock_formats_time_of_day() {
        // 2026-11-29 13:05:09 UTC
        assert_eq!(utc_clock(1_795_957_509_000), "13:05:09 UTC");
        assert_eq!(utc_clock(0), "00:00:00 UTC");
    }

    #[test]
    fn utc_day_names_the_date() {
        assert_eq!(utc_day(1_795_957_509_000), "Nov 29");
        assert_eq!(utc_day(0), "Jan 1");
        // 2024-02-29, a leap day, and 2025-03-01 after a common February.
        assert_eq!(utc_day(1_709_164_800_000), "Feb 29");
        assert_eq!(utc_day(1_740_787_200_000), "Mar 1");
        assert_eq!(civil_date(19_782), (2024, 2, 29));
    }
}
