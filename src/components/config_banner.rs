//! Where the checks come from, and, when the newest edit of the config file
//! was refused, why: the file, line and column, in plain sight, while the
//! last good config keeps running. Also when the history cannot be saved
//! (a full or read-only disk).

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
        <Show when=move || error().is_some()>
            <div class="config-error" role="alert">
                <strong>"The config file was not applied; the last good version is still running."</strong>
                <pre>{error}</pre>
            </div>
        </Show>
    }
}
