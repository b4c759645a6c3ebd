//! What a browser may do with Pulse's pages: the Content-Security-Policy of
//! every page (scripts only from Pulse itself and the one inline hydration
//! script that carries this response's nonce; no framing by other sites),
//! and the headers every answer carries. Markup that slips into a page
//! through a check's name or a target's answer therefore cannot run.

use axum::http::{HeaderName, HeaderValue, header};
use leptos::prelude::*;
use tower_http::set_header::SetResponseHeaderLayer;

/// Sets this page's Content-Security-Policy, with the nonce leptos_axum
/// made for this response (its hydration and resource scripts carry it).
/// Called while the page renders, from the shell.
pub(crate) fn send_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

fn policy(nonce: &str) -> String {
    // 'wasm-unsafe-eval': compiling the WASM bundle, nothing else.
    // `cargo leptos watch` reloads the page over a WebSocket to its
    // reload port; only then is that connection allowed.
    // Read once: the environment does not change under a running server.
    static RELOAD: std::sync::OnceLock<&str> = std::sync::OnceLock::new();
    let reload = RELOAD.get_or_init(|| match std::env::var_os("LEPTOS_WATCH") {
        Some(_) => " ws: wss:",
        None => "",
    });
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The headers on every answer, pages, API and streams alike (the direct
/// stream path writes them itself): no guessing of content types, no
/// framing (for browsers older than `frame-ancestors`), and no Pulse URL
/// in the `Referer` another site receives.
pub(crate) const ON_EVERY_ANSWER: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
];

/// `ON_EVERY_ANSWER` as layers for the router.
pub(crate) fn on_every_answer() -> [SetResponseHeaderLayer<HeaderValue>; 3] {
    ON_EVERY_ANSWER.map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    })
}
