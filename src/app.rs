//! The HTML shell and the router: which page answers which path.

use crate::pages::{CheckDetail, Dashboard, Login, PublicStatusPage};
use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::page_policy::send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/pulse.css"/>
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
                <Route path=path!("/status") view=PublicStatusPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
