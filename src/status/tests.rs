use super::*;

#[test]
fn health_serialises_lowercase() {
    assert_eq!(
        serde_json::to_string(&Health::Degraded).unwrap(),
        "\"degraded\""
    );
    assert_eq!(
        serde_json::from_str::<Health>("\"down\"").unwrap(),
        Health::Down
    );
}

#[test]
fn status_round_trips_through_json() {
    let status = CheckStatus {
        maintenance_until_ms: None,
        id: CheckId("host-cpu".into()),
        name: "CPU".into(),
        group: "host".into(),
        kind: CheckKind::Host,
        health: Health::Up,
        latency_ms: Some(1.5),
        detail: "line one\nline two\r\n".into(),
        checked_at_ms: 42,
    };
    let json = serde_json::to_string(&status).unwrap();
    assert!(!json.contains('\n'), "JSON data must fit one SSE data line");
    assert_eq!(serde_json::from_str::<CheckStatus>(&json).unwrap(), status);
}

#[test]
fn a_detail_history_follows_new_results() {
    let minute = 60_000;
    let start = 20_000 * DAY_MS + 10 * minute;
    let mut history = CheckHistory {
        span_s: 60,
        until_ms: start,
        points: vec![ChartPoint {
            start_ms: start - minute,
            count: 2,
            failures: 0,
            lat_avg: Some(2.0),
            lat_max: Some(3.0),
        }],
        changes: vec![StateSpan {
            at_ms: start - 5 * minute,
            health: Health::Up,
            lasted_ms: None,
            detail: None,
        }],
        ..CheckHistory::default()
    };
    let hour = 3_600_000;
    history.push(&result(start + 1_000, Health::Up, 4.0), hour);
    history.push(&result(start + 2_000, Health::Down, 8.0), hour);
    // A snapshot after a reconnect repeats the newest result.
    history.push(&result(start + 2_000, Health::Down, 8.0), hour);
    history.push(&result(start - 1_000, Health::Up, 1.0), hour);

    let newest = history.points.last().unwrap();
    assert_eq!(history.points.len(), 2);
    assert_eq!(
        (newest.start_ms, newest.count, newest.failures),
        (start, 2, 1)
    );
    assert_eq!((newest.lat_avg, newest.lat_max), (Some(6.0), Some(8.0)));
    assert_eq!(history.changes.len(), 2);
    assert_eq!(history.changes[0].lasted_ms, Some(5 * minute + 2_000));
    assert_eq!(history.changes[1].health, Health::Down);
    assert_eq!(history.failures.len(), 1);
    assert_eq!(history.failures[0].at_ms, start + 2_000);
    let today = history.days.last().unwrap();
    assert_eq!((today.results, today.failures), (2, 1));

    // An hour on, the oldest point has left the range.
    history.push(&result(start + hour, Health::Up, 1.0), hour);
    assert_eq!(history.points.first().unwrap().start_ms, start);
}

fn result(at_ms: u64, health: Health, latency_ms: f64) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: None,
        id: CheckId("c".into()),
        name: "c".into(),
        group: "g".into(),
        kind: CheckKind::Http,
        health,
        latency_ms: Some(latency_ms),
        detail: String::new(),
        checked_at_ms: at_ms,
    }
}

#[test]
fn a_trend_takes_each_result_once_and_keeps_its_bounds() {
    let minute = 1_800_000_000_000 / 60_000 * 60_000;
    let mut trend = Trend::default();
    trend.push(&result(minute + 1000, Health::Up, 10.0));
    trend.push(&result(minute + 1000, Health::Up, 10.0));
    trend.push(&result(minute + 2000, Health::Up, 20.0));
    assert_eq!(
        trend.recent.len(),
        2,
        "a result already seen is not taken twice"
    );
    assert_eq!(trend.minutes.len(), 1);
    assert_eq!(
        (trend.minutes[0].latency_ms, trend.minutes[0].count),
        (Some(15.0), 2)
    );
    assert_eq!(trend.last_change_ms, Some(minute + 1000));

    trend.push(&result(minute + 3000, Health::Down, 5.0));
    assert_eq!(trend.last_change_ms, Some(minute + 3000));
    for n in 0..30 {
        trend.push(&result(minute + 60_000 * (n + 1), Health::Down, 1.0));
    }
    assert_eq!(trend.recent.len(), RECENT);
    assert_eq!(
        trend.last_change_ms,
        Some(minute + 3000),
        "down and down is no change"
    );
    // 61 minutes seen, the last hour kept.
    assert_eq!(trend.minutes.len(), 30 + 1);
    for n in 30..70 {
        trend.push(&result(minute + 60_000 * (n + 1), Health::Down, 1.0));
    }
    assert_eq!(trend.minutes.len(), 60);
}

#[test]
fn live_results_move_the_uptime_as_a_reload_would() {
    let start = 1_800_000_000_000;
    // An hour of results every 10 s, all up, as the page was rendered.
    let mut trend = Trend {
        windows: [WindowCount {
            results: 360.0,
            failures: 0.0,
        }; 4],
        recent: vec![RecentResult {
            at_ms: start,
            health: Health::Up,
        }],
        ..Trend::default()
    };
    // Steady and up: the count holds and the uptime stays at 100 %.
    for n in 1..=60 {
        trend.push(&result(start + n * 10_000, Health::Up, 10.0));
    }
    assert!((trend.windows[0].results - 360.0).abs() < 1e-6);
    assert_eq!(trend.uptime()[0], Some(1.0));
    // Then down for a minute: six of the last hour's 360 results.
    for n in 61..=66 {
        trend.push(&result(start + n * 10_000, Health::Down, 10.0));
    }
    let hour = trend.uptime()[0].unwrap();
    assert!((hour - (1.0 - 6.0 / 360.0)).abs() < 1e-3, "{hour}");
    // The longer windows move less, each by its own size.
    let [_, day, week, month] = trend.uptime().map(Option::unwrap);
    assert!(hour < day && day < week && week < month && month < 1.0);
    // A gap longer than a window leaves only what came after it.
    trend.push(&result(start + 2 * 3_600_000, Health::Up, 10.0));
    assert_eq!(trend.windows[0].results, 1.0);
    assert_eq!(trend.uptime()[0], Some(1.0));
}

#[test]
fn results_in_a_maintenance_window_count_nowhere_but_time_passes() {
    let start = 1_800_000_000_000;
    let mut trend = Trend {
        windows: [WindowCount {
            results: 360.0,
            failures: 36.0,
        }; 4],
        recent: vec![RecentResult {
            at_ms: start,
            health: Health::Up,
        }],
        ..Trend::default()
    };
    // An hour in a window, down every time: nothing is counted, and
    // the results before it age as the hour passes.
    for n in 1..=360 {
        let mut down = result(start + n * 10_000, Health::Down, 10.0);
        down.maintenance_until_ms = Some(start + 4_000_000);
        trend.push(&down);
    }
    let aged = 360.0 * (1.0 - 10.0 / 3600.0_f64).powi(360);
    assert!(
        (trend.windows[0].results - aged).abs() < 1e-6,
        "{:?}",
        trend.windows[0]
    );
    assert!(
        (trend.uptime()[0].unwrap() - 0.9).abs() < 1e-9,
        "the failures in it count nowhere"
    );
    assert_eq!(trend.recent.len(), RECENT, "the strip still shows them");
}
