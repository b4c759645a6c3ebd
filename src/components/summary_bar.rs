//! The counts at a glance: how many checks are up, degraded, down.

use crate::live::Board;
use leptos::prelude::*;

#[component]
pub fn SummaryBar(board: Board) -> impl IntoView {
    let tally = Memo::new(move |_| board.tally());
    let count = move |pick: fn(&crate::live::Tally) -> usize| move || pick(&tally.get());
    view! {
        <section class="summary" aria-label="summary">
            <span class="count up"><b>{count(|t| t.up)}</b>" up"</span>
            <span class="count degraded"><b>{count(|t| t.degraded)}</b>" degraded"</span>
            <span class="count down"><b>{count(|t| t.down)}</b>" down"</span>
            <span class="count unknown"><b>{count(|t| t.unknown)}</b>" not checked"</span>
        </section>
    }
}
