//! The rules' semantics and the dispatcher's plan, as plain code: results
//! in, what happens out.

use super::dispatch::{Plan, backoff, plan};
use super::outbox::{AlertRecord, Outbox, Waiting};
use super::rules::{AlertEvent, Rules};
use crate::config::AlertRule;
use crate::status::{AlertState, CheckId, CheckKind, CheckStatus, Health};
use std::collections::HashMap;
use std::time::Duration;

fn id(name: &str) -> CheckId {
    CheckId(name.to_string())
}

fn result(name: &str, health: Health, at_s: u64) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: None,
        id: id(name),
        name: name.to_string(),
        group: "g".into(),
        kind: CheckKind::Http,
        health,
        latency_ms: Some(1.0),
        detail: format!("{} at {at_s}", health.label()),
        checked_at_ms: at_s * 1000,
    }
}

fn rule() -> AlertRule {
    AlertRule {
        notify: vec!["ops".into()],
        ..AlertRule::default()
    }
}

fn rules_with(list: &[(&str, AlertRule)]) -> Rules {
    let mut rules = Rules::new([]);
    rules.set_rules(list.iter().map(|(n, r)| (id(n), r.clone())).collect());
    rules
}

/// Feeds `healths` to check `name`, one a second from `start_s`, and
/// returns the events with the second they happened at.
fn feed(rules: &mut Rules, name: &str, start_s: u64, healths: &[Health]) -> Vec<(AlertEvent, u64)> {
    healths
        .iter()
        .enumerate()
        .filter_map(|(i, &h)| {
            let at = start_s + i as u64;
            rules.observe(&result(name, h, at)).map(|x| (x.event, at))
        })
        .collect()
}

use Health::{Degraded, Down, Unknown, Up};

#[test]
fn fires_on_the_third_failure_in_a_row_and_resolves_on_the_second_pass() {
    let mut rules = rules_with(&[("api", rule())]);
    let events = feed(
        &mut rules,
        "api",
        0,
        &[Down, Down, Up, Down, Down, Down, Down, Up, Down, Up, Up, Up],
    );
    assert_eq!(
        events,
        vec![(AlertEvent::Fired, 5), (AlertEvent::Resolved, 10)]
    );
}

#[test]
fn a_fired_alert_says_since_when_and_whom_to_tell() {
    let mut rules = rules_with(&[("api", rule())]);
    feed(&mut rules, "api", 100, &[Down, Down]);
    let fired = rules.observe(&result("api", Down, 102)).unwrap();
    assert_eq!(fired.since_ms, 100_000);
    assert_eq!(fired.notify, vec!["ops".to_string()]);
    assert_eq!(fired.open.unwrap().since_ms, 100_000);
    assert_eq!(
        rules.state_of(&id("api")),
        AlertState::Firing { since_ms: 100_000 }
    );
    feed(&mut rules, "api", 103, &[Up]);
    let resolved = rules.observe(&result("api", Up, 104)).unwrap();
    assert_eq!(
        (resolved.event, resolved.since_ms, resolved.open),
        (AlertEvent::Resolved, 100_000, None)
    );
}

#[test]
fn pending_counts_up_to_the_threshold() {
    let mut rules = rules_with(&[("api", rule())]);
    feed(&mut rules, "api", 0, &[Down, Down]);
    assert_eq!(
        rules.state_of(&id("api")),
        AlertState::Pending {
            failing: 2,
            threshold: 3
        }
    );
    feed(&mut rules, "api", 2, &[Up]);
    assert_eq!(rules.state_of(&id("api")), AlertState::Ok);
}

#[test]
fn unknown_results_move_nothing() {
    let mut rules = rules_with(&[("api", rule())]);
    let events = feed(
        &mut rules,
        "api",
        0,
        &[
            Down, Unknown, Down, Unknown, Unknown, Down, Unknown, Up, Unknown, Up,
        ],
    );
    assert_eq!(
        events,
        vec![(AlertEvent::Fired, 5), (AlertEvent::Resolved, 9)]
    );
}

#[test]
fn degraded_is_passing_unless_the_rule_says_failing() {
    let mut rules = rules_with(&[("api", rule())]);
    assert!(
        feed(
            &mut rules,
            "api",
            0,
            &[Degraded, Degraded, Degraded, Degraded]
        )
        .is_empty()
    );
    let strict = AlertRule {
        degraded_is_failing: true,
        ..rule()
    };
    let mut rules = rules_with(&[("api", strict)]);
    assert_eq!(
        feed(&mut rules, "api", 0, &[Degraded, Down, Degraded]),
        vec![(AlertEvent::Fired, 2)]
    );
}

#[test]
fn reminders_come_every_repeat_while_failing_and_stop_with_the_resolution() {
    let reminding = AlertRule {
        failure_threshold: 1,
        repeat: Some(Duration::from_secs(60)),
        ..rule()
    };
    let mut rules = rules_with(&[("api", reminding)]);
    let mut events = Vec::new();
    for at in 0..200 {
        events.extend(
            rules
                .observe(&result("api", Down, at))
                .map(|x| (x.event, at)),
        );
    }
    events.extend(feed(&mut rules, "api", 200, &[Up, Up, Down]));
    assert_eq!(
        events,
        vec![
            (AlertEvent::Fired, 0),
            (AlertEvent::Reminder, 60),
            (AlertEvent::Reminder, 120),
            (AlertEvent::Reminder, 180),
            (AlertEvent::Resolved, 201),
            (AlertEvent::Fired, 202),
        ]
    );
}

#[test]
fn a_silent_resolution_still_closes_the_alert() {
    let quiet = AlertRule {
        send_resolved: false,
        ..rule()
    };
    let mut rules = rules_with(&[("api", quiet)]);
    feed(&mut rules, "api", 0, &[Down, Down, Down, Up]);
    let resolved = rules.observe(&result("api", Up, 4)).unwrap();
    assert_eq!(
        (resolved.event, resolved.notify.len(), resolved.open),
        (AlertEvent::Resolved, 0, None)
    );
}

#[test]
fn an_alert_open_at_the_last_stop_does_not_fire_again() {
    let open = super::rules::OpenAlert {
        since_ms: 5_000,
        reminded_ms: 7_000,
        notified: Some(vec!["ops".into()]),
    };
    let mut rules = Rules::new([(id("api"), open)]);
    rules.set_rules(HashMap::from([(id("api"), rule())]));
    assert!(feed(&mut rules, "api", 10, &[Down, Down, Down, Down]).is_empty());
    let resolved = feed(&mut rules, "api", 14, &[Up, Up]);
    assert_eq!(resolved, vec![(AlertEvent::Resolved, 15)]);
}

#[test]
fn a_reload_keeps_state_and_forgets_only_removed_checks() {
    let mut rules = rules_with(&[("api", rule()), ("db", rule())]);
    feed(&mut rules, "api", 0, &[Down, Down, Down]);
    feed(&mut rules, "db", 0, &[Down, Down, Down]);
    let closed = rules.set_rules(HashMap::from([(
        id("api"),
        AlertRule {
            failure_threshold: 5,
            ..rule()
        },
    )]));
    assert_eq!(closed, vec![id("db")]);
    assert!(
        feed(&mut rules, "api", 3, &[Down, Down, Down]).is_empty(),
        "no second fire after a reload"
    );
    assert_eq!(rules.state_of(&id("db")), AlertState::Ok);
}

#[test]
fn dependents_are_held_while_their_dependency_fails_and_counted_in_its_alert() {
    let dependent = AlertRule {
        depends_on: vec![id("router")],
        ..rule()
    };
    let mut rules = rules_with(&[
        ("router", rule()),
        ("a", dependent.clone()),
        ("b", dependent),
    ]);
    let mut events = Vec::new();
    for at in 0..4 {
        for name in ["router", "a", "b"] {
            events.extend(
                rules
                    .observe(&result(name, Down, at))
                    .map(|x| (x.event, x.check)),
            );
        }
    }
    assert_eq!(events, vec![(AlertEvent::Fired, id("router"))]);
    assert_eq!(
        rules.state_of(&id("a")),
        AlertState::Held { by: id("router") }
    );
    let mut held: Vec<String> = rules
        .held_by(&id("router"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    held.sort();
    assert_eq!(held, vec!["a", "b"]);
    // The router passes first; its dependents, a moment later, tell nothing.
    let mut events = Vec::new();
    for at in 4..8 {
        for name in ["router", "a", "b"] {
            events.extend(
                rules
                    .observe(&result(name, Up, at))
                    .map(|x| (x.event, x.check)),
            );
        }
    }
    assert_eq!(events, vec![(AlertEvent::Resolved, id("router"))]);
}

#[test]
fn a_dependent_still_failing_after_its_dependency_recovered_fires_on_its_own() {
    let dependent = AlertRule {
        depends_on: vec![id("router")],
        ..rule()
    };
    let mut rules = rules_with(&[("router", rule()), ("a", dependent)]);
    for at in 0..3 {
        rules.observe(&result("router", Down, at));
        rules.observe(&result("a", Down, at));
    }
    feed(&mut rules, "router", 3, &[Up, Up]);
    let fired = rules.observe(&result("a", Down, 5)).unwrap();
    assert_eq!((fired.event, fired.since_ms), (AlertEvent::Fired, 0));
}

fn waiting(
    id: i64,
    notifier: &str,
    created_s: u64,
    message: Option<i64>,
    next_try_s: u64,
) -> Waiting {
    Waiting {
        id,
        notifier: notifier.into(),
        alert: AlertRecord {
            event: "fired".into(),
            check: CheckId(format!("c{id}")),
            name: format!("c{id}"),
            group: "g".into(),
            health: Down,
            detail: "down".into(),
            since_ms: 0,
            at_ms: created_s * 1000,
        },
        created_ms: created_s * 1000,
        message,
        attempts: u32::from(message.is_some()),
        next_try_ms: next_try_s * 1000,
    }
}

fn ids(plan: &Plan) -> Vec<i64> {
    match plan {
        Plan::Send { rows, .. } => rows.iter().map(|r| r.id).collect(),
        Plan::Expire { rows, .. } => rows.clone(),
    }
}

#[test]
fn new_rows_wait_for_the_group_window_then_go_as_one_message() {
    let rows = || {
        vec![
            waiting(1, "ops", 100, None, 100),
            waiting(2, "ops", 120, None, 120),
        ]
    };
    let window = Duration::from_secs(30);
    let all = |_: &str| true;
    assert!(plan(rows(), &all, window, 129_000).is_empty());
    let plans = plan(rows(), &all, window, 130_000);
    assert_eq!(plans.len(), 1);
    assert_eq!(ids(&plans[0]), vec![1, 2]);
}

#[test]
fn a_message_being_retried_goes_first_and_alone_when_due() {
    let rows = || {
        vec![
            waiting(1, "ops", 0, Some(1), 50),
            waiting(2, "ops", 0, Some(1), 50),
            waiting(3, "ops", 10, None, 10),
            waiting(4, "chat", 10, None, 10),
        ]
    };
    let all = |_: &str| true;
    let plans = plan(rows(), &all, Duration::ZERO, 40_000);
    assert_eq!(
        plans.iter().map(ids).collect::<Vec<_>>(),
        vec![vec![4]],
        "ops waits for its retry"
    );
    let plans = plan(rows(), &all, Duration::ZERO, 50_000);
    assert_eq!(
        plans.iter().map(ids).collect::<Vec<_>>(),
        vec![vec![4], vec![1, 2]]
    );
    assert!(matches!(
        &plans[1],
        Plan::Send {
            message: Some(1),
            ..
        }
    ));
}

#[test]
fn rows_expire_after_a_day_and_wait_while_their_notifier_is_gone() {
    let day = 24 * 3600;
    let rows = || {
        vec![
            waiting(1, "ops", 0, Some(1), 0),
            waiting(2, "gone", 0, None, 0),
            waiting(3, "gone", day, None, day),
        ]
    };
    let only_ops = |n: &str| n == "ops";
    let plans = plan(rows(), &only_ops, Duration::ZERO, day * 1000);
    assert!(
        plans.iter().all(|p| matches!(p, Plan::Expire { .. })),
        "{plans:?}"
    );
    assert_eq!(
        plans.iter().map(ids).collect::<Vec<_>>(),
        vec![vec![2], vec![1]]
    );
    let before_a_day = plan(rows(), &only_ops, Duration::ZERO, day * 1000 - 1);
    assert_eq!(
        before_a_day.iter().map(ids).collect::<Vec<_>>(),
        vec![vec![1]],
        "gone: waits, unsent"
    );
}

/// The dispatcher reads the outbox only when `due_times` says so: for
/// every notifier, `plan` must find nothing before that moment and
/// something at it.
#[test]
fn the_due_times_are_when_plan_first_finds_something() {
    let day = 24 * 3600;
    let rows = || {
        vec![
            waiting(1, "retried", 0, Some(7), 50),
            waiting(2, "retried", 0, Some(7), 60),
            waiting(3, "retried", 5, Some(9), 10),
            waiting(4, "retried", 20, None, 20),
            waiting(5, "fresh", 100, None, 100),
            waiting(6, "fresh", 90, None, 90),
            waiting(7, "gone", 200, None, 200),
        ]
    };
    let configured = |n: &str| n != "gone";
    let window = Duration::from_secs(30);
    let due = super::dispatch::due_times(&rows(), &configured, window);
    let expected = [
        ("retried", 60_000),
        ("fresh", 130_000),
        ("gone", (200 + day) * 1000),
    ];
    for (notifier, at) in expected {
        assert_eq!(due[notifier], at, "{notifier}");
        let of = |now| {
            plan(rows(), &configured, window, now)
                .into_iter()
                .filter(|p| matches!(p, Plan::Send { notifier: n, .. } | Plan::Expire { notifier: n, .. } if n == notifier))
                .count()
        };
        assert_eq!(of(at - 1), 0, "{notifier}: nothing before");
        assert_eq!(of(at), 1, "{notifier}: something at");
    }
}

#[test]
fn a_storm_goes_out_at_most_a_hundred_alerts_a_message() {
    let rows: Vec<_> = (1..=250).map(|id| waiting(id, "ops", 0, None, 0)).collect();
    let plans = plan(rows, &|_: &str| true, Duration::ZERO, 1_000);
    assert_eq!(ids(&plans[0]).len(), super::dispatch::MOST_PER_MESSAGE);
}

#[test]
fn an_unknown_dependency_holds_nothing() {
    let dependent = AlertRule {
        depends_on: vec![id("router")],
        ..rule()
    };
    let mut rules = rules_with(&[("router", rule()), ("a", dependent)]);
    rules.observe(&result("router", Down, 0));
    rules.observe(&result("router", Unknown, 1));
    let events = feed(&mut rules, "a", 1, &[Down, Down, Down]);
    assert_eq!(events, vec![(AlertEvent::Fired, 3)]);
}

#[test]
fn a_change_that_could_not_be_kept_is_tried_again_by_the_next_result() {
    let mut rules = rules_with(&[("api", rule())]);
    feed(&mut rules, "api", 0, &[Down, Down]);
    let before = rules.open_of(&id("api"));
    assert!(rules.observe(&result("api", Down, 2)).is_some());
    rules.restore_open(&id("api"), before);
    assert_eq!(
        feed(&mut rules, "api", 3, &[Down]),
        vec![(AlertEvent::Fired, 3)]
    );
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    let secs: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
}

#[test]
fn the_outbox_keeps_an_alert_and_its_rows_together_and_marks_them_once() {
    let outbox = Outbox::new(crate::history::side_connection(None).unwrap()).unwrap();
    assert!(outbox.message_id(7).starts_with("pulse-") && outbox.message_id(7).ends_with("-7"));
    let mut rules = rules_with(&[(
        "api",
        AlertRule {
            notify: vec!["ops".into(), "chat".into()],
            ..rule()
        },
    )]);
    feed(&mut rules, "api", 0, &[Down, Down]);
    let fired = rules.observe(&result("api", Down, 2)).unwrap();
    outbox.record(&fired, 2_000).unwrap();
    assert_eq!(outbox.open_alerts().unwrap().len(), 1);
    let rows = outbox.waiting().unwrap();
    assert_eq!(
        rows.iter().map(|r| r.notifier.as_str()).collect::<Vec<_>>(),
        vec!["chat", "ops"]
    );
    let message = rows[1].id;
    assert_eq!(outbox.assign(message, &[message], "{}").unwrap(), "{}");
    outbox.mark_failed(message, "answered 500", 9_000).unwrap();
    let retry = outbox.waiting().unwrap();
    assert_eq!(
        (retry[1].message, retry[1].attempts, retry[1].next_try_ms),
        (Some(message), 1, 9_000)
    );
    outbox.mark_sent(message, 9_500).unwrap();
    assert_eq!(outbox.waiting().unwrap().len(), 1);
    let log = outbox.log(10).unwrap();
    assert_eq!(
        log.iter().map(|l| l.outcome.label()).collect::<Vec<_>>(),
        vec!["waiting", "sent"]
    );
    feed(&mut rules, "api", 3, &[Up]);
    let resolved = rules.observe(&result("api", Up, 4)).unwrap();
    outbox.record(&resolved, 4_000).unwrap();
    assert!(outbox.open_alerts().unwrap().is_empty());
}

#[test]
fn a_resolution_tells_the_notifiers_told_of_the_firing_whatever_the_rule_names_now() {
    let mut rules = rules_with(&[("api", rule())]);
    assert_eq!(
        feed(&mut rules, "api", 0, &[Down, Down, Down]),
        vec![(AlertEvent::Fired, 2)]
    );
    let paging = AlertRule {
        notify: vec!["pager".into()],
        ..rule()
    };
    rules.set_rules(HashMap::from([(id("api"), paging)]));
    feed(&mut rules, "api", 3, &[Up]);
    let resolved = rules.observe(&result("api", Up, 4)).unwrap();
    assert_eq!(resolved.event, AlertEvent::Resolved);
    assert_eq!(resolved.notify, vec!["ops".to_string()]);
}

#[test]
fn a_reminder_to_other_notifiers_adds_them_to_the_resolution() {
    let reminding = |notify: &str| AlertRule {
        failure_threshold: 1,
        repeat: Some(Duration::from_secs(60)),
        notify: vec![notify.into()],
        ..rule()
    };
    let mut rules = rules_with(&[("api", reminding("ops"))]);
    rules.observe(&result("api", Down, 0)).unwrap();
    rules.set_rules(HashMap::from([(id("api"), reminding("pager"))]));
    let reminder = rules.observe(&result("api", Down, 60)).unwrap();
    assert_eq!(
        (reminder.event, reminder.notify),
        (AlertEvent::Reminder, vec!["pager".to_string()])
    );
    let told = reminder.open.unwrap().notified;
    assert_eq!(told, Some(vec!["ops".to_string(), "pager".to_string()]));
    feed(&mut rules, "api", 61, &[Up]);
    let resolved = rules.observe(&result("api", Up, 62)).unwrap();
    assert_eq!(resolved.notify, ["ops", "pager"]);
}

#[test]
fn an_alert_opened_by_an_older_pulse_resolves_to_the_notifiers_its_rule_names() {
    let open = super::rules::OpenAlert {
        since_ms: 0,
        reminded_ms: 0,
        notified: None,
    };
    let mut rules = Rules::new([(id("api"), open)]);
    let paging = AlertRule {
        notify: vec!["pager".into()],
        ..rule()
    };
    rules.set_rules(HashMap::from([(id("api"), paging)]));
    feed(&mut rules, "api", 10, &[Up]);
    let resolved = rules.observe(&result("api", Up, 11)).unwrap();
    assert_eq!(resolved.notify, ["pager"]);
}

#[test]
fn no_mention_survives_in_a_chat_text() {
    use crate::notifiers::message::{Chat, without_mentions};
    let slack = without_mentions(
        "<!channel> <!here> <!everyone> <@U123> <#C1> <!subteam^S1|ops> @channel @all a & b",
        Chat::Slack,
    );
    for live in ["<", ">", "@channel", "@all"] {
        assert!(!slack.contains(live), "{live} in {slack:?}");
    }
    assert_eq!(
        slack.replace('\u{200B}', ""),
        "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@U123&gt; &lt;#C1&gt; \
         &lt;!subteam^S1|ops&gt; @channel @all a &amp; b",
        "escaped as Slack documents, and readable"
    );
    let discord = without_mentions("@everyone @here <@123> <@!123> <@&456>", Chat::Discord);
    for live in ["@everyone", "@here", "<@"] {
        assert!(!discord.contains(live), "{live} in {discord:?}");
    }
    assert_eq!(
        discord.replace('\u{200B}', ""),
        "@everyone @here <@123> <@!123> <@&456>",
        "the reader sees what the target said"
    );
}

#[test]
fn a_kept_message_opens_as_the_message_that_was_sealed() {
    use super::dispatch::entry_of;
    use crate::notifiers::message::{Envelope, HeldCheck, Message};
    let record = AlertRecord {
        event: "fired".into(),
        check: id("router"),
        name: "Router \"core\" ✓".into(),
        group: "net".into(),
        health: Down,
        detail: "answered 503 <!channel>\n\u{1}".into(),
        since_ms: 1,
        at_ms: 2,
    };
    let held = vec![HeldCheck {
        id: id("shop"),
        name: "Shop".into(),
    }];
    let base = reqwest::Url::parse("https://status.example.com/").unwrap();
    let message = Message::new(
        "pulse-x-1".into(),
        vec![entry_of(record, Some(&base), held)],
    );
    let sealed = Envelope::seal(message);
    let opened = Envelope::open(sealed.json.clone()).unwrap();
    assert_eq!(opened.message, sealed.message);
    assert!(Envelope::open("{\"title\": 1}".into()).is_err());
}

#[test]
fn news_tells_each_change_of_state_once() {
    let mut rules = rules_with(&[("api", rule())]);
    let mut told = Vec::new();
    for (at, health) in [Up, Down, Down, Down, Down, Unknown, Up, Up]
        .into_iter()
        .enumerate()
    {
        rules.observe(&result("api", health, at as u64));
        told.push(rules.news(&id("api")).map(|n| n.state.label()));
    }
    assert_eq!(
        told,
        [
            None,
            Some("pending"),
            Some("pending"),
            Some("firing"),
            None,
            None,
            None,
            Some("ok")
        ]
    );
}

#[test]
fn a_reload_tells_new_thresholds_and_removed_checks() {
    let mut rules = rules_with(&[("api", rule()), ("db", rule())]);
    feed(&mut rules, "api", 0, &[Down]);
    feed(&mut rules, "db", 0, &[Down]);
    assert!(rules.news(&id("api")).is_some() && rules.news(&id("db")).is_some());
    assert!(rules.all_news().is_empty(), "nothing moved");
    let stricter = AlertRule {
        failure_threshold: 5,
        ..rule()
    };
    rules.set_rules([(id("api"), stricter)].into_iter().collect());
    let mut news: Vec<(String, AlertState)> = rules
        .all_news()
        .into_iter()
        .map(|n| (n.id.0, n.state))
        .collect();
    news.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        news,
        [
            (
                "api".into(),
                AlertState::Pending {
                    failing: 1,
                    threshold: 5
                }
            ),
            ("db".into(), AlertState::Ok)
        ]
    );
}

/// `result`, taken in a maintenance window that ends at `until_s`.
fn in_window(name: &str, health: Health, at_s: u64, until_s: u64) -> CheckStatus {
    CheckStatus {
        maintenance_until_ms: Some(until_s * 1000),
        ..result(name, health, at_s)
    }
}

#[test]
fn a_maintenance_window_tells_nothing_and_a_failure_outlasting_it_fires_at_once() {
    let mut rules = rules_with(&[("db", rule())]);
    for at in 0..10 {
        assert_eq!(rules.observe(&in_window("db", Down, at, 10)), None);
    }
    assert_eq!(
        rules.state_of(&id("db")),
        AlertState::Maintenance { until_ms: 10_000 }
    );
    // Still down after the window: told at the first result, since the
    // failures began.
    let fired = rules.observe(&result("db", Down, 10)).unwrap();
    assert_eq!((fired.event, fired.since_ms), (AlertEvent::Fired, 0));
}

#[test]
fn a_check_that_recovers_in_its_window_is_never_told() {
    let mut rules = rules_with(&[("db", rule())]);
    let healths = [Down, Down, Down, Down, Up, Up];
    for (at, health) in healths.into_iter().enumerate() {
        assert_eq!(rules.observe(&in_window("db", health, at as u64, 6)), None);
    }
    assert_eq!(feed(&mut rules, "db", 6, &[Up, Up]), vec![]);
    assert_eq!(rules.state_of(&id("db")), AlertState::Ok);
}

#[test]
fn an_open_alert_is_neither_reminded_nor_resolved_in_a_window_but_resolves_after() {
    let reminding = AlertRule {
        repeat: Some(Duration::from_secs(60)),
        ..rule()
    };
    let mut rules = rules_with(&[("db", reminding)]);
    assert_eq!(
        feed(&mut rules, "db", 0, &[Down, Down, Down]),
        vec![(AlertEvent::Fired, 2)]
    );
    // Past a reminder's time, then recovered, all in the window.
    assert_eq!(rules.observe(&in_window("db", Down, 100, 200)), None);
    assert_eq!(rules.observe(&in_window("db", Up, 150, 200)), None);
    assert_eq!(rules.observe(&in_window("db", Up, 151, 200)), None);
    assert_eq!(
        rules.state_of(&id("db")),
        AlertState::Maintenance { until_ms: 200_000 }
    );
    // The first result after it resolves the alert that was told.
    assert_eq!(
        feed(&mut rules, "db", 200, &[Up]),
        vec![(AlertEvent::Resolved, 200)]
    );
}

#[test]
fn a_dependency_in_its_window_still_holds_its_dependents() {
    let dependent = AlertRule {
        depends_on: vec![id("router")],
        ..rule()
    };
    let mut rules = rules_with(&[("router", rule()), ("shop", dependent)]);
    for at in 0..3 {
        assert_eq!(rules.observe(&in_window("router", Down, at, 100)), None);
    }
    assert_eq!(feed(&mut rules, "shop", 0, &[Down, Down, Down]), vec![]);
    assert_eq!(
        rules.state_of(&id("shop")),
        AlertState::Held { by: id("router") }
    );
}
