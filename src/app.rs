//! The HTML shell and the router: which page answers which path.

use crate::pages::{CheckDetail, Dashboard, Login, Notifications, PublicStatusPage};
use crate::status::Bundle;
use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

pub fn shell(options: LeptosOptions, bundle: Bundle) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::page_policy::send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options/>
                <BundleTags bundle/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The stylesheet, and what leptos's `HydrationScripts` writes (preloads,
/// then an inline module that loads the WASM and hydrates), for the names
/// the server gives: `HydrationScripts` would look for cargo-leptos's
/// `hash.txt` beside the executable, which a copied binary has not.
#[component]
fn BundleTags(bundle: Bundle) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    // A JSON string is a JavaScript string; no `<` can end the script early.
    let quoted = |s: &str| {
        serde_json::to_string(s)
            .unwrap_or_default()
            .replace('<', "\\u003c")
    };
    let script = format!(
        "import({js}).then((bundle) => bundle.default({{ module_or_path: {wasm} }}).then(() => bundle.hydrate()));",
        js = quoted(&bundle.js),
        wasm = quoted(&bundle.wasm),
    );
    view! {
        <link rel="stylesheet" id="leptos" href=bundle.css/>
        <link rel="modulepreload" href=bundle.js crossorigin=""/>
        <link rel="preload" href=bundle.wasm r#as="fetch" r#type="application/wasm" crossorigin=""/>
        <script type="module" nonce=nonce>{script}</script>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Pulse"/>
        <Meta name="description" content="Live status of every check, pushed over Server-Sent Events."/>
        <Meta name="color-scheme" content="light dark"/>
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Nothing here."</p> }>
                // Async: the first HTML waits for the snapshot, so it already
                // holds every status and nothing flashes "loading".
                <Route path=path!("/") view=Dashboard ssr=SsrMode::Async/>
                <Route path=path!("/checks/:id") view=CheckDetail ssr=SsrMode::Async/>
                <Route path=path!("/login") view=Login/>
                <Route path=path!("/notifications") view=Notifications ssr=SsrMode::Async/>
                <Route path=path!("/status") view=PublicStatusPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
