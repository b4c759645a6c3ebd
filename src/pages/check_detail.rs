//! `/checks/{id}?range=24h`: one check's history. Server-rendered with the
//! data of the chosen range (the first HTML has the chart and the lists),
//! then hydrated and live: each result of the check moves its status, its
//! chart, its changes and its uptime as it arrives. Choosing another range
//! navigates in the page and fetches that range through the same server
//! function.

use crate::clock::utc_clock;
use crate::components::{ConnectionBadge, LatencyChart, UptimeDays};
use crate::live::{self, Detail};
use crate::status::{CheckHistory, CheckId, CheckStatus, RANGES, range_ms};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetailData {
    pub id: String,
    pub status: Option<CheckStatus>,
    /// `None` when Pulse keeps no history (`--no-history`).
    pub history: Option<CheckHistory>,
    /// The newest event the status includes: the stream resumes after it.
    pub last_event_id: u64,
}

#[server]
pub async fn check_detail(id: String, range: String) -> Result<DetailData, ServerFnError> {
    super::viewer::require_private()?;
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("the hub is not available here"))?;
    let Some(range_ms) = crate::status::range_ms(&range) else {
        return Err(ServerFnError::new(format!("unknown range `{range}`")));
    };
    let snapshot = state.hub.snapshot();
    let last_event_id = snapshot.last_event_id;
    let status = snapshot.checks.into_iter().find(|c| c.id.0 == id);
    let history = crate::history::api::check_history(&state.history, id.clone(), range, range_ms)
        .await
        .map_err(ServerFnError::new)?;
    Ok(DetailData {
        id,
        status,
        history,
        last_event_id,
    })
}

#[component]
pub fn CheckDetail() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let range = move || {
        query
            .read()
            .get("range")
            .unwrap_or_else(|| "24h".to_string())
    };
    let data = Resource::new(
        move || (id(), range()),
        |(id, range)| check_detail(id, range),
    );
    view! {
        <header class="top">
            <h1><a class="home" href="/"><span class="logo" aria-hidden="true">"◉"</span>" Pulse"</a></h1>
        </header>
        <main>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(data) => Either::Left(view! { <DetailView data range=range()/> }),
                        Err(error) => Either::Right(view! {
                            <p class="failure">"This history could not be loaded: " {error.to_string()}</p>
                        }),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn DetailView(data: DetailData, range: String) -> impl IntoView {
    let DetailData {
        id,
        status,
        history,
        last_event_id,
    } = data;
    let range_ms = range_ms(&range).unwrap_or(RANGES[1].1);
    let detail = Detail::new(
        CheckId(id.clone()),
        status,
        history,
        range_ms,
        last_event_id,
    );
    live::follow(detail);
    let title = {
        let id = StoredValue::new(id.clone());
        move || {
            detail.status.with(|s| {
                s.as_ref()
                    .map_or_else(|| id.get_value(), |s| s.name.clone())
            })
        }
    };
    let ranges = RANGES
        .iter()
        .map(|(name, _)| {
            let current = (*name == range).then_some("page");
            // A plain link: the router still navigates in the page, and
            // `aria-current` marks the range, which `<A>` would set on every
            // link here (they share the path).
            view! { <a href=format!("/checks/{id}?range={name}") aria-current=current>{*name}</a> }
        })
        .collect_view();
    let now = move || {
        detail
            .status
            .with(|s| s.as_ref().map_or("removed", |s| s.health.label()))
    };
    let said = move || {
        detail.status.with(|s| {
            s.as_ref().map_or_else(
                || "no longer in the configuration".to_string(),
                |s| s.detail.clone(),
            )
        })
    };
    let has_history = move || detail.history.with(Option::is_some);
    let history = Signal::derive(move || detail.history.get().unwrap_or_default());
    // Set once: leptos_meta keeps a reactive title past this view's life,
    // when its signals are gone.
    let page_title = format!("{} · Pulse", title());
    view! {
        <Title text=page_title/>
        <section class="detail-page" data-check-id=id.clone()>
            <div class="detail-head">
                <h2>{title}" " <span class=move || format!("pill {}", now()) data-health=now>{now}</span></h2>
                <ConnectionBadge link=detail.link/>
            </div>
            <p class="detail">{said}</p>
            <nav class="ranges" aria-label="range">{ranges}</nav>
            <Show
                when=has_history
                fallback=|| view! { <p class="quiet">"Pulse keeps no history (--no-history)."</p> }
            >
                <HistoryView history range_ms/>
            </Show>
        </section>
    }
}

#[component]
fn HistoryView(history: Signal<CheckHistory>, range_ms: u64) -> impl IntoView {
    let changes = move || {
        history.with(|h| {
            h.changes
                .iter()
                .rev()
                .map(|span| {
                    let lasted = span.lasted_ms.map_or_else(
                        || "until now".to_string(),
                        |ms| format!("for {}", duration(ms)),
                    );
                    view! {
                        <li class=format!("span {}", span.health.label())>
                            <b>{span.health.label()}</b>" at " {utc_clock(span.at_ms)} " " {lasted}
                            <span class="why">{span.detail.clone().unwrap_or_default()}</span>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    let failures = move || {
        history.with(|h| {
            h.failures
                .iter()
                .map(|f| view! { <li><b>{f.health.label()}</b>" at " {utc_clock(f.at_ms)} ": " {f.detail.clone()}</li> })
                .collect_view()
        })
    };
    let no_failures = move || history.with(|h| h.failures.is_empty());
    view! {
        <LatencyChart history range_ms/>
        <UptimeDays history/>
        <h3>"State changes"</h3>
        <ol class="spans">{changes}</ol>
        <h3>"Latest failures"</h3>
        <Show when=no_failures>
            <p class="quiet">"None in this range."</p>
        </Show>
        <ol class="failures">{failures}</ol>
    }
}

/// `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}
