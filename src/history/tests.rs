//! The store against a real SQLite file: changes, roll-ups, retention, and
//! what survives reopening the file (a restart).

use super::backend::{Backend, Retention, Rollup};
use super::sqlite::SqliteStore as Store;
use crate::status::{CheckId, CheckKind, CheckStatus, Health};
use std::time::Duration;

const MINUTE: u64 = 60_000;
/// A round hour, so minute and hour boundaries are easy to read.
const T0: u64 = 1_800_000_000_000 / 3_600_000 * 3_600_000;

fn result(id: &str, at_ms: u64, health: Health, latency_ms: f64) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: None,
        id: CheckId(id.into()),
        name: id.into(),
        group: "g".into(),
        kind: CheckKind::Http,
        health,
        latency_ms: Some(latency_ms),
        detail: format!("{} at {at_ms}", health.label()),
        checked_at_ms: at_ms,
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("history.db")).unwrap()
}

#[test]
fn changes_of_health_are_recorded_once_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let healths = [
        Health::Up,
        Health::Up,
        Health::Down,
        Health::Down,
        Health::Up,
    ];
    let batch: Vec<_> = healths
        .iter()
        .enumerate()
        .map(|(i, h)| result("api", T0 + i as u64 * 1000, *h, 10.0))
        .collect();
    store.record(&batch).unwrap();
    // A pending status is not a result.
    let mut pending = result("api", 0, Health::Unknown, 0.0);
    pending.latency_ms = None;
    store.record(&[pending]).unwrap();
    drop(store);

    let mut store = open(&dir);
    store
        .record(&[result("api", T0 + 9000, Health::Up, 10.0)])
        .unwrap();
    let changes = store.changes("api", 0).unwrap();
    let path: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        path,
        [
            (None, Health::Up),
            (Some(Health::Up), Health::Down),
            (Some(Health::Down), Health::Up)
        ]
    );
    assert_eq!(changes[1].at_ms, T0 + 2000);
    assert_eq!(
        changes[1].detail.as_deref(),
        Some(format!("down at {}", T0 + 2000).as_str())
    );
    assert_eq!(store.result_count().unwrap(), 6);
}

#[test]
fn minutes_and_hours_are_rolled_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    // Minute 0: 20 results, latencies 1..=20 ms, the last two down.
    let mut batch: Vec<_> = (1..=20)
        .map(|i| {
            let health = if i > 18 { Health::Down } else { Health::Up };
            result("api", T0 + i * 1000, health, i as f64)
        })
        .collect();
    // Minute 1: one result.
    batch.push(result("api", T0 + MINUTE + 5000, Health::Up, 100.0));
    store.record(&batch).unwrap();

    // In the middle of minute 2: minutes 0 and 1 are complete.
    store.roll_up(T0 + 2 * MINUTE + 30_000).unwrap();
    store.roll_up(T0 + 2 * MINUTE + 40_000).unwrap();
    let minutes = store.rollups("api", 60, 0).unwrap();
    assert_eq!(
        minutes,
        [
            Rollup {
                start_ms: T0,
                count: 20,
                failures: 2,
                lat_min: Some(1.0),
                lat_avg: Some(10.5),
                lat_p95: Some(19.0),
                lat_max: Some(20.0),
                uptime_count: 20,
                uptime_failures: 2,
            },
            Rollup {
                start_ms: T0 + MINUTE,
                count: 1,
                failures: 0,
                lat_min: Some(100.0),
                lat_avg: Some(100.0),
                lat_p95: Some(100.0),
                lat_max: Some(100.0),
                uptime_count: 1,
                uptime_failures: 0,
            },
        ]
    );
    // The hour is not complete yet; one hour later it is.
    assert!(store.rollups("api", 3600, 0).unwrap().is_empty());
    store.roll_up(T0 + 61 * MINUTE).unwrap();
    let hours = store.rollups("api", 3600, 0).unwrap();
    assert_eq!((hours.len(), hours[0].count, hours[0].failures), (1, 21, 2));
    assert_eq!(hours[0].lat_max, Some(100.0));
}

#[test]
fn uptime_counts_aggregates_and_fresh_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let batch: Vec<_> = (0..10)
        .map(|i| {
            result(
                "api",
                T0 + i * 1000,
                if i == 0 { Health::Down } else { Health::Up },
                5.0,
            )
        })
        .collect();
    store.record(&batch).unwrap();
    store.roll_up(T0 + MINUTE + 1).unwrap();
    // Not yet rolled up: a degraded result counts as up, a down one not.
    store
        .record(&[
            result("api", T0 + MINUTE + 2000, Health::Degraded, 5.0),
            result("api", T0 + MINUTE + 3000, Health::Down, 5.0),
        ])
        .unwrap();
    let uptime = store.uptime("api", T0).unwrap().unwrap();
    assert!((uptime - 10.0 / 12.0).abs() < 1e-9, "{uptime}");
    assert_eq!(store.uptime("other", T0).unwrap(), None);
}

/// Results taken in a maintenance window are kept and charted, but no
/// uptime counts them, fresh, rolled up by the minute or by the hour, nor
/// the 90-day bar.
#[test]
fn results_in_a_maintenance_window_are_left_out_of_uptime() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let in_window = |at_ms| crate::status::CheckStatus {
        maintenance_until_ms: Some(T0 + 2 * MINUTE),
        ..result("api", at_ms, Health::Down, 50.0)
    };
    // Each minute: one up and one down out of the window, four down in it.
    let mut batch = Vec::new();
    for minute in [T0, T0 + MINUTE] {
        batch.push(result("api", minute + 1000, Health::Up, 10.0));
        batch.push(result("api", minute + 2000, Health::Down, 30.0));
        batch.extend((3..7).map(|s| in_window(minute + s * 1000)));
    }
    store.record(&batch).unwrap();
    assert_eq!(store.uptime("api", T0).unwrap(), Some(0.5), "fresh");
    store.roll_up(T0 + MINUTE + 30_000).unwrap();
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(0.5),
        "a minute rolled up"
    );
    let minute = &store.rollups("api", 60, 0).unwrap()[0];
    assert_eq!((minute.count, minute.failures), (6, 5), "what happened");
    assert_eq!((minute.uptime_count, minute.uptime_failures), (2, 1));
    store.roll_up(T0 + 61 * MINUTE).unwrap();
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(0.5),
        "the hour rolled up"
    );
    let now = T0 + 61 * MINUTE;
    let history = store.check_history("api", "24h", 86_400_000, now).unwrap();
    let today = history.days.last().unwrap();
    assert_eq!((today.results, today.failures), (4, 2), "the 90-day bar");
    let charted: u64 = history.points.iter().map(|p| p.failures).sum();
    assert_eq!(charted, 10, "the chart shows every failure");
    let trends = store.trends(now).unwrap();
    assert_eq!(trends["api"].uptime()[1], Some(0.5), "the cards, 24 h");
}

/// A result Pulse could not check (`unknown`, with a reason) is kept, but
/// it is no result of the target: neither a failure nor a success in any
/// count, fresh or rolled up, and no change of health.
#[test]
fn results_pulse_could_not_check_count_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let not_checked = |at_ms| {
        let mut status = result("api", at_ms, Health::Unknown, 0.0);
        status.latency_ms = None;
        status.detail = "Pulse could not check this: too many open files in Pulse".into();
        status
    };
    // Minute 0: up, down, and six that Pulse could not check; minute 1 the same.
    let mut batch = Vec::new();
    for minute in [T0, T0 + MINUTE] {
        batch.push(result("api", minute + 1000, Health::Up, 10.0));
        batch.push(result("api", minute + 2000, Health::Down, 30.0));
        batch.extend((3..9).map(|s| not_checked(minute + s * 1000)));
    }
    store.record(&batch).unwrap();
    // Half the target's results were down, however many Pulse missed.
    assert_eq!(store.uptime("api", T0).unwrap(), Some(0.5), "fresh");
    store.roll_up(T0 + MINUTE + 30_000).unwrap();
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(0.5),
        "minute 0 rolled up"
    );
    let minute = &store.rollups("api", 60, 0).unwrap()[0];
    assert_eq!((minute.count, minute.failures), (2, 1));
    assert_eq!((minute.lat_min, minute.lat_max), (Some(10.0), Some(30.0)));
    store.roll_up(T0 + 61 * MINUTE).unwrap();
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(0.5),
        "the hour rolled up"
    );
    assert_eq!(store.rollups("api", 3600, 0).unwrap()[0].count, 4);

    // Kept, with the reason, where the detail page lists what was not up…
    let now = T0 + 2 * MINUTE;
    let history = store.check_history("api", "1h", 3_600_000, now).unwrap();
    assert!(
        history
            .failures
            .iter()
            .any(|f| f.health == Health::Unknown && f.detail.contains("too many open files")),
        "{:?}",
        history.failures
    );
    // …but not a change of the target's health: up, down, up, down.
    let path: Vec<_> = store
        .changes("api", 0)
        .unwrap()
        .iter()
        .map(|c| c.to)
        .collect();
    assert_eq!(path, [Health::Up, Health::Down, Health::Up, Health::Down]);
    // Nor in a card's trend: uptime windows, sparkline and strip.
    let trend = &store.trends(now).unwrap()["api"];
    assert_eq!(trend.uptime()[0], Some(0.5));
    assert_eq!(trend.recent.len(), 4);
    assert!(
        trend.minutes.iter().all(|m| m.count == 2),
        "{:?}",
        trend.minutes
    );
}

#[test]
fn retention_prunes_raw_results_before_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    store.record(&[result("api", T0, Health::Up, 1.0)]).unwrap();
    store.roll_up(T0 + 2 * 3_600_000).unwrap();
    let retention = Retention {
        raw: Duration::from_secs(3600),
        minutes: Duration::from_secs(2 * 3600),
        hours: Duration::from_secs(4 * 3600),
    };
    store.prune(T0 + 2 * 3_600_000, retention).unwrap();
    assert_eq!(store.result_count().unwrap(), 0);
    assert_eq!(store.rollups("api", 60, 0).unwrap().len(), 1);
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(1.0),
        "uptime from the aggregates"
    );
    // Minutes go first; the hour still answers for the uptime.
    store.prune(T0 + 3 * 3_600_000, retention).unwrap();
    assert!(store.rollups("api", 60, 0).unwrap().is_empty());
    assert_eq!(store.rollups("api", 3600, 0).unwrap().len(), 1);
    assert_eq!(
        store.uptime("api", T0).unwrap(),
        Some(1.0),
        "uptime from the hour"
    );
    store.prune(T0 + 5 * 3_600_000, retention).unwrap();
    assert!(store.rollups("api", 3600, 0).unwrap().is_empty());
    assert!(store.changes("api", 0).unwrap().is_empty());
}

#[test]
fn a_chart_reads_aggregates_where_raw_results_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    // Minutes 0..3: six results each, one down in minute 1; then the
    // newest, not yet aggregated minute 3.
    let batch: Vec<_> = (0..24)
        .map(|i| {
            let health = if i == 8 { Health::Down } else { Health::Up };
            result("api", T0 + i * 10_000, health, 10.0 + (i % 6) as f64)
        })
        .collect();
    store.record(&batch).unwrap();
    store.roll_up(T0 + 3 * MINUTE).unwrap();
    // Raw results kept for just two minutes: minute 0 lives on only as its
    // aggregate.
    let retention = Retention {
        raw: Duration::from_secs(120),
        ..Retention::default()
    };
    let now = T0 + 3 * MINUTE + 50_000;
    store.prune(now, retention).unwrap();
    let history = store.check_history("api", "1h", 3_600_000, now).unwrap();
    let counts: Vec<_> = history
        .points
        .iter()
        .map(|p| (p.start_ms, p.count, p.failures))
        .collect();
    assert_eq!(
        counts,
        [
            (T0, 6, 0),
            (T0 + MINUTE, 6, 1),
            (T0 + 2 * MINUTE, 6, 0),
            (T0 + 3 * MINUTE, 6, 0)
        ]
    );
    assert_eq!(history.points[0].lat_avg, Some(12.5));
    assert_eq!(history.points[3].lat_max, Some(15.0));
}

#[test]
fn trends_read_every_check_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let mut batch: Vec<_> = (0..30)
        .map(|i| {
            result(
                "api",
                T0 + i * 10_000,
                if i == 29 { Health::Down } else { Health::Up },
                10.0 + i as f64,
            )
        })
        .collect();
    batch.push(result("db", T0 + 5000, Health::Up, 1.0));
    store.record(&batch).unwrap();
    store.roll_up(T0 + 4 * MINUTE + 1).unwrap();
    let now = T0 + 5 * MINUTE;
    let trends = store.trends(now).unwrap();

    let api = &trends["api"];
    let uptime = api.uptime()[0].unwrap();
    assert!((uptime - 29.0 / 30.0).abs() < 1e-9, "{uptime}");
    assert_eq!(api.recent.len(), crate::status::RECENT);
    assert_eq!(api.recent.last().unwrap().health, Health::Down);
    assert_eq!(api.last_change_ms, Some(T0 + 29 * 10_000));
    // Five minutes of results, six a minute: five minute means.
    assert_eq!(api.minutes.len(), 5);
    assert_eq!(api.minutes[0].count, 6);
    assert_eq!(api.minutes[0].latency_ms, Some(12.5));
    assert_eq!(trends["db"].uptime(), [Some(1.0); 4]);
}

#[test]
fn a_database_of_the_first_schema_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../migrations/sqlite/001_history.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO results VALUES ('api', {T0}, 'down', 5.0, 'refused');
             INSERT INTO results VALUES ('api', {}, 'up', 7.0, NULL);
             INSERT INTO rollups VALUES ('api', 60, {T0}, 2, 1, 5.0, 6.0, 7.0, 7.0);
             INSERT INTO changes VALUES ('api', {T0}, NULL, 'down', 'refused');",
            T0 + 1000
        ))
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.result_count().unwrap(), 2);
    assert_eq!(store.rollups("api", 60, 0).unwrap()[0].count, 2);
    let history = store
        .check_history("api", "1h", 3_600_000, T0 + 2000)
        .unwrap();
    assert_eq!(history.failures[0].detail, "refused");
    // Latencies survive the move from float milliseconds to microseconds.
    let rollup = &store.rollups("api", 60, 0).unwrap()[0];
    assert_eq!(
        (
            rollup.lat_min,
            rollup.lat_avg,
            rollup.lat_p95,
            rollup.lat_max
        ),
        (Some(5.0), Some(6.0), Some(7.0), Some(7.0))
    );
    assert_eq!(
        (history.points[0].lat_avg, history.points[0].lat_max),
        (Some(6.0), Some(7.0))
    );
    assert_eq!(store.changes("api", 0).unwrap()[0].to, Health::Down);
    // New results join the migrated ones under the same check.
    store
        .record(&[result("api", T0 + 2000, Health::Up, 1.0)])
        .unwrap();
    assert_eq!(store.result_count().unwrap(), 3);
    assert_eq!(store.changes("api", 0).unwrap().len(), 2);
}

#[test]
fn per_check_reads_search_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for sql in super::sqlite::PER_CHECK_READS {
        let plan = store.explain(sql);
        // Reading one check's rows must never walk a table (the views name
        // theirs `c` and `r`/`d`), nor the by-time indexes that hold every
        // check's rows; walking the subquery it built itself is fine.
        for step in &plan {
            let walks = step.starts_with("SCAN ") && !step.starts_with("SCAN (subquery");
            assert!(!walks, "{step}\n{plan:#?}\n{sql}");
            assert!(!step.contains("_by_time"), "{step}\n{plan:#?}\n{sql}");
        }
        assert!(
            plan.iter()
                .any(|s| s.starts_with("SEARCH c ") && s.ends_with("(id=?)")),
            "finds the check by its id: {plan:#?}\n{sql}"
        );
        assert!(
            plan.iter()
                .any(|s| s.starts_with("SEARCH ") && s.contains("(check_num=?")),
            "then its rows by its key: {plan:#?}\n{sql}"
        );
    }
}
