//! `/`: every check, grouped, live. Rendered on the server from the hub's
//! snapshot, hydrated, then kept current by the event stream. With
//! thousands of checks the viewer narrows it down: search, "failing only",
//! and groups folded away (a folded group renders no cards at all).

use crate::components::{
    ChangeFeed, CheckCard, ConfigBanner, ConnectionBadge, Incidents, SignedInAs, SummaryBar,
    Toolbar,
};
use crate::live::{self, Board};
use crate::status::BoardData;
use leptos::either::Either;
use leptos::prelude::*;

/// The hub's current snapshot and each check's trend from the history.
/// Called directly while the server renders the page; over HTTP only if the
/// browser ever needs it again.
#[server]
pub async fn current_board() -> Result<BoardData, ServerFnError> {
    super::viewer::require_private()?;
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("the hub is not available here"))?;
    let snapshot = state.hub.snapshot();
    let names = snapshot
        .checks
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    let (trends, feed) = crate::history::api::board_history(&state.history, names).await;
    Ok(BoardData {
        snapshot,
        trends,
        feed,
        signed_in: super::viewer::signed_in(),
        can_act: super::viewer::may_act(),
    })
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let board = Resource::new(|| (), |_| current_board());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(data) => Either::Left(view! { <LiveBoard data/> }),
                    Err(error) => Either::Right(view! {
                        <p class="failure">"The status could not be loaded: " {error.to_string()}</p>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LiveBoard(data: BoardData) -> impl IntoView {
    let who = data.signed_in.clone();
    let can_act = data.can_act;
    let board = Board::new(data);
    let name_of = Callback::new(move |id| board.name_of(&id));
    live::follow(board);
    view! {
        <header class="top">
            <h1><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</h1>
            <ConnectionBadge link=board.link/>
            <nav class="top-links"><a href="/notifications">"Notifications"</a></nav>
            <SignedInAs who/>
        </header>
        <main>
            <ConfigBanner board/>
            <SummaryBar board/>
            <Incidents incidents=board.incidents name_of can_act/>
            <ChangeFeed board/>
            <Toolbar board/>
            <div class="groups">
                <For each=move || board.groups() key=|group| group.clone() let:group>
                    <GroupSection board group/>
                </For>
            </div>
        </main>
    }
}

#[component]
fn GroupSection(board: Board, group: String) -> impl IntoView {
    let name = StoredValue::new(group);
    // Folding hides the cards rather than unmounting them: creating 5,000
    // cards again on unfold took over a second, toggling an attribute does not.
    let collapsed = move || name.with_value(|g| board.is_collapsed(g));
    // One for the group's cards, not one per card.
    let name_of = Callback::new(move |id| board.name_of(&id));
    let tally = move || name.with_value(|g| board.group_tally(g));
    let counts = move || {
        let tally = tally();
        let checks = match tally.total() {
            1 => "1 check".to_string(),
            n => format!("{n} checks"),
        };
        match tally.failing() {
            0 => checks,
            failing => format!("{checks}, {failing} failing"),
        }
    };
    view! {
        <section
            class="group"
            data-group=name.get_value()
            hidden=move || !name.with_value(|g| board.group_shows(g))
        >
            <h2>
                <button
                    class="fold"
                    aria-expanded=move || (!collapsed()).to_string()
                    on:click=move |_| name.with_value(|g| board.toggle_collapsed(g))
                >
                    <span class="chevron" aria-hidden="true"></span>
                    {name.get_value()}
                </button>
                <span class="group-counts">{counts}</span>
            </h2>
            <div class="cards" hidden=collapsed>
                <For each=move || name.with_value(|g| board.ids_in(g)) key=|id| id.clone() let:id>
                    {board.card_signals(&id).map(|card| view! {
                        <CheckCard
                            status=card.status
                            trend=card.trend
                            alert=card.alert
                            name_of
                            now_ms=card.clock
                            hidden=card.hidden
                        />
                    })}
                </For>
            </div>
        </section>
    }
}
