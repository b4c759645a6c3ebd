//! `/login`: the sign-in form. A plain HTML form posting to `/login`
//! (`access::web::sign_in`), so it works before the WASM has loaded and
//! with scripts off; a failed attempt comes back here with `?failed=1`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let failed = move || query.read().get("failed").is_some();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    view! {
        <Title text="Sign in · Pulse"/>
        <main class="sign-in">
            <h1><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</h1>
            <form method="post" action="/login" class="sign-in-form">
                <Show when=failed>
                    <p class="failure" role="alert">"That name and password do not match."</p>
                </Show>
                <label>
                    "Name"
                    <input name="user" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="current-password" required/>
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit">"Sign in"</button>
            </form>
            <p class="public-link"><a href="/status">"Public status page"</a></p>
        </main>
    }
}
