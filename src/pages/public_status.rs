//! `/status`: the public status page. Public checks only, as anyone may see
//! them (`PublicStatus`: never the live detail), with an overall banner,
//! each check's uptime over 24 h and 30 d and its latency over the last
//! hour. Rendered on the server from the hub's public snapshot and the
//! history, hydrated, then kept live by the public stream.

use crate::components::{ConnectionBadge, Incidents, PublicCheck};
use crate::live::{self, PublicBoard};
use crate::status::{CheckId, PublicBoardData};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;

/// The public snapshot and the public checks' trends. Public by nature:
/// it holds nothing the public stream does not.
// Under `/api/public/`, which the access rule leaves open: an anonymous
// viewer's browser may call it again (a client-side navigation).
#[server(endpoint = "public/status_data")]
pub async fn public_status_data() -> Result<PublicBoardData, ServerFnError> {
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("the hub is not available here"))?;
    let snapshot = state.hub.public_snapshot();
    let ids = snapshot.checks.iter().map(|c| c.id.clone()).collect();
    let trends = crate::history::api::trends_of(&state.history, ids).await;
    Ok(PublicBoardData { snapshot, trends })
}

#[component]
pub fn PublicStatusPage() -> impl IntoView {
    let board = Resource::new(|| (), |_| public_status_data());
    view! {
        <Title text="Status"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match board.await {
                    Ok(data) => Either::Left(view! { <LivePublicBoard data/> }),
                    Err(error) => Either::Right(view! {
                        <p class="failure">"The status could not be loaded: " {error.to_string()}</p>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LivePublicBoard(data: PublicBoardData) -> impl IntoView {
    let board = PublicBoard::new(data);
    live::follow(board);
    let overall = Memo::new(move |_| board.overall());
    let name_of = Callback::new(move |id: CheckId| board.name_of(&id));
    view! {
        <header class="top">
            <h1><span class="logo" aria-hidden="true">"◉"</span>" Status"</h1>
            <ConnectionBadge link=board.link/>
        </header>
        <section
            class=move || format!("overall {}", overall.get().class())
            data-overall=move || overall.get().class()
            role="status"
        >
            <h2>{move || overall.get().label()}</h2>
        </section>
        <Incidents incidents=board.incidents name_of can_act=false/>
        <main class="groups public">
            <p class="empty" hidden=move || overall.get() != live::Overall::Empty>
                "Nothing is published on this page yet."
            </p>
            <For each=move || board.groups() key=|group| group.clone() let:group>
                <PublicGroup board group/>
            </For>
        </main>
    }
}

#[component]
fn PublicGroup(board: PublicBoard, group: String) -> impl IntoView {
    let name = StoredValue::new(group);
    view! {
        <section class="group" data-group=name.get_value()>
            <h2>{name.get_value()}</h2>
            <div class="public-checks">
                <For each=move || name.with_value(|g| board.ids_in(g)) key=|id| id.clone() let:id>
                    {board.card(&id).map(|card| view! {
                        <PublicCheck status=card.status trend=card.trend/>
                    })}
                </For>
            </div>
        </section>
    }
}
