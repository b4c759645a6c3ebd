//! Pulse as a cluster: replicas on a real redis-server (and nginx in front),
//! all on loopback, started and stopped by each test.

mod support;

use pulse::hub::ids;
use pulse::status::{CheckStatus, Health};
use std::collections::HashMap;
use std::time::Duration;
use support::nginx::Nginx;
use support::postgres::Postgres;
use support::redis::Redis;
use support::{Server, SseReader};

const SECOND: Duration = Duration::from_secs(1);

/// A config of `n` TCP checks against a port that accepts, run every
/// `interval`.
fn config(n: usize, interval: &str, target: std::net::SocketAddr) -> tempfile::NamedTempFile {
    let mut text = format!("[defaults]\ninterval = \"{interval}\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[check]]\nname = \"check {i}\"\nkind = \"tcp\"\naddress = \"{target}\"\n"
        ));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// What the replicas of a test share: a Redis for the log and the leases,
/// a Postgres for the history and the alerts' outbox; and a directory for
/// each replica's own file.
struct Backing {
    redis: Redis,
    postgres: Postgres,
    dir: tempfile::TempDir,
    started: std::sync::atomic::AtomicUsize,
}

impl Backing {
    async fn start() -> Backing {
        Backing {
            redis: Redis::start().await,
            postgres: Postgres::start().await,
            dir: tempfile::tempdir().unwrap(),
            started: Default::default(),
        }
    }

    /// The arguments of a replica reading `config`, with its `lease`.
    fn args(&self, config: &tempfile::NamedTempFile, lease: &str) -> Vec<String> {
        self.args_for(config.path(), lease)
    }

    fn args_for(&self, config: &std::path::Path, lease: &str) -> Vec<String> {
        let n = self
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let own_file = self.dir.path().join(format!("replica-{n}.db"));
        [
            "--cluster",
            &self.redis.url(),
            "--cluster-lease",
            lease,
            "--history",
            own_file.to_str().unwrap(),
            "-c",
            config.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    }

    /// Where the Postgres is, for the replica's environment (never its
    /// arguments, which `ps` shows).
    fn env(&self) -> [(&'static str, String); 1] {
        [("PULSE_HISTORY_POSTGRES", self.postgres.url())]
    }

    async fn replica(&self, config: &tempfile::NamedTempFile, lease: &str) -> Server {
        self.replica_with_env(config.path(), lease, &[]).await
    }

    async fn replica_with_env(
        &self,
        config: &std::path::Path,
        lease: &str,
        extra: &[(&str, &str)],
    ) -> Server {
        let args = self.args_for(config, lease);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env = self.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(extra);
        Server::start_with_env(&args, &env).await
    }
}

/// Each check's results in the log, in order.
fn results_by_check(redis: &Redis) -> HashMap<String, Vec<(String, CheckStatus)>> {
    let mut by_check: HashMap<String, Vec<(String, CheckStatus)>> = HashMap::new();
    for (id, fields) in redis.log_after("-") {
        let Some(status) = fields.get("status") else {
            panic!("{id}: {fields:?}");
        };
        let status: CheckStatus = serde_json::from_str(status).unwrap();
        by_check
            .entry(status.id.0.clone())
            .or_default()
            .push((id, status));
    }
    by_check
}

/// Waits until every one of `n` checks has at least `each` results in the log.
async fn until_every_check_has(redis: &Redis, n: usize, each: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let by_check = results_by_check(redis);
        if by_check.len() == n && by_check.values().all(|r| r.len() >= each) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every check published {each} results within {limit:?}: {:?}",
            by_check
                .iter()
                .map(|(k, v)| (k, v.len()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The message ids of a stream read until `want` of them arrived.
async fn message_ids(stream: &mut SseReader, want: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < want {
        let (kind, id, _) = stream
            .next_event_within(10 * SECOND)
            .await
            .expect("stream open");
        if kind == "message" {
            ids.push(id.expect("results carry ids").parse().unwrap());
        }
    }
    ids
}

#[tokio::test]
async fn a_client_resumes_on_another_replica_with_exactly_the_events_the_log_holds_after_its_id() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let checks = config(3, "1s", target);
    let first = backing.replica(&checks, "6s").await;
    let second = backing.replica(&checks, "6s").await;
    let third = backing.replica(&checks, "6s").await;
    // nginx in front of the other two: the reconnect lands on another replica.
    let nginx = Nginx::start(&[&second.base, &third.base]).await;

    let mut stream = SseReader::open(&first.url("/api/events"), None).await;
    let seen = message_ids(&mut stream, 4).await;
    drop(stream);
    let last = *seen.last().unwrap();
    tokio::time::sleep(3 * SECOND).await;

    let mut resumed = SseReader::open(&nginx.url("/api/events"), Some(&last.to_string())).await;
    // That replica's own notices first (no id: they move no one's place).
    let (kind, id) = loop {
        match resumed.next_event_within(10 * SECOND).await.unwrap() {
            (kind, None, _) if kind != "message" && kind != "snapshot" => continue,
            (kind, id, _) => break (kind, id),
        }
    };
    assert_eq!(kind, "message", "a replay, not a snapshot");
    // Replayed ones (about three seconds' worth), then live ones.
    let mut got = vec![id.unwrap().parse::<u64>().unwrap()];
    got.extend(message_ids(&mut resumed, 8).await);
    let logged: Vec<u64> = redis
        .log_after(&ids::log_id(last))
        .iter()
        .map(|(id, _)| ids::event_id(id).unwrap())
        .collect();
    let wanted: Vec<u64> = logged[..got.len()].to_vec();
    assert_eq!(
        got, wanted,
        "exactly the log's ids after {last}, in order, none twice"
    );
    drop(first);
}

#[tokio::test]
async fn a_client_resuming_on_another_replica_is_first_told_that_replicas_own_notices() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let (first_file, second_file) = (config(2, "1s", target), config(2, "1s", target));
    let first = backing.replica(&first_file, "6s").await;
    let second = backing.replica(&second_file, "6s").await;
    // The second's file broken: it runs its last good config and says so,
    // in a notice only it sends.
    // Saved by rename, as editors do: never seen half written.
    let broken = second_file.path().with_extension("new");
    std::fs::write(&broken, "[[check]]\nname = ").unwrap();
    std::fs::rename(&broken, second_file.path()).unwrap();
    let error = until_status_says(&second, "/config/error", true).await;

    // Read past that notice's moment on the first, then resume on the second.
    let mut stream = SseReader::open(&first.url("/api/events"), None).await;
    let last = *message_ids(&mut stream, 3).await.last().unwrap();
    drop(stream);
    let mut resumed = SseReader::open(&second.url("/api/events"), Some(&last.to_string())).await;
    let mut before_replay = Vec::new();
    loop {
        let (kind, id, data) = resumed.next_event_within(10 * SECOND).await.unwrap();
        if kind == "message" {
            assert!(id.unwrap().parse::<u64>().unwrap() > last);
            break;
        }
        if kind == "snapshot" {
            let second_has = second.status().await["last_event_id"].clone();
            panic!(
                "a snapshot, not a replay after {last} (the second now has {second_has}): {data:.300}"
            );
        }
        assert_eq!(id, None, "{kind}: the client's place stays its own");
        before_replay.push((kind, data));
    }
    let config = before_replay
        .iter()
        .find(|(kind, _)| kind == "config")
        .map(|(_, data)| serde_json::from_str::<serde_json::Value>(data).unwrap())
        .expect("the second's config notice, before the replay");
    assert_eq!(config["error"], error.as_str(), "{before_replay:?}");
    // A public client is told only what the public sees.
    let mut public =
        SseReader::open(&second.url("/api/public/events"), Some(&last.to_string())).await;
    let (kind, _, _) = public.next_event_within(10 * SECOND).await.unwrap();
    assert_eq!(kind, "incidents");
}

#[tokio::test]
async fn a_killed_replicas_checks_go_on_elsewhere_with_no_result_twice_and_at_most_one_period_missing()
 {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let checks = config(8, "4s", target);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(backing.replica(&checks, "2s").await);
    }
    until_every_check_has(redis, 8, 3, 30 * SECOND).await;
    let victim = replicas.remove(0);
    let killed_at = support::now_ms();
    std::process::Command::new("kill")
        .args(["-KILL", &victim.pid().to_string()])
        .status()
        .unwrap();
    // Lease (2 s) plus one interval (4 s), and then two periods more:
    // every check has results well after the kill.
    let deadline = tokio::time::Instant::now() + 60 * SECOND;
    loop {
        let by_check = results_by_check(redis);
        let newest = |results: &Vec<(String, CheckStatus)>| {
            results.last().map_or(0, |(_, s)| s.checked_at_ms)
        };
        if by_check.values().all(|r| newest(r) > killed_at + 14_000) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "checks stopped after the kill at {killed_at}: {:?}",
            by_check
                .iter()
                .map(|(check, r)| (check, newest(r)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Every shard is run by one of the two left, as each one's metrics say.
    let mut held = 0.0;
    for survivor in &replicas {
        held += survivor.metric("pulse_cluster_shards_held").await;
        assert_eq!(survivor.metric("pulse_cluster_redis_up").await, 1.0);
    }
    assert_eq!(held, 64.0, "every shard held once");
    // Each check's runner says so in /metrics, and the other that it does not.
    for check in results_by_check(redis).keys() {
        let runner = runner_port(&backing, check);
        for survivor in &replicas {
            let runs = format!("pulse_cluster_runs{{check=\"{check}\"}}");
            let says = survivor.metric(&runs).await;
            let runs_it = survivor.addr().port() == runner;
            assert_eq!(
                says,
                f64::from(u8::from(runs_it)),
                "{runs} on {}",
                survivor.base
            );
        }
    }
    for (check, results) in results_by_check(redis) {
        let times: Vec<u64> = results.iter().map(|(_, s)| s.checked_at_ms).collect();
        assert!(
            *times.last().unwrap() > killed_at + 10_000,
            "{check} goes on after the kill: {times:?}"
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            // A period twice would be ~0 apart; one missing, ~8 s.
            assert!(
                (2_000..=10_000).contains(&gap),
                "{check}: results {gap} ms apart: {times:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_replica_frozen_past_its_lease_publishes_nothing_under_it_when_it_wakes() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let checks = config(8, "1s", target);
    let args = backing.args(&checks, "2s");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = backing.env();
    let env = [(env[0].0, env[0].1.as_str())];
    let (frozen, log) = Server::start_keeping_log(&args, &env).await;
    let _other = backing.replica(&checks, "2s").await;
    until_every_check_has(redis, 8, 3, 30 * SECOND).await;
    let name_of = |by: &str| by.split(' ').next().unwrap().to_string();
    let port = frozen.addr().port();
    let holders_before: Vec<String> = redis
        .log_after("-")
        .into_iter()
        .map(|(_, f)| f["by"].clone())
        .filter(|by| by.starts_with(&format!("127.0.0.1:{port}/")))
        .collect();
    assert!(
        !holders_before.is_empty(),
        "the replica to freeze ran checks"
    );
    let frozen_name = name_of(&holders_before[0]);

    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &frozen.pid().to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP");
    // Past its 2 s lease: the other replica takes its shards meanwhile.
    tokio::time::sleep(5 * SECOND).await;
    let woke_after = redis.log_after("-").last().unwrap().0.clone();
    signal("-CONT");
    // A negative: time for the woken replica to try what it held before
    // (at once, on waking), none of which may enter the log.
    tokio::time::sleep(5 * SECOND).await;

    let after_waking = redis.log_after(&woke_after);
    assert!(!after_waking.is_empty());
    for (id, fields) in &after_waking {
        assert!(
            !holders_before.contains(&fields["by"]),
            "{id} was accepted under a lease held before the freeze: {}",
            fields["by"]
        );
    }
    assert!(
        log.text().contains("lease lost"),
        "the woken replica learnt it lost its leases ({frozen_name})"
    );
    // And still no period twice.
    for (check, results) in results_by_check(redis) {
        let times: Vec<u64> = results.iter().map(|(_, s)| s.checked_at_ms).collect();
        assert!(
            times.windows(2).all(|p| p[1] - p[0] >= 500),
            "{check} published twice in one period: {times:?}"
        );
    }
}

#[tokio::test]
async fn when_redis_loses_its_data_clients_get_a_snapshot_in_band_and_checks_go_on() {
    let target = support::targets::http_target().await;
    let mut backing = Backing::start().await;
    let checks = config(3, "1s", target);
    let first = backing.replica(&checks, "2s").await;
    let _second = backing.replica(&checks, "2s").await;
    let mut stream = SseReader::open(&first.url("/api/events"), None).await;
    let before = message_ids(&mut stream, 3).await;

    backing.redis.restart_empty().await;
    let snapshot_id = loop {
        let (kind, id, _) = stream
            .next_event_within(15 * SECOND)
            .await
            .expect("the stream stays open");
        if kind == "snapshot" {
            break id.unwrap().parse::<u64>().unwrap();
        }
    };
    assert!(
        snapshot_id > *before.last().unwrap(),
        "ids only grow: {snapshot_id}"
    );
    let after = message_ids(&mut stream, 3).await;
    assert!(
        after.iter().all(|&id| id > snapshot_id),
        "{after:?} after {snapshot_id}"
    );
    // The new log holds them, under its new epoch.
    let logged: Vec<u64> = backing
        .redis
        .log_after("-")
        .iter()
        .map(|(id, _)| ids::event_id(id).unwrap())
        .collect();
    assert!(
        after.iter().all(|id| logged.contains(id)),
        "{after:?} in {logged:?}"
    );
    // An id from before the loss gets a snapshot on any replica.
    let mut old = SseReader::open(&first.url("/api/events"), Some(&before[0].to_string())).await;
    assert_eq!(
        old.next_event_within(5 * SECOND).await.unwrap().0,
        "snapshot"
    );
}

#[tokio::test]
async fn garbage_in_the_log_is_skipped_and_following_goes_on() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let checks = config(2, "1s", target);
    let first = backing.replica(&checks, "6s").await;
    let mut stream = SseReader::open(&first.url("/api/events"), None).await;
    message_ids(&mut stream, 2).await;
    // Entries no Pulse wrote (no `status`, a `status` that is no result),
    // added by hand: the script must also give ids above them.
    redis.cli(&["XADD", "{pulse}:log", "*", "junk", "1"]);
    redis.cli(&["XADD", "{pulse}:log", "*", "status", "{not json"]);
    redis.cli(&["XADD", "{pulse}:log", "*", "status", "[]"]);
    let before = support::now_ms();
    let after = message_ids(&mut stream, 4).await;
    assert!(
        after.iter().all(|&id| id / 1024 >= before - 1_000),
        "{after:?}"
    );
    // A replica that starts now reads past them too.
    let second = backing.replica(&checks, "6s").await;
    let mut late = SseReader::open(&second.url("/api/events"), None).await;
    assert_eq!(
        late.next_event_within(5 * SECOND).await.unwrap().0,
        "snapshot"
    );
    message_ids(&mut late, 2).await;
}

/// `n` HTTP checks of `target` every second.
fn http_config(n: usize, target: std::net::SocketAddr) -> tempfile::NamedTempFile {
    let mut text = String::from("[defaults]\ninterval = \"1s\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[check]]\nname = \"site {i}\"\nkind = \"http\"\nurl = \"http://{target}/{i}\"\n"
        ));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// A check's changes of health as the log's results bring them: (at,
/// from, to), results Pulse could not check left out.
fn changes_in(results: &[(String, CheckStatus)]) -> Vec<(u64, Option<String>, String)> {
    let mut changes = Vec::new();
    let mut last: Option<String> = None;
    for (_, status) in results.iter().filter(|(_, s)| s.health != Health::Unknown) {
        let health = status.health.label().to_string();
        if last.as_ref() != Some(&health) {
            changes.push((status.checked_at_ms, last.clone(), health.clone()));
            last = Some(health);
        }
    }
    changes
}

async fn get_json(server: &Server, path: &str) -> serde_json::Value {
    let response = reqwest::get(server.url(path)).await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn history_read_through_any_replica_equals_what_the_log_holds() {
    let (target, up) = support::targets::switchable_target().await;
    let backing = Backing::start().await;
    let (redis, postgres) = (&backing.redis, &backing.postgres);
    let checks = http_config(3, target);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(backing.replica(&checks, "6s").await);
    }
    // Two outages, as every replica sees them through the log: each state
    // lasts until every check has a result of it in the log.
    for health in [true, false, true, false, true] {
        up.store(health, std::sync::atomic::Ordering::SeqCst);
        let wanted = if health { Health::Up } else { Health::Down };
        let deadline = tokio::time::Instant::now() + 30 * SECOND;
        loop {
            let by_check = results_by_check(redis);
            let newest_is_wanted = |results: &Vec<(String, CheckStatus)>| {
                results.last().is_some_and(|(_, s)| s.health == wanted)
            };
            if by_check.len() == 3 && by_check.values().all(newest_is_wanted) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not every check was {wanted:?} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Nothing more enters the log (publishing is a write); reads go on.
    // Then every replica's writer has time to write what it followed.
    assert_eq!(
        redis.cli(&["CLIENT", "PAUSE", "30000", "WRITE"]).trim(),
        "OK"
    );
    let logged = results_by_check(redis);
    assert_eq!(logged.len(), 3);
    let in_log: usize = logged.values().map(Vec::len).sum();
    let client = postgres.client().await;
    // Until the writers have caught up (within the pause's 30 s).
    let deadline = tokio::time::Instant::now() + 25 * SECOND;
    loop {
        let written: i64 = client
            .query_one("SELECT COUNT(*) FROM results_data", &[])
            .await
            .unwrap()
            .get(0);
        if written as usize >= in_log {
            assert_eq!(written as usize, in_log, "each result of the log once");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{written} of the log's {in_log} results written"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (check, results) in &logged {
        let expected = changes_in(results);
        assert!(
            expected.len() >= 4,
            "{check} went down and up twice: {expected:?}"
        );
        let counted: Vec<_> = results
            .iter()
            .filter(|(_, s)| s.health != Health::Unknown)
            .collect();
        let down = counted.iter().filter(|(_, s)| s.health == Health::Down);
        let uptime = 1.0 - down.count() as f64 / counted.len() as f64;
        for replica in &replicas {
            let history = get_json(replica, &format!("/api/checks/{check}/history?range=1h")).await;
            let changes: Vec<(u64, Option<String>, String)> = history["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["at_ms"].as_u64().unwrap(),
                        c["from"].as_str().map(String::from),
                        c["to"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(changes, expected, "{check} through {}", replica.base);
            let read = get_json(replica, &format!("/api/checks/{check}/uptime")).await;
            assert_eq!(
                read["uptime"]["1h"].as_f64(),
                Some(uptime),
                "{check} through {}",
                replica.base
            );
        }
    }
    redis.cli(&["CLIENT", "UNPAUSE"]);
}

#[tokio::test]
async fn postgres_down_shows_on_the_dashboard_and_its_results_are_written_when_it_returns() {
    let target = support::targets::http_target().await;
    let mut backing = Backing::start().await;
    let checks = http_config(3, target);
    let first = backing.replica(&checks, "6s").await;
    let second = backing.replica(&checks, "6s").await;
    let redis = &backing.redis;
    until_every_check_has(redis, 3, 2, 20 * SECOND).await;

    let stopped_at = support::now_ms();
    backing.postgres.stop();
    for replica in [&first, &second] {
        let problem = until_status_says(replica, "/history/problem", true).await;
        assert!(problem.contains("history not saved"), "{problem}");
        // The database's own words (its host, port, user) stay in the log.
        let port = backing.postgres.port.to_string();
        assert!(
            !problem.contains("127.0.0.1") && !problem.contains(&port),
            "{problem}"
        );
        let page = reqwest::get(replica.url("/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Results are not being saved to the history"),
            "no banner on {}",
            replica.base
        );
        assert_eq!(replica.metric("pulse_history_up").await, 0.0);
    }
    // Checks and streams go on meanwhile; the results wait in memory (as
    // many as the check below counts in the log for the outage).
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    loop {
        let waiting = first.metric("pulse_history_waiting").await;
        if waiting >= 9.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {waiting} results waiting after 30 s without Postgres"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut stream = SseReader::open(&second.url("/api/events"), None).await;
    message_ids(&mut stream, 4).await;
    let restarted_at = support::now_ms();
    backing.postgres.run().await;

    for replica in [&first, &second] {
        until_status_says(replica, "/history/problem", false).await;
        assert_eq!(replica.metric("pulse_history_up").await, 1.0);
    }
    let meanwhile: Vec<(String, u64)> = results_by_check(redis)
        .into_values()
        .flatten()
        .map(|(_, s)| (s.id.0, s.checked_at_ms))
        .filter(|(_, at)| (stopped_at..restarted_at).contains(at))
        .collect();
    assert!(
        meanwhile.len() >= 9,
        "results while Postgres was down: {meanwhile:?}"
    );
    let client = backing.postgres.client().await;
    let rows = client
        .query(
            "SELECT c.id, r.at_ms FROM results_data r JOIN checks c ON c.num = r.check_num",
            &[],
        )
        .await
        .unwrap();
    let written: std::collections::HashSet<(String, u64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect();
    let missing: Vec<_> = meanwhile.iter().filter(|r| !written.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "not written after Postgres returned: {missing:?}"
    );
}

/// Waits (up to 20 s) until the replica's status has a text at `pointer`
/// (`present`) or none; returns it.
async fn until_status_says(replica: &Server, pointer: &str, present: bool) -> String {
    let deadline = tokio::time::Instant::now() + 20 * SECOND;
    loop {
        let status = replica.status().await;
        let said = status
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .map(String::from);
        if said.is_some() == present {
            return said.unwrap_or_default();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: {pointer} still {said:?}",
            replica.base
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_alert_fires_and_resolves_exactly_once_with_three_replicas_even_when_its_sender_dies() {
    use support::alerting::{SECRET, config as alert_config, webhook, write_config};
    use support::receiver::{Answer, Receiver};
    let (target, up) = support::targets::switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let setup = write_config(&alert_config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 2\nsuccess_threshold = 2\ngroup_window = \"0s\"",
        "",
    ));
    let backing = Backing::start().await;
    let secret = [("HOOK_SECRET", SECRET)];
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(backing.replica_with_env(&setup.path, "2s", &secret).await);
    }
    until_every_check_has(&backing.redis, 1, 5, 20 * SECOND).await;

    let outage = |down: bool| up.store(!down, std::sync::atomic::Ordering::SeqCst);
    outage(true);
    receiver.wait_for("/hook", 1, 15 * SECOND).await;
    outage(false);
    receiver.wait_for("/hook", 2, 15 * SECOND).await;
    // The replica that sent them dies; another takes over sending (after
    // the dispatcher's lease, 10 s) and tells the next outage once too.
    let sender = replicas
        .iter()
        .position(|r| r.addr().port() == dispatcher_port(&backing))
        .expect("a replica holds the dispatcher's lease");
    let dead = replicas.remove(sender);
    std::process::Command::new("kill")
        .args(["-KILL", &dead.pid().to_string()])
        .status()
        .unwrap();
    // Its checks move first (their lease is 2 s), so that the outage below
    // is seen whole.
    let dead_port = dead.addr().port();
    let shard = pulse::cluster::leases::shard_of(&pulse::status::CheckId("shop-api".into()));
    let lease = pulse::cluster::leases::lease_key(shard);
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    // Held by the dead one, or by nobody between its lease and the next.
    while {
        let holder = backing.redis.cli(&["GET", &lease]);
        holder.trim().is_empty() || port_of_replica(&holder) == dead_port
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead replica's check never moved"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The outage lasts until the survivors hold it as firing (nobody sends
    // yet: the dispatcher's lease is still the dead one's).
    outage(true);
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    for replica in &replicas {
        loop {
            let alerts = get_json(replica, "/api/alerts").await;
            let firing = alerts["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "shop-api" && c["state"] == "firing");
            if firing {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: never firing: {alerts}",
                replica.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    outage(false);
    // What waited while nobody sent may go out as one message.
    let told = || -> Vec<serde_json::Value> {
        let posts = receiver.accepted("/hook");
        posts
            .iter()
            .flat_map(|p| p.json()["alerts"].as_array().unwrap().clone())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    while told().len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for any duplicate to arrive.
    tokio::time::sleep(4 * SECOND).await;

    let alerts = told();
    let events: Vec<&str> = alerts
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["fired", "resolved", "fired", "resolved"],
        "once each"
    );
    let posts = receiver.accepted("/hook");
    let ids: std::collections::HashSet<String> = posts
        .iter()
        .map(|p| p.json()["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), posts.len(), "no message sent twice");
}

/// The port of the replica holding the alerts' dispatcher lease, as
/// Postgres says.
fn dispatcher_port(backing: &Backing) -> u16 {
    let output = std::process::Command::new("psql")
        .args([
            &backing.postgres.url(),
            "-tA",
            "-c",
            "SELECT holder FROM dispatcher_lease",
        ])
        .output()
        .expect("psql runs");
    port_of_replica(String::from_utf8_lossy(&output.stdout).trim())
}

/// The port in a replica's name (`{address}/{random}`, then maybe a
/// fencing number).
fn port_of_replica(name: &str) -> u16 {
    let addr = name.split('/').next().unwrap_or_default();
    addr.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in the replica name {name:?}"))
}

#[tokio::test]
async fn a_replica_whose_config_differs_is_named_on_every_dashboard_until_it_is_fixed() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let same = config(2, "1s", target);
    let other = config(3, "1s", target);
    let first = backing.replica(&same, "3s").await;
    let second = backing.replica(&same, "3s").await;
    let odd = backing.replica(&other, "3s").await;
    let replicas = [&first, &second, &odd];
    let odd_port = format!(":{}/", odd.addr().port());
    for replica in replicas {
        let differs = until_status_says(replica, "/config/differs", true).await;
        assert!(differs.contains(&odd_port), "{differs}");
        let page = reqwest::get(replica.url("/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("replicas run different configs"),
            "no banner on {}",
            replica.base
        );
    }
    // The odd one is given the same file: its reload settles it everywhere.
    std::fs::write(other.path(), std::fs::read(same.path()).unwrap()).unwrap();
    for replica in replicas {
        until_status_says(replica, "/config/differs", false).await;
    }
}

/// `pulse hash-password` of `password`.
fn password_hash(password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// What `GET /` answers `cookie` on `replica`: 200 signed in, 303 sent to
/// sign in.
async fn home_with(replica: &Server, cookie: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(replica.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    answer.status().as_u16()
}

#[tokio::test]
async fn a_sign_out_on_one_replica_ends_the_session_on_every_replica_even_one_started_later() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let text = format!(
        "[access]\nsession_key = \"{}\"\nusers = [{{ name = \"ada\", password_hash = \"{}\" }}]\n\
         [[check]]\nname = \"site\"\nkind = \"tcp\"\naddress = \"{target}\"\n",
        "k".repeat(40),
        password_hash("correct horse battery")
    );
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), text).unwrap();
    let first = backing.replica(&config, "3s").await;
    let second = backing.replica(&config, "3s").await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(first.url("/login"))
        .form(&[
            ("user", "ada"),
            ("password", "correct horse battery"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        home_with(&second, &cookie).await,
        200,
        "valid on every replica"
    );

    let out = client
        .post(first.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        home_with(&first, &cookie).await,
        303,
        "ended where it was made"
    );
    let deadline = tokio::time::Instant::now() + 5 * SECOND;
    while home_with(&second, &cookie).await != 303 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still valid on the other replica; shared: {:?}",
            backing
                .redis
                .cli(&["XRANGE", "{pulse}:signed-out", "-", "+"])
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let later = backing.replica(&config, "3s").await;
    tokio::time::sleep(SECOND).await;
    assert_eq!(
        home_with(&later, &cookie).await,
        303,
        "and on one started after"
    );
}

/// A write to the incidents of `replica`'s open loopback dashboard: its
/// status and what it answered.
async fn post_incident(replica: &Server, path: &str, body: serde_json::Value) -> (u16, String) {
    let answer = reqwest::Client::new()
        .post(replica.url(path))
        .header("host", "localhost")
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn an_incident_written_on_any_replica_shows_live_on_all_and_its_limits_are_the_clusters() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let checks = config(1, "1s", target);
    let first = backing.replica(&checks, "3s").await;
    let second = backing.replica(&checks, "3s").await;
    let third = backing.replica(&checks, "3s").await;
    let mut on_second = SseReader::open(&second.url("/api/public/events"), None).await;
    on_second
        .next_event_within(5 * SECOND)
        .await
        .expect("a snapshot");

    let opening = serde_json::json!({"title": "Database failover", "message": "Looking into it"});
    let (status, opened) = post_incident(&first, "/api/incidents", opening).await;
    assert_eq!(status, 201, "{opened}");
    let deadline = tokio::time::Instant::now() + 5 * SECOND;
    loop {
        let (kind, _, data) = on_second
            .next_event_within(5 * SECOND)
            .await
            .expect("an event on the second replica");
        if kind == "incidents" {
            assert!(data.contains("Database failover"), "{data}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no incidents event");
    }

    // Updated on the third, seen on the first.
    let id = serde_json::from_str::<serde_json::Value>(&opened).unwrap()["id"].clone();
    let update = serde_json::json!({"status": "identified", "message": "A replica lagged"});
    let path = format!("/api/incidents/{id}/updates");
    let (status, said) = post_incident(&third, &path, update).await;
    assert_eq!(status, 200, "{said}");
    let pointer = "/incidents/incidents/0/updates/1/status";
    assert_eq!(until_status_says(&first, pointer, true).await, "identified");

    // Ten writes a minute for the whole cluster: two so far, eight more
    // spread over the replicas, then every replica refuses the next.
    let replicas = [&first, &second, &third];
    for n in 0..8 {
        let body =
            serde_json::json!({"title": format!("n{n}"), "message": "m", "status": "resolved"});
        let (status, said) = post_incident(replicas[n % 3], "/api/incidents", body).await;
        assert_eq!(status, 201, "write {n}: {said}");
    }
    for replica in replicas {
        let body = serde_json::json!({"title": "one too many", "message": "m"});
        let (status, said) = post_incident(replica, "/api/incidents", body).await;
        assert_eq!(status, 429, "{}: {said}", replica.base);
    }

    // A replica started later shows them from its first page.
    let later = backing.replica(&checks, "3s").await;
    let shown = later.status().await;
    let titles: Vec<&str> = shown["incidents"]["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Database failover", "n7", "n6", "n5", "n4", "n3"]);
}

/// The port of the replica holding `check`'s shard.
fn runner_port(backing: &Backing, check: &str) -> u16 {
    let shard = pulse::cluster::leases::shard_of(&pulse::status::CheckId(check.into()));
    let key = pulse::cluster::leases::lease_key(shard);
    port_of_replica(&backing.redis.cli(&["GET", &key]))
}

async fn health_of(replica: &Server, check: &str) -> serde_json::Value {
    let status = replica.status().await;
    let checks = status["checks"].as_array().unwrap();
    checks.iter().find(|c| c["id"] == check).cloned().unwrap()
}

#[tokio::test]
async fn a_ping_to_any_replica_reaches_the_one_that_runs_its_push_check() {
    const TOKEN: &str = "cluster-cron-5d1e8f2a9b";
    // Runs 10 s apart: a result the ping woke comes well before the next.
    const INTERVAL_MS: u64 = 10_000;
    let backing = Backing::start().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!(
        "[[check]]\nname = \"Cron\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\n\
         period = \"1s\"\ngrace = \"500ms\"\ninterval = \"{INTERVAL_MS}ms\"\n"
    );
    std::fs::write(file.path(), text).unwrap();
    let first = backing.replica(&file, "3s").await;
    let second = backing.replica(&file, "3s").await;
    let deadline = tokio::time::Instant::now() + 40 * SECOND;
    while health_of(&first, "cron").await["health"] != "down" {
        assert!(tokio::time::Instant::now() < deadline, "never down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs_it = runner_port(&backing, "cron");
    let (runner, other) = match first.addr().port() == runs_it {
        true => (&first, &second),
        false => (&second, &first),
    };
    assert_eq!(runner.addr().port(), runs_it);

    // Pinged where it does not run: up on both, by a run the ping woke,
    // before the next one was due (judged by the runner's own clock).
    let down = health_of(runner, "cron").await;
    assert_eq!(down["health"], "down", "{down}");
    let next_run_due = down["checked_at_ms"].as_u64().unwrap() + INTERVAL_MS;
    let ping = reqwest::get(other.url(&format!("/api/push/{TOKEN}")))
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    for replica in [runner, other] {
        let up = loop {
            let now = health_of(replica, "cron").await;
            if now["health"] == "up" {
                break now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: still {now}",
                replica.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            up["checked_at_ms"].as_u64().unwrap() < next_run_due,
            "{}: up at its next run, not woken by the ping: {up}, the run before at {}",
            replica.base,
            down["checked_at_ms"]
        );
    }

    // Pinged in a loop: one note a second reaches Redis, not one a ping.
    let client = reqwest::Client::new();
    let looping = tokio::time::Instant::now();
    for _ in 0..200 {
        let url = other.url(&format!("/api/push/{TOKEN}"));
        assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    }
    let seconds = looping.elapsed().as_secs() + 2;
    let notes: u64 = backing
        .redis
        .cli(&["XLEN", "{pulse}:pings"])
        .trim()
        .parse()
        .unwrap();
    assert!(notes <= seconds + 1, "{notes} notes in {seconds} s");

    // The runner killed: the next one knows the last ping, and a silent
    // check still goes down.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &runner.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let survivor = other;
    // The lease (3 s), then the survivor's next run (up to 10 s).
    let deadline = tokio::time::Instant::now() + 40 * SECOND;
    loop {
        let now = health_of(survivor, "cron").await;
        if now["health"] == "down" {
            let detail = now["detail"].as_str().unwrap();
            let knew_the_ping = !detail.contains("since Pulse started");
            assert!(
                detail.starts_with("no ping since") && knew_the_ping,
                "{detail}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never down: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_viewers_of_a_killed_replica_come_back_on_the_others_with_nothing_missed_or_twice() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let checks = config(1, "1s", target);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(backing.replica(&checks, "3s").await);
    }
    let mut generator = tokio::process::Command::new(support::tools::loadgen());
    for replica in &replicas {
        generator.args(["--url", &replica.url("/api/events")]);
    }
    let generator = generator
        .args(["--clients", "300", "--duration", "14s", "--ids", "log"])
        .args(["--failover", "--json", "--strict"])
        .output();
    let generator = tokio::spawn(generator);
    let deadline = tokio::time::Instant::now() + 20 * SECOND;
    loop {
        let mut open = 0;
        for replica in &replicas {
            open += replica.connected_clients().await;
        }
        if open == 300 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{open} of 300 open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Into the measuring window, a replica that does not run the check
    // dies: events go on while its viewers are away.
    tokio::time::sleep(4 * SECOND).await;
    let runner = runner_port(&backing, "check-0");
    let victim = replicas.iter().find(|r| r.addr().port() != runner).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &victim.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let output = generator.await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "loadgen: {stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["connected"], 300, "{report}");
    // The clients went round the replicas: a third were on the victim.
    assert_eq!(report["lost"], 100, "{report}");
    assert!(report["reconnects"].as_u64().unwrap() >= 100, "{report}");
    assert_eq!(report["missed"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(
        report["resynced"], 0,
        "each resumed with a replay: {report}"
    );
    // Each came back and caught up: with the log's ids a client that never
    // came back would count the events after it left as missed (above).
    // How long they were away (their retry: and a moment) is a figure of
    // speed, measured by scripts/bench-cluster (docs/benchmarks.md).
    assert!(report["caught_up"].as_u64().unwrap() >= 100, "{report}");
    println!(
        "failover: away at most {} ms, {:.0} deliveries/s",
        report["away_max_ms"], report["deliveries_per_second"]
    );
}

#[tokio::test]
async fn a_result_the_history_database_refuses_is_given_up_and_those_after_it_are_kept() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let checks = config(1, "1s", target);
    let replica = backing.replica(&checks, "6s").await;
    until_every_check_has(redis, 1, 2, 20 * SECOND).await;
    // The database refuses one result for a reason of its own (here a
    // constraint an operator added), while it takes every other.
    let client = backing.postgres.client().await;
    client
        .batch_execute(
            "ALTER TABLE results_data ADD CONSTRAINT no_poison \
             CHECK (detail IS NULL OR detail NOT LIKE '%poison%')",
        )
        .await
        .unwrap();
    let (_, fields) = redis.log_after("-").pop().unwrap();
    let mut poison: serde_json::Value = serde_json::from_str(&fields["status"]).unwrap();
    poison["health"] = "down".into();
    poison["detail"] = "poison".into();
    poison["checked_at_ms"] = (support::now_ms() - 10).into();
    redis.cli(&["XADD", "{pulse}:log", "*", "status", &poison.to_string()]);
    let poisoned_at = support::now_ms();

    // The results after it are written all the same, and it alone is lost.
    let later = "SELECT count(*) FROM results_data WHERE at_ms > $1";
    let deadline = tokio::time::Instant::now() + 20 * SECOND;
    loop {
        let row = client
            .query_one(later, &[&(poisoned_at as i64 + 1_000)])
            .await
            .unwrap();
        if row.get::<_, i64>(0) >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the history stopped at the refused result"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let poisoned: i64 = client
        .query_one(
            "SELECT count(*) FROM results_data WHERE detail = 'poison'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(poisoned, 0, "the constraint refused it");
    // The metrics are read from the writer once a second.
    let deadline = tokio::time::Instant::now() + 30 * SECOND;
    while replica.metric("pulse_history_results_dropped_total").await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused result was never counted as dropped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        replica.metric("pulse_history_results_dropped_total").await,
        1.0
    );
    assert_eq!(replica.metric("pulse_history_up").await, 1.0);
    let status = replica.status().await;
    assert_eq!(status["history"]["problem"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_check_dropped_from_one_replicas_config_while_it_fails_does_not_fire_again() {
    use support::alerting::{SECRET, config as alert_config, webhook, write_config};
    use support::receiver::{Answer, Receiver};
    let (target, up) = support::targets::switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let text = alert_config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 2\nsuccess_threshold = 2\ngroup_window = \"0s\"",
        "",
    );
    // Each replica reads its own copy: a deploy may change one first.
    let setups = [write_config(&text), write_config(&text)];
    let backing = Backing::start().await;
    let secret = [("HOOK_SECRET", SECRET)];
    let mut replicas = Vec::new();
    for setup in &setups {
        replicas.push(backing.replica_with_env(&setup.path, "2s", &secret).await);
    }
    until_every_check_has(&backing.redis, 1, 5, 20 * SECOND).await;
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    receiver.wait_for("/hook", 1, 15 * SECOND).await;

    // The replica that does not run the check has it taken out of its
    // config; the other goes on running it, still failing.
    let runner = runner_port(&backing, "shop-api");
    let other = replicas
        .iter()
        .position(|r| r.addr().port() != runner)
        .unwrap();
    let dropped = text[..text.find("[[check]]").unwrap()].to_string();
    std::fs::write(&setups[other].path, dropped).unwrap();
    let deadline = tokio::time::Instant::now() + 10 * SECOND;
    while !replicas[other].status().await["checks"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reload never took the check out"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A negative: time in which the other replica, which no longer has
    // the check, would fire it again.
    tokio::time::sleep(4 * SECOND).await;
    assert_eq!(
        receiver.accepted("/hook").len(),
        1,
        "the outage is told once"
    );

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    receiver.wait_for("/hook", 2, 15 * SECOND).await;
    // A negative: time for a message that should not come.
    tokio::time::sleep(2 * SECOND).await;
    let events: Vec<String> = receiver
        .accepted("/hook")
        .iter()
        .map(|p| p.json()["alerts"][0]["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["fired", "resolved"]);
}

/// Event ids stay below this, exact in a browser's numbers (`ids::END`).
const BROWSER_EXACT: u64 = 1 << 53;

/// How many things of `reason` the replica read from Redis and skipped
/// (`pulse_cluster_skipped_total`); 0 before the first.
async fn skipped(replica: &Server, reason: &str) -> f64 {
    let name = format!("pulse_cluster_skipped_total{{reason=\"{reason}\"}} ");
    let text = replica.metrics_text().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&name))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// The events of `stream` for `span`, as (type, id, data): none, when the
/// log gives the replica nothing.
async fn events_for(stream: &mut SseReader, span: Duration) -> Vec<(String, u64, String)> {
    let deadline = tokio::time::Instant::now() + span;
    let mut events = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let support::Item::Event {
            kind,
            id: Some(id),
            data,
        } = item
        {
            events.push((kind, id.parse().unwrap(), data));
        }
    }
    events
}

/// The newest result in the log, as JSON, to write changed ones by hand.
fn newest_result(redis: &Redis) -> serde_json::Value {
    let (_, fields) = redis.log_after("-").pop().expect("a result in the log");
    serde_json::from_str(&fields["status"]).unwrap()
}

#[tokio::test]
async fn an_entry_of_the_log_past_every_event_id_is_skipped_counted_and_never_shown() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let replica = backing.replica(&config(1, "1s", target), "6s").await;
    let mut stream = SseReader::open(&replica.url("/api/events"), None).await;
    message_ids(&mut stream, 2).await;
    // A result under the very last id (u64::MAX): a hub taking it would
    // need the id after it.
    let mut forged = newest_result(redis);
    forged["detail"] = "written by hand at the end of the ids".into();
    redis.cli(&[
        "XADD",
        "{pulse}:log",
        "18014398509481983-1023",
        "status",
        &forged.to_string(),
    ]);

    let events = events_for(&mut stream, 3 * SECOND).await;
    for (kind, id, data) in &events {
        assert!(*id < BROWSER_EXACT, "{kind} under id {id}: {data}");
        assert!(!data.contains("by hand"), "{kind} {id} shows it: {data}");
    }
    let status = replica.status().await.to_string();
    assert!(!status.contains("by hand"), "{status}");
    assert!(skipped(&replica, "id_out_of_range").await >= 1.0);
    let alive = reqwest::get(replica.url("/healthz")).await.unwrap();
    assert_eq!(alive.status(), 200);
}

#[tokio::test]
async fn a_result_of_a_check_the_config_does_not_have_is_skipped_counted_and_never_shown() {
    let target = support::targets::http_target().await;
    let backing = Backing::start().await;
    let redis = &backing.redis;
    let replica = backing.replica(&config(1, "1s", target), "6s").await;
    let mut stream = SseReader::open(&replica.url("/api/events"), None).await;
    message_ids(&mut stream, 2).await;
    // Another config's check, failing: written into the log as its
    // replica would.
    let mut stranger = newest_result(redis);
    stranger["id"] = "not-in-this-config".into();
    stranger["name"] = "Not in this config".into();
    stranger["health"] = "down".into();
    stranger["detail"] = "a stranger's failure".into();
    stranger["checked_at_ms"] = support::now_ms().into();
    redis.cli(&["XADD", "{pulse}:log", "*", "status", &stranger.to_string()]);

    let events = events_for(&mut stream, 3 * SECOND).await;
    assert!(
        events.iter().any(|(kind, _, _)| kind == "message"),
        "the replica's own check goes on: {events:?}"
    );
    for (kind, id, data) in &events {
        assert!(!data.contains("stranger"), "{kind} {id} shows it: {data}");
    }
    let status = replica.status().await.to_string();
    assert!(!status.contains("stranger"), "{status}");
    assert_eq!(skipped(&replica, "unknown_check").await, 1.0);
}

/// The message ids after the next snapshot of `stream`, `want` of them,
/// and the snapshot's id.
async fn ids_after_snapshot(stream: &mut SseReader, want: usize) -> (u64, Vec<u64>) {
    let snapshot = loop {
        let (kind, id, _) = stream
            .next_event_within(15 * SECOND)
            .await
            .expect("the stream stays open");
        if kind == "snapshot" {
            break id.unwrap().parse().unwrap();
        }
    };
    (snapshot, message_ids(stream, want).await)
}

#[tokio::test]
async fn an_epoch_past_every_event_id_is_never_taken_and_results_go_on() {
    let target = support::targets::http_target().await;
    let mut backing = Backing::start().await;
    let replica = backing.replica(&config(1, "1s", target), "2s").await;
    let mut stream = SseReader::open(&replica.url("/api/events"), None).await;
    message_ids(&mut stream, 2).await;

    // An entry just below u64::MAX: taken, it would make the epoch begun
    // after Redis loses its data start at the very last id, with no id
    // after it for the hub.
    let forged = newest_result(&backing.redis).to_string();
    let just_below = "18014398509481983-1022";
    backing
        .redis
        .cli(&["XADD", "{pulse}:log", just_below, "status", &forged]);
    backing.redis.restart_empty().await;
    let (snapshot, after_loss) = ids_after_snapshot(&mut stream, 2).await;
    assert!(snapshot < BROWSER_EXACT, "snapshot under {snapshot}");
    assert!(
        after_loss
            .iter()
            .all(|&id| snapshot < id && id < BROWSER_EXACT),
        "{after_loss:?} after {snapshot}"
    );

    // An epoch written by hand at the very last id: replaced by a new one.
    backing
        .redis
        .cli(&["SET", "{pulse}:epoch", "18014398509481983-1023"]);
    let (snapshot, after_epoch) = ids_after_snapshot(&mut stream, 2).await;
    assert!(snapshot < BROWSER_EXACT, "snapshot under {snapshot}");
    assert!(
        after_epoch
            .iter()
            .all(|&id| snapshot < id && id < BROWSER_EXACT),
        "{after_epoch:?} after {snapshot}"
    );
    let epoch = backing.redis.cli(&["GET", "{pulse}:epoch"]);
    assert!(ids::event_id(epoch.trim()).is_some(), "epoch {epoch}");
    assert!(skipped(&replica, "epoch_out_of_range").await >= 1.0);
}

#[tokio::test]
async fn a_ping_note_at_the_end_of_time_is_skipped_and_the_next_real_ping_counts() {
    const TOKEN: &str = "cluster-cron-77e3c0d4a1";
    let backing = Backing::start().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let text = format!(
        "[[check]]\nname = \"Cron\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\n\
         period = \"1s\"\ngrace = \"500ms\"\ninterval = \"1s\"\n"
    );
    std::fs::write(file.path(), text).unwrap();
    let replica = backing.replica(&file, "3s").await;
    let deadline = tokio::time::Instant::now() + 20 * SECOND;
    while health_of(&replica, "cron").await["health"] != "down" {
        assert!(tokio::time::Instant::now() < deadline, "never down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A note as a replica writes it, at the last millisecond there is:
    // taken, the check's last ping could never move again.
    let hash = pulse::probes::token_sha256(TOKEN);
    let note = format!("{hash} {}", u64::MAX);
    backing
        .redis
        .cli(&["XADD", "{pulse}:pings", "*", "note", &note]);
    let deadline = tokio::time::Instant::now() + 5 * SECOND;
    while skipped(&replica, "not_a_ping").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "never skipped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pinged = tokio::time::Instant::now();
    let ping = reqwest::get(replica.url(&format!("/api/push/{TOKEN}")))
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    loop {
        let now = health_of(&replica, "cron").await;
        if now["health"] == "up" {
            break;
        }
        // Taken, the note at the end of time would keep it down for good.
        assert!(pinged.elapsed() < 30 * SECOND, "still {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pulse given a Redis or a Postgres URL with a password, where nothing
/// answers: it fails, and says where without the password, on stdout and
/// stderr (its log and its last word).
#[tokio::test]
async fn no_url_is_printed_with_its_password() {
    const PASSWORD: &str = "s3cretpw";
    let postgres = Postgres::start().await;
    let closed = support::targets::closed_port().await;
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("replica.db");
    let redis_url = format!("redis://:{PASSWORD}@{closed}");
    let postgres_url = format!("postgres://u:{PASSWORD}@{closed}/db");
    let answering = postgres.url();
    let attempts = [
        ["--cluster", &redis_url, "--history-postgres", &answering].to_vec(),
        ["--history-postgres", &postgres_url].to_vec(),
    ];
    for args in attempts {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--history",
                history.to_str().unwrap(),
            ])
            .args(&args)
            .env("LEPTOS_OUTPUT_NAME", "pulse")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(30 * SECOND, output)
            .await
            .expect("pulse gives up")
            .unwrap();
        let said = [output.stdout, output.stderr].concat();
        let said = String::from_utf8_lossy(&said);
        assert!(!output.status.success(), "{args:?}: {said}");
        assert!(said.contains("127.0.0.1"), "{args:?} says where: {said}");
        assert!(!said.contains(PASSWORD), "{args:?}: {said}");
    }
}
