//! `/notifications`: the notifiers, whether each is getting alerts through,
//! and the newest notifications with what became of them. Whoever may act
//! (signed in, or a `write` token) can send each notifier a test message.
//! The test is a server function posted as a plain HTML form (no
//! `ActionForm`: that and its `ServerAction` cost 37 KB of gzipped WASM),
//! so it works the same before and after the WASM loads: the answer sends
//! the browser back here with the outcome in the query, and the page,
//! loaded again, shows it and the lists as they are now.

use crate::clock::{utc_clock, utc_day};
use crate::status::{Notification, NotificationsData, NotifierSummary};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

/// How many of the newest notifications the page lists.
#[cfg(feature = "ssr")]
const LISTED: usize = 100;

#[server]
pub async fn load_notifications() -> Result<NotificationsData, ServerFnError> {
    super::viewer::require_private()?;
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("the alerts are not available here"))?;
    let alerts = state.alerts.clone();
    let recent = tokio::task::spawn_blocking(move || alerts.recent(LISTED))
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?
        .map_err(ServerFnError::new)?;
    Ok(NotificationsData {
        notifiers: state.alerts.notifiers(),
        recent,
        can_test: super::viewer::may_act(),
    })
}

/// Where the page's test button posts (the server function's path).
const TEST_FORM_ACTION: &str = "/api/notifiers/test";

/// `POST /api/notifiers/test` with `notifier=NAME`: an action (see
/// `access`), so only for those who may act, from this site or with a
/// `write` token. A script's answer says what happened in its status (200,
/// 404, 429 or 502) and text. A browser's form post (the page's button, no
/// WASM needed) is sent back to `/notifications` with the outcome in the
/// query, which the page shows.
#[server(endpoint = "notifiers/test")]
pub async fn send_test_message(notifier: String) -> Result<String, ServerFnError> {
    let plain_form = from_a_plain_form();
    if let Err(refused) = super::viewer::require_action() {
        if plain_form {
            send_back(&TestResult::Refused);
        }
        return Err(refused);
    }
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("the alerts are not available here"))?;
    let who = super::viewer::who_asks();
    let answer = state.alerts.send_test(&notifier, &who).await;
    if plain_form {
        send_back(&TestResult::from_answer(&notifier, &answer));
    }
    answer.map_err(|error| {
        if !plain_form && let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(error.status());
        }
        ServerFnError::new(error)
    })
}

/// Whether the request is a browser's form post (it accepts HTML).
#[cfg(feature = "ssr")]
fn from_a_plain_form() -> bool {
    use_context::<axum::http::request::Parts>()
        .is_some_and(|parts| crate::access::web::from_a_page(&parts.headers))
}

/// Answers a browser's form post with `303 See Other` to the page, the
/// outcome in its query. The path is fixed; only the query varies (encoded),
/// so the answer can send a browser nowhere else (and Leptos's own redirect
/// to the `Referer` never applies).
#[cfg(feature = "ssr")]
fn send_back(tested: &TestResult) {
    use axum::http::{HeaderValue, StatusCode, header::LOCATION};
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(location) = HeaderValue::from_str(&tested.location()) {
        response.insert_header(LOCATION, location);
        response.set_status(StatusCode::SEE_OTHER);
    }
}

/// What became of a test message, as the page's query carries it
/// (`test=sent&notifier=ops`) and as the page says it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TestResult {
    Sent {
        notifier: String,
    },
    Unknown {
        notifier: String,
    },
    TooSoon {
        notifier: String,
        secs: u64,
    },
    NotDelivered {
        notifier: String,
        error: String,
    },
    /// The access rule refused (the layer refuses others before this).
    Refused,
}

/// How much of a delivery's error the query carries.
#[cfg(feature = "ssr")]
const ERROR_IN_QUERY: usize = 300;

impl TestResult {
    #[cfg(feature = "ssr")]
    fn from_answer(
        notifier: &str,
        answer: &Result<String, crate::alerts::TestError>,
    ) -> TestResult {
        use crate::alerts::TestError;
        match answer {
            Ok(_) => TestResult::Sent {
                notifier: notifier.to_owned(),
            },
            Err(TestError::Unknown(notifier)) => TestResult::Unknown {
                notifier: notifier.clone(),
            },
            Err(TestError::TooSoon { notifier, secs }) => TestResult::TooSoon {
                notifier: notifier.clone(),
                secs: *secs,
            },
            Err(TestError::NotDelivered { notifier, error }) => TestResult::NotDelivered {
                notifier: notifier.clone(),
                error: crate::text::shorten(error, ERROR_IN_QUERY),
            },
        }
    }

    /// Where the page shows this: a fixed path, the outcome in the query.
    #[cfg(feature = "ssr")]
    fn location(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        match self {
            TestResult::Sent { notifier } => query
                .append_pair("test", "sent")
                .append_pair("notifier", notifier),
            TestResult::Unknown { notifier } => query
                .append_pair("test", "unknown")
                .append_pair("notifier", notifier),
            TestResult::TooSoon { notifier, secs } => query
                .append_pair("test", "too-soon")
                .append_pair("notifier", notifier)
                .append_pair("wait", &secs.to_string()),
            TestResult::NotDelivered { notifier, error } => query
                .append_pair("test", "not-delivered")
                .append_pair("notifier", notifier)
                .append_pair("error", error),
            TestResult::Refused => query.append_pair("test", "refused"),
        };
        format!("/notifications?{}", query.finish())
    }

    /// Read back from the page's query; `None` without a (known) `test`.
    fn from_query(query: &leptos_router::params::ParamsMap) -> Option<TestResult> {
        let notifier = || query.get("notifier").unwrap_or_default();
        Some(match query.get_str("test")? {
            "sent" => TestResult::Sent {
                notifier: notifier(),
            },
            "unknown" => TestResult::Unknown {
                notifier: notifier(),
            },
            "too-soon" => TestResult::TooSoon {
                notifier: notifier(),
                secs: query
                    .get_str("wait")
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0),
            },
            "not-delivered" => TestResult::NotDelivered {
                notifier: notifier(),
                error: query.get("error").unwrap_or_default(),
            },
            "refused" => TestResult::Refused,
            _ => return None,
        })
    }

    /// `data-outcome`: `sent` or `failed`.
    fn kind(&self) -> &'static str {
        match self {
            TestResult::Sent { .. } => "sent",
            _ => "failed",
        }
    }

    /// What the page says: the words a script gets for the same outcome.
    fn text(&self) -> String {
        match self {
            TestResult::Sent { notifier } => format!("A test message was sent to `{notifier}`."),
            TestResult::Unknown { notifier } => format!("No notifier is named `{notifier}`."),
            TestResult::TooSoon { notifier, secs } => {
                format!("A test message went to `{notifier}` moments ago; try again in {secs} s.")
            }
            TestResult::NotDelivered { notifier, error } => {
                format!("`{notifier}` did not take the test message: {error}")
            }
            TestResult::Refused => "Sign in (or use a write token) to send a test message.".into(),
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use leptos::server_fn::ServerFn;

    use super::TestResult;
    use crate::alerts::TestError;

    #[test]
    fn the_test_message_is_served_where_the_access_rule_sees_an_action() {
        assert_eq!(super::SendTestMessage::PATH, crate::access::TEST_MESSAGE);
        assert_eq!(super::TEST_FORM_ACTION, crate::access::TEST_MESSAGE);
    }

    /// The page, reading the query it is sent back with, says what a script
    /// is told; the answer leads to the page and nowhere else.
    #[test]
    fn a_plain_forms_outcome_comes_back_to_the_page_in_its_query() {
        let answers = [
            Ok("A test message was sent to `a&b ops`.".to_string()),
            Err(TestError::Unknown("/../x?y=1#z".into())),
            Err(TestError::TooSoon {
                notifier: "ops".into(),
                secs: 42,
            }),
            Err(TestError::NotDelivered {
                notifier: "ops".into(),
                error: "HTTP 500: not now & then".into(),
            }),
        ];
        for answer in answers {
            let notifier = match &answer {
                Ok(_) => "a&b ops",
                Err(TestError::Unknown(name)) => name,
                Err(
                    TestError::TooSoon { notifier, .. } | TestError::NotDelivered { notifier, .. },
                ) => notifier,
            };
            let tested = TestResult::from_answer(notifier, &answer);
            let location = tested.location();
            let query = location
                .strip_prefix("/notifications?")
                .unwrap_or_else(|| panic!("{location}"));
            assert!(!query.contains(['/', '#', '?', ' ']), "{location}");
            let read = TestResult::from_query(&leptos_router::params::ParamsMap::from_iter(
                form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            ));
            assert_eq!(read.as_ref(), Some(&tested), "{location}");
            let said = match &answer {
                Ok(text) => text.clone(),
                Err(refused) => refused.to_string(),
            };
            assert_eq!(tested.text(), said);
            assert_eq!(
                tested.kind(),
                if answer.is_ok() { "sent" } else { "failed" }
            );
        }
        assert_eq!(
            TestResult::Refused.location(),
            "/notifications?test=refused"
        );
    }

    #[test]
    fn a_long_delivery_error_is_shortened_for_the_query() {
        let answer = Err(TestError::NotDelivered {
            notifier: "ops".into(),
            error: "x".repeat(5_000),
        });
        assert!(TestResult::from_answer("ops", &answer).location().len() < 400);
    }
}

#[component]
pub fn Notifications() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_notifications());
    view! {
        <Title text="Notifications · Pulse"/>
        <header class="top">
            <h1><a class="home" href="/"><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</a></h1>
        </header>
        <main class="notifications-page">
            <h2>"Notifications"</h2>
            <TestOutcome/>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => Either::Left(view! { <NotificationsView data/> }),
                        Err(error) => Either::Right(view! {
                            <p class="failure">"The notifications could not be loaded: " {error.to_string()}</p>
                        }),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// What the last test said: the form's answer sends the browser back here
/// with the outcome in the query. Read out by screen readers.
#[component]
fn TestOutcome() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let tested = Memo::new(move |_| query.with(TestResult::from_query));
    view! {
        <p class="test-outcome" role="status" data-outcome=move || tested.with(|t| t.as_ref().map(TestResult::kind))>
            {move || tested.with(|t| t.as_ref().map(TestResult::text))}
        </p>
    }
}

#[component]
fn NotificationsView(data: NotificationsData) -> impl IntoView {
    let NotificationsData {
        notifiers,
        recent,
        can_test,
    } = data;
    view! {
        <section class="notifiers">
            <h3>"Notifiers"</h3>
            {match notifiers.is_empty() {
                true => Either::Left(view! {
                    <p class="empty">"No notifier is configured: alerts reach no one. Add one under "<code>"[[alerts.notifier]]"</code>" (README, Alerts)."</p>
                }),
                false => Either::Right(view! {
                    <ul class="notifier-list">
                        {notifiers.into_iter().map(|n| view! { <NotifierRow notifier=n can_test/> }).collect_view()}
                    </ul>
                }),
            }}
        </section>
        <section class="recent-notifications">
            <h3>"Recent notifications"</h3>
            {match recent.is_empty() {
                true => Either::Left(view! { <p class="empty">"None yet."</p> }),
                false => Either::Right(view! { <NotificationTable rows=recent/> }),
            }}
        </section>
    }
}

#[component]
fn NotifierRow(notifier: NotifierSummary, can_test: bool) -> impl IntoView {
    let NotifierSummary {
        name,
        kind,
        failing,
    } = notifier;
    let test_name = name.clone();
    let health = match &failing {
        Some(_) => "failing",
        None => "ok",
    };
    view! {
        <li class="notifier" data-notifier=name.clone() data-health=health>
            <code>{name.clone()}</code>
            <span class="kind">{kind}</span>
            {match failing {
                Some(error) => Either::Left(view! { <span class="failing">"failing: " {error}</span> }),
                None => Either::Right(view! { <span class="ok">"delivering"</span> }),
            }}
            {can_test.then(|| view! {
                <form class="test-form" method="post" action=TEST_FORM_ACTION>
                    <input type="hidden" name="notifier" value=test_name/>
                    <button type="submit">"Send a test message"</button>
                </form>
            })}
        </li>
    }
}

#[component]
fn NotificationTable(rows: Vec<Notification>) -> impl IntoView {
    view! {
        <table class="notification-table">
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Notifier"</th>
                    <th scope="col">"Check"</th>
                    <th scope="col">"What"</th>
                    <th scope="col">"Outcome"</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <NotificationRow row/> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn NotificationRow(row: Notification) -> impl IntoView {
    let outcome = row.outcome.label();
    let tries = match row.attempts {
        0 | 1 => String::new(),
        n => format!(" after {n} tries"),
    };
    let said = match (row.sent_ms, &row.last_error) {
        (Some(at), _) => format!("{outcome} at {}{tries}", utc_clock(at)),
        (None, Some(error)) => format!("{outcome}{tries}: {error}"),
        (None, None) => outcome.to_string(),
    };
    view! {
        <tr data-outcome=outcome>
            <td>{format!("{} {}", utc_day(row.created_ms), utc_clock(row.created_ms))}</td>
            <td><code>{row.notifier}</code></td>
            <td><a href=format!("/checks/{}", row.check)>{row.name}</a></td>
            <td>{row.event}</td>
            <td class="outcome">{said}</td>
        </tr>
    }
}
