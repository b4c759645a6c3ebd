//! Parsing and every way a config can be wrong. Errors are asserted as the
//! full `file:line:column: message` a person would read.

use super::*;
use crate::fields::Period;
use kinds::Concurrency;

/// The config file, read and validated with the process environment.
fn load(file: &ConfigFile) -> Result<Config, ConfigError> {
    parse_file(file, &read(file)?)
}

fn env(name: &str) -> Option<String> {
    match name {
        "SHOP_TOKEN" => Some("tok-123".to_string()),
        "SHOP_DB_PASSWORD" => Some("db-pw-456".to_string()),
        _ => None,
    }
}

fn file_at(path: impl Into<PathBuf>) -> ConfigFile {
    ConfigFile {
        path: path.into(),
        max_bytes: DEFAULT_MAX_BYTES,
    }
}

fn parse_text(text: &str) -> Result<Config, ConfigError> {
    parse(&file_at("pulse.toml"), text, &env)
}

/// The error's `line:column: message`, after the file name.
fn error_of(text: &str) -> String {
    let error = parse_text(text).expect_err("the config should be refused");
    assert_eq!(error.file, "pulse.toml");
    error
        .to_string()
        .trim_start_matches("pulse.toml:")
        .to_string()
}

const HTTP: &str = "[[check]]\nname = \"API\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\n";

#[test]
fn the_example_config_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/pulse.example.toml"))
        .unwrap();
    let config = parse_text(&text).unwrap();
    assert_eq!(
        config.defaults.interval,
        Some(Period(Duration::from_secs(10)))
    );
    assert_eq!(config.defaults.concurrency, Some(Concurrency(64)));
    let ids: Vec<&str> = config.checks.iter().map(|c| c.id.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "example-home-page",
            "shop-api-health",
            "postgres",
            "orders-database",
            "cache",
            "mail-relay-port",
            "shop-dns",
            "syslog-relay",
            "shop-backend",
            "mail-relay",
            "live-prices-feed",
            "office-router",
            "bastion-ssh",
            "example-com-certificate",
            "cpu",
            "disk"
        ]
    );
    let home = Publicity::Public {
        detail: Some("Our home page".into()),
    };
    assert_eq!(config.checks[0].publicity, home);
    assert_eq!(config.checks[1].publicity, Publicity::Private);
    let ProbeSpec::Http(api) = &config.checks[1].probe else {
        panic!("http")
    };
    assert_eq!(api.headers.0[0].1, "Bearer tok-123");
    assert!(!api.follow_redirects);
    assert_eq!(config.checks[1].interval, Some(Duration::from_secs(30)));
    assert_eq!(config.secrets, vec!["tok-123", "db-pw-456"]);
    assert_eq!(config.checks[2].group, "shop");
}

#[test]
fn a_check_without_group_or_overrides_gets_the_defaults() {
    let config = parse_text(HTTP).unwrap();
    let check = &config.checks[0];
    assert_eq!(
        (check.group.as_str(), check.interval, check.timeout),
        (DEFAULT_GROUP, None, None)
    );
    let ProbeSpec::Http(http) = &check.probe else {
        panic!("http")
    };
    assert_eq!(http.method.0, reqwest::Method::GET);
    assert!(http.expect_status.contains(204) && !http.expect_status.contains(301));
    assert!(http.follow_redirects);
}

#[test]
fn an_unknown_key_is_named_where_it_is() {
    let text = format!("{HTTP}urll = \"x\"\n");
    let error = error_of(&text);
    assert!(
        error.starts_with("5:1: unknown field `urll`, expected one of `url`"),
        "{error}"
    );
}

#[test]
fn a_wrong_type_points_at_the_value() {
    let error = error_of(&format!("{HTTP}interval = 10\n"));
    assert!(
        error.starts_with("5:12: expected a duration as a string"),
        "{error}"
    );
    let error = error_of(&format!("{HTTP}follow_redirects = \"no\"\n"));
    assert!(
        error.starts_with("5:20: invalid type: string \"no\", expected a boolean"),
        "{error}"
    );
}

#[test]
fn a_zero_interval_is_refused() {
    let error = error_of("[defaults]\ninterval = \"0s\"\n");
    assert_eq!(error, "2:12: must be greater than zero");
}

#[test]
fn a_bad_url_says_what_is_wrong() {
    let error = error_of("[[check]]\nname = \"A\"\nkind = \"http\"\nurl = \"ftp://example.com\"\n");
    assert_eq!(
        error,
        "4:7: the URL must start with http:// or https://, not ftp://"
    );
    let error = error_of("[[check]]\nname = \"A\"\nkind = \"http\"\nurl = \"not a url\"\n");
    assert!(
        error.starts_with("4:7: `not a url` is not a valid URL"),
        "{error}"
    );
}

#[test]
fn duplicate_names_point_at_the_second_and_name_the_first() {
    let error = error_of(&format!("{HTTP}\n{HTTP}"));
    assert_eq!(
        error,
        "7:8: a check named `API` is already defined at line 2; names must be unique"
    );
    let close = format!("{HTTP}\n{}", HTTP.replace("\"API\"", "\"api!\""));
    let error = error_of(&close);
    assert!(
        error.starts_with("7:8: the name `api!` is too close to `API` (line 2)"),
        "{error}"
    );
}

#[test]
fn kind_must_be_there_and_known() {
    let error = error_of("[[check]]\nname = \"A\"\nurl = \"http://x/\"\n");
    assert!(
        error.starts_with("1:1: this check has no `kind`"),
        "{error}"
    );
    let error = error_of("[[check]]\nname = \"A\"\nkind = \"gopher\"\n");
    assert!(error.starts_with("3:8: `kind` must be"), "{error}");
}

#[test]
fn the_newer_kinds_refuse_what_cannot_work_where_it_is() {
    let check = |kind: &str, keys: &str| {
        error_of(&format!(
            "[[check]]\nname = \"A\"\nkind = \"{kind}\"\n{keys}\n"
        ))
    };
    let error = check(
        "dns",
        "query = \"example.com\"\nserver = \"ns1.example.com\"",
    );
    assert!(
        error.starts_with("5:10: `ns1.example.com` is not an IP address"),
        "{error}"
    );
    let error = check("dns", "query = \"example.com\"\ntype = \"ANY\"");
    assert!(error.starts_with("5:8: unknown variant `ANY`"), "{error}");
    let error = check(
        "dns",
        "query = \"gone.example.com\"\nexpect_rcode = \"NXDOMAIN\"\nexpect = [\"192.0.2.1\"]",
    );
    assert!(error.starts_with("1:1: `expect` needs answers"), "{error}");
    let error = check("postgres", "url = \"mysql://db:3306/app\"");
    assert!(
        error.starts_with("1:1: a `postgres` check's url starts with postgres://"),
        "{error}"
    );
    let error = check("postgres", "url = \"postgres://db/app?sslmode=require\"");
    assert!(
        error.starts_with("1:1: TLS to Postgres is not supported yet"),
        "{error}"
    );
    let error = check(
        "redis",
        "url = \"redis://127.0.0.1:6379\"\nrole = \"primary\"",
    );
    assert!(
        error.starts_with("5:8: unknown variant `primary`"),
        "{error}"
    );
    let error = check("ssh", "address = \"bastion\"");
    assert!(
        error.starts_with("4:11: `bastion` is not host:port"),
        "{error}"
    );
}

#[test]
fn a_group_names_checks_of_the_file_and_no_group() {
    let tcp = "[[check]]\nname = \"db 1\"\nkind = \"tcp\"\naddress = \"db1:5432\"\n";
    let group =
        |keys: &str| format!("{tcp}\n[[check]]\nname = \"dbs\"\nkind = \"group\"\n{keys}\n");
    let config = parse_text(&group("checks = [\"db 1\"]")).unwrap();
    let ProbeSpec::Group(dbs) = &config.checks[1].probe else {
        panic!("group")
    };
    assert_eq!(dbs.members, vec![CheckId("db-1".into())]);
    let error = error_of(&group("checks = [\"db 2\"]"));
    assert!(
        error.starts_with("7:8: group `dbs` names `db 2`, which is no check of this file"),
        "{error}"
    );
    let error = error_of(&group("checks = [\"dbs\"]"));
    assert!(error.contains("names `dbs`, a group"), "{error}");
    let error = error_of(&group("checks = [\"db 1\"]\nmin_up = 2"));
    assert!(
        error.contains("`min_up` must be from 1 to the number of `checks` (1)"),
        "{error}"
    );
    let error = error_of(&group("checks = []"));
    assert!(error.contains("a group needs `checks`"), "{error}");
}

#[test]
fn a_database_password_is_a_secret_from_the_start() {
    let config = parse_text(
        "[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"postgres://monitor:literal-pw@127.0.0.1/app\"\n",
    )
    .unwrap();
    assert_eq!(
        config.checks[0].probe.secrets(),
        vec!["monitor", "literal-pw"]
    );
}

#[test]
fn a_missing_field_points_at_its_check() {
    let error = error_of("[defaults]\n\n[[check]]\nname = \"A\"\nkind = \"tcp\"\n");
    assert!(error.starts_with("3:1: missing field `address`"), "{error}");
    let error = error_of("[[check]]\nkind = \"tcp\"\naddress = \"db:5432\"\n");
    assert!(error.starts_with("1:1: missing field `name`"), "{error}");
}

#[test]
fn field_values_are_validated() {
    let tcp = |address: &str| {
        error_of(&format!(
            "[[check]]\nname = \"A\"\nkind = \"tcp\"\naddress = \"{address}\"\n"
        ))
    };
    assert!(tcp("db").starts_with("4:11: `db` is not host:port: no port"));
    assert!(tcp("db:0").contains("1 to 65535"));
    let regex = error_of(&format!("{HTTP}body_regex = \"(unclosed\"\n"));
    assert!(
        regex.starts_with("5:14: not a valid regular expression"),
        "{regex}"
    );
    let pointer = error_of(&format!(
        "{HTTP}json = {{ pointer = \"status\", equals = 1 }}\n"
    ));
    assert!(
        pointer.starts_with("5:20: `status` is not a JSON pointer"),
        "{pointer}"
    );
    let method = error_of(&format!("{HTTP}method = \"get\"\n"));
    assert!(
        method.starts_with("5:10: `get` is not an HTTP method"),
        "{method}"
    );
    let status = error_of(&format!("{HTTP}expect_status = [200, 999]\n"));
    assert!(
        status.starts_with("5:23: 999 is not an HTTP status code"),
        "{status}"
    );
    let header = error_of(&format!("{HTTP}headers = {{ \"bad name\" = \"x\" }}\n"));
    assert!(
        header.contains("`bad name` is not a valid header name"),
        "{header}"
    );
    let concurrency = error_of("[defaults]\nconcurrency = 0\n");
    assert!(
        concurrency.starts_with("2:15: concurrency must be"),
        "{concurrency}"
    );
}

#[test]
fn host_thresholds_must_make_sense() {
    let host = |extra: &str| {
        error_of(&format!(
            "[[check]]\nname = \"C\"\nkind = \"host\"\nmetric = \"cpu\"\n{extra}"
        ))
    };
    assert!(
        host("degraded = 90\ndown = 80\n")
            .starts_with("1:1: `degraded` (90) must not be above `down` (80)")
    );
    assert!(host("down = 120\n").contains("0 to 100"));
    assert!(host("path = \"/\"\n").contains("only for metric = \"disk\""));
    let metric = error_of("[[check]]\nname = \"C\"\nkind = \"host\"\nmetric = \"gpu\"\n");
    assert!(
        metric.starts_with("4:10: unknown variant `gpu`"),
        "{metric}"
    );
}

#[test]
fn environment_variables_fill_in_and_missing_ones_are_errors() {
    let error = error_of(&format!(
        "{HTTP}headers = {{ Authorization = \"Bearer ${{NOPE}}\" }}\n"
    ));
    assert_eq!(error, "5:29: environment variable `NOPE` is not set");
}

#[test]
fn names_and_groups_cannot_carry_secrets() {
    let error =
        error_of("[[check]]\nname = \"API ${SHOP_TOKEN}\"\nkind = \"tcp\"\naddress = \"db:1\"\n");
    assert!(
        error.starts_with("2:8: names and groups are shown to everyone"),
        "{error}"
    );
    let error = error_of(
        "[[check]]\nname = \"API\"\ngroup = \"${SHOP_TOKEN}\"\nkind = \"tcp\"\naddress = \"db:1\"\n",
    );
    assert!(error.starts_with("3:9: names and groups"), "{error}");
}

#[test]
fn syntax_errors_and_stray_keys_have_positions_too() {
    let error = error_of("[defaults\ninterval = \"1s\"\n");
    assert!(error.starts_with("1:"), "{error}");
    let error = error_of("title = \"mine\"\n");
    assert!(error.starts_with("1:1: unknown key `title`"), "{error}");
    let error = error_of("check = \"x\"\n");
    assert!(
        error.starts_with("1:9: `check` must be a list of tables"),
        "{error}"
    );
}

#[test]
fn tls_ca_file_must_be_readable_pem() {
    let text = "[[check]]\nname = \"T\"\nkind = \"tls\"\nhost = \"localhost\"\nca_file = \"no-such.pem\"\n";
    let error = error_of(text);
    assert!(
        error.starts_with("5:11: cannot read ca_file ./no-such.pem"),
        "{error}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let error = load(&file_at("/nonexistent/pulse.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/pulse.toml: cannot read the config"),
        "{error}"
    );
}

#[test]
fn a_ca_file_that_is_not_a_regular_file_is_refused() {
    let text =
        "[[check]]\nname = \"T\"\nkind = \"tls\"\nhost = \"localhost\"\nca_file = \"/dev/zero\"\n";
    let error = error_of(text);
    assert_eq!(
        error,
        "5:11: cannot read ca_file /dev/zero: a character device, not a regular file"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulse.toml");
    std::fs::write(&path, b"[defaults]\ninterval = \"1\xffs\"\n").unwrap();
    let error = load(&file_at(&path)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:2:14: cannot read the config: not UTF-8 text (save it as UTF-8)",
            path.display()
        )
    );
}

/// The error a config gets with `env` as its environment, whole.
fn error_with_env(text: &str, env: &[(&str, &str)]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    parse(&file_at("pulse.toml"), text, &lookup)
        .expect_err("the config should be refused")
        .to_string()
}

#[test]
fn errors_never_show_a_value_from_the_environment() {
    let check = "[[check]]\nname = \"db\"\n";
    let refused = [
        // The URL parser's refusal quotes the URL.
        (
            format!("{check}kind = \"http\"\nurl = \"https://${{DB_AUTH}}@db.internal:99999/\"\n"),
            "4:7: `https://[redacted]@db.internal:99999/` is not a valid URL: invalid port number",
        ),
        // serde quotes a value of the wrong type, escaped.
        (
            format!("{check}kind = \"tls\"\nhost = \"db\"\nport = \"${{DB_AUTH}}\"\n"),
            "5:8: invalid type: string \"[redacted]\", expected u16",
        ),
        // humantime quotes a part of the value.
        (
            format!("{check}kind = \"tcp\"\naddress = \"db:1\"\ninterval = \"${{DB_UNIT}}\"\n"),
            "5:12: `[redacted]` is not a duration (unknown time unit \"[redacted]\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); write e.g. \"10s\", \"500ms\", \"1m\"",
        ),
        // The regex parser quotes the pattern.
        (
            format!(
                "{check}kind = \"http\"\nurl = \"http://db/\"\nbody_regex = \"(${{DB_AUTH}}\"\n"
            ),
            "",
        ),
        // A later failure still knows the values substituted before it.
        (
            format!(
                "{check}kind = \"tcp\"\naddress = \"${{DB_AUTH}}:1\"\ntimeout = \"${{NOPE}}\"\n"
            ),
            "5:11: environment variable `NOPE` is not set",
        ),
    ];
    for (text, expected) in refused {
        let env = [("DB_AUTH", "admin:S3cr\"3t"), ("DB_UNIT", "5 hunterpass")];
        let error = error_with_env(&text, &env);
        for part in ["admin", "S3cr", "3t", "hunter"] {
            assert!(!error.contains(part), "{part} leaked: {error}");
        }
        if !expected.is_empty() {
            assert_eq!(error, format!("pulse.toml:{expected}"));
        }
    }
}

#[test]
fn errors_never_show_the_password_of_a_url_written_in_the_file() {
    let error = error_of(
        "[[check]]\nname = \"db\"\nkind = \"http\"\nurl = \"https://admin:hunter2@db:99999/\"\n",
    );
    assert_eq!(
        error,
        "4:7: `https://[redacted]@db:99999/` is not a valid URL: invalid port number"
    );
}

#[test]
fn ids_come_from_names() {
    assert_eq!(id_from_name("Shop API (EU)").unwrap().0, "shop-api-eu");
    assert_eq!(id_from_name("  Größe  ").unwrap().0, "größe");
    assert!(id_from_name("!!!").is_none());
}

/// A check named `name` in `group`, with `extra` lines of its own.
fn tcp_check(name: &str, group: &str, extra: &str) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\ngroup = \"{group}\"\nkind = \"tcp\"\naddress = \"db:1\"\n{extra}"
    )
}

fn publicity_of(text: &str) -> Vec<(String, Publicity)> {
    let config = parse_text(text).unwrap();
    config
        .checks
        .into_iter()
        .map(|c| (c.id.0, c.publicity))
        .collect()
}

#[test]
fn checks_are_public_by_their_own_word_or_their_group() {
    let text = [
        tcp_check(
            "Own",
            "inner",
            "public = true\npublic_detail = \"Our database\"\n",
        ),
        tcp_check("Site", "Website", ""),
        tcp_check(
            "Site admin",
            "Website",
            "public = false\npublic_detail = \"x\"\n",
        ),
        tcp_check("Hidden", "inner", "public_detail = \"unused\"\n"),
        // After the checks: `[public]` may come anywhere in the file.
        "[public]\ngroups = [\"Website\"]\n".to_string(),
    ]
    .concat();
    let shown = |detail: Option<&str>| Publicity::Public {
        detail: detail.map(String::from),
    };
    assert_eq!(
        publicity_of(&text),
        [
            ("own".to_string(), shown(Some("Our database"))),
            ("site".to_string(), shown(None)),
            ("site-admin".to_string(), Publicity::Private),
            ("hidden".to_string(), Publicity::Private),
        ]
    );
    assert!(
        publicity_of(HTTP)
            .iter()
            .all(|(_, p)| *p == Publicity::Private)
    );
}

#[test]
fn the_public_table_and_public_details_are_checked() {
    let error = error_of("[public]\ngroup = [\"Website\"]\n");
    assert!(error.starts_with("2:1: unknown field `group`"), "{error}");
    let error = error_of(&tcp_check("A", "g", "public = \"yes\"\n"));
    assert!(error.starts_with("6:10: invalid type"), "{error}");
    let error = error_of(&tcp_check(
        "A",
        "g",
        "public_detail = \"up ${SHOP_TOKEN}\"\n",
    ));
    assert!(
        error.starts_with("6:17: public details are shown to everyone"),
        "{error}"
    );
}

const ALERTING: &str = r#"
[alerts]
failure_threshold = 4
repeat = "2h"
group_window = "10s"
public_url = "https://status.example.com/"

[alerts.group.shop]
failure_threshold = 2
notify = ["chat"]

[[notifier]]
name = "ops"
kind = "webhook"
url = "https://hooks.example.com/pulse"
secret = "${SHOP_TOKEN}"

[[notifier]]
name = "chat"
kind = "slack"
url = "https://chat.example.com/hooks/abc"

[[check]]
name = "Router"
kind = "tcp"
address = "127.0.0.1:9"

[[check]]
name = "Shop"
group = "shop"
kind = "tcp"
address = "127.0.0.1:9"
depends_on = ["Router"]

[[check]]
name = "Billing"
group = "shop"
kind = "tcp"
address = "127.0.0.1:9"
alert = { failure_threshold = 1, repeat = "off", send_resolved = false, notify = ["ops", "chat"] }
"#;

#[test]
fn alert_rules_resolve_check_over_group_over_alerts_over_defaults() {
    let config = parse_text(ALERTING).unwrap();
    assert_eq!(config.alerts.group_window, Duration::from_secs(10));
    assert_eq!(config.alerts.notifiers.len(), 2);
    let [router, shop, billing] = &config.checks[..] else {
        panic!("three checks")
    };
    assert_eq!(router.alert.failure_threshold, 4);
    assert_eq!(router.alert.success_threshold, 2);
    assert_eq!(router.alert.repeat, Some(Duration::from_secs(7200)));
    assert_eq!(
        router.alert.notify,
        ["ops", "chat"],
        "no notify: every notifier"
    );
    assert_eq!(shop.alert.failure_threshold, 2);
    assert_eq!(shop.alert.notify, ["chat"]);
    assert_eq!(shop.alert.depends_on, [CheckId("router".into())]);
    assert_eq!(billing.alert.failure_threshold, 1);
    assert_eq!(billing.alert.repeat, None);
    assert!(!billing.alert.send_resolved);
    assert_eq!(billing.alert.notify, ["ops", "chat"]);
}

#[test]
fn a_notifier_secret_never_shows_in_its_debug_form() {
    let config = parse_text(ALERTING).unwrap();
    let shown = format!("{:?}", config.alerts);
    assert!(
        !shown.contains("tok-123") && !shown.contains("abc"),
        "{shown}"
    );
}

#[test]
fn alert_mistakes_are_named_where_they_are() {
    let unknown_notifier = format!("{HTTP}alert = {{ notify = [\"pager\"] }}\n");
    assert_eq!(
        error_of(&unknown_notifier),
        "2:8: check `API` notifies `pager`, but no [[notifier]] has that name"
    );
    let unknown_dependency = format!("{HTTP}depends_on = [\"Router\"]\n");
    assert_eq!(
        error_of(&unknown_dependency),
        "2:8: check `API` depends on `Router`, but no check has that name"
    );
    let ring = "[[check]]\nname = \"A\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ndepends_on = [\"B\"]\n\
                [[check]]\nname = \"B\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ndepends_on = [\"A\"]\n";
    assert!(
        error_of(ring).contains("depend on each other"),
        "{}",
        error_of(ring)
    );
    let zero = format!("{HTTP}alert = {{ failure_threshold = 0 }}\n");
    assert!(
        error_of(&zero).contains("from 1 to 1000, not 0"),
        "{}",
        error_of(&zero)
    );
    let no_token = "[[notifier]]\nname = \"tg\"\nkind = \"telegram\"\nchat_id = \"1\"\n";
    assert_eq!(
        error_of(no_token),
        "1:1: a `telegram` notifier needs `token` (the bot's token)"
    );
    let odd_kind = "[[notifier]]\nname = \"x\"\nkind = \"pigeon\"\n";
    assert!(error_of(odd_kind).contains("unknown notifier kind `pigeon`"));
    let misspelt = "[alerts]\nfailure_treshold = 2\n";
    assert!(
        error_of(misspelt).starts_with("2:1: unknown field `failure_treshold`"),
        "{}",
        error_of(misspelt)
    );
}

#[test]
fn push_checks_need_a_long_token_of_their_own_that_stays_secret() {
    let push = |name: &str, token: &str| {
        format!(
            "[[check]]\nname = \"{name}\"\nkind = \"push\"\ntoken = \"{token}\"\nperiod = \"1h\"\n"
        )
    };
    let config = parse_text(&push("Backup", "abcdefghijklmnop-_09")).unwrap();
    let ProbeSpec::Push(spec) = &config.checks[0].probe else {
        panic!("a push check")
    };
    assert_eq!(spec.period, Period(Duration::from_secs(3600)));
    assert!(config.secrets.contains(&"abcdefghijklmnop-_09".to_string()));
    assert!(!format!("{:?}", config.checks[0]).contains("abcdefghijklmnop"));
    let short = error_of(&push("Backup", "short"));
    assert!(
        short.starts_with("4:9: a push token is 16 to 128"),
        "{short}"
    );
    let odd = error_of(&push("Backup", "has spaces in it, see"));
    assert!(odd.contains("a push token is"), "{odd}");
    let twice = push("Backup", "abcdefghijklmnop-_09") + &push("Reports", "abcdefghijklmnop-_09");
    assert_eq!(
        error_of(&twice),
        "7:8: check `Reports` has the same push token as `Backup`; each needs its own"
    );
    let no_period = "[[check]]\nname = \"B\"\nkind = \"push\"\ntoken = \"abcdefghijklmnop-_09\"\n";
    assert!(
        error_of(no_period).contains("missing field `period`"),
        "{}",
        error_of(no_period)
    );
}

const SHOP: &str = "[[check]]\nname = \"Shop\"\ngroup = \"shop\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n\n[[check]]\nname = \"Cart\"\ngroup = \"shop\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n";

#[test]
fn maintenance_windows_resolve_to_the_checks_they_cover() {
    let text = format!(
        "{HTTP}{SHOP}
[[maintenance]]
name = \"Weekly backups\"
groups = [\"shop\"]
days = [\"sun\", \"Saturday\"]
from = \"23:00\"
until = \"01:00\"
timezone = \"Europe/Berlin\"

[[maintenance]]
checks = [\"API\"]
start = \"2026-12-24 22:00\"
end = \"2026-12-25T02:00\"
"
    );
    let config = parse_text(&text).unwrap();
    let [weekly, once] = &config.maintenance[..] else {
        panic!("two windows: {:?}", config.maintenance);
    };
    assert_eq!(weekly.name.as_deref(), Some("Weekly backups"));
    let ids =
        |w: &crate::maintenance::Window| w.checks.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(weekly), ["shop", "cart"]);
    assert_eq!(ids(once), ["api"]);
    let crate::maintenance::Schedule::Weekly { days, .. } = &weekly.schedule else {
        panic!("weekly: {:?}", weekly.schedule);
    };
    assert_eq!(
        days,
        &[jiff::civil::Weekday::Sunday, jiff::civil::Weekday::Saturday]
    );
    // Christmas Eve 22:00 UTC (no zone given) is covered.
    assert_eq!(
        once.schedule.covering(1_798_149_600_000),
        Some(1_798_164_000_000)
    );
}

#[test]
fn a_wrong_maintenance_window_is_refused_where_it_is_written() {
    let window = |body: &str| error_of(&format!("{HTTP}{SHOP}\n[[maintenance]]\n{body}"));
    assert_eq!(
        window("checks = [\"Nope\"]\nfrom = \"02:00\"\nuntil = \"03:00\"\n"),
        "17:1: the maintenance window covers `Nope`, but no check has that name"
    );
    assert_eq!(
        window("groups = [\"nope\"]\nfrom = \"02:00\"\nuntil = \"03:00\"\n"),
        "17:1: the maintenance window covers group `nope`, but no check is in it"
    );
    assert_eq!(
        window("from = \"02:00\"\nuntil = \"03:00\"\n"),
        "17:1: a maintenance window names the `checks` or `groups` it covers"
    );
    assert_eq!(
        window(
            "checks = [\"API\"]\nfrom = \"02:00\"\nuntil = \"03:00\"\ntimezone = \"Europe/Berlinn\"\n"
        ),
        "17:1: `Europe/Berlinn` is not a time zone; write an IANA name like \"Europe/Berlin\", or \"UTC\""
    );
    assert_eq!(
        window("checks = [\"API\"]\nfrom = \"2am\"\nuntil = \"03:00\"\n"),
        "17:1: `from` = \"2am\" is not a time of day; write e.g. \"02:00\""
    );
    assert_eq!(
        window("checks = [\"API\"]\ndays = [\"sundae\"]\nfrom = \"02:00\"\nuntil = \"03:00\"\n"),
        "17:1: `sundae` is not a day; write e.g. \"sunday\" or \"sun\""
    );
    assert_eq!(
        window("checks = [\"API\"]\nstart = \"2026-12-25 02:00\"\nend = \"2026-12-24 22:00\"\n"),
        "17:1: a maintenance window's `end` (2026-12-24T22:00:00) must come after its `start` (2026-12-25T02:00:00)"
    );
    assert_eq!(
        window(
            "checks = [\"API\"]\nstart = \"2026-12-25 02:00\"\nfrom = \"02:00\"\nuntil = \"03:00\"\n"
        ),
        "17:1: a maintenance window is either once (`start`, `end`) or weekly (`days`, `from`, `until`), not both"
    );
    assert_eq!(
        window("checks = [\"API\"]\nfrom = \"02:00\"\nuntil = \"02:00\"\n"),
        "17:1: a maintenance window's `from` and `until` are the same time; it would never end, or never begin"
    );
    assert!(
        window("checks = [\"API\"]\nfrom = \"02:00\"\nuntill = \"03:00\"\n")
            .contains("unknown field `untill`"),
    );
}

#[test]
fn a_session_lifetime_over_thirty_days_is_refused() {
    let access = |lifetime: &str| {
        format!(
            "[access]\nsession_key = \"{}\"\nsession_lifetime = \"{lifetime}\"\n{HTTP}",
            "k".repeat(40)
        )
    };
    assert!(parse_text(&access("30days")).is_ok());
    let error = error_of(&access("31days"));
    assert!(error.contains("at most 30 days"), "{error}");
}
