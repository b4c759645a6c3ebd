//! The Postgres history against a real Postgres: it answers every read
//! exactly as the SQLite file does for the same results (roll-ups,
//! uptime, trends, a check's history, retention), two replicas writing the
//! same results keep each result and each change once, and a result
//! written after its span was rolled up is counted in the next roll-up.

mod support;

use pulse::history::{Backend, PgStore, Retention, SqliteStore};
use pulse::status::{CheckId, CheckKind, CheckStatus, Health};
use serde_json::Value;
use std::time::Duration;
use support::postgres::Postgres;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;
/// A round day, so minute, hour and day boundaries are easy to read.
const T0: u64 = 1_800_000_000_000 / 86_400_000 * 86_400_000;

fn result(id: &str, at_ms: u64, health: Health, latency_ms: Option<f64>) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: None,
        id: CheckId(id.into()),
        name: id.into(),
        group: "g".into(),
        kind: CheckKind::Http,
        health,
        latency_ms,
        detail: format!("{} at {at_ms}", health.label()),
        checked_at_ms: at_ms,
    }
}

/// Three checks over three hours, every 20 s: outages, a degraded spell,
/// results Pulse could not check, a maintenance window, a check with no
/// latency, and a pending status that is no result.
fn three_hours() -> Vec<Vec<CheckStatus>> {
    let mut minutes = Vec::new();
    for minute in 0..180u64 {
        let mut batch = Vec::new();
        for step in 0..3u64 {
            let at = T0 + minute * MINUTE + step * 20_000;
            let n = minute * 3 + step;
            let api = match n % 23 {
                0..=3 => Health::Down,
                9 => Health::Unknown,
                12..=13 => Health::Degraded,
                _ => Health::Up,
            };
            batch.push(result(
                "api",
                at + 1,
                api,
                Some(5.0 + (n % 17) as f64 * 1.25),
            ));
            let mut db = result("db", at + 7, Health::Up, Some(0.5 + (n % 5) as f64));
            if (60..70).contains(&minute) {
                db.health = Health::Down;
                db.maintenance_until_ms = Some(T0 + 70 * MINUTE);
            }
            batch.push(db);
            let port = match minute % 50 < 3 {
                true => Health::Down,
                false => Health::Up,
            };
            batch.push(result("port", at + 13, port, None));
        }
        minutes.push(batch);
    }
    let mut pending = result("api", 0, Health::Unknown, None);
    pending.detail = "not checked yet".into();
    minutes[0].push(pending);
    minutes
}

/// Everything a page or the API reads, as JSON with floats rounded: the
/// two databases compute means in different float orders.
fn everything(store: &dyn Backend, now: u64) -> Value {
    let mut all = serde_json::Map::new();
    for check in ["api", "db", "port", "missing"] {
        let mut one = serde_json::Map::new();
        for span in [60, 3600] {
            let rollups = store.rollups(check, span, 0).unwrap();
            one.insert(
                format!("rollups_{span}"),
                serde_json::to_value(rollups).unwrap(),
            );
        }
        let changes = store.changes(check, 0).unwrap();
        one.insert("changes".into(), serde_json::to_value(changes).unwrap());
        for (range, ms) in [("1h", HOUR), ("24h", 24 * HOUR), ("7d", 7 * 24 * HOUR)] {
            let history = store.check_history(check, range, ms, now).unwrap();
            one.insert(range.into(), serde_json::to_value(history).unwrap());
        }
        for since in [T0, T0 + 90 * MINUTE, now - HOUR] {
            let uptime = store.uptime(check, since).unwrap();
            one.insert(
                format!("uptime_{since}"),
                serde_json::to_value(uptime).unwrap(),
            );
        }
        all.insert(check.into(), Value::Object(one));
    }
    let trends: std::collections::BTreeMap<_, _> = store.trends(now).unwrap().into_iter().collect();
    all.insert("trends".into(), serde_json::to_value(trends).unwrap());
    let feed = store.recent_changes(50).unwrap();
    all.insert("feed".into(), serde_json::to_value(feed).unwrap());
    let counts = store.row_counts().unwrap();
    all.insert(
        "rows".into(),
        serde_json::json!([counts.results, counts.minutes, counts.hours, counts.changes]),
    );
    rounded(Value::Object(all))
}

fn rounded(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            serde_json::json!((n.as_f64().unwrap() * 1e6).round() / 1e6)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, rounded(v))).collect())
        }
        other => other,
    }
}

/// A multi-thread runtime, as the server's: `PgStore` blocks on it from
/// the test's own thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn pg_store(runtime: &tokio::runtime::Runtime, postgres: &Postgres) -> PgStore {
    let mut store = PgStore::new(&postgres.url(), runtime.handle().clone()).unwrap();
    runtime.block_on(store.prepare()).unwrap();
    store
}

/// Differences between two JSON values, as paths, for a readable failure.
fn differences(a: &Value, b: &Value, path: &str, found: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (left, right) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                differences(left, right, &format!("{path}.{key}"), found);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (left, right)) in x.iter().zip(y).enumerate() {
                differences(left, right, &format!("{path}[{i}]"), found);
            }
        }
        _ if a != b => found.push(format!("{path}: sqlite {a} postgres {b}")),
        _ => {}
    }
}

fn assert_same(sqlite: &dyn Backend, postgres: &dyn Backend, now: u64, when: &str) {
    let (expected, got) = (everything(sqlite, now), everything(postgres, now));
    let mut found = Vec::new();
    differences(&expected, &got, "", &mut found);
    assert!(
        found.is_empty(),
        "{when}: Postgres differs from SQLite in {} places, first: {:#?}",
        found.len(),
        &found[..found.len().min(12)]
    );
}

#[test]
fn postgres_answers_every_read_as_sqlite_does_through_roll_ups_and_retention() {
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteStore::open(&dir.path().join("history.db")).unwrap();
    let mut pg = pg_store(&runtime, &postgres);
    let stores: [&mut dyn Backend; 2] = [&mut sqlite, &mut pg];
    let mut stores = stores;
    for (minute, batch) in three_hours().iter().enumerate() {
        let now = T0 + (minute as u64 + 1) * MINUTE + 500;
        for store in stores.iter_mut() {
            store.record(batch).unwrap();
            // Rolled up every 7 minutes, as a writer that fell behind would.
            if minute % 7 == 6 {
                store.roll_up(now).unwrap();
            }
        }
    }
    let now = T0 + 180 * MINUTE + 30_000;
    let [sqlite, pg] = stores;
    assert_same(&*sqlite, &*pg, now, "before the last roll-up");
    sqlite.roll_up(now).unwrap();
    pg.roll_up(now).unwrap();
    assert_same(&*sqlite, &*pg, now, "rolled up");
    let hour_count = pg.rollups("api", 3600, 0).unwrap().len();
    assert_eq!(hour_count, 3, "three whole hours are aggregated");

    // A day later, with an hour of raw results and of minutes kept: the
    // charts read the aggregates where the raw results are gone.
    let retention = Retention {
        raw: Duration::from_secs(3600),
        minutes: Duration::from_secs(2 * 3600),
        hours: Duration::from_secs(90 * 86_400),
    };
    let later = T0 + 180 * MINUTE + 30_000;
    sqlite.prune(later, retention).unwrap();
    pg.prune(later, retention).unwrap();
    assert_same(&*sqlite, &*pg, later, "pruned");
    let rows = pg.row_counts().unwrap();
    assert!(rows.results > 0 && rows.results < 3 * 3 * 120, "{rows:?}");
    assert_eq!(rows.hours, 9, "every hour of every check is kept");
}

#[test]
fn two_replicas_writing_the_same_results_keep_each_result_and_change_once() {
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteStore::open(&dir.path().join("history.db")).unwrap();
    let mut first = pg_store(&runtime, &postgres);
    let mut second = pg_store(&runtime, &postgres);
    let minutes = three_hours();
    // The replicas batch differently and one runs behind the other, as
    // replicas following the same log do.
    let all: Vec<CheckStatus> = minutes.concat();
    for batch in &minutes {
        sqlite.record(batch).unwrap();
    }
    let chunks_a: Vec<&[CheckStatus]> = all.chunks(7).collect();
    let chunks_b: Vec<&[CheckStatus]> = all.chunks(11).collect();
    let (mut a, mut b) = (0, 0);
    while a < chunks_a.len() || b < chunks_b.len() {
        if let Some(chunk) = chunks_a.get(a) {
            first.record(chunk).unwrap();
            a += 1;
        }
        if a % 3 == 0
            && let Some(chunk) = chunks_b.get(b)
        {
            second.record(chunk).unwrap();
            b += 1;
        }
        if a >= chunks_a.len()
            && let Some(chunk) = chunks_b.get(b)
        {
            second.record(chunk).unwrap();
            b += 1;
        }
    }
    let now = T0 + 180 * MINUTE + 30_000;
    sqlite.roll_up(now).unwrap();
    first.roll_up(now).unwrap();
    second.roll_up(now).unwrap();
    assert_same(&sqlite, &first, now, "after two writers");
    // A third replica starting now reads each check's last health back,
    // and writing results it missed nothing of adds no change.
    let mut third = pg_store(&runtime, &postgres);
    third.record(minutes.last().unwrap()).unwrap();
    assert_same(
        &sqlite,
        &third,
        now,
        "after a third writer repeated the last minute",
    );
}

#[test]
fn a_result_written_after_its_minute_was_rolled_up_is_counted_in_the_next_roll_up() {
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteStore::open(&dir.path().join("history.db")).unwrap();
    let mut pg = pg_store(&runtime, &postgres);
    let on_time = [
        result("api", T0 + 1_000, Health::Up, Some(1.0)),
        result("api", T0 + 30_000, Health::Up, Some(2.0)),
    ];
    // Checked at the end of the minute, written by a replica that ran behind.
    let late = [result("api", T0 + 59_900, Health::Down, Some(9.0))];
    let stores: [&mut dyn Backend; 2] = [&mut sqlite, &mut pg];
    for store in stores {
        store.record(&on_time).unwrap();
        store.roll_up(T0 + MINUTE + 100).unwrap();
        assert_eq!(store.rollups("api", 60, 0).unwrap()[0].count, 2);
        store.record(&late).unwrap();
        store.roll_up(T0 + MINUTE + 1_100).unwrap();
        let minute = &store.rollups("api", 60, 0).unwrap()[0];
        assert_eq!((minute.count, minute.failures), (3, 1));
        assert_eq!(minute.lat_max, Some(9.0));
    }
}

#[test]
fn the_schema_is_migrated_once_by_replicas_starting_together() {
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let stores: Vec<PgStore> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| pg_store(&runtime, &postgres)))
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    });
    assert_eq!(stores.len(), 4);
    let versions = runtime.block_on(async {
        let client = postgres.client().await;
        let rows = client
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>()
    });
    assert_eq!(versions, [1, 2, 3, 4]);
}

#[test]
fn a_detail_with_nul_bytes_is_kept_and_does_not_stop_the_writes_after_it() {
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let mut pg = pg_store(&runtime, &postgres);
    // A target may answer anything; Postgres text holds no NUL.
    let mut garbage = result("api", T0, Health::Down, Some(1.0));
    garbage.detail = "bad\0answer".into();
    pg.record(&[garbage]).unwrap();
    pg.record(&[result("api", T0 + 1_000, Health::Up, Some(1.0))])
        .unwrap();
    let changes = pg.changes("api", 0).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].detail.as_deref(), Some("bad\u{FFFD}answer"));
}

/// The checks a store has a number for (its `checks` table).
fn check_rows(
    sqlite_file: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
    postgres: &Postgres,
) -> [i64; 2] {
    let count = "SELECT COUNT(*) FROM checks";
    let sqlite = rusqlite::Connection::open(sqlite_file).unwrap();
    let in_sqlite = sqlite.query_row(count, [], |r| r.get(0)).unwrap();
    let in_postgres = runtime.block_on(async {
        let client = postgres.client().await;
        client.query_one(count, &[]).await.unwrap().get(0)
    });
    [in_sqlite, in_postgres]
}

/// A config that renames its checks on every reload leaves a number per
/// name behind; pruning forgets the numbers nothing is kept of any more,
/// and a name seen again afterwards is written and read as before, also by
/// a replica that wrote it before another replica's prune forgot it.
#[test]
fn pruning_forgets_the_checks_nothing_is_kept_of() {
    const DAY: u64 = 86_400_000;
    let runtime = runtime();
    let postgres = runtime.block_on(Postgres::start());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.db");
    let mut sqlite = SqliteStore::open(&file).unwrap();
    let mut pruning = pg_store(&runtime, &postgres);
    let mut other = pg_store(&runtime, &postgres);
    // 30 reloads, each renaming 10 checks; each name fails, then recovers.
    for reload in 0..30u64 {
        let at = T0 + reload * MINUTE;
        let batch: Vec<CheckStatus> = (0..10)
            .flat_map(|i| {
                let id = format!("check-{i}-v{reload}");
                [
                    result(&id, at, Health::Down, Some(1.0)),
                    result(&id, at + 20_000, Health::Up, Some(1.0)),
                ]
            })
            .collect();
        sqlite.record(&batch).unwrap();
        pruning.record(&batch).unwrap();
    }
    other
        .record(&[result("check-0-v0", T0, Health::Down, Some(1.0))])
        .unwrap();
    let now = T0 + 100 * DAY;
    let current: Vec<CheckStatus> = (0..10)
        .map(|i| result(&format!("check-{i}-v30"), now - MINUTE, Health::Up, None))
        .collect();
    let stores: [&mut dyn Backend; 2] = [&mut sqlite, &mut pruning];
    for store in stores {
        store.roll_up(T0 + 31 * MINUTE).unwrap();
        store.record(&current).unwrap();
        assert_eq!(store.rollups("check-0-v0", 60, 0).unwrap().len(), 1);
        store.prune(now, Retention::default()).unwrap();
    }
    assert_eq!(check_rows(&file, &runtime, &postgres), [10, 10]);

    let again = [result("check-0-v0", now - 30_000, Health::Down, Some(2.0))];
    let stores: [&mut dyn Backend; 2] = [&mut sqlite, &mut other];
    for store in stores {
        store.record(&again).unwrap();
        let failures = store.failures("check-0-v0", 0).unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].at_ms, now - 30_000);
    }
    assert_eq!(check_rows(&file, &runtime, &postgres), [11, 11]);
}
