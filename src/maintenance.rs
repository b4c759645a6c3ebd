//! Maintenance windows: the times a check's results are not held against
//! it. The config names them (`[[maintenance]]`, see `config`); the engine
//! asks `Calendar::covering` for each result it publishes and stamps the
//! result with the end of the window it fell in. Everything after reads
//! the stamp, never the calendar: the rules tell no one (`alerts`), the
//! history leaves the result out of uptime, and the pages say
//! "maintenance". A result keeps what it was when it was taken, so a later
//! edit of the calendar rewrites no history.
//!
//! Windows are written in civil time in a time zone, as people plan them
//! ("Sundays 02:00–03:00 Europe/Berlin"). Where the clock jumps, a window
//! is never shorter than it reads: on the night the clocks go forward, a
//! start in the skipped hour moves to when the clock resumes (as cron
//! runs a job due then) and the window keeps its full length; on the night
//! they go back, a window over the repeated hour covers both passes of it.

use crate::status::CheckId;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// When a window is open.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Schedule {
    /// Once, from `start` to `end` (civil times in `zone`).
    Once {
        start: DateTime,
        end: DateTime,
        zone: TimeZone,
    },
    /// On each of `days`, from `from` until `until`, which is on the next
    /// day when it is not after `from` ("23:00" until "01:00").
    Weekly {
        days: Vec<Weekday>,
        from: Time,
        until: Time,
        zone: TimeZone,
    },
}

/// One `[[maintenance]]`, with the checks it covers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Window {
    /// As the config names it, for people reading the config and logs.
    pub(crate) name: Option<String>,
    pub(crate) schedule: Schedule,
    pub(crate) checks: Vec<CheckId>,
}

impl Schedule {
    /// The end of the occurrence that covers `at_ms` (start included, end
    /// not), in milliseconds since the Unix epoch.
    pub(crate) fn covering(&self, at_ms: u64) -> Option<u64> {
        let at = i64::try_from(at_ms).ok()?;
        match self {
            Schedule::Once { start, end, zone } => occurrence(*start, *end, zone)
                .filter(|(from, until)| (*from..*until).contains(&at))
                .map(|(_, until)| until as u64),
            Schedule::Weekly {
                days,
                from,
                until,
                zone,
            } => {
                let today = jiff::Timestamp::from_millisecond(at)
                    .ok()?
                    .to_zoned_datetime(zone.clone())
                    .date();
                // An occurrence that began yesterday may still be open
                // (one past midnight, or stretched by a clock change).
                [today.yesterday().ok(), Some(today)]
                    .into_iter()
                    .flatten()
                    .filter(|day| days.contains(&day.weekday()))
                    .filter_map(|day| {
                        let (start, end) = weekly_bounds(day, *from, *until)?;
                        occurrence(start, end, zone)
                    })
                    .filter(|(from, until)| (*from..*until).contains(&at))
                    .map(|(_, until)| until as u64)
                    .max()
            }
        }
    }
}

/// A weekly window's civil start and end when it begins on `day`.
fn weekly_bounds(day: Date, from: Time, until: Time) -> Option<(DateTime, DateTime)> {
    let end_day = if until > from {
        day
    } else {
        day.tomorrow().ok()?
    };
    Some((day.to_datetime(from), end_day.to_datetime(until)))
}

/// One occurrence as instants (milliseconds). The start as the clock reads
/// it, or, in a gap, when the clock resumes; then the window keeps its
/// length on the clock. The end as the clock reads it, its later pass in a
/// repeated hour (so both passes are covered).
fn occurrence(start: DateTime, end: DateTime, zone: &TimeZone) -> Option<(i64, i64)> {
    let starting = zone.to_ambiguous_timestamp(start);
    let start_in_gap = matches!(starting.offset(), AmbiguousOffset::Gap { .. });
    let from = starting.compatible().ok()?.as_millisecond();
    let until = zone
        .to_ambiguous_timestamp(end)
        .later()
        .ok()?
        .as_millisecond();
    if !start_in_gap {
        return Some((from, until));
    }
    let length = i64::try_from(end.duration_since(start).as_millis()).ok()?;
    Some((from, until.max(from.checked_add(length)?)))
}

/// Every window, by the checks it covers: what the engine asks for each
/// result. Replaced whole on each reload.
#[derive(Debug, Default)]
pub(crate) struct Calendar {
    by_check: RwLock<HashMap<CheckId, Arc<[Schedule]>>>,
}

impl Calendar {
    pub(crate) fn set(&self, windows: &[Window]) {
        let mut by_check: HashMap<CheckId, Vec<Schedule>> = HashMap::new();
        for window in windows {
            for check in &window.checks {
                by_check
                    .entry(check.clone())
                    .or_default()
                    .push(window.schedule.clone());
            }
        }
        let by_check = by_check
            .into_iter()
            .map(|(id, schedules)| (id, schedules.into()))
            .collect();
        *self.by_check.write().unwrap_or_else(|e| e.into_inner()) = by_check;
    }

    /// The end of the latest-ending window of `id` open at `at_ms`, if any.
    pub(crate) fn covering(&self, id: &CheckId, at_ms: u64) -> Option<u64> {
        let schedules = self
            .by_check
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()?;
        schedules.iter().filter_map(|s| s.covering(at_ms)).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn sundays(from: &str, until: &str) -> Schedule {
        Schedule::Weekly {
            days: vec![Weekday::Sunday],
            from: from.parse().unwrap(),
            until: until.parse().unwrap(),
            zone: berlin(),
        }
    }

    #[test]
    fn a_weekly_window_opens_on_its_day_in_its_zone() {
        let window = sundays("02:00", "03:00");
        // Sunday 2026-12-06, Berlin is UTC+1: 01:00–02:00 UTC.
        assert_eq!(window.covering(ms("2026-12-06T00:59:59Z")), None);
        let end = Some(ms("2026-12-06T02:00:00Z"));
        assert_eq!(window.covering(ms("2026-12-06T01:00:00Z")), end);
        assert_eq!(window.covering(ms("2026-12-06T01:59:59Z")), end);
        assert_eq!(window.covering(ms("2026-12-06T02:00:00Z")), None);
        // Not on Saturday, not in summer time's hour either.
        assert_eq!(window.covering(ms("2026-12-05T01:30:00Z")), None);
        assert_eq!(
            window.covering(ms("2026-07-05T00:30:00Z")),
            Some(ms("2026-07-05T01:00:00Z"))
        );
    }

    #[test]
    fn the_skipped_hour_moves_the_window_and_keeps_its_length() {
        // 2026-03-29: Berlin's clocks go from 02:00 CET to 03:00 CEST
        // (01:00 UTC). 02:00–03:00 does not exist; the window opens at
        // 03:00 CEST and lasts an hour, as a job due at 02:00 then runs.
        let window = sundays("02:00", "03:00");
        assert_eq!(window.covering(ms("2026-03-29T00:59:59Z")), None);
        assert_eq!(
            window.covering(ms("2026-03-29T01:00:00Z")),
            Some(ms("2026-03-29T02:00:00Z"))
        );
        assert_eq!(window.covering(ms("2026-03-29T02:00:00Z")), None);
        let half_past = sundays("02:30", "03:30");
        assert_eq!(
            half_past.covering(ms("2026-03-29T01:45:00Z")),
            Some(ms("2026-03-29T02:30:00Z"))
        );
    }

    #[test]
    fn the_repeated_hour_is_covered_both_times() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC), so
        // 02:00–03:00 on the clock happens twice: 00:00–02:00 UTC.
        let window = sundays("02:00", "03:00");
        let end = Some(ms("2026-10-25T02:00:00Z"));
        assert_eq!(window.covering(ms("2026-10-24T23:59:59Z")), None);
        assert_eq!(window.covering(ms("2026-10-25T00:00:00Z")), end);
        assert_eq!(window.covering(ms("2026-10-25T01:30:00Z")), end);
        assert_eq!(window.covering(ms("2026-10-25T02:00:00Z")), None);
    }

    #[test]
    fn a_window_over_the_night_the_clocks_change_ends_when_the_clock_says() {
        // Saturday 22:00 to Sunday 06:00, Berlin, the night of 2026-03-29:
        // starts at 22:00 CET and ends at 06:00 CEST, seven hours later.
        let night = Schedule::Weekly {
            days: vec![Weekday::Saturday],
            from: "22:00".parse().unwrap(),
            until: "06:00".parse().unwrap(),
            zone: berlin(),
        };
        let end = Some(ms("2026-03-29T04:00:00Z"));
        assert_eq!(night.covering(ms("2026-03-28T21:00:00Z")), end);
        assert_eq!(night.covering(ms("2026-03-29T03:59:59Z")), end);
        assert_eq!(night.covering(ms("2026-03-29T04:00:00Z")), None);
        // Ending in the repeated hour (2026-10-25, 02:30): both passes.
        let early = sundays("01:00", "02:30");
        assert_eq!(
            early.covering(ms("2026-10-25T01:15:00Z")),
            Some(ms("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn a_window_past_midnight_ends_the_next_day() {
        let window = sundays("23:00", "01:00");
        // Sunday 23:00 CET to Monday 01:00 CET.
        let end = Some(ms("2026-12-07T00:00:00Z"));
        assert_eq!(window.covering(ms("2026-12-06T22:00:00Z")), end);
        assert_eq!(window.covering(ms("2026-12-06T23:30:00Z")), end);
        assert_eq!(window.covering(ms("2026-12-07T00:00:00Z")), None);
        // Saturday night is not Sunday's.
        assert_eq!(window.covering(ms("2026-12-05T23:30:00Z")), None);
    }

    #[test]
    fn a_one_off_window_is_open_once() {
        let window = Schedule::Once {
            start: "2026-12-24T22:00".parse().unwrap(),
            end: "2026-12-25T02:00".parse().unwrap(),
            zone: TimeZone::get("America/New_York").unwrap(),
        };
        let end = Some(ms("2026-12-25T07:00:00Z"));
        assert_eq!(window.covering(ms("2026-12-25T02:59:59Z")), None);
        assert_eq!(window.covering(ms("2026-12-25T03:00:00Z")), end);
        assert_eq!(window.covering(ms("2026-12-25T06:59:59Z")), end);
        assert_eq!(window.covering(ms("2026-12-25T07:00:00Z")), None);
    }

    #[test]
    fn the_calendar_answers_for_the_checks_a_window_names() {
        let calendar = Calendar::default();
        let db = CheckId("db".into());
        let web = CheckId("web".into());
        calendar.set(&[
            Window {
                name: None,
                schedule: sundays("02:00", "03:00"),
                checks: vec![db.clone()],
            },
            Window {
                name: Some("longer".into()),
                schedule: sundays("01:00", "04:00"),
                checks: vec![db.clone()],
            },
        ]);
        let at = ms("2026-12-06T01:30:00Z");
        assert_eq!(calendar.covering(&db, at), Some(ms("2026-12-06T03:00:00Z")));
        assert_eq!(calendar.covering(&web, at), None);
        calendar.set(&[]);
        assert_eq!(calendar.covering(&db, at), None);
    }
}
