//! Where the checks come from, and, when the newest edit of the config file
//! was refused, why: the file, line and column, in plain sight, while the
//! last good config keeps running; in a cluster, when the replicas do not
//! all run the same config. Also when the history cannot be saved
//! (a full or read-only disk), and when alerts are not getting through to a
//! notifier.

use crate::clock::utc_clock;
use crate::live::Board;
use leptos::prelude::*;

#[component]
pub fn ConfigBanner(board: Board) -> impl IntoView {
    let error = move || board.config.with(|c| c.error.clone());
    view! {
        <p class="config-source">
            "Checks from "
            <code>{move || board.config.with(|c| c.source.clone())}</code>
        </p>
        <Show when=move || board.history.with(|h| h.problem.is_some())>
            <div class="history-error" role="alert">
                <strong>"Results are not being saved to the history; checks and live updates go on."</strong>
                <pre>{move || board.history.with(|h| h.problem.clone())}</pre>
            </div>
        </Show>
        <Show when=move || board.notifiers.with(|n| !n.failing.is_empty())>
            <div class="notifier-error" role="alert">
                <strong>"Alerts are not getting through; Pulse keeps them and tries again. "</strong>
                <a href="/notifications">"See the notifications"</a>
                <ul>
                    {move || board.notifiers.with(|n| n.failing.iter().map(|f| view! {
                        <li data-notifier=f.name.clone()>
                            <code>{f.name.clone()}</code>
                            " failing since " {utc_clock(f.since_ms)} ": " {f.error.clone()}
                        </li>
                    }).collect_view())}
                </ul>
            </div>
        </Show>
        <Show when=move || board.config.with(|c| c.differs.is_some())>
            <div class="config-differs" role="alert">
                <strong>"This cluster's replicas run different configs: what a page shows depends on the replica it reached."</strong>
                <pre>{move || board.config.with(|c| c.differs.clone())}</pre>
            </div>
        </Show>
        <Show when=move || error().is_some()>
            <div class="config-error" role="alert">
                <strong>"The config file was not applied; the last good version is still running."</strong>
                <pre>{error}</pre>
            </div>
        </Show>
    }
}
