//! `/notifications`: the notifiers, whether each is getting alerts through,
//! and the newest notifications with what became of them. Whoever may act
//! (signed in, or a `write` token) can send each notifier a test message.
//! The test is a server function posted as a plain form, so it works
//! before the WASM has loaded; once hydrated, its outcome shows in place
//! and the lists are read again.

use crate::status::{Notification, NotificationsData, NotifierSummary, utc_clock, utc_day};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

/// How many of the newest notifications the page lists.
#[cfg(feature = "ssr")]
const LISTED: usize = 100;

#[server]
pub async fn load_notifications() -> Result<NotificationsData, ServerFnError> {
    crate::access::web::require_private()?;
    let state = use_context::<crate::server::AppState>()
        .ok_or_else(|| ServerFnError::new("the alerts are not available here"))?;
    let alerts = state.alerts.clone();
    let recent = tokio::task::spawn_blocking(move || alerts.recent(LISTED))
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?
        .map_err(ServerFnError::new)?;
    Ok(NotificationsData {
        notifiers: state.alerts.notifiers(),
        recent,
        can_test: crate::access::web::may_act(),
    })
}

/// `POST /api/notifiers/test` with `notifier=NAME`: an action (see
/// `access`), so only for those who may act, from this site or with a
/// `write` token.
#[server(endpoint = "notifiers/test")]
pub async fn send_test_message(notifier: String) -> Result<String, ServerFnError> {
    crate::access::web::require_action()?;
    let state = use_context::<crate::server::AppState>()
        .ok_or_else(|| ServerFnError::new("the alerts are not available here"))?;
    let who = crate::access::web::who_asks();
    state
        .alerts
        .send_test(&notifier, &who)
        .await
        .map_err(|refused| {
            use crate::alerts::TestRefused;
            let status = match refused {
                TestRefused::Unknown(_) => axum::http::StatusCode::NOT_FOUND,
                TestRefused::TooSoon { .. } => axum::http::StatusCode::TOO_MANY_REQUESTS,
                TestRefused::NotDelivered { .. } => axum::http::StatusCode::BAD_GATEWAY,
            };
            // A script's answer says what happened in its status. A form
            // posted before the WASM loaded is sent back to the page
            // instead (Leptos's redirect), which a status would break.
            if !from_a_plain_form()
                && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
            {
                response.set_status(status);
            }
            ServerFnError::new(refused)
        })
}

/// Whether the request is a browser's form post (it accepts HTML).
#[cfg(feature = "ssr")]
fn from_a_plain_form() -> bool {
    use_context::<axum::http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(axum::http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    })
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use leptos::server_fn::ServerFn;

    #[test]
    fn the_test_message_is_served_where_the_access_rule_sees_an_action() {
        assert_eq!(super::SendTestMessage::PATH, crate::access::TEST_MESSAGE);
    }
}

#[component]
pub fn Notifications() -> impl IntoView {
    let test = ServerAction::<SendTestMessage>::new();
    let data = Resource::new(move || test.version().get(), |_| load_notifications());
    view! {
        <Title text="Notifications · Pulse"/>
        <header class="top">
            <h1><a class="home" href="/"><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</a></h1>
        </header>
        <main class="notifications-page">
            <h2>"Notifications"</h2>
            <TestOutcome test/>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => Either::Left(view! { <NotificationsView data test/> }),
                        Err(error) => Either::Right(view! {
                            <p class="failure">"The notifications could not be loaded: " {error.to_string()}</p>
                        }),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// What the last test said, read out by screen readers as it comes.
#[component]
fn TestOutcome(test: ServerAction<SendTestMessage>) -> impl IntoView {
    let outcome = move || match test.value().get() {
        None if test.pending().get() => Some(("pending", "Sending a test message…".to_string())),
        None => None,
        Some(Ok(sent)) => Some(("sent", sent)),
        Some(Err(error)) => Some(("failed", server_error_text(error))),
    };
    view! {
        <p class="test-outcome" role="status" data-outcome=move || outcome().map(|(kind, _)| kind)>
            {move || outcome().map(|(_, text)| text)}
        </p>
    }
}

/// A server function's error as its server wrote it, without the prefix
/// Leptos adds.
fn server_error_text(error: ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(text) => text,
        other => other.to_string(),
    }
}

#[component]
fn NotificationsView(
    data: NotificationsData,
    test: ServerAction<SendTestMessage>,
) -> impl IntoView {
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
                        {notifiers.into_iter().map(|n| view! { <NotifierRow notifier=n can_test test/> }).collect_view()}
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
fn NotifierRow(
    notifier: NotifierSummary,
    can_test: bool,
    test: ServerAction<SendTestMessage>,
) -> impl IntoView {
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
                <ActionForm action=test attr:class="test-form">
                    <input type="hidden" name="notifier" value=test_name/>
                    <button type="submit" disabled=move || test.pending().get()>"Send a test message"</button>
                </ActionForm>
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
