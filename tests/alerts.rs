//! Alerts from the outside: a real Pulse checks a local target that the
//! test takes down and brings back, and tells a local receiver, which
//! keeps every request it gets. Thresholds, resolution, grouping behind a
//! dependency, retries, timeouts, a kill between firing and sending, and a
//! reload, each as a person would meet them.

mod support;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::Server;
use support::alerting::{SECRET, Setup, config, start, webhook, write_config};
use support::receiver::{Answer, Post, Receiver};
use support::smtp::SmtpServer;
use support::targets::switchable_target;

/// A server whose check alerts `notifiers` on its first failure, with no
/// group window; once it has results, the target goes down.
async fn alert_at_once_then_fail(
    target: std::net::SocketAddr,
    up: &std::sync::atomic::AtomicBool,
    notifiers: &str,
) -> (Setup, Server) {
    let rules = "failure_threshold = 1\ngroup_window = \"0s\"";
    let setup = write_config(&config(target, notifiers, rules, ""));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    (setup, server)
}

fn signed(post: &Post) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&post.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    post.headers
        .get("x-pulse-signature")
        .and_then(|v| v.to_str().ok())
        == Some(format!("sha256={expected}").as_str())
}

async fn alert_state(server: &Server, check: &str) -> serde_json::Value {
    let report: serde_json::Value = reqwest::get(server.url("/api/alerts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == check)
        .cloned()
        .unwrap_or_else(|| panic!("no {check} in {report:#}"))
}

async fn wait_for_state(server: &Server, check: &str, state: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let now = alert_state(server, check).await;
        if now["state"] == state {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{check} is {now} after {limit:?}, not {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_outage_fires_once_past_the_threshold_and_resolves_once_signed() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let setup = write_config(&config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 3\nsuccess_threshold = 2\ngroup_window = \"0s\"\npublic_url = \"https://status.example.com/\"",
        "",
    ));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    // A negative: a few passing runs (every 200 ms), with nothing to tell.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        receiver.posts().is_empty(),
        "nothing to tell while it passes"
    );

    up.store(false, Ordering::SeqCst);
    let fired = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let message = fired[0].json();
    assert!(
        signed(&fired[0]),
        "the signature is HMAC-SHA256 of the body"
    );
    assert_eq!(fired[0].headers["x-team"], "ops");
    assert_eq!(
        fired[0].headers["x-pulse-message-id"],
        message["message_id"].as_str().unwrap()
    );
    let alert = &message["alerts"][0];
    assert_eq!(alert["event"], "fired");
    assert_eq!(alert["check"]["name"], "Shop API");
    assert_eq!(alert["health"], "down");
    assert!(alert["detail"].as_str().unwrap().contains("503"), "{alert}");
    assert_eq!(alert["url"], "https://status.example.com/checks/shop-api");
    assert!(
        message["title"]
            .as_str()
            .unwrap()
            .starts_with("DOWN: Shop API"),
        "{message}"
    );
    let since = alert["since_ms"].as_u64().unwrap();
    let at = alert["at_ms"].as_u64().unwrap();
    assert!(
        at >= since + 300,
        "the third failure, 2 intervals after the first: {since} → {at}"
    );
    let state = alert_state(&server, "shop-api").await;
    assert_eq!(
        (state["state"].as_str(), state["since_ms"].as_u64()),
        (Some("firing"), Some(since))
    );

    // A negative: more failing runs, and no repeat.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.posts().len(),
        1,
        "one message for one outage, no repeat by default"
    );

    up.store(true, Ordering::SeqCst);
    let both = receiver.wait_for("/hook", 2, Duration::from_secs(10)).await;
    let resolved = both[1].json();
    assert!(signed(&both[1]));
    assert_eq!(resolved["alerts"][0]["event"], "resolved");
    assert_eq!(resolved["alerts"][0]["since_ms"].as_u64(), Some(since));
    assert!(
        resolved["title"]
            .as_str()
            .unwrap()
            .starts_with("RESOLVED: Shop API")
    );
    // A negative: nothing after the resolution.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.posts().len(), 2);
    assert_eq!(alert_state(&server, "shop-api").await["state"], "ok");
    // Counted once the receiver's answer is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let sent = "pulse_notifications_sent_total{notifier=\"ops\"}";
    while server.metric(sent).await < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            server.metrics_text().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("pulse_notifications_sent_total{notifier=\"ops\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("pulse_alerts_firing 0"), "{metrics}");
}

/// A check "Router" and `services` checks ("Service 00", …) that depend on it.
fn router_and_services(target: std::net::SocketAddr, services: usize) -> String {
    let mut checks = format!(
        "[[check]]\nname = \"Router\"\nkind = \"http\"\nurl = \"http://{target}/router\"\n\n"
    );
    for n in 0..services {
        checks += &format!(
            "[[check]]\nname = \"Service {n:02}\"\ngroup = \"behind\"\nkind = \"http\"\nurl = \"http://{target}/s/{n}\"\ndepends_on = [\"Router\"]\n\n"
        );
    }
    checks
}

#[tokio::test]
async fn twenty_checks_behind_a_failing_router_give_one_message_per_notifier() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let checks = router_and_services(target, 20);
    let notifiers = format!(
        "{}\n[[notifier]]\nname = \"chat\"\nkind = \"slack\"\nurl = \"{}\"\n",
        webhook("ops", &receiver.url("/hook")),
        receiver.url("/chat")
    );
    let setup = write_config(&config(
        target,
        &notifiers,
        "failure_threshold = 3\nsuccess_threshold = 2\ngroup_window = \"2s\"",
        &checks,
    ));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;

    up.store(false, Ordering::SeqCst);
    let hook = receiver.wait_for("/hook", 1, Duration::from_secs(15)).await;
    receiver.wait_for("/chat", 1, Duration::from_secs(5)).await;
    // A negative: past the 2 s group window, no second message.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.accepted("/hook").len(),
        1,
        "one message for the whole outage"
    );
    assert_eq!(receiver.accepted("/chat").len(), 1);
    let message = hook[0].json();
    let names: Vec<&str> = message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["check"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Router") && names.contains(&"Shop API"),
        "{names:?}"
    );
    assert_eq!(
        names.len(),
        2,
        "the services behind the router are folded into its alert: {names:?}"
    );
    let router = message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["check"]["name"] == "Router")
        .unwrap();
    assert_eq!(router["held"].as_array().unwrap().len(), 20, "{router}");
    let chat = receiver.accepted("/chat")[0].json();
    assert!(
        chat["text"].as_str().unwrap().contains("Service 07"),
        "{chat}"
    );
    assert_eq!(alert_state(&server, "service-07").await["state"], "held");

    up.store(true, Ordering::SeqCst);
    receiver.wait_for("/hook", 2, Duration::from_secs(15)).await;
    // A negative: past the 2 s group window, no third message.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.accepted("/hook").len(),
        2,
        "one message for the whole recovery"
    );
    assert_eq!(receiver.accepted("/chat").len(), 2);
    let recovery = receiver.accepted("/hook")[1].json();
    assert_eq!(
        recovery["alerts"].as_array().unwrap().len(),
        2,
        "{recovery}"
    );
    assert!(
        recovery["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["event"] == "resolved")
    );
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_message_until_it_takes_it() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::FailFirst(2)).await;
    let notifier = webhook("ops", &receiver.url("/hook"));
    let (_setup, server) = alert_at_once_then_fail(target, &up, &notifier).await;
    // Tried at once, then 2 s and 4 s later.
    receiver.wait_for("/hook", 1, Duration::from_secs(15)).await;
    let posts = receiver.posts();
    assert_eq!(
        posts.iter().map(|p| p.accepted).collect::<Vec<_>>(),
        [false, false, true]
    );
    let ids: Vec<_> = posts
        .iter()
        .map(|p| p.json()["message_id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "retries send the same message: {ids:?}"
    );
    assert_eq!(
        server
            .metric("pulse_notifications_failed_total{notifier=\"ops\"}")
            .await,
        2.0
    );
    // A negative: taken, it is not sent again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.posts().len(), 3);
}

#[tokio::test]
async fn a_hanging_receiver_times_out_without_holding_up_another() {
    let (target, up) = switchable_target().await;
    let hanging = Receiver::start(Answer::Hang).await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifiers = format!(
        "{}\n{}",
        webhook("stuck", &hanging.url("/hook")),
        webhook("ops", &receiver.url("/hook"))
    );
    let (_setup, server) = alert_at_once_then_fail(target, &up, &notifiers).await;
    receiver.wait_for("/hook", 1, Duration::from_secs(5)).await;
    // Both were sent at once; the stuck one is recorded once its body is in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hanging.posts().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck one was never tried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hanging.posts().len(), 1, "tried once so far");
    // Its deadline is 10 s; then it counts as failed and is tried again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let failed = || server.metric("pulse_notifications_failed_total{notifier=\"stuck\"}");
    while !server.metrics_text().await.contains("notifier=\"stuck\"") || failed().await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hanging delivery never timed out"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report: serde_json::Value = reqwest::get(server.url("/api/alerts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stuck = report["notifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "stuck")
        .unwrap()
        .clone();
    assert!(
        stuck["failing"].as_str().unwrap().contains("timed out"),
        "{stuck}"
    );
}

#[tokio::test]
async fn a_kill_between_firing_and_sending_still_sends_exactly_once() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let setup = write_config(&config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 2\ngroup_window = \"4s\"",
        "",
    ));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    wait_for_state(&server, "shop-api", "firing", Duration::from_secs(5)).await;
    assert!(
        receiver.posts().is_empty(),
        "fired, and waiting out its group window"
    );
    drop(server); // SIGKILL: no shutdown, nothing flushed by hand

    let server = start(&setup).await;
    let posts = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    assert_eq!(posts[0].json()["alerts"][0]["event"], "fired");
    assert_eq!(alert_state(&server, "shop-api").await["state"], "firing");
    // A negative: time in which a second firing would come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.posts().len(),
        1,
        "the open alert is not fired again after the restart"
    );
}

#[tokio::test]
async fn a_reload_neither_fires_an_open_alert_again_nor_forgets_it() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifier = webhook("ops", &receiver.url("/hook"));
    let rules = "failure_threshold = 2\ngroup_window = \"0s\"";
    let setup = write_config(&config(target, &notifier, rules, ""));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;

    // Another check and a stricter rule: the open alert stays as it is.
    let extra = format!("[[check]]\nname = \"Other\"\nkind = \"tcp\"\naddress = \"{target}\"\n");
    let reloaded = config(
        target,
        &notifier,
        "failure_threshold = 5\ngroup_window = \"0s\"",
        &extra,
    );
    std::fs::write(&setup.path, reloaded).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !server.status().await["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "other")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reload never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A negative: time in which a second firing would come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.posts().len(), 1, "not fired again by the reload");
    assert_eq!(alert_state(&server, "shop-api").await["state"], "firing");

    up.store(true, Ordering::SeqCst);
    let posts = receiver.wait_for("/hook", 2, Duration::from_secs(10)).await;
    assert_eq!(
        posts[1].json()["alerts"][0]["event"],
        "resolved",
        "and not forgotten"
    );
}

/// A daily window in UTC, open from 2 minutes ago for half an hour.
fn maintenance_now(covers: &str) -> String {
    let minute_of_day = |offset: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let minute = (now / 60 + offset).rem_euclid(1440);
        format!("{:02}:{:02}", minute / 60, minute % 60)
    };
    format!(
        "[[maintenance]]\nname = \"Upgrade\"\n{covers}\nfrom = \"{}\"\nuntil = \"{}\"\ntimezone = \"UTC\"\n",
        minute_of_day(-2),
        minute_of_day(30)
    )
}

async fn wait_for_reload(server: &Server, applied: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !applied(&server.status().await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reload never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn shop_api(status: &serde_json::Value) -> serde_json::Value {
    status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "shop-api")
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_maintenance_window_tells_no_one_and_is_left_out_of_uptime() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifier = webhook("ops", &receiver.url("/hook"));
    let rules = "failure_threshold = 1\ngroup_window = \"0s\"";
    let public = "public = true\n";
    let setup = write_config(&config(target, &notifier, rules, public));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;

    // A window opens (a reload), then the target goes down in it.
    let window = maintenance_now("groups = [\"shop\"]");
    let in_window = config(target, &notifier, rules, &format!("{public}\n{window}"));
    std::fs::write(&setup.path, in_window).unwrap();
    wait_for_reload(&server, |s| !shop_api(s)["maintenance_until_ms"].is_null()).await;
    up.store(false, Ordering::SeqCst);
    wait_for_reload(&server, |s| shop_api(s)["health"] == "down").await;
    // A negative: failing runs in the window, and no alert.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.posts().is_empty(), "no alert in a window");
    let state = alert_state(&server, "shop-api").await;
    assert_eq!(state["state"], "maintenance", "{state}");
    let until = shop_api(&server.status().await)["maintenance_until_ms"]
        .as_u64()
        .unwrap();
    assert_eq!(state["until_ms"].as_u64(), Some(until));
    let public_view: serde_json::Value = reqwest::get(server.url("/api/public/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public_view["checks"][0]["health"], "down");
    assert_eq!(
        public_view["checks"][0]["maintenance_until_ms"].as_u64(),
        Some(until)
    );
    // Once the history holds the failures, every result so far is up or in
    // the window: uptime is whole.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history: serde_json::Value =
            reqwest::get(server.url("/api/checks/shop-api/history?range=1h"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let changes = history["changes"].as_array().unwrap();
        if changes.iter().any(|c| c["to"] == "down") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{history}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let uptime: serde_json::Value = reqwest::get(server.url("/api/checks/shop-api/uptime"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(uptime["uptime"]["1h"], 1.0, "{uptime}");

    // The window is taken out while the target is still down: told at once.
    let after = config(target, &notifier, rules, public);
    std::fs::write(&setup.path, after).unwrap();
    let fired = receiver.wait_for("/hook", 1, Duration::from_secs(10)).await;
    assert_eq!(fired[0].json()["alerts"][0]["event"], "fired");
    // A negative: no second message.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.posts().len(), 1, "exactly one message");
    assert_eq!(alert_state(&server, "shop-api").await["state"], "firing");
}

#[tokio::test]
async fn mail_goes_out_over_starttls_and_implicit_tls_with_a_login() {
    let ca = support::targets::TestCa::new();
    let starttls = SmtpServer::start("starttls", &ca).await;
    let implicit = SmtpServer::start("implicit", &ca).await;
    let (target, up) = switchable_target().await;
    let notifier = |name: &str, tls: &str, port: u16| {
        format!(
            "[[notifier]]\nname = \"{name}\"\nkind = \"email\"\nhost = \"localhost\"\nport = {port}\ntls = \"{tls}\"\n\
             username = \"pulse\"\npassword = \"${{SMTP_PASSWORD}}\"\nfrom = \"Pulse <pulse@example.com>\"\n\
             to = [\"ops@example.com\", \"Oncall <oncall@example.com>\"]\nca_file = \"ca.pem\"\n"
        )
    };
    let notifiers =
        notifier("mail", "starttls", starttls.port) + &notifier("smtps", "implicit", implicit.port);
    let setup = write_config(&config(
        target,
        &notifiers,
        "failure_threshold = 1\ngroup_window = \"0s\"",
        "",
    ));
    std::fs::write(setup.path.with_file_name("ca.pem"), &ca.pem).unwrap();
    let config_path = setup.path.display().to_string();
    let server = Server::start_with_env(
        &["--config", &config_path, "--history", &setup.history],
        &[("SMTP_PASSWORD", "mail-pass-42")],
    )
    .await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    for smtp in [&starttls, &implicit] {
        let mail = &smtp.wait_for(1, Duration::from_secs(15)).await[0];
        assert!(
            mail.contains("X-Envelope-To: ops@example.com, oncall@example.com"),
            "{mail}"
        );
        assert!(mail.contains("Subject: DOWN: Shop API"), "{mail}");
        assert!(mail.contains("Message-ID: <pulse-"), "{mail}");
        assert!(
            mail.contains("the target is down") || mail.contains("503"),
            "{mail}"
        );
    }
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("pulse_notifications_sent_total{notifier=\"mail\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pulse_notifications_sent_total{notifier=\"smtps\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_wrong_smtp_password_is_a_visible_failure_that_never_shows_the_password() {
    let ca = support::targets::TestCa::new();
    let smtp = SmtpServer::start("starttls", &ca).await;
    let (target, up) = switchable_target().await;
    let notifier = format!(
        "[[notifier]]\nname = \"mail\"\nkind = \"email\"\nhost = \"localhost\"\nport = {}\n\
         username = \"pulse\"\npassword = \"${{SMTP_PASSWORD}}\"\nfrom = \"pulse@example.com\"\nto = [\"ops@example.com\"]\nca_file = \"ca.pem\"\n",
        smtp.port
    );
    let setup = write_config(&config(
        target,
        &notifier,
        "failure_threshold = 1\ngroup_window = \"0s\"",
        "",
    ));
    std::fs::write(setup.path.with_file_name("ca.pem"), &ca.pem).unwrap();
    let config_path = setup.path.display().to_string();
    let (server, log) = Server::start_keeping_log(
        &["--config", &config_path, "--history", &setup.history],
        &[("SMTP_PASSWORD", "not-the-password")],
    )
    .await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    let failing = loop {
        let report: serde_json::Value = reqwest::get(server.url("/api/alerts"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(failing) = report["notifiers"][0]["failing"].as_str() {
            break failing.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure shown: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // aiosmtpd 1.4 answers a refused login so that lettre waits for more;
    // either way the delivery fails within its deadline and says why.
    assert!(
        failing.starts_with("SMTP localhost:") || failing.starts_with("no answer within"),
        "{failing}"
    );
    assert!(smtp.mails().is_empty());
    let everything = format!("{failing}{}{}", log.text(), server.metrics_text().await);
    assert!(
        !everything.contains("not-the-password"),
        "the password shows: {everything}"
    );
}

#[tokio::test]
async fn each_chat_notifier_gets_its_own_format() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let url = |path: &str| receiver.url(path);
    let notifiers = format!(
        "[[notifier]]\nname = \"slack\"\nkind = \"slack\"\nurl = \"{}\"\n\n\
         [[notifier]]\nname = \"discord\"\nkind = \"discord\"\nurl = \"{}\"\n\n\
         [[notifier]]\nname = \"ntfy\"\nkind = \"ntfy\"\nurl = \"{}\"\ntoken = \"tk_ntfy_0001\"\n\n\
         [[notifier]]\nname = \"gotify\"\nkind = \"gotify\"\nurl = \"{}\"\ntoken = \"gotify-app-key\"\n\n\
         [[notifier]]\nname = \"telegram\"\nkind = \"telegram\"\nurl = \"{}\"\ntoken = \"123:bot-secret\"\nchat_id = \"-100200\"\n",
        url("/slack"),
        url("/discord"),
        url("/pulse-alerts"),
        url("/gotify/"),
        url("/tg/"),
    );
    let (_setup, server) = alert_at_once_then_fail(target, &up, &notifiers).await;
    let limit = Duration::from_secs(10);
    let slack = receiver.wait_for("/slack", 1, limit).await[0].json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("*DOWN: Shop API*\n"),
        "{slack}"
    );
    let discord = receiver.wait_for("/discord", 1, limit).await[0].json();
    assert!(
        discord["content"]
            .as_str()
            .unwrap()
            .starts_with("**DOWN: Shop API**\n"),
        "{discord}"
    );
    let ntfy = &receiver.wait_for("/", 1, limit).await[0];
    assert_eq!(ntfy.headers["authorization"], "Bearer tk_ntfy_0001");
    let ntfy = ntfy.json();
    assert_eq!(
        (ntfy["topic"].as_str(), ntfy["priority"].as_i64()),
        (Some("pulse-alerts"), Some(4))
    );
    assert_eq!(ntfy["title"], "DOWN: Shop API");
    let gotify = &receiver.wait_for("/gotify/message", 1, limit).await[0];
    assert_eq!(gotify.headers["x-gotify-key"], "gotify-app-key");
    assert_eq!(gotify.json()["priority"], 8);
    let telegram = receiver
        .wait_for("/tg/bot123:bot-secret/sendMessage", 1, limit)
        .await[0]
        .json();
    assert_eq!(telegram["chat_id"], "-100200");
    assert!(
        telegram["text"]
            .as_str()
            .unwrap()
            .contains("Shop API (shop) since"),
        "{telegram}"
    );
    drop(server);
}

/// The next event of one of `kinds` on `stream`, as JSON; others are
/// skipped. Panics after `limit`.
async fn next_of(
    stream: &mut support::SseReader,
    kinds: &[&str],
    limit: Duration,
) -> (String, serde_json::Value) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (kind, _, data) = stream
            .next_event_within(left)
            .await
            .expect("the stream stays open");
        if kinds.contains(&kind.as_str()) {
            return (kind, serde_json::from_str(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn the_dashboard_stream_tells_each_alert_change_once_and_a_notifier_that_fails() {
    let (target, up) = switchable_target().await;
    // Fails the fired message twice (retried after 2 s, then 4 s), then takes it.
    let receiver = Receiver::start(Answer::FailFirst(2)).await;
    let setup = write_config(&config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 3\nsuccess_threshold = 2\ngroup_window = \"0s\"",
        "",
    ));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    let mut stream = support::SseReader::open(&server.url("/api/events"), None).await;
    let (_, snapshot) = next_of(&mut stream, &["snapshot"], Duration::from_secs(5)).await;
    assert_eq!(snapshot["alerts"], serde_json::json!([]), "all passing");
    assert_eq!(snapshot["notifiers"]["failing"], serde_json::json!([]));

    up.store(false, Ordering::SeqCst);
    let mut told = Vec::new();
    while told
        .last()
        .is_none_or(|t: &serde_json::Value| t["state"] != "firing")
    {
        let (_, alert) = next_of(&mut stream, &["alert"], Duration::from_secs(10)).await;
        told.push(alert);
    }
    let states: Vec<String> = told
        .iter()
        .map(|t| format!("{} {} {}", t["id"], t["state"], t["failing"]))
        .collect();
    assert_eq!(
        states,
        [
            "\"shop-api\" \"pending\" 1",
            "\"shop-api\" \"pending\" 2",
            "\"shop-api\" \"firing\" null"
        ],
        "each step once, in order"
    );
    assert_eq!(told[0]["threshold"], 3);
    let since = told[2]["since_ms"].as_u64().unwrap();
    assert!(since > 0 && since <= support::now_ms());

    // The message fails: the banner's event names the notifier and why.
    let (_, notifiers) = next_of(
        &mut stream,
        &["notifiers", "alert"],
        Duration::from_secs(10),
    )
    .await;
    let failing = &notifiers["failing"];
    assert_eq!(failing.as_array().unwrap().len(), 1, "{notifiers}");
    assert_eq!(failing[0]["name"], "ops");
    assert!(
        failing[0]["error"].as_str().unwrap().contains("500"),
        "{notifiers}"
    );

    // A browser that connects now gets it all in its snapshot.
    let mut late = support::SseReader::open(&server.url("/api/events"), None).await;
    let (_, snapshot) = next_of(&mut late, &["snapshot"], Duration::from_secs(5)).await;
    assert_eq!(snapshot["alerts"][0]["id"], "shop-api");
    assert_eq!(snapshot["alerts"][0]["state"], "firing");
    assert_eq!(snapshot["alerts"][0]["since_ms"], since);
    assert_eq!(snapshot["notifiers"]["failing"][0]["name"], "ops");
    // The public never hears of alerts.
    let mut public = support::SseReader::open(&server.url("/api/public/events"), None).await;
    let (_, public_snapshot) = next_of(&mut public, &["snapshot"], Duration::from_secs(5)).await;
    assert!(public_snapshot.get("alerts").is_none(), "{public_snapshot}");

    // Still failing, retried until taken: the banner clears; the failing
    // results in between tell no alert change.
    let (kind, cleared) = next_of(
        &mut stream,
        &["notifiers", "alert"],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        (kind.as_str(), &cleared["failing"]),
        ("notifiers", &serde_json::json!([]))
    );
    assert_eq!(receiver.accepted("/hook").len(), 1);

    up.store(true, Ordering::SeqCst);
    let (_, resolved) = next_of(&mut stream, &["alert"], Duration::from_secs(10)).await;
    assert_eq!(
        (&resolved["id"], &resolved["state"]),
        (&"shop-api".into(), &"ok".into())
    );
    receiver.wait_for("/hook", 2, Duration::from_secs(10)).await;
    // A negative: what the public stream carried until it fell quiet.
    let mut public_alerts = 0;
    while let Ok(Some((kind, _, _))) = tokio::time::timeout(
        Duration::from_millis(300),
        public.next_event_within(Duration::from_secs(1)),
    )
    .await
    {
        public_alerts += usize::from(kind == "alert" || kind == "notifiers");
    }
    assert_eq!(public_alerts, 0);
}

/// The alert told of `check` in a webhook message.
fn alert_of<'a>(message: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["check"]["name"] == check)
        .unwrap_or_else(|| panic!("no {check} in {message}"))
}

#[tokio::test]
async fn a_message_cut_off_by_a_crash_is_retried_byte_for_byte_with_the_checks_it_held() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::HangFirst(1)).await;
    let setup = write_config(&config(
        target,
        &webhook("ops", &receiver.url("/hook")),
        "failure_threshold = 3\nsuccess_threshold = 2\ngroup_window = \"2s\"",
        &router_and_services(target, 20),
    ));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    let first = receiver
        .wait_for_tries("/hook", 1, Duration::from_secs(15))
        .await
        .remove(0);
    let held = alert_of(&first.json(), "Router")["held"].clone();
    assert_eq!(held.as_array().unwrap().len(), 20, "{held}");

    // Killed while the receiver holds the first try; by the time Pulse is
    // back the services have recovered, so its rules hold none of them.
    drop(server);
    up.store(true, Ordering::SeqCst);
    let _server = start(&setup).await;
    let retry = receiver
        .wait_for("/hook", 1, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(
        retry.headers["x-pulse-message-id"],
        first.headers["x-pulse-message-id"]
    );
    assert_eq!(
        String::from_utf8_lossy(&retry.body),
        String::from_utf8_lossy(&first.body),
        "the retry is the message as it was formed, byte for byte"
    );
    assert!(signed(&retry));
}

/// Writes `text` to `path` as editors save: a new file renamed over it, so
/// the watcher never reads it half written.
fn save_by_rename(path: &std::path::Path, text: &str) {
    let next = path.with_extension("toml.next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// Waits until every row `/api/alerts` lists was sent.
async fn wait_until_all_sent(server: &Server) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report: serde_json::Value = reqwest::get(server.url("/api/alerts"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let recent = report["recent"].as_array().unwrap();
        if !recent.is_empty() && recent.iter().all(|r| r["outcome"] == "sent") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{report:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_resolution_goes_to_the_notifier_told_of_the_firing_after_a_restart_and_a_reload() {
    let (target, up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifiers = format!(
        "{}\n{}",
        webhook("ops", &receiver.url("/ops")),
        webhook("pager", &receiver.url("/pager"))
    );
    let rules = |notify: &str| {
        format!(
            "failure_threshold = 1\nsuccess_threshold = 2\ngroup_window = \"0s\"\nnotify = [\"{notify}\"]"
        )
    };
    let setup = write_config(&config(target, &notifiers, &rules("ops"), ""));
    let server = start(&setup).await;
    server.results_within(Duration::from_secs(10)).await;
    up.store(false, Ordering::SeqCst);
    receiver.wait_for("/ops", 1, Duration::from_secs(10)).await;
    wait_until_all_sent(&server).await;

    // Who was told outlives the process, and the rule changing after it.
    drop(server);
    let server = start(&setup).await;
    wait_for_state(&server, "shop-api", "firing", Duration::from_secs(5)).await;
    let other = format!("[[check]]\nname = \"Other\"\nkind = \"tcp\"\naddress = \"{target}\"\n");
    save_by_rename(
        &setup.path,
        &config(target, &notifiers, &rules("pager"), &other),
    );
    wait_for_reload(&server, |s| {
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "other")
    })
    .await;

    up.store(true, Ordering::SeqCst);
    let told = receiver.wait_for("/ops", 2, Duration::from_secs(10)).await;
    assert_eq!(told[1].json()["alerts"][0]["event"], "resolved");
    // A negative: time in which the wrong notifier would be told.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        receiver.accepted("/pager").is_empty(),
        "the notifier the rule names now was never told of the firing"
    );
    assert_eq!(receiver.accepted("/ops").len(), 2);
}

/// What a target's answer may say that chat services read as mentions:
/// Slack's `<!channel>` and `<@U123>`, Discord's and Mattermost's `@everyone`.
const MENTIONS: &str = "<!channel> @everyone <@U123>";

/// An HTTP server answering every path with `{"status": MENTIONS}`.
async fn mentioning_target() -> std::net::SocketAddr {
    let body = serde_json::json!({ "status": MENTIONS }).to_string();
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The mentions in `text` that Slack, Mattermost or Discord would act on.
fn live_mentions(text: &str) -> Vec<&'static str> {
    let forms = ["<!", "<@", "<#", "@everyone", "@here", "@channel"];
    forms.into_iter().filter(|m| text.contains(m)).collect()
}

#[tokio::test]
async fn a_checks_detail_mentions_no_one_in_slack_or_discord() {
    let target = mentioning_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifiers = format!(
        "[[notifier]]\nname = \"slack\"\nkind = \"slack\"\nurl = \"{}\"\n\n\
         [[notifier]]\nname = \"discord\"\nkind = \"discord\"\nurl = \"{}\"\n",
        receiver.url("/slack"),
        receiver.url("/discord"),
    );
    let mentioning = format!(
        "[[check]]\nname = \"Status\"\nkind = \"http\"\nurl = \"http://{target}/status\"\n\
         json = {{ pointer = \"/status\", equals = \"ok\" }}\n"
    );
    let rules = "failure_threshold = 1\ngroup_window = \"0s\"";
    let setup = write_config(&config(target, &notifiers, rules, &mentioning));
    let _server = start(&setup).await;
    let limit = Duration::from_secs(10);

    let slack = receiver.wait_for("/slack", 1, limit).await[0].json();
    let text = slack["text"].as_str().unwrap();
    assert_eq!(live_mentions(text), Vec::<&str>::new(), "{text}");
    let shown = text
        .replace('\u{200B}', "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert!(shown.contains(MENTIONS), "still there to read: {text}");

    let discord = &receiver.wait_for("/discord", 1, limit).await[0];
    let body = String::from_utf8_lossy(&discord.body);
    assert!(
        body.contains(r#""allowed_mentions":{"parse":[]}"#),
        "{body}"
    );
    let content = discord.json()["content"].as_str().unwrap().to_string();
    assert_eq!(live_mentions(&content), Vec::<&str>::new(), "{content}");
    assert!(
        content.replace('\u{200B}', "").contains(MENTIONS),
        "still there to read: {content}"
    );
}

/// Both outboxes, one node's SQLite and a cluster's Postgres, keep for the
/// next process who was told of an open alert, and a message's body as it
/// was first kept, until its rows are pruned.
#[test]
fn both_outboxes_keep_who_was_told_and_a_message_as_it_was_formed() {
    use pulse::alerts::{AlertChange, AlertEvent, OpenAlert, Outbox};
    use pulse::status::{CheckId, Health};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let postgres = runtime.block_on(support::postgres::Postgres::start());
    let on_postgres = || {
        let mut store =
            pulse::history::PgStore::new(&postgres.url(), runtime.handle().clone()).unwrap();
        runtime.block_on(store.prepare()).unwrap();
        Outbox::on_postgres(&store, "replica-1".into()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.db");
    let on_sqlite =
        || Outbox::new(pulse::history::side_connection(Some(&history)).unwrap()).unwrap();
    let open = OpenAlert {
        since_ms: 1_000,
        reminded_ms: 3_000,
        notified: Some(vec!["ops".into(), "chat".into()]),
    };
    let fired = AlertChange {
        event: AlertEvent::Fired,
        check: CheckId("api".into()),
        name: "API".into(),
        group: "shop".into(),
        health: Health::Down,
        detail: "answered 503".into(),
        since_ms: 1_000,
        at_ms: 3_000,
        notify: vec!["ops".into(), "chat".into()],
        open: Some(open.clone()),
    };
    let stores: [(&str, &dyn Fn() -> Outbox); 2] =
        [("sqlite", &on_sqlite), ("postgres", &on_postgres)];
    for (store, outbox_now) in stores {
        let outbox = outbox_now();
        outbox.record(&fired, 3_000).unwrap();
        let message = outbox.waiting().unwrap()[0].id;
        assert_eq!(
            outbox.body(message).unwrap(),
            None,
            "{store}: not formed yet"
        );
        assert_eq!(
            outbox.assign(message, &[message], "first").unwrap(),
            "first"
        );
        assert_eq!(
            outbox.assign(message, &[message], "second").unwrap(),
            "first",
            "{store}: formed once"
        );
        drop(outbox);

        let restarted = outbox_now();
        let kept = restarted.open_alerts().unwrap();
        assert_eq!(kept, [(CheckId("api".into()), open.clone())], "{store}");
        assert_eq!(
            restarted.body(message).unwrap().as_deref(),
            Some("first"),
            "{store}"
        );
        restarted.mark_sent(message, 4_000).unwrap();
        restarted.prune(10_000).unwrap();
        assert_eq!(
            restarted.body(message).unwrap(),
            None,
            "{store}: pruned with its rows"
        );
    }
}

/// A history file as a Pulse before kept bodies and who was told leaves
/// it: `shop-api`'s alert open with no notifiers kept, and its firing to
/// `ops` put in a message (tried once, to be retried now) with no body.
fn history_of_an_older_pulse(history: &str) {
    use pulse::alerts::{AlertChange, AlertEvent, OpenAlert, Outbox};
    use pulse::status::{CheckId, Health};
    let now = support::now_ms();
    let path = std::path::Path::new(history);
    let outbox = Outbox::new(pulse::history::side_connection(Some(path)).unwrap()).unwrap();
    let open = OpenAlert {
        since_ms: now - 60_000,
        reminded_ms: now - 60_000,
        notified: None,
    };
    let fired = AlertChange {
        event: AlertEvent::Fired,
        check: CheckId("shop-api".into()),
        name: "Shop API".into(),
        group: "shop".into(),
        health: Health::Down,
        detail: "answered 503".into(),
        since_ms: open.since_ms,
        at_ms: open.since_ms,
        notify: vec!["ops".into()],
        open: Some(open),
    };
    outbox.record(&fired, now).unwrap();
    let older = pulse::history::side_connection(Some(path)).unwrap();
    older
        .execute(
            "UPDATE outbox SET message = id, attempts = 1, next_try_ms = 0",
            [],
        )
        .unwrap();
}

#[tokio::test]
async fn what_an_older_pulse_left_is_composed_once_at_its_next_try_and_resolves_to_the_rule() {
    let (target, _up) = switchable_target().await;
    let receiver = Receiver::start(Answer::Ok).await;
    let notifiers = format!(
        "{}\n{}",
        webhook("ops", &receiver.url("/ops")),
        webhook("pager", &receiver.url("/pager"))
    );
    let rules = "success_threshold = 2\ngroup_window = \"0s\"\nnotify = [\"ops\", \"pager\"]";
    let setup = write_config(&config(target, &notifiers, rules, ""));
    history_of_an_older_pulse(&setup.history);
    let _server = start(&setup).await;

    let limit = Duration::from_secs(10);
    let retry = receiver.wait_for("/ops", 1, limit).await.remove(0);
    let message = retry.json();
    assert_eq!(message["alerts"][0]["event"], "fired", "{message}");
    let id = message["message_id"].as_str().unwrap();
    let row: i64 = id.rsplit('-').next().unwrap().parse().unwrap();
    let history = std::path::Path::new(&setup.history);
    let outbox =
        pulse::alerts::Outbox::new(pulse::history::side_connection(Some(history)).unwrap())
            .unwrap();
    assert_eq!(
        outbox.body(row).unwrap().as_deref(),
        Some(&*String::from_utf8_lossy(&retry.body)),
        "composed at its try and kept"
    );
    // Whom its firing went to was not kept: its resolution goes to the
    // notifiers the rule names now.
    let resolved = receiver.wait_for("/pager", 1, limit).await[0].json();
    assert_eq!(resolved["alerts"][0]["event"], "resolved", "{resolved}");
    let told = receiver.wait_for("/ops", 2, limit).await[1].json();
    assert_eq!(told["alerts"][0]["event"], "resolved", "{told}");
}

#[tokio::test]
async fn a_notifiers_refusal_quoting_a_secret_where_it_is_cut_shows_none_of_it() {
    const HOOK_SECRET: &str = "Zq7-hook-secret-0123456789abcdef";
    // A notifier that refuses, quoting the secret so that it straddles
    // the 200th character, where an error's text is cut.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("\r\n\r\n") {
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let body = format!("{}{HOOK_SECRET} refused", "x".repeat(195));
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    let config = format!(
        "[[notifier]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"${{HOOK_SECRET}}\"\n\n\
         [[check]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(&path, config).unwrap();
    let server = Server::start_with_env(
        &["--config", path.to_str().unwrap()],
        &[("HOOK_SECRET", HOOK_SECRET)],
    )
    .await;
    let answer = reqwest::Client::new()
        .post(server.url("/api/notifiers/test"))
        .form(&[("notifier", "ops")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 502);
    let said = answer.text().await.unwrap();
    assert!(said.contains("answered 400"), "{said}");
    let alerts = reqwest::get(server.url("/api/alerts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [&said, &alerts] {
        assert!(!text.contains(&HOOK_SECRET[..5]), "{text}");
    }
}
