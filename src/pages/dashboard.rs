//! `/`: every check, grouped, live. Rendered on the server from the hub's
//! snapshot, hydrated, then kept current by the event stream.

use crate::components::{CheckCard, ConnectionBadge, SummaryBar};
use crate::live::{self, Board};
use crate::status::Snapshot;
use leptos::either::Either;
use leptos::prelude::*;

/// The hub's current snapshot. Called directly while the server renders the
/// page; over HTTP only if the browser ever needs it again.
#[server]
pub async fn current_snapshot() -> Result<Snapshot, ServerFnError> {
    let state = use_context::<crate::server::AppState>()
        .ok_or_else(|| ServerFnError::new("the hub is not available here"))?;
    Ok(state.hub.snapshot())
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let snapshot = Resource::new(|| (), |_| current_snapshot());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(snapshot) => Either::Left(view! { <LiveBoard snapshot/> }),
                    Err(error) => Either::Right(view! {
                        <p class="failure">"The status could not be loaded: " {error.to_string()}</p>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LiveBoard(snapshot: Snapshot) -> impl IntoView {
    let board = Board::new(snapshot);
    live::follow(board);
    view! {
        <header class="top">
            <h1><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</h1>
            <ConnectionBadge board/>
        </header>
        <SummaryBar board/>
        <main class="groups">
            <For each=move || board.groups() key=|group| group.clone() let:group>
                <GroupSection board group/>
            </For>
        </main>
    }
}

#[component]
fn GroupSection(board: Board, group: String) -> impl IntoView {
    let heading = group.clone();
    let marker = group.clone();
    view! {
        <section class="group" data-group=marker>
            <h2>{heading}</h2>
            <div class="cards">
                <For each=move || board.ids_in(&group) key=|id| id.clone() let:id>
                    {board.card(&id).map(|status| view! { <CheckCard status now_ms=board.now_ms/> })}
                </For>
            </div>
        </section>
    }
}
