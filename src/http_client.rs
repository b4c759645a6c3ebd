//! What every outgoing HTTP request of Pulse shares, checks and alert
//! notifiers alike: the client's settings, and how a failed request is
//! described to a person.

use std::time::Duration;

/// A connect timeout, Pulse's own user agent so targets can tell checks
/// from people, and no redirects of its own: `fetch` follows them, choosing
/// each hop's headers. Checks and alert notifiers alike (notifiers never
/// redirect: a notifier's URL is where its secret goes, and nowhere else).
pub(crate) fn settings() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("pulse/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
}

/// The most specific cause reqwest's error chain offers, with a plain-words
/// category in front. Never the URL (reqwest's own text has it, and a URL
/// may hold a token); alert notifiers describe their errors with it too.
pub(crate) fn describe_error(error: &reqwest::Error) -> String {
    let category = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    if std::ptr::addr_eq(root, error as &dyn std::error::Error) {
        category.to_string()
    } else {
        format!("{category}: {root}")
    }
}
