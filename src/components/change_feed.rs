//! The state-change feed: which check went down or recovered, and when,
//! newest first. Server-rendered from the history, then extended live by
//! the board whenever an event changes a check's health.

use crate::clock::utc_clock;
use crate::live::{Board, ago};
use leptos::prelude::*;

#[component]
pub fn ChangeFeed(board: Board) -> impl IntoView {
    let lines = move || {
        board.feed.with(|feed| {
            feed.iter()
                .map(|item| {
                    let at = item.at_ms;
                    let when = move || match board.link.now_ms.get() {
                        Some(now) => ago(at, now),
                        None => utc_clock(at),
                    };
                    let class = format!("change {}", item.to.label());
                    view! {
                        <li class=class data-check-id=item.id.to_string()>
                            <b>{item.name.clone()}</b>" "{item.verb()}
                            <span class="when">{when}</span>
                            <span class="why">{item.detail.clone()}</span>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="feed" aria-label="changes">
            <h2>"Changes"</h2>
            <Show
                when=move || board.feed.with(|f| !f.is_empty())
                fallback=|| view! { <p class="quiet">"No changes of state yet."</p> }
            >
                // Focusable: the list scrolls once it is long, and a
                // keyboard must be able to scroll it.
                <ol tabindex="0">{lines}</ol>
            </Show>
        </section>
    }
}
