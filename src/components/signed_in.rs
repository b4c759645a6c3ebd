//! Who the dashboard is shown to, and the way out: a plain form posting to
//! `/logout`, so signing out works before (or without) the WASM.

use crate::status::SignedIn;
use leptos::prelude::*;

#[component]
pub fn SignedInAs(who: Option<SignedIn>) -> impl IntoView {
    who.map(|who| {
        view! {
            <div class="signed-in">
                <span class="who">{who.name}</span>
                {who.can_sign_out.then(|| view! {
                    <form method="post" action="/logout">
                        <button type="submit" class="sign-out">"Sign out"</button>
                    </form>
                })}
            </div>
        }
    })
}
